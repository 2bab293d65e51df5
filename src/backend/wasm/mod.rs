//! The wasm backend: the browser's `RTCPeerConnection` and `WebSocket` through web-sys.
