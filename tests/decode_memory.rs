//! Decoding any byte string returns a value or an error, never a panic, and never allocates
//! more than a small multiple of the input.
//!
//! A counting global allocator tracks the bytes live on the heap; while each input is decoded,
//! the peak above what was live before must stay under `FACTOR * input + SLACK`.
#![allow(unsafe_code)] // the counting allocator; the library itself forbids unsafe code

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use peerjs::proto::codec::{
    CodecOptions, Decoder, Frame, Serialization, binarypack, json, msgpack,
};

struct Counting;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);
static FREED: AtomicUsize = AtomicUsize::new(0);
/// The most bytes live at once since the last reset.
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn live() -> usize {
    ALLOCATED
        .load(Ordering::Relaxed)
        .saturating_sub(FREED.load(Ordering::Relaxed))
}

fn note_peak() {
    PEAK.fetch_max(live(), Ordering::Relaxed);
}

// SAFETY: forwards to the system allocator unchanged; only counts the requested sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        note_peak();
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        FREED.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: ptr was allocated by System with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Both blocks may be live during the move.
        ALLOCATED.fetch_add(new_size, Ordering::Relaxed);
        note_peak();
        FREED.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Heap bytes allowed per input byte when decoding one value. A `Value` is 32 bytes and the
/// densest inputs spend one byte per value (an array of 0x90 tags), so 32 is the floor; JSON
/// builds an intermediate tree as well.
const FACTOR: usize = 64;
/// The same for a `Decoder`, which also holds the received frame and, for a MsgPack stream, may
/// yield one value per input byte into a growing list (32 bytes each, up to twice that while the
/// list grows, and the old and new storage both live while it moves).
const STREAM_FACTOR: usize = 100;
/// Fixed overhead allowed per decode (error strings, small buffers).
const SLACK: usize = 16 * 1024;

/// The tests of this file run one at a time, so the counters see one test's allocations.
static SERIAL: Mutex<()> = Mutex::new(());

/// The peak of live heap bytes while `f` runs, above what was live when it started.
fn peak_of(f: impl FnOnce()) -> usize {
    let before = live();
    PEAK.store(before, Ordering::Relaxed);
    f();
    PEAK.load(Ordering::Relaxed).saturating_sub(before)
}

/// A decoder under test, by name.
type Case<'a> = (&'static str, Box<dyn Fn() + 'a>);

fn check(name: &str, input: &[u8]) {
    // The first three decode one value; the others are whole decoders.
    let cases: [Case<'_>; 6] = [
        ("binarypack", Box::new(|| drop(binarypack::decode(input)))),
        ("msgpack", Box::new(|| drop(msgpack::decode(input)))),
        ("json", Box::new(|| drop(json::decode(input, 128)))),
        (
            "binary decoder",
            Box::new(|| {
                drop(Decoder::new(Serialization::Binary).decode(Frame::Binary(input.to_vec())))
            }),
        ),
        (
            "msgpack stream",
            Box::new(|| {
                drop(Decoder::new(Serialization::MsgPack).decode(Frame::Binary(input.to_vec())))
            }),
        ),
        (
            "json decoder",
            Box::new(|| {
                drop(Decoder::new(Serialization::Json).decode(Frame::Binary(input.to_vec())))
            }),
        ),
    ];
    for (i, (codec, decode)) in cases.into_iter().enumerate() {
        let factor = if i < 3 { FACTOR } else { STREAM_FACTOR };
        let limit = factor * input.len() + SLACK;
        let used = peak_of(decode);
        assert!(
            used <= limit,
            "{codec} decoding {name} ({} bytes) peaked at {used} heap bytes, over {limit}",
            input.len()
        );
    }
}

fn repeat(prefix: &[u8], unit: &[u8], n: usize) -> Vec<u8> {
    let mut v = prefix.to_vec();
    for _ in 0..n {
        v.extend_from_slice(unit);
    }
    v
}

#[test]
fn adversarial_inputs_stay_within_a_small_multiple_of_their_size() {
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let n = 60_000usize;
    let n16 = (n as u16).to_be_bytes();
    let n32 = (n as u32).to_be_bytes();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "binarypack array of empty arrays",
            repeat(&[&[0xdd][..], &n32].concat(), &[0x90], n),
        ),
        (
            "binarypack map of empty maps",
            repeat(&[&[0xdf][..], &n32].concat(), &[0x80, 0x80], n),
        ),
        (
            "binarypack array of 1-byte strings",
            repeat(&[&[0xdc][..], &n16].concat(), &[0xb1, 0x61], n),
        ),
        (
            "binarypack array of 1-element arrays",
            repeat(&[&[0xdd][..], &n32].concat(), &[0x91, 0x00], n),
        ),
        (
            "binarypack huge declared lengths",
            vec![0xdd, 0xff, 0xff, 0xff, 0xff, 0xdb, 0xff, 0xff, 0xff, 0xff],
        ),
        (
            "msgpack array of empty arrays",
            repeat(&[&[0xdd][..], &n32].concat(), &[0x90], n),
        ),
        (
            "msgpack array of 1-byte strings",
            repeat(&[&[0xdc][..], &n16].concat(), &[0xa1, 0x61], n),
        ),
        (
            "msgpack map of empty maps",
            repeat(&[&[0xdf][..], &n32].concat(), &[0x80, 0x80], n),
        ),
        (
            "msgpack array of exts",
            repeat(&[&[0xdd][..], &n32].concat(), &[0xd4, 0x05, 0x00], n),
        ),
        (
            "msgpack huge declared lengths",
            vec![0xdd, 0xff, 0xff, 0xff, 0xff, 0xc6, 0xff, 0xff, 0xff, 0xff],
        ),
        (
            "json array of empty arrays",
            [b"[".as_slice(), &repeat(b"", b"[],", n), b"[]]"].concat(),
        ),
        (
            "json array of empty objects",
            [b"[".as_slice(), &repeat(b"", b"{},", n), b"{}]"].concat(),
        ),
        (
            "json deep nesting",
            [vec![b'['; 100_000], vec![b']'; 100_000]].concat(),
        ),
        ("deep binarypack nesting", vec![0x91; 100_000]),
        ("empty", vec![]),
    ];
    for (name, input) in &cases {
        check(name, input);
    }
}

#[test]
fn random_inputs_stay_within_a_small_multiple_of_their_size() {
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..3000 {
        let len = (next() % 512) as usize;
        let input: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        check(&format!("random input {round}"), &input);
    }
}

#[test]
fn hostile_chunk_streams_are_bounded_by_the_reassembly_limits() {
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let opts = CodecOptions::default()
        .max_message_size(1 << 20)
        .max_buffered(2 << 20)
        .max_messages_in_flight(8);
    let mut dec = Decoder::with_options(Serialization::Binary, opts);
    // Many messages that claim 4 billion chunks each, and never finish.
    let before = live();
    for id in 1..=1000i64 {
        let mut frame = vec![0x84, 0xba];
        frame.extend_from_slice(b"__peerData");
        frame.extend_from_slice(&[0xd3]);
        frame.extend_from_slice(&id.to_be_bytes());
        frame.extend_from_slice(&[
            0xb1, b'n', 0x00, 0xb4, b'd', b'a', b't', b'a', 0xda, 0x10, 0x00,
        ]);
        frame.extend_from_slice(&[7u8; 4096]);
        frame.extend_from_slice(&[
            0xb5, b't', b'o', b't', b'a', b'l', 0xce, 0xff, 0xff, 0xff, 0xff,
        ]);
        let _ = dec.decode(Frame::Binary(frame));
    }
    // What the decoder still holds: at most 8 partial messages of 4 KiB and the ids of the
    // messages it dropped.
    let held = live() - before;
    assert!(
        held <= 8 * 4096 + 16 * 1024,
        "the decoder holds {held} bytes"
    );
    drop(dec);
}
