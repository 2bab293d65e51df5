//! The native backend: webrtc-rs peer connections, tokio, tokio-tungstenite signaling.
