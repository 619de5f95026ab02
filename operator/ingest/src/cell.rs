//! One decoded value, typed as the schema declares.

use std::borrow::Cow;

/// A value of a row, in the representation its Parquet column stores.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Absent or `null`.
    Null,
    /// `string`, `decimal` and every masked field.
    Text(String),
    /// `int`.
    Int(i32),
    /// `long`.
    Long(i64),
    /// `double`.
    Double(f64),
    /// `boolean`.
    Bool(bool),
    /// `timestamp`: microseconds since the Unix epoch, UTC.
    Micros(i64),
    /// `date`: days since the Unix epoch.
    Days(i32),
}

impl Cell {
    /// The value as text, for masking and pattern checks.
    pub fn to_text(&self) -> Option<String> {
        Some(match self {
            Cell::Null => return None,
            Cell::Text(s) => s.clone(),
            Cell::Int(v) => v.to_string(),
            Cell::Long(v) => v.to_string(),
            Cell::Double(v) => v.to_string(),
            Cell::Bool(v) => v.to_string(),
            Cell::Micros(v) => v.to_string(),
            Cell::Days(v) => v.to_string(),
        })
    }

    /// The value as text, borrowed when it is text already (checks and masking run on
    /// every event; this avoids a copy per field).
    pub fn text(&self) -> Option<Cow<'_, str>> {
        match self {
            Cell::Null => None,
            Cell::Text(s) => Some(Cow::Borrowed(s)),
            other => other.to_text().map(Cow::Owned),
        }
    }

    /// The value as a number, for range checks.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Cell::Int(v) => Some(f64::from(*v)),
            Cell::Long(v) => Some(*v as f64),
            Cell::Double(v) => Some(*v),
            Cell::Text(s) => s.parse().ok(),
            _ => None,
        }
    }
}
