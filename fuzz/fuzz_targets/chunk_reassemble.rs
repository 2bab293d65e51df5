//! A sequence of arbitrary chunk messages never panics the reassembler, and it never holds more
//! than its bounds allow.
#![no_main]
use libfuzzer_sys::fuzz_target;
use peerjs::proto::codec::chunk::{Chunk, Reassembler};
use peerjs::proto::codec::{CodecOptions, Decoder, Frame, Serialization};

const MAX_MESSAGE: usize = 4096;
const MAX_BUFFERED: usize = 8192;

fuzz_target!(|chunks: Vec<(i8, u8, u8, Vec<u8>)>| {
    let opts = CodecOptions::default()
        .max_message_size(MAX_MESSAGE)
        .max_buffered(MAX_BUFFERED)
        .max_messages_in_flight(4);
    let mut r = Reassembler::new(&opts);
    let mut frames = Vec::new();
    for (id, n, total, data) in &chunks {
        let chunk = Chunk { id: i64::from(*id), n: u32::from(*n), total: u32::from(*total), data };
        if let Ok(Some(whole)) = r.push(chunk) {
            assert!(whole.len() <= MAX_MESSAGE);
        }
        assert!(r.buffered() <= MAX_BUFFERED);
        assert!(r.in_flight() <= 4);
        frames.push(data.clone());
    }
    // The same bytes as whole frames through a decoder.
    let mut dec = Decoder::with_options(Serialization::Binary, opts);
    for f in frames {
        let _ = dec.decode(Frame::Binary(f));
    }
});
