// A real PeerJS 1.5.5 peer running in Node.js, for the interop tests (tests/interop_node.rs).
//
// WebRTC comes from node-datachannel's polyfill (libdatachannel), the signaling WebSocket from
// `ws`. ICE is confined to loopback: every RTCPeerConnection gets no STUN/TURN server and
// `bindAddress: "127.0.0.1"` (without it libdatachannel gathers no loopback candidate at all, only
// the machine's other interfaces).
//
//   node node_peer.mjs --port 9000 [--host 127.0.0.1] [--id alice] [--key peerjs] [--path /]
//                      [--msgpack-peer] [--debug 0..3]
//
// Without --msgpack-peer the peer is a plain `Peer` with `serializers: {MsgPack}` added, so it
// accepts and offers every serialization; with it, a `MsgPackPeer` (MsgPack only).
//
// Reports on stdout, one JSON object per line (nothing else is written to stdout):
//   {"event":"open","id":…}                 registered with the server
//   {"event":"error","type":…,"message":…}  a Peer error (PeerJS's `error` event)
//   {"event":"disconnected"} / {"event":"close"}
//   {"event":"connection","connectionId":…,"peer":…,"label":…,"serialization":…,
//    "reliable":…,"metadata":…}            an incoming connection
//   {"event":"conn-open","connectionId":…}  a connection opened
//   {"event":"data","connectionId":…,"value":V}   a message arrived (V in the tagged form below)
//   {"event":"conn-close","connectionId":…} / {"event":"conn-error","connectionId":…,"type":…,"message":…}
//   {"event":"ok","seq":…,…}                a command finished ({"event":"fail","seq":…,"message":…} if it threw)
//
// Commands on stdin, one JSON object per line, run one after another:
//   {"cmd":"connect","seq":1,"peer":"bob","serialization":"binary","reliable":true,"label":"l","metadata":{…}}
//        → ok with "connectionId" (open follows as a conn-open event)
//   {"cmd":"send","seq":2,"connectionId":…,"value":V}   conn.send(decode(V)); awaits MsgPack's promise
//   {"cmd":"close","seq":3,"connectionId":…,"flush":true}
//   {"cmd":"destroy","seq":4}
// The process exits when stdin closes.
//
// Tagged values (V): JSON, with these objects standing for what JSON cannot say:
//   {"$bin":"<hex>"}   ArrayBuffer or any ArrayBufferView (sent as a Uint8Array)
//   {"$date":<ms>}     Date
//   {"$undefined":true}
//   {"$num":"NaN"|"Infinity"|"-Infinity"}
// Numbers are reported as JSON numbers (JS doubles); -0 reports as 0.

import { parseArgs } from "node:util";
import { createInterface } from "node:readline";
import WebSocket from "ws";
import * as polyfill from "node-datachannel/polyfill";

const { values: args } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string" },
    id: { type: "string" },
    key: { type: "string", default: "peerjs" },
    path: { type: "string", default: "/" },
    "msgpack-peer": { type: "boolean", default: false },
    debug: { type: "string", default: "0" },
  },
});

function emit(event) {
  process.stdout.write(JSON.stringify(event) + "\n");
}

// Loopback only, whatever PeerJS passes (its module also builds one RTCPeerConnection with its
// default STUN/TURN config at load time to probe for features: that one must not reach out
// either).
class LoopbackRTCPeerConnection extends polyfill.RTCPeerConnection {
  constructor(config = {}) {
    super({ ...config, iceServers: [], iceTransportPolicy: "all", bindAddress: "127.0.0.1" });
  }
}

// PeerJS reads these globals when its module loads, so they are set before the import.
Object.assign(globalThis, {
  RTCPeerConnection: LoopbackRTCPeerConnection,
  RTCSessionDescription: polyfill.RTCSessionDescription,
  RTCIceCandidate: polyfill.RTCIceCandidate,
  RTCDataChannel: polyfill.RTCDataChannel,
  RTCPeerConnectionIceEvent: polyfill.RTCPeerConnectionIceEvent,
  RTCDataChannelEvent: polyfill.RTCDataChannelEvent,
  WebSocket,
});

// The package's Node entry is CommonJS (`main: dist/bundler.cjs`): an ESM import sees one
// default export holding everything, including `MsgPack` and `MsgPackPeer`.
const peerjs = (await import("peerjs")).default;

const toHex = (bytes) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");

function tag(value) {
  if (value === undefined) return { $undefined: true };
  if (value === null || typeof value === "boolean" || typeof value === "string") return value;
  if (typeof value === "number") {
    if (Number.isFinite(value)) return value === 0 ? 0 : value;
    return { $num: String(value) };
  }
  if (value instanceof ArrayBuffer) return { $bin: toHex(new Uint8Array(value)) };
  if (ArrayBuffer.isView(value)) return { $bin: toHex(value) };
  if (value instanceof Date) return { $date: value.getTime() };
  if (Array.isArray(value)) return value.map(tag);
  if (typeof value === "object") {
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = tag(v);
    return out;
  }
  return { $unknown: String(value) };
}

function untag(value) {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map(untag);
  if ("$bin" in value) return new Uint8Array(Buffer.from(value.$bin, "hex"));
  if ("$date" in value) return new Date(value.$date);
  if ("$undefined" in value) return undefined;
  if ("$num" in value) return Number(value.$num);
  const out = {};
  for (const [k, v] of Object.entries(value)) out[k] = untag(v);
  return out;
}

const options = {
  host: args.host,
  port: Number(args.port),
  path: args.path,
  key: args.key,
  secure: false,
  config: { iceServers: [] },
  debug: Number(args.debug),
  // PeerJS logs to the console (stdout); stdout is for reports only.
  logFunction: (level, ...rest) => console.error(`peerjs[${level}]`, ...rest),
};
const peer = args["msgpack-peer"]
  ? new peerjs.MsgPackPeer(args.id, options)
  : new peerjs.Peer(args.id, { ...options, serializers: { MsgPack: peerjs.MsgPack } });

const connections = new Map();

function track(conn) {
  connections.set(conn.connectionId, conn);
  const id = conn.connectionId;
  conn.on("open", () => emit({ event: "conn-open", connectionId: id }));
  conn.on("data", (data) => emit({ event: "data", connectionId: id, value: tag(data) }));
  conn.on("close", () => emit({ event: "conn-close", connectionId: id }));
  conn.on("error", (e) => emit({ event: "conn-error", connectionId: id, type: e.type, message: String(e.message) }));
}

peer.on("open", (id) => emit({ event: "open", id }));
peer.on("error", (e) => emit({ event: "error", type: e.type, message: String(e.message) }));
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

async function run(cmd) {
  switch (cmd.cmd) {
    case "connect": {
      // Only the options given: an explicit `serialization: undefined` would override PeerJS's
      // default ("default") and make connect() throw.
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
    case "close":
      connection(cmd.connectionId).close({ flush: !!cmd.flush });
      return {};
    case "destroy":
      peer.destroy();
      return {};
    default:
      throw new Error(`unknown command ${cmd.cmd}`);
  }
}

const lines = createInterface({ input: process.stdin });
let queue = Promise.resolve();
lines.on("line", (line) => {
  if (!line.trim()) return;
  queue = queue.then(async () => {
    let cmd;
    try {
      cmd = JSON.parse(line);
      emit({ event: "ok", seq: cmd.seq, ...(await run(cmd)) });
    } catch (e) {
      emit({ event: "fail", seq: cmd?.seq ?? null, message: String(e?.stack ?? e) });
    }
  });
});
lines.on("close", () => {
  queue.then(() => {
    peer.destroy();
    process.exit(0);
  });
});
