//! The ingestion workload: the worker's plan, its ConfigMap, the pod template, the
//! Deployment (streams) or CronJob (scheduled runs), and the headless metrics Service.

use crate::external::{BucketSpec, TopicRole, TopicSpec};
use crate::meta::child_meta;
use crate::settings::PlatformSettings;
use crate::{labels, names, product_key, PlanError, Workload};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EnvVar, EnvVarSource,
    HTTPGetAction, PodSecurityContext, PodSpec, PodTemplateSpec, Probe, ResourceRequirements,
    SecretKeySelector, SecurityContext, Service, ServicePort, ServiceSpec, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use meshplane_api::duration;
use meshplane_api::ingest_plan::{
    HttpPlan, IngestPlan, KafkaPlan, PlanInput, PlanSource, PlannedField, ProductsPlan,
    PLAN_CONFIGMAP_KEY,
};
use meshplane_api::{Classification, DataProduct, Granularity, MaskingStrategy};
use std::collections::BTreeMap;

/// Where the plan is mounted in the worker.
pub const PLAN_MOUNT_PATH: &str = "/etc/meshplane";

/// Annotation on the worker pod template holding [`plan_hash`] of the mounted plan. The
/// worker reads its plan once, at start, and an updated ConfigMap alone does not restart
/// it: a changed plan (schema, masking, update interval ...) must change the template so
/// that the Deployment rolls the workers onto it.
pub const PLAN_HASH_ANNOTATION: &str = "meshplane.dev/plan-hash";

/// Annotation on the worker pod template naming the resourceVersion of every Secret the
/// workers read (see [`worker_secrets`]). A pod reads its Secrets into its environment
/// once, at start: a rotated key pair, catalog URI or masking key must change the
/// template so that the workers roll onto it.
pub const SECRET_VERSIONS_ANNOTATION: &str = "meshplane.dev/secret-versions";

/// What [`SECRET_VERSIONS_ANNOTATION`] says of a Secret that does not exist (yet): its
/// creation changes the template too.
pub const ABSENT_SECRET: &str = "absent";

/// The Secrets every product of a namespace shares (the same names in each namespace,
/// so they can be watched by name): the masking key, the catalog URI and, unless keys are
/// issued per product, the S3 key pair.
pub fn worker_secrets(settings: &PlatformSettings) -> Vec<String> {
    let mut names = vec![
        settings.masking_key_secret.clone(),
        settings.catalog_secret.clone(),
    ];
    if !settings.worker_keys_per_product {
        names.push(settings.s3_credentials_secret.clone());
    }
    names.sort();
    names.dedup();
    names
}

/// The Secret the product's workers read their S3 key pair from.
pub fn worker_s3_secret(product: &DataProduct, settings: &PlatformSettings) -> String {
    if settings.worker_keys_per_product {
        names::worker_credentials(product.metadata.name.as_deref().unwrap_or_default())
    } else {
        settings.s3_credentials_secret.clone()
    }
}

/// Every Secret (in the product's namespace) the product's worker pods read their
/// environment from, by name.
pub fn product_worker_secrets(product: &DataProduct, settings: &PlatformSettings) -> Vec<String> {
    let mut names = worker_secrets(settings);
    names.push(worker_s3_secret(product, settings));
    names.sort();
    names.dedup();
    names
}

/// The value of [`SECRET_VERSIONS_ANNOTATION`]: `name=version` of each Secret the
/// product's workers read, by name, comma-separated; a Secret missing from `versions` is
/// [`ABSENT_SECRET`]. A version is the Secret's resourceVersion, or for the product's own
/// keys their access key id (which changes when they are rotated).
pub fn secret_versions_text(
    product: &DataProduct,
    settings: &PlatformSettings,
    versions: &BTreeMap<String, String>,
) -> String {
    product_worker_secrets(product, settings)
        .iter()
        .map(|name| {
            let version = versions.get(name).map_or(ABSENT_SECRET, String::as_str);
            format!("{name}={version}")
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Records the Secrets' versions on the workload's pod template (Deployment or CronJob).
pub fn pin_secret_versions(workload: &mut Workload, versions_text: &str) {
    let template = match workload {
        Workload::Deployment(d) => d.spec.as_mut().map(|s| &mut s.template),
        Workload::CronJob(c) => c
            .spec
            .as_mut()
            .and_then(|s| s.job_template.spec.as_mut())
            .map(|s| &mut s.template),
    };
    if let Some(template) = template {
        template
            .metadata
            .get_or_insert_with(ObjectMeta::default)
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(
                SECRET_VERSIONS_ANNOTATION.to_string(),
                versions_text.to_string(),
            );
    }
}

/// Name of the workers' ServiceAccount, Role, RoleBinding and workload.
pub fn worker_name(product: &DataProduct) -> String {
    names::child(
        product.metadata.name.as_deref().unwrap_or_default(),
        "ingest",
    )
}

/// Name of the ConfigMap holding the worker's plan.
pub fn plan_map_name(product: &DataProduct) -> String {
    names::child(
        product.metadata.name.as_deref().unwrap_or_default(),
        "ingest-plan",
    )
}

/// The worker's plan.
pub fn ingest_plan(
    product: &DataProduct,
    settings: &PlatformSettings,
    bucket: &BucketSpec,
    topics: &[TopicSpec],
) -> Result<IngestPlan, PlanError> {
    let spec = &product.spec;
    let key = product_key(product);
    let name = product.metadata.name.as_deref().unwrap_or_default();
    let namespace = product.metadata.namespace.as_deref().unwrap_or("default");
    let incomplete = |what: &str| PlanError::Incomplete {
        product: key.clone(),
        what: what.to_string(),
    };
    let source_topic = topics.iter().find(|t| t.role == TopicRole::Source);
    let source = if let Some(topic) = source_topic {
        PlanSource {
            kafka: Some(KafkaPlan {
                bootstrap_servers: settings.kafka_bootstrap_servers.clone(),
                topic: topic.name.clone(),
                consumer_group: format!("meshplane.{namespace}.{name}"),
                change_events: spec.source.cdc.is_some(),
            }),
            ..PlanSource::default()
        }
    } else if let Some(batch) = &spec.source.batch {
        PlanSource {
            http: Some(HttpPlan {
                url: batch.url.clone(),
            }),
            ..PlanSource::default()
        }
    } else if let Some(products) = &spec.source.products {
        PlanSource {
            products: Some(ProductsPlan {
                inputs: products
                    .inputs
                    .iter()
                    .map(|input| {
                        let ns = input.namespace.as_deref().unwrap_or(namespace);
                        PlanInput {
                            product: format!("{ns}/{}", input.name),
                            table: input.name.replace('-', "_"),
                            bucket: names::bucket(&settings.bucket_prefix, ns, &input.name),
                            prefix: bucket.table_prefix.clone(),
                        }
                    })
                    .collect(),
                transform: products.transform.clone(),
            }),
            ..PlanSource::default()
        }
    } else {
        return Err(incomplete("no source is set"));
    };
    let table = spec.output.table.as_ref();
    let flush = match table {
        Some(t) => duration::parse(&t.update_interval).map_err(|source| PlanError::Duration {
            product: key.clone(),
            field: "spec.output.table.updateInterval",
            source,
        })?,
        None => std::time::Duration::from_secs(1),
    };
    let fields = spec
        .schema
        .fields
        .iter()
        .map(|f| PlannedField {
            name: f.name.clone(),
            field_type: f.field_type,
            nullable: f.nullable,
            classification: f.classification.unwrap_or(Classification::Internal),
            pii: f.is_pii(),
            // Unmasked PII never reaches an output, even if admission was bypassed.
            masking: match (f.masking, f.is_pii()) {
                (Some(MaskingStrategy::None) | None, true) => MaskingStrategy::Hash,
                (m, _) => m.unwrap_or(MaskingStrategy::None),
            },
        })
        .collect::<Vec<_>>();
    let retention = duration::parse(&spec.retention).map_err(|source| PlanError::Duration {
        product: key.clone(),
        field: "spec.retention",
        source,
    })?;
    let iceberg = crate::iceberg::table_plan(&spec.domain, (namespace, name), bucket, &fields);
    let partitioning = table.and_then(|t| t.partitioning.as_ref());
    Ok(IngestPlan {
        product: key,
        source,
        bucket: bucket.name.clone(),
        table_prefix: bucket.table_prefix.clone(),
        dead_letter_prefix: bucket.dead_letter_prefix.clone(),
        fields,
        partition_field: partitioning.map(|p| p.field.clone()),
        granularity: partitioning
            .map(|p| p.granularity)
            .unwrap_or(Granularity::Hour),
        flush_interval_seconds: flush.as_secs().max(1),
        quality: spec.quality.clone(),
        stream_topic: spec.output.stream.as_ref().map(|s| s.topic.clone()),
        encryption: bucket.encryption.clone(),
        kms_key_id: bucket.kms_key_id.clone(),
        iceberg,
        retention_seconds: Some(retention.as_secs()),
    })
}

/// The plan as the ConfigMap the workers mount.
pub fn plan_config_map(product: &DataProduct, plan: &IngestPlan) -> ConfigMap {
    ConfigMap {
        metadata: child_meta(product, plan_map_name(product), "ingest"),
        data: Some(BTreeMap::from([(
            PLAN_CONFIGMAP_KEY.to_string(),
            serde_json::to_string_pretty(plan).expect("plan serializes"),
        )])),
        ..ConfigMap::default()
    }
}

/// The first 16 hex digits of the SHA-256 of `plan_json`, the plan as its ConfigMap holds
/// it. 64 bits tell plans apart; the full digest would only lengthen every pod.
pub fn plan_hash(plan_json: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(plan_json.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether the product's ingestion runs continuously, as a Deployment of workers (Kafka
/// and CDC streams), rather than as a CronJob (scheduled batch pulls, derived products).
pub fn streams(product: &DataProduct) -> bool {
    product.spec.source.kafka.is_some() || product.spec.source.cdc.is_some()
}

/// Long-running workers for streams (Kafka and CDC), a CronJob for everything else. The
/// pod template mounts `plan_map` (from [`plan_config_map`]) and carries its hash.
pub fn workload(
    product: &DataProduct,
    settings: &PlatformSettings,
    plan_map: &ConfigMap,
) -> Workload {
    let worker = worker_name(product);
    let template = worker_pod(product, settings, &worker, plan_map);
    let source = &product.spec.source;
    if streams(product) {
        return Workload::Deployment(Box::new(Deployment {
            metadata: child_meta(product, worker, "ingest"),
            spec: Some(DeploymentSpec {
                // Workers of one product share a consumer group: Kafka divides the
                // partitions among them and rebalances when one comes or goes.
                replicas: Some(source.kafka.as_ref().and_then(|k| k.consumers).unwrap_or(1)),
                selector: LabelSelector {
                    match_labels: Some(labels::worker_selector(product)),
                    ..LabelSelector::default()
                },
                template,
                ..DeploymentSpec::default()
            }),
            ..Deployment::default()
        }));
    }
    let schedule = source
        .batch
        .as_ref()
        .map(|b| b.schedule.clone())
        .or_else(|| source.products.as_ref().and_then(|p| p.schedule.clone()))
        // A derived product without a schedule refreshes hourly, after its inputs.
        .unwrap_or_else(|| "0 * * * *".to_string());
    Workload::CronJob(Box::new(CronJob {
        metadata: child_meta(product, worker, "ingest"),
        spec: Some(CronJobSpec {
            schedule,
            // Scheduled pulls and derived transforms do not run yet (`meshplane ingest`
            // refuses plans that are not streams); the CronJob is kept so the shape is in
            // place, and the product's status says that nothing fills its table.
            suspend: Some(true),
            concurrency_policy: Some("Forbid".into()),
            successful_jobs_history_limit: Some(3),
            failed_jobs_history_limit: Some(3),
            job_template: JobTemplateSpec {
                metadata: None,
                spec: Some(JobSpec {
                    backoff_limit: Some(3),
                    template: PodTemplateSpec {
                        spec: template.spec.map(|mut s| {
                            s.restart_policy = Some("OnFailure".into());
                            s
                        }),
                        metadata: template.metadata,
                    },
                    ..JobSpec::default()
                }),
            },
            ..CronJobSpec::default()
        }),
        ..CronJob::default()
    }))
}

/// The headless Service Prometheus scrapes the workers' endpoints through.
pub fn metrics_service(product: &DataProduct, settings: &PlatformSettings) -> Service {
    let name = product.metadata.name.clone().unwrap_or_default();
    Service {
        metadata: child_meta(product, names::child(&name, "metrics"), "ingest"),
        spec: Some(ServiceSpec {
            // Headless: Prometheus scrapes the pods' endpoints; a virtual IP per product
            // would only use up the cluster's service range.
            cluster_ip: Some("None".into()),
            selector: Some(labels::worker_selector(product)),
            ports: Some(vec![ServicePort {
                name: Some("metrics".into()),
                port: i32::from(settings.worker_metrics_port),
                target_port: Some(IntOrString::String("metrics".into())),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

fn secret_env(name: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.into(),
                key: key.into(),
                optional: Some(false),
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

pub(crate) fn plain_env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..EnvVar::default()
    }
}

pub(crate) fn worker_pod(
    product: &DataProduct,
    settings: &PlatformSettings,
    service_account: &str,
    plan_map: &ConfigMap,
) -> PodTemplateSpec {
    let s3_secret = worker_s3_secret(product, settings);
    // Readiness is polled often (a cheap local call): the product is Ready only once a
    // worker is, so a 10 s period would add up to 10 s to every apply → Ready.
    let probe = |path: &str, period: i32| Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("metrics".into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        ..Probe::default()
    };
    let mut pod_labels = labels::for_child(product, "ingest");
    pod_labels.extend(labels::worker_selector(product));
    let plan_json = plan_map
        .data
        .as_ref()
        .and_then(|d| d.get(PLAN_CONFIGMAP_KEY))
        .map(String::as_str)
        .unwrap_or_default();
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(pod_labels),
            annotations: Some(BTreeMap::from([(
                PLAN_HASH_ANNOTATION.to_string(),
                plan_hash(plan_json),
            )])),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            service_account_name: Some(service_account.into()),
            // The worker reports the newest committed event time into the product's status.
            automount_service_account_token: Some(true),
            // Time to flush open files and commit offsets on SIGTERM.
            termination_grace_period_seconds: Some(60),
            security_context: Some(PodSecurityContext {
                run_as_non_root: Some(true),
                seccomp_profile: Some(k8s_openapi::api::core::v1::SeccompProfile {
                    type_: "RuntimeDefault".into(),
                    ..Default::default()
                }),
                ..PodSecurityContext::default()
            }),
            containers: vec![Container {
                name: "ingest".into(),
                image: Some(settings.image.clone()),
                image_pull_policy: Some(settings.image_pull_policy.clone()),
                args: Some(vec![
                    "ingest".into(),
                    "--plan".into(),
                    format!("{PLAN_MOUNT_PATH}/{PLAN_CONFIGMAP_KEY}"),
                ]),
                env: Some(vec![
                    plain_env("MESHPLANE_S3_ENDPOINT", &settings.s3_endpoint),
                    plain_env("AWS_REGION", &settings.s3_region),
                    secret_env("AWS_ACCESS_KEY_ID", &s3_secret, "access-key-id"),
                    secret_env("AWS_SECRET_ACCESS_KEY", &s3_secret, "secret-access-key"),
                    secret_env("MESHPLANE_MASKING_KEY", &settings.masking_key_secret, "key"),
                    plain_env("MESHPLANE_ICEBERG_TYPE", &settings.catalog_type),
                    plain_env("MESHPLANE_ICEBERG_NAME", &settings.catalog_name),
                    plain_env("MESHPLANE_ICEBERG_WAREHOUSE", &settings.catalog_warehouse),
                    secret_env("MESHPLANE_ICEBERG_URI", &settings.catalog_secret, "uri"),
                    plain_env(
                        "MESHPLANE_METRICS_ADDR",
                        &format!("0.0.0.0:{}", settings.worker_metrics_port),
                    ),
                ]),
                ports: Some(vec![ContainerPort {
                    name: Some("metrics".into()),
                    container_port: i32::from(settings.worker_metrics_port),
                    ..ContainerPort::default()
                }]),
                liveness_probe: Some(probe("/healthz", 10)),
                readiness_probe: Some(probe("/readyz", 2)),
                resources: Some(ResourceRequirements {
                    requests: Some(BTreeMap::from([
                        ("cpu".into(), Quantity(settings.worker_cpu_request.clone())),
                        (
                            "memory".into(),
                            Quantity(settings.worker_memory_request.clone()),
                        ),
                    ])),
                    limits: Some(BTreeMap::from([(
                        "memory".into(),
                        Quantity(settings.worker_memory_limit.clone()),
                    )])),
                    ..ResourceRequirements::default()
                }),
                security_context: Some(SecurityContext {
                    allow_privilege_escalation: Some(false),
                    read_only_root_filesystem: Some(true),
                    capabilities: Some(Capabilities {
                        drop: Some(vec!["ALL".into()]),
                        ..Capabilities::default()
                    }),
                    ..SecurityContext::default()
                }),
                // A worker that fails at start shows its last log lines in the pod's
                // status, which the controller copies into IngestionReady.
                termination_message_policy: Some("FallbackToLogsOnError".into()),
                volume_mounts: Some(vec![VolumeMount {
                    name: "plan".into(),
                    mount_path: PLAN_MOUNT_PATH.into(),
                    read_only: Some(true),
                    ..VolumeMount::default()
                }]),
                ..Container::default()
            }],
            volumes: Some(vec![Volume {
                name: "plan".into(),
                config_map: Some(ConfigMapVolumeSource {
                    name: plan_map.metadata.name.clone().unwrap_or_default(),
                    ..ConfigMapVolumeSource::default()
                }),
                ..Volume::default()
            }]),
            ..PodSpec::default()
        }),
    }
}
