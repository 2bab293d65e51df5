//! The native backend: webrtc-rs peer connections, tokio, tokio-tungstenite signaling.

pub(crate) mod connection;
pub(crate) mod net;
pub(crate) mod peer;
mod runtime;

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
