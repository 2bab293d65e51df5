//! The signaling transports: `fetch` for `/id` and `/peers`, and a `WebSocket`.

use tokio::sync::mpsc;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{BinaryType, MessageEvent, WebSocket};

use super::JsError;
use crate::driver::SocketEvent;
use crate::error::{Error, ErrorKind};
use crate::options::PeerOptions;
use crate::time::Duration;

/// How long an HTTP request may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(15);

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = fetch)]
    fn global_fetch(url: &str) -> js_sys::Promise;
}

/// How the peer reaches its server. The platform does TLS and trusts its own roots, so there is
/// nothing to configure (extra root certificates are a native option).
#[derive(Clone, Debug)]
pub(crate) struct Net;

impl Net {
    pub(crate) fn new(_options: &PeerOptions) -> Result<Self, Error> {
        Ok(Self)
    }
}

/// `GET url` with the global `fetch`: the status code and the body.
pub(crate) async fn http_get(_net: &Net, url: &str) -> Result<(u16, String), Error> {
    let failed = |e: JsValue| {
        Error::with_source(
            ErrorKind::Network,
            format!("the request to {url} failed"),
            JsError::from_value(&e),
        )
    };
    let exchange = async {
        let response: web_sys::Response = JsFuture::from(global_fetch(url))
            .await
            .map_err(failed)?
            .unchecked_into();
        let status = response.status();
        let body = JsFuture::from(response.text().map_err(failed)?)
            .await
            .map_err(failed)?;
        Ok((status, body.as_string().unwrap_or_default()))
    };
    tokio::select! {
        result = exchange => result,
        () = super::sleep(HTTP_TIMEOUT) => {
            Err(Error::new(ErrorKind::Network, format!("the request to {url} timed out")))
        }
    }
}

/// What the socket's callbacks saw.
enum WsEvent {
    Open,
    Text(String),
    Closed,
}

/// A `WebSocket` with its callbacks; dropping it detaches them and closes the socket.
struct Socket {
    ws: WebSocket,
    _callbacks: [Closure<dyn FnMut(JsValue)>; 3],
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        self.ws.set_onerror(None);
        let _ = self.ws.close();
    }
}

fn open_socket(url: &str, events: mpsc::UnboundedSender<WsEvent>) -> Result<Socket, JsValue> {
    let ws = WebSocket::new(url)?;
    ws.set_binary_type(BinaryType::Arraybuffer);
    let on_open = {
        let events = events.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |_| {
            let _ = events.send(WsEvent::Open);
        })
    };
    let on_message = {
        let events = events.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            let data = event.unchecked_into::<MessageEvent>().data();
            let text = match data.as_string() {
                Some(text) => text,
                // A binary frame: read as (lossy) UTF-8, as the native backend does.
                None => {
                    String::from_utf8_lossy(&js_sys::Uint8Array::new(&data).to_vec()).into_owned()
                }
            };
            let _ = events.send(WsEvent::Text(text));
        })
    };
    // `error` is always followed by `close`; one handler serves both.
    let on_close = Closure::<dyn FnMut(JsValue)>::new(move |_| {
        let _ = events.send(WsEvent::Closed);
    });
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    ws.set_onerror(Some(on_close.as_ref().unchecked_ref()));
    Ok(Socket {
        ws,
        _callbacks: [on_open, on_message, on_close],
    })
}

/// Opens the WebSocket, then relays frames both ways until either side closes, reporting what
/// happens. Dropping `outgoing`'s sender closes the socket.
pub(crate) async fn run_socket(
    _net: Net,
    url: String,
    report: impl Fn(SocketEvent),
    mut outgoing: mpsc::UnboundedReceiver<String>,
) {
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let socket = match open_socket(&url, events_tx) {
        Ok(socket) => socket,
        Err(e) => {
            tracing::warn!(error = %JsError::from_value(&e), "could not open the signaling WebSocket");
            report(SocketEvent::Closed);
            return;
        }
    };
    // Frames handed over before the socket opened (a WebSocket refuses to send before).
    let mut early: Option<Vec<String>> = Some(Vec::new());
    loop {
        tokio::select! {
            text = outgoing.recv() => match text {
                Some(text) => match &mut early {
                    Some(early) => early.push(text),
                    None => {
                        if socket.ws.send_with_str(&text).is_err() {
                            break;
                        }
                    }
                },
                // The driver is done with this socket: close it without a report.
                None => return,
            },
            event = events.recv() => match event {
                Some(WsEvent::Open) => {
                    for text in early.take().unwrap_or_default() {
                        let _ = socket.ws.send_with_str(&text);
                    }
                    report(SocketEvent::Open);
                }
                Some(WsEvent::Text(text)) => report(SocketEvent::Text(text)),
                Some(WsEvent::Closed) | None => break,
            },
        }
    }
    drop(socket);
    report(SocketEvent::Closed);
}
