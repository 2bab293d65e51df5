// End-to-end test of the demo page (www/), served by `peerjs serve --www www`, in headless
// Chromium (playwright-core on Debian's /usr/bin/chromium, or $CHROMIUM):
//
//   1. tab A registers, connects to a native `peerjs echo`, sends two chat lines and a file, and
//      sees the lines and the file come back (the file checked by size and SHA-256) and the
//      transfer reported delivered;
//   2. tab B registers; A connects to B; they chat both ways and A sends B a file, which B
//      checks and A reports delivered;
//   3. a connection to an id nobody holds shows `peer-unavailable`.
//
//   node tests/js/www_e2e.mjs --url http://127.0.0.1:PORT/ --echo ECHO_ID
//
// Prints each step on stderr; exits non-zero on the first failure.

import { parseArgs } from "node:util";
import { createHash, randomBytes } from "node:crypto";
import { chromium } from "playwright-core";

const { values: args } = parseArgs({
  options: {
    url: { type: "string" },
    echo: { type: "string" },
  },
});
const origin = new URL(args.url).origin;
const suffix = Math.random().toString(36).slice(2, 7);
const TIMEOUT = 30000;
const step = (text) => console.error(`www-e2e: ${text}`);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
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

async function openTab(context, name) {
  const tab = await context.newPage();
  tab.on("console", (msg) => console.error(`[${name} ${msg.type()}] ${msg.text()}`));
  tab.on("pageerror", (e) => console.error(`[${name} page error] ${e?.stack ?? e}`));
  await tab.goto(args.url);
  await tab.waitForSelector("body[data-ready=true]", { timeout: TIMEOUT });
  return tab;
}

async function register(tab, id) {
  await tab.check("#local-candidates");
  await tab.fill("#my-id", id);
  await tab.click("#register");
  await tab.waitForSelector("#status[data-state=open]", { timeout: TIMEOUT });
}

async function connect(tab, to, serialization) {
  await tab.fill("#remote-id", to);
  await tab.selectOption("#serialization", serialization);
  await tab.click("#connect");
  await tab.waitForSelector(`#connections li[data-peer="${to}"] .state[data-state=open]`, { timeout: TIMEOUT });
}

async function chat(tab, text) {
  await tab.fill("#chat-text", text);
  await tab.click("#chat-send");
}

async function expectLine(tab, text) {
  await tab.waitForFunction(
    (text) => [...document.querySelectorAll("#log div.peer")].some((d) => d.textContent.endsWith(text)),
    text,
    { timeout: TIMEOUT },
  );
}

async function sendFile(tab, name, content) {
  await tab.setInputFiles("#file", { name, mimeType: "application/octet-stream", buffer: content });
  await tab.click("#send-file");
}

async function expectTransfer(tab, direction, state, sha256) {
  const selector = `#transfers li[data-direction=${direction}][data-state=${state}]`;
  const row = await tab.waitForSelector(selector, { timeout: TIMEOUT });
  const got = await row.getAttribute("data-sha256");
  if (got !== sha256) throw new Error(`${selector}: SHA-256 ${got}, want ${sha256}`);
}

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

let failed = false;
try {
  const context = await browser.newContext();
  await context.grantPermissions(["camera", "microphone"], { origin });

  step("tab A registers");
  const a = await openTab(context, "A");
  const idA = `web-a-${suffix}`;
  await register(a, idA);

  step(`A connects to the native echo ${args.echo} and chats`);
  await connect(a, args.echo, "binary");
  await chat(a, "hello from the demo page");
  await chat(a, "grüße ✓ line two");
  await expectLine(a, `${args.echo}: hello from the demo page`);
  await expectLine(a, `${args.echo}: grüße ✓ line two`);

  step("A sends a file to the echo and checks what comes back");
  const file = randomBytes(300 * 1024 + 123);
  await sendFile(a, "demo.bin", file);
  await expectTransfer(a, "echo", "received", sha256(file));
  await expectTransfer(a, "out", "delivered", sha256(file));

  step("tab B registers; A connects to B; they chat both ways");
  const b = await openTab(context, "B");
  const idB = `web-b-${suffix}`;
  await register(b, idB);
  await connect(a, idB, "json");
  await b.waitForSelector(`#connections li[data-peer="${idA}"] .state[data-state=open]`, { timeout: TIMEOUT });
  await chat(a, "hi B, this is A");
  await expectLine(b, `${idA}: hi B, this is A`);
  await chat(b, "hi A, B here");
  await expectLine(a, `${idB}: hi A, B here`);

  step("A sends B a file");
  const second = randomBytes(150 * 1024);
  await sendFile(a, "second.bin", second);
  await expectTransfer(b, "in", "received", sha256(second));
  await a.waitForFunction(
    (hash) => [...document.querySelectorAll("#transfers li[data-direction=out][data-state=delivered]")].some(
      (li) => li.dataset.sha256 === hash,
    ),
    sha256(second),
    { timeout: TIMEOUT },
  );

  step("a connection to an unknown id shows peer-unavailable");
  await a.fill("#remote-id", `nobody-${suffix}`);
  await a.click("#connect");
  await a.waitForFunction(
    () => [...document.querySelectorAll("#log div.error")].some((d) => d.textContent.includes("peer-unavailable")),
    null,
    { timeout: TIMEOUT },
  );
  step("all steps passed");
} catch (e) {
  failed = true;
  console.error(`www-e2e: FAILED: ${e?.stack ?? e}`);
} finally {
  await browser.close().catch(() => {});
}
process.exit(failed ? 1 : 0);
