// Checks of the wasm package's JavaScript API (`Peer`, `DataConnection`), shared by the Node
// runner (wasm_node.mjs, the `nodejs` package on node-datachannel's polyfill) and the Chromium
// runner (wasm_browser.mjs, the `web` package in a page). For every serialization:
//
//   1. the wasm peer offers to a native `peerjs echo` and gets every message back;
//   2. the wasm peer offers to a real PeerJS 1.5.5 peer in the same process, which echoes;
//   3. the PeerJS peer offers to the wasm peer, which echoes.
//
// Every message that arrives anywhere is compared with what PeerJS itself delivers for the
// value sent (`delivered` below): binary as ArrayBuffer (Uint8Array in MsgPack), Dates as
// MsgPack timestamps (strings in BinaryPack), JSON as JSON.parse(JSON.stringify(value)).
//
// runSuite resolves with a list of results `{check, serialization, ok, error?}`; it never throws
// for a failed check.

export const SERIALIZATIONS = ["binary", "binary-utf8", "json", "raw", "MsgPack"];

/// How long any one thing may take (ms).
const TIMEOUT = 20000;

function pseudoRandom(length, seed) {
  const out = new Uint8Array(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/// What each serialization can carry, including messages PeerJS chunks (BinaryPack above
/// 16300 bytes) or MsgPack splits.
export function samples(serialization) {
  const nested = { from: "js", seq: 1, tags: ["a", null, true], pos: { x: 1.5, y: -2 } };
  const withBytes = { name: "key.bin", data: new Uint8Array([0xde, 0xad, 0xbe, 0xef]) };
  switch (serialization) {
    case "raw":
      return ["hello", "grüße ✓", pseudoRandom(256, 1), pseudoRandom(100 * 1024, 2).buffer];
    case "json":
      return ["hello", "grüße ✓", 42, 3.25, true, [1, "two", null], nested, "x".repeat(15000)];
    case "MsgPack":
      return [
        "hello",
        -7,
        0.1,
        nested,
        withBytes,
        new Date(1700000000123),
        "é".repeat(50000),
        pseudoRandom(200 * 1024, 4),
      ];
    default:
      return [
        "hello",
        "grüße ✓",
        42,
        -129,
        3.25,
        true,
        [1, "two", null],
        nested,
        withBytes,
        pseudoRandom(256, 1),
        "é".repeat(20000),
        pseudoRandom(200 * 1024, 4),
      ];
  }
}

const isBinary = (v) => v instanceof ArrayBuffer || ArrayBuffer.isView(v);
const bytesOf = (v) =>
  v instanceof ArrayBuffer ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);

/// What a PeerJS 1.5 receiver gets for `value` sent with `serialization`.
export function delivered(value, serialization) {
  if (serialization === "json") return JSON.parse(JSON.stringify(value));
  const walk = (v) => {
    if (isBinary(v)) {
      const copy = bytesOf(v).slice();
      return serialization === "MsgPack" ? copy : copy.buffer;
    }
    if (v instanceof Date) return serialization === "MsgPack" ? v : v.toString();
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === "object") {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    }
    return v;
  };
  return walk(value);
}

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

/// A value as JSON-comparable text that keeps JavaScript types (ArrayBuffer vs Uint8Array,
/// Date).
export function tag(v) {
  if (v === undefined) return { $undefined: true };
  if (v === null || typeof v === "boolean" || typeof v === "string") return v;
  if (typeof v === "number") return Number.isFinite(v) ? v : { $num: String(v) };
  if (v instanceof ArrayBuffer) return { $ArrayBuffer: hex(new Uint8Array(v)) };
  // Node's Buffer is a Uint8Array.
  if (v instanceof Uint8Array) return { $Uint8Array: hex(v) };
  if (ArrayBuffer.isView(v)) return { [`$${v.constructor.name}`]: hex(bytesOf(v)) };
  if (v instanceof Date) return { $Date: v.getTime() };
  if (Array.isArray(v)) return v.map(tag);
  if (typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, tag(x)]));
  return { $other: String(v) };
}

/// PeerJS's BinaryPack receiver delivers binary as an ArrayBuffer, except in a message that
/// arrived in chunks, where it is a Uint8Array (it unpacks the reassembled Uint8Array). The
/// wasm peer always delivers an ArrayBuffer, so only PeerJS receivers (`loose`) may give either.
function loosen(v) {
  if (v instanceof Uint8Array) return v.slice().buffer;
  if (Array.isArray(v)) return v.map(loosen);
  if (v !== null && typeof v === "object" && !(v instanceof ArrayBuffer) && !(v instanceof Date)) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, loosen(x)]));
  }
  return v;
}

function same(got, want, what, loose = false) {
  const a = JSON.stringify(tag(loose ? loosen(got) : got));
  const b = JSON.stringify(tag(loose ? loosen(want) : want));
  if (a !== b) {
    const short = (s) => (s.length > 300 ? `${s.slice(0, 300)}… (${s.length} chars)` : s);
    throw new Error(`${what}: got ${short(a)}, want ${short(b)}`);
  }
}

function withTimeout(promise, what, ms = TIMEOUT) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/// The `data` events of a connection, taken one at a time.
function inbox(conn) {
  const items = [];
  const waiting = [];
  conn.on("data", (data) => {
    const w = waiting.shift();
    if (w) w(data);
    else items.push(data);
  });
  return {
    next: (what) =>
      withTimeout(
        items.length ? Promise.resolve(items.shift()) : new Promise((resolve) => waiting.push(resolve)),
        what,
      ),
  };
}

function opened(conn, what, ms = TIMEOUT) {
  return withTimeout(
    new Promise((resolve, reject) => {
      if (conn.open) return resolve();
      conn.on("open", resolve);
      conn.on("error", (e) => reject(new Error(`${what}: ${e.type}: ${e.message}`)));
      conn.on("close", () => reject(new Error(`${what}: closed before it opened`)));
    }),
    what,
    ms,
  );
}

function registered(peer, what) {
  return withTimeout(
    new Promise((resolve, reject) => {
      if (peer.open) return resolve(peer.id);
      peer.on("open", resolve);
      peer.on("error", (e) => reject(new Error(`${what}: ${e.type}: ${e.message}`)));
    }),
    what,
  );
}

/// Echoes every message of every incoming connection, recording what arrived per serialization.
function echoIncoming(peer, log) {
  const received = new Map();
  peer.on("connection", (conn) => {
    const list = [];
    received.set(conn.label, list);
    conn.on("error", (e) => log(`${conn.label}: error on the accepting side: ${e.type}: ${e.message}`));
    conn.on("data", (data) => {
      list.push(data);
      const sent = conn.send(data);
      if (sent && typeof sent.catch === "function") sent.catch(() => {});
    });
  });
  return received;
}

/// `from` connects to `to` with `serialization`, sends every sample, checks each echo, and
/// checks what the echoing side recorded (when it records).
///
/// `quirks` is for node-datachannel (libdatachannel) running both peers in one Node process: it
/// fails the DTLS handshake ("unknown CA" on both sides) when ICE connects before the offering
/// side has applied the answer, which happens now and then when one busy JavaScript thread
/// carries both peers' signaling. Browsers wait for the answer. There, a connection that fails
/// to open is tried again `retries` times (logged), and `settle` ms pass after each close.
async function exchange({ from, to, serialization, label, recorded, fromPeerJS = false, toPeerJS = false, quirks, log }) {
  // Only BinaryPack has the chunked-binary quirk.
  const binarypack = serialization === "binary" || serialization === "binary-utf8";
  let conn;
  let messages;
  for (let attempt = 0; ; attempt++) {
    conn = from.connect(to, { serialization, reliable: true, label });
    messages = inbox(conn);
    try {
      await opened(conn, `opening ${label}`, quirks.retries > attempt ? 10000 : TIMEOUT);
      break;
    } catch (e) {
      if (attempt >= quirks.retries) throw e;
      log(`${label}: did not open (${e.message}); trying again`);
      conn.close();
      await sleep(quirks.settle);
    }
  }
  if (conn.serialization !== serialization && !(serialization === "binary-utf8" && conn.serialization === "binary")) {
    throw new Error(`${label}: the connection's serialization is ${conn.serialization}`);
  }
  const values = samples(serialization);
  for (const [i, value] of values.entries()) {
    await conn.send(value);
    const back = await messages.next(`${label}: echo of message ${i}`);
    same(back, delivered(value, serialization), `${label}: echo of message ${i}`, binarypack && fromPeerJS);
  }
  if (recorded) {
    const got = recorded.get(label) ?? [];
    if (got.length !== values.length) throw new Error(`${label}: the other side got ${got.length} messages`);
    values.forEach((value, i) =>
      same(got[i], delivered(value, serialization), `${label}: message ${i} as received`, binarypack && toPeerJS),
    );
  }
  const closed = new Promise((resolve) => conn.on("close", resolve));
  conn.close();
  await withTimeout(closed, `${label}: closing`);
  await sleep(quirks.settle);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/// Runs the checks. `WasmPeer` is the package's `Peer`; `PeerJS` PeerJS's `Peer` class and
/// `MsgPack` its MsgPack serializer (or null to skip the PeerJS checks); `server` is
/// `{host, port}`; `echo` the id of a native `peerjs echo` on that server; `quirks`
/// `{retries, settle}` for node-datachannel (see `exchange`).
export async function runSuite({
  WasmPeer,
  PeerJS,
  MsgPack,
  server,
  echo,
  log = () => {},
  only = SERIALIZATIONS,
  quirks = { retries: 0, settle: 0 },
}) {
  const options = { host: server.host, port: server.port, path: "/", secure: false, config: { iceServers: [] } };
  const suffix = Math.random().toString(36).slice(2, 8);
  const results = [];
  const check = async (name, serialization, body) => {
    try {
      await body();
      results.push({ check: name, serialization, ok: true });
      log(`ok   ${name} ${serialization}`);
    } catch (e) {
      results.push({ check: name, serialization, ok: false, error: String(e?.message ?? e) });
      log(`FAIL ${name} ${serialization}: ${e?.message ?? e}`);
    }
  };

  const wasm = new WasmPeer(`wasm-${suffix}`, options);
  const wasmReceived = echoIncoming(wasm, log);
  await registered(wasm, "registering the wasm peer");
  let pj = null;
  let pjReceived = null;
  if (PeerJS) {
    pj = new PeerJS(`peerjs-${suffix}`, { ...options, serializers: { MsgPack } });
    pjReceived = echoIncoming(pj, log);
    await registered(pj, "registering the PeerJS peer");
  }

  for (const serialization of only) {
    await check("wasm offers to native echo", serialization, () =>
      exchange({ from: wasm, to: echo, serialization, label: `native-${serialization}`, quirks, log }),
    );
    if (!pj) continue;
    await check("wasm offers to PeerJS", serialization, () =>
      exchange({ from: wasm, to: pj.id, serialization, label: `w2p-${serialization}`, recorded: pjReceived, toPeerJS: true, quirks, log }),
    );
    await check("PeerJS offers to wasm", serialization, () =>
      exchange({ from: pj, to: wasm.id, serialization, label: `p2w-${serialization}`, recorded: wasmReceived, fromPeerJS: true, quirks, log }),
    );
  }

  await check("peer-unavailable on the peer", "binary", async () => {
    const error = withTimeout(new Promise((resolve) => wasm.on("error", resolve)), "the error event");
    wasm.connect(`nobody-${suffix}`);
    const e = await error;
    if (e.type !== "peer-unavailable") throw new Error(`got ${e.type}: ${e.message}`);
  });

  await check("destroy emits close", "-", async () => {
    const closed = withTimeout(new Promise((resolve) => wasm.on("close", resolve)), "the close event");
    wasm.destroy();
    await closed;
    if (!wasm.destroyed) throw new Error("destroyed is false after close");
  });
  pj?.destroy();
  return results;
}
