//! One reconcile of a DataProduct: the named steps in order, each returning a report, and
//! the status derived from the reports in one place ([`crate::status::derive_status`]).

use crate::cleanup::{clean_up, ensure_finalizer};
use crate::completeness::CompletenessSlo;
use crate::context::{event, key, lock, write_status, Context};
use crate::error::ReconcileError;
use crate::slo::FreshnessSlo;
use crate::status::{derive_status, was_provisioned, ConditionType, Failure, Outcome, Reports};
use crate::steps::{children::children, decide::decide, storage::storage, workload::workload};
use crate::topics::ensure_topics;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::ResourceExt;
use meshplane_api::{DataProduct, DataProductStatus, ProductEndpoints};
use meshplane_planner::workload::{pin_secret_versions, secret_versions_text};
use meshplane_planner::{plan, DesiredState, TopicRole};
use std::sync::Arc;
use std::time::Duration;

/// How often a healthy product is looked at again, to repair drift.
pub const RESYNC: Duration = Duration::from_secs(300);
/// Longest wait between retries of a failing product.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// How soon a product waiting on another system (a topic operator) is looked at again.
const WAITING: Duration = Duration::from_secs(10);

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

/// True when the product was fully provisioned with this fingerprint within the resync
/// period, its status still says so (Ready, or not Ready only for its workload), and none
/// of its children changed since. Such a product needs only its workload looked at, and
/// that refresh is what flips Ready as workers come and go.
fn recently_provisioned(ctx: &Context, product: &DataProduct, fingerprint: u64) -> bool {
    let children_changed = ctx.take_children_changed(product);
    !children_changed
        && was_provisioned(product.status.as_ref(), product.metadata.generation)
        && lock(&ctx.provisioned)
            .get(&ObjectRef::from_obj(product))
            .is_some_and(|(f, at)| *f == fingerprint && at.elapsed() < RESYNC)
}

/// Reconciles one product: clean-up when it is being deleted, else the steps.
pub async fn reconcile(
    product: Arc<DataProduct>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let timer = ctx.metrics.duration.start_timer();
    if product.metadata.deletion_timestamp.is_some() {
        let result = clean_up(&ctx, &product).await;
        timer.observe_duration();
        ctx.metrics.forget(&key(&product));
        lock(&ctx.measured_completeness).remove(&ObjectRef::from_obj(&*product));
        lock(&ctx.worker_keys_checked).remove(&ObjectRef::from_obj(&*product));
        lock(&ctx.worker_keys_issued).remove(&ObjectRef::from_obj(&*product));
        return result.map(|()| Action::await_change());
    }
    let completeness_slo = completeness_slo(&product);
    let mut reports = Reports {
        freshness: freshness_slo(&product),
        completeness: match &completeness_slo {
            Some(slo) => Some(measure_completeness(&ctx, &product, slo).await),
            None => None,
        },
        ..Reports::default()
    };
    let result = match ensure_finalizer(&ctx, &product).await {
        Ok(()) => provision(&ctx, &product, &mut reports).await,
        Err(e) => Err(e),
    };
    if let Err(error) = &result {
        reports.failure = Some(Failure {
            message: error.to_string(),
        });
    }
    let now = Time(Timestamp::now());
    let (status, outcome) = derive_status(
        product.status.as_ref(),
        &reports,
        product.metadata.generation,
        &now,
    );
    let freshness_change = slo_change(
        product.status.as_ref(),
        &status,
        ConditionType::FreshnessSLOMet,
        crate::slo::BREACHED,
    );
    let completeness_change = slo_change(
        product.status.as_ref(),
        &status,
        ConditionType::CompletenessSLOMet,
        crate::completeness::BREACHED,
    );
    // The verdict changes by itself when the newest event ages past the SLO: look then.
    let breach_in = reports
        .freshness
        .as_ref()
        .and_then(|slo| crate::slo::freshness_of(slo, product.status.as_ref(), &now).breach_in);
    // A failed status write is itself the error to retry; otherwise the step's error is.
    let written = write_status(&ctx, &product, status).await;
    if let (Ok(()), Some((type_, reason, message))) = (&written, freshness_change) {
        event(&ctx, &product, type_, reason, "MeasureFreshness", message).await;
    }
    if let (Ok(()), Some((type_, reason, message))) = (&written, completeness_change) {
        event(
            &ctx,
            &product,
            type_,
            reason,
            "MeasureCompleteness",
            message,
        )
        .await;
    }
    let mut resync = breach_in.map_or(RESYNC, |d| (d + Duration::from_secs(1)).min(RESYNC));
    // A deleted worker-keys Secret is seen only by looking: look that often.
    if ctx.settings.worker_keys_per_product {
        resync = resync.min(crate::secrets::WORKER_KEYS_CHECK);
    }
    // Measured completeness moves with the data: measure again next period.
    if ctx.prometheus.is_some() && completeness_slo.as_ref().is_some_and(|slo| slo.streams) {
        let period = Duration::from_secs(crate::completeness::EVERY_SECONDS.unsigned_abs());
        resync = resync.min(period);
    }
    let result = match (result, written) {
        (Err(e), Err(w)) => {
            tracing::warn!(product = %key(&product), error = %w, "failed to report a failure in the status");
            Err(e)
        }
        (Err(e), Ok(())) | (Ok(_), Err(e)) => Err(e),
        (Ok(fingerprint), Ok(())) => Ok(fingerprint),
    };
    timer.observe_duration();
    let state = match (&result, outcome) {
        (Err(_), _) | (_, Outcome::Failed) => "failing",
        (_, Outcome::NonCompliant) => "non_compliant",
        (_, Outcome::Waiting | Outcome::Refreshed) => "waiting",
        (_, Outcome::WorkloadDown) => "unavailable",
        (_, Outcome::Provisioned) => "ready",
    };
    let label = if result.is_ok() { "ok" } else { "error" };
    ctx.metrics.reconciles.with_label_values(&[label]).inc();
    ctx.metrics.set_state(key(&product), state);
    match result {
        Err(error) => {
            event(
                &ctx,
                &product,
                EventType::Warning,
                "ProvisioningFailed",
                "Provision",
                error.to_string(),
            )
            .await;
            Err(error)
        }
        Ok(fingerprint) => Ok(match outcome {
            // Provisioned either way: a refresh is enough until something changes, and
            // the watches of the workers' Deployment and pods bring that refresh.
            Outcome::Provisioned | Outcome::WorkloadDown => {
                let object = ObjectRef::from_obj(&*product);
                lock(&ctx.failures).remove(&object);
                if let Some(fingerprint) = fingerprint {
                    lock(&ctx.provisioned).insert(object, (fingerprint, std::time::Instant::now()));
                }
                Action::requeue(resync)
            }
            Outcome::Refreshed => Action::requeue(resync),
            Outcome::Waiting => Action::requeue(WAITING),
            // A policy change re-evaluates every product; otherwise wait for a change.
            Outcome::NonCompliant => Action::await_change(),
            Outcome::Failed => Action::requeue(WAITING),
        }),
    }
}

/// The steps after the finalizer, filling `reports` as they go. Returns the fingerprint of
/// a full pass (None for a refresh or a non-compliant product).
async fn provision(
    ctx: &Context,
    product: &DataProduct,
    reports: &mut Reports,
) -> Result<Option<u64>, ReconcileError> {
    let (decision, decided) = decide(ctx, product).await;
    let allowed = decided.allowed;
    reports.decide = Some(decided);
    if !allowed {
        return Ok(None);
    }
    // Nothing that shapes the provisioning changed since the last full pass (this reconcile
    // comes from a status write or the workload's status): refresh the workload only.
    let fingerprint = fingerprint(product, &decision.effective);
    if recently_provisioned(ctx, product, fingerprint)
        && !crate::secrets::worker_keys_missing(ctx, product).await
    {
        reports.workload = Some(workload(ctx, product).await?);
        return Ok(None);
    }
    let mut desired = plan(&decision.effective, &ctx.settings)?;
    reports.endpoints = Some(endpoints(product, &desired));
    reports.storage = Some(storage(ctx, product, &desired.bucket, &desired.ingest_plan).await?);
    let secrets = crate::secrets::ensure_secrets(ctx, product, &desired.bucket).await?;
    reports.worker_credentials = secrets.credentials;
    pin_secret_versions(
        &mut desired.children.workload,
        &secret_versions_text(product, &ctx.settings, &secrets.versions),
    );
    reports.children = Some(children(ctx, product, &desired).await?);
    reports.topics = Some(ensure_topics(ctx, product, &desired.topics).await?);
    reports.workload = Some(workload(ctx, product).await?);
    Ok(Some(fingerprint))
}

/// The product's freshness SLO, if it declares one that parses (admission checks it).
fn freshness_slo(product: &DataProduct) -> Option<FreshnessSlo> {
    let text = product.spec.slo.as_ref()?.freshness.clone()?;
    let limit = meshplane_api::duration::parse(&text).ok()?;
    Some(FreshnessSlo {
        text,
        limit,
        streams: meshplane_planner::workload::streams(product),
    })
}

/// The product's completeness SLO, if it declares one.
fn completeness_slo(product: &DataProduct) -> Option<CompletenessSlo> {
    let target_percent = product.spec.slo.as_ref()?.completeness?;
    Some(CompletenessSlo {
        target_percent,
        streams: meshplane_planner::workload::streams(product),
    })
}

/// Asks the platform's Prometheus for the product's rejected and written records of the
/// window, evaluated at the start of the current period.
async fn measure_completeness(
    ctx: &Context,
    product: &DataProduct,
    slo: &CompletenessSlo,
) -> crate::completeness::CompletenessVerdict {
    use crate::completeness::{completeness, evaluation_time, queries, Measurement};
    // Products that do not stream are not measured: the verdict says so without asking.
    let measurement = match &ctx.prometheus {
        Some(prometheus) if slo.streams => {
            let at = evaluation_time(Timestamp::now().as_second());
            let object = ObjectRef::from_obj(product);
            // Workers' status reports bring a reconcile every few seconds: ask Prometheus
            // once per evaluation time, whose answer is the same until the next one.
            let cached = lock(&ctx.measured_completeness).get(&object).cloned();
            match cached {
                Some(measured @ Measurement::Counts { at: was, .. }) if was == at => measured,
                _ => {
                    let (rejected, written) = queries(&key(product));
                    let measured = match (
                        prometheus.scalar_at(&rejected, at).await,
                        prometheus.scalar_at(&written, at).await,
                    ) {
                        (Ok(rejected), Ok(written)) => Measurement::Counts {
                            rejected,
                            written,
                            at,
                        },
                        (Err(e), _) | (_, Err(e)) => Measurement::Failed(e.to_string()),
                    };
                    lock(&ctx.measured_completeness).insert(object, measured.clone());
                    measured
                }
            }
        }
        _ => Measurement::NoPrometheus,
    };
    completeness(slo, &measurement)
}

/// The Event a change of an SLO condition deserves: a Warning `breached` when it turns
/// `False` (from `True` or `Unknown`), a Normal one named after the condition when a
/// breach ends (`False` → `True`). None for the first verdict or a change to `Unknown`.
fn slo_change(
    previous: Option<&DataProductStatus>,
    next: &DataProductStatus,
    type_: ConditionType,
    breached: &'static str,
) -> Option<(EventType, &'static str, String)> {
    let find = |s: &DataProductStatus| {
        s.conditions
            .iter()
            .find(|c| c.type_ == type_.as_str())
            .cloned()
    };
    let after = find(next)?;
    let before = previous.and_then(find);
    let was = before.as_ref().map(|c| c.status.as_str());
    match (was, after.status.as_str()) {
        (Some("True" | "Unknown"), "False") => Some((EventType::Warning, breached, after.message)),
        (Some("False"), "True") => Some((EventType::Normal, type_.as_str(), after.message)),
        _ => None,
    }
}

/// Where users find the product's data.
fn endpoints(product: &DataProduct, desired: &DesiredState) -> ProductEndpoints {
    ProductEndpoints {
        bucket: Some(desired.bucket.name.clone()),
        prefix: Some(desired.bucket.table_prefix.clone()),
        topic: desired
            .topics
            .iter()
            .find(|t| t.role == TopicRole::Source)
            .map(|t| t.name.clone()),
        stream_topic: product.spec.output.stream.as_ref().map(|s| s.topic.clone()),
        dashboard: Some(format!("{}-dashboard", product.name_any())),
    }
}

/// Exponential backoff per product (1 s, 2 s, 4 s ... 5 min) with jitter.
pub fn error_policy(
    product: Arc<DataProduct>,
    error: &ReconcileError,
    ctx: Arc<Context>,
) -> Action {
    ctx.metrics
        .failures
        .with_label_values(&[error.metric_label()])
        .inc();
    let mut failures = lock(&ctx.failures);
    let count = failures.entry(ObjectRef::from_obj(&*product)).or_insert(0);
    *count = count.saturating_add(1);
    let base = Duration::from_secs(1u64 << (*count - 1).min(9)).min(MAX_BACKOFF);
    let jitter = Duration::from_millis(
        u64::from(Timestamp::now().subsec_millisecond().unsigned_abs()) % 1000,
    );
    tracing::warn!(product = %key(&product), reason = error.metric_label(), error = %error, retry_in = ?(base + jitter), "reconcile failed");
    Action::requeue(base + jitter)
}
