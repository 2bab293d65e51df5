//! `impl Deserialize for Value` and the deserializer behind [`from_value`].

use std::fmt;

use serde::de::{
    self, Deserialize, DeserializeOwned, DeserializeSeed, Deserializer, EnumAccess,
    IntoDeserializer, MapAccess, SeqAccess, VariantAccess, Visitor,
};

use super::ser::EXT_STRUCT_NAME;
use super::{Timestamp, Value};
use crate::error::Error;

/// Most elements preallocated from an untrusted length hint.
const MAX_PREALLOC: usize = 1024;

/// Converts a [`Value`] into any `T: Deserialize`.
///
/// Numbers convert between integer and float types when the value fits (`Int(3)` reads as
/// `3.0_f64`; JavaScript peers send whole floats as integers). [`Value::Binary`] reads as bytes
/// (`serde_bytes::ByteBuf`, `Vec<u8>`) and [`Value::Timestamp`] as [`Timestamp`].
///
/// # Errors
///
/// Returns an error of kind [`ErrorKind::Serialization`](crate::ErrorKind::Serialization)
/// naming what was expected and what the value held.
///
/// ```
/// use std::collections::HashMap;
/// let v = peerjs::Value::Map(vec![("x".into(), 1.into()), ("y".into(), 2.5.into())]);
/// let m: HashMap<String, f64> = peerjs::from_value(v)?;
/// assert_eq!(m["x"], 1.0);
/// # Ok::<(), peerjs::Error>(())
/// ```
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, Error> {
    T::deserialize(value)
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        if let Ok(n) = i64::try_from(v) {
            Ok(Value::Int(n))
        } else if let Ok(n) = u64::try_from(v) {
            Ok(Value::UInt(n))
        } else {
            Err(E::custom(format_args!(
                "integer {v} does not fit in 64 bits"
            )))
        }
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        u64::try_from(v)
            .map(Value::from)
            .map_err(|_| E::custom(format_args!("integer {v} does not fit in 64 bits")))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.into()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v.into()))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Binary(v.to_vec()))
    }
    fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Value, E> {
        Ok(Value::Binary(v))
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Nil)
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Nil)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        // rmp-serde presents a MessagePack extension as a newtype holding (i8, bytes).
        let inner = Value::deserialize(d)?;
        if let Value::Array(parts) = &inner {
            if let [tag, Value::Binary(data)] = parts.as_slice() {
                if let Some(tag) = tag.as_i64().and_then(|t| i8::try_from(t).ok()) {
                    return Ok(ext_value(tag, data));
                }
            }
        }
        Ok(inner)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX_PREALLOC));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(MAX_PREALLOC));
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Value::Map(entries))
    }
}

/// The value of a MessagePack extension: a [`Timestamp`] for a valid type -1, else `Ext`.
pub(crate) fn ext_value(tag: i8, data: &[u8]) -> Value {
    if tag == -1 {
        if let Some(t) = crate::proto::codec::msgpack::timestamp_from_ext_data(data) {
            return Value::Timestamp(t);
        }
    }
    Value::Ext(tag, data.to_vec())
}

impl<'de> Deserialize<'de> for Timestamp {
    /// Reads the MessagePack timestamp extension (from rmp-serde or a [`Value::Timestamp`]), or
    /// a number of milliseconds since the epoch (as `Date.getTime()` gives).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TsVisitor;
        impl<'de> Visitor<'de> for TsVisitor {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a timestamp")
            }
            fn visit_i64<E>(self, v: i64) -> Result<Timestamp, E> {
                Ok(Timestamp::from_millis(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Timestamp, E> {
                i64::try_from(v)
                    .map(Timestamp::from_millis)
                    .map_err(|_| E::custom("timestamp out of range"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Timestamp, E> {
                if v.is_finite() && v.abs() < 9.2e18 {
                    Ok(Timestamp::from_millis(v.floor() as i64))
                } else {
                    Err(E::custom("timestamp out of range"))
                }
            }
            fn visit_newtype_struct<D: Deserializer<'de>>(
                self,
                d: D,
            ) -> Result<Timestamp, D::Error> {
                match ValueVisitor.visit_newtype_struct(d)? {
                    Value::Timestamp(t) => Ok(t),
                    other => Err(de::Error::custom(format_args!(
                        "expected a timestamp extension, found {}",
                        other.kind_name()
                    ))),
                }
            }
        }
        deserializer.deserialize_newtype_struct(EXT_STRUCT_NAME, TsVisitor)
    }
}

fn invalid_type(value: &Value, exp: &dyn de::Expected) -> Error {
    let unexp = match value {
        Value::Nil => de::Unexpected::Unit,
        Value::Bool(b) => de::Unexpected::Bool(*b),
        Value::Int(n) => de::Unexpected::Signed(*n),
        Value::UInt(n) => de::Unexpected::Unsigned(*n),
        Value::Float(f) => de::Unexpected::Float(*f),
        Value::String(s) => de::Unexpected::Str(s),
        Value::Binary(b) => de::Unexpected::Bytes(b),
        Value::Array(_) => de::Unexpected::Seq,
        Value::Map(_) => de::Unexpected::Map,
        Value::Timestamp(_) | Value::Ext(..) => de::Unexpected::Other("an extension value"),
    };
    de::Error::invalid_type(unexp, exp)
}

macro_rules! forward_int {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            self.deserialize_number(visitor)
        }
    )*};
}

impl Value {
    fn deserialize_number<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Self::Int(n) => visitor.visit_i64(n),
            Self::UInt(n) => visitor.visit_u64(n),
            Self::Float(f) => visitor.visit_f64(f),
            other => Err(invalid_type(&other, &visitor)),
        }
    }
}

impl<'de> Deserializer<'de> for Value {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Self::Nil => visitor.visit_unit(),
            Self::Bool(b) => visitor.visit_bool(b),
            Self::Int(n) => visitor.visit_i64(n),
            Self::UInt(n) => visitor.visit_u64(n),
            Self::Float(f) => visitor.visit_f64(f),
            Self::String(s) => visitor.visit_string(s.into_string()),
            Self::Binary(b) => visitor.visit_byte_buf(b),
            Self::Array(a) => visit_array(a, visitor),
            Self::Map(m) => visit_map(m, visitor),
            Self::Timestamp(t) => {
                let data = crate::proto::codec::msgpack::timestamp_ext_data(t);
                visitor.visit_newtype_struct(ExtDeserializer { tag: -1, data })
            }
            Self::Ext(tag, data) => visitor.visit_newtype_struct(ExtDeserializer { tag, data }),
        }
    }

    forward_int! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
        deserialize_f32 deserialize_f64
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Self::Nil => visitor.visit_none(),
            other => visitor.visit_some(other),
        }
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Self::Binary(b) => visitor.visit_byte_buf(b),
            Self::String(s) => visitor.visit_string(s.into_string()),
            Self::Array(a) => visit_array(a, visitor),
            other => Err(invalid_type(&other, &visitor)),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Self::Nil => visitor.visit_unit(),
            other => Err(invalid_type(&other, &visitor)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        if name == EXT_STRUCT_NAME {
            return match self {
                Self::Timestamp(_) | Self::Ext(..) => self.deserialize_any(visitor),
                other => other.deserialize_any(visitor),
            };
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self {
            Self::String(variant) => visitor.visit_enum(EnumDeserializer {
                variant: Self::String(variant),
                content: None,
            }),
            Self::Map(entries) if entries.len() == 1 => {
                let mut entries = entries.into_iter();
                match entries.next() {
                    Some((variant, content)) => visitor.visit_enum(EnumDeserializer {
                        variant,
                        content: Some(content),
                    }),
                    None => Err(de::Error::custom("an enum map needs exactly one entry")),
                }
            }
            other => Err(invalid_type(&other, &"a string or a map with one entry")),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        drop(self);
        visitor.visit_unit()
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            // `Vec<u8>` and `[u8; N]` ask for a sequence; give them the bytes.
            Self::Binary(b) => visitor.visit_seq(de::value::SeqDeserializer::new(b.into_iter())),
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool char str string tuple_struct map struct identifier
    }
}

fn visit_array<'de, V: Visitor<'de>>(items: Vec<Value>, visitor: V) -> Result<V::Value, Error> {
    let len = items.len();
    let mut seq = SeqDeserializer {
        iter: items.into_iter(),
    };
    let out = visitor.visit_seq(&mut seq)?;
    if seq.iter.len() == 0 {
        Ok(out)
    } else {
        Err(de::Error::invalid_length(
            len,
            &"fewer elements in the array",
        ))
    }
}

fn visit_map<'de, V: Visitor<'de>>(
    entries: Vec<(Value, Value)>,
    visitor: V,
) -> Result<V::Value, Error> {
    let mut map = MapDeserializer {
        iter: entries.into_iter(),
        value: None,
    };
    visitor.visit_map(&mut map)
}

struct SeqDeserializer {
    iter: std::vec::IntoIter<Value>,
}

impl<'de> SeqAccess<'de> for SeqDeserializer {
    type Error = Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.iter.next().map(|v| seed.deserialize(v)).transpose()
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

struct MapDeserializer {
    iter: std::vec::IntoIter<(Value, Value)>,
    value: Option<Value>,
}

impl<'de> MapAccess<'de> for MapDeserializer {
    type Error = Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.iter.next() {
            Some((k, v)) => {
                self.value = Some(v);
                seed.deserialize(MapKeyDeserializer(k)).map(Some)
            }
            None => Ok(None),
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        match self.value.take() {
            Some(v) => seed.deserialize(v),
            None => Err(de::Error::custom("map value requested before its key")),
        }
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

/// A map key. JavaScript object keys are always strings, so a string key also reads as a number
/// or a bool when the target wants one (`HashMap<u32, _>` from `{"1": …}`), as serde_json does.
struct MapKeyDeserializer(Value);

macro_rules! key_parse {
    ($($method:ident => $visit:ident $t:ty,)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            match self.0 {
                Value::String(s) => match s.parse::<$t>() {
                    Ok(n) => visitor.$visit(n),
                    Err(_) => visitor.visit_string(s.into_string()),
                },
                other => other.$method(visitor),
            }
        }
    )*};
}

impl<'de> Deserializer<'de> for MapKeyDeserializer {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.0.deserialize_any(visitor)
    }

    key_parse! {
        deserialize_i8 => visit_i8 i8,
        deserialize_i16 => visit_i16 i16,
        deserialize_i32 => visit_i32 i32,
        deserialize_i64 => visit_i64 i64,
        deserialize_u8 => visit_u8 u8,
        deserialize_u16 => visit_u16 u16,
        deserialize_u32 => visit_u32 u32,
        deserialize_u64 => visit_u64 u64,
        deserialize_f32 => visit_f32 f32,
        deserialize_f64 => visit_f64 f64,
        deserialize_bool => visit_bool bool,
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.0.deserialize_option(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        if name == EXT_STRUCT_NAME {
            return self.0.deserialize_newtype_struct(name, visitor);
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.0.deserialize_enum(name, variants, visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.0.deserialize_bytes(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.0.deserialize_byte_buf(visitor)
    }

    serde::forward_to_deserialize_any! {
        i128 u128 char str string unit unit_struct seq tuple tuple_struct map struct identifier
        ignored_any
    }
}

struct EnumDeserializer {
    variant: Value,
    content: Option<Value>,
}

impl<'de> EnumAccess<'de> for EnumDeserializer {
    type Error = Error;
    type Variant = VariantDeserializer;
    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, VariantDeserializer), Error> {
        let variant = seed.deserialize(MapKeyDeserializer(self.variant))?;
        Ok((variant, VariantDeserializer(self.content)))
    }
}

struct VariantDeserializer(Option<Value>);

impl<'de> VariantAccess<'de> for VariantDeserializer {
    type Error = Error;
    fn unit_variant(self) -> Result<(), Error> {
        match self.0 {
            None | Some(Value::Nil) => Ok(()),
            Some(other) => Err(invalid_type(&other, &"a unit variant")),
        }
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        match self.0 {
            Some(v) => seed.deserialize(v),
            None => Err(de::Error::invalid_type(
                de::Unexpected::UnitVariant,
                &"newtype variant",
            )),
        }
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Some(Value::Array(a)) => visit_array(a, visitor),
            Some(other) => Err(invalid_type(&other, &"a tuple variant")),
            None => Err(de::Error::invalid_type(
                de::Unexpected::UnitVariant,
                &"tuple variant",
            )),
        }
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Some(Value::Map(m)) => visit_map(m, visitor),
            Some(Value::Array(a)) => visit_array(a, visitor),
            Some(other) => Err(invalid_type(&other, &"a struct variant")),
            None => Err(de::Error::invalid_type(
                de::Unexpected::UnitVariant,
                &"struct variant",
            )),
        }
    }
}

/// Presents an extension value as rmp-serde does: a sequence of `(i8 tag, bytes)`.
struct ExtDeserializer {
    tag: i8,
    data: Vec<u8>,
}

impl<'de> Deserializer<'de> for ExtDeserializer {
    type Error = Error;
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let parts = vec![Value::Int(self.tag.into()), Value::Binary(self.data)];
        visit_array(parts, visitor)
    }
    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier
        ignored_any
    }
}

impl IntoDeserializer<'_, Error> for Value {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}
