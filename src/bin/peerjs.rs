//! `peerjs`: a PeerJS peer and signaling server on the command line (feature `cli`).
//!
//! A thin layer over the `peerjs` library: every subcommand is a few calls to
//! [`peerjs::Peer`], [`peerjs::DataConnection`] or [`peerjs::server::Server`].
//!
//! ```text
//! peerjs demo                                   # everything below, in one process, offline
//! peerjs serve --port 9000                      # a PeerJS server (like `npx peerjs`)
//! peerjs echo --id echo                         # a peer that sends every message back
//! peerjs connect --to echo                      # netcat for PeerJS: JSON lines in and out
//! peerjs receive --id inbox --out downloads/    # receive one file
//! peerjs send report.pdf --to inbox             # send it, with a progress bar
//! ```
//!
//! # Reaching the server
//!
//! Every subcommand that registers a peer takes the same connection flags: `--host`
//! (default `127.0.0.1`), `--port` (default `9000`), `--path` (default `/`), `--key` (default
//! `peerjs`) and `--secure` (TLS), so by default they meet on a `peerjs serve` running on the
//! same machine. `--id` chooses the peer's id; without it the server assigns one.
//!
//! No STUN or TURN server is used unless given with `--ice-server URL` (repeatable), so
//! nothing leaves the machine by default. TURN credentials go into the URL:
//! `--ice-server turn:USER:PASSWORD@turn.example.org:3478`. When the server is on a loopback
//! address and no ICE server is given, ICE gathers candidates on loopback only (and mDNS is
//! off); otherwise on every interface. `--ice-address ADDR` (repeatable, e.g. `0.0.0.0:0`)
//! overrides that choice.
//!
//! # `peerjs serve`
//!
//! ```text
//! peerjs serve                                  # 127.0.0.1:9000, path /, key peerjs
//! peerjs serve --host 0.0.0.0 --port 9000 --path /myapp --key secret --allow-discovery
//! peerjs serve --sslkey key.pem --sslcert cert.pem --www ./public
//! peerjs serve --port 0                         # any free port
//! ```
//!
//! The flags are the official server's (`--alive_timeout` and the other snake_case
//! spellings are accepted too); timeouts are in milliseconds. The first line on stdout is
//! `PeerJS server listening on http://ADDRESS/PATH` (with the real port for `--port 0`).
//! SIGINT or SIGTERM stops it.
//!
//! # `peerjs echo`
//!
//! ```text
//! peerjs echo --id echo
//! ```
//!
//! Accepts data connections of every serialization (a legacy `none` offer is treated as
//! raw) and sends each message back on the same connection, in arrival order, re-encoded with
//! that connection's serialization. One line on stderr per connection opened and closed.
//! Runs until SIGINT or SIGTERM.
//!
//! # `peerjs connect`
//!
//! ```text
//! $ printf '%s\n' '"hi"' '{"n":1,"data":{"$bytes":"AAEC"}}' | peerjs connect --to echo --wait 2
//! "hi"
//! {"n":1,"data":{"$bytes":"AAEC"}}
//! ```
//!
//! Netcat for PeerJS. Each line of stdin is one JSON value, sent as one message; each message
//! received is printed as one line of JSON. See [`json`] for how values map to JSON, including
//! binary data as `{"$bytes":"<base64>"}`. Blank lines are skipped; an invalid line is
//! reported on stderr and skipped. After stdin ends, it waits until the remote peer has
//! acknowledged everything sent, keeps printing replies for `--wait SECONDS` and/or until
//! `--count N` messages were received in all (or the remote closes), then closes and exits 0.
//! It exits non-zero if the connection cannot be made (for example `peer-unavailable` for an
//! unknown id) or fails while sending.
//!
//! # `peerjs send` and `peerjs receive`
//!
//! ```text
//! peerjs receive --id inbox --out downloads/    # one file, then exit; --keep for more
//! peerjs send ./report.pdf --to inbox           # --name to save it under another name
//! ```
//!
//! File transfer with a progress bar and a SHA-256 check; see [`transfer`] for the protocol.
//! The receiver never writes outside `--out`. If either side goes away, the other exits
//! non-zero with a clear message, and the receiver deletes the partial file.
//!
//! # `peerjs demo`
//!
//! Starts a server on a free loopback port and two peers, `alice` and `bob`, in one process;
//! alice sends representative messages in every serialization to bob, who echoes them, then a
//! 5 MiB file; it prints a transcript with timings and exits 0 if everything arrived intact.
//! It needs no network beyond loopback. `--external` uses the server given by the connection
//! flags instead.
//!
//! # Logging
//!
//! Warnings of the library and errors of the WebRTC stack go to stderr; `-v` adds debug logs, `-vv` trace logs. `RUST_LOG`
//! (for example `RUST_LOG=peerjs=debug`) overrides both.

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

#[path = "peerjs/connect.rs"]
mod connect;
#[path = "peerjs/demo.rs"]
mod demo;
#[path = "peerjs/echo.rs"]
mod echo;
#[path = "peerjs/json.rs"]
mod json;
#[path = "peerjs/serve.rs"]
mod serve;
#[path = "peerjs/shutdown.rs"]
mod shutdown;
#[path = "peerjs/transfer.rs"]
mod transfer;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use peerjs::proto::codec::Serialization;
use peerjs::{IceServer, PeerOptions};

/// `peerjs`: a PeerJS-compatible WebRTC peer and signaling server.
#[derive(Debug, Parser)]
#[command(
    name = "peerjs",
    version,
    about = "A PeerJS-compatible WebRTC peer and signaling server",
    long_about = "A PeerJS-compatible WebRTC peer and signaling server.\n\n\
        Peers talk to browsers and Node.js peers that use PeerJS, through any PeerJS server. \
        By default every subcommand uses a server on 127.0.0.1:9000 (start one with \
        `peerjs serve`) and no STUN/TURN server, so nothing leaves the machine.",
    after_help = "Start with `peerjs demo`: a server and two peers in one process, offline.\n\
        Logging: -v for debug, -vv for trace; RUST_LOG overrides (e.g. RUST_LOG=peerjs=debug)."
)]
struct Cli {
    /// More logging on stderr: -v debug, -vv trace (RUST_LOG overrides)
    #[arg(short, long, action = clap::ArgAction::Count, global = true, display_order = 1000)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Serve(serve::ServeArgs),
    Echo(echo::EchoArgs),
    Connect(connect::ConnectArgs),
    Send(transfer::SendArgs),
    Receive(transfer::ReceiveArgs),
    Demo(demo::DemoArgs),
}

/// How a peer reaches its PeerJS server and sets up WebRTC: the flags every subcommand that
/// registers a peer shares.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Server and network")]
pub(crate) struct ConnFlags {
    /// Host name or IP address of the PeerJS server
    #[arg(long, value_name = "HOST", default_value = "127.0.0.1")]
    host: String,
    /// Port of the PeerJS server
    #[arg(long, value_name = "PORT", default_value_t = 9000)]
    port: u16,
    /// Path the PeerJS server is mounted on
    #[arg(long, value_name = "PATH", default_value = "/")]
    path: String,
    /// API key of the PeerJS server
    #[arg(long, value_name = "KEY", default_value = "peerjs")]
    key: String,
    /// Reach the server over TLS (https/wss)
    #[arg(long)]
    secure: bool,
    /// A STUN or TURN server (repeatable), e.g. stun:stun.example.org:3478 or
    /// turn:USER:PASSWORD@turn.example.org:3478. Default: none (loopback/LAN only)
    #[arg(long = "ice-server", value_name = "URL")]
    ice_servers: Vec<String>,
    /// A local address to gather ICE candidates on (repeatable; port 0 for any). Default:
    /// loopback only when the server is on loopback and no --ice-server is given, else every
    /// interface
    #[arg(long = "ice-address", value_name = "ADDR")]
    ice_addresses: Vec<SocketAddr>,
}

impl ConnFlags {
    /// The peer options these flags describe, registering as `id` if given.
    pub(crate) fn peer_options(&self, id: Option<&str>) -> Result<PeerOptions, Failure> {
        let mut options = PeerOptions::local(&self.host, self.port)
            .path(&self.path)
            .key(&self.key)
            .secure(self.secure);
        let servers = self.ice_servers()?;
        let loopback_only = servers.is_empty() && is_loopback_host(&self.host);
        options = options.ice_servers(servers);
        if !self.ice_addresses.is_empty() {
            options = options.ice_addresses(self.ice_addresses.iter().copied());
        } else if loopback_only {
            options = loopback(options);
        }
        if let Some(id) = id {
            options = options.id(id);
        }
        Ok(options)
    }

    /// The STUN and TURN servers given with `--ice-server`.
    pub(crate) fn ice_servers(&self) -> Result<Vec<IceServer>, Failure> {
        self.ice_servers
            .iter()
            .map(|url| parse_ice_server(url))
            .collect()
    }

    /// `host:port` of the server, for messages.
    pub(crate) fn server_display(&self) -> String {
        let scheme = if self.secure { "https" } else { "http" };
        format!("{scheme}://{}:{}{}", self.host, self.port, self.path)
    }
}

/// Restricts ICE to the loopback interfaces and turns mDNS off: peers on one machine.
pub(crate) fn loopback(options: PeerOptions) -> PeerOptions {
    options
        .ice_addresses([
            SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            SocketAddr::from((Ipv6Addr::LOCALHOST, 0)),
        ])
        .mdns(false)
}

fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Parses `scheme:[USER:PASSWORD@]host[:port][?query]` into an [`IceServer`].
fn parse_ice_server(url: &str) -> Result<IceServer, Failure> {
    let Some((scheme, rest)) = url.split_once(':') else {
        return Err(Failure::new(format!(
            "invalid --ice-server {url:?}: expected stun:HOST[:PORT] or turn:[USER:PASSWORD@]HOST[:PORT]"
        )));
    };
    if !matches!(scheme, "stun" | "stuns" | "turn" | "turns") {
        return Err(Failure::new(format!(
            "invalid --ice-server {url:?}: the scheme must be stun, stuns, turn or turns"
        )));
    }
    let rest = rest.trim_start_matches("//");
    match rest.rsplit_once('@') {
        Some((credentials, address)) => {
            let (user, password) = credentials.split_once(':').unwrap_or((credentials, ""));
            Ok(IceServer::new([format!("{scheme}:{address}")]).credentials(user, password))
        }
        None => Ok(IceServer::new([format!("{scheme}:{rest}")])),
    }
}

/// Parses a serialization name for clap: PeerJS's wire names, and `msgpack` in any case.
pub(crate) fn parse_serialization(name: &str) -> Result<Serialization, String> {
    name.parse().map_err(|_| {
        format!(
            "unknown serialization {name:?} (expected binary, binary-utf8, json, raw or msgpack)"
        )
    })
}

/// What ends a command with a non-zero exit status: a message for stderr and the status.
#[derive(Debug)]
pub(crate) struct Failure {
    message: String,
    code: u8,
}

impl Failure {
    /// A failure with exit status 1.
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 1,
        }
    }

    /// Ended by SIGINT or SIGTERM: exit status 130, as a shell reports Ctrl-C.
    pub(crate) fn interrupted(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 130,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<peerjs::Error> for Failure {
    fn from(e: peerjs::Error) -> Self {
        Self::new(e.to_string())
    }
}

/// Adds what was being done to an error's message.
pub(crate) trait Context<T> {
    /// `what: error`.
    fn context(self, what: impl fmt::Display) -> Result<T, Failure>;
}

impl<T, E: fmt::Display> Context<T> for Result<T, E> {
    fn context(self, what: impl fmt::Display) -> Result<T, Failure> {
        self.map_err(|e| Failure::new(format!("{what}: {e}")))
    }
}

fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    // The WebRTC stack warns about routine events (no candidate pairs yet, DTLS server
    // names); only its errors are shown by default.
    let default = match verbose {
        0 => "error,peerjs=warn",
        1 => "warn,peerjs=debug",
        _ => "debug,peerjs=trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let signals = shutdown::install();
    let (name, result) = match cli.command {
        Command::Serve(args) => ("serve", serve::run(args, signals).await),
        Command::Echo(args) => ("echo", echo::run(args, signals).await),
        Command::Connect(args) => ("connect", connect::run(args, signals).await),
        Command::Send(args) => ("send", transfer::run_send(args, signals).await),
        Command::Receive(args) => ("receive", transfer::run_receive(args, signals).await),
        Command::Demo(args) => ("demo", demo::run(args, signals).await),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("peerjs {name}: error: {failure}");
            ExitCode::from(failure.code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ice_server_urls_with_and_without_credentials() {
        let stun = parse_ice_server("stun:stun.example.org:3478").unwrap();
        assert_eq!(stun.urls(), ["stun:stun.example.org:3478"]);
        let turn = parse_ice_server("turn:me:pw@turn.example.org:3478?transport=udp").unwrap();
        assert_eq!(turn.urls(), ["turn:turn.example.org:3478?transport=udp"]);
        assert_eq!(
            turn,
            IceServer::new(["turn:turn.example.org:3478?transport=udp"]).credentials("me", "pw")
        );
        assert!(parse_ice_server("http://example.org").is_err());
        assert!(parse_ice_server("nonsense").is_err());
    }

    #[test]
    fn loopback_hosts() {
        for host in [
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "[::1]",
            "localhost",
            "LOCALHOST",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in ["0.0.0.0", "192.168.1.2", "example.org", "0.peerjs.com"] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
