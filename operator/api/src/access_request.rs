//! The `AccessRequest` custom resource: a consumer asks to read a data product.

use crate::common::{Classification, SubjectKind};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Annotation the admission webhook sets on creation: the user who filed the request.
/// It cannot be set or changed by anyone else.
pub const REQUESTED_BY_ANNOTATION: &str = "meshplane.dev/requested-by";
/// Annotation an approver sets to decide: `approved` or `denied`. The admission webhook
/// accepts it only from a user allowed the `approve` verb on the product who is neither
/// the requester nor the subject.
pub const APPROVAL_ANNOTATION: &str = "meshplane.dev/approval";
/// Annotation the admission webhook sets with the approval: the user who decided.
pub const DECIDED_BY_ANNOTATION: &str = "meshplane.dev/decided-by";
/// The values of [`APPROVAL_ANNOTATION`].
pub const APPROVED: &str = "approved";
/// See [`APPROVED`].
pub const DENIED: &str = "denied";
/// The RBAC verb on `dataproducts` that lets a user decide access requests for a product.
pub const APPROVE_VERB: &str = "approve";

/// A request to read a data product, filed in the consumer's namespace. Meshplane decides
/// it with the GovernancePolicies' access rules: a subject they allow (or the product
/// lists as a reader) is granted at once; any other waits for someone allowed to
/// `approve` the product. A grant gives the subject read credentials scoped to that one
/// product, and is revoked when the request is deleted, expires or the product goes.
#[derive(CustomResource, Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[kube(
    group = "meshplane.dev",
    version = "v1alpha1",
    kind = "AccessRequest",
    derive = "PartialEq",
    plural = "accessrequests",
    singular = "accessrequest",
    shortname = "ar",
    category = "meshplane",
    namespaced,
    status = "AccessRequestStatus",
    printcolumn = r#"{"name":"Product","type":"string","jsonPath":".status.product"}"#,
    printcolumn = r#"{"name":"Subject","type":"string","jsonPath":".status.subject"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Decided By","type":"string","jsonPath":".status.decidedBy"}"#,
    printcolumn = r#"{"name":"Expires","type":"date","jsonPath":".spec.expiresAt"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct AccessRequestSpec {
    /// The product to read.
    pub product: ProductReference,
    /// Who will read: the identity the grant's RBAC binding and credentials are for.
    pub subject: AccessSubject,
    /// Why the subject needs the product (shown to the approver and to auditors).
    #[schemars(length(min = 1, max = 1024))]
    pub purpose: String,
    /// The most sensitive columns the subject needs. Defaults to the product's
    /// classification (every column); a lower level hides the columns above it on the
    /// query port and in the Trino access rules the catalog serves, and gives no
    /// object-store keys, which would read every column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<Classification>,
    /// When the grant ends (RFC 3339). Absent: until the request is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Time>,
}

/// A data product by name.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ProductReference {
    /// Name of the DataProduct.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Namespace of the DataProduct; defaults to the request's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// The identity that reads.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AccessSubject {
    /// `User`, `Group` or `ServiceAccount`.
    pub kind: SubjectKind,
    /// Name of the user, group or service account.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Namespace of a ServiceAccount; defaults to the request's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Where a request stands.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessPhase {
    /// Waiting for someone allowed to approve the product.
    Pending,
    /// Approved; the grant is issued (see `status.grant`).
    Granted,
    /// Refused: by an approver, or because the product does not exist.
    Denied,
    /// The grant reached `spec.expiresAt` and was revoked.
    Expired,
}

impl std::fmt::Display for AccessPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AccessPhase::Pending => "Pending",
            AccessPhase::Granted => "Granted",
            AccessPhase::Denied => "Denied",
            AccessPhase::Expired => "Expired",
        })
    }
}

/// What a request was granted.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Grant {
    /// The Secret in the request's namespace the subject may read: the table's location
    /// and, when `objectStoreAccess` is true, read-only keys for this product alone.
    pub credentials_secret: String,
    /// Whether the Secret holds object-store keys (only when every column is granted).
    pub object_store_access: bool,
    /// The access key id of those keys (the secret key is only in the Secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// The most sensitive columns granted.
    pub classification: Classification,
    /// The columns the subject sees; the rest are hidden from it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
    /// When the grant was issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_at: Option<Time>,
}

/// Observed state of an AccessRequest.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct AccessRequestStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Pending`, `Granted`, `Denied` or `Expired`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<AccessPhase>,
    /// The product, as `namespace/name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// The subject, as `Kind:name` (`ServiceAccount:namespace/name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Who or what decided: `policy/<name>`, `readers-of/<product>` or `user/<name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// Why the request is in its phase, in a sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The grant, while the request is `Granted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<Grant>,
    /// Conditions: `Ready` (True while granted) and `Approved`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// While granted: the product's service levels as its controller last judged them,
    /// so the consumer sees them without reading the product (one entry per SLO the
    /// product declares and the platform measures).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_levels: Vec<ServiceLevelState>,
}

/// A product's service level, as seen by a consumer holding a grant.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceLevelState {
    /// The service level: `freshness` or `completeness`.
    pub slo: String,
    /// The promise as the product declares it, e.g. `10m` or `99.5`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// `True` (met), `False` (breached) or `Unknown` (not measured, with the reason).
    pub status: String,
    /// Why, e.g. `WithinSLO`, `FreshnessSLOBreached`, `PrometheusUnavailable`.
    pub reason: String,
    /// Since when the status holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Time>,
}

impl AccessSubject {
    /// `Kind:name`, or `ServiceAccount:namespace/name` with the namespace defaulted to
    /// `request_namespace` — the form policies' access rules and statuses use.
    pub fn qualified_name(&self, request_namespace: &str) -> String {
        match self.kind {
            SubjectKind::ServiceAccount => format!(
                "ServiceAccount:{}/{}",
                self.namespace.as_deref().unwrap_or(request_namespace),
                self.name
            ),
            kind => format!("{kind}:{}", self.name),
        }
    }

    /// The user name the API server gives this subject, when it is one user: a
    /// ServiceAccount's `system:serviceaccount:<ns>:<name>` or a User's name.
    pub fn user_name(&self, request_namespace: &str) -> Option<String> {
        match self.kind {
            SubjectKind::ServiceAccount => Some(format!(
                "system:serviceaccount:{}:{}",
                self.namespace.as_deref().unwrap_or(request_namespace),
                self.name
            )),
            SubjectKind::User => Some(self.name.clone()),
            SubjectKind::Group => None,
        }
    }
}

impl AccessRequest {
    /// The request's namespace.
    pub fn namespace_or_default(&self) -> String {
        self.metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into())
    }

    /// The product's `(namespace, name)`.
    pub fn product_key(&self) -> (String, String) {
        (
            self.spec
                .product
                .namespace
                .clone()
                .unwrap_or_else(|| self.namespace_or_default()),
            self.spec.product.name.clone(),
        )
    }
}
