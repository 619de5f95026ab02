//! Streaming decode of a flat JSON object: values of the declared fields are typed as the
//! parser meets them, other keys are skipped, and no intermediate `serde_json::Value` tree
//! is built (the hot path: most events are flat objects).

use crate::cell::Cell;
use crate::decode::Rejection;
use crate::scalar::{typed, Scalar};
use meshplane_api::ingest_plan::PlannedField;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// The typed value of each declared field, `None` where the event lacks it.
pub type Slots = Vec<Option<Result<Cell, Rejection>>>;

/// Parses `text` as one JSON object. `Ok(None)` when it is valid JSON but not an object.
pub fn decode_object(
    text: &str,
    fields: &[PlannedField],
) -> Result<Option<Slots>, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let slots = EventSeed { fields }.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(slots)
}

struct EventSeed<'f> {
    fields: &'f [PlannedField],
}

impl<'de> DeserializeSeed<'de> for EventSeed<'_> {
    type Value = Option<Slots>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

macro_rules! not_an_object {
    ($($method:ident($ty:ty)),*) => {
        $(fn $method<E: serde::de::Error>(self, _: $ty) -> Result<Self::Value, E> { Ok(None) })*
    };
}

impl<'de> Visitor<'de> for EventSeed<'_> {
    type Value = Option<Slots>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    not_an_object!(
        visit_bool(bool),
        visit_i64(i64),
        visit_u64(u64),
        visit_f64(f64),
        visit_str(&str)
    );
    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut slots: Slots = (0..self.fields.len()).map(|_| None).collect();
        let mut expected = 0;
        while let Some(index) = map.next_key_seed(KeySeed {
            fields: self.fields,
            expected,
        })? {
            match index {
                Some(i) => {
                    expected = i + 1;
                    let scalar = map.next_value_seed(ScalarSeed)?;
                    slots[i] = Some(typed(&self.fields[i], Some(scalar)));
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Some(slots))
    }
}

/// Maps a key to the index of its declared field.
struct KeySeed<'f> {
    fields: &'f [PlannedField],
    /// The field after the previous key's: producers usually write fields in declared
    /// order, so this one is compared first.
    expected: usize,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Self::Value, E> {
        if self
            .fields
            .get(self.expected)
            .is_some_and(|f| f.name == key)
        {
            return Ok(Some(self.expected));
        }
        Ok(self.fields.iter().position(|f| f.name == key))
    }
}

/// One value, kept only as far as typing needs.
struct ScalarSeed;

impl<'de> DeserializeSeed<'de> for ScalarSeed {
    type Value = Scalar<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Scalar::Int(v))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(i64::try_from(v).map_or(Scalar::BigUint(v), Scalar::Int))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Scalar::Float(v))
    }
    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_string())))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Array)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Object)
    }
}
