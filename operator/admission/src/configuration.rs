//! The webhook configurations Meshplane registers with the API server. Pure builders.

use crate::server::{
    MUTATE_ACCESS_REQUESTS_PATH, MUTATE_PRODUCTS_PATH, VALIDATE_POLICIES_PATH,
    VALIDATE_PRODUCTS_PATH,
};
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhook, MutatingWebhookConfiguration, RuleWithOperations, ServiceReference,
    ValidatingWebhook, ValidatingWebhookConfiguration, WebhookClientConfig,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta,
};
use k8s_openapi::ByteString;
use std::collections::BTreeMap;

/// Name of both webhook configurations.
pub const CONFIGURATION_NAME: &str = "meshplane";
/// Seconds the API server waits for an answer; decisions take microseconds.
pub const TIMEOUT_SECONDS: i32 = 5;

/// Where the API server reaches the webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookTarget {
    /// A Service in the cluster (the normal in-cluster deployment).
    Service {
        /// Service name.
        name: String,
        /// Service namespace.
        namespace: String,
        /// Service port.
        port: i32,
    },
    /// A base URL such as `https://127.0.0.1:9443` (development, or a webhook outside the cluster).
    Url(String),
}

fn client_config(target: &WebhookTarget, path: &str, ca_bundle: &str) -> WebhookClientConfig {
    let ca_bundle = Some(ByteString(ca_bundle.as_bytes().to_vec()));
    match target {
        WebhookTarget::Service {
            name,
            namespace,
            port,
        } => WebhookClientConfig {
            service: Some(ServiceReference {
                name: name.clone(),
                namespace: namespace.clone(),
                path: Some(path.to_string()),
                port: Some(*port),
            }),
            ca_bundle,
            url: None,
        },
        WebhookTarget::Url(base) => WebhookClientConfig {
            url: Some(format!("{}{path}", base.trim_end_matches('/'))),
            ca_bundle,
            service: None,
        },
    }
}

fn rules(resource: &str) -> Option<Vec<RuleWithOperations>> {
    Some(vec![RuleWithOperations {
        api_groups: Some(vec![meshplane_api::GROUP.to_string()]),
        api_versions: Some(vec![meshplane_api::VERSION.to_string()]),
        operations: Some(vec!["CREATE".into(), "UPDATE".into()]),
        resources: Some(vec![resource.to_string()]),
        scope: None,
    }])
}

/// The operator's own namespace is never subject to its webhooks, so it can always
/// repair itself.
fn outside(namespace: &str) -> Option<LabelSelector> {
    Some(LabelSelector {
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: "kubernetes.io/metadata.name".into(),
            operator: "NotIn".into(),
            values: Some(vec![namespace.to_string()]),
        }]),
        ..LabelSelector::default()
    })
}

fn meta() -> ObjectMeta {
    ObjectMeta {
        name: Some(CONFIGURATION_NAME.into()),
        labels: Some(BTreeMap::from([
            (
                "app.kubernetes.io/name".to_string(),
                "meshplane".to_string(),
            ),
            (
                "app.kubernetes.io/component".to_string(),
                "admission".to_string(),
            ),
            (
                "app.kubernetes.io/managed-by".to_string(),
                "meshplane".to_string(),
            ),
        ])),
        ..ObjectMeta::default()
    }
}

/// The mutating and validating configurations: `failurePolicy: Fail` (governance cannot
/// be bypassed by taking the webhook down), `sideEffects: None` (dry runs are safe).
pub fn webhook_configurations(
    target: &WebhookTarget,
    ca_bundle: &str,
    operator_namespace: &str,
) -> (MutatingWebhookConfiguration, ValidatingWebhookConfiguration) {
    let mutating_webhook = |name: &str, path: &str, resource: &str| MutatingWebhook {
        name: name.into(),
        client_config: client_config(target, path, ca_bundle),
        rules: rules(resource),
        admission_review_versions: vec!["v1".into()],
        side_effects: "None".into(),
        failure_policy: Some("Fail".into()),
        match_policy: Some("Equivalent".into()),
        namespace_selector: outside(operator_namespace),
        reinvocation_policy: Some("IfNeeded".into()),
        timeout_seconds: Some(TIMEOUT_SECONDS),
        ..MutatingWebhook::default()
    };
    let mutating = MutatingWebhookConfiguration {
        metadata: meta(),
        webhooks: Some(vec![
            mutating_webhook(
                "mutate.dataproducts.meshplane.dev",
                MUTATE_PRODUCTS_PATH,
                "dataproducts",
            ),
            // Records who filed and who decided each request; refuses self-approval and
            // approvers without the `approve` verb on the product.
            mutating_webhook(
                "mutate.accessrequests.meshplane.dev",
                MUTATE_ACCESS_REQUESTS_PATH,
                "accessrequests",
            ),
        ]),
    };
    let validating_webhook = |name: &str, path: &str, resource: &str, selector| ValidatingWebhook {
        name: name.into(),
        client_config: client_config(target, path, ca_bundle),
        rules: rules(resource),
        admission_review_versions: vec!["v1".into()],
        side_effects: "None".into(),
        failure_policy: Some("Fail".into()),
        match_policy: Some("Equivalent".into()),
        namespace_selector: selector,
        timeout_seconds: Some(TIMEOUT_SECONDS),
        ..ValidatingWebhook::default()
    };
    let validating = ValidatingWebhookConfiguration {
        metadata: meta(),
        webhooks: Some(vec![
            validating_webhook(
                "validate.dataproducts.meshplane.dev",
                VALIDATE_PRODUCTS_PATH,
                "dataproducts",
                outside(operator_namespace),
            ),
            // GovernancePolicies are cluster-scoped: a namespace selector would not apply.
            validating_webhook(
                "validate.governancepolicies.meshplane.dev",
                VALIDATE_POLICIES_PATH,
                "governancepolicies",
                None,
            ),
        ]),
    };
    (mutating, validating)
}
