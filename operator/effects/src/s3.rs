//! Buckets through the S3 API (MinIO, AWS, SeaweedFS): created if absent, and their
//! default encryption, lifecycle expiration and tags kept equal to the planner's
//! [`BucketSpec`] — drift is repaired and reported, so the caller can emit events.

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, Delete, ExpirationStatus, LifecycleExpiration, LifecycleRule,
    LifecycleRuleFilter, ObjectIdentifier, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, Tag, Tagging,
};
use aws_sdk_s3::Client;
use meshplane_planner::BucketSpec;
use std::collections::BTreeMap;
use thiserror::Error;

/// ID of the lifecycle rule that expires the product's dead letters after its retention.
/// The table itself is never under a lifecycle rule: expiring objects an Iceberg snapshot
/// still references would break the table (its retention is table maintenance).
pub const RETENTION_RULE_ID: &str = "meshplane-retention";

/// How to reach the object store.
#[derive(Debug, Clone)]
pub struct S3Settings {
    /// Endpoint URL; `None` for AWS.
    pub endpoint: Option<String>,
    /// Region.
    pub region: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
}

/// An S3 client for the settings. Path-style addressing whenever an endpoint is given
/// (MinIO and SeaweedFS serve buckets as paths).
pub fn client(settings: &S3Settings) -> Client {
    let mut config = aws_sdk_s3::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(settings.region.clone()))
        .credentials_provider(Credentials::new(
            settings.access_key_id.clone(),
            settings.secret_access_key.clone(),
            None,
            None,
            "meshplane",
        ));
    if let Some(endpoint) = &settings.endpoint {
        config = config.endpoint_url(endpoint).force_path_style(true);
    }
    // Bounded waits: an unreachable server must fail a reconcile, not hang it.
    config = config.timeout_config(
        aws_sdk_s3::config::timeout::TimeoutConfig::builder()
            .connect_timeout(std::time::Duration::from_secs(5))
            .operation_attempt_timeout(std::time::Duration::from_secs(30))
            .operation_timeout(std::time::Duration::from_secs(90))
            .build(),
    );
    Client::from_conf(config.build())
}

/// A request to the object store failed.
#[derive(Debug, Error)]
pub enum S3Error {
    /// Checking whether the bucket exists failed.
    #[error("failed to look up bucket {bucket}: {source}")]
    HeadBucket {
        bucket: String,
        source: aws_sdk_s3::Error,
    },
    /// Creating the bucket failed.
    #[error("failed to create bucket {bucket}: {source}")]
    CreateBucket {
        bucket: String,
        source: aws_sdk_s3::Error,
    },
    /// Reading or writing default encryption failed.
    #[error("failed to configure default encryption of bucket {bucket}: {source}")]
    Encryption {
        bucket: String,
        source: aws_sdk_s3::Error,
    },
    /// Reading or writing the lifecycle configuration failed.
    #[error("failed to configure the lifecycle of bucket {bucket}: {source}")]
    Lifecycle {
        bucket: String,
        source: aws_sdk_s3::Error,
    },
    /// Reading or writing tags failed.
    #[error("failed to tag bucket {bucket}: {source}")]
    Tagging {
        bucket: String,
        source: aws_sdk_s3::Error,
    },
    /// Emptying or deleting the bucket failed.
    #[error("failed to delete bucket {bucket}: {source}")]
    DeleteBucket {
        bucket: String,
        source: aws_sdk_s3::Error,
    },
    /// A request could not even be built (a bug, not an outage).
    #[error("failed to build a request for bucket {bucket}: {source}")]
    Build {
        bucket: String,
        source: aws_sdk_s3::error::BuildError,
    },
}

/// What [`ensure_bucket`] had to do.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BucketReport {
    /// The bucket did not exist.
    pub created: bool,
    /// Settings found different from the spec and set again: `encryption`, `lifecycle`, `tags`.
    pub repaired: Vec<&'static str>,
}

fn service_error<E, R>(e: aws_sdk_s3::error::SdkError<E, R>) -> aws_sdk_s3::Error
where
    aws_sdk_s3::Error: From<aws_sdk_s3::error::SdkError<E, R>>,
{
    aws_sdk_s3::Error::from(e)
}

/// Makes the bucket match `spec`. Idempotent; safe to interrupt.
pub async fn ensure_bucket(client: &Client, spec: &BucketSpec) -> Result<BucketReport, S3Error> {
    let bucket = spec.name.clone();
    let mut report = BucketReport::default();
    let exists = match client.head_bucket().bucket(&bucket).send().await {
        Ok(_) => true,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => false,
        Err(e) => {
            return Err(S3Error::HeadBucket {
                bucket,
                source: service_error(e),
            })
        }
    };
    if !exists {
        match client.create_bucket().bucket(&bucket).send().await {
            Ok(_) => report.created = true,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_bucket_already_owned_by_you()) => {}
            Err(e) => {
                return Err(S3Error::CreateBucket {
                    bucket,
                    source: service_error(e),
                })
            }
        }
    }
    if ensure_encryption(client, spec).await? && !report.created {
        report.repaired.push("encryption");
    }
    if ensure_lifecycle(client, spec).await? && !report.created {
        report.repaired.push("lifecycle");
    }
    if ensure_tags(client, spec).await? && !report.created {
        report.repaired.push("tags");
    }
    Ok(report)
}

/// Returns whether it had to write.
async fn ensure_encryption(client: &Client, spec: &BucketSpec) -> Result<bool, S3Error> {
    let bucket = &spec.name;
    let Some(algorithm) = &spec.encryption else {
        return Ok(false); // The product opted out; an existing setting is left alone.
    };
    let wanted = ServerSideEncryption::from(algorithm.as_str());
    let current = client.get_bucket_encryption().bucket(bucket).send().await;
    let matches = current
        .ok()
        .and_then(|r| r.server_side_encryption_configuration)
        .is_some_and(|c| {
            c.rules().iter().any(|r| {
                r.apply_server_side_encryption_by_default()
                    .is_some_and(|d| {
                        d.sse_algorithm() == &wanted
                            && d.kms_master_key_id() == spec.kms_key_id.as_deref()
                    })
            })
        });
    if matches {
        return Ok(false);
    }
    let build = |source| S3Error::Build {
        bucket: bucket.clone(),
        source,
    };
    let mut default = ServerSideEncryptionByDefault::builder().sse_algorithm(wanted);
    if let Some(key) = &spec.kms_key_id {
        default = default.kms_master_key_id(key);
    }
    let rule = ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(default.build().map_err(build)?)
        .build();
    let config = ServerSideEncryptionConfiguration::builder()
        .rules(rule)
        .build()
        .map_err(build)?;
    client
        .put_bucket_encryption()
        .bucket(bucket)
        .server_side_encryption_configuration(config)
        .send()
        .await
        .map_err(|e| S3Error::Encryption {
            bucket: bucket.clone(),
            source: service_error(e),
        })?;
    Ok(true)
}

async fn ensure_lifecycle(client: &Client, spec: &BucketSpec) -> Result<bool, S3Error> {
    let bucket = &spec.name;
    let days = i32::try_from(spec.expiration_days).unwrap_or(i32::MAX);
    let current = client
        .get_bucket_lifecycle_configuration()
        .bucket(bucket)
        .send()
        .await;
    let prefix = format!("{}/", spec.dead_letter_prefix);
    let matches = current.ok().is_some_and(|r| {
        // Exactly this rule: an older whole-bucket rule is replaced.
        r.rules().len() == 1
            && r.rules().iter().all(|rule| {
                rule.id() == Some(RETENTION_RULE_ID)
                    && rule.filter().and_then(|f| f.prefix()) == Some(prefix.as_str())
                    && rule.status() == &ExpirationStatus::Enabled
                    && rule.expiration().and_then(|e| e.days()) == Some(days)
            })
    });
    if matches {
        return Ok(false);
    }
    let build = |source| S3Error::Build {
        bucket: bucket.clone(),
        source,
    };
    let rule = LifecycleRule::builder()
        .id(RETENTION_RULE_ID)
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix(&prefix).build())
        .expiration(LifecycleExpiration::builder().days(days).build())
        .build()
        .map_err(build)?;
    let config = BucketLifecycleConfiguration::builder()
        .rules(rule)
        .build()
        .map_err(build)?;
    client
        .put_bucket_lifecycle_configuration()
        .bucket(bucket)
        .lifecycle_configuration(config)
        .send()
        .await
        .map_err(|e| S3Error::Lifecycle {
            bucket: bucket.clone(),
            source: service_error(e),
        })?;
    Ok(true)
}

async fn ensure_tags(client: &Client, spec: &BucketSpec) -> Result<bool, S3Error> {
    let bucket = &spec.name;
    let current: BTreeMap<String, String> =
        match client.get_bucket_tagging().bucket(bucket).send().await {
            Ok(r) => r
                .tag_set()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect(),
            Err(_) => BTreeMap::new(), // NoSuchTagSet: no tags yet
        };
    if current == spec.tags {
        return Ok(false);
    }
    let build = |source| S3Error::Build {
        bucket: bucket.clone(),
        source,
    };
    let tags = spec
        .tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(build)?;
    client
        .put_bucket_tagging()
        .bucket(bucket)
        .tagging(
            Tagging::builder()
                .set_tag_set(Some(tags))
                .build()
                .map_err(build)?,
        )
        .send()
        .await
        .map_err(|e| S3Error::Tagging {
            bucket: bucket.clone(),
            source: service_error(e),
        })?;
    Ok(true)
}

/// Deletes every object of the bucket, then the bucket (`deletionPolicy: Delete`).
/// A bucket that is already gone is not an error.
pub async fn delete_bucket(client: &Client, bucket: &str) -> Result<(), S3Error> {
    let fail = |source| S3Error::DeleteBucket {
        bucket: bucket.to_string(),
        source,
    };
    loop {
        let listing = match client
            .list_objects_v2()
            .bucket(bucket)
            .max_keys(1000)
            .send()
            .await
        {
            Ok(l) => l,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_bucket()) => return Ok(()),
            Err(e) => return Err(fail(service_error(e))),
        };
        let keys: Vec<ObjectIdentifier> = listing
            .contents()
            .iter()
            .filter_map(|o| o.key())
            .filter_map(|k| ObjectIdentifier::builder().key(k).build().ok())
            .collect();
        if keys.is_empty() {
            break;
        }
        let delete = Delete::builder()
            .set_objects(Some(keys))
            .quiet(true)
            .build()
            .map_err(|source| S3Error::Build {
                bucket: bucket.to_string(),
                source,
            })?;
        client
            .delete_objects()
            .bucket(bucket)
            .delete(delete)
            .send()
            .await
            .map_err(|e| fail(service_error(e)))?;
    }
    match client.delete_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .map(|s| s.meta().code() == Some("NoSuchBucket"))
                .unwrap_or(false) =>
        {
            Ok(())
        }
        Err(e) => Err(fail(service_error(e))),
    }
}
