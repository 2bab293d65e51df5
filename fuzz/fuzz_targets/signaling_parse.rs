//! Parsing signaling messages never panics, and a parsed message re-serializes to text that
//! parses to the same message.
#![no_main]
use libfuzzer_sys::fuzz_target;
use peerjs::proto::signaling::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(msg) = Message::parse(text) {
            let again = Message::parse(&msg.to_json()).expect("re-serialized message parses");
            assert_eq!(again, msg);
        }
    }
});
