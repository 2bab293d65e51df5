//! The signaling server's state, sans-IO: registrations, relaying, queues for peers not yet
//! connected, expiry and liveness, exactly as the official `peer` 1.0.x server behaves.
//!
//! The IO layer gives every WebSocket a [`SocketId`], feeds the realm what happens
//! ([`Realm::open`], [`Realm::message`], [`Realm::closed`], [`Realm::tick`]) with the current
//! time, and carries out the [`Action`]s it returns, in order.

use crate::time::{Duration, Instant};
use std::collections::{HashMap, HashSet};

use crate::proto::signaling::{MSG_CONCURRENT_LIMIT, Message, MessageType, WsRequest};

/// A WebSocket, as numbered by the IO layer.
pub(crate) type SocketId = u64;

/// What the IO layer must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Send this text frame on the socket.
    Send(SocketId, String),
    /// Close the socket (after the frames sent before).
    Close(SocketId),
}

/// The realm's settings, named like the official server's options.
#[derive(Clone, Debug)]
pub(crate) struct RealmConfig {
    pub(crate) key: String,
    pub(crate) alive_timeout: Duration,
    pub(crate) expire_timeout: Duration,
    pub(crate) concurrent_limit: usize,
    /// Most messages queued for one offline peer (the official server has no bound).
    pub(crate) max_queued_per_peer: usize,
    /// Most offline peers with a queue at once (the official server has no bound).
    pub(crate) max_queues: usize,
}

#[derive(Debug)]
struct Client {
    token: String,
    last_ping: Instant,
    socket: SocketId,
}

#[derive(Debug)]
struct Queue {
    created: Instant,
    messages: Vec<Message>,
}

/// Registered clients and queued messages.
#[derive(Debug)]
pub(crate) struct Realm {
    config: RealmConfig,
    clients: HashMap<String, Client>,
    /// Which id each registered socket speaks for.
    sockets: HashMap<SocketId, String>,
    queues: HashMap<String, Queue>,
}

impl Realm {
    pub(crate) fn new(config: RealmConfig) -> Self {
        Self {
            config,
            clients: HashMap::new(),
            sockets: HashMap::new(),
            queues: HashMap::new(),
        }
    }

    /// Whether a peer holds this id.
    pub(crate) fn is_registered(&self, id: &str) -> bool {
        self.clients.contains_key(id)
    }

    /// The registered ids (for discovery), sorted.
    pub(crate) fn peer_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.clients.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// How many peers are registered.
    #[cfg(test)]
    pub(crate) fn client_count(&self) -> usize {
        self.clients.len()
    }

    /// A WebSocket was accepted with this request target. Admission as peer 1.0.2 does it:
    /// missing credentials or a wrong key get an `ERROR`, an id held with another token gets
    /// `ID-TAKEN`, the concurrent limit an `ERROR`, each followed by a close; a new id gets
    /// `OPEN` and then the messages queued for it. A client reconnecting with the same token
    /// takes over its registration and its old socket is closed; it gets `OPEN` too, unlike
    /// with the official server, whose silence leaves a PeerJS client that reconnects quickly
    /// waiting for an `open` event that never comes (peerjs-protocol.md §2.4, §3.4).
    pub(crate) fn open(&mut self, socket: SocketId, target: &str, now: Instant) -> Vec<Action> {
        let request = WsRequest::parse(target);
        let credentials = match request.admit(&self.config.key) {
            Ok(c) => c,
            Err(msg) => {
                return vec![
                    Action::Send(socket, Message::error(msg).to_json()),
                    Action::Close(socket),
                ];
            }
        };
        let (id, token) = (credentials.id.to_owned(), credentials.token.to_owned());
        let mut actions = Vec::new();
        if let Some(client) = self.clients.get_mut(&id) {
            if client.token != token {
                return vec![
                    Action::Send(socket, Message::id_taken().to_json()),
                    Action::Close(socket),
                ];
            }
            let old = std::mem::replace(&mut client.socket, socket);
            if old != socket {
                self.sockets.remove(&old);
                actions.push(Action::Close(old));
            }
            actions.push(Action::Send(socket, Message::open().to_json()));
        } else {
            if self.clients.len() >= self.config.concurrent_limit {
                return vec![
                    Action::Send(socket, Message::error(MSG_CONCURRENT_LIMIT).to_json()),
                    Action::Close(socket),
                ];
            }
            self.clients.insert(
                id.clone(),
                Client {
                    token,
                    last_ping: now,
                    socket,
                },
            );
            actions.push(Action::Send(socket, Message::open().to_json()));
        }
        self.sockets.insert(socket, id.clone());
        if let Some(queue) = self.queues.remove(&id) {
            for message in queue.messages {
                self.relay(message, now, &mut actions);
            }
        }
        actions
    }

    /// A text (or binary, decoded as text) frame from a socket. Invalid JSON and messages of
    /// types a server does not handle are ignored, as the official server does (it emits an
    /// `error` event and drops them); so are frames from a socket that is not registered.
    pub(crate) fn message(&mut self, socket: SocketId, text: &str, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        let Some(id) = self.sockets.get(&socket).cloned() else {
            return actions;
        };
        let Ok(message) = Message::parse(text) else {
            return actions;
        };
        match message.kind {
            MessageType::Heartbeat => {
                if let Some(client) = self.clients.get_mut(&id) {
                    client.last_ping = now;
                }
            }
            MessageType::Leave if message.dst.as_deref().is_none_or(str::is_empty) => {
                // A LEAVE without a destination unregisters the sender. The official server keeps
                // the socket open but unregistered; nothing can reach it then, so close it.
                self.remove_client(&id);
                actions.push(Action::Close(socket));
            }
            ref kind if kind.is_relayed() => {
                let message = Message {
                    src: Some(id),
                    ..message
                };
                self.relay(message, now, &mut actions);
            }
            _ => {}
        }
        actions
    }

    /// A socket closed. If it was a client's current socket, the client is removed (messages
    /// queued for its id stay until they expire).
    pub(crate) fn closed(&mut self, socket: SocketId) {
        if let Some(id) = self.sockets.remove(&socket) {
            if self.clients.get(&id).is_some_and(|c| c.socket == socket) {
                self.clients.remove(&id);
            }
        }
    }

    /// Liveness and queue expiry; call every few hundred milliseconds (the official server checks
    /// liveness every 300 ms and sweeps queues every second).
    pub(crate) fn tick(&mut self, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        let dead: Vec<String> = self
            .clients
            .iter()
            .filter(|(_, c)| {
                now.saturating_duration_since(c.last_ping) >= self.config.alive_timeout
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in dead {
            if let Some(client) = self.clients.remove(&id) {
                self.sockets.remove(&client.socket);
                self.queues.remove(&id);
                actions.push(Action::Close(client.socket));
            }
        }
        let expired: Vec<String> = self
            .queues
            .iter()
            .filter(|(_, q)| now.saturating_duration_since(q.created) >= self.config.expire_timeout)
            .map(|(dst, _)| dst.clone())
            .collect();
        let mut seen = HashSet::new();
        for dst in expired {
            let Some(queue) = self.queues.remove(&dst) else {
                continue;
            };
            for message in queue.messages {
                let Some(src) = message.src else { continue };
                if seen.insert((src.clone(), dst.clone())) {
                    self.relay(Message::expire(dst.clone(), src), now, &mut actions);
                }
            }
        }
        actions
    }

    /// Sends a message to its destination, queues it while the destination is offline, or drops
    /// it, as the official server's relay does.
    fn relay(&mut self, message: Message, now: Instant, actions: &mut Vec<Action>) {
        let Some(dst) = message.dst.clone().filter(|d| !d.is_empty()) else {
            return;
        };
        if let Some(client) = self.clients.get(&dst) {
            actions.push(Action::Send(client.socket, message.to_json()));
            return;
        }
        if !message.kind.is_queued_when_offline() {
            return;
        }
        let full = match self.queues.get(&dst) {
            Some(queue) => queue.messages.len() >= self.config.max_queued_per_peer,
            None => self.queues.len() >= self.config.max_queues,
        };
        if full {
            // Beyond the official server: its queues are unbounded. Rather than dropping the
            // message silently, tell the sender at once that the peer is unavailable.
            if let (Some(src), Some(sender)) = (
                message.src.as_ref(),
                message.src.as_ref().and_then(|s| self.clients.get(s)),
            ) {
                actions.push(Action::Send(
                    sender.socket,
                    Message::expire(dst, src.clone()).to_json(),
                ));
            }
            return;
        }
        self.queues
            .entry(dst)
            .or_insert_with(|| Queue {
                created: now,
                messages: Vec::new(),
            })
            .messages
            .push(message);
    }

    fn remove_client(&mut self, id: &str) {
        if let Some(client) = self.clients.remove(id) {
            self.sockets.remove(&client.socket);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn realm() -> Realm {
        Realm::new(RealmConfig {
            key: "peerjs".into(),
            alive_timeout: Duration::from_secs(60),
            expire_timeout: Duration::from_secs(5),
            concurrent_limit: 3,
            max_queued_per_peer: 10,
            max_queues: 10,
        })
    }

    fn send(socket: SocketId, json: &str) -> Action {
        Action::Send(socket, json.to_owned())
    }

    const OPEN: &str = r#"{"type":"OPEN"}"#;

    #[test]
    fn admission_errors_use_the_official_texts() {
        let mut r = realm();
        let now = Instant::now();
        let no_creds = r#"{"type":"ERROR","payload":{"msg":"No id, token, or key supplied to websocket server"}}"#;
        assert_eq!(
            r.open(1, "/peerjs?key=peerjs&id=a", now),
            vec![send(1, no_creds), Action::Close(1)]
        );
        let bad_key = r#"{"type":"ERROR","payload":{"msg":"Invalid key provided"}}"#;
        assert_eq!(
            r.open(2, "/peerjs?key=nope&id=a&token=t", now),
            vec![send(2, bad_key), Action::Close(2)]
        );
        assert_eq!(
            r.open(3, "/peerjs?key=peerjs&id=a&token=t", now),
            vec![send(3, OPEN)]
        );
        let taken = r#"{"type":"ID-TAKEN","payload":{"msg":"ID is taken"}}"#;
        assert_eq!(
            r.open(4, "/peerjs?key=peerjs&id=a&token=other", now),
            vec![send(4, taken), Action::Close(4)]
        );
        assert_eq!(
            r.open(5, "/peerjs?key=peerjs&id=b&token=t", now),
            vec![send(5, OPEN)]
        );
        assert_eq!(
            r.open(6, "/peerjs?key=peerjs&id=c&token=t", now),
            vec![send(6, OPEN)]
        );
        let full =
            r#"{"type":"ERROR","payload":{"msg":"Server has reached its concurrent user limit"}}"#;
        assert_eq!(
            r.open(7, "/peerjs?key=peerjs&id=d&token=t", now),
            vec![send(7, full), Action::Close(7)]
        );
        assert_eq!(r.client_count(), 3);
    }

    #[test]
    fn relay_stamps_the_sender_and_queues_for_offline_peers() {
        let mut r = realm();
        let now = Instant::now();
        r.open(1, "/peerjs?key=peerjs&id=alice&token=t", now);
        let offer = r#"{"type":"OFFER","src":"mallory","dst":"bob","payload":{"x":1}}"#;
        assert_eq!(r.message(1, offer, now), vec![]);
        // Bob connects: OPEN, then the queued offer with alice's id as src.
        let relayed = r#"{"type":"OFFER","src":"alice","dst":"bob","payload":{"x":1}}"#;
        assert_eq!(
            r.open(2, "/peerjs?key=peerjs&id=bob&token=t", now),
            vec![send(2, OPEN), send(2, relayed)]
        );
        let answer = r#"{"type":"ANSWER","dst":"alice","payload":{"y":2}}"#;
        let relayed = r#"{"type":"ANSWER","src":"bob","dst":"alice","payload":{"y":2}}"#;
        assert_eq!(r.message(2, answer, now), vec![send(1, relayed)]);
        // Garbage and unknown types are ignored.
        assert_eq!(r.message(2, "{not json", now), vec![]);
        assert_eq!(r.message(2, r#"{"type":"FOO","dst":"alice"}"#, now), vec![]);
        assert_eq!(r.message(2, r#"{"type":"OFFER"}"#, now), vec![]);
    }

    #[test]
    fn queued_messages_expire_once_per_sender() {
        let mut r = realm();
        let t0 = Instant::now();
        r.open(1, "/peerjs?key=peerjs&id=alice&token=t", t0);
        for _ in 0..3 {
            r.message(1, r#"{"type":"CANDIDATE","dst":"nobody","payload":{}}"#, t0);
        }
        assert_eq!(r.tick(t0 + Duration::from_secs(4)), vec![]);
        assert_eq!(
            r.tick(t0 + Duration::from_secs(5)),
            vec![send(1, r#"{"type":"EXPIRE","src":"nobody","dst":"alice"}"#)]
        );
        assert_eq!(r.tick(t0 + Duration::from_secs(6)), vec![]);
    }

    #[test]
    fn liveness_needs_heartbeats() {
        let mut r = realm();
        let t0 = Instant::now();
        r.open(1, "/peerjs?key=peerjs&id=a&token=t", t0);
        r.open(2, "/peerjs?key=peerjs&id=b&token=t", t0);
        r.message(1, r#"{"type":"HEARTBEAT"}"#, t0 + Duration::from_secs(50));
        // Other traffic does not count as a heartbeat.
        r.message(
            2,
            r#"{"type":"OFFER","dst":"a","payload":{}}"#,
            t0 + Duration::from_secs(50),
        );
        assert_eq!(r.tick(t0 + Duration::from_secs(60)), vec![Action::Close(2)]);
        assert!(r.is_registered("a") && !r.is_registered("b"));
        assert_eq!(
            r.tick(t0 + Duration::from_secs(110)),
            vec![Action::Close(1)]
        );
        assert_eq!(r.client_count(), 0);
    }

    #[test]
    fn same_token_reconnect_takes_over_and_is_confirmed() {
        let mut r = realm();
        let now = Instant::now();
        r.open(1, "/peerjs?key=peerjs&id=a&token=t", now);
        assert_eq!(
            r.open(2, "/peerjs?key=peerjs&id=a&token=t", now),
            vec![Action::Close(1), send(2, OPEN)]
        );
        // The old socket's close does not unregister the id.
        r.closed(1);
        assert!(r.is_registered("a"));
        r.open(3, "/peerjs?key=peerjs&id=b&token=t", now);
        let relayed = r#"{"type":"LEAVE","src":"b","dst":"a"}"#;
        assert_eq!(
            r.message(3, r#"{"type":"LEAVE","dst":"a"}"#, now),
            vec![send(2, relayed)]
        );
        r.closed(2);
        assert!(!r.is_registered("a"));
        assert_eq!(r.peer_ids(), vec!["b".to_owned()]);
    }

    #[test]
    fn queues_are_bounded() {
        let mut r = realm();
        let now = Instant::now();
        r.open(1, "/peerjs?key=peerjs&id=a&token=t", now);
        let mut refused = Vec::new();
        for i in 0..50 {
            let offer = format!(r#"{{"type":"OFFER","dst":"p{}","payload":{i}}}"#, i % 20);
            refused.extend(r.message(1, &offer, now));
        }
        // Only 10 queues may exist: offers to p10..p19 are refused at once with EXPIRE.
        assert_eq!(refused.len(), 20);
        assert!(refused.contains(&send(1, r#"{"type":"EXPIRE","src":"p15","dst":"a"}"#)));
        let later = r.open(2, "/peerjs?key=peerjs&id=p0&token=t", now);
        // OPEN plus the offers for p0 (3 of them: i = 0, 20, 40).
        assert_eq!(later.len(), 4);
        // p1..p9 expire, once each.
        let expired = r.tick(now + Duration::from_secs(5));
        assert_eq!(expired.len(), 9, "{expired:?}");
    }
}
