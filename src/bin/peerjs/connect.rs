//! `peerjs connect`: netcat for PeerJS, with JSON lines (see [`crate::json`]).

use std::io::{BufRead, Write};
use std::time::Duration;

use clap::Args;
use peerjs::proto::codec::Serialization;
use peerjs::{ConnectOptions, DataConnection, Error, ErrorKind, Peer, Value};
use tokio::sync::{mpsc, watch};

use crate::shutdown::Signals;
use crate::{ConnFlags, Context, Failure, json};

/// Open a data connection and exchange JSON lines over it (netcat for PeerJS)
#[derive(Debug, Args)]
#[command(
    long_about = "Open a data connection to a peer; send each line of stdin as one message and \
        print each message received as one line on stdout.\n\n\
        Every line is a JSON value. Binary data is written {\"$bytes\":\"<base64>\"}, at any depth, \
        both ways. With --serialization raw, a JSON string is sent as a text message and \
        {\"$bytes\":…} as a binary message. Blank lines are skipped; an invalid line is \
        reported on stderr and skipped.\n\n\
        After stdin ends, waits until the remote peer has acknowledged everything sent, then \
        keeps printing replies for --wait seconds, or until --count messages were received in \
        all (whichever comes first), or until the remote closes; then closes and exits 0. Exits non-zero if the connection cannot be \
        made (e.g. peer-unavailable) or fails while sending.",
    after_help = "Examples:\n  echo '\"hello\"' | peerjs connect --to echo --wait 2\n  \
        printf '%s\\n' '{\"file\":{\"$bytes\":\"AAEC\"}}' '[1,2.5,null]' | \
        peerjs connect --to echo --serialization msgpack --count 2 --wait 10\n  \
        peerjs connect --to chat --metadata '{\"user\":\"me\"}'   # interactive"
)]
pub(crate) struct ConnectArgs {
    /// The id of the peer to connect to
    #[arg(long, value_name = "ID")]
    to: String,
    /// The id to register (default: one the server assigns)
    #[arg(long, value_name = "ID")]
    id: Option<String>,
    /// binary (PeerJS's default, BinaryPack), binary-utf8, json, raw or msgpack
    #[arg(
        long,
        short,
        value_name = "S",
        default_value = "binary",
        value_parser = crate::parse_serialization
    )]
    serialization: Serialization,
    /// Ordered delivery (PeerJS `reliable: true`); msgpack is always ordered
    #[arg(long)]
    reliable: bool,
    /// The data channel's label (default: the connection id)
    #[arg(long, value_name = "L")]
    label: Option<String>,
    /// Metadata for the remote peer, as JSON
    #[arg(long, value_name = "JSON", value_parser = parse_metadata)]
    metadata: Option<serde_json::Value>,
    /// After stdin ends and everything is delivered, keep printing replies this long
    /// [default: 0, or no limit with --count]
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    wait: Option<f64>,
    /// After stdin ends, keep printing replies until this many messages were received in all
    /// (or --wait runs out)
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Seconds to wait for the connection to open
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0, value_parser = parse_seconds)]
    connect_timeout: f64,
    #[command(flatten)]
    conn: ConnFlags,
}

fn parse_metadata(text: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))
}

/// Parses a non-negative number of seconds.
pub(crate) fn parse_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if (0.0..1e9).contains(&s) => Ok(s),
        _ => Err(format!("{text:?} is not a number of seconds")),
    }
}

/// Runs `peerjs connect`.
pub(crate) async fn run(args: ConnectArgs, signals: Signals) -> Result<(), Failure> {
    let peer_options = args.conn.peer_options(args.id.as_deref())?;
    let mut options = ConnectOptions::default()
        .serialization(args.serialization)
        .reliable(args.reliable)
        .timeout(Duration::from_secs_f64(args.connect_timeout));
    if let Some(label) = &args.label {
        options = options.label(label.as_str());
    }
    if let Some(metadata) = &args.metadata {
        options = options.metadata(metadata)?;
    }
    let setup = async {
        let peer = Peer::new(peer_options).await.map_err(|e| {
            Failure::new(format!(
                "cannot register with {}: {e}",
                args.conn.server_display()
            ))
        })?;
        let conn = peer
            .connect(&args.to, options)
            .await
            .map_err(|e| Failure::new(format!("cannot connect to {}: {e}", args.to)))?;
        Ok::<_, Failure>((peer, conn))
    };
    let (peer, conn) = tokio::select! {
        result = setup => result?,
        name = signals.recv() => return Err(Failure::interrupted(format!("{name} while connecting"))),
    };
    tracing::debug!(?conn, "connected");

    let (received_tx, received) = watch::channel(0u64);
    let printer = tokio::spawn(print_messages(conn.clone(), received_tx));
    let lines = read_stdin_lines();

    let result = tokio::select! {
        result = exchange(&conn, lines, received, printer, &args) => result,
        name = signals.recv() => Err(Failure::interrupted(format!("{name}: closing the connection"))),
    };
    // Closing the connection tells the remote at once; destroying the peer leaves the server.
    crate::shutdown::close(&conn).await;
    peer.destroy();
    result
}

/// Sends stdin's lines, then waits as asked; the printer prints what arrives meanwhile.
async fn exchange(
    conn: &DataConnection,
    mut lines: mpsc::Receiver<std::io::Result<String>>,
    mut received: watch::Receiver<u64>,
    printer: tokio::task::JoinHandle<Result<(), Failure>>,
    args: &ConnectArgs,
) -> Result<(), Failure> {
    let printing = async {
        match printer.await {
            Ok(result) => result,
            Err(e) => Err(Failure::new(format!("the output task failed: {e}"))),
        }
    };
    tokio::pin!(printing);
    let mut number = 0u64;
    loop {
        let line = tokio::select! {
            line = lines.recv() => line,
            // The printer ends when the remote closed and every message was printed.
            result = &mut printing => {
                result?;
                eprintln!("peerjs connect: the remote peer closed the connection");
                return Ok(());
            }
        };
        let Some(line) = line else { break };
        let line = line.context("cannot read stdin")?;
        number += 1;
        if line.trim().is_empty() {
            continue;
        }
        let value = match json::parse_line(&line) {
            Ok(value) => value,
            Err(e) => {
                eprintln!("peerjs connect: line {number} skipped: {e}");
                continue;
            }
        };
        match conn.send_value(value).await {
            Ok(()) => {}
            Err(e) if unsendable(&e) => {
                eprintln!("peerjs connect: line {number} skipped: {e}");
            }
            Err(e) => return Err(Failure::new(format!("sending failed: {e}"))),
        }
    }
    conn.flush()
        .await
        .map_err(|e| Failure::new(format!("the messages sent were not all delivered: {e}")))?;

    let enough = async {
        match args.count {
            Some(count) => {
                let _ = received.wait_for(|n| *n >= count).await;
            }
            None => std::future::pending().await,
        }
    };
    let limit = async {
        match (args.wait, args.count) {
            (Some(seconds), _) => tokio::time::sleep(Duration::from_secs_f64(seconds)).await,
            (None, Some(_)) => std::future::pending().await,
            (None, None) => {}
        }
    };
    tokio::select! {
        () = limit => Ok(()),
        () = enough => Ok(()),
        // The remote closed (or stdout failed): nothing more to wait for.
        result = &mut printing => result,
    }
}

/// Whether a send failed for this message only (it cannot be encoded), not for the connection.
fn unsendable(e: &Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::Serialization | ErrorKind::MessageTooBig
    )
}

/// Prints every message received as a JSON line, counting them, until the connection closes.
async fn print_messages(conn: DataConnection, received: watch::Sender<u64>) -> Result<(), Failure> {
    loop {
        match conn.recv().await {
            Ok(value) => {
                print_line(&value).context("cannot write to stdout")?;
                received.send_modify(|n| *n += 1);
            }
            Err(e) if unsendable(&e) => eprintln!("peerjs connect: a message was skipped: {e}"),
            Err(e) if e.kind() == ErrorKind::ConnectionClosed => return Ok(()),
            Err(e) => return Err(Failure::new(format!("the connection failed: {e}"))),
        }
    }
}

fn print_line(value: &Value) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", json::to_line(value))?;
    out.flush()
}

/// Reads stdin line by line on a thread of its own (a blocking read must not hold up the
/// runtime, nor keep it from shutting down), with backpressure.
fn read_stdin_lines() -> mpsc::Receiver<std::io::Result<String>> {
    let (tx, rx) = mpsc::channel(64);
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            let failed = line.is_err();
            if tx.blocking_send(line).is_err() || failed {
                return;
            }
        }
    });
    rx
}
