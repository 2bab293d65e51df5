//! A dynamic value that can hold everything a PeerJS peer can send.
//!
//! [`Value`] is the common data model of every serialization: BinaryPack, MsgPack, JSON and raw
//! all decode into it and encode from it. Any `T: Serialize` converts into a `Value` with
//! [`to_value`], and any `Value` converts into a `T: Deserialize` with [`from_value`].
//!
//! ```
//! use peerjs::{Value, from_value, to_value};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, PartialEq, Debug)]
//! struct Chat {
//!     from: String,
//!     text: String,
//!     seq: u32,
//! }
//!
//! let msg = Chat { from: "alice".into(), text: "hi".into(), seq: 7 };
//! let value = to_value(&msg)?;
//! assert_eq!(value.get("seq"), Some(&Value::Int(7)));
//! let back: Chat = from_value(value)?;
//! assert_eq!(back, msg);
//! # Ok::<(), peerjs::Error>(())
//! ```

mod de;
mod ser;

use std::fmt;

pub use compact_str::CompactString;

pub use de::from_value;
pub use ser::to_value;

/// A dynamically typed value, as a PeerJS peer sends and receives it.
///
/// The variants follow what JavaScript can put on the wire:
///
/// | JS value | `Value` |
/// |---|---|
/// | `null`, `undefined` | [`Value::Nil`] |
/// | `true` / `false` | [`Value::Bool`] |
/// | an integral number | [`Value::Int`] (or [`Value::UInt`] above `i64::MAX`) |
/// | any other number | [`Value::Float`] |
/// | a string | [`Value::String`] |
/// | `ArrayBuffer`, typed arrays, `Blob` | [`Value::Binary`] |
/// | an array | [`Value::Array`] |
/// | a plain object | [`Value::Map`] (keys in the sender's order) |
/// | a `Date` (MsgPack only) | [`Value::Timestamp`] |
///
/// Map keys may be any value; JavaScript senders only ever produce string keys.
///
/// Equality treats `Int(n)` and `UInt(n)` as the same number, and compares floats by their
/// bits (so `NaN == NaN` and `0.0 != -0.0`).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub enum Value {
    /// `null` (and JavaScript's `undefined`).
    #[default]
    Nil,
    /// A boolean.
    Bool(bool),
    /// A signed integer. Decoders use this variant for every integer that fits in an `i64`.
    Int(i64),
    /// An unsigned integer above `i64::MAX`. Decoders only use it for such values.
    UInt(u64),
    /// A 64-bit float.
    Float(f64),
    /// A UTF-8 string. Strings of up to 24 bytes are stored inline, without a heap allocation
    /// (see [`CompactString`]); `Value::from("text")` and `.as_str()` cover most uses.
    String(CompactString),
    /// Binary data.
    Binary(Vec<u8>),
    /// An array.
    Array(Vec<Self>),
    /// A map, as key/value pairs in wire order.
    Map(Vec<(Self, Self)>),
    /// A point in time (the MessagePack timestamp extension, a JavaScript `Date`).
    Timestamp(Timestamp),
    /// A MessagePack extension value other than the timestamp.
    Ext(i8, Vec<u8>),
}

/// A point in time as seconds and nanoseconds since the Unix epoch, as the MessagePack
/// timestamp extension (type -1) carries it.
///
/// JavaScript's `Date` has millisecond precision; a `Timestamp` keeps nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    /// Whole seconds since 1970-01-01T00:00:00Z (negative before it).
    pub seconds: i64,
    /// Nanoseconds within the second, `0..1_000_000_000`.
    pub nanoseconds: u32,
}

impl Timestamp {
    /// A timestamp from seconds and nanoseconds; nanoseconds of a second or more carry into the
    /// seconds.
    pub fn new(seconds: i64, nanoseconds: u32) -> Self {
        let carry = i64::from(nanoseconds / 1_000_000_000);
        Self {
            seconds: seconds.saturating_add(carry),
            nanoseconds: nanoseconds % 1_000_000_000,
        }
    }

    /// A timestamp from milliseconds since the epoch, as JavaScript's `Date.getTime()` gives.
    pub fn from_millis(millis: i64) -> Self {
        let seconds = millis.div_euclid(1000);
        // rem_euclid(1000) is in 0..1000, so the product fits in a u32.
        let nanoseconds = u32::try_from(millis.rem_euclid(1000) * 1_000_000).unwrap_or(0);
        Self {
            seconds,
            nanoseconds,
        }
    }

    /// Milliseconds since the epoch, rounded towards negative infinity (JavaScript `Date`
    /// precision). Saturates at the `i64` range.
    pub fn as_millis(&self) -> i64 {
        self.seconds
            .saturating_mul(1000)
            .saturating_add(i64::from(self.nanoseconds / 1_000_000))
    }
}

impl Value {
    /// The value under a string key, if this is a map that has it (the last one wins, as in
    /// JavaScript).
    ///
    /// ```
    /// # use peerjs::Value;
    /// let v = Value::Map(vec![(Value::from("a"), Value::from(1))]);
    /// assert_eq!(v.get("a"), Some(&Value::Int(1)));
    /// assert_eq!(v.get("b"), None);
    /// ```
    pub fn get(&self, key: &str) -> Option<&Self> {
        match self {
            Self::Map(entries) => entries
                .iter()
                .rev()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// Whether this is [`Value::Nil`].
    pub fn is_nil(&self) -> bool {
        matches!(self, Self::Nil)
    }

    /// The string, if this is a [`Value::String`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s.as_str()),
            _ => None,
        }
    }

    /// The bytes, if this is a [`Value::Binary`].
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Self::Binary(b) => Some(b),
            _ => None,
        }
    }

    /// The boolean, if this is a [`Value::Bool`].
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The number as an `i64`, if it is an integer that fits.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Self::Int(n) => Some(n),
            Self::UInt(n) => i64::try_from(n).ok(),
            _ => None,
        }
    }

    /// The number as a `u64`, if it is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Self::Int(n) => u64::try_from(n).ok(),
            Self::UInt(n) => Some(n),
            _ => None,
        }
    }

    /// The number as an `f64` (integers are converted, possibly losing precision).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Self::Int(n) => Some(n as f64),
            Self::UInt(n) => Some(n as f64),
            Self::Float(f) => Some(f),
            _ => None,
        }
    }

    /// The elements, if this is a [`Value::Array`].
    pub fn as_array(&self) -> Option<&[Self]> {
        match self {
            Self::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The entries, if this is a [`Value::Map`].
    pub fn as_map(&self) -> Option<&[(Self, Self)]> {
        match self {
            Self::Map(m) => Some(m),
            _ => None,
        }
    }

    /// Whether JavaScript would consider this value truthy (`if (value)`), which PeerJS uses to
    /// recognise its control messages.
    pub(crate) fn is_js_truthy(&self) -> bool {
        match self {
            Self::Nil => false,
            Self::Bool(b) => *b,
            Self::Int(n) => *n != 0,
            Self::UInt(n) => *n != 0,
            Self::Float(f) => *f != 0.0 && !f.is_nan(),
            Self::String(s) => !s.is_empty(),
            _ => true,
        }
    }

    /// This value and every value inside it (array items, map keys and values), depth first,
    /// without recursion: values from the network may nest deeper than the stack allows.
    pub(crate) fn nested(&self) -> impl Iterator<Item = &Self> {
        let mut todo = vec![self];
        std::iter::from_fn(move || {
            let v = todo.pop()?;
            match v {
                Self::Array(items) => todo.extend(items.iter().rev()),
                Self::Map(entries) => {
                    for (k, v) in entries.iter().rev() {
                        todo.push(v);
                        todo.push(k);
                    }
                }
                _ => {}
            }
            Some(v)
        })
    }

    /// A short name of the variant, for error messages.
    pub(crate) fn kind_name(&self) -> &'static str {
        match self {
            Self::Nil => "nil",
            Self::Bool(_) => "bool",
            Self::Int(_) | Self::UInt(_) => "integer",
            Self::Float(_) => "float",
            Self::String(_) => "string",
            Self::Binary(_) => "binary",
            Self::Array(_) => "array",
            Self::Map(_) => "map",
            Self::Timestamp(_) => "timestamp",
            Self::Ext(..) => "extension",
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        use Value::*;
        match (self, other) {
            (Nil, Nil) => true,
            (Bool(a), Bool(b)) => a == b,
            (Int(a), Int(b)) => a == b,
            (UInt(a), UInt(b)) => a == b,
            (Int(a), UInt(b)) | (UInt(b), Int(a)) => u64::try_from(*a).is_ok_and(|a| a == *b),
            (Float(a), Float(b)) => a.to_bits() == b.to_bits(),
            (String(a), String(b)) => a == b,
            (Binary(a), Binary(b)) => a == b,
            (Array(a), Array(b)) => a == b,
            (Map(a), Map(b)) => a == b,
            (Timestamp(a), Timestamp(b)) => a == b,
            (Ext(ta, a), Ext(tb, b)) => ta == tb && a == b,
            _ => false,
        }
    }
}

impl fmt::Display for Value {
    /// Formats the value as JSON-like text; binary is shown as `<N bytes>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Nil => f.write_str("null"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Int(n) => write!(f, "{n}"),
            Self::UInt(n) => write!(f, "{n}"),
            Self::Float(x) => write!(f, "{x}"),
            Self::String(s) => write!(f, "{s:?}"),
            Self::Binary(b) => write!(f, "<{} bytes>", b.len()),
            Self::Array(a) => {
                f.write_str("[")?;
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Self::Map(m) => {
                f.write_str("{")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{k}:{v}")?;
                }
                f.write_str("}")
            }
            Self::Timestamp(t) => write!(f, "Timestamp({}.{:09})", t.seconds, t.nanoseconds),
            Self::Ext(t, b) => write!(f, "Ext({t}, <{} bytes>)", b.len()),
        }
    }
}

macro_rules! from_signed {
    ($($t:ty)*) => {$(
        impl From<$t> for Value {
            fn from(n: $t) -> Self {
                Self::Int(i64::from(n))
            }
        }
    )*};
}
from_signed!(i8 i16 i32 i64 u8 u16 u32);

impl From<u64> for Value {
    fn from(n: u64) -> Self {
        match i64::try_from(n) {
            Ok(n) => Self::Int(n),
            Err(_) => Self::UInt(n),
        }
    }
}

impl From<usize> for Value {
    fn from(n: usize) -> Self {
        Self::from(n as u64)
    }
}

impl From<isize> for Value {
    fn from(n: isize) -> Self {
        Self::Int(n as i64)
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Self {
        Self::Float(x)
    }
}

impl From<f32> for Value {
    fn from(x: f32) -> Self {
        Self::Float(f64::from(x))
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Self::String(CompactString::from(s))
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Self::String(CompactString::from(s))
    }
}

impl From<Vec<u8>> for Value {
    fn from(b: Vec<u8>) -> Self {
        Self::Binary(b)
    }
}

impl From<&[u8]> for Value {
    fn from(b: &[u8]) -> Self {
        Self::Binary(b.to_vec())
    }
}

impl From<Vec<Self>> for Value {
    fn from(a: Vec<Self>) -> Self {
        Self::Array(a)
    }
}

impl From<Timestamp> for Value {
    fn from(t: Timestamp) -> Self {
        Self::Timestamp(t)
    }
}

impl<T: Into<Self>> From<Option<T>> for Value {
    fn from(o: Option<T>) -> Self {
        o.map_or(Self::Nil, Into::into)
    }
}

impl<K: Into<Self>, V: Into<Self>> FromIterator<(K, V)> for Value {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self::Map(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

impl From<serde_json::Value> for Value {
    fn from(j: serde_json::Value) -> Self {
        match j {
            serde_json::Value::Null => Self::Nil,
            serde_json::Value::Bool(b) => Self::Bool(b),
            serde_json::Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Self::Int(i)
                } else if let Some(u) = n.as_u64() {
                    Self::UInt(u)
                } else {
                    Self::Float(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            serde_json::Value::String(s) => Self::String(CompactString::from(s)),
            serde_json::Value::Array(a) => Self::Array(a.into_iter().map(Self::from).collect()),
            serde_json::Value::Object(o) => Self::Map(
                o.into_iter()
                    .map(|(k, v)| (Self::String(k.into()), Self::from(v)))
                    .collect(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Value;

    #[test]
    fn nested_visits_every_value_depth_first() {
        let v = Value::Array(vec![
            Value::from(1),
            Value::Map(vec![(Value::from("k"), Value::from(2))]),
            Value::from(3),
        ]);
        let seen: Vec<String> = v.nested().skip(1).map(ToString::to_string).collect();
        assert_eq!(seen, ["1", "{\"k\":2}", "\"k\"", "2", "3"]);
    }

    #[test]
    fn nested_walks_values_deeper_than_the_stack() {
        let mut v = Value::Nil;
        for _ in 0..200_000 {
            v = Value::Array(vec![v]);
        }
        assert_eq!(v.nested().count(), 200_001);
        // Taken apart without recursion too.
        let mut stack = vec![v];
        while let Some(v) = stack.pop() {
            if let Value::Array(items) = v {
                stack.extend(items);
            }
        }
    }
}
