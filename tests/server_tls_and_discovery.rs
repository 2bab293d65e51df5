//! Peers through a TLS server (`wss`/`https` with `--sslkey`/`--sslcert`), and peer discovery.
#![cfg(feature = "server")]

mod common;

use common::{TestServer, expect_connection, loopback, peer};
use peerjs::server::ServerOptions;
use peerjs::{ConnectOptions, ErrorKind, Peer, PeerOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_register_and_connect_through_a_tls_server() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = std::env::temp_dir().join(format!("peerjs-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (key, cert) = (dir.join("key.pem"), dir.join("cert.pem"));
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    std::fs::write(&cert, certified.cert.pem()).unwrap();

    let server = TestServer::with(ServerOptions::default().tls(&key, &cert)).await;
    let options = loopback(PeerOptions::local("localhost", server.port()))
        .secure(true)
        .root_certificate(certified.cert.der().to_vec());
    // Without an id: the `/id` request goes over HTTPS too.
    let alice = Peer::new(options.clone()).await.unwrap();
    let bob = Peer::new(options.clone().id("bob")).await.unwrap();
    let conn = alice
        .connect("bob", ConnectOptions::default())
        .await
        .unwrap();
    let incoming = expect_connection(&bob).await;
    conn.send(&"over wss").await.unwrap();
    assert_eq!(incoming.recv_as::<String>().await.unwrap(), "over wss");

    // A client that does not trust the certificate is refused, with a clear error.
    let untrusted = loopback(PeerOptions::local("localhost", server.port()))
        .secure(true)
        .id("eve");
    let err = Peer::new(untrusted).await.unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Network | ErrorKind::SslUnavailable),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_all_peers_follows_the_servers_discovery_setting() {
    let server = TestServer::with(ServerOptions::default().allow_discovery(true)).await;
    let alice = peer(&server, "alice").await;
    let _bob = peer(&server, "bob").await;
    let mut ids = alice.list_all_peers().await.unwrap();
    ids.sort();
    assert_eq!(ids, ["alice", "bob"]);

    let closed = TestServer::start().await;
    let carol = peer(&closed, "carol").await;
    let err = carol.list_all_peers().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ServerError);
    assert!(err.message().contains("allow_discovery"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_a_network_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let err = Peer::new(loopback(PeerOptions::local("127.0.0.1", port)).id("x"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Network, "{err}");
    let err = Peer::new(loopback(PeerOptions::local("127.0.0.1", port)))
        .await
        .unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::ServerError,
        "no id from the server: {err}"
    );
}
