//! Typed payloads of `OFFER`, `ANSWER`, `CANDIDATE` and the server's error messages.
//!
//! Field names and order follow what PeerJS 1.5 sends. Reading ignores unknown fields; writing
//! leaves out absent optional fields (PeerJS leaves out `undefined` ones).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::proto::codec::Serialization;

/// The `type` of a session description: what `RTCSessionDescription.type` holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum SdpType {
    /// `"offer"`.
    Offer,
    /// `"answer"`.
    Answer,
    /// `"pranswer"` (never sent by PeerJS).
    Pranswer,
    /// `"rollback"` (never sent by PeerJS).
    Rollback,
}

impl SdpType {
    /// The wire string, for example `"offer"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Offer => "offer",
            Self::Answer => "answer",
            Self::Pranswer => "pranswer",
            Self::Rollback => "rollback",
        }
    }
}

/// A session description as its JSON form: `{"type":"offer","sdp":"v=0\r\n…"}`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct SessionDescription {
    /// `type`: offer or answer.
    #[serde(rename = "type")]
    pub sdp_type: SdpType,
    /// `sdp`: the SDP text.
    pub sdp: String,
}

impl SessionDescription {
    /// A description of type `sdp_type`.
    pub fn new(sdp_type: SdpType, sdp: impl Into<String>) -> Self {
        Self {
            sdp_type,
            sdp: sdp.into(),
        }
    }

    /// An `"offer"` description.
    pub fn offer(sdp: impl Into<String>) -> Self {
        Self::new(SdpType::Offer, sdp)
    }

    /// An `"answer"` description.
    pub fn answer(sdp: impl Into<String>) -> Self {
        Self::new(SdpType::Answer, sdp)
    }

    /// The JSON form, `{"type":…,"sdp":…}` (the order browsers use).
    pub fn into_value(self) -> Value {
        let mut fields = Map::new();
        fields.insert("type".to_owned(), Value::from(self.sdp_type.as_str()));
        fields.insert("sdp".to_owned(), Value::String(self.sdp));
        Value::Object(fields)
    }
}

/// What a PeerJS connection carries: the `type` inside OFFER, ANSWER and CANDIDATE payloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ConnectionType {
    /// `"data"`: a `DataConnection`; its ids start with `dc_`.
    Data,
    /// `"media"`: a `MediaConnection`; its ids start with `mc_`.
    Media,
}

impl ConnectionType {
    /// The wire string: `"data"` or `"media"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Data => "data",
            Self::Media => "media",
        }
    }

    /// The prefix of the connection ids PeerJS makes for this type: `"dc_"` or `"mc_"`.
    pub fn id_prefix(self) -> &'static str {
        match self {
            Self::Data => "dc_",
            Self::Media => "mc_",
        }
    }
}

/// The payload of an `OFFER`.
///
/// A PeerJS 1.5 data offer looks like
/// `{"sdp":{…},"type":"data","connectionId":"dc_…","metadata":…,"label":"dc_…","reliable":false,"serialization":"binary"}`
/// (`metadata` only when set); a media offer has only `sdp`, `type`, `connectionId` and
/// perhaps `metadata`. PeerJS 1.3 and 1.4 add `browser`.
///
/// ```
/// use peerjs::proto::codec::Serialization;
/// use peerjs::proto::signaling::{OfferPayload, SessionDescription};
///
/// let offer = OfferPayload::data(
///     SessionDescription::offer("v=0\r\n"),
///     "dc_vwv65whgia",
///     "dc_vwv65whgia",
///     false,
///     Serialization::Binary.wire_name(),
/// );
/// assert_eq!(
///     serde_json::to_string(&offer)?,
///     r#"{"sdp":{"type":"offer","sdp":"v=0\r\n"},"type":"data","connectionId":"dc_vwv65whgia","label":"dc_vwv65whgia","reliable":false,"serialization":"binary"}"#,
/// );
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct OfferPayload {
    /// `sdp`: the offer.
    pub sdp: SessionDescription,
    /// `type`: data or media.
    #[serde(rename = "type")]
    pub connection_type: ConnectionType,
    /// `connectionId`: `dc_…` or `mc_…`.
    pub connection_id: String,
    /// `metadata`: any JSON the caller attached. `Some(Value::Null)` is an explicit `null`;
    /// `None` leaves the key out.
    #[serde(default, deserialize_with = "present")]
    pub metadata: Option<Value>,
    /// `label`: the data channel's label (PeerJS uses the connection id unless the caller
    /// chose one). Data offers only.
    #[serde(default)]
    pub label: Option<String>,
    /// `reliable`: whether the channel is ordered. Data offers only.
    #[serde(default)]
    pub reliable: Option<bool>,
    /// `serialization`: the serialization's name (`"binary"`, `"json"`, `"raw"`, `"MsgPack"`,
    /// or an application's own). Data offers only.
    #[serde(default)]
    pub serialization: Option<String>,
    /// `browser`: sent only by PeerJS 1.3 and 1.4 (see
    /// [`is_legacy_peerjs`](Self::is_legacy_peerjs)).
    #[serde(default)]
    pub browser: Option<String>,
}

impl OfferPayload {
    /// A data-connection offer as PeerJS 1.5 sends it, without metadata.
    pub fn data(
        sdp: SessionDescription,
        connection_id: impl Into<String>,
        label: impl Into<String>,
        reliable: bool,
        serialization: impl Into<String>,
    ) -> Self {
        Self {
            sdp,
            connection_type: ConnectionType::Data,
            connection_id: connection_id.into(),
            metadata: None,
            label: Some(label.into()),
            reliable: Some(reliable),
            serialization: Some(serialization.into()),
            browser: None,
        }
    }

    /// A media-connection offer as PeerJS 1.5 sends it, without metadata.
    pub fn media(sdp: SessionDescription, connection_id: impl Into<String>) -> Self {
        Self {
            sdp,
            connection_type: ConnectionType::Media,
            connection_id: connection_id.into(),
            metadata: None,
            label: None,
            reliable: None,
            serialization: None,
            browser: None,
        }
    }

    /// This offer with `metadata` set.
    pub fn with_metadata(mut self, metadata: Value) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// Whether the sender is PeerJS 1.4 or older: only those send `browser`. (Without it the
    /// sender is PeerJS 1.5 or not PeerJS.)
    pub fn is_legacy_peerjs(&self) -> bool {
        self.browser.is_some()
    }

    /// The channel label a PeerJS answerer uses: `label`, or the connection id when there is
    /// none.
    pub fn label_or_connection_id(&self) -> &str {
        self.label.as_deref().unwrap_or(&self.connection_id)
    }

    /// Whether the offer asks for an ordered channel (`reliable`; absent means `false`).
    pub fn is_reliable(&self) -> bool {
        self.reliable.unwrap_or(false)
    }

    /// The serialization named by `serialization`, if this crate knows it (see
    /// [`Serialization::from_wire_name`]). `None` when the field is absent or names an
    /// application's own serializer.
    pub fn serialization_kind(&self) -> Option<Serialization> {
        self.serialization
            .as_deref()
            .and_then(Serialization::from_wire_name)
    }

    /// The JSON form, with PeerJS 1.5's key order (`browser`, if set, last).
    pub fn into_value(self) -> Value {
        let mut fields = Map::new();
        fields.insert("sdp".to_owned(), self.sdp.into_value());
        fields.insert(
            "type".to_owned(),
            Value::from(self.connection_type.as_str()),
        );
        fields.insert("connectionId".to_owned(), Value::String(self.connection_id));
        insert_some(&mut fields, "metadata", self.metadata);
        insert_some(&mut fields, "label", self.label.map(Value::String));
        insert_some(&mut fields, "reliable", self.reliable.map(Value::Bool));
        insert_some(
            &mut fields,
            "serialization",
            self.serialization.map(Value::String),
        );
        insert_some(&mut fields, "browser", self.browser.map(Value::String));
        Value::Object(fields)
    }
}

/// The payload of an `ANSWER`: `{"sdp":{…},"type":"data","connectionId":"dc_…"}`, plus
/// `browser` from PeerJS 1.3 and 1.4.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AnswerPayload {
    /// `sdp`: the answer.
    pub sdp: SessionDescription,
    /// `type`: data or media.
    #[serde(rename = "type")]
    pub connection_type: ConnectionType,
    /// `connectionId`: the id from the offer.
    pub connection_id: String,
    /// `browser`: sent only by PeerJS 1.3 and 1.4.
    #[serde(default)]
    pub browser: Option<String>,
}

impl AnswerPayload {
    /// An answer as PeerJS 1.5 sends it.
    pub fn new(
        sdp: SessionDescription,
        connection_type: ConnectionType,
        connection_id: impl Into<String>,
    ) -> Self {
        Self {
            sdp,
            connection_type,
            connection_id: connection_id.into(),
            browser: None,
        }
    }

    /// Whether the sender is PeerJS 1.4 or older: only those send `browser`.
    pub fn is_legacy_peerjs(&self) -> bool {
        self.browser.is_some()
    }

    /// The JSON form, with PeerJS's key order.
    pub fn into_value(self) -> Value {
        let mut fields = Map::new();
        fields.insert("sdp".to_owned(), self.sdp.into_value());
        fields.insert(
            "type".to_owned(),
            Value::from(self.connection_type.as_str()),
        );
        fields.insert("connectionId".to_owned(), Value::String(self.connection_id));
        insert_some(&mut fields, "browser", self.browser.map(Value::String));
        Value::Object(fields)
    }
}

/// An ICE candidate as its JSON form (`RTCIceCandidateInit`):
/// `{"candidate":"candidate:…","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"…"}`.
///
/// PeerJS peers need `candidate` and at least one of `sdpMid` and `sdpMLineIndex`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct IceCandidate {
    /// `candidate`: the `candidate:` attribute line.
    pub candidate: String,
    /// `sdpMid`: the media stream id the candidate belongs to.
    #[serde(default)]
    pub sdp_mid: Option<String>,
    /// `sdpMLineIndex`: the index of the m-line the candidate belongs to.
    #[serde(default, rename = "sdpMLineIndex")]
    pub sdp_m_line_index: Option<u16>,
    /// `usernameFragment`: the ICE ufrag (absent from older browsers).
    #[serde(default)]
    pub username_fragment: Option<String>,
}

impl IceCandidate {
    /// A candidate with only its `candidate` line.
    pub fn new(candidate: impl Into<String>) -> Self {
        Self {
            candidate: candidate.into(),
            sdp_mid: None,
            sdp_m_line_index: None,
            username_fragment: None,
        }
    }

    /// This candidate with `sdpMid` set.
    pub fn with_sdp_mid(mut self, sdp_mid: impl Into<String>) -> Self {
        self.sdp_mid = Some(sdp_mid.into());
        self
    }

    /// This candidate with `sdpMLineIndex` set.
    pub fn with_sdp_m_line_index(mut self, index: u16) -> Self {
        self.sdp_m_line_index = Some(index);
        self
    }

    /// This candidate with `usernameFragment` set.
    pub fn with_username_fragment(mut self, ufrag: impl Into<String>) -> Self {
        self.username_fragment = Some(ufrag.into());
        self
    }

    /// The JSON form, in the order browsers use.
    pub fn into_value(self) -> Value {
        let mut fields = Map::new();
        fields.insert("candidate".to_owned(), Value::String(self.candidate));
        insert_some(&mut fields, "sdpMid", self.sdp_mid.map(Value::String));
        insert_some(
            &mut fields,
            "sdpMLineIndex",
            self.sdp_m_line_index.map(Value::from),
        );
        insert_some(
            &mut fields,
            "usernameFragment",
            self.username_fragment.map(Value::String),
        );
        Value::Object(fields)
    }
}

/// The payload of a `CANDIDATE`: `{"candidate":{…},"type":"data","connectionId":"dc_…"}`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CandidatePayload {
    /// `candidate`: the ICE candidate.
    pub candidate: IceCandidate,
    /// `type`: data or media.
    #[serde(rename = "type")]
    pub connection_type: ConnectionType,
    /// `connectionId`: the connection the candidate is for.
    pub connection_id: String,
}

impl CandidatePayload {
    /// A candidate payload as PeerJS sends it.
    pub fn new(
        candidate: IceCandidate,
        connection_type: ConnectionType,
        connection_id: impl Into<String>,
    ) -> Self {
        Self {
            candidate,
            connection_type,
            connection_id: connection_id.into(),
        }
    }

    /// The JSON form, with PeerJS's key order.
    pub fn into_value(self) -> Value {
        let mut fields = Map::new();
        fields.insert("candidate".to_owned(), self.candidate.into_value());
        fields.insert(
            "type".to_owned(),
            Value::from(self.connection_type.as_str()),
        );
        fields.insert("connectionId".to_owned(), Value::String(self.connection_id));
        Value::Object(fields)
    }
}

/// The payload of `ERROR`, `ID-TAKEN` and `INVALID-KEY`: `{"msg":"…"}`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct ErrorPayload {
    /// `msg`: the server's explanation.
    pub msg: String,
}

impl ErrorPayload {
    /// A payload with this text.
    pub fn new(msg: impl Into<String>) -> Self {
        Self { msg: msg.into() }
    }

    /// The JSON form, `{"msg":…}`.
    pub fn into_value(self) -> Value {
        let mut fields = Map::new();
        fields.insert("msg".to_owned(), Value::String(self.msg));
        Value::Object(fields)
    }
}

/// Serializes each payload type through its `into_value`, so serde and the message
/// constructors produce the same bytes.
macro_rules! serialize_via_value {
    ($($ty:ty),*) => {$(
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                self.clone().into_value().serialize(serializer)
            }
        }
    )*};
}
serialize_via_value!(
    SessionDescription,
    OfferPayload,
    AnswerPayload,
    IceCandidate,
    CandidatePayload,
    ErrorPayload
);

impl Serialize for SdpType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl Serialize for ConnectionType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Inserts `key` when `value` is `Some`.
fn insert_some(fields: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(value) = value {
        fields.insert(key.to_owned(), value);
    }
}

/// Reads a field that is present as `Some`, even when it is `null` (serde's `Option` would
/// turn `null` into `None`). Absent fields get `None` from `#[serde(default)]`.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}
