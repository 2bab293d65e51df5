//! PeerJS signaling, sans-IO: the messages a PeerJS client and a PeerJS server exchange over
//! the WebSocket, the id rules, tokens, and the URLs of the server.
//!
//! Nothing here opens a socket, reads a clock or draws random numbers: times and random values
//! come in as arguments, so the client (native and wasm) and the server share this module.
//!
//! * [`Message`] is the envelope `{type, src, dst, payload}` with the payload as raw JSON, which
//!   is what a server needs to relay. [`Signal`] is the typed view a client works with, with
//!   [`OfferPayload`], [`AnswerPayload`] and [`CandidatePayload`] shaped as PeerJS 1.5 sends them.
//! * [`is_valid_id`], [`token_from_random`] and [`connection_id`] make and check ids.
//! * [`ServerLocation`] builds the URLs a client uses; [`WsRequest`] reads a WebSocket request
//!   on the server side.
//!
//! A client connecting to a local server and offering a data connection:
//!
//! ```
//! use peerjs::proto::codec::Serialization;
//! use peerjs::proto::signaling::{
//!     connection_id, token_from_random, ConnectionType, Message, OfferPayload, ServerLocation,
//!     SessionDescription, Signal, SignalKind,
//! };
//!
//! let server = ServerLocation::new("127.0.0.1").with_port(9000);
//! let token = token_from_random(0x5eed_1234_5678_9abc); // from the caller's RNG
//! let url = server.websocket_url("alice", &token);
//! assert!(url.starts_with("ws://127.0.0.1:9000/peerjs?key=peerjs&id=alice&token="));
//!
//! // The server's first message:
//! assert_eq!(Signal::parse(r#"{"type":"OPEN"}"#)?.kind, SignalKind::Open);
//!
//! let id = connection_id(ConnectionType::Data, 0x0bad_cafe);
//! let offer = OfferPayload::data(
//!     SessionDescription::offer("v=0\r\n"),
//!     id.clone(),
//!     id,
//!     false,
//!     Serialization::Binary.wire_name(),
//! );
//! let frame = Message::offer("bob", offer).to_json();
//! assert!(frame.starts_with(r#"{"type":"OFFER","dst":"bob","payload":{"sdp":{"type":"offer""#));
//! # Ok::<(), peerjs::proto::signaling::SignalingError>(())
//! ```
//!
//! A server relaying what a client sent:
//!
//! ```
//! use peerjs::proto::signaling::{Message, MessageType};
//!
//! let received = Message::parse(r#"{"type":"CANDIDATE","payload":{"candidate":{}},"dst":"bob","src":"mallory"}"#)?;
//! assert!(received.kind.is_relayed());
//! let relayed = received.with_src("alice"); // the sender's registered id, never the claimed one
//! assert_eq!(
//!     relayed.to_json(),
//!     r#"{"type":"CANDIDATE","src":"alice","dst":"bob","payload":{"candidate":{}}}"#,
//! );
//! # Ok::<(), peerjs::proto::signaling::SignalingError>(())
//! ```

mod error;
mod id;
mod message;
mod payload;
mod signal;
mod url;

#[cfg(test)]
mod tests;

use std::time::Duration;

pub use error::SignalingError;
pub use id::{connection_id, is_valid_id, token_from_random, validate_id};
pub use message::{
    MSG_CONCURRENT_LIMIT, MSG_ID_TAKEN, MSG_INVALID_KEY, MSG_NO_CREDENTIALS, Message, MessageType,
};
pub use payload::{
    AnswerPayload, CandidatePayload, ConnectionType, ErrorPayload, IceCandidate, OfferPayload,
    SdpType, SessionDescription,
};
pub use signal::{Signal, SignalKind};
pub use url::{
    CLOUD_HOST, Credentials, DEFAULT_KEY, DEFAULT_PATH, DEFAULT_PORT, PROTOCOL_VERSION,
    ServerLocation, WEBSOCKET_SEGMENT, WsRequest, cache_bust,
};

/// How often a client sends `HEARTBEAT` (PeerJS's `pingInterval`, 5 s). A server drops a client
/// whose last heartbeat is older than its `alive_timeout` (60 or 90 s).
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);
