//! JSON as PeerJS sends it: `JSON.stringify(value)` as UTF-8, and `JSON.parse` of the
//! (lossily) UTF-8-decoded bytes on receipt.
//!
//! The encoder writes compact JSON text as `JSON.stringify` does for the equivalent JavaScript
//! value:
//!
//! * numbers are written as JavaScript writes them (`1` for `1.0`, `1e+21`, `1.5e-7`), and NaN
//!   and the infinities as `null`;
//! * strings are escaped as `JSON.stringify` escapes them (`"`, `\`, and control characters;
//!   nothing else);
//! * a [`Value::Timestamp`] becomes the ISO 8601 string of `Date.prototype.toJSON`, for example
//!   `"1970-01-01T00:00:00.000Z"` (millisecond precision);
//! * [`Value::Binary`] becomes an array of byte values (serde_json's convention for bytes;
//!   JavaScript itself has no JSON form for binary data: a `Uint8Array` would become an object
//!   with keys `"0"`, `"1"`, …);
//! * map keys become strings as JavaScript converts property keys: integers, floats (in
//!   JavaScript's number format) and booleans are written as text. Other keys (nil, binary,
//!   arrays, maps, timestamps, extension values) are refused;
//! * [`Value::Ext`] is refused.
//!
//! The decoder strips a leading byte-order mark and replaces invalid UTF-8 with U+FFFD, as the
//! browser's `TextDecoder` does, then parses the JSON. Escapes of unpaired UTF-16 surrogates,
//! which `JSON.parse` accepts but a Rust string cannot hold, become U+FFFD too. Integers become
//! [`Value::Int`] (or [`Value::UInt`] above `i64::MAX`), other numbers [`Value::Float`], parsed
//! exactly as `JSON.parse` does (serde_json's `float_roundtrip` feature). Object keys keep their
//! order, and a repeated key keeps its first position and its last value, as in `JSON.parse`.

use std::borrow::Cow;
use std::cell::Cell;
use std::io;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use super::CodecError;
use crate::proto::time::iso8601;
use crate::value::Value;

/// PeerJS refuses to send JSON of this many bytes or more (`message-too-big`).
pub const MAX_SIZE: usize = 16300;

/// The serialization's name in errors.
const NAME: &str = "json";

/// The deepest nesting serde_json parses: it refuses a 128th level of arrays and objects.
const SERDE_JSON_MAX_DEPTH: usize = 127;

/// The deepest nesting the encoder writes. Serialization recurses, so the limit keeps deep
/// values from exhausting the stack; JSON parsers rarely accept much more (serde_json stops at
/// 127 levels).
const ENCODE_MAX_DEPTH: usize = 512;

/// Encodes a value as the UTF-8 bytes of its JSON text, as PeerJS 1.5 sends it (see the module
/// documentation for the mapping). The size limit ([`MAX_SIZE`]) is not checked here.
///
/// ```
/// use peerjs::proto::codec::json;
/// use peerjs::Value;
///
/// let v = Value::Map(vec![
///     ("a".into(), "é".into()),
///     ("b".into(), Value::Array(vec![1.into(), 2.5.into(), Value::Nil])),
/// ]);
/// assert_eq!(json::encode(&v)?, r#"{"a":"é","b":[1,2.5,null]}"#.as_bytes());
/// # Ok::<(), peerjs::proto::codec::CodecError>(())
/// ```
///
/// # Errors
///
/// [`CodecError::Unsupported`] for a [`Value::Ext`] or a map key that JSON cannot carry,
/// [`CodecError::TooDeep`] for a value nested more than 512 levels deep.
pub fn encode(value: &Value) -> Result<Vec<u8>, CodecError> {
    let error = Cell::new(None);
    let mut out = Vec::new();
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, JsFormatter);
    let result = Json {
        value,
        depth: 0,
        error: &error,
    }
    .serialize(&mut serializer);
    match (result, error.take()) {
        (_, Some(e)) => Err(e),
        (Err(e), None) => Err(CodecError::Json(e.to_string())),
        (Ok(()), None) => Ok(out),
    }
}

/// Serializes a [`Value`] as `JSON.stringify` would write the equivalent JavaScript value. An
/// unsupported value stores its [`CodecError`] in `error` and fails the serialization.
struct Json<'a> {
    value: &'a Value,
    /// How many arrays and maps enclose `value`.
    depth: usize,
    error: &'a Cell<Option<CodecError>>,
}

impl Json<'_> {
    fn fail<E: serde::ser::Error>(&self, e: CodecError) -> E {
        let message = e.to_string();
        self.error.set(Some(e));
        E::custom(message)
    }

    fn child<'b>(&'b self, value: &'b Value) -> Json<'b> {
        Json {
            value,
            depth: self.depth + 1,
            error: self.error,
        }
    }
}

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.value {
            Value::Nil => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Int(n) => serializer.serialize_i64(*n),
            Value::UInt(n) => serializer.serialize_u64(*n),
            // serde_json writes non-finite floats as null, and finite ones through JsFormatter.
            Value::Float(f) => serializer.serialize_f64(*f),
            Value::String(s) => serializer.serialize_str(s),
            Value::Timestamp(t) => serializer.serialize_str(&iso8601(*t)),
            Value::Binary(bytes) => serializer.collect_seq(bytes),
            Value::Ext(tag, _) => Err(self.fail(CodecError::Unsupported {
                serialization: NAME,
                what: format!("a MessagePack extension value (type {tag})"),
            })),
            Value::Array(items) => {
                self.check_depth()?;
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&self.child(item))?;
                }
                seq.end()
            }
            Value::Map(entries) => {
                self.check_depth()?;
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    let Some(key) = key_string(key) else {
                        return Err(self.fail(CodecError::Unsupported {
                            serialization: NAME,
                            what: format!("a map key of type {}", key.kind_name()),
                        }));
                    };
                    map.serialize_entry(&*key, &self.child(value))?;
                }
                map.end()
            }
        }
    }
}

impl Json<'_> {
    /// Fails if an array or map at this depth would be nested too deeply to encode.
    fn check_depth<E: serde::ser::Error>(&self) -> Result<(), E> {
        if self.depth >= ENCODE_MAX_DEPTH {
            Err(self.fail(CodecError::TooDeep {
                limit: ENCODE_MAX_DEPTH,
            }))
        } else {
            Ok(())
        }
    }
}

/// A map key as the string JavaScript makes of it, or `None` if JSON cannot carry it.
fn key_string(key: &Value) -> Option<Cow<'_, str>> {
    Some(match key {
        Value::String(s) => Cow::Borrowed(s.as_str()),
        Value::Int(n) => Cow::Owned(n.to_string()),
        Value::UInt(n) => Cow::Owned(n.to_string()),
        Value::Float(f) => Cow::Owned(js_number(*f)),
        Value::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
        _ => return None,
    })
}

/// serde_json's compact output, with numbers written as JavaScript writes them.
struct JsFormatter;

impl serde_json::ser::Formatter for JsFormatter {
    fn write_f64<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        writer.write_all(js_number(value).as_bytes())
    }

    fn write_f32<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f32) -> io::Result<()> {
        writer.write_all(js_number(f64::from(value)).as_bytes())
    }
}

/// The text JavaScript's `Number.prototype.toString()` gives for a number: the shortest digits
/// that identify it, in fixed notation for magnitudes in `1e-7..1e21` and exponential notation
/// (`1e+21`, `1.5e-7`) otherwise; `NaN`, `Infinity`, `-Infinity`; `0` for `-0`.
pub(crate) fn js_number(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    if x == 0.0 {
        return "0".to_owned();
    }
    let (digits, n) = shortest_digits(x.abs());
    // In ECMAScript's terms: x = 0.d1d2…dk × 10^n.
    let k = digits.len() as i64;
    let sign = if x < 0.0 { "-" } else { "" };
    let zeros = |count: i64| "0".repeat(usize::try_from(count).unwrap_or(0));
    let body = if k <= n && n <= 21 {
        format!("{digits}{}", zeros(n - k))
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits
            .split_at_checked(usize::try_from(n).unwrap_or(0))
            .unwrap_or((&digits, ""));
        format!("{int}.{frac}")
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", zeros(-n))
    } else {
        let e = n - 1;
        let e_sign = if e >= 0 { "+" } else { "-" };
        let (first, rest) = digits.split_at_checked(1).unwrap_or((&digits, ""));
        if rest.is_empty() {
            format!("{first}e{e_sign}{}", e.unsigned_abs())
        } else {
            format!("{first}.{rest}e{e_sign}{}", e.unsigned_abs())
        }
    };
    format!("{sign}{body}")
}

/// The significand digits and decimal exponent `n` of the shortest decimal that identifies the
/// positive finite `x`, so that `x` is nearest to `0.d1d2…dk × 10^n`. Between two equally near
/// candidates the one with an even last digit is chosen, as JavaScript engines do.
fn shortest_digits(x: f64) -> (String, i64) {
    let (digits, exponent) = split_scientific(&format!("{x:e}"));
    let k = digits.len();
    // Rust picks the shortest digits that round-trip, but breaks an exact tie upwards. A tie
    // needs x to be exactly the midpoint of two k-digit decimals: a (k+1)-digit decimal ending
    // in 5. Only then is the slower exact check worth doing.
    let (rounded, _) = split_scientific(&format!("{x:.k$e}"));
    if rounded.len() != k + 1 || !rounded.ends_with('5') {
        return (digits, exponent + 1);
    }
    // A double's exact decimal expansion has at most 767 significant digits.
    let (exact, exact_exponent) = split_scientific(&format!("{x:.800e}"));
    let exact = exact.trim_end_matches('0');
    if exact.len() != k + 1 || exact_exponent != exponent {
        return (digits, exponent + 1);
    }
    let lower = exact.get(..k).unwrap_or_default().to_owned();
    let Some(upper) = increment_digits(&lower) else {
        return (digits, exponent + 1);
    };
    let scale = exponent + 1 - k as i64;
    let round_trips = |d: &str| format!("{d}e{scale}").parse::<f64>().ok() == Some(x);
    if round_trips(&lower) && round_trips(&upper) {
        let even = if lower.bytes().last().is_some_and(|b| b % 2 == 0) {
            lower
        } else {
            upper
        };
        return (even.trim_end_matches('0').to_owned(), exponent + 1);
    }
    (digits, exponent + 1)
}

/// The digits and exponent of Rust's `{:e}` output (`d.ddde-n`).
fn split_scientific(s: &str) -> (String, i64) {
    let (mantissa, exponent) = s.split_once('e').unwrap_or((s, "0"));
    (
        mantissa.chars().filter(char::is_ascii_digit).collect(),
        exponent.parse().unwrap_or(0),
    )
}

/// A decimal digit string plus one in its last place, or `None` if that needs another digit.
fn increment_digits(digits: &str) -> Option<String> {
    let mut bytes = digits.as_bytes().to_vec();
    for b in bytes.iter_mut().rev() {
        if *b == b'9' {
            *b = b'0';
        } else {
            *b += 1;
            return String::from_utf8(bytes).ok();
        }
    }
    None
}

/// Decodes received JSON bytes as PeerJS 1.5 does (`JSON.parse` of the UTF-8-decoded text),
/// with arrays and objects nested at most `max_depth` levels (a top-level array is one level).
/// serde_json itself parses at most 127 levels.
///
/// ```
/// use peerjs::proto::codec::json;
/// use peerjs::Value;
///
/// let v = json::decode(br#"{"a":[1,2.5,null]}"#, 128)?;
/// assert_eq!(v, Value::Map(vec![(
///     "a".into(),
///     Value::Array(vec![1.into(), 2.5.into(), Value::Nil]),
/// )]));
/// # Ok::<(), peerjs::proto::codec::CodecError>(())
/// ```
///
/// # Errors
///
/// [`CodecError::Json`] for invalid JSON, [`CodecError::TooDeep`] for nesting beyond the
/// limit.
pub fn decode(bytes: &[u8], max_depth: usize) -> Result<Value, CodecError> {
    // TextDecoder drops a leading byte-order mark.
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let text = String::from_utf8_lossy(bytes);
    let text = replace_lone_surrogate_escapes(&text);
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        let message = e.to_string();
        if message.starts_with("recursion limit exceeded") {
            CodecError::TooDeep {
                limit: max_depth.min(SERDE_JSON_MAX_DEPTH),
            }
        } else {
            CodecError::Json(message)
        }
    })?;
    if depth(&json) > max_depth {
        return Err(CodecError::TooDeep { limit: max_depth });
    }
    Ok(Value::from(json))
}

/// The JSON text with every `\uXXXX` escape of an unpaired UTF-16 surrogate replaced by
/// `\ufffd`.
///
/// `JSON.stringify` writes a string's unpaired surrogates (a cut emoji, for example) as such
/// escapes, and `JSON.parse` accepts them; a Rust string cannot hold them and serde_json
/// rejects them. Replacing them keeps such a message readable, as lossy UTF-8 decoding does.
fn replace_lone_surrogate_escapes(text: &str) -> Cow<'_, str> {
    const REPLACEMENT: &str = "\\ufffd";
    let bytes = text.as_bytes();
    let unit_at = |at: usize| -> Option<u16> {
        let escape = bytes.get(at..at.checked_add(6)?)?;
        let hex = escape.strip_prefix(b"\\u")?;
        u16::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
    };
    let is_high = |u: u16| (0xd800..=0xdbff).contains(&u);
    let is_low = |u: u16| (0xdc00..=0xdfff).contains(&u);
    let mut out = String::new();
    let mut copied = 0;
    let mut in_string = false;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'"' => {
                in_string = !in_string;
                i += 1;
            }
            b'\\' if in_string => match unit_at(i) {
                Some(high) if is_high(high) && unit_at(i + 6).is_some_and(is_low) => i += 12,
                Some(unit) if is_high(unit) || is_low(unit) => {
                    // Escapes are ASCII, so `i` and `i + 6` are character boundaries.
                    out.push_str(text.get(copied..i).unwrap_or_default());
                    out.push_str(REPLACEMENT);
                    i += 6;
                    copied = i;
                }
                Some(_) => i += 6,
                // Another escape; serde_json reports invalid ones.
                None => i += 2,
            },
            _ => i += 1,
        }
    }
    if out.is_empty() {
        return Cow::Borrowed(text);
    }
    out.push_str(text.get(copied..).unwrap_or_default());
    Cow::Owned(out)
}

/// How many levels of arrays and objects a JSON value nests (0 for a scalar).
fn depth(json: &serde_json::Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(json, 0)];
    while let Some((value, level)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &serde_json::Value>> = match value {
            serde_json::Value::Array(items) => Box::new(items.iter()),
            serde_json::Value::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        deepest = deepest.max(level + 1);
        stack.extend(children.map(|child| (child, level + 1)));
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Timestamp;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn text(v: &Value) -> String {
        String::from_utf8(encode(v).unwrap()).unwrap()
    }

    fn map(entries: Vec<(&str, Value)>) -> Value {
        Value::Map(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    #[test]
    fn spec_example() {
        let v = map(vec![
            ("a", "é".into()),
            ("b", Value::Array(vec![1.into(), 2.5.into(), Value::Nil])),
        ]);
        let bytes = encode(&v).unwrap();
        assert_eq!(
            hex(&bytes),
            "7b2261223a22c3a9222c2262223a5b312c322e352c6e756c6c5d7d"
        );
        assert_eq!(decode(&bytes, 128).unwrap(), v);
    }

    #[test]
    fn close_control_message() {
        let v = map(vec![("__peerData", map(vec![("type", "close".into())]))]);
        let bytes = encode(&v).unwrap();
        assert_eq!(bytes, br#"{"__peerData":{"type":"close"}}"#);
        assert_eq!(decode(&bytes, 128).unwrap(), v);
    }

    #[test]
    fn numbers_as_javascript_writes_them() {
        // Expected strings from node's String(x).
        let cases: &[(f64, &str)] = &[
            (1.0, "1"),
            (-1.0, "-1"),
            (-0.0, "0"),
            (0.1, "0.1"),
            (1.5, "1.5"),
            (100.0, "100"),
            (123.456, "123.456"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (18_446_744_073_709_551_616.0, "18446744073709552000"),
            (1.5e16, "15000000000000000"),
            (1e-6, "0.000001"),
            (1.5e-7, "1.5e-7"),
            (1e-7, "1e-7"),
            (1.2345e-5, "0.000012345"),
            (1e300, "1e+300"),
            (-1.7976931348623157e308, "-1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (2.2250738585072014e-308, "2.2250738585072014e-308"),
            (9_007_199_254_740_993.0, "9007199254740992"),
            (123_456_789_012_345_680_000.0, "123456789012345680000"),
            (1.2345678901234567e21, "1.2345678901234568e+21"),
            (0.30000000000000004, "0.30000000000000004"),
            // Exactly 121355137411363.125, a tie between two shortest candidates: the even one.
            (f64::from_bits(0x42db_97cc_76da_48c8), "121355137411363.12"),
            (0.5, "0.5"),
            (2.5, "2.5"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
        ];
        for &(x, s) in cases {
            assert_eq!(js_number(x), s, "{x:e}");
            if x.is_finite() {
                assert_eq!(text(&Value::Float(x)), s, "{x:e}");
            } else {
                assert_eq!(text(&Value::Float(x)), "null");
            }
        }
        assert_eq!(text(&Value::Int(i64::MIN)), "-9223372036854775808");
        assert_eq!(text(&Value::UInt(u64::MAX)), "18446744073709551615");
    }

    #[test]
    fn strings_escaped_as_json_stringify() {
        // node: JSON.stringify("\0\x01\x1f\x7f\b\f\n\r\t\"\\/\u2028\u2029é😀")
        let s = "\0\u{1}\u{1f}\u{7f}\u{8}\u{c}\n\r\t\"\\/\u{2028}\u{2029}é😀";
        assert_eq!(
            text(&Value::from(s)),
            "\"\\u0000\\u0001\\u001f\u{7f}\\b\\f\\n\\r\\t\\\"\\\\/\u{2028}\u{2029}é😀\""
        );
    }

    #[test]
    fn timestamps_binary_and_keys() {
        assert_eq!(
            text(&Value::Timestamp(Timestamp::from_millis(0))),
            r#""1970-01-01T00:00:00.000Z""#
        );
        assert_eq!(
            text(&Value::Timestamp(Timestamp::new(1_500, 123_999_999))),
            r#""1970-01-01T00:25:00.123Z""#
        );
        assert_eq!(text(&Value::Binary(vec![1, 2, 255])), "[1,2,255]");
        assert_eq!(text(&Value::Binary(vec![])), "[]");
        let keys = Value::Map(vec![
            (1.into(), 1.into()),
            (Value::UInt(u64::MAX), 2.into()),
            (1.5.into(), 3.into()),
            (1e21.into(), 4.into()),
            ((-0.0).into(), 5.into()),
            (f64::NAN.into(), 6.into()),
            (true.into(), 7.into()),
            ("s".into(), 8.into()),
        ]);
        assert_eq!(
            text(&keys),
            r#"{"1":1,"18446744073709551615":2,"1.5":3,"1e+21":4,"0":5,"NaN":6,"true":7,"s":8}"#
        );
    }

    #[test]
    fn unsupported_values() {
        for key in [
            Value::Nil,
            Value::Binary(vec![]),
            Value::Array(vec![]),
            Value::Map(vec![]),
            Value::Timestamp(Timestamp::default()),
            Value::Ext(1, vec![]),
        ] {
            let v = Value::Array(vec![Value::Map(vec![(key.clone(), 1.into())])]);
            assert!(
                matches!(
                    encode(&v),
                    Err(CodecError::Unsupported {
                        serialization: "json",
                        ..
                    })
                ),
                "{key:?}"
            );
        }
        assert!(matches!(
            encode(&Value::Ext(3, vec![1])),
            Err(CodecError::Unsupported {
                serialization: "json",
                ..
            })
        ));
    }

    #[test]
    fn encode_depth_limit() {
        let mut v = Value::Nil;
        for _ in 0..ENCODE_MAX_DEPTH {
            v = Value::Array(vec![v]);
        }
        assert_eq!(encode(&v).unwrap().len(), ENCODE_MAX_DEPTH * 2 + 4);
        let v = Value::Array(vec![v]);
        assert_eq!(
            encode(&v),
            Err(CodecError::TooDeep {
                limit: ENCODE_MAX_DEPTH
            })
        );
        // Unwind the value without deep recursion in drop.
        let mut cur = v;
        while let Value::Array(mut items) = cur {
            cur = items.pop().unwrap_or(Value::Nil);
        }
    }

    #[test]
    fn round_trips() {
        let v = map(vec![
            ("n", Value::Nil),
            ("t", true.into()),
            ("i", (-42).into()),
            ("big", Value::UInt(u64::MAX)),
            ("min", Value::Int(i64::MIN)),
            ("f", 0.1.into()),
            ("s", "\"quoted\"\n😀".into()),
            (
                "a",
                Value::Array(vec![Value::Array(vec![]), Value::Map(vec![])]),
            ),
            ("m", map(vec![("z", 1.into()), ("a", 2.into())])),
        ]);
        assert_eq!(decode(&encode(&v).unwrap(), 128).unwrap(), v);
    }

    #[test]
    fn decode_numbers_and_keys() {
        assert_eq!(decode(b"1", 8).unwrap(), Value::Int(1));
        assert_eq!(decode(b"-1", 8).unwrap(), Value::Int(-1));
        assert_eq!(decode(b"1.0", 8).unwrap(), Value::Float(1.0));
        assert_eq!(decode(b"1e2", 8).unwrap(), Value::Float(100.0));
        assert_eq!(
            decode(b"18446744073709551615", 8).unwrap(),
            Value::UInt(u64::MAX)
        );
        assert_eq!(
            decode(b"18446744073709551616", 8).unwrap(),
            Value::Float(18_446_744_073_709_551_616.0)
        );
        assert_eq!(
            decode(b"-9223372036854775809", 8).unwrap(),
            Value::Float(-9_223_372_036_854_775_808.0)
        );
        // Parsing is exact, as JSON.parse is (serde_json's float_roundtrip feature).
        let x = -1.0752474623041463e268;
        assert_eq!(decode(js_number(x).as_bytes(), 8).unwrap(), Value::Float(x));
        // A repeated key keeps its first position and its last value, as JSON.parse does.
        assert_eq!(
            decode(br#"{"a":1,"b":2,"a":3}"#, 8).unwrap(),
            map(vec![("a", 3.into()), ("b", 2.into())])
        );
        assert_eq!(decode(b" \t\r\n[ ] ", 8).unwrap(), Value::Array(vec![]));
    }

    #[test]
    fn decode_text_like_text_decoder() {
        assert_eq!(decode(b"\xef\xbb\xbf\"a\"", 8).unwrap(), Value::from("a"));
        assert_eq!(decode(b"\"a\xffb\"", 8).unwrap(), Value::from("a\u{fffd}b"));
        assert_eq!(decode(b"\"\xf0\x9f\"", 8).unwrap(), Value::from("\u{fffd}"));
    }

    #[test]
    fn lone_surrogate_escapes_are_replaced() {
        // node: JSON.stringify("😀".slice(0, 1)) is "\ud83d" with the escape.
        let cases: &[(&str, &str)] = &[
            (r#""\ud83d""#, "\u{fffd}"),
            (r#""a\udc00b""#, "a\u{fffd}b"),
            (r#""\ud83d\ude00""#, "😀"),
            (r#""\uD83D\uDE00""#, "😀"),
            (r#""\ud800\ud83d\ude00\ude00""#, "\u{fffd}😀\u{fffd}"),
            (r#""\\ud800""#, "\\ud800"),
            (r#""\"\ud800""#, "\"\u{fffd}"),
            (r#""\ud800\n""#, "\u{fffd}\n"),
            (r#""\u0041""#, "A"),
        ];
        for &(json, expected) in cases {
            assert_eq!(
                decode(json.as_bytes(), 8).unwrap(),
                Value::from(expected),
                "{json}"
            );
        }
        assert_eq!(
            decode(br#"{"\ud800":[1]}"#, 8).unwrap(),
            map(vec![("\u{fffd}", Value::Array(vec![1.into()]))])
        );
        assert!(matches!(decode(br#""\ud80"#, 8), Err(CodecError::Json(_))));
        assert!(matches!(decode(br#"\ud800"#, 8), Err(CodecError::Json(_))));
    }

    #[test]
    fn invalid_json() {
        for bad in [
            &b""[..],
            b"{",
            b"[1,]",
            b"{'a':1}",
            b"undefined",
            b"NaN",
            b"1 2",
            b"\"\\x\"",
            b"\xff",
            b"{\"a\" 1}",
            b"01",
        ] {
            assert!(
                matches!(decode(bad, 8), Err(CodecError::Json(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn decode_depth_limit() {
        let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert!(decode(nested(3).as_bytes(), 3).is_ok());
        assert_eq!(
            decode(nested(4).as_bytes(), 3),
            Err(CodecError::TooDeep { limit: 3 })
        );
        assert_eq!(decode(b"[]", 0), Err(CodecError::TooDeep { limit: 0 }));
        assert_eq!(decode(b"{}", 0), Err(CodecError::TooDeep { limit: 0 }));
        assert_eq!(decode(b"1", 0), Ok(Value::Int(1)));
        let objects = r#"{"a":{"b":[{}]}}"#;
        assert!(decode(objects.as_bytes(), 4).is_ok());
        assert_eq!(
            decode(objects.as_bytes(), 3),
            Err(CodecError::TooDeep { limit: 3 })
        );
        // serde_json's own limit.
        assert!(decode(nested(SERDE_JSON_MAX_DEPTH).as_bytes(), 128).is_ok());
        assert_eq!(
            decode(nested(SERDE_JSON_MAX_DEPTH + 1).as_bytes(), 128),
            Err(CodecError::TooDeep {
                limit: SERDE_JSON_MAX_DEPTH
            })
        );
        assert_eq!(
            decode(nested(100_000).as_bytes(), 1000),
            Err(CodecError::TooDeep {
                limit: SERDE_JSON_MAX_DEPTH
            })
        );
    }

    mod properties {
        use super::*;
        use crate::proto::codec::msgpack::tests::properties::arb_value;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn encode_then_decode(v in arb_value()) {
                match encode(&v) {
                    Ok(a) => {
                        // A second round is a fixed point (the first may merge repeated keys).
                        let b = encode(&decode(&a, 128).unwrap()).unwrap();
                        let c = encode(&decode(&b, 128).unwrap()).unwrap();
                        prop_assert_eq!(b, c);
                    }
                    Err(e) => prop_assert!(matches!(e, CodecError::Unsupported { .. }), "{e:?}"),
                }
            }

            #[test]
            fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
                let _ = decode(&bytes, 128);
            }

            #[test]
            fn arbitrary_text_never_panics(text in "[\\[\\]{}:,\"0-9a-z.eE+\\- ]{0,60}") {
                let _ = decode(text.as_bytes(), 4);
            }

            #[test]
            fn numbers_round_trip(x in any::<f64>()) {
                let s = js_number(x);
                if x.is_finite() {
                    prop_assert_eq!(s.parse::<f64>().ok(), Some(x + 0.0));
                }
            }
        }
    }
}
