//! Peer ids, tokens and connection ids.

use super::error::SignalingError;
use super::payload::ConnectionType;

/// Whether `id` is acceptable as a user-chosen peer id, by PeerJS's rule
/// `^[A-Za-z0-9]+(?:[ _-][A-Za-z0-9]+)*$`: ASCII letters and digits, with single spaces,
/// underscores or hyphens between them. The empty id is valid too: it means "ask the server
/// for one".
///
/// PeerJS applies the rule only to ids a user supplies; ids the server assigns (UUIDs by
/// default) are not checked, and the PeerJS server checks nothing.
///
/// ```
/// use peerjs::proto::signaling::is_valid_id;
///
/// assert!(is_valid_id("alice_1"));
/// assert!(is_valid_id(""));
/// assert!(!is_valid_id("alice "));
/// ```
pub fn is_valid_id(id: &str) -> bool {
    // After the loop, `after_alnum` says whether the last byte was alphanumeric; a separator
    // is allowed only right after one. Any non-ASCII byte fails `is_ascii_alphanumeric`.
    let mut after_alnum = false;
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() {
            after_alnum = true;
        } else if after_alnum && matches!(byte, b' ' | b'_' | b'-') {
            after_alnum = false;
        } else {
            return false;
        }
    }
    after_alnum || id.is_empty()
}

/// `Ok(())` if [`is_valid_id`] accepts `id`, else [`SignalingError::InvalidId`] (whose kind is
/// [`ErrorKind::InvalidId`](crate::ErrorKind::InvalidId)).
pub fn validate_id(id: &str) -> Result<(), SignalingError> {
    if is_valid_id(id) {
        Ok(())
    } else {
        Err(SignalingError::InvalidId { id: id.to_owned() })
    }
}

/// The number of base-36 digits in a token.
const TOKEN_LEN: usize = 11;

/// A random token of the shape PeerJS makes with `Math.random().toString(36).slice(2)`:
/// lowercase base-36 digits, `[0-9a-z]`. Made from the caller's `random` value (use a fresh,
/// uniformly random `u64` each time).
///
/// The result always has 11 characters; PeerJS's have 10 or 11 (rarely fewer). Servers treat
/// tokens as opaque non-empty strings. A client keeps its token for its whole life: a server
/// accepts a reconnection with the same id only with the same token.
///
/// ```
/// let token = peerjs::proto::signaling::token_from_random(0x0123_4567_89ab_cdef);
/// assert_eq!(token.len(), 11);
/// assert!(token.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()));
/// ```
pub fn token_from_random(random: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut value = random;
    let mut token = [b'0'; TOKEN_LEN];
    for slot in token.iter_mut().rev() {
        let digit = (value % 36) as u8; // < 36: the cast is exact
        *slot = DIGITS.get(usize::from(digit)).copied().unwrap_or(b'0');
        value /= 36;
    }
    token.iter().map(|&b| char::from(b)).collect()
}

/// A connection id as PeerJS makes them: `"dc_"` (data) or `"mc_"` (media) followed by a
/// [token](token_from_random) made from `random`.
///
/// ```
/// use peerjs::proto::signaling::{connection_id, ConnectionType};
///
/// let id = connection_id(ConnectionType::Data, 42);
/// assert!(id.starts_with("dc_"));
/// assert_eq!(id.len(), 14);
/// ```
pub fn connection_id(connection_type: ConnectionType, random: u64) -> String {
    let mut id = String::from(connection_type.id_prefix());
    id.push_str(&token_from_random(random));
    id
}
