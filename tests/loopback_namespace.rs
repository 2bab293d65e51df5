//! With default options, two peers connect in a network namespace that has only `lo`: ICE must
//! gather a loopback candidate without being told to.
//!
//! The test re-runs itself inside `unshare -n` (a new network namespace with only a loopback
//! interface, brought up with `ip link set lo up`); it needs the privileges to create one (root
//! in CI) and fails, rather than passing silently, when it cannot.
#![cfg(feature = "server")]

mod common;

use std::process::Command;
use std::time::Duration;

use peerjs::{ConnectOptions, Peer, PeerEvent, PeerOptions};

const INNER: &str = "PEERJS_TEST_IN_NAMESPACE";
const NAME: &str = "default_options_connect_in_a_namespace_with_only_loopback";

#[test]
fn default_options_connect_in_a_namespace_with_only_loopback() {
    if std::env::var_os(INNER).is_some() {
        return in_namespace();
    }
    let output = common::rerun_in_loopback_namespace(NAME, INNER)
        .output()
        .expect("run unshare (util-linux) to create a network namespace");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the test in a fresh network namespace failed (creating one needs root or \
         CAP_SYS_ADMIN):\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("1 passed"),
        "the inner test did not run:\n{stdout}"
    );
}

fn in_namespace() {
    // Only `lo` exists here: check, so the test proves what it says.
    let links = Command::new("ip")
        .args(["-o", "link"])
        .output()
        .expect("ip link");
    let links = String::from_utf8_lossy(&links.stdout);
    assert_eq!(links.lines().count(), 1, "expected only lo:\n{links}");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let server = common::TestServer::start().await;
        // Default ICE addresses, default mDNS: only the server's address is given.
        let options = PeerOptions::local("127.0.0.1", server.port());
        let alice = Peer::new(options.clone().id("alice")).await.unwrap();
        let bob = Peer::new(options.id("bob")).await.unwrap();
        let conn = tokio::time::timeout(
            Duration::from_secs(20),
            alice.connect("bob", ConnectOptions::default()),
        )
        .await
        .expect("connects in time")
        .unwrap();
        let incoming = loop {
            match bob.next_event().await {
                Some(PeerEvent::Connection(c)) => break c,
                Some(_) => {}
                None => panic!("bob closed"),
            }
        };
        conn.send(&"hello from the namespace").await.unwrap();
        assert_eq!(
            incoming.recv_as::<String>().await.unwrap(),
            "hello from the namespace"
        );
    });
}
