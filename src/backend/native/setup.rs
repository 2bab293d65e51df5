//! What a connection's runtime and sockets share while the connection is being set up, and a
//! socket that keeps an early DTLS ClientHello for webrtc-rs.
//!
//! webrtc-rs 0.21 drops every datagram that is not STUN until its ICE agent has selected a
//! candidate pair. When we offer, we are the controlling agent: our pair is selected only after
//! a nomination round trip, while the answering peer (PeerJS in Chromium, or libdatachannel in
//! Node) may take its side as connected one round trip earlier. Both answer `a=setup:active`,
//! so they are the DTLS client and send their ClientHello at once; it reaches us in that gap and
//! is dropped, and the handshake waits for the client's first retransmission: a second in
//! libdatachannel (OpenSSL's initial timer), 50 ms and more in Chromium. Chromium keeps such a
//! ClientHello until its DTLS transport starts; [`HoldingSocket`] does the same for us.

use std::fmt;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use webrtc::runtime::{AsyncUdpSocket, RecvMeta, Transmit};

/// The setup state of one peer connection, shared by its task, its runtime and its sockets.
#[derive(Debug)]
pub(crate) struct Setup {
    /// True until the data channel is open (or the connection ends).
    setting_up: AtomicBool,
    /// Whether webrtc-rs's ICE agent has selected a pair (and so accepts DTLS).
    ice_connected: AtomicBool,
    /// Receivers of sockets that hold a ClientHello, to wake when ICE connects.
    wakers: Mutex<Vec<Waker>>,
}

impl Setup {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            setting_up: AtomicBool::new(true),
            ice_connected: AtomicBool::new(false),
            wakers: Mutex::new(Vec::new()),
        })
    }

    /// Whether the connection is still being set up.
    pub(crate) fn setting_up(&self) -> bool {
        self.setting_up.load(Ordering::Relaxed)
    }

    /// The connection is open (or gave up): back to webrtc-rs's own timers.
    pub(crate) fn finish(&self) {
        self.setting_up.store(false, Ordering::Relaxed);
        self.release();
    }

    /// webrtc-rs reported ICE connected, so it has a selected pair: hand over what was held.
    /// It reports this from its driver, before it polls the sockets again.
    pub(crate) fn ice_connected(&self) {
        self.ice_connected.store(true, Ordering::Release);
        self.release();
    }

    fn holds(&self) -> bool {
        self.setting_up() && !self.ice_connected.load(Ordering::Acquire)
    }

    fn release(&self) {
        let wakers = std::mem::take(&mut *self.wakers.lock().unwrap_or_else(|e| e.into_inner()));
        for waker in wakers {
            waker.wake();
        }
    }

    fn wake_on_release(&self, waker: &Waker) {
        let mut wakers = self.wakers.lock().unwrap_or_else(|e| e.into_inner());
        if !wakers.iter().any(|w| w.will_wake(waker)) {
            wakers.push(waker.clone());
        }
    }
}

/// Whether `datagram` is a DTLS record carrying the start of a ClientHello (RFC 6347 §4.1 and
/// §4.2.2: content type 22, epoch 0, handshake type 1 after the 13-byte record header).
fn is_client_hello(datagram: &[u8]) -> bool {
    matches!(datagram, [22, 0xfe, _, 0, 0, _, _, _, _, _, _, _, _, 1, ..])
}

/// A UDP socket that, while its connection's ICE has not selected a pair, keeps the last DTLS
/// ClientHello it receives instead of passing it to webrtc-rs (which would drop it), and passes
/// it on once ICE connects. Everything else goes through unchanged.
pub(crate) struct HoldingSocket {
    inner: Arc<dyn AsyncUdpSocket>,
    setup: Arc<Setup>,
    held: Mutex<Option<(Vec<u8>, RecvMeta)>>,
}

impl HoldingSocket {
    pub(crate) fn new(inner: Arc<dyn AsyncUdpSocket>, setup: Arc<Setup>) -> Self {
        Self {
            inner,
            setup,
            held: Mutex::new(None),
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Option<(Vec<u8>, RecvMeta)>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps the ClientHellos among the `n` received messages and removes them from the
    /// result; returns how many messages remain.
    fn hold_client_hellos(
        &self,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
        n: usize,
    ) -> usize {
        let mut kept = 0;
        for i in 0..n {
            let m = meta[i];
            // One datagram per message (a GRO-coalesced message is never a lone ClientHello).
            let single = m.len <= m.stride.max(1);
            if single && is_client_hello(&bufs[i][..m.len]) {
                tracing::debug!(from = %m.addr, "holding a DTLS ClientHello until ICE connects");
                *self.held() = Some((bufs[i][..m.len].to_vec(), m));
                continue;
            }
            if kept != i {
                let (front, back) = bufs.split_at_mut(i);
                front[kept][..m.len].copy_from_slice(&back[0][..m.len]);
                meta[kept] = m;
            }
            kept += 1;
        }
        kept
    }
}

impl fmt::Debug for HoldingSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HoldingSocket")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl AsyncUdpSocket for HoldingSocket {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    fn poll_send(&self, cx: &mut Context<'_>, transmit: &Transmit<'_>) -> Poll<io::Result<usize>> {
        self.inner.poll_send(cx, transmit)
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        loop {
            if !self.setup.holds() {
                let held = self.held().take();
                if let Some((datagram, m)) = held {
                    if let (Some(buf), Some(slot)) = (bufs.first_mut(), meta.first_mut())
                        && buf.len() >= datagram.len()
                        && self.setup.setting_up()
                    {
                        tracing::debug!(from = %m.addr, "passing on the held DTLS ClientHello");
                        buf[..datagram.len()].copy_from_slice(&datagram);
                        *slot = m;
                        return Poll::Ready(Ok(1));
                    }
                }
                return self.inner.poll_recv(cx, bufs, meta);
            }
            match self.inner.poll_recv(cx, bufs, meta) {
                Poll::Ready(Ok(n)) => {
                    let n = self.hold_client_hellos(bufs, meta, n);
                    if n > 0 {
                        return Poll::Ready(Ok(n));
                    }
                    // Everything was held: read on, so the socket registers the waker.
                }
                Poll::Pending => {
                    if self.held().is_none() {
                        return Poll::Pending;
                    }
                    self.setup.wake_on_release(cx.waker());
                    // ICE may have connected since `holds()` was read; then hand over now.
                    if self.setup.holds() {
                        return Poll::Pending;
                    }
                }
                other => return other,
            }
        }
    }

    fn max_gso_segments(&self) -> usize {
        self.inner.max_gso_segments()
    }

    fn max_gro_segments(&self) -> usize {
        self.inner.max_gro_segments()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_hellos_are_told_from_other_dtls_records() {
        let mut hello = vec![
            22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 1, 0, 0, 0x74,
        ];
        assert!(is_client_hello(&hello));
        hello[13] = 2; // ServerHello
        assert!(!is_client_hello(&hello));
        hello[13] = 1;
        hello[4] = 1; // epoch 1
        assert!(!is_client_hello(&hello));
        assert!(!is_client_hello(&[
            23, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 1
        ]));
        assert!(!is_client_hello(&[0, 1, 0, 0x50])); // STUN
        assert!(!is_client_hello(&hello[..13]));
    }
}
