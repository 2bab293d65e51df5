// The `nodejs` wasm package (pkg/node, built by .ci/wasm-build) in Node 20: WebRTC from
// node-datachannel's polyfill, the WebSocket from `ws`. Runs wasm_suite.mjs against a native
// `peerjs echo` and a PeerJS 1.5.5 peer in this process, prints one line per check on stderr
// and a JSON summary on stdout, and exits non-zero if any check failed.
//
//   node tests/js/wasm_node.mjs --port PORT --echo ECHO_ID [--host 127.0.0.1] [--pkg DIR]
//
// This is also the setup a Node application needs (see README, "The wasm package in Node.js"):
// the globals must exist before the package is used.

import { parseArgs } from "node:util";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import * as polyfill from "node-datachannel/polyfill";
import { runSuite } from "./wasm_suite.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string" },
    echo: { type: "string" },
    pkg: { type: "string", default: join(here, "../../pkg/node") },
    // Only these serializations (comma-separated), for debugging.
    only: { type: "string" },
  },
});

// ICE on loopback only: libdatachannel gathers no loopback candidate unless bound to it.
class LoopbackRTCPeerConnection extends polyfill.RTCPeerConnection {
  constructor(config = {}) {
    super({ ...config, iceServers: [], bindAddress: "127.0.0.1" });
  }
}
Object.assign(globalThis, {
  RTCPeerConnection: LoopbackRTCPeerConnection,
  RTCSessionDescription: polyfill.RTCSessionDescription,
  RTCIceCandidate: polyfill.RTCIceCandidate,
  RTCDataChannel: polyfill.RTCDataChannel,
  RTCPeerConnectionIceEvent: polyfill.RTCPeerConnectionIceEvent,
  RTCDataChannelEvent: polyfill.RTCDataChannelEvent,
  WebSocket,
});

// The wasm package is CommonJS; PeerJS's Node entry too (one default export holding `Peer`
// and `MsgPack`).
const require = createRequire(import.meta.url);
const wasm = require(resolve(args.pkg, "peerjs.js"));
const peerjs = (await import("peerjs")).default;

const results = await runSuite({
  WasmPeer: wasm.Peer,
  PeerJS: peerjs.Peer,
  MsgPack: peerjs.MsgPack,
  server: { host: args.host, port: Number(args.port) },
  echo: args.echo,
  // node-datachannel's DTLS race between two peers in one process (see wasm_suite.mjs,
  // `exchange`).
  quirks: { retries: 2, settle: 300 },
  ...(args.only ? { only: args.only.split(",") } : {}),
  log: (line) => console.error(`wasm-node: ${line}`),
});
process.stdout.write(JSON.stringify(results) + "\n");
// node-datachannel keeps native threads alive; leave explicitly.
process.exit(results.every((r) => r.ok) ? 0 : 1);
