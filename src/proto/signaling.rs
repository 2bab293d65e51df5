//! PeerJS signaling. (placeholder: being implemented)
#![allow(missing_docs, dead_code, unused_variables, unreachable_pub)]
use crate::error::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum SignalingError {
    #[error("placeholder")]
    Placeholder,
}
impl SignalingError {
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::SocketError
    }
}
