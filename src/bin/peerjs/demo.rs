//! `peerjs demo`: a server and two peers in one process, every serialization and a file.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use peerjs::proto::codec::Serialization;
use peerjs::server::{Server, ServerOptions};
use peerjs::{ConnectOptions, Peer, PeerEvent, PeerOptions, Timestamp, Value};
use tokio::sync::mpsc;

use crate::shutdown::Signals;
use crate::transfer::{self, ReceiveOptions, Received};
use crate::{ConnFlags, Context, Failure, echo};

/// How long one echo may take.
const ECHO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the file transfer may take.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(120);

/// A server and two peers in one process, offline: every serialization and a file
#[derive(Debug, Args)]
#[command(
    long_about = "Show what this crate does, offline: start a PeerJS server on a free loopback \
        port and two native peers, alice and bob, in this process. Bob echoes; alice sends \
        representative messages (strings, numbers, nested maps, binary: what each \
        serialization can carry) in every serialization and checks the echoes, then sends bob \
        a generated file with the code of `peerjs send`/`peerjs receive` and checks it.\n\n\
        Prints a transcript with timings and a summary; exits 0 if everything arrived intact, \
        non-zero otherwise. Without --external the server flags (--host, --port, --path, --key, \
        --secure) are not used.",
    after_help = "Example:\n  peerjs demo\n  peerjs demo --file-size 50000000\n  \
        peerjs demo --external --host peers.example.org --port 443 --secure \
        --ice-server stun:stun.example.org:3478"
)]
pub(crate) struct DemoArgs {
    /// Size of the generated file to transfer, in bytes (0 to skip the file)
    #[arg(long, value_name = "BYTES", default_value_t = 5 * 1024 * 1024)]
    file_size: u64,
    /// Use the PeerJS server given by the server flags instead of starting one (the peers'
    /// ids then get a per-process suffix)
    #[arg(long)]
    external: bool,
    #[command(flatten)]
    conn: ConnFlags,
}

/// Runs `peerjs demo`.
pub(crate) async fn run(args: DemoArgs, signals: Signals) -> Result<(), Failure> {
    let work = TempDir::new()?;
    let result = tokio::select! {
        result = demo(&args, &work.0) => result,
        name = signals.recv() => Err(Failure::interrupted(format!("{name}: demo stopped"))),
    };
    drop(work);
    result
}

async fn demo(args: &DemoArgs, work: &Path) -> Result<(), Failure> {
    let start = Instant::now();
    let at = || format!("[{:>7}]", short(start.elapsed()));
    println!(
        "peerjs demo: a PeerJS server and two native peers, alice and bob, talking over WebRTC"
    );
    println!();

    // The server: ours on a free loopback port, or the one the flags name.
    let (server, options, suffix) = if args.external {
        let options = args.conn.peer_options(None)?;
        println!(
            "{} using the PeerJS server at {}",
            at(),
            args.conn.server_display()
        );
        (
            None,
            options,
            format!("-{:04x}", std::process::id() & 0xffff),
        )
    } else {
        let server = Server::bind(ServerOptions::default().port(0)).await?;
        let port = server.local_addr().port();
        println!(
            "{} server  listening on {} (path /, key peerjs)",
            at(),
            server.local_addr()
        );
        let options = crate::loopback(PeerOptions::local("127.0.0.1", port))
            .ice_servers(args.conn.ice_servers()?);
        (Some(server), options, String::new())
    };
    let (alice_id, bob_id) = (format!("alice{suffix}"), format!("bob{suffix}"));

    let bob = Peer::new(options.clone().id(bob_id.as_str()))
        .await
        .context("bob cannot register")?;
    println!(
        "{} bob     registered as {bob_id:?}; he echoes every message back",
        at()
    );
    let alice = Peer::new(options.id(alice_id.as_str()))
        .await
        .context("alice cannot register")?;
    println!("{} alice   registered as {alice_id:?}", at());

    let inbox = work.join("bob");
    tokio::fs::create_dir_all(&inbox)
        .await
        .context("cannot create a temporary directory")?;
    let (files_tx, mut files) = mpsc::unbounded_channel();
    let bob_task = tokio::spawn(run_bob(
        bob.clone(),
        ReceiveOptions {
            dir: inbox,
            force: false,
            max_size: u64::MAX,
        },
        files_tx,
    ));

    let mut summary = Summary::default();
    for serialization in Serialization::ALL {
        exchange(&alice, &bob_id, serialization, &mut summary).await;
    }
    if args.file_size > 0 {
        send_a_file(
            &alice,
            &bob_id,
            args.file_size,
            work,
            &mut files,
            &mut summary,
        )
        .await;
    }

    alice.destroy();
    bob.destroy();
    bob_task.abort();
    if let Some(server) = server {
        server.shutdown().await;
    }
    println!();
    let file = match summary.file {
        Some(size) => format!(", a file of {} verified", transfer::human_bytes(size)),
        None => String::new(),
    };
    if summary.failures.is_empty() {
        println!(
            "summary: ok: {} serializations, {} of {} messages echoed intact{file}, in {}",
            Serialization::ALL.len(),
            summary.intact,
            summary.sent,
            short(start.elapsed())
        );
        Ok(())
    } else {
        println!(
            "summary: FAILED: {} of {} messages echoed intact{file}; {} failures:",
            summary.intact,
            summary.sent,
            summary.failures.len()
        );
        for failure in &summary.failures {
            println!("  - {failure}");
        }
        Err(Failure::new(format!(
            "{} failures (see the transcript)",
            summary.failures.len()
        )))
    }
}

/// What happened, for the summary.
#[derive(Debug, Default)]
struct Summary {
    sent: usize,
    intact: usize,
    file: Option<u64>,
    failures: Vec<String>,
}

/// Bob: echoes every connection, and receives the file connection.
async fn run_bob(
    bob: Peer,
    options: ReceiveOptions,
    files: mpsc::UnboundedSender<Result<Received, Failure>>,
) {
    while let Some(event) = bob.next_event().await {
        match event {
            PeerEvent::Connection(conn) if transfer::offer(&conn).is_some() => {
                let options = options.clone();
                let files = files.clone();
                tokio::spawn(async move {
                    let hidden = indicatif::ProgressBar::hidden();
                    if let Some(result) = transfer::receive_file(&conn, &options, &hidden).await {
                        let _ = files.send(result);
                    }
                });
            }
            PeerEvent::Connection(conn) => {
                tokio::spawn(echo::echo_connection(conn, false));
            }
            PeerEvent::Error(e) => eprintln!("demo: bob: {e}"),
            PeerEvent::Closed => return,
            _ => {}
        }
    }
}

/// One connection in `serialization`: alice sends each sample, bob echoes, alice compares.
async fn exchange(alice: &Peer, bob: &str, serialization: Serialization, summary: &mut Summary) {
    println!();
    let options = ConnectOptions::default()
        .serialization(serialization)
        .reliable(true)
        .label(format!("demo-{serialization}"))
        .timeout(CONNECT_TIMEOUT);
    let start = Instant::now();
    let conn = match alice.connect(bob, options).await {
        Ok(conn) => conn,
        Err(e) => {
            println!("{}: cannot connect: {e}", describe(serialization));
            summary
                .failures
                .push(format!("{serialization}: cannot connect: {e}"));
            return;
        }
    };
    println!(
        "{}: connected in {}",
        describe(serialization),
        short(start.elapsed())
    );
    for (what, value) in samples(serialization) {
        summary.sent += 1;
        let start = Instant::now();
        let echoed = async {
            conn.send_value(value.clone()).await?;
            conn.recv().await
        };
        let outcome = match tokio::time::timeout(ECHO_TIMEOUT, echoed).await {
            Ok(Ok(back)) if back == value => Ok(()),
            Ok(Ok(back)) => Err(format!("came back different: {}", shown(&back))),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no echo within {ECHO_TIMEOUT:?}")),
        };
        let elapsed = short(start.elapsed());
        match outcome {
            Ok(()) => {
                summary.intact += 1;
                println!("  {what:<13} {:<46} {elapsed:>9}  ok", shown(&value));
            }
            Err(e) => {
                println!(
                    "  {what:<13} {:<46} {elapsed:>9}  FAILED: {e}",
                    shown(&value)
                );
                summary
                    .failures
                    .push(format!("{serialization}, {what}: {e}"));
            }
        }
    }
    conn.close().await;
}

fn describe(serialization: Serialization) -> &'static str {
    match serialization {
        Serialization::Binary => "binary (BinaryPack, PeerJS's default)",
        Serialization::BinaryUtf8 => "binary-utf8 (BinaryPack under its PeerJS 1.3/1.4 name)",
        Serialization::Json => "json (JSON text: no binary data)",
        Serialization::Raw => "raw (strings and bytes as they are)",
        Serialization::MsgPack => "MsgPack (MessagePack, as PeerJS 1.5's MsgPackPeer)",
        _ => "another serialization",
    }
}

/// Representative messages that `serialization` carries, with a short description each.
fn samples(serialization: Serialization) -> Vec<(&'static str, Value)> {
    let text = ("string", Value::from("hello, bob"));
    let unicode = ("unicode", Value::from("grüße, ¿qué tal? ✓"));
    let nested = Value::Map(vec![
        ("from".into(), "alice".into()),
        ("seq".into(), 1.into()),
        (
            "tags".into(),
            Value::Array(vec!["a".into(), Value::Nil, true.into()]),
        ),
        (
            "pos".into(),
            Value::Map(vec![("x".into(), 1.5.into()), ("y".into(), (-2).into())]),
        ),
    ]);
    let with_bytes = Value::Map(vec![
        ("name".into(), "key.bin".into()),
        ("data".into(), Value::Binary(vec![0xde, 0xad, 0xbe, 0xef])),
    ]);
    let bytes: Vec<u8> = (0..=255).collect();
    let large: Vec<u8> = pseudo_random(7, 100 * 1024);
    match serialization {
        Serialization::Raw => vec![
            text,
            unicode,
            ("bytes", Value::Binary(bytes)),
            ("100 KiB bytes", Value::Binary(large)),
        ],
        Serialization::Json => vec![
            text,
            unicode,
            ("integer", Value::Int(42)),
            ("float", Value::Float(3.25)),
            (
                "array",
                Value::Array(vec![1.into(), "two".into(), Value::Nil]),
            ),
            ("nested map", nested),
        ],
        Serialization::MsgPack => vec![
            text,
            ("integer", Value::Int(-7)),
            ("u64", Value::UInt(u64::MAX)),
            ("float", Value::Float(0.1)),
            ("nested map", nested),
            ("map + bytes", with_bytes),
            (
                "date",
                Value::Timestamp(Timestamp::from_millis(1_700_000_000_123)),
            ),
            ("100 KiB bytes", Value::Binary(large)),
        ],
        _ => vec![
            text,
            unicode,
            ("integer", Value::Int(42)),
            ("float", Value::Float(3.25)),
            ("nested map", nested),
            ("map + bytes", with_bytes),
            ("bytes", Value::Binary(bytes)),
            ("100 KiB bytes", Value::Binary(large)),
        ],
    }
}

/// A value as JSON, shortened for the transcript.
fn shown(value: &Value) -> String {
    let text = match value {
        Value::Binary(b) if b.len() > 16 => format!("<{} bytes>", b.len()),
        Value::Timestamp(_) => format!("Date {}", crate::json::to_line(value)),
        other => crate::json::to_line(other),
    };
    if text.chars().count() > 46 {
        let cut: String = text.chars().take(43).collect();
        format!("{cut}...")
    } else {
        text
    }
}

/// Alice sends a generated file to bob with `peerjs send`'s code; bob stores it with
/// `peerjs receive`'s; the demo compares the two files.
async fn send_a_file(
    alice: &Peer,
    bob: &str,
    size: u64,
    work: &Path,
    files: &mut mpsc::UnboundedReceiver<Result<Received, Failure>>,
    summary: &mut Summary,
) {
    println!();
    println!("file transfer (the protocol of `peerjs send` and `peerjs receive`):");
    match transfer_file(alice, bob, size, work, files).await {
        Ok(()) => summary.file = Some(size),
        Err(e) => {
            println!("  FAILED: {e}");
            summary.failures.push(format!("file transfer: {e}"));
        }
    }
}

async fn transfer_file(
    alice: &Peer,
    bob: &str,
    size: u64,
    work: &Path,
    files: &mut mpsc::UnboundedReceiver<Result<Received, Failure>>,
) -> Result<(), Failure> {
    let path = work.join("demo.bin");
    let len = usize::try_from(size).context("the file size")?;
    let content = pseudo_random(size ^ 0x5eed, len);
    tokio::fs::write(&path, &content)
        .await
        .context("cannot write the demo file")?;
    println!(
        "  alice   generated demo.bin: {} of pseudo-random bytes",
        transfer::human_bytes(size)
    );
    let start = Instant::now();
    let conn = alice
        .connect(
            bob,
            transfer::connect_options("demo.bin", size)?.timeout(CONNECT_TIMEOUT),
        )
        .await?;
    println!("  alice   connected to {bob} in {}", short(start.elapsed()));
    let progress = transfer::progress_bar(size, format!("sending demo.bin to {bob}"));
    let sent = tokio::time::timeout(
        TRANSFER_TIMEOUT,
        transfer::send_file(&conn, &path, size, &progress),
    )
    .await
    .map_err(|_| Failure::new(format!("not done within {TRANSFER_TIMEOUT:?}")))??;
    progress.finish_and_clear();
    conn.close().await;
    println!(
        "  alice   sent it in {} ({}), sha256 {}",
        short(sent.elapsed),
        transfer::rate(sent.size, sent.elapsed),
        sent.sha256
    );
    let received = tokio::time::timeout(Duration::from_secs(10), files.recv())
        .await
        .ok()
        .flatten()
        .ok_or_else(|| Failure::new("bob did not report the file"))??;
    println!(
        "  bob     checked size and SHA-256, saved it as {}",
        received
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    let stored = tokio::fs::read(&received.path)
        .await
        .context("cannot read bob's copy")?;
    if stored != content {
        return Err(Failure::new("bob's copy differs from alice's file"));
    }
    println!("  both    the copies are identical, byte for byte: ok");
    Ok(())
}

/// Deterministic pseudo-random bytes (xorshift64*).
fn pseudo_random(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A duration for people: `850 µs`, `12.3 ms`, `1.25 s`.
fn short(d: Duration) -> String {
    let micros = d.as_secs_f64() * 1e6;
    if micros < 1000.0 {
        format!("{micros:.0} µs")
    } else if micros < 1e6 {
        format!("{:.1} ms", micros / 1000.0)
    } else {
        format!("{:.2} s", micros / 1e6)
    }
}

/// A private temporary directory, deleted with its content on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<Self, Failure> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let path =
            std::env::temp_dir().join(format!("peerjs-demo-{}-{nanos:08x}", std::process::id()));
        std::fs::create_dir_all(&path).context(format!("cannot create {}", path.display()))?;
        Ok(Self(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudo_random_bytes_are_deterministic_and_sized() {
        assert_eq!(pseudo_random(1, 13).len(), 13);
        assert_eq!(pseudo_random(1, 1000), pseudo_random(1, 1000));
        assert_ne!(pseudo_random(1, 1000), pseudo_random(2, 1000));
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(short(Duration::from_micros(850)), "850 µs");
        assert_eq!(short(Duration::from_micros(12_340)), "12.3 ms");
        assert_eq!(short(Duration::from_millis(1250)), "1.25 s");
    }
}
