//! A Prometheus client for the measurements the controller reads back (its HTTP API's
//! instant queries): what a product's workers were measured doing, as Prometheus scraped it.

use serde_json::Value;
use std::time::Duration;
use thiserror::Error;

/// A failed query.
#[derive(Debug, Error)]
pub enum PrometheusError {
    /// Prometheus could not be reached or the connection broke.
    #[error("Prometheus at {url} could not be reached: {cause}", cause = error_chain(.source))]
    Request {
        /// The URL requested.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// Prometheus answered with an HTTP error (a bad query is a 400 with its reason).
    #[error("Prometheus at {url} answered HTTP {status}: {body}")]
    Status {
        /// The URL requested.
        url: String,
        /// The status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The answer was not an instant vector of numbers (or the URL is not one).
    #[error("Prometheus at {url} sent an answer that is not a query result: {reason}")]
    Decode {
        /// The URL requested.
        url: String,
        /// What was wrong.
        reason: String,
    },
}

/// An error and its sources in one line: a transport error's own text rarely says why
/// (refused, no such host, timed out).
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A Prometheus server.
#[derive(Clone, Debug)]
pub struct Prometheus {
    base: String,
    http: reqwest::Client,
}

impl Prometheus {
    /// A client for the server at `base` (e.g. `http://prometheus-operated.monitoring:9090`).
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_string(),
            // An instant query of a few series answers in milliseconds; a reconcile must
            // not wait long on a server that does not.
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
        }
    }

    /// Where it is.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// The value of the one-element instant vector `expr` evaluates to at `at` (Unix
    /// seconds; write it with an aggregation, e.g. `sum(...)`); `None` when it selects no
    /// series.
    pub async fn scalar_at(&self, expr: &str, at: i64) -> Result<Option<f64>, PrometheusError> {
        let url = format!("{}/api/v1/query", self.base);
        let request = reqwest::Url::parse_with_params(
            &url,
            &[("query", expr.to_string()), ("time", at.to_string())],
        )
        .map_err(|e| PrometheusError::Decode {
            url: url.clone(),
            reason: format!("not a URL: {e}"),
        })?;
        let response =
            self.http
                .get(request)
                .send()
                .await
                .map_err(|source| PrometheusError::Request {
                    url: url.clone(),
                    source,
                })?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|source| PrometheusError::Request {
                url: url.clone(),
                source,
            })?;
        if !status.is_success() {
            return Err(PrometheusError::Status {
                url,
                status: status.as_u16(),
                body: body.chars().take(300).collect(),
            });
        }
        first_value(&body).map_err(|reason| PrometheusError::Decode { url, reason })
    }
}

/// The number in the first sample of a `/api/v1/query` answer of type vector.
pub fn first_value(body: &str) -> Result<Option<f64>, String> {
    let answer: Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    if answer["status"] != "success" {
        return Err(format!("status {}", answer["status"]));
    }
    let data = &answer["data"];
    if data["resultType"] != "vector" {
        return Err(format!(
            "result type {} instead of vector",
            data["resultType"]
        ));
    }
    let Some(samples) = data["result"].as_array() else {
        return Err("no result list".into());
    };
    let Some(sample) = samples.first() else {
        return Ok(None);
    };
    let text = sample["value"][1]
        .as_str()
        .ok_or_else(|| format!("a sample without a value: {sample}"))?;
    text.parse::<f64>()
        .map(Some)
        .map_err(|_| format!("the value {text:?} is not a number"))
}

#[cfg(test)]
mod tests {
    use super::first_value;

    #[test]
    fn an_instant_vector_gives_its_first_value_and_an_empty_one_none() {
        let one = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1764000000.1,"12.5"]}]}}"#;
        assert_eq!(first_value(one), Ok(Some(12.5)));
        let none = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert_eq!(first_value(none), Ok(None));
    }

    #[test]
    fn answers_that_are_not_vectors_of_numbers_are_named() {
        let matrix = r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        assert!(first_value(matrix).unwrap_err().contains("matrix"));
        let nan_text = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"many"]}]}}"#;
        assert!(first_value(nan_text).unwrap_err().contains("many"));
        assert!(first_value("<html>").unwrap_err().contains("not JSON"));
        let failed = r#"{"status":"error","errorType":"bad_data","error":"parse error"}"#;
        assert!(first_value(failed).is_err());
    }
}
