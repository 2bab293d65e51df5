//! Scale and memory: one process opens N idle data connections to a peer in another process and
//! holds them; its resident memory (VmRSS of `/proc/<pid>/status`) before and after, per
//! connection. Ours: two children of this benchmark (`--role scale-hold`, `--role
//! scale-accept`); the anchor: two PeerJS peers in Node (node_peer.mjs, `bench-hold`).
//!
//! The children speak the JSON lines of the JS peers: an `open` event once registered, then
//! `{"cmd":"hold","seq":…,"total":n,"concurrency":c}` answered by
//! `{"event":"ok","seq":…,"open":…,"failed":…,"error":…,"ms":…}`.

use std::io::BufRead;
use std::process::Command;
use std::time::{Duration, Instant};

use peerjs::{ConnectOptions, DataConnection, Peer, PeerEvent};
use serde_json::{Value as Json, json};

use super::js::{JsPeer, Runtime};
use super::ours;
use super::report::{Figure, Stack};
use super::sys;

fn arg<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

fn emit(event: &Json) {
    println!("{event}");
}

/// The entry point of a child (`--role scale-hold|scale-accept --port P --id ID [--to ID]`).
pub fn child_main(role: &str, args: &[String]) -> ! {
    let port: u16 = arg(args, "--port")
        .and_then(|p| p.parse().ok())
        .expect("--port");
    let id = arg(args, "--id").expect("--id").to_owned();
    let to = arg(args, "--to").map(str::to_owned);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let code = runtime.block_on(async move {
        let peer = match Peer::new(ours::options(port).id(&id)).await {
            Ok(peer) => peer,
            Err(e) => {
                emit(&json!({"event": "error", "message": e.to_string()}));
                return 1;
            }
        };
        emit(&json!({"event": "open", "id": id}));
        // Commands from stdin, read on a thread.
        let (tx, mut commands) = tokio::sync::mpsc::unbounded_channel::<Json>();
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines().map_while(Result::ok) {
                if let Ok(cmd) = serde_json::from_str(&line) {
                    if tx.send(cmd).is_err() {
                        break;
                    }
                }
            }
        });
        if role == "scale-accept" {
            let events = peer.clone();
            tokio::spawn(async move {
                let mut held = Vec::new();
                while let Some(event) = events.next_event().await {
                    if let PeerEvent::Connection(c) = event {
                        held.push(c);
                    }
                }
            });
            while let Some(cmd) = commands.recv().await {
                emit(&json!({"event": "ok", "seq": cmd["seq"]}));
            }
            return 0;
        }
        let to = to.expect("--to");
        let mut held: Vec<DataConnection> = Vec::new();
        while let Some(cmd) = commands.recv().await {
            let total = cmd["total"].as_u64().unwrap_or(0) as usize;
            let concurrency = cmd["concurrency"].as_u64().unwrap_or(16) as usize;
            let max_failures = cmd["maxFailures"]
                .as_u64()
                .map_or(10.max(total.div_ceil(20)), |m| m as usize);
            let start = Instant::now();
            let mut failed = 0;
            let mut error: Option<String> = None;
            // `concurrency` connections in flight at any time, as the JS holder does.
            let mut pending = tokio::task::JoinSet::new();
            loop {
                while held.len() + pending.len() < total
                    && pending.len() < concurrency
                    && failed < max_failures
                {
                    let (peer, to) = (peer.clone(), to.clone());
                    pending.spawn(async move {
                        peer.connect(
                            &to,
                            ConnectOptions::default().timeout(Duration::from_secs(10)),
                        )
                        .await
                        .map_err(|e| e.to_string())
                    });
                }
                let Some(result) = pending.join_next().await else {
                    break;
                };
                match result.map_err(|e| e.to_string()).and_then(|r| r) {
                    Ok(conn) => held.push(conn),
                    Err(e) => {
                        failed += 1;
                        error.get_or_insert(e);
                    }
                }
            }
            emit(&json!({
                "event": "ok",
                "seq": cmd["seq"],
                "open": held.len(),
                "failed": failed,
                "error": error,
                "ms": start.elapsed().as_secs_f64() * 1e3,
            }));
        }
        0
    });
    // Exit at once: closing thousands of connections one by one is not what is measured.
    std::process::exit(code)
}

/// What one scale run found.
pub struct Plan {
    pub counts: Vec<usize>,
    /// Past the last count, keep going (1000 more at a time) up to this many, for the most a
    /// process holds (ours only).
    pub probe_cap: Option<usize>,
    /// Stop probing after this long.
    pub probe_budget: Duration,
    pub settle: Duration,
    pub concurrency: usize,
}

struct Sample {
    rss_kb: u64,
    fds: usize,
    threads: u64,
}

fn sample(pid: u32) -> Option<Sample> {
    Some(Sample {
        rss_kb: sys::rss_kb(pid)?,
        fds: sys::fd_count(pid)?,
        threads: sys::status_field(pid, "Threads")?,
    })
}

/// Runs the plan with `holder` holding connections to `responder`; one figure per count, then
/// (when probing) the most connections held.
async fn run_one(
    stack: Stack,
    holder: &mut JsPeer,
    responder: &mut JsPeer,
    plan: &Plan,
    progress: &dyn Fn(String),
) -> Vec<Figure> {
    let mut figures = Vec::new();
    tokio::time::sleep(plan.settle).await;
    let (hpid, rpid) = (holder.pid(), responder.pid());
    let Some(base) = sample(hpid) else {
        return vec![
            Figure::new("scale", "rss_per_connection", stack, "KiB")
                .value(Err("cannot read /proc/<pid>/status".to_owned())),
        ];
    };
    let responder_base = sys::rss_kb(rpid).unwrap_or(0);
    let fd_limit = sys::fd_limit().unwrap_or(20_000) as usize;
    let mut previous = (0usize, base.rss_kb);
    let mut counts = plan.counts.clone();
    let probe_start = Instant::now();
    let mut max_open = 0usize;
    let mut stopped = String::new();
    let mut i = 0;
    while i < counts.len() {
        let n = counts[i];
        i += 1;
        let meter = sys::Meter::start(&[("holder", hpid), ("responder", rpid)]);
        let cmd = match stack {
            Stack::NodeProcess => json!({
                "cmd": "bench-hold", "peer": responder.id, "total": n,
                "concurrency": plan.concurrency, "timeoutMs": 30000,
            }),
            _ => json!({"cmd": "hold", "total": n, "concurrency": plan.concurrency}),
        };
        let timeout = Duration::from_secs(60 + n as u64 / 5);
        let reply = holder.command(cmd, timeout).await;
        let observed_cpu = meter.stop();
        let reply = match reply {
            Ok(reply) => reply,
            Err(e) => {
                stopped = format!("stopped at {n}: {e}");
                figures.push(
                    Figure::new("scale", "rss_per_connection", stack, "KiB")
                        .connections(n)
                        .value(Err(e)),
                );
                break;
            }
        };
        responder.clear_backlog();
        let open = reply["open"].as_u64().unwrap_or(0) as usize;
        max_open = max_open.max(open);
        let open_seconds = reply["ms"].as_f64().unwrap_or(f64::NAN) / 1e3;
        tokio::time::sleep(plan.settle).await;
        let Some(now) = sample(hpid) else {
            stopped = format!("stopped at {n}: the holder is gone");
            break;
        };
        let responder_rss = sys::rss_kb(rpid).unwrap_or(0);
        let per_conn = (now.rss_kb as f64 - base.rss_kb as f64) / open.max(1) as f64;
        let marginal = (now.rss_kb as f64 - previous.1 as f64)
            / (open.saturating_sub(previous.0)).max(1) as f64;
        let fds_per_conn = (now.fds as f64 - base.fds as f64) / open.max(1) as f64;
        progress(format!(
            "scale {}: {open} open in {open_seconds:.1} s, VmRSS {:.1} MiB, {per_conn:.0} KiB per connection ({marginal:.0} marginal), {} fds, {} threads",
            stack.label(),
            now.rss_kb as f64 / 1024.0,
            now.fds,
            now.threads
        ));
        let error = reply["error"].as_str().map(str::to_owned);
        let mut figure = Figure::new("scale", "rss_per_connection", stack, "KiB")
            .connections(n)
            .parameters(json!({"concurrency": plan.concurrency, "settle_s": plan.settle.as_secs_f64()}))
            .observed(json!({
                "open": open,
                "failed": reply["failed"],
                "error": error,
                "open_seconds": open_seconds,
                "rss_kb": now.rss_kb,
                "base_rss_kb": base.rss_kb,
                "marginal_kb_per_connection": marginal,
                "fds": now.fds,
                "fds_per_connection": fds_per_conn,
                "threads": now.threads,
                "responder_rss_kb": responder_rss,
                "responder_kb_per_connection": (responder_rss as f64 - responder_base as f64) / open.max(1) as f64,
                "node_heap_used": reply["heapUsed"],
                "while_opening": observed_cpu,
            }));
        if open >= n {
            figure = figure.value(Ok(per_conn));
        } else {
            figure = figure.value(Err(format!(
                "only {open} of {n} opened: {}",
                error.as_deref().unwrap_or("?")
            )));
        }
        figures.push(figure);
        previous = (open, now.rss_kb);
        if open < n {
            stopped = format!("failed at {n}: {}", error.unwrap_or_default());
            break;
        }
        if i == counts.len() {
            let Some(cap) = plan.probe_cap else { break };
            // The holder and the responder each need about fds_per_conn descriptors per
            // connection under the same limit.
            let fd_cap =
                ((fd_limit.saturating_sub(base.fds + 200)) as f64 / fds_per_conn.max(1.0)) as usize;
            let next = (n / 1000 + 1) * 1000;
            if next > cap.min(fd_cap) {
                stopped = if fd_cap < cap {
                    format!(
                        "stopped at the open-file cap: the next step ({next}) would pass about {fd_cap} connections ({fds_per_conn:.1} fds each, limit {fd_limit})"
                    )
                } else {
                    format!("stopped at the configured cap of {cap} connections, all open")
                };
            } else if probe_start.elapsed() > plan.probe_budget {
                stopped = format!(
                    "stopped after the probe's time budget ({:?}), all open",
                    plan.probe_budget
                );
            } else {
                counts.push(next);
            }
        }
    }
    if plan.probe_cap.is_some() {
        figures.push(
            Figure::new("scale", "max_connections", stack, "connections")
                .value(Ok(max_open as f64))
                .observed(json!({"stopped": stopped})),
        );
    }
    figures
}

/// Ours, then the PeerJS-in-Node anchor.
pub async fn run(
    port: u16,
    plan: &Plan,
    node_counts: &[usize],
    progress: &dyn Fn(String),
) -> Vec<Figure> {
    let mut figures = Vec::new();
    let exe = std::env::current_exe().expect("the benchmark's path");
    let child = |role: &str, id: &str, to: Option<&str>| {
        let mut c = Command::new(&exe);
        c.args(["--role", role, "--port", &port.to_string(), "--id", id]);
        if let Some(to) = to {
            c.args(["--to", to]);
        }
        c
    };
    let ours = async {
        let responder = JsPeer::start_command(
            "scale responder".into(),
            "scale-responder",
            child("scale-accept", "scale-responder", None),
        )
        .await?;
        let holder = JsPeer::start_command(
            "scale holder".into(),
            "scale-holder",
            child("scale-hold", "scale-holder", Some("scale-responder")),
        )
        .await?;
        Ok::<_, String>((holder, responder))
    }
    .await;
    match ours {
        Ok((mut holder, mut responder)) => {
            figures.extend(
                run_one(
                    Stack::RustProcess,
                    &mut holder,
                    &mut responder,
                    plan,
                    progress,
                )
                .await,
            );
        }
        Err(e) => figures.push(
            Figure::new("scale", "rss_per_connection", Stack::RustProcess, "KiB").value(Err(e)),
        ),
    }
    let node = async {
        let responder = JsPeer::start(Runtime::Node, port, "scale-node-responder").await?;
        let holder = JsPeer::start(Runtime::Node, port, "scale-node-holder").await?;
        Ok::<_, String>((holder, responder))
    }
    .await;
    let node_plan = Plan {
        counts: node_counts.to_vec(),
        probe_cap: None,
        ..*plan
    };
    match node {
        Ok((mut holder, mut responder)) => {
            figures.extend(
                run_one(
                    Stack::NodeProcess,
                    &mut holder,
                    &mut responder,
                    &node_plan,
                    progress,
                )
                .await,
            );
        }
        Err(e) => figures.push(
            Figure::new("scale", "rss_per_connection", Stack::NodeProcess, "KiB").value(Err(e)),
        ),
    }
    figures
}
