//! Our signaling server on a real socket, driven by raw WebSocket and HTTP clients: what a PeerJS
//! client sees must be what the official `peer` 1.0.x server would send.
#![cfg(feature = "server")]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use peerjs::server::{Server, ServerOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as Ws;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn server(options: ServerOptions) -> Server {
    Server::bind(options.port(0)).await.expect("server binds")
}

async fn connect(server: &Server, query: &str) -> Client {
    let url = format!("ws://{}/peerjs?{query}", server.local_addr());
    connect_async(url).await.expect("websocket connects").0
}

/// The next text frame, or None if the socket closed (or nothing came within a second).
async fn next_text(ws: &mut Client) -> Option<String> {
    loop {
        match tokio::time::timeout(Duration::from_secs(1), ws.next()).await {
            Ok(Some(Ok(Ws::Text(t)))) => return Some(t.to_string()),
            Ok(Some(Ok(Ws::Ping(_) | Ws::Pong(_)))) => continue,
            _ => return None,
        }
    }
}

/// Whether the socket gets nothing more (and stays open) for a while.
async fn quiet(ws: &mut Client) -> bool {
    tokio::time::timeout(Duration::from_millis(300), ws.next())
        .await
        .is_err()
}

async fn closed(ws: &mut Client) -> bool {
    loop {
        match tokio::time::timeout(Duration::from_secs(2), ws.next()).await {
            Ok(None | Some(Err(_)) | Some(Ok(Ws::Close(_)))) => return true,
            Ok(Some(Ok(_))) => continue,
            Err(_) => return false,
        }
    }
}

async fn http_get(server: &Server, path: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(server.local_addr()).await.unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nOrigin: http://example.test\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_owned())
}

#[tokio::test]
async fn a_client_registers_and_gets_open() {
    let s = server(ServerOptions::default()).await;
    let mut alice = connect(&s, "key=peerjs&id=alice&token=t1&version=1.5.5").await;
    assert_eq!(
        next_text(&mut alice).await.as_deref(),
        Some(r#"{"type":"OPEN"}"#)
    );
    s.shutdown().await;
}

#[tokio::test]
async fn admission_failures_send_the_official_error_and_close() {
    let s = server(ServerOptions::default().concurrent_limit(1)).await;
    let mut ws = connect(&s, "key=wrong&id=a&token=t").await;
    assert_eq!(
        next_text(&mut ws).await.as_deref(),
        Some(r#"{"type":"ERROR","payload":{"msg":"Invalid key provided"}}"#)
    );
    assert!(closed(&mut ws).await);
    let mut ws = connect(&s, "key=peerjs&id=a").await;
    assert_eq!(
        next_text(&mut ws).await.as_deref(),
        Some(
            r#"{"type":"ERROR","payload":{"msg":"No id, token, or key supplied to websocket server"}}"#
        )
    );
    assert!(closed(&mut ws).await);

    let mut a = connect(&s, "key=peerjs&id=a&token=t").await;
    assert_eq!(
        next_text(&mut a).await.as_deref(),
        Some(r#"{"type":"OPEN"}"#)
    );
    let mut thief = connect(&s, "key=peerjs&id=a&token=stolen").await;
    assert_eq!(
        next_text(&mut thief).await.as_deref(),
        Some(r#"{"type":"ID-TAKEN","payload":{"msg":"ID is taken"}}"#)
    );
    assert!(closed(&mut thief).await);
    let mut b = connect(&s, "key=peerjs&id=b&token=t").await;
    assert_eq!(
        next_text(&mut b).await.as_deref(),
        Some(
            r#"{"type":"ERROR","payload":{"msg":"Server has reached its concurrent user limit"}}"#
        )
    );
    assert!(closed(&mut b).await);
    // The registered client was not disturbed.
    assert!(quiet(&mut a).await);
    s.shutdown().await;
}

#[tokio::test]
async fn messages_are_relayed_with_the_senders_id_and_queued_for_late_peers() {
    let s = server(ServerOptions::default()).await;
    let mut alice = connect(&s, "key=peerjs&id=alice&token=t").await;
    next_text(&mut alice).await;
    alice
        .send(Ws::text(
            r#"{"type":"OFFER","payload":{"sdp":"x"},"dst":"bob","src":"mallory"}"#,
        ))
        .await
        .unwrap();
    let mut bob = connect(&s, "key=peerjs&id=bob&token=t").await;
    assert_eq!(
        next_text(&mut bob).await.as_deref(),
        Some(r#"{"type":"OPEN"}"#)
    );
    assert_eq!(
        next_text(&mut bob).await.as_deref(),
        Some(r#"{"type":"OFFER","src":"alice","dst":"bob","payload":{"sdp":"x"}}"#)
    );
    // Binary frames are read as text, as the official server does.
    bob.send(Ws::binary(
        br#"{"type":"ANSWER","payload":{"sdp":"y"},"dst":"alice"}"#.to_vec(),
    ))
    .await
    .unwrap();
    assert_eq!(
        next_text(&mut alice).await.as_deref(),
        Some(r#"{"type":"ANSWER","src":"bob","dst":"alice","payload":{"sdp":"y"}}"#)
    );
    s.shutdown().await;
}

#[tokio::test]
async fn an_offer_to_nobody_expires() {
    let s = server(ServerOptions::default().expire_timeout(Duration::from_millis(500))).await;
    let mut alice = connect(&s, "key=peerjs&id=alice&token=t").await;
    next_text(&mut alice).await;
    alice
        .send(Ws::text(r#"{"type":"OFFER","payload":{},"dst":"nobody"}"#))
        .await
        .unwrap();
    alice
        .send(Ws::text(
            r#"{"type":"CANDIDATE","payload":{},"dst":"nobody"}"#,
        ))
        .await
        .unwrap();
    assert_eq!(
        next_text(&mut alice).await.as_deref(),
        Some(r#"{"type":"EXPIRE","src":"nobody","dst":"alice"}"#)
    );
    assert!(quiet(&mut alice).await, "exactly one EXPIRE per peer pair");
    s.shutdown().await;
}

#[tokio::test]
async fn a_silent_client_is_dropped_and_heartbeats_keep_it() {
    let s = server(ServerOptions::default().alive_timeout(Duration::from_millis(800))).await;
    let mut silent = connect(&s, "key=peerjs&id=silent&token=t").await;
    let mut beating = connect(&s, "key=peerjs&id=beating&token=t").await;
    next_text(&mut silent).await;
    next_text(&mut beating).await;
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        beating
            .send(Ws::text(r#"{"type":"HEARTBEAT"}"#))
            .await
            .unwrap();
    }
    assert!(closed(&mut silent).await);
    assert!(quiet(&mut beating).await);
    s.shutdown().await;
}

#[tokio::test]
async fn bad_input_never_disturbs_other_clients() {
    let s = server(ServerOptions::default()).await;
    let mut good = connect(&s, "key=peerjs&id=good&token=t").await;
    next_text(&mut good).await;
    let mut bad = connect(&s, "key=peerjs&id=bad&token=t").await;
    next_text(&mut bad).await;
    for junk in [
        "not json",
        "{}",
        "[]",
        "null",
        r#"{"type":5}"#,
        r#"{"type":"OFFER"}"#,
        r#"{"type":"OPEN","dst":"good"}"#,
        r#"{"type":"FOO","dst":"good"}"#,
        "\u{0}\u{1}",
    ] {
        bad.send(Ws::text(junk)).await.unwrap();
    }
    assert!(quiet(&mut good).await);
    // A frame over the size limit closes the sender only.
    let huge = format!(
        r#"{{"type":"OFFER","dst":"good","payload":"{}"}}"#,
        "x".repeat(2 << 20)
    );
    let _ = bad.send(Ws::text(huge)).await;
    assert!(closed(&mut bad).await);
    assert!(quiet(&mut good).await);
    // And the server still serves.
    let mut third = connect(&s, "key=peerjs&id=third&token=t").await;
    assert_eq!(
        next_text(&mut third).await.as_deref(),
        Some(r#"{"type":"OPEN"}"#)
    );
    s.shutdown().await;
}

#[tokio::test]
async fn the_http_api_matches_the_official_server() {
    let s = server(ServerOptions::default().path("/myapp")).await;
    let (status, head, body) = http_get(&s, "/myapp/peerjs/id?ts=123&version=1.5.5").await;
    assert_eq!(status, 200);
    assert!(
        head.contains("content-type: text/html; charset=utf-8"),
        "{head}"
    );
    assert!(
        head.contains("access-control-allow-origin: http://example.test"),
        "{head}"
    );
    assert_eq!(body.len(), 36, "a UUID: {body}");
    assert_eq!(body.as_bytes()[14], b'4', "version 4: {body}");
    let (status, _, body) = http_get(&s, "/myapp").await;
    assert_eq!(status, 200);
    assert!(body.contains(r#""name":"PeerJS Server""#), "{body}");
    let (status, _, _) = http_get(&s, "/myapp/peerjs/peers").await;
    assert_eq!(status, 401);
    s.shutdown().await;

    let s = server(ServerOptions::default().allow_discovery(true)).await;
    let mut a = connect(&s, "key=peerjs&id=a&token=t").await;
    next_text(&mut a).await;
    let (status, _, body) = http_get(&s, "/peerjs/peers").await;
    assert_eq!((status, body.as_str()), (200, r#"["a"]"#));
    s.shutdown().await;
}

#[tokio::test]
async fn static_files_are_served_beside_the_api() {
    let dir = std::env::temp_dir().join(format!("peerjs-www-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), "<h1>demo</h1>").unwrap();
    let s = server(ServerOptions::default().www(&dir)).await;
    let (status, _, body) = http_get(&s, "/").await;
    assert_eq!((status, body.as_str()), (200, "<h1>demo</h1>"));
    let (status, _, _) = http_get(&s, "/peerjs/id").await;
    assert_eq!(status, 200);
    s.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}
