//! `peerjs echo`: a peer that sends every message back.

use std::time::Duration;

use clap::Args;
use peerjs::{DataConnection, ErrorKind, Peer, PeerEvent};
use tokio::task::JoinSet;

use crate::shutdown::Signals;
use crate::{ConnFlags, Failure};

/// Accept data connections and send every message back
#[derive(Debug, Args)]
#[command(
    long_about = "Accept data connections of every serialization and send each message back on \
        the same connection, in arrival order, re-encoded with that connection's serialization \
        (a legacy `none` offer is treated as raw).\n\n\
        Prints `echo: registered as ID` on stdout once registered, and one line on stderr per \
        connection opened and closed. Runs until SIGINT or SIGTERM.",
    after_help = "Example:\n  peerjs serve &\n  peerjs echo --id echo &\n  \
        echo '\"hello\"' | peerjs connect --to echo --wait 1"
)]
pub(crate) struct EchoArgs {
    /// The id to register (default: one the server assigns)
    #[arg(long, value_name = "ID")]
    id: Option<String>,
    #[command(flatten)]
    conn: ConnFlags,
}

/// Runs `peerjs echo` until a signal or until the peer is destroyed.
pub(crate) async fn run(args: EchoArgs, signals: Signals) -> Result<(), Failure> {
    let options = args.conn.peer_options(args.id.as_deref())?;
    let peer = tokio::select! {
        peer = Peer::new(options) => peer.map_err(|e| {
            Failure::new(format!("cannot register with {}: {e}", args.conn.server_display()))
        })?,
        name = signals.recv() => return Err(Failure::interrupted(format!("{name} before registering"))),
    };
    let id = peer.id().unwrap_or_default();
    println!("echo: registered as {id}");
    let mut reconnecting: Option<tokio::task::JoinHandle<()>> = None;
    let mut disconnected = false;
    let mut tasks = JoinSet::new();
    let outcome = loop {
        tokio::select! {
            name = signals.recv() => {
                eprintln!("echo: {name}: stopping");
                break Ok(());
            }
            event = peer.next_event() => match event {
                Some(PeerEvent::Connection(conn)) => {
                    tasks.spawn(async move {
                        echo_connection(conn, true).await;
                    });
                }
                Some(PeerEvent::Disconnected(_)) => {
                    eprintln!("echo: lost the connection to the server; reconnecting");
                    disconnected = true;
                    if reconnecting.as_ref().is_none_or(|task| task.is_finished()) {
                        reconnecting = Some(tokio::spawn(reconnect(peer.clone())));
                    }
                }
                // The first `Open` is the registration announced above.
                Some(PeerEvent::Open(id)) if disconnected => {
                    disconnected = false;
                    eprintln!("echo: registered again as {id}");
                }
                Some(PeerEvent::Error(e)) => eprintln!("echo: {e}"),
                Some(PeerEvent::Closed) | None => break Err(Failure::new("the peer was closed")),
                Some(_) => {}
            },
            // Reap the tasks of closed connections.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    };
    crate::shutdown::destroy(&peer, tasks).await;
    outcome
}

/// Reconnects to the server, retrying with a growing delay, until it works or the peer is
/// destroyed. Open connections keep working meanwhile.
pub(crate) async fn reconnect(peer: Peer) {
    let mut delay = Duration::from_millis(500);
    loop {
        tokio::time::sleep(delay).await;
        if peer.is_destroyed() || !peer.is_disconnected() {
            return;
        }
        match peer.reconnect().await {
            Ok(()) => return,
            Err(e) => {
                tracing::debug!(error = %e, "reconnect failed");
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// Sends every message of `conn` back on it, in order, until it closes; returns how many.
/// A message that cannot be decoded or sent back is reported and skipped. With `log`, prints
/// a line on stderr when the connection opens and closes.
pub(crate) async fn echo_connection(conn: DataConnection, log: bool) -> u64 {
    let describe = format!(
        "{} (serialization {}, {}, label {:?}, id {})",
        conn.peer(),
        conn.serialization(),
        if conn.reliable() {
            "reliable"
        } else {
            "unordered"
        },
        conn.label(),
        conn.connection_id(),
    );
    if let Err(e) = conn.wait_open().await {
        if log {
            eprintln!("echo: connection from {describe} failed to open: {e}");
        }
        return 0;
    }
    if log {
        eprintln!("echo: connection opened: {describe}");
    }
    let mut echoed = 0u64;
    let reason = loop {
        let value = match conn.recv().await {
            Ok(value) => value,
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::Serialization | ErrorKind::MessageTooBig
                ) =>
            {
                eprintln!("echo: {}: skipping a message: {e}", conn.peer());
                continue;
            }
            Err(e) if e.kind() == ErrorKind::ConnectionClosed => break None,
            Err(e) => break Some(e),
        };
        match conn.send_value(value).await {
            Ok(()) => echoed += 1,
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::Serialization | ErrorKind::MessageTooBig
                ) =>
            {
                eprintln!("echo: {}: cannot send a message back: {e}", conn.peer());
            }
            Err(e) if e.kind() == ErrorKind::ConnectionClosed => break None,
            Err(e) => break Some(e),
        }
    };
    if log {
        match reason {
            None => eprintln!("echo: connection closed: {describe}, {echoed} messages echoed"),
            Some(e) => eprintln!(
                "echo: connection closed: {describe}, {echoed} messages echoed, error: {e}"
            ),
        }
    }
    echoed
}
