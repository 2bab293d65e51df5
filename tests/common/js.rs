//! The JavaScript side of the interop tests (`tests/js`, its npm packages pinned by the
//! committed lockfile): Node processes, the official `peer@1.0.2` server, real PeerJS peers in
//! Node (`node_peer.mjs`) or in headless Chromium (`browser_peer.mjs`) driven by JSON lines
//! (`peer_driver.mjs` describes the commands and events), and the tagged JSON those scripts use
//! for values.
//!
//! Nothing here skips: a missing `node`, `npm ci` or Chromium is a failure that says how to
//! install it.

use std::collections::VecDeque;
use std::fmt::Display;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use peerjs::{PeerOptions, Value};
use serde_json::{Value as Json, json};
use tokio::sync::mpsc;

use super::loopback;

/// How long to wait for any one thing the other side should do.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(20);

/// Strings longer than this many UTF-8 bytes are reported as `{"$strsum": "len:fnv"}`.
pub const STRING_SUM_BYTES: usize = 512;
/// Binary values longer than this are reported as `{"$binsum": "len:fnv"}`.
pub const BINARY_SUM_BYTES: usize = 256;

pub fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js")
}

/// `tests/js`, after checking that `npm ci` has installed `packages` there.
pub fn require_node_modules(packages: &[&str]) -> PathBuf {
    let dir = js_dir();
    for package in packages {
        let manifest = dir.join("node_modules").join(package).join("package.json");
        assert!(
            manifest.is_file(),
            "{} is missing: run `npm ci` in tests/js (or .ci/setup) before these tests",
            manifest.display()
        );
    }
    dir
}

/// The Chromium binary the browser tests run (`CHROMIUM`, else Debian's `/usr/bin/chromium`),
/// after checking that it is there.
pub fn require_chromium() -> PathBuf {
    let path = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.is_file(),
        "{} is missing: install Chromium with `apt-get install -y chromium chromium-driver` \
         (.ci/setup does), or point CHROMIUM at a Chromium binary",
        path.display()
    );
    path
}

/// A `node` child process: lines to its stdin, lines from its stdout; its stderr goes to the
/// test's output with a prefix. Killed when dropped.
pub struct NodeProcess {
    pub name: String,
    child: Child,
    stdin: Option<std::sync::mpsc::Sender<String>>,
    lines: mpsc::UnboundedReceiver<String>,
}

impl NodeProcess {
    pub fn spawn(name: &str, script: &str, args: &[String]) -> Self {
        let dir = require_node_modules(&["peerjs", "peer", "node-datachannel", "ws"]);
        Self::spawn_in(&dir, name, script, args)
    }

    fn spawn_in(dir: &Path, name: &str, script: &str, args: &[String]) -> Self {
        let mut child = Command::new("node")
            .arg(dir.join(script))
            .args(args)
            .current_dir(dir)
            // JS `Date.toString()` (how BinaryPack sends a Date) depends on the time zone.
            .env("TZ", "UTC")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `node` (Node.js >= 20 must be on PATH): {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let mut stdin = child.stdin.take().expect("piped stdin");

        let (line_tx, lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let prefix = name.to_owned();
        let quiet = std::env::var_os("PEERJS_JS_QUIET").is_some();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !quiet {
                    eprintln!("[{prefix}] {line}");
                }
            }
        });
        // Writes block when the pipe is full (large values); keep them off the runtime.
        let (stdin_tx, stdin_rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in stdin_rx {
                if writeln!(stdin, "{line}")
                    .and_then(|()| stdin.flush())
                    .is_err()
                {
                    break;
                }
            }
        });
        Self {
            name: name.to_owned(),
            child,
            stdin: Some(stdin_tx),
            lines,
        }
    }

    pub fn send_line(&self, line: String) {
        if let Some(stdin) = &self.stdin {
            let _ = stdin.send(line);
        }
    }

    /// The next stdout line, `Ok(None)` when the process ended, `Err` at the deadline.
    pub async fn try_next_line(
        &mut self,
        deadline: tokio::time::Instant,
    ) -> Result<Option<String>, tokio::time::error::Elapsed> {
        tokio::time::timeout_at(deadline, self.lines.recv()).await
    }

    /// The next stdout line, or `None` when the process ended.
    pub async fn next_line(
        &mut self,
        deadline: tokio::time::Instant,
        what: &str,
    ) -> Option<String> {
        self.try_next_line(deadline)
            .await
            .unwrap_or_else(|_| panic!("{}: timed out waiting for {what}", self.name))
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        // Closing stdin asks the scripts to exit; kill in any case.
        self.stdin.take();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The official PeerJS server, `peer@1.0.2`, on 127.0.0.1 and a free port, with a 1 s expiry
/// for messages to unknown peers (so `peer-unavailable` comes quickly).
pub struct OfficialServer {
    pub port: u16,
    _process: NodeProcess,
}

impl OfficialServer {
    pub async fn start() -> Self {
        super::init_tracing();
        let args = ["--expire-timeout", "1000", "--cleanup-out-msgs", "200"].map(String::from);
        let mut process = NodeProcess::spawn("peer@1.0.2", "official_server.mjs", &args);
        let deadline = tokio::time::Instant::now() + EVENT_TIMEOUT;
        let line = process
            .next_line(deadline, "the port")
            .await
            .expect("official_server.mjs printed its port");
        let port = line.trim().parse().unwrap_or_else(|e| {
            panic!("official_server.mjs printed {line:?} instead of a port: {e}")
        });
        Self {
            port,
            _process: process,
        }
    }

    pub fn options(&self) -> PeerOptions {
        loopback(PeerOptions::local("127.0.0.1", self.port))
    }
}

/// Where a JS peer runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsRuntime {
    /// PeerJS 1.5.5 in Node on node-datachannel: a plain `Peer` with `serializers: {MsgPack}`.
    Node,
    /// PeerJS 1.5.5's `MsgPackPeer` in Node.
    NodeMsgPackPeer,
    /// This PeerJS version (`1.5.5`, `1.4.7` or `1.3.2`) in headless Chromium.
    Chromium(&'static str),
}

impl JsRuntime {
    fn script_and_args(self) -> (&'static str, Vec<String>) {
        match self {
            Self::Node => ("node_peer.mjs", vec![]),
            Self::NodeMsgPackPeer => ("node_peer.mjs", vec!["--msgpack-peer".to_owned()]),
            Self::Chromium(version) => (
                "browser_peer.mjs",
                vec!["--peerjs".to_owned(), version.to_owned()],
            ),
        }
    }
}

/// A real PeerJS peer (`node_peer.mjs` or `browser_peer.mjs`), registered with the server at
/// 127.0.0.1:`port`.
pub struct JsPeer {
    pub process: NodeProcess,
    seq: u64,
    /// Events read while waiting for something else.
    backlog: VecDeque<Json>,
}

impl JsPeer {
    /// A plain `Peer` in Node (every serialization, MsgPack registered through `serializers`).
    pub async fn start(port: u16, id: &str) -> Self {
        Self::start_with(port, id, &[]).await
    }

    /// A `MsgPackPeer` in Node.
    pub async fn start_msgpack_peer(port: u16, id: &str) -> Self {
        Self::start_with(port, id, &["--msgpack-peer"]).await
    }

    async fn start_with(port: u16, id: &str, extra: &[&str]) -> Self {
        let mut args = vec!["--id", id];
        args.extend_from_slice(extra);
        let mut peer = Self::spawn(port, &args);
        let open = peer.registration().await;
        assert_eq!(
            open["event"], "open",
            "the JS peer did not register: {open}"
        );
        assert_eq!(open["id"], id);
        peer
    }

    /// A peer in `runtime` registered as `id`, or why it did not register.
    pub async fn start_in(runtime: JsRuntime, port: u16, id: &str) -> Result<Self, String> {
        let (script, mut args) = runtime.script_and_args();
        args.extend(["--id".to_owned(), id.to_owned()]);
        let mut peer = Self::spawn_script(
            &format!("js {id} ({runtime:?})"),
            script,
            port,
            &args,
            runtime,
        );
        // Chromium takes a few seconds to start.
        let open = peer
            .try_expect("open", Duration::from_secs(60), |e| {
                e["event"] == "open" || e["event"] == "error"
            })
            .await?;
        if open["event"] == "open" && open["id"] == id {
            Ok(peer)
        } else {
            Err(format!("the JS peer did not register: {open}"))
        }
    }

    /// Starts `node_peer.mjs` without waiting for its registration.
    pub fn spawn(port: u16, args: &[&str]) -> Self {
        let name = match args.iter().position(|a| *a == "--id") {
            Some(i) => format!("js {}", args[i + 1]),
            None => "js".to_owned(),
        };
        let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        Self::spawn_script(&name, "node_peer.mjs", port, &args, JsRuntime::Node)
    }

    fn spawn_script(
        name: &str,
        script: &str,
        port: u16,
        args: &[String],
        runtime: JsRuntime,
    ) -> Self {
        let dir = match runtime {
            JsRuntime::Chromium(version) => {
                require_chromium();
                let package = match version {
                    "1.5.5" => "peerjs".to_owned(),
                    other => format!("peerjs-{other}"),
                };
                require_node_modules(&[&package, "peerjs", "playwright-core", "@msgpack/msgpack"])
            }
            JsRuntime::Node | JsRuntime::NodeMsgPackPeer => {
                require_node_modules(&["peerjs", "node-datachannel", "ws", "@msgpack/msgpack"])
            }
        };
        let mut all = vec!["--port".to_owned(), port.to_string()];
        all.extend(args.iter().cloned());
        Self {
            process: NodeProcess::spawn_in(&dir, name, script, &all),
            seq: 0,
            backlog: VecDeque::new(),
        }
    }

    /// The `open` event, or the `error` that came instead.
    pub async fn registration(&mut self) -> Json {
        self.expect("open", |e| e["event"] == "open" || e["event"] == "error")
            .await
    }

    /// Waits for an event matching `pred`, keeping the others for later; panics after
    /// [`EVENT_TIMEOUT`] or when a command fails meanwhile.
    pub async fn expect(&mut self, what: &str, pred: impl Fn(&Json) -> bool) -> Json {
        match self
            .try_expect(what, EVENT_TIMEOUT, |e| {
                assert_ne!(
                    e["event"], "fail",
                    "a command failed while waiting for {what}: {e}"
                );
                pred(e)
            })
            .await
        {
            Ok(event) => event,
            Err(e) => panic!("{e}"),
        }
    }

    /// Waits up to `timeout` for an event matching `pred`, keeping the others for later.
    pub async fn try_expect(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Json) -> bool,
    ) -> Result<Json, String> {
        if let Some(i) = self.backlog.iter().position(&pred) {
            return Ok(self.backlog.remove(i).expect("in range"));
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let line = match self.process.try_next_line(deadline).await {
                Ok(Some(line)) => line,
                Ok(None) => {
                    return Err(format!(
                        "{}: exited while waiting for {what}; unconsumed events: {}",
                        self.process.name,
                        self.backlog_summary()
                    ));
                }
                Err(_) => {
                    return Err(format!(
                        "{}: nothing in {timeout:?} while waiting for {what}",
                        self.process.name
                    ));
                }
            };
            let Ok(event) = serde_json::from_str::<Json>(&line) else {
                eprintln!("[{}] (not JSON) {line}", self.process.name);
                continue;
            };
            if pred(&event) {
                return Ok(event);
            }
            self.backlog.push_back(event);
        }
    }

    /// Removes and returns the buffered events matching `pred`.
    pub fn take_backlog(&mut self, pred: impl Fn(&Json) -> bool) -> Vec<Json> {
        let (taken, kept): (Vec<Json>, Vec<Json>) = self.backlog.drain(..).partition(|e| pred(e));
        self.backlog = kept.into();
        taken
    }

    fn backlog_summary(&self) -> String {
        self.backlog
            .iter()
            .map(|e| brief(e.to_string()))
            .collect::<Vec<_>>()
            .join("\n  ")
    }

    /// Sends a command; returns its sequence number (for [`JsPeer::reply`]).
    pub fn submit(&mut self, mut cmd: Json) -> u64 {
        self.seq += 1;
        cmd["seq"] = json!(self.seq);
        self.process.send_line(cmd.to_string());
        self.seq
    }

    /// The reply to command `seq`: its `ok` event, or why it failed.
    pub async fn reply(&mut self, seq: u64, timeout: Duration) -> Result<Json, String> {
        let reply = self
            .try_expect(&format!("the reply to command {seq}"), timeout, |e| {
                e["seq"] == seq && (e["event"] == "ok" || e["event"] == "fail")
            })
            .await?;
        if reply["event"] == "ok" {
            Ok(reply)
        } else {
            Err(format!("command {seq} failed: {}", reply["message"]))
        }
    }

    /// Runs a command and returns its `ok` reply, or why it failed.
    pub async fn try_command(&mut self, cmd: Json, timeout: Duration) -> Result<Json, String> {
        let seq = self.submit(cmd);
        self.reply(seq, timeout).await
    }

    /// Runs a command and returns its `ok` reply.
    pub async fn command(&mut self, cmd: Json) -> Json {
        let name = cmd["cmd"].as_str().unwrap_or("?").to_owned();
        self.try_command(cmd, EVENT_TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("{}: {name}: {e}", self.process.name))
    }

    /// `peer.connect(peer, options)`; returns the connection id.
    pub async fn connect(&mut self, peer: &str, options: Json) -> String {
        let mut cmd = options;
        cmd["cmd"] = json!("connect");
        cmd["peer"] = json!(peer);
        let reply = self.command(cmd).await;
        reply["connectionId"]
            .as_str()
            .expect("a connection id")
            .to_owned()
    }

    pub async fn send(&mut self, connection_id: &str, value: &Json) {
        self.command(json!({"cmd": "send", "connectionId": connection_id, "value": value}))
            .await;
    }

    pub async fn close(&mut self, connection_id: &str, flush: bool) {
        self.command(json!({"cmd": "close", "connectionId": connection_id, "flush": flush}))
            .await;
    }

    pub async fn expect_conn_event(&mut self, kind: &str, connection_id: &str) -> Json {
        self.expect(&format!("{kind} on {connection_id}"), |e| {
            e["event"] == kind && e["connectionId"] == connection_id
        })
        .await
    }
}

pub fn brief(text: impl Display) -> String {
    let text = text.to_string();
    match text.char_indices().nth(300) {
        Some((i, _)) => format!("{}… ({} bytes)", &text[..i], text.len()),
        None => text,
    }
}

// ---------------------------------------------------------------------------------------------
// Tagged values: {"$bin": hex}, {"$date": ms}, {"$undefined": true}, {"$num": "Infinity"}, and
// in reports {"$binsum": "len:fnv"} / {"$strsum": "len:fnv"} for large values (peer_driver.mjs).
// ---------------------------------------------------------------------------------------------

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn from_hex(hex: &str) -> Option<Vec<u8>> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// FNV-1a, 32 bits (as `fnv1a` in peer_driver.mjs).
pub fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |hash, b| {
        (hash ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// The bytes of `{"$pattern": len}`: byte i is i*7 % 251.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

fn binary_report(bytes: &[u8]) -> Json {
    if bytes.len() > BINARY_SUM_BYTES {
        json!({"$binsum": format!("{}:{:08x}", bytes.len(), fnv1a(bytes))})
    } else {
        json!({"$bin": hex(bytes)})
    }
}

fn string_report(s: &str) -> Json {
    if s.len() > STRING_SUM_BYTES {
        json!({"$strsum": format!("{}:{:08x}", s.len(), fnv1a(s.as_bytes()))})
    } else {
        json!(s)
    }
}

/// A JS property name for a map key, as JS coerces one.
fn js_key(key: &Value) -> String {
    match key {
        Value::String(s) => s.to_string(),
        Value::Nil => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
        Value::Float(f) => f.to_string(),
        other => format!("{other:?}"),
    }
}

/// The tagged JSON of the JS value a Rust value stands for, to send it from JS (small values
/// only: large ones are better described with `$pattern`/`$repeat`).
pub fn js_of(value: &Value) -> Json {
    match value {
        Value::Nil => Json::Null,
        Value::Bool(b) => json!(b),
        Value::Int(i) => json!(i),
        Value::UInt(u) => json!(u),
        Value::Float(f) if f.is_finite() => json!(f),
        Value::Float(f) => json!({"$num": js_number_name(*f)}),
        Value::String(s) => json!(s),
        Value::Binary(b) => json!({"$bin": hex(b)}),
        Value::Array(items) => Json::Array(items.iter().map(js_of).collect()),
        Value::Map(entries) => {
            Json::Object(entries.iter().map(|(k, v)| (js_key(k), js_of(v))).collect())
        }
        Value::Timestamp(t) => json!({"$date": t.as_millis()}),
        Value::Ext(t, data) => json!({"$ext": [t, hex(data)]}),
        other => panic!("no JS form for {other:?}"),
    }
}

fn js_number_name(f: f64) -> &'static str {
    if f.is_nan() {
        "NaN"
    } else if f > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
}

/// What a JS peer would report (peer_driver.mjs `tag`) for the JS value a Rust value stands
/// for: the form [`js_equal`] compares.
pub fn js_view(value: &Value) -> Json {
    match value {
        Value::Float(f) if *f == 0.0 => json!(0),
        Value::String(s) => string_report(s),
        Value::Binary(b) => binary_report(b),
        Value::Array(items) => Json::Array(items.iter().map(js_view).collect()),
        Value::Map(entries) => {
            // Later duplicate keys win, as in a JS object.
            let mut object = serde_json::Map::new();
            for (k, v) in entries {
                object.insert(js_key(k), js_view(v));
            }
            Json::Object(object)
        }
        other => js_of(other),
    }
}

/// A reported or expected tagged value with large binary and strings replaced by their sums,
/// as peer_driver.mjs reports them.
pub fn canonical(value: &Json) -> Json {
    match value {
        Json::String(s) => string_report(s),
        Json::Array(items) => Json::Array(items.iter().map(canonical).collect()),
        Json::Object(map) => {
            if let Some(Json::String(h)) = map.get("$bin") {
                if map.len() == 1 && h.len() > 2 * BINARY_SUM_BYTES {
                    if let Some(bytes) = from_hex(h) {
                        return binary_report(&bytes);
                    }
                }
            }
            Json::Object(map.iter().map(|(k, v)| (k.clone(), canonical(v))).collect())
        }
        other => other.clone(),
    }
}

/// Whether JS reported `got` for `expected`: numbers compare as the doubles JS has; object key
/// order does not matter; large values compare by length and hash.
pub fn js_equal(expected: &Json, got: &Json) -> bool {
    fn equal(a: &Json, b: &Json) -> bool {
        match (a, b) {
            (Json::Number(a), Json::Number(b)) => a.as_f64() == b.as_f64(),
            (Json::Array(a), Json::Array(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(a, b)| equal(a, b))
            }
            (Json::Object(a), Json::Object(b)) => {
                a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| equal(v, w)))
            }
            _ => a == b,
        }
    }
    equal(&canonical(expected), &canonical(got))
}
