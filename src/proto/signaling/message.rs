//! The untyped message envelope `{type, src, dst, payload}`.

use std::fmt;

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::error::SignalingError;

/// The `msg` of the `ERROR` a server sends when the WebSocket URL lacks `id`, `token` or `key`
/// (or one of them is empty).
pub const MSG_NO_CREDENTIALS: &str = "No id, token, or key supplied to websocket server";
/// The `msg` of the `ERROR` a server sends when the WebSocket `key` is not its key.
pub const MSG_INVALID_KEY: &str = "Invalid key provided";
/// The `msg` of the `ID-TAKEN` a server sends when another client holds the id with another
/// token.
pub const MSG_ID_TAKEN: &str = "ID is taken";
/// The `msg` of the `ERROR` a server sends when it already has `concurrent_limit` clients.
pub const MSG_CONCURRENT_LIMIT: &str = "Server has reached its concurrent user limit";

/// The `type` of a signaling message.
///
/// Matching is exact and case-sensitive, as in PeerJS; a type this crate does not know is kept
/// as [`MessageType::Other`]. Build values from wire strings with [`MessageType::from`], which
/// never produces `Other` for a known name.
///
/// ```
/// use peerjs::proto::signaling::MessageType;
///
/// assert_eq!(MessageType::from("ID-TAKEN"), MessageType::IdTaken);
/// assert_eq!(MessageType::IdTaken.as_str(), "ID-TAKEN");
/// assert_eq!(MessageType::from("open"), MessageType::Other("open".into()));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MessageType {
    /// `OPEN`: the server registered the client (server → client).
    Open,
    /// `OFFER`: a connection offer, relayed between peers.
    Offer,
    /// `ANSWER`: a connection answer, relayed between peers.
    Answer,
    /// `CANDIDATE`: one ICE candidate, relayed between peers.
    Candidate,
    /// `LEAVE`: the peer `src` is gone (server → client); sent by a client without `dst`, it
    /// removes the client's own registration.
    Leave,
    /// `EXPIRE`: messages to the peer `src` could not be delivered (server → client).
    Expire,
    /// `HEARTBEAT`: keeps the client registered (client → server).
    Heartbeat,
    /// `ID-TAKEN`: another client holds the requested id (server → client).
    IdTaken,
    /// `INVALID-KEY`: the server rejected the key (legacy servers only; server → client).
    InvalidKey,
    /// `ERROR`: the server refused the client; `payload.msg` says why (server → client).
    Error,
    /// Any other `type` string, kept verbatim.
    Other(String),
}

impl MessageType {
    /// The wire string, for example `"ID-TAKEN"`.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Open => "OPEN",
            Self::Offer => "OFFER",
            Self::Answer => "ANSWER",
            Self::Candidate => "CANDIDATE",
            Self::Leave => "LEAVE",
            Self::Expire => "EXPIRE",
            Self::Heartbeat => "HEARTBEAT",
            Self::IdTaken => "ID-TAKEN",
            Self::InvalidKey => "INVALID-KEY",
            Self::Error => "ERROR",
            Self::Other(other) => other,
        }
    }

    /// Whether a PeerJS server relays this type to `dst`: `OFFER`, `ANSWER`, `CANDIDATE`,
    /// `LEAVE` and `EXPIRE`. The server handles `HEARTBEAT` itself and ignores every other type
    /// a client sends.
    pub fn is_relayed(&self) -> bool {
        matches!(
            self,
            Self::Offer | Self::Answer | Self::Candidate | Self::Leave | Self::Expire
        )
    }

    /// Whether a PeerJS server queues this type for a destination that is not connected:
    /// `OFFER`, `ANSWER` and `CANDIDATE`. `LEAVE` and `EXPIRE` to an offline peer are dropped.
    pub fn is_queued_when_offline(&self) -> bool {
        matches!(self, Self::Offer | Self::Answer | Self::Candidate)
    }

    /// Whether only a server originates this type: `OPEN`, `ERROR`, `ID-TAKEN` and
    /// `INVALID-KEY`.
    pub fn is_from_server(&self) -> bool {
        matches!(
            self,
            Self::Open | Self::Error | Self::IdTaken | Self::InvalidKey
        )
    }
}

impl From<&str> for MessageType {
    fn from(s: &str) -> Self {
        match s {
            "OPEN" => Self::Open,
            "OFFER" => Self::Offer,
            "ANSWER" => Self::Answer,
            "CANDIDATE" => Self::Candidate,
            "LEAVE" => Self::Leave,
            "EXPIRE" => Self::Expire,
            "HEARTBEAT" => Self::Heartbeat,
            "ID-TAKEN" => Self::IdTaken,
            "INVALID-KEY" => Self::InvalidKey,
            "ERROR" => Self::Error,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl From<String> for MessageType {
    fn from(s: String) -> Self {
        match Self::from(s.as_str()) {
            Self::Other(_) => Self::Other(s),
            known => known,
        }
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for MessageType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for MessageType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::from)
    }
}

/// One signaling message: the envelope `{type, src, dst, payload}` that PeerJS clients and
/// servers exchange over the WebSocket.
///
/// The payload is kept as raw JSON, so a server can relay it verbatim (key order included);
/// [`Signal`](super::Signal) is the typed view.
///
/// Reading is tolerant, like PeerJS: fields other than the four are ignored, an unknown `type`
/// becomes [`MessageType::Other`], and a `src` or `dst` that is `null` or not a string counts
/// as absent. Only invalid JSON, a non-object, and a missing or non-string `type` are errors.
///
/// Writing ([`Message::to_json`], [`Display`](fmt::Display), [`Serialize`]) uses the key order
/// `type, src, dst, payload`, as the PeerJS server does when it relays, and leaves out absent
/// fields. Receivers must not depend on key order. Numbers in a payload keep their value but
/// not necessarily their spelling (`1.0` stays `1.0`, where JavaScript would write `1`).
///
/// ```
/// use peerjs::proto::signaling::{Message, MessageType};
///
/// // What a JS client sends, and what the server relays.
/// let msg = Message::parse(r#"{"type":"LEAVE","payload":null,"dst":"bob","extra":1}"#)?;
/// assert_eq!(msg.kind, MessageType::Leave);
/// assert_eq!(msg.dst.as_deref(), Some("bob"));
/// let relayed = msg.with_src("alice");
/// assert_eq!(relayed.to_json(), r#"{"type":"LEAVE","src":"alice","dst":"bob","payload":null}"#);
/// # Ok::<(), peerjs::proto::signaling::SignalingError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// The `type` field.
    pub kind: MessageType,
    /// The sender's id. A server overwrites it with the sender's registered id; clients leave
    /// it out.
    pub src: Option<String>,
    /// The destination peer's id.
    pub dst: Option<String>,
    /// The payload, as received. `Some(Value::Null)` is an explicit `"payload":null`.
    pub payload: Option<Value>,
}

impl Message {
    /// A message of type `kind` with no `src`, `dst` or payload.
    pub fn new(kind: MessageType) -> Self {
        Self {
            kind,
            src: None,
            dst: None,
            payload: None,
        }
    }

    /// This message with `src` set.
    pub fn with_src(mut self, src: impl Into<String>) -> Self {
        self.src = Some(src.into());
        self
    }

    /// This message with `dst` set.
    pub fn with_dst(mut self, dst: impl Into<String>) -> Self {
        self.dst = Some(dst.into());
        self
    }

    /// This message with a payload.
    pub fn with_payload(mut self, payload: Value) -> Self {
        self.payload = Some(payload);
        self
    }

    /// `{"type":"HEARTBEAT"}`, which a client sends every
    /// [`HEARTBEAT_INTERVAL`](super::HEARTBEAT_INTERVAL).
    pub fn heartbeat() -> Self {
        Self::new(MessageType::Heartbeat)
    }

    /// `{"type":"OPEN"}`, which a server sends after registering a new client.
    pub fn open() -> Self {
        Self::new(MessageType::Open)
    }

    /// `{"type":"ERROR","payload":{"msg":…}}`, which a server sends before closing the socket.
    /// The usual texts are [`MSG_NO_CREDENTIALS`], [`MSG_INVALID_KEY`] and
    /// [`MSG_CONCURRENT_LIMIT`].
    pub fn error(msg: impl Into<String>) -> Self {
        Self::new(MessageType::Error).with_payload(msg_payload(msg.into()))
    }

    /// `{"type":"ID-TAKEN","payload":{"msg":"ID is taken"}}`, which a server sends when the id
    /// is registered with another token.
    pub fn id_taken() -> Self {
        Self::new(MessageType::IdTaken).with_payload(msg_payload(MSG_ID_TAKEN.to_owned()))
    }

    /// `{"type":"INVALID-KEY","payload":{"msg":…}}`, the legacy rejection of a key. PeerJS
    /// server 1.0 sends [`Message::error`] with [`MSG_INVALID_KEY`] instead; clients still
    /// understand this one.
    pub fn invalid_key(msg: impl Into<String>) -> Self {
        Self::new(MessageType::InvalidKey).with_payload(msg_payload(msg.into()))
    }

    /// An `OFFER` to `dst`.
    pub fn offer(dst: impl Into<String>, payload: super::OfferPayload) -> Self {
        Self::new(MessageType::Offer)
            .with_dst(dst)
            .with_payload(payload.into_value())
    }

    /// An `ANSWER` to `dst`.
    pub fn answer(dst: impl Into<String>, payload: super::AnswerPayload) -> Self {
        Self::new(MessageType::Answer)
            .with_dst(dst)
            .with_payload(payload.into_value())
    }

    /// A `CANDIDATE` to `dst`.
    pub fn candidate(dst: impl Into<String>, payload: super::CandidatePayload) -> Self {
        Self::new(MessageType::Candidate)
            .with_dst(dst)
            .with_payload(payload.into_value())
    }

    /// `{"type":"EXPIRE","src":…,"dst":…}`, which a server sends to `dst` when messages it
    /// sent to `src` expired undelivered. (`src` is the unreachable peer.)
    pub fn expire(src: impl Into<String>, dst: impl Into<String>) -> Self {
        Self::new(MessageType::Expire).with_src(src).with_dst(dst)
    }

    /// `{"type":"LEAVE","src":…,"dst":…}`, which a server sends to `dst` when `src` cannot be
    /// reached. (A client can send `Message::new(MessageType::Leave)` without `dst` to drop
    /// its own registration; PeerJS clients never do.)
    pub fn leave(src: impl Into<String>, dst: impl Into<String>) -> Self {
        Self::new(MessageType::Leave).with_src(src).with_dst(dst)
    }

    /// Reads a message from a text frame. See [`Message`] for what is tolerated.
    pub fn parse(text: &str) -> Result<Self, SignalingError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| SignalingError::InvalidJson(e.to_string()))?;
        Self::from_value(value)
    }

    /// Reads a message from a binary frame, as the PeerJS server does: the bytes are decoded as
    /// UTF-8 (invalid sequences become U+FFFD) and parsed as JSON text.
    pub fn parse_bytes(bytes: &[u8]) -> Result<Self, SignalingError> {
        Self::parse(&String::from_utf8_lossy(bytes))
    }

    /// Reads a message from an already parsed JSON value.
    pub fn from_value(value: Value) -> Result<Self, SignalingError> {
        let Value::Object(mut fields) = value else {
            return Err(SignalingError::NotAnObject);
        };
        let kind = match fields.remove("type") {
            Some(Value::String(kind)) => MessageType::from(kind),
            _ => return Err(SignalingError::MissingType),
        };
        Ok(Self {
            kind,
            src: string_field(fields.remove("src")),
            dst: string_field(fields.remove("dst")),
            payload: fields.remove("payload"),
        })
    }

    /// The message as a JSON value, with the key order of [`Message::to_json`].
    pub fn to_value(&self) -> Value {
        Value::from(self.clone())
    }

    /// The message as compact JSON text, ready for a text frame: keys in the order
    /// `type, src, dst, payload`, absent ones left out.
    pub fn to_json(&self) -> String {
        self.to_string()
    }

    /// The `msg` string of the payload, if there is one (`ERROR`, `ID-TAKEN`, `INVALID-KEY`).
    pub fn payload_msg(&self) -> Option<&str> {
        self.payload.as_ref()?.get("msg")?.as_str()
    }
}

/// `{"msg": msg}`.
fn msg_payload(msg: String) -> Value {
    let mut fields = Map::new();
    fields.insert("msg".to_owned(), Value::String(msg));
    Value::Object(fields)
}

/// A `src`/`dst` field: strings are kept, anything else counts as absent.
fn string_field(value: Option<Value>) -> Option<String> {
    match value {
        Some(Value::String(s)) => Some(s),
        _ => None,
    }
}

impl fmt::Display for Message {
    /// Writes the message as compact JSON (see [`Message::to_json`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let json = serde_json::to_string(self).map_err(|_| fmt::Error)?;
        f.write_str(&json)
    }
}

impl std::str::FromStr for Message {
    type Err = SignalingError;

    fn from_str(s: &str) -> Result<Self, SignalingError> {
        Self::parse(s)
    }
}

impl Serialize for Message {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let len = 1
            + usize::from(self.src.is_some())
            + usize::from(self.dst.is_some())
            + usize::from(self.payload.is_some());
        let mut map = serializer.serialize_map(Some(len))?;
        map.serialize_entry("type", &self.kind)?;
        if let Some(src) = &self.src {
            map.serialize_entry("src", src)?;
        }
        if let Some(dst) = &self.dst {
            map.serialize_entry("dst", dst)?;
        }
        if let Some(payload) = &self.payload {
            map.serialize_entry("payload", payload)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Message {
    /// Reads a message with the same tolerance as [`Message::parse`].
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Self::from_value(value).map_err(serde::de::Error::custom)
    }
}

impl TryFrom<Value> for Message {
    type Error = SignalingError;

    fn try_from(value: Value) -> Result<Self, SignalingError> {
        Self::from_value(value)
    }
}

impl From<Message> for Value {
    fn from(message: Message) -> Self {
        let mut fields = Map::new();
        fields.insert(
            "type".to_owned(),
            Self::String(message.kind.as_str().to_owned()),
        );
        if let Some(src) = message.src {
            fields.insert("src".to_owned(), Self::String(src));
        }
        if let Some(dst) = message.dst {
            fields.insert("dst".to_owned(), Self::String(dst));
        }
        if let Some(payload) = message.payload {
            fields.insert("payload".to_owned(), payload);
        }
        Self::Object(fields)
    }
}
