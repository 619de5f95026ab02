//! A Trino client for the statements the platform runs itself (table maintenance): Trino's
//! HTTP protocol, `POST /v1/statement` then `GET nextUri` until the query ends.

use serde_json::Value;
use std::time::Duration;
use thiserror::Error;

/// A failed statement.
#[derive(Debug, Error)]
pub enum TrinoError {
    /// Trino could not be reached or the connection broke.
    #[error("Trino at {url} could not be reached: {source}")]
    Request {
        /// The URL requested.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// Trino answered with an HTTP error.
    #[error("Trino at {url} answered HTTP {status}: {body}")]
    Status {
        /// The URL requested.
        url: String,
        /// The status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The answer was not Trino's JSON.
    #[error("Trino at {url} sent an answer that is not a query result: {reason}")]
    Decode {
        /// The URL requested.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// The query ran and failed.
    #[error("Trino refused or failed the statement ({name}): {message}")]
    Query {
        /// Trino's error name, e.g. `TABLE_NOT_FOUND`.
        name: String,
        /// Trino's message.
        message: String,
    },
}

/// What a finished statement returned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatementResult {
    /// The kind of update (`DELETE`, `ALTER TABLE EXECUTE`), if any.
    pub update_type: Option<String>,
    /// Rows changed, where Trino reports it.
    pub update_count: Option<i64>,
    /// Result rows, each as Trino's JSON values.
    pub rows: Vec<Vec<Value>>,
}

/// A Trino coordinator.
#[derive(Clone, Debug)]
pub struct Trino {
    base: String,
    user: String,
    http: reqwest::Client,
}

/// Times a busy coordinator (HTTP 502/503/504) is asked again, one second apart.
const BUSY_RETRIES: u32 = 30;

impl Trino {
    /// A client for the coordinator at `base` (e.g. `http://trino:8080`), running
    /// statements as `user`.
    pub fn new(base: &str, user: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
            user: user.to_string(),
            // Trino answers each poll within seconds (a long-running statement returns a
            // `nextUri` to poll again); a request hung longer than this is a dead server.
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(300))
                .build()
                .unwrap_or_default(),
        }
    }

    /// Runs `sql` to its end.
    pub async fn execute(&self, sql: &str) -> Result<StatementResult, TrinoError> {
        let url = format!("{}/v1/statement", self.base);
        let mut page = self
            .send(&url, || {
                self.http
                    .post(&url)
                    .header("X-Trino-User", &self.user)
                    .header("X-Trino-Source", "meshplane")
                    .body(sql.to_string())
            })
            .await?;
        let mut result = StatementResult::default();
        loop {
            if let Some(error) = page.get("error") {
                return Err(TrinoError::Query {
                    name: text(error, "errorName"),
                    message: text(error, "message"),
                });
            }
            if let Some(kind) = page.get("updateType").and_then(Value::as_str) {
                result.update_type = Some(kind.to_string());
            }
            if let Some(count) = page.get("updateCount").and_then(Value::as_i64) {
                result.update_count = Some(count);
            }
            if let Some(Value::Array(rows)) = page.get("data") {
                for row in rows {
                    match row {
                        Value::Array(values) => result.rows.push(values.clone()),
                        other => {
                            return Err(TrinoError::Decode {
                                url,
                                reason: format!("a row is not a list: {other}"),
                            })
                        }
                    }
                }
            }
            let Some(next) = page.get("nextUri").and_then(Value::as_str) else {
                return Ok(result);
            };
            let next = next.to_string();
            page = self
                .send(&next, || {
                    self.http.get(&next).header("X-Trino-User", &self.user)
                })
                .await?;
        }
    }

    /// Sends a request, asking again while the coordinator is busy.
    async fn send(
        &self,
        url: &str,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Value, TrinoError> {
        let mut attempt = 0;
        loop {
            let response = request()
                .send()
                .await
                .map_err(|source| TrinoError::Request {
                    url: url.to_string(),
                    source,
                })?;
            let status = response.status().as_u16();
            let body = response
                .bytes()
                .await
                .map_err(|source| TrinoError::Request {
                    url: url.to_string(),
                    source,
                })?;
            if matches!(status, 502..=504) && attempt < BUSY_RETRIES {
                attempt += 1;
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            if status != 200 {
                return Err(TrinoError::Status {
                    url: url.to_string(),
                    status,
                    body: String::from_utf8_lossy(&body[..body.len().min(500)]).into_owned(),
                });
            }
            return serde_json::from_slice(&body).map_err(|e| TrinoError::Decode {
                url: url.to_string(),
                reason: e.to_string(),
            });
        }
    }
}

fn text(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_string()
}
