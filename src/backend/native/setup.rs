//! What a connection's runtime and sockets share while the connection is being set up, and a
//! socket that keeps datagrams webrtc-rs would drop because they came early.
//!
//! Two datagrams arrive early when we offer, and webrtc-rs 0.21 drops both:
//!
//! - The answerer's first ICE check: it starts checking as soon as it has sent its answer, and the
//!   check (straight over UDP) overtakes the answer (through the signaling server). Without the
//!   remote credentials webrtc-rs answers nothing, so the check is lost and ICE waits for the
//!   answerer's retransmission (libdatachannel: 50 ms). RFC 8445 §7.3 lets an agent answer such a
//!   check; [`HoldingSocket`] holds it until the remote description is applied instead.
//! - The answerer's DTLS ClientHello. webrtc-rs drops every datagram that is not STUN until its
//!   ICE agent has selected a candidate pair. As the controlling agent we select ours only after
//!   a nomination round trip, while the answerer (libdatachannel in Node, Chromium) may take its
//!   side as connected a round trip earlier. Both answer `a=setup:active`, so they are the DTLS
//!   client and send their ClientHello at once; it reaches us in that gap, and the handshake
//!   waits for the client's first retransmission (1 s in libdatachannel). Chromium keeps an
//!   early ClientHello until its DTLS transport starts; [`HoldingSocket`] does the same for us,
//!   until ICE connects.

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
    /// Whether the remote description is applied (so webrtc-rs answers ICE checks).
    remote_applied: AtomicBool,
    /// Whether webrtc-rs's ICE agent has selected a pair (and so accepts DTLS).
    ice_connected: AtomicBool,
    /// Receivers of sockets that hold a ClientHello, to wake when ICE connects.
    wakers: Mutex<Vec<Waker>>,
}

impl Setup {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            setting_up: AtomicBool::new(true),
            remote_applied: AtomicBool::new(false),
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

    /// The remote description is applied: hand over held ICE checks.
    pub(crate) fn remote_applied(&self) {
        self.remote_applied.store(true, Ordering::Release);
        self.release();
    }

    /// Whether a datagram of this kind is held now.
    fn holds(&self, kind: Early) -> bool {
        self.setting_up()
            && !match kind {
                Early::Check => self.remote_applied.load(Ordering::Acquire),
                Early::ClientHello => self.ice_connected.load(Ordering::Acquire),
            }
    }

    /// Whether this socket holds anything when it sees a datagram now.
    fn may_hold(&self) -> bool {
        self.holds(Early::Check) || self.holds(Early::ClientHello)
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

/// A datagram webrtc-rs would drop if it came now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Early {
    /// A STUN Binding request, before the remote description.
    Check,
    /// A DTLS ClientHello, before ICE has selected a pair.
    ClientHello,
}

impl Early {
    fn of(datagram: &[u8]) -> Option<Self> {
        if is_binding_request(datagram) {
            Some(Self::Check)
        } else if is_client_hello(datagram) {
            Some(Self::ClientHello)
        } else {
            None
        }
    }
}

/// Whether `datagram` is a STUN Binding request (RFC 8489 §5: type 0x0001, the magic cookie).
fn is_binding_request(datagram: &[u8]) -> bool {
    datagram.len() >= 20 && datagram[..2] == [0, 1] && datagram[4..8] == [0x21, 0x12, 0xa4, 0x42]
}

/// Whether `datagram` is a DTLS record carrying the start of a ClientHello (RFC 6347 §4.1 and
/// §4.2.2: content type 22, epoch 0, handshake type 1 after the 13-byte record header).
fn is_client_hello(datagram: &[u8]) -> bool {
    matches!(datagram, [22, 0xfe, _, 0, 0, _, _, _, _, _, _, _, _, 1, ..])
}

/// At most this many datagrams are held per socket (a peer retransmits what is lost anyway).
const MAX_HELD: usize = 8;

/// A UDP socket that, while its connection is set up, keeps what webrtc-rs would drop for coming
/// early (see the module docs) and passes it on, in order, once webrtc-rs is ready for it.
/// Everything else goes through unchanged.
pub(crate) struct HoldingSocket {
    inner: Arc<dyn AsyncUdpSocket>,
    setup: Arc<Setup>,
    held: Mutex<Vec<(Early, Vec<u8>, RecvMeta)>>,
}

impl HoldingSocket {
    pub(crate) fn new(inner: Arc<dyn AsyncUdpSocket>, setup: Arc<Setup>) -> Self {
        Self {
            inner,
            setup,
            held: Mutex::new(Vec::new()),
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Vec<(Early, Vec<u8>, RecvMeta)>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The first held datagram webrtc-rs is ready for, if any; once setup is over, what is
    /// still held is dropped (webrtc-rs would drop it too).
    fn take_ready(&self) -> Option<(Early, Vec<u8>, RecvMeta)> {
        let mut held = self.held();
        if !self.setup.setting_up() {
            held.clear();
            return None;
        }
        let i = held
            .iter()
            .position(|(kind, ..)| !self.setup.holds(*kind))?;
        Some(held.remove(i))
    }

    /// Holds the early datagrams among the `n` received messages and removes them from the
    /// result; returns how many messages remain.
    fn hold_early(&self, bufs: &mut [IoSliceMut<'_>], meta: &mut [RecvMeta], n: usize) -> usize {
        let mut kept = 0;
        for i in 0..n {
            let m = meta[i];
            // One datagram per message (a GRO-coalesced message is never a lone early one).
            let single = m.len <= m.stride.max(1);
            let early =
                Early::of(&bufs[i][..m.len]).filter(|kind| single && self.setup.holds(*kind));
            if let Some(kind) = early {
                let mut held = self.held();
                if held.len() < MAX_HELD {
                    tracing::debug!(from = %m.addr, ?kind, "holding an early datagram");
                    held.push((kind, bufs[i][..m.len].to_vec(), m));
                }
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
            if let Some((kind, datagram, m)) = self.take_ready() {
                if let (Some(buf), Some(slot)) = (bufs.first_mut(), meta.first_mut())
                    && buf.len() >= datagram.len()
                {
                    tracing::debug!(from = %m.addr, ?kind, "passing on a held datagram");
                    buf[..datagram.len()].copy_from_slice(&datagram);
                    *slot = m;
                    return Poll::Ready(Ok(1));
                }
                continue;
            }
            if !self.setup.may_hold() && self.held().is_empty() {
                return self.inner.poll_recv(cx, bufs, meta);
            }
            match self.inner.poll_recv(cx, bufs, meta) {
                Poll::Ready(Ok(n)) => {
                    let n = self.hold_early(bufs, meta, n);
                    if n > 0 {
                        return Poll::Ready(Ok(n));
                    }
                    // Everything was held: read on, so the socket registers the waker.
                }
                Poll::Pending => {
                    if self.held().is_empty() {
                        return Poll::Pending;
                    }
                    self.setup.wake_on_release(cx.waker());
                    // Something may have been released since `take_ready`; then hand it over.
                    let ready = self
                        .held()
                        .iter()
                        .any(|(kind, ..)| !self.setup.holds(*kind));
                    if !ready {
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
    fn binding_requests_are_told_from_other_stun_messages() {
        let mut request = [0u8; 20];
        request[..8].copy_from_slice(&[0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42]);
        assert_eq!(Early::of(&request), Some(Early::Check));
        request[1] = 0x01;
        request[0] = 0x01; // a success response (0x0101)
        assert_eq!(Early::of(&request), None);
        assert_eq!(Early::of(&request[..19]), None);
    }

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
