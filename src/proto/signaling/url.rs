//! The URLs a client builds from its server options, and the server's reading of a WebSocket
//! request.

use super::error::SignalingError;
use super::message::{MSG_INVALID_KEY, MSG_NO_CREDENTIALS};

/// The PeerJS client version whose wire protocol this crate speaks. It is sent as the
/// `version` query parameter of every request to the server, as PeerJS 1.5.5 does (servers
/// ignore it).
pub const PROTOCOL_VERSION: &str = "1.5.5";

/// The public PeerJS cloud server, PeerJS's default `host`. Always reached over TLS.
pub const CLOUD_HOST: &str = "0.peerjs.com";
/// PeerJS's default `port`, which stays the default for any host.
pub const DEFAULT_PORT: u16 = 443;
/// PeerJS's default `path`.
pub const DEFAULT_PATH: &str = "/";
/// PeerJS's default `key` (the only key a default PeerJS server accepts).
pub const DEFAULT_KEY: &str = "peerjs";
/// The last segment of the WebSocket endpoint, after the normalised path.
pub const WEBSOCKET_SEGMENT: &str = "peerjs";

/// Where the signaling server is, with PeerJS's option names and defaults.
///
/// ```
/// use peerjs::proto::signaling::ServerLocation;
///
/// let cloud = ServerLocation::default();
/// assert_eq!(
///     cloud.websocket_url("alice", "k3cdyzw8ulr"),
///     "wss://0.peerjs.com:443/peerjs?key=peerjs&id=alice&token=k3cdyzw8ulr&version=1.5.5",
/// );
///
/// let local = ServerLocation::default().with_host("::1").with_port(9000).with_path("myapp");
/// assert_eq!(
///     local.id_url("1700000000000"),
///     "http://[::1]:9000/myapp/peerjs/id?ts=1700000000000&version=1.5.5",
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ServerLocation {
    /// `host`: a name or an IP address (IPv6 with or without brackets). Default
    /// [`CLOUD_HOST`]. PeerJS's `"/"` (the page's host) must be resolved by the caller.
    pub host: String,
    /// `port`. Default [`DEFAULT_PORT`], even for a custom host (as in PeerJS).
    pub port: u16,
    /// `path`: where the server is mounted. Normalised to begin and end with `/`. Default
    /// [`DEFAULT_PATH`].
    pub path: String,
    /// `key`: the API key. Default [`DEFAULT_KEY`].
    pub key: String,
    /// `secure`: whether to use `https`/`wss`. Ignored (always true) for [`CLOUD_HOST`];
    /// otherwise `None` means `false`. (In a browser, PeerJS's default is whether the page is
    /// on `https:`; a browser backend should pass that.)
    pub secure: Option<bool>,
}

impl Default for ServerLocation {
    fn default() -> Self {
        Self {
            host: CLOUD_HOST.to_owned(),
            port: DEFAULT_PORT,
            path: DEFAULT_PATH.to_owned(),
            key: DEFAULT_KEY.to_owned(),
            secure: None,
        }
    }
}

impl ServerLocation {
    /// A location with `host` and PeerJS's defaults for everything else.
    pub fn new(host: impl Into<String>) -> Self {
        Self::default().with_host(host)
    }

    /// This location with `host` set.
    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    /// This location with `port` set.
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// This location with `path` set.
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// This location with `key` set.
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = key.into();
        self
    }

    /// This location with `secure` set.
    pub fn with_secure(mut self, secure: bool) -> Self {
        self.secure = Some(secure);
        self
    }

    /// Whether requests use TLS: always for [`CLOUD_HOST`] (compared ignoring ASCII case),
    /// otherwise `secure`, which defaults to `false`.
    pub fn is_secure(&self) -> bool {
        self.host.eq_ignore_ascii_case(CLOUD_HOST) || self.secure.unwrap_or(false)
    }

    /// The path as PeerJS normalises it, beginning and ending with `/`, with characters that
    /// cannot appear in a URL path (space, `?`, `#`, non-ASCII, …) percent-encoded.
    ///
    /// ```
    /// use peerjs::proto::signaling::ServerLocation;
    ///
    /// assert_eq!(ServerLocation::default().with_path("").normalized_path(), "/");
    /// assert_eq!(ServerLocation::default().with_path("a/b").normalized_path(), "/a/b/");
    /// ```
    pub fn normalized_path(&self) -> String {
        let mut path = String::with_capacity(self.path.len() + 2);
        if !self.path.starts_with('/') {
            path.push('/');
        }
        push_encoded(&mut path, &self.path, is_path_char);
        if !path.ends_with('/') {
            path.push('/');
        }
        path
    }

    /// The path of the WebSocket endpoint: the [normalised path](Self::normalized_path)
    /// followed by `peerjs`, for example `/peerjs` or `/myapp/peerjs`. A server compares the
    /// request's path with it exactly.
    pub fn websocket_path(&self) -> String {
        let mut path = self.normalized_path();
        path.push_str(WEBSOCKET_SEGMENT);
        path
    }

    /// The URL a client fetches to be given an id:
    /// `{http|https}://{host}:{port}{path}{key}/id?ts={cache_bust}&version=1.5.5`.
    ///
    /// `cache_bust` only defeats HTTP caches; PeerJS uses the time in milliseconds followed
    /// by a random fraction (see [`cache_bust`]).
    pub fn id_url(&self, cache_bust: &str) -> String {
        self.http_url("id", cache_bust)
    }

    /// The URL a client fetches to list the connected peers (only served when the server
    /// allows discovery): `{http|https}://{host}:{port}{path}{key}/peers?ts=…&version=1.5.5`.
    pub fn peers_url(&self, cache_bust: &str) -> String {
        self.http_url("peers", cache_bust)
    }

    /// The WebSocket URL of a client with this `id` and `token`:
    /// `{ws|wss}://{host}:{port}{path}peerjs?key={key}&id={id}&token={token}&version=1.5.5`.
    ///
    /// The query values are percent-encoded (PeerJS leaves that to the browser); the server
    /// decodes them back to the same strings.
    pub fn websocket_url(&self, id: &str, token: &str) -> String {
        let mut url = self.origin(if self.is_secure() { "wss" } else { "ws" });
        url.push_str(&self.websocket_path());
        url.push_str("?key=");
        push_encoded(&mut url, &self.key, is_unreserved);
        url.push_str("&id=");
        push_encoded(&mut url, id, is_unreserved);
        url.push_str("&token=");
        push_encoded(&mut url, token, is_unreserved);
        url.push_str("&version=");
        url.push_str(PROTOCOL_VERSION);
        url
    }

    /// Checks that the options can make usable URLs: a non-empty `host` that is not PeerJS's
    /// `"/"` placeholder and has no space, `/`, `?`, `#` or `@`; a non-zero `port`; a
    /// non-empty `key` (servers refuse an empty one). The URL builders do not check; they
    /// never fail.
    pub fn validate(&self) -> Result<(), SignalingError> {
        let host_error = |reason| {
            Err(SignalingError::InvalidOption {
                option: "host",
                reason,
            })
        };
        if self.host.is_empty() {
            return host_error("the host is empty");
        }
        if self.host == "/" {
            return host_error("\"/\" stands for the page's host, which the caller must supply");
        }
        if self.host.bytes().any(|b| {
            b.is_ascii_whitespace()
                || b.is_ascii_control()
                || matches!(b, b'/' | b'?' | b'#' | b'@')
        }) {
            return host_error(
                "the host contains a space, a control character, '/', '?', '#' or '@'",
            );
        }
        if self.port == 0 {
            return Err(SignalingError::InvalidOption {
                option: "port",
                reason: "the port is 0",
            });
        }
        if self.key.is_empty() {
            return Err(SignalingError::InvalidOption {
                option: "key",
                reason: "the key is empty",
            });
        }
        Ok(())
    }

    /// `{scheme}://{host}:{port}`, with IPv6 literals in brackets.
    fn origin(&self, scheme: &str) -> String {
        let mut url = String::with_capacity(scheme.len() + self.host.len() + 16);
        url.push_str(scheme);
        url.push_str("://");
        if self.host.contains(':') && !self.host.starts_with('[') {
            // An IPv6 literal; a zone id's `%` is written `%25` (RFC 6874).
            url.push('[');
            url.push_str(&self.host.replace('%', "%25"));
            url.push(']');
        } else {
            url.push_str(&self.host);
        }
        url.push(':');
        url.push_str(&self.port.to_string());
        url
    }

    /// `{http|https}://{host}:{port}{path}{key}/{endpoint}?ts={cache_bust}&version=…`.
    fn http_url(&self, endpoint: &str, cache_bust: &str) -> String {
        let mut url = self.origin(if self.is_secure() { "https" } else { "http" });
        url.push_str(&self.normalized_path());
        push_encoded(&mut url, &self.key, is_segment_char);
        url.push('/');
        url.push_str(endpoint);
        url.push_str("?ts=");
        push_encoded(&mut url, cache_bust, is_unreserved);
        url.push_str("&version=");
        url.push_str(PROTOCOL_VERSION);
        url
    }
}

/// A cache-busting value shaped like PeerJS's `${Date.now()}${Math.random()}`, for example
/// `17958297421470.7916796410399851`: the milliseconds since the Unix epoch followed by a
/// decimal fraction made from `random`.
///
/// ```
/// assert_eq!(peerjs::proto::signaling::cache_bust(1795829742147, 7916796410399851), "17958297421470.7916796410399851");
/// ```
pub fn cache_bust(unix_millis: u64, random: u64) -> String {
    let digits = format!("{:016}", random % 10_000_000_000_000_000);
    let digits = digits.trim_end_matches('0');
    if digits.is_empty() {
        format!("{unix_millis}0")
    } else {
        format!("{unix_millis}0.{digits}")
    }
}

/// What a server reads from the request line of a WebSocket upgrade, the way PeerJS server
/// 1.0.2 does.
///
/// The query is parsed like WHATWG `URLSearchParams`: pairs split on `&`, `+` is a space,
/// percent-escapes are decoded (malformed ones are kept as they are; invalid UTF-8 becomes
/// U+FFFD), and when a key repeats, the last value wins. Parameters other than `key`, `id`,
/// `token` and `version` are ignored.
///
/// ```
/// use peerjs::proto::signaling::{ServerLocation, WsRequest, MSG_INVALID_KEY};
///
/// let request = WsRequest::parse("/peerjs?key=peerjs&id=a%20b&id=c+d&token=t0&version=1.5.5");
/// assert_eq!(request.path, ServerLocation::default().websocket_path());
/// let credentials = request.admit("peerjs")?;
/// assert_eq!((credentials.id, credentials.token), ("c d", "t0"));
/// assert_eq!(request.admit("other").unwrap_err(), MSG_INVALID_KEY);
/// # Ok::<(), &str>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WsRequest {
    /// The path, exactly as requested (not decoded): everything before the first `?`.
    pub path: String,
    /// The `key` parameter.
    pub key: Option<String>,
    /// The `id` parameter.
    pub id: Option<String>,
    /// The `token` parameter.
    pub token: Option<String>,
    /// The `version` parameter (the client's PeerJS version; servers ignore it).
    pub version: Option<String>,
}

/// The `key`, `id` and `token` of an admitted [`WsRequest`], all non-empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Credentials<'a> {
    /// The key, equal to the server's.
    pub key: &'a str,
    /// The peer id the client asks for.
    pub id: &'a str,
    /// The client's token.
    pub token: &'a str,
}

impl WsRequest {
    /// Reads a request target such as `/peerjs?key=peerjs&id=alice&token=abc`. Never fails:
    /// missing parameters are `None`.
    pub fn parse(target: &str) -> Self {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let query = query
            .split_once('#')
            .map_or(query, |(query, _fragment)| query);
        let mut request = Self {
            path: path.to_owned(),
            ..Self::default()
        };
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let slot = match form_decode(name).as_str() {
                "key" => &mut request.key,
                "id" => &mut request.id,
                "token" => &mut request.token,
                "version" => &mut request.version,
                _ => continue,
            };
            *slot = Some(form_decode(value));
        }
        request
    }

    /// The first checks a PeerJS server makes before registering a client. `Err` holds the
    /// `msg` of the `ERROR` to send before closing: [`MSG_NO_CREDENTIALS`] when `id`, `token`
    /// or `key` is missing or empty, else [`MSG_INVALID_KEY`] when `key` is not
    /// `server_key`. The rest (id taken, concurrent limit) needs the server's state.
    pub fn admit(&self, server_key: &str) -> Result<Credentials<'_>, &'static str> {
        let (Some(key), Some(id), Some(token)) = (
            non_empty(&self.key),
            non_empty(&self.id),
            non_empty(&self.token),
        ) else {
            return Err(MSG_NO_CREDENTIALS);
        };
        if key != server_key {
            return Err(MSG_INVALID_KEY);
        }
        Ok(Credentials { key, id, token })
    }
}

/// The value if it is present and not empty (JavaScript's truthiness of a string).
fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

/// Appends `s`, percent-encoding (`%XX`, uppercase) every byte for which `keep` is false.
fn push_encoded(out: &mut String, s: &str, keep: fn(u8) -> bool) {
    for byte in s.bytes() {
        if keep(byte) {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(hex_digit(byte >> 4));
            out.push(hex_digit(byte & 0x0f));
        }
    }
}

/// The uppercase hex digit of `nibble` (0..=15).
fn hex_digit(nibble: u8) -> char {
    char::from(if nibble < 10 {
        b'0' + nibble
    } else {
        b'A' + (nibble & 0x0f) - 10
    })
}

/// The value of a hex digit.
fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// RFC 3986 unreserved characters: safe anywhere, so query values keep only these.
fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// Characters kept as they are in a path: printable ASCII except those WHATWG URL encodes in
/// paths (`"`, `<`, `>`, `` ` ``, `{`, `}`) and those that would end the path (`?`, `#`).
fn is_path_char(byte: u8) -> bool {
    byte.is_ascii_graphic()
        && !matches!(byte, b'"' | b'#' | b'<' | b'>' | b'?' | b'`' | b'{' | b'}')
}

/// Characters kept as they are in one path segment: path characters except `/`.
fn is_segment_char(byte: u8) -> bool {
    is_path_char(byte) && byte != b'/'
}

/// Decodes one name or value of `application/x-www-form-urlencoded` (as `URLSearchParams`
/// does): `+` is a space, `%XX` is a byte, a `%` without two hex digits stays, and the bytes
/// are read as UTF-8 with U+FFFD for invalid sequences.
fn form_decode(s: &str) -> String {
    let mut bytes = Vec::with_capacity(s.len());
    let mut rest = s.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        rest = tail;
        match byte {
            b'+' => bytes.push(b' '),
            b'%' => {
                let high = tail.first().copied().and_then(hex_value);
                let low = tail.get(1).copied().and_then(hex_value);
                match (high, low, tail.get(2..)) {
                    (Some(high), Some(low), Some(after)) => {
                        bytes.push(high << 4 | low);
                        rest = after;
                    }
                    _ => bytes.push(b'%'),
                }
            }
            other => bytes.push(other),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}
