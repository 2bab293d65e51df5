//! This crate's side: `Peer`s and `DataConnection`s on loopback, sending with backpressure
//! (`send_value` waits while the channel's send buffer is full), receiving, echoing.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use peerjs::proto::codec::Serialization;
use peerjs::{ConnectOptions, DataConnection, Peer, PeerEvent, PeerOptions, Value};
use tokio::sync::mpsc;

/// `--send-buffer-limit`, when given: `PeerOptions::send_buffer_limit` for our peers.
static SEND_BUFFER_LIMIT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();

/// Makes our peers use `bytes` as their send buffer limit instead of the crate's default.
pub fn set_send_buffer_limit(bytes: usize) {
    let _ = SEND_BUFFER_LIMIT.set(bytes);
}

/// Options for a peer on our server at 127.0.0.1:`port`: loopback-only ICE, no mDNS, no
/// STUN/TURN; everything else the crate's defaults (but `--send-buffer-limit`).
pub fn options(port: u16) -> PeerOptions {
    let options = PeerOptions::local("127.0.0.1", port)
        .ice_addresses([SocketAddr::from((Ipv4Addr::LOCALHOST, 0))])
        .mdns(false);
    match SEND_BUFFER_LIMIT.get() {
        Some(&bytes) => options.send_buffer_limit(bytes),
        None => options,
    }
}

pub fn connect_options(serialization: Serialization) -> ConnectOptions {
    ConnectOptions::default()
        .serialization(serialization)
        .reliable(true)
}

/// A peer that accepts every connection and hands it over on a channel.
pub struct Acceptor {
    pub peer: Peer,
    pub id: String,
    incoming: mpsc::UnboundedReceiver<DataConnection>,
}

impl Acceptor {
    pub async fn start(port: u16, id: &str) -> Result<Self, String> {
        let peer = Peer::new(options(port).id(id))
            .await
            .map_err(|e| format!("peer {id}: {e}"))?;
        let (tx, incoming) = mpsc::unbounded_channel();
        let events = peer.clone();
        tokio::spawn(async move {
            while let Some(event) = events.next_event().await {
                if let PeerEvent::Connection(c) = event {
                    if tx.send(c).is_err() {
                        break;
                    }
                }
            }
        });
        Ok(Self {
            peer,
            id: id.to_owned(),
            incoming,
        })
    }

    /// The next incoming connection, open.
    pub async fn next(&mut self) -> Result<DataConnection, String> {
        let conn = tokio::time::timeout(Duration::from_secs(20), self.incoming.recv())
            .await
            .map_err(|_| "no incoming connection within 20 s".to_owned())?
            .ok_or("the peer closed")?;
        tokio::time::timeout(Duration::from_secs(20), conn.wait_open())
            .await
            .map_err(|_| "the incoming connection did not open within 20 s".to_owned())?
            .map_err(|e| e.to_string())?;
        Ok(conn)
    }

    /// Keeps every incoming connection until it closes, from now on (the peer then only
    /// accepts).
    pub fn hold_all(mut self) -> Peer {
        tokio::spawn(async move {
            while let Some(conn) = self.incoming.recv().await {
                tokio::spawn(async move {
                    conn.closed().await;
                });
            }
        });
        self.peer
    }
}

/// The message payload: `size` bytes as binary (a raw connection sends them as they are).
pub fn payload(size: usize) -> Value {
    Value::Binary((0..size).map(|i| i as u8).collect())
}

/// Sends `count` messages of `size` bytes on `conn` in a task; its result says whether every
/// send succeeded.
pub fn spawn_sender(
    conn: DataConnection,
    size: usize,
    count: usize,
) -> tokio::task::JoinHandle<Result<(), String>> {
    tokio::spawn(async move {
        let value = payload(size);
        for _ in 0..count {
            conn.send_value(value.clone())
                .await
                .map_err(|e| format!("send: {e}"))?;
        }
        Ok(())
    })
}

/// Receives `count` messages; their total size.
pub async fn receive(conn: &DataConnection, count: usize) -> Result<usize, String> {
    let mut bytes = 0;
    for _ in 0..count {
        let value = conn.recv().await.map_err(|e| format!("recv: {e}"))?;
        bytes += value.as_bytes().map_or(0, <[u8]>::len);
    }
    Ok(bytes)
}

/// Sends every message back, until the connection closes.
pub fn spawn_echo(conn: DataConnection) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Ok(value) = conn.recv().await {
            if conn.send_value(value).await.is_err() {
                break;
            }
        }
    })
}

/// Round trips, one at a time, the other end echoing: each in ms (after `warmup`).
pub async fn rtts(
    conn: &DataConnection,
    size: usize,
    count: usize,
    warmup: usize,
) -> Result<Vec<f64>, String> {
    let value = payload(size);
    let mut out = Vec::with_capacity(count);
    for i in 0..warmup + count {
        let start = Instant::now();
        conn.send_value(value.clone())
            .await
            .map_err(|e| format!("send: {e}"))?;
        tokio::time::timeout(Duration::from_secs(10), conn.recv())
            .await
            .map_err(|_| format!("no echo of message {i} within 10 s"))?
            .map_err(|e| format!("recv: {e}"))?;
        if i >= warmup {
            out.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    Ok(out)
}

/// Setup latency, `count` times: create a peer (the server assigns its id), connect to
/// `target`, wait until open, destroy the peer. (create → open, connect() → open) in ms, and
/// the failures (a connection that does not open within 10 s is counted, not timed; more than
/// a tenth fail the run).
pub async fn setup(
    port: u16,
    target: &str,
    count: usize,
) -> Result<(Vec<f64>, Vec<f64>, Vec<String>), String> {
    let mut create = Vec::with_capacity(count);
    let mut connect = Vec::with_capacity(count);
    let mut failures = Vec::new();
    for i in 0..count {
        let start = Instant::now();
        let peer = Peer::new(options(port))
            .await
            .map_err(|e| format!("peer {i}: {e}"))?;
        let connecting = Instant::now();
        match peer
            .connect(
                target,
                ConnectOptions::default().timeout(Duration::from_secs(10)),
            )
            .await
        {
            Ok(conn) => {
                let open = Instant::now();
                create.push((open - start).as_secs_f64() * 1e3);
                connect.push((open - connecting).as_secs_f64() * 1e3);
                drop(conn);
            }
            Err(e) => {
                failures.push(format!("connection {i}: {e}"));
                if failures.len() > 3.max(count / 10) {
                    return Err(format!(
                        "{} connections failed: {}",
                        failures.len(),
                        failures[..3].join("; ")
                    ));
                }
            }
        }
        peer.destroy();
    }
    Ok((create, connect, failures))
}
