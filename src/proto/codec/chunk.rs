//! PeerJS chunking. (placeholder: being implemented)
#![allow(missing_docs, dead_code, unused_variables, unreachable_pub)]
use super::{CodecError, CodecOptions, Frame};
use crate::value::Value;
pub const CHUNK_MTU: usize = 16300;
pub fn split(packed: &[u8], id: u64, chunk_size: usize, out: &mut Vec<Frame>) {}
#[derive(Debug)]
pub struct Reassembler {}
impl Reassembler {
    pub fn new(options: &CodecOptions) -> Self {
        Self {}
    }
    pub fn push(&mut self, chunk: Value) -> Result<Option<Vec<u8>>, CodecError> {
        Ok(None)
    }
}
