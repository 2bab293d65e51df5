//! Helpers shared by the integration tests: an in-process server on 127.0.0.1:0 and peers
//! bound to loopback with no STUN/TURN.
#![allow(dead_code, unreachable_pub)]

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use peerjs::server::{Server, ServerOptions};
use peerjs::{DataConnection, Peer, PeerEvent, PeerOptions};

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

pub struct TestServer {
    pub server: Server,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::with(ServerOptions::default()).await
    }

    pub async fn with(options: ServerOptions) -> Self {
        init_tracing();
        let server = Server::bind(options.port(0)).await.expect("server binds");
        Self { server }
    }

    pub fn port(&self) -> u16 {
        self.server.local_addr().port()
    }

    /// Options for a peer on this server: loopback only, no STUN/TURN, no mDNS.
    pub fn options(&self) -> PeerOptions {
        loopback(PeerOptions::local("127.0.0.1", self.port()))
    }
}

pub fn loopback(options: PeerOptions) -> PeerOptions {
    options
        .ice_addresses([SocketAddr::from((Ipv4Addr::LOCALHOST, 0))])
        .mdns(false)
}

pub async fn peer(server: &TestServer, id: &str) -> Peer {
    Peer::new(server.options().id(id))
        .await
        .unwrap_or_else(|e| panic!("peer {id}: {e}"))
}

/// The next incoming connection, skipping other events, within 10 s.
pub async fn expect_connection(peer: &Peer) -> DataConnection {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match peer.next_event().await {
                Some(PeerEvent::Connection(c)) => return c,
                Some(PeerEvent::Error(e)) => panic!("error event: {e}"),
                Some(_) => continue,
                None => panic!("the peer closed"),
            }
        }
    })
    .await
    .expect("a connection arrives in time")
}
pub mod js;

/// A command that runs the test `name` of this test binary again, alone, inside a new network
/// namespace whose only interface is `lo` (`unshare -n`, then `ip link set lo up`), with the
/// environment variable `marker` set so that the re-run knows it is the inner one. Creating the
/// namespace needs root or CAP_SYS_ADMIN.
pub fn rerun_in_loopback_namespace(name: &str, marker: &str) -> std::process::Command {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut command = std::process::Command::new("unshare");
    command
        .args([
            "-n",
            "--",
            "sh",
            "-c",
            "ip link set lo up && exec \"$0\" \"$@\"",
        ])
        .arg(&exe)
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(marker, "1");
    command
}
