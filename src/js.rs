//! The JavaScript API of the wasm package (feature `js`): `Peer` and `DataConnection` classes
//! shaped like PeerJS's, over the Rust [`crate::Peer`] and [`crate::DataConnection`].
//!
//! ```text
//! import init, { Peer } from "./pkg/peerjs.js";
//! await init();
//! const peer = new Peer("alice", { host: "127.0.0.1", port: 9000, config: { iceServers: [] } });
//! peer.on("open", (id) => {
//!   const conn = peer.connect("bob", { serialization: "json", reliable: true });
//!   conn.on("open", () => conn.send({ hello: "bob" }));
//!   conn.on("data", (data) => console.log(data));
//! });
//! peer.on("connection", (conn) => conn.on("data", (data) => conn.send(data)));
//! ```
//!
//! Values cross as PeerJS's serializations carry them: `ArrayBuffer`s and typed arrays are
//! binary (delivered as `ArrayBuffer`, or `Uint8Array` for MsgPack, as PeerJS delivers them),
//! plain objects and `Map`s are maps (delivered as plain objects), integral numbers are
//! integers, `Date`s are MsgPack timestamps (strings in BinaryPack, ISO strings in JSON, as
//! PeerJS's encoders write them). Errors are `Error`s with PeerJS's `type` string.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use js_sys::Object;
use tokio::sync::{mpsc, oneshot, watch};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use crate::error::{Error, ErrorKind};
use crate::options::{ConnectOptions, IceServer, PeerOptions};
use crate::peer::{DataConnection, Peer, PeerEvent};
use crate::proto::codec::Serialization;
use crate::proto::signaling::CLOUD_HOST;
use crate::time::Duration;
use crate::value::{Timestamp, Value};

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/** Options of `new Peer(id, options)`, as PeerJS's `PeerOptions`. */
export interface PeerOptions {
  /** The server's host (default `0.peerjs.com`; `"/"` for the page's host). */
  host?: string;
  /** The server's port (default 443). */
  port?: number;
  /** The path the server is mounted on (default `/`). */
  path?: string;
  /** The API key (default `peerjs`). */
  key?: string;
  /** Use `https`/`wss` (default: as the page, always for the cloud server). */
  secure?: boolean;
  /** The token that proves the id is ours across reconnects (default: random). */
  token?: string;
  /** Milliseconds between heartbeats (default 5000). */
  pingInterval?: number;
  /** `RTCConfiguration`; only `iceServers` is used (default: PeerJS's STUN/TURN servers). */
  config?: { iceServers?: { urls: string | string[]; username?: string; credential?: string }[] };
  /** Accepted for compatibility with PeerJS and ignored. */
  debug?: number;
}

/** Options of `peer.connect(id, options)`, as PeerJS's `PeerConnectOption`. */
export interface PeerConnectOption {
  /** The data channel's label (default: the connection id). */
  label?: string;
  /** Anything JSON can carry, for the remote side. */
  metadata?: any;
  /** `binary` (default), `binary-utf8`, `json`, `raw` or `MsgPack`. */
  serialization?: string;
  /** Ordered delivery (default false). */
  reliable?: boolean;
}

/** A PeerJS error: `type` is PeerJS's error type (`peer-unavailable`, `unavailable-id`, …). */
export interface PeerError extends Error {
  type: string;
}

export type PeerEventName = "open" | "connection" | "disconnected" | "close" | "error";
export type DataConnectionEventName = "open" | "data" | "close" | "error";
"#;

/// Event listeners by event name.
#[derive(Default)]
struct Listeners(RefCell<HashMap<String, Vec<js_sys::Function>>>);

impl Listeners {
    fn on(&self, event: String, callback: js_sys::Function) {
        self.0.borrow_mut().entry(event).or_default().push(callback);
    }

    fn off(&self, event: &str, callback: Option<&js_sys::Function>) {
        let mut map = self.0.borrow_mut();
        match callback {
            Some(callback) => {
                if let Some(list) = map.get_mut(event) {
                    list.retain(|f| !Object::is(f, callback));
                }
            }
            None => {
                map.remove(event);
            }
        }
    }

    /// Calls every listener of `event` with `args`; a listener that throws is reported on the
    /// console and does not stop the others.
    fn emit(&self, event: &str, args: &[JsValue]) {
        let list = self.0.borrow().get(event).cloned().unwrap_or_default();
        let args: js_sys::Array = args.iter().collect();
        for f in list {
            if let Err(e) = f.apply(&JsValue::NULL, &args) {
                web_log(&format!("a `{event}` listener threw"), &e);
            }
        }
    }

    fn has(&self, event: &str) -> bool {
        self.0.borrow().get(event).is_some_and(|l| !l.is_empty())
    }
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn console_error(message: &str, value: &JsValue);
}

fn web_log(message: &str, value: &JsValue) {
    console_error(&format!("peerjs: {message}:"), value);
}

/// A JavaScript `Error` with PeerJS's `type`.
fn js_error(e: &Error) -> JsValue {
    let error = js_sys::Error::new(e.message());
    let _ = js_sys::Reflect::set(&error, &"type".into(), &e.kind().as_str().into());
    error.into()
}

fn get(object: &JsValue, key: &str) -> Option<JsValue> {
    if !object.is_object() {
        return None;
    }
    js_sys::Reflect::get(object, &JsValue::from_str(key))
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

fn invalid(message: impl Into<String>) -> JsValue {
    js_error(&Error::new(ErrorKind::InvalidArgument, message))
}

/// PeerJS's `PeerOptions` as ours.
fn peer_options(id: Option<String>, options: &JsValue) -> Result<PeerOptions, JsValue> {
    let mut opts = PeerOptions::default();
    if let Some(id) = id {
        opts = opts.id(id);
    }
    let string = |key: &str| -> Result<Option<String>, JsValue> {
        match get(options, key) {
            None => Ok(None),
            Some(v) => v
                .as_string()
                .map(Some)
                .ok_or_else(|| invalid(format!("options.{key} must be a string"))),
        }
    };
    let number = |key: &str| -> Result<Option<f64>, JsValue> {
        match get(options, key) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| invalid(format!("options.{key} must be a number"))),
        }
    };
    let location = |key: &str| {
        get(&js_sys::global(), "location")
            .and_then(|l| get(&l, key))
            .and_then(|v| v.as_string())
    };
    let mut host = None;
    if let Some(h) = string("host")? {
        let h = if h == "/" {
            location("hostname").unwrap_or_else(|| "127.0.0.1".into())
        } else {
            h
        };
        opts = opts.host(&h);
        host = Some(h);
    }
    if let Some(port) = number("port")? {
        opts = opts.port(port as u16);
    }
    if let Some(path) = string("path")? {
        opts = opts.path(&path);
    }
    if let Some(key) = string("key")? {
        opts = opts.key(&key);
    }
    if let Some(token) = string("token")? {
        opts = opts.token(token);
    }
    if let Some(ms) = number("pingInterval")? {
        opts = opts.ping_interval(Duration::from_millis(ms.max(0.0) as u64));
    }
    match get(options, "secure") {
        Some(secure) => opts = opts.secure(secure.is_truthy()),
        // PeerJS: a server other than the cloud's is secure when the page is.
        None if host.as_deref().is_some_and(|h| h != CLOUD_HOST) => {
            opts = opts.secure(location("protocol").as_deref() == Some("https:"));
        }
        None => {}
    }
    if let Some(servers) = get(options, "config").and_then(|c| get(&c, "iceServers")) {
        let servers: js_sys::Array = servers
            .dyn_into()
            .map_err(|_| invalid("options.config.iceServers must be an array"))?;
        let mut list = Vec::new();
        for server in servers.iter() {
            let urls = match get(&server, "urls") {
                Some(u) if js_sys::Array::is_array(&u) => js_sys::Array::from(&u)
                    .iter()
                    .filter_map(|u| u.as_string())
                    .collect(),
                Some(u) => u.as_string().into_iter().collect(),
                None => Vec::new(),
            };
            let mut entry = IceServer::new(urls);
            let username = get(&server, "username").and_then(|v| v.as_string());
            let credential = get(&server, "credential").and_then(|v| v.as_string());
            if username.is_some() || credential.is_some() {
                entry =
                    entry.credentials(username.unwrap_or_default(), credential.unwrap_or_default());
            }
            list.push(entry);
        }
        opts = opts.ice_servers(list);
    }
    Ok(opts)
}

/// PeerJS's `PeerConnectOption` as ours.
fn connect_options(options: &JsValue) -> Result<ConnectOptions, JsValue> {
    let mut opts = ConnectOptions::default();
    if let Some(label) = get(options, "label").and_then(|v| v.as_string()) {
        opts = opts.label(label);
    }
    if let Some(name) = get(options, "serialization").and_then(|v| v.as_string()) {
        // PeerJS 1.3/1.4's "none" is raw.
        let serialization = if name == "none" {
            Serialization::Raw
        } else {
            name.parse::<Serialization>()
                .map_err(|e| invalid(e.to_string()))?
        };
        opts = opts.serialization(serialization);
    }
    if let Some(reliable) = get(options, "reliable") {
        opts = opts.reliable(reliable.is_truthy());
    }
    if let Some(metadata) = get(options, "metadata") {
        let text = js_sys::JSON::stringify(&metadata)
            .map_err(|_| invalid("options.metadata must be JSON"))?;
        let json: serde_json::Value = serde_json::from_str(&String::from(text))
            .map_err(|_| invalid("options.metadata must be JSON"))?;
        opts = opts.metadata(&json).map_err(|e| js_error(&e))?;
    }
    Ok(opts)
}

// -------------------------------------------------------------------------------------------
// Values
// -------------------------------------------------------------------------------------------

/// The deepest nesting converted (deeper values, and cycles, are refused).
const MAX_DEPTH: usize = 128;

/// A JavaScript value as a message of `serialization`, as PeerJS's encoders read it.
fn to_value(value: &JsValue, serialization: Serialization) -> Result<Value, Error> {
    if serialization == Serialization::Json {
        // Exactly what PeerJS sends: JSON.stringify's view of the value (toJSON, dropped
        // `undefined` members, NaN as null).
        let text = js_sys::JSON::stringify(value).map_err(|e| {
            Error::new(
                ErrorKind::Serialization,
                format!(
                    "JSON.stringify failed: {}",
                    crate::backend::imp::JsError::from_value(&e)
                ),
            )
        })?;
        let Some(text) = text.as_string() else {
            return Ok(Value::Nil);
        };
        let json = js_sys::JSON::parse(&text)
            .map_err(|_| Error::new(ErrorKind::Serialization, "the value is not JSON"))?;
        return convert(&json, serialization, 0);
    }
    convert(value, serialization, 0)
}

fn unsupported(what: &str) -> Error {
    Error::new(ErrorKind::Serialization, format!("cannot send a {what}"))
}

fn convert(value: &JsValue, serialization: Serialization, depth: usize) -> Result<Value, Error> {
    if depth > MAX_DEPTH {
        return Err(Error::new(
            ErrorKind::Serialization,
            "the value is nested too deeply (or refers to itself)",
        ));
    }
    if value.is_null() || value.is_undefined() {
        return Ok(Value::Nil);
    }
    if let Some(b) = value.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Some(n) = value.as_f64() {
        // Integral numbers are integers, as PeerJS's BinaryPack and @msgpack/msgpack write them.
        if n.fract() == 0.0 && n.abs() < 9.223_372_036_854_776e18 {
            return Ok(Value::Int(n as i64));
        }
        return Ok(Value::Float(n));
    }
    if let Some(s) = value.as_string() {
        return Ok(Value::String(s.into()));
    }
    if value.is_bigint() {
        let text = String::from(
            value
                .unchecked_ref::<js_sys::BigInt>()
                .to_string(10)
                .map_err(|_| unsupported("BigInt"))?,
        );
        return text
            .parse::<i64>()
            .map(Value::Int)
            .or_else(|_| text.parse::<u64>().map(Value::UInt))
            .map_err(|_| unsupported("BigInt outside 64 bits"));
    }
    if !value.is_object() {
        return Err(unsupported(if value.is_function() {
            "function"
        } else {
            "symbol"
        }));
    }
    if let Some(buffer) = value.dyn_ref::<js_sys::ArrayBuffer>() {
        return Ok(Value::Binary(js_sys::Uint8Array::new(buffer).to_vec()));
    }
    if js_sys::ArrayBuffer::is_view(value) {
        let view: &js_sys::Uint8Array = value.unchecked_ref();
        let offset = get(value, "byteOffset")
            .and_then(|v| v.as_f64())
            .unwrap_or(0.0);
        let length = get(value, "byteLength")
            .and_then(|v| v.as_f64())
            .unwrap_or(0.0);
        let bytes = js_sys::Uint8Array::new_with_byte_offset_and_length(
            &view.buffer(),
            offset as u32,
            length as u32,
        );
        return Ok(Value::Binary(bytes.to_vec()));
    }
    if let Some(date) = value.dyn_ref::<js_sys::Date>() {
        return Ok(match serialization {
            Serialization::MsgPack => {
                Value::Timestamp(Timestamp::from_millis(date.get_time() as i64))
            }
            // BinaryPack writes `date.toString()`.
            _ => Value::String(String::from(date.to_string()).into()),
        });
    }
    if js_sys::Array::is_array(value) {
        let array: &js_sys::Array = value.unchecked_ref();
        return array
            .iter()
            .map(|item| convert(&item, serialization, depth + 1))
            .collect::<Result<_, _>>()
            .map(Value::Array);
    }
    if let Some(map) = value.dyn_ref::<js_sys::Map>() {
        let mut entries = Vec::new();
        let mut failed = None;
        map.for_each(&mut |v, k| {
            if failed.is_some() {
                return;
            }
            match (
                convert(&k, serialization, depth + 1),
                convert(&v, serialization, depth + 1),
            ) {
                (Ok(k), Ok(v)) => entries.push((k, v)),
                (Err(e), _) | (_, Err(e)) => failed = Some(e),
            }
        });
        return match failed {
            Some(e) => Err(e),
            None => Ok(Value::Map(entries)),
        };
    }
    if value.is_instance_of::<js_sys::Promise>() {
        return Err(unsupported("Promise"));
    }
    let object: &Object = value.unchecked_ref();
    Object::entries(object)
        .iter()
        .map(|entry| {
            let entry: js_sys::Array = entry.unchecked_into();
            let key = entry.get(0).as_string().unwrap_or_default();
            Ok((
                Value::String(key.into()),
                convert(&entry.get(1), serialization, depth + 1)?,
            ))
        })
        .collect::<Result<_, _>>()
        .map(Value::Map)
}

/// A received message as JavaScript, as PeerJS delivers it.
fn to_js(value: &Value, serialization: Serialization) -> JsValue {
    match value {
        Value::Nil => JsValue::NULL,
        Value::Bool(b) => JsValue::from_bool(*b),
        Value::Int(i) => JsValue::from_f64(*i as f64),
        Value::UInt(u) => JsValue::from_f64(*u as f64),
        Value::Float(f) => JsValue::from_f64(*f),
        Value::String(s) => JsValue::from_str(s),
        Value::Binary(bytes) => {
            let array = js_sys::Uint8Array::from(bytes.as_slice());
            if serialization == Serialization::MsgPack {
                array.into()
            } else {
                array.buffer().into()
            }
        }
        Value::Array(items) => items
            .iter()
            .map(|v| to_js(v, serialization))
            .collect::<js_sys::Array>()
            .into(),
        Value::Map(entries) => {
            let object = Object::new();
            for (k, v) in entries {
                let key = match k {
                    Value::String(s) => JsValue::from_str(s),
                    Value::Int(_)
                    | Value::UInt(_)
                    | Value::Float(_)
                    | Value::Bool(_)
                    | Value::Nil => JsValue::from_str(&String::from(
                        to_js(k, serialization)
                            .unchecked_into::<js_sys::JsString>()
                            .to_string(),
                    )),
                    other => JsValue::from_str(&format!("{other:?}")),
                };
                let _ = js_sys::Reflect::set(&object, &key, &to_js(v, serialization));
            }
            object.into()
        }
        Value::Timestamp(t) => js_sys::Date::new(&JsValue::from_f64(t.as_millis() as f64)).into(),
        Value::Ext(kind, bytes) => {
            let object = Object::new();
            let _ = js_sys::Reflect::set(&object, &"type".into(), &JsValue::from(*kind));
            let _ = js_sys::Reflect::set(
                &object,
                &"data".into(),
                &js_sys::Uint8Array::from(bytes.as_slice()),
            );
            object.into()
        }
    }
}

// -------------------------------------------------------------------------------------------
// Peer
// -------------------------------------------------------------------------------------------

struct PeerState {
    /// The id given to the constructor.
    given_id: Option<String>,
    listeners: Listeners,
    /// The Rust peer once registered; `Some(Err)` if it never was.
    peer: watch::Sender<Option<Result<Peer, Error>>>,
    destroyed: Cell<bool>,
}

impl PeerState {
    /// The peer, once it is registered (or why it is not).
    async fn ready(&self) -> Result<Peer, Error> {
        let mut rx = self.peer.subscribe();
        let result = rx.wait_for(Option::is_some).await;
        match result.as_deref() {
            Ok(Some(result)) => result.clone(),
            _ => Err(Error::new(
                ErrorKind::ConnectionClosed,
                "the peer was destroyed",
            )),
        }
    }

    fn current(&self) -> Option<Peer> {
        match &*self.peer.borrow() {
            Some(Ok(peer)) => Some(peer.clone()),
            _ => None,
        }
    }

    fn emit_error(&self, e: &Error) {
        if self.listeners.has("error") {
            self.listeners.emit("error", &[js_error(e)]);
        } else {
            web_log("unhandled peer error", &js_error(e));
        }
    }
}

/// A PeerJS peer (PeerJS's `Peer`): `new Peer(id?, options?)`, then listen for `open`.
#[wasm_bindgen(js_name = Peer)]
pub struct JsPeer {
    state: Rc<PeerState>,
}

#[wasm_bindgen(js_class = Peer)]
impl JsPeer {
    /// Creates a peer and registers it with the server, as PeerJS's `new Peer(id, options)`
    /// (`new Peer(options)` lets the server choose the id). Events follow: `open` with the id,
    /// or `error` (`unavailable-id`, `invalid-id`, `network`, …) then `close`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "string | PeerOptions")] id: JsValue,
        #[wasm_bindgen(unchecked_param_type = "PeerOptions")] options: JsValue,
    ) -> Result<Self, JsValue> {
        let (id, options) = match id.as_string() {
            Some(id) => (Some(id), options),
            None if id.is_object() => (None, id),
            None => (None, options),
        };
        let opts = peer_options(id.clone(), &options)?;
        let (peer, _) = watch::channel(None);
        let state = Rc::new(PeerState {
            given_id: id,
            listeners: Listeners::default(),
            peer,
            destroyed: Cell::new(false),
        });
        wasm_bindgen_futures::spawn_local(run_peer(state.clone(), opts));
        Ok(Self { state })
    }

    /// Listens for an event: `open` (id), `connection` (DataConnection), `disconnected` (id),
    /// `close`, `error` (PeerError).
    pub fn on(
        &self,
        #[wasm_bindgen(unchecked_param_type = "PeerEventName")] event: String,
        #[wasm_bindgen(unchecked_param_type = "(...args: any[]) => void")]
        callback: js_sys::Function,
    ) {
        self.state.listeners.on(event, callback);
    }

    /// Stops listening: one callback, or every callback of the event.
    pub fn off(
        &self,
        #[wasm_bindgen(unchecked_param_type = "PeerEventName")] event: String,
        #[wasm_bindgen(unchecked_param_type = "(...args: any[]) => void")] callback: Option<
            js_sys::Function,
        >,
    ) {
        self.state.listeners.off(&event, callback.as_ref());
    }

    /// The id: the one given, or the server's once open.
    #[wasm_bindgen(getter)]
    pub fn id(&self) -> Option<String> {
        self.state
            .current()
            .and_then(|p| p.id())
            .or_else(|| self.state.given_id.clone())
    }

    /// Whether the peer is registered with the server.
    #[wasm_bindgen(getter)]
    pub fn open(&self) -> bool {
        self.state.current().is_some_and(|p| p.is_open())
    }

    /// Whether the peer is disconnected from the server.
    #[wasm_bindgen(getter)]
    pub fn disconnected(&self) -> bool {
        self.state.current().is_some_and(|p| p.is_disconnected())
    }

    /// Whether the peer is destroyed.
    #[wasm_bindgen(getter)]
    pub fn destroyed(&self) -> bool {
        self.state.destroyed.get()
    }

    /// Connects to the peer `peer`, as PeerJS's `peer.connect(id, options)`: returns the
    /// connection at once; it emits `open` when ready, or `error` and `close`
    /// (`peer-unavailable` is emitted on the peer, as PeerJS does).
    pub fn connect(
        &self,
        peer: String,
        #[wasm_bindgen(unchecked_param_type = "PeerConnectOption")] options: JsValue,
    ) -> Result<JsDataConnection, JsValue> {
        let opts = connect_options(&options)?;
        let conn = JsDataConnection::pending(&peer, &opts, &options);
        let task_conn = conn.state.clone();
        let state = self.state.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let connected = match state.ready().await {
                Ok(p) => p.connect(&peer, opts).await,
                Err(e) => Err(e),
            };
            match connected {
                Ok(c) => run_connection(task_conn, c).await,
                Err(e) => {
                    // PeerJS reports `peer-unavailable` on the peer only; the peer's event
                    // stream carries it already.
                    if e.kind() != ErrorKind::PeerUnavailable {
                        task_conn.emit_error(&e);
                    }
                    task_conn.finish();
                }
            }
        });
        Ok(conn)
    }

    /// Disconnects from the server, keeping the connections (PeerJS `disconnect()`).
    pub fn disconnect(&self) {
        if let Some(peer) = self.state.current() {
            peer.disconnect();
        }
    }

    /// Reconnects to the server with the same id (PeerJS `reconnect()`); resolves once the
    /// socket is up.
    pub async fn reconnect(&self) -> Result<(), JsValue> {
        let peer = self.state.ready().await.map_err(|e| js_error(&e))?;
        peer.reconnect().await.map_err(|e| js_error(&e))
    }

    /// Closes every connection and the connection to the server (PeerJS `destroy()`); `close`
    /// follows.
    pub fn destroy(&self) {
        self.state.destroyed.set(true);
        if let Some(peer) = self.state.current() {
            peer.destroy();
        }
    }

    /// The ids registered with the server, when it allows discovery (PeerJS
    /// `listAllPeers(callback)`): resolves with them, and calls `callback` if given.
    #[wasm_bindgen(js_name = listAllPeers, unchecked_return_type = "Promise<string[]>")]
    pub fn list_all_peers(&self, callback: Option<js_sys::Function>) -> js_sys::Promise {
        let state = self.state.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let peer = state.ready().await.map_err(|e| js_error(&e))?;
            let ids = peer.list_all_peers().await.map_err(|e| {
                state.emit_error(&e);
                js_error(&e)
            })?;
            let array: js_sys::Array = ids.iter().map(|id| JsValue::from_str(id)).collect();
            if let Some(callback) = callback {
                let _ = callback.call1(&JsValue::NULL, &array);
            }
            Ok(array.into())
        })
    }
}

/// Registers the peer, then turns its events into JavaScript events until it is destroyed.
async fn run_peer(state: Rc<PeerState>, options: PeerOptions) {
    let peer = match Peer::new(options).await {
        Ok(peer) => peer,
        Err(e) => {
            state.peer.send_replace(Some(Err(e.clone())));
            state.destroyed.set(true);
            state.emit_error(&e);
            state.listeners.emit("close", &[]);
            return;
        }
    };
    state.peer.send_replace(Some(Ok(peer.clone())));
    if state.destroyed.get() {
        peer.destroy();
    }
    while let Some(event) = peer.next_event().await {
        match event {
            PeerEvent::Open(id) => state.listeners.emit("open", &[id.into()]),
            PeerEvent::Connection(conn) => {
                let js = JsDataConnection::accepted(&conn);
                let conn_state = js.state.clone();
                state.listeners.emit("connection", &[js.into()]);
                wasm_bindgen_futures::spawn_local(run_connection(conn_state, conn));
            }
            PeerEvent::Disconnected(id) => state.listeners.emit("disconnected", &[id.into()]),
            PeerEvent::Closed => {
                state.destroyed.set(true);
                state.listeners.emit("close", &[]);
                break;
            }
            PeerEvent::Error(e) => state.emit_error(&e),
        }
    }
    // Keep the Rust peer until every connection closed, then let it go.
    peer.closed().await;
    state.peer.send_replace(Some(Err(Error::new(
        ErrorKind::ConnectionClosed,
        "the peer was destroyed",
    ))));
}

// -------------------------------------------------------------------------------------------
// DataConnection
// -------------------------------------------------------------------------------------------

/// A message to send, and where to report the outcome.
type Outgoing = (Value, oneshot::Sender<Result<(), Error>>);

struct ConnState {
    peer: String,
    label: RefCell<Option<String>>,
    connection_id: RefCell<Option<String>>,
    metadata: JsValue,
    serialization: Serialization,
    reliable: bool,
    listeners: Listeners,
    conn: RefCell<Option<DataConnection>>,
    open: Cell<bool>,
    closed: Cell<bool>,
    /// Messages to send, in order, with where to report the outcome.
    outgoing: RefCell<Option<mpsc::UnboundedSender<Outgoing>>>,
}

impl ConnState {
    fn emit_error(&self, e: &Error) {
        if self.listeners.has("error") {
            self.listeners.emit("error", &[js_error(e)]);
        } else {
            web_log("unhandled connection error", &js_error(e));
        }
    }

    /// Closed: `open` off, `close` emitted once.
    fn finish(&self) {
        self.open.set(false);
        self.outgoing.borrow_mut().take();
        if !self.closed.replace(true) {
            self.listeners.emit("close", &[]);
        }
    }
}

/// A data connection (PeerJS's `DataConnection`): listen for `open`, `data`, `close`, `error`;
/// `send(value)`; `close()`.
#[wasm_bindgen(js_name = DataConnection)]
pub struct JsDataConnection {
    state: Rc<ConnState>,
}

impl JsDataConnection {
    fn pending(peer: &str, options: &ConnectOptions, js_options: &JsValue) -> Self {
        Self::with(ConnState {
            peer: peer.to_owned(),
            label: RefCell::new(options.label.clone()),
            connection_id: RefCell::new(None),
            metadata: get(js_options, "metadata").unwrap_or(JsValue::UNDEFINED),
            serialization: options.serialization,
            reliable: options.reliable || options.serialization.forces_reliable(),
            listeners: Listeners::default(),
            conn: RefCell::new(None),
            open: Cell::new(false),
            closed: Cell::new(false),
            outgoing: RefCell::new(None),
        })
    }

    fn accepted(conn: &DataConnection) -> Self {
        let metadata = conn
            .metadata()
            .and_then(|m| js_sys::JSON::parse(&m.to_string()).ok())
            .unwrap_or(JsValue::UNDEFINED);
        Self::with(ConnState {
            peer: conn.peer().to_owned(),
            label: RefCell::new(Some(conn.label().to_owned())),
            connection_id: RefCell::new(Some(conn.connection_id().to_owned())),
            metadata,
            serialization: conn.serialization(),
            reliable: conn.reliable(),
            listeners: Listeners::default(),
            conn: RefCell::new(Some(conn.clone())),
            open: Cell::new(false),
            closed: Cell::new(false),
            outgoing: RefCell::new(None),
        })
    }

    fn with(state: ConnState) -> Self {
        Self {
            state: Rc::new(state),
        }
    }
}

/// Serves a connection: `open`, then every message as `data`, then `close` (after `error` if it
/// failed). Sends go through one task, in order.
async fn run_connection(state: Rc<ConnState>, conn: DataConnection) {
    state.label.replace(Some(conn.label().to_owned()));
    state
        .connection_id
        .replace(Some(conn.connection_id().to_owned()));
    state.conn.replace(Some(conn.clone()));
    if state.closed.get() {
        conn.close().await;
        return;
    }
    if let Err(e) = conn.wait_open().await {
        state.emit_error(&e);
        state.finish();
        return;
    }
    let (tx, mut rx) = mpsc::unbounded_channel::<Outgoing>();
    state.outgoing.replace(Some(tx));
    let sender = conn.clone();
    wasm_bindgen_futures::spawn_local(async move {
        while let Some((value, reply)) = rx.recv().await {
            let _ = reply.send(sender.send_value(value).await);
        }
    });
    state.open.set(true);
    state.listeners.emit("open", &[]);
    loop {
        match conn.recv().await {
            Ok(value) => state
                .listeners
                .emit("data", &[to_js(&value, state.serialization)]),
            // A message that could not be decoded; the next one may be fine.
            Err(e) if e.kind() == ErrorKind::Serialization => state.emit_error(&e),
            Err(_) => break,
        }
    }
    if let Some(e) = conn.closed().await {
        state.emit_error(&e);
    }
    state.finish();
    state.conn.replace(None);
}

#[wasm_bindgen(js_class = DataConnection)]
impl JsDataConnection {
    /// Listens for an event: `open`, `data` (the message), `close`, `error` (PeerError).
    pub fn on(
        &self,
        #[wasm_bindgen(unchecked_param_type = "DataConnectionEventName")] event: String,
        #[wasm_bindgen(unchecked_param_type = "(...args: any[]) => void")]
        callback: js_sys::Function,
    ) {
        self.state.listeners.on(event, callback);
    }

    /// Stops listening: one callback, or every callback of the event.
    pub fn off(
        &self,
        #[wasm_bindgen(unchecked_param_type = "DataConnectionEventName")] event: String,
        #[wasm_bindgen(unchecked_param_type = "(...args: any[]) => void")] callback: Option<
            js_sys::Function,
        >,
    ) {
        self.state.listeners.off(&event, callback.as_ref());
    }

    /// Sends a message (PeerJS `send(data)`). Resolves once the data channel took it (a large
    /// backlog makes it wait: backpressure); rejects, and emits `error`, if it cannot be sent
    /// (`not-open-yet` before `open`, `connection-closed`, `message-too-big`, a value the
    /// serialization cannot carry).
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn send(&self, data: JsValue) -> js_sys::Promise {
        let state = self.state.clone();
        let queued = to_value(&data, state.serialization).and_then(|value| {
            let outgoing = state.outgoing.borrow();
            let Some(outgoing) = outgoing.as_ref() else {
                return Err(if state.closed.get() {
                    Error::new(ErrorKind::ConnectionClosed, "the connection is closed")
                } else {
                    Error::new(
                        ErrorKind::NotOpenYet,
                        "the connection is not open yet: wait for its `open` event",
                    )
                });
            };
            let (reply, result) = oneshot::channel();
            outgoing
                .send((value, reply))
                .map_err(|_| Error::new(ErrorKind::ConnectionClosed, "the connection is closed"))?;
            Ok(result)
        });
        wasm_bindgen_futures::future_to_promise(async move {
            let outcome = match queued {
                Ok(result) => result.await.unwrap_or_else(|_| {
                    Err(Error::new(
                        ErrorKind::ConnectionClosed,
                        "the connection is closed",
                    ))
                }),
                Err(e) => Err(e),
            };
            match outcome {
                Ok(()) => Ok(JsValue::UNDEFINED),
                Err(e) => {
                    state.emit_error(&e);
                    Err(js_error(&e))
                }
            }
        })
    }

    /// Closes the connection (PeerJS `close()`); with `{flush: true}`, after everything sent so
    /// far was delivered. `close` follows.
    pub fn close(&self, options: JsValue) {
        let flush = get(&options, "flush").is_some_and(|f| f.is_truthy());
        let state = self.state.clone();
        let conn = state.conn.borrow().clone();
        match conn {
            Some(conn) => wasm_bindgen_futures::spawn_local(async move {
                if flush {
                    conn.close_flush(Duration::from_secs(5)).await;
                } else {
                    conn.close().await;
                }
            }),
            // Not connected yet: it closes as soon as it is.
            None => state.finish(),
        }
    }

    /// The remote peer's id.
    #[wasm_bindgen(getter)]
    pub fn peer(&self) -> String {
        self.state.peer.clone()
    }

    /// The connection id (`dc_…`), once known.
    #[wasm_bindgen(getter, js_name = connectionId)]
    pub fn connection_id(&self) -> Option<String> {
        self.state.connection_id.borrow().clone()
    }

    /// The data channel's label (the connection id unless one was given).
    #[wasm_bindgen(getter)]
    pub fn label(&self) -> Option<String> {
        self.state.label.borrow().clone()
    }

    /// The metadata the offerer attached.
    #[wasm_bindgen(getter)]
    pub fn metadata(&self) -> JsValue {
        self.state.metadata.clone()
    }

    /// The serialization: `binary`, `binary-utf8`, `json`, `raw` or `MsgPack`.
    #[wasm_bindgen(getter)]
    pub fn serialization(&self) -> String {
        self.state.serialization.to_string()
    }

    /// Whether messages arrive in order.
    #[wasm_bindgen(getter)]
    pub fn reliable(&self) -> bool {
        self.state.reliable
    }

    /// Whether the connection is open.
    #[wasm_bindgen(getter)]
    pub fn open(&self) -> bool {
        self.state.open.get()
    }
}
