//! The one place where the target picks the backend.
//!
//! Native targets use webrtc-rs, tokio and tokio-tungstenite; `wasm32-unknown-unknown` uses the
//! browser's `RTCPeerConnection` and `WebSocket` through web-sys. Fuzzing builds have neither:
//! they exercise the sans-IO core only.

cfg_if::cfg_if! {
    if #[cfg(wasm_browser)] {
        pub(crate) mod wasm;
        pub(crate) use wasm as imp;
    } else if #[cfg(native)] {
        pub(crate) mod native;
        pub(crate) use native as imp;
    }
}
