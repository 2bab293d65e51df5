//! One PeerJS data connection on webrtc-rs: its own peer connection with one data channel.
//!
//! A task per connection owns the peer connection. It applies the remote description and
//! candidates (queuing candidates until the description is set), reads the data channel into
//! the shared [`Inbox`], and reports to the peer's driver. Sends go straight to the data
//! channel, which blocks while more than `PeerOptions::send_buffer_limit` bytes are
//! unacknowledged (PeerJS waits above 8 MiB of `bufferedAmount`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use tokio::sync::mpsc;
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelInit};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceCandidateInit, RTCIceConnectionState, RTCIceServer, RTCPeerConnectionIceEvent,
    RTCPeerConnectionState, RTCSessionDescription, SettingEngineBuilder,
};

use super::runtime::BufferedRuntime;
use super::setup::Setup;
use crate::connection::{
    CandidateQueue, ConnCommand, ConnReport, ConnShared, Inbox, TaskInputs, fit_to_channel,
};
use crate::error::{Error, ErrorKind};
use crate::options::PeerOptions;
use crate::proto::codec::{CodecOptions, Frame};
use crate::proto::signaling::{IceCandidate, SdpType, SessionDescription};

/// How often webrtc-rs's ICE agent sends connectivity checks while it has no selected pair
/// (webrtc-rs: 200 ms). When we are the controlling agent it also nominates a pair only at this
/// pace, unless a check from the other side prompts it: a pair that succeeds just after the
/// remote's checks arrived waited up to 200 ms for its nomination.
const ICE_CHECK_INTERVAL: Duration = Duration::from_millis(20);
/// Checks per candidate pair before it counts as failed: 1.4 s at [`ICE_CHECK_INTERVAL`], as
/// webrtc-rs's defaults give (7 × 200 ms).
const ICE_CHECK_ATTEMPTS: u16 = 70;
/// The largest message we accept and may send: Chrome's limit, and webrtc-rs's ceiling.
const MAX_MESSAGE_SIZE: u32 = 256 * 1024;

/// A data channel, as the shared sending code uses it.
#[derive(Clone)]
pub(crate) struct Channel(Arc<dyn DataChannel>);

impl Channel {
    /// Sends a text message, waiting while the send buffer is full.
    pub(crate) async fn send_text(&self, text: &str) -> Result<(), Error> {
        self.0
            .send_text(text)
            .await
            .map_err(|e| send_error(e, text.len()))
    }

    /// Sends a binary message, waiting while the send buffer is full.
    pub(crate) async fn send_binary(&self, bytes: Vec<u8>) -> Result<(), Error> {
        let len = bytes.len();
        self.0
            // Hands the buffer over without copying it.
            .send(BytesMut::from(bytes::Bytes::from(bytes)))
            .await
            .map_err(|e| send_error(e, len))
    }

    /// Bytes sent but not yet acknowledged by the remote.
    pub(crate) async fn buffered(&self) -> Result<usize, Error> {
        self.0
            .outstanding_bytes()
            .await
            .map_err(|e| send_error(e, 0))
    }
}

fn send_error(e: webrtc::error::Error, len: usize) -> Error {
    let text = e.to_string();
    if text.contains("larger than maximum message size") {
        Error::new(
            ErrorKind::MessageTooBig,
            format!("a message of {len} bytes exceeds the data channel's maximum message size"),
        )
    } else if text.contains("closed") || text.contains("not open") {
        Error::with_source(ErrorKind::ConnectionClosed, "the connection is closed", e)
    } else {
        Error::with_source(ErrorKind::WebRtc, "sending on the data channel failed", e)
    }
}

/// Settings every connection of a peer shares.
#[derive(Clone)]
pub(crate) struct RtcSettings {
    ice_servers: Vec<RTCIceServer>,
    addresses: Vec<String>,
    socket_buffer_size: usize,
    send_buffer_limit: usize,
    /// Whether the kernel-cap warning was logged (once per peer).
    buffer_warned: Arc<AtomicBool>,
    /// Whether to resolve `.local` candidates; turned off for good when the host has no
    /// multicast-capable interface (webrtc-rs then fails to create peer connections).
    mdns: Arc<AtomicBool>,
    ice_timeouts: Option<(Duration, Duration, Duration)>,
    pub(crate) codec: CodecOptions,
}

impl RtcSettings {
    pub(crate) fn new(options: &PeerOptions) -> Self {
        let ice_servers = options
            .ice_servers
            .iter()
            .map(|s| RTCIceServer {
                urls: s.urls.clone(),
                username: s.username.clone(),
                credential: s.credential.clone(),
            })
            .collect();
        Self {
            ice_servers,
            addresses: options
                .ice_addresses
                .iter()
                .map(ToString::to_string)
                .collect(),
            socket_buffer_size: options.socket_buffer_size,
            send_buffer_limit: options.send_buffer_limit,
            buffer_warned: Arc::new(AtomicBool::new(false)),
            mdns: Arc::new(AtomicBool::new(options.mdns)),
            ice_timeouts: options.ice_timeouts,
            codec: options.codec.clone(),
        }
    }
}

/// Events from the peer connection's callbacks, which must return quickly.
enum PcEvent {
    Channel(Arc<dyn DataChannel>),
    State(RTCPeerConnectionState),
}

struct Handler {
    connection_id: String,
    setup: Arc<Setup>,
    reports: mpsc::UnboundedSender<ConnReport>,
    events: mpsc::UnboundedSender<PcEvent>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        match event.candidate.to_json() {
            Ok(init) => {
                tracing::debug!(connection = %self.connection_id, candidate = %init.candidate, "local ICE candidate");
                let candidate = IceCandidate {
                    candidate: init.candidate,
                    // webrtc-rs leaves sdpMid empty; our only m-line is the data channel's.
                    sdp_mid: Some(
                        init.sdp_mid
                            .filter(|m| !m.is_empty())
                            .unwrap_or_else(|| "0".into()),
                    ),
                    sdp_m_line_index: Some(init.sdp_mline_index.unwrap_or(0)),
                    username_fragment: init.username_fragment,
                };
                let _ = self.reports.send(ConnReport::LocalCandidate(
                    self.connection_id.clone(),
                    candidate,
                ));
            }
            Err(e) => tracing::warn!(error = %e, "could not serialize a local ICE candidate"),
        }
    }

    async fn on_ice_connection_state_change(&self, state: RTCIceConnectionState) {
        tracing::debug!(connection = %self.connection_id, ?state, "ICE connection state");
        if matches!(
            state,
            RTCIceConnectionState::Connected | RTCIceConnectionState::Completed
        ) {
            self.setup.ice_connected();
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self.events.send(PcEvent::State(state));
    }

    async fn on_data_channel(&self, channel: Arc<dyn DataChannel>) {
        let _ = self.events.send(PcEvent::Channel(channel));
    }
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
    let setup = Setup::new();
    let handler = Handler {
        connection_id: id.clone(),
        setup: setup.clone(),
        reports: reports.clone(),
        events: events_tx,
    };
    let error = match build(&settings, handler, &setup).await {
        Ok(pc) => {
            let mut task = Task {
                setup: setup.clone(),
                shared: shared.clone(),
                pc: pc.clone(),
                channel: None,
                inbox: Inbox::new(&shared.info, settings.codec.clone(), inputs.incoming),
                codec: settings.codec,
                legacy: shared.info.legacy,
                candidates: CandidateQueue::new(),
                reports: reports.clone(),
            };
            let error = task.run(offer, inputs.commands, events_rx).await;
            setup.finish();
            let _ = pc.close().await;
            error
        }
        Err(e) => Some(e),
    };
    shared.close(error).await;
    let _ = reports.send(ConnReport::Closed(id));
}

async fn build(
    settings: &RtcSettings,
    handler: Handler,
    setup: &Arc<Setup>,
) -> Result<Arc<dyn PeerConnection>, Error> {
    let handler = Arc::new(handler);
    let mdns = settings.mdns.load(Ordering::Relaxed);
    match build_with(settings, handler.clone(), mdns, setup.clone()).await {
        Err(e) if mdns => {
            // mDNS needs a multicast-capable interface; a host with only loopback has none.
            tracing::warn!(
                error = %e,
                "creating a peer connection with mDNS failed; continuing without mDNS \
                 (remote `.local` candidates will not be resolved)"
            );
            settings.mdns.store(false, Ordering::Relaxed);
            build_with(settings, handler, false, setup.clone()).await
        }
        result => result,
    }
}

async fn build_with(
    settings: &RtcSettings,
    handler: Arc<Handler>,
    mdns: bool,
    setup: Arc<Setup>,
) -> Result<Arc<dyn PeerConnection>, Error> {
    use rtc::ice::mdns::MulticastDnsMode;
    use rtc::peer_connection::configuration::setting_engine::SctpMaxMessageSize;
    let mut engine = SettingEngineBuilder::new();
    if let Some((disconnected, failed, keepalive)) = settings.ice_timeouts {
        engine = engine.with_ice_timeouts(Some(disconnected), Some(failed), Some(keepalive));
    }
    let engine = engine
        .with_multicast_dns_mode(if mdns {
            MulticastDnsMode::QueryOnly
        } else {
            MulticastDnsMode::Disabled
        })
        // webrtc-rs waits a second before using a peer-reflexive pair unless told otherwise.
        .with_prflx_acceptance_min_wait(Some(Duration::ZERO))
        .with_ice_connection_attempts(Some(ICE_CHECK_INTERVAL), Some(ICE_CHECK_ATTEMPTS))
        .with_sctp_max_message_size(SctpMaxMessageSize::Bounded(MAX_MESSAGE_SIZE))
        .build();
    let config = RTCConfigurationBuilder::new()
        .with_ice_servers(settings.ice_servers.clone())
        .build();
    let pc = PeerConnectionBuilder::new()
        .with_configuration(config)
        .with_setting_engine(engine)
        .with_handler(handler)
        .with_runtime(Arc::new(BufferedRuntime::new(
            settings.socket_buffer_size,
            settings.buffer_warned.clone(),
            setup,
        )))
        .with_udp_addrs(settings.addresses.clone())
        .with_data_channel_send_buffer_limit(settings.send_buffer_limit)
        .build()
        .await
        .map_err(|e| {
            Error::with_source(ErrorKind::WebRtc, "could not create a peer connection", e)
        })?;
    Ok(Arc::new(pc))
}

struct Task {
    /// Finished once the channel is open: see the runtime's setup tick.
    setup: Arc<Setup>,
    shared: Arc<ConnShared>,
    pc: Arc<dyn PeerConnection>,
    channel: Option<Arc<dyn DataChannel>>,
    inbox: Inbox,
    codec: CodecOptions,
    legacy: bool,
    candidates: CandidateQueue,
    reports: mpsc::UnboundedSender<ConnReport>,
}

fn webrtc_error(what: &str) -> impl FnOnce(webrtc::error::Error) -> Error + '_ {
    move |e| Error::with_source(ErrorKind::WebRtc, what.to_owned(), e)
}

/// The DTLS role a description asks for (`a=setup:`), for the negotiation traces.
fn dtls_setup(sdp: &str) -> &str {
    sdp.lines()
        .find_map(|l| l.strip_prefix("a=setup:"))
        .unwrap_or("-")
        .trim()
}

fn to_rtc(sdp: &SessionDescription) -> Result<RTCSessionDescription, Error> {
    let result = match sdp.sdp_type {
        SdpType::Offer => RTCSessionDescription::offer(sdp.sdp.clone()),
        SdpType::Answer => RTCSessionDescription::answer(sdp.sdp.clone()),
        _ => {
            return Err(Error::new(
                ErrorKind::WebRtc,
                "unsupported session description type",
            ));
        }
    };
    result.map_err(webrtc_error("invalid session description"))
}

impl Task {
    /// Negotiates, then serves the connection until it closes; returns why it failed, if it did.
    async fn run(
        &mut self,
        offer: Option<SessionDescription>,
        mut commands: mpsc::UnboundedReceiver<ConnCommand>,
        mut events: mpsc::UnboundedReceiver<PcEvent>,
    ) -> Option<Error> {
        if let Err(e) = self.negotiate(offer).await {
            return Some(e);
        }
        let budget = self.inbox.budget();
        loop {
            let can_read = self.inbox.is_idle();
            let channel = self.channel.clone();
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
                    Some(PcEvent::Channel(channel)) => {
                        if self.channel.is_none() {
                            self.channel = Some(channel);
                        }
                    }
                    Some(PcEvent::State(RTCPeerConnectionState::Failed)) => {
                        return Some(Error::new(
                            ErrorKind::NegotiationFailed,
                            format!("the connection to {} failed (ICE)", self.shared.info.peer),
                        ));
                    }
                    Some(PcEvent::State(RTCPeerConnectionState::Closed)) => return None,
                    Some(PcEvent::State(state)) => {
                        tracing::debug!(connection = %self.shared.info.connection_id, ?state, "peer connection state");
                    }
                    None => return None,
                },
                permit = budget.clone().acquire_many_owned(self.inbox.front_cost()), if !can_read => {
                    if let Ok(permit) = permit {
                        self.inbox.deliver(permit);
                    }
                },
                event = async { match &channel { Some(c) => c.poll().await, None => None } },
                    if can_read && channel.is_some() =>
                {
                    match event {
                        Some(DataChannelEvent::OnOpen) => self.opened().await,
                        Some(DataChannelEvent::OnMessage(message)) => {
                            let frame = if message.is_string {
                                let data = Vec::from(message.data);
                                Frame::Text(String::from_utf8(data).unwrap_or_else(|e| {
                                    String::from_utf8_lossy(e.as_bytes()).into_owned()
                                }))
                            } else {
                                Frame::Binary(Vec::from(message.data))
                            };
                            if let Some(close) = self.inbox.receive(frame) {
                                return close;
                            }
                        }
                        Some(DataChannelEvent::OnClose) | None => return None,
                        Some(_) => {}
                    }
                }
            }
        }
    }

    async fn negotiate(&mut self, offer: Option<SessionDescription>) -> Result<(), Error> {
        tracing::debug!(
            connection = %self.shared.info.connection_id,
            peer = %self.shared.info.peer,
            role = if offer.is_some() { "answerer" } else { "offerer" },
            "negotiating"
        );
        let id = self.shared.info.connection_id.clone();
        let local = match offer {
            None => {
                let init = RTCDataChannelInit {
                    ordered: self.shared.info.reliable,
                    ..Default::default()
                };
                let channel = self
                    .pc
                    .create_data_channel(&self.shared.info.label, Some(init))
                    .await
                    .map_err(webrtc_error("could not create the data channel"))?;
                self.channel = Some(channel);
                self.pc
                    .create_offer(None)
                    .await
                    .map_err(webrtc_error("could not create an offer"))?
            }
            Some(offer) => {
                self.set_remote(&offer).await?;
                self.pc
                    .create_answer(None)
                    .await
                    .map_err(webrtc_error("could not create an answer"))?
            }
        };
        self.pc
            .set_local_description(local.clone())
            .await
            .map_err(webrtc_error("could not apply the local description"))?;
        let sdp_type = if local.sdp_type == webrtc::peer_connection::RTCSdpType::Offer {
            SdpType::Offer
        } else {
            SdpType::Answer
        };
        tracing::debug!(
            connection = %self.shared.info.connection_id,
            setup = dtls_setup(&local.sdp),
            "local description sent"
        );
        let description = SessionDescription::new(sdp_type, local.sdp);
        let _ = self
            .reports
            .send(ConnReport::LocalDescription(id, description));
        Ok(())
    }

    async fn set_remote(&mut self, sdp: &SessionDescription) -> Result<(), Error> {
        tracing::debug!(
            connection = %self.shared.info.connection_id,
            setup = dtls_setup(&sdp.sdp),
            "applying the remote description"
        );
        self.pc
            .set_remote_description(to_rtc(sdp)?)
            .await
            .map_err(|e| {
                Error::with_source(ErrorKind::WebRtc, "the remote description was rejected", e)
            })?;
        self.setup.remote_applied();
        for candidate in self.candidates.release() {
            self.add_candidate(candidate).await;
        }
        Ok(())
    }

    async fn add_candidate(&mut self, candidate: IceCandidate) {
        let Some(candidate) = self.candidates.admit(candidate) else {
            return;
        };
        let init = RTCIceCandidateInit {
            candidate: candidate.candidate,
            sdp_mid: candidate.sdp_mid,
            sdp_mline_index: candidate.sdp_m_line_index,
            username_fragment: candidate.username_fragment,
            ..Default::default()
        };
        tracing::debug!(connection = %self.shared.info.connection_id, candidate = %init.candidate, "remote ICE candidate");
        if let Err(e) = self.pc.add_ice_candidate(init).await {
            // PeerJS reports this as a `webrtc` error and carries on.
            tracing::debug!(error = %e, "a remote ICE candidate was rejected");
        }
    }

    async fn opened(&mut self) {
        tracing::debug!(connection = %self.shared.info.connection_id, "data channel open");
        self.setup.finish();
        let Some(channel) = self.channel.clone() else {
            return;
        };
        // Chunks and MsgPack pieces as large as the channel allows (PeerJS receivers take any
        // size), within the limits the codec options set.
        let max = match self.pc.sctp().await {
            Some(sctp) => sctp.max_message_size().await.ok(),
            None => None,
        };
        let codec = fit_to_channel(self.codec.clone(), max.map(|m| m as usize));
        self.shared.open(Channel(channel), codec, self.legacy).await;
        let _ = self
            .reports
            .send(ConnReport::Opened(self.shared.info.connection_id.clone()));
    }
}
