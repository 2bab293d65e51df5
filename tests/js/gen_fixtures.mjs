// Codec test fixtures for peerjs-rs, produced by the real JavaScript libraries.
//
//   cd tests/js && npm ci && cd ../.. && node tests/js/gen_fixtures.mjs
//
// Writes tests/fixtures/binarypack.json, tests/fixtures/msgpack.json and tests/fixtures/chunks.json
// (paths are resolved relative to this script, so the working directory does not matter).
// The output is deterministic: no randomness, no clock, TZ forced to UTC below.
// See tests/fixtures/README.md for the format.

// Date.prototype.toString() depends on the time zone; BinaryPack packs Dates as that string.
// This must run before any Date is formatted (V8 picks up a TZ change made through process.env).
process.env.TZ = "UTC";

import { createRequire } from "node:module";
import { writeFileSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join, relative } from "node:path";
import { Worker } from "node:worker_threads";
import { pack, unpack } from "peerjs-js-binarypack";
import { encode as mpEncode, decode as mpDecode, ExtData } from "@msgpack/msgpack";

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, "..", "..");
const outDir = join(here, "..", "fixtures");
const pkgVersion = (name) =>
  JSON.parse(readFileSync(join(here, "node_modules", name, "package.json"), "utf8")).version;
const BP_LIB = `peerjs-js-binarypack@${pkgVersion("peerjs-js-binarypack")}`;
const MP_LIB = `@msgpack/msgpack@${pkgVersion("@msgpack/msgpack")}`;
const PEERJS_LIB = `peerjs@${pkgVersion("peerjs")}`;
const GENERATOR = relative(repoRoot, fileURLToPath(import.meta.url)).split("\\").join("/");

if (new Date(0).toString() !== "Thu Jan 01 1970 00:00:00 GMT+0000 (Coordinated Universal Time)") {
  throw new Error(`TZ=UTC did not take effect: ${new Date(0).toString()}`);
}

// ---------------------------------------------------------------------------------------------
// Helpers

const hex = (u8) => Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength).toString("hex");
const fromHex = (h) => new Uint8Array(Buffer.from(h, "hex"));
const toU8 = (x) => (x instanceof ArrayBuffer ? new Uint8Array(x) : new Uint8Array(x.buffer, x.byteOffset, x.byteLength));
/** An ArrayBuffer holding exactly these bytes (what a data channel delivers). */
const toAB = (u8) => u8.buffer.slice(u8.byteOffset, u8.byteOffset + u8.byteLength);
const f64hex = (n) => {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(n);
  return b.toString("hex");
};
const errMsg = (e) => (e && typeof e.message === "string" ? e.message : String(e));
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

// ---------------------------------------------------------------------------------------------
// The typed-value description (one generic function for every value in every file).

/** Bytes of Blobs found in a value, filled by resolveBlobs() before toTyped() runs. */
const blobBytes = new WeakMap();
async function resolveBlobs(v, seen = new Set()) {
  if (v === null || typeof v !== "object" || seen.has(v)) return;
  seen.add(v);
  if (typeof Blob !== "undefined" && v instanceof Blob) {
    blobBytes.set(v, new Uint8Array(await v.arrayBuffer()));
    return;
  }
  if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return;
  for (const k of Object.keys(v)) await resolveBlobs(v[k], seen);
}

/**
 * Describes a JS value as a typed value (see README.md). `format` is "binarypack" or "msgpack"
 * and only matters where the two codecs map a JS type differently (Date, ArrayBuffer).
 */
function toTyped(v, format) {
  if (v === null || v === undefined) return { nil: null };
  switch (typeof v) {
    case "boolean":
      return { bool: v };
    case "number":
      if (Number.isInteger(v) || Object.is(v, -0)) return { int: BigInt(v).toString() };
      return { float: f64hex(v) };
    case "bigint":
      return { int: v.toString() };
    case "string":
      if (!v.isWellFormed()) throw new Error(`lone surrogate in ${JSON.stringify(v)}`);
      return { str: v };
    case "object":
      break;
    default:
      throw new Error(`toTyped: unsupported ${typeof v}`);
  }
  if (v instanceof ExtData) return { ext: [v.type, hex(v.data)] };
  if (v instanceof Date) {
    if (format === "binarypack") return { str: v.toString() };
    const ms = v.getTime();
    const sec = Math.floor(ms / 1000);
    return { ts: [String(sec), (ms - sec * 1000) * 1e6] };
  }
  if (blobBytes.has(v)) return { bin: hex(blobBytes.get(v)) };
  if (ArrayBuffer.isView(v)) return { bin: hex(toU8(v)) };
  // An ArrayBuffer is bytes for BinaryPack; @msgpack/msgpack treats it as a plain object (no own
  // keys), and so it falls through to the map case below, like Map and Set.
  if (v instanceof ArrayBuffer && format === "binarypack") return { bin: hex(new Uint8Array(v)) };
  if (Array.isArray(v)) return { arr: Array.from(v, (x) => toTyped(x, format)) };
  return { map: Object.keys(v).map((k) => [{ str: k }, toTyped(v[k], format)]) };
}

/**
 * Shorthands for large values (see README.md): only used at or above these sizes, and always
 * exactly equivalent to the expanded form.
 */
const BIG_BYTES = 1024;
const BIG_ITEMS = 256;
function compact(t) {
  if (t === null || typeof t !== "object") return t;
  if ("bin" in t && t.bin.length / 2 >= BIG_BYTES) {
    const b = fromHex(t.bin);
    for (let p = 1; p <= 256; p++) {
      let ok = true;
      for (let i = p; i < b.length && ok; i++) ok = b[i] === b[i - p];
      if (ok) return { bin_rep: [hex(b.subarray(0, p)), b.length] };
    }
    return t;
  }
  if ("str" in t && t.str.length >= BIG_BYTES) {
    const s = t.str;
    for (let p = 1; p <= 64; p++) {
      if (s.length % p) continue;
      const unit = s.slice(0, p);
      if (unit.isWellFormed() && unit.repeat(s.length / p) === s) return { str_rep: [unit, s.length / p] };
    }
    return t;
  }
  if ("arr" in t) {
    const items = t.arr.map(compact);
    if (items.length >= BIG_ITEMS) {
      const first = JSON.stringify(items[0]);
      if (items.every((x) => JSON.stringify(x) === first)) return { arr_rep: [items[0], items.length] };
    }
    return { arr: items };
  }
  if ("map" in t) {
    const entries = t.map.map(([k, v]) => [compact(k), compact(v)]);
    if (entries.length >= BIG_ITEMS) {
      const first = JSON.stringify(entries[0][1]);
      if (entries.every(([k, v], i) => k.str === String(i) && JSON.stringify(v) === first)) {
        return { map_seq: [entries[0][1], entries.length] };
      }
    }
    return { map: entries };
  }
  return t;
}
const typed = (v, format) => compact(toTyped(v, format));

// ---------------------------------------------------------------------------------------------
// Reference ("strict") decoders: what a spec-correct decoder reads from the bytes. Integers are
// exact (two's complement int64, full uint64), floats are IEEE-754, strings must be valid UTF-8.
// Floats stay floats even when integral, since the wire says float.

class StrictError extends Error {}

function makeReader(bytes) {
  let i = 0;
  const r = {
    get pos() {
      return i;
    },
    need(n) {
      if (i + n > bytes.length) throw new StrictError("truncated");
    },
    u8() {
      r.need(1);
      return bytes[i++];
    },
    uint(n) {
      r.need(n);
      let v = 0n;
      for (let k = 0; k < n; k++) v = (v << 8n) | BigInt(bytes[i++]);
      return v;
    },
    int(n) {
      return BigInt.asIntN(n * 8, r.uint(n));
    },
    take(n) {
      r.need(n);
      const out = bytes.subarray(i, i + n);
      i += n;
      return out;
    },
    f32() {
      const b = r.take(4);
      return { float: f64hex(new DataView(b.buffer, b.byteOffset, 4).getFloat32(0)) };
    },
    f64() {
      return { float: hex(r.take(8)) };
    },
    utf8(n) {
      const b = r.take(n);
      try {
        return { str: new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(b) };
      } catch {
        throw new StrictError("invalid utf-8");
      }
    },
  };
  return r;
}

function strictDecode(bytes, itemFn) {
  const r = makeReader(bytes);
  try {
    const value = itemFn(r);
    return { value, consumed: r.pos };
  } catch (e) {
    if (e instanceof StrictError) return { value: { error: e.message }, consumed: null };
    throw e;
  }
}

function bpItem(r) {
  const t = r.u8();
  const arr = (n) => ({ arr: Array.from({ length: Number(n) }, () => bpItem(r)) });
  const map = (n) => ({ map: Array.from({ length: Number(n) }, () => [bpItem(r), bpItem(r)]) });
  const raw = (n) => ({ bin: hex(r.take(Number(n))) });
  if (t <= 0x7f) return { int: String(t) };
  if (t >= 0xe0) return { int: String(t - 0x100) };
  if (t <= 0x8f) return map(t & 0x0f);
  if (t <= 0x9f) return arr(t & 0x0f);
  if (t <= 0xaf) return raw(t & 0x0f);
  if (t <= 0xbf) return r.utf8(t & 0x0f);
  switch (t) {
    case 0xc0:
      return { nil: null };
    case 0xc2:
      return { bool: false };
    case 0xc3:
      return { bool: true };
    case 0xca:
      return r.f32();
    case 0xcb:
      return r.f64();
    case 0xcc:
      return { int: r.uint(1).toString() };
    case 0xcd:
      return { int: r.uint(2).toString() };
    case 0xce:
      return { int: r.uint(4).toString() };
    case 0xcf:
      return { int: r.uint(8).toString() };
    case 0xd0:
      return { int: r.int(1).toString() };
    case 0xd1:
      return { int: r.int(2).toString() };
    case 0xd2:
      return { int: r.int(4).toString() };
    case 0xd3:
      return { int: r.int(8).toString() };
    case 0xd8:
      return r.utf8(Number(r.uint(2)));
    case 0xd9:
      return r.utf8(Number(r.uint(4)));
    case 0xda:
      return raw(r.uint(2));
    case 0xdb:
      return raw(r.uint(4));
    case 0xdc:
      return arr(r.uint(2));
    case 0xdd:
      return arr(r.uint(4));
    case 0xde:
      return map(r.uint(2));
    case 0xdf:
      return map(r.uint(4));
    default:
      // c1, c4..c9, d4..d7: "undefined", the tag byte only (spec 5.2.5).
      return { nil: null };
  }
}

function mpItem(r) {
  const t = r.u8();
  const arr = (n) => ({ arr: Array.from({ length: Number(n) }, () => mpItem(r)) });
  const map = (n) => ({ map: Array.from({ length: Number(n) }, () => [mpItem(r), mpItem(r)]) });
  const bin = (n) => ({ bin: hex(r.take(Number(n))) });
  const ext = (n) => {
    const type = r.int(1);
    const data = r.take(Number(n));
    if (type !== -1n) return { ext: [Number(type), hex(data)] };
    const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    switch (data.length) {
      case 4:
        return { ts: [String(dv.getUint32(0)), 0] };
      case 8: {
        const hi = dv.getUint32(0);
        const nsec = hi >>> 2;
        const sec = BigInt(hi & 3) * 2n ** 32n + BigInt(dv.getUint32(4));
        if (nsec >= 1e9) throw new StrictError("timestamp nanoseconds out of range");
        return { ts: [sec.toString(), nsec] };
      }
      case 12: {
        const nsec = dv.getUint32(0);
        if (nsec >= 1e9) throw new StrictError("timestamp nanoseconds out of range");
        return { ts: [dv.getBigInt64(4).toString(), nsec] };
      }
      default:
        throw new StrictError("invalid timestamp length");
    }
  };
  if (t <= 0x7f) return { int: String(t) };
  if (t >= 0xe0) return { int: String(t - 0x100) };
  if (t <= 0x8f) return map(t & 0x0f);
  if (t <= 0x9f) return arr(t & 0x0f);
  if (t <= 0xbf) return r.utf8(t & 0x1f);
  switch (t) {
    case 0xc0:
      return { nil: null };
    case 0xc1:
      throw new StrictError("reserved type byte c1");
    case 0xc2:
      return { bool: false };
    case 0xc3:
      return { bool: true };
    case 0xc4:
      return bin(r.uint(1));
    case 0xc5:
      return bin(r.uint(2));
    case 0xc6:
      return bin(r.uint(4));
    case 0xc7:
      return ext(r.uint(1));
    case 0xc8:
      return ext(r.uint(2));
    case 0xc9:
      return ext(r.uint(4));
    case 0xca:
      return r.f32();
    case 0xcb:
      return r.f64();
    case 0xcc:
      return { int: r.uint(1).toString() };
    case 0xcd:
      return { int: r.uint(2).toString() };
    case 0xce:
      return { int: r.uint(4).toString() };
    case 0xcf:
      return { int: r.uint(8).toString() };
    case 0xd0:
      return { int: r.int(1).toString() };
    case 0xd1:
      return { int: r.int(2).toString() };
    case 0xd2:
      return { int: r.int(4).toString() };
    case 0xd3:
      return { int: r.int(8).toString() };
    case 0xd4:
      return ext(1);
    case 0xd5:
      return ext(2);
    case 0xd6:
      return ext(4);
    case 0xd7:
      return ext(8);
    case 0xd8:
      return ext(16);
    case 0xd9:
      return r.utf8(Number(r.uint(1)));
    case 0xda:
      return r.utf8(Number(r.uint(2)));
    case 0xdb:
      return r.utf8(Number(r.uint(4)));
    case 0xdc:
      return arr(r.uint(2));
    case 0xdd:
      return arr(r.uint(4));
    case 0xde:
      return map(r.uint(2));
    case 0xdf:
      return map(r.uint(4));
  }
  throw new Error("unreachable");
}

// ---------------------------------------------------------------------------------------------
// Codecs as PeerJS uses them.

const isStackOverflow = (e) => e instanceof RangeError && /call stack/.test(e.message);
const STACK_NOTE =
  "pack() recurses once per array item / map entry and overflows Node's default call stack " +
  "(about 12000-16000 items); these bytes were produced by the same pack() in a worker thread with a 256 MB stack";

/** Runs the real pack() on the value of `src` in a worker thread with a large stack. */
function packWithBigStack(src) {
  const code = `
    const { parentPort, workerData } = require("node:worker_threads");
    import(workerData.lib).then(({ pack }) => {
      const value = new Function('"use strict"; return (' + workerData.src + ');')();
      parentPort.postMessage(new Uint8Array(pack(value)));
    });`;
  return new Promise((resolve, reject) => {
    const w = new Worker(code, {
      eval: true,
      workerData: { src, lib: import.meta.resolve("peerjs-js-binarypack") },
      resourceLimits: { stackSizeMb: 256 },
    });
    w.once("message", (m) => {
      w.terminate();
      resolve(m);
    });
    w.once("error", reject);
  });
}

const CODECS = {
  binarypack: {
    library: BP_LIB,
    async encode(v, src, notes) {
      let out;
      try {
        out = pack(v);
      } catch (e) {
        if (!isStackOverflow(e)) throw e;
        notes.push(STACK_NOTE);
        return packWithBigStack(src);
      }
      if (out instanceof Promise) out = await out;
      return toU8(out);
    },
    decode: (bytes) => unpack(toAB(bytes)),
    strictItem: bpItem,
  },
  msgpack: {
    library: MP_LIB,
    async encode(v) {
      return mpEncode(v);
    },
    decode: (bytes) => mpDecode(bytes),
    strictItem: mpItem,
  },
};

/** Evaluates a vector's JS source; `ExtData` is in scope. */
const evalJs = (src) => new Function("ExtData", `"use strict"; return (${src});`)(ExtData);

function jsDecoded(format, bytes) {
  try {
    return typed(CODECS[format].decode(bytes), format);
  } catch (e) {
    return { error: errMsg(e) };
  }
}

const mismatches = [];
let specChecks = 0;

async function buildFile(format, spec) {
  const codec = CODECS[format];
  const vectors = [];
  const throws = [];
  const names = new Set();
  const checkName = (n) => {
    if (names.has(n)) throw new Error(`duplicate name ${n}`);
    names.add(n);
  };
  for (const [name, src, opts = {}] of spec.vectors) {
    checkName(name);
    const value = evalJs(src);
    await resolveBlobs(value);
    let bytes;
    const notes = opts.note ? [opts.note] : [];
    try {
      bytes = await codec.encode(value, src, notes);
    } catch (e) {
      if (opts.spec !== undefined) specChecks++;
      throws.push({ name, js: src, error: errMsg(e), ...(opts.row ? { spec_row: opts.row } : {}) });
      if (opts.spec !== undefined && opts.spec !== "throws") mismatches.push(`${format} ${name}: throws ${errMsg(e)}, spec ${opts.spec}`);
      continue;
    }
    const h = hex(bytes);
    if (opts.spec !== undefined) {
      specChecks++;
      const want = typeof opts.spec === "function" ? opts.spec() : opts.spec;
      if (want !== h) mismatches.push(`${format} ${name}: got ${h.slice(0, 80)}, spec ${String(want).slice(0, 80)}`);
    }
    const expect = typed(value, format);
    const decoded = jsDecoded(format, bytes);
    const strict = strictDecode(bytes, codec.strictItem);
    if (strict.consumed !== null && strict.consumed !== bytes.length) throw new Error(`${name}: strict decoder left bytes`);
    vectors.push({
      name,
      js: src,
      ...(opts.row ? { spec_row: opts.row } : {}),
      hex: h,
      expect,
      js_decoded: decoded,
      strict_decoded: compact(strict.value),
      js_roundtrip: same(decoded, expect),
      hex_decodes_to_expect: same(compact(strict.value), expect),
      ...(notes.length ? { note: notes.join("; ") } : {}),
    });
  }
  const decodeOnly = [];
  for (const [name, h, note] of spec.decodeOnly) {
    checkName(name);
    const bytes = fromHex(h);
    const strict = strictDecode(bytes, codec.strictItem);
    decodeOnly.push({
      name,
      hex: h,
      js_decoded: jsDecoded(format, bytes),
      strict_decoded: compact(strict.value),
      ...(strict.consumed !== null && strict.consumed !== bytes.length ? { strict_trailing_bytes: bytes.length - strict.consumed } : {}),
      ...(note ? { note } : {}),
    });
  }
  return { generator: GENERATOR, library: codec.library, vectors, throws, decode_only: decodeOnly };
}

// ---------------------------------------------------------------------------------------------
// BinaryPack vectors. [name, JS source, {row: spec 5.5 row, spec: hex the spec table gives}]

const r = (n, s) => s.repeat(n);
const BP = {
  vectors: [
    // Spec table 5.5, rows 1-31.
    ["zero", "0", { row: 1, spec: "00" }],
    ["one", "1", { row: 2, spec: "01" }],
    ["positive fixint max 127", "127", { row: 3, spec: "7f" }],
    ["minus one", "-1", { row: 4, spec: "ff" }],
    ["negative fixint min -32", "-32", { row: 5, spec: "e0" }],
    ["uint8 lower bound 128", "128", { row: 6, spec: "cc80" }],
    ["uint8 upper bound 255", "255", { row: 7, spec: "ccff" }],
    ["int8 -33", "-33", { row: 8, spec: "d0df" }],
    ["int8 lower bound -128", "-128", { row: 9, spec: "d080" }],
    ["uint16 lower bound 256", "256", { row: 10, spec: "cd0100" }],
    ["uint16 upper bound 65535", "65535", { row: 11, spec: "cdffff" }],
    ["int16 -129", "-129", { row: 12, spec: "d1ff7f" }],
    ["int16 lower bound -32768", "-32768", { row: 13, spec: "d18000" }],
    ["uint32 lower bound 65536", "65536", { row: 14, spec: "ce00010000" }],
    ["uint32 upper bound 2^32-1", "4294967295", { row: 15, spec: "ceffffffff" }],
    ["int32 -32769", "-32769", { row: 16, spec: "d2ffff7fff" }],
    ["int32 lower bound -2^31", "-2147483648", { row: 17, spec: "d280000000" }],
    ["int64 2^32", "4294967296", { row: 18, spec: "d30000000100000000" }],
    ["int64 -2^31-1", "-2147483649", { row: 19, spec: "d3ffffffff7fffffff" }],
    ["int64 2^53-1", "2**53-1", { row: 20, spec: "d3001fffffffffffff" }],
    ["int64 -(2^53-1)", "-(2**53-1)", { row: 21, spec: "d3ffe0000000000001" }],
    ["int64 tag for 2^63", "2**63", { row: 22, spec: "d38000000000000000" }],
    ["uint64 tag for 2^64", "2**64", { row: 23, spec: "cf0000000000000000" }],
    ["negative zero", "-0", { row: 24, spec: "00" }],
    ["float 1.5", "1.5", { row: 25, spec: "cb3ff8000000000000" }],
    ["float -1.5", "-1.5", { row: 26, spec: "cbbff8000000000000" }],
    ["float 0.1", "0.1", { row: 27, spec: "cb3fb999999999999a" }],
    ["float pi", "Math.PI", { row: 28, spec: "cb400921fb54442d18" }],
    ["float 1e-300", "1e-300", { row: 29, spec: "cb01a56e1fc2f8f359" }],
    ["float 5e-324 subnormal", "5e-324", { row: 30, spec: "cbfcd0000000000000" }],
    ["float NaN", "NaN", { row: 31, spec: "cb0000000000000000" }],
    ["Infinity", "Infinity", { row: 32, spec: "throws" }],
    ["1e300 (integral)", "1e300", { row: 32, spec: "throws" }],
    // Rows 33-41: strings.
    ["empty string", '""', { row: 33, spec: "b0" }],
    ["string a", '"a"', { row: 34, spec: "b161" }],
    ["string hello", '"hello"', { row: 35, spec: "b568656c6c6f" }],
    ["string 15 bytes (fixstr max)", '"abcdefghijklmno"', { row: 36, spec: "bf6162636465666768696a6b6c6d6e6f" }],
    ["string 16 bytes (str16 min)", '"abcdefghijklmnop"', { row: 37, spec: "d800106162636465666768696a6b6c6d6e6f70" }],
    ["string 2-byte utf8 e-acute", '"\\u00e9"', { row: 38, spec: "b2c3a9" }],
    ["string 3-byte utf8 euro", '"\\u20ac"', { row: 39, spec: "b3e282ac" }],
    ["string 4-byte utf8 emoji", '"\\u{1F600}"', { row: 40, spec: "b4f09f9880" }],
    ["string 70000 bytes (str32)", '"a".repeat(70000)', { row: 41, spec: () => "d900011170" + r(70000, "61") }],
    // Rows 42-52: other scalars and containers.
    ["true", "true", { row: 42, spec: "c3" }],
    ["false", "false", { row: 42, spec: "c2" }],
    ["null", "null", { row: 43, spec: "c0" }],
    ["undefined", "undefined", { row: 43, spec: "c0" }],
    ["empty array", "[]", { row: 44, spec: "90" }],
    ["array 1,2,3", "[1,2,3]", { row: 45, spec: "93010203" }],
    ["array 16 items (array16 min)", "Array.from({length: 16}, (_, i) => i)", { row: 46, spec: "dc0010000102030405060708090a0b0c0d0e0f" }],
    ["array null,true,x", '[null,true,"x"]', { row: 47, spec: "93c0c3b178" }],
    ["empty map", "({})", { row: 48, spec: "80" }],
    ["map a:1", '({"a":1})', { row: 49, spec: "81b16101" }],
    ["map key order 1,b,a", '({"1":0,b:2,a:1})', { row: 50, spec: "83b13100b16202b16101" }],
    ["map 16 entries (map16 min)", "Object.fromEntries(Array.from({length: 16}, (_, i) => ['k' + i.toString(16), i]))", { row: 51, spec: "de0010b26b3000b26b3101b26b3202b26b3303b26b3404b26b3505b26b3606b26b3707b26b3808b26b3909b26b610ab26b620bb26b630cb26b640db26b650eb26b660f" }],
    ["nested map array map", "({a:[1,{b:null}]})", { row: 52, spec: "81b161920181b162c0" }],
    // Rows 53-60: binary.
    ["Uint8Array 1,2,3", "new Uint8Array([1,2,3])", { row: 53, spec: "a3010203" }],
    ["ArrayBuffer 0 bytes", "new ArrayBuffer(0)", { row: 54, spec: "a0" }],
    ["ArrayBuffer 16 bytes (raw16 min)", "new ArrayBuffer(16)", { row: 55, spec: () => "da0010" + r(16, "00") }],
    ["Uint8Array 70000 zero bytes (raw32)", "new Uint8Array(70000)", { row: 56, spec: () => "db00011170" + r(70000, "00") }],
    ["Int16Array 1,-1", "new Int16Array([1,-1])", { row: 57, spec: "a40100ffff" }],
    ["Float32Array 1.5", "new Float32Array([1.5])", { row: 58, spec: "a40000c03f" }],
    ["Float64Array 1", "new Float64Array([1])", { row: 59, spec: "a8000000000000f03f" }],
    ["Uint8Array subarray view", "new Uint8Array([0,1,2,3]).subarray(1,3)", { row: 60, spec: "a20102" }],
    // Rows 61-64.
    ["Date 0 (TZ=UTC)", "new Date(0)", { row: 61, spec: () => "d8003e" + Buffer.from("Thu Jan 01 1970 00:00:00 GMT+0000 (Coordinated Universal Time)").toString("hex") }],
    ["class instance", 'new (class Pt { x = 1; y = "z"; })()', { row: 62, spec: "82b17801b179b17a" }],
    ["Blob 9,8,7 (async pack)", "new Blob([new Uint8Array([9,8,7])])", { row: 63, spec: "a3090807" }],
    ["map with Blob value (async pack)", "({f: new Blob([new Uint8Array([1])])})", { row: 64, spec: "81b166a101" }],
    // Row 65: types that throw.
    ["DataView throws", "new DataView(new ArrayBuffer(2))", { row: 65, spec: "throws" }],
    ["Map throws", "new Map([[1,2]])", { row: 65, spec: "throws" }],
    ["Set throws", "new Set([1])", { row: 65, spec: "throws" }],
    ["BigInt throws", "1n", { row: 65, spec: "throws" }],
    ["Symbol throws", 'Symbol("s")', { row: 65, spec: "throws" }],
    ["function throws", "function f() {}", { row: 65, spec: "throws" }],
    ["null-prototype object throws", "Object.create(null)", { row: 65, spec: "throws" }],
    ["function-style constructor instance throws", "new (function P() { this.x = 1; })()", { row: 65, spec: "throws" }],
    ["RegExp throws", "/a/", { row: 65, spec: "throws" }],

    // Integer boundaries on both sides of every range.
    ["fixint 126", "126"],
    ["negative fixint -31", "-31"],
    ["uint8 254", "254"],
    ["int8 -127", "-127"],
    ["uint16 257", "257"],
    ["uint16 65534", "65534"],
    ["int16 -130", "-130"],
    ["int16 -32767", "-32767"],
    ["uint32 65537", "65537"],
    ["uint32 2^31-1 (uint32 before int32)", "2**31-1"],
    ["uint32 2^31", "2**31"],
    ["uint32 2^32-2", "2**32-2"],
    ["int32 -32770", "-32770"],
    ["int32 -2^31+1", "-(2**31)+1"],
    ["int64 2^32+1", "2**32+1"],
    ["int64 -2^31-2", "-(2**31)-2"],
    ["int64 2^53", "2**53"],
    ["int64 2^53+1 (rounds to 2^53 in JS)", "2**53+1"],
    ["int64 2^53+2", "2**53+2"],
    ["int64 -(2^53)", "-(2**53)"],
    ["int64 -(2^53)-2", "-(2**53)-2"],
    ["int64 1e15", "1e15"],
    ["int64 -1e15", "-1e15"],
    ["int64 largest double below 2^63", "2**63-1024"],
    ["int64 -2^63 (lower bound)", "-(2**63)"],
    ["uint64 smallest double above 2^63", "2**63+2048"],
    ["uint64 largest double below 2^64", "2**64-2048"],
    ["smallest double above 2^64 throws", "2**64+4096"],
    ["largest double below -2^63 throws", "-(2**63)-2048"],
    ["-Infinity throws", "-Infinity"],
    ["Number.MAX_VALUE (integral) throws", "Number.MAX_VALUE"],
    ["-Number.MAX_VALUE throws", "-Number.MAX_VALUE"],
    ["Number.MAX_SAFE_INTEGER", "Number.MAX_SAFE_INTEGER"],
    ["Number.MIN_SAFE_INTEGER", "Number.MIN_SAFE_INTEGER"],

    // Floats.
    ["float 0.5", "0.5"],
    ["float -0.5", "-0.5"],
    ["float 1/3", "1/3"],
    ["float 123.456", "123.456"],
    ["float -1e-7", "-1e-7"],
    ["float 2^52-0.5 (largest non-integral)", "2**52-0.5"],
    ["float Number.EPSILON", "Number.EPSILON"],
    ["float 1-2^-53 (one ulp below 1)", "1-2**-53"],
    ["float 0.75 (exact binary fraction)", "0.75"],
    ["float smallest normal 2^-1022", "2**-1022"],
    ["float largest subnormal", "2**-1022 - 2**-1074"],
    ["float -Number.MIN_VALUE", "-Number.MIN_VALUE"],
    ["float 1e-310 subnormal", "1e-310"],
    ["float 1.5 * 2^-1030 subnormal", "1.5 * 2**-1030"],

    // Strings.
    ["string NUL char", '"\\u0000"'],
    ["string 15 bytes of 3-byte chars", '"\\u20ac".repeat(5)'],
    ["string 16 bytes of 2-byte chars", '"\\u00e9".repeat(8)'],
    ["string 16 bytes of 4-byte chars", '"\\u{1F600}".repeat(4)'],
    ["string mixed 1/2/3/4-byte", '"a\\u00e9\\u20ac\\u{1F600}z"'],
    ["string U+FFFF and U+10FFFF", '"\\uffff\\u{10FFFF}"'],
    ["string C1 control U+0080", '"\\u0080\\u009f"'],
    ["string 65535 bytes (str16 max)", '"a".repeat(65535)'],
    ["string 65536 bytes (str32 min)", '"a".repeat(65536)'],

    // Binary.
    ["Uint8Array 0 bytes", "new Uint8Array(0)"],
    ["Uint8Array 15 bytes (fixraw max)", "new Uint8Array(15).fill(0xab)"],
    ["Uint8Array 16 bytes (raw16 min)", "new Uint8Array(16).fill(0xab)"],
    ["Uint8Array 65535 bytes (raw16 max)", "new Uint8Array(65535).fill(0xab)"],
    ["Uint8Array 65536 bytes (raw32 min)", "new Uint8Array(65536).fill(0xab)"],
    ["Uint8Array with byteOffset", "new Uint8Array(new ArrayBuffer(8), 2, 3).fill(7)"],
    ["Uint16Array 0x0102", "new Uint16Array([0x0102])"],
    ["Int32Array -2", "new Int32Array([-2])"],
    ["BigInt64Array 1n,-1n", "new BigInt64Array([1n, -1n])"],
    ["Uint8ClampedArray 255", "new Uint8ClampedArray([300])"],
    ["Float64Array subarray view", "new Float64Array([1, 2.5, 3]).subarray(1, 2)"],
    ["Node Buffer (pool slice)", 'Buffer.from("hi")'],

    // Arrays and maps at their boundaries.
    ["array 15 items (fixarray max)", "Array(15).fill(0)"],
    ["array 65535 items (array16 max)", "Array(65535).fill(0)"],
    ["array 65536 items (array32 min)", "Array(65536).fill(0)"],
    ["array with undefined and hole", "[undefined, , 1]"],
    ["map 15 entries (fixmap max)", "Object.fromEntries(Array.from({length: 15}, (_, i) => ['k' + i.toString(16), i]))"],
    ["map 65536 entries (map32)", "Object.fromEntries(Array.from({length: 65536}, (_, i) => [String(i), 0]))"],
    ["map integer-like key order", '({"b":1,"10":2,"9":3,"-1":4,"01":5,"a":6})'],
    ["map undefined value", "({a: undefined})"],
    ["map symbol key ignored", '({[Symbol("s")]: 1, a: 2})'],
    ["map own __proto__ key", '({["__proto__"]: 1})', { note: "JS unpack assigns map['__proto__'], which sets the prototype instead of a key" }],
    ["map with empty-string key", '({"": 1})'],
    ["map with unicode key", '({"\\u00e9\\u{1F600}": true})'],

    // Nested structures.
    ["nested arrays depth 5", "[[[[[1]]]]]"],
    ["nested mixed", '({id: 7, list: [1, -1, 1.5, "s", null, true, {x: new Uint8Array([1, 2])}], m: {n: {}}})'],
    ["array of maps", '[{a: 1}, {b: [2]}, {}]'],

    // Dates (packed as toString() strings).
    ["Date 1500 ms", "new Date(1500)"],
    ["Date -1 ms", "new Date(-1)"],
    ["Date 2^34 s", "new Date(2**34 * 1000)"],
    ["Invalid Date", "new Date(NaN)"],

    // Classes.
    ["class instance with methods and getters", 'new (class C { a = 1; get g() { return 2; } m() {} })()'],
    ["subclass instance", "new (class B extends (class A { a = 1; }) { b = 2; })()"],

    // PeerJS control and chunk messages.
    ["close control message", '({__peerData: {type: "close"}})', { spec: "81ba5f5f706565724461746181b474797065b5636c6f7365" }],
    ["chunk-shaped message", "({__peerData: 1, n: 0, data: new Uint8Array([1, 2, 3]).buffer, total: 1})"],
  ],
  decodeOnly: [
    ["c1 undefined", "c1"],
    ["c4 undefined", "c4"],
    ["c5 undefined", "c5"],
    ["c6 undefined", "c6"],
    ["c7 undefined", "c7"],
    ["c8 undefined", "c8"],
    ["c9 undefined", "c9"],
    ["d4 undefined", "d4"],
    ["d5 undefined", "d5"],
    ["d6 undefined", "d6"],
    ["d7 undefined", "d7"],
    ["c4 consumes the tag only", "92c40105", "the byte after c4 is read as the next array item"],
    ["float32 1.5", "ca3fc00000"],
    ["float32 zero (buggy)", "ca00000000"],
    ["float32 -1", "cabf800000"],
    ["float32 infinity (buggy)", "ca7f800000"],
    ["float32 NaN (buggy)", "ca7fc00000"],
    ["float64 +Infinity", "cb7ff0000000000000"],
    ["float64 NaN (decodes as Infinity)", "cb7ff8000000000000"],
    ["float64 -Infinity", "cbfff0000000000000"],
    ["float64 zero (buggy)", "cb0000000000000000"],
    ["float64 negative zero (buggy)", "cb8000000000000000"],
    ["float64 smallest subnormal (buggy)", "cb0000000000000001"],
    ["float64 1.0 (integral float)", "cb3ff0000000000000"],
    ["uint64 2^32", "cf0000000100000000"],
    ["uint64 max", "cfffffffffffffffff"],
    ["uint64 2^63", "cf8000000000000000"],
    ["uint64 2^53+1 (lossy)", "cf0020000000000001"],
    ["uint64 non-canonical 5", "cf0000000000000005"],
    ["int64 -1 (decodes as 0)", "d3ffffffffffffffff"],
    ["int64 -2^31-1 (lossy)", "d3ffffffff7fffffff"],
    ["int64 min", "d38000000000000000"],
    ["int64 max", "d37fffffffffffffff"],
    ["int64 -(2^53+1)", "d3ffdfffffffffffff"],
    ["int64 non-canonical 5", "d30000000000000005"],
    ["uint8 non-canonical 5", "cc05"],
    ["uint16 non-canonical 5", "cd0005"],
    ["uint32 non-canonical 5", "ce00000005"],
    ["int8 non-canonical 5", "d005"],
    ["int16 -2", "d1fffe"],
    ["int32 -2", "d2fffffffe"],
    ["str16 with short length", "d80002c3a9"],
    ["str32 with short length", "d900000002c3a9"],
    ["raw16 with short length", "da0002abcd"],
    ["raw32 with short length", "db00000002abcd"],
    ["array16 with short length", "dc0002c3c2"],
    ["array32 with short length", "dd00000002c3c2"],
    ["map16 with short length", "de0001b161c0"],
    ["map32 with short length", "df00000001b161c0"],
    ["map integer key", "8101c3"],
    ["map nil key", "81c0c3"],
    ["map bool key", "81c3c2"],
    ["map float key", "81cb3ff8000000000000c3"],
    ["map array key", "81920102c3"],
    ["map binary key", "81a100c3"],
    ["map duplicate keys (last wins)", "82b16101b16102"],
    ["map __proto__ key", "81b95f5f70726f746f5f5f01", "assigning __proto__ sets the prototype; the object has no own key"],
    ["map integer-like keys reordered", "82b16201b13102"],
    ["truncated array", "92", "missing 1-byte reads give 0"],
    ["empty input", "", "a missing tag byte reads as 0"],
    ["truncated string", "b3e282"],
    ["truncated uint16", "cd00"],
    ["truncated raw", "a301"],
    ["truncated array16 length", "dc00"],
    ["trailing bytes ignored", "0102"],
    ["stray continuation bytes", "b28080", "bytes below 0xa0 are taken as code points U+0080-U+009F"],
    ["string with lead byte at the end", "b1c3", "the missing continuation reads as 0"],
    ["string with invalid lead byte 0xff", "b1ff"],
    ["string with code point above U+10FFFF", "b4f7bfbfbf"],
    ["string overlong 2-byte NUL", "b2c080"],
    ["string with 0xa0 byte", "b1a0"],
  ],
};

// ---------------------------------------------------------------------------------------------
// MsgPack vectors (@msgpack/msgpack encode/decode with default options).

const MP = {
  vectors: [
    ["zero", "0", { spec: "00" }],
    ["positive fixint max 127", "127", { spec: "7f" }],
    ["uint8 128", "128", { spec: "cc80" }],
    ["uint8 255", "255", { spec: "ccff" }],
    ["uint16 256", "256", { spec: "cd0100" }],
    ["uint16 65535", "65535"],
    ["uint32 65536", "65536", { spec: "ce00010000" }],
    ["uint32 2^32-1", "2**32-1"],
    ["uint64 2^32", "2**32", { spec: "cf0000000100000000" }],
    ["minus one", "-1", { spec: "ff" }],
    ["negative fixint -32", "-32", { spec: "e0" }],
    ["int8 -33", "-33", { spec: "d0df" }],
    ["int8 -128", "-128"],
    ["int16 -129", "-129", { spec: "d1ff7f" }],
    ["int16 -32768", "-32768"],
    ["int32 -32769", "-32769", { spec: "d2ffff7fff" }],
    ["int32 -2^31", "-(2**31)"],
    ["int64 -2^31-1", "-(2**31)-1", { spec: "d3ffffffff7fffffff" }],
    ["uint64 2^53-1", "2**53-1", { spec: "cf001fffffffffffff" }],
    ["2^53 (not safe: float64)", "2**53", { spec: "cb4340000000000000" }],
    ["int64 -(2^53-1)", "-(2**53-1)"],
    ["-(2^53) (not safe: float64)", "-(2**53)"],
    ["2^63 float64", "2**63"],
    ["-2^63 float64", "-(2**63)"],
    ["2^64 float64", "2**64"],
    ["float 1.5", "1.5", { spec: "cb3ff8000000000000" }],
    ["float -1.5", "-1.5"],
    ["float 0.1", "0.1", { spec: "cb3fb999999999999a" }],
    ["float pi", "Math.PI"],
    ["negative zero", "-0", { spec: "00" }],
    ["float NaN", "NaN", { spec: "cb7ff8000000000000" }],
    ["float Infinity", "Infinity", { spec: "cb7ff0000000000000" }],
    ["float -Infinity", "-Infinity"],
    ["float 1e300", "1e300", { spec: "cb7e37e43c8800759c" }],
    ["float 5e-324", "5e-324"],
    ["float Number.MAX_VALUE", "Number.MAX_VALUE"],
    ["empty string", '""', { spec: "a0" }],
    ["string a", '"a"', { spec: "a161" }],
    ["string emoji", '"\\u{1F600}"', { spec: "a4f09f9880" }],
    ["fixstr 31 bytes", '"x".repeat(31)', { spec: () => "bf" + r(31, "78") }],
    ["str8 32 bytes", '"x".repeat(32)', { spec: () => "d920" + r(32, "78") }],
    ["str8 255 bytes", '"x".repeat(255)'],
    ["str16 256 bytes", '"x".repeat(256)', { spec: () => "da0100" + r(256, "78") }],
    ["str16 65535 bytes", '"x".repeat(65535)'],
    ["str32 65536 bytes", '"x".repeat(65536)'],
    ["string 32 bytes of 2-byte chars", '"\\u00e9".repeat(16)'],
    ["string mixed 1/2/3/4-byte", '"a\\u00e9\\u20ac\\u{1F600}z"'],
    ["true", "true", { spec: "c3" }],
    ["false", "false", { spec: "c2" }],
    ["null", "null", { spec: "c0" }],
    ["undefined", "undefined", { spec: "c0" }],
    ["empty array", "[]"],
    ["array 1,2,3", "[1,2,3]", { spec: "93010203" }],
    ["fixarray 15 items", "Array(15).fill(0)"],
    ["array16 16 items", "Array(16).fill(0)", { spec: () => "dc0010" + r(16, "00") }],
    ["array16 65535 items", "Array(65535).fill(0)"],
    ["array32 65536 items", "Array(65536).fill(0)"],
    ["empty map", "({})"],
    ["map a:1", '({"a":1})', { spec: "81a16101" }],
    ["map a:undefined", "({a: undefined})", { spec: "81a161c0" }],
    ["fixmap 15 entries", "Object.fromEntries(Array.from({length: 15}, (_, i) => ['k' + i.toString(16), i]))"],
    ["map16 16 entries", "Object.fromEntries(Array.from({length: 16}, (_, i) => ['k' + i.toString(16), i]))"],
    ["map key order 1,b,a", '({"1":0,b:2,a:1})'],
    ["Uint8Array 1,2,3", "new Uint8Array([1,2,3])", { spec: "c403010203" }],
    ["Int16Array 1,-1", "new Int16Array([1,-1])", { spec: "c4040100ffff" }],
    ["bin8 0 bytes", "new Uint8Array(0)"],
    ["bin8 255 bytes", "new Uint8Array(255).fill(0xab)"],
    ["bin16 256 bytes", "new Uint8Array(256).fill(0xab)"],
    ["bin16 300 zero bytes", "new Uint8Array(300)", { spec: () => "c5012c" + r(300, "00") }],
    ["bin16 65535 bytes", "new Uint8Array(65535).fill(0xab)"],
    ["bin32 65536 bytes", "new Uint8Array(65536).fill(0xab)"],
    ["bin32 70000 zero bytes", "new Uint8Array(70000)", { spec: () => "c600011170" + r(70000, "00") }],
    ["Float64Array 1", "new Float64Array([1])"],
    ["Uint8Array subarray view", "new Uint8Array([0,1,2,3]).subarray(1,3)"],
    ["Node Buffer (pool slice)", 'Buffer.from("hi")'],
    ["DataView (a view: bin)", "new DataView(new Uint8Array([5,6]).buffer)"],
    ["ArrayBuffer encodes as empty map", "new ArrayBuffer(2)", { spec: "80" }],
    ["Date 0 (timestamp32)", "new Date(0)", { spec: "d6ff00000000" }],
    ["Date 1500 ms (timestamp64)", "new Date(1500)", { spec: "d7ff7735940000000001" }],
    ["Date 2^34 s (timestamp96)", "new Date(2**34 * 1000)", { spec: "c70cff000000000000000400000000" }],
    ["Date -1 ms (timestamp96)", "new Date(-1)", { spec: "c70cff3b8b87c0ffffffffffffffff" }],
    ["Date 2^32-1 s (timestamp32 max)", "new Date((2**32 - 1) * 1000)"],
    ["Date 2^32 s (timestamp64)", "new Date(2**32 * 1000)"],
    ["Date 2^34-1 s (timestamp64 max)", "new Date((2**34 - 1) * 1000)"],
    ["Date 1 ms (timestamp64)", "new Date(1)"],
    ["Date -1000 ms (timestamp96)", "new Date(-1000)"],
    ["Map encodes as empty map", "new Map([[1,2]])", { spec: "80" }],
    ["Set encodes as empty map", "new Set([1])", { spec: "80" }],
    ["class instance", "new (class { x = 1; })()", { spec: "81a17801" }],
    ["close control message", '({__peerData: {type: "close"}})', { spec: "81aa5f5f706565724461746181a474797065a5636c6f7365" }],
    ["ExtData type 5, 2 bytes (fixext2)", "new ExtData(5, new Uint8Array([1,2]))"],
    ["ExtData type 127, 1 byte (fixext1)", "new ExtData(127, new Uint8Array([9]))"],
    ["ExtData type -2, 3 bytes (ext8)", "new ExtData(-2, new Uint8Array([1,2,3]))"],
    ["ExtData 16 bytes (fixext16)", "new ExtData(1, new Uint8Array(16).fill(1))"],
    ["ExtData 17 bytes (ext8)", "new ExtData(1, new Uint8Array(17).fill(1))"],
    ["ExtData 256 bytes (ext16)", "new ExtData(1, new Uint8Array(256).fill(1))"],
    ["ExtData 0 bytes (ext8)", "new ExtData(2, new Uint8Array(0))"],
    ["nested mixed", '({id: 7, list: [1, -1, 1.5, "s", null, true, {x: new Uint8Array([1, 2])}], m: {n: {}}, d: new Date(0)})'],
    ["e2e example object", '({a:1,s:"hi",d:new Date(0),u:new Uint8Array([1,2])})', { spec: "84a16101a173a26869a164d6ff00000000a175c4020102" }],
    ["BigInt throws", "1n"],
    ["Symbol throws", 'Symbol("s")'],
    ["function throws", "function f() {}"],
  ],
  decodeOnly: [
    ["float32 1.5", "ca3fc00000"],
    ["float32 zero", "ca00000000"],
    ["float32 NaN", "ca7fc00000"],
    ["uint64 max (lossy)", "cfffffffffffffffff"],
    ["uint64 2^53+1 (lossy)", "cf0020000000000001"],
    ["int64 -1", "d3ffffffffffffffff"],
    ["int64 min", "d38000000000000000"],
    ["int64 -(2^53+1) (lossy)", "d3ffdfffffffffffff"],
    ["uint8 non-canonical 5", "cc05"],
    ["ext unknown type 7 (ext8)", "c703070a0b0c"],
    ["fixext1 type 127", "d47f00"],
    ["fixext4 unknown type", "d60101020304"],
    ["fixext8 unknown type", "d7010102030405060708"],
    ["timestamp32 1", "d6ff00000001"],
    ["timestamp64 with 1 ns (JS keeps ms)", "d7ff0000000400000000"],
    ["timestamp96 zero (what new Date(NaN) encodes to)", "c70cff000000000000000000000000"],
    ["timestamp96 1 ns", "c70cff000000010000000000000000"],
    ["timestamp with 5 bytes", "c705ff0000000000"],
    ["timestamp fixext1", "d4ff00"],
    ["str8 with short length", "d90161"],
    ["str16 with short length", "da000161"],
    ["str32 with short length", "db0000000161"],
    ["bin8 empty", "c400"],
    ["bin16 short", "c50001ff"],
    ["array16 empty", "dc0000"],
    ["map16 empty", "de0000"],
    ["map integer key", "8101c3"],
    ["map nil key", "81c0c3"],
    ["map array key", "81920102c3"],
    ["map __proto__ key", "81a95f5f70726f746f5f5f01"],
    ["map duplicate keys", "82a16101a16102"],
    ["reserved c1", "c1"],
    ["empty input", ""],
    ["truncated array", "92"],
    ["truncated string", "a3e282"],
    ["trailing bytes", "0102"],
    ["invalid utf-8 0xff", "a1ff"],
    ["stray continuation bytes", "a28080"],
    ["string overlong 2-byte NUL", "a2c080"],
  ],
};

// ---------------------------------------------------------------------------------------------
// Chunking: the real PeerJS 1.5.5 BinaryPack DataConnection class, with a stub WebRTC underneath.

const peerjs = require("peerjs");
if (typeof globalThis.RTCPeerConnection !== "undefined") throw new Error("unexpected WebRTC in this Node");
const BinaryPackConnection = (() => {
  // Node has no WebRTC, so the Peer constructor gives up (asynchronously, as a "browser-incompatible"
  // error) before touching the network; its serializer registry is all we want from it.
  const peer = new peerjs.Peer("fixturegen", { host: "127.0.0.1", port: 9, secure: false, debug: 0 });
  peer.on("error", () => {});
  const cls = peer._serializers.binary;
  if (cls !== peer._serializers.default) throw new Error("binary is not the default serializer");
  return cls;
})();

class StubDataChannel {
  constructor(label, init) {
    this.label = label;
    this.ordered = !!init?.ordered;
    this.readyState = "open";
    this.bufferedAmount = 0;
    this.binaryType = "blob";
    this.sent = [];
  }
  send(msg) {
    if (typeof msg === "string") throw new Error("text message");
    this.sent.push(new Uint8Array(toU8(msg)));
  }
  addEventListener() {}
  removeEventListener() {}
  close() {}
}
class StubPeerConnection {
  createDataChannel(label, init) {
    return new StubDataChannel(label, init);
  }
  createOffer() {
    return new Promise(() => {}); // negotiation never proceeds; not needed
  }
  close() {}
}
globalThis.RTCPeerConnection = StubPeerConnection;
const stubProvider = {
  options: { config: {} },
  socket: { send() {} },
  _removeConnection() {},
  getConnection() {},
};

/** A fresh, open PeerJS BinaryPack DataConnection whose channel records what is sent. */
function openConnection() {
  const conn = new BinaryPackConnection("remote", stubProvider, { serialization: "binary", reliable: false });
  conn.dataChannel.onopen();
  if (!conn.open) throw new Error("connection did not open");
  return conn;
}

/** Feeds data-channel messages to a fresh receiving connection; returns what it emits as "data". */
function receive(messages) {
  const conn = openConnection();
  const got = [];
  conn.on("data", (d) => got.push(d));
  for (const m of messages) conn._handleDataMessage({ data: toAB(m) });
  return got;
}

/** The chunking algorithm from spec 5.3, written independently, to cross-check the real one. */
function specChunks(packed, id) {
  const MTU = 16300;
  if (packed.length <= MTU) return [packed];
  const total = Math.ceil(packed.length / MTU);
  const out = [];
  for (let n = 0; n < total; n++) {
    const slice = packed.subarray(n * MTU, Math.min(packed.length, (n + 1) * MTU));
    out.push(toU8(pack({ __peerData: id, n, data: slice, total })));
  }
  return out;
}

const pattern = (len) => `Uint8Array.from({length: ${len}}, (_, i) => i & 0xff)`;
const CHUNK_CASES = [
  ["spec 5.3 example: 16298 bytes (packed 16301)", [pattern(16298)]],
  ["spec 5.3 example: 40000 bytes", [pattern(40000)]],
];
for (const k of [1, 2, 3]) {
  for (const d of [-1, 0, 1]) {
    const packedLen = 16300 * k + d;
    CHUNK_CASES.push([`packed ${packedLen} bytes (16300*${k}${d < 0 ? "-1" : d > 0 ? "+1" : ""})`, [pattern(packedLen - 3)]]);
  }
}
CHUNK_CASES.push(
  ["binary 70000 bytes (raw32, 5 chunks)", [pattern(70000)]],
  ["string 20000 bytes, chunk edges inside multi-byte chars", ['"\\u00e9\\u20ac\\u{1F600}a".repeat(2000)']],
  ["object with a large binary", ['({name: "file.bin", size: 30000, data: ' + pattern(30000) + ", tags: [\"x\", \"y\"]})"]],
  ["array of 4000 floats", ["Array.from({length: 4000}, (_, i) => i + 0.5)"]],
  [
    "one connection, several sends (ids count chunked messages only)",
    ['"hi"', pattern(20000), pattern(16297), pattern(16298), '({a: 1})', '"z".repeat(40000)'],
  ],
);

async function buildChunks() {
  const cases = [];
  for (const [name, sources] of CHUNK_CASES) {
    const conn = openConnection();
    const sends = [];
    let idBefore = conn.chunker._dataCount;
    for (const src of sources) {
      const value = evalJs(src);
      const packed = toU8(pack(value));
      const from = conn.dataChannel.sent.length;
      conn.send(value);
      const messages = conn.dataChannel.sent.slice(from);
      const chunked = conn.chunker._dataCount !== idBefore;
      const id = chunked ? idBefore : null;
      idBefore = conn.chunker._dataCount;
      // Cross-checks: the spec algorithm, and the real receiver's reassembly.
      const mine = specChunks(packed, id);
      if (!same(mine.map(hex), messages.map(hex))) throw new Error(`${name}: real chunking differs from spec 5.3`);
      const got = receive(messages);
      if (got.length !== 1) throw new Error(`${name}: receiver emitted ${got.length} values`);
      const expect = typed(value, "binarypack");
      const received = typed(got[0], "binarypack");
      if (!same(expect, received)) throw new Error(`${name}: receiver got a different value`);
      sends.push({
        js: src,
        value: expect,
        packed_len: packed.length,
        message_id: id,
        message_lens: messages.map((m) => m.length),
        messages: messages.map(hex),
        received,
      });
    }
    cases.push({ name, sends });
  }
  return {
    generator: GENERATOR,
    library: `${PEERJS_LIB} BinaryPack DataConnection (serialization "binary"), ${BP_LIB}`,
    method:
      "real peerjs DataConnection.send() on a stub RTCDataChannel (Node has no WebRTC); messages checked against an independent implementation of spec 5.3 and reassembled by a real receiving DataConnection",
    chunked_mtu: 16300,
    cases,
  };
}

// ---------------------------------------------------------------------------------------------
// Output: pretty-printed, with every typed value and every hex string on a single line.

function render(v, depth = 0, maxDepth = 3) {
  const pad = "  ".repeat(depth);
  const pad1 = "  ".repeat(depth + 1);
  if (depth >= maxDepth || v === null || typeof v !== "object") return JSON.stringify(v);
  if (Array.isArray(v)) {
    if (v.length === 0) return "[]";
    return "[\n" + v.map((x) => pad1 + render(x, depth + 1, maxDepth)).join(",\n") + "\n" + pad + "]";
  }
  const keys = Object.keys(v);
  if (keys.length === 0) return "{}";
  return "{\n" + keys.map((k) => `${pad1}${JSON.stringify(k)}: ${render(v[k], depth + 1, maxDepth)}`).join(",\n") + "\n" + pad + "}";
}

function write(file, obj, maxDepth) {
  // Escape DEL and the C1 controls (invisible in most viewers); JSON.stringify leaves them raw.
  const text = render(obj, 0, maxDepth).replace(/[\u007f-\u009f]/g, (c) => "\\u00" + c.charCodeAt(0).toString(16)) + "\n";
  writeFileSync(join(outDir, file), text);
  return text.length;
}

const bp = await buildFile("binarypack", BP);
const mp = await buildFile("msgpack", MP);
const chunks = await buildChunks();
// binarypack/msgpack: file > vectors > vector > fields (typed values on one line).
const sizes = {
  "binarypack.json": write("binarypack.json", bp, 3),
  "msgpack.json": write("msgpack.json", mp, 3),
  // chunks: file > cases > case > sends > send > fields.
  "chunks.json": write("chunks.json", chunks, 5),
};
for (const [f, n] of Object.entries(sizes)) console.error(`wrote tests/fixtures/${f}: ${n} bytes`);
console.error(
  `binarypack: ${bp.vectors.length} vectors, ${bp.throws.length} throws, ${bp.decode_only.length} decode_only; ` +
    `msgpack: ${mp.vectors.length} vectors, ${mp.throws.length} throws, ${mp.decode_only.length} decode_only; ` +
    `chunks: ${chunks.cases.length} cases`,
);
if (mismatches.length) {
  console.error(`differences from the spec tables (the libraries win):\n  ${mismatches.join("\n  ")}`);
} else {
  console.error(`all ${specChecks} hex values quoted from the spec tables match the libraries`);
}
// The Peer constructor's "browser-incompatible" abort is on a timer; let it run, then exit.
setTimeout(() => process.exit(0), 10);
