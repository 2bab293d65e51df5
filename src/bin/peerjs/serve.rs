//! `peerjs serve`: the PeerJS signaling server.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use peerjs::server::{Server, ServerOptions};

use crate::shutdown::Signals;
use crate::{Context, Failure};

/// Run a PeerJS signaling server
#[derive(Debug, Args)]
#[command(
    long_about = "Run a PeerJS signaling server, compatible with the official `peer` server: \
        browsers and Node.js peers using PeerJS can use it as their `host`/`port`/`path`/`key`.\n\n\
        The flags are named like the official server's (snake_case spellings such as \
        --alive_timeout are accepted too); timeouts are in milliseconds.\n\n\
        The first line on stdout is `PeerJS server listening on http://ADDRESS/PATH`, with the \
        real port when --port is 0. Stops on SIGINT or SIGTERM.",
    after_help = "Examples:\n  peerjs serve\n  \
        peerjs serve --host 0.0.0.0 --port 9000 --path /myapp --key secret --allow-discovery\n  \
        peerjs serve --port 443 --sslkey key.pem --sslcert cert.pem --www ./public"
)]
pub(crate) struct ServeArgs {
    /// Address to listen on: an IP address or a host name (0.0.0.0 or :: for every interface)
    #[arg(long, short = 'H', value_name = "HOST", default_value = "127.0.0.1")]
    host: String,
    /// TCP port to listen on (0 for any free port)
    #[arg(long, short, value_name = "PORT", default_value_t = 9000)]
    port: u16,
    /// Path to mount the API and the WebSocket on
    #[arg(long, value_name = "PATH", default_value = "/")]
    path: String,
    /// The API key clients must use
    #[arg(long, short, value_name = "KEY", default_value = "peerjs")]
    key: String,
    /// Let clients list the registered ids (GET PATH/KEY/peers)
    #[arg(long, alias = "allow_discovery")]
    allow_discovery: bool,
    /// Milliseconds a client may stay silent (no HEARTBEAT) before it is dropped
    #[arg(
        long,
        alias = "alive_timeout",
        value_name = "MS",
        default_value_t = 90_000
    )]
    alive_timeout: u64,
    /// Milliseconds messages for an absent peer are kept before the sender gets EXPIRE
    #[arg(
        long,
        short = 't',
        alias = "expire_timeout",
        value_name = "MS",
        default_value_t = 5000
    )]
    expire_timeout: u64,
    /// The most clients registered at once
    #[arg(
        long,
        short = 'c',
        alias = "concurrent_limit",
        value_name = "N",
        default_value_t = 5000
    )]
    concurrent_limit: usize,
    /// PEM private key, to serve HTTPS and WSS (with --sslcert)
    #[arg(long, value_name = "FILE", requires = "sslcert")]
    sslkey: Option<PathBuf>,
    /// PEM certificate chain, to serve HTTPS and WSS (with --sslkey)
    #[arg(long, value_name = "FILE", requires = "sslkey")]
    sslcert: Option<PathBuf>,
    /// Also serve the static files of this directory (for a web page using PeerJS)
    #[arg(long, value_name = "DIR")]
    www: Option<PathBuf>,
}

/// Runs `peerjs serve` until a signal.
pub(crate) async fn run(args: ServeArgs, signals: Signals) -> Result<(), Failure> {
    let host = resolve(&args.host, args.port).await?;
    let mut options = ServerOptions::default()
        .host(host)
        .port(args.port)
        .path(&args.path)
        .key(args.key.as_str())
        .allow_discovery(args.allow_discovery)
        .alive_timeout(Duration::from_millis(args.alive_timeout))
        .expire_timeout(Duration::from_millis(args.expire_timeout))
        .concurrent_limit(args.concurrent_limit);
    let secure = if let (Some(key), Some(cert)) = (&args.sslkey, &args.sslcert) {
        options = options.tls(key, cert);
        true
    } else {
        false
    };
    if let Some(dir) = &args.www {
        if !dir.is_dir() {
            return Err(Failure::new(format!(
                "--www {}: not a directory",
                dir.display()
            )));
        }
        options = options.www(dir);
    }
    let path = options.get_path().to_owned();
    let server = Server::bind(options).await?;
    let scheme = if secure { "https" } else { "http" };
    println!(
        "PeerJS server listening on {scheme}://{}{path}",
        server.local_addr()
    );
    eprintln!(
        "serve: key {:?}, discovery {}, alive timeout {} ms, expire timeout {} ms, at most {} clients{}",
        args.key,
        if args.allow_discovery { "on" } else { "off" },
        args.alive_timeout,
        args.expire_timeout,
        args.concurrent_limit,
        args.www
            .as_ref()
            .map(|dir| format!(", static files from {}", dir.display()))
            .unwrap_or_default(),
    );
    let name = signals.recv().await;
    eprintln!("serve: {name}: stopping");
    server.shutdown().await;
    Ok(())
}

/// The address to bind: `host` itself if it is an IP address, else its first resolved address.
async fn resolve(host: &str, port: u16) -> Result<IpAddr, Failure> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(ip);
    }
    let mut addresses = tokio::net::lookup_host((host, port))
        .await
        .context(format_args!("cannot resolve --host {host}"))?;
    addresses
        .next()
        .map(|addr| addr.ip())
        .ok_or_else(|| Failure::new(format!("--host {host} has no address")))
}
