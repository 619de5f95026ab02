//! Access: the workers' identity and permissions, and the readers' Role and binding.

use crate::meta::child_meta;
use crate::names;
use crate::settings::PlatformSettings;
use crate::workload::{plan_map_name, worker_name};
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject as RbacSubject};
use meshplane_api::{DataProduct, SubjectKind};

/// The workers' ServiceAccount, Role and RoleBinding.
pub fn worker_access(
    product: &DataProduct,
    settings: &PlatformSettings,
) -> (ServiceAccount, Role, RoleBinding) {
    let worker = worker_name(product);
    let account = ServiceAccount {
        metadata: child_meta(product, worker.clone(), "ingest"),
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    };
    let role = Role {
        metadata: child_meta(product, worker.clone(), "ingest"),
        rules: Some(vec![
            PolicyRule {
                api_groups: Some(vec![String::new()]),
                resources: Some(vec!["configmaps".into()]),
                resource_names: Some(vec![plan_map_name(product)]),
                verbs: vec!["get".into(), "watch".into()],
                ..PolicyRule::default()
            },
            PolicyRule {
                api_groups: Some(vec![String::new()]),
                resources: Some(vec!["secrets".into()]),
                resource_names: Some(crate::workload::product_worker_secrets(product, settings)),
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
    };
    let binding = RoleBinding {
        metadata: child_meta(product, worker.clone(), "ingest"),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: worker.clone(),
        },
        subjects: Some(vec![RbacSubject {
            kind: "ServiceAccount".into(),
            name: worker,
            namespace: product.metadata.namespace.clone(),
            ..RbacSubject::default()
        }]),
    };
    (account, role, binding)
}

/// Read access to the product: a Role over its read credentials and the product itself,
/// bound to the readers `spec.access` names.
pub fn reader_access(product: &DataProduct) -> (Role, RoleBinding) {
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
    (role_object, binding)
}
