//! The anchor underneath everything: a bare webrtc-rs 0.21 data channel (reliable, ordered,
//! raw bytes) between two peer connections in this process, with webrtc-rs's defaults (the
//! kernel's default UDP socket buffers), loopback-only ICE and mDNS off. No signaling server:
//! offer, answer and candidates are handed over in memory.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::sync::mpsc;
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelInit};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceCandidateInit, RTCPeerConnectionIceEvent, SettingEngineBuilder,
};

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

async fn side() -> Result<Side, String> {
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
        .map_err(|e| format!("webrtc-rs: {e}"))?;
    Ok((Arc::new(pc), crx, drx))
}

fn forward(mut rx: mpsc::UnboundedReceiver<RTCIceCandidateInit>, to: Arc<dyn PeerConnection>) {
    tokio::spawn(async move {
        while let Some(c) = rx.recv().await {
            let _ = to.add_ice_candidate(c).await;
        }
    });
}

/// Two connected peer connections and their channel's two ends.
pub struct Pair {
    a: Arc<dyn PeerConnection>,
    b: Arc<dyn PeerConnection>,
    pub tx: Arc<dyn DataChannel>,
    pub rx: Arc<dyn DataChannel>,
    /// From building the first peer connection to the channel open at the offerer.
    pub create_to_open: Duration,
    /// From `create_offer` to the channel open at the offerer.
    pub offer_to_open: Duration,
}

/// Builds a pair and opens a channel.
pub async fn pair() -> Result<Pair, String> {
    let start = Instant::now();
    let (a, acands, _adcs) = side().await?;
    let (b, bcands, mut bdcs) = side().await?;
    let tx = a
        .create_data_channel("bench", Some(RTCDataChannelInit::default()))
        .await
        .map_err(|e| e.to_string())?;
    let offering = Instant::now();
    let offer = a.create_offer(None).await.map_err(|e| e.to_string())?;
    a.set_local_description(offer.clone())
        .await
        .map_err(|e| e.to_string())?;
    b.set_remote_description(offer)
        .await
        .map_err(|e| e.to_string())?;
    let answer = b.create_answer(None).await.map_err(|e| e.to_string())?;
    b.set_local_description(answer.clone())
        .await
        .map_err(|e| e.to_string())?;
    a.set_remote_description(answer)
        .await
        .map_err(|e| e.to_string())?;
    forward(acands, b.clone());
    forward(bcands, a.clone());
    let opened = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match tx.poll().await {
                Some(DataChannelEvent::OnOpen) => return Ok(()),
                Some(_) => {}
                None => return Err("the channel closed before it opened".to_owned()),
            }
        }
    })
    .await
    .map_err(|_| "the channel did not open within 20 s".to_owned())?;
    opened?;
    let open = Instant::now();
    let rx = tokio::time::timeout(Duration::from_secs(20), bdcs.recv())
        .await
        .ok()
        .flatten()
        .ok_or("no remote channel")?;
    Ok(Pair {
        a,
        b,
        tx,
        rx,
        create_to_open: open - start,
        offer_to_open: open - offering,
    })
}

impl Pair {
    pub async fn close(self) {
        let _ = self.a.close().await;
        let _ = self.b.close().await;
    }

    /// Sends `count` messages of `size` bytes (backpressure: webrtc-rs's `send` waits while
    /// 1 MiB is buffered) and waits until the other end has them all: the elapsed time.
    pub async fn transfer(&self, size: usize, count: usize) -> Result<Duration, String> {
        let tx = self.tx.clone();
        let start = Instant::now();
        let mut sender = tokio::spawn(async move {
            let chunk = vec![0x5a; size];
            for _ in 0..count {
                tx.send(BytesMut::from(chunk.as_slice()))
                    .await
                    .map_err(|e| format!("webrtc-rs send: {e}"))?;
            }
            Ok::<(), String>(())
        });
        let mut sent = false;
        let mut messages = 0;
        while messages < count {
            tokio::select! {
                event = self.rx.poll() => match event {
                    Some(DataChannelEvent::OnMessage(_)) => messages += 1,
                    Some(_) => {}
                    None => return Err("the channel closed".to_owned()),
                },
                // A send that fails (a message over the limit) ends the case at once.
                result = &mut sender, if !sent => {
                    sent = true;
                    result.map_err(|e| e.to_string())??;
                }
            }
        }
        let elapsed = start.elapsed();
        if !sent {
            sender.await.map_err(|e| e.to_string())??;
        }
        Ok(elapsed)
    }

    /// Round trips of `size`-byte messages, one at a time, the other end echoing: each in ms
    /// (after `warmup` unrecorded ones).
    pub async fn rtts(&self, size: usize, count: usize, warmup: usize) -> Result<Vec<f64>, String> {
        let echo_end = self.rx.clone();
        let echo = tokio::spawn(async move {
            while let Some(event) = echo_end.poll().await {
                if let DataChannelEvent::OnMessage(m) = event {
                    if echo_end.send(BytesMut::from(&m.data[..])).await.is_err() {
                        break;
                    }
                }
            }
        });
        let chunk = vec![0x5a; size];
        let mut rtts = Vec::with_capacity(count);
        let result = async {
            for i in 0..warmup + count {
                let start = Instant::now();
                self.tx
                    .send(BytesMut::from(chunk.as_slice()))
                    .await
                    .map_err(|e| format!("webrtc-rs send: {e}"))?;
                loop {
                    match tokio::time::timeout(Duration::from_secs(10), self.tx.poll()).await {
                        Ok(Some(DataChannelEvent::OnMessage(_))) => break,
                        Ok(Some(_)) => {}
                        Ok(None) => return Err("the channel closed".to_owned()),
                        Err(_) => return Err(format!("no echo of message {i} within 10 s")),
                    }
                }
                if i >= warmup {
                    rtts.push(start.elapsed().as_secs_f64() * 1e3);
                }
            }
            Ok(())
        }
        .await;
        echo.abort();
        result.map(|()| rtts)
    }
}
