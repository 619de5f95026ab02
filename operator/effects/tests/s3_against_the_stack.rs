//! Bucket provisioning against a real S3 server (the local stack's SeaweedFS). Needs the
//! stack's environment (`source .stack/env`); `make e2e` runs it with `--include-ignored`.

use aws_sdk_s3::types::ServerSideEncryption;
use meshplane_effects::s3::{client, delete_bucket, ensure_bucket, S3Settings, RETENTION_RULE_ID};
use meshplane_planner::BucketSpec;
use std::collections::BTreeMap;

fn settings() -> S3Settings {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is not set: start the stack (make stack-up) and source .stack/env")
        })
    };
    S3Settings {
        endpoint: Some(var("MESHPLANE_S3_ENDPOINT")),
        region: std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()),
        access_key_id: var("AWS_ACCESS_KEY_ID"),
        secret_access_key: var("AWS_SECRET_ACCESS_KEY"),
    }
}

fn spec(name: &str) -> BucketSpec {
    BucketSpec {
        name: name.to_string(),
        table_prefix: "table".into(),
        dead_letter_prefix: "_rejected".into(),
        encryption: Some("AES256".into()),
        kms_key_id: None,
        expiration_days: 90,
        tags: BTreeMap::from([
            (
                "meshplane.dev/classification".to_string(),
                "confidential".to_string(),
            ),
            (
                "meshplane.dev/compliance.gdpr".to_string(),
                "true".to_string(),
            ),
        ]),
    }
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
            % 1_000_000_000_000
    )
}

#[tokio::test]
#[ignore = "needs the local stack: run by make e2e"]
async fn a_bucket_is_created_encrypted_with_retention_and_tags_and_a_second_pass_changes_nothing() {
    let s3 = client(&settings());
    let spec = spec(&unique("mp-effects-create"));
    let report = ensure_bucket(&s3, &spec).await.unwrap();
    assert!(report.created);
    assert!(report.repaired.is_empty());

    let encryption = s3
        .get_bucket_encryption()
        .bucket(&spec.name)
        .send()
        .await
        .unwrap();
    let configuration = encryption.server_side_encryption_configuration.unwrap();
    let rule = &configuration.rules()[0];
    assert_eq!(
        rule.apply_server_side_encryption_by_default()
            .unwrap()
            .sse_algorithm(),
        &ServerSideEncryption::Aes256
    );
    let lifecycle = s3
        .get_bucket_lifecycle_configuration()
        .bucket(&spec.name)
        .send()
        .await
        .unwrap();
    let rule = lifecycle
        .rules()
        .iter()
        .find(|r| r.id() == Some(RETENTION_RULE_ID))
        .unwrap();
    assert_eq!(rule.expiration().unwrap().days(), Some(90));
    // Only the dead letters expire by lifecycle: the Iceberg table's files are referenced
    // by snapshots and leave through table maintenance.
    assert_eq!(
        rule.filter().and_then(|f| f.prefix()),
        Some(format!("{}/", spec.dead_letter_prefix).as_str())
    );
    assert_eq!(lifecycle.rules().len(), 1);
    let tags = s3
        .get_bucket_tagging()
        .bucket(&spec.name)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tag_set().len(), 2);

    let again = ensure_bucket(&s3, &spec).await.unwrap();
    assert_eq!(
        again,
        Default::default(),
        "an unchanged bucket needs nothing"
    );
    delete_bucket(&s3, &spec.name).await.unwrap();
}

#[tokio::test]
#[ignore = "needs the local stack: run by make e2e"]
async fn drift_is_repaired_and_reported() {
    let s3 = client(&settings());
    let mut spec = spec(&unique("mp-effects-drift"));
    ensure_bucket(&s3, &spec).await.unwrap();

    // Someone removes the encryption and the retention rule by hand.
    s3.delete_bucket_encryption()
        .bucket(&spec.name)
        .send()
        .await
        .unwrap();
    s3.delete_bucket_lifecycle()
        .bucket(&spec.name)
        .send()
        .await
        .unwrap();
    let report = ensure_bucket(&s3, &spec).await.unwrap();
    assert_eq!(report.repaired, vec!["encryption", "lifecycle"]);
    let encryption = s3
        .get_bucket_encryption()
        .bucket(&spec.name)
        .send()
        .await
        .unwrap();
    assert!(encryption.server_side_encryption_configuration.is_some());

    // The product's retention changes: the rule follows.
    spec.expiration_days = 30;
    assert_eq!(
        ensure_bucket(&s3, &spec).await.unwrap().repaired,
        vec!["lifecycle"]
    );
    let lifecycle = s3
        .get_bucket_lifecycle_configuration()
        .bucket(&spec.name)
        .send()
        .await
        .unwrap();
    assert_eq!(lifecycle.rules()[0].expiration().unwrap().days(), Some(30));
    delete_bucket(&s3, &spec.name).await.unwrap();
}

#[tokio::test]
#[ignore = "needs the local stack: run by make e2e"]
async fn delete_removes_objects_then_the_bucket_and_tolerates_a_missing_bucket() {
    let s3 = client(&settings());
    let spec = spec(&unique("mp-effects-delete"));
    ensure_bucket(&s3, &spec).await.unwrap();
    for i in 0..3 {
        s3.put_object()
            .bucket(&spec.name)
            .key(format!("table/dt=2026-11-27/part-{i}.parquet"))
            .body(b"x".to_vec().into())
            .send()
            .await
            .unwrap();
    }
    delete_bucket(&s3, &spec.name).await.unwrap();
    assert!(s3.head_bucket().bucket(&spec.name).send().await.is_err());
    delete_bucket(&s3, &spec.name).await.unwrap();
}
