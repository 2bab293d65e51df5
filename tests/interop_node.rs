//! Interoperability with the real PeerJS stack, run by Node.js from `tests/js` (the npm packages
//! pinned there: `peer@1.0.2`, `peerjs@1.5.5` on node-datachannel's WebRTC polyfill):
//!
//! * Rust peers through the official `peer` server, every serialization, both directions;
//! * the official PeerJS client registering with our server and connecting to a Rust peer
//!   through it, both directions, every serialization, values checked on both sides;
//! * `peer-unavailable` from our server, flush-close in both directions.
//!
//! Needs `node` (>= 20) on PATH and `npm ci` run in `tests/js`; the tests fail (they never skip)
//! without them. Everything stays on 127.0.0.1: no STUN/TURN on either side.
#![cfg(feature = "server")]

mod common;

use std::time::{Duration, Instant};

use common::js::{EVENT_TIMEOUT, JsPeer, OfficialServer, brief, js_equal, js_of, pattern};
use common::{TestServer, expect_connection};
use peerjs::proto::codec::Serialization;
use peerjs::server::ServerOptions;
use peerjs::{
    ConnectOptions, DataConnection, ErrorKind, Peer, PeerEvent, PeerOptions, Timestamp, Value,
};
use serde_json::{Value as Json, json};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Dir {
    /// Rust sends `rust`, JS reports `js`; JS sends `js`, Rust receives `rust`.
    Both,
    /// Only Rust → JS (JS delivers something that does not map back).
    ToJs,
    /// Only JS → Rust.
    FromJs,
}

struct Case {
    name: &'static str,
    rust: Value,
    js: Json,
    dir: Dir,
}

fn both(name: &'static str, rust: impl Into<Value>) -> Case {
    let rust = rust.into();
    Case {
        name,
        js: js_of(&rust),
        rust,
        dir: Dir::Both,
    }
}

fn to_js(name: &'static str, rust: impl Into<Value>, js: Json) -> Case {
    Case {
        name,
        rust: rust.into(),
        js,
        dir: Dir::ToJs,
    }
}

fn from_js(name: &'static str, js: Json, rust: impl Into<Value>) -> Case {
    Case {
        name,
        rust: rust.into(),
        js,
        dir: Dir::FromJs,
    }
}

fn map(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (Value::from(k), v))
            .collect(),
    )
}

const P53: i64 = 1 << 53;

/// Integers JS numbers hold exactly, across every integer encoding.
fn exact_integers() -> Value {
    Value::Array(
        [
            0,
            1,
            -1,
            127,
            128,
            -32,
            -33,
            255,
            256,
            -128,
            -129,
            65_535,
            65_536,
            -32_768,
            -32_769,
            4_294_967_295,
            4_294_967_296,
            -2_147_483_648,
            P53 - 1,
        ]
        .into_iter()
        .map(Value::Int)
        .collect(),
    )
}

fn nested_map() -> Value {
    map(vec![
        ("name", "alice".into()),
        ("age", 42.into()),
        ("tags", Value::Array(vec!["a".into(), "b".into()])),
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
                ]),
            )]),
        ),
        ("ratio", 3.25.into()),
        ("ok", true.into()),
    ])
}

fn unicode() -> Value {
    Value::from("héllo wörld · Ελληνικά · 日本語 · 😀🎉 · \u{10ffff}")
}

/// What each serialization must carry, and how JS delivers the values it cannot represent.
fn cases(serialization: Serialization) -> Vec<Case> {
    let mut cases = vec![
        both("a string", "hello"),
        both("unicode", unicode()),
        both("an empty string", ""),
    ];
    let sixteen_keys = || {
        Value::Map(
            (0..20)
                .map(|i| (Value::from(format!("k{i:02}")), Value::Int(i)))
                .collect(),
        )
    };
    match serialization {
        Serialization::Binary | Serialization::BinaryUtf8 | Serialization::MsgPack => {
            let msgpack = serialization == Serialization::MsgPack;
            cases.extend([
                both("integers", exact_integers()),
                both(
                    "floats",
                    Value::Array(
                        [
                            1.5,
                            -1.5,
                            0.1,
                            std::f64::consts::PI,
                            1e-300,
                            -2.5e-10,
                            123_456.789,
                        ]
                        .into_iter()
                        .map(Value::Float)
                        .collect(),
                    ),
                ),
                both(
                    "booleans and nested null",
                    Value::Array(vec![true.into(), false.into(), Value::Nil]),
                ),
                both("a nested map", nested_map()),
                both("a map of 20 keys", sixteen_keys()),
                both(
                    "an array of 20 items",
                    Value::Array((0..20).map(Value::Int).collect()),
                ),
                both(
                    "binary in a map",
                    map(vec![
                        ("bytes", Value::Binary(vec![0, 1, 2, 254, 255])),
                        ("empty", Value::Binary(vec![])),
                    ]),
                ),
                both("small binary", Value::Binary(vec![0, 1, 2, 3, 255])),
                both("empty binary", Value::Binary(vec![])),
                // BinaryPack packs 16297 bytes into exactly 16300: one message; 16298 bytes into
                // two chunks.
                both("binary of 16297 bytes", Value::Binary(pattern(16_297))),
                both("binary of 16298 bytes", Value::Binary(pattern(16_298))),
                both("binary of 100000 bytes", Value::Binary(pattern(100_000))),
                both("a string of 30000 bytes", "aé€😀".repeat(3000)),
                // Boundaries, as JS delivers them.
                to_js("float 0.0", 0.0, json!(0)),
                to_js("float -0.0", -0.0, json!(0)),
                to_js("integral float", 2.0, json!(2)),
                to_js("2^53 + 1", P53 + 1, json!(9_007_199_254_740_992_u64)),
                to_js("i64::MIN", i64::MIN, json!(-9_223_372_036_854_775_808.0)),
                to_js("u64::MAX", u64::MAX, json!(18_446_744_073_709_552_000.0)),
                from_js("JS -0", json!(-0.0), 0),
                from_js("JS 2.0", json!(2.0), 2),
                from_js(
                    "JS -2^31 - 1",
                    json!(-2_147_483_649_i64),
                    -2_147_483_649_i64,
                ),
                from_js(
                    "JS undefined in an array",
                    json!([{"$undefined": true}, 1]),
                    Value::Array(vec![Value::Nil, 1.into()]),
                ),
            ]);
            if msgpack {
                cases.extend([
                    both("a date", Timestamp::from_millis(1_700_000_000_123)),
                    both("the epoch", Timestamp::from_millis(0)),
                    both("a date before the epoch", Timestamp::from_millis(-1)),
                    to_js("2^53", P53, json!(P53)),
                    to_js("i64::MAX", i64::MAX, json!(9_223_372_036_854_775_808.0)),
                    // MsgPack reads these exactly.
                    to_js("-2^31 - 1", -2_147_483_649_i64, json!(-2_147_483_649_i64)),
                    to_js("-(2^53 - 1)", -(P53 - 1), json!(-(P53 - 1))),
                    // JS encodes integers that are not safe as float64.
                    from_js("JS 2^53", json!(P53), Value::Float(P53 as f64)),
                    from_js(
                        "JS Infinity",
                        json!({"$num": "Infinity"}),
                        Value::Float(f64::INFINITY),
                    ),
                ]);
            } else {
                cases.extend([
                    both("2^53", P53),
                    // BinaryPack's JS decoder reads int64 values wrong: these expectations are
                    // what `unpack` of peerjs-js-binarypack 2.1.0 returns for the bytes (JS packs
                    // these numbers to the same bytes).
                    to_js("i64::MAX", i64::MAX, json!(-9_223_372_036_854_775_808.0)),
                    to_js("-2^31 - 1", -2_147_483_649_i64, json!(-2_147_483_648_i64)),
                    to_js("-(2^53 - 1)", -(P53 - 1), json!(-P53)),
                    // JS encodes 2^63 with the int64 tag: the bytes say i64::MIN.
                    from_js("JS 2^63", json!(9_223_372_036_854_775_808.0), i64::MIN),
                    // And NaN as the float64 0.0 bytes.
                    from_js("JS NaN", json!({"$num": "NaN"}), 0.0),
                    from_js(
                        "JS Date",
                        json!({"$date": 0}),
                        "Thu Jan 01 1970 00:00:00 GMT+0000 (Coordinated Universal Time)",
                    ),
                ]);
            }
        }
        Serialization::Json => cases.extend([
            both("integers", exact_integers()),
            both("2^53", P53),
            both(
                "floats",
                Value::Array(
                    [1.5, -1.5, 0.1, std::f64::consts::PI, 1e-300, 123_456.789]
                        .into_iter()
                        .map(Value::Float)
                        .collect(),
                ),
            ),
            both(
                "booleans and nested null",
                Value::Array(vec![true.into(), false.into(), Value::Nil]),
            ),
            both("a nested map", nested_map()),
            both("a map of 20 keys", sixteen_keys()),
            // JSON is never chunked; PeerJS refuses 16300 bytes and more.
            both("a string of 14000 bytes", "aé€😀".repeat(1400)),
            to_js("float 0.0", 0.0, json!(0)),
            to_js("integral float", 2.0, json!(2)),
            to_js("2^53 + 1", P53 + 1, json!(9_007_199_254_740_992_u64)),
            to_js("u64::MAX", u64::MAX, json!(18_446_744_073_709_552_000.0)),
            from_js("JS -0", json!(-0.0), 0),
            from_js("JS 1e21", json!(1e21), 1e21),
            from_js(
                "JS NaN and undefined in an array",
                json!([{"$num": "NaN"}, {"$undefined": true}]),
                Value::Array(vec![Value::Nil, Value::Nil]),
            ),
            from_js(
                "JS undefined in an object",
                json!({"a": {"$undefined": true}, "b": 1}),
                map(vec![("b", 1.into())]),
            ),
            from_js(
                "JS Uint8Array",
                json!({"$bin": "0102"}),
                map(vec![("0", 1.into()), ("1", 2.into())]),
            ),
        ]),
        Serialization::Raw => cases.extend([
            both("small binary", Value::Binary(vec![0, 1, 2, 3, 255])),
            both("binary of 60000 bytes", Value::Binary(pattern(60_000))),
            both("a string of 30000 bytes", "aé€😀".repeat(3000)),
            // (A JS object sent raw is "[object Object]" in browsers but an empty binary message
            // with node-datachannel's polyfill: environment-specific, so not checked here.)
        ]),
        other => panic!("no cases for {other}"),
    }
    cases
}

/// The name a JS app passes to `peer.connect` for this serialization.
fn js_name(serialization: Serialization) -> &'static str {
    serialization.legacy_wire_name()
}

/// Every case over one open connection: Rust → JS (checked on the JS side), then JS → Rust
/// (checked on the Rust side).
async fn exchange(
    serialization: Serialization,
    rust: &DataConnection,
    js: &mut JsPeer,
    js_conn: &str,
) {
    let cases = cases(serialization);
    let to_js: Vec<&Case> = cases.iter().filter(|c| c.dir != Dir::FromJs).collect();
    let from_js: Vec<&Case> = cases.iter().filter(|c| c.dir != Dir::ToJs).collect();

    for case in &to_js {
        rust.send_value(case.rust.clone())
            .await
            .unwrap_or_else(|e| panic!("{serialization}: Rust cannot send {}: {e}", case.name));
    }
    let mut failures = Vec::new();
    for case in &to_js {
        let event = js
            .expect_conn_event("data", js_conn)
            .await
            .get("value")
            .cloned()
            .unwrap_or(Json::Null);
        if !js_equal(&case.js, &event) {
            failures.push(format!(
                "Rust → JS {}: JS received {}, expected {}",
                case.name,
                brief(&event),
                brief(&case.js)
            ));
        }
    }

    for case in &from_js {
        js.send(js_conn, &case.js).await;
    }
    for case in &from_js {
        let got = tokio::time::timeout(EVENT_TIMEOUT, rust.recv())
            .await
            .unwrap_or_else(|_| panic!("{serialization}: nothing from JS for {}", case.name))
            .unwrap_or_else(|e| {
                panic!("{serialization}: Rust failed to receive {}: {e}", case.name)
            });
        if got != case.rust {
            failures.push(format!(
                "JS → Rust {}: Rust received {}, expected {}",
                case.name,
                brief(&got),
                brief(&case.rust)
            ));
        }
    }
    // Nothing more arrived on either side than what was sent.
    rust.send(&"end").await.expect("Rust sends the end marker");
    let end = js.expect_conn_event("data", js_conn).await;
    assert_eq!(
        end["value"], "end",
        "{serialization}: JS received more than was sent"
    );
    js.send(js_conn, &json!("end")).await;
    let end = tokio::time::timeout(EVENT_TIMEOUT, rust.recv())
        .await
        .expect("the end marker in time")
        .expect("the end marker");
    assert_eq!(
        end,
        Value::from("end"),
        "{serialization}: Rust received more than was sent"
    );

    assert!(
        failures.is_empty(),
        "{serialization}: {} of {} values differ:\n  {}",
        failures.len(),
        to_js.len() + from_js.len(),
        failures.join("\n  ")
    );
}

// ---------------------------------------------------------------------------------------------
// (b) The PeerJS client in Node through our server
// ---------------------------------------------------------------------------------------------

async fn rust_peer(options: PeerOptions, id: &str) -> Peer {
    Peer::new(options.id(id))
        .await
        .unwrap_or_else(|e| panic!("Rust peer {id}: {e}"))
}

/// JS connects to Rust (JS sends the OFFER).
async fn js_offers_to_rust(serialization: Serialization) {
    let server = TestServer::start().await;
    let rust = rust_peer(server.options(), "rust").await;
    let mut js = JsPeer::start(server.port(), "js").await;

    let label = format!("label {}", js_name(serialization));
    let js_conn = js
        .connect(
            "rust",
            json!({
                "serialization": js_name(serialization),
                "reliable": true,
                "label": label,
                "metadata": {"from": "js", "n": [1, 2]},
            }),
        )
        .await;
    let incoming = expect_connection(&rust).await;
    assert_eq!(incoming.peer(), "js");
    assert_eq!(incoming.connection_id(), js_conn);
    assert_eq!(incoming.label(), label);
    // PeerJS 1.5 announces BinaryPack as "binary", whichever name the app used.
    let wire = Serialization::from_wire_name(serialization.wire_name()).expect("known");
    assert_eq!(incoming.serialization(), wire);
    assert!(incoming.reliable());
    assert_eq!(
        incoming.metadata(),
        Some(&json!({"from": "js", "n": [1, 2]}))
    );
    tokio::time::timeout(EVENT_TIMEOUT, incoming.wait_open())
        .await
        .expect("the connection opens in time")
        .expect("the connection opens");
    js.expect_conn_event("conn-open", &js_conn).await;

    exchange(serialization, &incoming, &mut js, &js_conn).await;
}

/// Rust connects to JS (Rust sends the OFFER).
async fn rust_offers_to_js(serialization: Serialization) {
    let server = TestServer::start().await;
    let rust = rust_peer(server.options(), "rust").await;
    // MsgPack is offered to a `MsgPackPeer` here (a plain `Peer` with `serializers: {MsgPack}`
    // offers it in the other direction).
    let mut js = if serialization == Serialization::MsgPack {
        JsPeer::start_msgpack_peer(server.port(), "js").await
    } else {
        JsPeer::start(server.port(), "js").await
    };

    let label = format!("label {serialization}");
    let options = ConnectOptions::default()
        .serialization(serialization)
        .reliable(true)
        .label(label.clone())
        .metadata(&json!({"from": "rust", "n": [1, 2]}))
        .expect("JSON metadata");
    let conn = rust
        .connect("js", options)
        .await
        .unwrap_or_else(|e| panic!("{serialization}: Rust cannot connect to JS: {e}"));
    let event = js
        .expect("connection", |e| e["event"] == "connection")
        .await;
    assert_eq!(event["connectionId"], conn.connection_id());
    assert_eq!(event["peer"], "rust");
    assert_eq!(event["label"], label);
    assert_eq!(event["serialization"], serialization.wire_name());
    assert_eq!(event["reliable"], true);
    assert_eq!(event["metadata"], json!({"from": "rust", "n": [1, 2]}));
    let js_conn = conn.connection_id().to_owned();
    js.expect_conn_event("conn-open", &js_conn).await;

    exchange(serialization, &conn, &mut js, &js_conn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_offers_binary_to_rust_through_our_server() {
    js_offers_to_rust(Serialization::Binary).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_offers_binary_utf8_to_rust_through_our_server() {
    js_offers_to_rust(Serialization::BinaryUtf8).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_offers_json_to_rust_through_our_server() {
    js_offers_to_rust(Serialization::Json).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_offers_raw_to_rust_through_our_server() {
    js_offers_to_rust(Serialization::Raw).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_offers_msgpack_to_rust_through_our_server() {
    js_offers_to_rust(Serialization::MsgPack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_offers_binary_to_js_through_our_server() {
    rust_offers_to_js(Serialization::Binary).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_offers_binary_utf8_to_js_through_our_server() {
    rust_offers_to_js(Serialization::BinaryUtf8).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_offers_json_to_js_through_our_server() {
    rust_offers_to_js(Serialization::Json).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_offers_raw_to_js_through_our_server() {
    rust_offers_to_js(Serialization::Raw).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_offers_msgpack_to_a_js_msgpack_peer_through_our_server() {
    rust_offers_to_js(Serialization::MsgPack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_peer_connecting_to_an_unknown_id_gets_peer_unavailable_from_our_server() {
    let server =
        TestServer::with(ServerOptions::default().expire_timeout(Duration::from_secs(1))).await;
    let mut js = JsPeer::start(server.port(), "js").await;
    js.connect("nobody", json!({"reliable": true})).await;
    let error = js.expect("an error", |e| e["event"] == "error").await;
    assert_eq!(error["type"], "peer-unavailable", "{error}");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("nobody")),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_peer_without_an_id_gets_one_from_our_server() {
    let server = TestServer::start().await;
    let mut js = JsPeer::spawn(server.port(), &[]);
    let open = js.registration().await;
    assert_eq!(open["event"], "open", "{open}");
    let id = open["id"].as_str().expect("an id").to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");

    let rust = rust_peer(server.options(), "rust").await;
    let conn = rust
        .connect(&id, ConnectOptions::default())
        .await
        .unwrap_or_else(|e| panic!("Rust cannot connect to {id}: {e}"));
    js.expect_conn_event("conn-open", conn.connection_id())
        .await;
    conn.send(&"hello").await.unwrap();
    let data = js.expect_conn_event("data", conn.connection_id()).await;
    assert_eq!(data["value"], "hello");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_peer_gets_unavailable_id_and_server_errors_from_our_server() {
    let server = TestServer::start().await;
    let _rust = rust_peer(server.options(), "taken").await;
    let mut js = JsPeer::spawn(server.port(), &["--id", "taken"]);
    let error = js.registration().await;
    assert_eq!(error["event"], "error", "{error}");
    assert_eq!(error["type"], "unavailable-id", "{error}");

    let mut js = JsPeer::spawn(server.port(), &["--id", "js", "--key", "wrong"]);
    let error = js.registration().await;
    assert_eq!(error["event"], "error", "{error}");
    assert_eq!(error["type"], "server-error", "{error}");
    assert_eq!(error["message"], "Invalid key provided", "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_flush_close_closes_the_rust_side() {
    let server = TestServer::start().await;
    let rust = rust_peer(server.options(), "rust").await;
    let mut js = JsPeer::start(server.port(), "js").await;
    for serialization in [
        Serialization::Binary,
        Serialization::Json,
        Serialization::MsgPack,
    ] {
        let js_conn = js
            .connect(
                "rust",
                json!({"serialization": js_name(serialization), "reliable": true}),
            )
            .await;
        let incoming = expect_connection(&rust).await;
        js.expect_conn_event("conn-open", &js_conn).await;
        js.send(&js_conn, &json!("first")).await;
        js.send(&js_conn, &json!({"second": [2]})).await;
        js.close(&js_conn, true).await;

        // Everything sent before the close arrives, then the connection closes.
        let recv = || async {
            tokio::time::timeout(EVENT_TIMEOUT, incoming.recv())
                .await
                .unwrap_or_else(|_| panic!("{serialization}: Rust received nothing"))
        };
        assert_eq!(
            recv().await.unwrap(),
            Value::from("first"),
            "{serialization}"
        );
        assert_eq!(
            recv().await.unwrap(),
            map(vec![("second", Value::Array(vec![2.into()]))]),
            "{serialization}"
        );
        let end = recv().await;
        assert_eq!(
            end.as_ref().map_err(peerjs::Error::kind),
            Err(ErrorKind::ConnectionClosed),
            "{serialization}: after JS's flush-close Rust got {end:?}"
        );
        assert!(
            tokio::time::timeout(EVENT_TIMEOUT, incoming.closed())
                .await
                .is_ok(),
            "{serialization}: the Rust side did not close"
        );
        js.expect_conn_event("conn-close", &js_conn).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_close_flush_closes_the_js_side() {
    let server = TestServer::start().await;
    let rust = rust_peer(server.options(), "rust").await;
    let mut js = JsPeer::start(server.port(), "js").await;
    for serialization in [
        Serialization::Binary,
        Serialization::Json,
        Serialization::MsgPack,
    ] {
        let conn = rust
            .connect(
                "js",
                ConnectOptions::default()
                    .serialization(serialization)
                    .reliable(true),
            )
            .await
            .unwrap_or_else(|e| panic!("{serialization}: {e}"));
        let js_conn = conn.connection_id().to_owned();
        js.expect_conn_event("conn-open", &js_conn).await;
        conn.send(&"first").await.unwrap();
        conn.send_value(map(vec![("second", Value::Array(vec![2.into()]))]))
            .await
            .unwrap();

        let grace = Duration::from_secs(10);
        let started = Instant::now();
        conn.close_flush(grace).await;
        let took = started.elapsed();
        assert!(
            took < grace / 2,
            "{serialization}: JS did not close on the flush-close message (Rust waited {took:?} \
             and closed locally)"
        );
        let first = js.expect_conn_event("data", &js_conn).await;
        assert_eq!(first["value"], "first", "{serialization}");
        let second = js.expect_conn_event("data", &js_conn).await;
        assert_eq!(second["value"], json!({"second": [2]}), "{serialization}");
        js.expect_conn_event("conn-close", &js_conn).await;
    }
}

// ---------------------------------------------------------------------------------------------
// (a) Rust peers through the official server
// ---------------------------------------------------------------------------------------------

/// What two Rust peers exchange through the official server: every value that round-trips.
fn rust_to_rust_values(serialization: Serialization) -> Vec<Value> {
    cases(serialization)
        .into_iter()
        .filter(|c| c.dir == Dir::Both)
        .map(|c| c.rust)
        .collect()
}

async fn rust_peers_through_the_official_server(serialization: Serialization) {
    let server = OfficialServer::start().await;
    let alice = rust_peer(server.options(), "alice").await;
    let bob = rust_peer(server.options(), "bob").await;
    let values = rust_to_rust_values(serialization);
    for (from, to, to_id) in [(&alice, &bob, "bob"), (&bob, &alice, "alice")] {
        let conn = from
            .connect(
                to_id,
                ConnectOptions::default()
                    .serialization(serialization)
                    .reliable(true),
            )
            .await
            .unwrap_or_else(|e| panic!("{serialization} to {to_id}: {e}"));
        let incoming = expect_connection(to).await;
        assert_eq!(incoming.connection_id(), conn.connection_id());
        for (a, b, direction) in [
            (&conn, &incoming, "offerer → answerer"),
            (&incoming, &conn, "answerer → offerer"),
        ] {
            for value in &values {
                a.send_value(value.clone())
                    .await
                    .unwrap_or_else(|e| panic!("{serialization} {direction}: {e}"));
            }
            for value in &values {
                let got = tokio::time::timeout(EVENT_TIMEOUT, b.recv())
                    .await
                    .expect("in time")
                    .unwrap_or_else(|e| panic!("{serialization} {direction}: {e}"));
                assert!(
                    &got == value,
                    "{serialization} to {to_id} {direction}: got {}, sent {}",
                    brief(&got),
                    brief(value)
                );
            }
        }
        conn.close().await;
        assert!(
            tokio::time::timeout(EVENT_TIMEOUT, incoming.closed())
                .await
                .is_ok(),
            "{serialization}: the remote side did not notice the close"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_peers_exchange_binary_through_the_official_server() {
    rust_peers_through_the_official_server(Serialization::Binary).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_peers_exchange_binary_utf8_through_the_official_server() {
    rust_peers_through_the_official_server(Serialization::BinaryUtf8).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_peers_exchange_json_through_the_official_server() {
    rust_peers_through_the_official_server(Serialization::Json).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_peers_exchange_raw_through_the_official_server() {
    rust_peers_through_the_official_server(Serialization::Raw).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_peers_exchange_msgpack_through_the_official_server() {
    rust_peers_through_the_official_server(Serialization::MsgPack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_peer_gets_peer_unavailable_from_the_official_server() {
    let server = OfficialServer::start().await;
    let alice = rust_peer(server.options(), "alice").await;
    let err = alice
        .connect("nobody", ConnectOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PeerUnavailable, "{err}");
    loop {
        match tokio::time::timeout(EVENT_TIMEOUT, alice.next_event()).await {
            Ok(Some(PeerEvent::Error(e))) => {
                assert_eq!(e.kind(), ErrorKind::PeerUnavailable, "{e}");
                break;
            }
            Ok(Some(_)) => continue,
            other => panic!("no peer-unavailable event: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_and_rust_peers_connect_both_ways_through_the_official_server() {
    let server = OfficialServer::start().await;
    let rust = rust_peer(server.options(), "rust").await;
    let mut js = JsPeer::start(server.port, "js").await;

    let js_conn = js
        .connect("rust", json!({"serialization": "binary", "reliable": true}))
        .await;
    let incoming = expect_connection(&rust).await;
    js.expect_conn_event("conn-open", &js_conn).await;
    exchange(Serialization::Binary, &incoming, &mut js, &js_conn).await;

    let conn = rust
        .connect(
            "js",
            ConnectOptions::default()
                .serialization(Serialization::Binary)
                .reliable(true),
        )
        .await
        .expect("Rust connects to JS");
    let js_conn = conn.connection_id().to_owned();
    js.expect_conn_event("conn-open", &js_conn).await;
    exchange(Serialization::Binary, &conn, &mut js, &js_conn).await;
}

/// PeerJS's defaults (`reliable: false`: an unordered channel; BinaryPack), both directions:
/// every message arrives, in any order, chunked ones reassembled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_and_rust_peers_with_peerjs_default_options_through_the_official_server() {
    let server = OfficialServer::start().await;
    let rust = rust_peer(server.options(), "rust").await;
    let mut js = JsPeer::start(server.port, "js").await;
    let values = [
        Value::from("hello"),
        Value::Binary(pattern(50_000)),
        nested_map(),
    ];
    let sorted = |mut v: Vec<Value>| {
        v.sort_by_key(|v| format!("{v:?}"));
        v
    };

    let js_conn = js.connect("rust", json!({})).await;
    let incoming = expect_connection(&rust).await;
    assert_eq!(incoming.serialization(), Serialization::Binary);
    assert!(!incoming.reliable());
    js.expect_conn_event("conn-open", &js_conn).await;
    let rust_out = rust
        .connect("js", ConnectOptions::default())
        .await
        .expect("Rust connects to JS");
    let event = js
        .expect("connection", |e| e["event"] == "connection")
        .await;
    assert_eq!(event["serialization"], "binary");
    assert_eq!(event["reliable"], false);
    let js_in = rust_out.connection_id().to_owned();
    js.expect_conn_event("conn-open", &js_in).await;

    for (rust_conn, js_conn) in [(&incoming, &js_conn), (&rust_out, &js_in)] {
        for value in &values {
            rust_conn.send_value(value.clone()).await.unwrap();
            js.send(js_conn, &js_of(value)).await;
        }
        let mut at_js = Vec::new();
        let mut at_rust = Vec::new();
        for _ in &values {
            at_js.push(js.expect_conn_event("data", js_conn).await["value"].clone());
            at_rust.push(
                tokio::time::timeout(EVENT_TIMEOUT, rust_conn.recv())
                    .await
                    .expect("in time")
                    .expect("a message"),
            );
        }
        assert_eq!(sorted(at_rust), sorted(values.to_vec()));
        for value in &values {
            let expected = js_of(value);
            assert!(
                at_js.iter().any(|got| js_equal(&expected, got)),
                "JS did not receive {}",
                brief(value)
            );
        }
    }
}
