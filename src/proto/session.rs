//! A PeerJS peer's signaling session, sans-IO: registration with the server, heartbeats, the
//! outgoing queue, and the negotiation of every connection, as PeerJS 1.5 does it.
//!
//! The backend owns the WebSocket, the HTTP client, the timers and the WebRTC stack. It tells
//! the session what happened (`handle_*`, with the current time) and carries out what the
//! session asks for ([`Session::poll_output`]), and it calls [`Session::handle_timeout`] when
//! [`Session::poll_timeout`] says so. The session never blocks, reads a clock or draws random
//! numbers: connection ids and tokens come in as arguments.
//!
//! What the session does beyond PeerJS, as a demanding user expects:
//!
//! * messages sent before the WebSocket is open are queued, not dropped;
//! * candidates that arrive before their OFFER are kept (bounded) and replayed;
//! * an answerer sends its ANSWER before any of its candidates, and an offerer its OFFER first;
//! * `EXPIRE` fails every pending connection to that peer with `peer-unavailable`, not only the
//!   peer;
//! * a missing `OPEN` after a same-token reconnect does not stall the session.

use crate::time::{Duration, Instant};
use std::collections::{HashMap, VecDeque};

use serde_json::Value as Json;

use crate::error::{Error, ErrorKind};
use crate::proto::codec::Serialization;
use crate::proto::signaling::{
    AnswerPayload, CandidatePayload, ConnectionType, IceCandidate, Message, OfferPayload,
    ServerLocation, SessionDescription, Signal, SignalKind, validate_id,
};

/// How many signaling messages wait for the WebSocket at most.
const MAX_OUTBOX: usize = 10_000;
/// Connection ids whose early messages are kept, and messages kept per id.
const MAX_LOST_IDS: usize = 64;
const MAX_LOST_PER_ID: usize = 128;

/// The session's settings.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// Where the PeerJS server is.
    pub server: ServerLocation,
    /// The id to register, or `None` to ask the server for one.
    pub id: Option<String>,
    /// The token that proves the id is ours across reconnects.
    pub token: String,
    /// How often to send `HEARTBEAT` (PeerJS's `pingInterval`, 5 s).
    pub ping_interval: Duration,
}

/// Everything known about a data connection when it is offered or received.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectionInfo {
    /// `dc_…`: the connection's id.
    pub connection_id: String,
    /// The remote peer's id.
    pub peer: String,
    /// The data channel's label.
    pub label: String,
    /// The metadata attached by the offerer.
    pub metadata: Option<Json>,
    /// The serialization both sides use.
    pub serialization: Serialization,
    /// Whether the channel is ordered.
    pub reliable: bool,
    /// Whether the remote is PeerJS 1.3/1.4 (it sent `browser`): JSON then goes as text.
    pub legacy: bool,
}

/// What the backend must do with the WebRTC stack.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum RtcCommand {
    /// Create a peer connection with one data channel (`ordered = reliable`) and an offer, then
    /// report the offer with [`Session::handle_local_description`] and each local candidate
    /// with [`Session::handle_local_candidate`].
    Offer(ConnectionInfo),
    /// A remote peer offers a connection: create a peer connection, apply `offer`, create an
    /// answer and report it (and the candidates) as for [`RtcCommand::Offer`]. The application
    /// learns of the connection now, before it opens.
    Accept {
        /// The connection.
        info: ConnectionInfo,
        /// The remote offer.
        offer: SessionDescription,
    },
    /// Apply the remote answer to an offered connection.
    Answer {
        /// The connection.
        connection_id: String,
        /// The remote answer.
        answer: SessionDescription,
        /// Whether the answerer is PeerJS 1.3/1.4.
        legacy: bool,
    },
    /// Add a remote ICE candidate.
    Candidate {
        /// The connection.
        connection_id: String,
        /// The candidate.
        candidate: IceCandidate,
    },
    /// Close the connection's peer connection, failing it with `error` if there is one.
    Close {
        /// The connection.
        connection_id: String,
        /// Why, when the connection failed rather than closed.
        error: Option<Error>,
    },
}

/// What happened, for the application.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum SessionEvent {
    /// Registered with the server under this id.
    Open(String),
    /// The connection to the server is gone (the id is kept for [`Session::reconnect`]).
    Disconnected(String),
    /// The session is destroyed.
    Closed,
    /// A peer-level error, as PeerJS emits on the `Peer`.
    Error(Error),
}

/// What the backend must do next.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Output {
    /// Ask the server for an id (`GET`), then call [`Session::handle_id`].
    FetchId(String),
    /// Open the WebSocket at this URL, then call [`Session::handle_socket_open`] or
    /// [`Session::handle_socket_closed`].
    OpenSocket(String),
    /// Close the WebSocket.
    CloseSocket,
    /// Send this text frame on the WebSocket.
    Send(String),
    /// Something for the WebRTC stack.
    Rtc(RtcCommand),
    /// Something for the application.
    Event(SessionEvent),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Not started, or waiting for the id.
    Starting,
    /// The WebSocket is being opened or is open.
    Connected,
    /// Disconnected from the server (by us, or the socket was lost).
    Disconnected,
    /// Destroyed: nothing more happens.
    Destroyed,
}

#[derive(Debug)]
struct Conn {
    peer: String,
    /// Whether our description (OFFER or ANSWER) has been sent; our candidates wait for it.
    described: bool,
    held: Vec<IceCandidate>,
    open: bool,
    offer: Option<ConnectionInfo>,
}

/// A PeerJS peer's signaling session. See the [module docs](self).
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    id: Option<String>,
    state: State,
    socket_open: bool,
    /// Whether the server has ever accepted this id (an `OPEN`, or a socket that stayed up).
    opened: bool,
    outbox: VecDeque<String>,
    next_heartbeat: Option<Instant>,
    conns: HashMap<String, Conn>,
    lost: HashMap<String, (String, Vec<Signal>)>,
    lost_order: VecDeque<String>,
    outputs: VecDeque<Output>,
}

impl Session {
    /// A session that has not started.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidId`] if the id breaks PeerJS's id rule, and
    /// [`ErrorKind::InvalidArgument`] if the server location is unusable.
    pub fn new(config: SessionConfig) -> Result<Self, Error> {
        if let Some(id) = &config.id {
            validate_id(id)?;
        }
        config.server.validate()?;
        let id = config.id.clone().filter(|id| !id.is_empty());
        Ok(Self {
            config,
            id,
            state: State::Starting,
            socket_open: false,
            opened: false,
            outbox: VecDeque::new(),
            next_heartbeat: None,
            conns: HashMap::new(),
            lost: HashMap::new(),
            lost_order: VecDeque::new(),
            outputs: VecDeque::new(),
        })
    }

    /// Starts: asks for an id if there is none (`cache_bust` goes in its URL), else opens the
    /// WebSocket.
    pub fn start(&mut self, cache_bust: &str) {
        if self.state != State::Starting {
            return;
        }
        match &self.id {
            Some(_) => self.open_socket(),
            None => {
                let url = self.config.server.id_url(cache_bust);
                self.outputs.push_back(Output::FetchId(url));
            }
        }
    }

    /// Our id, once known.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The token.
    pub fn token(&self) -> &str {
        &self.config.token
    }

    /// Whether the server has accepted our id and the WebSocket is up.
    pub fn is_open(&self) -> bool {
        self.state == State::Connected && self.socket_open && self.opened
    }

    /// Whether we are disconnected from the server.
    pub fn is_disconnected(&self) -> bool {
        self.state == State::Disconnected
    }

    /// Whether the session is destroyed.
    pub fn is_destroyed(&self) -> bool {
        self.state == State::Destroyed
    }

    /// The next thing the backend must do, if any. Call until it returns `None` after every
    /// `handle_*` call and every method that acts.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`Session::handle_timeout`] must be called next. It may change after any
    /// `handle_*` call.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_heartbeat
    }

    /// Time has passed: sends a `HEARTBEAT` when one is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(due) = self.next_heartbeat else {
            return;
        };
        if now < due {
            return;
        }
        if self.socket_open && self.state == State::Connected {
            self.outputs
                .push_back(Output::Send(Message::heartbeat().to_json()));
            let mut next = due + self.config.ping_interval;
            if next <= now {
                next = now + self.config.ping_interval;
            }
            self.next_heartbeat = Some(next);
        } else {
            self.next_heartbeat = None;
        }
    }

    /// The server's answer to [`Output::FetchId`].
    pub fn handle_id(&mut self, result: Result<String, Error>) {
        if self.state != State::Starting {
            return;
        }
        match result {
            Ok(id) if !id.is_empty() => {
                self.id = Some(id);
                self.open_socket();
            }
            Ok(_) => self.abort(Error::new(
                ErrorKind::ServerError,
                "Could not get an ID from the server: it sent an empty id.",
            )),
            Err(e) => self.abort(Error::with_source(
                ErrorKind::ServerError,
                format!("Could not get an ID from the server: {}", e.message()),
                e,
            )),
        }
    }

    /// The WebSocket is open: queued messages go out and heartbeats start.
    pub fn handle_socket_open(&mut self, now: Instant) {
        if self.state != State::Connected {
            return;
        }
        self.socket_open = true;
        self.next_heartbeat = Some(now + self.config.ping_interval);
        while let Some(text) = self.outbox.pop_front() {
            self.outputs.push_back(Output::Send(text));
        }
    }

    /// The WebSocket closed or could not be opened. Unless we closed it, this is PeerJS's
    /// `network` error ("Lost connection to server."), and the session is disconnected.
    pub fn handle_socket_closed(&mut self) {
        let was_open = self.socket_open;
        self.socket_open = false;
        self.next_heartbeat = None;
        if self.state != State::Connected {
            return;
        }
        let message = if was_open {
            "Lost connection to server."
        } else {
            "Could not connect to the server."
        };
        self.emit(SessionEvent::Error(Error::new(ErrorKind::Network, message)));
        if self.opened {
            self.disconnect();
        } else {
            // Never registered: nothing to reconnect to.
            self.destroy();
        }
    }

    /// A text frame from the server.
    pub fn handle_socket_text(&mut self, text: &str) {
        if self.state != State::Connected {
            return;
        }
        let signal = match Signal::parse(text) {
            Ok(s) => s,
            Err(e) => {
                // PeerJS logs and ignores what it cannot read.
                tracing::warn!(error = %e, "ignoring an unreadable message from the server");
                return;
            }
        };
        match signal.kind {
            SignalKind::Open => {
                self.opened = true;
                if let Some(id) = self.id.clone() {
                    self.emit(SessionEvent::Open(id));
                }
            }
            SignalKind::IdTaken { .. } => {
                let id = self.id.clone().unwrap_or_default();
                self.abort(Error::new(
                    ErrorKind::UnavailableId,
                    format!("ID \"{id}\" is taken"),
                ));
            }
            SignalKind::InvalidKey { .. } => {
                let key = self.config.server.key.clone();
                self.abort(Error::new(
                    ErrorKind::InvalidKey,
                    format!("API KEY \"{key}\" is invalid"),
                ));
            }
            SignalKind::Error { ref msg } => {
                let msg = msg.clone();
                self.abort(Error::new(ErrorKind::ServerError, msg));
            }
            SignalKind::Expire => {
                if let Some(peer) = signal.src {
                    self.peer_unavailable(&peer);
                }
            }
            SignalKind::Leave => {
                if let Some(peer) = signal.src {
                    self.close_peer(&peer);
                }
            }
            SignalKind::Offer(_) | SignalKind::Answer(_) | SignalKind::Candidate(_) => {
                self.handle_connection_signal(signal);
            }
            _ => {}
        }
    }

    /// Starts a data connection to `peer`: the backend gets [`RtcCommand::Offer`].
    /// `connection_id` must be fresh (see [`connection_id`](crate::proto::signaling::connection_id)).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Disconnected`] when disconnected from the server (PeerJS refuses then too),
    /// [`ErrorKind::ConnectionClosed`] when destroyed, [`ErrorKind::InvalidArgument`] for a
    /// connection id already in use.
    pub fn connect(&mut self, info: ConnectionInfo) -> Result<(), Error> {
        match self.state {
            State::Disconnected => {
                return Err(Error::new(
                    ErrorKind::Disconnected,
                    "Cannot connect to new Peer after disconnecting from server.",
                ));
            }
            State::Destroyed => {
                return Err(Error::new(
                    ErrorKind::ConnectionClosed,
                    "the peer is destroyed",
                ));
            }
            State::Starting | State::Connected => {}
        }
        if self.conns.contains_key(&info.connection_id) {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("connection id {} is already in use", info.connection_id),
            ));
        }
        self.conns.insert(
            info.connection_id.clone(),
            Conn {
                peer: info.peer.clone(),
                described: false,
                held: Vec::new(),
                open: false,
                offer: Some(info.clone()),
            },
        );
        self.outputs.push_back(Output::Rtc(RtcCommand::Offer(info)));
        Ok(())
    }

    /// The WebRTC stack produced our description (the offer for a connection we started, the
    /// answer for one we accepted): it goes to the peer, followed by any candidates held.
    pub fn handle_local_description(&mut self, connection_id: &str, sdp: SessionDescription) {
        let Some(conn) = self.conns.get_mut(connection_id) else {
            return;
        };
        if conn.described {
            return;
        }
        conn.described = true;
        let peer = conn.peer.clone();
        let held = std::mem::take(&mut conn.held);
        let message = match conn.offer.take() {
            Some(info) => {
                let mut payload = OfferPayload::data(
                    sdp,
                    info.connection_id.clone(),
                    info.label,
                    info.reliable,
                    info.serialization.wire_name(),
                );
                payload.metadata = info.metadata;
                Message::offer(peer.clone(), payload)
            }
            None => Message::answer(
                peer.clone(),
                AnswerPayload::new(sdp, ConnectionType::Data, connection_id),
            ),
        };
        self.send(message.to_json());
        for candidate in held {
            self.send_candidate(&peer, connection_id, candidate);
        }
    }

    /// The WebRTC stack found a local ICE candidate. It is sent after our description.
    pub fn handle_local_candidate(&mut self, connection_id: &str, candidate: IceCandidate) {
        let Some(conn) = self.conns.get_mut(connection_id) else {
            return;
        };
        if candidate.candidate.is_empty() {
            // The end of candidates: PeerJS never sends it.
            return;
        }
        if !conn.described {
            conn.held.push(candidate);
            return;
        }
        let peer = conn.peer.clone();
        self.send_candidate(&peer, connection_id, candidate);
    }

    /// The connection's data channel opened.
    pub fn handle_connection_open(&mut self, connection_id: &str) {
        if let Some(conn) = self.conns.get_mut(connection_id) {
            conn.open = true;
        }
    }

    /// The connection closed (either side); the session forgets it.
    pub fn handle_connection_closed(&mut self, connection_id: &str) {
        self.conns.remove(connection_id);
    }

    /// Disconnects from the server, keeping the id and the open connections (PeerJS's
    /// `disconnect()`). No-op when already disconnected or destroyed.
    pub fn disconnect(&mut self) {
        if self.state != State::Connected && self.state != State::Starting {
            return;
        }
        self.state = State::Disconnected;
        self.socket_open = false;
        self.next_heartbeat = None;
        self.outputs.push_back(Output::CloseSocket);
        let id = self.id.clone().unwrap_or_default();
        self.emit(SessionEvent::Disconnected(id));
    }

    /// Reconnects to the server with the same id and token (PeerJS's `reconnect()`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ConnectionClosed`] when destroyed, [`ErrorKind::InvalidArgument`] when not
    /// disconnected.
    pub fn reconnect(&mut self) -> Result<(), Error> {
        match self.state {
            State::Disconnected if self.id.is_some() => {
                self.open_socket();
                Ok(())
            }
            State::Disconnected => {
                self.state = State::Starting;
                Ok(())
            }
            State::Destroyed => Err(Error::new(
                ErrorKind::ConnectionClosed,
                "This peer cannot reconnect to the server. It has already been destroyed.",
            )),
            State::Starting | State::Connected => Err(Error::new(
                ErrorKind::InvalidArgument,
                "Peer cannot reconnect because it is not disconnected from the server.",
            )),
        }
    }

    /// Disconnects and closes every connection (PeerJS's `destroy()`).
    pub fn destroy(&mut self) {
        if self.state == State::Destroyed {
            return;
        }
        self.disconnect();
        self.state = State::Destroyed;
        let ids: Vec<String> = self.conns.keys().cloned().collect();
        for connection_id in ids {
            self.conns.remove(&connection_id);
            self.outputs.push_back(Output::Rtc(RtcCommand::Close {
                connection_id,
                error: None,
            }));
        }
        self.outbox.clear();
        self.lost.clear();
        self.lost_order.clear();
        self.emit(SessionEvent::Closed);
    }

    fn open_socket(&mut self) {
        let Some(id) = self.id.as_deref() else { return };
        let url = self.config.server.websocket_url(id, &self.config.token);
        self.state = State::Connected;
        self.socket_open = false;
        self.outputs.push_back(Output::OpenSocket(url));
    }

    /// A fatal error: PeerJS destroys a peer that never opened, else disconnects it.
    fn abort(&mut self, error: Error) {
        self.emit(SessionEvent::Error(error));
        if self.opened {
            self.disconnect();
        } else {
            self.destroy();
        }
    }

    fn emit(&mut self, event: SessionEvent) {
        self.outputs.push_back(Output::Event(event));
    }

    fn send(&mut self, text: String) {
        if self.socket_open && self.state == State::Connected {
            self.outputs.push_back(Output::Send(text));
        } else if self.outbox.len() < MAX_OUTBOX {
            self.outbox.push_back(text);
        } else {
            self.emit(SessionEvent::Error(Error::new(
                ErrorKind::Network,
                "too many signaling messages are waiting for the server connection; one was dropped",
            )));
        }
    }

    fn send_candidate(&mut self, peer: &str, connection_id: &str, candidate: IceCandidate) {
        let payload = CandidatePayload::new(candidate, ConnectionType::Data, connection_id);
        self.send(Message::candidate(peer, payload).to_json());
    }

    fn handle_connection_signal(&mut self, signal: Signal) {
        let Some(src) = signal.src.clone() else {
            return;
        };
        let Some(connection_id) = signal.connection_id().map(str::to_owned) else {
            return;
        };
        match signal.kind {
            SignalKind::Offer(offer) => self.handle_offer(src, offer),
            SignalKind::Answer(answer) => match self.conns.get(&connection_id) {
                Some(conn) if conn.peer == src => {
                    self.outputs.push_back(Output::Rtc(RtcCommand::Answer {
                        connection_id,
                        legacy: answer.is_legacy_peerjs(),
                        answer: answer.sdp,
                    }));
                }
                Some(_) => {
                    tracing::warn!(%src, %connection_id, "ANSWER from the wrong peer ignored")
                }
                None => self.keep_lost(
                    &src,
                    &connection_id,
                    Signal {
                        kind: SignalKind::Answer(answer),
                        ..signal_header(&src)
                    },
                ),
            },
            SignalKind::Candidate(candidate) => match self.conns.get(&connection_id) {
                Some(conn) if conn.peer == src => {
                    self.outputs.push_back(Output::Rtc(RtcCommand::Candidate {
                        connection_id,
                        candidate: candidate.candidate,
                    }));
                }
                Some(_) => {
                    tracing::warn!(%src, %connection_id, "CANDIDATE from the wrong peer ignored")
                }
                None => self.keep_lost(
                    &src,
                    &connection_id,
                    Signal {
                        kind: SignalKind::Candidate(candidate),
                        ..signal_header(&src)
                    },
                ),
            },
            _ => {}
        }
    }

    fn handle_offer(&mut self, src: String, offer: OfferPayload) {
        let connection_id = offer.connection_id.clone();
        if offer.connection_type == ConnectionType::Media {
            self.emit(SessionEvent::Error(Error::new(
                ErrorKind::WebRtc,
                format!(
                    "peer {src} called (a media connection); media calls are not supported yet"
                ),
            )));
            return;
        }
        let name = offer
            .serialization
            .clone()
            .unwrap_or_else(|| "binary".into());
        let Some(serialization) = Serialization::from_wire_name(&name) else {
            self.emit(SessionEvent::Error(Error::new(
                ErrorKind::Serialization,
                format!("peer {src} offered a connection with the unknown serialization {name:?}"),
            )));
            return;
        };
        if let Some(existing) = self.conns.get(&connection_id) {
            if existing.peer != src {
                tracing::warn!(%src, %connection_id, "OFFER reusing another peer's connection id ignored");
                return;
            }
            // PeerJS closes the old connection and starts over; there is no renegotiation.
            self.conns.remove(&connection_id);
            self.outputs.push_back(Output::Rtc(RtcCommand::Close {
                connection_id: connection_id.clone(),
                error: None,
            }));
        }
        let info = ConnectionInfo {
            connection_id: connection_id.clone(),
            peer: src.clone(),
            label: offer.label_or_connection_id().to_owned(),
            metadata: offer.metadata.clone(),
            // MsgPack forces a reliable channel whatever the offer says.
            reliable: offer.is_reliable() || serialization.forces_reliable(),
            legacy: offer.is_legacy_peerjs(),
            serialization,
        };
        self.conns.insert(
            connection_id.clone(),
            Conn {
                peer: src.clone(),
                described: false,
                held: Vec::new(),
                open: false,
                offer: None,
            },
        );
        self.outputs.push_back(Output::Rtc(RtcCommand::Accept {
            info,
            offer: offer.sdp,
        }));
        // Replay what arrived before the offer.
        if let Some((peer, signals)) = self.lost.remove(&connection_id) {
            self.lost_order.retain(|id| id != &connection_id);
            if peer == src {
                for signal in signals {
                    self.handle_connection_signal(signal);
                }
            }
        }
    }

    fn keep_lost(&mut self, src: &str, connection_id: &str, signal: Signal) {
        if !self.lost.contains_key(connection_id) {
            if self.lost_order.len() >= MAX_LOST_IDS {
                if let Some(oldest) = self.lost_order.pop_front() {
                    self.lost.remove(&oldest);
                }
            }
            self.lost_order.push_back(connection_id.to_owned());
            self.lost
                .insert(connection_id.to_owned(), (src.to_owned(), Vec::new()));
        }
        if let Some((peer, signals)) = self.lost.get_mut(connection_id) {
            if peer == src && signals.len() < MAX_LOST_PER_ID {
                signals.push(signal);
            }
        }
    }

    fn peer_unavailable(&mut self, peer: &str) {
        self.emit(SessionEvent::Error(Error::new(
            ErrorKind::PeerUnavailable,
            format!("Could not connect to peer {peer}"),
        )));
        let pending: Vec<String> = self
            .conns
            .iter()
            .filter(|(_, c)| c.peer == peer && !c.open)
            .map(|(id, _)| id.clone())
            .collect();
        for connection_id in pending {
            self.conns.remove(&connection_id);
            let error = Error::new(
                ErrorKind::PeerUnavailable,
                format!("Could not connect to peer {peer}"),
            );
            self.outputs.push_back(Output::Rtc(RtcCommand::Close {
                connection_id,
                error: Some(error),
            }));
        }
    }

    fn close_peer(&mut self, peer: &str) {
        let ids: Vec<String> = self
            .conns
            .iter()
            .filter(|(_, c)| c.peer == peer)
            .map(|(id, _)| id.clone())
            .collect();
        for connection_id in ids {
            self.conns.remove(&connection_id);
            self.outputs.push_back(Output::Rtc(RtcCommand::Close {
                connection_id,
                error: None,
            }));
        }
    }
}

/// A signal header from `src`, to rebuild a kept signal.
fn signal_header(src: &str) -> Signal {
    Signal {
        src: Some(src.to_owned()),
        dst: None,
        kind: SignalKind::Heartbeat,
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
