//! PeerJS chunking of large BinaryPack messages, and bounded reassembly.
//!
//! A PeerJS sender packs a message with BinaryPack; if the result is longer than 16300 bytes
//! ([`CHUNK_MTU`]) it cuts it into slices and sends each slice as its own message, the BinaryPack
//! map `{"__peerData": id, "n": index, "data": slice, "total": count}` (keys in that order). The id
//! starts at 1 on each connection and grows by one per chunked message. The receiver collects the
//! slices by id, and when all have arrived, concatenates them and unpacks the result.
//!
//! The [`Reassembler`] bounds the memory a remote peer can make us hold: the size of one message,
//! the bytes held across all partial messages, and the number of partial messages (see
//! [`CodecOptions`]). Past a bound, the message is dropped and an error reports it; the
//! remaining chunks of that message are then ignored.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::collections::{BTreeMap, HashMap, VecDeque};

use super::binarypack::{Reader, write_int, write_raw_header};
use super::{CodecError, CodecOptions, Frame, PEER_DATA_KEY};
use crate::value::Value;

/// PeerJS's `chunkedMTU`: packed messages longer than this are chunked.
pub const CHUNK_MTU: usize = 16300;

/// How many ids of failed messages are remembered, so their later chunks are ignored.
const FAILED_IDS_KEPT: usize = 64;

/// One chunk of a chunked message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk<'a> {
    /// The message id (`__peerData`).
    pub id: i64,
    /// The slice's index, from 0.
    pub n: u32,
    /// The number of slices in the message.
    pub total: u32,
    /// The slice.
    pub data: &'a [u8],
}

impl<'a> Chunk<'a> {
    /// Reads a chunk from a decoded top-level map whose `__peerData` is truthy.
    ///
    /// # Errors
    ///
    /// [`CodecError::InvalidChunk`] when a field is missing or has the wrong type.
    pub fn from_value(value: &'a Value) -> Result<Self, CodecError> {
        let field = |name: &str| {
            value
                .get(name)
                .ok_or_else(|| CodecError::InvalidChunk(format!("no \"{name}\" field")))
        };
        let int = |name: &str| -> Result<i64, CodecError> {
            field(name)?
                .as_i64()
                .ok_or_else(|| CodecError::InvalidChunk(format!("\"{name}\" is not an integer")))
        };
        let index = |name: &str| -> Result<u32, CodecError> {
            u32::try_from(int(name)?)
                .map_err(|_| CodecError::InvalidChunk(format!("\"{name}\" is out of range")))
        };
        let data = field("data")?
            .as_bytes()
            .ok_or_else(|| CodecError::InvalidChunk("\"data\" is not binary".into()))?;
        Ok(Self {
            id: int(PEER_DATA_KEY)?,
            n: index("n")?,
            total: index("total")?,
            data,
        })
    }

    /// Reads a chunk straight from a received frame without copying its data, if the frame is a
    /// BinaryPack map of exactly the four chunk fields (in any order) with integer header fields,
    /// a truthy id and binary data. Anything else gives `None`; decode it as a whole value then.
    pub fn parse(frame: &'a [u8]) -> Option<Self> {
        let mut r = Reader::new(frame);
        if r.u8().ok()? != 0x84 {
            return None;
        }
        let (mut id, mut n, mut total, mut data) = (None, None, None, None);
        for _ in 0..4 {
            match r.str_bytes()? {
                b"__peerData" => id = Some(r.int()?),
                b"n" => n = Some(r.int()?),
                b"total" => total = Some(r.int()?),
                b"data" => data = Some(r.raw_bytes()?),
                _ => return None,
            }
        }
        if r.remaining() != 0 {
            return None;
        }
        let id = i64::try_from(id?).ok().filter(|id| *id != 0)?;
        Some(Self {
            id,
            n: u32::try_from(n?).ok()?,
            total: u32::try_from(total?).ok()?,
            data: data?,
        })
    }

    /// Appends this chunk's frame bytes, exactly as PeerJS packs a chunk.
    fn write(&self, out: &mut Vec<u8>) {
        out.push(0x84);
        out.push(0xba);
        out.extend_from_slice(PEER_DATA_KEY.as_bytes());
        write_int(i128::from(self.id), out);
        out.extend_from_slice(&[0xb1, b'n']);
        write_int(i128::from(self.n), out);
        out.extend_from_slice(&[0xb4, b'd', b'a', b't', b'a']);
        // A slice is never longer than u32::MAX here: `split` caps slices at that size.
        let _ = write_raw_header(self.data.len(), out);
        out.extend_from_slice(self.data);
        out.extend_from_slice(&[0xb5, b't', b'o', b't', b'a', b'l']);
        write_int(i128::from(self.total), out);
    }
}

/// Cuts a packed message into chunk frames of at most `chunk_size` data bytes each, with
/// message id `id`, appending them to `out`.
///
/// Slices are capped at `u32::MAX` bytes (BinaryPack's largest binary), and a message may have
/// at most `u32::MAX` slices; the encoder's limits keep messages far below that.
pub fn split(packed: &[u8], id: u64, chunk_size: usize, out: &mut Vec<Frame>) {
    let chunk_size = chunk_size.clamp(1, u32::MAX as usize);
    let total = u32::try_from(packed.len().div_ceil(chunk_size)).unwrap_or(u32::MAX);
    let id = i64::try_from(id).unwrap_or(i64::MAX);
    out.reserve(total as usize);
    for (n, data) in (0..total).zip(packed.chunks(chunk_size)) {
        let mut frame = Vec::with_capacity(data.len() + 40);
        Chunk { id, n, total, data }.write(&mut frame);
        out.push(Frame::Binary(frame));
    }
}

/// A partially received message.
#[derive(Debug)]
struct Partial {
    total: u32,
    /// How many slices from index 0 are in `assembled`.
    next: u32,
    assembled: Vec<u8>,
    /// Slices that arrived ahead of `next`.
    pending: BTreeMap<u32, Vec<u8>>,
    bytes: usize,
}

/// Collects chunks into whole messages, within memory bounds.
///
/// ```
/// use peerjs::proto::codec::chunk::{self, Chunk, Reassembler};
/// use peerjs::proto::codec::{CodecOptions, Frame};
///
/// let message = vec![5u8; 40_000];
/// let mut frames = Vec::new();
/// chunk::split(&message, 1, chunk::CHUNK_MTU, &mut frames);
/// let mut r = Reassembler::new(&CodecOptions::default());
/// let mut whole = None;
/// for frame in &frames {
///     let Frame::Binary(bytes) = frame else { unreachable!() };
///     let c = Chunk::parse(bytes).expect("a chunk frame");
///     whole = r.push(c)?;
/// }
/// assert_eq!(whole, Some(message));
/// # Ok::<(), peerjs::proto::codec::CodecError>(())
/// ```
#[derive(Debug)]
pub struct Reassembler {
    partials: HashMap<i64, Partial>,
    failed: VecDeque<i64>,
    buffered: usize,
    max_message_size: usize,
    max_buffered: usize,
    max_in_flight: usize,
}

impl Reassembler {
    /// A reassembler with the bounds in `options`.
    pub fn new(options: &CodecOptions) -> Self {
        Self {
            partials: HashMap::new(),
            failed: VecDeque::new(),
            buffered: 0,
            max_message_size: options.get_max_message_size(),
            max_buffered: options.get_max_buffered(),
            max_in_flight: options.get_max_messages_in_flight(),
        }
    }

    /// Messages partially received.
    pub fn in_flight(&self) -> usize {
        self.partials.len()
    }

    /// Bytes held for partially received messages.
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// Adds a chunk; returns the whole message once its last chunk has arrived.
    ///
    /// # Errors
    ///
    /// [`CodecError::InvalidChunk`] for an index out of range, a total that changes, or a
    /// duplicate; [`CodecError::ReassemblyLimit`] when a bound would be exceeded, in which case
    /// the message is dropped and its later chunks are ignored.
    pub fn push(&mut self, chunk: Chunk<'_>) -> Result<Option<Vec<u8>>, CodecError> {
        let Chunk { id, n, total, data } = chunk;
        if self.failed.contains(&id) {
            return Ok(None);
        }
        if total == 0 || n >= total {
            return Err(CodecError::InvalidChunk(format!(
                "chunk {n} of message {id} is out of range (total {total})"
            )));
        }
        if !self.partials.contains_key(&id) {
            if self.partials.len() >= self.max_in_flight {
                self.fail(id);
                return Err(CodecError::ReassemblyLimit(format!(
                    "message {id} dropped: {} chunked messages are already in flight",
                    self.max_in_flight
                )));
            }
            self.partials.insert(
                id,
                Partial {
                    total,
                    next: 0,
                    assembled: Vec::new(),
                    pending: BTreeMap::new(),
                    bytes: 0,
                },
            );
        }
        let Some(partial) = self.partials.get_mut(&id) else {
            return Ok(None);
        };
        if partial.total != total {
            let was = partial.total;
            self.fail(id);
            return Err(CodecError::InvalidChunk(format!(
                "message {id} dropped: chunk {n} says total {total}, earlier chunks said {was}"
            )));
        }
        if n < partial.next || partial.pending.contains_key(&n) {
            return Err(CodecError::InvalidChunk(format!(
                "duplicate chunk {n} of message {id} ignored"
            )));
        }
        let size = partial.bytes.saturating_add(data.len());
        if size > self.max_message_size {
            self.fail(id);
            return Err(CodecError::ReassemblyLimit(format!(
                "message {id} dropped: it exceeds the maximum message size of {} bytes",
                self.max_message_size
            )));
        }
        if self.buffered.saturating_add(data.len()) > self.max_buffered {
            self.fail(id);
            return Err(CodecError::ReassemblyLimit(format!(
                "message {id} dropped: partial messages would hold more than {} bytes",
                self.max_buffered
            )));
        }
        partial.bytes = size;
        self.buffered += data.len();
        if n == partial.next {
            partial.assembled.extend_from_slice(data);
            partial.next += 1;
            while let Some(slice) = partial.pending.remove(&partial.next) {
                partial.assembled.extend_from_slice(&slice);
                partial.next += 1;
            }
        } else {
            partial.pending.insert(n, data.to_vec());
        }
        if partial.next < partial.total {
            return Ok(None);
        }
        let done = self.partials.remove(&id).map(|p| {
            self.buffered -= p.bytes;
            p.assembled
        });
        Ok(done)
    }

    /// Drops a partial message and remembers its id.
    fn fail(&mut self, id: i64) {
        if let Some(p) = self.partials.remove(&id) {
            self.buffered -= p.bytes;
        }
        if self.failed.len() >= FAILED_IDS_KEPT {
            self.failed.pop_front();
        }
        self.failed.push_back(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames_of(message: &[u8], chunk_size: usize) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        split(message, 1, chunk_size, &mut frames);
        frames
            .into_iter()
            .map(|f| match f {
                Frame::Binary(b) => b,
                Frame::Text(_) => panic!("text frame"),
            })
            .collect()
    }

    #[test]
    fn chunk_frames_match_the_peerjs_example() {
        // peerjs-protocol.md §5.3: 16298 bytes (i & 0xff) packs to 16301 bytes, two chunks.
        let payload: Vec<u8> = (0..16298u32).map(|i| i as u8).collect();
        let mut packed = Vec::new();
        super::super::binarypack::encode(&Value::Binary(payload), &mut packed).unwrap();
        let frames = frames_of(&packed, CHUNK_MTU);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].len(), 16331);
        let hex = |b: &[u8]| b.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(
            hex(&frames[0][..24]),
            "84ba5f5f706565724461746101b16e00b464617461da3fac"
        );
        assert_eq!(
            hex(&frames[1]),
            "84ba5f5f706565724461746101b16e01b464617461a1a9b5746f74616c02"
        );
    }

    #[test]
    fn out_of_order_chunks_reassemble() {
        let message: Vec<u8> = (0..50_000u32).map(|i| (i * 7) as u8).collect();
        let frames = frames_of(&message, 1000);
        let mut r = Reassembler::new(&CodecOptions::default());
        let mut order: Vec<usize> = (0..frames.len()).rev().collect();
        order.swap(3, 10);
        let mut whole = None;
        for i in order {
            assert!(whole.is_none());
            whole = r.push(Chunk::parse(&frames[i]).unwrap()).unwrap();
        }
        assert_eq!(whole.unwrap(), message);
        assert_eq!((r.in_flight(), r.buffered()), (0, 0));
    }

    #[test]
    fn bounds_drop_the_message_and_ignore_its_rest() {
        let opts = CodecOptions::default().max_message_size(2500);
        let mut r = Reassembler::new(&opts);
        let frames = frames_of(&[1u8; 3000], 1000);
        assert_eq!(r.push(Chunk::parse(&frames[0]).unwrap()).unwrap(), None);
        assert_eq!(r.push(Chunk::parse(&frames[1]).unwrap()).unwrap(), None);
        assert!(matches!(
            r.push(Chunk::parse(&frames[2]).unwrap()),
            Err(CodecError::ReassemblyLimit(_))
        ));
        assert_eq!((r.in_flight(), r.buffered()), (0, 0));
        // A late duplicate of the dropped message is ignored, not reported again.
        assert_eq!(r.push(Chunk::parse(&frames[0]).unwrap()).unwrap(), None);
    }

    #[test]
    fn too_many_messages_in_flight_is_an_error() {
        let opts = CodecOptions::default().max_messages_in_flight(2);
        let mut r = Reassembler::new(&opts);
        for id in 1..=2 {
            let c = Chunk {
                id,
                n: 0,
                total: 2,
                data: &[1],
            };
            assert_eq!(r.push(c).unwrap(), None);
        }
        let c = Chunk {
            id: 3,
            n: 0,
            total: 2,
            data: &[1],
        };
        assert!(matches!(r.push(c), Err(CodecError::ReassemblyLimit(_))));
        assert_eq!(r.in_flight(), 2);
    }

    #[test]
    fn inconsistent_chunks_are_errors() {
        let mut r = Reassembler::new(&CodecOptions::default());
        let c = |n, total| Chunk {
            id: 9,
            n,
            total,
            data: &[0u8; 4],
        };
        assert!(matches!(r.push(c(2, 2)), Err(CodecError::InvalidChunk(_))));
        assert!(matches!(r.push(c(0, 0)), Err(CodecError::InvalidChunk(_))));
        assert_eq!(r.push(c(0, 3)).unwrap(), None);
        assert!(matches!(r.push(c(0, 3)), Err(CodecError::InvalidChunk(_))));
        assert!(matches!(r.push(c(1, 4)), Err(CodecError::InvalidChunk(_))));
        assert_eq!(r.in_flight(), 0);
    }

    #[test]
    fn parse_rejects_what_is_not_exactly_a_chunk() {
        let frames = frames_of(&[7u8; 100], 40);
        assert!(Chunk::parse(&frames[0]).is_some());
        assert!(Chunk::parse(&frames[0][..frames[0].len() - 1]).is_none());
        let mut extra = frames[0].clone();
        extra.push(0);
        assert!(Chunk::parse(&extra).is_none());
        // id 0 is falsy: not a chunk for PeerJS.
        let mut zero = Vec::new();
        Chunk {
            id: 0,
            n: 0,
            total: 1,
            data: &[1],
        }
        .write(&mut zero);
        assert!(Chunk::parse(&zero).is_none());
    }
}
