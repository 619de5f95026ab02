//! One reconcile of a DataProduct, and the controller that drives them.

use crate::cleanup::{clean_up, ensure_finalizer};
use crate::conditions::set;
use crate::secrets::{ensure_secrets, Credentials};
use crate::topics::ensure_topics;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use meshplane_api::{DataProduct, DataProductStatus, ProductEndpoints};
use meshplane_effects::apply::{apply_all, ApplyError};
use meshplane_effects::kafka::{KafkaAdmin, KafkaAdminError};
use meshplane_effects::s3::{ensure_bucket, S3Error};
use meshplane_effects::secrets::SecretError;
use meshplane_effects::strimzi::StrimziError;
use meshplane_governance::SharedEngine;
use meshplane_planner::{plan, PlanError, PlatformSettings};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use thiserror::Error;

/// How often a healthy product is looked at again, to repair drift.
const RESYNC: Duration = Duration::from_secs(300);
/// Longest wait between retries of a failing product.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// How soon a product waiting on another system (a topic operator) is looked at again.
const WAITING: Duration = Duration::from_secs(10);

/// What a reconcile needs.
pub struct Context {
    /// Kubernetes client.
    pub client: Client,
    /// The governance engine in force.
    pub engine: Arc<SharedEngine>,
    /// Platform settings for the planner.
    pub settings: PlatformSettings,
    /// Object store client.
    pub s3: aws_sdk_s3::Client,
    /// Kafka admin client, in direct topic mode.
    pub kafka: Option<KafkaAdmin>,
    /// Key pairs handed to workers and readers.
    pub credentials: Credentials,
    /// Reconciles running at once.
    pub concurrency: u16,
    /// Prometheus metrics.
    pub metrics: crate::metrics::Metrics,
    /// Publishes Kubernetes Events on products.
    recorder: Recorder,
    /// Consecutive failures per product, for exponential backoff and bounded clean-up.
    pub(crate) failures: Mutex<HashMap<ObjectRef<DataProduct>, u32>>,
    /// Failed clean-up attempts per product being deleted.
    pub(crate) cleanup_attempts: Mutex<HashMap<ObjectRef<DataProduct>, u32>>,
    /// Fingerprint and time of each product's last complete provisioning pass.
    pub(crate) provisioned: Mutex<HashMap<ObjectRef<DataProduct>, (u64, std::time::Instant)>>,
    /// Namespaces whose shared Secrets (S3 credentials, masking key) are known to exist.
    pub(crate) namespaces_with_secrets: Mutex<std::collections::HashSet<String>>,
}

impl Context {
    /// A context with no failures recorded.
    pub fn new(
        client: Client,
        engine: Arc<SharedEngine>,
        settings: PlatformSettings,
        s3: aws_sdk_s3::Client,
        kafka: Option<KafkaAdmin>,
        credentials: Credentials,
    ) -> Self {
        let reporter = Reporter {
            controller: "meshplane-controller".into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        let recorder = Recorder::new(client.clone(), reporter);
        Context {
            client,
            engine,
            settings,
            s3,
            kafka,
            credentials,
            concurrency: 16,
            recorder,
            metrics: crate::metrics::Metrics::default(),
            failures: Mutex::default(),
            cleanup_attempts: Mutex::default(),
            provisioned: Mutex::default(),
            namespaces_with_secrets: Mutex::default(),
        }
    }
}

impl Context {
    /// True when the product was fully provisioned with this fingerprint within the resync
    /// period and its status still says so.
    fn recently_provisioned(&self, product: &DataProduct, fingerprint: u64) -> bool {
        let ready = product.status.as_ref().is_some_and(|s| {
            s.conditions.iter().any(|c| {
                c.type_ == "Ready"
                    && c.status == "True"
                    && c.observed_generation == product.metadata.generation
            })
        });
        ready
            && self
                .provisioned
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&ObjectRef::from_obj(product))
                .is_some_and(|(f, at)| *f == fingerprint && at.elapsed() < RESYNC)
    }
}

/// What shapes a product's provisioning: its effective spec (policies included), labels,
/// annotations and identity. Status and the workload's status are not part of it.
fn fingerprint(product: &DataProduct, effective: &DataProduct) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_string(&effective.spec)
        .unwrap_or_default()
        .hash(&mut hasher);
    product.metadata.uid.hash(&mut hasher);
    product.metadata.labels.hash(&mut hasher);
    product.metadata.annotations.hash(&mut hasher);
    hasher.finish()
}

/// A step of a reconcile failed; retried with backoff.
#[derive(Debug, Error)]
pub enum ReconcileError {
    /// The product could not be planned.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The bucket could not be provisioned.
    #[error(transparent)]
    Storage(#[from] S3Error),
    /// A Kubernetes child could not be applied.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// A topic could not be provisioned through the Kafka admin API.
    #[error(transparent)]
    Topic(#[from] KafkaAdminError),
    /// A KafkaTopic could not be read or released.
    #[error(transparent)]
    KafkaTopic(#[from] StrimziError),
    /// A Secret the workload references could not be created.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// Direct topic mode without a Kafka admin client (a configuration error).
    #[error("topic mode is direct but no Kafka admin client is configured")]
    NoKafkaAdmin,
    /// The finalizer could not be added or removed.
    #[error("failed to update the finalizers of {product}: {source}")]
    Finalizer {
        /// `namespace/name`.
        product: String,
        /// Cause.
        source: kube::Error,
    },
    /// The ingestion Deployment could not be read.
    #[error("failed to read the ingestion Deployment of {product}: {source}")]
    Workload {
        /// `namespace/name`.
        product: String,
        /// Cause.
        source: kube::Error,
    },
    /// The status could not be written.
    #[error("failed to write the status of {product}: {source}")]
    Status {
        /// `namespace/name`.
        product: String,
        /// Cause.
        source: kube::Error,
    },
}

impl ReconcileError {
    /// A short stable label for metrics and logs.
    pub fn metric_label(&self) -> &'static str {
        match self {
            ReconcileError::Plan(_) => "plan",
            ReconcileError::Storage(_) => "storage",
            ReconcileError::Apply(_) => "apply",
            ReconcileError::Topic(_) | ReconcileError::NoKafkaAdmin => "topic",
            ReconcileError::KafkaTopic(_) => "kafkatopic",
            ReconcileError::Secret(_) => "secret",
            ReconcileError::Finalizer { .. } => "finalizer",
            ReconcileError::Workload { .. } => "workload",
            ReconcileError::Status { .. } => "status",
        }
    }
}

/// Records an Event on the product; a failure to record is logged, never fatal.
pub(crate) async fn event(
    ctx: &Context,
    product: &DataProduct,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: action.into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &product.object_ref(&())).await {
        tracing::warn!(product = %key(product), error = %e, "failed to record an event");
    }
}

pub(crate) fn key(product: &DataProduct) -> String {
    format!(
        "{}/{}",
        product.namespace().unwrap_or_default(),
        product.name_any()
    )
}

/// Writes the status when it differs from the stored one (so writes never re-trigger).
pub(crate) async fn write_status(
    ctx: &Context,
    product: &DataProduct,
    status: DataProductStatus,
) -> Result<(), ReconcileError> {
    if product.status.as_ref() == Some(&status) {
        return Ok(());
    }
    let api: Api<DataProduct> =
        Api::namespaced(ctx.client.clone(), &product.namespace().unwrap_or_default());
    api.patch_status(
        &product.name_any(),
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({ "status": status })),
    )
    .await
    .map_err(|source| ReconcileError::Status {
        product: key(product),
        source,
    })?;
    Ok(())
}

async fn reconcile(product: Arc<DataProduct>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let timer = ctx.metrics.duration.start_timer();
    if product.metadata.deletion_timestamp.is_some() {
        let result = clean_up(&ctx, &product).await;
        timer.observe_duration();
        ctx.metrics.forget(&key(&product));
        return result.map(|()| Action::await_change());
    }
    let result = match ensure_finalizer(&ctx, &product).await {
        Ok(()) => reconcile_steps(&product, &ctx).await,
        Err(e) => Err(e),
    };
    timer.observe_duration();
    let (outcome, state) = match &result {
        Ok(Outcome::Provisioned) => ("ok", "ready"),
        Ok(Outcome::Waiting) => ("ok", "waiting"),
        Ok(Outcome::NonCompliant) => ("ok", "non_compliant"),
        Err(_) => ("error", "failing"),
    };
    ctx.metrics.reconciles.with_label_values(&[outcome]).inc();
    ctx.metrics.set_state(key(&product), state);
    if let Err(error) = &result {
        report_failure(&ctx, &product, error).await;
        event(
            &ctx,
            &product,
            EventType::Warning,
            "ProvisioningFailed",
            "Provision",
            error.to_string(),
        )
        .await;
    }
    result.map(|o| match o {
        Outcome::Provisioned => Action::requeue(RESYNC),
        Outcome::Waiting => Action::requeue(WAITING),
        // A policy change re-evaluates every product; otherwise wait for a change.
        Outcome::NonCompliant => Action::await_change(),
    })
}

/// Shows a failed step in the product's conditions (unless the status write itself failed).
async fn report_failure(ctx: &Context, product: &DataProduct, error: &ReconcileError) {
    if matches!(error, ReconcileError::Status { .. }) {
        return;
    }
    let now = Time(Timestamp::now());
    let generation = product.metadata.generation;
    let mut status = product.status.clone().unwrap_or_default();
    let message = error.to_string();
    let conditions = &mut status.conditions;
    set(
        conditions,
        "Ready",
        false,
        "ProvisioningFailed",
        message.clone(),
        generation,
        &now,
    );
    set(
        conditions,
        "Reconciling",
        true,
        "ProvisioningFailed",
        message,
        generation,
        &now,
    );
    if let Err(e) = write_status(ctx, product, status).await {
        tracing::warn!(product = %key(product), error = %e, "failed to report a failure in the status");
    }
}

/// How a successful reconcile ended.
enum Outcome {
    /// Everything is provisioned.
    Provisioned,
    /// Provisioned so far; waiting on another system (the topic operator).
    Waiting,
    /// An Enforce policy rejects the product; nothing was provisioned.
    NonCompliant,
}

async fn reconcile_steps(
    product: &Arc<DataProduct>,
    ctx: &Arc<Context>,
) -> Result<Outcome, ReconcileError> {
    let now = Time(Timestamp::now());
    let generation = product.metadata.generation;
    let mut status = product.status.clone().unwrap_or_default();
    status.observed_generation = generation;
    status.source = Some(product.spec.source.summary());
    let conditions = &mut status.conditions;

    // 1. Decide: the engine the webhook uses, on the stored product.
    let decision = ctx.engine.engine().evaluate(product);
    status.compliance_tags = decision.compliance_tags.iter().cloned().collect();
    status.violations = decision
        .violations
        .iter()
        .map(ToString::to_string)
        .collect();
    if !decision.allowed {
        // A policy tightened after admission: report, never rewrite, wait for a change.
        let message = status.violations.join("; ");
        let was_compliant = product
            .status
            .as_ref()
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == "PolicyCompliant"))
            .is_none_or(|c| c.status == "True");
        if was_compliant {
            event(
                ctx,
                product,
                EventType::Warning,
                "PolicyViolation",
                "Evaluate",
                message.clone(),
            )
            .await;
        }
        set(
            conditions,
            "PolicyCompliant",
            false,
            "PolicyViolation",
            message.clone(),
            generation,
            &now,
        );
        set(
            conditions,
            "Ready",
            false,
            "PolicyViolation",
            message,
            generation,
            &now,
        );
        set(
            conditions,
            "Stalled",
            true,
            "PolicyViolation",
            "the product violates an Enforce policy; change the product or the policy".into(),
            generation,
            &now,
        );
        set(
            conditions,
            "Reconciling",
            false,
            "PolicyViolation",
            String::new(),
            generation,
            &now,
        );
        write_status(ctx, product, status).await?;
        return Ok(Outcome::NonCompliant);
    }
    set(
        conditions,
        "PolicyCompliant",
        true,
        "Compliant",
        format!("{} policies apply", decision.policies.len()),
        generation,
        &now,
    );

    // Nothing that shapes the provisioning changed since the last full pass (this reconcile
    // comes from a status write or the workload's status): refresh IngestionReady only.
    let fingerprint = fingerprint(product, &decision.effective);
    if ctx.recently_provisioned(product, fingerprint) {
        let (up, reason, message) = ingestion_state(ctx, product).await?;
        set(
            conditions,
            "IngestionReady",
            up,
            reason,
            message,
            generation,
            &now,
        );
        write_status(ctx, product, status).await?;
        return Ok(Outcome::Provisioned);
    }

    // 2. Plan.
    let desired = plan(&decision.effective, &ctx.settings)?;

    // 3. Storage.
    let report = ensure_bucket(&ctx.s3, &desired.bucket).await?;
    let storage_message = if report.created {
        format!("bucket {} created", desired.bucket.name)
    } else if !report.repaired.is_empty() {
        tracing::warn!(product = %key(product), repaired = ?report.repaired, "bucket drift repaired");
        format!(
            "bucket {} drift repaired: {}",
            desired.bucket.name,
            report.repaired.join(", ")
        )
    } else {
        format!(
            "bucket {} encrypted, expiring after {} days",
            desired.bucket.name, desired.bucket.expiration_days
        )
    };
    let storage_reason = if report.repaired.is_empty() {
        "BucketReady"
    } else {
        "DriftRepaired"
    };
    if report.created {
        event(
            ctx,
            product,
            EventType::Normal,
            "BucketCreated",
            "Provision",
            storage_message.clone(),
        )
        .await;
    } else if !report.repaired.is_empty() {
        event(
            ctx,
            product,
            EventType::Warning,
            "DriftRepaired",
            "Repair",
            storage_message.clone(),
        )
        .await;
    }
    set(
        conditions,
        "StorageReady",
        true,
        storage_reason,
        storage_message,
        generation,
        &now,
    );

    // 4. Secrets the workload and readers reference, then the Kubernetes children.
    ensure_secrets(ctx, product, &desired.bucket).await?;
    apply_all(
        &ctx.client,
        meshplane_effects::FIELD_MANAGER,
        &desired.objects,
    )
    .await?;
    let (workers_up, workers_reason, workers_message) = ingestion_state(ctx, product).await?;
    set(
        conditions,
        "IngestionReady",
        workers_up,
        workers_reason,
        workers_message,
        generation,
        &now,
    );
    set(
        conditions,
        "MonitoringReady",
        true,
        "MonitoringApplied",
        "ServiceMonitor, PrometheusRule and dashboard applied".into(),
        generation,
        &now,
    );
    let topics = ensure_topics(ctx, product, &desired.topics).await?;
    set(
        conditions,
        "TopicReady",
        topics.ready,
        topics.reason,
        topics.message.clone(),
        generation,
        &now,
    );
    status.endpoints = Some(endpoints(product, &desired));
    if !topics.ready {
        let waiting = topics.reason != "KafkaTopicFailed";
        set(
            conditions,
            "Ready",
            false,
            topics.reason,
            topics.message.clone(),
            generation,
            &now,
        );
        set(
            conditions,
            "Reconciling",
            waiting,
            topics.reason,
            topics.message.clone(),
            generation,
            &now,
        );
        set(
            conditions,
            "Stalled",
            !waiting,
            topics.reason,
            topics.message,
            generation,
            &now,
        );
        write_status(ctx, product, status).await?;
        return Ok(Outcome::Waiting);
    }

    // 5. Report.
    set(
        conditions,
        "Ready",
        true,
        "Provisioned",
        "storage, workload, access and monitoring provisioned".into(),
        generation,
        &now,
    );
    set(
        conditions,
        "Reconciling",
        false,
        "Provisioned",
        String::new(),
        generation,
        &now,
    );
    set(
        conditions,
        "Stalled",
        false,
        "Provisioned",
        String::new(),
        generation,
        &now,
    );
    write_status(ctx, product, status).await?;
    ctx.failures
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&ObjectRef::from_obj(product));
    ctx.provisioned
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(
            ObjectRef::from_obj(product),
            (fingerprint, std::time::Instant::now()),
        );
    Ok(Outcome::Provisioned)
}

/// Where users find the product's data.
fn endpoints(product: &DataProduct, desired: &meshplane_planner::DesiredState) -> ProductEndpoints {
    ProductEndpoints {
        bucket: Some(desired.bucket.name.clone()),
        prefix: Some(desired.bucket.table_prefix.clone()),
        topic: desired
            .topics
            .iter()
            .find(|t| t.role == meshplane_planner::TopicRole::Source)
            .map(|t| t.name.clone()),
        stream_topic: product.spec.output.stream.as_ref().map(|s| s.topic.clone()),
        dashboard: Some(format!("{}-dashboard", product.name_any())),
    }
}

/// Whether the ingestion workers run: a Deployment with an available replica, or a
/// batch CronJob (which runs on its schedule).
async fn ingestion_state(
    ctx: &Context,
    product: &DataProduct,
) -> Result<(bool, &'static str, String), ReconcileError> {
    if product.spec.source.batch.is_some() {
        return Ok((true, "Scheduled", "batch ingestion CronJob applied".into()));
    }
    let name = meshplane_planner::names::child(&product.name_any(), "ingest");
    let api: Api<Deployment> =
        Api::namespaced(ctx.client.clone(), &product.namespace().unwrap_or_default());
    let deployment = api
        .get_opt(&name)
        .await
        .map_err(|source| ReconcileError::Workload {
            product: key(product),
            source,
        })?;
    let status = deployment.and_then(|d| d.status).unwrap_or_default();
    let available = status.available_replicas.unwrap_or(0);
    Ok(if available > 0 {
        (
            true,
            "WorkerAvailable",
            format!("{available} ingestion worker(s) available"),
        )
    } else {
        (
            false,
            "WorkerUnavailable",
            format!("Deployment {name} applied; no worker available yet"),
        )
    })
}

/// Exponential backoff per product (1 s, 2 s, 4 s ... 5 min) with jitter.
fn error_policy(product: Arc<DataProduct>, error: &ReconcileError, ctx: Arc<Context>) -> Action {
    ctx.metrics
        .failures
        .with_label_values(&[error.metric_label()])
        .inc();
    let mut failures = ctx.failures.lock().unwrap_or_else(|e| e.into_inner());
    let count = failures.entry(ObjectRef::from_obj(&*product)).or_insert(0);
    *count = count.saturating_add(1);
    let base = Duration::from_secs(1u64 << (*count - 1).min(9)).min(MAX_BACKOFF);
    let jitter = Duration::from_millis(
        u64::from(Timestamp::now().subsec_millisecond().unsigned_abs()) % 1000,
    );
    tracing::warn!(product = %key(&product), reason = error.metric_label(), error = %error, retry_in = ?(base + jitter), "reconcile failed");
    Action::requeue(base + jitter)
}

/// Runs the DataProduct controller until shutdown. `policy_generation` ticks whenever
/// the engine is rebuilt; every product is then re-evaluated.
pub async fn run(
    ctx: Arc<Context>,
    policy_generation: tokio::sync::watch::Receiver<u64>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let products: Api<DataProduct> = Api::all(ctx.client.clone());
    let policy_changes = futures::stream::unfold(policy_generation, |mut rx| async move {
        rx.changed().await.ok()?;
        Some(((), rx))
    });
    let deployments: Api<Deployment> = Api::all(ctx.client.clone());
    let owned = watcher::Config::default().labels(&format!(
        "app.kubernetes.io/managed-by={}",
        meshplane_planner::labels::MANAGED_BY
    ));
    let config = kube::runtime::controller::Config::default().concurrency(ctx.concurrency);
    Controller::new(products, watcher::Config::default())
        .with_config(config)
        .owns(deployments, owned)
        .reconcile_all_on(policy_changes)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((object, _)) => tracing::debug!(product = %object, "reconciled"),
                Err(e) => tracing::debug!(error = %e, "reconcile error"),
            }
        })
        .await;
}
