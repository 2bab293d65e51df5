//! What a data connection's application handle and its backend task share, on every target:
//! the lifecycle, the bounded receive queue, and the sending half (encoder plus channel).
//!
//! The backend task owns the peer connection. It decodes what arrives into an [`Inbox`], which
//! hands messages to the application within a byte budget: when the application stops reading,
//! the task stops reading the channel and the transport's flow control slows the sender down.
//! Sending happens on the application's task through [`Sender`], straight on the channel, which
//! waits while too many bytes are unacknowledged.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};

use crate::backend::imp::Channel;
use crate::error::{Error, ErrorKind};
use crate::proto::codec::{
    CodecError, CodecOptions, Decoder, Encoder, Frame, Incoming, Serialization,
};
use crate::proto::session::ConnectionInfo;
use crate::proto::signaling::{IceCandidate, SessionDescription};
use crate::value::Value;

/// Bytes of decoded messages waiting for the application before the channel is no longer read.
const INCOMING_BUDGET: usize = 8 * 1024 * 1024;

/// Room for a chunk's framing (map, keys, id, index, count, binary header) in one message.
const CHUNK_OVERHEAD: usize = 64;

/// The codec options with chunk and piece sizes no larger than the channel's maximum message
/// size (65536 when the remote advertises none, per RFC 8841).
pub(crate) fn fit_to_channel(codec: CodecOptions, max_message_size: Option<usize>) -> CodecOptions {
    let max = max_message_size.unwrap_or(65536);
    let chunk = codec
        .get_chunk_size()
        .min(max.saturating_sub(CHUNK_OVERHEAD));
    let piece = codec.get_msgpack_piece_size().min(max);
    codec.chunk_size(chunk).msgpack_piece_size(piece)
}

/// Remote ICE candidates that arrive before the remote description: held until it is applied,
/// then handed over in arrival order (a candidate cannot be added before it).
#[derive(Debug)]
pub(crate) struct CandidateQueue {
    /// `None` once the remote description is applied.
    waiting: Option<Vec<IceCandidate>>,
}

impl CandidateQueue {
    pub(crate) fn new() -> Self {
        Self {
            waiting: Some(Vec::new()),
        }
    }

    /// The candidate back if it can be added now; otherwise it is kept.
    pub(crate) fn admit(&mut self, candidate: IceCandidate) -> Option<IceCandidate> {
        match &mut self.waiting {
            Some(held) => {
                held.push(candidate);
                None
            }
            None => Some(candidate),
        }
    }

    /// The remote description is applied: what was kept, to add now.
    pub(crate) fn release(&mut self) -> Vec<IceCandidate> {
        self.waiting.take().unwrap_or_default()
    }
}

/// The connection's lifecycle, as the application sees it.
#[derive(Clone, Debug)]
pub(crate) enum ConnState {
    Connecting,
    Open,
    Closed(Option<Error>),
}

/// What the driver asks the connection task to do.
#[derive(Debug)]
pub(crate) enum ConnCommand {
    /// The remote answer (for a connection we offered), and whether the remote is PeerJS ≤1.4.
    Answer(SessionDescription, bool),
    /// A remote ICE candidate.
    Candidate(IceCandidate),
    /// Close, failing with this error if any.
    Close(Option<Error>),
}

/// What a connection task tells the peer's driver.
#[derive(Debug)]
pub(crate) enum ConnReport {
    LocalDescription(String, SessionDescription),
    LocalCandidate(String, IceCandidate),
    Opened(String),
    Closed(String),
}

/// The state the application's handle and the connection task share.
pub(crate) struct ConnShared {
    pub(crate) info: ConnectionInfo,
    pub(crate) state: watch::Sender<ConnState>,
    pub(crate) incoming: tokio::sync::Mutex<mpsc::UnboundedReceiver<Delivery>>,
    pub(crate) sender: tokio::sync::Mutex<Option<Sender>>,
    pub(crate) commands: mpsc::UnboundedSender<ConnCommand>,
}

impl std::fmt::Debug for ConnShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnShared")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl ConnShared {
    /// Marks the connection open, with a sender on `channel`.
    pub(crate) async fn open(&self, channel: Channel, codec: CodecOptions, legacy: bool) {
        let encoder = Encoder::with_options(self.info.serialization, codec.legacy_peerjs(legacy));
        *self.sender.lock().await = Some(Sender { channel, encoder });
        self.state.send_replace(ConnState::Open);
    }

    /// Marks the connection closed, failed with `error` if there is one.
    pub(crate) async fn close(&self, error: Option<Error>) {
        self.state.send_replace(ConnState::Closed(error));
        *self.sender.lock().await = None;
    }
}

/// A received message (or a decoding error) and its share of the receive budget, returned
/// when the application takes it.
pub(crate) struct Delivery {
    pub(crate) item: Result<Value, Error>,
    _budget: OwnedSemaphorePermit,
}

/// The sending half: the channel and the encoder, used by one message at a time.
pub(crate) struct Sender {
    channel: Channel,
    encoder: Encoder,
}

impl Sender {
    /// Sends one message's frames, in order.
    pub(crate) async fn send(&mut self, value: Value) -> Result<(), Error> {
        let frames = self.encoder.encode_owned(value)?;
        self.send_frames(frames).await
    }

    /// The channel.
    pub(crate) fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// Sends the flush-close control message, if the serialization and the remote have one;
    /// says whether it did.
    pub(crate) async fn send_close(&mut self) -> Result<bool, Error> {
        let frames = self.encoder.encode_close()?;
        let sent = !frames.is_empty();
        self.send_frames(frames).await?;
        Ok(sent)
    }

    async fn send_frames(&self, frames: Vec<Frame>) -> Result<(), Error> {
        for frame in frames {
            match frame {
                Frame::Text(text) => self.channel.send_text(&text).await?,
                Frame::Binary(bytes) => self.channel.send_binary(bytes).await?,
            }
        }
        Ok(())
    }
}

/// The application handle's shared state and the task's inputs, created together.
pub(crate) fn new_connection(info: ConnectionInfo) -> (Arc<ConnShared>, TaskInputs) {
    let (incoming_tx, incoming_rx) = mpsc::unbounded_channel();
    let (commands_tx, commands_rx) = mpsc::unbounded_channel();
    let (state, _) = watch::channel(ConnState::Connecting);
    let shared = Arc::new(ConnShared {
        info,
        state,
        incoming: tokio::sync::Mutex::new(incoming_rx),
        sender: tokio::sync::Mutex::new(None),
        commands: commands_tx,
    });
    (
        shared,
        TaskInputs {
            incoming: incoming_tx,
            commands: commands_rx,
        },
    )
}

/// What only the connection task holds.
pub(crate) struct TaskInputs {
    pub(crate) incoming: mpsc::UnboundedSender<Delivery>,
    pub(crate) commands: mpsc::UnboundedReceiver<ConnCommand>,
}

/// The receive side of a connection task: decodes frames and hands messages to the application
/// within [`INCOMING_BUDGET`] bytes.
///
/// The task reads the channel only while [`Inbox::is_idle`]; otherwise it waits for budget
/// (`budget().acquire_many_owned(front_cost())`) and calls [`Inbox::deliver`].
pub(crate) struct Inbox {
    peer: String,
    serialization: Serialization,
    decoder: Decoder,
    delivering: VecDeque<Result<Value, Error>>,
    budget: Arc<Semaphore>,
    incoming: mpsc::UnboundedSender<Delivery>,
}

impl Inbox {
    pub(crate) fn new(
        info: &ConnectionInfo,
        codec: CodecOptions,
        incoming: mpsc::UnboundedSender<Delivery>,
    ) -> Self {
        Self {
            peer: info.peer.clone(),
            serialization: info.serialization,
            decoder: Decoder::with_options(info.serialization, codec),
            delivering: VecDeque::new(),
            budget: Arc::new(Semaphore::new(INCOMING_BUDGET)),
            incoming,
        }
    }

    /// Whether every decoded message has been handed over (so the channel may be read).
    pub(crate) fn is_idle(&self) -> bool {
        self.delivering.is_empty()
    }

    /// The receive budget.
    pub(crate) fn budget(&self) -> Arc<Semaphore> {
        self.budget.clone()
    }

    /// The budget the next message takes: its approximate size in memory, at most the whole
    /// budget.
    pub(crate) fn front_cost(&self) -> u32 {
        let size = match self.delivering.front() {
            Some(Ok(value)) => approx_size(value),
            _ => size_of::<Value>(),
        };
        size.min(INCOMING_BUDGET) as u32
    }

    /// Hands the next message to the application with its budget. If every handle is gone the
    /// message is dropped: nobody can read it.
    pub(crate) fn deliver(&mut self, permit: OwnedSemaphorePermit) {
        if let Some(item) = self.delivering.pop_front() {
            let _ = self.incoming.send(Delivery {
                item,
                _budget: permit,
            });
        }
    }

    /// Decodes a received frame. Returns `Some` when the connection must close: the remote's
    /// flush-close (`Some(None)`), or a MsgPack stream that can no longer be read
    /// (`Some(Some(error))`).
    pub(crate) fn receive(&mut self, frame: Frame) -> Option<Option<Error>> {
        let mut items = Vec::new();
        let result = self.decoder.decode_into(frame, &mut items);
        for item in items {
            match item {
                Incoming::Data(value) => self.delivering.push_back(Ok(value)),
                Incoming::Close => return Some(None),
            }
        }
        if let Err(e) = result {
            let error = codec_error(&self.peer, e);
            if self.serialization == Serialization::MsgPack {
                return Some(Some(error));
            }
            self.delivering.push_back(Err(error));
        }
        None
    }
}

fn codec_error(peer: &str, e: CodecError) -> Error {
    let kind = match e {
        CodecError::MessageTooBig { .. } | CodecError::ReassemblyLimit(_) => {
            ErrorKind::MessageTooBig
        }
        _ => ErrorKind::Serialization,
    };
    Error::with_source(
        kind,
        format!("a message from {peer} could not be decoded: {e}"),
        e,
    )
}

/// Roughly how many bytes a value occupies in memory.
fn approx_size(value: &Value) -> usize {
    value
        .nested()
        .map(|v| {
            size_of::<Value>()
                + match v {
                    Value::String(s) => s.len(),
                    Value::Binary(b) | Value::Ext(_, b) => b.len(),
                    _ => 0,
                }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::CandidateQueue;
    use crate::proto::signaling::IceCandidate;

    fn candidate(n: u16) -> IceCandidate {
        IceCandidate {
            candidate: format!("candidate:{n} 1 udp 1 127.0.0.1 {n} typ host"),
            sdp_mid: Some("0".into()),
            sdp_m_line_index: Some(0),
            username_fragment: None,
        }
    }

    #[test]
    fn candidates_before_the_remote_description_wait_and_come_out_in_order() {
        let mut queue = CandidateQueue::new();
        assert!(queue.admit(candidate(1)).is_none());
        assert!(queue.admit(candidate(2)).is_none());
        let released: Vec<_> = queue.release().into_iter().map(|c| c.candidate).collect();
        assert_eq!(released, [candidate(1).candidate, candidate(2).candidate]);
        // Once the description is applied, candidates go straight through.
        assert_eq!(
            queue.admit(candidate(3)).map(|c| c.candidate),
            Some(candidate(3).candidate)
        );
        assert!(queue.release().is_empty());
    }
}
