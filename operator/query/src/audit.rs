//! The audit log: one JSON line per statement on the `meshplane::audit` target, saying
//! who ran what on which products, which columns were read, how many rows came back and
//! how long it took.

use serde::Serialize;
use std::collections::BTreeMap;

/// One statement, as audited.
#[derive(Debug, Serialize, PartialEq)]
pub struct AuditRecord<'a> {
    /// The authenticated subject (`ServiceAccount:ns/name`, `User:name`).
    pub subject: &'a str,
    /// The client's address.
    pub client: &'a str,
    /// The statement text (at most 4 KiB of it).
    pub statement: &'a str,
    /// Products read, `namespace/name`.
    pub products: Vec<&'a str>,
    /// Columns read per table.
    pub columns: &'a BTreeMap<String, Vec<String>>,
    /// Rows returned.
    pub rows: usize,
    /// Wall time in milliseconds.
    pub duration_ms: f64,
    /// `ok`, `denied`, `refused`, `timeout`, `row-limit` or `error`.
    pub outcome: &'a str,
    /// The error sent to the client, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
}

/// Writes `record` to the audit log.
pub fn log(record: &AuditRecord<'_>) {
    match serde_json::to_string(record) {
        Ok(line) => tracing::info!(target: "meshplane::audit", "{line}"),
        Err(e) => {
            tracing::error!(target: "meshplane::audit", "cannot serialize an audit record: {e}")
        }
    }
}

/// The first 4 KiB of `statement`, on a character boundary.
pub fn clip(statement: &str) -> &str {
    const MAX: usize = 4096;
    if statement.len() <= MAX {
        return statement;
    }
    let mut end = MAX;
    while !statement.is_char_boundary(end) {
        end -= 1;
    }
    &statement[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_statements_are_clipped_on_a_character_boundary() {
        let long = "é".repeat(3000);
        let clipped = clip(&long);
        assert!(clipped.len() <= 4096);
        assert!(clipped.chars().all(|c| c == 'é'));
        assert_eq!(clip("SELECT 1"), "SELECT 1");
    }

    #[test]
    fn records_serialize_with_every_audited_field() {
        let columns = BTreeMap::from([("orders.orders".to_string(), vec!["order_id".to_string()])]);
        let record = AuditRecord {
            subject: "ServiceAccount:analytics/reader",
            client: "10.0.0.1:5000",
            statement: "SELECT order_id FROM orders.orders",
            products: vec!["orders/orders"],
            columns: &columns,
            rows: 3,
            duration_ms: 1.5,
            outcome: "ok",
            error: None,
        };
        let json: serde_json::Value = serde_json::to_value(&record).unwrap();
        assert_eq!(json["subject"], "ServiceAccount:analytics/reader");
        assert_eq!(json["products"][0], "orders/orders");
        assert_eq!(json["columns"]["orders.orders"][0], "order_id");
        assert_eq!(json["rows"], 3);
        assert!(json.get("error").is_none());
    }
}
