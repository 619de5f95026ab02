//! `unique` quality checks: within one file (a flush's rows of one time partition), the
//! first record with a value is kept and later records repeating it are rejected. Pure.
//! Uniqueness across files would need the whole table; that is a query, not ingestion.

use crate::decode::{DecoderError, Rejection, Row};
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
    seen: HashMap<(usize, String), HashSet<String>>,
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
        let values: Vec<Option<String>> = self
            .checks
            .iter()
            .map(|c| row.cells.get(c.field).and_then(|cell| cell.to_text()))
            .collect();
        for (i, (check, value)) in self.checks.iter().zip(&values).enumerate() {
            let Some(value) = value else { continue };
            if self
                .seen
                .get(&(i, row.partition.clone()))
                .is_some_and(|s| s.contains(value))
            {
                return Err(Rejection::Quality {
                    check: check.name.clone(),
                    field: check.field_name.clone(),
                    reason: "the value repeats one already in this file".into(),
                });
            }
        }
        for (i, value) in values.into_iter().enumerate() {
            if let Some(value) = value {
                self.seen
                    .entry((i, row.partition.clone()))
                    .or_default()
                    .insert(value);
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

    fn row(order_id: Option<&str>, partition: &str) -> Row {
        let plan = plan();
        let mut cells = vec![Cell::Null; plan.fields.len()];
        cells[0] = order_id.map_or(Cell::Null, |v| Cell::Text(v.into()));
        Row {
            cells,
            partition: partition.into(),
            event_time_micros: None,
        }
    }

    #[test]
    fn a_repeated_value_in_the_same_file_is_rejected_naming_the_check() {
        let mut unique = UniqueChecks::new(&plan()).unwrap();
        assert!(unique
            .admit(&row(Some("o-1"), "dt=2026-11-27/hr=09"))
            .is_ok());
        let err = unique
            .admit(&row(Some("o-1"), "dt=2026-11-27/hr=09"))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "quality check `order-id-unique` failed on field `order_id`: the value repeats one already in this file"
        );
        // Another file (time partition), nulls, and a cleared guard do not collide.
        assert!(unique
            .admit(&row(Some("o-1"), "dt=2026-11-27/hr=10"))
            .is_ok());
        assert!(unique.admit(&row(None, "dt=2026-11-27/hr=09")).is_ok());
        assert!(unique.admit(&row(None, "dt=2026-11-27/hr=09")).is_ok());
        unique.clear();
        assert!(unique
            .admit(&row(Some("o-1"), "dt=2026-11-27/hr=09"))
            .is_ok());
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
