//! Options of a `Peer` and of its connections, with PeerJS's names and defaults.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;

use crate::error::{Error, ErrorKind};
use crate::proto::codec::{CodecOptions, Serialization};
use crate::proto::signaling::ServerLocation;

/// A STUN or TURN server, as in `RTCIceServer`.
///
/// ```
/// use peerjs::IceServer;
/// let stun = IceServer::new(["stun:stun.example.org:3478"]);
/// let turn = IceServer::new(["turn:turn.example.org:3478"]).credentials("user", "secret");
/// # let _ = (stun, turn);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IceServer {
    pub(crate) urls: Vec<String>,
    pub(crate) username: String,
    pub(crate) credential: String,
}

impl IceServer {
    /// A server reachable at these URLs (`stun:…`, `turn:…`, `turns:…`).
    pub fn new<S: Into<String>>(urls: impl IntoIterator<Item = S>) -> Self {
        Self {
            urls: urls.into_iter().map(Into::into).collect(),
            username: String::new(),
            credential: String::new(),
        }
    }

    /// The TURN username and credential.
    pub fn credentials(
        mut self,
        username: impl Into<String>,
        credential: impl Into<String>,
    ) -> Self {
        self.username = username.into();
        self.credential = credential.into();
        self
    }

    /// The URLs.
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// PeerJS 1.5's default ICE servers: Google's public STUN server and PeerJS's TURN servers.
    pub fn peerjs_defaults() -> Vec<Self> {
        vec![
            Self::new(["stun:stun.l.google.com:19302"]),
            Self::new([
                "turn:eu-0.turn.peerjs.com:3478",
                "turn:us-0.turn.peerjs.com:3478",
            ])
            .credentials("peerjs", "peerjsp"),
        ]
    }
}

/// How a `Peer` reaches its signaling server and sets up connections.
///
/// The defaults are PeerJS's: the public PeerJS cloud server (`0.peerjs.com:443`, TLS), path
/// `/`, key `peerjs`, a heartbeat every 5 s, and PeerJS's STUN/TURN servers. For a local server:
///
/// ```
/// use peerjs::PeerOptions;
/// let opts = PeerOptions::default()
///     .host("127.0.0.1")
///     .port(9000)
///     .id("alice")
///     .ice_servers([]); // loopback needs no STUN or TURN
/// assert_eq!(opts.get_id(), Some("alice"));
/// ```
#[derive(Clone, Debug)]
pub struct PeerOptions {
    pub(crate) server: ServerLocation,
    pub(crate) id: Option<String>,
    pub(crate) token: Option<String>,
    pub(crate) ping_interval: Duration,
    pub(crate) ice_servers: Vec<IceServer>,
    pub(crate) ice_addresses: Vec<SocketAddr>,
    pub(crate) socket_buffer_size: usize,
    pub(crate) send_buffer_limit: usize,
    pub(crate) mdns: bool,
    pub(crate) codec: CodecOptions,
    pub(crate) root_certificates: Vec<Vec<u8>>,
    pub(crate) ice_timeouts: Option<(Duration, Duration, Duration)>,
}

impl Default for PeerOptions {
    fn default() -> Self {
        Self {
            server: ServerLocation::default(),
            id: None,
            token: None,
            ping_interval: crate::proto::signaling::HEARTBEAT_INTERVAL,
            ice_servers: IceServer::peerjs_defaults(),
            ice_addresses: default_ice_addresses(),
            socket_buffer_size: 4 * 1024 * 1024,
            send_buffer_limit: 1024 * 1024,
            mdns: true,
            // Chunks as large as each channel allows (see `PeerOptions::codec`).
            codec: CodecOptions::default()
                .chunk_size(usize::MAX)
                .msgpack_piece_size(usize::MAX),
            root_certificates: Vec::new(),
            ice_timeouts: None,
        }
    }
}

/// Every interface, and loopback explicitly (a wildcard bind skips loopback in webrtc-rs).
fn default_ice_addresses() -> Vec<SocketAddr> {
    use std::net::{Ipv4Addr, Ipv6Addr};
    vec![
        SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
        SocketAddr::from((Ipv6Addr::LOCALHOST, 0)),
    ]
}

impl PeerOptions {
    /// Options for a PeerJS server at `host:port` without TLS, no STUN/TURN servers: what a
    /// local or private deployment (and every test) wants.
    ///
    /// ```
    /// let opts = peerjs::PeerOptions::local("127.0.0.1", 9000);
    /// ```
    pub fn local(host: &str, port: u16) -> Self {
        Self::default()
            .host(host)
            .port(port)
            .secure(false)
            .ice_servers([])
    }

    /// The server's host name or IP address (PeerJS `host`; default `0.peerjs.com`).
    pub fn host(mut self, host: &str) -> Self {
        self.server = self.server.with_host(host);
        self
    }
    /// The server's port (PeerJS `port`; default 443, even for another host, as in PeerJS).
    pub fn port(mut self, port: u16) -> Self {
        self.server = self.server.with_port(port);
        self
    }
    /// The server's mount path (PeerJS `path`; default `/`).
    pub fn path(mut self, path: &str) -> Self {
        self.server = self.server.with_path(path);
        self
    }
    /// The API key (PeerJS `key`; default `peerjs`).
    pub fn key(mut self, key: &str) -> Self {
        self.server = self.server.with_key(key);
        self
    }
    /// Whether to use TLS (`https`/`wss`). PeerJS forces it for the cloud server; otherwise the
    /// default is no TLS.
    pub fn secure(mut self, secure: bool) -> Self {
        self.server = self.server.with_secure(secure);
        self
    }
    /// The id to register (PeerJS's `new Peer(id)`); without one, the server assigns an id.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }
    /// The token that proves the id is ours across reconnects (default: random, as PeerJS).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }
    /// How often to send `HEARTBEAT` (PeerJS `pingInterval`; default 5 s).
    pub fn ping_interval(mut self, interval: Duration) -> Self {
        self.ping_interval = interval;
        self
    }
    /// The STUN and TURN servers (PeerJS `config.iceServers`); empty for none.
    pub fn ice_servers(mut self, servers: impl IntoIterator<Item = IceServer>) -> Self {
        self.ice_servers = servers.into_iter().collect();
        self
    }
    /// The local addresses ICE gathers host candidates on (native only). Default: every IPv4
    /// and IPv6 interface plus both loopbacks, so peers on one machine or in a namespace with
    /// only `lo` connect with no options. Give explicit addresses to restrict it, for example
    /// `127.0.0.1:0` (port 0 picks a free port per connection).
    pub fn ice_addresses(mut self, addresses: impl IntoIterator<Item = SocketAddr>) -> Self {
        self.ice_addresses = addresses.into_iter().collect();
        self
    }
    /// The receive and send buffer size of every ICE UDP socket, in bytes (native only; default
    /// 4 MiB; 0 keeps the kernel's). Small buffers drop packets under load and stall data
    /// channels; the kernel caps the size at `net.core.rmem_max`, with a warning in the log.
    pub fn socket_buffer_size(mut self, bytes: usize) -> Self {
        self.socket_buffer_size = bytes;
        self
    }
    /// The unacknowledged bytes per connection above which a send waits (native only; default
    /// 1 MiB). It caps the bytes in flight, so with a round-trip time of `rtt` a connection
    /// carries at most about `limit / rtt`: raise it for long, fast paths. Lower values help
    /// between two webrtc-rs peers on one machine sending small messages: webrtc-rs 0.21 then
    /// stalls for a second whenever the receiver falls behind (see README, "What stands behind
    /// the figures"); 256 KiB made that rare in our benchmark, at ~25% less throughput for
    /// 64 KiB and larger messages on loopback.
    ///
    /// ```
    /// let opts = peerjs::PeerOptions::default().send_buffer_limit(256 * 1024);
    /// # let _ = opts;
    /// ```
    pub fn send_buffer_limit(mut self, bytes: usize) -> Self {
        self.send_buffer_limit = bytes.max(1);
        self
    }
    /// Whether to resolve remote `.local` (mDNS) candidates, which browsers use to hide their
    /// addresses (native only; default true). Off saves a multicast socket per connection.
    pub fn mdns(mut self, enabled: bool) -> Self {
        self.mdns = enabled;
        self
    }
    /// Codec limits and tuning for every connection (see [`CodecOptions`]).
    ///
    /// The chunk size of BinaryPack and the piece size of MsgPack are upper bounds: each
    /// connection sends chunks as large as its channel's maximum message size allows, since
    /// PeerJS receivers reassemble chunks of any size. By default they are unbounded (fewer,
    /// larger messages are faster); `CodecOptions::default()` has PeerJS's own sizes (16300 and
    /// 32768 bytes), for byte-for-byte PeerJS framing.
    pub fn codec(mut self, codec: CodecOptions) -> Self {
        self.codec = codec;
        self
    }
    /// Also trust this root certificate (DER) for a `secure` server, beside the web's usual
    /// roots: for a private server with its own certificate authority.
    pub fn root_certificate(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.root_certificates.push(der.into());
        self
    }

    /// How ICE notices a peer that vanished without closing (native only): the connection is
    /// reported disconnected after `disconnected` without traffic, failed (and closed with
    /// `negotiation-failed`) after `failed`, and keep-alives go out every `keepalive`. Defaults
    /// are webrtc-rs's: 5 s, 25 s and 2 s.
    pub fn ice_timeouts(
        mut self,
        disconnected: Duration,
        failed: Duration,
        keepalive: Duration,
    ) -> Self {
        self.ice_timeouts = Some((disconnected, failed, keepalive));
        self
    }

    /// The id, if one was set.
    pub fn get_id(&self) -> Option<&str> {
        self.id.as_deref()
    }
    /// The server's location.
    pub fn get_server(&self) -> &ServerLocation {
        &self.server
    }
    /// The STUN and TURN servers.
    pub fn get_ice_servers(&self) -> &[IceServer] {
        &self.ice_servers
    }
    /// The local addresses ICE gathers on.
    pub fn get_ice_addresses(&self) -> &[SocketAddr] {
        &self.ice_addresses
    }
}

/// Options of one data connection (PeerJS's `peer.connect(id, options)`).
///
/// ```
/// use peerjs::ConnectOptions;
/// use peerjs::proto::codec::Serialization;
///
/// let opts = ConnectOptions::default()
///     .label("chat")
///     .serialization(Serialization::Json)
///     .reliable(true)
///     .metadata(&serde_json::json!({"user": "alice"}))?;
/// # Ok::<(), peerjs::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    pub(crate) label: Option<String>,
    pub(crate) metadata: Option<serde_json::Value>,
    pub(crate) serialization: Serialization,
    pub(crate) reliable: bool,
    pub(crate) timeout: Duration,
}

impl Default for ConnectOptions {
    /// No label (the connection id is used), no metadata, BinaryPack, unordered (PeerJS's
    /// `reliable: false`: every message arrives, in any order), a 30 s timeout.
    fn default() -> Self {
        Self {
            label: None,
            metadata: None,
            serialization: Serialization::Binary,
            reliable: false,
            timeout: Duration::from_secs(30),
        }
    }
}

impl ConnectOptions {
    /// The data channel's label (default: the connection id).
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }
    /// Metadata for the remote side, any JSON-serializable value.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Serialization`] if it cannot be represented as JSON.
    pub fn metadata<T: Serialize + ?Sized>(mut self, metadata: &T) -> Result<Self, Error> {
        let json = serde_json::to_value(metadata)
            .map_err(|e| Error::with_source(ErrorKind::Serialization, "metadata is not JSON", e))?;
        self.metadata = Some(json);
        Ok(self)
    }
    /// The serialization (default BinaryPack). Offer MsgPack only to peers that use it.
    pub fn serialization(mut self, serialization: Serialization) -> Self {
        self.serialization = serialization;
        self
    }
    /// Whether messages arrive in order (PeerJS `reliable`, default false). Delivery is always
    /// reliable; this sets the channel's `ordered`. MsgPack is always ordered.
    pub fn reliable(mut self, reliable: bool) -> Self {
        self.reliable = reliable;
        self
    }
    /// How long `Peer::connect` waits for the connection to open
    /// (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}
