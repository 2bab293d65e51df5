//! One PeerJS data connection on the platform's `RTCPeerConnection`, with one data channel.
//!
//! The same task as the native backend's: it applies the remote description and candidates
//! (queuing candidates until the description is set), reads the data channel into the shared
//! [`Inbox`], and reports to the peer's driver. The platform pushes events through callbacks
//! (`onicecandidate`, `onmessage`, …), which only forward them into channels the task reads, so
//! the task reads received messages at its own pace, within the [`Inbox`]'s budget. Sends go
//! straight to the data channel, waiting while more than [`SEND_BUFFER_HIGH`] bytes are queued
//! (`bufferedAmount`) until `bufferedamountlow` fires.

use std::rc::Rc;
use std::sync::Arc;

use tokio::sync::{Notify, mpsc};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    MessageEvent, RtcConfiguration, RtcDataChannel, RtcDataChannelEvent, RtcDataChannelInit,
    RtcDataChannelState, RtcDataChannelType, RtcIceCandidateInit, RtcIceServer, RtcPeerConnection,
    RtcPeerConnectionIceEvent, RtcSdpType, RtcSessionDescriptionInit,
};

use super::JsError;
use crate::connection::{
    CandidateQueue, ConnCommand, ConnReport, ConnShared, Inbox, TaskInputs, fit_to_channel,
};
use crate::error::{Error, ErrorKind};
use crate::options::{IceServer, PeerOptions};
use crate::proto::codec::{CodecOptions, Frame};
use crate::proto::signaling::{IceCandidate, SdpType, SessionDescription};
use crate::time::Duration;

/// Queued bytes (`bufferedAmount`) above which a send waits. Browsers fail a send that would
/// queue more than 16 MiB; PeerJS waits above 8 MiB. A smaller window keeps memory low at no
/// cost in throughput.
pub(crate) const SEND_BUFFER_HIGH: u32 = 1024 * 1024;
/// The `bufferedAmountLowThreshold`: a waiting send resumes when the queue drains below it.
const SEND_BUFFER_LOW: u32 = 256 * 1024;
/// How often a waiting send looks at the queue anyway (platforms without `bufferedamountlow`,
/// a channel closing under it).
const SEND_POLL: Duration = Duration::from_millis(50);

/// A data channel, as the shared sending code uses it.
#[derive(Clone)]
pub(crate) struct Channel {
    dc: RtcDataChannel,
    /// Woken by `bufferedamountlow` and `close`.
    drained: Rc<Notify>,
}

impl Channel {
    /// Sends a text message, waiting while the send queue is full.
    pub(crate) async fn send_text(&self, text: &str) -> Result<(), Error> {
        self.wait_for_room().await?;
        self.dc
            .send_with_str(text)
            .map_err(|e| self.send_error(&e, text.len()))
    }

    /// Sends a binary message, waiting while the send queue is full.
    pub(crate) async fn send_binary(&self, bytes: Vec<u8>) -> Result<(), Error> {
        self.wait_for_room().await?;
        self.dc
            .send_with_u8_array(&bytes)
            .map_err(|e| self.send_error(&e, bytes.len()))
    }

    /// Bytes handed to the channel but not yet sent (`bufferedAmount`).
    pub(crate) async fn buffered(&self) -> Result<usize, Error> {
        if self.dc.ready_state() == RtcDataChannelState::Open {
            Ok(self.dc.buffered_amount() as usize)
        } else {
            Err(closed())
        }
    }

    async fn wait_for_room(&self) -> Result<(), Error> {
        loop {
            if self.dc.ready_state() != RtcDataChannelState::Open {
                return Err(closed());
            }
            if self.dc.buffered_amount() <= SEND_BUFFER_HIGH {
                return Ok(());
            }
            // Registered before the queue can change: no wake-up is lost.
            let drained = self.drained.notified();
            tokio::select! {
                () = drained => {}
                () = super::sleep(SEND_POLL) => {}
            }
        }
    }

    fn send_error(&self, e: &JsValue, len: usize) -> Error {
        let e = JsError::from_value(e);
        if self.dc.ready_state() != RtcDataChannelState::Open || e.name() == "InvalidStateError" {
            Error::with_source(ErrorKind::ConnectionClosed, "the connection is closed", e)
        } else if e.name() == "TypeError" {
            // What browsers throw for a message above the SCTP transport's maxMessageSize.
            Error::with_source(
                ErrorKind::MessageTooBig,
                format!("a message of {len} bytes exceeds the data channel's maximum message size"),
                e,
            )
        } else {
            Error::with_source(ErrorKind::WebRtc, "sending on the data channel failed", e)
        }
    }
}

fn closed() -> Error {
    Error::new(ErrorKind::ConnectionClosed, "the connection is closed")
}

/// Settings every connection of a peer shares. The native-only options (ICE addresses, socket
/// buffers, mDNS, ICE timeouts) do not apply: the platform decides those.
#[derive(Clone)]
pub(crate) struct RtcSettings {
    ice_servers: Vec<IceServer>,
    pub(crate) codec: CodecOptions,
}

impl RtcSettings {
    pub(crate) fn new(options: &PeerOptions) -> Self {
        Self {
            ice_servers: options.ice_servers.clone(),
            codec: options.codec.clone(),
        }
    }

    /// The `RTCConfiguration`: only `iceServers`.
    fn configuration(&self) -> RtcConfiguration {
        let servers = js_sys::Array::new();
        for server in &self.ice_servers {
            let entry = RtcIceServer::new();
            let urls: js_sys::Array = server.urls.iter().map(|u| JsValue::from_str(u)).collect();
            entry.set_urls(&urls);
            if !server.username.is_empty() {
                entry.set_username(&server.username);
            }
            if !server.credential.is_empty() {
                entry.set_credential(&server.credential);
            }
            servers.push(&entry);
        }
        let config = RtcConfiguration::new();
        config.set_ice_servers(&servers);
        config
    }
}

/// What happens on the data channel, in order.
enum ChannelEvent {
    Open,
    Message(Frame),
    Closed,
}

/// Peer connection events the task acts on.
enum PcEvent {
    /// The remote's data channel (we answer), with its callbacks already attached.
    Channel(Attached),
    /// `connectionState` or `iceConnectionState` changed.
    State,
}

type Callback = Closure<dyn FnMut(JsValue)>;

fn callback(f: impl FnMut(JsValue) + 'static) -> Callback {
    Closure::new(f)
}

/// A data channel with our callbacks on it; dropping it takes them off again, so the platform
/// never calls a freed closure.
struct Attached {
    channel: Channel,
    _callbacks: [Callback; 4],
}

impl Drop for Attached {
    fn drop(&mut self) {
        let dc = &self.channel.dc;
        dc.set_onopen(None);
        dc.set_onmessage(None);
        dc.set_onclose(None);
        dc.set_onerror(None);
        dc.set_onbufferedamountlow(None);
        // Closed before its peer connection, as PeerJS does.
        dc.close();
        self.channel.drained.notify_waiters();
    }
}

/// Sets up a data channel: binary messages as `ArrayBuffer`s, the send-queue threshold, and
/// callbacks that forward its events to `events`. Done as soon as the channel exists (in the
/// `datachannel` callback for the answerer), so no event is missed.
fn attach(dc: RtcDataChannel, events: &mpsc::UnboundedSender<ChannelEvent>) -> Attached {
    dc.set_binary_type(RtcDataChannelType::Arraybuffer);
    dc.set_buffered_amount_low_threshold(SEND_BUFFER_LOW);
    let drained = Rc::new(Notify::new());
    let on_open = {
        let events = events.clone();
        callback(move |_| {
            let _ = events.send(ChannelEvent::Open);
        })
    };
    let on_message = {
        let events = events.clone();
        callback(move |event: JsValue| {
            let data = event.unchecked_into::<MessageEvent>().data();
            let frame = match data.as_string() {
                Some(text) => Frame::Text(text),
                None => Frame::Binary(js_sys::Uint8Array::new(&data).to_vec()),
            };
            let _ = events.send(ChannelEvent::Message(frame));
        })
    };
    let on_close = {
        let events = events.clone();
        let drained = drained.clone();
        callback(move |_| {
            drained.notify_waiters();
            let _ = events.send(ChannelEvent::Closed);
        })
    };
    let on_low = {
        let drained = drained.clone();
        callback(move |_| drained.notify_waiters())
    };
    dc.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    dc.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    dc.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    dc.set_onbufferedamountlow(Some(on_low.as_ref().unchecked_ref()));
    Attached {
        channel: Channel { dc, drained },
        _callbacks: [on_open, on_message, on_close, on_low],
    }
}

/// A peer connection with our callbacks on it; dropping it takes them off and closes it.
struct Pc {
    pc: RtcPeerConnection,
    _callbacks: [Callback; 3],
}

impl Drop for Pc {
    fn drop(&mut self) {
        self.pc.set_onicecandidate(None);
        self.pc.set_onconnectionstatechange(None);
        self.pc.set_oniceconnectionstatechange(None);
        self.pc.set_ondatachannel(None);
        self.pc.close();
    }
}

impl Pc {
    fn new(
        settings: &RtcSettings,
        connection_id: String,
        reports: mpsc::UnboundedSender<ConnReport>,
        events: mpsc::UnboundedSender<PcEvent>,
        channel_events: mpsc::UnboundedSender<ChannelEvent>,
    ) -> Result<Self, Error> {
        let pc = RtcPeerConnection::new_with_configuration(&settings.configuration()).map_err(
            js_error(ErrorKind::WebRtc, "could not create a peer connection"),
        )?;
        let on_candidate = callback(move |event: JsValue| {
            let event = event.unchecked_into::<RtcPeerConnectionIceEvent>();
            // `null` (or an empty candidate) marks the end of gathering: PeerJS sends nothing.
            let Some(candidate) = event.candidate() else {
                return;
            };
            let line = candidate.candidate();
            if line.is_empty() {
                return;
            }
            let ufrag = js_sys::Reflect::get(&candidate, &JsValue::from_str("usernameFragment"))
                .ok()
                .and_then(|v| v.as_string());
            let candidate = IceCandidate {
                candidate: line,
                sdp_mid: candidate.sdp_mid(),
                sdp_m_line_index: candidate.sdp_m_line_index(),
                username_fragment: ufrag,
            };
            let _ = reports.send(ConnReport::LocalCandidate(connection_id.clone(), candidate));
        });
        let on_state = {
            let events = events.clone();
            callback(move |_| {
                let _ = events.send(PcEvent::State);
            })
        };
        let on_channel = callback(move |event: JsValue| {
            let dc = event.unchecked_into::<RtcDataChannelEvent>().channel();
            let _ = events.send(PcEvent::Channel(attach(dc, &channel_events)));
        });
        pc.set_onicecandidate(Some(on_candidate.as_ref().unchecked_ref()));
        pc.set_onconnectionstatechange(Some(on_state.as_ref().unchecked_ref()));
        pc.set_oniceconnectionstatechange(Some(on_state.as_ref().unchecked_ref()));
        pc.set_ondatachannel(Some(on_channel.as_ref().unchecked_ref()));
        Ok(Self {
            pc,
            _callbacks: [on_candidate, on_state, on_channel],
        })
    }

    /// Whether the connection failed (ICE or DTLS) or was closed.
    fn state(&self) -> PcState {
        let read = |name: &str| {
            js_sys::Reflect::get(&self.pc, &JsValue::from_str(name))
                .ok()
                .and_then(|v| v.as_string())
                .unwrap_or_default()
        };
        let connection = read("connectionState");
        let ice = read("iceConnectionState");
        if connection == "failed" || ice == "failed" {
            PcState::Failed
        } else if connection == "closed" || ice == "closed" {
            PcState::Closed
        } else {
            PcState::Other
        }
    }
}

enum PcState {
    Failed,
    Closed,
    Other,
}

fn js_error(kind: ErrorKind, what: &'static str) -> impl Fn(JsValue) -> Error {
    move |e| Error::with_source(kind, what, JsError::from_value(&e))
}

/// Runs one connection to its end. `offer` is the remote offer when we answer; `None` when we
/// offer.
pub(crate) async fn run_connection(
    shared: Arc<ConnShared>,
    inputs: TaskInputs,
    offer: Option<SessionDescription>,
    settings: RtcSettings,
    reports: mpsc::UnboundedSender<ConnReport>,
) {
    let id = shared.info.connection_id.clone();
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let (channel_tx, channel_rx) = mpsc::unbounded_channel();
    let error = match Pc::new(
        &settings,
        id.clone(),
        reports.clone(),
        events_tx,
        channel_tx.clone(),
    ) {
        Ok(pc) => {
            let mut task = Task {
                shared: shared.clone(),
                pc,
                channel: None,
                channel_tx,
                inbox: Inbox::new(&shared.info, settings.codec.clone(), inputs.incoming),
                codec: settings.codec,
                legacy: shared.info.legacy,
                candidates: CandidateQueue::new(),
                reports: reports.clone(),
            };
            let error = task
                .run(offer, inputs.commands, events_rx, channel_rx)
                .await;
            // Callbacks off, then the peer connection closed (dropping `Pc`), so the remote
            // learns of the close at once.
            task.channel = None;
            drop(task);
            error
        }
        Err(e) => Some(e),
    };
    shared.close(error).await;
    let _ = reports.send(ConnReport::Closed(id));
}

struct Task {
    shared: Arc<ConnShared>,
    pc: Pc,
    channel: Option<Attached>,
    channel_tx: mpsc::UnboundedSender<ChannelEvent>,
    inbox: Inbox,
    codec: CodecOptions,
    legacy: bool,
    candidates: CandidateQueue,
    reports: mpsc::UnboundedSender<ConnReport>,
}

/// `pc.sctp.maxMessageSize`, when the browser has it (web-sys has no binding for
/// `RTCSctpTransport`).
fn max_message_size(pc: &RtcPeerConnection) -> Option<usize> {
    let sctp = js_sys::Reflect::get(pc, &JsValue::from_str("sctp")).ok()?;
    if sctp.is_null() || sctp.is_undefined() {
        return None;
    }
    let max = js_sys::Reflect::get(&sctp, &JsValue::from_str("maxMessageSize"))
        .ok()?
        .as_f64()?;
    // Firefox reports Infinity for "no limit"; a bad value falls back to the RFC default.
    if max.is_finite() && max >= 1024.0 {
        Some(max.min(usize::MAX as f64) as usize)
    } else if max == f64::INFINITY {
        Some(usize::MAX)
    } else {
        None
    }
}

fn description(sdp: &SessionDescription) -> Result<RtcSessionDescriptionInit, Error> {
    let sdp_type = match sdp.sdp_type {
        SdpType::Offer => RtcSdpType::Offer,
        SdpType::Answer => RtcSdpType::Answer,
        _ => {
            return Err(Error::new(
                ErrorKind::WebRtc,
                "unsupported session description type",
            ));
        }
    };
    let init = RtcSessionDescriptionInit::new(sdp_type);
    init.set_sdp(&sdp.sdp);
    Ok(init)
}

impl Task {
    /// Negotiates, then serves the connection until it closes; returns why it failed, if it did.
    async fn run(
        &mut self,
        offer: Option<SessionDescription>,
        mut commands: mpsc::UnboundedReceiver<ConnCommand>,
        mut events: mpsc::UnboundedReceiver<PcEvent>,
        mut channel_events: mpsc::UnboundedReceiver<ChannelEvent>,
    ) -> Option<Error> {
        if let Err(e) = self.negotiate(offer).await {
            return Some(e);
        }
        let budget = self.inbox.budget();
        loop {
            let can_read = self.inbox.is_idle();
            tokio::select! {
                biased;
                command = commands.recv() => match command {
                    Some(ConnCommand::Answer(answer, legacy)) => {
                        self.legacy = legacy;
                        if let Err(e) = self.set_remote(&answer).await {
                            return Some(e);
                        }
                    }
                    Some(ConnCommand::Candidate(candidate)) => self.add_candidate(candidate).await,
                    Some(ConnCommand::Close(error)) => return error,
                    None => return None,
                },
                event = events.recv() => match event {
                    Some(PcEvent::Channel(attached)) => {
                        if self.channel.is_none() {
                            self.channel = Some(attached);
                        }
                    }
                    Some(PcEvent::State) => match self.pc.state() {
                        PcState::Failed => {
                            return Some(Error::new(
                                ErrorKind::NegotiationFailed,
                                format!("the connection to {} failed (ICE)", self.shared.info.peer),
                            ));
                        }
                        PcState::Closed => return None,
                        PcState::Other => {}
                    },
                    None => return None,
                },
                permit = budget.clone().acquire_many_owned(self.inbox.front_cost()), if !can_read => {
                    if let Ok(permit) = permit {
                        self.inbox.deliver(permit);
                    }
                },
                event = channel_events.recv(), if can_read => match event {
                    Some(ChannelEvent::Open) => self.opened().await,
                    Some(ChannelEvent::Message(frame)) => {
                        if let Some(close) = self.inbox.receive(frame) {
                            return close;
                        }
                    }
                    Some(ChannelEvent::Closed) | None => return None,
                },
            }
        }
    }

    async fn negotiate(&mut self, offer: Option<SessionDescription>) -> Result<(), Error> {
        let id = self.shared.info.connection_id.clone();
        let pc = self.pc.pc.clone();
        let local = match offer {
            None => {
                let init = RtcDataChannelInit::new();
                init.set_ordered(self.shared.info.reliable);
                let dc =
                    pc.create_data_channel_with_data_channel_dict(&self.shared.info.label, &init);
                self.channel = Some(attach(dc, &self.channel_tx));
                JsFuture::from(pc.create_offer())
                    .await
                    .map_err(js_error(ErrorKind::WebRtc, "could not create an offer"))?
            }
            Some(offer) => {
                self.set_remote(&offer).await?;
                JsFuture::from(pc.create_answer())
                    .await
                    .map_err(js_error(ErrorKind::WebRtc, "could not create an answer"))?
            }
        };
        let field = |name: &str| {
            js_sys::Reflect::get(&local, &JsValue::from_str(name))
                .ok()
                .and_then(|v| v.as_string())
                .unwrap_or_default()
        };
        let sdp_type = if field("type") == "offer" {
            SdpType::Offer
        } else {
            SdpType::Answer
        };
        let description = SessionDescription::new(sdp_type, field("sdp"));
        JsFuture::from(pc.set_local_description(local.unchecked_ref()))
            .await
            .map_err(js_error(
                ErrorKind::WebRtc,
                "could not apply the local description",
            ))?;
        let _ = self
            .reports
            .send(ConnReport::LocalDescription(id, description));
        Ok(())
    }

    async fn set_remote(&mut self, sdp: &SessionDescription) -> Result<(), Error> {
        JsFuture::from(self.pc.pc.set_remote_description(&description(sdp)?))
            .await
            .map_err(js_error(
                ErrorKind::WebRtc,
                "the remote description was rejected",
            ))?;
        for candidate in self.candidates.release() {
            self.add_candidate(candidate).await;
        }
        Ok(())
    }

    async fn add_candidate(&mut self, candidate: IceCandidate) {
        let Some(candidate) = self.candidates.admit(candidate) else {
            return;
        };
        let init = RtcIceCandidateInit::new(&candidate.candidate);
        init.set_sdp_mid(candidate.sdp_mid.as_deref());
        init.set_sdp_m_line_index(candidate.sdp_m_line_index);
        if let Some(ufrag) = &candidate.username_fragment {
            let _ = js_sys::Reflect::set(
                &init,
                &JsValue::from_str("usernameFragment"),
                &JsValue::from_str(ufrag),
            );
        }
        let added = JsFuture::from(
            self.pc
                .pc
                .add_ice_candidate_with_opt_rtc_ice_candidate_init(Some(&init)),
        )
        .await;
        if let Err(e) = added {
            // PeerJS reports this as a `webrtc` error and carries on.
            tracing::debug!(error = %JsError::from_value(&e), "a remote ICE candidate was rejected");
        }
    }

    async fn opened(&mut self) {
        let Some(attached) = &self.channel else {
            return;
        };
        // Chunks and MsgPack pieces as large as the channel allows (PeerJS receivers take any
        // size), within the limits the codec options set.
        let codec = fit_to_channel(self.codec.clone(), max_message_size(&self.pc.pc));
        self.shared
            .open(attached.channel.clone(), codec, self.legacy)
            .await;
        let _ = self
            .reports
            .send(ConnReport::Opened(self.shared.info.connection_id.clone()));
    }
}
