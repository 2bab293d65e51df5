//! A peer's driver, on every target: a task that runs the sans-IO [`Session`] against the
//! backend's WebSocket, HTTP client and timer, and one backend task per connection.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch};

use crate::backend::imp::{self, Net, RtcSettings};
use crate::connection::{self, ConnCommand, ConnReport, ConnShared, TaskInputs};
use crate::error::{Error, ErrorKind};
use crate::options::PeerOptions;
use crate::proto::session::{
    ConnectionInfo, Output, RtcCommand, Session, SessionConfig, SessionEvent,
};
use crate::proto::signaling::{ServerLocation, cache_bust, token_from_random};
use crate::time::{Duration, Instant};

/// How long a destroyed peer waits for its connections to close.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Where the peer is in its lifecycle.
#[derive(Clone, Debug)]
pub(crate) enum Status {
    Starting,
    Open(String),
    Disconnected,
    Destroyed(Option<Error>),
}

/// What happened, for the application (see [`crate::PeerEvent`]).
pub(crate) enum Event {
    Open(String),
    Connection(Arc<ConnShared>),
    Disconnected(String),
    Closed,
    Error(Error),
}

enum Command {
    Connect {
        shared: Arc<ConnShared>,
        inputs: TaskInputs,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Disconnect,
    Reconnect(oneshot::Sender<Result<(), Error>>),
    Destroy,
    Id(Result<String, Error>),
    Socket(u64, SocketEvent),
}

/// What the backend's WebSocket task reports.
pub(crate) enum SocketEvent {
    Open,
    Text(String),
    Closed,
}

/// The application side of a running peer.
pub(crate) struct PeerHandle {
    commands: mpsc::UnboundedSender<Command>,
    status: watch::Receiver<Status>,
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<Event>>,
    finished: watch::Receiver<bool>,
    server: ServerLocation,
    net: Net,
}

impl std::fmt::Debug for PeerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerHandle")
            .field("status", &*self.status.borrow())
            .finish_non_exhaustive()
    }
}

impl PeerHandle {
    /// Starts the peer's driver on the current tokio runtime.
    pub(crate) fn start(options: PeerOptions) -> Result<Self, Error> {
        let net = Net::new(&options)?;
        let token = options
            .token
            .clone()
            .unwrap_or_else(|| token_from_random(imp::random_u64()));
        let session = Session::new(SessionConfig {
            server: options.server.clone(),
            id: options.id.clone(),
            token,
            ping_interval: options.ping_interval,
        })?;
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (events_tx, events) = mpsc::unbounded_channel();
        let (status_tx, status) = watch::channel(Status::Starting);
        let (reports_tx, reports_rx) = mpsc::unbounded_channel();
        let (finished_tx, finished) = watch::channel(false);
        let driver = Driver {
            session,
            commands: commands.clone(),
            events: events_tx,
            status: status_tx,
            reports: reports_tx,
            settings: RtcSettings::new(&options),
            net: net.clone(),
            socket: None,
            socket_generation: 0,
            conns: HashMap::new(),
            offers: HashMap::new(),
            pending_connects: HashMap::new(),
            pending_reconnect: None,
            fatal: None,
            tasks: HashSet::new(),
            finished: finished_tx,
        };
        imp::spawn(driver.run(commands_rx, reports_rx));
        Ok(Self {
            commands,
            status,
            events: tokio::sync::Mutex::new(events),
            finished,
            server: options.server,
            net,
        })
    }

    /// Waits until the server accepted the peer (or it failed).
    pub(crate) async fn wait_open(&self) -> Result<String, Error> {
        let mut status = self.status.clone();
        loop {
            match &*status.borrow_and_update() {
                Status::Open(id) => return Ok(id.clone()),
                Status::Destroyed(Some(e)) => return Err(e.clone()),
                Status::Destroyed(None) => {
                    return Err(Error::new(
                        ErrorKind::ConnectionClosed,
                        "the peer was destroyed",
                    ));
                }
                Status::Disconnected => {
                    return Err(Error::new(
                        ErrorKind::Disconnected,
                        "the peer is disconnected",
                    ));
                }
                Status::Starting => {}
            }
            if status.changed().await.is_err() {
                return Err(Error::new(ErrorKind::ConnectionClosed, "the peer stopped"));
            }
        }
    }

    pub(crate) fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    pub(crate) async fn next_event(&self) -> Option<Event> {
        self.events.lock().await.recv().await
    }

    pub(crate) async fn connect(&self, info: ConnectionInfo) -> Result<Arc<ConnShared>, Error> {
        let (shared, inputs) = connection::new_connection(info);
        let (reply, result) = oneshot::channel();
        self.send(Command::Connect {
            shared: shared.clone(),
            inputs,
            reply,
        })?;
        result.await.map_err(|_| stopped())??;
        Ok(shared)
    }

    pub(crate) fn disconnect(&self) {
        let _ = self.send(Command::Disconnect);
    }

    pub(crate) async fn reconnect(&self) -> Result<(), Error> {
        let (reply, result) = oneshot::channel();
        self.send(Command::Reconnect(reply))?;
        result.await.map_err(|_| stopped())?
    }

    pub(crate) fn destroy(&self) {
        let _ = self.send(Command::Destroy);
    }

    /// Waits until the peer is destroyed and every connection is closed.
    pub(crate) async fn finished(&self) {
        let mut finished = self.finished.clone();
        let _ = finished.wait_for(|done| *done).await;
    }

    pub(crate) async fn list_all_peers(&self) -> Result<Vec<String>, Error> {
        let url = self
            .server
            .peers_url(&cache_bust(imp::unix_millis(), imp::random_u64()));
        let (status, body) = imp::http_get(&self.net, &url).await?;
        match status {
            200 => serde_json::from_str(&body).map_err(|e| {
                Error::with_source(
                    ErrorKind::ServerError,
                    "the server's peer list is not a JSON array of ids",
                    e,
                )
            }),
            401 => Err(Error::new(
                ErrorKind::ServerError,
                "It doesn't look like you have permission to list peers IDs. Please enable the \
                 PeerServer allow_discovery option.",
            )),
            other => Err(Error::new(
                ErrorKind::ServerError,
                format!("listing peers failed: HTTP {other}"),
            )),
        }
    }

    fn send(&self, command: Command) -> Result<(), Error> {
        self.commands.send(command).map_err(|_| stopped())
    }
}

fn stopped() -> Error {
    Error::new(ErrorKind::ConnectionClosed, "the peer was destroyed")
}

struct Driver {
    session: Session,
    commands: mpsc::UnboundedSender<Command>,
    events: mpsc::UnboundedSender<Event>,
    status: watch::Sender<Status>,
    reports: mpsc::UnboundedSender<ConnReport>,
    settings: RtcSettings,
    net: Net,
    /// Frames for the current WebSocket.
    socket: Option<mpsc::UnboundedSender<String>>,
    socket_generation: u64,
    conns: HashMap<String, Arc<ConnShared>>,
    /// Connections we offer whose task has not started yet.
    offers: HashMap<String, TaskInputs>,
    pending_connects: HashMap<String, oneshot::Sender<Result<(), Error>>>,
    pending_reconnect: Option<oneshot::Sender<Result<(), Error>>>,
    /// The error that ended the peer before it opened.
    fatal: Option<Error>,
    /// The connections whose backend task is still running.
    tasks: HashSet<String>,
    /// Set when the driver has finished, after every connection closed.
    finished: watch::Sender<bool>,
}

impl Driver {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut reports: mpsc::UnboundedReceiver<ConnReport>,
    ) {
        self.session
            .start(&cache_bust(imp::unix_millis(), imp::random_u64()));
        self.drain();
        loop {
            let timeout = self.session.poll_timeout();
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => self.handle(command),
                    // Every handle is gone (the peer was dropped): tear down.
                    None => self.session.destroy(),
                },
                Some(report) = reports.recv() => self.report(report),
                () = sleep_until(timeout), if timeout.is_some() => {
                    self.session.handle_timeout(imp::now());
                }
            }
            self.drain();
            if self.session.is_destroyed() {
                break;
            }
        }
        // Let every connection close its peer connection, so the remote peers are told now
        // rather than when ICE times out.
        let deadline = imp::now() + CLOSE_TIMEOUT;
        while !self.tasks.is_empty() {
            tokio::select! {
                Some(report) = reports.recv() => self.report(report),
                () = imp::sleep_until(deadline) => break,
                else => break,
            }
        }
        self.finished.send_replace(true);
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Connect {
                shared,
                inputs,
                reply,
            } => {
                let id = shared.info.connection_id.clone();
                match self.session.connect(shared.info.clone()) {
                    Ok(()) => {
                        self.conns.insert(id.clone(), shared);
                        self.offers.insert(id.clone(), inputs);
                        self.pending_connects.insert(id, reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            Command::Disconnect => self.session.disconnect(),
            Command::Reconnect(reply) => match self.session.reconnect() {
                // Answered when the new WebSocket opens or fails.
                Ok(()) => self.pending_reconnect = Some(reply),
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            Command::Destroy => self.session.destroy(),
            Command::Id(result) => self.session.handle_id(result),
            Command::Socket(generation, event) => {
                if generation != self.socket_generation {
                    return;
                }
                match event {
                    SocketEvent::Open => {
                        self.session.handle_socket_open(imp::now());
                        if let Some(reply) = self.pending_reconnect.take() {
                            // A server that still held our old socket sends no OPEN: the
                            // registration stands, so the peer is open again already.
                            if let Some(id) = self.session.id() {
                                self.status.send_replace(Status::Open(id.to_owned()));
                            }
                            let _ = reply.send(Ok(()));
                        }
                    }
                    SocketEvent::Text(text) => self.session.handle_socket_text(&text),
                    SocketEvent::Closed => {
                        if let Some(reply) = self.pending_reconnect.take() {
                            let _ = reply.send(Err(Error::new(
                                ErrorKind::Network,
                                "could not reconnect to the server",
                            )));
                        }
                        self.socket = None;
                        self.session.handle_socket_closed();
                    }
                }
            }
        }
    }

    fn report(&mut self, report: ConnReport) {
        match report {
            ConnReport::LocalDescription(id, sdp) => {
                self.session.handle_local_description(&id, sdp)
            }
            ConnReport::LocalCandidate(id, candidate) => {
                self.session.handle_local_candidate(&id, candidate);
            }
            ConnReport::Opened(id) => self.session.handle_connection_open(&id),
            ConnReport::Closed(id) => {
                self.session.handle_connection_closed(&id);
                self.conns.remove(&id);
                self.tasks.remove(&id);
            }
        }
    }

    /// Carries out what the session asked for.
    fn drain(&mut self) {
        while let Some(output) = self.session.poll_output() {
            match output {
                Output::FetchId(url) => {
                    let commands = self.commands.clone();
                    let net = self.net.clone();
                    imp::spawn(async move {
                        let result = match imp::http_get(&net, &url).await {
                            Ok((200, body)) => Ok(body),
                            Ok((status, _)) => {
                                Err(Error::new(ErrorKind::ServerError, format!("HTTP {status}")))
                            }
                            Err(e) => Err(e),
                        };
                        let _ = commands.send(Command::Id(result));
                    });
                }
                Output::OpenSocket(url) => {
                    self.socket_generation += 1;
                    let (tx, rx) = mpsc::unbounded_channel();
                    self.socket = Some(tx);
                    let generation = self.socket_generation;
                    let commands = self.commands.clone();
                    let report = move |event| {
                        let _ = commands.send(Command::Socket(generation, event));
                    };
                    imp::spawn(imp::run_socket(self.net.clone(), url, report, rx));
                }
                Output::CloseSocket => {
                    // Dropping the sender closes the socket; its events are ignored from now on.
                    self.socket = None;
                    self.socket_generation += 1;
                }
                Output::Send(text) => {
                    if let Some(socket) = &self.socket {
                        let _ = socket.send(text);
                    }
                }
                Output::Rtc(command) => self.rtc(command),
                Output::Event(event) => self.event(event),
            }
        }
    }

    fn rtc(&mut self, command: RtcCommand) {
        match command {
            RtcCommand::Offer(info) => {
                let id = info.connection_id;
                if let (Some(shared), Some(inputs)) = (self.conns.get(&id), self.offers.remove(&id))
                {
                    self.tasks.insert(id.clone());
                    imp::spawn(imp::run_connection(
                        shared.clone(),
                        inputs,
                        None,
                        self.settings.clone(),
                        self.reports.clone(),
                    ));
                }
                if let Some(reply) = self.pending_connects.remove(&id) {
                    let _ = reply.send(Ok(()));
                }
            }
            RtcCommand::Accept { info, offer } => {
                let (shared, inputs) = connection::new_connection(info);
                self.conns
                    .insert(shared.info.connection_id.clone(), shared.clone());
                self.tasks.insert(shared.info.connection_id.clone());
                imp::spawn(imp::run_connection(
                    shared.clone(),
                    inputs,
                    Some(offer),
                    self.settings.clone(),
                    self.reports.clone(),
                ));
                let _ = self.events.send(Event::Connection(shared));
            }
            RtcCommand::Answer {
                connection_id,
                answer,
                legacy,
            } => {
                self.command(&connection_id, ConnCommand::Answer(answer, legacy));
            }
            RtcCommand::Candidate {
                connection_id,
                candidate,
            } => {
                self.command(&connection_id, ConnCommand::Candidate(candidate));
            }
            RtcCommand::Close {
                connection_id,
                error,
            } => {
                // A connection whose task never started (destroyed before it could) fails here.
                self.offers.remove(&connection_id);
                if let Some(reply) = self.pending_connects.remove(&connection_id) {
                    let _ = reply.send(Err(error.clone().unwrap_or_else(stopped)));
                }
                self.command(&connection_id, ConnCommand::Close(error));
                self.conns.remove(&connection_id);
            }
        }
    }

    fn command(&self, connection_id: &str, command: ConnCommand) {
        if let Some(shared) = self.conns.get(connection_id) {
            let _ = shared.commands.send(command);
        }
    }

    fn event(&mut self, event: SessionEvent) {
        match event {
            SessionEvent::Open(id) => {
                self.status.send_replace(Status::Open(id.clone()));
                let _ = self.events.send(Event::Open(id));
            }
            SessionEvent::Disconnected(id) => {
                if self.fatal.is_none() {
                    self.status.send_replace(Status::Disconnected);
                }
                let _ = self.events.send(Event::Disconnected(id));
            }
            SessionEvent::Closed => {
                self.status
                    .send_replace(Status::Destroyed(self.fatal.take()));
                let _ = self.events.send(Event::Closed);
            }
            SessionEvent::Error(e) => {
                // An error before the peer opened is why `Peer::new` fails.
                if matches!(&*self.status.borrow(), Status::Starting) && self.fatal.is_none() {
                    self.fatal = Some(e.clone());
                }
                let _ = self.events.send(Event::Error(e));
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => imp::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
