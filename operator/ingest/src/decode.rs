//! Decoding one event: bytes → a typed, checked, masked row and its time partition, or a
//! [`Rejection`] that names what is wrong.

use crate::cell::Cell;
use crate::mask::Masker;
use crate::partition::TimePartition;
use crate::scalar::{typed, Scalar};
use crate::stream::decode_object;
use meshplane_api::ingest_plan::{IngestPlan, PlannedField};
use meshplane_api::{FieldType, Granularity, MaskingStrategy, QualityCheckType};
use serde_json::{Map, Value};
use thiserror::Error;

/// Largest event accepted, in bytes.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 1024 * 1024;

/// Why an event is not a row. The text is what the dead letter records.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum Rejection {
    /// Larger than the limit.
    #[error("event of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Size.
        size: usize,
        /// Limit.
        limit: usize,
    },
    /// Not UTF-8.
    #[error("event is not valid UTF-8 (at byte {at})")]
    InvalidUtf8 {
        /// First invalid byte.
        at: usize,
    },
    /// Not JSON.
    #[error("event is not valid JSON: {message}")]
    InvalidJson {
        /// Parser message with line and column.
        message: String,
    },
    /// JSON, but not an object.
    #[error("event is not a JSON object")]
    NotAnObject,
    /// A change event without its row.
    #[error("change event has no `payload.after` row (a delete or a malformed event)")]
    NoChangeRow,
    /// A required field is absent or null.
    #[error("field `{field}` is required but {found}")]
    Missing {
        /// Field.
        field: String,
        /// `absent` or `null`.
        found: &'static str,
    },
    /// A value of the wrong type.
    #[error("field `{field}`: expected {expected}, got {found}")]
    WrongType {
        /// Field.
        field: String,
        /// Declared type.
        expected: &'static str,
        /// What the event holds.
        found: String,
    },
    /// A quality check failed.
    #[error("quality check `{check}` failed on field `{field}`: {reason}")]
    Quality {
        /// Check name.
        check: String,
        /// Field.
        field: String,
        /// What was wrong.
        reason: String,
    },
}

/// The plan cannot be run.
#[derive(Debug, Error)]
pub enum DecoderError {
    /// A pattern check's regular expression does not compile.
    #[error("quality check `{check}`: invalid pattern: {source}")]
    Pattern {
        /// Check name.
        check: String,
        /// Cause.
        source: regex::Error,
    },
    /// A quality check names a field the schema does not have.
    #[error("quality check `{check}` names unknown field `{field}`")]
    UnknownField {
        /// Check name.
        check: String,
        /// Field.
        field: String,
    },
    /// The partition field is not a timestamp or date in the schema.
    #[error("partition field `{field}` must be a timestamp or date field of the schema")]
    PartitionField {
        /// Field.
        field: String,
    },
}

/// A decoded event.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// One cell per planned field, in plan order, masked.
    pub cells: Vec<Cell>,
    /// The time partition (file) the row belongs to.
    pub partition: TimePartition,
    /// Event time in microseconds (the partition field), for freshness.
    pub event_time_micros: Option<i64>,
}

enum Check {
    NotNull,
    Range(Option<f64>, Option<f64>),
    Pattern(regex::Regex),
    Accepted(Vec<String>),
}

struct CompiledCheck {
    name: String,
    field: usize,
    check: Check,
}

/// Decodes events for one plan.
pub struct Decoder {
    fields: Vec<PlannedField>,
    checks: Vec<CompiledCheck>,
    partition_field: Option<(usize, Granularity)>,
    change_events: bool,
    masker: Masker,
    max_event_bytes: usize,
}

impl Decoder {
    /// Compiles the plan's checks and partitioning.
    pub fn new(plan: &IngestPlan, masking_key: &[u8]) -> Result<Decoder, DecoderError> {
        let index = |name: &str| plan.fields.iter().position(|f| f.name == name);
        let mut checks = Vec::new();
        for q in &plan.quality {
            let check = match q.check_type {
                QualityCheckType::NotNull => Check::NotNull,
                QualityCheckType::Range => Check::Range(q.min, q.max),
                QualityCheckType::Pattern => Check::Pattern(
                    regex::Regex::new(q.pattern.as_deref().unwrap_or("")).map_err(|source| {
                        DecoderError::Pattern {
                            check: q.name.clone(),
                            source,
                        }
                    })?,
                ),
                QualityCheckType::Accepted => Check::Accepted(q.values.clone()),
                // Schema conformance is what decoding checks; freshness is measured, not
                // per-record; uniqueness is per file (`unique::UniqueChecks`, in the buffer).
                _ => continue,
            };
            let field_name = q.field.clone().unwrap_or_default();
            let field = index(&field_name).ok_or_else(|| DecoderError::UnknownField {
                check: q.name.clone(),
                field: field_name,
            })?;
            checks.push(CompiledCheck {
                name: q.name.clone(),
                field,
                check,
            });
        }
        let partition_field = match &plan.partition_field {
            None => None,
            Some(name) => {
                let i = index(name)
                    .filter(|i| {
                        matches!(
                            plan.fields[*i].field_type,
                            FieldType::Timestamp | FieldType::Date
                        )
                    })
                    .ok_or_else(|| DecoderError::PartitionField {
                        field: name.clone(),
                    })?;
                Some((i, plan.granularity))
            }
        };
        Ok(Decoder {
            fields: plan.fields.clone(),
            checks,
            partition_field,
            change_events: plan.source.kafka.as_ref().is_some_and(|k| k.change_events),
            masker: Masker::new(masking_key),
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
        })
    }

    /// Rejects events larger than `limit` bytes.
    pub fn with_max_event_bytes(mut self, limit: usize) -> Self {
        self.max_event_bytes = limit;
        self
    }

    /// The planned fields, in column order.
    pub fn fields(&self) -> &[PlannedField] {
        &self.fields
    }

    /// Decodes one event.
    pub fn decode(&self, payload: &[u8]) -> Result<Row, Rejection> {
        if payload.len() > self.max_event_bytes {
            return Err(Rejection::TooLarge {
                size: payload.len(),
                limit: self.max_event_bytes,
            });
        }
        let text = std::str::from_utf8(payload).map_err(|e| Rejection::InvalidUtf8 {
            at: e.valid_up_to(),
        })?;
        let mut cells = Vec::with_capacity(self.fields.len());
        if self.change_events {
            let value: Value = serde_json::from_str(text).map_err(|e| Rejection::InvalidJson {
                message: e.to_string(),
            })?;
            let Value::Object(object) = value else {
                return Err(Rejection::NotAnObject);
            };
            let mut row = change_row(object)?;
            for field in &self.fields {
                let value = row.get_mut(&field.name).map(Value::take).map(Scalar::from);
                cells.push(typed(field, value)?);
            }
        } else {
            let slots = decode_object(text, &self.fields)
                .map_err(|e| Rejection::InvalidJson {
                    message: e.to_string(),
                })?
                .ok_or(Rejection::NotAnObject)?;
            for (field, slot) in self.fields.iter().zip(slots) {
                cells.push(match slot {
                    None => typed(field, None)?,
                    Some(result) => result?,
                });
            }
        }
        for check in &self.checks {
            run_check(check, &self.fields[check.field].name, &cells[check.field])?;
        }
        let (partition, event_time_micros) = match self.partition_field {
            None => (TimePartition::Unpartitioned, None),
            Some((i, granularity)) => time_partition(&cells[i], granularity),
        };
        for (cell, field) in cells.iter_mut().zip(&self.fields) {
            if field.masking != MaskingStrategy::None {
                if let Some(masked) = cell.text().map(|t| self.masker.mask(field.masking, &t)) {
                    *cell = Cell::Text(masked);
                }
            }
        }
        Ok(Row {
            cells,
            partition,
            event_time_micros,
        })
    }
}

/// The row of a Debezium change event (`payload.after`, or `after` without the envelope).
fn change_row(mut event: Map<String, Value>) -> Result<Map<String, Value>, Rejection> {
    let after = match event.get_mut("payload") {
        Some(Value::Object(payload)) => payload.remove("after"),
        _ => event.remove("after"),
    };
    match after {
        Some(Value::Object(row)) => Ok(row),
        _ => Err(Rejection::NoChangeRow),
    }
}

fn run_check(check: &CompiledCheck, field: &str, cell: &Cell) -> Result<(), Rejection> {
    let fail = |reason: String| Rejection::Quality {
        check: check.name.clone(),
        field: field.to_string(),
        reason,
    };
    match (&check.check, cell) {
        (Check::NotNull, Cell::Null) => Err(fail("value is null".into())),
        (_, Cell::Null) => Ok(()),
        (Check::Range(min, max), cell) => {
            let v = cell
                .as_f64()
                .ok_or_else(|| fail("value is not a number".into()))?;
            if min.is_some_and(|m| v < m) || max.is_some_and(|m| v > m) {
                Err(fail(format!(
                    "{v} is outside {}..={}",
                    min.map(|m| m.to_string()).unwrap_or_default(),
                    max.map(|m| m.to_string()).unwrap_or_default()
                )))
            } else {
                Ok(())
            }
        }
        (Check::Pattern(re), cell) => {
            let text = cell.text().unwrap_or_default();
            if re.is_match(&text) {
                Ok(())
            } else {
                Err(fail(format!("value does not match /{}/", re.as_str())))
            }
        }
        (Check::Accepted(values), cell) => {
            let text = cell.text().unwrap_or_default();
            if values.iter().any(|v| *v == text) {
                Ok(())
            } else {
                Err(fail(format!("value {text:?} is not one of {values:?}")))
            }
        }
        (Check::NotNull, _) => Ok(()),
    }
}

/// The time partition of a timestamp or date cell, and the event time for freshness.
fn time_partition(cell: &Cell, granularity: Granularity) -> (TimePartition, Option<i64>) {
    match cell {
        Cell::Micros(us) => {
            let partition = match granularity {
                Granularity::Hour => TimePartition::Hour(us.div_euclid(3_600_000_000)),
                Granularity::Day => TimePartition::Day(us.div_euclid(86_400_000_000)),
            };
            (partition, Some(*us))
        }
        Cell::Days(days) => (TimePartition::Day(i64::from(*days)), None),
        _ => (TimePartition::Null, None),
    }
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests;
