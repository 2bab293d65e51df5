// JS half of the codec benchmark: how fast the real JavaScript codecs encode and decode the same
// payloads that the Rust benchmark uses.
//
//   node tests/js/bench_codec.mjs            (after `cd tests/js && npm ci`)
//
// Prints ONE line of JSON on stdout:
//   {"library":"peerjs-js-binarypack@2.1.0","node":"v20.x","results":[
//     {"library":"peerjs-js-binarypack@2.1.0","payload":"small","op":"encode","ns_per_op":...,"bytes":...}, ...]}
// `bytes` is the encoded size of the payload. Each case is timed with process.hrtime.bigint():
// a warm-up, then 5 batches of about BATCH_MS (default 200 ms, so about 1 s per case); the reported
// ns_per_op is the best batch. Whole run: about 15 s.
//
// Payloads (the Rust side builds the identical values):
//   small  = {id: 12345, name: "alice", score: 98.25, active: true, tags: ["a", "bb", "ccc"],
//             pos: {x: -5, y: 300, z: 1.5}, note: null}          (keys in this order)
//   bin16k = Uint8Array of 16384 bytes, byte i = i & 0xff
//   bin1m  = Uint8Array of 1048576 bytes, byte i = i & 0xff
// Ops: "encode" = pack(value) / encode(value); "decode" = unpack(packed) / decode(packed).
// The MsgPack rows (@msgpack/msgpack, as PeerJS's MsgPack serializer uses it) are extra.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { pack, unpack } from "peerjs-js-binarypack";
import { encode as mpEncode, decode as mpDecode } from "@msgpack/msgpack";

const here = dirname(fileURLToPath(import.meta.url));
const version = (name) => JSON.parse(readFileSync(join(here, "node_modules", name, "package.json"), "utf8")).version;
const BP_LIB = `peerjs-js-binarypack@${version("peerjs-js-binarypack")}`;
const MP_LIB = `@msgpack/msgpack@${version("@msgpack/msgpack")}`;

const BATCH_MS = Number(process.env.BATCH_MS || 200);
const BATCHES = 5;

const pattern = (n) => Uint8Array.from({ length: n }, (_, i) => i & 0xff);
const PAYLOADS = {
  small: {
    id: 12345,
    name: "alice",
    score: 98.25,
    active: true,
    tags: ["a", "bb", "ccc"],
    pos: { x: -5, y: 300, z: 1.5 },
    note: null,
  },
  bin16k: pattern(16384),
  bin1m: pattern(1048576),
};

const CODECS = [
  { library: BP_LIB, encode: (v) => pack(v), decode: (b) => unpack(b), size: (b) => b.byteLength },
  { library: MP_LIB, encode: (v) => mpEncode(v), decode: (b) => mpDecode(b), size: (b) => b.byteLength },
];

let sink = 0;
const consume = (x) => {
  sink = (sink + (x === null || x === undefined ? 1 : typeof x === "object" ? (x.byteLength ?? 2) : 3)) | 0;
};

/** Runs fn `iters` times; returns elapsed nanoseconds. */
function timeIt(fn, iters) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iters; i++) consume(fn());
  return Number(process.hrtime.bigint() - t0);
}

function bench(fn) {
  // Warm up (lets the JIT settle) and calibrate the batch size.
  let iters = 1;
  let ns = timeIt(fn, iters);
  const warmEnd = Date.now() + 100;
  while (Date.now() < warmEnd || ns < 1e6) {
    ns = timeIt(fn, iters);
    if (ns < 20e6) iters *= 2;
  }
  const perOp = ns / iters;
  const batchIters = Math.max(1, Math.round((BATCH_MS * 1e6) / perOp));
  let best = Infinity;
  for (let b = 0; b < BATCHES; b++) best = Math.min(best, timeIt(fn, batchIters) / batchIters);
  return { ns_per_op: Math.round(best * 10) / 10, iterations: batchIters };
}

const results = [];
for (const codec of CODECS) {
  for (const [payload, value] of Object.entries(PAYLOADS)) {
    const packed = codec.encode(value);
    const bytes = codec.size(packed);
    // Sanity check: the codec round-trips the payload.
    const back = codec.decode(packed);
    if (payload === "small" ? back.name !== "alice" : new Uint8Array(back).length !== value.length) {
      throw new Error(`${codec.library} ${payload}: bad round trip`);
    }
    for (const op of ["encode", "decode"]) {
      const fn = op === "encode" ? () => codec.encode(value) : () => codec.decode(packed);
      results.push({ library: codec.library, payload, op, bytes, ...bench(fn) });
    }
  }
}

const smallHex = Buffer.from(pack(PAYLOADS.small)).toString("hex");
console.log(
  JSON.stringify({
    library: BP_LIB,
    node: process.version,
    small_hex: smallHex,
    results,
    sink: sink & 1,
  }),
);
