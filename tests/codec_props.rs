//! Property tests: every serialization round-trips every value it can carry, chunking is the
//! identity at every size around the chunk boundary and in any arrival order, and decoders never
//! panic on arbitrary bytes.

use peerjs::Value;
use peerjs::proto::codec::{
    CodecError, CodecOptions, Decoder, Encoder, Frame, Incoming, Serialization, binarypack, chunk,
    json, msgpack,
};
use proptest::prelude::*;

/// Floats that every encoder carries unchanged: finite, not whole, and normal (BinaryPack
/// refuses subnormals, which PeerJS's decoder misreads).
fn fractional() -> impl Strategy<Value = f64> {
    any::<f64>().prop_filter("finite, not whole, normal", |f| {
        f.is_normal() && f.trunc() != *f
    })
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Nil),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        (i64::MAX as u64 + 1..=u64::MAX).prop_map(Value::UInt),
        (-40i64..300).prop_map(Value::Int),
        fractional().prop_map(Value::Float),
        ".{0,40}".prop_map(Value::from),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Value::Binary),
    ]
}

/// Values with string keys: what every structured serialization carries.
fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            proptest::collection::vec(("[a-z_]{0,6}".prop_map(Value::from), inner), 0..8)
                .prop_map(Value::Map),
        ]
    })
}

/// A value PeerJS can take as a whole message: not nil, no truthy `__peerData` key.
fn message() -> impl Strategy<Value = Value> {
    value().prop_filter("sendable at the top level", |v| {
        !v.is_nil() && v.get("__peerData").is_none()
    })
}

fn round_trip(serialization: Serialization, value: &Value) -> Result<Vec<Incoming>, CodecError> {
    let mut enc = Encoder::new(serialization);
    let mut dec = Decoder::new(serialization);
    let mut out = Vec::new();
    for frame in enc.encode(value)? {
        out.extend(dec.decode(frame)?);
    }
    Ok(out)
}

/// What JSON gives back: binary becomes an array of numbers (serde's convention), and a key
/// that appears twice keeps its first position with its last value (as `JSON.parse` does).
fn json_view(v: &Value) -> Value {
    match v {
        Value::Binary(b) => Value::Array(b.iter().map(|&x| Value::from(x)).collect()),
        Value::Array(a) => Value::Array(a.iter().map(json_view).collect()),
        Value::Map(m) => {
            let mut out: Vec<(Value, Value)> = Vec::new();
            for (k, v) in m {
                match out.iter_mut().find(|(seen, _)| seen == k) {
                    Some(entry) => entry.1 = json_view(v),
                    None => out.push((k.clone(), json_view(v))),
                }
            }
            Value::Map(out)
        }
        other => other.clone(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn binarypack_round_trips(v in message()) {
        prop_assert_eq!(round_trip(Serialization::Binary, &v).unwrap(), vec![Incoming::Data(v)]);
    }

    #[test]
    fn msgpack_round_trips(v in message()) {
        prop_assert_eq!(round_trip(Serialization::MsgPack, &v).unwrap(), vec![Incoming::Data(v)]);
    }

    #[test]
    fn json_round_trips_or_refuses_oversized_messages(v in message()) {
        match round_trip(Serialization::Json, &v) {
            Ok(got) => prop_assert_eq!(got, vec![Incoming::Data(json_view(&v))]),
            Err(CodecError::MessageTooBig { size, .. }) => prop_assert!(size >= json::MAX_SIZE),
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }

    #[test]
    fn raw_passes_strings_and_binary_through(s in ".{0,100}", b in proptest::collection::vec(any::<u8>(), 0..100)) {
        for v in [Value::from(s.clone()), Value::Binary(b.clone())] {
            prop_assert_eq!(round_trip(Serialization::Raw, &v).unwrap(), vec![Incoming::Data(v)]);
        }
    }

    #[test]
    fn whole_floats_arrive_as_integers(n in -(1i64 << 53)..(1i64 << 53)) {
        let v = Value::Float(n as f64);
        for s in [Serialization::Binary, Serialization::MsgPack] {
            prop_assert_eq!(round_trip(s, &v).unwrap(), vec![Incoming::Data(Value::Int(n))]);
        }
    }

    #[test]
    fn msgpack_stream_decodes_across_any_split(v in proptest::collection::vec(message(), 1..5), cuts in proptest::collection::vec(any::<usize>(), 0..6)) {
        let mut bytes = Vec::new();
        for x in &v {
            msgpack::encode(x, &mut bytes).unwrap();
        }
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.push(0);
        cuts.push(bytes.len());
        cuts.sort_unstable();
        let mut dec = Decoder::new(Serialization::MsgPack);
        let mut got = Vec::new();
        for w in cuts.windows(2) {
            got.extend(dec.decode(Frame::Binary(bytes[w[0]..w[1]].to_vec())).unwrap());
        }
        prop_assert_eq!(got, v.into_iter().map(Incoming::Data).collect::<Vec<_>>());
    }

    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = binarypack::decode(&bytes);
        let _ = msgpack::decode(&bytes);
        let _ = json::decode(&bytes, 128);
        let _ = chunk::Chunk::parse(&bytes);
        for s in Serialization::ALL {
            let mut dec = Decoder::new(s);
            let _ = dec.decode(Frame::Binary(bytes.clone()));
            let _ = dec.decode(Frame::Binary(bytes.clone()));
        }
    }
}

/// The length of a binary value whose BinaryPack encoding is `packed` bytes long.
fn binary_len_for_packed(packed: usize) -> usize {
    if packed - 3 <= 0xffff {
        packed - 3
    } else {
        packed - 5
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// PeerJS chunks packed messages longer than 16300 bytes; at 16300·k−1, 16300·k and
    /// 16300·k+1 the chunk count must be exactly ⌈len/16300⌉ and, in any arrival order, the
    /// receiver must get the message back.
    #[test]
    fn chunking_is_the_identity_around_every_boundary(k in 1usize..=5, delta in 0usize..3, seed in any::<u64>(), shuffle in any::<bool>()) {
        let packed_len = chunk::CHUNK_MTU * k + delta - 1;
        let len = binary_len_for_packed(packed_len);
        let payload: Vec<u8> = (0..len).map(|i| (i as u64 ^ seed).wrapping_mul(0x9e37_79b9) as u8).collect();
        let value = Value::Binary(payload);
        let mut enc = Encoder::new(Serialization::Binary);
        let mut frames = enc.encode(&value).unwrap();
        let expected = if packed_len <= chunk::CHUNK_MTU { 1 } else { packed_len.div_ceil(chunk::CHUNK_MTU) };
        prop_assert_eq!(frames.len(), expected);
        if shuffle {
            frames.reverse();
            let n = frames.len();
            frames.swap(0, (seed as usize) % n);
        }
        let mut dec = Decoder::new(Serialization::Binary);
        let mut got = Vec::new();
        for f in frames {
            got.extend(dec.decode(f).unwrap());
        }
        prop_assert_eq!(got, vec![Incoming::Data(value)]);
    }
}

#[test]
fn chunk_ids_start_at_one_and_grow_per_chunked_message() {
    let mut enc = Encoder::new(Serialization::Binary);
    let big = Value::Binary(vec![0; 20_000]);
    for expected_id in 1..=3i64 {
        let frames = enc.encode(&big).unwrap();
        let Frame::Binary(first) = &frames[0] else {
            panic!("text frame")
        };
        assert_eq!(chunk::Chunk::parse(first).unwrap().id, expected_id);
        // Small messages in between take no id.
        enc.encode(&Value::from("small")).unwrap();
    }
}

#[test]
fn interleaved_chunked_messages_reassemble_independently() {
    let mut enc = Encoder::new(Serialization::Binary);
    let a = Value::Binary(vec![1; 40_000]);
    let b = Value::from("b".repeat(50_000));
    let fa = enc.encode(&a).unwrap();
    let fb = enc.encode(&b).unwrap();
    let mut dec = Decoder::new(Serialization::Binary);
    let mut got = Vec::new();
    let mut ia = fa.into_iter();
    let mut ib = fb.into_iter();
    loop {
        let (x, y) = (ia.next(), ib.next());
        if x.is_none() && y.is_none() {
            break;
        }
        for f in [x, y].into_iter().flatten() {
            got.extend(dec.decode(f).unwrap());
        }
    }
    assert_eq!(got.len(), 2);
    assert!(got.contains(&Incoming::Data(a)) && got.contains(&Incoming::Data(b)));
}

#[test]
fn reassembly_past_the_size_bound_is_a_clear_error() {
    let opts = CodecOptions::default().max_message_size(30_000);
    let mut dec = Decoder::with_options(Serialization::Binary, opts);
    let frames = Encoder::new(Serialization::Binary)
        .encode(&Value::Binary(vec![0; 40_000]))
        .unwrap();
    let results: Vec<_> = frames.into_iter().map(|f| dec.decode(f)).collect();
    assert!(
        matches!(results[1], Err(CodecError::ReassemblyLimit(_))),
        "{results:?}"
    );
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().map_or(true, Vec::is_empty))
    );
}

#[test]
fn flush_close_is_recognised_in_every_serialization_that_has_it() {
    for s in [
        Serialization::Binary,
        Serialization::Json,
        Serialization::MsgPack,
    ] {
        let mut enc = Encoder::new(s);
        let mut dec = Decoder::new(s);
        let frames = enc.encode_close().unwrap();
        let got: Vec<_> = frames
            .into_iter()
            .flat_map(|f| dec.decode(f).unwrap())
            .collect();
        assert_eq!(got, vec![Incoming::Close], "{s}");
    }
    assert!(
        Encoder::new(Serialization::Raw)
            .encode_close()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn what_a_javascript_receiver_cannot_take_is_refused() {
    for s in [
        Serialization::Binary,
        Serialization::Json,
        Serialization::MsgPack,
    ] {
        let mut enc = Encoder::new(s);
        assert_eq!(enc.encode(&Value::Nil), Err(CodecError::TopLevelNil), "{s}");
        // The close control message is refused as data everywhere.
        let close = Value::Map(vec![(
            "__peerData".into(),
            Value::Map(vec![("type".into(), "close".into())]),
        )]);
        assert_eq!(enc.encode(&close), Err(CodecError::ReservedKey), "{s}");
        // Any other truthy __peerData is a chunk to a BinaryPack receiver only; PeerJS 1.5's
        // JSON and MsgPack receivers deliver it.
        let other = Value::Map(vec![("__peerData".into(), 1.into())]);
        if s == Serialization::Binary {
            assert_eq!(enc.encode(&other), Err(CodecError::ReservedKey), "{s}");
        } else {
            assert!(enc.encode(&other).is_ok(), "{s}");
        }
        // A falsy __peerData is ordinary data for PeerJS.
        let falsy = Value::Map(vec![("__peerData".into(), 0.into())]);
        assert!(enc.encode(&falsy).is_ok(), "{s}");
    }
    // NaN and infinities would be a top-level null in JSON.
    let mut json_nan = Encoder::new(Serialization::Json);
    assert_eq!(
        json_nan.encode(&Value::Float(f64::NAN)),
        Err(CodecError::TopLevelNil)
    );
    // PeerJS 1.3/1.4: JSON as text without 1.5's size limit, BMP-only BinaryPack strings, no
    // flush-close.
    let legacy = CodecOptions::default().legacy_peerjs(true);
    let mut json_old = Encoder::with_options(Serialization::Json, legacy.clone());
    let long = Value::from("x".repeat(20_000));
    assert!(matches!(
        json_old.encode(&long).unwrap().as_slice(),
        [Frame::Text(_)]
    ));
    assert!(json_old.encode_close().unwrap().is_empty());
    let mut bp_old = Encoder::with_options(Serialization::Binary, legacy);
    assert!(matches!(
        bp_old.encode(&Value::from("😀")),
        Err(CodecError::Unsupported { .. })
    ));
    assert!(bp_old.encode(&Value::from("é€")).is_ok());
    let nested_emoji = Value::Array(vec![Value::Map(vec![("k".into(), "a😀".into())])]);
    assert!(matches!(
        bp_old.encode(&nested_emoji),
        Err(CodecError::Unsupported { .. })
    ));
    assert!(
        Encoder::new(Serialization::Binary)
            .encode(&nested_emoji)
            .is_ok()
    );
    // MsgPack: map keys other than strings and numbers, at any depth, stop a PeerJS receiver.
    let mut msgpack = Encoder::new(Serialization::MsgPack);
    let bool_key = Value::Array(vec![
        1.into(),
        Value::Map(vec![(
            "ok".into(),
            Value::Map(vec![(Value::Bool(true), 1.into())]),
        )]),
    ]);
    assert!(matches!(
        msgpack.encode(&bool_key),
        Err(CodecError::Unsupported { .. })
    ));
    let number_keys = Value::Map(vec![(1.into(), Value::Map(vec![(2.5.into(), "x".into())]))]);
    assert!(msgpack.encode(&number_keys).is_ok());
    assert!(matches!(
        Encoder::new(Serialization::Binary).encode(&Value::Float(5e-324)),
        Err(CodecError::Unsupported { .. })
    ));
    let mut raw = Encoder::new(Serialization::Raw);
    assert!(matches!(
        raw.encode(&Value::Int(1)),
        Err(CodecError::Unsupported { .. })
    ));
    let mut json_enc = Encoder::new(Serialization::Json);
    let big = Value::from("x".repeat(json::MAX_SIZE));
    assert!(matches!(
        json_enc.encode(&big),
        Err(CodecError::MessageTooBig { .. })
    ));
}

#[test]
fn json_goes_as_text_to_legacy_peers_and_either_is_accepted() {
    let v = Value::Map(vec![("a".into(), "é".into())]);
    let mut legacy = Encoder::with_options(
        Serialization::Json,
        CodecOptions::default().json_text_frames(true),
    );
    let frames = legacy.encode(&v).unwrap();
    assert_eq!(frames, vec![Frame::Text(r#"{"a":"é"}"#.into())]);
    let mut modern = Encoder::new(Serialization::Json);
    assert_eq!(
        modern.encode(&v).unwrap(),
        vec![Frame::Binary(r#"{"a":"é"}"#.as_bytes().to_vec())]
    );
    let mut dec = Decoder::new(Serialization::Json);
    for f in [frames[0].clone(), Frame::Binary(r#"{"a":"é"}"#.into())] {
        assert_eq!(dec.decode(f).unwrap(), vec![Incoming::Data(v.clone())]);
    }
}

#[test]
fn msgpack_messages_are_cut_into_32_kib_pieces() {
    let v = Value::Binary(vec![3; 70_000]);
    let frames = Encoder::new(Serialization::MsgPack).encode(&v).unwrap();
    let sizes: Vec<usize> = frames.iter().map(Frame::len).collect();
    assert_eq!(sizes, vec![32768, 32768, 4469]);
}

#[test]
fn msgpack_refuses_map_keys_javascript_cannot_decode() {
    let mut enc = Encoder::new(Serialization::MsgPack);
    for key in [
        Value::Nil,
        Value::Bool(true),
        Value::Binary(vec![1]),
        Value::Array(vec![]),
    ] {
        let nested = Value::Array(vec![Value::Map(vec![(key.clone(), Value::Int(1))])]);
        assert!(
            matches!(enc.encode(&nested), Err(CodecError::Unsupported { .. })),
            "{key:?}"
        );
    }
    let ok = Value::Map(vec![
        (Value::Int(1), 1.into()),
        (Value::Float(1.5), 2.into()),
        ("s".into(), 3.into()),
    ]);
    assert!(enc.encode(&ok).is_ok());
    // The low-level encoder writes any MessagePack, for Rust peers that want it.
    let mut raw = Vec::new();
    msgpack::encode(&Value::Map(vec![(Value::Nil, Value::Nil)]), &mut raw).unwrap();
    assert_eq!(raw, [0x81, 0xc0, 0xc0]);
}
