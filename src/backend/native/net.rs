//! TCP and TLS connections to the signaling server, a minimal HTTP GET for `/id` and `/peers`,
//! and the WebSocket.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::driver::SocketEvent;
use crate::error::{Error, ErrorKind};
use crate::options::PeerOptions;

/// How long connecting (TCP, TLS, HTTP or WebSocket handshake) may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// The largest HTTP response read (an id or a list of ids).
const MAX_RESPONSE: usize = 4 * 1024 * 1024;

/// A byte stream to the server, plain or TLS.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The largest frame accepted from the signaling server.
const MAX_SIGNALING_MESSAGE: usize = 1024 * 1024;

/// How the peer reaches its server: TLS client settings with the web's root certificates,
/// plus any the application trusts.
#[derive(Clone, Debug)]
pub(crate) struct Net {
    config: Arc<rustls::ClientConfig>,
}

impl Net {
    /// Trusts the Mozilla root certificates and the options' extra roots (DER).
    pub(crate) fn new(options: &PeerOptions) -> Result<Self, Error> {
        Self::with_roots(&options.root_certificates)
    }

    fn with_roots(extra_roots: &[Vec<u8>]) -> Result<Self, Error> {
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for der in extra_roots {
            roots
                .add(rustls_pki_types::CertificateDer::from(der.clone()))
                .map_err(|e| {
                    Error::with_source(ErrorKind::InvalidArgument, "invalid root certificate", e)
                })?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::with_source(ErrorKind::SslUnavailable, "TLS setup failed", e))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self {
            config: Arc::new(config),
        })
    }
}

/// The parts of an `http(s)://` or `ws(s)://` URL that matter here.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) secure: bool,
    pub(crate) host: String,
    pub(crate) port: u16,
    /// Path and query, starting with `/`.
    pub(crate) path: String,
}

impl Target {
    pub(crate) fn parse(url: &str) -> Result<Self, Error> {
        let bad = || {
            Error::new(
                ErrorKind::InvalidArgument,
                format!("invalid server URL {url}"),
            )
        };
        let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
        let secure = match scheme {
            "http" | "ws" => false,
            "https" | "wss" => true,
            _ => return Err(bad()),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(bad)?;
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        let port = match port {
            Some(p) => p.parse().map_err(|_| bad())?,
            None if secure => 443,
            None => 80,
        };
        if host.is_empty() {
            return Err(bad());
        }
        Ok(Self {
            secure,
            host: host.to_owned(),
            port,
            path: path.to_owned(),
        })
    }

    /// `host:port` for a `Host` header, with IPv6 brackets.
    pub(crate) fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Opens a TCP (and, for `https`/`wss`, TLS) connection to the target.
async fn connect(target: &Target, tls: &Net) -> Result<Box<dyn Io>, Error> {
    let addr = (target.host.as_str(), target.port);
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| {
            Error::new(
                ErrorKind::Network,
                format!("connecting to {} timed out", target.authority()),
            )
        })?
        .map_err(|e| {
            Error::with_source(
                ErrorKind::Network,
                format!("cannot connect to {}", target.authority()),
                e,
            )
        })?;
    let _ = tcp.set_nodelay(true);
    if !target.secure {
        return Ok(Box::new(tcp));
    }
    let name = rustls_pki_types::ServerName::try_from(target.host.clone()).map_err(|e| {
        Error::with_source(ErrorKind::InvalidArgument, "invalid TLS server name", e)
    })?;
    let connector = tokio_rustls::TlsConnector::from(tls.config.clone());
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, tcp))
        .await
        .map_err(|_| Error::new(ErrorKind::SslUnavailable, "the TLS handshake timed out"))?
        .map_err(|e| {
            Error::with_source(ErrorKind::SslUnavailable, "the TLS handshake failed", e)
        })?;
    Ok(Box::new(stream))
}

/// `GET url`: the status code and the body.
pub(crate) async fn http_get(tls: &Net, url: &str) -> Result<(u16, String), Error> {
    let target = Target::parse(url)?;
    let mut stream = connect(&target, tls).await?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nAccept: */*\r\nUser-Agent: peerjs-rs/{}\r\nConnection: close\r\n\r\n",
        target.path,
        target.authority(),
        env!("CARGO_PKG_VERSION")
    );
    let io = |e: std::io::Error| Error::with_source(ErrorKind::Network, "HTTP request failed", e);
    let exchange = async {
        stream.write_all(request.as_bytes()).await.map_err(io)?;
        let mut raw = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            let n = stream.read(&mut buf).await.map_err(io)?;
            if n == 0 {
                break;
            }
            raw.extend_from_slice(buf.get(..n).unwrap_or_default());
            if raw.len() > MAX_RESPONSE {
                return Err(Error::new(
                    ErrorKind::ServerError,
                    "the HTTP response is too large",
                ));
            }
            if let Some(done) = parse_response(&raw, false)? {
                return Ok(done);
            }
        }
        parse_response(&raw, true)?
            .ok_or_else(|| Error::new(ErrorKind::ServerError, "truncated HTTP response"))
    };
    tokio::time::timeout(CONNECT_TIMEOUT, exchange)
        .await
        .map_err(|_| Error::new(ErrorKind::Network, "the HTTP request timed out"))?
}

/// Parses a complete HTTP/1.x response, or says it needs more bytes (`None`). A body without a
/// length runs to the end of the connection, so it is complete only `at_eof`.
fn parse_response(raw: &[u8], at_eof: bool) -> Result<Option<(u16, String)>, Error> {
    let bad = |what: &str| {
        Error::new(
            ErrorKind::ServerError,
            format!("malformed HTTP response: {what}"),
        )
    };
    let Some(head_end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head =
        std::str::from_utf8(raw.get(..head_end).unwrap_or_default()).map_err(|_| bad("head"))?;
    let body = raw.get(head_end + 4..).unwrap_or_default();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or_else(|| bad("no status line"))?;
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("status line"))?;
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse::<usize>().map_err(|_| bad("content-length"))?);
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            && value.eq_ignore_ascii_case("chunked")
        {
            chunked = true;
        }
    }
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    if chunked {
        return Ok(dechunk(body)?.map(|b| (status, text(&b))));
    }
    match length {
        Some(n) if body.len() >= n => Ok(Some((status, text(body.get(..n).unwrap_or_default())))),
        Some(_) => Ok(None),
        // Without a length, the body ends with the connection.
        None if at_eof => Ok(Some((status, text(body)))),
        None => Ok(None),
    }
}

/// Decodes a chunked body; `None` until the final chunk has arrived.
fn dechunk(mut body: &[u8]) -> Result<Option<Vec<u8>>, Error> {
    let bad = || Error::new(ErrorKind::ServerError, "malformed chunked HTTP body");
    let mut out = Vec::new();
    loop {
        let Some(line_end) = body.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let size_text =
            std::str::from_utf8(body.get(..line_end).unwrap_or_default()).map_err(|_| bad())?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| bad())?;
        let rest = body.get(line_end + 2..).unwrap_or_default();
        if size == 0 {
            return Ok(Some(out));
        }
        if rest.len() < size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(rest.get(..size).unwrap_or_default());
        body = rest.get(size + 2..).unwrap_or_default();
    }
}

/// Opens the WebSocket, then relays frames both ways until either side closes, reporting what
/// happens. Dropping `outgoing`'s sender closes the socket.
pub(crate) async fn run_socket(
    net: Net,
    url: String,
    report: impl Fn(SocketEvent),
    mut outgoing: mpsc::UnboundedReceiver<String>,
) {
    let ws = match open_socket(&url, &net).await {
        Ok(ws) => ws,
        Err(e) => {
            tracing::warn!(error = %e, "could not connect to the signaling server");
            report(SocketEvent::Closed);
            return;
        }
    };
    report(SocketEvent::Open);
    let (mut sink, mut stream) = ws.split();
    loop {
        tokio::select! {
            text = outgoing.recv() => match text {
                Some(text) => {
                    if sink.send(WsMessage::text(text)).await.is_err() {
                        break;
                    }
                }
                None => {
                    let _ = sink.close().await;
                    return;
                }
            },
            frame = stream.next() => match frame {
                Some(Ok(WsMessage::Text(text))) => report(SocketEvent::Text(text.to_string())),
                Some(Ok(WsMessage::Binary(bytes))) => {
                    report(SocketEvent::Text(String::from_utf8_lossy(&bytes).into_owned()));
                }
                Some(Ok(WsMessage::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    report(SocketEvent::Closed);
}

type Ws = tokio_tungstenite::WebSocketStream<Box<dyn Io>>;

async fn open_socket(url: &str, net: &Net) -> Result<Ws, Error> {
    let target = Target::parse(url)?;
    let stream = connect(&target, net).await?;
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_SIGNALING_MESSAGE))
        .max_frame_size(Some(MAX_SIGNALING_MESSAGE));
    let handshake = tokio_tungstenite::client_async_with_config(url, stream, Some(config));
    let (ws, _response) = tokio::time::timeout(CONNECT_TIMEOUT, handshake)
        .await
        .map_err(|_| Error::new(ErrorKind::Network, "the WebSocket handshake timed out"))?
        .map_err(|e| Error::with_source(ErrorKind::Network, "the WebSocket handshake failed", e))?;
    Ok(ws)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_split_into_what_a_connection_needs() {
        let t = Target::parse("https://0.peerjs.com:443/peerjs/id?ts=1").unwrap();
        assert_eq!(
            t,
            Target {
                secure: true,
                host: "0.peerjs.com".into(),
                port: 443,
                path: "/peerjs/id?ts=1".into()
            }
        );
        let t = Target::parse("ws://[::1]:9000/peerjs?key=k").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.authority()),
            ("::1", 9000, "[::1]:9000".into())
        );
        assert_eq!(Target::parse("wss://example.org").unwrap().port, 443);
        assert!(Target::parse("ftp://x").is_err());
        assert!(Target::parse("http://:80/").is_err());
    }

    #[test]
    fn responses_with_length_chunks_or_neither() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcd";
        assert_eq!(
            parse_response(r, false).unwrap(),
            Some((200, "abcd".into()))
        );
        assert_eq!(parse_response(&r[..r.len() - 1], false).unwrap(), None);
        let c = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(
            parse_response(c, false).unwrap(),
            Some((200, "abcde".into()))
        );
        assert_eq!(parse_response(&c[..30], false).unwrap(), None);
        let u = b"HTTP/1.1 401 Unauthorized\r\n\r\nUnauthorized";
        assert_eq!(
            parse_response(u, false).unwrap(),
            None,
            "no length: complete only at EOF"
        );
        assert_eq!(
            parse_response(u, true).unwrap(),
            Some((401, "Unauthorized".into()))
        );
        assert!(parse_response(b"garbage\r\n\r\n", true).is_err());
    }
}
