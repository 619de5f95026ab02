//! A masked row as a JSON event, for the stream output port: the same fields, types and
//! masking as the table, one JSON object per record. Pure.

use crate::decode::civil_from_days;
use crate::{Cell, Row};
use meshplane_api::ingest_plan::PlannedField;
use serde_json::{Map, Number, Value};

/// The JSON object of `row` (fields in plan order; timestamps RFC 3339 UTC with
/// microseconds, dates `YYYY-MM-DD`, absent values `null`).
pub fn to_json(fields: &[PlannedField], row: &Row) -> Vec<u8> {
    let mut object = Map::with_capacity(fields.len());
    for (field, cell) in fields.iter().zip(&row.cells) {
        object.insert(field.name.clone(), value(cell));
    }
    serde_json::to_vec(&Value::Object(object)).unwrap_or_default()
}

fn value(cell: &Cell) -> Value {
    match cell {
        Cell::Null => Value::Null,
        Cell::Text(s) => Value::String(s.clone()),
        Cell::Int(v) => Value::from(*v),
        Cell::Long(v) => Value::from(*v),
        Cell::Double(v) => Number::from_f64(*v).map_or(Value::Null, Value::Number),
        Cell::Bool(v) => Value::Bool(*v),
        Cell::Micros(v) => jiff::Timestamp::from_microsecond(*v)
            .map_or(Value::Null, |t| Value::String(t.to_string())),
        Cell::Days(v) => {
            let (y, m, d) = civil_from_days(i64::from(*v));
            Value::String(format!("{y:04}-{m:02}-{d:02}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::to_json;
    use crate::Decoder;
    use meshplane_api::ingest_plan::IngestPlan;

    #[test]
    fn a_masked_row_becomes_a_json_event_without_the_raw_pii() {
        let plan: IngestPlan =
            serde_json::from_str(include_str!("../tests/fixtures/orders-plan.json")).unwrap();
        let decoder = Decoder::new(&plan, b"k").unwrap();
        let row = decoder
            .decode(br#"{"order_id":"o-1","customer_id":"c-1","customer_email":"ada@example.com","shipping_address":"1 Main St","order_total":12.5,"currency":"EUR","status":"paid","event_time":"2026-11-27T09:15:00Z"}"#)
            .unwrap();
        let event: serde_json::Value =
            serde_json::from_slice(&to_json(decoder.fields(), &row)).unwrap();
        assert_eq!(event["order_id"], "o-1");
        assert_eq!(event["order_total"], 12.5);
        assert_eq!(event["event_time"], "2026-11-27T09:15:00Z");
        let email = event["customer_email"].as_str().unwrap();
        assert_eq!(email.len(), 64, "an HMAC-SHA256 pseudonym in hex: {email}");
        assert!(!String::from_utf8(to_json(decoder.fields(), &row))
            .unwrap()
            .contains("example.com"));
    }
}
