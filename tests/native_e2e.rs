//! Two native peers through our signaling server, on loopback: every serialization, both
//! directions, connection lifecycle and errors.
#![cfg(feature = "server")]

mod common;

use std::time::Duration;

use common::{TestServer, expect_connection, peer};
use peerjs::proto::codec::Serialization;
use peerjs::{ConnectOptions, ErrorKind, Peer, PeerEvent, Value};

fn sample_messages(serialization: Serialization) -> Vec<Value> {
    match serialization {
        Serialization::Raw => vec![
            Value::from("hello"),
            Value::from(""),
            Value::Binary(vec![0, 1, 2, 255]),
            Value::Binary(vec![7; 100_000]),
            Value::from("é😀".repeat(1000)),
        ],
        Serialization::Json => vec![
            Value::from("hello"),
            Value::Map(vec![
                ("a".into(), 1.into()),
                ("b".into(), Value::Array(vec![true.into(), Value::Nil])),
            ]),
            Value::Float(2.5),
            Value::from("x".repeat(15_000)),
        ],
        _ => vec![
            Value::from("hello"),
            Value::Int(-129),
            Value::UInt(u64::MAX),
            Value::Float(0.1),
            Value::Binary(vec![]),
            Value::Binary((0..200_000u32).map(|i| i as u8).collect()),
            Value::from("é".repeat(20_000)),
            Value::Map(vec![
                (
                    "nested".into(),
                    Value::Array(vec![Value::Map(vec![(
                        "k".into(),
                        Value::Binary(vec![1, 2]),
                    )])]),
                ),
                ("n".into(), Value::Nil),
            ]),
        ],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_serialization_round_trips_between_two_native_peers() {
    let server = TestServer::start().await;
    let alice = peer(&server, "alice").await;
    let bob = peer(&server, "bob").await;
    for serialization in Serialization::ALL {
        let options = ConnectOptions::default()
            .serialization(serialization)
            .reliable(true)
            .label(format!("{serialization}"));
        let conn = alice
            .connect("bob", options)
            .await
            .unwrap_or_else(|e| panic!("{serialization}: {e}"));
        let incoming = expect_connection(&bob).await;
        assert_eq!(incoming.peer(), "alice");
        assert_eq!(incoming.label(), serialization.to_string());
        assert_eq!(incoming.connection_id(), conn.connection_id());
        let wire = if serialization == Serialization::BinaryUtf8 {
            Serialization::Binary
        } else {
            serialization
        };
        assert_eq!(incoming.serialization(), wire);
        let messages = sample_messages(serialization);
        for m in &messages {
            conn.send_value(m.clone())
                .await
                .unwrap_or_else(|e| panic!("{serialization}: {e}"));
        }
        for m in &messages {
            let got = tokio::time::timeout(Duration::from_secs(10), incoming.recv())
                .await
                .expect("in time")
                .unwrap();
            assert_eq!(&got, m, "{serialization}");
        }
        // And back.
        for m in &messages {
            incoming.send_value(m.clone()).await.unwrap();
            assert_eq!(&conn.recv().await.unwrap(), m, "{serialization} back");
        }
        conn.close().await;
        assert!(incoming.closed().await.is_none());
        assert_eq!(
            incoming.recv().await.unwrap_err().kind(),
            ErrorKind::ConnectionClosed
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_to_an_unknown_peer_fails_with_peer_unavailable() {
    let server = TestServer::start().await;
    let alice = peer(&server, "alice").await;
    let err = alice
        .connect("nobody", ConnectOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PeerUnavailable, "{err}");
    // The peer also reports it, as PeerJS does.
    loop {
        match alice.next_event().await {
            Some(PeerEvent::Error(e)) => {
                assert_eq!(e.kind(), ErrorKind::PeerUnavailable);
                break;
            }
            Some(_) => continue,
            None => panic!("no error event"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_id_is_refused() {
    let server = TestServer::start().await;
    let _alice = peer(&server, "alice").await;
    let err = Peer::new(server.options().id("alice")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnavailableId, "{err}");
    let err = Peer::new(server.options().id("not valid!"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidId, "{err}");
    let err = Peer::new(server.options().key("wrong")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ServerError, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_assigns_an_id_when_none_is_given() {
    let server = TestServer::start().await;
    let anon = Peer::new(server.options()).await.unwrap();
    let id = anon.id().unwrap();
    assert_eq!(id.len(), 36, "{id}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_send_buffer_limit_still_delivers_messages_larger_than_it() {
    let server = TestServer::start().await;
    // 16 KiB of unacknowledged bytes at most: each 100 KiB message waits for the previous one
    // to be acknowledged, and is sent whole once the buffer is empty.
    let alice = Peer::new(server.options().id("alice").send_buffer_limit(16 * 1024))
        .await
        .expect("alice registers");
    let bob = peer(&server, "bob").await;
    let conn = alice
        .connect(
            "bob",
            ConnectOptions::default().serialization(Serialization::Raw),
        )
        .await
        .expect("connects");
    let incoming = expect_connection(&bob).await;
    let sender = tokio::spawn(async move {
        for i in 0..32u8 {
            conn.send_value(Value::Binary(vec![i; 100 * 1024]))
                .await
                .expect("send");
        }
        conn
    });
    for i in 0..32u8 {
        let got = tokio::time::timeout(Duration::from_secs(20), incoming.recv())
            .await
            .expect("in time")
            .expect("a message");
        assert_eq!(got, Value::Binary(vec![i; 100 * 1024]), "message {i}");
    }
    let _conn = sender.await.expect("the sender finishes");
}
