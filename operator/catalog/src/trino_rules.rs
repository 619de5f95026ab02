//! The products' grants as Trino file-based access-control rules
//! (`access-control.name=file`): what Trino lets each subject read is what its granted
//! AccessRequests say, the same as on the query port. Pure: the catalog's grants and
//! products in, the rules document out.
//!
//! Trino reads rules top to bottom and the first match wins; a section that is present
//! and matches nothing denies. So the platform's own user comes first (table maintenance),
//! then one table rule per grant, and every section is always present: an absent section
//! would allow everything.

use serde_json::{json, Value};

/// One granted AccessRequest, as the rules need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrinoGrant {
    /// The subject, `Kind:name` (`ServiceAccount:namespace/name`, `User:name`,
    /// `Group:name`).
    pub subject: String,
    /// Iceberg namespace of the product's table (Trino's schema).
    pub schema: String,
    /// The table.
    pub table: String,
    /// Columns of the product the grant does not cover (denied, and hidden with Trino's
    /// `hide-inaccessible-columns`).
    pub hidden_columns: Vec<String>,
}

/// Who and where the rules are for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrinoRulesScope {
    /// The Trino catalog holding the products' tables, e.g. `meshplane`.
    pub catalog: String,
    /// The Trino user the platform's maintenance statements run as; it may do anything
    /// in that catalog.
    pub platform_user: String,
}

/// A literal as a Java regular expression matching exactly it (Trino matches whole names).
pub fn literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !(c.is_ascii_alphanumeric() || c == '_' || c == ':' || c == '@') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The rule fields that select `subject`, or `None` for a subject Trino cannot name.
/// A ServiceAccount is the user its token authenticates as in Trino's JWT authentication
/// (`sub`: `system:serviceaccount:<namespace>:<name>`); a Group needs Trino's group
/// provider.
fn matcher(subject: &str) -> Option<(&'static str, String)> {
    let (kind, name) = subject.split_once(':')?;
    match kind {
        "ServiceAccount" => {
            let (namespace, account) = name.split_once('/')?;
            Some((
                "user",
                literal(&format!("system:serviceaccount:{namespace}:{account}")),
            ))
        }
        "User" => Some(("user", literal(name))),
        "Group" => Some(("group", literal(name))),
        _ => None,
    }
}

/// The rules document for `grants`, in a stable order (sorted), so an unchanged set of
/// grants gives the same bytes.
pub fn rules(scope: &TrinoRulesScope, grants: &[TrinoGrant]) -> Value {
    let catalog = literal(&scope.catalog);
    let platform = literal(&scope.platform_user);
    let mut grants: Vec<&TrinoGrant> = grants.iter().collect();
    grants
        .sort_by(|a, b| (&a.schema, &a.table, &a.subject).cmp(&(&b.schema, &b.table, &b.subject)));
    let mut tables = vec![json!({
        "user": platform, "catalog": catalog,
        "privileges": ["SELECT", "INSERT", "DELETE", "UPDATE", "OWNERSHIP"],
    })];
    for grant in grants {
        let Some((field, pattern)) = matcher(&grant.subject) else {
            continue;
        };
        let mut rule = json!({
            "catalog": catalog,
            "schema": literal(&grant.schema),
            "table": literal(&grant.table),
            "privileges": ["SELECT"],
        });
        rule[field] = Value::String(pattern);
        if !grant.hidden_columns.is_empty() {
            let mut hidden = grant.hidden_columns.clone();
            hidden.sort();
            rule["columns"] = hidden
                .iter()
                .map(|c| json!({ "name": c, "allow": false }))
                .collect();
        }
        tables.push(rule);
    }
    json!({
        "catalogs": [
            { "user": platform, "catalog": catalog, "allow": "all" },
            // Read-only for everyone else; the table rules decide what they see.
            { "catalog": catalog, "allow": "read-only" },
            { "catalog": "system", "allow": "read-only" },
        ],
        "schemas": [
            { "user": platform, "catalog": catalog, "owner": true },
        ],
        "tables": tables,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> TrinoRulesScope {
        TrinoRulesScope {
            catalog: "meshplane".into(),
            platform_user: "meshplane".into(),
        }
    }

    fn grant(subject: &str, hidden: &[&str]) -> TrinoGrant {
        TrinoGrant {
            subject: subject.into(),
            schema: "orders".into(),
            table: "orders".into(),
            hidden_columns: hidden.iter().map(|c| (*c).into()).collect(),
        }
    }

    #[test]
    fn each_grant_is_a_select_rule_for_its_subject_with_the_columns_above_it_denied() {
        let doc = rules(
            &scope(),
            &[
                grant(
                    "ServiceAccount:analytics/report-bot",
                    &["shipping_address", "customer_email"],
                ),
                grant("Group:analytics-analysts", &[]),
                grant("User:jane@example.com", &[]),
            ],
        );
        let tables = doc["tables"].as_array().unwrap();
        assert_eq!(tables.len(), 4);
        assert_eq!(tables[0]["user"], "meshplane");
        assert_eq!(tables[0]["privileges"][4], "OWNERSHIP");
        assert_eq!(
            tables[1],
            json!({"group": "analytics\\-analysts", "catalog": "meshplane", "schema": "orders",
                   "table": "orders", "privileges": ["SELECT"]})
        );
        assert_eq!(
            tables[2],
            json!({"user": "system:serviceaccount:analytics:report\\-bot", "catalog": "meshplane",
                   "schema": "orders", "table": "orders", "privileges": ["SELECT"],
                   "columns": [{"name": "customer_email", "allow": false},
                               {"name": "shipping_address", "allow": false}]})
        );
        assert_eq!(tables[3]["user"], "jane@example\\.com");
    }

    #[test]
    fn without_grants_every_section_is_there_and_only_the_platform_matches() {
        let doc = rules(&scope(), &[]);
        for section in ["catalogs", "schemas", "tables"] {
            assert!(!doc[section].as_array().unwrap().is_empty(), "{section}");
        }
        assert_eq!(doc["tables"].as_array().unwrap().len(), 1);
        assert_eq!(
            doc["catalogs"][1],
            json!({"catalog": "meshplane", "allow": "read-only"})
        );
    }

    #[test]
    fn names_are_matched_literally_and_unknown_subjects_get_no_rule() {
        assert_eq!(literal("a.b*c(d)"), "a\\.b\\*c\\(d\\)");
        assert_eq!(
            literal("system:serviceaccount:ns:sa"),
            "system:serviceaccount:ns:sa"
        );
        let doc = rules(
            &scope(),
            &[grant("Robot:x", &[]), grant("ServiceAccount:no-slash", &[])],
        );
        assert_eq!(doc["tables"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn the_same_grants_in_another_order_give_the_same_document() {
        let a = grant("User:a", &[]);
        let b = TrinoGrant {
            table: "payments".into(),
            ..grant("User:b", &[])
        };
        assert_eq!(
            rules(&scope(), &[a.clone(), b.clone()]),
            rules(&scope(), &[b, a])
        );
    }
}
