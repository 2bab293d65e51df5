//! The results: every figure with its unit, parameters and what the machine did meanwhile; the
//! ratio of each figure to each anchor measured in the same run; the targets of the issue; and
//! the files written from them (`results.json`, `results.md`, the chart, README's region).

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;
use serde_json::{Value as Json, json};

use super::svg;

/// The pairs (and single stacks) measured. Anchors are what the others are compared with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stack {
    RustRust,
    RustNode,
    RustChromium,
    NodeNode,
    ChromiumChromium,
    WebrtcRs,
    /// Scale: one process of ours holding connections.
    RustProcess,
    /// Scale: one PeerJS-in-Node process holding connections.
    NodeProcess,
}

impl Stack {
    pub const PAIRS: [Self; 6] = [
        Self::RustRust,
        Self::RustNode,
        Self::RustChromium,
        Self::NodeNode,
        Self::ChromiumChromium,
        Self::WebrtcRs,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Self::RustRust => "rust-rust",
            Self::RustNode => "rust-node",
            Self::RustChromium => "rust-chromium",
            Self::NodeNode => "node-node",
            Self::ChromiumChromium => "chromium-chromium",
            Self::WebrtcRs => "webrtc-rs",
            Self::RustProcess => "rust",
            Self::NodeProcess => "node",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::RustRust => "Rust → Rust",
            Self::RustNode => "Rust → PeerJS Node",
            Self::RustChromium => "Rust → PeerJS Chromium",
            Self::NodeNode => "PeerJS Node → Node",
            Self::ChromiumChromium => "PeerJS Chromium → Chromium",
            Self::WebrtcRs => "webrtc-rs data channel",
            Self::RustProcess => "peerjs-rs (one process)",
            Self::NodeProcess => "PeerJS 1.5.5 in Node (one process)",
        }
    }

    pub fn is_anchor(self) -> bool {
        matches!(
            self,
            Self::NodeNode | Self::ChromiumChromium | Self::WebrtcRs | Self::NodeProcess
        )
    }

    /// A short name for ratio headings.
    pub fn short(self) -> &'static str {
        match self {
            Self::NodeNode => "Node↔Node",
            Self::ChromiumChromium => "Chromium↔Chromium",
            Self::WebrtcRs => "webrtc-rs",
            Self::NodeProcess => "PeerJS Node",
            other => other.label(),
        }
    }
}

/// A figure's ratio to one anchor.
#[derive(Clone, Debug, Serialize)]
pub struct Ratio {
    pub anchor: &'static str,
    pub anchor_value: f64,
    /// figure ÷ anchor.
    pub ratio: f64,
    /// How many times better than the anchor (>1: better): the ratio for figures where higher
    /// is better, its inverse for times and memory.
    pub better_by: f64,
}

/// One measured figure (or why there is none).
#[derive(Clone, Debug, Serialize)]
pub struct Figure {
    pub section: &'static str,
    pub metric: String,
    pub stack: &'static str,
    pub stack_label: &'static str,
    pub anchor: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serialization: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_bytes: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connections: Option<usize>,
    pub value: Option<f64>,
    pub unit: &'static str,
    pub higher_is_better: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_available: Option<String>,
    pub parameters: Json,
    pub observed: Json,
    pub ratios: Vec<Ratio>,
}

impl Figure {
    pub fn new(section: &'static str, metric: &str, stack: Stack, unit: &'static str) -> Self {
        Self {
            section,
            metric: metric.to_owned(),
            stack: stack.id(),
            stack_label: stack.label(),
            anchor: stack.is_anchor(),
            serialization: None,
            message_bytes: None,
            connections: None,
            value: None,
            unit,
            higher_is_better: matches!(unit, "MB/s" | "msg/s" | "connections"),
            not_available: None,
            parameters: json!({}),
            observed: json!({}),
            ratios: Vec::new(),
        }
    }

    pub fn serialization(mut self, s: &'static str) -> Self {
        self.serialization = Some(s);
        self
    }

    pub fn message_bytes(mut self, n: usize) -> Self {
        self.message_bytes = Some(n);
        self
    }

    pub fn connections(mut self, n: usize) -> Self {
        self.connections = Some(n);
        self
    }

    pub fn parameters(mut self, p: Json) -> Self {
        self.parameters = p;
        self
    }

    pub fn observed(mut self, o: Json) -> Self {
        self.observed = o;
        self
    }

    pub fn value(mut self, v: Result<f64, String>) -> Self {
        match v {
            Ok(v) if v.is_finite() => self.value = Some(v),
            Ok(v) => self.not_available = Some(format!("not a number ({v})")),
            Err(e) => self.not_available = Some(e),
        }
        self
    }

    /// Whether `anchor` measures the same thing (the webrtc-rs anchor has no serialization: it
    /// stands for every one).
    fn comparable(&self, anchor: &Self) -> bool {
        self.section == anchor.section
            && self.metric == anchor.metric
            && self.message_bytes == anchor.message_bytes
            && self.connections == anchor.connections
            && (anchor.stack == Stack::WebrtcRs.id() || self.serialization == anchor.serialization)
    }
}

/// Fills in every non-anchor figure's ratios to the anchors measured in the same run.
pub fn compute_ratios(figures: &mut [Figure]) {
    let anchors: Vec<Figure> = figures.iter().filter(|f| f.anchor).cloned().collect();
    for figure in figures.iter_mut().filter(|f| !f.anchor) {
        let Some(value) = figure.value else { continue };
        figure.ratios = anchors
            .iter()
            .filter(|a| figure.comparable(a))
            .filter_map(|a| {
                let anchor_value = a.value?;
                let ratio = value / anchor_value;
                Some(Ratio {
                    anchor: a.stack,
                    anchor_value,
                    ratio,
                    better_by: if figure.higher_is_better {
                        ratio
                    } else {
                        1.0 / ratio
                    },
                })
            })
            .filter(|r| r.ratio.is_finite())
            .collect();
    }
}

/// A figure's ratio to `anchor`, if both were measured.
fn ratio_of(figures: &[Figure], pick: impl Fn(&Figure) -> bool, anchor: Stack) -> Option<f64> {
    figures
        .iter()
        .find(|f| pick(f))?
        .ratios
        .iter()
        .find(|r| r.anchor == anchor.id())
        .map(|r| r.ratio)
}

fn find(figures: &[Figure], pick: impl Fn(&Figure) -> bool) -> Option<&Figure> {
    figures.iter().find(|f| pick(f))
}

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

/// The targets, judged on this run's figures.
pub fn targets(figures: &[Figure]) -> Vec<Json> {
    let mut out = Vec::new();
    let throughput = |stack: Stack, ser: &'static str, size: usize| {
        move |f: &Figure| {
            f.section == "throughput"
                && f.stack == stack.id()
                && f.serialization == Some(ser)
                && f.message_bytes == Some(size)
        }
    };
    let mut push = |name: &str, figure: Option<f64>, threshold: &str, met: Option<bool>| {
        out.push(json!({
            "target": name,
            "figure": figure,
            "threshold": threshold,
            "met": met,
        }));
    };
    let r = ratio_of(
        figures,
        throughput(Stack::RustRust, "binary", 16 * KIB),
        Stack::NodeNode,
    );
    push(
        "Rust → Rust, binary, 16 KiB messages ÷ PeerJS Node → Node",
        r,
        "≥ 2",
        r.map(|r| r >= 2.0),
    );
    let r = ratio_of(
        figures,
        throughput(Stack::RustRust, "raw", 64 * KIB),
        Stack::NodeNode,
    );
    push(
        "Rust → Rust, raw, 64 KiB messages ÷ PeerJS Node → Node",
        r,
        "≥ 2",
        r.map(|r| r >= 2.0),
    );
    for (ser, pair, anchor, name) in [
        (
            "binary",
            Stack::RustRust,
            Stack::NodeNode,
            "Rust → Rust ÷ PeerJS Node → Node, binary, lowest over 1 KiB … 1 MiB",
        ),
        (
            "raw",
            Stack::RustRust,
            Stack::NodeNode,
            "Rust → Rust ÷ PeerJS Node → Node, raw, lowest over 1 KiB … 1 MiB (where sendable)",
        ),
        (
            "MsgPack",
            Stack::RustRust,
            Stack::NodeNode,
            "Rust → Rust ÷ PeerJS Node → Node, MsgPack, lowest over 1 KiB … 1 MiB",
        ),
        (
            "binary",
            Stack::RustChromium,
            Stack::ChromiumChromium,
            "Rust → PeerJS Chromium ÷ Chromium → Chromium, binary, lowest over sizes",
        ),
        (
            "raw",
            Stack::RustChromium,
            Stack::ChromiumChromium,
            "Rust → PeerJS Chromium ÷ Chromium → Chromium, raw, lowest over sizes",
        ),
        (
            "MsgPack",
            Stack::RustChromium,
            Stack::ChromiumChromium,
            "Rust → PeerJS Chromium ÷ Chromium → Chromium, MsgPack, lowest over sizes",
        ),
    ] {
        let lowest = [KIB, 16 * KIB, 64 * KIB, MIB]
            .into_iter()
            .filter_map(|size| ratio_of(figures, throughput(pair, ser, size), anchor))
            .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.min(r))));
        push(name, lowest, "≥ 1", lowest.map(|r| r >= 1.0));
    }
    for (metric, limit) in [
        ("connect_to_open_p50", 15.0),
        ("connect_to_open_p99", 100.0),
    ] {
        let v = find(figures, |f| {
            f.section == "setup" && f.stack == Stack::RustRust.id() && f.metric == metric
        })
        .and_then(|f| f.value);
        push(
            &format!("Rust → Rust setup, {} (ms)", metric.replace('_', " ")),
            v,
            &format!("≤ {limit}"),
            v.map(|v| v <= limit),
        );
    }
    let per_conn = find(figures, |f| {
        f.section == "scale"
            && f.stack == Stack::RustProcess.id()
            && f.metric == "rss_per_connection"
            && f.connections == Some(1000)
    });
    let v = per_conn.and_then(|f| f.value);
    push(
        "1000 open connections in one process: resident memory per connection (KiB)",
        v,
        "≤ 488 KiB (0.5 MB)",
        v.map(|v| v * 1024.0 <= 500_000.0),
    );
    out
}

// ---------------------------------------------------------------------------------------------
// Markdown
// ---------------------------------------------------------------------------------------------

fn size_label(bytes: usize) -> String {
    if bytes >= MIB && bytes % MIB == 0 {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= KIB && bytes % KIB == 0 {
        format!("{} KiB", bytes / KIB)
    } else {
        format!("{bytes} B")
    }
}

fn number(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn cell(f: Option<&Figure>) -> String {
    match f {
        Some(f) => match (f.value, &f.not_available) {
            (Some(v), _) => number(v),
            (None, Some(_)) => "n/a¹".to_owned(),
            (None, None) => "n/a".to_owned(),
        },
        None => "–".to_owned(),
    }
}

fn brief(text: &str) -> String {
    let first = text.lines().next().unwrap_or_default();
    let mut out: String = first.chars().take(160).collect();
    if first.chars().count() > 160 {
        out.push('…');
    }
    out.replace('|', "/")
}

fn ratio_cell(f: Option<&Figure>, anchor: Stack) -> String {
    f.and_then(|f| f.ratios.iter().find(|r| r.anchor == anchor.id()))
        .map_or("–".to_owned(), |r| format!("{:.2}×", r.better_by))
}

/// A column of a table: its heading, and which figure goes in it.
type Column<'a> = (String, Box<dyn Fn(&Figure) -> bool + 'a>);

/// A table: one row per stack (then one per stack and anchor with the ratios), one column per
/// (heading, picker).
fn table(
    out: &mut String,
    figures: &[Figure],
    stacks: &[Stack],
    anchors: &[Stack],
    columns: &[Column<'_>],
) {
    let _ = write!(out, "| |");
    for (heading, _) in columns {
        let _ = write!(out, " {heading} |");
    }
    let _ = write!(out, "\n|---|");
    for _ in columns {
        let _ = write!(out, "---:|");
    }
    out.push('\n');
    let pick = |stack: Stack, col: &dyn Fn(&Figure) -> bool| {
        figures.iter().find(|f| f.stack == stack.id() && col(f))
    };
    for &stack in stacks {
        let label = if stack.is_anchor() {
            format!("{} *(anchor)*", stack.label())
        } else {
            format!("**{}**", stack.label())
        };
        let cells: Vec<String> = columns.iter().map(|(_, c)| cell(pick(stack, c))).collect();
        if cells.iter().all(|c| c == "–") {
            continue;
        }
        let _ = writeln!(out, "| {label} | {} |", cells.join(" | "));
    }
    for &stack in stacks.iter().filter(|s| !s.is_anchor()) {
        for &anchor in anchors {
            let cells: Vec<String> = columns
                .iter()
                .map(|(_, c)| ratio_cell(pick(stack, c), anchor))
                .collect();
            if cells.iter().all(|c| c == "–") {
                continue;
            }
            let _ = writeln!(
                out,
                "| {} vs {} | {} |",
                stack.label(),
                anchor.short(),
                cells.join(" | ")
            );
        }
    }
    out.push('\n');
}

const PAIR_STACKS: [Stack; 6] = Stack::PAIRS;
const PAIR_ANCHORS: [Stack; 3] = [Stack::NodeNode, Stack::ChromiumChromium, Stack::WebrtcRs];

/// Which tables [`markdown`] writes.
pub struct Layout<'a> {
    /// Where the chart is, relative to the Markdown file.
    pub chart: &'a str,
    /// Where the full tables are, for the short form (README's); `None` writes them all.
    pub full_tables: Option<&'a str>,
}

/// The Markdown tables (without a title: README embeds them).
pub fn markdown(
    results: &Json,
    figures: &[Figure],
    targets: &[Json],
    layout: &Layout<'_>,
) -> String {
    let mut out = String::new();
    let short = layout.full_tables.is_some();
    let machine = &results["machine"];
    let load = &results["load_average"];
    let _ = writeln!(
        out,
        "Measured {} on {} ({} cores, Linux {}, `net.core.rmem_max` = {}), load average {} at \
         the start and {} at the end{}; commit {}. Regenerate with `{}`; every figure below \
         comes from one run, anchors included. Ratios read as *times better than the anchor* \
         (>1 is better: higher throughput or rate, lower latency or memory).",
        results["date"].as_str().unwrap_or("?"),
        machine["cpu"].as_str().unwrap_or("?"),
        machine["cores"],
        machine["kernel"].as_str().unwrap_or("?"),
        machine["net.core.rmem_max"],
        load["start"],
        load["end"],
        if results["quick"] == true {
            " (**quick run**: small volumes, not for comparison)"
        } else {
            ""
        },
        machine["git_commit"].as_str().unwrap_or("?"),
        results["command"].as_str().unwrap_or("?"),
    );
    out.push('\n');

    let _ = writeln!(out, "#### Targets\n");
    let _ = writeln!(
        out,
        "| target | this run | threshold | met |\n|---|---:|---:|:---:|"
    );
    for t in targets {
        let figure = t["figure"].as_f64().map_or("n/a".to_owned(), number);
        let met = match t["met"].as_bool() {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "n/a",
        };
        let _ = writeln!(
            out,
            "| {} | {figure} | {} | {met} |",
            t["target"].as_str().unwrap_or("?"),
            t["threshold"].as_str().unwrap_or("?")
        );
    }
    out.push('\n');

    let params = &results["parameters"];
    if figures.iter().any(|f| f.section == "throughput") {
        let _ = writeln!(
            out,
            "#### Throughput (MB/s, {} per case, reliable ordered channel, with backpressure)\n",
            size_label(params["throughput_bytes"].as_u64().unwrap_or(0) as usize)
        );
        let _ = writeln!(
            out,
            "![throughput against message size]({})\n",
            layout.chart
        );
        let serializations: &[&'static str] = if short {
            &["binary"]
        } else {
            &["binary", "raw", "MsgPack"]
        };
        if let Some(full) = layout.full_tables {
            let _ = writeln!(
                out,
                "Raw and MsgPack, the codec, and what each case cost (CPU, UDP drops): \
                 [{full}]({full}) and `results.json` beside it.\n"
            );
        }
        for &ser in serializations {
            let _ = writeln!(out, "{ser}:\n");
            let columns: Vec<Column<'_>> = [KIB, 16 * KIB, 64 * KIB, MIB]
                .into_iter()
                .map(|size| {
                    let pick: Box<dyn Fn(&Figure) -> bool> = Box::new(move |f: &Figure| {
                        f.section == "throughput"
                            && f.message_bytes == Some(size)
                            && (f.serialization == Some(ser) || f.stack == "webrtc-rs")
                    });
                    (size_label(size), pick)
                })
                .collect();
            table(&mut out, figures, &PAIR_STACKS, &PAIR_ANCHORS, &columns);
        }
    }

    if figures.iter().any(|f| f.section == "setup") {
        let _ = writeln!(
            out,
            "#### Connection setup (ms, {} connections per stack)\n",
            params["setup_connections"]
        );
        let columns: Vec<Column<'_>> = [
            ("create → open p50", "create_to_open_p50"),
            ("create → open p99", "create_to_open_p99"),
            ("connect() → open p50", "connect_to_open_p50"),
            ("connect() → open p99", "connect_to_open_p99"),
        ]
        .into_iter()
        .map(|(h, m)| {
            let pick: Box<dyn Fn(&Figure) -> bool> =
                Box::new(move |f: &Figure| f.section == "setup" && f.metric == m);
            (h.to_owned(), pick)
        })
        .collect();
        table(&mut out, figures, &PAIR_STACKS, &PAIR_ANCHORS, &columns);
    }

    if figures.iter().any(|f| f.section == "messages") {
        let _ = writeln!(
            out,
            "#### Small messages (binary serialization; rate: {} messages one way; round trips: {} pings)\n",
            params["rate_messages"], params["rtt_pings"]
        );
        let mut columns: Vec<Column<'_>> = Vec::new();
        for size in [1usize, 100] {
            for (h, m) in [
                ("msg/s", "rate"),
                ("RTT p50 ms", "rtt_p50"),
                ("RTT p99 ms", "rtt_p99"),
            ] {
                let pick: Box<dyn Fn(&Figure) -> bool> = Box::new(move |f: &Figure| {
                    f.section == "messages" && f.metric == m && f.message_bytes == Some(size)
                });
                columns.push((format!("{size} B {h}"), pick));
            }
        }
        table(&mut out, figures, &PAIR_STACKS, &PAIR_ANCHORS, &columns);
    }

    if figures.iter().any(|f| f.section == "scale") {
        let _ = writeln!(
            out,
            "#### Scale and memory (one process holds N open idle connections to peers in another process)\n"
        );
        let _ = writeln!(
            out,
            "| process | N | VmRSS MiB | per connection KiB | marginal KiB | fds | threads | time to open N s |\n|---|---:|---:|---:|---:|---:|---:|---:|"
        );
        for f in figures
            .iter()
            .filter(|f| f.section == "scale" && f.metric == "rss_per_connection")
        {
            let o = &f.observed;
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                f.stack_label,
                f.connections.unwrap_or(0),
                o["rss_kb"]
                    .as_f64()
                    .map_or("–".into(), |v| number(v / 1024.0)),
                cell(Some(f)),
                o["marginal_kb_per_connection"]
                    .as_f64()
                    .map_or("–".into(), number),
                o["fds"],
                o["threads"],
                o["open_seconds"].as_f64().map_or("–".into(), number),
            );
        }
        for f in figures
            .iter()
            .filter(|f| f.section == "scale" && f.metric == "rss_per_connection" && !f.anchor)
        {
            if let Some(r) = f.ratios.first() {
                let _ = writeln!(
                    out,
                    "| {} vs {} | {} | | {:.2}× | | | | |",
                    f.stack_label,
                    Stack::NodeProcess.short(),
                    f.connections.unwrap_or(0),
                    r.better_by
                );
            }
        }
        out.push('\n');
        for f in figures
            .iter()
            .filter(|f| f.section == "scale" && f.metric == "max_connections")
        {
            let _ = writeln!(
                out,
                "Most connections one process held open ({}): **{}** — {}.\n",
                f.stack_label,
                f.value.map_or("n/a".to_owned(), |v| format!("{v:.0}")),
                f.observed["stopped"].as_str().unwrap_or("?")
            );
        }
    }

    if let Some(codec) = results.get("codec").filter(|c| !c.is_null() && !short) {
        let _ = writeln!(
            out,
            "#### BinaryPack codec (ns per operation, best of 5 batches; ratio = JS ÷ Rust time)\n"
        );
        let _ = writeln!(
            out,
            "| payload | op | packed bytes | Rust ns | JS ns ({}) | Rust MB/s | ratio |\n|---|---|---:|---:|---:|---:|---:|",
            codec["js_library"].as_str().unwrap_or("JS")
        );
        for r in codec["rows"].as_array().into_iter().flatten() {
            let rust = r["rust_ns"].as_f64().unwrap_or(f64::NAN);
            let js = r["js_ns"].as_f64();
            let bytes = r["bytes"].as_f64().unwrap_or(0.0);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.0} | {} | {:.0} | {} |",
                r["payload"].as_str().unwrap_or("?"),
                r["op"].as_str().unwrap_or("?"),
                bytes,
                rust,
                js.map_or("n/a".into(), |v| format!("{v:.0}")),
                bytes / rust * 1e3,
                js.map_or("n/a".into(), |v| format!("{:.1}×", v / rust)),
            );
        }
        out.push('\n');
    }

    let observations = results["observations"].as_array();
    if let Some(list) = observations.filter(|l| !l.is_empty()) {
        let _ = writeln!(out, "#### Observations\n");
        for o in list {
            let _ = writeln!(out, "- {}", o.as_str().unwrap_or("?"));
        }
        out.push('\n');
    }
    let shown = |f: &Figure| {
        !short
            || f.section != "throughput"
            || matches!(f.serialization, Some("binary" | "raw bytes"))
    };
    let missing: Vec<&Figure> = figures
        .iter()
        .filter(|f| f.not_available.is_some() && shown(f))
        .collect();
    if !missing.is_empty() {
        let _ = writeln!(out, "¹ Not measured:\n");
        for f in missing {
            let _ = writeln!(
                out,
                "- {}: {}",
                describe(f),
                brief(f.not_available.as_deref().unwrap_or_default())
            );
        }
        out.push('\n');
    }
    out
}

/// Things seen in the figures that stand in the way of the targets.
pub fn observations(figures: &[Figure]) -> Vec<String> {
    let mut out = Vec::new();
    let mut drops: Vec<(String, u64)> = figures
        .iter()
        .filter_map(|f| {
            let n = f.observed["udp_rcvbuf_errors"].as_u64()?;
            (n > 0).then(|| (describe(f), n))
        })
        .collect();
    drops.sort_by_key(|d| std::cmp::Reverse(d.1));
    if !drops.is_empty() {
        let total: u64 = drops.iter().map(|d| d.1).sum();
        let list: Vec<String> = drops
            .iter()
            .take(8)
            .map(|(d, n)| format!("{d}: {n}"))
            .collect();
        out.push(format!(
            "UDP receive-buffer drops (`RcvbufErrors` in /proc/net/snmp) in {} cases, {total} \
             datagrams in all; most: {}",
            drops.len(),
            list.join("; ")
        ));
    } else {
        out.push("No UDP receive-buffer drops (`RcvbufErrors`) in any case.".to_owned());
    }
    let busy: Vec<String> = figures
        .iter()
        .filter(|f| {
            f.section == "throughput"
                && f.observed["machine_cpu_busy_pct"]
                    .as_f64()
                    .is_some_and(|b| b >= 90.0)
        })
        .map(describe)
        .collect();
    if !busy.is_empty() {
        out.push(format!(
            "Both cores ≥ 90% busy during {} of {} throughput cases (CPU-bound: sender, receiver \
             and, for JS pairs, Node/Chromium share 2 cores)",
            busy.len(),
            figures.iter().filter(|f| f.section == "throughput").count()
        ));
    }
    out
}

fn describe(f: &Figure) -> String {
    let mut s = format!("{} {}", f.section, f.stack_label);
    if let Some(ser) = f.serialization {
        let _ = write!(s, " {ser}");
    }
    if let Some(b) = f.message_bytes {
        let _ = write!(s, " {}", size_label(b));
    }
    if f.section != "throughput" {
        let _ = write!(s, " {}", f.metric);
    }
    if let Some(n) = f.connections {
        let _ = write!(s, " N={n}");
    }
    s
}

/// The chart's series: one line per stack and serialization.
pub fn chart(figures: &[Figure], title: &str) -> String {
    let mut panels = Vec::new();
    for ser in ["binary", "raw", "MsgPack"] {
        let mut series = Vec::new();
        for stack in PAIR_STACKS {
            let points: Vec<(f64, f64)> = figures
                .iter()
                .filter(|f| {
                    f.section == "throughput"
                        && f.stack == stack.id()
                        && (f.serialization == Some(ser) || stack == Stack::WebrtcRs)
                })
                .filter_map(|f| Some((f.message_bytes? as f64, f.value?)))
                .collect();
            if !points.is_empty() {
                series.push(svg::Series {
                    label: if stack.is_anchor() {
                        format!("{} (anchor)", stack.label())
                    } else {
                        stack.label().to_owned()
                    },
                    dashed: stack.is_anchor(),
                    color: color(stack),
                    points,
                });
            }
        }
        panels.push(svg::Panel {
            title: ser.to_owned(),
            series,
        });
    }
    svg::chart(title, "message size", "MB/s", &panels)
}

fn color(stack: Stack) -> &'static str {
    match stack {
        Stack::RustRust => "#d62728",
        Stack::RustNode => "#ff7f0e",
        Stack::RustChromium => "#9467bd",
        Stack::NodeNode => "#2ca02c",
        Stack::ChromiumChromium => "#1f77b4",
        _ => "#7f7f7f",
    }
}

/// Writes `text` between `<!-- bench:start -->` and `<!-- bench:end -->` in `readme`.
pub fn rewrite_readme(readme: &Path, text: &str) -> Result<(), String> {
    const START: &str = "<!-- bench:start -->";
    const END: &str = "<!-- bench:end -->";
    let old = std::fs::read_to_string(readme).map_err(|e| format!("{}: {e}", readme.display()))?;
    let (Some(a), Some(b)) = (old.find(START), old.find(END)) else {
        return Err(format!(
            "{} has no {START} … {END} region",
            readme.display()
        ));
    };
    let new = format!(
        "{}{START}\n<!-- Written by .ci/bench from bench/results.json: do not edit by hand. -->\n\n{}{}",
        &old[..a],
        text,
        &old[b..]
    );
    std::fs::write(readme, new).map_err(|e| format!("{}: {e}", readme.display()))
}
