//! The AccessRequest reconciler: decide ([`decision`], pure), then grant or revoke, then
//! write the status. A grant is a Secret in the request's namespace with the product's
//! location (and read-only object-store keys for that product alone), readable by the
//! subject only; revoking deletes the keys' user in the object store and the Secret.
//! Requests are re-decided when their product changes, when the policies change, and
//! at their expiry.

pub mod decision;
pub mod service_levels;

use crate::conditions::{set, ConditionType};
use crate::context::{merge_patch, Context};
use decision::{decide, Outcome};
use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType};
use kube::runtime::finalizer::{finalizer, Event as Finalizing};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use meshplane_api::{AccessPhase, AccessRequest, AccessRequestStatus, DataProduct, Grant};
use meshplane_effects::grants::{
    apply_access, create_secret, delete_grant, secret_missing, GrantError,
};
use meshplane_effects::identity::IdentityError;
use meshplane_planner::grants::{
    grant_access, grant_meta, grant_name, grant_secret_data, grant_user, GrantLocation,
};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

/// The finalizer that revokes a request's grant before the request goes.
pub const GRANT_FINALIZER: &str = "meshplane.dev/access-grant";

/// How often a granted request checks that its Secret is still there (deleting it
/// rotates the keys).
const ROTATION_CHECK: Duration = Duration::from_secs(30);
/// How often a request that is not granted is decided again without a trigger.
const RECHECK: Duration = Duration::from_secs(300);

/// A step of an access reconcile failed.
#[derive(Debug, Error)]
pub enum AccessError {
    /// The product could not be read.
    #[error("failed to read DataProduct {product}: {source}")]
    Product {
        /// `namespace/name`.
        product: String,
        /// Cause.
        source: kube::Error,
    },
    /// The product's bucket could not be named.
    #[error(transparent)]
    Plan(#[from] meshplane_planner::PlanError),
    /// A grant object could not be written or deleted.
    #[error(transparent)]
    Grant(#[from] GrantError),
    /// The object store could not issue or revoke the keys.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The status could not be written.
    #[error("failed to write the status of AccessRequest {request}: {source}")]
    Status {
        /// `namespace/name`.
        request: String,
        /// Cause.
        source: kube::Error,
    },
    /// The finalizer could not be added or removed.
    #[error("failed to update the finalizer of AccessRequest {request}: {message}")]
    Finalizer {
        /// `namespace/name`.
        request: String,
        /// Why.
        message: String,
    },
}

fn key(request: &AccessRequest) -> String {
    format!("{}/{}", request.namespace_or_default(), request.name_any())
}

/// Runs the AccessRequest controller until `shutdown` completes.
pub async fn run(
    ctx: Arc<Context>,
    policy_generation: tokio::sync::watch::Receiver<u64>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let policy_changes = futures::stream::unfold(policy_generation, |mut rx| async move {
        rx.changed().await.ok()?;
        Some(((), rx))
    });
    let requests: Api<AccessRequest> = Api::all(ctx.client.clone());
    let products: Api<DataProduct> = Api::all(ctx.client.clone());
    let controller = Controller::new(requests, watcher::Config::default());
    let store = controller.store();
    controller
        // A product's change (created, reclassified, readers edited, deleted) re-decides
        // every request for it.
        .watches(products, watcher::Config::default(), move |product| {
            let namespace = product.namespace().unwrap_or_default();
            let name = product.name_any();
            store
                .state()
                .iter()
                .filter(|r| r.product_key() == (namespace.clone(), name.clone()))
                .map(|r| ObjectRef::from_obj(r.as_ref()))
                .collect::<Vec<_>>()
        })
        // A policy's access rules may now allow, or no longer allow, a subject.
        .reconcile_all_on(policy_changes)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "access reconcile did not complete");
            }
        })
        .await;
}

fn error_policy(request: Arc<AccessRequest>, error: &AccessError, _ctx: Arc<Context>) -> Action {
    tracing::warn!(request = %key(&request), error = %error, "access reconcile failed; retrying");
    Action::requeue(Duration::from_secs(5))
}

async fn reconcile(request: Arc<AccessRequest>, ctx: Arc<Context>) -> Result<Action, AccessError> {
    let api: Api<AccessRequest> =
        Api::namespaced(ctx.client.clone(), &request.namespace_or_default());
    let name = key(&request);
    finalizer(&api, GRANT_FINALIZER, request, |event| async {
        match event {
            Finalizing::Apply(request) => decide_and_apply(&request, &ctx).await,
            Finalizing::Cleanup(request) => {
                revoke(&request, &ctx).await?;
                Ok(Action::await_change())
            }
        }
    })
    .await
    .map_err(|e| match e {
        kube::runtime::finalizer::Error::ApplyFailed(e)
        | kube::runtime::finalizer::Error::CleanupFailed(e) => e,
        other => AccessError::Finalizer {
            request: name,
            message: other.to_string(),
        },
    })
}

async fn decide_and_apply(request: &AccessRequest, ctx: &Context) -> Result<Action, AccessError> {
    let (namespace, name) = request.product_key();
    let products: Api<DataProduct> = Api::namespaced(ctx.client.clone(), &namespace);
    let product = products
        .get_opt(&name)
        .await
        .map_err(|source| AccessError::Product {
            product: format!("{namespace}/{name}"),
            source,
        })?;
    let engine = ctx.engine.engine();
    let now = Timestamp::now();
    let outcome = decide(
        request,
        product.as_ref(),
        |product, kind, subject, level| engine.decide_access(product, kind, subject, level),
        now,
    );
    let previous = request.status.clone().unwrap_or_default();
    let grant = match (&outcome, &product) {
        (Outcome::Grant { plan, .. }, Some(product)) => {
            Some(issue(request, product, plan, previous.grant.as_ref(), ctx).await?)
        }
        // Only what may have been granted is revoked: a request that stays pending or
        // denied costs no object-store call on each re-check.
        _ if previous.grant.is_some() || previous.phase != Some(outcome.phase()) => {
            revoke(request, ctx).await?;
            None
        }
        _ => None,
    };
    // A grant holder sees the product's SLO state in its own namespace.
    let levels = match (&grant, &product) {
        (Some(_), Some(product)) => service_levels::service_levels(product),
        _ => Vec::new(),
    };
    let status = status_for(request, &outcome, grant, levels, &previous, now);
    if previous.phase != status.phase {
        announce(ctx, request, &outcome).await;
    }
    write_status(ctx, request, &previous, &status).await?;
    Ok(match (&outcome, &request.spec.expires_at) {
        (Outcome::Grant { .. }, Some(expiry)) => {
            let left = expiry.0.duration_since(now).unsigned_abs();
            Action::requeue(left.min(ROTATION_CHECK))
        }
        (Outcome::Grant { .. }, None) => Action::requeue(ROTATION_CHECK),
        (Outcome::Pending { .. }, Some(expiry)) => {
            Action::requeue(expiry.0.duration_since(now).unsigned_abs().min(RECHECK))
        }
        _ => Action::requeue(RECHECK),
    })
}

/// Makes the grant exist: Role and binding applied, the Secret created when missing
/// (with new keys: a deleted Secret is how keys are rotated).
async fn issue(
    request: &AccessRequest,
    product: &DataProduct,
    plan: &decision::GrantPlan,
    previous: Option<&Grant>,
    ctx: &Context,
) -> Result<Grant, AccessError> {
    let (role, binding) = grant_access(request);
    apply_access(&ctx.client, &role, &binding).await?;
    let metadata = grant_meta(request);
    let mut access_key_id = previous.and_then(|g| g.access_key_id.clone());
    let mut issued_at = previous.and_then(|g| g.issued_at.clone());
    if secret_missing(&ctx.client, &metadata).await? {
        let bucket = meshplane_planner::external::bucket(product, &ctx.settings)?;
        let keys = match (&ctx.identity, plan.object_store) {
            (Some(identity), true) => Some(
                identity
                    .issue_reader(&grant_user(request), &bucket.name)
                    .await?,
            ),
            _ => None,
        };
        let location = GrantLocation {
            product: format!(
                "{}/{}",
                product.namespace().unwrap_or_default(),
                product.name_any()
            ),
            bucket: bucket.name,
            prefix: bucket.table_prefix,
            endpoint: ctx.settings.s3_endpoint.clone(),
            region: ctx.settings.s3_region.clone(),
        };
        let data = grant_secret_data(
            &location,
            &plan.columns,
            keys.as_ref()
                .map(|k| (k.access_key_id.as_str(), k.secret_access_key.as_str())),
        );
        create_secret(&ctx.client, &metadata, data).await?;
        access_key_id = keys.map(|k| k.access_key_id);
        issued_at = Some(Time(Timestamp::now()));
    }
    Ok(Grant {
        credentials_secret: grant_name(request),
        object_store_access: access_key_id.is_some(),
        access_key_id,
        classification: plan.classification,
        columns: plan.columns.clone(),
        issued_at,
    })
}

/// Removes everything a grant gave: the object-store user (its keys first), the Secret,
/// the Role and the binding. Idempotent.
async fn revoke(request: &AccessRequest, ctx: &Context) -> Result<(), AccessError> {
    if let Some(identity) = &ctx.identity {
        identity.revoke(&grant_user(request)).await?;
    }
    delete_grant(
        &ctx.client,
        &request.namespace_or_default(),
        &grant_name(request),
    )
    .await?;
    Ok(())
}

fn status_for(
    request: &AccessRequest,
    outcome: &Outcome,
    grant: Option<Grant>,
    service_levels: Vec<meshplane_api::ServiceLevelState>,
    previous: &AccessRequestStatus,
    now: Timestamp,
) -> AccessRequestStatus {
    let generation = request.metadata.generation;
    let now = Time(now);
    let (product_namespace, product_name) = request.product_key();
    let mut conditions = previous.conditions.clone();
    let (decided_by, message) = match outcome {
        Outcome::Grant {
            decided_by,
            message,
            ..
        } => (Some(decided_by.clone()), message.clone()),
        Outcome::Pending { message } => (None, message.clone()),
        Outcome::Closed {
            decided_by,
            message,
            ..
        } => (decided_by.clone(), message.clone()),
    };
    let (approved, approved_reason) = match outcome {
        Outcome::Grant { .. } => ("True", "Approved"),
        Outcome::Pending { .. } => ("Unknown", "AwaitingApproval"),
        Outcome::Closed { reason, .. } => ("False", *reason),
    };
    crate::conditions::set_status(
        &mut conditions,
        ConditionType::Approved,
        approved,
        approved_reason,
        message.clone(),
        generation,
        &now,
    );
    let ready_reason = match outcome {
        Outcome::Grant { .. } => "Granted",
        Outcome::Pending { .. } => "AwaitingApproval",
        Outcome::Closed { reason, .. } => reason,
    };
    set(
        &mut conditions,
        ConditionType::Ready,
        grant.is_some(),
        ready_reason,
        match &grant {
            Some(g) => format!(
                "the subject may read Secret {} ({} columns up to {})",
                g.credentials_secret,
                g.columns.len(),
                g.classification
            ),
            None => message.clone(),
        },
        generation,
        &now,
    );
    AccessRequestStatus {
        observed_generation: generation,
        phase: Some(outcome.phase()),
        product: Some(format!("{product_namespace}/{product_name}")),
        subject: Some(
            request
                .spec
                .subject
                .qualified_name(&request.namespace_or_default()),
        ),
        decided_by,
        message: Some(message),
        grant,
        conditions,
        service_levels,
    }
}

/// An Event on the request when its phase changes.
async fn announce(ctx: &Context, request: &AccessRequest, outcome: &Outcome) {
    let (type_, reason) = match outcome {
        Outcome::Grant { .. } => (EventType::Normal, "Granted"),
        Outcome::Pending { .. } => (EventType::Normal, "AwaitingApproval"),
        Outcome::Closed {
            phase: AccessPhase::Expired,
            ..
        } => (EventType::Normal, "Expired"),
        Outcome::Closed { reason, .. } => (EventType::Warning, *reason),
    };
    let note = match outcome {
        Outcome::Grant { message, .. }
        | Outcome::Pending { message }
        | Outcome::Closed { message, .. } => message.clone(),
    };
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: "Decide".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&event, &request.object_ref(&())).await {
        tracing::warn!(request = %key(request), error = %e, "failed to record an event");
    }
}

async fn write_status(
    ctx: &Context,
    request: &AccessRequest,
    previous: &AccessRequestStatus,
    status: &AccessRequestStatus,
) -> Result<(), AccessError> {
    if request.status.as_ref() == Some(status) {
        return Ok(());
    }
    let api: Api<AccessRequest> =
        Api::namespaced(ctx.client.clone(), &request.namespace_or_default());
    let before = serde_json::to_value(previous).unwrap_or_default();
    let after = serde_json::to_value(status).unwrap_or_default();
    api.patch_status(
        &request.name_any(),
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({ "status": merge_patch(&before, &after) })),
    )
    .await
    .map_err(|source| AccessError::Status {
        request: key(request),
        source,
    })?;
    Ok(())
}
