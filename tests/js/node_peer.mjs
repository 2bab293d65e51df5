// A real PeerJS 1.5.5 peer running in Node.js, for the interop tests (tests/interop_node.rs,
// tests/interop_suite.rs).
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
// Commands on stdin and events on stdout, one JSON object per line: see peer_driver.mjs (nothing
// else is written to stdout). The process exits when stdin closes.

import { parseArgs } from "node:util";
import { createInterface } from "node:readline";
import WebSocket from "ws";
import * as polyfill from "node-datachannel/polyfill";
import * as msgpack from "@msgpack/msgpack";
import { createDriver } from "./peer_driver.mjs";

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

// PeerJS's receive handlers throw on some input (a top-level null); in a browser that is an
// uncaught error in an event handler, here it would end the process.
process.on("uncaughtException", (e) => emit({ event: "uncaught", message: String(e?.stack ?? e) }));
process.on("unhandledRejection", (e) => emit({ event: "uncaught", message: String(e?.stack ?? e) }));

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
const newPeer = (id) =>
  args["msgpack-peer"]
    ? new peerjs.MsgPackPeer(id, options)
    : new peerjs.Peer(id, { ...options, serializers: { MsgPack: peerjs.MsgPack } });
const peer = newPeer(args.id);

const driver = createDriver({ peer, util: peerjs.util, msgpack, env: "node", emit, makePeer: () => newPeer() });

const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => driver.line(line));
lines.on("close", () => {
  driver.idle().then(() => {
    peer.destroy();
    process.exit(0);
  });
});
