// A real PeerJS peer in headless Chromium (Debian's `chromium`, driven by playwright-core), for
// the interop suite (tests/interop_suite.rs). Same command line, commands and events as
// node_peer.mjs (see peer_driver.mjs), plus the PeerJS version to load:
//
//   node browser_peer.mjs --port 9000 [--host 127.0.0.1] [--id alice] [--key peerjs] [--path /]
//                         [--peerjs 1.5.5|1.4.7|1.3.2] [--debug 0..3]
//
// The page is served from 127.0.0.1 by a small HTTP server in this process: PeerJS's browser
// bundle (`dist/peerjs.js` of the npm package `peerjs`, or of the aliases `peerjs-1.4.7` and
// `peerjs-1.3.2`), its MsgPack serializer module (1.5.5, registered as `serializers: {MsgPack}`),
// @msgpack/msgpack for the expected values, and peer_driver.mjs. Chromium runs with a fresh
// profile, no STUN/TURN in the page, and the camera/microphone permission granted to the page's
// origin, without which it gathers no loopback ICE candidate.
//
// Set CHROMIUM to use another Chromium binary than /usr/bin/chromium.

import { parseArgs } from "node:util";
import { createInterface } from "node:readline";
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { dirname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

const { values: args } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string" },
    id: { type: "string" },
    key: { type: "string", default: "peerjs" },
    path: { type: "string", default: "/" },
    peerjs: { type: "string", default: "1.5.5" },
    debug: { type: "string", default: "0" },
  },
});

function emit(event) {
  process.stdout.write(JSON.stringify(event) + "\n");
}

function fatal(message) {
  console.error(message);
  emit({ event: "error", type: "harness", message });
  process.exit(1);
}

const packages = { "1.5.5": "peerjs", "1.4.7": "peerjs-1.4.7", "1.3.2": "peerjs-1.3.2" };
const peerjsPackage = packages[args.peerjs];
if (!peerjsPackage) fatal(`unknown --peerjs ${args.peerjs} (one of ${Object.keys(packages).join(", ")})`);
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
if (!existsSync(executablePath)) {
  fatal(`${executablePath} is missing: install Chromium (\`apt-get install -y chromium chromium-driver\`, as .ci/setup does)`);
}
for (const dir of [peerjsPackage, "playwright-core", "@msgpack/msgpack"]) {
  if (!existsSync(join(here, "node_modules", dir, "package.json"))) {
    fatal(`tests/js/node_modules/${dir} is missing: run \`npm ci\` in tests/js (or .ci/setup)`);
  }
}
const { chromium } = await import("playwright-core");

// ---------------------------------------------------------------------------------------------
// The page and the files it loads, from 127.0.0.1 only.
// ---------------------------------------------------------------------------------------------

const served = [
  `node_modules/${peerjsPackage}/dist/`,
  "node_modules/peerjs/dist/",
  "node_modules/@msgpack/msgpack/dist.es5+esm/",
  "peer_driver.mjs",
  "bench_commands.mjs",
];
const types = { ".js": "text/javascript", ".mjs": "text/javascript", ".map": "application/json" };

const page_html = `<!doctype html>
<meta charset="utf-8">
<title>PeerJS ${args.peerjs} interop peer</title>
<script>
  // The kind (text or binary) of the last message on each data channel, recorded before
  // PeerJS's own handler runs (1.5 listens with addEventListener, 1.3/1.4 with onmessage).
  (() => {
    const record = (channel, e) => { channel.__lastFrame = typeof e.data === "string" ? "text" : "binary"; };
    const proto = RTCDataChannel.prototype;
    const add = proto.addEventListener;
    proto.addEventListener = function (type, listener, ...rest) {
      if (type === "message" && typeof listener === "function") {
        const inner = listener;
        listener = function (e) { record(this, e); return inner.call(this, e); };
      }
      return add.call(this, type, listener, ...rest);
    };
    const onmessage = Object.getOwnPropertyDescriptor(proto, "onmessage");
    Object.defineProperty(proto, "onmessage", {
      configurable: true,
      get() { return onmessage.get.call(this); },
      set(handler) {
        onmessage.set.call(this, typeof handler === "function"
          ? function (e) { record(this, e); return handler.call(this, e); }
          : handler);
      },
    });
  })();
</script>
<script src="/node_modules/${peerjsPackage}/dist/peerjs.js"></script>
<script type="module">
  import { createDriver } from "/peer_driver.mjs";
  import * as msgpack from "/node_modules/@msgpack/msgpack/dist.es5+esm/index.mjs";
  const params = ${JSON.stringify({
    host: args.host,
    port: Number(args.port),
    path: args.path,
    key: args.key,
    id: args.id,
    debug: Number(args.debug),
    version: args.peerjs,
  })};
  const emit = (event) => window.__emit(JSON.stringify(event));
  window.addEventListener("error", (e) => emit({ event: "uncaught", message: String(e.error?.stack ?? e.message) }));
  window.addEventListener("unhandledrejection", (e) => emit({ event: "uncaught", message: String(e.reason?.stack ?? e.reason) }));
  // Chromium offers its loopback candidate only to a page that may use the camera/microphone.
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    for (const track of stream.getTracks()) track.stop();
  } catch (e) {
    console.error("getUserMedia failed:", e);
  }
  const legacy = params.version !== "1.5.5";
  const options = {
    host: params.host,
    port: params.port,
    path: params.path,
    key: params.key,
    secure: false,
    config: { iceServers: [] },
    debug: params.debug,
  };
  if (!legacy) {
    const { MsgPack } = await import("/node_modules/peerjs/dist/serializer.msgpack.mjs");
    options.serializers = { MsgPack };
  }
  const peer = params.id ? new peerjs.Peer(params.id, options) : new peerjs.Peer(options);
  const makePeer = () => new peerjs.Peer(options);
  window.__driver = createDriver({ peer, util: peerjs.util, msgpack: legacy ? null : msgpack, legacy, emit, makePeer });
</script>
`;

const http = createServer(async (req, res) => {
  const path = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname)).replace(/^\/+/, "");
  if (path === "" || path === "index.html") {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(page_html);
    return;
  }
  if (!served.some((prefix) => path === prefix || (prefix.endsWith("/") && path.startsWith(prefix)))) {
    res.writeHead(404).end();
    return;
  }
  try {
    const body = await readFile(join(here, path));
    const ext = path.slice(path.lastIndexOf("."));
    res.writeHead(200, { "content-type": types[ext] ?? "application/octet-stream" });
    res.end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((resolve) => http.listen(0, "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${http.address().port}`;

// ---------------------------------------------------------------------------------------------
// Chromium
// ---------------------------------------------------------------------------------------------

const browser = await chromium
  .launch({
    executablePath,
    headless: true,
    // Playwright itself adds --headless, --no-sandbox (no chromiumSandbox) and a fresh
    // --user-data-dir in a temporary directory.
    args: [
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--allow-loopback-in-peer-connection",
      "--disable-features=WebRtcHideLocalIpsWithMdns",
      "--use-fake-ui-for-media-stream",
      "--use-fake-device-for-media-stream",
    ],
  })
  .catch((e) => fatal(`Chromium (${executablePath}) did not start: ${e?.message ?? e}`));
const context = await browser.newContext();
await context.grantPermissions(["camera", "microphone"], { origin });
const page = await context.newPage();
page.on("console", (msg) => console.error(`[page ${msg.type()}] ${msg.text()}`));
page.on("pageerror", (e) => emit({ event: "uncaught", message: String(e?.stack ?? e) }));
page.on("crash", () => fatal("the page crashed"));
await page.exposeFunction("__emit", (json) => process.stdout.write(json + "\n"));
await page.goto(`${origin}/`);
await page.waitForFunction(() => window.__driver !== undefined, null, { timeout: 30000 });

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------

let queue = Promise.resolve();
let closed = false;
const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  // The page runs commands in order; wait for each one's reply before the next is handed over,
  // so a slow command cannot be overtaken.
  queue = queue.then(() =>
    page.evaluate((text) => window.__driver.line(text), line).catch((e) => {
      if (!closed) emit({ event: "fail", seq: null, message: `page.evaluate: ${e?.message ?? e}` });
    }),
  );
});
lines.on("close", async () => {
  await queue;
  closed = true;
  await browser.close().catch(() => {});
  http.close();
  process.exit(0);
});
