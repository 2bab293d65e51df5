//! The interop suite: Rust peers against the real PeerJS client, in headless Chromium
//! (PeerJS 1.5.5, 1.4.7 and 1.3.2) and in Node (PeerJS 1.5.5 on node-datachannel), signaling
//! through our server and through the official `peer@1.0.2` server.
//!
//! For each stack (where PeerJS runs × server), each direction (the Rust peer offers, or the JS
//! peer does) and each serialization (binary, binary-utf8, json, raw, MsgPack, and binary with
//! `reliable: true`; binary, json and raw for PeerJS 1.3/1.4), one connection carries every
//! vector of that serialization both ways, one at a time: Rust sends and the JS peer reports what
//! it received, then the JS peer sends and Rust checks what it received. What a vector should
//! become is computed at run time by the JS peer with its own PeerJS build's codec (what a PeerJS
//! receiver gets from a PeerJS sender: see `roundtrip` in tests/js/peer_driver.mjs), and a case
//! passes when the value arrives intact or exactly as PeerJS itself delivers it. Where PeerJS
//! loses or refuses a value, Rust must not send it (refusing is fine; a JS peer receiving nothing
//! or something else is a failure); receiving it, Rust may drop it or decode what the bytes say.
//! Then close and errors across the boundary: each side closing, flush-close, connecting to an id
//! that does not exist (on both sides), the JS peer leaving mid-transfer.
//!
//! It prints one line per case and `N passed, M failed`, writes the results matrix (stack ×
//! direction × serialization → passed, failed, the failing cases) to
//! `target/tmp/interop/results.json`, and fails when that matrix differs from the committed
//! `tests/interop/expected.json` (a fixed failure fails too, until the expected matrix is
//! updated: `PEERJS_INTEROP_UPDATE=1`). `PEERJS_INTEROP_ONLY=substring` runs the stacks whose
//! name contains it (and compares only those). The PeerJS 1.5.5 Chromium stacks run beside the
//! others; `PEERJS_INTEROP_SERIAL=1` runs one stack at a time.
//!
//! It re-runs itself inside `unshare -n` (a network namespace with only `lo`), so every ICE
//! candidate is a loopback one; `PEERJS_INTEROP_NO_NETNS=1` runs it in place. Needs `node`,
//! `npm ci` in tests/js, and Chromium (`apt-get install -y chromium chromium-driver`); it fails,
//! never skips, without them.
#![cfg(feature = "server")]

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::js::{
    EVENT_TIMEOUT, JsPeer, JsRuntime, OfficialServer, brief, js_equal, js_of, js_view, pattern,
    require_chromium, require_node_modules,
};
use common::{TestServer, loopback};
use peerjs::proto::codec::Serialization;
use peerjs::server::ServerOptions;
use peerjs::{
    ConnectOptions, DataConnection, Error, ErrorKind, Peer, PeerEvent, PeerOptions, Timestamp,
    Value,
};
use serde_json::{Value as Json, json};

const INNER: &str = "PEERJS_INTEROP_IN_NAMESPACE";
const NO_NETNS: &str = "PEERJS_INTEROP_NO_NETNS";
const UPDATE: &str = "PEERJS_INTEROP_UPDATE";
const ONLY: &str = "PEERJS_INTEROP_ONLY";
const SERIAL: &str = "PEERJS_INTEROP_SERIAL";
const NAME: &str = "interop_suite";

const MIB: usize = 1 << 20;

#[test]
fn interop_suite() {
    if std::env::var_os(INNER).is_some() || std::env::var_os(NO_NETNS).is_some() {
        return run();
    }
    // The prerequisites, checked here too so that their message is the failure's.
    require_prerequisites();
    let status = common::rerun_in_loopback_namespace(NAME, INNER)
        .status()
        .expect("run unshare (util-linux) to create a network namespace");
    assert!(
        status.success(),
        "the interop suite failed (see above; creating the network namespace needs root or \
         CAP_SYS_ADMIN, or set {NO_NETNS}=1 to run it in place)"
    );
}

fn require_prerequisites() {
    require_chromium();
    require_node_modules(&[
        "peerjs",
        "peerjs-1.4.7",
        "peerjs-1.3.2",
        "peer",
        "node-datachannel",
        "ws",
        "@msgpack/msgpack",
        "playwright-core",
    ]);
}

fn run() {
    require_prerequisites();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(suite());
}

// ---------------------------------------------------------------------------------------------
// Stacks, directions, serializations
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ServerKind {
    Ours,
    Official,
}

struct Stack {
    name: &'static str,
    runtime: JsRuntime,
    server: ServerKind,
    serializations: &'static [Ser],
}

impl Stack {
    /// PeerJS 1.3/1.4: JSON in text frames, a `browser` field in OFFER/ANSWER, no flush-close.
    fn legacy(&self) -> bool {
        matches!(self.runtime, JsRuntime::Chromium(v) if v != "1.5.5")
    }
}

const CURRENT: &[Ser] = &[
    Ser::Binary,
    Ser::BinaryUtf8,
    Ser::Json,
    Ser::Raw,
    Ser::MsgPack,
    Ser::BinaryReliable,
];
const LEGACY: &[Ser] = &[Ser::Binary, Ser::Json, Ser::Raw];

fn stacks() -> Vec<Stack> {
    let stack = |name, runtime, server, serializations| Stack {
        name,
        runtime,
        server,
        serializations,
    };
    vec![
        stack(
            "node-1.5.5/ours",
            JsRuntime::Node,
            ServerKind::Ours,
            CURRENT,
        ),
        stack(
            "node-1.5.5/official",
            JsRuntime::Node,
            ServerKind::Official,
            CURRENT,
        ),
        stack(
            "chromium-1.5.5/ours",
            JsRuntime::Chromium("1.5.5"),
            ServerKind::Ours,
            CURRENT,
        ),
        stack(
            "chromium-1.5.5/official",
            JsRuntime::Chromium("1.5.5"),
            ServerKind::Official,
            CURRENT,
        ),
        stack(
            "chromium-1.4.7/ours",
            JsRuntime::Chromium("1.4.7"),
            ServerKind::Ours,
            LEGACY,
        ),
        stack(
            "chromium-1.3.2/ours",
            JsRuntime::Chromium("1.3.2"),
            ServerKind::Ours,
            LEGACY,
        ),
    ]
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Dir {
    /// The Rust peer connects (sends the OFFER).
    RustOffers,
    /// The JS peer connects.
    JsOffers,
}

impl Dir {
    fn name(self) -> &'static str {
        match self {
            Self::RustOffers => "rust-offers",
            Self::JsOffers => "js-offers",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ser {
    Binary,
    BinaryUtf8,
    Json,
    Raw,
    MsgPack,
    /// Binary with `reliable: true` (an ordered channel).
    BinaryReliable,
}

impl Ser {
    /// The matrix column.
    fn name(self) -> &'static str {
        match self {
            Self::Binary => "binary",
            Self::BinaryUtf8 => "binary-utf8",
            Self::Json => "json",
            Self::Raw => "raw",
            Self::MsgPack => "MsgPack",
            Self::BinaryReliable => "binary-reliable",
        }
    }

    fn serialization(self) -> Serialization {
        match self {
            Self::Binary | Self::BinaryReliable => Serialization::Binary,
            Self::BinaryUtf8 => Serialization::BinaryUtf8,
            Self::Json => Serialization::Json,
            Self::Raw => Serialization::Raw,
            Self::MsgPack => Serialization::MsgPack,
        }
    }

    /// The name a JS app passes to `peer.connect`.
    fn js_name(self) -> &'static str {
        self.serialization().legacy_wire_name()
    }

    /// Whether the connection asks for `reliable: true` (MsgPack forces it).
    fn reliable(self) -> bool {
        matches!(self, Self::BinaryReliable | Self::MsgPack)
    }

    fn family(self) -> Family {
        match self {
            Self::Binary | Self::BinaryUtf8 | Self::BinaryReliable => Family::BinaryPack,
            Self::Json => Family::Json,
            Self::Raw => Family::Raw,
            Self::MsgPack => Family::MsgPack,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Family {
    BinaryPack,
    Json,
    Raw,
    MsgPack,
}

// ---------------------------------------------------------------------------------------------
// Vectors
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Flows {
    Both,
    /// Rust → JS only (JS cannot make the value).
    RustToJs,
    /// JS → Rust only (a JS value with no Rust counterpart to send).
    JsToRust,
}

struct Vector {
    name: String,
    /// What Rust sends (when it sends).
    rust: Option<Value>,
    /// What JS sends, tagged (when different from `js_of(rust)`).
    js: Option<Json>,
    flows: Flows,
}

impl Vector {
    fn js_send(&self) -> Json {
        match (&self.js, &self.rust) {
            (Some(js), _) => js.clone(),
            (None, Some(rust)) => js_of(rust),
            (None, None) => Json::Null,
        }
    }

    /// A rough size, for timeouts.
    fn size(&self) -> usize {
        fn size(v: &Value) -> usize {
            match v {
                Value::String(s) => s.len(),
                Value::Binary(b) => b.len(),
                Value::Array(items) => items.iter().map(size).sum::<usize>() + items.len(),
                Value::Map(entries) => entries.iter().map(|(k, v)| size(k) + size(v)).sum(),
                _ => 8,
            }
        }
        self.rust.as_ref().map_or(0, size)
    }
}

fn both(name: impl Into<String>, rust: impl Into<Value>) -> Vector {
    Vector {
        name: name.into(),
        rust: Some(rust.into()),
        js: None,
        flows: Flows::Both,
    }
}

fn rust_only(name: impl Into<String>, rust: impl Into<Value>) -> Vector {
    Vector {
        flows: Flows::RustToJs,
        ..both(name, rust)
    }
}

fn js_only(name: impl Into<String>, js: Json) -> Vector {
    Vector {
        name: name.into(),
        rust: None,
        js: Some(js),
        flows: Flows::JsToRust,
    }
}

/// `len` bytes of the pattern, described to JS as `{"$pattern": len}`.
fn patterned(len: usize) -> Vector {
    Vector {
        name: format!("binary {len} B"),
        rust: Some(Value::Binary(pattern(len))),
        js: Some(json!({"$pattern": len})),
        flows: Flows::Both,
    }
}

/// `unit` repeated `count` times, described to JS as `{"$repeat": [unit, count]}`.
fn repeated(name: impl Into<String>, unit: &str, count: usize) -> Vector {
    Vector {
        name: name.into(),
        rust: Some(Value::from(unit.repeat(count))),
        js: Some(json!({"$repeat": [unit, count]})),
        flows: Flows::Both,
    }
}

fn string_of(len: usize) -> Vector {
    repeated(format!("string {len} B"), "x", len)
}

fn map(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (Value::from(k), v))
            .collect(),
    )
}

fn ints(range: std::ops::Range<i64>) -> Value {
    Value::Array(range.map(Value::Int).collect())
}

fn keys(n: i64) -> Value {
    Value::Map(
        (0..n)
            .map(|i| (Value::from(format!("k{i:02}")), Value::Int(i)))
            .collect(),
    )
}

const UNICODE_BMP: &str = "héllo wörld · Ελληνικά · 日本語 · €";
const UNICODE_ASTRAL: &str = "😀🎉 𝄞 \u{10ffff}";

/// Every value and boundary `ser` can carry, and the JS values it meets.
fn vectors(ser: Ser) -> Vec<Vector> {
    let family = ser.family();
    if family == Family::Raw {
        return vec![
            both("string", "hello"),
            both("string empty", ""),
            both("string unicode", UNICODE_BMP),
            both("string astral", UNICODE_ASTRAL),
            string_of(16_300),
            string_of(262_144),
            both("binary 0 B", Value::Binary(vec![])),
            both("binary 5 B", Value::Binary(vec![0, 1, 2, 3, 255])),
            patterned(16_300),
            patterned(65_536),
            patterned(262_144),
            rust_only("integer", 42),
            rust_only("map", map(vec![("a", 1.into())])),
            js_only("Int16Array", json!({"$typed": ["Int16Array", [1, -1]]})),
            js_only("subarray", json!({"$sub": ["00010203", 1, 3]})),
            // Last, as a PeerJS sender closes the connection when the channel refuses them.
            string_of(262_145),
            patterned(262_145),
            patterned(MIB),
        ];
    }

    let p53: i64 = 1 << 53;
    let mut v = vec![
        // Strings, around every length tag (BinaryPack b0/d8/d9, MessagePack a0/d9/da/db) and
        // the 16300-byte chunk (and JSON size) boundary.
        both("string", "hello"),
        both("string empty", ""),
        both("string unicode", UNICODE_BMP),
        both("string astral", UNICODE_ASTRAL),
        string_of(15),
        string_of(16),
        string_of(31),
        string_of(32),
        string_of(255),
        string_of(256),
        string_of(16_297),
        string_of(16_298),
        string_of(65_535),
        string_of(65_536),
        repeated("string 300000 B unicode", "aé€", 50_000),
        // Integers at every tag boundary.
        both("int 0", 0),
        both("int 1", 1),
        both("int 127", 127),
        both("int 128", 128),
        both("int 255", 255),
        both("int 256", 256),
        both("int 65535", 65_535),
        both("int 65536", 65_536),
        both("int 2^32-1", 4_294_967_295_i64),
        both("int 2^32", 4_294_967_296_i64),
        both("int 2^53-1", p53 - 1),
        both("int 2^53", p53),
        both("int 2^53+1", p53 + 1),
        both("int 2^63-1", i64::MAX),
        both("int 2^63", Value::UInt(1 << 63)),
        both("int 2^64-1", u64::MAX),
        both("int -1", -1),
        both("int -32", -32),
        both("int -33", -33),
        both("int -128", -128),
        both("int -129", -129),
        both("int -32768", -32_768),
        both("int -32769", -32_769),
        both("int -2^31", -2_147_483_648_i64),
        both("int -2^31-1", -2_147_483_649_i64),
        both("int -(2^53-1)", -(p53 - 1)),
        both("int -2^53", -p53),
        both("int -2^63", i64::MIN),
        // Floats.
        both("float 1.5", 1.5),
        both("float -1.5", -1.5),
        both("float 0.1", 0.1),
        both("float pi", std::f64::consts::PI),
        both("float 1e-300", 1e-300),
        both("float 1e300", 1e300),
        both("float 0.0", 0.0),
        both("float -0.0", -0.0),
        both("float 2.0", 2.0),
        both("float max", f64::MAX),
        both("float min positive", f64::MIN_POSITIVE),
        both("float subnormal", 5e-324),
        both("float 1-ulp", 0.999_999_999_999_999_9),
        both("float NaN", f64::NAN),
        both("float Infinity", f64::INFINITY),
        both("float -Infinity", f64::NEG_INFINITY),
        // The rest of the scalars.
        both("true", true),
        both("false", false),
        both("null", Value::Nil),
        // Arrays and maps, around the fix/16/32 tags.
        both("array empty", Value::Array(vec![])),
        both("array 15 items", ints(0..15)),
        both("array 16 items", ints(0..16)),
        both("array 65536 items", ints(0..65_536)),
        both(
            "array mixed",
            Value::Array(vec![
                1.into(),
                "x".into(),
                true.into(),
                Value::Nil,
                2.5.into(),
                Value::Array(vec![]),
                map(vec![]),
            ]),
        ),
        both("map empty", map(vec![])),
        both("map 15 keys", keys(15)),
        both("map 16 keys", keys(16)),
        both(
            "map integer-like keys",
            map(vec![("b", 2.into()), ("a", 1.into()), ("1", 0.into())]),
        ),
        both("map nested", nested()),
        both(
            "map of arrays of maps",
            map(vec![(
                "rows",
                Value::Array(vec![
                    map(vec![
                        ("id", 1.into()),
                        ("tags", Value::Array(vec!["a".into()])),
                    ]),
                    map(vec![("id", 2.into()), ("tags", Value::Array(vec![]))]),
                ]),
            )]),
        ),
        both("map __peerData", map(vec![("__peerData", 1.into())])),
        rust_only(
            "map integer keys",
            Value::Map(vec![(1.into(), "a".into()), (2.into(), "b".into())]),
        ),
        // Binary.
        both("binary 0 B", Value::Binary(vec![])),
        both("binary 5 B", Value::Binary(vec![0, 1, 2, 254, 255])),
        both("binary 15 B", Value::Binary(pattern(15))),
        both("binary 16 B", Value::Binary(pattern(16))),
        both(
            "binary in a map",
            map(vec![
                ("bytes", Value::Binary(vec![0, 1, 2, 254, 255])),
                ("empty", Value::Binary(vec![])),
            ]),
        ),
        // JS values with no Rust counterpart.
        js_only("Date", json!({"$date": 1_700_000_000_123_i64})),
        js_only("undefined", json!({"$undefined": true})),
        js_only("undefined in an array", json!([{"$undefined": true}, 1])),
        js_only(
            "undefined in a map",
            json!({"a": {"$undefined": true}, "b": 1}),
        ),
        js_only("Int16Array", json!({"$typed": ["Int16Array", [1, -1]]})),
        js_only("Float64Array", json!({"$typed": ["Float64Array", [1.5]]})),
        js_only("subarray", json!({"$sub": ["00010203", 1, 3]})),
        js_only("ArrayBuffer", json!({"$ab": "010203"})),
        js_only("ArrayBuffer empty", json!({"$ab": ""})),
        js_only("Map", json!({"$map": [[1, 2]]})),
        js_only("class instance", json!({"$class": {"x": 1, "y": "z"}})),
        js_only("BigInt", json!({"$bigint": "1"})),
    ];
    if family != Family::Json {
        // Binary around its tags and the chunk boundary (BinaryPack packs 16297 bytes into
        // exactly 16300: one message; 16298 into two chunks), and large.
        v.extend([
            patterned(255),
            patterned(256),
            patterned(16_297),
            patterned(16_298),
            patterned(65_535),
            patterned(65_536),
            patterned(MIB),
        ]);
        if matches!(ser, Ser::Binary | Ser::MsgPack) {
            v.push(patterned(4 * MIB));
        }
    }
    if family == Family::MsgPack {
        v.extend([
            both("date epoch", Timestamp::from_millis(0)),
            both("date -1 ms", Timestamp::from_millis(-1)),
            both("date 2023", Timestamp::from_millis(1_700_000_000_123)),
            both("date 2^34 s", Timestamp::new(1 << 34, 0)),
            rust_only("date with nanoseconds", Timestamp::new(1, 500)),
            rust_only("extension type 5", Value::Ext(5, vec![1, 2, 3])),
        ]);
    }
    // Last, as a PeerJS receiver closes the connection on it.
    v.push(both(
        "map __peerData close",
        map(vec![("__peerData", map(vec![("type", "close".into())]))]),
    ));
    v
}

fn nested() -> Value {
    map(vec![
        ("name", "alice".into()),
        ("age", 42.into()),
        (
            "nested",
            map(vec![(
                "deep",
                map(vec![
                    (
                        "list",
                        Value::Array(vec![
                            1.into(),
                            Value::Array(vec![2.into(), Value::Array(vec![3.into()])]),
                        ]),
                    ),
                    ("empty", map(vec![])),
                    ("none", Value::Nil),
                    ("unicode", UNICODE_BMP.into()),
                ]),
            )]),
        ),
        ("ratio", 3.25.into()),
    ])
}

/// What PeerJS delivers for a vector (from the JS peer's `roundtrip`).
struct Expect {
    /// The value as the JS side holds it.
    original: Json,
    /// "delivered", "lost" (the receiver drops it) or "refused" (the sender does not send it).
    outcome: String,
    /// What a PeerJS receiver gets ("delivered").
    value: Option<Json>,
    /// What the receiver decoded before dropping it ("lost" after decoding).
    decoded: Option<Json>,
    /// What the bytes PeerJS's encoder wrote say, where PeerJS's decoder misreads them
    /// (binary only).
    exact: Option<Json>,
    reason: String,
}

impl Expect {
    fn parse(json: &Json) -> Self {
        Self {
            original: json["original"].clone(),
            outcome: json["outcome"].as_str().unwrap_or("?").to_owned(),
            value: json.get("value").cloned(),
            decoded: json.get("decoded").cloned(),
            exact: json.get("exact").cloned(),
            reason: json["reason"].as_str().unwrap_or("").to_owned(),
        }
    }

    fn delivered(&self) -> Option<&Json> {
        (self.outcome == "delivered")
            .then_some(self.value.as_ref())
            .flatten()
    }

    fn describe(&self) -> String {
        match self.delivered() {
            Some(v) => format!("PeerJS delivers {}", brief(v)),
            None => format!("PeerJS: {} ({})", self.outcome, self.reason),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Cell {
    passed: usize,
    failures: Vec<String>,
}

struct Report {
    /// stack → direction → column.
    cells: BTreeMap<String, BTreeMap<String, BTreeMap<String, Cell>>>,
    passed: usize,
    failed: usize,
    /// When the last case was recorded (each line says how long its case took).
    since: Instant,
}

impl Default for Report {
    fn default() -> Self {
        Self {
            cells: BTreeMap::new(),
            passed: 0,
            failed: 0,
            since: Instant::now(),
        }
    }
}

type Verdict = Result<String, String>;

impl Report {
    fn record(&mut self, stack: &str, dir: Dir, column: &str, case: &str, verdict: Verdict) {
        let ms = self.since.elapsed().as_millis();
        self.since = Instant::now();
        let cell = self
            .cells
            .entry(stack.to_owned())
            .or_default()
            .entry(dir.name().to_owned())
            .or_default()
            .entry(column.to_owned())
            .or_default();
        match verdict {
            Ok(note) => {
                cell.passed += 1;
                self.passed += 1;
                println!(
                    "PASS {stack} {} {column} {case}: {note} [{ms} ms]",
                    dir.name()
                );
            }
            Err(why) => {
                cell.failures.push(case.to_owned());
                self.failed += 1;
                println!(
                    "FAIL {stack} {} {column} {case}: {why} [{ms} ms]",
                    dir.name()
                );
            }
        }
    }

    fn merge(&mut self, other: Self) {
        for (stack, dirs) in other.cells {
            self.cells.entry(stack).or_default().extend(dirs);
        }
        self.passed += other.passed;
        self.failed += other.failed;
    }

    fn matrix(&self) -> Json {
        let mut stacks = serde_json::Map::new();
        for (stack, dirs) in &self.cells {
            let mut d = serde_json::Map::new();
            for (dir, columns) in dirs {
                let mut c = serde_json::Map::new();
                for (column, cell) in columns {
                    let mut failures = cell.failures.clone();
                    failures.sort();
                    c.insert(
                        column.clone(),
                        json!({
                            "passed": cell.passed,
                            "failed": cell.failures.len(),
                            "failures": failures,
                        }),
                    );
                }
                d.insert(dir.clone(), Json::Object(c));
            }
            stacks.insert(stack.clone(), Json::Object(d));
        }
        Json::Object(stacks)
    }
}

/// The differences between the expected and the actual matrix, one line each.
fn matrix_diff(expected: &Json, actual: &Json, only: Option<&str>) -> Vec<String> {
    let mut diff = Vec::new();
    let empty = serde_json::Map::new();
    let stacks = |m: &Json| m.as_object().cloned().unwrap_or_default();
    let (expected, actual) = (stacks(expected), stacks(actual));
    let mut names: Vec<&String> = expected.keys().chain(actual.keys()).collect();
    names.sort();
    names.dedup();
    for stack in names {
        if only.is_some_and(|o| !stack.contains(o)) {
            continue;
        }
        let e_dirs = expected
            .get(stack)
            .and_then(Json::as_object)
            .unwrap_or(&empty);
        let a_dirs = actual
            .get(stack)
            .and_then(Json::as_object)
            .unwrap_or(&empty);
        let mut dirs: Vec<&String> = e_dirs.keys().chain(a_dirs.keys()).collect();
        dirs.sort();
        dirs.dedup();
        for dir in dirs {
            let e_cols = e_dirs.get(dir).and_then(Json::as_object).unwrap_or(&empty);
            let a_cols = a_dirs.get(dir).and_then(Json::as_object).unwrap_or(&empty);
            let mut cols: Vec<&String> = e_cols.keys().chain(a_cols.keys()).collect();
            cols.sort();
            cols.dedup();
            for col in cols {
                let where_ = format!("{stack} {dir} {col}");
                match (e_cols.get(col), a_cols.get(col)) {
                    (Some(_), None) => diff.push(format!("{where_}: expected, but not run")),
                    (None, Some(a)) => diff.push(format!("{where_}: new cell {a}")),
                    (Some(e), Some(a)) if e != a => {
                        let list = |j: &Json| -> Vec<String> {
                            j["failures"]
                                .as_array()
                                .map(|v| {
                                    v.iter()
                                        .filter_map(|s| s.as_str().map(str::to_owned))
                                        .collect()
                                })
                                .unwrap_or_default()
                        };
                        let (ef, af) = (list(e), list(a));
                        let newly: Vec<&String> = af.iter().filter(|c| !ef.contains(c)).collect();
                        let fixed: Vec<&String> = ef.iter().filter(|c| !af.contains(c)).collect();
                        diff.push(format!(
                            "{where_}: expected {} passed {} failed, got {} passed {} failed; \
                             newly failing: {newly:?}; no longer failing: {fixed:?}",
                            e["passed"], e["failed"], a["passed"], a["failed"]
                        ));
                    }
                    _ => {}
                }
            }
        }
    }
    diff
}

// ---------------------------------------------------------------------------------------------
// The suite
// ---------------------------------------------------------------------------------------------

async fn suite() {
    let started = Instant::now();
    common::init_tracing();
    let only = std::env::var(ONLY).ok();
    let ours =
        TestServer::with(ServerOptions::default().expire_timeout(Duration::from_secs(1))).await;
    let official = OfficialServer::start().await;
    let ports = (ours.port(), official.port);
    // Two groups side by side, each stack after the other within its group: PeerJS 1.5.5 in
    // Chromium (the longest), and the rest.
    let serial = std::env::var_os(SERIAL).is_some();
    let mut groups: [Vec<usize>; 2] = Default::default();
    for (index, stack) in stacks().iter().enumerate() {
        if only.as_deref().is_some_and(|o| !stack.name.contains(o)) {
            continue;
        }
        let second = !serial && stack.runtime == JsRuntime::Chromium("1.5.5");
        groups[usize::from(second)].push(index);
    }
    let handles = groups.map(|indices| tokio::spawn(run_group(indices, ports)));
    let mut report = Report::default();
    for handle in handles {
        report.merge(handle.await.expect("a group of stacks ran"));
    }

    let actual = report.matrix();
    let text = serde_json::to_string_pretty(&actual).expect("JSON") + "\n";
    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("interop");
    std::fs::create_dir_all(&out_dir).expect("create the results directory");
    let results = out_dir.join("results.json");
    std::fs::write(&results, &text).expect("write the results");
    let expected_path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/expected.json");

    println!();
    println!(
        "interop suite: {:.0}s; results matrix in {}",
        started.elapsed().as_secs_f64(),
        results.display()
    );
    // Loopback drops (full socket buffers) stall SCTP transfers: say how many there were.
    if let Ok(snmp) = std::fs::read_to_string("/proc/net/snmp") {
        for line in snmp.lines().filter(|l| l.starts_with("Udp:")) {
            println!("{line}");
        }
    }
    println!("{} passed, {} failed", report.passed, report.failed);

    if std::env::var_os(UPDATE).is_some() {
        assert!(
            only.is_none(),
            "{UPDATE} needs the whole suite (unset {ONLY})"
        );
        std::fs::write(&expected_path, &text).expect("write tests/interop/expected.json");
        println!("updated {}", expected_path.display());
        return;
    }
    let expected: Json = std::fs::read_to_string(&expected_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| {
            panic!(
                "{} is missing or not JSON: run with {UPDATE}=1 to write it",
                expected_path.display()
            )
        });
    let diff = matrix_diff(&expected, &actual, only.as_deref());
    assert!(
        diff.is_empty(),
        "the results matrix differs from tests/interop/expected.json ({} cells):\n{}\n\
         (if the change is intended, run with {UPDATE}=1 and commit the file)",
        diff.len(),
        diff.join("\n")
    );
}

/// The stacks `indices` one after the other.
async fn run_group(indices: Vec<usize>, (ours, official): (u16, u16)) -> Report {
    let stacks = stacks();
    let mut report = Report::default();
    for index in indices {
        let stack = &stacks[index];
        let port = match stack.server {
            ServerKind::Ours => ours,
            ServerKind::Official => official,
        };
        let started = Instant::now();
        run_stack(stack, index, port, &mut report).await;
        println!(
            "---- {}: {:.1}s",
            stack.name,
            started.elapsed().as_secs_f64()
        );
    }
    report
}

/// The JS peer of a stack, and the ids.
struct Sides<'a> {
    stack: &'a Stack,
    rust: Peer,
    js: JsPeer,
    js_id: String,
    /// Counts connections and sentinels, so each is unique.
    counter: u64,
}

/// An open connection: the Rust end and the JS end's id.
struct Link {
    rust: DataConnection,
    js_conn: String,
}

async fn run_stack(stack: &Stack, index: usize, port: u16, report: &mut Report) {
    let options = loopback(PeerOptions::local("127.0.0.1", port));
    let rust = match Peer::new(options.id(format!("rust-{index}"))).await {
        Ok(peer) => peer,
        Err(e) => {
            report.record(
                stack.name,
                Dir::RustOffers,
                "setup",
                "Rust peer registers",
                Err(e.to_string()),
            );
            return;
        }
    };
    let js_id = format!("js-{index}");
    let js = match JsPeer::start_in(stack.runtime, port, &js_id).await {
        Ok(js) => js,
        Err(e) => {
            report.record(
                stack.name,
                Dir::JsOffers,
                "setup",
                "JS peer registers",
                Err(e),
            );
            return;
        }
    };
    let mut sides = Sides {
        stack,
        rust,
        js,
        js_id,
        counter: 0,
    };

    for &ser in stack.serializations {
        let vectors = vectors(ser);
        let values: Vec<Json> = vectors.iter().map(Vector::js_send).collect();
        let expects = match sides
            .js
            .try_command(
                json!({"cmd": "roundtrip", "serialization": ser.js_name(), "values": values}),
                Duration::from_secs(120),
            )
            .await
        {
            Ok(reply) => reply["results"]
                .as_array()
                .map(|r| r.iter().map(Expect::parse).collect::<Vec<_>>())
                .unwrap_or_default(),
            Err(e) => {
                for dir in [Dir::RustOffers, Dir::JsOffers] {
                    report.record(
                        stack.name,
                        dir,
                        ser.name(),
                        "expected values",
                        Err(e.clone()),
                    );
                }
                continue;
            }
        };
        assert_eq!(expects.len(), vectors.len(), "one expectation per vector");
        for dir in [Dir::RustOffers, Dir::JsOffers] {
            run_cell(&mut sides, dir, ser, &vectors, &expects, report).await;
        }
    }
    lifecycle(&mut sides, port, report).await;
}

/// Every vector over one connection in `dir`, both ways.
async fn run_cell(
    sides: &mut Sides<'_>,
    dir: Dir,
    ser: Ser,
    vectors: &[Vector],
    expects: &[Expect],
    report: &mut Report,
) {
    let stack = sides.stack.name;
    let column = ser.name();
    let mut link = match open_link(sides, dir, ser, true).await {
        Ok((link, checks)) => {
            report.record(
                stack,
                dir,
                column,
                "connect: label, metadata, options",
                checks,
            );
            link
        }
        Err(e) => {
            report.record(
                stack,
                dir,
                column,
                "connect: label, metadata, options",
                Err(e),
            );
            return;
        }
    };
    let mut broken = false;
    for (vector, expect) in vectors.iter().zip(expects) {
        for to_js in [true, false] {
            let wanted = match vector.flows {
                Flows::Both => true,
                Flows::RustToJs => to_js,
                Flows::JsToRust => !to_js,
            };
            if !wanted {
                continue;
            }
            if broken || !link_usable(sides, &link) {
                link = match reopen(sides, dir, ser, link).await {
                    Ok(link) => link,
                    Err(e) => {
                        report.record(stack, dir, column, "reconnect", Err(e));
                        return;
                    }
                };
            }
            let (case, verdict, case_broke) = if to_js {
                let (verdict, broken) = rust_to_js(sides, &link, ser, vector, expect).await;
                (format!("rust→js {}", vector.name), verdict, broken)
            } else {
                let (verdict, broken) = js_to_rust(sides, &link, vector, expect).await;
                (format!("js→rust {}", vector.name), verdict, broken)
            };
            report.record(stack, dir, column, &case, verdict);
            // Replaced before the next case, if there is one.
            broken = case_broke;
        }
    }
    close_link(sides, link).await;
}

fn link_usable(sides: &mut Sides<'_>, link: &Link) -> bool {
    let js_closed = !sides
        .js
        .take_backlog(|e| e["event"] == "conn-close" && e["connectionId"] == link.js_conn)
        .is_empty();
    link.rust.is_open() && !js_closed
}

async fn reopen(sides: &mut Sides<'_>, dir: Dir, ser: Ser, link: Link) -> Result<Link, String> {
    close_link(sides, link).await;
    println!("  (a new connection for the next cases)");
    open_link(sides, dir, ser, false)
        .await
        .map(|(link, _)| link)
}

async fn close_link(sides: &mut Sides<'_>, link: Link) {
    let _ = tokio::time::timeout(Duration::from_secs(5), link.rust.close()).await;
    let js_conn = link.js_conn.clone();
    let _ = sides
        .js
        .try_expect("conn-close", Duration::from_secs(5), |e| {
            e["event"] == "conn-close" && e["connectionId"] == js_conn
        })
        .await;
    // Whatever else that connection reported is of no more use.
    sides.js.take_backlog(|e| e["connectionId"] == js_conn);
}

/// Opens a connection in `dir`; with `check`, also checks what each side learns of the other's
/// options (label, metadata, serialization, reliable).
async fn open_link(
    sides: &mut Sides<'_>,
    dir: Dir,
    ser: Ser,
    check: bool,
) -> Result<(Link, Verdict), String> {
    sides.counter += 1;
    let label = format!("interop ✓ {} {}", ser.name(), sides.counter);
    let metadata = json!({
        "from": dir.name(),
        "n": [1, 2.5, null, -7],
        "s": "é 😀",
        "max safe": 9_007_199_254_740_991_i64,
        "nested": {"a": [], "b": {}},
    });
    let mut problems = Vec::new();
    let link = match dir {
        Dir::RustOffers => {
            let options = ConnectOptions::default()
                .serialization(ser.serialization())
                .reliable(ser.reliable())
                .label(label.clone())
                .metadata(&metadata)
                .map_err(|e| e.to_string())?;
            let rust = tokio::time::timeout(
                Duration::from_secs(30),
                sides.rust.connect(&sides.js_id, options),
            )
            .await
            .map_err(|_| "Rust's connect did not finish in 30 s".to_owned())?
            .map_err(|e| format!("Rust cannot connect: {e}"))?;
            let js_conn = rust.connection_id().to_owned();
            let event = sides
                .js
                .try_expect("connection", EVENT_TIMEOUT, |e| {
                    e["event"] == "connection" && e["connectionId"] == js_conn
                })
                .await?;
            sides
                .js
                .try_expect("conn-open", EVENT_TIMEOUT, |e| {
                    e["event"] == "conn-open" && e["connectionId"] == js_conn
                })
                .await?;
            if event["label"] != label {
                problems.push(format!("JS sees label {}", event["label"]));
            }
            if event["metadata"] != metadata {
                problems.push(format!("JS sees metadata {}", event["metadata"]));
            }
            if event["serialization"] != ser.serialization().wire_name() {
                problems.push(format!("JS sees serialization {}", event["serialization"]));
            }
            if event["reliable"] != ser.reliable() {
                problems.push(format!("JS sees reliable {}", event["reliable"]));
            }
            Link { rust, js_conn }
        }
        Dir::JsOffers => {
            let mut cmd = json!({
                "cmd": "connect",
                "peer": sides.rust.id().unwrap_or_default(),
                "serialization": ser.js_name(),
                "label": label,
                "metadata": metadata,
            });
            if ser == Ser::BinaryReliable {
                cmd["reliable"] = json!(true);
            }
            let reply = sides.js.try_command(cmd, EVENT_TIMEOUT).await?;
            let js_conn = reply["connectionId"].as_str().unwrap_or("").to_owned();
            let rust = incoming(&sides.rust, &js_conn).await?;
            sides
                .js
                .try_expect("conn-open", EVENT_TIMEOUT, |e| {
                    e["event"] == "conn-open" && e["connectionId"] == js_conn
                })
                .await?;
            tokio::time::timeout(EVENT_TIMEOUT, rust.wait_open())
                .await
                .map_err(|_| "the Rust side did not open".to_owned())?
                .map_err(|e| format!("the Rust side did not open: {e}"))?;
            if rust.label() != label {
                problems.push(format!("Rust sees label {:?}", rust.label()));
            }
            if rust.metadata() != Some(&metadata) {
                problems.push(format!("Rust sees metadata {:?}", rust.metadata()));
            }
            let serialization_ok = match ser {
                // PeerJS 1.5 offers binary-utf8 as "binary"; 1.3/1.4 as "binary-utf8".
                Ser::BinaryUtf8 => matches!(
                    rust.serialization(),
                    Serialization::Binary | Serialization::BinaryUtf8
                ),
                other => rust.serialization() == other.serialization(),
            };
            if !serialization_ok {
                problems.push(format!("Rust sees serialization {}", rust.serialization()));
            }
            if rust.reliable() != ser.reliable() {
                problems.push(format!("Rust sees reliable {}", rust.reliable()));
            }
            Link { rust, js_conn }
        }
    };
    let verdict = if !check {
        Ok(String::new())
    } else if problems.is_empty() {
        Ok("label, metadata, serialization and reliable seen on the other side".to_owned())
    } else {
        Err(problems.join("; "))
    };
    Ok((link, verdict))
}

/// The incoming connection `connection_id`, skipping other events.
async fn incoming(rust: &Peer, connection_id: &str) -> Result<DataConnection, String> {
    let deadline = tokio::time::Instant::now() + EVENT_TIMEOUT;
    loop {
        match tokio::time::timeout_at(deadline, rust.next_event()).await {
            Ok(Some(PeerEvent::Connection(c))) if c.connection_id() == connection_id => {
                return Ok(c);
            }
            Ok(Some(_)) => {}
            Ok(None) => return Err("the Rust peer closed".to_owned()),
            Err(_) => return Err(format!("no connection {connection_id} at the Rust peer")),
        }
    }
}

/// How long one case may take. Generous: on loopback, bursts overflow the receiver's UDP buffer
/// (see the `RcvbufErrors` printed at the end) and SCTP then waits for retransmission timeouts,
/// which stalls a transfer for seconds now and then.
fn timeout_for(size: usize) -> Duration {
    Duration::from_secs(20) + Duration::from_secs((size / MIB) as u64 * 10)
}

/// How long a value may trail its sentinel on an unordered channel: a small one is at most a
/// few packets behind; a chunked one may still be on its way.
fn grace(size: usize) -> Duration {
    if size < 16_000 {
        Duration::from_millis(500)
    } else {
        timeout_for(size)
    }
}

/// Rust sends the vector, then a sentinel; the JS peer reports what arrived before it.
/// Returns the verdict and whether the connection must be replaced.
async fn rust_to_js(
    sides: &mut Sides<'_>,
    link: &Link,
    ser: Ser,
    vector: &Vector,
    expect: &Expect,
) -> (Verdict, bool) {
    let value = vector.rust.clone().expect("a Rust value");
    let original = js_view(&value);
    let wait = timeout_for(vector.size());
    sides.counter += 1;
    let sentinel = format!("\u{2}sentinel {}", sides.counter);

    let Ok(sent) = tokio::time::timeout(wait, link.rust.send_value(value.clone())).await else {
        return (Err(format!("Rust's send did not finish in {wait:?}")), true);
    };
    if let Err(e) = link.rust.send_value(Value::from(sentinel.as_str())).await {
        return (
            Err(format!(
                "Rust cannot send after it (the send said {sent:?}): {e}"
            )),
            true,
        );
    }
    let js_conn = link.js_conn.clone();
    let mut got = Vec::new();
    let mut broken = false;
    let mut timed_out = false;
    let mut sentinel_seen = false;
    // On an unordered channel the value (its last chunk) may come after the sentinel: if Rust
    // sent something and nothing came before the sentinel, wait a little longer for it, unless a
    // JS handler threw meanwhile.
    let late = sent.is_ok() && !link.rust.reliable();
    loop {
        let after_sentinel = sentinel_seen;
        let pred = |e: &Json| {
            ((e["event"] == "data" || e["event"] == "conn-close") && e["connectionId"] == js_conn)
                || (after_sentinel && e["event"] == "uncaught")
        };
        let limit = if after_sentinel {
            grace(vector.size())
        } else {
            wait
        };
        match sides.js.try_expect("data", limit, pred).await {
            Ok(e) if e["event"] == "conn-close" => {
                broken = true;
                break;
            }
            Ok(e) if e["event"] == "uncaught" => {
                got.push(json!({"uncaught": e["message"]}));
                break;
            }
            Ok(e) if e["value"] == sentinel.as_str() => {
                sentinel_seen = true;
                if !got.is_empty() || !late {
                    break;
                }
            }
            Ok(e) => {
                got.push(e);
                if sentinel_seen {
                    break;
                }
            }
            Err(_) if sentinel_seen => break,
            Err(_) => {
                // The JS side stopped reading the connection (or is gone).
                timed_out = true;
                broken = true;
                break;
            }
        }
    }
    let mut uncaught: Vec<String> = Vec::new();
    got.retain(|e| match e.get("uncaught") {
        Some(message) => {
            uncaught.push(brief(message));
            false
        }
        None => true,
    });
    uncaught.extend(
        sides
            .js
            .take_backlog(|e| e["event"] == "uncaught")
            .iter()
            .map(|e| brief(&e["message"])),
    );
    let trouble = match (timed_out, uncaught.is_empty()) {
        (true, _) => format!(" (the sentinel never came; JS errors: {uncaught:?})"),
        (false, false) => format!(" (JS errors: {uncaught:?})"),
        (false, true) => String::new(),
    };

    let verdict = match (&sent, got.as_slice()) {
        (Err(e), []) => {
            if expect.delivered().is_some_and(|v| js_equal(&original, v)) {
                Err(format!(
                    "Rust refused ({e}) what PeerJS delivers intact{trouble}"
                ))
            } else {
                Ok(format!(
                    "Rust refused ({}); {}",
                    e.kind(),
                    expect.describe()
                ))
            }
        }
        (Err(e), _) => Err(format!(
            "Rust's send failed ({e}) but JS received {}",
            brief(json!(got))
        )),
        (Ok(()), []) => Err(format!(
            "JS received nothing{trouble}; {}",
            expect.describe()
        )),
        (Ok(()), [event]) => {
            let received = &event["value"];
            let frame = frame_problem(sides.stack, ser, &value, event);
            if let Some(problem) = frame {
                Err(problem)
            } else if js_equal(&original, received) {
                Ok("intact".to_owned())
            } else if expect.delivered().is_some_and(|v| js_equal(v, received)) {
                Ok(format!("as PeerJS: {}", brief(received)))
            } else if ser.family() == Family::Json
                && js_equal(&js_view(&bytes_as_arrays(&value)), received)
            {
                // Documented: JSON carries binary as an array of byte values (serde's
                // convention); PeerJS would send a typed array as {"0": …}.
                Ok(format!(
                    "binary as an array of numbers: {}",
                    brief(received)
                ))
            } else {
                Err(format!(
                    "JS received {}, sent {}; {}{trouble}",
                    brief(received),
                    brief(&original),
                    expect.describe()
                ))
            }
        }
        (Ok(()), many) => Err(format!("JS received {} messages for one", many.len())),
    };
    (verdict, broken)
}

/// The value with binary replaced by arrays of byte values, as the JSON serialization sends it.
fn bytes_as_arrays(value: &Value) -> Value {
    match value {
        Value::Binary(b) => Value::Array(b.iter().map(|&x| Value::from(x)).collect()),
        Value::Array(items) => Value::Array(items.iter().map(bytes_as_arrays).collect()),
        Value::Map(entries) => Value::Map(
            entries
                .iter()
                .map(|(k, v)| (k.clone(), bytes_as_arrays(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Whether the data-channel message had the kind PeerJS expects (Chromium reports it): JSON in
/// binary frames for PeerJS 1.5 and text frames for 1.3/1.4; raw strings as text, binary as
/// binary.
fn frame_problem(stack: &Stack, ser: Ser, value: &Value, event: &Json) -> Option<String> {
    let frame = event["frame"].as_str()?;
    let wanted = match (ser.family(), value) {
        (Family::Json, _) if stack.legacy() => "text",
        (Family::Json, _) => "binary",
        (Family::Raw, Value::String(_)) => "text",
        (Family::Raw, _) => "binary",
        _ => return None,
    };
    (frame != wanted).then(|| format!("sent as a {frame} message, PeerJS expects {wanted}"))
}

/// The JS peer sends the vector, then a sentinel; Rust checks what arrived before it.
async fn js_to_rust(
    sides: &mut Sides<'_>,
    link: &Link,
    vector: &Vector,
    expect: &Expect,
) -> (Verdict, bool) {
    let wait = timeout_for(vector.size());
    sides.counter += 1;
    let sentinel = format!("\u{2}sentinel {}", sides.counter);
    let seq = sides.js.submit(json!({
        "cmd": "send-case",
        "connectionId": link.js_conn,
        "value": vector.js_send(),
        "sentinel": sentinel,
    }));
    let mut got: Vec<Value> = Vec::new();
    let mut errors: Vec<Error> = Vec::new();
    let mut broken = false;
    let mut sentinel_seen = false;
    // On an unordered channel the value may come after the sentinel: when PeerJS would deliver
    // it and nothing came before the sentinel, wait a little longer for it.
    let late = expect.outcome == "delivered" && !link.rust.reliable();
    loop {
        let limit = if sentinel_seen {
            grace(vector.size())
        } else {
            wait
        };
        match tokio::time::timeout(limit, link.rust.recv()).await {
            Ok(Ok(Value::String(s))) if s == sentinel.as_str() => {
                sentinel_seen = true;
                if !got.is_empty() || !late {
                    break;
                }
            }
            Ok(Ok(v)) => {
                got.push(v);
                if sentinel_seen {
                    break;
                }
            }
            Err(_) if sentinel_seen => break,
            Ok(Err(e)) if e.kind() == ErrorKind::Serialization => errors.push(e),
            Ok(Err(e)) => {
                errors.push(e);
                broken = true;
                break;
            }
            Err(_) => {
                broken = true;
                errors.push(Error::new(
                    ErrorKind::ConnectionClosed,
                    format!("nothing more in {wait:?} (no sentinel)"),
                ));
                break;
            }
        }
    }
    let js_send = match sides.js.reply(seq, wait).await {
        Ok(reply) => reply["sendError"].as_str().map(str::to_owned),
        Err(e) => Some(e),
    };
    let js_conn = link.js_conn.clone();
    let conn_errors: Vec<String> = sides
        .js
        .take_backlog(|e| e["event"] == "conn-error" && e["connectionId"] == js_conn)
        .iter()
        .map(|e| format!("{}: {}", e["type"], e["message"]))
        .collect();
    let js_note = match (&js_send, conn_errors.is_empty()) {
        (Some(e), _) => format!("; JS's send threw: {}", brief(e)),
        (None, false) => format!("; JS reported {conn_errors:?}"),
        (None, true) => String::new(),
    };
    let errors_note = if errors.is_empty() {
        String::new()
    } else {
        format!(
            "; Rust: {}",
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )
    };

    let views: Vec<Json> = got.iter().map(js_view).collect();
    let original = &expect.original;
    let verdict = match (expect.outcome.as_str(), views.as_slice()) {
        ("delivered", [view]) => {
            let peerjs = expect.value.as_ref().expect("a delivered value");
            if js_equal(original, view) {
                Ok("intact".to_owned())
            } else if js_equal(peerjs, view) {
                Ok(format!("as PeerJS: {}", brief(view)))
            } else if expect.exact.as_ref().is_some_and(|e| js_equal(e, view)) {
                Ok(format!(
                    "as the bytes say: {} ({})",
                    brief(view),
                    expect.describe()
                ))
            } else {
                Err(format!(
                    "Rust received {}, JS sent {}; {}",
                    brief(view),
                    brief(original),
                    expect.describe()
                ))
            }
        }
        ("delivered", []) => Err(format!(
            "Rust received nothing{errors_note}{js_note}; {}",
            expect.describe()
        )),
        (_, []) => Ok(format!(
            "nothing delivered{errors_note}{js_note}; {}",
            expect.describe()
        )),
        (_, [view])
            if js_equal(original, view)
                || expect.decoded.as_ref().is_some_and(|d| js_equal(d, view))
                || expect.exact.as_ref().is_some_and(|e| js_equal(e, view)) =>
        {
            Ok(format!(
                "Rust delivers {}; {}",
                brief(view),
                expect.describe()
            ))
        }
        (_, views) => Err(format!(
            "Rust received {}{errors_note}{js_note}; {}",
            brief(json!(views)),
            expect.describe()
        )),
    };
    (verdict, broken)
}

// ---------------------------------------------------------------------------------------------
// Close and errors across the boundary
// ---------------------------------------------------------------------------------------------

const LIFECYCLE: &str = "close+errors";

async fn lifecycle(sides: &mut Sides<'_>, port: u16, report: &mut Report) {
    let stack = sides.stack.name;
    let legacy = sides.stack.legacy();
    for dir in [Dir::RustOffers, Dir::JsOffers] {
        let verdict = close_by_rust(sides, dir).await;
        report.record(stack, dir, LIFECYCLE, "Rust closes", verdict);
        let verdict = close_by_js(sides, dir, false).await;
        report.record(stack, dir, LIFECYCLE, "JS closes", verdict);
        let verdict = flush_close_by_rust(sides, dir).await;
        report.record(stack, dir, LIFECYCLE, "Rust flush-closes", verdict);
        if !legacy {
            // PeerJS 1.3/1.4 have no flush-close.
            let verdict = close_by_js(sides, dir, true).await;
            report.record(stack, dir, LIFECYCLE, "JS flush-closes", verdict);
        }
    }
    let verdict = rust_connects_to_nobody(sides).await;
    report.record(
        stack,
        Dir::RustOffers,
        LIFECYCLE,
        "peer-unavailable",
        verdict,
    );
    let verdict = js_connects_to_nobody(sides).await;
    report.record(stack, Dir::JsOffers, LIFECYCLE, "peer-unavailable", verdict);

    // The JS peer leaves mid-transfer: Rust sending (Rust's connection), then JS sending (JS's
    // connection, with a new JS peer).
    let verdict = js_leaves_while_rust_sends(sides).await;
    report.record(
        stack,
        Dir::RustOffers,
        LIFECYCLE,
        "JS leaves mid-transfer",
        verdict,
    );
    sides.js_id = format!("{}-again", sides.js_id);
    match JsPeer::start_in(sides.stack.runtime, port, &sides.js_id).await {
        Ok(js) => {
            sides.js = js;
            let verdict = js_leaves_while_js_sends(sides).await;
            report.record(
                stack,
                Dir::JsOffers,
                LIFECYCLE,
                "JS leaves mid-transfer",
                verdict,
            );
        }
        Err(e) => report.record(
            stack,
            Dir::JsOffers,
            LIFECYCLE,
            "JS leaves mid-transfer",
            Err(e),
        ),
    }
}

/// A binary connection in `dir`, for the lifecycle cases (reliable, so order is checked).
async fn lifecycle_link(sides: &mut Sides<'_>, dir: Dir) -> Result<Link, String> {
    let ser = if sides.stack.legacy() {
        Ser::Binary
    } else {
        Ser::BinaryReliable
    };
    open_link(sides, dir, ser, false)
        .await
        .map(|(link, _)| link)
}

async fn js_conn_closes(sides: &mut Sides<'_>, js_conn: &str) -> Result<(), String> {
    sides
        .js
        .try_expect("conn-close", EVENT_TIMEOUT, |e| {
            e["event"] == "conn-close" && e["connectionId"] == js_conn
        })
        .await
        .map(|_| ())
}

async fn rust_conn_closes(conn: &DataConnection) -> Result<(), String> {
    tokio::time::timeout(EVENT_TIMEOUT, conn.closed())
        .await
        .map(|_| ())
        .map_err(|_| "the Rust side did not close".to_owned())
}

async fn close_by_rust(sides: &mut Sides<'_>, dir: Dir) -> Verdict {
    let link = lifecycle_link(sides, dir).await?;
    link.rust
        .send(&"before the close")
        .await
        .map_err(|e| e.to_string())?;
    let js_conn = link.js_conn.clone();
    sides
        .js
        .try_expect("data", EVENT_TIMEOUT, |e| {
            e["event"] == "data" && e["connectionId"] == js_conn
        })
        .await?;
    let started = Instant::now();
    link.rust.close().await;
    js_conn_closes(sides, &js_conn).await?;
    Ok(format!(
        "JS saw the close after {} ms",
        started.elapsed().as_millis()
    ))
}

async fn close_by_js(sides: &mut Sides<'_>, dir: Dir, flush: bool) -> Verdict {
    let link = lifecycle_link(sides, dir).await?;
    let js_conn = link.js_conn.clone();
    for value in ["first", "second"] {
        sides
            .js
            .try_command(
                json!({"cmd": "send", "connectionId": js_conn, "value": value}),
                EVENT_TIMEOUT,
            )
            .await?;
    }
    let started = Instant::now();
    sides
        .js
        .try_command(
            json!({"cmd": "close", "connectionId": js_conn, "flush": flush}),
            EVENT_TIMEOUT,
        )
        .await?;
    // With flush, everything sent before arrives first; without, what arrives is in order.
    let mut received = Vec::new();
    let end = loop {
        match tokio::time::timeout(EVENT_TIMEOUT, link.rust.recv()).await {
            Ok(Ok(v)) => received.push(v),
            Ok(Err(e)) => break e,
            Err(_) => return Err(format!("Rust's recv did not end; received {received:?}")),
        }
    };
    if end.kind() != ErrorKind::ConnectionClosed {
        return Err(format!(
            "Rust's recv ended with {end} (received {received:?})"
        ));
    }
    let expected = [Value::from("first"), Value::from("second")];
    if flush && received != expected {
        return Err(format!("Rust received {received:?} before the flush-close"));
    }
    if !flush && !expected.starts_with(&received) {
        return Err(format!("Rust received {received:?}"));
    }
    rust_conn_closes(&link.rust).await?;
    js_conn_closes(sides, &js_conn).await?;
    Ok(format!(
        "Rust saw the close after {} ms, {} of 2 messages before it",
        started.elapsed().as_millis(),
        received.len()
    ))
}

async fn flush_close_by_rust(sides: &mut Sides<'_>, dir: Dir) -> Verdict {
    let link = lifecycle_link(sides, dir).await?;
    let js_conn = link.js_conn.clone();
    link.rust.send(&"first").await.map_err(|e| e.to_string())?;
    link.rust
        .send(&json!({"second": [2]}))
        .await
        .map_err(|e| e.to_string())?;
    let grace = Duration::from_secs(4);
    let started = Instant::now();
    link.rust.close_flush(grace).await;
    let took = started.elapsed();
    let mut values = Vec::new();
    for _ in 0..2 {
        let event = sides
            .js
            .try_expect("data", EVENT_TIMEOUT, |e| {
                e["event"] == "data" && e["connectionId"] == js_conn
            })
            .await?;
        values.push(event["value"].clone());
    }
    js_conn_closes(sides, &js_conn).await?;
    if values != [json!("first"), json!({"second": [2]})] {
        return Err(format!("JS received {values:?}"));
    }
    if sides.stack.legacy() {
        // PeerJS 1.3/1.4 ignore the flush-close message: Rust closes after its grace period.
        Ok(format!(
            "JS received everything; Rust closed after its {grace:?} grace ({} ms)",
            took.as_millis()
        ))
    } else if took < grace / 2 {
        Ok(format!(
            "JS received everything and closed in {} ms",
            took.as_millis()
        ))
    } else {
        Err(format!(
            "JS did not close on the flush-close message (Rust waited {took:?} and closed)"
        ))
    }
}

async fn rust_connects_to_nobody(sides: &mut Sides<'_>) -> Verdict {
    let result = tokio::time::timeout(
        Duration::from_secs(30),
        sides.rust.connect("nobody-here", ConnectOptions::default()),
    )
    .await
    .map_err(|_| "connect to a missing peer did not fail in 30 s".to_owned())?;
    let Err(err) = result else {
        return Err("connected to a peer that does not exist".to_owned());
    };
    if err.kind() != ErrorKind::PeerUnavailable {
        return Err(format!("connect failed with {err}, not peer-unavailable"));
    }
    let deadline = tokio::time::Instant::now() + EVENT_TIMEOUT;
    loop {
        match tokio::time::timeout_at(deadline, sides.rust.next_event()).await {
            Ok(Some(PeerEvent::Error(e))) if e.kind() == ErrorKind::PeerUnavailable => {
                return Ok(format!("connect: {err}; peer event: {e}"));
            }
            Ok(Some(_)) => {}
            other => return Err(format!("no peer-unavailable event: {other:?}")),
        }
    }
}

async fn js_connects_to_nobody(sides: &mut Sides<'_>) -> Verdict {
    sides
        .js
        .try_command(
            json!({"cmd": "connect", "peer": "nobody-here", "serialization": "binary"}),
            EVENT_TIMEOUT,
        )
        .await?;
    let error = sides
        .js
        .try_expect("a peer error", EVENT_TIMEOUT, |e| e["event"] == "error")
        .await?;
    if error["type"] == "peer-unavailable" {
        Ok(format!("JS: {}", error["message"]))
    } else {
        Err(format!("JS reported {error}"))
    }
}

const STREAM_MESSAGES: usize = 200;
const STREAM_SIZE: usize = 64 * 1024;

/// Rust streams binary messages; the JS peer leaves (destroys itself) after the first one.
async fn js_leaves_while_rust_sends(sides: &mut Sides<'_>) -> Verdict {
    let link = lifecycle_link(sides, Dir::RustOffers).await?;
    let js_conn = link.js_conn.clone();
    let sender = link.rust.clone();
    let send_all = tokio::spawn(async move {
        for i in 0..STREAM_MESSAGES {
            let mut bytes = vec![0; STREAM_SIZE];
            bytes[0] = i as u8;
            if let Err(e) = sender.send_value(Value::Binary(bytes)).await {
                return (i, Some(e));
            }
        }
        (STREAM_MESSAGES, None)
    });
    sides
        .js
        .try_expect("data", EVENT_TIMEOUT, |e| {
            e["event"] == "data" && e["connectionId"] == js_conn
        })
        .await?;
    let started = Instant::now();
    sides
        .js
        .try_command(json!({"cmd": "destroy"}), EVENT_TIMEOUT)
        .await?;
    rust_conn_closes(&link.rust).await?;
    let closed_after = started.elapsed();
    let (sent, error) = tokio::time::timeout(EVENT_TIMEOUT, send_all)
        .await
        .map_err(|_| "Rust's send loop hung after the JS peer left".to_owned())?
        .map_err(|e| e.to_string())?;
    match error {
        Some(e) if e.kind() == ErrorKind::ConnectionClosed => Ok(format!(
            "Rust saw the close after {} ms; its send {sent} failed with {e}",
            closed_after.as_millis()
        )),
        Some(e) => Err(format!("Rust's send {sent} failed with {e}")),
        None => Ok(format!(
            "Rust saw the close after {} ms, after sending all {sent}",
            closed_after.as_millis()
        )),
    }
}

/// The JS peer streams binary messages to Rust and leaves right after queueing them.
async fn js_leaves_while_js_sends(sides: &mut Sides<'_>) -> Verdict {
    let link = lifecycle_link(sides, Dir::JsOffers).await?;
    let started = Instant::now();
    sides
        .js
        .try_command(
            json!({
                "cmd": "send-stream",
                "connectionId": link.js_conn,
                "count": STREAM_MESSAGES,
                "size": STREAM_SIZE,
                "leave": true,
            }),
            EVENT_TIMEOUT,
        )
        .await?;
    let mut received = 0;
    loop {
        match tokio::time::timeout(EVENT_TIMEOUT, link.rust.recv()).await {
            Ok(Ok(Value::Binary(bytes))) => {
                if bytes.len() != STREAM_SIZE || usize::from(bytes[0]) != received % 256 {
                    return Err(format!(
                        "message {received} is {} bytes starting with {}",
                        bytes.len(),
                        bytes.first().copied().unwrap_or_default()
                    ));
                }
                received += 1;
            }
            Ok(Ok(other)) => return Err(format!("Rust received {}", brief(format!("{other:?}")))),
            Ok(Err(e)) if e.kind() == ErrorKind::ConnectionClosed => break,
            Ok(Err(e)) => return Err(format!("Rust's recv failed with {e}")),
            Err(_) => return Err(format!("Rust's recv hung after {received} messages")),
        }
    }
    rust_conn_closes(&link.rust).await?;
    Ok(format!(
        "Rust received {received} intact messages of {STREAM_MESSAGES}, then the close, after {} ms",
        started.elapsed().as_millis()
    ))
}
