//! The wasm backend: the platform's `RTCPeerConnection`, `WebSocket`, `fetch`, timers and
//! `crypto.getRandomValues`, through web-sys and a few bindings to globals.
//!
//! Everything is looked up on the global object, never on `window`, so the same build runs in a
//! page, in a worker, and in Node.js once the globals are provided (Node 20 has `fetch`,
//! `crypto` and timers; `WebSocket` and the WebRTC classes come from packages such as `ws` and
//! node-datachannel's polyfill).
//!
//! Tasks run on the JavaScript event loop (`wasm_bindgen_futures::spawn_local`), so nothing here
//! is `Send`; the shared driver and connection code only need `'static`.

mod connection;
mod net;

use std::fmt;
use std::future::Future;

use tokio::sync::oneshot;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

pub(crate) use connection::{Channel, RtcSettings, run_connection};
pub(crate) use net::{Net, http_get, run_socket};

use crate::time::{Duration, Instant};

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(handler: &js_sys::Function, millis: i32) -> JsValue;
    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout(handle: &JsValue);
    #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues, catch)]
    fn get_random_values(buf: &js_sys::Uint8Array) -> Result<JsValue, JsValue>;
}

/// Runs a task on the JavaScript event loop.
pub(crate) fn spawn(task: impl Future<Output = ()> + 'static) {
    wasm_bindgen_futures::spawn_local(task);
}

/// The current time.
pub(crate) fn now() -> Instant {
    Instant::now()
}

/// A `setTimeout` that is cleared when dropped (so its callback never runs after it is freed).
struct Timer {
    fired: oneshot::Receiver<()>,
    handle: JsValue,
    _callback: Closure<dyn FnMut()>,
}

impl Drop for Timer {
    fn drop(&mut self) {
        clear_timeout(&self.handle);
    }
}

/// Waits for `duration` (rounded up to whole milliseconds, so a deadline is never reached early).
pub(crate) async fn sleep(duration: Duration) {
    let (tx, fired) = oneshot::channel();
    let mut tx = Some(tx);
    let callback = Closure::<dyn FnMut()>::new(move || {
        if let Some(tx) = tx.take() {
            let _ = tx.send(());
        }
    });
    let millis = duration
        .as_nanos()
        .div_ceil(1_000_000)
        .min(i32::MAX as u128) as i32;
    let handle = set_timeout(callback.as_ref().unchecked_ref(), millis);
    let mut timer = Timer {
        fired,
        handle,
        _callback: callback,
    };
    let _ = (&mut timer.fired).await;
}

/// Waits until `deadline`.
pub(crate) async fn sleep_until(deadline: Instant) {
    sleep(deadline.saturating_duration_since(now())).await;
}

/// Milliseconds since the Unix epoch (`Date.now()`).
pub(crate) fn unix_millis() -> u64 {
    js_sys::Date::now() as u64
}

/// Fills `buf` with random bytes from `crypto.getRandomValues`.
pub(crate) fn random_bytes(buf: &mut [u8]) {
    // getRandomValues fills at most 65536 bytes per call.
    for chunk in buf.chunks_mut(65536) {
        let array = js_sys::Uint8Array::new_with_length(chunk.len() as u32);
        if get_random_values(&array).is_ok() {
            array.copy_to(chunk);
        } else {
            // No Web Crypto (an unusual embedding): fall back to Math.random, so tokens stay
            // unique if not unpredictable.
            for b in chunk.iter_mut() {
                *b = (js_sys::Math::random() * 256.0) as u8;
            }
        }
    }
}

/// A random `u64` from `crypto.getRandomValues`.
pub(crate) fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    random_bytes(&mut b);
    u64::from_le_bytes(b)
}

/// A JavaScript exception or error value, as a Rust error: its name and message, captured as
/// text (a `JsValue` cannot leave the thread, and [`crate::Error`] sources are `Send + Sync`).
#[derive(Clone, Debug)]
pub(crate) struct JsError {
    name: String,
    message: String,
}

impl JsError {
    /// Describes a thrown value: an `Error`'s (or `DOMException`'s) name and message, or the
    /// value's string form.
    pub(crate) fn from_value(value: &JsValue) -> Self {
        let field = |name: &str| {
            js_sys::Reflect::get(value, &JsValue::from_str(name))
                .ok()
                .and_then(|v| v.as_string())
        };
        if value.is_object() {
            if let Some(message) = field("message") {
                return Self {
                    name: field("name").unwrap_or_else(|| "Error".into()),
                    message,
                };
            }
        }
        Self {
            name: String::new(),
            message: value.as_string().unwrap_or_else(|| format!("{value:?}")),
        }
    }

    /// The error's `name` (`TypeError`, `InvalidStateError`, …), empty if it had none.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for JsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.name, self.message)
        }
    }
}

impl std::error::Error for JsError {}
