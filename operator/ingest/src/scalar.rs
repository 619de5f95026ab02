//! One JSON value as the typing step sees it, whether it came from the streaming parser or
//! from a `serde_json::Value`, and its conversion to the declared type.

use crate::cell::Cell;
use crate::decode::Rejection;
use meshplane_api::ingest_plan::PlannedField;
use meshplane_api::FieldType;
use std::borrow::Cow;

/// A JSON value, with strings borrowed from the event where possible.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    /// `null`.
    Null,
    /// `true`/`false`.
    Bool(bool),
    /// An integer that fits `i64`.
    Int(i64),
    /// An integer above `i64::MAX`.
    BigUint(u64),
    /// Any other number.
    Float(f64),
    /// A string.
    Str(Cow<'a, str>),
    /// An array (its contents are not kept).
    Array,
    /// An object (its contents are not kept).
    Object,
}

impl Scalar<'_> {
    fn type_name(&self) -> &'static str {
        match self {
            Scalar::Null => "null",
            Scalar::Bool(_) => "boolean",
            Scalar::Int(_) | Scalar::BigUint(_) | Scalar::Float(_) => "number",
            Scalar::Str(_) => "string",
            Scalar::Array => "array",
            Scalar::Object => "object",
        }
    }

    fn as_i64(&self) -> Option<i64> {
        match self {
            Scalar::Int(v) => Some(*v),
            _ => None,
        }
    }

    fn as_f64(&self) -> Option<f64> {
        match self {
            Scalar::Int(v) => Some(*v as f64),
            Scalar::BigUint(v) => Some(*v as f64),
            Scalar::Float(v) => Some(*v),
            _ => None,
        }
    }

    fn number_text(&self) -> Option<String> {
        match self {
            Scalar::Int(v) => Some(v.to_string()),
            Scalar::BigUint(v) => Some(v.to_string()),
            Scalar::Float(v) => Some(v.to_string()),
            _ => None,
        }
    }
}

impl From<serde_json::Value> for Scalar<'static> {
    fn from(value: serde_json::Value) -> Self {
        use serde_json::Value;
        match value {
            Value::Null => Scalar::Null,
            Value::Bool(b) => Scalar::Bool(b),
            Value::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => Scalar::Int(i),
                (None, Some(u)) => Scalar::BigUint(u),
                _ => Scalar::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => Scalar::Str(Cow::Owned(s)),
            Value::Array(_) => Scalar::Array,
            Value::Object(_) => Scalar::Object,
        }
    }
}

/// Converts a field's value (absent: `None`) to its declared type.
pub fn typed(field: &PlannedField, value: Option<Scalar<'_>>) -> Result<Cell, Rejection> {
    let value = match value {
        None | Some(Scalar::Null) if field.nullable => return Ok(Cell::Null),
        None => {
            return Err(Rejection::Missing {
                field: field.name.clone(),
                found: "absent",
            })
        }
        Some(Scalar::Null) => {
            return Err(Rejection::Missing {
                field: field.name.clone(),
                found: "null",
            })
        }
        Some(v) => v,
    };
    let wrong = |expected: &'static str, found: String| Rejection::WrongType {
        field: field.name.clone(),
        expected,
        found,
    };
    Ok(match field.field_type {
        FieldType::String => match value {
            Scalar::Str(s) => Cell::Text(s.into_owned()),
            other => return Err(wrong("string", other.type_name().into())),
        },
        FieldType::Decimal => match value {
            Scalar::Str(s) if s.parse::<f64>().is_ok() => Cell::Text(s.into_owned()),
            other => match other.number_text() {
                Some(text) => Cell::Text(text),
                None => return Err(wrong("decimal", other.type_name().into())),
            },
        },
        FieldType::Int => match value.as_i64().map(i32::try_from) {
            Some(Ok(v)) => Cell::Int(v),
            Some(Err(_)) => {
                return Err(wrong(
                    "int",
                    format!("{} (out of range)", value.number_text().unwrap_or_default()),
                ))
            }
            None if matches!(value, Scalar::BigUint(_)) => {
                return Err(wrong(
                    "int",
                    format!("{} (out of range)", value.number_text().unwrap_or_default()),
                ))
            }
            None => return Err(wrong("int", value.type_name().into())),
        },
        FieldType::Long => match value.as_i64() {
            Some(v) => Cell::Long(v),
            None => return Err(wrong("long", value.type_name().into())),
        },
        FieldType::Double => match value.as_f64() {
            Some(v) => Cell::Double(v),
            None => return Err(wrong("double", value.type_name().into())),
        },
        FieldType::Boolean => match value {
            Scalar::Bool(b) => Cell::Bool(b),
            other => return Err(wrong("boolean", other.type_name().into())),
        },
        FieldType::Timestamp => match &value {
            Scalar::Str(s) => match s.parse::<jiff::Timestamp>() {
                Ok(t) => Cell::Micros(t.as_microsecond()),
                Err(_) => return Err(wrong("timestamp (RFC 3339)", format!("{s:?}"))),
            },
            Scalar::Int(ms) => Cell::Micros(ms.saturating_mul(1000)),
            Scalar::BigUint(_) | Scalar::Float(_) => {
                return Err(wrong(
                    "timestamp (epoch milliseconds)",
                    value.number_text().unwrap_or_default(),
                ))
            }
            other => return Err(wrong("timestamp", other.type_name().into())),
        },
        FieldType::Date => match &value {
            Scalar::Str(s) => match s.parse::<jiff::civil::Date>() {
                Ok(d) => Cell::Days((d - jiff::civil::date(1970, 1, 1)).get_days()),
                Err(_) => return Err(wrong("date (YYYY-MM-DD)", format!("{s:?}"))),
            },
            other => return Err(wrong("date", other.type_name().into())),
        },
    })
}
