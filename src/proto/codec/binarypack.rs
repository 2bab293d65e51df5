//! BinaryPack, PeerJS's default serialization, exactly as `peerjs-js-binarypack` 2.1.0 writes
//! and reads it.
//!
//! BinaryPack is a pre-2013 MessagePack dialect: big-endian, with MessagePack's integer, float,
//! array and map tags, but `0xa0..=0xaf`/`0xda`/`0xdb` for **binary** and
//! `0xb0..=0xbf`/`0xd8`/`0xd9` for **UTF-8 strings**.
//!
//! The encoder follows the rules that keep JavaScript receivers correct:
//!
//! * integers use the smallest tag in the order JavaScript's encoder tries them (fixint, uint8,
//!   int8, uint16, int16, uint32, int32, int64, uint64), so the bytes equal what a JS peer sends;
//! * a float with an integral value is sent as an integer, as JavaScript does (JS has one number
//!   type, and its decoder misreads the float `0.0`);
//! * `NaN` and subnormal floats are refused (the JS decoder turns them into `Infinity` and
//!   garbage); `±Infinity` and whole numbers beyond 2⁶⁴, which the JS encoder refuses, are sent
//!   as doubles, which JS reads correctly;
//! * a [`Timestamp`](crate::Timestamp) is sent as JavaScript sends a `Date`: the text of
//!   `date.toString()` (in UTC).
//!
//! The decoder accepts every tag: the ones JS never writes (`0xc1`, `0xc4..=0xc9`, `0xd4..=0xd7`)
//! read as nil consuming one byte, as in JS. It reads 64-bit integers exactly (the JS decoder goes
//! through doubles and gets some wrong), decodes invalid UTF-8 lossily, bounds nesting, and never
//! allocates more than a small multiple of its input.
//!
//! ```
//! use peerjs::proto::codec::binarypack;
//! use peerjs::Value;
//!
//! let mut bytes = Vec::new();
//! binarypack::encode(&Value::from("hi"), &mut bytes)?;
//! assert_eq!(bytes, [0xb2, b'h', b'i']);
//! assert_eq!(binarypack::decode(&bytes)?, Value::from("hi"));
//! # Ok::<(), peerjs::proto::codec::CodecError>(())
//! ```
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use super::{CodecError, DEFAULT_MAX_DEPTH};
use crate::value::{CompactString, Value};

const SERIALIZATION: &str = "BinaryPack";

/// Appends the BinaryPack encoding of `value` to `out`.
///
/// This encodes any value, including a top-level nil; the [`Encoder`](super::Encoder) adds the
/// PeerJS rules for whole messages (no top-level nil, chunking).
///
/// # Errors
///
/// [`CodecError::Unsupported`] for `NaN`, subnormal floats, MessagePack extension values, and strings, binary,
/// arrays or maps longer than `u32::MAX`. On error, `out` may hold a partial encoding.
pub fn encode(value: &Value, out: &mut Vec<u8>) -> Result<(), CodecError> {
    match value {
        Value::Nil => out.push(0xc0),
        Value::Bool(false) => out.push(0xc2),
        Value::Bool(true) => out.push(0xc3),
        Value::Int(n) => write_int(i128::from(*n), out),
        Value::UInt(n) => write_int(i128::from(*n), out),
        Value::Float(f) => write_float(*f, out)?,
        Value::String(s) => write_str(s, out)?,
        Value::Binary(b) => {
            write_raw_header(b.len(), out)?;
            out.extend_from_slice(b);
        }
        Value::Array(items) => {
            write_len(items.len(), 0x90, 0xdc, 0xdd, "an array", out)?;
            for item in items {
                encode(item, out)?;
            }
        }
        Value::Map(entries) => {
            write_len(entries.len(), 0x80, 0xde, 0xdf, "a map", out)?;
            for (k, v) in entries {
                encode(k, out)?;
                encode(v, out)?;
            }
        }
        Value::Timestamp(t) => write_str(&crate::proto::time::js_date_string(*t), out)?,
        Value::Ext(..) => {
            return Err(CodecError::Unsupported {
                serialization: SERIALIZATION,
                what: "a MessagePack extension value".into(),
            });
        }
    }
    Ok(())
}

/// Writes an integer with the tag JavaScript's encoder picks for it. Values above `i64::MAX`
/// always use uint64 (`0xcf`); JavaScript would write exactly 2⁶³ as int64, which its own decoder
/// then reads as a negative number.
pub(crate) fn write_int(n: i128, out: &mut Vec<u8>) {
    // The casts below are exact: each branch has checked the range.
    if (-32..=127).contains(&n) {
        out.push(n as i8 as u8);
    } else if (0..=0xff).contains(&n) {
        out.extend_from_slice(&[0xcc, n as u8]);
    } else if (-128..=127).contains(&n) {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if (0..=0xffff).contains(&n) {
        out.push(0xcd);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else if (-32768..=32767).contains(&n) {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if (0..=0xffff_ffff).contains(&n) {
        out.push(0xce);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else if (i128::from(i32::MIN)..=i128::from(i32::MAX)).contains(&n) {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else if (i128::from(i64::MIN)..=i128::from(i64::MAX)).contains(&n) {
        out.push(0xd3);
        out.extend_from_slice(&(n as i64).to_be_bytes());
    } else {
        // Callers pass i64 or u64 values only, so this is 2^63..2^64.
        out.push(0xcf);
        out.extend_from_slice(&(n as u64).to_be_bytes());
    }
}

/// 2⁶³ and 2⁶⁴ as floats (exact).
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;

fn write_float(f: f64, out: &mut Vec<u8>) -> Result<(), CodecError> {
    if f.is_nan() {
        return Err(CodecError::Unsupported {
            serialization: SERIALIZATION,
            what: "NaN (PeerJS's BinaryPack decoder reads it as Infinity)".into(),
        });
    }
    if f.is_subnormal() {
        return Err(CodecError::Unsupported {
            serialization: SERIALIZATION,
            what: format!("the subnormal float {f:e} (PeerJS's BinaryPack decoder misreads them)"),
        });
    }
    if f.is_finite() && f.trunc() == f {
        if (-TWO_POW_63..TWO_POW_63).contains(&f) {
            // Exact: f is integral and within the i64 range.
            write_int(i128::from(f as i64), out);
            return Ok(());
        }
        if (TWO_POW_63..TWO_POW_64).contains(&f) {
            write_int(i128::from(f as u64), out);
            return Ok(());
        }
        // Whole numbers beyond 2^64: JavaScript's encoder throws; a double is read correctly.
    }
    out.push(0xcb);
    out.extend_from_slice(&f.to_bits().to_be_bytes());
    Ok(())
}

fn write_str(s: &str, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let len = s.len();
    if len <= 15 {
        out.push(0xb0 | len as u8);
    } else if len <= 0xffff {
        out.push(0xd8);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xd9);
        out.extend_from_slice(&len_u32(len, "a string")?.to_be_bytes());
    }
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

/// Writes the header of a binary ("raw") value of `len` bytes.
pub(crate) fn write_raw_header(len: usize, out: &mut Vec<u8>) -> Result<(), CodecError> {
    if len <= 15 {
        out.push(0xa0 | len as u8);
    } else if len <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&len_u32(len, "binary data")?.to_be_bytes());
    }
    Ok(())
}

fn write_len(
    len: usize,
    fix: u8,
    tag16: u8,
    tag32: u8,
    what: &str,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    if len <= 15 {
        out.push(fix | len as u8);
    } else if len <= 0xffff {
        out.push(tag16);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(tag32);
        out.extend_from_slice(&len_u32(len, what)?.to_be_bytes());
    }
    Ok(())
}

fn len_u32(len: usize, what: &str) -> Result<u32, CodecError> {
    u32::try_from(len).map_err(|_| CodecError::Unsupported {
        serialization: SERIALIZATION,
        what: format!("{what} of {len} elements or bytes (the limit is 2^32-1)"),
    })
}

/// Decodes one BinaryPack value that fills `bytes` exactly, with the default nesting limit.
///
/// # Errors
///
/// [`CodecError::Truncated`] when the input ends inside a value, [`CodecError::TrailingBytes`]
/// when bytes follow it, [`CodecError::TooDeep`] past the nesting limit.
pub fn decode(bytes: &[u8]) -> Result<Value, CodecError> {
    decode_with_depth(bytes, DEFAULT_MAX_DEPTH)
}

/// Decodes one BinaryPack value that fills `bytes` exactly, accepting at most `max_depth`
/// levels of nested arrays and maps.
///
/// # Errors
///
/// As [`decode`].
pub fn decode_with_depth(bytes: &[u8], max_depth: usize) -> Result<Value, CodecError> {
    let mut reader = Reader::new(bytes);
    let value = reader.value(max_depth).map_err(|e| {
        if let CodecError::TooDeep { .. } = e {
            CodecError::TooDeep { limit: max_depth }
        } else {
            e
        }
    })?;
    match reader.remaining() {
        0 => Ok(value),
        count => Err(CodecError::TrailingBytes { count }),
    }
}

/// A bounds-checked cursor over BinaryPack bytes.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    #[inline]
    pub(crate) fn take(&mut self, n: u64) -> Result<&'a [u8], CodecError> {
        let end = usize::try_from(n)
            .ok()
            .and_then(|n| self.pos.checked_add(n));
        match end.and_then(|end| self.buf.get(self.pos..end).map(|s| (s, end))) {
            Some((slice, end)) => {
                self.pos = end;
                Ok(slice)
            }
            None => Err(truncated(n, self.remaining())),
        }
    }

    #[inline]
    fn array<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let slice = self.take(N as u64)?;
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        Ok(out)
    }

    #[inline]
    pub(crate) fn u8(&mut self) -> Result<u8, CodecError> {
        match self.buf.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(truncated(1, 0)),
        }
    }

    pub(crate) fn u16(&mut self) -> Result<u16, CodecError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, CodecError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, CodecError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Reads one value, at most `depth` levels of containers deep.
    pub(crate) fn value(&mut self, depth: usize) -> Result<Value, CodecError> {
        let tag = self.u8()?;
        Ok(match tag {
            0x00..=0x7f => Value::Int(i64::from(tag)),
            0x80..=0x8f => self.map(u64::from(tag & 0x0f), depth)?,
            0x90..=0x9f => self.array_of(u64::from(tag & 0x0f), depth)?,
            0xa0..=0xaf => Value::Binary(self.take(u64::from(tag & 0x0f))?.to_vec()),
            0xb0..=0xbf => self.string(u64::from(tag & 0x0f))?,
            // 0xc1 is JS `undefined`; 0xc4..=0xc9 and 0xd4..=0xd7 also read as `undefined`,
            // consuming only the tag byte, as peerjs-js-binarypack does.
            0xc0 | 0xc1 | 0xc4..=0xc9 | 0xd4..=0xd7 => Value::Nil,
            0xc2 => Value::Bool(false),
            0xc3 => Value::Bool(true),
            0xca => Value::Float(f64::from(f32::from_bits(self.u32()?))),
            0xcb => Value::Float(f64::from_bits(self.u64()?)),
            0xcc => Value::Int(i64::from(self.u8()?)),
            0xcd => Value::Int(i64::from(self.u16()?)),
            0xce => Value::Int(i64::from(self.u32()?)),
            0xcf => Value::from(self.u64()?),
            0xd0 => Value::Int(i64::from(i8::from_be_bytes(self.array()?))),
            0xd1 => Value::Int(i64::from(i16::from_be_bytes(self.array()?))),
            0xd2 => Value::Int(i64::from(i32::from_be_bytes(self.array()?))),
            0xd3 => Value::Int(i64::from_be_bytes(self.array()?)),
            0xd8 => {
                let len = self.u16()?;
                self.string(u64::from(len))?
            }
            0xd9 => {
                let len = self.u32()?;
                self.string(u64::from(len))?
            }
            0xda => {
                let len = self.u16()?;
                Value::Binary(self.take(u64::from(len))?.to_vec())
            }
            0xdb => {
                let len = self.u32()?;
                Value::Binary(self.take(u64::from(len))?.to_vec())
            }
            0xdc => {
                let n = self.u16()?;
                self.array_of(u64::from(n), depth)?
            }
            0xdd => {
                let n = self.u32()?;
                self.array_of(u64::from(n), depth)?
            }
            0xde => {
                let n = self.u16()?;
                self.map(u64::from(n), depth)?
            }
            0xdf => {
                let n = self.u32()?;
                self.map(u64::from(n), depth)?
            }
            0xe0..=0xff => Value::Int(i64::from(tag as i8)),
        })
    }

    fn string(&mut self, len: u64) -> Result<Value, CodecError> {
        let bytes = self.take(len)?;
        Ok(Value::String(match std::str::from_utf8(bytes) {
            Ok(s) => CompactString::from(s),
            Err(_) => CompactString::from_utf8_lossy(bytes),
        }))
    }

    /// Checks that `n` elements of at least `min_size` bytes each can still follow, and gives a
    /// safe preallocation size.
    fn check_count(&self, n: u64, min_size: u64) -> Result<usize, CodecError> {
        let available = self.remaining();
        let needed = n.saturating_mul(min_size);
        if needed > available as u64 {
            return Err(truncated(needed, available));
        }
        // needed <= available, so n fits in usize.
        Ok(n as usize)
    }

    fn array_of(&mut self, n: u64, depth: usize) -> Result<Value, CodecError> {
        let depth = enter(depth)?;
        let n = self.check_count(n, 1)?;
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            items.push(self.value(depth)?);
        }
        Ok(Value::Array(items))
    }

    fn map(&mut self, n: u64, depth: usize) -> Result<Value, CodecError> {
        let depth = enter(depth)?;
        let n = self.check_count(n, 2)?;
        let mut entries = Vec::with_capacity(n);
        for _ in 0..n {
            let k = self.value(depth)?;
            let v = self.value(depth)?;
            entries.push((k, v));
        }
        Ok(Value::Map(entries))
    }

    /// Reads an integer value (any integer tag), for chunk headers.
    pub(crate) fn int(&mut self) -> Option<i128> {
        let tag = self.u8().ok()?;
        Some(match tag {
            0x00..=0x7f => i128::from(tag),
            0xe0..=0xff => i128::from(tag as i8),
            0xcc => i128::from(self.u8().ok()?),
            0xcd => i128::from(self.u16().ok()?),
            0xce => i128::from(self.u32().ok()?),
            0xcf => i128::from(self.u64().ok()?),
            0xd0 => i128::from(i8::from_be_bytes(self.array().ok()?)),
            0xd1 => i128::from(i16::from_be_bytes(self.array().ok()?)),
            0xd2 => i128::from(i32::from_be_bytes(self.array().ok()?)),
            0xd3 => i128::from(i64::from_be_bytes(self.array().ok()?)),
            _ => return None,
        })
    }

    /// Reads a string value's bytes, for chunk headers.
    pub(crate) fn str_bytes(&mut self) -> Option<&'a [u8]> {
        let tag = self.u8().ok()?;
        let len = match tag {
            0xb0..=0xbf => u64::from(tag & 0x0f),
            0xd8 => u64::from(self.u16().ok()?),
            0xd9 => u64::from(self.u32().ok()?),
            _ => return None,
        };
        self.take(len).ok()
    }

    /// Reads a binary value's bytes, for chunk payloads.
    pub(crate) fn raw_bytes(&mut self) -> Option<&'a [u8]> {
        let tag = self.u8().ok()?;
        let len = match tag {
            0xa0..=0xaf => u64::from(tag & 0x0f),
            0xda => u64::from(self.u16().ok()?),
            0xdb => u64::from(self.u32().ok()?),
            _ => return None,
        };
        self.take(len).ok()
    }
}

/// The error for a value of `needed` bytes with only `available` left.
#[cold]
fn truncated(needed: u64, available: usize) -> CodecError {
    CodecError::Truncated {
        needed: needed.saturating_sub(available as u64),
        available,
    }
}

/// One level deeper; fails when no levels are left.
fn enter(depth: usize) -> Result<usize, CodecError> {
    depth.checked_sub(1).ok_or(CodecError::TooDeep { limit: 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: &Value) -> String {
        let mut out = Vec::new();
        encode(v, &mut out).unwrap();
        out.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn integers_use_the_tag_javascript_picks() {
        let cases: &[(i64, &str)] = &[
            (0, "00"),
            (127, "7f"),
            (-1, "ff"),
            (-32, "e0"),
            (128, "cc80"),
            (255, "ccff"),
            (-33, "d0df"),
            (-128, "d080"),
            (256, "cd0100"),
            (65535, "cdffff"),
            (-129, "d1ff7f"),
            (-32768, "d18000"),
            (65536, "ce00010000"),
            (4294967295, "ceffffffff"),
            (-32769, "d2ffff7fff"),
            (-2147483648, "d280000000"),
            (4294967296, "d30000000100000000"),
            (-2147483649, "d3ffffffff7fffffff"),
            (i64::MAX, "d37fffffffffffffff"),
            (i64::MIN, "d38000000000000000"),
        ];
        for (n, hex) in cases {
            assert_eq!(enc(&Value::Int(*n)), *hex, "{n}");
            assert_eq!(decode(&unhex(hex)).unwrap(), Value::Int(*n), "{hex}");
        }
        assert_eq!(enc(&Value::UInt(u64::MAX)), "cfffffffffffffffff");
        assert_eq!(
            decode(&unhex("cfffffffffffffffff")).unwrap(),
            Value::UInt(u64::MAX)
        );
    }

    #[test]
    fn whole_floats_are_sent_as_integers() {
        assert_eq!(enc(&Value::Float(0.0)), "00");
        assert_eq!(enc(&Value::Float(-0.0)), "00");
        assert_eq!(enc(&Value::Float(128.0)), "cc80");
        assert_eq!(enc(&Value::Float(1.5)), "cb3ff8000000000000");
        assert_eq!(enc(&Value::Float(TWO_POW_63)), "cf8000000000000000");
        assert_eq!(enc(&Value::Float(TWO_POW_64)), "cb43f0000000000000");
        assert_eq!(enc(&Value::Float(f64::INFINITY)), "cb7ff0000000000000");
        assert!(matches!(
            encode(&Value::Float(f64::NAN), &mut Vec::new()),
            Err(CodecError::Unsupported { .. })
        ));
    }

    #[test]
    fn undefined_tags_consume_one_byte() {
        assert_eq!(
            decode(&unhex("92c401")).unwrap(),
            Value::Array(vec![Value::Nil, Value::Int(1)])
        );
        for tag in [
            0xc1u8, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xd4, 0xd5, 0xd6, 0xd7,
        ] {
            assert_eq!(decode(&[tag]).unwrap(), Value::Nil);
        }
    }

    #[test]
    fn truncated_input_is_an_error_at_every_length() {
        let v = Value::Map(vec![
            ("s".into(), Value::from("x".repeat(40))),
            ("b".into(), Value::Binary(vec![1; 300])),
            (
                "a".into(),
                Value::Array(vec![Value::Float(0.5), Value::Int(-70000)]),
            ),
        ]);
        let mut bytes = Vec::new();
        encode(&v, &mut bytes).unwrap();
        assert_eq!(decode(&bytes).unwrap(), v);
        for len in 0..bytes.len() {
            assert!(decode(&bytes[..len]).is_err(), "prefix of {len} bytes");
        }
        assert_eq!(
            decode(&[bytes.as_slice(), &[0]].concat()),
            Err(CodecError::TrailingBytes { count: 1 })
        );
    }

    #[test]
    fn huge_declared_lengths_fail_without_allocating() {
        for hex in [
            "dbffffffff",
            "d9ffffffff",
            "ddffffffff",
            "dfffffffff",
            "dcffff00",
        ] {
            assert!(
                matches!(decode(&unhex(hex)), Err(CodecError::Truncated { .. })),
                "{hex}"
            );
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let ok = vec![0x91u8; 10]
            .into_iter()
            .chain([0x90])
            .collect::<Vec<_>>();
        assert!(decode_with_depth(&ok, 11).is_ok());
        assert!(matches!(
            decode_with_depth(&ok, 10),
            Err(CodecError::TooDeep { .. })
        ));
        let deep = vec![0x91u8; 100_000];
        assert!(matches!(decode(&deep), Err(CodecError::TooDeep { .. })));
    }

    #[test]
    fn invalid_utf8_decodes_lossily() {
        assert_eq!(
            decode(&[0xb2, 0xff, 0x61]).unwrap(),
            Value::from("\u{fffd}a")
        );
    }
}
