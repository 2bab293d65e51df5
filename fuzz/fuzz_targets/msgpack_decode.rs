//! MsgPack decoding never panics, one-shot or as a stream split anywhere, and both agree.
#![no_main]
use libfuzzer_sys::fuzz_target;
use peerjs::proto::codec::{Decoder, Frame, Incoming, Serialization, msgpack};

#[path = "common.rs"]
mod common;

fuzz_target!(|input: (u16, &[u8])| {
    let (cut, data) = input;
    let one_shot = msgpack::decode(data);
    let cut = usize::from(cut) % (data.len() + 1);
    let mut dec = Decoder::new(Serialization::MsgPack);
    let mut got = Vec::new();
    let mut failed = false;
    for piece in [&data[..cut], &data[cut..]] {
        match dec.decode(Frame::Binary(piece.to_vec())) {
            Ok(items) => got.extend(items),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    if let Ok(value) = one_shot {
        // A complete single value decodes the same way from the stream.
        assert!(!failed);
        if let [Incoming::Data(v)] = got.as_slice() {
            assert_eq!(*v, value);
        }
        let mut again = Vec::new();
        msgpack::encode(&value, &mut again).expect("a decoded value re-encodes");
        let back = msgpack::decode(&again).expect("re-encoded value decodes");
        assert!(common::same(&back, &value), "{back:?} != {value:?}");
    }
});
