//! Real PeerJS 1.5.5 peers for the suite: `tests/js/node_peer.mjs` (Node, node-datachannel) and
//! `tests/js/browser_peer.mjs` (headless Chromium), driven by JSON lines as in the interop
//! suite (commands and events: `tests/js/peer_driver.mjs` and `tests/js/bench_commands.mjs`).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value as Json, json};
use tokio::sync::mpsc;

/// Where a PeerJS peer runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    Node,
    Chromium,
}

impl Runtime {
    pub fn label(self) -> &'static str {
        match self {
            Self::Node => "Node",
            Self::Chromium => "Chromium",
        }
    }
}

pub fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js")
}

/// Why the JS side cannot run, if it cannot.
pub fn missing_prerequisites(chromium: bool) -> Option<String> {
    let dir = js_dir();
    let mut packages = vec!["peerjs", "node-datachannel", "ws", "@msgpack/msgpack"];
    if chromium {
        packages.push("playwright-core");
    }
    for package in packages {
        if !dir
            .join("node_modules")
            .join(package)
            .join("package.json")
            .is_file()
        {
            return Some(format!(
                "tests/js/node_modules/{package} is missing: run `npm ci` in tests/js (or .ci/setup)"
            ));
        }
    }
    if chromium && !std::path::Path::new(&super::sys::chromium_path()).is_file() {
        return Some(format!(
            "{} is missing: `apt-get install -y chromium` (or set CHROMIUM)",
            super::sys::chromium_path()
        ));
    }
    None
}

/// A peer in a child process driven by JSON lines: a PeerJS peer in its own Node process (and,
/// for Chromium, its own browser), or one of the suite's own Rust children (scale.rs).
pub struct JsPeer {
    pub name: String,
    pub id: String,
    child: Child,
    stdin: Option<std::sync::mpsc::Sender<String>>,
    lines: mpsc::UnboundedReceiver<String>,
    backlog: VecDeque<Json>,
    seq: u64,
}

/// Events not waited for that are kept (older ones are dropped).
const BACKLOG: usize = 20_000;

impl JsPeer {
    /// Starts a PeerJS peer registered as `id` with the server at 127.0.0.1:`port`; waits
    /// for its `open` (Chromium takes a few seconds to start).
    pub async fn start(runtime: Runtime, port: u16, id: &str) -> Result<Self, String> {
        let script = match runtime {
            Runtime::Node => "node_peer.mjs",
            Runtime::Chromium => "browser_peer.mjs",
        };
        let dir = js_dir();
        let mut command = Command::new("node");
        command
            .arg(dir.join(script))
            .args(["--port", &port.to_string(), "--id", id])
            .current_dir(&dir);
        Self::start_command(format!("{} {id}", runtime.label()), id, command).await
    }

    /// Starts `command`, which speaks the same JSON lines, and waits for its `open` event.
    pub async fn start_command(
        name: String,
        id: &str,
        mut command: Command,
    ) -> Result<Self, String> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {name}: {e}"))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let mut stdin = child.stdin.take().expect("piped stdin");
        let (tx, lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let prefix = name.clone();
        let verbose = std::env::var_os("PEERJS_BENCH_LOG").is_some();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if verbose {
                    eprintln!("[{prefix}] {line}");
                }
            }
        });
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
        let mut peer = Self {
            name,
            id: id.to_owned(),
            child,
            stdin: Some(stdin_tx),
            lines,
            backlog: VecDeque::new(),
            seq: 0,
        };
        let open = peer
            .expect("open", Duration::from_secs(60), |e| {
                e["event"] == "open" || e["event"] == "error"
            })
            .await?;
        if open["event"] == "open" {
            Ok(peer)
        } else {
            Err(format!("{}: did not register: {open}", peer.name))
        }
    }

    /// The child's pid (for a Chromium peer, the root of the tree that holds the browser).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `timeout` for an event matching `pred`, keeping the others.
    pub async fn expect(
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
            let line = match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => line,
                Ok(None) => return Err(format!("{}: exited while waiting for {what}", self.name)),
                Err(_) => {
                    return Err(format!(
                        "{}: nothing in {timeout:?} while waiting for {what}",
                        self.name
                    ));
                }
            };
            let Ok(event) = serde_json::from_str::<Json>(&line) else {
                continue;
            };
            if pred(&event) {
                return Ok(event);
            }
            if self.backlog.len() >= BACKLOG {
                self.backlog.pop_front();
            }
            self.backlog.push_back(event);
        }
    }

    /// Drops the events read so far and not waited for.
    pub fn clear_backlog(&mut self) {
        self.backlog.clear();
        while self.lines.try_recv().is_ok() {}
    }

    /// Sends a command; returns its sequence number.
    pub fn submit(&mut self, mut cmd: Json) -> u64 {
        self.seq += 1;
        cmd["seq"] = json!(self.seq);
        if let Some(stdin) = &self.stdin {
            let _ = stdin.send(cmd.to_string());
        }
        self.seq
    }

    /// The `ok` reply to command `seq`, or why it failed.
    pub async fn reply(&mut self, seq: u64, timeout: Duration) -> Result<Json, String> {
        let reply = self
            .expect(&format!("the reply to command {seq}"), timeout, |e| {
                e["seq"] == seq && (e["event"] == "ok" || e["event"] == "fail")
            })
            .await?;
        if reply["event"] == "ok" {
            Ok(reply)
        } else {
            Err(format!("{}: {}", self.name, reply["message"]))
        }
    }

    /// Runs a command; its `ok` reply, or why it failed.
    pub async fn command(&mut self, cmd: Json, timeout: Duration) -> Result<Json, String> {
        let seq = self.submit(cmd);
        self.reply(seq, timeout).await
    }

    /// `peer.connect(peer, options)`: the new connection's id (it opens later).
    pub async fn connect(&mut self, peer: &str, options: Json) -> Result<String, String> {
        let mut cmd = options;
        cmd["cmd"] = json!("connect");
        cmd["peer"] = json!(peer);
        let reply = self.command(cmd, Duration::from_secs(20)).await?;
        reply["connectionId"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("{}: no connection id in {reply}", self.name))
    }

    /// Waits for `event` (`conn-open`, `connection`, …) on connection `id`.
    pub async fn conn_event(&mut self, event: &str, id: &str) -> Result<Json, String> {
        self.expect(&format!("{event} on {id}"), Duration::from_secs(20), |e| {
            e["event"] == event && e["connectionId"] == id
        })
        .await
    }

    /// Closes connection `id` (not waiting for the remote).
    pub async fn close(&mut self, id: &str) {
        let _ = self
            .command(
                json!({"cmd": "close", "connectionId": id}),
                Duration::from_secs(10),
            )
            .await;
    }
}

impl Drop for JsPeer {
    fn drop(&mut self) {
        // Closing stdin asks the script to close its browser and exit; kill it after a while.
        self.stdin.take();
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
