//! Tests against the exact JSON of the protocol spec's transcripts (§2.9, §4.2, §6).

use serde_json::{Value, json};

use super::*;
use crate::ErrorKind;
use crate::proto::codec::Serialization;

/// alice's OFFER as the JS client sends it (§2.9).
const OFFER_FROM_CLIENT: &str = r#"{"type":"OFFER","payload":{"sdp":{"type":"offer","sdp":"v=0\r\no=- pc2 offer\r\n"},"type":"data","connectionId":"dc_vwv65whgia","metadata":{"hello":"world","n":1},"label":"dc_vwv65whgia","reliable":false,"serialization":"binary"},"dst":"4504fa24-0bd4-403e-9067-60a0ecb6eda1"}"#;
/// The same OFFER as the server relays it.
const OFFER_RELAYED: &str = r#"{"type":"OFFER","src":"alice","dst":"4504fa24-0bd4-403e-9067-60a0ecb6eda1","payload":{"sdp":{"type":"offer","sdp":"v=0\r\no=- pc2 offer\r\n"},"type":"data","connectionId":"dc_vwv65whgia","metadata":{"hello":"world","n":1},"label":"dc_vwv65whgia","reliable":false,"serialization":"binary"}}"#;
const PAYLOAD_OFFER: &str = r#"{"sdp":{"type":"offer","sdp":"v=0\r\no=- pc2 offer\r\n"},"type":"data","connectionId":"dc_vwv65whgia","metadata":{"hello":"world","n":1},"label":"dc_vwv65whgia","reliable":false,"serialization":"binary"}"#;
const CANDIDATE_FROM_CLIENT: &str = r#"{"type":"CANDIDATE","payload":{"candidate":{"candidate":"candidate:1 1 udp 2122260223 192.0.2.1 50002 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"abcd"},"type":"data","connectionId":"dc_vwv65whgia"},"dst":"4504fa24-0bd4-403e-9067-60a0ecb6eda1"}"#;
const PAYLOAD_CANDIDATE: &str = r#"{"candidate":{"candidate":"candidate:1 1 udp 2122260223 192.0.2.1 50002 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"abcd"},"type":"data","connectionId":"dc_vwv65whgia"}"#;
const ANSWER_FROM_CLIENT: &str = r#"{"type":"ANSWER","payload":{"sdp":{"type":"answer","sdp":"v=0\r\no=- pc3 answer\r\n"},"type":"data","connectionId":"dc_vwv65whgia"},"dst":"alice"}"#;
const PAYLOAD_ANSWER: &str = r#"{"sdp":{"type":"answer","sdp":"v=0\r\no=- pc3 answer\r\n"},"type":"data","connectionId":"dc_vwv65whgia"}"#;
/// A PeerJS 1.4 data OFFER, with `browser` (in 1.4's key order).
const OFFER_1_4: &str = r#"{"type":"OFFER","src":"carol","dst":"alice","payload":{"sdp":{"type":"offer","sdp":"v=0\r\n"},"type":"data","connectionId":"dc_ab12cd34ef","metadata":null,"browser":"firefox","label":"chat","reliable":true,"serialization":"binary-utf8"}}"#;
/// A PeerJS 1.5 media OFFER (§6).
const MEDIA_OFFER: &str = r#"{"type":"OFFER","dst":"bob","payload":{"sdp":{"type":"offer","sdp":"…"},"type":"media","connectionId":"mc_xxxxxxxxxx","metadata":{"m":1}}}"#;

fn offer_payload() -> OfferPayload {
    OfferPayload::data(
        SessionDescription::offer("v=0\r\no=- pc2 offer\r\n"),
        "dc_vwv65whgia",
        "dc_vwv65whgia",
        false,
        Serialization::Binary.wire_name(),
    )
    .with_metadata(json!({"hello": "world", "n": 1}))
}

fn candidate_payload() -> CandidatePayload {
    CandidatePayload::new(
        IceCandidate::new("candidate:1 1 udp 2122260223 192.0.2.1 50002 typ host")
            .with_sdp_mid("0")
            .with_sdp_m_line_index(0)
            .with_username_fragment("abcd"),
        ConnectionType::Data,
        "dc_vwv65whgia",
    )
}

// ---- Envelope -------------------------------------------------------------------------------

#[test]
fn parses_every_server_message_of_the_transcript() {
    let msg = |kind, src: Option<&str>, dst: Option<&str>, payload| Message {
        kind,
        src: src.map(str::to_owned),
        dst: dst.map(str::to_owned),
        payload,
    };
    let cases = [
        (
            r#"{"type":"OPEN"}"#,
            msg(MessageType::Open, None, None, None),
        ),
        (
            r#"{"type":"HEARTBEAT"}"#,
            msg(MessageType::Heartbeat, None, None, None),
        ),
        (
            r#"{"type":"EXPIRE","src":"nobody","dst":"alice"}"#,
            msg(MessageType::Expire, Some("nobody"), Some("alice"), None),
        ),
        (
            r#"{"type":"LEAVE","src":"C","dst":"B"}"#,
            msg(MessageType::Leave, Some("C"), Some("B"), None),
        ),
        (
            r#"{"type":"ID-TAKEN","payload":{"msg":"ID is taken"}}"#,
            msg(
                MessageType::IdTaken,
                None,
                None,
                Some(json!({"msg": "ID is taken"})),
            ),
        ),
        (
            r#"{"type":"ERROR","payload":{"msg":"Invalid key provided"}}"#,
            msg(
                MessageType::Error,
                None,
                None,
                Some(json!({"msg": "Invalid key provided"})),
            ),
        ),
        (
            r#"{"type":"INVALID-KEY","payload":{"msg":"whatever"}}"#,
            msg(
                MessageType::InvalidKey,
                None,
                None,
                Some(json!({"msg": "whatever"})),
            ),
        ),
    ];
    for (text, expected) in cases {
        let parsed = Message::parse(text).unwrap();
        assert_eq!(parsed, expected, "{text}");
        // The server's key order is ours, so these re-serialize byte for byte.
        assert_eq!(parsed.to_json(), text);
    }
    assert_eq!(
        Message::parse(r#"{"type":"ERROR","payload":{"msg":"m"}}"#)
            .unwrap()
            .payload_msg(),
        Some("m")
    );
    assert_eq!(Message::open().payload_msg(), None);
}

#[test]
fn parses_relayed_offer_candidate_answer() {
    let offer = Message::parse(OFFER_RELAYED).unwrap();
    assert_eq!(offer.kind, MessageType::Offer);
    assert_eq!(offer.src.as_deref(), Some("alice"));
    assert_eq!(offer.to_json(), OFFER_RELAYED);

    for (text, kind, payload) in [
        (
            CANDIDATE_FROM_CLIENT,
            MessageType::Candidate,
            PAYLOAD_CANDIDATE,
        ),
        (ANSWER_FROM_CLIENT, MessageType::Answer, PAYLOAD_ANSWER),
        (OFFER_FROM_CLIENT, MessageType::Offer, PAYLOAD_OFFER),
    ] {
        let msg = Message::parse(text).unwrap();
        assert_eq!(msg.kind, kind);
        assert_eq!(msg.src, None);
        // The payload is kept verbatim, key order included.
        assert_eq!(msg.payload.as_ref().unwrap().to_string(), payload);
    }
}

#[test]
fn relay_rewrites_client_order_to_server_order() {
    let relayed = Message::parse(OFFER_FROM_CLIENT).unwrap().with_src("alice");
    assert_eq!(relayed.to_json(), OFFER_RELAYED);
    assert_eq!(serde_json::to_string(&relayed).unwrap(), OFFER_RELAYED);
    assert_eq!(relayed.to_string(), OFFER_RELAYED);
}

#[test]
fn constructors_match_the_wire() {
    let cases = [
        (Message::heartbeat(), r#"{"type":"HEARTBEAT"}"#),
        (Message::open(), r#"{"type":"OPEN"}"#),
        (
            Message::id_taken(),
            r#"{"type":"ID-TAKEN","payload":{"msg":"ID is taken"}}"#,
        ),
        (
            Message::error(MSG_NO_CREDENTIALS),
            r#"{"type":"ERROR","payload":{"msg":"No id, token, or key supplied to websocket server"}}"#,
        ),
        (
            Message::error(MSG_INVALID_KEY),
            r#"{"type":"ERROR","payload":{"msg":"Invalid key provided"}}"#,
        ),
        (
            Message::error(MSG_CONCURRENT_LIMIT),
            r#"{"type":"ERROR","payload":{"msg":"Server has reached its concurrent user limit"}}"#,
        ),
        (
            Message::invalid_key("bad"),
            r#"{"type":"INVALID-KEY","payload":{"msg":"bad"}}"#,
        ),
        (
            Message::expire("nobody", "alice"),
            r#"{"type":"EXPIRE","src":"nobody","dst":"alice"}"#,
        ),
        (
            Message::leave("C", "B"),
            r#"{"type":"LEAVE","src":"C","dst":"B"}"#,
        ),
        (
            Message::offer("4504fa24-0bd4-403e-9067-60a0ecb6eda1", offer_payload())
                .with_src("alice"),
            OFFER_RELAYED,
        ),
        (
            Message::answer(
                "alice",
                AnswerPayload::new(
                    SessionDescription::answer("v=0\r\no=- pc3 answer\r\n"),
                    ConnectionType::Data,
                    "dc_vwv65whgia",
                ),
            ),
            r#"{"type":"ANSWER","dst":"alice","payload":{"sdp":{"type":"answer","sdp":"v=0\r\no=- pc3 answer\r\n"},"type":"data","connectionId":"dc_vwv65whgia"}}"#,
        ),
    ];
    for (msg, text) in cases {
        assert_eq!(msg.to_json(), text);
        assert_eq!(Message::parse(text).unwrap(), msg);
    }
    let candidate = Message::candidate("x", candidate_payload());
    assert_eq!(candidate.payload.unwrap().to_string(), PAYLOAD_CANDIDATE);
}

#[test]
fn typed_payloads_serialize_like_peerjs_1_5() {
    assert_eq!(
        serde_json::to_string(&offer_payload()).unwrap(),
        PAYLOAD_OFFER
    );
    assert_eq!(
        serde_json::to_string(&candidate_payload()).unwrap(),
        PAYLOAD_CANDIDATE
    );
    let media = OfferPayload::media(SessionDescription::offer("…"), "mc_xxxxxxxxxx")
        .with_metadata(json!({"m": 1}));
    assert_eq!(
        Message::offer("bob", media).to_json(),
        r#"{"type":"OFFER","dst":"bob","payload":{"sdp":{"type":"offer","sdp":"…"},"type":"media","connectionId":"mc_xxxxxxxxxx","metadata":{"m":1}}}"#
    );
    assert_eq!(
        serde_json::to_string(&ErrorPayload::new("x")).unwrap(),
        r#"{"msg":"x"}"#
    );
}

#[test]
fn tolerant_envelope() {
    // Unknown fields are ignored; unknown types are kept.
    let msg =
        Message::parse(r#"{"extra":[1,2],"type":"FOO","payload":{"a":1},"dst":"b"}"#).unwrap();
    assert_eq!(msg.kind, MessageType::Other("FOO".into()));
    assert_eq!(
        msg.to_json(),
        r#"{"type":"FOO","dst":"b","payload":{"a":1}}"#
    );
    // Types are case-sensitive.
    assert_eq!(
        Message::parse(r#"{"type":"open"}"#).unwrap().kind,
        MessageType::Other("open".into())
    );
    // Non-string src/dst count as absent; an explicit null payload is kept.
    let msg = Message::parse(r#"{"type":"LEAVE","src":5,"dst":null,"payload":null}"#).unwrap();
    assert_eq!(
        (msg.src, msg.dst, msg.payload),
        (None, None, Some(Value::Null))
    );
    // Binary frames: UTF-8 text, invalid bytes replaced rather than rejected.
    let msg = Message::parse_bytes(b"{\"type\":\"OPEN\",\"x\":\"\xff\"}").unwrap();
    assert_eq!(msg, Message::open());
    // Whitespace around the JSON is fine, as for JSON.parse.
    assert_eq!(
        Message::parse(" {\"type\" : \"HEARTBEAT\"}\n").unwrap(),
        Message::heartbeat()
    );
    // serde round trip.
    let value: Message = serde_json::from_str(OFFER_RELAYED).unwrap();
    assert_eq!(value, Message::parse(OFFER_RELAYED).unwrap());
    assert_eq!(Message::try_from(value.to_value()).unwrap(), value);
}

#[test]
fn envelope_errors() {
    let cases = [
        ("", SignalingError::InvalidJson(String::new())),
        ("{", SignalingError::InvalidJson(String::new())),
        (
            "{\"type\":\"OPEN\"} x",
            SignalingError::InvalidJson(String::new()),
        ),
        ("[]", SignalingError::NotAnObject),
        ("\"OPEN\"", SignalingError::NotAnObject),
        ("null", SignalingError::NotAnObject),
        ("{}", SignalingError::MissingType),
        (r#"{"type":null}"#, SignalingError::MissingType),
        (r#"{"type":1}"#, SignalingError::MissingType),
        (r#"{"type":{"x":1}}"#, SignalingError::MissingType),
    ];
    for (text, expected) in cases {
        let err = Message::parse(text).unwrap_err();
        match (&err, &expected) {
            (SignalingError::InvalidJson(_), SignalingError::InvalidJson(_)) => {}
            _ => assert_eq!(err, expected, "{text:?}"),
        }
        assert_eq!(err.kind(), ErrorKind::SocketError);
        assert_eq!(crate::Error::from(err).kind(), ErrorKind::SocketError);
    }
    assert!(Message::parse_bytes(b"\xff\xfe").is_err());
    assert!(serde_json::from_str::<Message>("{}").is_err());
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!(
        "{{\"type\":\"X\",\"payload\":{}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert!(matches!(
        Message::parse(&deep),
        Err(SignalingError::InvalidJson(_))
    ));
}

#[test]
fn message_type_strings_round_trip() {
    let all = [
        MessageType::Open,
        MessageType::Offer,
        MessageType::Answer,
        MessageType::Candidate,
        MessageType::Leave,
        MessageType::Expire,
        MessageType::Heartbeat,
        MessageType::IdTaken,
        MessageType::InvalidKey,
        MessageType::Error,
        MessageType::Other("X-CUSTOM".into()),
    ];
    for kind in all {
        assert_eq!(MessageType::from(kind.as_str()), kind);
        assert_eq!(MessageType::from(kind.to_string()), kind);
    }
    let relayed: Vec<_> = ["OFFER", "ANSWER", "CANDIDATE", "LEAVE", "EXPIRE"]
        .map(|t| MessageType::from(t).is_relayed())
        .to_vec();
    assert_eq!(relayed, [true; 5]);
    assert!(!MessageType::Heartbeat.is_relayed() && !MessageType::Open.is_relayed());
    assert!(MessageType::Offer.is_queued_when_offline());
    assert!(!MessageType::Leave.is_queued_when_offline());
    assert!(!MessageType::Expire.is_queued_when_offline());
}

// ---- Typed view -----------------------------------------------------------------------------

#[test]
fn typed_offer_from_transcript() {
    let signal = Signal::parse(OFFER_RELAYED).unwrap();
    assert_eq!(signal.src.as_deref(), Some("alice"));
    assert_eq!(signal.require_src().unwrap(), "alice");
    assert_eq!(signal.connection_id(), Some("dc_vwv65whgia"));
    assert_eq!(signal.connection_type(), Some(ConnectionType::Data));
    let SignalKind::Offer(offer) = &signal.kind else {
        panic!("{signal:?}")
    };
    assert_eq!(offer, &offer_payload());
    assert_eq!(offer.sdp.sdp_type, SdpType::Offer);
    assert!(!offer.is_legacy_peerjs());
    assert!(!offer.is_reliable());
    assert_eq!(offer.serialization_kind(), Some(Serialization::Binary));
    assert_eq!(offer.label_or_connection_id(), "dc_vwv65whgia");
    // Typed round trip is byte-exact.
    assert_eq!(signal.to_json(), OFFER_RELAYED);
    assert_eq!(
        Message::from(signal),
        Message::parse(OFFER_RELAYED).unwrap()
    );
}

#[test]
fn typed_offer_from_peerjs_1_4() {
    let signal = Signal::parse(OFFER_1_4).unwrap();
    let SignalKind::Offer(offer) = &signal.kind else {
        panic!("{signal:?}")
    };
    assert!(offer.is_legacy_peerjs());
    assert_eq!(offer.browser.as_deref(), Some("firefox"));
    assert_eq!(offer.metadata, Some(Value::Null)); // explicit null is kept
    assert_eq!(offer.label_or_connection_id(), "chat");
    assert!(offer.is_reliable());
    assert_eq!(offer.serialization_kind(), Some(Serialization::BinaryUtf8));
    // Written back in 1.5 order with `browser` last; same JSON value.
    let back = signal.to_json();
    assert_eq!(
        back,
        r#"{"type":"OFFER","src":"carol","dst":"alice","payload":{"sdp":{"type":"offer","sdp":"v=0\r\n"},"type":"data","connectionId":"dc_ab12cd34ef","metadata":null,"label":"chat","reliable":true,"serialization":"binary-utf8","browser":"firefox"}}"#
    );
    let parse = |s: &str| serde_json::from_str::<Value>(s).unwrap();
    assert_eq!(parse(&back), parse(OFFER_1_4));

    let answer = Signal::parse(r#"{"type":"ANSWER","src":"carol","payload":{"sdp":{"type":"answer","sdp":"x"},"type":"data","connectionId":"dc_1","browser":"chrome"}}"#).unwrap();
    let SignalKind::Answer(answer) = answer.kind else {
        panic!()
    };
    assert!(answer.is_legacy_peerjs());
}

#[test]
fn typed_media_offer() {
    let signal = Signal::parse(MEDIA_OFFER).unwrap();
    let SignalKind::Offer(offer) = &signal.kind else {
        panic!("{signal:?}")
    };
    assert_eq!(offer.connection_type, ConnectionType::Media);
    assert_eq!(
        (&offer.label, offer.reliable, &offer.serialization),
        (&None, None, &None)
    );
    assert_eq!(offer.metadata, Some(json!({"m": 1})));
    assert_eq!(offer.serialization_kind(), None);
    assert_eq!(signal.to_json(), MEDIA_OFFER);
}

#[test]
fn typed_candidate_and_answer_from_transcript() {
    let signal = Signal::parse(CANDIDATE_FROM_CLIENT).unwrap();
    let SignalKind::Candidate(candidate) = &signal.kind else {
        panic!("{signal:?}")
    };
    assert_eq!(candidate, &candidate_payload());
    assert_eq!(
        signal.require_src(),
        Err(SignalingError::MissingField {
            message_type: MessageType::Candidate,
            field: "src"
        })
    );
    assert_eq!(
        signal.require_dst().unwrap(),
        "4504fa24-0bd4-403e-9067-60a0ecb6eda1"
    );
    assert_eq!(
        Message::from(signal).payload.unwrap().to_string(),
        PAYLOAD_CANDIDATE
    );

    let signal = Signal::parse(ANSWER_FROM_CLIENT).unwrap();
    let SignalKind::Answer(answer) = &signal.kind else {
        panic!("{signal:?}")
    };
    assert_eq!(
        answer.sdp,
        SessionDescription::answer("v=0\r\no=- pc3 answer\r\n")
    );
    assert!(!answer.is_legacy_peerjs());
    // Written back in the server's key order.
    assert_eq!(
        Message::from(signal).to_json(),
        format!(r#"{{"type":"ANSWER","dst":"alice","payload":{PAYLOAD_ANSWER}}}"#)
    );

    // A minimal candidate (no usernameFragment, null sdpMid) and extra fields.
    let signal = Signal::parse(r#"{"type":"CANDIDATE","src":"b","payload":{"candidate":{"candidate":"c","sdpMid":null,"sdpMLineIndex":1,"x":1},"type":"media","connectionId":"mc_1","y":2}}"#).unwrap();
    let SignalKind::Candidate(c) = signal.kind else {
        panic!()
    };
    assert_eq!(c.candidate, IceCandidate::new("c").with_sdp_m_line_index(1));
    assert_eq!(c.connection_type, ConnectionType::Media);
}

#[test]
fn typed_server_messages() {
    let typed = |s: &str| Signal::parse(s).unwrap().kind;
    assert_eq!(typed(r#"{"type":"OPEN"}"#), SignalKind::Open);
    assert_eq!(
        typed(r#"{"type":"OPEN","payload":{"ignored":1}}"#),
        SignalKind::Open
    );
    assert_eq!(typed(r#"{"type":"HEARTBEAT"}"#), SignalKind::Heartbeat);
    assert_eq!(
        typed(r#"{"type":"EXPIRE","src":"nobody","dst":"alice"}"#),
        SignalKind::Expire
    );
    assert_eq!(
        typed(r#"{"type":"LEAVE","src":"C","dst":"B"}"#),
        SignalKind::Leave
    );
    assert_eq!(
        typed(r#"{"type":"ID-TAKEN","payload":{"msg":"ID is taken"}}"#),
        SignalKind::IdTaken {
            msg: Some(MSG_ID_TAKEN.into())
        }
    );
    // PeerJS ignores the payload of ID-TAKEN and INVALID-KEY, so a missing one is tolerated.
    assert_eq!(
        typed(r#"{"type":"ID-TAKEN"}"#),
        SignalKind::IdTaken { msg: None }
    );
    assert_eq!(
        typed(r#"{"type":"INVALID-KEY","payload":5}"#),
        SignalKind::InvalidKey { msg: None }
    );
    assert_eq!(
        typed(r#"{"type":"ERROR","payload":{"msg":"Invalid key provided"}}"#),
        SignalKind::Error {
            msg: MSG_INVALID_KEY.into()
        }
    );
    assert_eq!(
        typed(r#"{"type":"NEW-THING","payload":[1]}"#),
        SignalKind::Other {
            message_type: "NEW-THING".into(),
            payload: Some(json!([1]))
        }
    );
    let expire = Signal::parse(r#"{"type":"EXPIRE","src":"nobody","dst":"alice"}"#).unwrap();
    assert_eq!(expire.require_src().unwrap(), "nobody");
    assert_eq!(expire.connection_id(), None);
    for (signal, text) in [
        (
            Signal::new(SignalKind::Heartbeat),
            r#"{"type":"HEARTBEAT"}"#,
        ),
        (
            Signal::new(SignalKind::Error { msg: "m".into() }),
            r#"{"type":"ERROR","payload":{"msg":"m"}}"#,
        ),
        (
            Signal::new(SignalKind::IdTaken { msg: None }),
            r#"{"type":"ID-TAKEN"}"#,
        ),
        (
            Signal::new(SignalKind::Expire).with_src("a").with_dst("b"),
            r#"{"type":"EXPIRE","src":"a","dst":"b"}"#,
        ),
    ] {
        assert_eq!(signal.to_json(), text);
        assert_eq!(Signal::parse(text).unwrap(), signal);
    }
}

#[test]
fn typed_payload_errors() {
    let err = |s: &str| Signal::parse(s).unwrap_err();
    // Missing payloads (null counts as missing, as in PeerJS).
    for text in [
        r#"{"type":"OFFER","src":"a"}"#,
        r#"{"type":"ANSWER","src":"a","payload":null}"#,
        r#"{"type":"CANDIDATE","src":"a"}"#,
    ] {
        let e = err(text);
        assert!(matches!(e, SignalingError::MissingPayload { .. }), "{e:?}");
        assert_eq!(e.kind(), ErrorKind::SocketError);
    }
    // Payloads of the wrong shape.
    for text in [
        r#"{"type":"OFFER","payload":"x"}"#,
        r#"{"type":"OFFER","payload":{"type":"data","connectionId":"dc_1"}}"#,
        r#"{"type":"OFFER","payload":{"sdp":{"type":"offer","sdp":"x"},"type":"datachannel","connectionId":"dc_1"}}"#,
        r#"{"type":"OFFER","payload":{"sdp":{"type":"offer","sdp":"x"},"type":"data","connectionId":1}}"#,
        r#"{"type":"OFFER","payload":{"sdp":{"type":"OFFER","sdp":"x"},"type":"data","connectionId":"dc_1"}}"#,
        r#"{"type":"OFFER","payload":{"sdp":{"type":"offer","sdp":"x"},"type":"data","connectionId":"dc_1","reliable":"yes"}}"#,
        r#"{"type":"ANSWER","payload":{"sdp":"v=0","type":"data","connectionId":"dc_1"}}"#,
        r#"{"type":"CANDIDATE","payload":{"candidate":"candidate:1","type":"data","connectionId":"dc_1"}}"#,
        r#"{"type":"CANDIDATE","payload":{"candidate":{"candidate":"c","sdpMLineIndex":-1},"type":"data","connectionId":"dc_1"}}"#,
        r#"{"type":"CANDIDATE","payload":{"candidate":{"candidate":"c","sdpMLineIndex":70000},"type":"data","connectionId":"dc_1"}}"#,
    ] {
        let e = err(text);
        let SignalingError::InvalidPayload {
            message_type,
            reason,
        } = &e
        else {
            panic!("{e:?}")
        };
        assert!(message_type.is_relayed() && !reason.is_empty(), "{e}");
        assert_eq!(e.kind(), ErrorKind::SocketError);
    }
    // The same messages are fine untyped: a server relays them as they are.
    assert!(Message::parse(r#"{"type":"OFFER","payload":"x"}"#).is_ok());
    // A malformed ERROR is the server's fault.
    for text in [
        r#"{"type":"ERROR"}"#,
        r#"{"type":"ERROR","payload":{"msg":5}}"#,
    ] {
        assert_eq!(err(text).kind(), ErrorKind::ServerError, "{text}");
    }
    let e = err(r#"{"type":"ERROR","payload":{}}"#);
    assert_eq!(
        e.to_string(),
        "ERROR message has an invalid payload: missing field `msg`"
    );
}

// ---- Ids and tokens -------------------------------------------------------------------------

#[test]
fn id_rule() {
    for id in [
        "a",
        "A1",
        "a b",
        "a_b-c",
        "",
        "abc123XYZ",
        "4504fa24-0bd4-403e-9067-60a0ecb6eda1",
    ] {
        assert!(is_valid_id(id), "{id:?} should be valid");
        assert_eq!(validate_id(id), Ok(()));
    }
    for id in [
        " a", "a ", "a  b", "a__b", "-a", "a-", "é", "a.b", "_", " ", "a\n", "a-_b", "a\u{0}", "ａ",
    ] {
        assert!(!is_valid_id(id), "{id:?} should be invalid");
        let err = validate_id(id).unwrap_err();
        assert_eq!(err, SignalingError::InvalidId { id: id.to_owned() });
        assert_eq!(err.kind(), ErrorKind::InvalidId);
    }
}

#[test]
fn tokens_look_like_math_random_base36() {
    let samples = [
        0,
        1,
        35,
        36,
        u64::MAX,
        0x0123_4567_89ab_cdef,
        36u64.pow(11) - 1,
        36u64.pow(11),
    ];
    for random in samples {
        let token = token_from_random(random);
        assert!((10..=11).contains(&token.len()), "{token}");
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()),
            "{token}"
        );
    }
    assert_eq!(token_from_random(0), "00000000000");
    assert_eq!(token_from_random(35), "0000000000z");
    assert_eq!(token_from_random(36u64.pow(11) - 1), "zzzzzzzzzzz");
    assert_eq!(token_from_random(36u64.pow(11)), token_from_random(0));
    assert_ne!(token_from_random(1), token_from_random(2));

    let data = connection_id(ConnectionType::Data, 0x0123_4567_89ab_cdef);
    assert!(data.starts_with("dc_") && data.len() == 14, "{data}");
    let media = connection_id(ConnectionType::Media, 7);
    assert_eq!(media, "mc_00000000007");
}

// ---- URLs -----------------------------------------------------------------------------------

#[test]
fn cloud_defaults() {
    let cloud = ServerLocation::default();
    assert!(cloud.is_secure());
    assert_eq!(cloud.validate(), Ok(()));
    assert_eq!(
        cloud.id_url("17958297421470.7916796410399851"),
        "https://0.peerjs.com:443/peerjs/id?ts=17958297421470.7916796410399851&version=1.5.5"
    );
    assert_eq!(
        cloud.peers_url("1"),
        "https://0.peerjs.com:443/peerjs/peers?ts=1&version=1.5.5"
    );
    assert_eq!(
        cloud.websocket_url("alice", "tokenA"),
        "wss://0.peerjs.com:443/peerjs?key=peerjs&id=alice&token=tokenA&version=1.5.5"
    );
    // The cloud host forces TLS even when told otherwise.
    assert!(cloud.clone().with_secure(false).is_secure());
    assert!(
        ServerLocation::new("0.PeerJS.com")
            .with_secure(false)
            .is_secure()
    );
}

#[test]
fn custom_host_port_path() {
    // The transcript's local server (§2.9).
    let local = ServerLocation::new("127.0.0.1").with_port(19222);
    assert!(!local.is_secure());
    assert_eq!(
        local.websocket_url("alice", "tokenA"),
        "ws://127.0.0.1:19222/peerjs?key=peerjs&id=alice&token=tokenA&version=1.5.5"
    );
    assert_eq!(
        local.id_url("17958297421470.7916796410399851"),
        "http://127.0.0.1:19222/peerjs/id?ts=17958297421470.7916796410399851&version=1.5.5"
    );
    // The port stays 443 for a custom host unless set.
    let custom = ServerLocation::new("example.com")
        .with_secure(true)
        .with_path("peerjs")
        .with_key("k");
    assert_eq!(
        custom.websocket_url("a b", "t+&=%"),
        "wss://example.com:443/peerjs/peerjs?key=k&id=a%20b&token=t%2B%26%3D%25&version=1.5.5"
    );
    assert_eq!(
        custom.id_url("x y"),
        "https://example.com:443/peerjs/k/id?ts=x%20y&version=1.5.5"
    );
    assert_eq!(custom.websocket_path(), "/peerjs/peerjs");

    for (path, normalized) in [
        ("", "/"),
        ("/", "/"),
        ("myapp", "/myapp/"),
        ("/myapp", "/myapp/"),
        ("myapp/", "/myapp/"),
        ("/a/b/", "/a/b/"),
        ("/my app?x#y", "/my%20app%3Fx%23y/"),
        ("/é", "/%C3%A9/"),
    ] {
        assert_eq!(
            ServerLocation::default().with_path(path).normalized_path(),
            normalized,
            "{path}"
        );
    }
    // A key is one path segment in the HTTP URLs.
    let slashed = ServerLocation::new("h").with_key("a/b");
    assert_eq!(
        slashed.peers_url("1"),
        "http://h:443/a%2Fb/peers?ts=1&version=1.5.5"
    );
    assert_eq!(
        slashed.websocket_url("i", "t"),
        "ws://h:443/peerjs?key=a%2Fb&id=i&token=t&version=1.5.5"
    );
}

#[test]
fn ipv6_hosts_are_bracketed() {
    let v6 = ServerLocation::new("::1").with_port(9000);
    assert_eq!(
        v6.websocket_url("a", "t"),
        "ws://[::1]:9000/peerjs?key=peerjs&id=a&token=t&version=1.5.5"
    );
    assert_eq!(
        v6.id_url("1"),
        "http://[::1]:9000/peerjs/id?ts=1&version=1.5.5"
    );
    let bracketed = ServerLocation::new("[2001:db8::1]").with_port(9000);
    assert_eq!(
        bracketed.id_url("1"),
        "http://[2001:db8::1]:9000/peerjs/id?ts=1&version=1.5.5"
    );
    let zoned = ServerLocation::new("fe80::1%eth0").with_port(9000);
    assert_eq!(
        zoned.id_url("1"),
        "http://[fe80::1%25eth0]:9000/peerjs/id?ts=1&version=1.5.5"
    );
    assert_eq!(v6.validate(), Ok(()));
}

#[test]
fn invalid_locations() {
    for (location, option) in [
        (ServerLocation::new(""), "host"),
        (ServerLocation::new("/"), "host"),
        (ServerLocation::new("a b"), "host"),
        (ServerLocation::new("user@host"), "host"),
        (ServerLocation::new("host/path"), "host"),
        (ServerLocation::new("h").with_port(0), "port"),
        (ServerLocation::new("h").with_key(""), "key"),
    ] {
        let err = location.validate().unwrap_err();
        assert!(
            matches!(err, SignalingError::InvalidOption { option: o, .. } if o == option),
            "{err}"
        );
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    }
}

#[test]
fn cache_bust_shape() {
    assert_eq!(
        cache_bust(1_795_829_742_147, 7_916_796_410_399_851),
        "17958297421470.7916796410399851"
    );
    assert_eq!(cache_bust(5, 10_000_000_000_000_000), "50");
    assert_eq!(cache_bust(5, 1_000), "50.0000000000001");
    assert_eq!(cache_bust(5, 5_000_000_000_000_000), "50.5");
}

#[test]
fn websocket_urls_round_trip_through_the_server_parser() {
    let location = ServerLocation::new("example.com")
        .with_path("/my app/")
        .with_key("k ey+");
    for (id, token) in [("alice", "tok"), ("a b", "t+&=%#?"), ("ü/ñ", "0")] {
        let url = location.websocket_url(id, token);
        let target = url.split_once("example.com:443").unwrap().1;
        let request = WsRequest::parse(target);
        assert_eq!(request.path, location.websocket_path());
        assert_eq!(request.version.as_deref(), Some(PROTOCOL_VERSION));
        let credentials = request.admit("k ey+").unwrap();
        assert_eq!(
            (credentials.key, credentials.id, credentials.token),
            ("k ey+", id, token)
        );
    }
}

#[test]
fn server_query_parsing() {
    // The last occurrence wins; `+` is a space; escapes are decoded; other keys are ignored.
    let request =
        WsRequest::parse("/peerjs?key=peerjs&id=b&foo=1&id=c&token=t%2B1+2&version=1.5.5");
    assert_eq!(request.path, "/peerjs");
    assert_eq!(request.key.as_deref(), Some("peerjs"));
    assert_eq!(request.id.as_deref(), Some("c"));
    assert_eq!(request.token.as_deref(), Some("t+1 2"));
    assert_eq!(request.version.as_deref(), Some("1.5.5"));

    let request = WsRequest::parse("/peerjs?id=a%20b&%6Bey=x&token=%zz%4&key=%C3%A9%FF&&=v&id");
    assert_eq!(request.id.as_deref(), Some("")); // a bare name has an empty value, and it was last
    assert_eq!(request.key.as_deref(), Some("é\u{FFFD}")); // `%6Bey` was "key", then overwritten
    assert_eq!(request.token.as_deref(), Some("%zz%4"));

    let request = WsRequest::parse("/peerjs/?key=peerjs&id=a&token=t#frag&id=z");
    assert_eq!(request.path, "/peerjs/");
    assert_eq!(request.id.as_deref(), Some("a"));

    let request = WsRequest::parse("/peerjs");
    assert_eq!(
        (
            request.path.as_str(),
            request.key,
            request.id,
            request.token
        ),
        ("/peerjs", None, None, None)
    );
}

#[test]
fn server_admission() {
    let admit = |target: &str| {
        WsRequest::parse(target)
            .admit("peerjs")
            .map(|c| c.id.to_owned())
    };
    assert_eq!(
        admit("/peerjs?key=peerjs&id=alice&token=t"),
        Ok("alice".to_owned())
    );
    assert_eq!(
        admit("/peerjs?key=peerjs&id=a%20b&token=t"),
        Ok("a b".to_owned())
    );
    for target in [
        "/peerjs",
        "/peerjs?key=peerjs&id=alice",
        "/peerjs?key=peerjs&id=&token=t",
        "/peerjs?key=&id=alice&token=t",
        "/peerjs?key=wrong&id=alice", // missing credentials are reported before a wrong key
    ] {
        assert_eq!(admit(target), Err(MSG_NO_CREDENTIALS), "{target}");
    }
    assert_eq!(
        admit("/peerjs?key=PEERJS&id=alice&token=t"),
        Err(MSG_INVALID_KEY)
    );
}

// ---- Properties -----------------------------------------------------------------------------

mod properties {
    use proptest::prelude::*;

    use super::super::*;

    proptest! {
        #[test]
        fn parse_never_panics(text in any::<String>(), bytes in any::<Vec<u8>>()) {
            let _ = Signal::parse(&text);
            let _ = Message::parse_bytes(&bytes);
        }

        #[test]
        fn parsed_messages_round_trip(
            kind in "[A-Z-]{1,12}",
            src in proptest::option::of(any::<String>()),
            dst in proptest::option::of(any::<String>()),
            msg in any::<String>(),
        ) {
            let message = Message {
                kind: MessageType::from(kind),
                src,
                dst,
                payload: Some(serde_json::json!({"msg": msg, "n": [1, -2, true, null]})),
            };
            prop_assert_eq!(Message::parse(&message.to_json()), Ok(message));
        }

        #[test]
        fn query_values_survive_the_server_parser(
            id in any::<String>(),
            token in any::<String>(),
            key in any::<String>(),
            path in any::<String>(),
        ) {
            let location = ServerLocation::new("h").with_key(key.clone()).with_path(path);
            let url = location.websocket_url(&id, &token);
            let target = url.strip_prefix("ws://h:443").unwrap_or_default();
            let request = WsRequest::parse(target);
            prop_assert_eq!(&request.path, &location.websocket_path());
            prop_assert_eq!(request.key, Some(key));
            prop_assert_eq!(request.id, Some(id));
            prop_assert_eq!(request.token, Some(token));
        }

        #[test]
        fn server_parser_never_panics(target in any::<String>()) {
            let request = WsRequest::parse(&target);
            let _ = request.admit("peerjs");
        }

        #[test]
        fn generated_ids_are_valid(random in any::<u64>()) {
            let token = token_from_random(random);
            prop_assert!(is_valid_id(&token));
            prop_assert!(is_valid_id(&connection_id(ConnectionType::Data, random)));
        }
    }
}
