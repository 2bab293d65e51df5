// Removes the `name` custom section (function names for debuggers, about a third of the file)
// from a .wasm in place, keeping every other section. wasm-pack cannot do it without wasm-opt,
// and Cargo's `strip = true` would also drop the `target_features` section wasm-bindgen reads.
//
//   node .ci/wasm-strip.mjs FILE.wasm
import { readFileSync, writeFileSync } from "node:fs";

const file = process.argv[2];
const wasm = readFileSync(file);
let at = 8; // magic and version
const leb = () => {
  let value = 0;
  let shift = 0;
  let byte;
  do {
    byte = wasm[at++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
  } while (byte & 0x80);
  return value;
};
const kept = [wasm.subarray(0, 8)];
while (at < wasm.length) {
  const start = at;
  const id = wasm[at++];
  const size = leb();
  const end = at + size;
  let name = null;
  if (id === 0) {
    const length = leb();
    name = wasm.subarray(at, at + length).toString();
  }
  if (name !== "name") kept.push(wasm.subarray(start, end));
  at = end;
}
writeFileSync(file, Buffer.concat(kept));
