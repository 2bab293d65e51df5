//! JSON as PeerJS sends it. (placeholder: being implemented)
#![allow(missing_docs, dead_code, unused_variables, unreachable_pub)]
use super::CodecError;
use crate::value::Value;

pub const MAX_SIZE: usize = 16300;

pub fn encode(value: &Value) -> Result<Vec<u8>, CodecError> {
    Err(CodecError::Serde("json not implemented yet".into()))
}
pub fn decode(bytes: &[u8], max_depth: usize) -> Result<Value, CodecError> {
    Err(CodecError::Serde("json not implemented yet".into()))
}
