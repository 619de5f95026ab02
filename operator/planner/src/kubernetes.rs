//! The Kubernetes objects of a product: the worker's plan, identity, workload and access.

use crate::external::{cdc_topic, BucketSpec, TopicRole, TopicSpec};
use crate::settings::{PlatformSettings, TopicMode};
use crate::{labels, monitoring, names, product_key, PlanError};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EnvVar, EnvVarSource,
    HTTPGetAction, PodSecurityContext, PodSpec, PodTemplateSpec, Probe, ResourceRequirements,
    SecretKeySelector, SecurityContext, Service, ServiceAccount, ServicePort, ServiceSpec, Volume,
    VolumeMount,
};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject as RbacSubject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use meshplane_api::duration;
use meshplane_api::ingest_plan::{
    HttpPlan, IngestPlan, KafkaPlan, PlanInput, PlanSource, PlannedField, ProductsPlan,
    PLAN_CONFIGMAP_KEY,
};
use meshplane_api::{
    Classification, DataProduct, Granularity, MaskingStrategy, SubjectKind, API_VERSION,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Where the plan is mounted in the worker.
pub const PLAN_MOUNT_PATH: &str = "/etc/meshplane";

/// Metadata for a child object: deterministic name, standard labels, owner reference.
pub fn child_meta(product: &DataProduct, name: String, component: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: product.metadata.namespace.clone(),
        labels: Some(labels::for_child(product, component)),
        owner_references: owner_reference(product).map(|o| vec![o]),
        ..ObjectMeta::default()
    }
}

/// The controller reference to the product, once it has a uid (it has one in a cluster).
pub fn owner_reference(product: &DataProduct) -> Option<OwnerReference> {
    Some(OwnerReference {
        api_version: API_VERSION.to_string(),
        kind: "DataProduct".to_string(),
        name: product.metadata.name.clone()?,
        uid: product.metadata.uid.clone()?,
        controller: Some(true),
        block_owner_deletion: Some(true),
    })
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
        .collect();
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
    })
}

fn to_value<T: serde::Serialize>(object: &T) -> Value {
    serde_json::to_value(object).expect("Kubernetes objects serialize")
}

/// Every Kubernetes object of the product, in apply order.
pub fn objects(
    product: &DataProduct,
    settings: &PlatformSettings,
    bucket: &BucketSpec,
    topics: &[TopicSpec],
    plan: &IngestPlan,
) -> Result<Vec<Value>, PlanError> {
    let name = product.metadata.name.clone().unwrap_or_default();
    let worker = names::child(&name, "ingest");
    let plan_map = names::child(&name, "ingest-plan");
    let mut out = Vec::new();

    out.extend(topic_objects(product, settings, topics));
    if let Some(cdc) = &product.spec.source.cdc {
        out.push(kafka_connector(product, settings, cdc));
    }

    out.push(to_value(&ConfigMap {
        metadata: child_meta(product, plan_map.clone(), "ingest"),
        data: Some(BTreeMap::from([(
            PLAN_CONFIGMAP_KEY.to_string(),
            serde_json::to_string_pretty(plan).expect("plan serializes"),
        )])),
        ..ConfigMap::default()
    }));
    out.push(to_value(&ServiceAccount {
        metadata: child_meta(product, worker.clone(), "ingest"),
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    }));
    out.push(to_value(&Role {
        metadata: child_meta(product, worker.clone(), "ingest"),
        rules: Some(vec![
            PolicyRule {
                api_groups: Some(vec![String::new()]),
                resources: Some(vec!["configmaps".into()]),
                resource_names: Some(vec![plan_map.clone()]),
                verbs: vec!["get".into(), "watch".into()],
                ..PolicyRule::default()
            },
            PolicyRule {
                api_groups: Some(vec![String::new()]),
                resources: Some(vec!["secrets".into()]),
                resource_names: Some(vec![
                    settings.s3_credentials_secret.clone(),
                    settings.masking_key_secret.clone(),
                ]),
                verbs: vec!["get".into()],
                ..PolicyRule::default()
            },
            // Its own product's status only: the newest committed event time (freshness).
            PolicyRule {
                api_groups: Some(vec![meshplane_api::GROUP.into()]),
                resources: Some(vec!["dataproducts/status".into()]),
                resource_names: Some(vec![product.metadata.name.clone().unwrap_or_default()]),
                verbs: vec!["patch".into()],
                ..PolicyRule::default()
            },
        ]),
    }));
    out.push(to_value(&RoleBinding {
        metadata: child_meta(product, worker.clone(), "ingest"),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: worker.clone(),
        },
        subjects: Some(vec![RbacSubject {
            kind: "ServiceAccount".into(),
            name: worker.clone(),
            namespace: product.metadata.namespace.clone(),
            ..RbacSubject::default()
        }]),
    }));
    out.extend(reader_access(product));

    let template = worker_pod(product, settings, &worker, &plan_map);
    let source = &product.spec.source;
    if source.kafka.is_some() || source.cdc.is_some() {
        out.push(to_value(&Deployment {
            metadata: child_meta(product, worker.clone(), "ingest"),
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
    } else {
        let schedule = source
            .batch
            .as_ref()
            .map(|b| b.schedule.clone())
            .or_else(|| source.products.as_ref().and_then(|p| p.schedule.clone()))
            // A derived product without a schedule refreshes hourly, after its inputs.
            .unwrap_or_else(|| "0 * * * *".to_string());
        out.push(to_value(&CronJob {
            metadata: child_meta(product, worker.clone(), "ingest"),
            spec: Some(CronJobSpec {
                schedule,
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
        }));
    }

    out.push(to_value(&Service {
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
    }));
    out.extend(monitoring::objects(product, settings, bucket)?);
    Ok(out)
}

fn topic_objects(
    product: &DataProduct,
    settings: &PlatformSettings,
    topics: &[TopicSpec],
) -> Vec<Value> {
    let TopicMode::Strimzi { cluster, namespace } = &settings.topic_mode else {
        return Vec::new();
    };
    topics
        .iter()
        .map(|topic| {
            let mut meta = child_meta(product, names::kafka_topic_resource(&topic.name), "topic");
            if let Some(ns) = namespace {
                if Some(ns) != product.metadata.namespace.as_ref() {
                    // Owner references cannot cross namespaces; the finalizer cleans these up.
                    meta.owner_references = None;
                }
                meta.namespace = Some(ns.clone());
            }
            meta.labels
                .get_or_insert_with(BTreeMap::new)
                .insert("strimzi.io/cluster".into(), cluster.clone());
            json!({
                "apiVersion": "kafka.strimzi.io/v1beta2",
                "kind": "KafkaTopic",
                "metadata": meta,
                "spec": {
                    "topicName": topic.name,
                    "partitions": topic.partitions,
                    "replicas": topic.replicas,
                    "config": topic.config,
                }
            })
        })
        .collect()
}

fn kafka_connector(
    product: &DataProduct,
    settings: &PlatformSettings,
    cdc: &meshplane_api::CdcSource,
) -> Value {
    let name = product.metadata.name.clone().unwrap_or_default();
    let namespace = product.metadata.namespace.as_deref().unwrap_or("default");
    let mut meta = child_meta(product, names::child(&name, "cdc"), "cdc");
    let cluster = match &settings.topic_mode {
        TopicMode::Strimzi { cluster, .. } => cluster.clone(),
        TopicMode::Direct => "connect".to_string(),
    };
    meta.labels
        .get_or_insert_with(BTreeMap::new)
        .insert("strimzi.io/cluster".into(), format!("{cluster}-connect"));
    let secret = &cdc.connection_secret_ref.name;
    let file = |key: &str| format!("${{secrets:{namespace}/{secret}:{key}}}");
    json!({
        "apiVersion": "kafka.strimzi.io/v1beta2",
        "kind": "KafkaConnector",
        "metadata": meta,
        "spec": {
            "class": "io.debezium.connector.postgresql.PostgresConnector",
            "tasksMax": 1,
            "autoRestart": { "enabled": true },
            "state": "running",
            "config": {
                "database.hostname": file("host"),
                "database.port": file("port"),
                "database.dbname": file("dbname"),
                "database.user": file("user"),
                "database.password": file("password"),
                "plugin.name": "pgoutput",
                "slot.name": names::bounded(&format!("meshplane_{namespace}_{name}"), 63).replace('-', "_"),
                "publication.name": names::bounded(&format!("meshplane_{namespace}_{name}"), 63).replace('-', "_"),
                "topic.prefix": format!("meshplane.{namespace}.{name}"),
                "table.include.list": cdc.tables.join(","),
                "key.converter": "org.apache.kafka.connect.json.JsonConverter",
                "value.converter": "org.apache.kafka.connect.json.JsonConverter",
                "value.converter.schemas.enable": "false",
                "transforms": "route",
                "transforms.route.type": "org.apache.kafka.connect.transforms.RegexRouter",
                "transforms.route.regex": ".*",
                "transforms.route.replacement": cdc_topic(product),
            }
        }
    })
}

/// Read access to the product: a Role over its read credentials and the product itself,
/// bound to the readers `spec.access` names.
fn reader_access(product: &DataProduct) -> Vec<Value> {
    let name = product.metadata.name.clone().unwrap_or_default();
    let readers = &product.spec.access.readers;
    let role = names::child(&name, "readers");
    let role_object = Role {
        metadata: child_meta(product, role.clone(), "access"),
        rules: Some(vec![
            PolicyRule {
                api_groups: Some(vec![String::new()]),
                resources: Some(vec!["secrets".into()]),
                resource_names: Some(vec![names::child(&name, "read-credentials")]),
                verbs: vec!["get".into()],
                ..PolicyRule::default()
            },
            PolicyRule {
                api_groups: Some(vec!["meshplane.dev".into()]),
                resources: Some(vec!["dataproducts".into()]),
                resource_names: Some(vec![name.clone()]),
                verbs: vec!["get".into(), "watch".into()],
                ..PolicyRule::default()
            },
        ]),
    };
    let binding = RoleBinding {
        metadata: child_meta(product, role.clone(), "access"),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: role,
        },
        subjects: Some(
            readers
                .iter()
                .map(|r| RbacSubject {
                    kind: r.kind.to_string(),
                    api_group: match r.kind {
                        SubjectKind::ServiceAccount => None,
                        _ => Some("rbac.authorization.k8s.io".into()),
                    },
                    name: r.name.clone(),
                    namespace: match r.kind {
                        SubjectKind::ServiceAccount => Some(
                            r.namespace
                                .clone()
                                .or_else(|| product.metadata.namespace.clone())
                                .unwrap_or_else(|| "default".into()),
                        ),
                        _ => None,
                    },
                })
                .collect(),
        ),
    };
    vec![to_value(&role_object), to_value(&binding)]
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

fn plain_env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..EnvVar::default()
    }
}

fn worker_pod(
    product: &DataProduct,
    settings: &PlatformSettings,
    service_account: &str,
    plan_map: &str,
) -> PodTemplateSpec {
    let probe = |path: &str| Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("metrics".into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(10),
        ..Probe::default()
    };
    let mut pod_labels = labels::for_child(product, "ingest");
    pod_labels.extend(labels::worker_selector(product));
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(pod_labels),
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
                args: Some(vec![
                    "ingest".into(),
                    "--plan".into(),
                    format!("{PLAN_MOUNT_PATH}/{PLAN_CONFIGMAP_KEY}"),
                ]),
                env: Some(vec![
                    plain_env("MESHPLANE_S3_ENDPOINT", &settings.s3_endpoint),
                    plain_env("AWS_REGION", &settings.s3_region),
                    secret_env(
                        "AWS_ACCESS_KEY_ID",
                        &settings.s3_credentials_secret,
                        "access-key-id",
                    ),
                    secret_env(
                        "AWS_SECRET_ACCESS_KEY",
                        &settings.s3_credentials_secret,
                        "secret-access-key",
                    ),
                    secret_env("MESHPLANE_MASKING_KEY", &settings.masking_key_secret, "key"),
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
                liveness_probe: Some(probe("/healthz")),
                readiness_probe: Some(probe("/readyz")),
                resources: Some(ResourceRequirements {
                    requests: Some(BTreeMap::from([
                        ("cpu".into(), Quantity("250m".into())),
                        ("memory".into(), Quantity("256Mi".into())),
                    ])),
                    limits: Some(BTreeMap::from([("memory".into(), Quantity("1Gi".into()))])),
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
                    name: plan_map.into(),
                    ..ConfigMapVolumeSource::default()
                }),
                ..Volume::default()
            }]),
            ..PodSpec::default()
        }),
    }
}
