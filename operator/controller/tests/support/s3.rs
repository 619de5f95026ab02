//! The S3 operations of `meshplane_effects::s3` (`ensure_bucket`, `delete_bucket`) as
//! script steps: each a sequential `aws-smithy-mocks` rule that checks its input.

use super::harness::Step;
use aws_sdk_s3::error::ErrorMetadata;
use aws_sdk_s3::operation::create_bucket::CreateBucketOutput;
use aws_sdk_s3::operation::delete_bucket::DeleteBucketOutput;
use aws_sdk_s3::operation::delete_objects::DeleteObjectsOutput;
use aws_sdk_s3::operation::get_bucket_encryption::{
    GetBucketEncryptionError, GetBucketEncryptionOutput,
};
use aws_sdk_s3::operation::get_bucket_lifecycle_configuration::{
    GetBucketLifecycleConfigurationError, GetBucketLifecycleConfigurationOutput,
};
use aws_sdk_s3::operation::get_bucket_tagging::{GetBucketTaggingError, GetBucketTaggingOutput};
use aws_sdk_s3::operation::head_bucket::{HeadBucketError, HeadBucketOutput};
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_sdk_s3::operation::put_bucket_encryption::PutBucketEncryptionOutput;
use aws_sdk_s3::operation::put_bucket_lifecycle_configuration::PutBucketLifecycleConfigurationOutput;
use aws_sdk_s3::operation::put_bucket_tagging::PutBucketTaggingOutput;
use aws_sdk_s3::types::error::NotFound;
use aws_sdk_s3::types::{
    ExpirationStatus, LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, Object,
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
    ServerSideEncryptionRule, Tag,
};
use aws_sdk_s3::Client;
use aws_smithy_mocks::mock;
use meshplane_effects::s3::RETENTION_RULE_ID;
use meshplane_planner::BucketSpec;
use std::collections::BTreeMap;

fn step(operation: &str, rule: aws_smithy_mocks::Rule) -> Step {
    Step::S3(operation.to_string(), rule)
}

/// Matches inputs naming `bucket`.
fn named(bucket: &str) -> impl Fn(Option<&str>) -> bool + Send + Sync + 'static {
    let bucket = bucket.to_string();
    move |b| b == Some(bucket.as_str())
}

fn missing(code: &str) -> ErrorMetadata {
    ErrorMetadata::builder()
        .code(code)
        .message("not set")
        .build()
}

fn days(spec: &BucketSpec) -> i32 {
    i32::try_from(spec.expiration_days).expect("retention fits in i32 days")
}

fn encryption(spec: &BucketSpec) -> ServerSideEncryptionConfiguration {
    let algorithm = spec.encryption.as_deref().expect("the bucket is encrypted");
    ServerSideEncryptionConfiguration::builder()
        .rules(
            ServerSideEncryptionRule::builder()
                .apply_server_side_encryption_by_default(
                    ServerSideEncryptionByDefault::builder()
                        .sse_algorithm(ServerSideEncryption::from(algorithm))
                        .build()
                        .expect("a valid default"),
                )
                .build(),
        )
        .build()
        .expect("a valid configuration")
}

fn retention_rule(spec: &BucketSpec) -> LifecycleRule {
    LifecycleRule::builder()
        .id(RETENTION_RULE_ID)
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix("_rejected/").build())
        .expiration(LifecycleExpiration::builder().days(days(spec)).build())
        .build()
        .expect("a valid rule")
}

fn tags(spec: &BucketSpec) -> Vec<Tag> {
    spec.tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build().expect("a valid tag"))
        .collect()
}

/// `ensure_bucket` on a bucket that does not exist: created, then encryption, lifecycle
/// and tags read (none yet) and written as the spec says.
pub fn bucket_created(spec: &BucketSpec) -> Vec<Step> {
    let bucket = spec.name.as_str();
    let algorithm = spec.encryption.clone().expect("the bucket is encrypted");
    let (days, tags) = (days(spec), spec.tags.clone());
    vec![
        step(
            "HeadBucket",
            mock!(Client::head_bucket)
                .match_requests({
                    let is = named(bucket);
                    move |r| is(r.bucket())
                })
                .then_error(|| HeadBucketError::NotFound(NotFound::builder().build())),
        ),
        step(
            "CreateBucket",
            mock!(Client::create_bucket)
                .match_requests({
                    let is = named(bucket);
                    move |r| is(r.bucket())
                })
                .then_output(|| CreateBucketOutput::builder().build()),
        ),
        step(
            "GetBucketEncryption",
            mock!(Client::get_bucket_encryption)
                .match_requests({
                    let is = named(bucket);
                    move |r| is(r.bucket())
                })
                .then_error(|| {
                    GetBucketEncryptionError::generic(missing(
                        "ServerSideEncryptionConfigurationNotFoundError",
                    ))
                }),
        ),
        step(
            "PutBucketEncryption",
            mock!(Client::put_bucket_encryption)
                .match_requests({
                    let is = named(bucket);
                    move |r| {
                        is(r.bucket())
                            && r.server_side_encryption_configuration().is_some_and(|c| {
                                c.rules().iter().any(|rule| {
                                    rule.apply_server_side_encryption_by_default()
                                        .is_some_and(|d| d.sse_algorithm().as_str() == algorithm)
                                })
                            })
                    }
                })
                .then_output(|| PutBucketEncryptionOutput::builder().build()),
        ),
        step(
            "GetBucketLifecycleConfiguration",
            mock!(Client::get_bucket_lifecycle_configuration)
                .match_requests({
                    let is = named(bucket);
                    move |r| is(r.bucket())
                })
                .then_error(|| {
                    GetBucketLifecycleConfigurationError::generic(missing(
                        "NoSuchLifecycleConfiguration",
                    ))
                }),
        ),
        step(
            "PutBucketLifecycleConfiguration",
            mock!(Client::put_bucket_lifecycle_configuration)
                .match_requests({
                    let is = named(bucket);
                    move |r| {
                        is(r.bucket())
                            && r.lifecycle_configuration().is_some_and(|c| {
                                c.rules().iter().any(|rule| {
                                    rule.id() == Some(RETENTION_RULE_ID)
                                        && rule.status() == &ExpirationStatus::Enabled
                                        && rule.expiration().and_then(|e| e.days()) == Some(days)
                                })
                            })
                    }
                })
                .then_output(|| PutBucketLifecycleConfigurationOutput::builder().build()),
        ),
        step(
            "GetBucketTagging",
            mock!(Client::get_bucket_tagging)
                .match_requests({
                    let is = named(bucket);
                    move |r| is(r.bucket())
                })
                .then_error(|| GetBucketTaggingError::generic(missing("NoSuchTagSet"))),
        ),
        step(
            "PutBucketTagging",
            mock!(Client::put_bucket_tagging)
                .match_requests({
                    let is = named(bucket);
                    move |r| {
                        let sent: BTreeMap<String, String> = r
                            .tagging()
                            .map(|t| {
                                t.tag_set()
                                    .iter()
                                    .map(|t| (t.key().to_string(), t.value().to_string()))
                                    .collect()
                            })
                            .unwrap_or_default();
                        is(r.bucket()) && sent == tags
                    }
                })
                .then_output(|| PutBucketTaggingOutput::builder().build()),
        ),
    ]
}

/// `ensure_bucket` on a bucket that exists exactly as the spec says: read, nothing written.
pub fn bucket_as_specified(spec: &BucketSpec) -> Vec<Step> {
    let bucket = spec.name.as_str();
    let (encryption, rule, tags) = (encryption(spec), retention_rule(spec), tags(spec));
    vec![
        step(
            "HeadBucket",
            mock!(Client::head_bucket)
                .match_requests({
                    let is = named(bucket);
                    move |r| is(r.bucket())
                })
                .then_output(|| HeadBucketOutput::builder().build()),
        ),
        step(
            "GetBucketEncryption",
            mock!(Client::get_bucket_encryption)
                .match_requests({
                    let is = named(bucket);
                    move |r| is(r.bucket())
                })
                .then_output(move || {
                    GetBucketEncryptionOutput::builder()
                        .server_side_encryption_configuration(encryption.clone())
                        .build()
                }),
        ),
        step(
            "GetBucketLifecycleConfiguration",
            mock!(Client::get_bucket_lifecycle_configuration)
                .match_requests({
                    let is = named(bucket);
                    move |r| is(r.bucket())
                })
                .then_output(move || {
                    GetBucketLifecycleConfigurationOutput::builder()
                        .rules(rule.clone())
                        .build()
                }),
        ),
        step(
            "GetBucketTagging",
            mock!(Client::get_bucket_tagging)
                .match_requests({
                    let is = named(bucket);
                    move |r| is(r.bucket())
                })
                .then_output(move || {
                    GetBucketTaggingOutput::builder()
                        .set_tag_set(Some(tags.clone()))
                        .build()
                        .expect("a valid tagging output")
                }),
        ),
    ]
}

/// `delete_bucket`: a listing with `keys`, their deletion, an empty listing, the bucket
/// deleted.
pub fn bucket_emptied_and_deleted(bucket: &str, keys: &[&str]) -> Vec<Step> {
    let objects: Vec<Object> = keys
        .iter()
        .map(|k| Object::builder().key(*k).build())
        .collect();
    let wanted: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    vec![
        step(
            "ListObjectsV2",
            mock!(Client::list_objects_v2)
                .match_requests({
                    let is = named(bucket);
                    move |r| is(r.bucket())
                })
                .then_output(move || {
                    ListObjectsV2Output::builder()
                        .set_contents(Some(objects.clone()))
                        .key_count(objects.len() as i32)
                        .build()
                }),
        ),
        step(
            "DeleteObjects",
            mock!(Client::delete_objects)
                .match_requests({
                    let is = named(bucket);
                    move |r| {
                        let sent: Vec<String> = r
                            .delete()
                            .map(|d| d.objects().iter().map(|o| o.key().to_string()).collect())
                            .unwrap_or_default();
                        is(r.bucket()) && sent == wanted
                    }
                })
                .then_output(|| DeleteObjectsOutput::builder().build()),
        ),
        step(
            "ListObjectsV2",
            mock!(Client::list_objects_v2)
                .match_requests({
                    let is = named(bucket);
                    move |r| is(r.bucket())
                })
                .then_output(|| ListObjectsV2Output::builder().key_count(0).build()),
        ),
        step(
            "DeleteBucket",
            mock!(Client::delete_bucket)
                .match_requests({
                    let is = named(bucket);
                    move |r| is(r.bucket())
                })
                .then_output(|| DeleteBucketOutput::builder().build()),
        ),
    ]
}
