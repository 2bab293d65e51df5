//! # peerjs
//!
//! A [PeerJS](https://peerjs.com)-compatible peer for Rust, natively and in WebAssembly, wire
//! compatible with the PeerJS peers that run in browsers and in Node.js.
//!
//! This crate is built in layers:
//!
//! * [`proto`]: the sans-IO core. PeerJS signaling messages, id rules, URLs, and the
//!   serializations (BinaryPack with PeerJS chunking, MsgPack, JSON, raw). It never touches a
//!   socket, a clock or a runtime, and is the same on every target.
//! * [`Value`], [`to_value`] and [`from_value`]: the data model. Any `T: Serialize` can be sent and
//!   any message can be read as a `T: Deserialize` or as a dynamic [`Value`].
//! * The backends (native on webrtc-rs and tokio, wasm on the browser's WebRTC), chosen by target.
//!
//! ```
//! use peerjs::proto::codec::{Decoder, Encoder, Frame, Incoming, Serialization};
//! use peerjs::Value;
//!
//! // What a PeerJS peer puts on the data channel for `conn.send({a: 1, b: [true, null]})`:
//! let mut encoder = Encoder::new(Serialization::Binary);
//! let value = Value::Map(vec![
//!     ("a".into(), 1.into()),
//!     ("b".into(), Value::Array(vec![true.into(), Value::Nil])),
//! ]);
//! let frames = encoder.encode(&value)?;
//! assert_eq!(frames, vec![Frame::Binary(vec![0x82, 0xb1, 0x61, 0x01, 0xb1, 0x62, 0x92, 0xc3, 0xc0])]);
//!
//! let mut decoder = Decoder::new(Serialization::Binary);
//! let received = decoder.decode(frames.into_iter().next().unwrap_or(Frame::Text(String::new())))?;
//! assert_eq!(received, vec![Incoming::Data(value)]);
//! # Ok::<(), peerjs::Error>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
// The shared driver and connection code hold their state in `Arc`s, which native tasks need; in
// the browser the same state is not `Send` (it holds JavaScript objects) and lives on one thread.
#![cfg_attr(wasm_browser, allow(clippy::arc_with_non_send_sync))]

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

#[cfg(all(wasm_browser, any(feature = "server", feature = "cli")))]
compile_error!("the `server` and `cli` features are for native targets only");

mod backend;
#[cfg(any(native, wasm_browser))]
mod connection;
#[cfg(any(native, wasm_browser))]
mod driver;
mod error;
#[cfg(all(wasm_browser, feature = "js"))]
mod js;
mod options;
#[cfg(any(native, wasm_browser))]
mod peer;
pub mod proto;
#[cfg(all(feature = "server", native))]
pub mod server;
pub mod time;
mod value;

pub use error::{Error, ErrorKind};
pub use options::{ConnectOptions, IceServer, PeerOptions};
#[cfg(any(native, wasm_browser))]
pub use peer::{DataConnection, Peer, PeerEvent};
pub use value::{CompactString, Timestamp, Value, from_value, to_value};
