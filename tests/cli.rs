//! The `peerjs` binary end to end: each test starts its own `peerjs serve --port 0` and the
//! peers it needs as processes, all on 127.0.0.1.
#![cfg(feature = "cli")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_peerjs");
/// How long any one command may run before the test fails.
const LIMIT: Duration = Duration::from_secs(60);

/// A running `peerjs` process, killed when dropped, with its stdout as lines.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: std::thread::JoinHandle<String>,
}

impl Running {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("peerjs starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = read_all(child.stderr.take().unwrap());
        Self {
            child,
            lines,
            stderr,
        }
    }

    /// The next stdout line, within 15 s.
    fn line(&self) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(15))
            .expect("a line on stdout in time")
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the exit within `limit`; returns the status and the stderr text.
    fn wait(mut self, limit: Duration) -> (ExitStatus, String) {
        let status = wait_for(&mut self.child, limit);
        let stderr = std::mem::replace(&mut self.stderr, std::thread::spawn(String::new));
        (status, stderr.join().unwrap())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_all(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

fn wait_for(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("peerjs did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A finished command: status, stdout, stderr.
struct Output {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs `peerjs args` with `stdin`, to completion (within [`LIMIT`]).
fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("peerjs starts");
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_owned();
    std::thread::spawn(move || {
        let _ = input.write_all(stdin.as_bytes());
    });
    let stdout = read_all(child.stdout.take().unwrap());
    let stderr = read_all(child.stderr.take().unwrap());
    let status = wait_for(&mut child, LIMIT);
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// `peerjs serve --port 0`; returns it and its port, read from its first line.
fn serve(extra: &[&str]) -> (Running, String) {
    let mut args = vec!["serve", "--port", "0"];
    args.extend_from_slice(extra);
    let server = Running::start(&args);
    let first = server.line();
    let address = first
        .strip_prefix("PeerJS server listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
    let address = address.split('/').next().unwrap();
    let port = address.rsplit(':').next().unwrap().to_owned();
    assert!(address.starts_with("127.0.0.1:"), "{address}");
    (server, port)
}

/// Starts `peerjs <command> --port PORT args…` and waits for its "registered as" line.
fn registered(command: &str, port: &str, args: &[&str]) -> Running {
    let mut all = vec![command, "--port", port];
    all.extend_from_slice(args);
    let running = Running::start(&all);
    let line = running.line();
    assert!(line.contains("registered as"), "{line}");
    running
}

/// A fresh directory under the system's temporary directory.
fn temp_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let dir =
        std::env::temp_dir().join(format!("peerjs-cli-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn pseudo_random(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn lines_for(serialization: &str) -> Vec<String> {
    let big = format!(r#"{{"$bytes":"{}"}}"#, base64(&pseudo_random(100_000)));
    let lines: &[&str] = match serialization {
        "raw" => &[r#""hello""#, r#"{"$bytes":"AAEC/w=="}"#, r#""é😀""#],
        "json" => &[
            r#""hello""#,
            "-129",
            "2.5",
            r#"{"a":[1,{"b":"c"}],"n":null}"#,
            r#"[1,"two",null,true]"#,
        ],
        _ => &[
            r#""hello""#,
            "-129",
            "18446744073709551615",
            "2.5",
            r#"{"$bytes":"AAEC/w=="}"#,
            r#"{"$bytes":""}"#,
            r#"{"a":[1,{"b":{"$bytes":"3q2+7w=="}}],"n":null,"t":true}"#,
            r#"[{"$bytes":"AA=="},[{"deeper":{"$bytes":"AQI="}}]]"#,
        ],
    };
    let mut lines: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    if serialization != "json" {
        lines.push(big);
    }
    lines
}

#[test]
fn connect_round_trips_every_serialization_through_echo() {
    let (_server, port) = serve(&[]);
    let _echo = registered("echo", &port, &["--id", "echo"]);
    for serialization in ["binary", "binary-utf8", "json", "raw", "msgpack"] {
        let lines = lines_for(serialization);
        let count = lines.len().to_string();
        let input = lines.join("\n") + "\n";
        let out = run(
            &[
                "connect",
                "--port",
                &port,
                "--to",
                "echo",
                "--serialization",
                serialization,
                "--reliable",
                "--count",
                &count,
                "--wait",
                "20",
            ],
            &input,
        );
        assert!(
            out.status.success(),
            "{serialization}: {:?}\n{}",
            out.status,
            out.stderr
        );
        let got: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(got, lines, "{serialization}\nstderr: {}", out.stderr);
    }
}

#[test]
fn connect_skips_invalid_lines_and_reports_them() {
    let (_server, port) = serve(&[]);
    let _echo = registered("echo", &port, &["--id", "echo"]);
    let input = "\"one\"\nnot json\n\n{\"$bytes\":\"***\"}\nnull\n\"two\"\n";
    let out = run(
        &[
            "connect",
            "--port",
            &port,
            "--to",
            "echo",
            "--reliable",
            "--count",
            "2",
        ],
        input,
    );
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        ["\"one\"", "\"two\""]
    );
    assert!(
        out.stderr.contains("line 2 skipped: invalid JSON"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("line 4 skipped: invalid base64"),
        "{}",
        out.stderr
    );
    // A top-level null cannot be sent to PeerJS peers: reported, not fatal.
    assert!(out.stderr.contains("line 5 skipped"), "{}", out.stderr);
}

#[test]
fn connect_to_an_unknown_id_fails_with_peer_unavailable() {
    let (_server, port) = serve(&[]);
    let out = run(&["connect", "--port", &port, "--to", "nobody"], "\"hi\"\n");
    assert!(!out.status.success());
    assert!(out.stderr.contains("peer-unavailable"), "{}", out.stderr);
}

#[test]
fn send_and_receive_a_file() {
    let (_server, port) = serve(&[]);
    let dir = temp_dir("transfer");
    let out_dir = dir.join("inbox");
    let receiver = registered(
        "receive",
        &port,
        &["--id", "inbox", "--out", out_dir.to_str().unwrap()],
    );
    let content = pseudo_random(3 * 1024 * 1024 + 12_345);
    let file = dir.join("payload.bin");
    std::fs::write(&file, &content).unwrap();

    let out = run(
        &[
            "send",
            file.to_str().unwrap(),
            "--port",
            &port,
            "--to",
            "inbox",
        ],
        "",
    );
    assert!(out.status.success(), "{}", out.stderr);
    assert!(
        out.stdout.starts_with("sent payload.bin ("),
        "{}",
        out.stdout
    );
    let saved = receiver.line();
    assert!(saved.starts_with("received "), "{saved}");
    let (status, stderr) = receiver.wait(Duration::from_secs(15));
    assert!(status.success(), "{stderr}");
    assert_eq!(std::fs::read(out_dir.join("payload.bin")).unwrap(), content);
    assert_eq!(entries(&out_dir), ["payload.bin"]);
    let _ = std::fs::remove_dir_all(&dir);
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn receive_never_writes_outside_its_directory() {
    let (_server, port) = serve(&[]);
    let dir = temp_dir("traversal");
    let out_dir = dir.join("inbox");
    let file = dir.join("payload.bin");
    std::fs::write(&file, b"secret").unwrap();

    // `..` is refused: both sides fail and say why; nothing is written.
    let receiver = registered(
        "receive",
        &port,
        &["--id", "r1", "--out", out_dir.to_str().unwrap()],
    );
    let out = run(
        &[
            "send",
            file.to_str().unwrap(),
            "--port",
            &port,
            "--to",
            "r1",
            "--name",
            "..",
        ],
        "",
    );
    assert!(!out.status.success());
    assert!(out.stderr.contains("invalid file name"), "{}", out.stderr);
    let (status, stderr) = receiver.wait(Duration::from_secs(15));
    assert!(!status.success());
    assert!(stderr.contains("invalid file name"), "{stderr}");
    assert!(entries(&out_dir).is_empty());

    // Directories are stripped: `../escaped.bin` lands in the inbox as `escaped.bin`.
    let receiver = registered(
        "receive",
        &port,
        &["--id", "r2", "--out", out_dir.to_str().unwrap()],
    );
    let out = run(
        &[
            "send",
            file.to_str().unwrap(),
            "--port",
            &port,
            "--to",
            "r2",
            "--name",
            "../escaped.bin",
        ],
        "",
    );
    assert!(out.status.success(), "{}", out.stderr);
    let (status, stderr) = receiver.wait(Duration::from_secs(15));
    assert!(status.success(), "{stderr}");
    assert_eq!(entries(&out_dir), ["escaped.bin"]);
    assert_eq!(entries(&dir), ["inbox", "payload.bin"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn both_sides_fail_clearly_when_the_receiver_goes_away_mid_transfer() {
    let (_server, port) = serve(&[]);
    let dir = temp_dir("gone");
    let out_dir = dir.join("inbox");
    let receiver = registered(
        "receive",
        &port,
        &["--id", "inbox", "--out", out_dir.to_str().unwrap()],
    );
    let file = dir.join("big.bin");
    std::fs::write(&file, pseudo_random(64 * 1024 * 1024)).unwrap();
    let sender = Running::start(&[
        "send",
        file.to_str().unwrap(),
        "--port",
        &port,
        "--to",
        "inbox",
    ]);

    // Interrupt the receiver once the partial file has data.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let partial = std::fs::read_dir(&out_dir)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| e.metadata().is_ok_and(|m| m.len() > 0));
        if partial {
            break;
        }
        assert!(Instant::now() < deadline, "no data arrived");
        std::thread::sleep(Duration::from_millis(10));
    }
    kill("-INT", receiver.pid());
    let (status, stderr) = receiver.wait(Duration::from_secs(5));
    assert!(!status.success());
    assert!(stderr.contains("partial file deleted"), "{stderr}");
    assert!(entries(&out_dir).is_empty(), "{:?}", entries(&out_dir));

    let (status, stderr) = sender.wait(Duration::from_secs(40));
    assert!(!status.success());
    assert!(stderr.contains("went away"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn kill(signal: &str, pid: u32) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn echo_exits_promptly_on_sigint() {
    let (_server, port) = serve(&[]);
    let echo = registered("echo", &port, &["--id", "echo"]);
    // With a connection open, too.
    let out = run(
        &[
            "connect", "--port", &port, "--to", "echo", "--count", "1", "--wait", "20",
        ],
        "\"ping\"\n",
    );
    assert!(out.status.success(), "{}", out.stderr);
    let start = Instant::now();
    kill("-INT", echo.pid());
    let (status, stderr) = echo.wait(Duration::from_secs(3));
    assert!(start.elapsed() < Duration::from_secs(3));
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("connection opened"), "{stderr}");
}

#[test]
fn serve_stops_on_sigterm_and_takes_the_official_flag_spellings() {
    let (server, port) = serve(&[
        "--allow_discovery",
        "--alive_timeout",
        "60000",
        "--expire_timeout",
        "2000",
        "--concurrent_limit",
        "10",
        "--key",
        "k",
        "--path",
        "/app",
    ]);
    let _peer = registered(
        "echo",
        &port,
        &["--id", "listed", "--key", "k", "--path", "/app"],
    );
    let mut http = TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
    http.write_all(b"GET /app/k/peers HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    http.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with(r#"["listed"]"#), "{response}");

    kill("-TERM", server.pid());
    let (status, _) = server.wait(Duration::from_secs(3));
    assert!(status.success());
}

#[test]
fn demo_exits_zero_with_its_summary() {
    let out = run(&["demo"], "");
    assert!(out.status.success(), "{}\n{}", out.stdout, out.stderr);
    let last = out.stdout.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("summary: ok: 5 serializations"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("identical, byte for byte: ok"),
        "{}",
        out.stdout
    );
}

#[test]
fn every_subcommand_documents_its_flags() {
    for (command, flags) in [
        (
            "serve",
            &[
                "--allow-discovery",
                "--sslkey",
                "--www",
                "--concurrent-limit",
            ][..],
        ),
        (
            "echo",
            &[
                "--id",
                "--host",
                "--port",
                "--path",
                "--key",
                "--secure",
                "--ice-server",
            ],
        ),
        (
            "connect",
            &[
                "--to",
                "--serialization",
                "--reliable",
                "--label",
                "--metadata",
                "--wait",
            ],
        ),
        ("send", &["--to", "--name", "--secure"]),
        ("receive", &["--out", "--keep", "--force"]),
        ("demo", &["--file-size", "--external"]),
    ] {
        let out = run(&[command, "--help"], "");
        assert!(out.status.success());
        for flag in flags {
            assert!(out.stdout.contains(flag), "{command} --help lacks {flag}");
        }
    }
}
