//! Codec benchmark: our BinaryPack encoder and decoder against peerjs-js-binarypack 2.1.0 (run in
//! Node by `tests/js/bench_codec.mjs`) on the same payloads, in the same run, with the ratio.
//!
//! Run: `cargo bench --bench codec` (needs `npm ci` in `tests/js` first; see README).
//! `-- --json FILE` also writes the table as JSON (the performance suite, `.ci/bench`, includes
//! it); `-- --quick` takes batches of 20 ms instead of 200 ms.
//!
//! Each figure is the best of 5 batches of about 200 ms, in nanoseconds per operation. Encoding
//! writes into a fresh buffer each time and decoding builds a fresh value, as the JS library does.

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use peerjs::Value;
use peerjs::proto::codec::binarypack;

/// The "small" payload; `tests/js/bench_codec.mjs` builds the same object.
fn small() -> Value {
    Value::Map(vec![
        ("id".into(), 12345.into()),
        ("name".into(), "alice".into()),
        ("score".into(), 98.25.into()),
        ("active".into(), true.into()),
        (
            "tags".into(),
            Value::Array(vec!["a".into(), "bb".into(), "ccc".into()]),
        ),
        (
            "pos".into(),
            Value::Map(vec![
                ("x".into(), (-5).into()),
                ("y".into(), 300.into()),
                ("z".into(), 1.5.into()),
            ]),
        ),
        ("note".into(), Value::Nil),
    ])
}

fn binary(len: usize) -> Value {
    Value::Binary((0..len).map(|i| i as u8).collect())
}

/// Best time per operation over 5 batches of about `batch` each.
fn measure(batch: Duration, mut op: impl FnMut()) -> f64 {
    // Warm up and size the batch.
    let mut iters = 1u64;
    loop {
        let t = Instant::now();
        for _ in 0..iters {
            op();
        }
        if t.elapsed() >= batch / 4 {
            break;
        }
        iters *= 2;
    }
    let iters = iters * 4;
    (0..5)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                op();
            }
            t.elapsed().as_nanos() as f64 / iters as f64
        })
        .fold(f64::INFINITY, f64::min)
}

struct Row {
    payload: &'static str,
    op: &'static str,
    bytes: usize,
    rust_ns: f64,
    js_ns: Option<f64>,
}

fn js_results(batch: Duration) -> Result<(String, serde_json::Value), String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/js/bench_codec.mjs");
    let out = Command::new("node")
        .arg(script)
        .env("BATCH_MS", batch.as_millis().to_string())
        .output()
        .map_err(|e| format!("could not run node: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "node {script} failed (did you run `npm ci` in tests/js?):\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or_default();
    let json: serde_json::Value =
        serde_json::from_str(line).map_err(|e| format!("bad output from {script}: {e}: {line}"))?;
    let node = json["node"].as_str().unwrap_or("?").to_owned();
    Ok((node, json))
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this as a smoke test, and
    // `--quick` (the suite's smoke run, in whichever profile) runs it end to end with short
    // batches.
    let args: Vec<String> = std::env::args().collect();
    let quick = !args.iter().any(|a| a == "--bench" || a == "--quick");
    let json_path = args
        .iter()
        .position(|a| a == "--json")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let batch = if quick {
        Duration::from_millis(5)
    } else if args.iter().any(|a| a == "--quick") {
        Duration::from_millis(20)
    } else {
        Duration::from_millis(200)
    };
    let payloads = [
        ("small", small()),
        ("bin16k", binary(16 * 1024)),
        ("bin1m", binary(1 << 20)),
    ];
    let mut rows = Vec::new();
    for (name, value) in &payloads {
        let mut packed = Vec::new();
        binarypack::encode(value, &mut packed).expect("payload encodes");
        let enc = measure(batch, || {
            let mut out = Vec::new();
            binarypack::encode(black_box(value), &mut out).expect("encodes");
            black_box(out);
        });
        let dec = measure(batch, || {
            black_box(binarypack::decode(black_box(&packed)).expect("decodes"));
        });
        rows.push(Row {
            payload: name,
            op: "encode",
            bytes: packed.len(),
            rust_ns: enc,
            js_ns: None,
        });
        rows.push(Row {
            payload: name,
            op: "decode",
            bytes: packed.len(),
            rust_ns: dec,
            js_ns: None,
        });
    }
    // The floor for large binary: copying the bytes once into a fresh buffer.
    let big = vec![7u8; 1 << 20];
    let memcpy = measure(batch, || {
        black_box(black_box(&big).clone());
    });

    if quick {
        println!("codec bench: smoke run only (use `cargo bench --bench codec` for figures)");
        return;
    }
    let node = match js_results(batch) {
        Ok((node, json)) => {
            for r in &mut rows {
                r.js_ns = json["results"].as_array().and_then(|results| {
                    results.iter().find_map(|x| {
                        let lib = x["library"]
                            .as_str()
                            .unwrap_or("peerjs-js-binarypack@2.1.0");
                        (x["payload"] == r.payload && x["op"] == r.op && lib.contains("binarypack"))
                            .then(|| x["ns_per_op"].as_f64())
                            .flatten()
                    })
                });
            }
            node
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };

    println!("BinaryPack codec: peerjs-rs vs peerjs-js-binarypack 2.1.0 (Node {node}), same run");
    println!("best of 5 batches; ns per operation; ratio = JS time / Rust time");
    println!();
    println!("| payload | op | packed bytes | Rust ns/op | JS ns/op | Rust MB/s | ratio |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for r in &rows {
        let mbps = r.bytes as f64 / r.rust_ns * 1e3;
        let (js, ratio) = match r.js_ns {
            Some(js) => (format!("{js:.0}"), format!("{:.1}x", js / r.rust_ns)),
            None => ("n/a".into(), "n/a".into()),
        };
        println!(
            "| {} | {} | {} | {:.0} | {} | {:.0} | {} |",
            r.payload, r.op, r.bytes, r.rust_ns, js, mbps, ratio
        );
    }
    println!();
    println!(
        "memcpy floor: copying 1 MiB into a fresh buffer takes {memcpy:.0} ns ({:.0} MB/s)",
        (1 << 20) as f64 / memcpy * 1e3
    );
    if let Some(path) = json_path {
        let rows: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "payload": r.payload,
                    "op": r.op,
                    "bytes": r.bytes,
                    "rust_ns": r.rust_ns,
                    "js_ns": r.js_ns,
                })
            })
            .collect();
        let json = serde_json::json!({
            "js_library": "peerjs-js-binarypack@2.1.0",
            "node": node,
            "batch_ms": batch.as_millis() as u64,
            "rows": rows,
            "memcpy_1mib_ns": memcpy,
        });
        if let Err(e) = std::fs::write(&path, format!("{json:#}\n")) {
            eprintln!("error: {path}: {e}");
            std::process::exit(1);
        }
    }
}
