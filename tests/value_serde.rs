//! Typed messages: any `Serialize` converts to a `Value`, any `Value` converts to a
//! `Deserialize`, and both agree with serde_json's conventions.

use std::collections::{BTreeMap, HashMap};

use peerjs::{ErrorKind, Timestamp, Value, from_value, to_value};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Chat {
    from: String,
    text: String,
    seq: u64,
    score: f64,
    reply_to: Option<u32>,
    #[serde(with = "serde_bytes")]
    attachment: Vec<u8>,
    tags: Vec<String>,
    at: Timestamp,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
enum Event {
    Ping,
    Join(String),
    Move(i32, i32),
    Say { text: String, loud: bool },
}

fn chat() -> Chat {
    Chat {
        from: "alice".into(),
        text: "héllo 😀".into(),
        seq: u64::MAX,
        score: 98.25,
        reply_to: None,
        attachment: vec![0, 1, 2, 255],
        tags: vec!["a".into(), "b".into()],
        at: Timestamp::new(1_700_000_000, 123_000_000),
    }
}

#[test]
fn struct_round_trips_through_value() {
    let value = to_value(&chat()).unwrap();
    assert_eq!(value.get("from"), Some(&Value::from("alice")));
    assert_eq!(value.get("seq"), Some(&Value::UInt(u64::MAX)));
    assert_eq!(value.get("reply_to"), Some(&Value::Nil));
    assert_eq!(
        value.get("attachment"),
        Some(&Value::Binary(vec![0, 1, 2, 255]))
    );
    assert_eq!(
        value.get("at"),
        Some(&Value::Timestamp(Timestamp::new(
            1_700_000_000,
            123_000_000
        )))
    );
    let back: Chat = from_value(value).unwrap();
    assert_eq!(back, chat());
}

#[test]
fn struct_fields_keep_declaration_order() {
    let value = to_value(&chat()).unwrap();
    let keys: Vec<&str> = value
        .as_map()
        .unwrap()
        .iter()
        .filter_map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "from",
            "text",
            "seq",
            "score",
            "reply_to",
            "attachment",
            "tags",
            "at"
        ]
    );
}

#[test]
fn enums_use_the_externally_tagged_form() {
    let cases = [
        (Event::Ping, r#""Ping""#),
        (Event::Join("bob".into()), r#"{"Join":"bob"}"#),
        (Event::Move(1, -2), r#"{"Move":[1,-2]}"#),
        (
            Event::Say {
                text: "hi".into(),
                loud: true,
            },
            r#"{"Say":{"text":"hi","loud":true}}"#,
        ),
    ];
    for (event, json) in cases {
        let value = to_value(&event).unwrap();
        let from_json = Value::from(serde_json::from_str::<serde_json::Value>(json).unwrap());
        assert_eq!(value, from_json, "{json}");
        assert_eq!(from_value::<Event>(value).unwrap(), event);
    }
}

#[test]
fn numbers_convert_between_integer_and_float_targets() {
    // JavaScript sends whole numbers as integers: an f64 field must accept them.
    assert_eq!(from_value::<f64>(Value::Int(3)).unwrap(), 3.0);
    assert_eq!(from_value::<f32>(Value::Int(-2)).unwrap(), -2.0);
    assert_eq!(from_value::<u8>(Value::Int(255)).unwrap(), 255);
    let err = from_value::<u8>(Value::Int(256)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Serialization);
    assert!(from_value::<i64>(Value::Float(1.5)).is_err());
    assert_eq!(from_value::<u64>(Value::UInt(u64::MAX)).unwrap(), u64::MAX);
    assert_eq!(
        to_value(&(1u128 << 70)).unwrap_err().kind(),
        ErrorKind::Serialization
    );
    assert_eq!(
        to_value(&(u64::MAX as i128)).unwrap(),
        Value::UInt(u64::MAX)
    );
}

#[test]
fn bytes_read_as_byte_vectors_and_arrays() {
    let value = Value::Binary(vec![1, 2, 3]);
    assert_eq!(from_value::<Vec<u8>>(value.clone()).unwrap(), vec![1, 2, 3]);
    assert_eq!(from_value::<[u8; 3]>(value.clone()).unwrap(), [1, 2, 3]);
    assert_eq!(
        from_value::<serde_bytes::ByteBuf>(value)
            .unwrap()
            .into_vec(),
        vec![1, 2, 3]
    );
    // A JSON peer sends bytes as an array of numbers.
    let array = Value::Array(vec![1.into(), 2.into()]);
    assert_eq!(
        from_value::<serde_bytes::ByteBuf>(array)
            .unwrap()
            .into_vec(),
        vec![1, 2]
    );
}

#[test]
fn string_map_keys_read_as_numbers_like_javascript_object_keys() {
    let value = Value::Map(vec![("1".into(), "a".into()), ("20".into(), "b".into())]);
    let map: BTreeMap<u32, String> = from_value(value).unwrap();
    assert_eq!(map[&20], "b");
    let value = Value::Map(vec![(Value::Int(7), Value::Bool(true))]);
    let map: HashMap<i64, bool> = from_value(value).unwrap();
    assert!(map[&7]);
}

#[test]
fn any_value_round_trips_through_serialize_and_deserialize() {
    let value = Value::Map(vec![
        (
            Value::Int(1),
            Value::Array(vec![Value::Nil, Value::Float(-0.5)]),
        ),
        (Value::Binary(vec![9]), Value::Ext(5, vec![1, 2])),
        (
            "t".into(),
            Value::Timestamp(Timestamp::new(-1, 999_000_000)),
        ),
        ("u".into(), Value::UInt(1 << 63)),
    ]);
    let again = to_value(&value).unwrap();
    assert_eq!(again, value);
    let back: Value = from_value(value.clone()).unwrap();
    assert_eq!(back, value);
}

#[test]
fn typed_values_survive_msgpack_through_rmp_serde() {
    // rmp-serde is an independent MessagePack implementation: what it writes for a struct, our
    // decoder reads as the same value, and the reverse.
    let bytes = rmp_serde::to_vec_named(&chat()).unwrap();
    let value = peerjs::proto::codec::msgpack::decode(&bytes).unwrap();
    assert_eq!(value, to_value(&chat()).unwrap());
    let mut ours = Vec::new();
    peerjs::proto::codec::msgpack::encode(&value, &mut ours).unwrap();
    let back: Chat = rmp_serde::from_slice(&ours).unwrap();
    assert_eq!(back, chat());
}

#[test]
fn wrong_shapes_give_errors_that_say_what_was_expected() {
    let err = from_value::<Chat>(Value::from("nope")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Serialization);
    assert!(err.message().contains("invalid type"), "{err}");
    let err = from_value::<Chat>(Value::Map(vec![])).unwrap_err();
    assert!(err.message().contains("missing field"), "{err}");
    let err = from_value::<(u8, u8)>(Value::Array(vec![1.into(), 2.into(), 3.into()])).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Serialization);
}

#[test]
fn timestamp_reads_from_javascript_milliseconds() {
    let t: Timestamp = from_value(Value::Int(1500)).unwrap();
    assert_eq!(t, Timestamp::new(1, 500_000_000));
    assert_eq!(Timestamp::from_millis(-1), Timestamp::new(-1, 999_000_000));
    assert_eq!(Timestamp::from_millis(-1).as_millis(), -1);
}
