// The official PeerJS server (`peer` 1.0.2) on 127.0.0.1, for the interop tests.
//
//   node official_server.mjs [--port 0] [--expire-timeout ms] [--cleanup-out-msgs ms]
//
// Prints the bound port as its first stdout line (port 0 picks a free one), then runs until
// stdin closes or it is killed.

import { parseArgs } from "node:util";
import { PeerServer } from "peer";

const { values: args } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    "expire-timeout": { type: "string", default: "5000" },
    "cleanup-out-msgs": { type: "string", default: "1000" },
  },
});

const app = PeerServer(
  {
    host: "127.0.0.1",
    port: Number(args.port),
    path: "/",
    key: "peerjs",
    expire_timeout: Number(args["expire-timeout"]),
    cleanup_out_msgs: Number(args["cleanup-out-msgs"]),
  },
  (server) => process.stdout.write(`${server.address().port}\n`),
);
// Without a listener, a bad frame would crash the server (an unhandled `error` event).
app.on("error", (e) => console.error("peer server error:", e));

process.stdin.resume();
process.stdin.on("end", () => process.exit(0));
