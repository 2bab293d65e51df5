// The demo page: the peerjs-rs wasm package (./pkg, built by `.ci/wasm-build`) used from plain
// JavaScript, as a page would use PeerJS.
//
// Chat goes over any data connection as strings. Files use the `peerjs send`/`peerjs receive`
// protocol (see `peerjs send --help`): a reliable BinaryPack connection labelled `peerjs-file`
// with metadata {file, size}, the content in binary messages of at most 64 KiB, then
// {done: true, sha256}; the receiver answers {ok: true, size, sha256} or {error}. So the page
// can send to `peerjs receive`, receive from `peerjs send`, and exchange files with another tab.
// A `peerjs echo` sends the file back: the page checks it as a received file, and its reply
// comes back too.

import init, { Peer } from "./pkg/peerjs.js";

const FILE_LABEL = "peerjs-file";
const CHUNK_SIZE = 64 * 1024;

const $ = (id) => document.getElementById(id);
let peer = null;
/// The chat connection messages go to.
let selected = null;

// ---------------------------------------------------------------------------------------------
// Display
// ---------------------------------------------------------------------------------------------

function log(kind, text) {
  const line = document.createElement("div");
  line.className = kind;
  line.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
  $("log").append(line);
  $("log").scrollTop = $("log").scrollHeight;
}

function setState(element, text, state) {
  element.textContent = text;
  element.className = `state ${state}`;
  element.dataset.state = state;
}

const isBinary = (v) => v instanceof ArrayBuffer || ArrayBuffer.isView(v);
const bytesOf = (v) =>
  v instanceof ArrayBuffer ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);

function show(data) {
  if (typeof data === "string") return data;
  if (isBinary(data)) return `<${bytesOf(data).length} bytes>`;
  try {
    return JSON.stringify(data);
  } catch {
    return String(data);
  }
}

const kib = (n) => (n < 1024 ? `${n} B` : `${(n / 1024).toFixed(n < 10240 ? 1 : 0)} KiB`);

function updateButtons() {
  const open = peer?.open ?? false;
  $("register").disabled = peer !== null && !peer.destroyed;
  $("destroy").disabled = peer === null || peer.destroyed;
  $("connect").disabled = !open;
  const chat = selected?.conn.open ?? false;
  $("chat-send").disabled = !chat;
  $("send-file").disabled = !(open && selected);
}

// ---------------------------------------------------------------------------------------------
// The peer
// ---------------------------------------------------------------------------------------------

async function allowLocalCandidates() {
  // Browsers offer their real addresses as ICE candidates only to a page that may use the
  // camera or microphone; otherwise only mDNS names, which a native peer may not resolve.
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    for (const track of stream.getTracks()) track.stop();
  } catch (e) {
    log("error", `microphone permission refused (${e.message}): only mDNS candidates will be offered`);
  }
}

async function register() {
  if ($("local-candidates").checked) await allowLocalCandidates();
  const options = {
    host: $("server-host").value.trim(),
    port: Number($("server-port").value),
    path: "/",
    secure: location.protocol === "https:",
    // Local and LAN use: no STUN or TURN server, so nothing leaves the network.
    config: { iceServers: [] },
  };
  const id = $("my-id").value.trim();
  peer = id ? new Peer(id, options) : new Peer(options);
  setState($("status"), "registering…", "connecting");
  peer.on("open", (id) => {
    $("my-id").value = id;
    setState($("status"), `open as ${id}`, "open");
    log("system", `registered as ${id}`);
    updateButtons();
  });
  peer.on("connection", (conn) => {
    if (conn.label === FILE_LABEL) receiveFile(conn);
    else addChat(conn, "from");
  });
  peer.on("disconnected", () => {
    setState($("status"), "disconnected from the server", "error");
    updateButtons();
  });
  peer.on("close", () => {
    setState($("status"), "left", "destroyed");
    updateButtons();
  });
  peer.on("error", (e) => {
    log("error", `${e.type}: ${e.message}`);
    if (!peer.open) setState($("status"), e.type, "error");
    updateButtons();
  });
  updateButtons();
}

// ---------------------------------------------------------------------------------------------
// Chat connections
// ---------------------------------------------------------------------------------------------

function addChat(conn, direction) {
  const item = document.createElement("li");
  const label = document.createElement("span");
  const state = document.createElement("span");
  label.textContent = `${direction} ${conn.peer} · ${conn.serialization} `;
  item.append(label, state);
  item.dataset.peer = conn.peer;
  $("connections").append(item);
  const entry = { conn, item, state };
  setState(state, "connecting", "connecting");
  item.addEventListener("click", () => select(entry));
  conn.on("open", () => {
    setState(state, "open", "open");
    log("system", `connected ${direction === "to" ? "to" : "from"} ${conn.peer} (${conn.serialization})`);
    select(entry);
  });
  conn.on("data", (data) => log("peer", `${conn.peer}: ${show(data)}`));
  conn.on("close", () => {
    if (state.dataset.state !== "error") setState(state, "closed", "closed");
    log("system", `connection with ${conn.peer} closed`);
    updateButtons();
  });
  conn.on("error", (e) => {
    setState(state, e.type, "error");
    log("error", `${conn.peer}: ${e.type}: ${e.message}`);
  });
  if (!selected) select(entry);
}

function select(entry) {
  for (const li of $("connections").children) li.classList.remove("selected");
  entry.item.classList.add("selected");
  selected = entry;
  updateButtons();
}

async function sendChat(event) {
  event.preventDefault();
  const text = $("chat-text").value;
  if (!text || !selected) return;
  $("chat-text").value = "";
  try {
    await selected.conn.send(text);
    log("me", `me → ${selected.conn.peer}: ${text}`);
  } catch (e) {
    log("error", `not sent: ${e.type ?? "error"}: ${e.message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

function transferRow(text, size) {
  const item = document.createElement("li");
  const caption = document.createElement("span");
  const bar = document.createElement("progress");
  const note = document.createElement("span");
  bar.max = Math.max(size, 1);
  bar.value = 0;
  item.append(caption, document.createTextNode(" "), bar, document.createTextNode(" "), note);
  caption.textContent = text;
  $("transfers").append(item);
  return {
    item,
    progress(done) {
      bar.value = done;
      note.textContent = `${kib(done)} / ${kib(size)}`;
    },
    finish(state, text) {
      item.dataset.state = state;
      note.textContent = text;
      if (state === "failed") item.style.color = "#b00";
    },
  };
}

/// Collects a file's content and checks it against the end marker.
class Incoming {
  constructor(name, size, row) {
    this.name = name;
    this.size = size;
    this.row = row;
    this.parts = [];
    this.received = 0;
  }

  push(data) {
    const bytes = bytesOf(data).slice();
    this.received += bytes.length;
    if (this.received > this.size) throw new Error(`more data than the ${this.size} bytes announced`);
    this.parts.push(bytes);
    this.row.progress(this.received);
  }

  /// The reply for the sender: {ok, size, sha256} or {error}.
  async finish(marker) {
    const blob = new Blob(this.parts);
    const bytes = new Uint8Array(await blob.arrayBuffer());
    const digest = await sha256Hex(bytes);
    if (bytes.length !== this.size) return { error: `got ${bytes.length} bytes, expected ${this.size}` };
    if (digest !== marker.sha256) return { error: "SHA-256 mismatch" };
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = this.name;
    link.textContent = "save";
    this.row.finish("received", `${kib(bytes.length)}, SHA-256 ok `);
    this.row.item.append(link);
    this.row.item.dataset.sha256 = digest;
    return { ok: true, size: bytes.length, sha256: digest };
  }
}

function receiveFile(conn) {
  const name = String(conn.metadata?.file ?? "file");
  const size = Number(conn.metadata?.size ?? 0);
  const row = transferRow(`← ${name} from ${conn.peer}`, size);
  row.item.dataset.direction = "in";
  const incoming = new Incoming(name, size, row);
  let replied = false;
  const reply = (message) => {
    if (replied) return;
    replied = true;
    conn.send(message).catch(() => {});
  };
  conn.on("data", async (data) => {
    try {
      if (isBinary(data)) incoming.push(data);
      else if (data?.done) reply(await incoming.finish(data));
      else throw new Error(`unexpected message ${show(data)}`);
    } catch (e) {
      row.finish("failed", e.message);
      reply({ error: e.message });
    }
  });
  conn.on("close", () => {
    if (!replied) row.finish("failed", "the sender went away");
  });
}

async function sendFile() {
  const file = $("file").files[0];
  if (!file || !selected) return;
  const to = selected.conn.peer;
  const row = transferRow(`→ ${file.name} to ${to}`, file.size);
  row.item.dataset.direction = "out";
  const bytes = new Uint8Array(await file.arrayBuffer());
  const digest = await sha256Hex(bytes);
  row.item.dataset.sha256 = digest;
  const conn = peer.connect(to, {
    label: FILE_LABEL,
    reliable: true,
    serialization: "binary",
    metadata: { file: file.name, size: file.size },
  });
  // A peer that sends the file back (`peerjs echo`): check what comes back as a received file.
  let echoed = null;
  let done = false;
  conn.on("data", async (data) => {
    if (isBinary(data)) {
      if (!echoed) {
        const back = transferRow(`← ${file.name} back from ${to}`, file.size);
        back.item.dataset.direction = "echo";
        echoed = new Incoming(file.name, file.size, back);
      }
      echoed.push(data);
    } else if (data?.done && echoed) {
      conn.send(await echoed.finish(data)).catch(() => {});
    } else if (data?.ok) {
      done = true;
      row.finish("delivered", `delivered: ${to} has it (${kib(data.size)}, SHA-256 ${data.sha256 === digest ? "ok" : "differs!"})`);
      conn.close();
    } else if (data?.error) {
      done = true;
      row.finish("failed", `refused by ${to}: ${data.error}`);
      conn.close();
    }
  });
  conn.on("error", (e) => {
    done = true;
    row.finish("failed", `${e.type}: ${e.message}`);
  });
  conn.on("close", () => {
    if (!done) row.finish("failed", "the connection closed before the receiver answered");
  });
  conn.on("open", async () => {
    try {
      for (let at = 0; at < bytes.length; at += CHUNK_SIZE) {
        const chunk = bytes.subarray(at, Math.min(at + CHUNK_SIZE, bytes.length));
        // Resolves once the data channel took it: the bar follows what was really sent.
        await conn.send(chunk);
        row.progress(at + chunk.length);
      }
      await conn.send({ done: true, sha256: digest });
      if (!done) row.finish("waiting", `sent; waiting for ${to} to check it`);
    } catch (e) {
      done = true;
      row.finish("failed", `${e.type ?? "error"}: ${e.message}`);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// SHA-256: Web Crypto where the page is a secure context (https, localhost), else in JS.
// ---------------------------------------------------------------------------------------------

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

async function sha256Hex(bytes) {
  if (globalThis.crypto?.subtle) return hex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
  return hex(sha256(bytes));
}

const K = new Uint32Array(64);
{
  // The round constants: the first 32 bits of the fractional parts of the cube roots of the
  // first 64 primes.
  let n = 0;
  for (let candidate = 2; n < 64; candidate++) {
    let prime = true;
    for (let d = 2; d * d <= candidate; d++) if (candidate % d === 0) prime = false;
    if (prime) K[n++] = ((Math.cbrt(candidate) % 1) * 2 ** 32) >>> 0;
  }
}

function sha256(bytes) {
  const h = Uint32Array.from([
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  ]);
  const length = bytes.length;
  const padded = new Uint8Array(Math.ceil((length + 9) / 64) * 64);
  padded.set(bytes);
  padded[length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(length / 2 ** 29));
  view.setUint32(padded.length - 4, (length * 8) >>> 0);
  const w = new Uint32Array(64);
  const rotr = (x, n) => (x >>> n) | (x << (32 - n));
  for (let block = 0; block < padded.length; block += 64) {
    for (let i = 0; i < 16; i++) w[i] = view.getUint32(block + 4 * i);
    for (let i = 16; i < 64; i++) {
      const s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
      const s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    let [a, b, c, d, e, f, g, k] = h;
    for (let i = 0; i < 64; i++) {
      const t1 = k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
      const t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      k = g;
      g = f;
      f = e;
      e = (d + t1) >>> 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) >>> 0;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += k;
  }
  const out = new Uint8Array(32);
  const outView = new DataView(out.buffer);
  h.forEach((word, i) => outView.setUint32(4 * i, word));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------------------------

$("server-host").value = location.hostname || "127.0.0.1";
$("server-port").value = location.port || (location.protocol === "https:" ? "443" : "80");
$("register").disabled = true;
try {
  await init();
} catch (e) {
  log("error", `the wasm package did not load (${e.message}); build it with .ci/wasm-build`);
  throw e;
}
$("register").addEventListener("click", () => register().catch((e) => log("error", e.message)));
$("destroy").addEventListener("click", () => {
  peer?.destroy();
  updateButtons();
});
$("connect").addEventListener("click", () => {
  const to = $("remote-id").value.trim();
  if (!to) return;
  addChat(
    peer.connect(to, { serialization: $("serialization").value, reliable: $("reliable").checked }),
    "to",
  );
});
$("chat").addEventListener("submit", sendChat);
$("send-file").addEventListener("click", () => sendFile().catch((e) => log("error", e.message)));
updateButtons();
document.body.dataset.ready = "true";
