//! What an approved AccessRequest is given, in the request's namespace: a Secret with the
//! product's location (and read-only keys), and a Role and RoleBinding that let the
//! subject read that Secret alone. Owned by the request, so they go with it.

use crate::names;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject as RbacSubject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use meshplane_api::{AccessRequest, SubjectKind};
use std::collections::BTreeMap;

/// Label naming the AccessRequest a grant object belongs to.
pub const GRANT_LABEL: &str = "meshplane.dev/access-request";

/// Name of the grant's Secret (and of its Role and RoleBinding).
pub fn grant_name(request: &AccessRequest) -> String {
    names::child(
        request.metadata.name.as_deref().unwrap_or_default(),
        "access",
    )
}

/// The object-store user a grant's keys belong to: one per request object (its uid), so
/// a request deleted and filed again never inherits the old keys. IAM allows 64 chars.
pub fn grant_user(request: &AccessRequest) -> String {
    format!(
        "meshplane-grant-{}",
        request.metadata.uid.as_deref().unwrap_or_default()
    )
}

fn owner(request: &AccessRequest) -> Option<Vec<OwnerReference>> {
    Some(vec![OwnerReference {
        api_version: meshplane_api::API_VERSION.into(),
        kind: "AccessRequest".into(),
        name: request.metadata.name.clone()?,
        uid: request.metadata.uid.clone()?,
        controller: Some(true),
        block_owner_deletion: Some(true),
    }])
}

/// Metadata of each grant object.
pub fn grant_meta(request: &AccessRequest) -> ObjectMeta {
    ObjectMeta {
        name: Some(grant_name(request)),
        namespace: request.metadata.namespace.clone(),
        labels: Some(BTreeMap::from([
            (
                "app.kubernetes.io/managed-by".to_string(),
                crate::labels::MANAGED_BY.to_string(),
            ),
            (
                "app.kubernetes.io/part-of".to_string(),
                "meshplane".to_string(),
            ),
            (
                GRANT_LABEL.to_string(),
                request.metadata.name.clone().unwrap_or_default(),
            ),
        ])),
        owner_references: owner(request),
        ..ObjectMeta::default()
    }
}

/// The Role that reads the grant's Secret, and its binding to the request's subject.
pub fn grant_access(request: &AccessRequest) -> (Role, RoleBinding) {
    let name = grant_name(request);
    let role = Role {
        metadata: grant_meta(request),
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec![String::new()]),
            resources: Some(vec!["secrets".into()]),
            resource_names: Some(vec![name.clone()]),
            verbs: vec!["get".into()],
            ..PolicyRule::default()
        }]),
    };
    let subject = &request.spec.subject;
    let binding = RoleBinding {
        metadata: grant_meta(request),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name,
        },
        subjects: Some(vec![RbacSubject {
            kind: subject.kind.to_string(),
            api_group: match subject.kind {
                SubjectKind::ServiceAccount => None,
                _ => Some("rbac.authorization.k8s.io".into()),
            },
            name: subject.name.clone(),
            namespace: match subject.kind {
                SubjectKind::ServiceAccount => Some(
                    subject
                        .namespace
                        .clone()
                        .unwrap_or_else(|| request.namespace_or_default()),
                ),
                _ => None,
            },
        }]),
    };
    (role, binding)
}

/// Where the granted product lives, for the grant's Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantLocation {
    /// `namespace/name` of the product.
    pub product: String,
    /// The product's bucket.
    pub bucket: String,
    /// Its table's prefix in the bucket.
    pub prefix: String,
    /// The object store's endpoint.
    pub endpoint: String,
    /// Its region.
    pub region: String,
}

/// The grant Secret's data: the location, the columns granted and, when given, the keys.
pub fn grant_secret_data(
    location: &GrantLocation,
    columns: &[String],
    keys: Option<(&str, &str)>,
) -> BTreeMap<String, String> {
    let mut data = BTreeMap::from([
        ("product".to_string(), location.product.clone()),
        ("bucket".to_string(), location.bucket.clone()),
        ("prefix".to_string(), location.prefix.clone()),
        ("endpoint".to_string(), location.endpoint.clone()),
        ("region".to_string(), location.region.clone()),
        ("columns".to_string(), columns.join(",")),
    ]);
    if let Some((id, secret)) = keys {
        data.insert("access-key-id".into(), id.into());
        data.insert("secret-access-key".into(), secret.into());
    }
    data
}
