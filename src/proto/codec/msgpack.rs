//! MessagePack as PeerJS 1.5's `MsgPack` serialization. (placeholder: being implemented)
#![allow(missing_docs, dead_code, unused_variables, unreachable_pub)]
use super::{CodecError, CodecOptions};
use crate::value::{Timestamp, Value};

pub const PIECE_SIZE: usize = 32768;

pub fn encode(value: &Value, out: &mut Vec<u8>) -> Result<(), CodecError> {
    Err(CodecError::Serde("msgpack not implemented yet".into()))
}
pub fn decode(bytes: &[u8]) -> Result<Value, CodecError> {
    Err(CodecError::Serde("msgpack not implemented yet".into()))
}
#[derive(Debug)]
pub struct StreamDecoder {}
impl StreamDecoder {
    pub(crate) fn new(options: &CodecOptions) -> Self {
        Self {}
    }
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<Value>) -> Result<(), CodecError> {
        Err(CodecError::Serde("msgpack not implemented yet".into()))
    }
}
pub(crate) fn timestamp_ext_data(t: Timestamp) -> Vec<u8> {
    Vec::new()
}
pub(crate) fn timestamp_from_ext_data(data: &[u8]) -> Option<Timestamp> {
    None
}
