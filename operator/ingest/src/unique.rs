//! `unique` quality checks: within one file (a flush's rows of one time partition), the
//! first record with a value is kept and later records repeating it are rejected. Pure.
//! Uniqueness across files would need the whole table; that is a query, not ingestion.

use crate::cell::Cell;
use crate::decode::{DecoderError, Rejection, Row};
use crate::partition::TimePartition;
use meshplane_api::ingest_plan::IngestPlan;
use meshplane_api::QualityCheckType;
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone)]
struct UniqueCheck {
    name: String,
    field_name: String,
    field: usize,
}

/// The `unique` checks of a plan, with the values seen since the last [`clear`](Self::clear).
#[derive(Debug)]
pub struct UniqueChecks {
    checks: Vec<UniqueCheck>,
    /// Values seen, by check and time partition (one file each).
    seen: HashMap<(usize, TimePartition), HashSet<String>>,
}

impl UniqueChecks {
    /// The plan's `unique` checks; a check naming an unknown field is an error.
    pub fn new(plan: &IngestPlan) -> Result<UniqueChecks, DecoderError> {
        let mut checks = Vec::new();
        for q in plan
            .quality
            .iter()
            .filter(|q| q.check_type == QualityCheckType::Unique)
        {
            let field_name = q.field.clone().unwrap_or_default();
            let field = plan
                .fields
                .iter()
                .position(|f| f.name == field_name)
                .ok_or_else(|| DecoderError::UnknownField {
                    check: q.name.clone(),
                    field: field_name.clone(),
                })?;
            checks.push(UniqueCheck {
                name: q.name.clone(),
                field_name,
                field,
            });
        }
        Ok(UniqueChecks {
            checks,
            seen: HashMap::new(),
        })
    }

    /// The same checks with nothing seen yet (for a new buffer).
    pub fn emptied(&self) -> UniqueChecks {
        UniqueChecks {
            checks: self.checks.clone(),
            seen: HashMap::new(),
        }
    }

    /// Whether the plan has any `unique` check.
    pub fn is_empty(&self) -> bool {
        self.checks.is_empty()
    }

    /// Accepts `row` and remembers its values, or rejects it for repeating one. Null
    /// values never collide (as in SQL).
    pub fn admit(&mut self, row: &Row) -> Result<(), Rejection> {
        for (i, check) in self.checks.iter().enumerate() {
            let Some(value) = row.cells.get(check.field).and_then(Cell::text) else {
                continue;
            };
            if self
                .seen
                .get(&(i, row.partition))
                .is_some_and(|s| s.contains(value.as_ref()))
            {
                return Err(Rejection::Quality {
                    check: check.name.clone(),
                    field: check.field_name.clone(),
                    reason: "the value repeats one already in this file".into(),
                });
            }
        }
        for (i, check) in self.checks.iter().enumerate() {
            if let Some(value) = row.cells.get(check.field).and_then(Cell::text) {
                self.seen
                    .entry((i, row.partition))
                    .or_default()
                    .insert(value.into_owned());
            }
        }
        Ok(())
    }

    /// Forgets every value (a new file starts).
    pub fn clear(&mut self) {
        self.seen.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Cell;

    fn plan() -> IngestPlan {
        let mut plan: IngestPlan =
            serde_json::from_str(include_str!("../tests/fixtures/orders-plan.json")).unwrap();
        plan.quality.push(
            serde_json::from_value(serde_json::json!({
                "name": "order-id-unique", "type": "unique", "field": "order_id"
            }))
            .unwrap(),
        );
        plan
    }

    const HOUR_9: TimePartition = TimePartition::Hour(20_784 * 24 + 9);
    const HOUR_10: TimePartition = TimePartition::Hour(20_784 * 24 + 10);

    fn row(order_id: Option<&str>, partition: TimePartition) -> Row {
        let plan = plan();
        let mut cells = vec![Cell::Null; plan.fields.len()];
        cells[0] = order_id.map_or(Cell::Null, |v| Cell::Text(v.into()));
        Row {
            cells,
            partition,
            event_time_micros: None,
        }
    }

    #[test]
    fn a_repeated_value_in_the_same_file_is_rejected_naming_the_check() {
        let mut unique = UniqueChecks::new(&plan()).unwrap();
        assert!(unique.admit(&row(Some("o-1"), HOUR_9)).is_ok());
        let err = unique.admit(&row(Some("o-1"), HOUR_9)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "quality check `order-id-unique` failed on field `order_id`: the value repeats one already in this file"
        );
        // Another file (time partition), nulls, and a cleared guard do not collide.
        assert!(unique.admit(&row(Some("o-1"), HOUR_10)).is_ok());
        assert!(unique.admit(&row(None, HOUR_9)).is_ok());
        assert!(unique.admit(&row(None, HOUR_9)).is_ok());
        unique.clear();
        assert!(unique.admit(&row(Some("o-1"), HOUR_9)).is_ok());
    }

    #[test]
    fn a_check_on_an_unknown_field_is_refused() {
        let mut plan = plan();
        plan.quality.push(
            serde_json::from_value(serde_json::json!({
                "name": "nope", "type": "unique", "field": "no_such_field"
            }))
            .unwrap(),
        );
        assert!(matches!(
            UniqueChecks::new(&plan),
            Err(DecoderError::UnknownField { .. })
        ));
    }
}
