//! The wasm peer in a real browser (headless Chromium) against native peers, through a
//! `peerjs serve` on loopback: every serialization, both directions.
//!
//! Run by `.ci/wasm-test`, which starts what these tests talk to and passes its address at
//! compile time (a wasm test can neither read the environment nor listen):
//!
//! * `PEERJS_WEB_TEST_SERVER=127.0.0.1:PORT`: a `peerjs serve`;
//! * a `peerjs echo --id echo-native` on it (the wasm peer offers; the echo answers);
//! * for each of `binary`, `json`, `raw` and `msgpack`, a `peerjs connect --to wasm-in-NAME`
//!   retried until the wasm peer of that name is registered, sending the lines of
//!   `tests/web/NAME.jsonl` (the native peer offers; the wasm peer answers and echoes). The
//!   script checks that every line came back; this test checks what arrived.
#![cfg(wasm_browser)]

use peerjs::proto::codec::Serialization;
use peerjs::{ConnectOptions, DataConnection, Peer, PeerEvent, PeerOptions, Timestamp, Value};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// The id of the native echo peer.
const ECHO: &str = "echo-native";

#[wasm_bindgen(inline_js = r#"
export async function allowLoopback() {
  // Chromium gathers a loopback ICE candidate only for a page that holds the camera or
  // microphone permission (granted without a prompt by --use-fake-ui-for-media-stream).
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    for (const track of stream.getTracks()) track.stop();
    return "";
  } catch (e) {
    return String(e);
  }
}
export function sleepMs(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = allowLoopback)]
    async fn allow_loopback() -> JsValue;
    #[wasm_bindgen(js_name = sleepMs)]
    async fn sleep_ms(ms: u32);
}

fn options() -> PeerOptions {
    let server = option_env!("PEERJS_WEB_TEST_SERVER").unwrap_or_else(|| {
        panic!("PEERJS_WEB_TEST_SERVER (HOST:PORT of a `peerjs serve`) was not set at compile time; run .ci/wasm-test")
    });
    let (host, port) = server.rsplit_once(':').expect("HOST:PORT");
    PeerOptions::local(host, port.parse().expect("a port number"))
}

async fn setup() {
    let failure = allow_loopback().await.as_string().unwrap_or_default();
    assert!(failure.is_empty(), "getUserMedia failed: {failure}");
}

/// `future`'s output, failing the test after `secs` seconds.
async fn within<T>(secs: u32, what: &str, future: impl Future<Output = T>) -> T {
    tokio::select! {
        value = future => value,
        () = sleep_ms(secs * 1000) => panic!("timed out after {secs} s: {what}"),
    }
}

fn pseudo_random(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// What the wasm peer sends to the echo, per serialization: what each can carry, including
/// messages that PeerJS chunks (BinaryPack above 16300 bytes) or MsgPack splits.
fn samples(serialization: Serialization) -> Vec<Value> {
    let nested = Value::Map(vec![
        ("from".into(), "wasm".into()),
        ("seq".into(), 1.into()),
        (
            "tags".into(),
            Value::Array(vec!["a".into(), Value::Nil, true.into()]),
        ),
        (
            "pos".into(),
            Value::Map(vec![("x".into(), 1.5.into()), ("y".into(), (-2).into())]),
        ),
    ]);
    let with_bytes = Value::Map(vec![
        ("name".into(), "key.bin".into()),
        ("data".into(), Value::Binary(vec![0xde, 0xad, 0xbe, 0xef])),
    ]);
    let large = Value::Binary(pseudo_random(7, 200 * 1024));
    match serialization {
        Serialization::Raw => vec![
            "hello".into(),
            "grüße ✓".into(),
            Value::Binary((0..=255).collect()),
            large,
        ],
        Serialization::Json => vec![
            "hello".into(),
            "grüße ✓".into(),
            Value::Int(42),
            Value::Float(3.25),
            Value::Array(vec![1.into(), "two".into(), Value::Nil]),
            nested,
            Value::from("x".repeat(15_000)),
        ],
        Serialization::MsgPack => vec![
            "hello".into(),
            Value::Int(-7),
            Value::UInt(u64::MAX),
            Value::Float(0.1),
            nested,
            with_bytes,
            Value::Timestamp(Timestamp::from_millis(1_700_000_000_123)),
            Value::from("é".repeat(50_000)),
            large,
        ],
        _ => vec![
            "hello".into(),
            "grüße ✓".into(),
            Value::Int(42),
            Value::Int(-129),
            Value::Float(3.25),
            nested,
            with_bytes,
            Value::Binary((0..=255).collect()),
            Value::from("é".repeat(20_000)),
            large,
        ],
    }
}

/// The wasm peer offers a reliable connection to the native echo, sends every sample and
/// checks each comes back unchanged.
async fn wasm_offers(serialization: Serialization) {
    setup().await;
    let peer = within(20, "registering", Peer::new(options()))
        .await
        .expect("the wasm peer registers");
    let conn = within(
        30,
        "connecting to the echo",
        peer.connect(
            ECHO,
            ConnectOptions::default()
                .serialization(serialization)
                .reliable(true)
                .label(format!("wasm-{serialization}")),
        ),
    )
    .await
    .expect("the connection to the native echo opens");
    assert_eq!(conn.serialization(), serialization);
    for value in samples(serialization) {
        conn.send_value(value.clone()).await.expect("send");
        let back = within(20, "the echo", conn.recv()).await.expect("an echo");
        assert_eq!(back, value, "{serialization}: the echo differs");
    }
    within(10, "closing", conn.close()).await;
    peer.destroy();
    within(10, "destroying", peer.closed()).await;
}

#[wasm_bindgen_test]
async fn wasm_offers_binary() {
    wasm_offers(Serialization::Binary).await;
}

#[wasm_bindgen_test]
async fn wasm_offers_binary_utf8() {
    wasm_offers(Serialization::BinaryUtf8).await;
}

#[wasm_bindgen_test]
async fn wasm_offers_json() {
    wasm_offers(Serialization::Json).await;
}

#[wasm_bindgen_test]
async fn wasm_offers_raw() {
    wasm_offers(Serialization::Raw).await;
}

#[wasm_bindgen_test]
async fn wasm_offers_msgpack() {
    wasm_offers(Serialization::MsgPack).await;
}

/// PeerJS's defaults: BinaryPack on an unordered channel. Every message arrives, in any order.
#[wasm_bindgen_test]
async fn wasm_offers_with_peerjs_defaults() {
    setup().await;
    let peer = within(20, "registering", Peer::new(options()))
        .await
        .expect("the wasm peer registers");
    let conn = within(
        30,
        "connecting",
        peer.connect(ECHO, ConnectOptions::default()),
    )
    .await
    .expect("open");
    assert!(!conn.reliable());
    let sent: Vec<Value> = (0..50)
        .map(|i| Value::Map(vec![("n".into(), Value::Int(i))]))
        .collect();
    for value in &sent {
        conn.send_value(value.clone()).await.expect("send");
    }
    let mut got = Vec::new();
    while got.len() < sent.len() {
        got.push(within(20, "echoes", conn.recv()).await.expect("echo"));
    }
    got.sort_by_key(|v| format!("{v:?}"));
    let mut want = sent;
    want.sort_by_key(|v| format!("{v:?}"));
    assert_eq!(got, want);
    peer.destroy();
    within(10, "destroying", peer.closed()).await;
}

/// A connection to an id nobody holds fails with `peer-unavailable`.
#[wasm_bindgen_test]
async fn unknown_peer_is_unavailable() {
    setup().await;
    let peer = within(20, "registering", Peer::new(options()))
        .await
        .expect("registers");
    let error = within(
        30,
        "the server's EXPIRE",
        peer.connect("nobody-here", ConnectOptions::default()),
    )
    .await
    .expect_err("nobody is there");
    assert_eq!(error.kind().as_str(), "peer-unavailable");
    peer.destroy();
}

/// The lines of `tests/web/NAME.jsonl` as values (the `peerjs connect` JSON form: binary as
/// `{"$bytes": BASE64}`).
fn lines(jsonl: &str) -> Vec<Value> {
    jsonl
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| from_json(serde_json::from_str(l).expect("valid JSON")))
        .collect()
}

fn from_json(json: serde_json::Value) -> Value {
    use serde_json::Value as J;
    match json {
        J::Null => Value::Nil,
        J::Bool(b) => Value::Bool(b),
        J::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Value::Int(i),
            (None, Some(u), _) => Value::UInt(u),
            (_, _, f) => Value::Float(f.expect("a number")),
        },
        J::String(s) => s.into(),
        J::Array(items) => Value::Array(items.into_iter().map(from_json).collect()),
        J::Object(map) => {
            if map.len() == 1 {
                if let Some(J::String(b64)) = map.get("$bytes") {
                    return Value::Binary(base64(b64));
                }
            }
            Value::Map(
                map.into_iter()
                    .map(|(k, v)| (k.into(), from_json(v)))
                    .collect(),
            )
        }
    }
}

fn base64(text: &str) -> Vec<u8> {
    let digit = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let digits: Vec<u8> = text.bytes().filter(|&c| c != b'=').map(digit).collect();
    let mut out = Vec::new();
    for group in digits.chunks(4) {
        let n = group
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &d)| n | u32::from(d) << (18 - 6 * i));
        out.extend(n.to_be_bytes()[1..group.len()].iter());
    }
    out
}

/// The native `peerjs connect` offers to `wasm-in-NAME`: the wasm peer answers, checks that
/// what arrives is `tests/web/NAME.jsonl`, echoes it, and sees the native side close.
async fn native_offers(name: &str, jsonl: &str, serialization: Serialization) {
    setup().await;
    let peer = within(
        20,
        "registering",
        Peer::new(options().id(format!("wasm-in-{name}"))),
    )
    .await
    .expect("the wasm peer registers");
    let conn: DataConnection = within(60, "the native peer's connection", async {
        loop {
            match peer.next_event().await {
                Some(PeerEvent::Connection(conn)) => break conn,
                Some(PeerEvent::Open(_)) => {}
                other => panic!("unexpected event {other:?}"),
            }
        }
    })
    .await;
    // binary-utf8 is announced as "binary", as PeerJS 1.5 does; the answerer sees BinaryPack.
    assert_eq!(conn.serialization().wire_name(), serialization.wire_name());
    for want in lines(jsonl) {
        let got = within(20, "a message", conn.recv())
            .await
            .expect("a message");
        assert_eq!(got, want, "{name}: from the native peer");
        conn.send_value(got).await.expect("echo");
    }
    // The native side closes once it has every echo.
    let error = within(20, "the native side closing", conn.closed()).await;
    assert!(error.is_none(), "closed with {error:?}");
    peer.destroy();
    within(10, "destroying", peer.closed()).await;
}

#[wasm_bindgen_test]
async fn native_offers_binary() {
    native_offers(
        "binary",
        include_str!("web/binary.jsonl"),
        Serialization::Binary,
    )
    .await;
}

#[wasm_bindgen_test]
async fn native_offers_binary_utf8() {
    native_offers(
        "binary-utf8",
        include_str!("web/binary.jsonl"),
        Serialization::BinaryUtf8,
    )
    .await;
}

#[wasm_bindgen_test]
async fn native_offers_json() {
    native_offers("json", include_str!("web/json.jsonl"), Serialization::Json).await;
}

#[wasm_bindgen_test]
async fn native_offers_raw() {
    native_offers("raw", include_str!("web/raw.jsonl"), Serialization::Raw).await;
}

#[wasm_bindgen_test]
async fn native_offers_msgpack() {
    native_offers(
        "msgpack",
        include_str!("web/msgpack.jsonl"),
        Serialization::MsgPack,
    )
    .await;
}
