//! The webrtc-rs runtime: tokio, with larger UDP socket buffers.
//!
//! webrtc-rs binds every ICE socket itself and hands it to `Runtime::wrap_udp_socket`. With the
//! kernel's default receive buffer (about 208 KiB on Linux), a burst of SCTP packets overflows it
//! on loopback and fast links; SCTP then waits out its one-second minimum retransmission timeout,
//! and throughput for messages above one SCTP chunk collapses. Enlarging SO_RCVBUF and SO_SNDBUF
//! there removes the drops. The kernel caps the size at `net.core.rmem_max`/`wmem_max`; when it
//! does, we warn once, as QUIC stacks do.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::setup::{HoldingSocket, Setup};
use webrtc::runtime::{
    AsyncInterval, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, JoinHandle, Runtime,
    TokioRuntime,
};

/// While a connection is being set up, the webrtc-rs driver sleeps at most this long.
///
/// webrtc-rs 0.21 sends the packets that handling an event or a received packet produces
/// (the DTLS and SCTP handshakes, the data-channel open) only on the driver's next wake-up,
/// which normally waits for its next protocol timer: each handshake step then stalls for up to
/// 200 ms and a connection takes 0.6–1 s to open on loopback. Waking often during setup sends
/// them at once; once the channel is open the driver sleeps as long as its timers allow.
const SETUP_TICK: Duration = Duration::from_millis(1);

/// Tokio, with every UDP socket's buffers set to `buffer_size` bytes (0 leaves the kernel's),
/// and, while the connection is being set up, short driver sleeps and sockets that keep an
/// early DTLS ClientHello ([`HoldingSocket`]). One per peer connection.
#[derive(Debug)]
pub(crate) struct BufferedRuntime {
    inner: TokioRuntime,
    buffer_size: usize,
    /// Shared by a peer's connections, so the kernel-cap warning is logged once.
    warned: Arc<AtomicBool>,
    /// The connection's setup state: see [`SETUP_TICK`] and [`HoldingSocket`].
    setup: Arc<Setup>,
}

impl BufferedRuntime {
    pub(crate) fn new(buffer_size: usize, warned: Arc<AtomicBool>, setup: Arc<Setup>) -> Self {
        Self {
            inner: TokioRuntime,
            buffer_size,
            warned,
            setup,
        }
    }

    fn size_socket(&self, socket: &std::net::UdpSocket) {
        if self.buffer_size == 0 {
            return;
        }
        let sock = socket2::SockRef::from(socket);
        let set = sock
            .set_recv_buffer_size(self.buffer_size)
            .and_then(|()| sock.set_send_buffer_size(self.buffer_size));
        if let Err(e) = set {
            if !self.warned.swap(true, Ordering::Relaxed) {
                tracing::warn!(error = %e, "could not size UDP socket buffers; large messages may be slow");
            }
            return;
        }
        // Linux reports twice the size it granted (the kernel's bookkeeping share).
        let granted = |reported: usize| {
            if cfg!(target_os = "linux") {
                reported / 2
            } else {
                reported
            }
        };
        let got = (
            sock.recv_buffer_size().map(granted).unwrap_or(0),
            sock.send_buffer_size().map(granted).unwrap_or(0),
        );
        if (got.0 < self.buffer_size || got.1 < self.buffer_size)
            && !self.warned.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                requested = self.buffer_size,
                receive = got.0,
                send = got.1,
                "the kernel capped the UDP socket buffers (raise net.core.rmem_max and \
                 net.core.wmem_max); data channels may lose packets and slow down under load"
            );
        }
    }
}

impl Runtime for BufferedRuntime {
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) -> Box<dyn JoinHandle> {
        self.inner.spawn(future)
    }

    fn spawn_reactor(
        &self,
        reactor_pool_size: usize,
        future: Pin<Box<dyn Future<Output = ()> + Send>>,
    ) -> Box<dyn JoinHandle> {
        self.inner.spawn_reactor(reactor_pool_size, future)
    }

    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        self.size_socket(&socket);
        let socket = self.inner.wrap_udp_socket(socket)?;
        Ok(Arc::new(HoldingSocket::new(socket, self.setup.clone())))
    }

    fn wrap_tcp_listener(
        &self,
        listener: std::net::TcpListener,
    ) -> io::Result<Arc<dyn AsyncTcpListener>> {
        self.inner.wrap_tcp_listener(listener)
    }

    fn connect_tcp<'a>(
        &'a self,
        remote_addr: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = io::Result<Arc<dyn AsyncTcpStream>>> + Send + 'a>> {
        self.inner.connect_tcp(remote_addr)
    }

    fn resolve_host<'a>(
        &'a self,
        host: &'a str,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send + 'a>> {
        self.inner.resolve_host(host)
    }

    fn now(&self) -> Instant {
        self.inner.now()
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        if self.setup.setting_up() {
            return self.inner.sleep(duration.min(SETUP_TICK));
        }
        self.inner.sleep(duration)
    }

    fn interval(&self, period: Duration) -> Box<dyn AsyncInterval> {
        self.inner.interval(period)
    }

    fn block_on(&self, future: Pin<Box<dyn Future<Output = ()> + '_>>) {
        self.inner.block_on(future)
    }

    fn yield_now(&self) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        self.inner.yield_now()
    }

    fn name(&self) -> &'static str {
        "tokio (sized UDP buffers)"
    }
}
