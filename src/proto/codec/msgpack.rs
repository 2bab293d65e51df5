//! MessagePack as PeerJS 1.5's `MsgPack` serialization writes and reads it.
//!
//! PeerJS uses `@msgpack/msgpack` 2.8.0 with its default options. The encoder here produces the
//! same bytes as that library's `encode()` for the equivalent JavaScript value:
//!
//! * integers use the smallest encoding (positive fixint, `cc`–`cf`, negative fixint, `d0`–`d3`);
//! * a [`Value::Float`] that holds a safe integer (a whole number within ±(2⁵³−1), including
//!   `-0.0`) is written as an integer, because JavaScript has only one number type; every other
//!   float, NaN and the infinities included, is a float64 (`cb`);
//! * strings are fixstr/str8/str16/str32, binary is bin8/16/32, extension values use the fixext
//!   forms when their size allows;
//! * a [`Value::Timestamp`] is the timestamp extension (type −1) in its 32-, 64- or 96-bit form,
//!   chosen as the library does.
//!
//! Map keys may be any value here; the JavaScript decoder accepts only string and number keys,
//! so the connection-level [`Encoder`](super::Encoder) refuses the others.
//!
//! The decoder accepts any MessagePack. It never panics, checks every declared length against
//! the bytes that are left, never preallocates more than the bytes left could hold, and
//! limits nesting. Strings with invalid UTF-8 are decoded lossily (U+FFFD), as browsers'
//! `TextDecoder` does.
//!
//! There is no framing: a PeerJS sender cuts each encoded value into pieces of [`PIECE_SIZE`]
//! bytes, and the receiver decodes a sequence of values from the concatenation of all messages.
//! [`StreamDecoder`] does that.

use super::{CodecError, CodecOptions, DEFAULT_MAX_DEPTH};
use crate::value::{Timestamp, Value};

/// The size of the pieces PeerJS cuts an encoded value into, each sent as one data-channel
/// message.
pub const PIECE_SIZE: usize = 32768;

/// The serialization's name in errors.
const NAME: &str = "MsgPack";

/// The MessagePack extension type of timestamps.
const TIMESTAMP_EXT: i8 = -1;

/// The largest integer a JavaScript number holds exactly (`Number.MAX_SAFE_INTEGER`).
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// The largest number of seconds the 64-bit timestamp form holds (34 bits).
const TIMESTAMP64_MAX_SECONDS: i64 = 0x3_ffff_ffff;

const NANOS_PER_SECOND: u32 = 1_000_000_000;

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/// Encodes one value as @msgpack/msgpack 2.8.0 would encode the equivalent JavaScript value,
/// appending the bytes to `out`.
///
/// ```
/// use peerjs::proto::codec::msgpack;
/// use peerjs::Value;
///
/// let mut out = Vec::new();
/// msgpack::encode(&Value::Array(vec![1.into(), 2.5.into(), "a".into()]), &mut out)?;
/// assert_eq!(out, [0x93, 0x01, 0xcb, 0x40, 0x04, 0, 0, 0, 0, 0, 0, 0xa1, b'a']);
/// # Ok::<(), peerjs::proto::codec::CodecError>(())
/// ```
///
/// # Errors
///
/// [`CodecError::Unsupported`] for a string, binary, array, map or extension longer than
/// `u32::MAX`, which MessagePack cannot express. On error `out` is left as it was.
pub fn encode(value: &Value, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let original_len = out.len();
    let result = encode_iterative(value, out);
    if result.is_err() {
        out.truncate(original_len);
    }
    result
}

/// Encodes without recursion, so that deeply nested values cannot overflow the stack.
fn encode_iterative(value: &Value, out: &mut Vec<u8>) -> Result<(), CodecError> {
    // The values still to write, the next one last.
    let mut todo: Vec<&Value> = vec![value];
    while let Some(value) = todo.pop() {
        match value {
            Value::Nil => out.push(0xc0),
            Value::Bool(false) => out.push(0xc2),
            Value::Bool(true) => out.push(0xc3),
            Value::Int(n) => write_int(*n, out),
            Value::UInt(n) => write_uint(*n, out),
            Value::Float(f) => write_float(*f, out),
            Value::String(s) => {
                let len = length(s.len(), "string")?;
                if len < 32 {
                    // fixstr; `len` is below 32, so this is a single byte.
                    out.push(0xa0 | len as u8);
                } else {
                    write_sized(len, [0xd9, 0xda, 0xdb], out);
                }
                out.extend_from_slice(s.as_bytes());
            }
            Value::Binary(b) => {
                let len = length(b.len(), "binary")?;
                write_sized(len, [0xc4, 0xc5, 0xc6], out);
                out.extend_from_slice(b);
            }
            Value::Array(items) => {
                let len = length(items.len(), "array")?;
                write_collection_header(len, 0x90, [0xdc, 0xdd], out);
                todo.extend(items.iter().rev());
            }
            Value::Map(entries) => {
                let len = length(entries.len(), "map")?;
                write_collection_header(len, 0x80, [0xde, 0xdf], out);
                for (k, v) in entries.iter().rev() {
                    todo.push(v);
                    todo.push(k);
                }
            }
            Value::Timestamp(t) => write_ext(TIMESTAMP_EXT, &timestamp_ext_data(*t), out)?,
            Value::Ext(tag, data) => write_ext(*tag, data, out)?,
        }
    }
    Ok(())
}

/// A length as MessagePack's 32-bit length, or the error for a longer one.
fn length(len: usize, what: &str) -> Result<u32, CodecError> {
    u32::try_from(len).map_err(|_| CodecError::Unsupported {
        serialization: NAME,
        what: format!("a {what} of {len} elements or bytes (more than 2^32-1)"),
    })
}

/// Writes a signed integer in its smallest encoding.
fn write_int(n: i64, out: &mut Vec<u8>) {
    if let Ok(u) = u64::try_from(n) {
        write_uint(u, out);
    } else if n >= -32 {
        // negative fixint: the low byte of the two's complement
        out.extend_from_slice(&n.to_be_bytes()[7..]);
    } else if let Ok(n) = i8::try_from(n) {
        out.push(0xd0);
        out.extend_from_slice(&n.to_be_bytes());
    } else if let Ok(n) = i16::try_from(n) {
        out.push(0xd1);
        out.extend_from_slice(&n.to_be_bytes());
    } else if let Ok(n) = i32::try_from(n) {
        out.push(0xd2);
        out.extend_from_slice(&n.to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// Writes a non-negative integer in its smallest encoding.
fn write_uint(n: u64, out: &mut Vec<u8>) {
    if n < 0x80 {
        out.push(n as u8);
    } else if let Ok(n) = u8::try_from(n) {
        out.push(0xcc);
        out.push(n);
    } else if let Ok(n) = u16::try_from(n) {
        out.push(0xcd);
        out.extend_from_slice(&n.to_be_bytes());
    } else if let Ok(n) = u32::try_from(n) {
        out.push(0xce);
        out.extend_from_slice(&n.to_be_bytes());
    } else {
        out.push(0xcf);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// Writes a float as JavaScript's encoder writes a number: safe integers as integers, the rest
/// as float64.
fn write_float(f: f64, out: &mut Vec<u8>) {
    if f.is_finite() && f.trunc() == f && f.abs() <= MAX_SAFE_INTEGER {
        // A whole number of magnitude at most 2^53-1 converts to i64 exactly (-0.0 becomes 0).
        write_int(f as i64, out);
    } else {
        out.push(0xcb);
        out.extend_from_slice(&f.to_be_bytes());
    }
}

/// Writes the header of a string or binary: the 8-, 16- or 32-bit length form.
fn write_sized(len: u32, tags: [u8; 3], out: &mut Vec<u8>) {
    let [tag8, tag16, tag32] = tags;
    if let Ok(len) = u8::try_from(len) {
        out.push(tag8);
        out.push(len);
    } else if let Ok(len) = u16::try_from(len) {
        out.push(tag16);
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        out.push(tag32);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// Writes the header of an array or map: the fix form below 16 entries, else 16 or 32 bits.
fn write_collection_header(len: u32, fix: u8, tags: [u8; 2], out: &mut Vec<u8>) {
    let [tag16, tag32] = tags;
    if len < 16 {
        // `len` is below 16, so it fits in the low nibble.
        out.push(fix | len as u8);
    } else if let Ok(len) = u16::try_from(len) {
        out.push(tag16);
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        out.push(tag32);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// Writes an extension value: fixext 1/2/4/8/16 when the size allows, else ext 8/16/32.
fn write_ext(tag: i8, data: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
    let len = length(data.len(), "extension value")?;
    match len {
        1 => out.push(0xd4),
        2 => out.push(0xd5),
        4 => out.push(0xd6),
        8 => out.push(0xd7),
        16 => out.push(0xd8),
        _ => write_sized(len, [0xc7, 0xc8, 0xc9], out),
    }
    out.extend_from_slice(&tag.to_be_bytes());
    out.extend_from_slice(data);
    Ok(())
}

/// The payload of the timestamp extension for `t`, in the form @msgpack/msgpack chooses:
/// timestamp 32 (4 bytes) for whole seconds in `0..2^32`, timestamp 64 (8 bytes) for other times
/// with seconds in `0..2^34`, timestamp 96 (12 bytes) for the rest (negative times included).
///
/// Nanoseconds of a second or more are first carried into the seconds.
pub(crate) fn timestamp_ext_data(t: Timestamp) -> Vec<u8> {
    let t = Timestamp::new(t.seconds, t.nanoseconds);
    match u64::try_from(t.seconds) {
        Ok(seconds) if t.seconds <= TIMESTAMP64_MAX_SECONDS => {
            match u32::try_from(seconds) {
                Ok(seconds32) if t.nanoseconds == 0 => seconds32.to_be_bytes().to_vec(),
                // nsec30 | sec34; nanoseconds are below 10^9 < 2^30.
                _ => ((u64::from(t.nanoseconds) << 34) | seconds)
                    .to_be_bytes()
                    .to_vec(),
            }
        }
        _ => {
            let mut data = Vec::with_capacity(12);
            data.extend_from_slice(&t.nanoseconds.to_be_bytes());
            data.extend_from_slice(&t.seconds.to_be_bytes());
            data
        }
    }
}

/// The timestamp in a timestamp-extension payload, or `None` if the payload is not 4, 8 or 12
/// bytes long or its nanoseconds are 10^9 or more.
pub(crate) fn timestamp_from_ext_data(data: &[u8]) -> Option<Timestamp> {
    let (seconds, nanoseconds) = match data.len() {
        4 => (i64::from(u32::from_be_bytes(be_bytes(data, 0))), 0),
        8 => {
            let v = u64::from_be_bytes(be_bytes(data, 0));
            // The top 30 bits are the nanoseconds, the low 34 bits the seconds.
            let nanoseconds = u32::try_from(v >> 34).ok()?;
            let seconds = i64::try_from(v & 0x3_ffff_ffff).ok()?;
            (seconds, nanoseconds)
        }
        12 => (
            i64::from_be_bytes(be_bytes(data, 4)),
            u32::from_be_bytes(be_bytes(data, 0)),
        ),
        _ => return None,
    };
    (nanoseconds < NANOS_PER_SECOND).then_some(Timestamp {
        seconds,
        nanoseconds,
    })
}

/// `N` bytes of `bytes` from `at`, or zeros if there are not that many (callers check lengths
/// first).
fn be_bytes<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    at.checked_add(N)
        .and_then(|end| bytes.get(at..end))
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .unwrap_or([0; N])
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

/// What an item's header says, before its payload.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Head {
    Nil,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    /// A string of this many bytes.
    Str(u32),
    /// Binary of this many bytes.
    Bin(u32),
    /// An extension value of this type and size.
    Ext(i8, u32),
    /// An array of this many elements.
    Array(u32),
    /// A map of this many entries.
    Map(u32),
}

impl Head {
    /// The number of payload bytes that follow the header.
    fn payload_len(self) -> u64 {
        match self {
            Self::Str(n) | Self::Bin(n) | Self::Ext(_, n) => u64::from(n),
            _ => 0,
        }
    }

    /// The number of items (elements, or keys and values) that follow the payload.
    fn child_count(self) -> u64 {
        match self {
            Self::Array(n) => u64::from(n),
            Self::Map(n) => 2 * u64::from(n),
            _ => 0,
        }
    }
}

/// Why a header could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HeadError {
    /// The header is this many bytes long, more than are available.
    Incomplete(usize),
    /// The tag byte is not defined (0xc1).
    InvalidTag(u8),
}

/// The length of the header an item with this tag byte has: the tag and any length, type or
/// scalar bytes, but not the payload of strings, binary and extension values.
fn header_len(tag: u8) -> Result<usize, HeadError> {
    Ok(match tag {
        0x00..=0xc0 | 0xc2 | 0xc3 | 0xe0..=0xff => 1,
        0xc1 => return Err(HeadError::InvalidTag(tag)),
        0xc4 | 0xcc | 0xd0 | 0xd9 => 2,
        0xd4..=0xd8 => 2,
        0xc5 | 0xcd | 0xd1 | 0xda | 0xdc | 0xde => 3,
        0xc7 => 3,
        0xc8 => 4,
        0xc6 | 0xca | 0xce | 0xd2 | 0xdb | 0xdd | 0xdf => 5,
        0xc9 => 6,
        0xcb | 0xcf | 0xd3 => 9,
    })
}

/// Reads the header of the item at the start of `bytes`; returns it and its length.
fn read_head(bytes: &[u8]) -> Result<(Head, usize), HeadError> {
    let Some(&tag) = bytes.first() else {
        return Err(HeadError::Incomplete(1));
    };
    let len = header_len(tag)?;
    let Some(h) = bytes.get(..len) else {
        return Err(HeadError::Incomplete(len));
    };
    let u8_at = |at: usize| h.get(at).copied().unwrap_or(0);
    let u16_at = |at: usize| u32::from(u16::from_be_bytes(be_bytes(h, at)));
    let u32_at = |at: usize| u32::from_be_bytes(be_bytes(h, at));
    let ext_type = |at: usize| i8::from_be_bytes([u8_at(at)]);
    let head = match tag {
        0x00..=0x7f => Head::Int(i64::from(tag)),
        0x80..=0x8f => Head::Map(u32::from(tag & 0x0f)),
        0x90..=0x9f => Head::Array(u32::from(tag & 0x0f)),
        0xa0..=0xbf => Head::Str(u32::from(tag & 0x1f)),
        0xc0 => Head::Nil,
        0xc2 => Head::Bool(false),
        0xc3 => Head::Bool(true),
        0xc4 => Head::Bin(u32::from(u8_at(1))),
        0xc5 => Head::Bin(u16_at(1)),
        0xc6 => Head::Bin(u32_at(1)),
        0xc7 => Head::Ext(ext_type(2), u32::from(u8_at(1))),
        0xc8 => Head::Ext(ext_type(3), u16_at(1)),
        0xc9 => Head::Ext(ext_type(5), u32_at(1)),
        0xca => Head::Float(f64::from(f32::from_be_bytes(be_bytes(h, 1)))),
        0xcb => Head::Float(f64::from_be_bytes(be_bytes(h, 1))),
        0xcc => Head::Int(i64::from(u8_at(1))),
        0xcd => Head::Int(i64::from(u16_at(1))),
        0xce => Head::Int(i64::from(u32_at(1))),
        0xcf => {
            let n = u64::from_be_bytes(be_bytes(h, 1));
            i64::try_from(n).map_or(Head::UInt(n), Head::Int)
        }
        0xd0 => Head::Int(i64::from(i8::from_be_bytes(be_bytes(h, 1)))),
        0xd1 => Head::Int(i64::from(i16::from_be_bytes(be_bytes(h, 1)))),
        0xd2 => Head::Int(i64::from(i32::from_be_bytes(be_bytes(h, 1)))),
        0xd3 => Head::Int(i64::from_be_bytes(be_bytes(h, 1))),
        0xd4 => Head::Ext(ext_type(1), 1),
        0xd5 => Head::Ext(ext_type(1), 2),
        0xd6 => Head::Ext(ext_type(1), 4),
        0xd7 => Head::Ext(ext_type(1), 8),
        0xd8 => Head::Ext(ext_type(1), 16),
        0xd9 => Head::Str(u32::from(u8_at(1))),
        0xda => Head::Str(u16_at(1)),
        0xdb => Head::Str(u32_at(1)),
        0xdc => Head::Array(u16_at(1)),
        0xdd => Head::Array(u32_at(1)),
        0xde => Head::Map(u16_at(1)),
        0xdf => Head::Map(u32_at(1)),
        0xe0..=0xff => Head::Int(i64::from(i8::from_be_bytes([tag]))),
        0xc1 => return Err(HeadError::InvalidTag(tag)),
    };
    Ok((head, len))
}

/// The error for an item that needs `needed` bytes when `available` are left.
fn truncated(needed: u64, available: usize) -> CodecError {
    CodecError::Truncated {
        needed: needed.saturating_sub(available as u64),
        available,
    }
}

/// Decodes exactly one value with the default nesting limit ([`DEFAULT_MAX_DEPTH`]).
///
/// ```
/// use peerjs::proto::codec::msgpack;
/// use peerjs::Value;
///
/// let v = msgpack::decode(&[0x81, 0xa1, b'a', 0xcd, 0x01, 0x00])?;
/// assert_eq!(v, Value::Map(vec![("a".into(), 256.into())]));
/// # Ok::<(), peerjs::proto::codec::CodecError>(())
/// ```
///
/// # Errors
///
/// As [`decode_with_depth`].
pub fn decode(bytes: &[u8]) -> Result<Value, CodecError> {
    decode_with_depth(bytes, DEFAULT_MAX_DEPTH)
}

/// Decodes exactly one value, with arrays and maps nested at most `max_depth` levels (a
/// top-level array is one level; `max_depth` 0 allows only scalars).
///
/// Integers become [`Value::Int`] when they fit in an `i64`, else [`Value::UInt`]; float32 and
/// float64 become [`Value::Float`]; the timestamp extension with a valid 4-, 8- or 12-byte
/// payload becomes [`Value::Timestamp`], other extension values [`Value::Ext`]. Invalid UTF-8 in
/// strings is replaced by U+FFFD.
///
/// # Errors
///
/// [`CodecError::Truncated`] when a declared length or count is larger than the bytes left,
/// [`CodecError::InvalidTag`] for the undefined tag 0xc1, [`CodecError::TooDeep`] for nesting
/// beyond `max_depth`, [`CodecError::TrailingBytes`] when bytes follow the value.
pub fn decode_with_depth(bytes: &[u8], max_depth: usize) -> Result<Value, CodecError> {
    let mut pos = 0;
    let value = decode_one(bytes, &mut pos, max_depth)?;
    match bytes.len().saturating_sub(pos) {
        0 => Ok(value),
        count => Err(CodecError::TrailingBytes { count }),
    }
}

/// An array or map being decoded.
enum Open {
    Array {
        items: Vec<Value>,
        /// Elements still to decode.
        remaining: u64,
    },
    Map {
        entries: Vec<(Value, Value)>,
        /// The key of the entry whose value comes next.
        key: Option<Value>,
        /// Entries still to complete.
        remaining: u64,
    },
}

/// Decodes the value that starts at `*pos`, moving `*pos` past it.
///
/// The decoder keeps its own stack instead of recursing. Each open array or map reserves room
/// for its items up front, but never more than the bytes left in the input could hold (an item
/// takes at least one byte, a map entry two), so declared counts cannot cause allocations beyond
/// a fixed multiple of the input, and no item is copied twice.
fn decode_one(bytes: &[u8], pos: &mut usize, max_depth: usize) -> Result<Value, CodecError> {
    let mut open: Vec<Open> = Vec::new();
    loop {
        let rest = bytes.get(*pos..).unwrap_or_default();
        let (head, head_len) = match read_head(rest) {
            Ok(h) => h,
            Err(HeadError::Incomplete(n)) => return Err(truncated(n as u64, rest.len())),
            Err(HeadError::InvalidTag(tag)) => return Err(CodecError::InvalidTag(tag)),
        };
        let rest = rest.get(head_len..).unwrap_or_default();
        let payload_len = head.payload_len();
        let Some(payload) = usize::try_from(payload_len)
            .ok()
            .and_then(|n| rest.get(..n))
        else {
            return Err(truncated(
                head_len as u64 + payload_len,
                rest.len() + head_len,
            ));
        };
        *pos += head_len + payload.len();
        let mut value = match head {
            Head::Nil => Value::Nil,
            Head::Bool(b) => Value::Bool(b),
            Head::Int(n) => Value::Int(n),
            Head::UInt(n) => Value::UInt(n),
            Head::Float(f) => Value::Float(f),
            Head::Str(_) => Value::String(match std::str::from_utf8(payload) {
                Ok(s) => s.into(),
                Err(_) => crate::value::CompactString::from_utf8_lossy(payload),
            }),
            Head::Bin(_) => Value::Binary(payload.to_vec()),
            Head::Ext(tag, _) => ext_value(tag, payload),
            Head::Array(_) | Head::Map(_) => {
                if open.len() >= max_depth {
                    return Err(CodecError::TooDeep { limit: max_depth });
                }
                let count = head.child_count();
                // Every item takes at least one byte.
                if count > rest.len() as u64 {
                    return Err(truncated(count, rest.len()));
                }
                let is_map = matches!(head, Head::Map(_));
                // count <= rest.len(), so it fits in usize.
                let count_usize = count as usize;
                match (is_map, count) {
                    (true, 0) => Value::Map(Vec::new()),
                    (false, 0) => Value::Array(Vec::new()),
                    (true, _) => {
                        let entries = count_usize / 2;
                        open.push(Open::Map {
                            entries: Vec::with_capacity(entries.min(rest.len() / 2)),
                            key: None,
                            remaining: count / 2,
                        });
                        continue;
                    }
                    (false, _) => {
                        open.push(Open::Array {
                            items: Vec::with_capacity(count_usize),
                            remaining: count,
                        });
                        continue;
                    }
                }
            }
        };
        // A value is complete: hand it to its collection, closing every collection it completes.
        loop {
            let Some(top) = open.last_mut() else {
                return Ok(value);
            };
            let done = match top {
                Open::Array { items, remaining } => {
                    items.push(value);
                    *remaining -= 1;
                    *remaining == 0
                }
                Open::Map {
                    entries,
                    key,
                    remaining,
                } => match key.take() {
                    None => {
                        *key = Some(value);
                        false
                    }
                    Some(k) => {
                        entries.push((k, value));
                        *remaining -= 1;
                        *remaining == 0
                    }
                },
            };
            if !done {
                break;
            }
            value = match open.pop() {
                Some(Open::Array { items, .. }) => Value::Array(items),
                Some(Open::Map { entries, .. }) => Value::Map(entries),
                // Unreachable: `top` was on the stack.
                None => Value::Nil,
            };
        }
    }
}

/// The value of an extension: a timestamp for a valid type −1 payload, else [`Value::Ext`].
fn ext_value(tag: i8, data: &[u8]) -> Value {
    if tag == TIMESTAMP_EXT {
        if let Some(t) = timestamp_from_ext_data(data) {
            return Value::Timestamp(t);
        }
    }
    Value::Ext(tag, data.to_vec())
}

// ---------------------------------------------------------------------------------------------
// Stream decoding
// ---------------------------------------------------------------------------------------------

/// How far scanning of a buffered value got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scan {
    /// The value ends at this offset.
    Complete(usize),
    /// The value needs the buffer to reach at least this length.
    Incomplete(u64),
}

/// Decodes the sequence of MessagePack values in a byte stream that arrives in arbitrary pieces,
/// as a PeerJS `MsgPack` receiver does with the messages of a data connection.
///
/// ```
/// use peerjs::proto::codec::{Decoder, Frame, Incoming, Serialization};
/// use peerjs::Value;
///
/// // Two values, split across three messages at arbitrary points.
/// let mut dec = Decoder::new(Serialization::MsgPack);
/// let mut got = Vec::new();
/// for piece in [&[0x92, 0x01][..], &[0x02, 0xa2, b'h'], &[b'i']] {
///     got.extend(dec.decode(Frame::Binary(piece.to_vec()))?);
/// }
/// assert_eq!(got, vec![
///     Incoming::Data(Value::Array(vec![1.into(), 2.into()])),
///     Incoming::Data("hi".into()),
/// ]);
/// # Ok::<(), peerjs::proto::codec::CodecError>(())
/// ```
///
/// Only the bytes of the value in progress are kept. Each piece is scanned once: the scanner
/// remembers where it stopped, so a large value arriving in many pieces costs time linear in its
/// size, and is decoded once, when complete.
#[derive(Debug)]
pub struct StreamDecoder {
    /// The bytes of the value in progress (it starts at offset 0).
    buf: Vec<u8>,
    /// Where scanning resumes: the start of the first item not yet scanned.
    scan_pos: usize,
    /// Items of the value in progress not yet scanned; 0 when no value is in progress.
    pending: u64,
    max_depth: usize,
    max_size: usize,
    failed: bool,
}

impl StreamDecoder {
    /// A stream decoder with the limits of `options` (nesting depth, size of one value).
    pub(crate) fn new(options: &CodecOptions) -> Self {
        Self {
            buf: Vec::new(),
            scan_pos: 0,
            pending: 0,
            max_depth: options.get_max_depth(),
            max_size: options.get_max_message_size(),
            failed: false,
        }
    }

    /// Appends received bytes to the stream and appends every value they complete to `out`. An
    /// incomplete value stays buffered for the next push.
    ///
    /// # Errors
    ///
    /// Any decoding error ([`CodecError::InvalidTag`], [`CodecError::TooDeep`]), and
    /// [`CodecError::MessageTooBig`] when one value is, or is declared to be, larger than the
    /// maximum message size. Values completed before the error are still appended to `out`. The
    /// stream cannot be resynchronised after an error: the buffer is dropped and every later
    /// push returns [`CodecError::StreamFailed`].
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<Value>) -> Result<(), CodecError> {
        self.push_with(bytes, |value| out.push(value))
    }

    /// As [`StreamDecoder::push`], handing each completed value to `emit` as soon as it is
    /// decoded instead of collecting them.
    ///
    /// # Errors
    ///
    /// As [`StreamDecoder::push`].
    pub fn push_with(
        &mut self,
        bytes: &[u8],
        mut emit: impl FnMut(Value),
    ) -> Result<(), CodecError> {
        if self.failed {
            return Err(CodecError::StreamFailed);
        }
        match self.push_inner(bytes, &mut emit) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.failed = true;
                self.buf = Vec::new();
                self.scan_pos = 0;
                self.pending = 0;
                Err(e)
            }
        }
    }

    fn push_inner(&mut self, bytes: &[u8], emit: &mut dyn FnMut(Value)) -> Result<(), CodecError> {
        self.buf.extend_from_slice(bytes);
        let mut start = 0;
        while start < self.buf.len() {
            if self.pending == 0 {
                self.pending = 1;
                self.scan_pos = start;
            }
            match scan(&self.buf, &mut self.scan_pos, &mut self.pending)? {
                Scan::Complete(end) => {
                    let size = end - start;
                    if size > self.max_size {
                        return Err(CodecError::MessageTooBig {
                            size,
                            limit: self.max_size,
                        });
                    }
                    let value = self
                        .buf
                        .get(start..end)
                        .ok_or_else(|| truncated(size as u64, self.buf.len().saturating_sub(start)))
                        .and_then(|b| decode_with_depth(b, self.max_depth))?;
                    emit(value);
                    start = end;
                }
                Scan::Incomplete(min_end) => {
                    let min_size = min_end.saturating_sub(start as u64);
                    if min_size > self.max_size as u64 {
                        let size = usize::try_from(min_size).unwrap_or(usize::MAX);
                        return Err(CodecError::MessageTooBig {
                            size,
                            limit: self.max_size,
                        });
                    }
                    break;
                }
            }
        }
        // Keep only the value in progress. Its bytes before this push were already at offset 0,
        // so what is moved here arrived in this push: the total copying stays linear.
        if start > 0 {
            self.buf.drain(..start);
            self.scan_pos = self.scan_pos.saturating_sub(start);
        }
        Ok(())
    }
}

#[cfg(test)]
thread_local! {
    /// How many item headers `scan` has read on this thread (tests check scanning is linear).
    static HEADS_READ: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Scans items from `*pos` until the `*pending` items are all complete, without allocating.
/// On return `*pos` and `*pending` say where to resume.
fn scan(buf: &[u8], pos: &mut usize, pending: &mut u64) -> Result<Scan, CodecError> {
    while *pending > 0 {
        #[cfg(test)]
        HEADS_READ.with(|h| h.set(h.get() + 1));
        let rest = buf.get(*pos..).unwrap_or_default();
        // Every item still pending after the current one needs at least one byte.
        let later = *pending - 1;
        let (head, head_len) = match read_head(rest) {
            Ok(h) => h,
            Err(HeadError::Incomplete(n)) => {
                let min_end = (*pos as u64).saturating_add(n as u64).saturating_add(later);
                return Ok(Scan::Incomplete(min_end));
            }
            Err(HeadError::InvalidTag(tag)) => return Err(CodecError::InvalidTag(tag)),
        };
        let item_len = (head_len as u64).saturating_add(head.payload_len());
        if item_len > rest.len() as u64 {
            let min_end = (*pos as u64).saturating_add(item_len).saturating_add(later);
            return Ok(Scan::Incomplete(min_end));
        }
        // item_len is at most rest.len(), so it fits in usize.
        *pos += item_len as usize;
        *pending = later.saturating_add(head.child_count());
    }
    Ok(Scan::Complete(*pos))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn enc(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        encode(v, &mut out).unwrap();
        out
    }

    fn repeat(prefix: &str, byte: &str, n: usize) -> Vec<u8> {
        let mut v = hex(prefix);
        v.extend(hex(&byte.repeat(n)));
        v
    }

    fn s(x: &str) -> Value {
        Value::from(x)
    }

    fn map(entries: Vec<(&str, Value)>) -> Value {
        Value::Map(entries.into_iter().map(|(k, v)| (s(k), v)).collect())
    }

    /// (value, bytes, whether decoding the bytes gives back the same value).
    fn vectors() -> Vec<(Value, Vec<u8>, bool)> {
        let f = |x: f64| Value::Float(x);
        let i = |x: i64| Value::Int(x);
        let mut v = vec![
            // 1
            (i(0), hex("00"), true),
            (i(127), hex("7f"), true),
            (i(128), hex("cc80"), true),
            (i(255), hex("ccff"), true),
            // 2
            (i(256), hex("cd0100"), true),
            (i(65536), hex("ce00010000"), true),
            // 3
            (i(1 << 32), hex("cf0000000100000000"), true),
            // 4
            (i(-1), hex("ff"), true),
            (i(-32), hex("e0"), true),
            (i(-33), hex("d0df"), true),
            (i(-129), hex("d1ff7f"), true),
            (i(-32769), hex("d2ffff7fff"), true),
            // 5
            (i(-(1 << 31) - 1), hex("d3ffffffff7fffffff"), true),
            // 6
            (i((1 << 53) - 1), hex("cf001fffffffffffff"), true),
            (f(9_007_199_254_740_992.0), hex("cb4340000000000000"), true),
            // 7
            (f(1.5), hex("cb3ff8000000000000"), true),
            (f(0.1), hex("cb3fb999999999999a"), true),
            (f(-0.0), hex("00"), false),
            // 8
            (f(f64::NAN), hex("cb7ff8000000000000"), true),
            (f(f64::INFINITY), hex("cb7ff0000000000000"), true),
            (f(1e300), hex("cb7e37e43c8800759c"), true),
            // 9
            (s(""), hex("a0"), true),
            (s("a"), hex("a161"), true),
            (s("😀"), hex("a4f09f9880"), true),
            // 10
            (s(&"x".repeat(31)), repeat("bf", "78", 31), true),
            (s(&"x".repeat(32)), repeat("d920", "78", 32), true),
            (s(&"x".repeat(256)), repeat("da0100", "78", 256), true),
            // 11
            (Value::Bool(true), hex("c3"), true),
            (Value::Bool(false), hex("c2"), true),
            (Value::Nil, hex("c0"), true),
            // 12
            (Value::Array(vec![i(1), i(2), i(3)]), hex("93010203"), true),
            (
                Value::Array(vec![i(0); 16]),
                repeat("dc0010", "00", 16),
                true,
            ),
            // 13
            (map(vec![("a", i(1))]), hex("81a16101"), true),
            (map(vec![("a", Value::Nil)]), hex("81a161c0"), true),
            // 14
            (Value::Binary(vec![1, 2, 3]), hex("c403010203"), true),
            (
                Value::Binary(vec![1, 0, 0xff, 0xff]),
                hex("c4040100ffff"),
                true,
            ),
            // 15
            (
                Value::Binary(vec![0; 300]),
                repeat("c5012c", "00", 300),
                true,
            ),
            (
                Value::Binary(vec![0; 70000]),
                repeat("c600011170", "00", 70000),
                true,
            ),
            // 16: an ArrayBuffer is sent as an empty map.
            (Value::Map(vec![]), hex("80"), true),
            // 17
            (
                Value::Timestamp(Timestamp::from_millis(0)),
                hex("d6ff00000000"),
                true,
            ),
            (
                Value::Timestamp(Timestamp::from_millis(1500)),
                hex("d7ff7735940000000001"),
                true,
            ),
            // 18
            (
                Value::Timestamp(Timestamp::from_millis((1 << 34) * 1000)),
                hex("c70cff000000000000000400000000"),
                true,
            ),
            (
                Value::Timestamp(Timestamp::from_millis(-1)),
                hex("c70cff3b8b87c0ffffffffffffffff"),
                true,
            ),
            // 19
            (map(vec![("x", i(1))]), hex("81a17801"), true),
            // 20
            (
                map(vec![("__peerData", map(vec![("type", s("close"))]))]),
                hex("81aa5f5f706565724461746181a474797065a5636c6f7365"),
                true,
            ),
            // E2E
            (
                map(vec![
                    ("a", i(1)),
                    ("s", s("hi")),
                    ("d", Value::Timestamp(Timestamp::from_millis(0))),
                    ("u", Value::Binary(vec![1, 2])),
                ]),
                hex("84a16101a173a26869a164d6ff00000000a175c4020102"),
                true,
            ),
        ];
        // Whole floats are encoded as the integers JavaScript sees.
        for (x, bytes) in [
            (0.0, "00"),
            (127.0, "7f"),
            (128.0, "cc80"),
            (-1.0, "ff"),
            (-33.0, "d0df"),
            (4_294_967_296.0, "cf0000000100000000"),
            (-2_147_483_649.0, "d3ffffffff7fffffff"),
            (9_007_199_254_740_991.0, "cf001fffffffffffff"),
            (-9_007_199_254_740_991.0, "d3ffe0000000000001"),
            (-9_007_199_254_740_992.0, "cbc340000000000000"),
            (f64::NEG_INFINITY, "cbfff0000000000000"),
        ] {
            v.push((f(x), hex(bytes), false));
        }
        v
    }

    #[test]
    fn spec_vectors_encode() {
        for (value, bytes, _) in vectors() {
            assert_eq!(enc(&value), bytes, "encoding {value:?}");
        }
    }

    #[test]
    fn spec_vectors_decode() {
        for (value, bytes, round_trips) in vectors() {
            let got = decode(&bytes).unwrap();
            if round_trips {
                assert_eq!(got, value, "decoding {bytes:02x?}");
            } else if let Value::Float(x) = value {
                assert_eq!(got.as_f64(), Some(x + 0.0), "decoding {bytes:02x?}");
            }
        }
    }

    #[test]
    fn integer_boundaries_round_trip() {
        let cases: [(i64, &str); 14] = [
            (-32, "e0"),
            (-128, "d080"),
            (-32768, "d18000"),
            (-2_147_483_648, "d280000000"),
            (i64::MIN, "d38000000000000000"),
            (i64::MAX, "cf7fffffffffffffff"),
            (65535, "cdffff"),
            (4_294_967_295, "ceffffffff"),
            (-129, "d1ff7f"),
            (-127, "d081"),
            (-31, "e1"),
            (31, "1f"),
            (32767, "cd7fff"),
            (-2_147_483_649, "d3ffffffff7fffffff"),
        ];
        for (n, bytes) in cases {
            assert_eq!(enc(&Value::Int(n)), hex(bytes), "{n}");
            assert_eq!(decode(&hex(bytes)).unwrap(), Value::Int(n));
        }
        assert_eq!(enc(&Value::UInt(u64::MAX)), hex("cfffffffffffffffff"));
        assert!(matches!(
            decode(&hex("cfffffffffffffffff")).unwrap(),
            Value::UInt(u64::MAX)
        ));
        assert!(matches!(
            decode(&hex("cf7fffffffffffffff")).unwrap(),
            Value::Int(i64::MAX)
        ));
        // Small UInt values use the smallest encoding too.
        assert_eq!(enc(&Value::UInt(5)), hex("05"));
        // Non-minimal encodings decode.
        assert_eq!(decode(&hex("d000")).unwrap(), Value::Int(0));
        assert_eq!(decode(&hex("cf0000000000000001")).unwrap(), Value::Int(1));
    }

    #[test]
    fn other_encodings_decode() {
        assert_eq!(decode(&hex("ca3fc00000")).unwrap(), Value::Float(1.5));
        assert_eq!(decode(&hex("db00000002 6869")).unwrap(), s("hi"));
        assert_eq!(
            decode(&hex("c50002 0102")).unwrap(),
            Value::Binary(vec![1, 2])
        );
        assert_eq!(
            decode(&hex("dd00000001 c3")).unwrap(),
            Value::Array(vec![true.into()])
        );
        assert_eq!(
            decode(&hex("de0001 a161 01")).unwrap(),
            map(vec![("a", 1.into())])
        );
        assert_eq!(
            decode(&hex("df00000001 a161 01")).unwrap(),
            map(vec![("a", 1.into())])
        );
        // Any key type.
        let m = Value::Map(vec![(1.into(), Value::Nil), (Value::Array(vec![]), s("x"))]);
        assert_eq!(decode(&enc(&m)).unwrap(), m);
    }

    #[test]
    fn ext_forms() {
        for (len, prefix) in [
            (1, "d405"),
            (2, "d505"),
            (4, "d605"),
            (8, "d705"),
            (16, "d805"),
            (0, "c70005"),
            (3, "c70305"),
            (255, "c7ff05"),
            (256, "c8010005"),
            (65536, "c90001000005"),
        ] {
            let v = Value::Ext(5, vec![0xab; len]);
            let bytes = repeat(prefix, "ab", len);
            assert_eq!(enc(&v), bytes, "ext of {len}");
            assert_eq!(decode(&bytes).unwrap(), v);
        }
        assert_eq!(enc(&Value::Ext(-128, vec![1])), hex("d48001"));
        // An invalid timestamp payload stays an extension value.
        for bytes in ["d4ff00", "c700ff", "d8ff" /* 16 bytes */] {
            let mut b = hex(bytes);
            if bytes == "d8ff" {
                b.extend([0; 16]);
            }
            assert!(matches!(decode(&b).unwrap(), Value::Ext(-1, _)), "{bytes}");
        }
        // Nanoseconds of 10^9 or more.
        let bad64 = (u64::from(NANOS_PER_SECOND) << 34).to_be_bytes();
        let mut b = hex("d7ff");
        b.extend(bad64);
        assert_eq!(decode(&b).unwrap(), Value::Ext(-1, bad64.to_vec()));
        let mut b = hex("c70cff3b9aca00");
        b.extend([0; 8]);
        assert!(matches!(decode(&b).unwrap(), Value::Ext(-1, _)));
    }

    #[test]
    fn timestamp_forms() {
        let cases = [
            (Timestamp::new(0, 0), "00000000"),
            (Timestamp::new(u32::MAX.into(), 0), "ffffffff"),
            (Timestamp::new(1 << 32, 0), "0000000100000000"),
            (
                Timestamp::new(TIMESTAMP64_MAX_SECONDS, 999_999_999),
                "ee6b27ffffffffff",
            ),
            (Timestamp::new(1, 1), "0000000400000001"),
            (Timestamp::new(1 << 34, 0), "000000000000000400000000"),
            (Timestamp::new(-1, 0), "00000000ffffffffffffffff"),
            (Timestamp::new(i64::MIN, 5), "000000058000000000000000"),
        ];
        for (t, data) in cases {
            assert_eq!(timestamp_ext_data(t), hex(data), "{t:?}");
            assert_eq!(timestamp_from_ext_data(&hex(data)), Some(t));
        }
        // Nanoseconds beyond a second carry over.
        assert_eq!(
            timestamp_ext_data(Timestamp {
                seconds: 0,
                nanoseconds: 2_000_000_000
            }),
            hex("00000002")
        );
        assert_eq!(timestamp_from_ext_data(&[0; 5]), None);
        assert_eq!(timestamp_from_ext_data(&[]), None);
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        assert_eq!(decode(&hex("a3 61ff62")).unwrap(), s("a\u{fffd}b"));
        assert_eq!(decode(&hex("a2 f09f")).unwrap(), s("\u{fffd}"));
        assert_eq!(
            decode(&hex("a3 eda080")).unwrap(),
            s("\u{fffd}\u{fffd}\u{fffd}")
        );
    }

    #[test]
    fn invalid_tag_and_trailing() {
        assert_eq!(decode(&hex("c1")), Err(CodecError::InvalidTag(0xc1)));
        assert_eq!(decode(&hex("91c1")), Err(CodecError::InvalidTag(0xc1)));
        assert_eq!(
            decode(&hex("0000")),
            Err(CodecError::TrailingBytes { count: 1 })
        );
        assert_eq!(
            decode(&[]),
            Err(CodecError::Truncated {
                needed: 1,
                available: 0
            })
        );
    }

    #[test]
    fn truncated_everywhere() {
        for (value, bytes, _) in vectors() {
            for cut in 0..bytes.len() {
                match decode(&bytes[..cut]) {
                    Err(CodecError::Truncated { needed, available }) => {
                        assert!(needed > 0 && available <= cut, "{value:?} cut at {cut}");
                    }
                    other => panic!("{value:?} cut at {cut}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn huge_declared_lengths() {
        for bytes in [
            "dbffffffff",
            "c6ffffffff",
            "c9ffffffff01",
            "ddffffffff",
            "dfffffffff",
            "dc ffff",
            "de ffff 00",
            "dd ffffffff dd ffffffff dd ffffffff c0",
            "9f 9f 9f 9f",
        ] {
            let b = hex(bytes);
            assert!(
                matches!(decode(&b), Err(CodecError::Truncated { .. })),
                "{bytes}: {:?}",
                decode(&b)
            );
        }
        assert_eq!(
            decode(&hex("dbffffffff 61")),
            Err(CodecError::Truncated {
                needed: 0xffff_fffe,
                available: 6
            })
        );
        // A map count is checked against the bytes both its keys and values need.
        assert_eq!(
            decode(&hex("82 00 00 00")),
            Err(CodecError::Truncated {
                needed: 1,
                available: 3
            })
        );
    }

    #[test]
    fn nesting_limit() {
        let nested = |depth: usize| {
            let mut b = vec![0x91; depth];
            b.push(0x00);
            b
        };
        assert!(decode_with_depth(&nested(5), 5).is_ok());
        assert_eq!(
            decode_with_depth(&nested(6), 5),
            Err(CodecError::TooDeep { limit: 5 })
        );
        assert_eq!(
            decode_with_depth(&hex("90"), 0),
            Err(CodecError::TooDeep { limit: 0 })
        );
        assert_eq!(decode_with_depth(&hex("05"), 0), Ok(Value::Int(5)));
        assert!(decode(&nested(DEFAULT_MAX_DEPTH)).is_ok());
        assert_eq!(
            decode(&nested(DEFAULT_MAX_DEPTH + 1)),
            Err(CodecError::TooDeep {
                limit: DEFAULT_MAX_DEPTH
            })
        );
        // Maps count too, and a very deep input fails without exhausting the stack.
        let mut deep = [0x81, 0x00].repeat(100_000);
        deep.push(0xc0);
        assert_eq!(
            decode(&deep),
            Err(CodecError::TooDeep {
                limit: DEFAULT_MAX_DEPTH
            })
        );
        let v = decode_with_depth(&deep, usize::MAX).unwrap();
        assert_eq!(enc(&v), deep);
        drop_deep(v);
    }

    /// Drops a deeply nested value without recursing.
    fn drop_deep(v: Value) {
        let mut stack = vec![v];
        while let Some(v) = stack.pop() {
            match v {
                Value::Array(items) => stack.extend(items),
                Value::Map(entries) => {
                    for (k, v) in entries {
                        stack.push(k);
                        stack.push(v);
                    }
                }
                _ => {}
            }
        }
    }

    #[test]
    fn nested_round_trip() {
        let v = Value::Array(vec![
            map(vec![
                ("a", Value::Array(vec![1.into(), Value::Map(vec![])])),
                ("b", s("é")),
            ]),
            Value::Array(vec![]),
            Value::Array((0..20).map(Value::from).collect()),
            Value::Map(
                (0..20)
                    .map(|n| (Value::from(n), Value::from(n * 1000)))
                    .collect(),
            ),
            Value::Timestamp(Timestamp::new(1_700_000_000, 123_456_789)),
            Value::Ext(3, vec![1, 2, 3]),
            Value::Float(-2.5),
            Value::UInt(u64::MAX),
        ]);
        assert_eq!(decode(&enc(&v)).unwrap(), v);
    }

    fn stream_opts() -> CodecOptions {
        CodecOptions::default()
    }

    fn all_vector_bytes() -> (Vec<u8>, Vec<Value>) {
        let mut bytes = Vec::new();
        let mut values = Vec::new();
        for (_, b, _) in vectors().into_iter().filter(|(_, b, _)| b.len() < 1000) {
            values.push(decode(&b).unwrap());
            bytes.extend(b);
        }
        (bytes, values)
    }

    #[test]
    fn stream_split_at_every_position() {
        let (bytes, values) = all_vector_bytes();
        for cut in 0..=bytes.len() {
            let mut dec = StreamDecoder::new(&stream_opts());
            let mut out = Vec::new();
            dec.push(&bytes[..cut], &mut out).unwrap();
            dec.push(&bytes[cut..], &mut out).unwrap();
            assert_eq!(out, values, "cut at {cut}");
            assert!(dec.buf.is_empty());
        }
    }

    #[test]
    fn stream_byte_by_byte_and_pieces() {
        let (bytes, values) = all_vector_bytes();
        for piece in [1, 2, 3, 7, 64] {
            let mut dec = StreamDecoder::new(&stream_opts());
            let mut out = Vec::new();
            for p in bytes.chunks(piece) {
                dec.push(p, &mut out).unwrap();
            }
            assert_eq!(out, values, "pieces of {piece}");
        }
        // An empty push is harmless.
        let mut dec = StreamDecoder::new(&stream_opts());
        let mut out = Vec::new();
        dec.push(&[], &mut out).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn stream_large_value_in_pieces() {
        let big = Value::Array(vec![
            Value::Binary(vec![7; 1 << 20]),
            Value::Array((0..50_000).map(Value::from).collect()),
        ]);
        let bytes = enc(&big);
        let mut dec = StreamDecoder::new(&stream_opts());
        let mut out = Vec::new();
        for p in bytes.chunks(PIECE_SIZE) {
            dec.push(p, &mut out).unwrap();
        }
        assert_eq!(out, vec![big]);
    }

    #[test]
    fn stream_error_fails_stream() {
        let mut dec = StreamDecoder::new(&stream_opts());
        let mut out = Vec::new();
        assert_eq!(
            dec.push(&hex("01 02 92 03 c1 05"), &mut out),
            Err(CodecError::InvalidTag(0xc1))
        );
        assert_eq!(out, vec![Value::Int(1), Value::Int(2)]);
        assert_eq!(
            dec.push(&hex("01"), &mut out),
            Err(CodecError::StreamFailed)
        );
        assert!(dec.buf.is_empty());
    }

    #[test]
    fn stream_depth_limit() {
        let mut dec = StreamDecoder::new(&stream_opts().max_depth(2));
        let mut out = Vec::new();
        dec.push(&hex("9190"), &mut out).unwrap();
        assert_eq!(
            dec.push(&hex("919190"), &mut out),
            Err(CodecError::TooDeep { limit: 2 })
        );
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn stream_size_limit() {
        let opts = stream_opts().max_message_size(100);
        // Declared larger than the limit: refused before the bytes arrive.
        let mut dec = StreamDecoder::new(&opts);
        let mut out = Vec::new();
        assert!(matches!(
            dec.push(&hex("01 c4ff"), &mut out),
            Err(CodecError::MessageTooBig {
                size: 257,
                limit: 100
            })
        ));
        assert_eq!(out, vec![Value::Int(1)]);
        // A count of items that cannot fit.
        let mut dec = StreamDecoder::new(&opts);
        assert!(matches!(
            dec.push(&hex("dc00ff"), &mut out),
            Err(CodecError::MessageTooBig { .. })
        ));
        let mut dec = StreamDecoder::new(&opts);
        assert!(matches!(
            dec.push(&hex("dfffffffff"), &mut out),
            Err(CodecError::MessageTooBig { .. })
        ));
        // Many small items that add up.
        let mut dec = StreamDecoder::new(&opts);
        let items = [0x91; 150];
        let mut r = Ok(());
        for p in items.chunks(10) {
            r = dec.push(p, &mut out);
            if r.is_err() {
                break;
            }
        }
        assert!(matches!(r, Err(CodecError::MessageTooBig { .. })));
        // A complete value above the limit, in one piece.
        let mut dec = StreamDecoder::new(&opts);
        assert!(matches!(
            dec.push(&enc(&Value::Binary(vec![0; 200])), &mut out),
            Err(CodecError::MessageTooBig {
                size: 202,
                limit: 100
            })
        ));
        // Exactly at the limit is fine.
        let mut dec = StreamDecoder::new(&opts);
        let exact = Value::Binary(vec![0; 98]);
        out.clear();
        dec.push(&enc(&exact), &mut out).unwrap();
        assert_eq!(out, vec![exact]);
    }

    #[test]
    fn stream_many_pieces_is_linear() {
        // 16 MiB of binary in 32 KiB pieces: quadratic rescanning or copying would be slow.
        let big = Value::Binary(vec![1; 16 << 20]);
        let bytes = enc(&big);
        let mut dec = StreamDecoder::new(&stream_opts());
        let mut out = Vec::new();
        let before = HEADS_READ.with(std::cell::Cell::get);
        let pieces = bytes.chunks(PIECE_SIZE).count();
        for p in bytes.chunks(PIECE_SIZE) {
            dec.push(p, &mut out).unwrap();
        }
        assert_eq!(out.len(), 1);
        // One value: its header is read at most once per piece, never rescanned from the start.
        let heads = HEADS_READ.with(std::cell::Cell::get) - before;
        assert!(
            heads <= pieces + 1,
            "{heads} header reads for {pieces} pieces"
        );
    }

    #[test]
    fn encode_too_long_is_unsupported() {
        assert!(length(u32::MAX as usize, "string").is_ok());
        #[cfg(target_pointer_width = "64")]
        assert!(matches!(
            length(u32::MAX as usize + 1, "string"),
            Err(CodecError::Unsupported {
                serialization: "MsgPack",
                ..
            })
        ));
    }

    #[test]
    fn deep_value_encodes_without_recursion() {
        let mut v = Value::Nil;
        for _ in 0..100_000 {
            v = Value::Array(vec![v]);
        }
        let bytes = enc(&v);
        assert_eq!(bytes.len(), 100_001);
        let back = decode_with_depth(&bytes, usize::MAX).unwrap();
        assert_eq!(enc(&back), bytes);
        drop_deep(back);
        drop_deep(v);
    }

    pub(crate) mod properties {
        use super::*;
        use proptest::collection::vec;
        use proptest::prelude::*;

        /// Any value, nested a few levels.
        pub(crate) fn arb_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Nil),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::Int),
                ((i64::MAX as u64 + 1)..=u64::MAX).prop_map(Value::UInt),
                any::<f64>().prop_map(Value::Float),
                (-1e6..1e6f64).prop_map(|f| Value::Float(f.round())),
                ".{0,40}".prop_map(Value::from),
                vec(any::<u8>(), 0..300).prop_map(Value::Binary),
                (any::<i64>(), 0..1_000_000_000u32)
                    .prop_map(|(s, n)| Value::Timestamp(Timestamp::new(s, n))),
                (0..1i64 << 35).prop_map(|s| Value::Timestamp(Timestamp::new(s, 0))),
                (any::<i8>(), vec(any::<u8>(), 0..20)).prop_map(|(t, d)| Value::Ext(t, d)),
            ];
            leaf.prop_recursive(4, 64, 18, |inner| {
                prop_oneof![
                    vec(inner.clone(), 0..18).prop_map(Value::Array),
                    vec((inner.clone(), inner), 0..18).prop_map(Value::Map),
                ]
            })
        }

        /// What decoding the encoding of `v` gives: JavaScript's view of numbers and timestamps.
        fn normalize(v: Value) -> Value {
            match v {
                Value::Float(f)
                    if f.is_finite() && f.trunc() == f && f.abs() <= MAX_SAFE_INTEGER =>
                {
                    Value::Int(f as i64)
                }
                Value::Ext(tag, data) => ext_value(tag, &data),
                Value::Array(a) => Value::Array(a.into_iter().map(normalize).collect()),
                Value::Map(m) => Value::Map(
                    m.into_iter()
                        .map(|(k, v)| (normalize(k), normalize(v)))
                        .collect(),
                ),
                other => other,
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn round_trip(v in arb_value()) {
                let bytes = enc(&v);
                let back = decode_with_depth(&bytes, usize::MAX).unwrap();
                prop_assert_eq!(enc(&back), bytes.clone());
                prop_assert_eq!(back, normalize(v));
            }

            #[test]
            fn stream_split_anywhere(
                values in vec(arb_value(), 1..5),
                cuts in vec(any::<prop::sample::Index>(), 0..6),
            ) {
                let mut bytes = Vec::new();
                for v in &values {
                    bytes.extend(enc(v));
                }
                let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
                cuts.sort_unstable();
                let mut dec = StreamDecoder::new(&CodecOptions::default().max_depth(usize::MAX));
                let mut out = Vec::new();
                let mut last = 0;
                for cut in cuts.into_iter().chain([bytes.len()]) {
                    dec.push(&bytes[last..cut], &mut out).unwrap();
                    last = cut;
                }
                let expected: Vec<Value> = values.into_iter().map(normalize).collect();
                prop_assert_eq!(out, expected);
            }

            #[test]
            fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..200), split in any::<prop::sample::Index>()) {
                let whole = decode(&bytes);
                let mut dec = StreamDecoder::new(&CodecOptions::default());
                let mut out = Vec::new();
                let at = split.index(bytes.len() + 1);
                let first = dec.push(&bytes[..at], &mut out);
                let second = dec.push(&bytes[at..], &mut out);
                // A single valid value decodes the same way whole and streamed.
                if let Ok(v) = whole {
                    prop_assert!(first.is_ok() && second.is_ok());
                    prop_assert_eq!(out, vec![v]);
                }
            }

            #[test]
            fn mutated_encodings_never_panic(v in arb_value(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
                let mut bytes = enc(&v);
                let i = at.index(bytes.len());
                bytes[i] = byte;
                let _ = decode(&bytes);
                let mut dec = StreamDecoder::new(&CodecOptions::default());
                let _ = dec.push(&bytes, &mut Vec::new());
            }
        }
    }
}
