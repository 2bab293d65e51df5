//! BinaryPack decoding never panics, and whatever decodes re-encodes to bytes that decode to
//! the same value (numbers compared as JavaScript sees them).
#![no_main]
use libfuzzer_sys::fuzz_target;
use peerjs::proto::codec::binarypack;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = binarypack::decode(data) {
        let mut again = Vec::new();
        // NaN decodes but is refused by the encoder (PeerJS cannot read it back).
        if binarypack::encode(&value, &mut again).is_ok() {
            let back = binarypack::decode(&again).expect("re-encoded value decodes");
            assert!(common::same(&back, &value), "{back:?} != {value:?}");
        }
    }
});
