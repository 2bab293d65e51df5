//! The sans-IO core: everything about the PeerJS protocol that does not need a socket, a clock or
//! a runtime. The backends feed it bytes and time, and it hands back what to send.
//!
//! * [`signaling`]: the messages exchanged with a PeerJS server, id rules, URLs and tokens.
//! * [`codec`]: the data-channel serializations.
//! * [`session`]: a peer's signaling session and the negotiation of its connections.

pub mod codec;
pub mod session;
pub mod signaling;
pub(crate) mod time;
