//! A signaling server compatible with the official PeerJS server (`peer` 1.0.x), so PeerJS
//! clients cannot tell the difference (feature `server`, native only).
//!
//! It serves, under its `path` (default `/`):
//!
//! * `GET {path}` the server banner (JSON);
//! * `GET {path}{key}/id` a fresh id (a UUID v4 not in use);
//! * `GET {path}{key}/peers` the registered ids, when discovery is allowed (else 401);
//! * the WebSocket at `{path}peerjs?key=&id=&token=`, with the official server's admission,
//!   relaying, queueing for peers not yet connected, `EXPIRE`, liveness by `HEARTBEAT` and error
//!   texts;
//! * optionally static files from a directory (`www`), and TLS.
//!
//! ```no_run
//! # async fn run() -> Result<(), peerjs::Error> {
//! use peerjs::server::{Server, ServerOptions};
//!
//! let server = Server::bind(ServerOptions::default().port(9000).allow_discovery(true)).await?;
//! println!("PeerJS server on {}", server.local_addr());
//! server.run().await // until the process ends; or keep it and call `shutdown()`
//! # }
//! ```

mod realm;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tower_http::cors::CorsLayer;
use tower_http::services::ServeDir;

use crate::error::{Error, ErrorKind};
use realm::{Action, Realm, RealmConfig, SocketId};

/// How often liveness and queue expiry are checked (the official server checks liveness every
/// 300 ms).
const TICK: Duration = Duration::from_millis(300);
/// Frames queued for one client before the server gives up on it as too slow.
const OUTBOX: usize = 1024;
/// Largest WebSocket message accepted (SDP offers are a few KiB; the official server accepts up
/// to 100 MiB, which only helps abuse).
const MAX_MESSAGE: usize = 1024 * 1024;
/// How long a TLS handshake may take.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The server's options, named like the official server's (`peerjs --port … --key …`).
///
/// ```
/// use std::time::Duration;
/// use peerjs::server::ServerOptions;
///
/// let opts = ServerOptions::default()
///     .port(0) // any free port
///     .path("/myapp")
///     .key("secret")
///     .alive_timeout(Duration::from_secs(90));
/// assert_eq!(opts.get_path(), "/myapp/");
/// ```
#[derive(Clone, Debug)]
pub struct ServerOptions {
    host: IpAddr,
    port: u16,
    path: String,
    key: String,
    allow_discovery: bool,
    alive_timeout: Duration,
    expire_timeout: Duration,
    concurrent_limit: usize,
    tls: Option<(PathBuf, PathBuf)>,
    www: Option<PathBuf>,
}

impl Default for ServerOptions {
    /// 127.0.0.1:9000, path `/`, key `peerjs`, discovery off, alive timeout 90 s, expire timeout
    /// 5 s, 5000 clients (the official server's defaults, on loopback).
    fn default() -> Self {
        Self {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 9000,
            path: "/".into(),
            key: crate::proto::signaling::DEFAULT_KEY.into(),
            allow_discovery: false,
            alive_timeout: Duration::from_secs(90),
            expire_timeout: Duration::from_secs(5),
            concurrent_limit: 5000,
            tls: None,
            www: None,
        }
    }
}

impl ServerOptions {
    /// The address to listen on (default 127.0.0.1; `0.0.0.0` or `::` for every interface).
    pub fn host(mut self, host: IpAddr) -> Self {
        self.host = host;
        self
    }
    /// The TCP port (default 9000; 0 picks a free one, see [`Server::local_addr`]).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }
    /// The mount path of the HTTP API and the WebSocket (default `/`); normalised to begin and
    /// end with `/`. Clients must use the same `path`.
    pub fn path(mut self, path: &str) -> Self {
        let trimmed = path.trim_matches('/');
        self.path = if trimmed.is_empty() {
            "/".into()
        } else {
            format!("/{trimmed}/")
        };
        self
    }
    /// The only key clients may use (default `peerjs`).
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = key.into();
        self
    }
    /// Whether `GET {path}{key}/peers` lists the registered ids (default false: 401).
    pub fn allow_discovery(mut self, allow: bool) -> Self {
        self.allow_discovery = allow;
        self
    }
    /// How long a client may go without a `HEARTBEAT` before it is dropped (default 90 s).
    pub fn alive_timeout(mut self, timeout: Duration) -> Self {
        self.alive_timeout = timeout;
        self
    }
    /// How long messages for a peer that is not connected are kept before the sender gets
    /// `EXPIRE` (default 5 s).
    pub fn expire_timeout(mut self, timeout: Duration) -> Self {
        self.expire_timeout = timeout;
        self
    }
    /// The most clients registered at once (default 5000).
    pub fn concurrent_limit(mut self, limit: usize) -> Self {
        self.concurrent_limit = limit;
        self
    }
    /// Serve HTTPS and WSS with this PEM private key and certificate chain.
    pub fn tls(mut self, key_pem: impl Into<PathBuf>, cert_pem: impl Into<PathBuf>) -> Self {
        self.tls = Some((key_pem.into(), cert_pem.into()));
        self
    }
    /// Serve the static files of this directory beside the API (for a web page using PeerJS).
    pub fn www(mut self, dir: impl Into<PathBuf>) -> Self {
        self.www = Some(dir.into());
        self
    }

    /// See [`ServerOptions::path`].
    pub fn get_path(&self) -> &str {
        &self.path
    }
    /// See [`ServerOptions::key`].
    pub fn get_key(&self) -> &str {
        &self.key
    }
}

/// A running signaling server. Dropping it leaves it running until the runtime ends; call
/// [`Server::shutdown`] to stop it.
#[derive(Debug)]
pub struct Server {
    local_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Binds the listening socket and starts serving in the background (on the current tokio
    /// runtime).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Network`] if the address cannot be bound, [`ErrorKind::InvalidArgument`] if
    /// the TLS files cannot be read.
    pub async fn bind(options: ServerOptions) -> Result<Self, Error> {
        let tls = match &options.tls {
            Some((key, cert)) => Some(tls_acceptor(key, cert)?),
            None => None,
        };
        let addr = SocketAddr::new(options.host, options.port);
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            Error::with_source(ErrorKind::Network, format!("cannot listen on {addr}"), e)
        })?;
        let local_addr = listener.local_addr().map_err(|e| {
            Error::with_source(ErrorKind::Network, "cannot read the listening address", e)
        })?;
        let shared = Arc::new(Shared {
            realm: Mutex::new(Realm::new(RealmConfig {
                key: options.key.clone(),
                alive_timeout: options.alive_timeout,
                expire_timeout: options.expire_timeout,
                concurrent_limit: options.concurrent_limit,
                max_queued_per_peer: 1000,
                max_queues: 10_000,
            })),
            outboxes: Mutex::new(HashMap::new()),
            next_socket: AtomicU64::new(1),
            allow_discovery: options.allow_discovery,
        });
        let app = router(&options, shared.clone());
        let (shutdown, stop) = watch::channel(false);
        let task = tokio::spawn(serve(listener, app, tls, shared, stop));
        tracing::info!(%local_addr, path = %options.path, "PeerJS server listening");
        Ok(Self {
            local_addr,
            shutdown,
            task,
        })
    }

    /// The address the server listens on (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until the server task ends (it ends only on [`Server::shutdown`] from elsewhere
    /// or when the runtime stops).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ServerError`] if the server task panicked.
    pub async fn run(self) -> Result<(), Error> {
        self.task
            .await
            .map_err(|e| Error::with_source(ErrorKind::ServerError, "the server task failed", e))
    }

    /// Stops accepting, closes every connection and waits for the server task to end.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

/// What the socket tasks and the HTTP handlers share.
struct Shared {
    realm: Mutex<Realm>,
    outboxes: Mutex<HashMap<SocketId, mpsc::Sender<Outgoing>>>,
    next_socket: AtomicU64,
    allow_discovery: bool,
}

#[derive(Debug)]
enum Outgoing {
    Text(String),
    Close,
}

impl Shared {
    fn realm(&self) -> MutexGuard<'_, Realm> {
        self.realm.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn outboxes(&self) -> MutexGuard<'_, HashMap<SocketId, mpsc::Sender<Outgoing>>> {
        self.outboxes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Carries out the realm's actions. A client whose outbox is full is too slow: it is closed.
    fn execute(&self, actions: Vec<Action>) {
        if actions.is_empty() {
            return;
        }
        let mut slow = Vec::new();
        {
            let outboxes = self.outboxes();
            for action in actions {
                let (socket, item) = match action {
                    Action::Send(socket, text) => (socket, Outgoing::Text(text)),
                    Action::Close(socket) => (socket, Outgoing::Close),
                };
                if let Some(tx) = outboxes.get(&socket) {
                    if let Err(mpsc::error::TrySendError::Full(_)) = tx.try_send(item) {
                        slow.push(socket);
                    }
                }
            }
        }
        for socket in slow {
            tracing::warn!(
                socket,
                "client too slow to read its messages; disconnecting it"
            );
            self.outboxes().remove(&socket);
            self.realm().closed(socket);
        }
    }
}

fn router(options: &ServerOptions, shared: Arc<Shared>) -> Router {
    let prefix = options.path.clone();
    let banner_paths = if prefix == "/" {
        vec!["/".to_owned()]
    } else {
        vec![prefix.trim_end_matches('/').to_owned(), prefix.clone()]
    };
    let mut app = Router::new()
        .route(&format!("{prefix}{{key}}/id"), get(id_handler))
        .route(&format!("{prefix}{{key}}/peers"), get(peers_handler))
        .route(&format!("{prefix}peerjs"), get(ws_handler));
    // With a www directory on the root path, the directory's index page takes `/`.
    let www_takes_root = options.www.is_some() && prefix == "/";
    if !www_takes_root {
        for p in banner_paths {
            app = app.route(&p, get(banner_handler));
        }
    }
    if let Some(dir) = &options.www {
        app = app.fallback_service(ServeDir::new(dir));
    }
    app.layer(CorsLayer::very_permissive()).with_state(shared)
}

async fn banner_handler() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        r#"{"name":"PeerJS Server","description":"A server side element to broker connections between PeerJS clients.","website":"https://peerjs.com/"}"#,
    )
        .into_response()
}

async fn id_handler(State(shared): State<Arc<Shared>>, Path(_key): Path<String>) -> Response {
    // As the official server: the key in the URL is not checked.
    let id = loop {
        let id = uuid_v4();
        if !shared.realm().is_registered(&id) {
            break id;
        }
    };
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], id).into_response()
}

async fn peers_handler(State(shared): State<Arc<Shared>>, Path(_key): Path<String>) -> Response {
    if !shared.allow_discovery {
        return (StatusCode::UNAUTHORIZED, "Unauthorized").into_response();
    }
    let ids = shared.realm().peer_ids();
    let body = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into());
    (
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn ws_handler(State(shared): State<Arc<Shared>>, uri: Uri, ws: WebSocketUpgrade) -> Response {
    let target = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |pq| pq.to_string());
    ws.max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
        .on_upgrade(move |socket| client_session(shared, socket, target))
}

/// One client's WebSocket, from admission to close.
async fn client_session(shared: Arc<Shared>, socket: WebSocket, target: String) {
    let id = shared.next_socket.fetch_add(1, Ordering::Relaxed);
    let (tx, mut rx) = mpsc::channel(OUTBOX);
    shared.outboxes().insert(id, tx);
    let actions = shared.realm().open(id, &target, Instant::now());
    shared.execute(actions);

    let (mut sink, mut stream) = socket.split();
    let writer = async move {
        while let Some(item) = rx.recv().await {
            match item {
                Outgoing::Text(text) => {
                    if sink.send(WsMessage::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Outgoing::Close => {
                    // A close frame without a code: the peer sees 1005, as with the official server.
                    let _ = sink.send(WsMessage::Close(None)).await;
                    break;
                }
            }
        }
        let _ = sink.close().await;
    };
    let reader_shared = shared.clone();
    let reader = async move {
        while let Some(Ok(frame)) = stream.next().await {
            let text = match frame {
                WsMessage::Text(t) => t.to_string(),
                // The official server parses binary frames as text too.
                WsMessage::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
                WsMessage::Close(_) => break,
                WsMessage::Ping(_) | WsMessage::Pong(_) => continue,
            };
            let actions = reader_shared.realm().message(id, &text, Instant::now());
            reader_shared.execute(actions);
        }
    };
    // The session ends when the client goes away or the server closes it.
    tokio::select! {
        () = writer => {}
        () = reader => {}
    }
    shared.outboxes().remove(&id);
    shared.realm().closed(id);
}

async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = tick.tick() => {
                let actions = shared.realm().tick(Instant::now());
                shared.execute(actions);
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Usually running out of file descriptors: back off briefly.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let app = app.clone();
                let tls = tls.clone();
                connections.spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                                Ok(Ok(stream)) => serve_connection(stream, app).await,
                                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                            }
                        }
                        None => serve_connection(stream, app).await,
                    }
                });
            }
        }
    }
    connections.shutdown().await;
}

async fn serve_connection<S>(stream: S, app: Router)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let io = hyper_util::rt::TokioIo::new(stream);
    let service = hyper_util::service::TowerToHyperService::new(app);
    let builder =
        hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    if let Err(e) = builder.serve_connection_with_upgrades(io, service).await {
        tracing::debug!(error = %e, "HTTP connection ended with an error");
    }
}

fn tls_acceptor(
    key: &std::path::Path,
    cert: &std::path::Path,
) -> Result<tokio_rustls::TlsAcceptor, Error> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |what: &str, path: &std::path::Path, e: &dyn std::fmt::Display| {
        Error::new(
            ErrorKind::InvalidArgument,
            format!("{what} {}: {e}", path.display()),
        )
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad("cannot read the certificate", cert, &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad("invalid certificate PEM in", cert, &e))?;
    if certs.is_empty() {
        return Err(bad("no certificate in", cert, &"empty PEM"));
    }
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| bad("cannot read the private key", key, &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::new(ErrorKind::SslUnavailable, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| bad("the key does not match the certificate", key, &e))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// A random UUID v4 in lowercase hyphenated form, as `crypto.randomUUID()` gives.
fn uuid_v4() -> String {
    let mut b = [0u8; 16];
    crate::backend::imp::random_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
