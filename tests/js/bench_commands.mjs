// The benchmark commands of peer_driver.mjs (the performance suite, benches/suite/): they run in
// Node (node_peer.mjs) and in the Chromium page (browser_peer.mjs) alike, and take over a
// connection's `data` events so that nothing per message crosses the JSON-line pipe.
//
//   {"cmd":"bench-sink","connectionId":…,"messages":n}
//        counts what arrives on the connection from now on; when n messages have arrived, emits
//        {"event":"bench-done","connectionId":…,"messages":n,"bytes":…,"ms":…} (ms: first to
//        last message). Replies at once.
//   {"cmd":"bench-send","connectionId":…,"count":n,"size":bytes[,"maxQueued":bytes]}
//        sends n binary messages (Uint8Array of `size` bytes, the same content each time) with
//        PeerJS's own `send`. PeerJS buffers in JS what the channel does not take (binary and
//        raw: above 8 MiB of bufferedAmount it queues and retries every 50 ms; MsgPack: `send`
//        returns its stream's write promise, and the stream waits for `bufferedamountlow`).
//        To keep memory bounded this loop waits while PeerJS's own queue (`conn.bufferSize`
//        entries, chunks included) holds more than `maxQueued` bytes (default 16 MiB) counting
//        each entry as a whole message, and keeps at most `maxQueued` bytes of MsgPack writes
//        pending. Replies when every message was handed to PeerJS, with "ms".
//   {"cmd":"bench-echo","connectionId":…}   sends every message back as it arrives
//   {"cmd":"bench-ping","connectionId":…,"count":n,"size":bytes[,"warmup":k]}
//        k + n round trips, one at a time: send, wait for the echo; replies with "rtts" (ms, the
//        last n)
//   {"cmd":"bench-setup","peer":target,"count":n[,"serialization":…,"reliable":…,"timeoutMs":t]}
//        n times: create a new Peer (the server assigns its id), wait for `open`, connect to
//        `target`, wait for the connection's `open`, destroy the Peer. Replies with "create"
//        (ms, Peer created to connection open), "connect" (ms, connect() to open) and
//        "failures" (what did not open within t ms, default 10 s; more than n/10 fail it)
//   {"cmd":"bench-hold","peer":target,"total":n[,"concurrency":c,"timeoutMs":t,"maxFailures":f]}
//        opens connections to `target`, c in flight at a time, until n are open in all
//        (counting those of earlier bench-hold commands) and keeps them; one that does not open
//        within t ms (default 10 s) is counted and replaced, until f failures (default n/20).
//        Replies with "open", "failed", "error" (the first failure, or null), "ms", and in Node
//        "rss"/"heapUsed" (bytes)
//
// Times come from performance.now() (Chromium coarsens it to 0.1 ms in a page).

const now = () => performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function byteLength(data) {
  if (typeof data === "string") return data.length;
  return data?.byteLength ?? data?.length ?? 0;
}

function payload(size) {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = i & 0xff;
  return bytes;
}

/** Resolves with `promise`'s value, or rejects after `ms` saying `what` timed out. */
function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves on `emitter`'s `ok` event, rejects on its `error` event. */
function once(emitter, ok) {
  return new Promise((resolve, reject) => {
    emitter.once(ok, resolve);
    emitter.once("error", reject);
  });
}

/**
 * The bench commands, keyed by name. `peer` is the driver's Peer, `makePeer` a function that
 * creates a new Peer with the same options (or null), `connection(id)` looks up a connection.
 */
export function benchCommands({ peer, makePeer, connection, emit }) {
  /** Replaces the connection's `data` listeners (the driver's report) with `handler`. */
  function takeData(conn, handler) {
    conn.removeAllListeners("data");
    conn.on("data", handler);
  }

  const held = [];

  return {
    "bench-sink": async (cmd) => {
      const conn = connection(cmd.connectionId);
      let messages = 0;
      let bytes = 0;
      let first = null;
      takeData(conn, (data) => {
        if (first === null) first = now();
        messages++;
        bytes += byteLength(data);
        if (messages === cmd.messages) {
          emit({ event: "bench-done", connectionId: cmd.connectionId, messages, bytes, ms: now() - first });
        }
      });
      return {};
    },

    "bench-send": async (cmd) => {
      const conn = connection(cmd.connectionId);
      const data = payload(cmd.size);
      const maxQueued = cmd.maxQueued ?? 16 * 1024 * 1024;
      // MsgPack's send() returns its stream's write promise: up to maxQueued bytes of them
      // stay pending (its encoder copies each message, so they may).
      const pending = [];
      const start = now();
      for (let i = 0; i < cmd.count; i++) {
        while ((conn.bufferSize ?? 0) * cmd.size > maxQueued) await sleep(5);
        const sent = conn.send(data);
        if (sent && typeof sent.then === "function") {
          pending.push(sent);
          if (pending.length * cmd.size > maxQueued) await pending.shift();
        }
      }
      await Promise.all(pending);
      return { ms: now() - start };
    },

    "bench-echo": async (cmd) => {
      const conn = connection(cmd.connectionId);
      takeData(conn, (data) => {
        const sent = conn.send(data);
        if (sent && typeof sent.catch === "function") sent.catch(() => {});
      });
      return {};
    },

    "bench-ping": async (cmd) => {
      const conn = connection(cmd.connectionId);
      const data = payload(cmd.size);
      let arrived = null;
      takeData(conn, () => {
        const resolve = arrived;
        arrived = null;
        resolve?.();
      });
      const warmup = cmd.warmup ?? 10;
      const rtts = [];
      for (let i = 0; i < warmup + cmd.count; i++) {
        const echo = new Promise((resolve) => {
          arrived = resolve;
        });
        const start = now();
        const sent = conn.send(data);
        if (sent && typeof sent.then === "function") await sent;
        await within(10000, `echo ${i}`, echo);
        if (i >= warmup) rtts.push(now() - start);
      }
      return { rtts };
    },

    "bench-setup": async (cmd) => {
      if (!makePeer) throw new Error("bench-setup: this driver cannot create peers");
      const options = {};
      for (const key of ["serialization", "reliable"]) {
        if (cmd[key] !== undefined) options[key] = cmd[key];
      }
      const timeoutMs = cmd.timeoutMs ?? 10000;
      const create = [];
      const connect = [];
      const failures = [];
      for (let i = 0; i < cmd.count; i++) {
        const start = now();
        const p = makePeer();
        try {
          await within(timeoutMs, `peer ${i} open`, once(p, "open"));
          const connecting = now();
          const conn = p.connect(cmd.peer, options);
          const opened = new Promise((resolve, reject) => {
            conn.once("open", resolve);
            conn.once("error", reject);
            p.once("error", reject);
          });
          await within(timeoutMs, `connection ${i} open`, opened);
          const open = now();
          create.push(open - start);
          connect.push(open - connecting);
        } catch (e) {
          // A connection that never opens (node-datachannel does that now and then) is
          // counted, not timed; too many end the command.
          failures.push(String(e?.message ?? e));
          if (failures.length > Math.max(3, cmd.count / 10)) {
            throw new Error(`${failures.length} connections failed: ${failures.slice(0, 3).join("; ")}`);
          }
        } finally {
          p.destroy();
        }
      }
      return { create, connect, failures };
    },

    "bench-hold": async (cmd) => {
      const concurrency = cmd.concurrency ?? 16;
      const timeoutMs = cmd.timeoutMs ?? 10000;
      const maxFailures = cmd.maxFailures ?? Math.max(10, Math.ceil(cmd.total / 20));
      const options = cmd.serialization ? { serialization: cmd.serialization } : {};
      const start = now();
      let failed = 0;
      let error = null;
      let pending = 0;
      // `concurrency` connections in flight at any time; one that does not open within
      // `timeoutMs` is closed and counted, and another is tried in its place.
      const worker = async () => {
        while (held.length + pending < cmd.total && failed < maxFailures) {
          pending++;
          const conn = peer.connect(cmd.peer, options);
          try {
            await within(timeoutMs, "open", once(conn, "open"));
            held.push(conn);
          } catch (e) {
            failed++;
            error ??= String(e?.message ?? e);
            try {
              conn.close();
            } catch {
              // already closed
            }
          } finally {
            pending--;
          }
        }
      };
      await Promise.all(Array.from({ length: concurrency }, worker));
      const reply = { open: held.length, failed, error, ms: now() - start };
      const usage = globalThis.process?.memoryUsage?.();
      if (usage) Object.assign(reply, { rss: usage.rss, heapUsed: usage.heapUsed });
      return reply;
    },
  };
}
