//! A tour of the PeerJS serializations: one message encoded the way a PeerJS peer puts it on the
//! data channel in each serialization, then decoded back.
//!
//! Run: `cargo run --example codec_tour`

use peerjs::proto::codec::{Decoder, Encoder, Frame, Incoming, Serialization};
use peerjs::{Timestamp, Value, from_value, to_value};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Chat {
    from: String,
    text: String,
    seq: u32,
}

fn show(frame: &Frame) -> String {
    match frame {
        Frame::Text(t) => format!("text   {t:?}"),
        Frame::Binary(b) if b.len() <= 48 => {
            format!(
                "binary {}",
                b.iter().map(|x| format!("{x:02x}")).collect::<String>()
            )
        }
        Frame::Binary(b) => format!("binary <{} bytes>", b.len()),
    }
}

fn main() -> Result<(), peerjs::Error> {
    let chat = Chat {
        from: "alice".into(),
        text: "héllo".into(),
        seq: 7,
    };
    let message = to_value(&chat)?;
    println!("message: {message}\n");
    for serialization in [
        Serialization::Binary,
        Serialization::Json,
        Serialization::MsgPack,
    ] {
        let mut encoder = Encoder::new(serialization);
        let mut decoder = Decoder::new(serialization);
        let frames = encoder.encode(&message)?;
        println!(
            "{serialization:>8}: {}",
            frames.iter().map(show).collect::<Vec<_>>().join(", ")
        );
        for frame in frames {
            for incoming in decoder.decode(frame)? {
                if let Incoming::Data(value) = incoming {
                    let back: Chat = from_value(value)?;
                    assert_eq!(back, chat);
                }
            }
        }
    }

    // Raw passes strings and bytes through untouched.
    let mut raw = Encoder::new(Serialization::Raw);
    println!(
        "{:>8}: {}",
        "raw",
        show(&raw.encode(&Value::from("plain text"))?[0])
    );

    // Large messages are chunked at 16300 bytes in BinaryPack, as PeerJS does.
    let big = Value::Binary(vec![0xab; 100_000]);
    let frames = Encoder::new(Serialization::Binary).encode(&big)?;
    println!(
        "\n100000 bytes of binary become {} chunk messages:",
        frames.len()
    );
    let mut decoder = Decoder::new(Serialization::Binary);
    for (i, frame) in frames.into_iter().enumerate() {
        let len = frame.len();
        let out = decoder.decode(frame)?;
        println!("  chunk {i}: {len} bytes -> {} message(s) out", out.len());
    }

    // MsgPack carries JavaScript Dates as the timestamp extension.
    let when = Value::Map(vec![("at".into(), Timestamp::from_millis(1_500).into())]);
    let frames = Encoder::new(Serialization::MsgPack).encode(&when)?;
    println!("\nMsgPack Date: {}", show(&frames[0]));
    Ok(())
}
