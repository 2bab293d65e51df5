//! [`SignalingError`]: what can go wrong in the signaling layer.

use crate::error::ErrorKind;

use super::message::MessageType;

/// A signaling message that could not be read, a payload of the wrong shape, an invalid id or
/// an unusable server option.
///
/// [`SignalingError::kind`] maps each error to the PeerJS error type that describes it best.
/// The kind says *what* went wrong, not whether it is fatal: PeerJS itself only logs an
/// unreadable server message and ignores a malformed relayed one, and a client SHOULD do the
/// same (see [`SignalingError::kind`] for the exceptions).
///
/// ```
/// use peerjs::ErrorKind;
/// use peerjs::proto::signaling::{Message, SignalingError};
///
/// let err = Message::parse(r#"{"src":"alice"}"#).unwrap_err();
/// assert_eq!(err, SignalingError::MissingType);
/// assert_eq!(err.kind(), ErrorKind::SocketError);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignalingError {
    /// The frame is not valid JSON. Holds the parser's description.
    #[error("signaling message is not valid JSON: {0}")]
    InvalidJson(String),
    /// The frame is valid JSON but not a JSON object.
    #[error("signaling message is not a JSON object")]
    NotAnObject,
    /// The message has no `type`, or its `type` is not a string. (PeerJS calls this
    /// "Invalid message".)
    #[error("Invalid message: the signaling message has no string `type`")]
    MissingType,
    /// A message type that needs a payload came without one (or with `null`).
    #[error("{message_type} message has no payload")]
    MissingPayload {
        /// The message's type.
        message_type: MessageType,
    },
    /// The payload does not have the shape the message type requires.
    #[error("{message_type} message has an invalid payload: {reason}")]
    InvalidPayload {
        /// The message's type.
        message_type: MessageType,
        /// What is wrong with it, as the JSON deserializer put it.
        reason: String,
    },
    /// A required envelope field (`src` or `dst`) is missing.
    #[error("{message_type} message has no `{field}`")]
    MissingField {
        /// The message's type.
        message_type: MessageType,
        /// The missing field: `"src"` or `"dst"`.
        field: &'static str,
    },
    /// A peer id that does not match PeerJS's id rule (see
    /// [`is_valid_id`](super::is_valid_id)).
    #[error("ID \"{id}\" is invalid")]
    InvalidId {
        /// The rejected id.
        id: String,
    },
    /// A [`ServerLocation`](super::ServerLocation) option that cannot make a usable URL.
    #[error("invalid server option `{option}`: {reason}")]
    InvalidOption {
        /// The option's PeerJS name (`"host"`, `"path"`, `"key"`, …).
        option: &'static str,
        /// Why it is unusable.
        reason: &'static str,
    },
}

impl SignalingError {
    /// The PeerJS error type of this error.
    ///
    /// * Unreadable frames ([`InvalidJson`](Self::InvalidJson),
    ///   [`NotAnObject`](Self::NotAnObject), [`MissingType`](Self::MissingType)) are
    ///   [`ErrorKind::SocketError`], the type PeerJS raises for a message without `type`.
    /// * A missing or malformed payload or envelope field is [`ErrorKind::ServerError`] when the
    ///   message is one that only the server originates (`OPEN`, `ERROR`, `ID-TAKEN`,
    ///   `INVALID-KEY`): the server answered something unexpected, and a client should give up
    ///   as PeerJS does on `ERROR`. For every other type (relayed `OFFER`, `ANSWER`,
    ///   `CANDIDATE`, …, which come from another peer) it is [`ErrorKind::SocketError`]; PeerJS
    ///   drops such messages, so a client should log and ignore them rather than abort.
    /// * [`InvalidId`](Self::InvalidId) is [`ErrorKind::InvalidId`].
    /// * [`InvalidOption`](Self::InvalidOption) is [`ErrorKind::InvalidArgument`].
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidJson(_) | Self::NotAnObject | Self::MissingType => ErrorKind::SocketError,
            Self::MissingPayload { message_type }
            | Self::InvalidPayload { message_type, .. }
            | Self::MissingField { message_type, .. } => {
                if message_type.is_from_server() {
                    ErrorKind::ServerError
                } else {
                    ErrorKind::SocketError
                }
            }
            Self::InvalidId { .. } => ErrorKind::InvalidId,
            Self::InvalidOption { .. } => ErrorKind::InvalidArgument,
        }
    }
}
