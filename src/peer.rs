//! [`Peer`], [`PeerEvent`] and [`DataConnection`]: the PeerJS API.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::backend::imp;
use crate::connection::{ConnCommand, ConnShared, ConnState};
use crate::driver::{Event, PeerHandle, Status};
use crate::error::{Error, ErrorKind};
use crate::options::{ConnectOptions, PeerOptions};
use crate::proto::codec::Serialization;
use crate::proto::session::ConnectionInfo;
use crate::proto::signaling::{ConnectionType, connection_id};
use crate::value::{Value, from_value, to_value};

/// A PeerJS peer: registered with a PeerJS server under an id, it connects to other peers and
/// accepts their connections.
///
/// `Peer` is a cheap handle (clone it freely). The peer lives while a `Peer` handle or one of its
/// [`DataConnection`]s is alive; when the last one is dropped it is destroyed, as with
/// [`Peer::destroy`]. It runs on the tokio runtime it was created on.
///
/// ```no_run
/// use peerjs::{ConnectOptions, Peer, PeerEvent, PeerOptions};
///
/// # async fn run() -> Result<(), peerjs::Error> {
/// let alice = Peer::new(PeerOptions::local("127.0.0.1", 9000).id("alice")).await?;
/// let bob = Peer::new(PeerOptions::local("127.0.0.1", 9000).id("bob")).await?;
///
/// let conn = alice.connect("bob", ConnectOptions::default()).await?;
/// conn.send(&"hello").await?;
///
/// while let Some(event) = bob.next_event().await {
///     if let PeerEvent::Connection(incoming) = event {
///         let text: String = incoming.recv_as().await?;
///         assert_eq!(text, "hello");
///         break;
///     }
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Peer {
    inner: Arc<PeerInner>,
}

struct PeerInner {
    handle: PeerHandle,
    codec_options: crate::proto::codec::CodecOptions,
}

impl Drop for PeerInner {
    fn drop(&mut self) {
        self.handle.destroy();
    }
}

impl fmt::Debug for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Peer")
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}

/// Something that happened to a [`Peer`] (PeerJS's `Peer` events).
#[derive(Debug)]
#[non_exhaustive]
pub enum PeerEvent {
    /// Registered with the server under this id (PeerJS `open`): once at the start, and again
    /// after a [`Peer::reconnect`] when the server sends `OPEN`.
    Open(String),
    /// A remote peer connected (PeerJS `connection`). The connection may not be open yet;
    /// [`DataConnection::recv`] and [`DataConnection::send`] wait for it.
    Connection(DataConnection),
    /// The connection to the server is gone (PeerJS `disconnected`); existing connections stay.
    Disconnected(String),
    /// The peer is destroyed (PeerJS `close`); no more events follow.
    Closed,
    /// An error (PeerJS `error`): see [`Error::kind`] for PeerJS's type. Fatal ones are followed
    /// by [`PeerEvent::Disconnected`] or [`PeerEvent::Closed`].
    Error(Error),
}

impl Peer {
    /// Creates a peer and registers it with the server: resolves once the server has accepted
    /// the id (PeerJS's `open` event).
    ///
    /// # Errors
    ///
    /// PeerJS's errors: [`ErrorKind::InvalidId`], [`ErrorKind::UnavailableId`] (the id is
    /// taken), [`ErrorKind::InvalidKey`], [`ErrorKind::ServerError`] (including a refused key,
    /// or no id from the server), [`ErrorKind::Network`] (the server cannot be reached).
    pub async fn new(options: PeerOptions) -> Result<Self, Error> {
        let codec_options = options.codec.clone();
        let handle = PeerHandle::start(options)?;
        let peer = Self {
            inner: Arc::new(PeerInner {
                handle,
                codec_options,
            }),
        };
        peer.inner.handle.wait_open().await?;
        Ok(peer)
    }

    /// The id, while registered (PeerJS `peer.id`).
    pub fn id(&self) -> Option<String> {
        match self.inner.handle.status() {
            Status::Open(id) => Some(id),
            _ => None,
        }
    }

    /// Whether the peer is registered with the server (PeerJS `open`).
    pub fn is_open(&self) -> bool {
        matches!(self.inner.handle.status(), Status::Open(_))
    }

    /// Whether the peer is disconnected from the server (PeerJS `disconnected`).
    pub fn is_disconnected(&self) -> bool {
        matches!(self.inner.handle.status(), Status::Disconnected)
    }

    /// Whether the peer is destroyed (PeerJS `destroyed`).
    pub fn is_destroyed(&self) -> bool {
        matches!(self.inner.handle.status(), Status::Destroyed(_))
    }

    /// The next event, or `None` once the peer is destroyed and every event was taken. Only one
    /// task should read events.
    pub async fn next_event(&self) -> Option<PeerEvent> {
        let event = self.inner.handle.next_event().await?;
        Some(match event {
            Event::Open(id) => PeerEvent::Open(id),
            Event::Connection(shared) => {
                PeerEvent::Connection(DataConnection::new(shared, self.inner.clone()))
            }
            Event::Disconnected(id) => PeerEvent::Disconnected(id),
            Event::Closed => PeerEvent::Closed,
            Event::Error(e) => PeerEvent::Error(e),
        })
    }

    /// Connects to the peer `peer` and waits until the connection is open (PeerJS's
    /// `peer.connect(id, options)` and the connection's `open` event).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::PeerUnavailable`] if the server knows no such peer,
    /// [`ErrorKind::NegotiationFailed`] if the connection cannot be set up in time (see
    /// [`ConnectOptions::timeout`]), [`ErrorKind::Disconnected`] while disconnected from the
    /// server, [`ErrorKind::WebRtc`] if the WebRTC stack fails.
    pub async fn connect(
        &self,
        peer: &str,
        options: ConnectOptions,
    ) -> Result<DataConnection, Error> {
        let id = connection_id(ConnectionType::Data, imp::random_u64());
        let serialization = options.serialization;
        let info = ConnectionInfo {
            label: options.label.unwrap_or_else(|| id.clone()),
            connection_id: id,
            peer: peer.to_owned(),
            metadata: options.metadata,
            serialization,
            reliable: options.reliable || serialization.forces_reliable(),
            legacy: false,
        };
        let shared = self.inner.handle.connect(info).await?;
        let conn = DataConnection::new(shared, self.inner.clone());
        match timeout(options.timeout, conn.wait_open()).await {
            Some(Ok(())) => Ok(conn),
            Some(Err(e)) => Err(e),
            None => {
                let error = Error::new(
                    ErrorKind::NegotiationFailed,
                    format!(
                        "the connection to {peer} did not open within {:?}",
                        options.timeout
                    ),
                );
                let _ = conn
                    .shared
                    .commands
                    .send(ConnCommand::Close(Some(error.clone())));
                Err(error)
            }
        }
    }

    /// Disconnects from the server, keeping the id, the token and the open connections
    /// (PeerJS `disconnect()`). New connections fail until [`Peer::reconnect`].
    pub fn disconnect(&self) {
        self.inner.handle.disconnect();
    }

    /// Reconnects to the server with the same id and token (PeerJS `reconnect()`). Resolves
    /// once the WebSocket is up: the peer is open again. [`PeerEvent::Open`] follows when the
    /// server confirms; the official server sends no confirmation when it still held the old
    /// connection (this crate's server does).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] when not disconnected, [`ErrorKind::ConnectionClosed`]
    /// when destroyed, [`ErrorKind::Network`] when the server cannot be reached.
    pub async fn reconnect(&self) -> Result<(), Error> {
        self.inner.handle.reconnect().await
    }

    /// Closes every connection and the connection to the server (PeerJS `destroy()`). Returns at
    /// once; [`Peer::closed`] waits until it is done (do that before the process exits, so the
    /// remote peers learn of the close at once rather than when ICE times out).
    pub fn destroy(&self) {
        self.inner.handle.destroy();
    }

    /// Waits until the peer is destroyed and every connection has closed.
    ///
    /// ```no_run
    /// # async fn run(peer: peerjs::Peer) {
    /// peer.destroy();
    /// peer.closed().await;
    /// # }
    /// ```
    pub async fn closed(&self) {
        self.inner.handle.finished().await;
    }

    /// The ids of the peers registered with the server (PeerJS `listAllPeers()`), when the
    /// server allows discovery.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ServerError`] when discovery is off or the server fails,
    /// [`ErrorKind::Network`] when it cannot be reached.
    pub async fn list_all_peers(&self) -> Result<Vec<String>, Error> {
        self.inner.handle.list_all_peers().await
    }

    /// The codec options this peer's connections use.
    pub fn codec_options(&self) -> &crate::proto::codec::CodecOptions {
        &self.inner.codec_options
    }
}

/// A data connection to a remote peer (PeerJS's `DataConnection`): one WebRTC data channel
/// carrying messages in the connection's [`Serialization`].
///
/// Cheap to clone. When the last handle (and the [`Peer`]'s interest in it) is dropped, the
/// connection is closed.
#[derive(Clone)]
pub struct DataConnection {
    shared: Arc<ConnShared>,
    _guard: Arc<CloseOnDrop>,
    _peer: Arc<PeerInner>,
}

struct CloseOnDrop(Arc<ConnShared>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        let _ = self.0.commands.send(ConnCommand::Close(None));
    }
}

impl fmt::Debug for DataConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataConnection")
            .field("peer", &self.shared.info.peer)
            .field("connection_id", &self.shared.info.connection_id)
            .field("serialization", &self.shared.info.serialization)
            .finish_non_exhaustive()
    }
}

impl DataConnection {
    fn new(shared: Arc<ConnShared>, peer: Arc<PeerInner>) -> Self {
        Self {
            _guard: Arc::new(CloseOnDrop(shared.clone())),
            shared,
            _peer: peer,
        }
    }

    /// The remote peer's id.
    pub fn peer(&self) -> &str {
        &self.shared.info.peer
    }

    /// The connection's id (`dc_…`).
    pub fn connection_id(&self) -> &str {
        &self.shared.info.connection_id
    }

    /// The data channel's label.
    pub fn label(&self) -> &str {
        &self.shared.info.label
    }

    /// The metadata the offerer attached, as JSON.
    pub fn metadata(&self) -> Option<&serde_json::Value> {
        self.shared.info.metadata.as_ref()
    }

    /// The metadata as a `T`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Serialization`] if it does not fit `T`.
    pub fn metadata_as<T: DeserializeOwned>(&self) -> Result<Option<T>, Error> {
        self.metadata()
            .map(|m| {
                serde_json::from_value(m.clone()).map_err(|e| {
                    Error::with_source(
                        ErrorKind::Serialization,
                        "the metadata does not fit the type",
                        e,
                    )
                })
            })
            .transpose()
    }

    /// The serialization.
    pub fn serialization(&self) -> Serialization {
        self.shared.info.serialization
    }

    /// Whether messages arrive in order (PeerJS `reliable`).
    pub fn reliable(&self) -> bool {
        self.shared.info.reliable
    }

    /// Whether the connection is open.
    pub fn is_open(&self) -> bool {
        matches!(*self.shared.state.borrow(), ConnState::Open)
    }

    /// Waits until the connection is open.
    ///
    /// # Errors
    ///
    /// Why the connection closed before it opened ([`ErrorKind::PeerUnavailable`],
    /// [`ErrorKind::NegotiationFailed`], …), or [`ErrorKind::ConnectionClosed`].
    pub async fn wait_open(&self) -> Result<(), Error> {
        let mut state = self.shared.state.subscribe();
        loop {
            match &*state.borrow_and_update() {
                ConnState::Open => return Ok(()),
                ConnState::Closed(e) => return Err(closed_error(e.as_ref())),
                ConnState::Connecting => {}
            }
            if state.changed().await.is_err() {
                return Err(closed_error(None));
            }
        }
    }

    /// Waits until the connection is closed, and says why if it failed.
    pub async fn closed(&self) -> Option<Error> {
        let mut state = self.shared.state.subscribe();
        loop {
            if let ConnState::Closed(e) = &*state.borrow_and_update() {
                return e.clone();
            }
            if state.changed().await.is_err() {
                return None;
            }
        }
    }

    /// Sends any serializable value as one message. Waits for the connection to open, and while
    /// the channel holds more unacknowledged data than its send buffer allows, so memory stays
    /// bounded; nothing is dropped.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Serialization`] when the serialization cannot carry the value (for example
    /// a top-level `None`, which PeerJS receivers cannot decode), [`ErrorKind::MessageTooBig`]
    /// (JSON of 16300 bytes or more, raw messages above the channel's limit),
    /// [`ErrorKind::ConnectionClosed`] when the connection closed.
    pub async fn send<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), Error> {
        self.send_value(to_value(value)?).await
    }

    /// Sends a [`Value`] as one message (see [`DataConnection::send`]). Raw connections send
    /// strings as text messages and binary as binary messages, without copying.
    ///
    /// # Errors
    ///
    /// As [`DataConnection::send`].
    pub async fn send_value(&self, value: Value) -> Result<(), Error> {
        self.wait_open().await?;
        let mut sender = self.shared.sender.lock().await;
        match sender.as_mut() {
            Some(sender) => sender.send(value).await,
            None => Err(closed_error(None)),
        }
    }

    /// Waits until everything sent so far has been acknowledged by the remote peer (the
    /// channel's buffered amount is zero).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ConnectionClosed`] (or why it failed) if the connection closes first.
    pub async fn flush(&self) -> Result<(), Error> {
        self.wait_open().await?;
        let channel = match self.shared.sender.lock().await.as_ref() {
            Some(sender) => sender.channel(),
            None => return Err(closed_error(None)),
        };
        loop {
            match channel.buffered().await {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) => {
                    let state = self.shared.state.borrow().clone();
                    return Err(match state {
                        ConnState::Closed(Some(error)) => error,
                        _ => e,
                    });
                }
            }
            tokio::select! {
                () = imp::sleep(std::time::Duration::from_millis(5)) => {}
                error = self.closed() => return Err(closed_error(error.as_ref())),
            }
        }
    }

    /// The next message, as a [`Value`]. Waits for one.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ConnectionClosed`] (or why it failed) once the connection is closed and
    /// every message was taken; [`ErrorKind::Serialization`] for a message that could not be
    /// decoded (the next call continues with the next message).
    pub async fn recv(&self) -> Result<Value, Error> {
        let delivery = self.shared.incoming.lock().await.recv().await;
        match delivery {
            Some(delivery) => delivery.item,
            None => {
                let state = self.shared.state.borrow().clone();
                Err(match state {
                    ConnState::Closed(e) => closed_error(e.as_ref()),
                    _ => closed_error(None),
                })
            }
        }
    }

    /// The next message, converted to a `T`.
    ///
    /// # Errors
    ///
    /// As [`DataConnection::recv`], and [`ErrorKind::Serialization`] when the message does not
    /// fit `T` (the message is consumed).
    pub async fn recv_as<T: DeserializeOwned>(&self) -> Result<T, Error> {
        from_value(self.recv().await?)
    }

    /// Closes the connection now; the remote notices when its channel closes (PeerJS
    /// `close()`). Waits until it is closed.
    pub async fn close(&self) {
        let _ = self.shared.commands.send(ConnCommand::Close(None));
        self.closed().await;
    }

    /// Closes after everything sent so far: sends PeerJS 1.5's flush-close message, after which
    /// the remote closes the connection (PeerJS `close({flush: true})`). If the remote does not
    /// close within `grace`, closes it locally. Raw connections and PeerJS 1.3/1.4 remotes have
    /// no flush-close: they wait until everything sent was acknowledged, then close.
    pub async fn close_flush(&self, grace: std::time::Duration) {
        let sent = {
            let mut sender = self.shared.sender.lock().await;
            match sender.as_mut() {
                Some(sender) => sender.send_close().await.unwrap_or(false),
                None => false,
            }
        };
        if !sent {
            let _ = timeout(grace, self.flush()).await;
            self.close().await;
        } else if timeout(grace, self.closed()).await.is_none() {
            self.close().await;
        }
    }
}

/// `future`'s output, or `None` if it takes longer than `limit`.
async fn timeout<T>(limit: std::time::Duration, future: impl Future<Output = T>) -> Option<T> {
    tokio::select! {
        value = future => Some(value),
        () = imp::sleep(limit) => None,
    }
}

fn closed_error(error: Option<&Error>) -> Error {
    error
        .cloned()
        .unwrap_or_else(|| Error::new(ErrorKind::ConnectionClosed, "the connection is closed"))
}
