//! What the query port runs: one read-only statement (a query, or `EXPLAIN` of one), with
//! the tables it reads, checked before DataFusion plans it (pure).

use datafusion::sql::parser::{DFParserBuilder, Statement};
use datafusion::sql::resolve::resolve_table_references;
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::TableReference;
use thiserror::Error;

/// Why a statement is not run.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum StatementError {
    /// The text is not SQL the port understands.
    #[error("syntax error: {0}")]
    Syntax(String),
    /// More than one statement in one query message.
    #[error("one statement at a time: got {0}")]
    Several(usize),
    /// Anything that is not a query: DDL, DML, transactions, COPY...
    #[error(
        "the query port is read-only: {0} statements are refused (run SELECT, WITH or EXPLAIN)"
    )]
    NotReadOnly(String),
}

/// What the client sent.
#[derive(Debug)]
pub enum Checked {
    /// Nothing but whitespace and semicolons.
    Empty,
    /// `SET`: accepted and ignored, so that clients which set session options on connect
    /// (JDBC, BI tools) work; limits are the port's, not the session's.
    Set,
    /// A read-only query and the tables it reads (CTE names excluded).
    Query {
        /// The parsed statement, for DataFusion's planner.
        statement: Box<Statement>,
        /// Every table it reads.
        tables: Vec<TableReference>,
    },
}

/// Parses `sql` and keeps it only if it reads.
pub fn check(sql: &str) -> Result<Checked, StatementError> {
    let dialect = PostgreSqlDialect {};
    let mut statements = DFParserBuilder::new(sql)
        .with_dialect(&dialect)
        .build()
        .and_then(|mut parser| parser.parse_statements())
        .map_err(|e| StatementError::Syntax(strip_prefix(e.to_string())))?;
    match statements.len() {
        0 => return Ok(Checked::Empty),
        1 => {}
        n => return Err(StatementError::Several(n)),
    }
    let statement = statements.pop_front().expect("one statement");
    if let Statement::Statement(inner) = &statement {
        if matches!(**inner, SqlStatement::Set(_)) {
            return Ok(Checked::Set);
        }
    }
    read_only(&statement)?;
    let (tables, _ctes) = resolve_table_references(&statement, true)
        .map_err(|e| StatementError::Syntax(strip_prefix(e.to_string())))?;
    Ok(Checked::Query {
        statement: Box::new(statement),
        tables,
    })
}

fn read_only(statement: &Statement) -> Result<(), StatementError> {
    match statement {
        Statement::Statement(inner) => match inner.as_ref() {
            SqlStatement::Query(_) => Ok(()),
            SqlStatement::Explain { statement, .. } => {
                read_only(&Statement::Statement(statement.clone()))
            }
            other => Err(StatementError::NotReadOnly(kind(other))),
        },
        Statement::Explain(explain) => read_only(&explain.statement),
        Statement::CreateExternalTable(_) => {
            Err(StatementError::NotReadOnly("CREATE EXTERNAL TABLE".into()))
        }
        Statement::CopyTo(_) => Err(StatementError::NotReadOnly("COPY".into())),
        Statement::Reset(_) => Err(StatementError::NotReadOnly("RESET".into())),
    }
}

/// The statement's leading keywords, e.g. `INSERT` or `CREATE TABLE`, for the message.
fn kind(statement: &SqlStatement) -> String {
    let text = statement.to_string();
    let words: Vec<&str> = text.split_whitespace().take(2).collect();
    match words.as_slice() {
        [first, second]
            if matches!(
                first.to_ascii_uppercase().as_str(),
                "CREATE" | "DROP" | "ALTER" | "TRUNCATE"
            ) =>
        {
            format!(
                "{} {}",
                first.to_ascii_uppercase(),
                second.to_ascii_uppercase()
            )
        }
        [first, ..] => first.to_ascii_uppercase(),
        [] => "empty".into(),
    }
}

fn strip_prefix(message: String) -> String {
    message
        .strip_prefix("SQL error: ")
        .map(str::to_string)
        .unwrap_or(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(sql: &str) -> Vec<String> {
        match check(sql).unwrap() {
            Checked::Query { tables, .. } => tables.iter().map(|t| t.to_string()).collect(),
            other => panic!("not a query: {other:?}"),
        }
    }

    #[test]
    fn queries_name_the_tables_they_read_but_not_their_ctes() {
        assert_eq!(
            tables("SELECT count(*) FROM orders.orders"),
            ["orders.orders"]
        );
        assert_eq!(
            tables(
                "WITH recent AS (SELECT * FROM orders.orders WHERE order_total > 10) \
                 SELECT r.order_id FROM recent r JOIN finance.revenue v ON true"
            ),
            ["finance.revenue", "orders.orders"]
        );
        assert_eq!(
            tables("EXPLAIN SELECT * FROM orders.orders"),
            ["orders.orders"]
        );
        assert_eq!(
            tables("SELECT * FROM (SELECT 1 FROM a.b) t WHERE EXISTS (SELECT 1 FROM c.d)"),
            ["a.b", "c.d"]
        );
    }

    #[test]
    fn writes_and_ddl_are_refused_by_name() {
        for (sql, kind) in [
            ("INSERT INTO orders.orders VALUES (1)", "INSERT"),
            ("DELETE FROM orders.orders", "DELETE"),
            ("UPDATE orders.orders SET status = 'x'", "UPDATE"),
            ("DROP TABLE orders.orders", "DROP TABLE"),
            ("CREATE TABLE t (a int)", "CREATE TABLE"),
            (
                "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION 's3://x/'",
                "CREATE EXTERNAL TABLE",
            ),
            ("COPY orders.orders TO 'out.csv'", "COPY"),
            ("BEGIN", "BEGIN"),
            ("EXPLAIN ANALYZE INSERT INTO t VALUES (1)", "INSERT"),
        ] {
            match check(sql) {
                Err(StatementError::NotReadOnly(found)) => assert_eq!(found, kind, "{sql}"),
                other => panic!("{sql}: {other:?}"),
            }
        }
    }

    #[test]
    fn several_statements_empty_text_and_set_are_told_apart() {
        assert_eq!(
            check("SELECT 1; SELECT 2").unwrap_err(),
            StatementError::Several(2)
        );
        assert!(matches!(check(" ;; ").unwrap(), Checked::Empty));
        assert!(matches!(
            check("SET extra_float_digits = 3").unwrap(),
            Checked::Set
        ));
    }

    #[test]
    fn garbage_is_a_syntax_error_not_a_panic() {
        for sql in ["SELEC 1", "SELECT (", "\u{0}\u{1}", "SELECT * FROM", "'"] {
            assert!(
                matches!(check(sql), Err(StatementError::Syntax(_))),
                "{sql:?}"
            );
        }
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Fragments that make statements of every kind when strung together.
    fn sql_like() -> impl Strategy<Value = String> {
        let words = prop::sample::select(vec![
            "SELECT",
            "INSERT",
            "INTO",
            "DELETE",
            "UPDATE",
            "SET",
            "DROP",
            "TABLE",
            "CREATE",
            "WITH",
            "AS",
            "FROM",
            "WHERE",
            "EXPLAIN",
            "ANALYZE",
            "COPY",
            "TO",
            "VALUES",
            "(",
            ")",
            ",",
            ";",
            "*",
            "'",
            "\"",
            "--",
            "/*",
            "*/",
            "1",
            "a.b",
            "orders.orders",
            "=",
            "BEGIN",
            "COMMIT",
            "GRANT",
            "ALTER",
            "TRUNCATE",
            "UNION",
            "JOIN",
            "ON",
            "\u{0}",
            "é",
            "$1",
            "::",
            "[",
            "]",
        ]);
        prop::collection::vec(words, 0..24).prop_map(|w| w.join(" "))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// No text panics the check, and whatever it lets through is a query.
        #[test]
        fn only_queries_pass_and_nothing_panics(sql in sql_like()) {
            if let Ok(Checked::Query { statement, .. }) = check(&sql) {
                prop_assert!(read_only(&statement).is_ok(), "{sql}");
                let text = statement.to_string().to_ascii_uppercase();
                for write in ["INSERT INTO", "DELETE FROM", "DROP TABLE", "CREATE TABLE"] {
                    prop_assert!(!text.starts_with(write), "{sql} -> {text}");
                }
            }
        }

        /// Arbitrary bytes (as text) are an answer, never a panic.
        #[test]
        fn arbitrary_text_is_answered(sql in "\\PC{0,200}") {
            let _ = check(&sql);
        }
    }
}
