//! JSON decoding never panics, from binary or text frames.
#![no_main]
use libfuzzer_sys::fuzz_target;
use peerjs::proto::codec::{Decoder, Frame, Serialization, json};

fuzz_target!(|data: &[u8]| {
    let _ = json::decode(data, 128);
    let mut dec = Decoder::new(Serialization::Json);
    let _ = dec.decode(Frame::Binary(data.to_vec()));
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = dec.decode(Frame::Text(text.to_owned()));
    }
});
