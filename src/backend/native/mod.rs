//! The native backend: webrtc-rs peer connections, tokio, tokio-tungstenite signaling.
//!
//! What the shared driver and connection code need from a backend: spawning, time, randomness,
//! the signaling transports ([`Net`], [`http_get`], [`run_socket`]) and the WebRTC connection
//! task ([`run_connection`], [`Channel`], [`RtcSettings`]).

mod connection;
mod net;
mod runtime;
mod setup;

use std::future::Future;

pub(crate) use connection::{Channel, RtcSettings, run_connection};
pub(crate) use net::{Net, http_get, run_socket};

use crate::time::{Duration, Instant};

/// Runs a task on the current tokio runtime.
pub(crate) fn spawn(task: impl Future<Output = ()> + Send + 'static) {
    tokio::spawn(task);
}

/// The current time.
pub(crate) fn now() -> Instant {
    Instant::now()
}

/// Waits for `duration`.
pub(crate) async fn sleep(duration: Duration) {
    tokio::time::sleep(duration).await;
}

/// Waits until `deadline`.
pub(crate) async fn sleep_until(deadline: Instant) {
    tokio::time::sleep_until(deadline.into()).await;
}

/// Milliseconds since the Unix epoch.
pub(crate) fn unix_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Fills `buf` with random bytes from the operating system.
pub(crate) fn random_bytes(buf: &mut [u8]) {
    if getrandom::fill(buf).is_err() {
        // The OS generator is unavailable (extremely rare); fall back to a time-seeded mix so
        // tokens stay unique, if not unpredictable.
        let mut x = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9e37_79b9_7f4a_7c15, |d| d.as_nanos() as u64);
        for b in buf {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
    }
}

/// A random `u64` from the operating system.
pub(crate) fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    random_bytes(&mut b);
    u64::from_le_bytes(b)
}
