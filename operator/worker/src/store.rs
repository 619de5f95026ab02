//! The table's objects in S3, written with the product's encryption, and retries that wait
//! out an outage (of S3 or, for commits, the catalog) instead of losing anything.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use aws_sdk_s3::Client;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Longest pause between retries of a failing S3 request.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(10);

/// How long one S3 request may keep failing before the worker reports itself not ready: a
/// blip is waited out silently; a lasting failure (an outage, wrong or revoked
/// credentials) shows on the pod's readiness and, through it, on the product's `Ready`.
pub const UNHEALTHY_AFTER: Duration = Duration::from_secs(30);

/// Error codes with which S3 refuses the credentials themselves (not an outage): waiting
/// does not help, so the worker exits and the pod's crash loop names the cause.
const REFUSED_CREDENTIALS: [&str; 6] = [
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AccessDenied",
    "InvalidToken",
    "ExpiredToken",
    "AllAccessDisabled",
];

/// S3 refused the worker's credentials for its table location.
#[derive(Debug, thiserror::Error)]
#[error("S3 refuses the worker's credentials for s3://{bucket}/{prefix} ({code}: {message}); fix the key pair in the Secret the workers read (the pods roll when it changes)")]
pub struct CredentialsRefused {
    /// Bucket.
    pub bucket: String,
    /// Table prefix the worker writes under.
    pub prefix: String,
    /// S3's error code.
    pub code: String,
    /// S3's message.
    pub message: String,
}

/// The product's bucket.
#[derive(Clone)]
pub struct Store {
    client: Client,
    bucket: String,
    encryption: Option<ServerSideEncryption>,
    kms_key_id: Option<String>,
    /// The worker's readiness (`/readyz`), withdrawn while S3 keeps failing.
    ready: Arc<watch::Sender<bool>>,
    /// [`UNHEALTHY_AFTER`], or shorter in tests.
    unhealthy_after: Duration,
}

impl Store {
    /// A store over `bucket`, requesting the plan's encryption on every object.
    pub fn new(
        client: Client,
        bucket: String,
        encryption: Option<&str>,
        kms_key_id: Option<String>,
        ready: Arc<watch::Sender<bool>>,
    ) -> Self {
        Store {
            client,
            bucket,
            encryption: encryption.map(ServerSideEncryption::from),
            kms_key_id,
            ready,
            unhealthy_after: UNHEALTHY_AFTER,
        }
    }

    /// The same store, withdrawing readiness after `after` of failures.
    pub fn with_unhealthy_after(mut self, after: Duration) -> Self {
        self.unhealthy_after = after;
        self
    }

    /// Retries `attempt` until it succeeds, with capped exponential backoff; S3 outages
    /// pause the worker (and with it consumption) rather than drop data.
    pub(crate) async fn retry<
        T,
        E: std::fmt::Display,
        F: std::future::Future<Output = Result<T, E>>,
    >(
        &self,
        what: &str,
        mut attempt: impl FnMut() -> F,
        on_retry: &(dyn Fn() + Sync),
    ) -> T {
        let mut delay = Duration::from_millis(100);
        let mut failing_since: Option<Instant> = None;
        loop {
            match attempt().await {
                Ok(v) => {
                    if failing_since.is_some() && !*self.ready.borrow() {
                        tracing::info!(bucket = %self.bucket, "S3 requests succeed again: ready");
                        self.ready.send_replace(true);
                    }
                    return v;
                }
                Err(e) => {
                    let since = *failing_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= self.unhealthy_after && *self.ready.borrow() {
                        tracing::error!(bucket = %self.bucket, %what, error = %e, "S3 requests failing for {:?}: not ready until they succeed", self.unhealthy_after);
                        self.ready.send_replace(false);
                    }
                    on_retry();
                    tracing::warn!(bucket = %self.bucket, %what, error = %e, retry_in = ?delay, "S3 request failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(MAX_RETRY_DELAY);
                }
            }
        }
    }

    /// Writes an object, retrying until it is stored.
    pub async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        on_retry: &(dyn Fn() + Sync),
    ) {
        let body = aws_sdk_s3::primitives::SdkBody::from(body);
        self.retry(
            key,
            || {
                let mut request = self
                    .client
                    .put_object()
                    .bucket(&self.bucket)
                    .key(key)
                    .content_type(content_type)
                    .body(ByteStream::new(
                        body.try_clone().expect("in-memory bodies clone"),
                    ));
                if let Some(sse) = &self.encryption {
                    request = request.server_side_encryption(sse.clone());
                }
                if let Some(kms) = &self.kms_key_id {
                    request = request.ssekms_key_id(kms);
                }
                request.send()
            },
            on_retry,
        )
        .await;
    }

    /// Lists one object under `prefix`, retrying outages (connection errors, 5xx, a bucket
    /// not created yet), and fails only when S3 refuses the credentials: a wrong, unknown,
    /// expired or revoked key pair is a fault to report at start, not one to wait out.
    pub async fn check_access(&self, prefix: &str) -> Result<(), CredentialsRefused> {
        use aws_sdk_s3::error::ProvideErrorMetadata;
        let mut delay = Duration::from_millis(100);
        loop {
            let listed = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .max_keys(1)
                .send()
                .await;
            let error = match listed {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            let code = error.code().unwrap_or_default().to_string();
            if REFUSED_CREDENTIALS.contains(&code.as_str()) {
                return Err(CredentialsRefused {
                    bucket: self.bucket.clone(),
                    prefix: prefix.to_string(),
                    message: error.message().unwrap_or_default().to_string(),
                    code,
                });
            }
            tracing::warn!(bucket = %self.bucket, error = %aws_sdk_s3::error::DisplayErrorContext(&error), retry_in = ?delay, "S3 not reachable yet; retrying");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(MAX_RETRY_DELAY);
        }
    }

    /// Deletes an object (absent objects are fine).
    pub async fn delete(&self, key: &str, on_retry: &(dyn Fn() + Sync)) {
        self.retry(
            key,
            || {
                self.client
                    .delete_object()
                    .bucket(&self.bucket)
                    .key(key)
                    .send()
            },
            on_retry,
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meshplane_effects::s3::{client, S3Settings};

    fn store_at(endpoint: &str, ready: Arc<watch::Sender<bool>>) -> Store {
        let settings = S3Settings {
            endpoint: Some(endpoint.into()),
            region: "us-east-1".into(),
            access_key_id: "key".into(),
            secret_access_key: "secret".into(),
        };
        Store::new(client(&settings), "bucket".into(), None, None, ready)
            .with_unhealthy_after(Duration::ZERO)
    }

    #[tokio::test]
    async fn lasting_s3_failures_withdraw_readiness_and_keep_retrying() {
        let (ready, mut readiness) = watch::channel(true);
        // Nothing listens on the discard port of loopback: every request fails at once.
        let store = store_at("http://127.0.0.1:9", Arc::new(ready));
        let put = tokio::spawn(async move {
            store
                .put(
                    "table/a.parquet",
                    vec![1, 2, 3],
                    "application/octet-stream",
                    &|| {},
                )
                .await
        });
        tokio::time::timeout(Duration::from_secs(60), readiness.wait_for(|r| !*r))
            .await
            .expect("readiness withdrawn while S3 fails")
            .expect("sender alive");
        // The write is not given up: data is never dropped, the worker waits it out.
        assert!(!put.is_finished());
        put.abort();
    }
}
