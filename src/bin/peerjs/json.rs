//! Messages as JSON lines: how `peerjs connect` reads and prints [`Value`]s.
//!
//! | JSON | [`Value`] |
//! |---|---|
//! | `null`, `true`, `false`, strings, arrays | the same |
//! | integers | [`Value::Int`] (or [`Value::UInt`] above `i64::MAX`) |
//! | other numbers | [`Value::Float`] |
//! | `{"$bytes":"<base64>"}`, at any depth | [`Value::Binary`] |
//! | other objects | [`Value::Map`], keys in order |
//!
//! A map with exactly one key, `"$bytes"`, whose value is a string, is binary data: the string
//! is standard base64 (with padding when printed; padding optional when read). So a real map
//! of that shape cannot be sent; nothing else is reserved.
//!
//! Received values JSON has no form for are printed as follows (these do not read back as the
//! same value):
//!
//! * map keys that are not strings: the key's own JSON text, e.g. `{"1":…}` for the key `1`;
//!   of keys that repeat, the last value is printed, in the first key's place;
//! * NaN and the infinities: `null`;
//! * a MessagePack timestamp (a JavaScript `Date`): an RFC 3339 string in UTC, as
//!   `Date.prototype.toJSON` gives, with nanoseconds when it has them;
//! * another MessagePack extension: `{"$ext":TYPE,"$bytes":"<base64>"}`.

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use peerjs::{Timestamp, Value};
use serde_json::{Map, Number, Value as Json};

/// The key that marks binary data.
const BYTES: &str = "$bytes";

/// Standard base64 that accepts input with or without padding.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Parses one line of JSON into a message.
pub(crate) fn parse_line(line: &str) -> Result<Value, String> {
    let json: Json = serde_json::from_str(line).map_err(|e| format!("invalid JSON: {e}"))?;
    from_json(json)
}

/// Formats a message as one line of JSON.
pub(crate) fn to_line(value: &Value) -> String {
    to_json(value).to_string()
}

/// Converts JSON into a [`Value`], turning `{"$bytes":"<base64>"}` into binary at any depth.
pub(crate) fn from_json(json: Json) -> Result<Value, String> {
    Ok(match json {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Bool(b),
        Json::Number(n) => number(&n),
        Json::String(s) => Value::from(s),
        Json::Array(items) => {
            Value::Array(items.into_iter().map(from_json).collect::<Result<_, _>>()?)
        }
        Json::Object(map) => {
            if let Some(Json::String(encoded)) = map.get(BYTES).filter(|_| map.len() == 1) {
                let bytes = LENIENT
                    .decode(encoded)
                    .map_err(|e| format!("invalid base64 in {BYTES:?}: {e}"))?;
                Value::Binary(bytes)
            } else {
                let mut entries = Vec::with_capacity(map.len());
                for (key, value) in map {
                    entries.push((Value::from(key), from_json(value)?));
                }
                Value::Map(entries)
            }
        }
    })
}

fn number(n: &Number) -> Value {
    if let Some(i) = n.as_i64() {
        Value::Int(i)
    } else if let Some(u) = n.as_u64() {
        Value::UInt(u)
    } else {
        // serde_json keeps every other number as a finite f64.
        Value::Float(n.as_f64().unwrap_or(f64::NAN))
    }
}

/// Converts a [`Value`] into JSON, binary data as `{"$bytes":"<base64>"}`.
pub(crate) fn to_json(value: &Value) -> Json {
    match value {
        Value::Nil => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(n) => Json::from(*n),
        Value::UInt(n) => Json::from(*n),
        Value::Float(x) => Number::from_f64(*x).map_or(Json::Null, Json::Number),
        Value::String(s) => Json::String(s.to_string()),
        Value::Binary(bytes) => bytes_json(bytes, None),
        Value::Array(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => {
            let mut map = Map::with_capacity(entries.len());
            for (key, value) in entries {
                let key = match key {
                    Value::String(s) => s.to_string(),
                    other => to_json(other).to_string(),
                };
                map.insert(key, to_json(value));
            }
            Json::Object(map)
        }
        Value::Timestamp(t) => Json::String(rfc3339(*t)),
        Value::Ext(kind, bytes) => bytes_json(bytes, Some(*kind)),
        // `Value` is non-exhaustive: show what a future variant looks like, as a string.
        other => Json::String(other.to_string()),
    }
}

fn bytes_json(bytes: &[u8], ext: Option<i8>) -> Json {
    let mut map = Map::new();
    if let Some(kind) = ext {
        map.insert("$ext".into(), Json::from(kind));
    }
    map.insert(BYTES.into(), Json::String(STANDARD.encode(bytes)));
    Json::Object(map)
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` (nanoseconds when they are not whole milliseconds).
fn rfc3339(t: Timestamp) -> String {
    let days = t.seconds.div_euclid(86_400);
    let secs = t.seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let fraction = if t.nanoseconds % 1_000_000 == 0 {
        format!("{:03}", t.nanoseconds / 1_000_000)
    } else {
        format!("{:09}", t.nanoseconds)
    };
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{fraction}Z")
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Shift to an era-based calendar that starts on 0000-03-01, so leap days end a year.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    // day is in 1..=31 and month in 1..=12.
    (year, month as u32, day as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_at_any_depth_round_trip() {
        let line = r#"{"a":[1,{"$bytes":"AAEC/w=="}],"b":{"c":{"$bytes":""}},"d":"$bytes"}"#;
        let value = parse_line(line).unwrap();
        assert_eq!(
            value,
            Value::Map(vec![
                (
                    "a".into(),
                    Value::Array(vec![1.into(), Value::Binary(vec![0, 1, 2, 255])])
                ),
                (
                    "b".into(),
                    Value::Map(vec![("c".into(), Value::Binary(vec![]))])
                ),
                ("d".into(), "$bytes".into()),
            ])
        );
        assert_eq!(to_line(&value), line);
        assert_eq!(
            parse_line(r#"{"$bytes":"AAEC/w"}"#).unwrap(),
            Value::Binary(vec![0, 1, 2, 255])
        );
    }

    #[test]
    fn only_a_lone_string_bytes_key_is_binary() {
        let two_keys = parse_line(r#"{"$bytes":"AA==","x":1}"#).unwrap();
        assert!(matches!(two_keys, Value::Map(ref m) if m.len() == 2));
        let not_a_string = parse_line(r#"{"$bytes":1}"#).unwrap();
        assert_eq!(not_a_string, Value::Map(vec![("$bytes".into(), 1.into())]));
        assert!(parse_line(r#"{"$bytes":"not base64!"}"#).is_err());
    }

    #[test]
    fn numbers_and_scalars() {
        for line in [
            "null",
            "true",
            "-7",
            "18446744073709551615",
            "2.5",
            "\"é😀\"",
            "[]",
            "{}",
        ] {
            assert_eq!(to_line(&parse_line(line).unwrap()), line);
        }
        assert_eq!(
            parse_line("18446744073709551615").unwrap(),
            Value::UInt(u64::MAX)
        );
        assert_eq!(parse_line("1e400").map_err(|_| ()), Err(()));
        assert_eq!(to_line(&Value::Float(f64::NAN)), "null");
        assert!(parse_line("{nope").unwrap_err().starts_with("invalid JSON"));
    }

    #[test]
    fn values_json_has_no_form_for() {
        let map = Value::Map(vec![
            (Value::Int(1), "one".into()),
            (Value::Binary(vec![1]), Value::Nil),
        ]);
        assert_eq!(to_line(&map), r#"{"1":"one","{\"$bytes\":\"AQ==\"}":null}"#);
        assert_eq!(
            to_line(&Value::Ext(5, vec![1, 2])),
            r#"{"$ext":5,"$bytes":"AQI="}"#
        );
        let date = Value::Timestamp(Timestamp::from_millis(1_700_000_000_123));
        assert_eq!(to_line(&date), r#""2023-11-14T22:13:20.123Z""#);
        let nanos = Value::Timestamp(Timestamp::new(-1, 5));
        assert_eq!(to_line(&nanos), r#""1969-12-31T23:59:59.000000005Z""#);
        assert_eq!(
            rfc3339(Timestamp::new(951_782_400, 0)),
            "2000-02-29T00:00:00.000Z"
        );
    }
}
