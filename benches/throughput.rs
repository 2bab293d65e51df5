//! Data-channel throughput, Rust to Rust on loopback: our `Peer` API (BinaryPack and raw) next
//! to a raw webrtc-rs data channel with the same message sizes, in the same run.
//!
//! Run: `cargo bench --features server --bench throughput` (`-- --mib N` to change the volume).
//!
//! Each case opens a fresh connection (reliable, ordered), sends the volume as messages of the
//! given size as fast as backpressure allows, and measures from the first send until the
//! receiver has every byte. MB is 10^6 bytes.
//!
//! Cases: `peerjs` is this crate with its defaults (4 MiB UDP socket buffers, BinaryPack chunked
//! at 16300 bytes as PeerJS does); `peerjs, kernel buffers` is the same with the kernel's default
//! socket buffers (`socket_buffer_size(0)`), which isolates our framing against the anchor;
//! `webrtc-rs` is a bare webrtc-rs 0.21 data channel with its default runtime, sending raw bytes.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use peerjs::proto::codec::Serialization;
use peerjs::server::{Server, ServerOptions};
use peerjs::{ConnectOptions, Peer, PeerEvent, PeerOptions, Value};
use tokio::sync::mpsc;
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelInit};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceCandidateInit, RTCPeerConnectionIceEvent, SettingEngineBuilder,
};

const SIZES: [usize; 2] = [16 * 1024, 64 * 1024];

struct Row {
    case: String,
    size: usize,
    mbps: f64,
}

fn loopback(options: PeerOptions) -> PeerOptions {
    options
        .ice_addresses([SocketAddr::from((Ipv4Addr::LOCALHOST, 0))])
        .mdns(false)
}

async fn expect_connection(peer: &Peer) -> peerjs::DataConnection {
    loop {
        match peer.next_event().await {
            Some(PeerEvent::Connection(c)) => return c,
            Some(PeerEvent::Error(e)) => panic!("{e}"),
            Some(_) => {}
            None => panic!("peer closed"),
        }
    }
}

async fn peerjs_case(
    port: u16,
    serialization: Serialization,
    size: usize,
    total: usize,
    buffers: usize,
) -> f64 {
    let base = loopback(PeerOptions::local("127.0.0.1", port)).socket_buffer_size(buffers);
    let a = Peer::new(base.clone()).await.expect("peer a");
    let b = Peer::new(base).await.expect("peer b");
    let bid = b.id().expect("id");
    let conn = a
        .connect(
            &bid,
            ConnectOptions::default()
                .serialization(serialization)
                .reliable(true),
        )
        .await
        .expect("connect");
    let incoming = expect_connection(&b).await;
    incoming.wait_open().await.expect("open");
    let count = total / size;
    let payload = Value::Binary(vec![0x5a; size]);
    let start = Instant::now();
    let sender = tokio::spawn(async move {
        for _ in 0..count {
            conn.send_value(payload.clone()).await.expect("send");
        }
        conn
    });
    let mut received = 0;
    while received < count * size {
        let v = incoming.recv().await.expect("recv");
        received += v.as_bytes().map_or(0, <[u8]>::len);
    }
    let elapsed = start.elapsed();
    let _conn = sender.await.expect("sender");
    a.destroy();
    b.destroy();
    received as f64 / elapsed.as_secs_f64() / 1e6
}

/// A bare webrtc-rs pair: the anchor.
struct Forward(
    mpsc::UnboundedSender<RTCIceCandidateInit>,
    mpsc::UnboundedSender<Arc<dyn DataChannel>>,
);

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Forward {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(init) = event.candidate.to_json() {
            let _ = self.0.send(init);
        }
    }
    async fn on_data_channel(&self, dc: Arc<dyn DataChannel>) {
        let _ = self.1.send(dc);
    }
}

type Side = (
    Arc<dyn PeerConnection>,
    mpsc::UnboundedReceiver<RTCIceCandidateInit>,
    mpsc::UnboundedReceiver<Arc<dyn DataChannel>>,
);

async fn raw_side() -> Side {
    let (ctx, crx) = mpsc::unbounded_channel();
    let (dtx, drx) = mpsc::unbounded_channel();
    let engine = SettingEngineBuilder::new()
        .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
        .with_prflx_acceptance_min_wait(Some(Duration::ZERO))
        .build();
    let pc = PeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_setting_engine(engine)
        .with_handler(Arc::new(Forward(ctx, dtx)))
        .with_udp_addrs(vec!["127.0.0.1:0".to_owned()])
        .with_data_channel_send_buffer_limit(1024 * 1024)
        .build()
        .await
        .expect("build");
    (Arc::new(pc), crx, drx)
}

fn forward(mut rx: mpsc::UnboundedReceiver<RTCIceCandidateInit>, to: Arc<dyn PeerConnection>) {
    tokio::spawn(async move {
        while let Some(c) = rx.recv().await {
            let _ = to.add_ice_candidate(c).await;
        }
    });
}

async fn raw_case(size: usize, total: usize) -> f64 {
    let (a, acands, _adcs) = raw_side().await;
    let (b, bcands, mut bdcs) = raw_side().await;
    let dc = a
        .create_data_channel("bench", Some(RTCDataChannelInit::default()))
        .await
        .expect("dc");
    let offer = a.create_offer(None).await.expect("offer");
    a.set_local_description(offer.clone()).await.expect("local");
    b.set_remote_description(offer).await.expect("remote");
    let answer = b.create_answer(None).await.expect("answer");
    b.set_local_description(answer.clone())
        .await
        .expect("local");
    a.set_remote_description(answer).await.expect("remote");
    forward(acands, b.clone());
    forward(bcands, a.clone());
    loop {
        match dc.poll().await {
            Some(DataChannelEvent::OnOpen) => break,
            Some(_) => {}
            None => panic!("closed"),
        }
    }
    let rdc = bdcs.recv().await.expect("remote channel");
    let count = total / size;
    let start = Instant::now();
    let sender = tokio::spawn(async move {
        let chunk = vec![0x5a; size];
        for _ in 0..count {
            dc.send(BytesMut::from(chunk.as_slice()))
                .await
                .expect("send");
        }
        dc
    });
    let mut received = 0;
    while received < count * size {
        match rdc.poll().await {
            Some(DataChannelEvent::OnMessage(m)) => received += m.data.len(),
            Some(_) => {}
            None => panic!("closed"),
        }
    }
    let elapsed = start.elapsed();
    let _dc = sender.await.expect("sender");
    let _ = a.close().await;
    let _ = b.close().await;
    received as f64 / elapsed.as_secs_f64() / 1e6
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let full = args.iter().any(|a| a == "--bench");
    let mib = args
        .iter()
        .position(|a| a == "--mib")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(if full { 64 } else { 1 });
    let total = mib * 1024 * 1024;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let server = Server::bind(ServerOptions::default().port(0)).await.expect("server");
        let port = server.local_addr().port();
        let mut rows = Vec::new();
        for size in SIZES {
            rows.push(Row { case: "webrtc-rs (raw bytes, anchor)".into(), size, mbps: raw_case(size, total).await });
            for (name, serialization) in [("binary", Serialization::Binary), ("raw", Serialization::Raw)] {
                let mbps = peerjs_case(port, serialization, size, total, 4 * 1024 * 1024).await;
                rows.push(Row { case: format!("peerjs {name}"), size, mbps });
                let mbps = peerjs_case(port, serialization, size, total, 0).await;
                rows.push(Row { case: format!("peerjs {name}, kernel buffers"), size, mbps });
            }
        }
        server.shutdown().await;
        if !full {
            println!("throughput bench: smoke run only (use `cargo bench --features server --bench throughput`)");
            return;
        }
        println!("Data-channel throughput, Rust to Rust on loopback, {mib} MiB per case, same run");
        println!();
        println!("| case | message | MB/s | vs anchor |");
        println!("|---|---:|---:|---:|");
        for size in SIZES {
            let anchor = rows
                .iter()
                .find(|r| r.size == size && r.case.starts_with("webrtc-rs"))
                .map_or(f64::NAN, |r| r.mbps);
            for r in rows.iter().filter(|r| r.size == size) {
                println!("| {} | {} KiB | {:.1} | {:.2}x |", r.case, r.size / 1024, r.mbps, r.mbps / anchor);
            }
        }
    });
}
