//! A remote peer that vanishes without closing (its process is killed) is noticed through ICE,
//! within the configured timeouts, and reported as `negotiation-failed`.
#![cfg(feature = "cli")]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{TestServer, loopback};
use peerjs::{ConnectOptions, ErrorKind, Peer, PeerOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_peer_is_noticed_within_the_ice_timeouts() {
    let server = TestServer::start().await;
    let mut echo = Command::new(env!("CARGO_BIN_EXE_peerjs"))
        .args([
            "echo",
            "--id",
            "doomed",
            "--port",
            &server.port().to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start peerjs echo");
    let options = loopback(PeerOptions::local("127.0.0.1", server.port())).ice_timeouts(
        Duration::from_secs(1),
        Duration::from_secs(3),
        Duration::from_millis(300),
    );
    let alice = Peer::new(options.id("alice")).await.unwrap();
    // The echo peer registers asynchronously: retry until it is there.
    let conn = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match alice.connect("doomed", ConnectOptions::default()).await {
                Ok(conn) => return conn,
                Err(e) if e.kind() == ErrorKind::PeerUnavailable => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await
    .expect("the echo peer answers");
    conn.send(&"ping").await.unwrap();
    assert_eq!(conn.recv_as::<String>().await.unwrap(), "ping");

    echo.kill().expect("SIGKILL the echo peer");
    let _ = echo.wait();
    let killed = Instant::now();
    let why = tokio::time::timeout(Duration::from_secs(15), conn.closed())
        .await
        .expect("the vanished peer is noticed");
    let error = why.expect("the connection failed rather than closed");
    assert_eq!(error.kind(), ErrorKind::NegotiationFailed, "{error}");
    assert!(
        killed.elapsed() < Duration::from_secs(10),
        "noticed after {:?}",
        killed.elapsed()
    );
}
