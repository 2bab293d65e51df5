//! The data-channel serializations of PeerJS: BinaryPack (with chunking), MsgPack, JSON and raw.
//!
//! An [`Encoder`] turns a [`Value`] into the data-channel messages ([`Frame`]s) a PeerJS peer
//! expects; a [`Decoder`] turns received frames back into values and control messages
//! ([`Incoming`]). Both are sans-IO and hold only the per-connection state PeerJS keeps: the
//! chunk-id counter, partially reassembled chunked messages, the MsgPack byte stream.
//!
//! The encoders follow the rules that keep JavaScript receivers correct: they never send a
//! top-level `nil` (PeerJS receivers throw on it), never send a top-level map whose
//! `__peerData` key is set (PeerJS reserves it for control messages), and pick the same integer
//! encodings as the JavaScript libraries.
//!
//! ```
//! use peerjs::proto::codec::{CodecOptions, Decoder, Encoder, Incoming, Serialization};
//! use peerjs::Value;
//!
//! let big = Value::Binary(vec![7; 40_000]);
//! let mut enc = Encoder::new(Serialization::Binary);
//! let frames = enc.encode(&big)?;
//! assert_eq!(frames.len(), 3); // chunked at 16300 bytes, as PeerJS does
//!
//! let mut dec = Decoder::with_options(Serialization::Binary, CodecOptions::default());
//! let mut got = Vec::new();
//! for frame in frames {
//!     got.extend(dec.decode(frame)?);
//! }
//! assert_eq!(got, vec![Incoming::Data(big)]);
//! # Ok::<(), peerjs::proto::codec::CodecError>(())
//! ```

pub mod binarypack;
pub mod chunk;
pub mod json;
pub mod msgpack;

use std::fmt;

use crate::value::Value;

/// How a data connection encodes its messages, as named in the OFFER's `serialization` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Serialization {
    /// BinaryPack with PeerJS chunking (PeerJS's default, `"binary"`).
    #[default]
    Binary,
    /// The PeerJS 1.x alias of [`Serialization::Binary`]; the same wire format. PeerJS 1.5
    /// announces it as `"binary"`, 1.3/1.4 as `"binary-utf8"`.
    BinaryUtf8,
    /// JSON text (`"json"`): UTF-8 in binary messages for PeerJS 1.5, text messages for 1.3/1.4.
    Json,
    /// No serialization (`"raw"`): strings go as text messages, binary as binary messages.
    Raw,
    /// MessagePack as PeerJS 1.5's `MsgPackPeer` sends it (`"MsgPack"`); always reliable.
    MsgPack,
}

impl Serialization {
    /// Every serialization, in a fixed order.
    pub const ALL: [Self; 5] = [
        Self::Binary,
        Self::BinaryUtf8,
        Self::Json,
        Self::Raw,
        Self::MsgPack,
    ];

    /// The name to put in an OFFER's `serialization` field, as PeerJS 1.5 does: `"binary"` for
    /// both BinaryPack variants.
    pub fn wire_name(self) -> &'static str {
        match self {
            Self::Binary | Self::BinaryUtf8 => "binary",
            Self::Json => "json",
            Self::Raw => "raw",
            Self::MsgPack => "MsgPack",
        }
    }

    /// The name PeerJS 1.3/1.4 put in an OFFER (`"binary-utf8"` is kept there).
    pub fn legacy_wire_name(self) -> &'static str {
        match self {
            Self::BinaryUtf8 => "binary-utf8",
            other => other.wire_name(),
        }
    }

    /// The serialization for a name received in an OFFER. Accepts PeerJS's registry names
    /// (`"binary"`, `"default"`, `"binary-utf8"`, `"json"`, `"raw"`, `"MsgPack"`; case-sensitive,
    /// as in PeerJS) and the legacy `"none"`, which means raw. Other names are `None`.
    pub fn from_wire_name(name: &str) -> Option<Self> {
        match name {
            "binary" | "default" => Some(Self::Binary),
            "binary-utf8" => Some(Self::BinaryUtf8),
            "json" => Some(Self::Json),
            "raw" | "none" => Some(Self::Raw),
            "MsgPack" => Some(Self::MsgPack),
            _ => None,
        }
    }

    /// Whether this serialization forces a reliable, ordered channel (MsgPack does in PeerJS).
    pub fn forces_reliable(self) -> bool {
        matches!(self, Self::MsgPack)
    }

    /// Whether this is one of the two BinaryPack variants.
    pub fn is_binarypack(self) -> bool {
        matches!(self, Self::Binary | Self::BinaryUtf8)
    }
}

impl fmt::Display for Serialization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.legacy_wire_name())
    }
}

impl std::str::FromStr for Serialization {
    type Err = CodecError;
    /// Parses a wire name (see [`Serialization::from_wire_name`]), also accepting `"msgpack"`
    /// in any case.
    fn from_str(s: &str) -> Result<Self, CodecError> {
        Self::from_wire_name(s)
            .or_else(|| s.eq_ignore_ascii_case("msgpack").then_some(Self::MsgPack))
            .ok_or_else(|| CodecError::UnknownSerialization(s.to_owned()))
    }
}

/// One data-channel message.
#[derive(Clone, PartialEq, Eq)]
pub enum Frame {
    /// A text message (a JS `string`).
    Text(String),
    /// A binary message (a JS `ArrayBuffer`).
    Binary(Vec<u8>),
}

impl Frame {
    /// The message's size in bytes.
    pub fn len(&self) -> usize {
        match self {
            Self::Text(s) => s.len(),
            Self::Binary(b) => b.len(),
        }
    }

    /// Whether the message is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 64;
        match self {
            Self::Text(s) if s.len() <= SHOWN => write!(f, "Text({s:?})"),
            Self::Text(s) => write!(f, "Text(<{} bytes>)", s.len()),
            Self::Binary(b) if b.len() <= SHOWN => write!(f, "Binary({b:02x?})"),
            Self::Binary(b) => write!(f, "Binary(<{} bytes>)", b.len()),
        }
    }
}

/// What a [`Decoder`] makes of received frames.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Incoming {
    /// An application message.
    Data(Value),
    /// PeerJS 1.5's flush-close control message (`{"__peerData":{"type":"close"}}`): the remote
    /// asks us to close the connection.
    Close,
}

/// An encoding or decoding failure. No input makes a decoder panic; every failure is one of
/// these.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The input ended inside a value.
    #[error("truncated input: a value needs {needed} more bytes than the {available} left")]
    Truncated {
        /// Bytes the value needs beyond what is left.
        needed: u64,
        /// Bytes left in the input.
        available: usize,
    },
    /// Bytes remained after a complete value.
    #[error("{count} unexpected bytes after the value")]
    TrailingBytes {
        /// How many bytes remained.
        count: usize,
    },
    /// A tag byte that the format does not define.
    #[error("invalid tag byte 0x{0:02x}")]
    InvalidTag(u8),
    /// Arrays and maps nested deeper than the limit.
    #[error("values nested deeper than {limit} levels")]
    TooDeep {
        /// The limit in force.
        limit: usize,
    },
    /// A string that is not valid UTF-8.
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    /// A value that this serialization cannot carry to a PeerJS peer (for example NaN in
    /// BinaryPack, a map in raw).
    #[error("{serialization} cannot carry {what}")]
    Unsupported {
        /// The serialization's name.
        serialization: &'static str,
        /// What could not be carried.
        what: String,
    },
    /// A top-level nil: PeerJS receivers throw on it and lose the message.
    #[error("a top-level nil cannot be sent: PeerJS receivers fail on it")]
    TopLevelNil,
    /// A top-level map with a truthy `__peerData` key: PeerJS reserves it for control messages.
    #[error(
        "a top-level map with a truthy \"__peerData\" key is reserved for PeerJS control messages"
    )]
    ReservedKey,
    /// The message is larger than the serialization allows.
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    MessageTooBig {
        /// The message's size.
        size: usize,
        /// The largest size allowed.
        limit: usize,
    },
    /// A chunk message that does not have PeerJS's shape.
    #[error("invalid chunk: {0}")]
    InvalidChunk(String),
    /// Reassembly would exceed a memory bound.
    #[error("chunk reassembly limit: {0}")]
    ReassemblyLimit(String),
    /// A text frame where binary was expected, or the reverse.
    #[error("{serialization} expects {expected} messages, got {got}")]
    UnexpectedFrame {
        /// The serialization's name.
        serialization: &'static str,
        /// What it expects.
        expected: &'static str,
        /// What arrived.
        got: &'static str,
    },
    /// Invalid JSON.
    #[error("invalid JSON: {0}")]
    Json(String),
    /// A typed value could not be converted (serde).
    #[error("{0}")]
    Serde(String),
    /// An unknown serialization name.
    #[error("unknown serialization {0:?}")]
    UnknownSerialization(String),
    /// The decoder failed earlier on a byte stream that cannot be resynchronised (MsgPack).
    #[error("the MsgPack stream failed earlier and cannot be resynchronised")]
    StreamFailed,
}

impl From<crate::Error> for CodecError {
    fn from(e: crate::Error) -> Self {
        Self::Serde(e.message().to_owned())
    }
}

/// Limits and tuning for encoders and decoders. Every decoder bound here applies to data from
/// the network, so the defaults are safe for untrusted peers.
///
/// ```
/// use peerjs::proto::codec::CodecOptions;
/// let opts = CodecOptions::default().max_message_size(1 << 20).max_depth(32);
/// assert_eq!(opts.get_max_message_size(), 1 << 20);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodecOptions {
    max_depth: usize,
    max_message_size: usize,
    max_buffered: usize,
    max_messages_in_flight: usize,
    chunk_size: usize,
    json_text_frames: bool,
    legacy_peerjs: bool,
    msgpack_piece_size: usize,
}

impl Default for CodecOptions {
    fn default() -> Self {
        Self {
            max_depth: DEFAULT_MAX_DEPTH,
            max_message_size: 64 * 1024 * 1024,
            max_buffered: 128 * 1024 * 1024,
            max_messages_in_flight: 32,
            chunk_size: chunk::CHUNK_MTU,
            json_text_frames: false,
            legacy_peerjs: false,
            msgpack_piece_size: msgpack::PIECE_SIZE,
        }
    }
}

/// The default nesting limit of the decoders.
pub const DEFAULT_MAX_DEPTH: usize = 128;

impl CodecOptions {
    /// Deepest nesting of arrays and maps a decoder accepts (default 128).
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.max_depth = depth;
        self
    }
    /// Largest message a decoder reassembles or buffers, in bytes (default 64 MiB): the size of
    /// a chunked BinaryPack message, or of one value in a MsgPack stream.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }
    /// Most bytes held across all partially received chunked messages (default 128 MiB).
    pub fn max_buffered(mut self, bytes: usize) -> Self {
        self.max_buffered = bytes;
        self
    }
    /// Most chunked messages reassembled at once (default 32).
    pub fn max_messages_in_flight(mut self, count: usize) -> Self {
        self.max_messages_in_flight = count;
        self
    }
    /// Largest packed BinaryPack message sent whole; larger ones are chunked into pieces of this
    /// size (default 16300, PeerJS's `chunkedMTU`; PeerJS receivers accept any size). Values
    /// below 1 are treated as 1.
    pub fn chunk_size(mut self, bytes: usize) -> Self {
        self.chunk_size = bytes.max(1);
        self
    }
    /// Send JSON as text messages, as PeerJS 1.3/1.4 expect, instead of binary (PeerJS 1.5).
    pub fn json_text_frames(mut self, text: bool) -> Self {
        self.json_text_frames = text;
        self
    }
    /// The remote is PeerJS 1.3 or 1.4 (its OFFER or ANSWER had a `browser` field). Their
    /// receivers differ from 1.5's: JSON goes as text messages without 1.5's 16300-byte limit,
    /// BinaryPack strings with characters outside the Basic Multilingual Plane are refused
    /// (their decoder garbles them), and there is no flush-close message (they would keep it as
    /// an unfinished chunk forever). Implies [`CodecOptions::json_text_frames`].
    pub fn legacy_peerjs(mut self, legacy: bool) -> Self {
        self.legacy_peerjs = legacy;
        self.json_text_frames |= legacy;
        self
    }
    /// Size of the pieces a MsgPack message is cut into (default 32768, as PeerJS does). Values
    /// below 1 are treated as 1.
    pub fn msgpack_piece_size(mut self, bytes: usize) -> Self {
        self.msgpack_piece_size = bytes.max(1);
        self
    }

    /// See [`CodecOptions::max_depth`].
    pub fn get_max_depth(&self) -> usize {
        self.max_depth
    }
    /// See [`CodecOptions::max_message_size`].
    pub fn get_max_message_size(&self) -> usize {
        self.max_message_size
    }
    /// See [`CodecOptions::max_buffered`].
    pub fn get_max_buffered(&self) -> usize {
        self.max_buffered
    }
    /// See [`CodecOptions::max_messages_in_flight`].
    pub fn get_max_messages_in_flight(&self) -> usize {
        self.max_messages_in_flight
    }
    /// See [`CodecOptions::chunk_size`].
    pub fn get_chunk_size(&self) -> usize {
        self.chunk_size
    }
    /// See [`CodecOptions::json_text_frames`].
    pub fn get_json_text_frames(&self) -> bool {
        self.json_text_frames
    }
    /// See [`CodecOptions::legacy_peerjs`].
    pub fn get_legacy_peerjs(&self) -> bool {
        self.legacy_peerjs
    }
    /// See [`CodecOptions::msgpack_piece_size`].
    pub fn get_msgpack_piece_size(&self) -> usize {
        self.msgpack_piece_size
    }
}

/// The control message PeerJS 1.5 sends for `close({flush: true})`.
fn close_control_value() -> Value {
    Value::Map(vec![(
        Value::from(PEER_DATA_KEY),
        Value::Map(vec![(Value::from("type"), Value::from("close"))]),
    )])
}

/// The key PeerJS reserves for control messages and chunks.
pub(crate) const PEER_DATA_KEY: &str = "__peerData";

/// The `__peerData` entry of a top-level map, if it is truthy.
fn peer_data(value: &Value) -> Option<&Value> {
    value.get(PEER_DATA_KEY).filter(|v| v.is_js_truthy())
}

/// Whether a decoded value is the flush-close control message.
fn is_close_control(peer_data: &Value) -> bool {
    peer_data.get("type").and_then(Value::as_str) == Some("close")
}

/// Refuses what a PeerJS receiver cannot take at the top level: nil (its handler throws), and
/// maps it would take for a control message. A BinaryPack receiver takes any truthy
/// `__peerData` for a chunk; PeerJS 1.5's JSON and MsgPack receivers only act on
/// `{"__peerData": {"type": "close"}}`, and 1.3/1.4's JSON receiver on any truthy `__peerData`.
fn check_top_level(value: &Value, any_peer_data_reserved: bool) -> Result<(), CodecError> {
    if value.is_nil() {
        return Err(CodecError::TopLevelNil);
    }
    match peer_data(value) {
        Some(_) if any_peer_data_reserved => Err(CodecError::ReservedKey),
        Some(pd) if is_close_control(pd) => Err(CodecError::ReservedKey),
        _ => Ok(()),
    }
}

/// Refuses strings that PeerJS 1.3/1.4's BinaryPack codec garbles: characters outside the Basic
/// Multilingual Plane (four UTF-8 bytes).
fn check_bmp_strings(value: &Value) -> Result<(), CodecError> {
    let outside_bmp =
        |v: &Value| matches!(v, Value::String(s) if s.chars().any(|c| c.len_utf8() == 4));
    if value.nested().any(outside_bmp) {
        return Err(CodecError::Unsupported {
            serialization: "binary",
            what: "characters outside the Basic Multilingual Plane to PeerJS 1.3/1.4 \
                   (their decoder garbles them)"
                .into(),
        });
    }
    Ok(())
}

/// Refuses map keys that @msgpack/msgpack's decoder rejects (anything but strings and numbers):
/// a PeerJS receiver stops reading the connection after one.
fn check_msgpack_keys(value: &Value) -> Result<(), CodecError> {
    let bad_key = value.nested().find_map(|v| {
        v.as_map()?.iter().map(|(k, _)| k).find(|k| {
            !matches!(
                k,
                Value::String(_) | Value::Int(_) | Value::UInt(_) | Value::Float(_)
            )
        })
    });
    match bad_key {
        Some(k) => Err(CodecError::Unsupported {
            serialization: "MsgPack",
            what: format!(
                "a {} map key (PeerJS's MsgPack decoder accepts only string and number keys, \
                 and stops reading the connection after any other)",
                k.kind_name()
            ),
        }),
        None => Ok(()),
    }
}

/// Turns values into data-channel messages for one connection.
#[derive(Debug, Clone)]
pub struct Encoder {
    serialization: Serialization,
    options: CodecOptions,
    next_chunk_id: u64,
}

impl Encoder {
    /// An encoder with the default options.
    pub fn new(serialization: Serialization) -> Self {
        Self::with_options(serialization, CodecOptions::default())
    }

    /// An encoder with options.
    pub fn with_options(serialization: Serialization, options: CodecOptions) -> Self {
        Self {
            serialization,
            options,
            next_chunk_id: 1,
        }
    }

    /// The serialization this encoder writes.
    pub fn serialization(&self) -> Serialization {
        self.serialization
    }

    /// Encodes one application message into the frames to send, in order.
    ///
    /// # Errors
    ///
    /// [`CodecError::TopLevelNil`], [`CodecError::ReservedKey`], [`CodecError::Unsupported`] for a
    /// value the serialization cannot carry, [`CodecError::MessageTooBig`] for JSON of 16300
    /// bytes or more (PeerJS's limit).
    pub fn encode(&mut self, value: &Value) -> Result<Vec<Frame>, CodecError> {
        let mut frames = Vec::new();
        self.encode_into(value, &mut frames)?;
        Ok(frames)
    }

    /// Encodes any `T: Serialize` (through [`to_value`](crate::to_value)).
    ///
    /// # Errors
    ///
    /// As [`Encoder::encode`], plus [`CodecError::Serde`] when `T` fails to serialize.
    pub fn encode_serialize<T: serde::Serialize + ?Sized>(
        &mut self,
        value: &T,
    ) -> Result<Vec<Frame>, CodecError> {
        let value = crate::to_value(value)?;
        self.encode(&value)
    }

    /// Encodes one application message, appending the frames to `frames`. On error nothing is
    /// appended.
    ///
    /// # Errors
    ///
    /// As [`Encoder::encode`].
    pub fn encode_into(
        &mut self,
        value: &Value,
        frames: &mut Vec<Frame>,
    ) -> Result<(), CodecError> {
        match self.serialization {
            Serialization::Binary | Serialization::BinaryUtf8 => {
                check_top_level(value, true)?;
                if self.options.legacy_peerjs {
                    check_bmp_strings(value)?;
                }
                self.encode_binarypack(value, frames)
            }
            Serialization::Json => {
                check_top_level(value, self.options.legacy_peerjs)?;
                if let Value::Float(f) = value {
                    if !f.is_finite() {
                        // JSON writes it as null, on which PeerJS's handler throws.
                        return Err(CodecError::TopLevelNil);
                    }
                }
                self.encode_json(value, frames)
            }
            Serialization::MsgPack => {
                check_top_level(value, false)?;
                self.encode_msgpack(value, frames)
            }
            Serialization::Raw => match value {
                Value::String(s) => {
                    frames.push(Frame::Text(s.to_string()));
                    Ok(())
                }
                Value::Binary(b) => {
                    frames.push(Frame::Binary(b.clone()));
                    Ok(())
                }
                other => Err(CodecError::Unsupported {
                    serialization: "raw",
                    what: format!("a {} (only strings and binary)", other.kind_name()),
                }),
            },
        }
    }

    /// Encodes an owned raw message without copying it: strings become text frames, binary
    /// becomes binary frames. For other serializations this is [`Encoder::encode`].
    ///
    /// # Errors
    ///
    /// As [`Encoder::encode`].
    pub fn encode_owned(&mut self, value: Value) -> Result<Vec<Frame>, CodecError> {
        match (self.serialization, value) {
            (Serialization::Raw, Value::String(s)) => Ok(vec![Frame::Text(s.into_string())]),
            (Serialization::Raw, Value::Binary(b)) => Ok(vec![Frame::Binary(b)]),
            (_, value) => self.encode(&value),
        }
    }

    /// The frames of PeerJS 1.5's flush-close control message, which asks the remote to close
    /// the connection. Raw connections have none (PeerJS sends a text that the remote ignores),
    /// and neither do PeerJS 1.3/1.4 ([`CodecOptions::legacy_peerjs`]), so this is empty for
    /// them.
    ///
    /// # Errors
    ///
    /// Only if encoding fails, which the control message never makes it do.
    pub fn encode_close(&mut self) -> Result<Vec<Frame>, CodecError> {
        let mut frames = Vec::new();
        if self.options.legacy_peerjs {
            // PeerJS 1.3/1.4 have no flush-close: they would keep it as an unfinished chunk.
            return Ok(frames);
        }
        let value = close_control_value();
        match self.serialization {
            Serialization::Binary | Serialization::BinaryUtf8 => {
                self.encode_binarypack(&value, &mut frames)?
            }
            Serialization::Json => self.encode_json(&value, &mut frames)?,
            Serialization::MsgPack => self.encode_msgpack(&value, &mut frames)?,
            Serialization::Raw => {}
        }
        Ok(frames)
    }

    fn encode_binarypack(
        &mut self,
        value: &Value,
        frames: &mut Vec<Frame>,
    ) -> Result<(), CodecError> {
        let mut packed = Vec::new();
        binarypack::encode(value, &mut packed)?;
        if packed.len() <= self.options.chunk_size {
            frames.push(Frame::Binary(packed));
        } else {
            let id = self.next_chunk_id;
            self.next_chunk_id += 1;
            chunk::split(&packed, id, self.options.chunk_size, frames);
        }
        Ok(())
    }

    fn encode_json(&mut self, value: &Value, frames: &mut Vec<Frame>) -> Result<(), CodecError> {
        let bytes = json::encode(value)?;
        // PeerJS 1.3/1.4 send JSON as text with no limit of their own (the channel's applies).
        if bytes.len() >= json::MAX_SIZE && !self.options.legacy_peerjs {
            return Err(CodecError::MessageTooBig {
                size: bytes.len(),
                limit: json::MAX_SIZE - 1,
            });
        }
        if self.options.json_text_frames {
            let text = String::from_utf8(bytes).map_err(|_| CodecError::InvalidUtf8)?;
            frames.push(Frame::Text(text));
        } else {
            frames.push(Frame::Binary(bytes));
        }
        Ok(())
    }

    fn encode_msgpack(&mut self, value: &Value, frames: &mut Vec<Frame>) -> Result<(), CodecError> {
        check_msgpack_keys(value)?;
        let mut packed = Vec::new();
        msgpack::encode(value, &mut packed)?;
        let piece = self.options.msgpack_piece_size;
        if packed.len() <= piece {
            frames.push(Frame::Binary(packed));
        } else {
            frames.extend(packed.chunks(piece).map(|p| Frame::Binary(p.to_vec())));
        }
        Ok(())
    }
}

/// Turns received data-channel messages into values for one connection.
#[derive(Debug)]
pub struct Decoder {
    serialization: Serialization,
    options: CodecOptions,
    reassembler: chunk::Reassembler,
    stream: msgpack::StreamDecoder,
}

impl Decoder {
    /// A decoder with the default options.
    pub fn new(serialization: Serialization) -> Self {
        Self::with_options(serialization, CodecOptions::default())
    }

    /// A decoder with options.
    pub fn with_options(serialization: Serialization, options: CodecOptions) -> Self {
        Self {
            serialization,
            reassembler: chunk::Reassembler::new(&options),
            stream: msgpack::StreamDecoder::new(&options),
            options,
        }
    }

    /// The serialization this decoder reads.
    pub fn serialization(&self) -> Serialization {
        self.serialization
    }

    /// Decodes one received frame. It yields nothing for a chunk of an incomplete message, one
    /// item for most frames, and possibly several for a MsgPack frame.
    ///
    /// # Errors
    ///
    /// Any [`CodecError`] for malformed input. The decoder stays usable afterwards, except a
    /// MsgPack stream, which cannot be resynchronised ([`CodecError::StreamFailed`]).
    pub fn decode(&mut self, frame: Frame) -> Result<Vec<Incoming>, CodecError> {
        let mut out = Vec::new();
        self.decode_into(frame, &mut out)?;
        Ok(out)
    }

    /// Decodes one received frame, appending what it yields to `out`.
    ///
    /// # Errors
    ///
    /// As [`Decoder::decode`].
    pub fn decode_into(&mut self, frame: Frame, out: &mut Vec<Incoming>) -> Result<(), CodecError> {
        match self.serialization {
            Serialization::Binary | Serialization::BinaryUtf8 => {
                let Frame::Binary(bytes) = frame else {
                    return Err(CodecError::UnexpectedFrame {
                        serialization: "binary",
                        expected: "binary",
                        got: "text",
                    });
                };
                self.decode_binarypack(&bytes, out)
            }
            Serialization::Json => {
                let value = match frame {
                    Frame::Binary(bytes) => json::decode(&bytes, self.options.max_depth)?,
                    Frame::Text(text) => json::decode(text.as_bytes(), self.options.max_depth)?,
                };
                out.push(match peer_data(&value) {
                    Some(pd) if is_close_control(pd) => Incoming::Close,
                    _ => Incoming::Data(value),
                });
                Ok(())
            }
            Serialization::MsgPack => {
                let Frame::Binary(bytes) = frame else {
                    return Err(CodecError::UnexpectedFrame {
                        serialization: "MsgPack",
                        expected: "binary",
                        got: "text",
                    });
                };
                self.stream.push_with(&bytes, |value| {
                    out.push(match peer_data(&value) {
                        Some(pd) if is_close_control(pd) => Incoming::Close,
                        _ => Incoming::Data(value),
                    });
                })
            }
            Serialization::Raw => {
                out.push(Incoming::Data(match frame {
                    Frame::Text(s) => Value::String(s.into()),
                    Frame::Binary(b) => Value::Binary(b),
                }));
                Ok(())
            }
        }
    }

    fn decode_binarypack(
        &mut self,
        bytes: &[u8],
        out: &mut Vec<Incoming>,
    ) -> Result<(), CodecError> {
        // A reassembled message is itself a BinaryPack message, handled like a received one
        // (PeerJS does the same); each round needs a newly completed message, so this ends.
        let mut whole: Vec<u8>;
        let mut bytes = bytes;
        loop {
            let completed = if let Some(chunk) = chunk::Chunk::parse(bytes) {
                self.reassembler.push(chunk)?
            } else {
                let value = binarypack::decode_with_depth(bytes, self.options.max_depth)?;
                match peer_data(&value) {
                    None => {
                        out.push(Incoming::Data(value));
                        return Ok(());
                    }
                    Some(pd) if is_close_control(pd) => {
                        out.push(Incoming::Close);
                        return Ok(());
                    }
                    Some(_) => self.reassembler.push(chunk::Chunk::from_value(&value)?)?,
                }
            };
            match completed {
                None => return Ok(()),
                Some(message) => {
                    whole = message;
                    bytes = &whole;
                }
            }
        }
    }
}
