//! `peerjs send` and `peerjs receive`: file transfer over one data connection.
//!
//! # Protocol (version 1)
//!
//! 1. The sender connects to the receiver with serialization `binary` (BinaryPack), reliable
//!    (ordered), label `peerjs-file`, and the metadata `{"file": NAME, "size": BYTES}`.
//! 2. The sender sends the content as binary messages of at most 64 KiB each (BinaryPack
//!    chunks them further on the wire, as PeerJS does), then one end marker:
//!    `{"done": true, "sha256": HEX}`, the lowercase hex SHA-256 of the content.
//! 3. The receiver replies with exactly one message: `{"ok": true, "size": BYTES, "sha256":
//!    HEX}` once the file is stored and checked, or `{"error": TEXT}` when it refuses the
//!    file or the check fails. It may send the error at any time, even before any data; the
//!    sender then stops. After the reply, the sender closes the connection.
//!
//! The receiver saves into `--out DIR` only. The name is reduced to its last path component
//! (`../../etc/passwd` becomes `passwd`); an empty name, `.`, `..`, a name with control
//! characters or of more than 255 bytes is refused, as is an existing file unless `--force`.
//! The content goes to a hidden temporary file in `DIR` that is renamed to the name after the
//! size and hash check, and deleted if anything fails, so a partial file never appears under
//! the name. More data than announced, a message of another kind, or the connection closing
//! before the end marker fails the transfer.
//!
//! Any PeerJS peer can send to `peerjs receive`; from JavaScript:
//!
//! ```text
//! const conn = peer.connect("inbox", {reliable: true, metadata: {file: f.name, size: f.size}});
//! conn.on("open", async () => {
//!   const bytes = new Uint8Array(await f.arrayBuffer());
//!   for (let i = 0; i < bytes.length; i += 65536) conn.send(bytes.slice(i, i + 65536));
//!   conn.send({done: true, sha256: hex(await crypto.subtle.digest("SHA-256", bytes))});
//! });
//! conn.on("data", (reply) => console.log(reply)); // {ok: true, …} or {error: "…"}
//! ```

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use peerjs::proto::codec::Serialization;
use peerjs::{ConnectOptions, DataConnection, ErrorKind, Peer, PeerEvent, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinSet;

use crate::shutdown::Signals;
use crate::{ConnFlags, Context, Failure};

/// The data channel label of a file transfer.
pub(crate) const LABEL: &str = "peerjs-file";
/// The largest binary message the sender sends.
pub(crate) const CHUNK_SIZE: usize = 64 * 1024;
/// How long the receiver waits, after its reply, for the sender to close.
const LINGER: Duration = Duration::from_secs(5);

/// Send a file to a `peerjs receive` (or any peer speaking its protocol)
#[derive(Debug, Args)]
#[command(
    long_about = "Send a file to a peer running `peerjs receive`, with a progress bar on a \
        terminal. Waits until the receiver has stored the file and checked its size and SHA-256, \
        then prints `sent NAME (…)` on stdout. Exits non-zero if the receiver refuses the file, \
        the check fails, or the receiver goes away.\n\n\
        The protocol, for other implementations: a reliable `binary` (BinaryPack) connection \
        labelled `peerjs-file` with the metadata {\"file\": NAME, \"size\": BYTES}; the content \
        in binary messages of at most 64 KiB; then {\"done\": true, \"sha256\": HEX}. The \
        receiver answers once: {\"ok\": true, \"size\": BYTES, \"sha256\": HEX} or \
        {\"error\": TEXT}, possibly before the end to refuse the file.",
    after_help = "Example:\n  peerjs receive --id inbox --out downloads/ &\n  \
        peerjs send ./report.pdf --to inbox"
)]
pub(crate) struct SendArgs {
    /// The file to send
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// The id of the receiving peer
    #[arg(long, value_name = "ID")]
    to: String,
    /// The id to register (default: one the server assigns)
    #[arg(long, value_name = "ID")]
    id: Option<String>,
    /// The name the receiver saves the file under (default: the file's own name)
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Seconds to wait for the connection to open
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0,
          value_parser = crate::connect::parse_seconds)]
    connect_timeout: f64,
    #[command(flatten)]
    conn: ConnFlags,
}

/// Receive files sent with `peerjs send`
#[derive(Debug, Args)]
#[command(
    long_about = "Receive a file sent with `peerjs send` and save it into --out, after checking \
        its size and SHA-256; then exit (--keep to go on receiving).\n\n\
        Prints `receive: registered as ID` on stdout once registered, then `received NAME (…)` \
        for each file saved. Only the last component of the sender's file name is used; `.`, \
        `..`, empty names and existing files (unless --force) are refused. A partial file is \
        deleted. Without --keep it exits non-zero if the file is refused or does not arrive \
        intact; connections that are not file transfers are refused and do not count.",
    after_help = "Example:\n  peerjs receive --id inbox --out downloads/\n  \
        peerjs send ./report.pdf --to inbox"
)]
pub(crate) struct ReceiveArgs {
    /// The id to register (default: one the server assigns)
    #[arg(long, value_name = "ID")]
    id: Option<String>,
    /// Directory to save files into (created if missing)
    #[arg(long, value_name = "DIR", default_value = ".")]
    out: PathBuf,
    /// Keep receiving files until SIGINT or SIGTERM, instead of exiting after one
    #[arg(long)]
    keep: bool,
    /// Overwrite files that exist
    #[arg(long)]
    force: bool,
    /// Refuse files larger than this many bytes
    #[arg(long, value_name = "BYTES")]
    max_size: Option<u64>,
    #[command(flatten)]
    conn: ConnFlags,
}

/// What the receiver accepts.
#[derive(Clone, Debug)]
pub(crate) struct ReceiveOptions {
    /// Where files go.
    pub(crate) dir: PathBuf,
    /// Whether to overwrite existing files.
    pub(crate) force: bool,
    /// The largest file accepted.
    pub(crate) max_size: u64,
}

/// A file the sender announced in the connection's metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Offer {
    /// The name as the sender gave it.
    pub(crate) name: String,
    /// The announced size in bytes.
    pub(crate) size: u64,
}

/// A file stored and checked.
#[derive(Clone, Debug)]
pub(crate) struct Received {
    /// Where it was saved.
    pub(crate) path: PathBuf,
    /// Its size.
    pub(crate) size: u64,
    /// Its SHA-256, lowercase hex.
    pub(crate) sha256: String,
}

/// A file sent and confirmed by the receiver.
#[derive(Clone, Debug)]
pub(crate) struct Sent {
    /// Its size.
    pub(crate) size: u64,
    /// Its SHA-256, lowercase hex.
    pub(crate) sha256: String,
    /// From the first byte sent to the receiver's confirmation.
    pub(crate) elapsed: Duration,
}

/// The options of a connection that offers a file of `size` bytes named `name`.
pub(crate) fn connect_options(name: &str, size: u64) -> Result<ConnectOptions, Failure> {
    Ok(ConnectOptions::default()
        .serialization(Serialization::Binary)
        .reliable(true)
        .label(LABEL)
        .metadata(&serde_json::json!({ "file": name, "size": size }))?)
}

/// The file a connection offers: `None` if its metadata has no `file`, an error if the offer
/// is malformed.
pub(crate) fn offer(conn: &DataConnection) -> Option<Result<Offer, String>> {
    let metadata = conn.metadata()?;
    let name = metadata.get("file")?;
    let Some(name) = name.as_str() else {
        return Some(Err("the file name is not a string".into()));
    };
    let Some(size) = metadata.get("size").and_then(serde_json::Value::as_u64) else {
        return Some(Err("the offer has no valid size".into()));
    };
    Some(Ok(Offer {
        name: name.to_owned(),
        size,
    }))
}

/// The name to save a file under: the last component of `name`, refusing names that could
/// leave the directory or are not plain file names.
pub(crate) fn sanitize_name(name: &str) -> Result<String, String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    if base.is_empty() || base == "." || base == ".." {
        return Err(format!("invalid file name {name:?}"));
    }
    if base.chars().any(char::is_control) {
        return Err(format!("invalid file name {name:?}: control characters"));
    }
    if base.len() > 255 {
        return Err(format!("invalid file name {name:?}: longer than 255 bytes"));
    }
    Ok(base.to_owned())
}

/// A progress bar for `total` bytes on stderr; hidden when stderr is not a terminal.
pub(crate) fn progress_bar(total: u64, message: String) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message);
    bar
}

/// Sends the file at `path` (of `size` bytes) on `conn`, a connection made with
/// [`connect_options`], and waits for the receiver's verdict.
pub(crate) async fn send_file(
    conn: &DataConnection,
    path: &Path,
    size: u64,
    progress: &ProgressBar,
) -> Result<Sent, Failure> {
    let peer = conn.peer().to_owned();
    let mut file = tokio::fs::File::open(path)
        .await
        .context(format!("cannot open {}", path.display()))?;
    // The first message from the receiver is its verdict; it may come early, to refuse.
    let (verdict_tx, mut verdict) = tokio::sync::oneshot::channel();
    let reader = conn.clone();
    let verdict_task = tokio::spawn(async move {
        let _ = verdict_tx.send(reader.recv().await);
    });
    let _abort = AbortOnDrop(verdict_task);

    conn.wait_open().await?;
    let start = Instant::now();
    let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
    let mut sent = 0u64;
    let mut buffer = vec![0u8; CHUNK_SIZE];
    loop {
        let filled = fill(&mut file, &mut buffer)
            .await
            .context(format!("cannot read {}", path.display()))?;
        if filled == 0 {
            break;
        }
        let chunk = buffer.get(..filled).unwrap_or_default();
        sent += filled as u64;
        if sent > size {
            return Err(Failure::new(format!(
                "{} grew while it was being sent",
                path.display()
            )));
        }
        hash.update(chunk);
        tokio::select! {
            biased;
            early = &mut verdict => return Err(early_verdict(&peer, early)),
            result = conn.send_value(Value::Binary(chunk.to_vec())) => result.map_err(|e| {
                Failure::new(format!(
                    "{peer} went away after {sent} of {size} bytes: {e}",
                    sent = sent - filled as u64
                ))
            })?,
        }
        progress.set_position(sent);
    }
    if sent != size {
        return Err(Failure::new(format!(
            "{} shrank while it was being sent ({sent} of {size} bytes)",
            path.display()
        )));
    }
    let sha256 = hex(hash.finish().as_ref());
    let done = Value::Map(vec![
        ("done".into(), true.into()),
        ("sha256".into(), sha256.as_str().into()),
    ]);
    tokio::select! {
        biased;
        early = &mut verdict => return Err(early_verdict(&peer, early)),
        result = conn.send_value(done) => result.map_err(|e| {
            Failure::new(format!("{peer} went away before the end of the file: {e}"))
        })?,
    }
    progress.set_message(format!("waiting for {peer} to check the file"));
    let reply = match verdict.await {
        Ok(Ok(reply)) => reply,
        Ok(Err(e)) => {
            return Err(Failure::new(format!(
                "{peer} went away before confirming the file: {e}"
            )));
        }
        Err(_) => return Err(Failure::new("the verdict task failed")),
    };
    if let Some(error) = reply.get("error") {
        return Err(Failure::new(format!(
            "{peer} did not accept the file: {}",
            error.as_str().unwrap_or("(no reason given)")
        )));
    }
    let confirmed = reply.get("ok").and_then(Value::as_bool) == Some(true)
        && reply.get("sha256").and_then(Value::as_str) == Some(sha256.as_str())
        && reply.get("size").and_then(Value::as_u64) == Some(size);
    if !confirmed {
        return Err(Failure::new(format!(
            "{peer} answered with something unexpected: {reply}"
        )));
    }
    progress.finish_and_clear();
    Ok(Sent {
        size,
        sha256,
        elapsed: start.elapsed(),
    })
}

fn early_verdict(
    peer: &str,
    verdict: Result<Result<Value, peerjs::Error>, tokio::sync::oneshot::error::RecvError>,
) -> Failure {
    match verdict {
        Ok(Ok(reply)) => match reply.get("error").and_then(Value::as_str) {
            Some(error) => Failure::new(format!("{peer} refused the file: {error}")),
            None => Failure::new(format!("{peer} answered before the end: {reply}")),
        },
        Ok(Err(e)) => Failure::new(format!("{peer} went away during the transfer: {e}")),
        Err(_) => Failure::new("the verdict task failed"),
    }
}

/// Reads until `buffer` is full or the file ends; returns how much was read.
async fn fill(file: &mut tokio::fs::File, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while let Some(rest) = buffer.get_mut(filled..).filter(|rest| !rest.is_empty()) {
        match file.read(rest).await? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// Receives the file `conn` offers into `options.dir`, replies with the verdict, and waits a
/// little for the sender to close. Returns `None` if the connection is not a file transfer
/// (it is refused and closed).
pub(crate) async fn receive_file(
    conn: &DataConnection,
    options: &ReceiveOptions,
    progress: &ProgressBar,
) -> Option<Result<Received, Failure>> {
    let offer = match offer(conn) {
        None => {
            refuse(conn, "this peer only receives files (see `peerjs send`)").await;
            return None;
        }
        Some(Err(e)) => {
            refuse(conn, &e).await;
            return Some(Err(Failure::new(format!(
                "refused an offer from {}: {e}",
                conn.peer()
            ))));
        }
        Some(Ok(offer)) => offer,
    };
    let result = receive_offer(conn, &offer, options, progress).await;
    match &result {
        Ok(received) => {
            reply(
                conn,
                Value::Map(vec![
                    ("ok".into(), true.into()),
                    ("size".into(), received.size.into()),
                    ("sha256".into(), received.sha256.as_str().into()),
                ]),
            )
            .await;
        }
        Err(Refusal::Tell(e)) => refuse(conn, e).await,
        Err(Refusal::Gone(_)) => conn.close().await,
    }
    progress.finish_and_clear();
    Some(result.map_err(|e| match e {
        Refusal::Tell(e) => Failure::new(format!(
            "refused {:?} from {}: {e}",
            offer.name,
            conn.peer()
        )),
        Refusal::Gone(e) => Failure::new(e),
    }))
}

/// Why a transfer failed: told to the sender, or the sender is gone.
enum Refusal {
    Tell(String),
    Gone(String),
}

async fn receive_offer(
    conn: &DataConnection,
    offer: &Offer,
    options: &ReceiveOptions,
    progress: &ProgressBar,
) -> Result<Received, Refusal> {
    let name = sanitize_name(&offer.name).map_err(Refusal::Tell)?;
    if offer.size > options.max_size {
        return Err(Refusal::Tell(format!(
            "the file is too large ({} bytes; at most {} accepted)",
            offer.size, options.max_size
        )));
    }
    let target = options.dir.join(&name);
    if !options.force && tokio::fs::try_exists(&target).await.unwrap_or(true) {
        return Err(Refusal::Tell(format!("{name} exists already")));
    }
    let (mut file, partial) = create_partial(&options.dir, &name)
        .await
        .map_err(|e| Refusal::Tell(format!("cannot create the file: {e}")))?;
    progress.set_length(offer.size);
    progress.set_message(format!("receiving {name} from {}", conn.peer()));

    let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
    let mut received = 0u64;
    let claimed = loop {
        let value = match conn.recv().await {
            Ok(value) => value,
            Err(e) if e.kind() == ErrorKind::Serialization => {
                return Err(Refusal::Tell(format!(
                    "a message could not be decoded: {e}"
                )));
            }
            Err(e) => {
                return Err(Refusal::Gone(format!(
                    "{} went away after {received} of {} bytes of {name}: {e}",
                    conn.peer(),
                    offer.size
                )));
            }
        };
        match value {
            Value::Binary(chunk) => {
                received += chunk.len() as u64;
                if received > offer.size {
                    return Err(Refusal::Tell(format!(
                        "more data than the {} bytes announced",
                        offer.size
                    )));
                }
                hash.update(&chunk);
                file.write_all(&chunk)
                    .await
                    .map_err(|e| Refusal::Tell(format!("cannot write the file: {e}")))?;
                progress.set_position(received);
            }
            end if end.get("done").and_then(Value::as_bool) == Some(true) => {
                break end
                    .get("sha256")
                    .and_then(Value::as_str)
                    .map(str::to_ascii_lowercase);
            }
            other => {
                return Err(Refusal::Tell(format!("unexpected message {other}")));
            }
        }
    };
    if received != offer.size {
        return Err(Refusal::Tell(format!(
            "the file ended after {received} of the {} bytes announced",
            offer.size
        )));
    }
    let sha256 = hex(hash.finish().as_ref());
    match claimed {
        Some(claimed) if claimed == sha256 => {}
        Some(claimed) => {
            return Err(Refusal::Tell(format!(
                "SHA-256 mismatch: received {sha256}, sender has {claimed}"
            )));
        }
        None => return Err(Refusal::Tell("the end marker has no sha256".into())),
    }
    let stored = async {
        file.flush().await?;
        file.sync_all().await?;
        drop(file);
        if !options.force && tokio::fs::try_exists(&target).await.unwrap_or(true) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{name} appeared meanwhile"),
            ));
        }
        tokio::fs::rename(&partial.path, &target).await
    };
    stored
        .await
        .map_err(|e| Refusal::Tell(format!("cannot store the file: {e}")))?;
    partial.keep();
    Ok(Received {
        path: target,
        size: received,
        sha256,
    })
}

/// Sends `{"error": text}` and closes once it is delivered.
async fn refuse(conn: &DataConnection, text: &str) {
    let error = Value::Map(vec![("error".into(), text.into())]);
    reply(conn, error).await;
}

/// Sends the verdict, waits until it is delivered and for the sender to close (briefly), then
/// closes.
async fn reply(conn: &DataConnection, verdict: Value) {
    let delivered = async {
        conn.send_value(verdict).await?;
        conn.flush().await
    };
    match tokio::time::timeout(LINGER, delivered).await {
        Ok(Ok(())) => {
            let _ = tokio::time::timeout(LINGER, conn.closed()).await;
        }
        Ok(Err(e)) => tracing::debug!(error = %e, "the verdict was not delivered"),
        Err(_) => tracing::debug!("the verdict was not delivered in time"),
    }
    conn.close().await;
}

/// A temporary file in the target directory, deleted on drop unless kept.
struct Partial {
    path: PathBuf,
    armed: bool,
}

impl Partial {
    /// Keeps the file (it was renamed).
    fn keep(mut self) {
        self.armed = false;
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Err(e) = std::fs::remove_file(&self.path) {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot delete the partial file");
        }
    }
}

async fn create_partial(dir: &Path, name: &str) -> std::io::Result<(tokio::fs::File, Partial)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let unique = format!(
        ".{name}.{}-{}.part",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let path = dir.join(unique);
    let file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .await?;
    Ok((file, Partial { path, armed: true }))
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Human-readable bytes.
pub(crate) fn human_bytes(n: u64) -> String {
    let n = n as f64;
    if n >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} GiB", n / (1024.0 * 1024.0 * 1024.0))
    } else if n >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", n / (1024.0 * 1024.0))
    } else if n >= 1024.0 {
        format!("{:.1} KiB", n / 1024.0)
    } else {
        format!("{n} bytes")
    }
}

/// The rate of `bytes` in `elapsed`, per second.
pub(crate) fn rate(bytes: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(1e-6);
    format!("{}/s", human_bytes((bytes as f64 / secs) as u64))
}

/// Runs `peerjs send`.
pub(crate) async fn run_send(args: SendArgs, signals: Signals) -> Result<(), Failure> {
    let metadata = tokio::fs::metadata(&args.file)
        .await
        .context(format!("cannot read {}", args.file.display()))?;
    if !metadata.is_file() {
        return Err(Failure::new(format!(
            "{} is not a file",
            args.file.display()
        )));
    }
    let size = metadata.len();
    let name = match &args.name {
        Some(name) => name.clone(),
        None => args
            .file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| Failure::new(format!("{} has no file name", args.file.display())))?,
    };
    let options =
        connect_options(&name, size)?.timeout(Duration::from_secs_f64(args.connect_timeout));
    let peer_options = args.conn.peer_options(args.id.as_deref())?;
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
    let progress = progress_bar(size, format!("sending {name} to {}", args.to));
    let result = tokio::select! {
        result = send_file(&conn, &args.file, size, &progress) => result,
        name = signals.recv() => Err(Failure::interrupted(format!("{name}: transfer aborted"))),
    };
    progress.finish_and_clear();
    crate::shutdown::close(&conn).await;
    peer.destroy();
    let sent = result?;
    println!(
        "sent {name} ({} bytes, sha256 {}) to {} in {:.2} s ({}); the receiver verified it",
        sent.size,
        sent.sha256,
        args.to,
        sent.elapsed.as_secs_f64(),
        rate(sent.size, sent.elapsed)
    );
    Ok(())
}

/// Runs `peerjs receive`.
pub(crate) async fn run_receive(args: ReceiveArgs, signals: Signals) -> Result<(), Failure> {
    tokio::fs::create_dir_all(&args.out)
        .await
        .context(format!("cannot create {}", args.out.display()))?;
    let options = ReceiveOptions {
        dir: args.out.clone(),
        force: args.force,
        max_size: args.max_size.unwrap_or(u64::MAX),
    };
    let peer_options = args.conn.peer_options(args.id.as_deref())?;
    let peer = tokio::select! {
        peer = Peer::new(peer_options) => peer.map_err(|e| {
            Failure::new(format!("cannot register with {}: {e}", args.conn.server_display()))
        })?,
        name = signals.recv() => return Err(Failure::interrupted(format!("{name} before registering"))),
    };
    println!(
        "receive: registered as {}; saving into {}",
        peer.id().unwrap_or_default(),
        args.out.display()
    );
    let mut reconnecting: Option<tokio::task::JoinHandle<()>> = None;
    let mut disconnected = false;
    let mut tasks = JoinSet::new();
    let outcome = loop {
        let event = tokio::select! {
            name = signals.recv() => {
                break if args.keep {
                    eprintln!("receive: {name}: stopping");
                    Ok(())
                } else {
                    Err(Failure::interrupted(format!("{name} before a file arrived")))
                };
            }
            event = peer.next_event() => event,
            // Reap the tasks of finished transfers.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        match event {
            Some(PeerEvent::Connection(conn)) if args.keep => {
                let options = options.clone();
                tasks.spawn(async move {
                    let progress = progress_bar(0, String::new());
                    if let Some(result) = receive_file(&conn, &options, &progress).await {
                        if let Err(e) = report_received(conn.peer(), result) {
                            eprintln!("receive: {e}");
                        }
                    }
                });
            }
            Some(PeerEvent::Connection(conn)) => {
                let progress = progress_bar(0, String::new());
                let result = tokio::select! {
                    result = receive_file(&conn, &options, &progress) => result,
                    name = signals.recv() => {
                        progress.finish_and_clear();
                        crate::shutdown::close(&conn).await;
                        break Err(Failure::interrupted(format!(
                            "{name}: transfer aborted, partial file deleted"
                        )));
                    }
                };
                match result {
                    None => eprintln!(
                        "receive: refused a connection from {}: not a file transfer",
                        conn.peer()
                    ),
                    Some(result) => break report_received(conn.peer(), result),
                }
            }
            Some(PeerEvent::Disconnected(_)) => {
                eprintln!("receive: lost the connection to the server; reconnecting");
                disconnected = true;
                if reconnecting.as_ref().is_none_or(|task| task.is_finished()) {
                    reconnecting = Some(tokio::spawn(crate::echo::reconnect(peer.clone())));
                }
            }
            Some(PeerEvent::Open(id)) if disconnected => {
                disconnected = false;
                eprintln!("receive: registered again as {id}");
            }
            Some(PeerEvent::Error(e)) => eprintln!("receive: {e}"),
            Some(PeerEvent::Closed) | None => break Err(Failure::new("the peer was closed")),
            Some(_) => {}
        }
    };
    crate::shutdown::destroy(&peer, tasks).await;
    outcome
}

/// Prints a stored file on stdout; passes an error on.
fn report_received(from: &str, result: Result<Received, Failure>) -> Result<(), Failure> {
    let received = result?;
    println!(
        "received {} ({} bytes, sha256 {}) from {from}",
        received.path.display(),
        received.size,
        received.sha256
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_reduced_to_their_last_component() {
        assert_eq!(sanitize_name("report.pdf").unwrap(), "report.pdf");
        assert_eq!(sanitize_name("../../etc/passwd").unwrap(), "passwd");
        assert_eq!(sanitize_name("/abs/path/x.bin").unwrap(), "x.bin");
        assert_eq!(sanitize_name("..\\..\\win.ini").unwrap(), "win.ini");
        assert_eq!(sanitize_name(".hidden").unwrap(), ".hidden");
        assert_eq!(sanitize_name("a b é😀").unwrap(), "a b é😀");
    }

    #[test]
    fn names_that_could_escape_or_are_not_names_are_refused() {
        for name in [
            "", ".", "..", "../..", "dir/", "dir/..", "a/.", "x\ny", "tab\t", "\0",
        ] {
            assert!(sanitize_name(name).is_err(), "{name:?}");
        }
        assert!(sanitize_name(&"x".repeat(256)).is_err());
        assert!(sanitize_name(&"x".repeat(255)).is_ok());
    }

    #[test]
    fn hex_and_sizes() {
        assert_eq!(hex(&[0, 1, 0xab, 0xff]), "0001abff");
        let empty = ring::digest::digest(&ring::digest::SHA256, b"");
        assert_eq!(
            hex(empty.as_ref()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(human_bytes(5 * 1024 * 1024), "5.0 MiB");
        assert_eq!(human_bytes(12), "12 bytes");
    }
}
