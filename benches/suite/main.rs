//! The performance suite: peerjs-rs side by side with PeerJS 1.5.5 (in Node on node-datachannel,
//! and in headless Chromium) and with a bare webrtc-rs data channel, every figure measured in
//! the same run as its anchors, on loopback.
//!
//! Run it with `.ci/bench` (full, about 10 minutes; writes `bench/results.json`,
//! `bench/results.md`, `bench/throughput.svg` and README's benchmark region) or
//! `.ci/bench --quick` (a smoke run of a minute or two into `target/bench-quick/`). The script
//! runs the codec benchmark first and hands its result file over with `--codec FILE`. Directly:
//!
//! ```text
//! cargo bench --features server --bench suite -- [--quick] [--out DIR] [--readme FILE]
//!     [--only throughput,setup,messages,scale] [--pairs rust-rust,node-node,…]
//!     [--codec FILE] [--no-netns] [--mib N] [--send-buffer-limit BYTES]
//! ```
//!
//! `--send-buffer-limit` sets `PeerOptions::send_buffer_limit` on our peers (the default run
//! measures the crate's defaults).
//!
//! Sections:
//! - throughput: 64 MiB (quick: 4 MiB) per case, binary, raw and MsgPack, messages of 1 KiB,
//!   16 KiB, 64 KiB and 1 MiB, reliable ordered channels, measured from the first send until
//!   the receiver has every message;
//! - setup: 100 (quick: 10) connections per stack, from creating a peer to an open connection
//!   and from `connect()` to open, p50 and p99;
//! - messages: 1-byte and 100-byte messages, rate one way and ping-pong round trips;
//! - scale: resident memory per idle open connection in one process at 100, 500 and 1000
//!   connections, then more until something fails or a cap (ours), PeerJS in Node at the same
//!   counts;
//! - codec: the codec benchmark's table (`benches/codec.rs`), when `--codec` is given.
//!
//! Everything runs in a network namespace with only `lo` (the benchmark re-runs itself under
//! `unshare -n`, as the interop suite does; `--no-netns` runs in place).

#![allow(missing_docs, unreachable_pub)]

mod js;
mod ours;
mod raw;
mod report;
mod scale;
mod svg;
mod sys;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use peerjs::proto::codec::Serialization;
use peerjs::server::{Server, ServerOptions};
use peerjs::{DataConnection, Peer};
use serde_json::{Value as Json, json};

use js::{JsPeer, Runtime};
use report::{Figure, Stack};

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;
const SIZES: [usize; 4] = [KIB, 16 * KIB, 64 * KIB, MIB];
/// Chromium's and libdatachannel's SCTP max-message-size, which PeerJS's raw serialization
/// cannot go past (it sends each message as it is).
const MAX_MESSAGE_SIZE: usize = 256 * KIB;
const IN_NETNS: &str = "PEERJS_BENCH_IN_NETNS";

struct Config {
    quick: bool,
    out: PathBuf,
    readme: Option<PathBuf>,
    sections: Vec<String>,
    pairs: Option<Vec<String>>,
    codec: Option<PathBuf>,
    netns: bool,
    throughput_bytes: usize,
    setup_connections: usize,
    setup_warmup: usize,
    rate_messages: usize,
    rtt_pings: usize,
    rtt_warmup: usize,
    scale: scale::Plan,
    command: String,
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

impl Config {
    fn parse(args: &[String]) -> Self {
        let quick = args.iter().any(|a| a == "--quick");
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let out = arg(args, "--out").map_or_else(
            || root.join(if quick { "target/bench-quick" } else { "bench" }),
            PathBuf::from,
        );
        let readme = match arg(args, "--readme") {
            Some(r) if r == "none" => None,
            Some(r) => Some(PathBuf::from(r)),
            None => (!quick && arg(args, "--out").is_none()).then(|| root.join("README.md")),
        };
        let list = |name: &str| {
            arg(args, name).map(|v| v.split(',').map(str::to_owned).collect::<Vec<_>>())
        };
        let mib: Option<usize> = arg(args, "--mib").and_then(|v| v.parse().ok());
        Self {
            quick,
            out,
            readme,
            sections: list("--only").unwrap_or_else(|| {
                ["throughput", "setup", "messages", "scale"]
                    .map(str::to_owned)
                    .to_vec()
            }),
            pairs: list("--pairs"),
            codec: arg(args, "--codec").map(PathBuf::from),
            netns: !args.iter().any(|a| a == "--no-netns"),
            throughput_bytes: mib.unwrap_or(if quick { 4 } else { 64 }) * MIB,
            setup_connections: if quick { 10 } else { 100 },
            setup_warmup: if quick { 2 } else { 5 },
            rate_messages: if quick { 1000 } else { 20_000 },
            rtt_pings: if quick { 100 } else { 1000 },
            rtt_warmup: if quick { 10 } else { 50 },
            scale: scale::Plan {
                counts: if quick {
                    vec![50, 100]
                } else {
                    vec![100, 500, 1000]
                },
                // Past 10000 the holder and the responder would take some 10 GB between them
                // on a machine shared with other jobs; the open-file limit allows about 19500.
                probe_cap: (!quick).then(|| {
                    arg(args, "--scale-max")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(10_000)
                }),
                probe_budget: Duration::from_secs(if quick { 0 } else { 180 }),
                settle: Duration::from_millis(if quick { 500 } else { 3000 }),
                concurrency: arg(args, "--scale-concurrency")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(16),
            },
            command: if quick {
                ".ci/bench --quick".to_owned()
            } else {
                ".ci/bench".to_owned()
            },
        }
    }

    fn section(&self, name: &str) -> bool {
        self.sections.iter().any(|s| s == name)
    }

    fn pair(&self, stack: Stack) -> bool {
        self.pairs
            .as_ref()
            .is_none_or(|p| p.iter().any(|s| s == stack.id()))
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(role) = arg(&args, "--role") {
        scale::child_main(&role, &args);
    }
    if !args.iter().any(|a| a == "--bench" || a == "--quick") {
        // `cargo test --benches` builds and runs this without `--bench`: build only. The smoke
        // run (`.ci/bench --quick`) runs it with `--quick` in the test profile.
        println!(
            "performance suite: run it with .ci/bench (or cargo bench --features server --bench suite)"
        );
        return;
    }
    if let Some(limit) = arg(&args, "--send-buffer-limit") {
        match limit.parse() {
            Ok(bytes) => ours::set_send_buffer_limit(bytes),
            Err(_) => {
                eprintln!("--send-buffer-limit takes a number of bytes, not {limit:?}");
                std::process::exit(2);
            }
        }
    }
    let config = Config::parse(&args);
    if config.netns && std::env::var_os(IN_NETNS).is_none() {
        let exe = std::env::current_exe().expect("the benchmark's path");
        let status = Command::new("unshare")
            .args([
                "-n",
                "--",
                "sh",
                "-c",
                "ip link set lo up && exec \"$0\" \"$@\"",
            ])
            .arg(&exe)
            .args(&args)
            .env(IN_NETNS, "1")
            .status();
        match status {
            Ok(s) if s.success() => return,
            Ok(s) => {
                eprintln!("the suite failed ({s})");
                std::process::exit(1);
            }
            Err(e) => {
                eprintln!(
                    "cannot run `unshare -n` ({e}): it needs util-linux and root (or \
                     CAP_SYS_ADMIN); --no-netns runs in place"
                );
                std::process::exit(1);
            }
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    if let Err(e) = runtime.block_on(run(config)) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
    // Connections still closing in the background are of no interest.
    std::process::exit(0);
}

// ---------------------------------------------------------------------------------------------
// The peers and links between them
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    NodeA,
    NodeB,
    ChromiumA,
    ChromiumB,
}

impl Who {
    fn runtime(self) -> Runtime {
        match self {
            Self::NodeA | Self::NodeB => Runtime::Node,
            Self::ChromiumA | Self::ChromiumB => Runtime::Chromium,
        }
    }

    fn base_id(self) -> &'static str {
        match self {
            Self::NodeA => "node-a",
            Self::NodeB => "node-b",
            Self::ChromiumA => "chromium-a",
            Self::ChromiumB => "chromium-b",
        }
    }
}

/// Who sends and who receives in a pair (None: the raw webrtc-rs anchor).
fn ends(stack: Stack) -> Option<(Option<Who>, Option<Who>)> {
    Some(match stack {
        Stack::RustRust => (None, None),
        Stack::RustNode => (None, Some(Who::NodeA)),
        Stack::RustChromium => (None, Some(Who::ChromiumA)),
        Stack::NodeNode => (Some(Who::NodeA), Some(Who::NodeB)),
        Stack::ChromiumChromium => (Some(Who::ChromiumA), Some(Who::ChromiumB)),
        _ => return None,
    })
}

enum Link {
    Rust {
        out: DataConnection,
        inc: DataConnection,
    },
    RustJs {
        out: DataConnection,
        js: Who,
        id: String,
    },
    Js {
        a: Who,
        b: Who,
        id: String,
    },
    Raw(raw::Pair),
}

fn js_serialization(s: Serialization) -> &'static str {
    match s {
        Serialization::Raw => "raw",
        Serialization::MsgPack => "MsgPack",
        Serialization::Json => "json",
        _ => "binary",
    }
}

struct Ctx {
    config: Config,
    port: u16,
    start: Instant,
    sender: Peer,
    receiver: ours::Acceptor,
    js: BTreeMap<Who, JsPeer>,
    /// Why a JS peer could not be started (its cases are n/a).
    js_missing: BTreeMap<Who, String>,
    restarts: usize,
    figures: Vec<Figure>,
}

impl Ctx {
    fn progress(&self, text: impl AsRef<str>) {
        println!(
            "[{:>5.0}s] {}",
            self.start.elapsed().as_secs_f64(),
            text.as_ref()
        );
    }

    async fn start_js(&mut self, who: Who) {
        let id = if self.restarts == 0 {
            who.base_id().to_owned()
        } else {
            format!("{}-{}", who.base_id(), self.restarts)
        };
        match JsPeer::start(who.runtime(), self.port, &id).await {
            Ok(peer) => {
                self.js.insert(who, peer);
                self.js_missing.remove(&who);
            }
            Err(e) => {
                self.progress(format!("{who:?} did not start: {e}"));
                self.js_missing.insert(who, e);
            }
        }
    }

    /// Replaces a JS peer that may be stuck after a failed case.
    async fn restart_js(&mut self, who: Who) {
        self.js.remove(&who);
        self.restarts += 1;
        self.start_js(who).await;
    }

    fn js(&mut self, who: Who) -> Result<&mut JsPeer, String> {
        match self.js.get_mut(&who) {
            Some(p) => Ok(p),
            None => Err(self
                .js_missing
                .get(&who)
                .cloned()
                .unwrap_or_else(|| format!("{who:?} is not running"))),
        }
    }

    /// The root pids whose CPU time a case on `stack` accounts.
    fn procs(&self, stack: Stack) -> Vec<(&'static str, u32)> {
        let mut procs = vec![("bench", std::process::id())];
        if let Some((a, b)) = ends(stack) {
            for (name, who) in [("js-sender", a), ("js-receiver", b)] {
                if let Some(p) = who.and_then(|w| self.js.get(&w)) {
                    procs.push((name, p.pid()));
                }
            }
        }
        procs
    }

    async fn open(&mut self, stack: Stack, ser: Serialization) -> Result<Link, String> {
        let options = ours::connect_options(ser);
        match ends(stack) {
            None => Ok(Link::Raw(raw::pair().await?)),
            Some((None, None)) => {
                let out = self
                    .sender
                    .connect(&self.receiver.id, options)
                    .await
                    .map_err(|e| format!("connect: {e}"))?;
                let inc = self.receiver.next().await?;
                Ok(Link::Rust { out, inc })
            }
            Some((None, Some(js))) => {
                let target = self.js(js)?.id.clone();
                let out = self
                    .sender
                    .connect(&target, options)
                    .await
                    .map_err(|e| format!("connect: {e}"))?;
                let id = out.connection_id().to_owned();
                let peer = self.js(js)?;
                peer.conn_event("connection", &id).await?;
                peer.conn_event("conn-open", &id).await?;
                Ok(Link::RustJs { out, js, id })
            }
            Some((Some(a), Some(b))) => {
                let target = self.js(b)?.id.clone();
                let id = self
                    .js(a)?
                    .connect(
                        &target,
                        json!({"serialization": js_serialization(ser), "reliable": true}),
                    )
                    .await?;
                self.js(a)?.conn_event("conn-open", &id).await?;
                self.js(b)?.conn_event("connection", &id).await?;
                self.js(b)?.conn_event("conn-open", &id).await?;
                Ok(Link::Js { a, b, id })
            }
            Some((Some(_), None)) => Err("no such pair".to_owned()),
        }
    }

    async fn close(&mut self, link: Link) {
        match link {
            Link::Rust { out, inc } => {
                out.close().await;
                drop(inc);
            }
            Link::RustJs { out, js, .. } => {
                out.close().await;
                if let Ok(p) = self.js(js) {
                    p.clear_backlog();
                }
            }
            Link::Js { a, b, id } => {
                if let Ok(p) = self.js(a) {
                    p.close(&id).await;
                    p.clear_backlog();
                }
                if let Ok(p) = self.js(b) {
                    p.clear_backlog();
                }
            }
            Link::Raw(pair) => pair.close().await,
        }
    }

    /// Sends `count` messages of `size` bytes over `link`; the time until the receiver had
    /// them all.
    async fn transfer(
        &mut self,
        link: &Link,
        size: usize,
        count: usize,
        limit: Duration,
    ) -> Result<Duration, String> {
        let work = async {
            match link {
                Link::Raw(pair) => pair.transfer(size, count).await,
                Link::Rust { out, inc } => {
                    let start = Instant::now();
                    let sender = ours::spawn_sender(out.clone(), size, count);
                    let received = until_received(ours::receive(inc, count), sender).await?;
                    let elapsed = start.elapsed();
                    check_bytes(received, size * count)?;
                    Ok(elapsed)
                }
                Link::RustJs { out, js, id } => {
                    let peer = self.js.get_mut(js).ok_or("the JS peer is gone")?;
                    peer.command(
                        json!({"cmd": "bench-sink", "connectionId": id, "messages": count}),
                        Duration::from_secs(10),
                    )
                    .await?;
                    let start = Instant::now();
                    let sender = ours::spawn_sender(out.clone(), size, count);
                    let done = until_received(
                        peer.expect("bench-done", limit, |e| {
                            e["event"] == "bench-done" && e["connectionId"] == *id
                        }),
                        sender,
                    )
                    .await?;
                    let elapsed = start.elapsed();
                    check_bytes(done["bytes"].as_u64().unwrap_or(0) as usize, size * count)?;
                    Ok(elapsed)
                }
                Link::Js { a, b, id } => {
                    let receiver = self.js.get_mut(b).ok_or("the JS receiver is gone")?;
                    receiver
                        .command(
                            json!({"cmd": "bench-sink", "connectionId": id, "messages": count}),
                            Duration::from_secs(10),
                        )
                        .await?;
                    let sender = self.js.get_mut(a).ok_or("the JS sender is gone")?;
                    let start = Instant::now();
                    let seq = sender.submit(
                        json!({"cmd": "bench-send", "connectionId": id, "count": count, "size": size}),
                    );
                    let receiver = self.js.get_mut(b).ok_or("the JS receiver is gone")?;
                    let done = receiver
                        .expect("bench-done", limit, |e| {
                            e["event"] == "bench-done" && e["connectionId"] == *id
                        })
                        .await?;
                    let elapsed = start.elapsed();
                    let sender = self.js.get_mut(a).ok_or("the JS sender is gone")?;
                    sender.reply(seq, Duration::from_secs(10)).await?;
                    check_bytes(done["bytes"].as_u64().unwrap_or(0) as usize, size * count)?;
                    Ok(elapsed)
                }
            }
        };
        tokio::time::timeout(limit + Duration::from_secs(5), work)
            .await
            .map_err(|_| format!("timed out after {limit:?}"))?
    }

    /// Ping-pong round trips over `link` (ms each).
    async fn rtts(&mut self, link: &Link, size: usize) -> Result<Vec<f64>, String> {
        let (count, warmup) = (self.config.rtt_pings, self.config.rtt_warmup);
        let limit = Duration::from_secs(120);
        let work = async {
            match link {
                Link::Raw(pair) => pair.rtts(size, count, warmup).await,
                Link::Rust { out, inc } => {
                    let echo = ours::spawn_echo(inc.clone());
                    let result = ours::rtts(out, size, count, warmup).await;
                    echo.abort();
                    result
                }
                Link::RustJs { out, js, id } => {
                    let peer = self.js.get_mut(js).ok_or("the JS peer is gone")?;
                    peer.command(
                        json!({"cmd": "bench-echo", "connectionId": id}),
                        Duration::from_secs(10),
                    )
                    .await?;
                    ours::rtts(out, size, count, warmup).await
                }
                Link::Js { a, b, id } => {
                    let echo = self.js.get_mut(b).ok_or("the JS receiver is gone")?;
                    echo.command(
                        json!({"cmd": "bench-echo", "connectionId": id}),
                        Duration::from_secs(10),
                    )
                    .await?;
                    let pinger = self.js.get_mut(a).ok_or("the JS sender is gone")?;
                    let reply = pinger
                        .command(
                            json!({"cmd": "bench-ping", "connectionId": id, "count": count, "size": size, "warmup": warmup}),
                            limit,
                        )
                        .await?;
                    Ok(reply["rtts"]
                        .as_array()
                        .map(|a| a.iter().filter_map(Json::as_f64).collect())
                        .unwrap_or_default())
                }
            }
        };
        tokio::time::timeout(limit + Duration::from_secs(5), work)
            .await
            .map_err(|_| format!("timed out after {limit:?}"))?
    }

    /// After a failed case: replaces the JS peers it used.
    async fn recover(&mut self, stack: Stack) {
        if let Some((a, b)) = ends(stack) {
            for who in [a, b].into_iter().flatten() {
                self.progress(format!("restarting {who:?} after a failure"));
                self.restart_js(who).await;
            }
        }
    }
}

/// `received`'s result, unless the sender fails first.
async fn until_received<T>(
    received: impl Future<Output = Result<T, String>>,
    mut sender: tokio::task::JoinHandle<Result<(), String>>,
) -> Result<T, String> {
    tokio::pin!(received);
    let mut sent = false;
    loop {
        tokio::select! {
            r = &mut received => return r,
            r = &mut sender, if !sent => {
                sent = true;
                match r {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Err(e),
                    Err(e) => return Err(e.to_string()),
                }
            }
        }
    }
}

fn check_bytes(got: usize, want: usize) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("the receiver counted {got} bytes, not {want}"))
    }
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

fn summary(sorted: &[f64]) -> Json {
    let mean = sorted.iter().sum::<f64>() / sorted.len().max(1) as f64;
    json!({
        "n": sorted.len(),
        "min": sys::round(sorted.first().copied().unwrap_or(f64::NAN), 3),
        "mean": sys::round(mean, 3),
        "p50": sys::round(percentile(sorted, 50.0), 3),
        "p90": sys::round(percentile(sorted, 90.0), 3),
        "p99": sys::round(percentile(sorted, 99.0), 3),
        "max": sys::round(sorted.last().copied().unwrap_or(f64::NAN), 3),
    })
}

// ---------------------------------------------------------------------------------------------
// Sections
// ---------------------------------------------------------------------------------------------

const SERIALIZATIONS: [(Serialization, &str); 3] = [
    (Serialization::Binary, "binary"),
    (Serialization::Raw, "raw"),
    (Serialization::MsgPack, "MsgPack"),
];

async fn throughput(ctx: &mut Ctx) {
    let total = ctx.config.throughput_bytes;
    let limit = Duration::from_secs(if ctx.config.quick { 60 } else { 240 });
    for size in SIZES {
        let count = total / size;
        for (ser, ser_name) in SERIALIZATIONS {
            for stack in Stack::PAIRS {
                if !ctx.config.pair(stack) {
                    continue;
                }
                // The raw anchor has no serialization: measured once per size.
                if stack == Stack::WebrtcRs && ser != Serialization::Raw {
                    continue;
                }
                let figure = Figure::new("throughput", "throughput", stack, "MB/s")
                    .serialization(if stack == Stack::WebrtcRs {
                        "raw bytes"
                    } else {
                        ser_name
                    })
                    .message_bytes(size)
                    .parameters(json!({
                        "total_bytes": count * size,
                        "messages": count,
                        "reliable": true,
                        "ordered": true,
                    }));
                let js_raw = matches!(stack, Stack::NodeNode | Stack::ChromiumChromium);
                if ser == Serialization::Raw && js_raw && size > MAX_MESSAGE_SIZE {
                    ctx.figures.push(figure.value(Err(format!(
                        "a raw message of {size} bytes is above the channel's max-message-size \
                         ({MAX_MESSAGE_SIZE}): PeerJS sends raw messages as they are"
                    ))));
                    continue;
                }
                let procs = ctx.procs(stack);
                let link = match ctx.open(stack, ser).await {
                    Ok(link) => link,
                    Err(e) => {
                        ctx.progress(format!(
                            "throughput {ser_name} {size} {}: {e}",
                            stack.label()
                        ));
                        ctx.figures.push(figure.value(Err(format!("setup: {e}"))));
                        ctx.recover(stack).await;
                        continue;
                    }
                };
                let meter = sys::Meter::start(&procs);
                let result = ctx.transfer(&link, size, count, limit).await;
                let observed = meter.stop();
                // A refused send leaves the connection usable; anything else may leave it busy.
                let failed = result.as_ref().is_err_and(|e| !e.starts_with("send:"));
                let mbps = result.map(|d| (count * size) as f64 / d.as_secs_f64() / 1e6);
                ctx.progress(format!(
                    "throughput {:<7} {:>7} {:<28} {}   (cpu {} %, rcvbuf drops {})",
                    ser_name,
                    size_label(size),
                    stack.label(),
                    match &mbps {
                        Ok(v) => format!("{v:>8.1} MB/s"),
                        Err(e) => format!("n/a: {e}"),
                    },
                    observed["machine_cpu_busy_pct"],
                    observed["udp_rcvbuf_errors"]
                ));
                ctx.figures.push(figure.value(mbps).observed(observed));
                if failed {
                    // The connection may still be busy: start afresh.
                    drop(link);
                    ctx.recover(stack).await;
                } else {
                    ctx.close(link).await;
                }
            }
        }
    }
}

fn size_label(bytes: usize) -> String {
    if bytes >= MIB {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= KIB {
        format!("{} KiB", bytes / KIB)
    } else {
        format!("{bytes} B")
    }
}

/// Setup samples: create → open and connect() → open (ms), and the connections that failed.
type Samples = (Vec<f64>, Vec<f64>, Vec<String>);

async fn setup(ctx: &mut Ctx) {
    let n = ctx.config.setup_connections;
    let warmup = ctx.config.setup_warmup;
    // A dedicated acceptor: it keeps each connection until the other side goes.
    let target = match ours::Acceptor::start(ctx.port, "rust-setup-target").await {
        Ok(t) => {
            let id = t.id.clone();
            let _peer = t.hold_all();
            Some(id)
        }
        Err(e) => {
            ctx.progress(format!("setup: {e}"));
            None
        }
    };
    for stack in Stack::PAIRS {
        if !ctx.config.pair(stack) {
            continue;
        }
        let procs = ctx.procs(stack);
        let meter = sys::Meter::start(&procs);
        let result: Result<Samples, String> = async {
            match ends(stack) {
                None => {
                    let (mut create, mut connect) = (Vec::new(), Vec::new());
                    for i in 0..n + warmup {
                        let pair = raw::pair().await?;
                        if i >= warmup {
                            create.push(pair.create_to_open.as_secs_f64() * 1e3);
                            connect.push(pair.offer_to_open.as_secs_f64() * 1e3);
                        }
                        pair.close().await;
                    }
                    Ok((create, connect, Vec::new()))
                }
                Some((None, receiver)) => {
                    let target = match receiver {
                        None => target.clone().ok_or("no Rust target")?,
                        Some(js) => ctx.js(js)?.id.clone(),
                    };
                    let (mut create, mut connect, failures) =
                        ours::setup(ctx.port, &target, n + warmup).await?;
                    if let Some(js) = receiver {
                        ctx.js(js)?.clear_backlog();
                    }
                    let skip = warmup.min(create.len());
                    Ok((create.split_off(skip), connect.split_off(skip), failures))
                }
                Some((Some(a), Some(b))) => {
                    let target = ctx.js(b)?.id.clone();
                    let reply = ctx
                        .js(a)?
                        .command(
                            json!({"cmd": "bench-setup", "peer": target, "count": n + warmup}),
                            Duration::from_secs(600),
                        )
                        .await?;
                    ctx.js(b)?.clear_backlog();
                    let list = |key: &str| -> Vec<f64> {
                        reply[key]
                            .as_array()
                            .map(|a| a.iter().skip(warmup).filter_map(Json::as_f64).collect())
                            .unwrap_or_default()
                    };
                    let failures = reply["failures"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .map(|f| f.as_str().unwrap_or("?").to_owned())
                                .collect()
                        })
                        .unwrap_or_default();
                    Ok((list("create"), list("connect"), failures))
                }
                Some((Some(_), None)) => Err("no such pair".to_owned()),
            }
        }
        .await;
        let observed = meter.stop();
        match result {
            Ok((create, connect, failures)) => {
                let (create, connect) = (sorted(create), sorted(connect));
                if !failures.is_empty() {
                    ctx.progress(format!(
                        "setup {}: {} connections did not open: {}",
                        stack.label(),
                        failures.len(),
                        failures.first().map_or("", String::as_str)
                    ));
                }
                ctx.progress(format!(
                    "setup {:<28} create → open p50 {:.1} ms p99 {:.1} ms; connect() → open p50 {:.1} ms p99 {:.1} ms",
                    stack.label(),
                    percentile(&create, 50.0),
                    percentile(&create, 99.0),
                    percentile(&connect, 50.0),
                    percentile(&connect, 99.0)
                ));
                for (name, samples) in [("create_to_open", &create), ("connect_to_open", &connect)]
                {
                    for p in [50.0, 99.0] {
                        ctx.figures.push(
                            Figure::new("setup", &format!("{name}_p{p}"), stack, "ms")
                                .connections(1)
                                .value(Ok(percentile(samples, p)))
                                .parameters(json!({"connections": samples.len(), "warmup": warmup, "serialization": "binary", "reliable": false}))
                                .observed(json!({"samples": summary(samples), "failures": failures, "cpu": observed})),
                        );
                    }
                }
            }
            Err(e) => {
                ctx.progress(format!("setup {}: {e}", stack.label()));
                for metric in [
                    "create_to_open_p50",
                    "create_to_open_p99",
                    "connect_to_open_p50",
                    "connect_to_open_p99",
                ] {
                    ctx.figures.push(
                        Figure::new("setup", metric, stack, "ms")
                            .connections(1)
                            .value(Err(e.clone())),
                    );
                }
                ctx.recover(stack).await;
            }
        }
    }
}

async fn messages(ctx: &mut Ctx) {
    let count = ctx.config.rate_messages;
    for size in [1usize, 100] {
        for stack in Stack::PAIRS {
            if !ctx.config.pair(stack) {
                continue;
            }
            let base = |metric: &str, unit: &'static str| {
                Figure::new("messages", metric, stack, unit)
                    .message_bytes(size)
                    .serialization(if stack == Stack::WebrtcRs {
                        "raw bytes"
                    } else {
                        "binary"
                    })
            };
            let procs = ctx.procs(stack);
            // Rate: a fresh connection, `count` messages one way.
            let rate = async {
                let link = ctx.open(stack, Serialization::Binary).await?;
                let meter = sys::Meter::start(&procs);
                let result = ctx
                    .transfer(&link, size, count, Duration::from_secs(120))
                    .await;
                let observed = meter.stop();
                let result = result.map(|d| (count as f64 / d.as_secs_f64(), observed));
                if result.is_ok() {
                    ctx.close(link).await;
                }
                result
            }
            .await;
            let rate_failed = rate.is_err();
            let (rate_value, rate_observed) = match rate {
                Ok((v, o)) => (Ok(v), o),
                Err(e) => (Err(e), Json::Null),
            };
            ctx.figures.push(
                base("rate", "msg/s")
                    .value(rate_value.clone())
                    .parameters(json!({"messages": count, "reliable": true}))
                    .observed(rate_observed),
            );
            if rate_failed {
                ctx.recover(stack).await;
            }
            // Round trips: a fresh connection, the receiver echoing.
            let rtt = async {
                let link = ctx.open(stack, Serialization::Binary).await?;
                let result = ctx.rtts(&link, size).await;
                if result.is_ok() {
                    ctx.close(link).await;
                }
                result.map(sorted)
            }
            .await;
            match &rtt {
                Ok(samples) => ctx.progress(format!(
                    "messages {:>5} {:<28} {}; RTT p50 {:.3} ms p99 {:.3} ms",
                    size_label(size),
                    stack.label(),
                    match &rate_value {
                        Ok(v) => format!("{v:>8.0} msg/s"),
                        Err(e) => format!("rate n/a: {e}"),
                    },
                    percentile(samples, 50.0),
                    percentile(samples, 99.0)
                )),
                Err(e) => ctx.progress(format!(
                    "messages {} {}: RTT n/a: {e}",
                    size_label(size),
                    stack.label()
                )),
            }
            for p in [50.0, 99.0] {
                let value = rtt.as_ref().map(|s| percentile(s, p)).map_err(Clone::clone);
                ctx.figures.push(
                    base(&format!("rtt_p{p}"), "ms")
                        .value(value)
                        .parameters(json!({"pings": ctx.config.rtt_pings, "warmup": ctx.config.rtt_warmup, "reliable": true}))
                        .observed(rtt.as_ref().map_or(Json::Null, |s| summary(s))),
                );
            }
            if rtt.is_err() {
                ctx.recover(stack).await;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

async fn run(config: Config) -> Result<(), String> {
    let start = Instant::now();
    let date = sys::utc_now();
    let load_start = sys::loadavg();
    let machine = sys::machine();
    println!(
        "performance suite{}: {} on {} ({} cores), load average {:?}, rmem_max {}",
        if config.quick { " (quick)" } else { "" },
        date,
        machine["cpu"].as_str().unwrap_or("?"),
        machine["cores"],
        load_start,
        machine["net.core.rmem_max"]
    );
    let server = Server::bind(ServerOptions::default().port(0))
        .await
        .map_err(|e| format!("server: {e}"))?;
    let port = server.local_addr().port();
    let sender = Peer::new(ours::options(port).id("rust-a"))
        .await
        .map_err(|e| format!("peer rust-a: {e}"))?;
    let receiver = ours::Acceptor::start(port, "rust-b").await?;
    let mut ctx = Ctx {
        config,
        port,
        start,
        sender,
        receiver,
        js: BTreeMap::new(),
        js_missing: BTreeMap::new(),
        restarts: 0,
        figures: Vec::new(),
    };
    let pair_sections = ["throughput", "setup", "messages"]
        .iter()
        .any(|s| ctx.config.section(s));
    if pair_sections {
        for who in [Who::NodeA, Who::NodeB, Who::ChromiumA, Who::ChromiumB] {
            let needed = Stack::PAIRS.iter().any(|&s| {
                ctx.config.pair(s) && ends(s).is_some_and(|(a, b)| a == Some(who) || b == Some(who))
            });
            if !needed {
                continue;
            }
            if let Some(why) = js::missing_prerequisites(who.runtime() == Runtime::Chromium) {
                ctx.js_missing.insert(who, why);
                continue;
            }
            ctx.start_js(who).await;
        }
        ctx.progress(format!(
            "peers ready: rust-a, rust-b, {}",
            ctx.js
                .values()
                .map(|p| p.name.clone())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if ctx.config.section("throughput") {
        throughput(&mut ctx).await;
    }
    if ctx.config.section("setup") {
        setup(&mut ctx).await;
    }
    if ctx.config.section("messages") {
        messages(&mut ctx).await;
    }
    // The browsers and Node peers go before the scale runs, which want the machine.
    ctx.js.clear();
    if ctx.config.section("scale") {
        let counts = ctx.config.scale.counts.clone();
        let figures = {
            let progress = |text: String| ctx.progress(text);
            scale::run(port, &ctx.config.scale, &counts, &progress).await
        };
        ctx.figures.extend(figures);
    }
    let load_end = sys::loadavg();
    let codec = ctx.config.codec.as_ref().and_then(|p| {
        let text = std::fs::read_to_string(p)
            .map_err(|e| ctx.progress(format!("codec results {}: {e}", p.display())))
            .ok()?;
        serde_json::from_str::<Json>(&text).ok()
    });
    write_results(&mut ctx, &date, machine, load_start, load_end, codec)?;
    server.shutdown().await;
    coverage(&ctx)
}

/// Fails when a section measured nothing at all for a stack it ran: the suite itself is broken
/// there (slow figures never fail it).
fn coverage(ctx: &Ctx) -> Result<(), String> {
    let mut empty = Vec::new();
    let mut seen = BTreeMap::new();
    for f in &ctx.figures {
        *seen.entry((f.section, f.stack)).or_insert(false) |= f.value.is_some();
    }
    for ((section, stack), measured) in seen {
        if !measured {
            empty.push(format!("{section} {stack}"));
        }
    }
    if empty.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "nothing measured for: {} (see the n/a reasons in the results)",
            empty.join(", ")
        ))
    }
}

fn write_results(
    ctx: &mut Ctx,
    date: &str,
    machine: Json,
    load_start: [f64; 3],
    load_end: [f64; 3],
    codec: Option<Json>,
) -> Result<(), String> {
    let config = &ctx.config;
    report::compute_ratios(&mut ctx.figures);
    let targets = report::targets(&ctx.figures);
    let observations = report::observations(&ctx.figures);
    let mut results = json!({
        "schema": 1,
        "date": date,
        "quick": config.quick,
        "command": config.command,
        "machine": machine,
        "load_average": {"start": load_start, "end": load_end},
        "network": if config.netns { "a network namespace with only lo (unshare -n)" } else { "the host's loopback" },
        "duration_s": sys::round(ctx.start.elapsed().as_secs_f64(), 1),
        "parameters": {
            "throughput_bytes": config.throughput_bytes,
            "message_sizes": SIZES,
            "setup_connections": config.setup_connections,
            "setup_warmup": config.setup_warmup,
            "rate_messages": config.rate_messages,
            "rtt_pings": config.rtt_pings,
            "rtt_warmup": config.rtt_warmup,
            "scale_counts": config.scale.counts,
            "scale_probe_cap": config.scale.probe_cap,
            "scale_concurrency": config.scale.concurrency,
            "js_sender_max_queued_bytes": 16 * MIB,
        },
        "method": method(),
        "targets": targets,
        "observations": observations,
        "figures": ctx.figures,
        "codec": codec,
    });
    let out = &config.out;
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let chart_title = format!(
        "Data-channel throughput on loopback, {} per case ({date}{})",
        size_label(config.throughput_bytes),
        if config.quick { ", quick run" } else { "" }
    );
    let chart = report::chart(&ctx.figures, &chart_title);
    let targets = results["targets"]
        .as_array()
        .map_or(&[][..], Vec::as_slice)
        .to_vec();
    let markdown_in_out = report::markdown(
        &results,
        &ctx.figures,
        &targets,
        &report::Layout {
            chart: "throughput.svg",
            full_tables: None,
        },
    );
    let write = |name: &str, text: &str| {
        let path = out.join(name);
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
    };
    results["figures"] = serde_json::to_value(&ctx.figures).map_err(|e| e.to_string())?;
    write(
        "results.json",
        &(serde_json::to_string_pretty(&results).map_err(|e| e.to_string())? + "\n"),
    )?;
    write(
        "results.md",
        &format!("# Performance results\n\n{markdown_in_out}"),
    )?;
    write("throughput.svg", &chart)?;
    ctx.progress(format!(
        "wrote {}/results.json, results.md, throughput.svg",
        out.display()
    ));
    if let Some(readme) = &config.readme {
        let relative = out
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap_or(out)
            .display()
            .to_string();
        let markdown = report::markdown(
            &results,
            &ctx.figures,
            &targets,
            &report::Layout {
                chart: &format!("{relative}/throughput.svg"),
                full_tables: Some(&format!("{relative}/results.md")),
            },
        );
        report::rewrite_readme(readme, &markdown)?;
        ctx.progress(format!(
            "rewrote the benchmark region of {}",
            readme.display()
        ));
    }
    Ok(())
}

/// How the figures were taken, for the result file.
fn method() -> Json {
    json!({
        "units": "MB = 10^6 bytes; KiB = 1024 bytes (VmRSS is in KiB); ms",
        "ratios": "ratio = figure ÷ anchor; better_by = how many times better than the anchor (the ratio where higher is better, its inverse for times and memory)",
        "throughput": "a fresh reliable, ordered connection per case; the sender sends the volume as messages of the given size as fast as backpressure allows; timed from the first send until the receiver has every message (JS receivers report when the count is reached; JS-involved times include one hop of the JSON-line pipe, about a millisecond). Rust senders: DataConnection::send_value, which waits while the channel's send buffer is full. JS senders: PeerJS's own send(), which queues in JS above 8 MiB of bufferedAmount and retries every 50 ms (binary, raw) or awaits its stream (MsgPack); the sending loop also waits while PeerJS's queue holds more than 16 MiB, to bound memory. webrtc-rs: DataChannel::send with a 1 MiB send buffer limit and the kernel's default socket buffers.",
        "setup": "create → open: from creating a Peer (registration with the server, which assigns the id) to the connection's open event at the connecting side; connect() → open: from connect() to that open event; the remote peer exists beforehand and accepts; default connection options (binary, reliable: false); the created peer is destroyed after each connection. webrtc-rs: building both peer connections to open (create), create_offer to open (connect), signaling in memory.",
        "messages": "rate: one way, a fresh connection, timed as throughput; round trips: one message at a time, the other end sending each message back as it arrives, timed at the pinging side (Chromium coarsens performance.now() to 0.1 ms)",
        "scale": "a holder process opens N connections (16 at a time) to a responder peer in another process and keeps them idle; VmRSS of the holder from /proc/<pid>/status after a settling pause, minus its VmRSS once registered, divided by N; marginal = growth since the previous N divided by the connections added",
        "udp": "udp_rcvbuf_errors: the growth of RcvbufErrors in /proc/net/snmp (this network namespace) during the case",
        "cpu": "machine_cpu_busy_pct: share of all cores busy (from /proc/stat) during the case; process_cpu_pct: CPU time of each process tree ÷ wall time (100 = one core)",
    })
}
