//! Connection and peer lifecycle between native peers: closing from either side, flush-close,
//! events that wait for the application, backpressure, disconnect and reconnect, destroy.
#![cfg(feature = "server")]

mod common;

use std::time::{Duration, Instant};

use common::{TestServer, expect_connection, peer};
use peerjs::proto::codec::Serialization;
use peerjs::{ConnectOptions, ErrorKind, PeerEvent, Value};

const SECOND: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_either_side_closes_both() {
    let server = TestServer::start().await;
    let alice = peer(&server, "alice").await;
    let bob = peer(&server, "bob").await;

    let a = alice
        .connect("bob", ConnectOptions::default())
        .await
        .unwrap();
    let b = expect_connection(&bob).await;
    b.wait_open().await.unwrap();
    b.close().await;
    let why = tokio::time::timeout(5 * SECOND, a.closed())
        .await
        .expect("remote close noticed");
    assert!(why.is_none());
    assert_eq!(
        a.send(&"late").await.unwrap_err().kind(),
        ErrorKind::ConnectionClosed
    );

    let a = alice
        .connect("bob", ConnectOptions::default())
        .await
        .unwrap();
    let b = expect_connection(&bob).await;
    a.close().await;
    tokio::time::timeout(5 * SECOND, b.closed())
        .await
        .expect("remote close noticed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_close_delivers_everything_then_closes_the_remote() {
    let server = TestServer::start().await;
    let alice = peer(&server, "alice").await;
    let bob = peer(&server, "bob").await;
    for serialization in [
        Serialization::Binary,
        Serialization::Json,
        Serialization::MsgPack,
    ] {
        let a = alice
            .connect(
                "bob",
                ConnectOptions::default()
                    .serialization(serialization)
                    .reliable(true),
            )
            .await
            .unwrap();
        let b = expect_connection(&bob).await;
        for i in 0..20 {
            a.send(&i).await.unwrap();
        }
        let started = Instant::now();
        a.close_flush(5 * SECOND).await;
        // The remote got every message before it closed, and it closed (not the grace timer).
        for i in 0..20 {
            assert_eq!(b.recv().await.unwrap(), Value::Int(i), "{serialization}");
        }
        assert!(tokio::time::timeout(5 * SECOND, b.closed()).await.is_ok());
        assert!(
            started.elapsed() < 4 * SECOND,
            "{serialization}: closed by the remote, not the grace timer"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_wait_for_the_application_to_listen() {
    let server = TestServer::start().await;
    let alice = peer(&server, "alice").await;
    let bob = peer(&server, "bob").await;
    // Bob is not reading events while alice connects and sends.
    let a = alice
        .connect("bob", ConnectOptions::default().reliable(true))
        .await
        .unwrap();
    a.send(&"first").await.unwrap();
    a.send(&"second").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let b = expect_connection(&bob).await;
    assert_eq!(b.recv_as::<String>().await.unwrap(), "first");
    assert_eq!(b.recv_as::<String>().await.unwrap(), "second");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_slows_the_sender_without_losing_anything() {
    let server = TestServer::start().await;
    let alice = peer(&server, "alice").await;
    let bob = peer(&server, "bob").await;
    let a = alice
        .connect("bob", ConnectOptions::default().reliable(true))
        .await
        .unwrap();
    let b = expect_connection(&bob).await;
    let chunk = Value::Binary(vec![0xab; 64 * 1024]);
    // 64 MiB: more than everything on the way can hold (our 8 MiB receive budget, webrtc-rs's
    // queue of 256 messages per channel, the SCTP window and the 1 MiB send buffer).
    const COUNT: usize = 1024;
    let sender = tokio::spawn(async move {
        for _ in 0..COUNT {
            a.send_value(chunk.clone()).await.unwrap();
        }
        a
    });
    // Read nothing for a while: the sender must stall, not buffer 64 MiB.
    tokio::time::sleep(2 * SECOND).await;
    assert!(
        !sender.is_finished(),
        "the sender should be held back by the slow reader"
    );
    for i in 0..COUNT {
        let got = tokio::time::timeout(10 * SECOND, b.recv())
            .await
            .expect("message in time")
            .unwrap();
        assert_eq!(
            got.as_bytes().map(<[u8]>::len),
            Some(64 * 1024),
            "message {i}"
        );
    }
    let a = sender.await.unwrap();
    a.flush().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_keeps_connections_and_reconnect_keeps_the_id() {
    let server = TestServer::start().await;
    let alice = peer(&server, "alice").await;
    let bob = peer(&server, "bob").await;
    let a = alice
        .connect("bob", ConnectOptions::default().reliable(true))
        .await
        .unwrap();
    let b = expect_connection(&bob).await;

    alice.disconnect();
    loop {
        match tokio::time::timeout(5 * SECOND, alice.next_event())
            .await
            .expect("event")
        {
            Some(PeerEvent::Disconnected(id)) => {
                assert_eq!(id, "alice");
                break;
            }
            Some(_) => {}
            None => panic!("peer closed"),
        }
    }
    assert!(alice.is_disconnected());
    // The data connection does not need the server.
    a.send(&"still here").await.unwrap();
    assert_eq!(b.recv_as::<String>().await.unwrap(), "still here");
    let err = alice
        .connect("bob", ConnectOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Disconnected);

    alice.reconnect().await.unwrap();
    loop {
        match tokio::time::timeout(5 * SECOND, alice.next_event())
            .await
            .expect("event")
        {
            Some(PeerEvent::Open(id)) => {
                assert_eq!(id, "alice");
                break;
            }
            Some(_) => {}
            None => panic!("peer closed"),
        }
    }
    let again = alice
        .connect("bob", ConnectOptions::default())
        .await
        .unwrap();
    let b2 = expect_connection(&bob).await;
    again.send(&1).await.unwrap();
    assert_eq!(b2.recv().await.unwrap(), Value::Int(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destroy_closes_the_remote_ends_and_frees_the_id() {
    let server = TestServer::start().await;
    let alice = peer(&server, "alice").await;
    let bob = peer(&server, "bob").await;
    let _a = alice
        .connect("bob", ConnectOptions::default())
        .await
        .unwrap();
    let b = expect_connection(&bob).await;
    alice.destroy();
    tokio::time::timeout(5 * SECOND, b.closed())
        .await
        .expect("remote close noticed");
    loop {
        match tokio::time::timeout(5 * SECOND, alice.next_event())
            .await
            .expect("event")
        {
            Some(PeerEvent::Closed) => break,
            Some(_) => {}
            None => panic!("no close event"),
        }
    }
    assert!(alice.is_destroyed());
    // The server freed the id.
    let again = tokio::time::timeout(5 * SECOND, async {
        loop {
            match peerjs::Peer::new(server.options().id("alice")).await {
                Ok(p) => return p,
                Err(e) if e.kind() == ErrorKind::UnavailableId => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await
    .expect("the id is free again");
    assert_eq!(again.id().as_deref(), Some("alice"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_every_handle_destroys_the_peer() {
    let server = TestServer::start().await;
    let bob = peer(&server, "bob").await;
    {
        let alice = peer(&server, "alice").await;
        let a = alice
            .connect("bob", ConnectOptions::default())
            .await
            .unwrap();
        let b = expect_connection(&bob).await;
        drop(alice);
        // The connection keeps the peer alive.
        a.send(&"alive").await.unwrap();
        assert_eq!(b.recv_as::<String>().await.unwrap(), "alive");
        drop(a);
        tokio::time::timeout(5 * SECOND, b.closed())
            .await
            .expect("remote close noticed");
    }
    let back = tokio::time::timeout(5 * SECOND, async {
        loop {
            match peerjs::Peer::new(server.options().id("alice")).await {
                Ok(p) => return p,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    })
    .await
    .expect("the id is released");
    assert!(back.is_open());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_label_and_options_reach_the_remote() {
    #[derive(serde::Deserialize, PartialEq, Debug)]
    struct Meta {
        user: String,
        n: u32,
    }
    let server = TestServer::start().await;
    let alice = peer(&server, "alice").await;
    let bob = peer(&server, "bob").await;
    let options = ConnectOptions::default()
        .label("files")
        .metadata(&serde_json::json!({"user": "alice", "n": 3}))
        .unwrap()
        .serialization(Serialization::MsgPack);
    let a = alice.connect("bob", options).await.unwrap();
    let b = expect_connection(&bob).await;
    assert_eq!(b.label(), "files");
    assert_eq!(
        b.metadata_as::<Meta>().unwrap(),
        Some(Meta {
            user: "alice".into(),
            n: 3
        })
    );
    assert_eq!(b.serialization(), Serialization::MsgPack);
    assert!(a.reliable() && b.reliable(), "MsgPack is always reliable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_javascript_cannot_receive_are_refused_before_sending() {
    let server = TestServer::start().await;
    let alice = peer(&server, "alice").await;
    let _bob = peer(&server, "bob").await;
    let a = alice
        .connect("bob", ConnectOptions::default())
        .await
        .unwrap();
    assert_eq!(
        a.send(&None::<u8>).await.unwrap_err().kind(),
        ErrorKind::Serialization
    );
    assert_eq!(
        a.send_value(Value::Float(f64::NAN))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Serialization
    );
    let json = alice
        .connect(
            "bob",
            ConnectOptions::default().serialization(Serialization::Json),
        )
        .await
        .unwrap();
    let err = json.send(&"x".repeat(20_000)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MessageTooBig);
    // The connection is still usable.
    json.send(&"ok").await.unwrap();
}
