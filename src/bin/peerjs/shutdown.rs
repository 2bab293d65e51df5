//! SIGINT and SIGTERM: every command watches for them and winds down (destroying its peer, so
//! remote peers see the connections close at once rather than after an ICE timeout).
//!
//! Once a signal arrived, a watchdog ends the process if the clean shutdown takes longer than
//! [`GRACE`], and a second signal ends it at once.

use std::time::Duration;

use peerjs::{DataConnection, Peer};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How long a command may take to wind down after a signal.
pub(crate) const GRACE: Duration = Duration::from_secs(2);

/// How long to wait for connections to close, so the remote peers learn of it at once
/// rather than after an ICE timeout.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// The exit status when the watchdog or a second signal ends the process.
const FORCED_EXIT: i32 = 130;

/// Tells whether SIGINT or SIGTERM arrived; cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Signals {
    received: watch::Receiver<Option<&'static str>>,
}

impl Signals {
    /// Waits for a signal; returns its name (`"SIGINT"` or `"SIGTERM"`).
    pub(crate) async fn recv(&self) -> &'static str {
        let mut received = self.received.clone();
        loop {
            if let Some(name) = *received.borrow_and_update() {
                return name;
            }
            if received.changed().await.is_err() {
                // The watcher is gone (it cannot listen for signals): wait forever.
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Closes `conn` and waits, briefly, until it is closed.
pub(crate) async fn close(conn: &DataConnection) {
    let _ = tokio::time::timeout(CLOSE_WAIT, conn.close()).await;
}

/// Destroys `peer` and waits, briefly, for `tasks` (each serving one of its connections,
/// ending when the connection closes) to end.
pub(crate) async fn destroy(peer: &Peer, mut tasks: JoinSet<()>) {
    peer.destroy();
    let drained = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(CLOSE_WAIT, drained).await.is_err() {
        tasks.abort_all();
    }
}

/// Starts listening for SIGINT and SIGTERM. Call once, on the runtime, before anything else.
pub(crate) fn install() -> Signals {
    let (tx, received) = watch::channel(None);
    // Registered now, not in the task: a listener only sees signals from its creation on.
    let mut listener = Listener::new();
    tokio::spawn(async move {
        let Some(first) = listener.next().await else {
            return;
        };
        tx.send_replace(Some(first));
        std::thread::spawn(|| {
            std::thread::sleep(GRACE);
            eprintln!("peerjs: did not stop within {GRACE:?} of the signal; exiting");
            std::process::exit(FORCED_EXIT);
        });
        if listener.next().await.is_some() {
            std::process::exit(FORCED_EXIT);
        }
    });
    Signals { received }
}

/// The process's SIGINT and SIGTERM streams.
#[cfg(unix)]
struct Listener {
    streams: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

#[cfg(unix)]
impl Listener {
    fn new() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        let streams = match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(interrupt), Ok(terminate)) => Some((interrupt, terminate)),
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(error = %e, "cannot listen for SIGINT and SIGTERM");
                None
            }
        };
        Self { streams }
    }

    async fn next(&mut self) -> Option<&'static str> {
        let (interrupt, terminate) = self.streams.as_mut()?;
        tokio::select! {
            Some(()) = interrupt.recv() => Some("SIGINT"),
            Some(()) = terminate.recv() => Some("SIGTERM"),
            else => None,
        }
    }
}

/// Ctrl-C where there are no Unix signals.
#[cfg(not(unix))]
struct Listener;

#[cfg(not(unix))]
impl Listener {
    fn new() -> Self {
        Self
    }

    async fn next(&mut self) -> Option<&'static str> {
        tokio::signal::ctrl_c().await.ok()?;
        Some("Ctrl-C")
    }
}
