// The JS side of the interop tests, shared by the Node peer (node_peer.mjs) and the Chromium page
// (browser_peer.mjs): it drives one real PeerJS `Peer` from JSON-line commands and reports what
// happens as JSON-line events. It runs unchanged in Node and in a browser page (no Node APIs).
//
// Events (one JSON object each):
//   {"event":"open","id":…}                 registered with the server
//   {"event":"error","type":…,"message":…}  a Peer error (PeerJS's `error` event)
//   {"event":"disconnected"} / {"event":"close"}
//   {"event":"connection","connectionId":…,"peer":…,"label":…,"serialization":…,
//    "reliable":…,"metadata":…}            an incoming connection
//   {"event":"conn-open","connectionId":…}  a connection opened
//   {"event":"data","connectionId":…,"value":V[,"frame":"text"|"binary"]}
//                                           a message arrived (V tagged as below; `frame` is the
//                                           kind of the last data-channel message, where known)
//   {"event":"conn-close","connectionId":…} / {"event":"conn-error","connectionId":…,"type":…,"message":…}
//   {"event":"uncaught","message":…}        an exception escaped a PeerJS handler (for example
//                                           PeerJS's receive handler throwing on a top-level null)
//   {"event":"ok","seq":…,…} / {"event":"fail","seq":…,"message":…}   a command finished / threw
//
// Commands (run one after another, in order):
//   {"cmd":"connect","seq":1,"peer":"bob","serialization":"binary","reliable":true,"label":"l","metadata":{…}}
//        → ok with "connectionId" (open follows as a conn-open event)
//   {"cmd":"send","seq":2,"connectionId":…,"value":V}     conn.send(untag(V)); awaits MsgPack's promise
//   {"cmd":"send-case","seq":3,"connectionId":…,"value":V,"sentinel":"…"}
//        conn.send(untag(V)) then conn.send(sentinel); ok with "sendError" (null, or what the first
//        send threw)
//   {"cmd":"send-stream","seq":4,"connectionId":…,"count":n,"size":bytes,"leave":bool}
//        n binary messages of `size` bytes (byte 0 of message i is i % 256), then destroys the peer
//        at once if `leave`
//   {"cmd":"close","seq":5,"connectionId":…,"flush":true}
//   {"cmd":"destroy","seq":6}
//   {"cmd":"roundtrip","seq":7,"serialization":"binary","values":[V…]}
//        what PeerJS's own codec delivers to a PeerJS receiver for each value, computed here with
//        this PeerJS build: ok with "results": [{"original":V,"outcome":"delivered","value":V}
//        | {"original":V,"outcome":"lost"|"refused","reason":…[,"decoded":V]}] ("decoded": what
//        the receiver decoded before its handler dropped the message; binary adds "exact": V
//        where PeerJS's decoder misreads the bytes its encoder wrote, read exactly)
//
//   bench-sink, bench-send, bench-echo, bench-ping, bench-setup, bench-hold: the performance
//        suite's commands (see bench_commands.mjs)
//
// Tagged values (V): JSON, with these objects standing for what JSON cannot say:
//   {"$bin":"<hex>"}       binary (an ArrayBuffer or any view; sent as a Uint8Array)
//   {"$binsum":"<len>:<fnv>"} / {"$strsum":"<len>:<fnv>"}
//                          (reports only) binary over 256 bytes / a string over 512 UTF-8 bytes:
//                          its length and FNV-1a 32 hash (of the UTF-8 bytes for strings)
//   {"$date":<ms>}  {"$undefined":true}  {"$num":"NaN"|"Infinity"|"-Infinity"}
//   {"$ext":[type,"<hex>"]} (reports only) a MessagePack extension value
//   (commands only) {"$pattern":n} n bytes, byte i = i*7 % 251, as a Uint8Array;
//   {"$ab":"<hex>"} an ArrayBuffer; {"$typed":["Int16Array",[1,-1]]} a typed array;
//   {"$sub":["<hex>",start,end]} a subarray view; {"$repeat":["ab",n]} a repeated string;
//   {"$map":[[k,v]…]} a Map; {"$class":{…}} an instance of a class with these fields;
//   {"$bigint":"123"} a BigInt
// Numbers are reported as JSON numbers (JS doubles); -0 reports as 0.

import { benchCommands } from "./bench_commands.mjs";

export const STRING_SUM_BYTES = 512;
export const BINARY_SUM_BYTES = 256;

const utf8 = new TextEncoder();

export function fnv1a(bytes) {
  let hash = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    hash = Math.imul(hash ^ bytes[i], 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, "0");
}

export function toHex(bytes) {
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += bytes[i].toString(16).padStart(2, "0");
  return out;
}

export function fromHex(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function pattern(len) {
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) out[i] = (i * 7) % 251;
  return out;
}

function binary(bytes) {
  return bytes.length > BINARY_SUM_BYTES
    ? { $binsum: `${bytes.length}:${fnv1a(bytes)}` }
    : { $bin: toHex(bytes) };
}

/** A received JS value as tagged JSON. */
export function tag(value) {
  if (value === undefined) return { $undefined: true };
  if (value === null || typeof value === "boolean") return value;
  if (typeof value === "string") {
    if (value.length * 3 <= STRING_SUM_BYTES) return value;
    const bytes = utf8.encode(value);
    return bytes.length > STRING_SUM_BYTES ? { $strsum: `${bytes.length}:${fnv1a(bytes)}` } : value;
  }
  if (typeof value === "number") {
    if (Number.isFinite(value)) return value === 0 ? 0 : value;
    return { $num: String(value) };
  }
  if (typeof value === "bigint") return { $bigint: String(value) };
  if (value instanceof ArrayBuffer) return binary(new Uint8Array(value));
  if (ArrayBuffer.isView(value)) {
    return binary(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
  }
  if (value instanceof Date) return { $date: value.getTime() };
  if (value instanceof Map) return { $map: [...value].map(([k, v]) => [tag(k), tag(v)]) };
  if (Array.isArray(value)) return value.map(tag);
  if (typeof value === "object") {
    // MessagePack's ExtData (each PeerJS bundle carries its own copy of the class).
    if (value.constructor !== Object && typeof value.type === "number" && value.data instanceof Uint8Array) {
      return { $ext: [value.type, toHex(value.data)] };
    }
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = tag(v);
    return out;
  }
  return { $unknown: String(value) };
}

/** The JS value a tagged JSON value stands for (a fresh one each call). */
export function untag(value) {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map(untag);
  if ("$bin" in value) return fromHex(value.$bin);
  if ("$pattern" in value) return pattern(value.$pattern);
  if ("$ab" in value) return fromHex(value.$ab).buffer;
  if ("$typed" in value) return new globalThis[value.$typed[0]](value.$typed[1]);
  if ("$sub" in value) return fromHex(value.$sub[0]).subarray(value.$sub[1], value.$sub[2]);
  if ("$repeat" in value) return value.$repeat[0].repeat(value.$repeat[1]);
  if ("$date" in value) return new Date(value.$date);
  if ("$undefined" in value) return undefined;
  if ("$num" in value) return Number(value.$num);
  if ("$bigint" in value) return BigInt(value.$bigint);
  if ("$map" in value) return new Map(value.$map.map(([k, v]) => [untag(k), untag(v)]));
  if ("$class" in value) {
    const Fields = class Fields {
      constructor(fields) {
        Object.assign(this, fields);
      }
    };
    return new Fields(untag(value.$class));
  }
  const out = {};
  for (const [k, v] of Object.entries(value)) out[k] = untag(v);
  return out;
}

/**
 * What BinaryPack bytes say, read exactly: IEEE-754 floats and 64-bit integers (to the nearest
 * double), where PeerJS's own `unpack` computes some of them wrong (NaN sent as the bytes of 0.0,
 * subnormals, negative int64). Otherwise as `unpack`: unknown tags read as undefined, map keys
 * become property names.
 */
export function exactUnpack(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = new TextDecoder("utf-8", { fatal: true });
  let i = 0;
  const take = (n) => {
    if (i + n > bytes.length) throw new Error("truncated");
    const at = i;
    i += n;
    return at;
  };
  const u8 = () => view.getUint8(take(1));
  const u16 = () => view.getUint16(take(2));
  const u32 = () => view.getUint32(take(4));
  const raw = (n) => bytes.slice(take(n), i);
  const str = (n) => text.decode(bytes.subarray(take(n), i));
  const array = (n) => Array.from({ length: n }, () => value());
  const map = (n) => {
    const out = {};
    for (let k = 0; k < n; k++) {
      const key = value();
      out[key] = value();
    }
    return out;
  };
  function value() {
    const t = u8();
    if (t < 0x80) return t;
    if (t >= 0xe0) return t - 0x100;
    if (t < 0x90) return map(t & 0x0f);
    if (t < 0xa0) return array(t & 0x0f);
    if (t < 0xb0) return raw(t & 0x0f);
    if (t < 0xc0) return str(t & 0x0f);
    switch (t) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xca: return view.getFloat32(take(4));
      case 0xcb: return view.getFloat64(take(8));
      case 0xcc: return u8();
      case 0xcd: return u16();
      case 0xce: return u32();
      case 0xcf: return Number(view.getBigUint64(take(8)));
      case 0xd0: return view.getInt8(take(1));
      case 0xd1: return view.getInt16(take(2));
      case 0xd2: return view.getInt32(take(4));
      case 0xd3: return Number(view.getBigInt64(take(8)));
      case 0xd8: return str(u16());
      case 0xd9: return str(u32());
      case 0xda: return raw(u16());
      case 0xdb: return raw(u32());
      case 0xdc: return array(u16());
      case 0xdd: return array(u32());
      case 0xde: return map(u16());
      case 0xdf: return map(u32());
      default: return undefined;
    }
  }
  return value();
}

const CHUNKED_MTU = 16300;
/** Chromium's and libdatachannel's SCTP max-message-size: larger raw messages cannot be sent. */
const RAW_LIMIT = 262144;

/**
 * What a PeerJS receiver of this build delivers when a PeerJS sender of this build sends `value`
 * with `serialization`: PeerJS's own codec, then the receive handler's checks.
 *
 * `legacy` is true for PeerJS 1.3/1.4 (json as text frames, no size check, chunk ids on any
 * truthy `__peerData`); `msgpack` is @msgpack/msgpack (what PeerJS 1.5's MsgPack uses); `env`
 * is where it runs ("browser" or "node"). For binary, `exact` is added where PeerJS's decoder
 * misreads the bytes its encoder wrote: what they say.
 */
async function roundtrip(util, msgpack, legacy, env, serialization, value) {
  const refused = (reason) => ({ outcome: "refused", reason });
  const lost = (reason) => ({ outcome: "lost", reason });
  const delivered = (v) => ({ outcome: "delivered", value: tag(v) });
  // Lost after decoding: what the message decoded to is reported too.
  const lostAs = (reason, out) => ({ outcome: "lost", reason, decoded: tag(out) });
  const receive = (out, closeOnly) => {
    if (out === null || out === undefined) {
      return lostAs("the receive handler throws on a top-level null", out);
    }
    const peerData = out.__peerData;
    if (closeOnly ? peerData?.type === "close" : peerData) {
      // PeerJS 1.3/1.4 have no flush-close: they take any truthy __peerData for a chunk.
      const close = peerData?.type === "close" && !legacy;
      return lostAs(close ? "the flush-close message" : "read as a chunk (__peerData)", out);
    }
    return delivered(out);
  };
  switch (serialization) {
    case "binary":
    case "binary-utf8": {
      let packed;
      try {
        packed = util.pack(value);
        if (packed && typeof packed.then === "function") packed = await packed;
        if (typeof Blob !== "undefined" && packed instanceof Blob) packed = await packed.arrayBuffer();
      } catch (e) {
        return refused(`pack throws: ${e?.message ?? e}`);
      }
      const bytes = packed instanceof ArrayBuffer ? new Uint8Array(packed) : packed;
      const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
      let out;
      try {
        out = util.unpack(ab);
      } catch (e) {
        return lost(`unpack throws: ${e?.message ?? e}`);
      }
      const result = receive(out, false);
      // Where PeerJS's decoder misreads the bytes, what they say.
      try {
        const exact = tag(exactUnpack(bytes));
        if (JSON.stringify(exact) !== JSON.stringify(result.value ?? result.decoded)) result.exact = exact;
      } catch {
        // Bytes that do not decode exactly (PeerJS 1.3/1.4 write wrong lengths).
      }
      return result;
    }
    case "json": {
      let text;
      try {
        text = JSON.stringify(value);
      } catch (e) {
        return refused(`JSON.stringify throws: ${e?.message ?? e}`);
      }
      const size = utf8.encode(text ?? "").length;
      if (!legacy && size >= CHUNKED_MTU) return refused("message-too-big (16300 bytes or more)");
      // PeerJS 1.3/1.4 send the text as one message, unchecked: the channel refuses it and
      // PeerJS closes the connection.
      if (legacy && size > RAW_LIMIT) return refused("larger than the max-message-size");
      if (legacy && text === undefined) return refused("RTCDataChannel.send(undefined) throws");
      let out;
      try {
        out = JSON.parse(text ?? "");
      } catch (e) {
        return lost(`JSON.parse throws: ${e?.message ?? e}`);
      }
      return receive(out, !legacy);
    }
    case "raw": {
      let out;
      if (typeof value === "string") {
        out = value;
      } else if (env === "node") {
        // node-datachannel's RTCDataChannel.send: a Uint8Array as it is, anything else through
        // `new Uint8Array(data)` (element by element for other typed arrays).
        out = value instanceof Uint8Array ? value : new Uint8Array(value);
      } else if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) {
        out = new Uint8Array(value.buffer ?? value, value.byteOffset ?? 0, value.byteLength);
      } else {
        // A browser's RTCDataChannel.send converts anything else to a string.
        out = String(value);
      }
      const size = typeof out === "string" ? utf8.encode(out).length : out.byteLength;
      if (size > RAW_LIMIT) return refused("larger than the max-message-size");
      return delivered(out);
    }
    case "MsgPack": {
      if (!msgpack) return refused("no MsgPack in this PeerJS build");
      let bytes;
      try {
        bytes = msgpack.encode(value);
      } catch (e) {
        return refused(`encode throws: ${e?.message ?? e}`);
      }
      let out;
      try {
        out = msgpack.decode(bytes);
      } catch (e) {
        return lost(`decode throws: ${e?.message ?? e}`);
      }
      if (out === null || out === undefined) {
        return lostAs("a top-level nil ends the receiver's decode loop", out);
      }
      return receive(out, true);
    }
    default:
      return refused(`unknown serialization ${serialization}`);
  }
}

/** Which kind of data-channel message `data` is. */
export function frameKind(data) {
  return typeof data === "string" ? "text" : "binary";
}

/**
 * Drives `peer` (a PeerJS Peer, just constructed) from commands; reports through `emit`.
 *
 * `util` is PeerJS's `util` (its `pack`/`unpack`), `msgpack` @msgpack/msgpack or null, `legacy`
 * whether this is PeerJS 1.3/1.4, `env` "browser" or "node" (node-datachannel's polyfill sends
 * raw values its own way), `makePeer` a function creating another Peer with the same options
 * (for the bench commands; may be null).
 */
export function createDriver({ peer, util, msgpack = null, legacy = false, env = "browser", emit, makePeer = null }) {
  const connections = new Map();

  function track(conn) {
    connections.set(conn.connectionId, conn);
    const id = conn.connectionId;
    conn.on("open", () => emit({ event: "conn-open", connectionId: id }));
    conn.on("data", (data) => {
      const event = { event: "data", connectionId: id, value: tag(data) };
      const frame = conn.dataChannel?.__lastFrame;
      if (frame) event.frame = frame;
      emit(event);
    });
    conn.on("close", () => emit({ event: "conn-close", connectionId: id }));
    conn.on("error", (e) =>
      emit({ event: "conn-error", connectionId: id, type: e?.type ?? null, message: String(e?.message ?? e) }),
    );
  }

  peer.on("open", (id) => emit({ event: "open", id }));
  peer.on("error", (e) => emit({ event: "error", type: e?.type ?? null, message: String(e?.message ?? e) }));
  peer.on("disconnected", () => emit({ event: "disconnected" }));
  peer.on("close", () => emit({ event: "close" }));
  peer.on("connection", (conn) => {
    track(conn);
    emit({
      event: "connection",
      connectionId: conn.connectionId,
      peer: conn.peer,
      label: conn.label,
      serialization: conn.serialization,
      reliable: conn.reliable,
      metadata: conn.metadata === undefined ? null : conn.metadata,
    });
  });

  function connection(id) {
    const conn = connections.get(id);
    if (!conn) throw new Error(`no connection ${id}`);
    return conn;
  }

  const bench = benchCommands({ peer, makePeer, connection, emit });

  async function run(cmd) {
    if (Object.hasOwn(bench, cmd.cmd)) return bench[cmd.cmd](cmd);
    switch (cmd.cmd) {
      case "connect": {
        // Only the options given: an explicit `serialization: undefined` would override
        // PeerJS's default ("default") and make connect() throw.
        const options = {};
        for (const key of ["serialization", "reliable", "label", "metadata"]) {
          if (cmd[key] !== undefined) options[key] = cmd[key];
        }
        const conn = peer.connect(cmd.peer, options);
        if (!conn) throw new Error("peer.connect returned nothing");
        track(conn);
        return { connectionId: conn.connectionId, serialization: conn.serialization };
      }
      case "send":
        await connection(cmd.connectionId).send(untag(cmd.value));
        return {};
      case "send-case": {
        const conn = connection(cmd.connectionId);
        let sendError = null;
        try {
          await conn.send(untag(cmd.value));
        } catch (e) {
          sendError = String(e?.message ?? e);
        }
        await conn.send(cmd.sentinel);
        return { sendError };
      }
      case "send-stream": {
        const conn = connection(cmd.connectionId);
        for (let i = 0; i < cmd.count; i++) {
          const bytes = new Uint8Array(cmd.size);
          bytes[0] = i % 256;
          await conn.send(bytes);
        }
        if (cmd.leave) peer.destroy();
        return {};
      }
      case "close":
        connection(cmd.connectionId).close({ flush: !!cmd.flush });
        return {};
      case "destroy":
        peer.destroy();
        return {};
      case "roundtrip": {
        const results = [];
        for (const value of cmd.values) {
          const original = tag(untag(value));
          results.push({ original, ...(await roundtrip(util, msgpack, legacy, env, cmd.serialization, untag(value))) });
        }
        return { results };
      }
      default:
        throw new Error(`unknown command ${cmd.cmd}`);
    }
  }

  let queue = Promise.resolve();
  /** Runs one command line after the previous ones; replies with an ok or fail event. */
  function line(text) {
    if (!text.trim()) return;
    queue = queue.then(async () => {
      let cmd;
      try {
        cmd = JSON.parse(text);
        emit({ event: "ok", seq: cmd.seq, ...(await run(cmd)) });
      } catch (e) {
        emit({ event: "fail", seq: cmd?.seq ?? null, message: String(e?.stack ?? e) });
      }
    });
    return queue;
  }

  return { line, idle: () => queue };
}
