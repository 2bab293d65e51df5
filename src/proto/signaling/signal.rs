//! [`Signal`]: the typed view of a [`Message`].

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::SignalingError;
use super::message::{Message, MessageType};
use super::payload::{AnswerPayload, CandidatePayload, ConnectionType, ErrorPayload, OfferPayload};

/// A signaling message with a typed payload: the envelope's `src` and `dst`, and what the
/// message says ([`SignalKind`]).
///
/// Converting a [`Message`] ([`Signal::try_from`]) checks the payload of the types that need
/// one and fails with [`SignalingError::MissingPayload`] or
/// [`SignalingError::InvalidPayload`]; payloads of types that carry none (`OPEN`, `HEARTBEAT`,
/// `LEAVE`, `EXPIRE`) are ignored, and unknown types become [`SignalKind::Other`]. Converting
/// back ([`Message::from`]) writes the payloads as PeerJS 1.5 does.
///
/// `src` and `dst` are not checked here, because which one must be present depends on the
/// direction: a server reads client messages (no `src`), a client reads relayed ones (with
/// `src`). [`Signal::require_src`] and [`Signal::require_dst`] do the check.
///
/// ```
/// use peerjs::proto::signaling::{ConnectionType, Signal, SignalKind};
///
/// let text = r#"{"type":"ANSWER","src":"bob","dst":"alice","payload":{"sdp":{"type":"answer","sdp":"v=0\r\n"},"type":"data","connectionId":"dc_vwv65whgia"}}"#;
/// let signal = Signal::parse(text)?;
/// assert_eq!(signal.require_src()?, "bob");
/// let SignalKind::Answer(answer) = &signal.kind else { panic!("not an answer") };
/// assert_eq!(answer.connection_type, ConnectionType::Data);
/// assert_eq!(signal.connection_id(), Some("dc_vwv65whgia"));
/// assert_eq!(signal.to_json(), text);
/// # Ok::<(), peerjs::proto::signaling::SignalingError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Signal {
    /// The sender's id, when the server stamped it.
    pub src: Option<String>,
    /// The destination's id.
    pub dst: Option<String>,
    /// The message's type and typed payload.
    pub kind: SignalKind,
}

/// What a [`Signal`] says: its type with the typed payload.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum SignalKind {
    /// `OPEN`: registered.
    Open,
    /// `HEARTBEAT`: the client is alive.
    Heartbeat,
    /// `OFFER`: a peer offers a connection.
    Offer(OfferPayload),
    /// `ANSWER`: a peer answers an offer.
    Answer(AnswerPayload),
    /// `CANDIDATE`: an ICE candidate for a connection.
    Candidate(CandidatePayload),
    /// `LEAVE`: the peer `src` is gone.
    Leave,
    /// `EXPIRE`: messages to the peer `src` expired undelivered.
    Expire,
    /// `ID-TAKEN`: the id is held by another client. PeerJS does not read the payload, so it
    /// may be missing (`None`).
    IdTaken {
        /// `payload.msg`, normally [`MSG_ID_TAKEN`](super::MSG_ID_TAKEN).
        msg: Option<String>,
    },
    /// `INVALID-KEY`: the key was rejected. PeerJS does not read the payload, so it may be
    /// missing (`None`).
    InvalidKey {
        /// `payload.msg`.
        msg: Option<String>,
    },
    /// `ERROR`: the server refused the client. Requires a payload `{"msg": string}`.
    Error {
        /// `payload.msg`, for example [`MSG_INVALID_KEY`](super::MSG_INVALID_KEY).
        msg: String,
    },
    /// A type this crate does not know, with its payload untouched.
    Other {
        /// The `type` string.
        message_type: String,
        /// The payload, as received.
        payload: Option<Value>,
    },
}

impl SignalKind {
    /// The message type of this kind.
    pub fn message_type(&self) -> MessageType {
        match self {
            Self::Open => MessageType::Open,
            Self::Heartbeat => MessageType::Heartbeat,
            Self::Offer(_) => MessageType::Offer,
            Self::Answer(_) => MessageType::Answer,
            Self::Candidate(_) => MessageType::Candidate,
            Self::Leave => MessageType::Leave,
            Self::Expire => MessageType::Expire,
            Self::IdTaken { .. } => MessageType::IdTaken,
            Self::InvalidKey { .. } => MessageType::InvalidKey,
            Self::Error { .. } => MessageType::Error,
            Self::Other { message_type, .. } => MessageType::from(message_type.as_str()),
        }
    }
}

impl Signal {
    /// A signal with no `src` or `dst`.
    pub fn new(kind: SignalKind) -> Self {
        Self {
            src: None,
            dst: None,
            kind,
        }
    }

    /// This signal with `src` set.
    pub fn with_src(mut self, src: impl Into<String>) -> Self {
        self.src = Some(src.into());
        self
    }

    /// This signal with `dst` set.
    pub fn with_dst(mut self, dst: impl Into<String>) -> Self {
        self.dst = Some(dst.into());
        self
    }

    /// Reads a typed signal from a text frame ([`Message::parse`], then
    /// [`Signal::try_from`]).
    pub fn parse(text: &str) -> Result<Self, SignalingError> {
        Self::try_from(Message::parse(text)?)
    }

    /// The message as JSON text (see [`Message::to_json`]).
    pub fn to_json(&self) -> String {
        Message::from(self.clone()).to_json()
    }

    /// The `connectionId` of an `OFFER`, `ANSWER` or `CANDIDATE`.
    pub fn connection_id(&self) -> Option<&str> {
        match &self.kind {
            SignalKind::Offer(p) => Some(&p.connection_id),
            SignalKind::Answer(p) => Some(&p.connection_id),
            SignalKind::Candidate(p) => Some(&p.connection_id),
            _ => None,
        }
    }

    /// The payload `type` (data or media) of an `OFFER`, `ANSWER` or `CANDIDATE`.
    pub fn connection_type(&self) -> Option<ConnectionType> {
        match &self.kind {
            SignalKind::Offer(p) => Some(p.connection_type),
            SignalKind::Answer(p) => Some(p.connection_type),
            SignalKind::Candidate(p) => Some(p.connection_type),
            _ => None,
        }
    }

    /// `src`, or [`SignalingError::MissingField`] if the message has none.
    pub fn require_src(&self) -> Result<&str, SignalingError> {
        self.src
            .as_deref()
            .ok_or_else(|| SignalingError::MissingField {
                message_type: self.kind.message_type(),
                field: "src",
            })
    }

    /// `dst`, or [`SignalingError::MissingField`] if the message has none.
    pub fn require_dst(&self) -> Result<&str, SignalingError> {
        self.dst
            .as_deref()
            .ok_or_else(|| SignalingError::MissingField {
                message_type: self.kind.message_type(),
                field: "dst",
            })
    }
}

impl TryFrom<Message> for Signal {
    type Error = SignalingError;

    fn try_from(message: Message) -> Result<Self, SignalingError> {
        let Message {
            kind: message_type,
            src,
            dst,
            payload,
        } = message;
        let kind = match message_type {
            MessageType::Open => SignalKind::Open,
            MessageType::Heartbeat => SignalKind::Heartbeat,
            MessageType::Leave => SignalKind::Leave,
            MessageType::Expire => SignalKind::Expire,
            MessageType::Offer => SignalKind::Offer(typed(message_type, payload)?),
            MessageType::Answer => SignalKind::Answer(typed(message_type, payload)?),
            MessageType::Candidate => SignalKind::Candidate(typed(message_type, payload)?),
            MessageType::Error => SignalKind::Error {
                msg: typed::<ErrorPayload>(message_type, payload)?.msg,
            },
            MessageType::IdTaken => SignalKind::IdTaken {
                msg: loose_msg(payload),
            },
            MessageType::InvalidKey => SignalKind::InvalidKey {
                msg: loose_msg(payload),
            },
            MessageType::Other(message_type) => SignalKind::Other {
                message_type,
                payload,
            },
        };
        Ok(Self { src, dst, kind })
    }
}

impl From<Signal> for Message {
    fn from(signal: Signal) -> Self {
        let Signal { src, dst, kind } = signal;
        let message_type = kind.message_type();
        let payload = match kind {
            SignalKind::Open | SignalKind::Heartbeat | SignalKind::Leave | SignalKind::Expire => {
                None
            }
            SignalKind::Offer(p) => Some(p.into_value()),
            SignalKind::Answer(p) => Some(p.into_value()),
            SignalKind::Candidate(p) => Some(p.into_value()),
            SignalKind::Error { msg } => Some(ErrorPayload::new(msg).into_value()),
            SignalKind::IdTaken { msg } | SignalKind::InvalidKey { msg } => {
                msg.map(|msg| ErrorPayload::new(msg).into_value())
            }
            SignalKind::Other { payload, .. } => payload,
        };
        Self {
            kind: message_type,
            src,
            dst,
            payload,
        }
    }
}

/// Deserializes a required payload. `null` counts as missing, as in PeerJS (`if (!payload)`).
fn typed<T: DeserializeOwned>(
    message_type: MessageType,
    payload: Option<Value>,
) -> Result<T, SignalingError> {
    match payload {
        None | Some(Value::Null) => Err(SignalingError::MissingPayload { message_type }),
        Some(payload) => {
            serde_json::from_value(payload).map_err(|e| SignalingError::InvalidPayload {
                message_type,
                reason: e.to_string(),
            })
        }
    }
}

/// `payload.msg` when it is a string; anything else is `None`.
fn loose_msg(payload: Option<Value>) -> Option<String> {
    match payload? {
        Value::Object(mut fields) => match fields.remove("msg")? {
            Value::String(msg) => Some(msg),
            _ => None,
        },
        _ => None,
    }
}
