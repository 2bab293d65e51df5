//! BinaryPack. (placeholder: being implemented)
#![allow(missing_docs, dead_code, unused_variables, unreachable_pub)]
use super::CodecError;
use crate::value::Value;
pub fn encode(value: &Value, out: &mut Vec<u8>) -> Result<(), CodecError> {
    Err(CodecError::Serde("binarypack not implemented yet".into()))
}
pub fn decode(bytes: &[u8]) -> Result<Value, CodecError> {
    decode_with_depth(bytes, super::DEFAULT_MAX_DEPTH)
}
pub fn decode_with_depth(bytes: &[u8], max_depth: usize) -> Result<Value, CodecError> {
    Err(CodecError::Serde("binarypack not implemented yet".into()))
}
