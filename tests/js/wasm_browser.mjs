// The `web` wasm package (www/pkg, built by .ci/wasm-build) and a real PeerJS 1.5.5 peer
// (dist/peerjs.min.js, MsgPack from dist/serializer.msgpack.mjs) in the same headless Chromium
// page: wasm_suite.mjs against a native `peerjs echo` and the PeerJS peer, every serialization,
// both directions. Prints one line per check on stderr and a JSON summary on stdout; exits
// non-zero if any check failed.
//
//   node tests/js/wasm_browser.mjs --port PORT --echo ECHO_ID [--host 127.0.0.1]
//
// The page comes from a small HTTP server in this process on 127.0.0.1; the PeerJS server is
// the one at --host/--port. Chromium is Debian's (/usr/bin/chromium, or $CHROMIUM), with the
// camera/microphone permission granted to the page, without which it gathers no loopback ICE
// candidate.

import { parseArgs } from "node:util";
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { dirname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "../..");
const { values: args } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string" },
    echo: { type: "string" },
  },
});

const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
for (const file of [executablePath, join(root, "www/pkg/peerjs.js")]) {
  if (!existsSync(file)) {
    console.error(`${file} is missing (run .ci/setup and .ci/wasm-build)`);
    process.exit(2);
  }
}

// URL prefix → directory, and the page itself.
const mounts = {
  "pkg/": join(root, "www/pkg/"),
  "js/": here + "/",
  "peerjs/": join(here, "node_modules/peerjs/dist/"),
};
const types = { ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".map": "application/json" };
const page = `<!doctype html>
<meta charset="utf-8">
<title>peerjs-rs wasm and PeerJS 1.5.5</title>
<link rel="icon" href="data:,">
<script src="/peerjs/peerjs.min.js"></script>
<script type="module">
  import init, { Peer } from "/pkg/peerjs.js";
  import { MsgPack } from "/peerjs/serializer.msgpack.mjs";
  import { runSuite } from "/js/wasm_suite.mjs";
  try {
    await init();
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    for (const track of stream.getTracks()) track.stop();
    window.__results = await runSuite({
      WasmPeer: Peer,
      PeerJS: peerjs.Peer,
      MsgPack,
      server: ${JSON.stringify({ host: args.host, port: Number(args.port) })},
      echo: ${JSON.stringify(args.echo)},
      log: (line) => console.log(line),
    });
  } catch (e) {
    window.__results = [{ check: "page", serialization: "-", ok: false, error: String(e?.stack ?? e) }];
  }
</script>
`;

const http = createServer(async (req, res) => {
  const path = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname)).replace(/^\/+/, "");
  if (path === "" || path === "index.html") {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(page);
    return;
  }
  const prefix = Object.keys(mounts).find((p) => path.startsWith(p));
  if (!prefix || path.includes("..")) {
    res.writeHead(404).end();
    return;
  }
  try {
    const body = await readFile(mounts[prefix] + path.slice(prefix.length));
    const ext = path.slice(path.lastIndexOf("."));
    res.writeHead(200, { "content-type": types[ext] ?? "application/octet-stream" }).end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((resolve) => http.listen(0, "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${http.address().port}`;

const browser = await chromium.launch({
  executablePath,
  headless: true,
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
});
let results;
try {
  const context = await browser.newContext();
  await context.grantPermissions(["camera", "microphone"], { origin });
  const tab = await context.newPage();
  tab.on("console", (msg) => console.error(`wasm-browser: ${msg.text()}`));
  tab.on("pageerror", (e) => console.error(`wasm-browser: page error: ${e?.stack ?? e}`));
  await tab.goto(`${origin}/`);
  await tab.waitForFunction(() => window.__results !== undefined, null, { timeout: 300000, polling: 200 });
  results = await tab.evaluate(() => window.__results);
} finally {
  await browser.close().catch(() => {});
  http.close();
}
process.stdout.write(JSON.stringify(results) + "\n");
process.exit(results.every((r) => r.ok) ? 0 : 1);
