//! The crate's one public error type, with kinds that map to PeerJS's error types.

use std::fmt;
use std::sync::Arc;

/// What went wrong. The PeerJS kinds keep PeerJS's names (see [`ErrorKind::as_str`]), so code
/// ported from JavaScript can match on the same strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `browser-incompatible`: the platform has no WebRTC.
    BrowserIncompatible,
    /// `disconnected`: the peer is disconnected from the signaling server, so it cannot connect.
    Disconnected,
    /// `invalid-id`: the id does not match PeerJS's id rule.
    InvalidId,
    /// `invalid-key`: the server rejected the API key.
    InvalidKey,
    /// `network`: the connection to the signaling server was lost or could not be made.
    Network,
    /// `peer-unavailable`: the remote peer does not exist or is not connected.
    PeerUnavailable,
    /// `ssl-unavailable`: TLS is required but not available.
    SslUnavailable,
    /// `server-error`: the signaling server reported an error or answered unexpectedly.
    ServerError,
    /// `socket-error`: the signaling socket received something invalid.
    SocketError,
    /// `socket-closed`: the signaling socket closed unexpectedly.
    SocketClosed,
    /// `unavailable-id`: another peer holds this id.
    UnavailableId,
    /// `webrtc`: the WebRTC stack reported an error.
    WebRtc,
    /// `negotiation-failed`: ICE or DTLS failed, so the connection could not be made or was lost.
    NegotiationFailed,
    /// `connection-closed`: the connection is closed.
    ConnectionClosed,
    /// `not-open-yet`: the connection is not open yet.
    NotOpenYet,
    /// `message-too-big`: the message exceeds what the serialization or channel can carry.
    MessageTooBig,
    /// `serialization`: a value could not be encoded or received bytes could not be decoded.
    /// (Not a PeerJS error type; PeerJS throws or logs these.)
    Serialization,
    /// `invalid-argument`: an option or argument was invalid. (Not a PeerJS error type.)
    InvalidArgument,
}

impl ErrorKind {
    /// The PeerJS error-type string, for example `"peer-unavailable"`.
    ///
    /// ```
    /// assert_eq!(peerjs::ErrorKind::UnavailableId.as_str(), "unavailable-id");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BrowserIncompatible => "browser-incompatible",
            Self::Disconnected => "disconnected",
            Self::InvalidId => "invalid-id",
            Self::InvalidKey => "invalid-key",
            Self::Network => "network",
            Self::PeerUnavailable => "peer-unavailable",
            Self::SslUnavailable => "ssl-unavailable",
            Self::ServerError => "server-error",
            Self::SocketError => "socket-error",
            Self::SocketClosed => "socket-closed",
            Self::UnavailableId => "unavailable-id",
            Self::WebRtc => "webrtc",
            Self::NegotiationFailed => "negotiation-failed",
            Self::ConnectionClosed => "connection-closed",
            Self::NotOpenYet => "not-open-yet",
            Self::MessageTooBig => "message-too-big",
            Self::Serialization => "serialization",
            Self::InvalidArgument => "invalid-argument",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error type of every fallible operation in this crate.
///
/// It carries an [`ErrorKind`], a message saying what went wrong, and the underlying error if
/// there is one ([`std::error::Error::source`]). It is cheap to clone.
///
/// ```
/// use peerjs::{Error, ErrorKind};
/// let err = Error::new(ErrorKind::PeerUnavailable, "could not connect to peer bob");
/// assert_eq!(err.kind(), ErrorKind::PeerUnavailable);
/// assert_eq!(err.to_string(), "peer-unavailable: could not connect to peer bob");
/// ```
#[derive(Clone)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    /// An error of `kind` with a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// An error of `kind` with a message and the error that caused it.
    pub fn with_source(
        kind: ErrorKind,
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            kind,
            message: message.into(),
            source: Some(Arc::new(source)),
        }
    }

    /// What kind of error this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without the kind prefix.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind).field("message", &self.message);
        if let Some(source) = &self.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl serde::ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self::new(ErrorKind::Serialization, msg.to_string())
    }
}

impl serde::de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self::new(ErrorKind::Serialization, msg.to_string())
    }
}

impl From<crate::proto::codec::CodecError> for Error {
    fn from(e: crate::proto::codec::CodecError) -> Self {
        let kind = match e {
            crate::proto::codec::CodecError::MessageTooBig { .. } => ErrorKind::MessageTooBig,
            _ => ErrorKind::Serialization,
        };
        Self::with_source(kind, e.to_string(), e)
    }
}

impl From<crate::proto::signaling::SignalingError> for Error {
    fn from(e: crate::proto::signaling::SignalingError) -> Self {
        Self::with_source(e.kind(), e.to_string(), e)
    }
}
