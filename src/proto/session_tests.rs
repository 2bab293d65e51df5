//! Deterministic scenarios for [`Session`]: two sessions, an in-memory relay that behaves like a
//! PeerJS server, a fake WebRTC stack and a simulated clock.

use super::*;
use crate::proto::signaling::{Message, MessageType};

const T: &str = "tok";

fn config(id: Option<&str>) -> SessionConfig {
    SessionConfig {
        server: ServerLocation::new("127.0.0.1").with_port(9000),
        id: id.map(str::to_owned),
        token: T.into(),
        ping_interval: Duration::from_secs(5),
    }
}

fn info(id: &str, peer: &str, serialization: Serialization) -> ConnectionInfo {
    ConnectionInfo {
        connection_id: id.into(),
        peer: peer.into(),
        label: id.into(),
        metadata: Some(serde_json::json!({"m": 1})),
        serialization,
        reliable: false,
        legacy: false,
    }
}

/// Everything a session asked for, by kind.
#[derive(Default, Debug)]
struct Drained {
    sent: Vec<Message>,
    rtc: Vec<RtcCommand>,
    events: Vec<SessionEvent>,
    sockets: Vec<String>,
    fetches: Vec<String>,
    closes: usize,
}

fn drain(s: &mut Session) -> Drained {
    let mut d = Drained::default();
    while let Some(out) = s.poll_output() {
        match out {
            Output::Send(text) => d.sent.push(Message::parse(&text).unwrap()),
            Output::Rtc(c) => d.rtc.push(c),
            Output::Event(e) => d.events.push(e),
            Output::OpenSocket(url) => d.sockets.push(url),
            Output::FetchId(url) => d.fetches.push(url),
            Output::CloseSocket => d.closes += 1,
        }
    }
    d
}

fn open_session(id: &str, now: Instant) -> Session {
    let mut s = Session::new(config(Some(id))).unwrap();
    s.start("cb");
    let d = drain(&mut s);
    assert_eq!(d.sockets.len(), 1);
    s.handle_socket_open(now);
    s.handle_socket_text(r#"{"type":"OPEN"}"#);
    let d = drain(&mut s);
    assert!(matches!(d.events.as_slice(), [SessionEvent::Open(i)] if i == id));
    s
}

/// What the server would relay to `to`, from `from`'s sent messages.
fn relay(from: &str, sent: &[Message], to: &mut Session) {
    for m in sent {
        let relayed = Message {
            src: Some(from.into()),
            ..m.clone()
        };
        to.handle_socket_text(&relayed.to_json());
    }
}

fn kinds(sent: &[Message]) -> Vec<&str> {
    sent.iter().map(|m| m.kind.as_str()).collect()
}

fn candidate(n: u32) -> IceCandidate {
    IceCandidate::new(format!(
        "candidate:{n} 1 udp 2122260223 127.0.0.1 {} typ host",
        50000 + n
    ))
    .with_sdp_mid("0")
}

#[test]
fn offer_made_before_the_socket_opens_is_queued_then_sent_before_its_candidates() {
    let now = Instant::now();
    let mut a = Session::new(config(Some("alice"))).unwrap();
    a.start("cb");
    drain(&mut a);
    a.connect(info("dc_1", "bob", Serialization::Binary))
        .unwrap();
    let d = drain(&mut a);
    assert!(matches!(d.rtc.as_slice(), [RtcCommand::Offer(i)] if i.connection_id == "dc_1"));
    // The stack reports a candidate before the offer, then the offer.
    a.handle_local_candidate("dc_1", candidate(1));
    a.handle_local_description("dc_1", SessionDescription::offer("v=0 offer"));
    a.handle_local_candidate("dc_1", candidate(2));
    assert!(
        drain(&mut a).sent.is_empty(),
        "nothing is sent before the socket opens"
    );
    a.handle_socket_open(now);
    let d = drain(&mut a);
    assert_eq!(kinds(&d.sent), ["OFFER", "CANDIDATE", "CANDIDATE"]);
    let offer = Signal::try_from(d.sent[0].clone()).unwrap();
    let SignalKind::Offer(payload) = offer.kind else {
        panic!("not an offer")
    };
    assert_eq!(offer.dst.as_deref(), Some("bob"));
    assert_eq!(payload.serialization.as_deref(), Some("binary"));
    assert_eq!(payload.metadata, Some(serde_json::json!({"m": 1})));
    assert_eq!(payload.label.as_deref(), Some("dc_1"));
}

#[test]
fn answerer_sends_its_answer_before_any_candidate_and_replays_early_candidates() {
    let now = Instant::now();
    let mut a = open_session("alice", now);
    let mut b = open_session("bob", now);
    a.connect(info("dc_1", "bob", Serialization::Json)).unwrap();
    drain(&mut a);
    a.handle_local_description("dc_1", SessionDescription::offer("v=0 offer"));
    a.handle_local_candidate("dc_1", candidate(1));
    let sent = drain(&mut a).sent;
    // The candidate reaches bob before the offer (the server may reorder queues): kept.
    relay("alice", &sent[1..], &mut b);
    assert!(drain(&mut b).rtc.is_empty());
    relay("alice", &sent[..1], &mut b);
    let d = drain(&mut b);
    match d.rtc.as_slice() {
        [
            RtcCommand::Accept { info, offer },
            RtcCommand::Candidate {
                connection_id,
                candidate: c,
            },
        ] => {
            assert_eq!(info.peer, "alice");
            assert_eq!(info.serialization, Serialization::Json);
            assert_eq!(offer.sdp, "v=0 offer");
            assert_eq!(connection_id, "dc_1");
            assert_eq!(c, &candidate(1));
        }
        other => panic!("{other:?}"),
    }
    b.handle_local_candidate("dc_1", candidate(7));
    assert!(
        drain(&mut b).sent.is_empty(),
        "no candidate before the answer"
    );
    b.handle_local_description("dc_1", SessionDescription::answer("v=0 answer"));
    b.handle_local_candidate("dc_1", candidate(8));
    let sent = drain(&mut b).sent;
    assert_eq!(kinds(&sent), ["ANSWER", "CANDIDATE", "CANDIDATE"]);
    relay("bob", &sent, &mut a);
    let d = drain(&mut a);
    assert!(
        matches!(&d.rtc[0], RtcCommand::Answer { answer, legacy: false, .. } if answer.sdp == "v=0 answer")
    );
    assert_eq!(d.rtc.len(), 3);
}

#[test]
fn expire_fails_every_pending_connection_to_that_peer() {
    let now = Instant::now();
    let mut a = open_session("alice", now);
    a.connect(info("dc_1", "ghost", Serialization::Binary))
        .unwrap();
    a.connect(info("dc_2", "ghost", Serialization::Raw))
        .unwrap();
    a.connect(info("dc_3", "bob", Serialization::Raw)).unwrap();
    drain(&mut a);
    a.handle_socket_text(r#"{"type":"EXPIRE","src":"ghost","dst":"alice"}"#);
    let d = drain(&mut a);
    assert!(
        matches!(&d.events[..], [SessionEvent::Error(e)] if e.kind() == ErrorKind::PeerUnavailable)
    );
    let mut closed: Vec<&str> = d
        .rtc
        .iter()
        .map(|c| match c {
            RtcCommand::Close {
                connection_id,
                error: Some(e),
            } => {
                assert_eq!(e.kind(), ErrorKind::PeerUnavailable);
                connection_id.as_str()
            }
            other => panic!("{other:?}"),
        })
        .collect();
    closed.sort_unstable();
    assert_eq!(closed, ["dc_1", "dc_2"]);
}

#[test]
fn leave_closes_every_connection_to_that_peer() {
    let now = Instant::now();
    let mut a = open_session("alice", now);
    a.connect(info("dc_1", "bob", Serialization::Binary))
        .unwrap();
    a.handle_connection_open("dc_1");
    a.connect(info("dc_2", "carol", Serialization::Binary))
        .unwrap();
    drain(&mut a);
    a.handle_socket_text(r#"{"type":"LEAVE","src":"bob","dst":"alice"}"#);
    let d = drain(&mut a);
    assert!(
        matches!(d.rtc.as_slice(), [RtcCommand::Close { connection_id, error: None }] if connection_id == "dc_1")
    );
}

#[test]
fn heartbeats_follow_the_ping_interval() {
    let t0 = Instant::now();
    let mut a = open_session("alice", t0);
    assert_eq!(a.poll_timeout(), Some(t0 + Duration::from_secs(5)));
    a.handle_timeout(t0 + Duration::from_secs(4));
    assert!(drain(&mut a).sent.is_empty());
    a.handle_timeout(t0 + Duration::from_secs(5));
    assert_eq!(kinds(&drain(&mut a).sent), ["HEARTBEAT"]);
    assert_eq!(a.poll_timeout(), Some(t0 + Duration::from_secs(10)));
    // A late wake-up sends one heartbeat, not a burst.
    a.handle_timeout(t0 + Duration::from_secs(31));
    assert_eq!(kinds(&drain(&mut a).sent), ["HEARTBEAT"]);
    assert_eq!(a.poll_timeout(), Some(t0 + Duration::from_secs(36)));
}

#[test]
fn a_lost_socket_disconnects_and_reconnect_reuses_id_and_token() {
    let now = Instant::now();
    let mut a = open_session("alice", now);
    a.handle_socket_closed();
    let d = drain(&mut a);
    assert!(
        matches!(&d.events[0], SessionEvent::Error(e) if e.kind() == ErrorKind::Network && e.message() == "Lost connection to server.")
    );
    assert!(matches!(&d.events[1], SessionEvent::Disconnected(id) if id == "alice"));
    assert!(a.is_disconnected());
    let err = a
        .connect(info("dc_9", "bob", Serialization::Binary))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Disconnected);
    a.reconnect().unwrap();
    let d = drain(&mut a);
    assert_eq!(d.sockets.len(), 1);
    assert!(
        d.sockets[0].contains("id=alice&token=tok"),
        "{}",
        d.sockets[0]
    );
    // The server still held the old socket: no OPEN comes, but the session works.
    a.handle_socket_open(now);
    a.connect(info("dc_10", "bob", Serialization::Binary))
        .unwrap();
    a.handle_local_description("dc_10", SessionDescription::offer("o"));
    assert_eq!(kinds(&drain(&mut a).sent), ["OFFER"]);
    assert_eq!(
        a.reconnect().unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn fatal_server_messages_destroy_a_peer_that_never_opened() {
    let cases = [
        (
            r#"{"type":"ID-TAKEN","payload":{"msg":"ID is taken"}}"#,
            ErrorKind::UnavailableId,
        ),
        (
            r#"{"type":"INVALID-KEY","payload":{"msg":"x"}}"#,
            ErrorKind::InvalidKey,
        ),
        (
            r#"{"type":"ERROR","payload":{"msg":"Invalid key provided"}}"#,
            ErrorKind::ServerError,
        ),
    ];
    for (text, kind) in cases {
        let mut s = Session::new(config(Some("alice"))).unwrap();
        s.start("cb");
        s.handle_socket_open(Instant::now());
        drain(&mut s);
        s.handle_socket_text(text);
        let d = drain(&mut s);
        assert!(
            matches!(&d.events[0], SessionEvent::Error(e) if e.kind() == kind),
            "{text}"
        );
        assert!(
            matches!(d.events.last(), Some(SessionEvent::Closed)),
            "{text}"
        );
        assert!(s.is_destroyed());
    }
    // After it had opened, the same error only disconnects it (PeerJS's `abort`).
    let mut s = open_session("alice", Instant::now());
    s.handle_socket_text(r#"{"type":"ID-TAKEN","payload":{"msg":"ID is taken"}}"#);
    assert!(s.is_disconnected());
    let err = drain(&mut s).events.into_iter().find_map(|e| match e {
        SessionEvent::Error(e) => Some(e),
        _ => None,
    });
    assert_eq!(
        err.map(|e| e.message().to_owned()).as_deref(),
        Some(r#"ID "alice" is taken"#)
    );
}

#[test]
fn without_an_id_the_server_is_asked_for_one() {
    let mut s = Session::new(config(None)).unwrap();
    s.start("123.45");
    let d = drain(&mut s);
    assert_eq!(
        d.fetches,
        ["http://127.0.0.1:9000/peerjs/id?ts=123.45&version=1.5.5"]
    );
    s.handle_id(Ok("f00d".into()));
    let d = drain(&mut s);
    assert!(d.sockets[0].starts_with("ws://127.0.0.1:9000/peerjs?key=peerjs&id=f00d&token=tok"));
    assert_eq!(s.id(), Some("f00d"));

    let mut s = Session::new(config(None)).unwrap();
    s.start("1");
    drain(&mut s);
    s.handle_id(Err(Error::new(ErrorKind::Network, "connection refused")));
    let d = drain(&mut s);
    assert!(matches!(&d.events[0], SessionEvent::Error(e) if e.kind() == ErrorKind::ServerError));
    assert!(s.is_destroyed());
}

#[test]
fn invalid_ids_are_refused_up_front() {
    let err = Session::new(config(Some("bad id!"))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidId);
}

#[test]
fn offers_are_read_as_peerjs_sends_them() {
    let mut b = open_session("bob", Instant::now());
    // PeerJS 1.4 style: binary-utf8 and a browser field; reliable ignored for legacy.
    b.handle_socket_text(r#"{"type":"OFFER","src":"old","dst":"bob","payload":{"sdp":{"type":"offer","sdp":"x"},"type":"data","connectionId":"dc_a","label":"chat","reliable":false,"serialization":"binary-utf8","browser":"chrome"}}"#);
    // MsgPack forces reliable.
    b.handle_socket_text(r#"{"type":"OFFER","src":"new","dst":"bob","payload":{"sdp":{"type":"offer","sdp":"y"},"type":"data","connectionId":"dc_b","reliable":false,"serialization":"MsgPack"}}"#);
    // Unknown serialization: an error, no connection.
    b.handle_socket_text(r#"{"type":"OFFER","src":"odd","dst":"bob","payload":{"sdp":{"type":"offer","sdp":"z"},"type":"data","connectionId":"dc_c","serialization":"Cbor"}}"#);
    let d = drain(&mut b);
    let infos: Vec<&ConnectionInfo> = d
        .rtc
        .iter()
        .filter_map(|c| match c {
            RtcCommand::Accept { info, .. } => Some(info),
            _ => None,
        })
        .collect();
    assert_eq!(infos.len(), 2);
    assert!(
        infos[0].legacy
            && infos[0].label == "chat"
            && infos[0].serialization == Serialization::BinaryUtf8
    );
    assert!(infos[1].reliable && infos[1].label == "dc_b" && !infos[1].legacy);
    assert!(
        matches!(&d.events[..], [SessionEvent::Error(e)] if e.kind() == ErrorKind::Serialization)
    );
}

#[test]
fn messages_of_other_types_and_garbage_are_ignored() {
    let mut b = open_session("bob", Instant::now());
    for text in [
        "nope",
        "{}",
        r#"{"type":"FOO"}"#,
        r#"{"type":"ANSWER","src":"x"}"#,
    ] {
        b.handle_socket_text(text);
    }
    let d = drain(&mut b);
    assert!(d.rtc.is_empty() && d.events.is_empty() && d.sent.is_empty());
    assert_eq!(Message::heartbeat().kind, MessageType::Heartbeat);
}

#[test]
fn destroy_closes_every_connection_and_the_socket() {
    let mut a = open_session("alice", Instant::now());
    a.connect(info("dc_1", "bob", Serialization::Binary))
        .unwrap();
    drain(&mut a);
    a.destroy();
    let d = drain(&mut a);
    assert_eq!(d.closes, 1);
    assert!(
        matches!(d.rtc.as_slice(), [RtcCommand::Close { connection_id, .. }] if connection_id == "dc_1")
    );
    assert!(matches!(
        d.events.as_slice(),
        [SessionEvent::Disconnected(_), SessionEvent::Closed]
    ));
    assert_eq!(
        a.reconnect().unwrap_err().kind(),
        ErrorKind::ConnectionClosed
    );
}
