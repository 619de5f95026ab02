//! The Kubernetes children of a product, typed, and the one table of the kinds they are.
//!
//! [`Children`] has a field per child the planner can render. [`Children::manifests`]
//! destructures it without `..`, so a child added to the struct but not to the apply list
//! fails to compile. [`CHILD_KINDS`] serves apply (plural names without discovery), pruning
//! (which kinds to list for orphans) and the test that the chart's ClusterRole grants
//! every verb on every kind.

use crate::meta::to_value;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use serde_json::Value;
use std::collections::BTreeSet;

/// A kind of object the planner renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChildKind {
    /// API group (`""` for the core group).
    pub group: &'static str,
    /// API version within the group.
    pub version: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Plural resource name (what RBAC rules and URLs use).
    pub plural: &'static str,
    /// Whether objects of the kind live in a namespace.
    pub namespaced: bool,
    /// Whether others update a status of its objects (a Deployment's replicas, a
    /// KafkaTopic's readiness): an update with unchanged generation, labels and
    /// annotations is then a status update, not a change of the child.
    pub has_status: bool,
}

impl ChildKind {
    /// `apiVersion` as manifests spell it.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

const fn kind(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    has_status: bool,
) -> ChildKind {
    ChildKind {
        group,
        version,
        kind,
        plural,
        namespaced: true,
        has_status,
    }
}

/// Every kind of child the planner renders.
pub const CHILD_KINDS: [ChildKind; 11] = [
    kind("", "v1", "ConfigMap", "configmaps", false),
    kind("", "v1", "ServiceAccount", "serviceaccounts", false),
    kind("", "v1", "Service", "services", false),
    kind("rbac.authorization.k8s.io", "v1", "Role", "roles", false),
    kind(
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        false,
    ),
    kind("apps", "v1", "Deployment", "deployments", true),
    kind("batch", "v1", "CronJob", "cronjobs", true),
    kind(
        "monitoring.coreos.com",
        "v1",
        "ServiceMonitor",
        "servicemonitors",
        false,
    ),
    kind(
        "monitoring.coreos.com",
        "v1",
        "PrometheusRule",
        "prometheusrules",
        false,
    ),
    kind(
        "kafka.strimzi.io",
        "v1beta2",
        "KafkaTopic",
        "kafkatopics",
        true,
    ),
    kind(
        "kafka.strimzi.io",
        "v1beta2",
        "KafkaConnector",
        "kafkaconnectors",
        true,
    ),
];

/// The table entry of a manifest's `apiVersion` and `kind`, if the planner renders it.
pub fn child_kind(api_version: &str, kind: &str) -> Option<&'static ChildKind> {
    CHILD_KINDS
        .iter()
        .find(|k| k.kind == kind && k.api_version() == api_version)
}

/// Which object a manifest is: kind, namespace, name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChildId {
    /// Kind (unique within [`CHILD_KINDS`]).
    pub kind: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ChildId {
    /// The identity of a manifest (missing parts are empty strings).
    pub fn of(manifest: &Value) -> Self {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        ChildId {
            kind: text(&manifest["kind"]),
            namespace: text(&manifest["metadata"]["namespace"]),
            name: text(&manifest["metadata"]["name"]),
        }
    }
}

/// The ingestion workload: a Deployment for streams, a CronJob for scheduled runs.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum Workload {
    /// Long-running workers (Kafka and CDC sources).
    Deployment(Box<Deployment>),
    /// Scheduled runs (batch pulls, derived products).
    CronJob(Box<CronJob>),
}

/// Every Kubernetes child of one product.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Children {
    /// Strimzi KafkaTopics (Strimzi topic mode only; may live in the topic operator's namespace).
    pub kafka_topics: Vec<Value>,
    /// The Debezium KafkaConnector of a CDC source.
    pub cdc_connector: Option<Value>,
    /// The worker's plan, mounted into its pods.
    pub plan: ConfigMap,
    /// The workers' identity.
    pub worker_account: ServiceAccount,
    /// What the workers may read and patch.
    pub worker_role: Role,
    /// Binds the worker Role to the worker ServiceAccount.
    pub worker_binding: RoleBinding,
    /// Read access to the product.
    pub reader_role: Role,
    /// Binds the reader Role to the readers `spec.access` names.
    pub reader_binding: RoleBinding,
    /// The ingestion workload.
    pub workload: Workload,
    /// The scheduled table maintenance (absent when no maintenance engine is configured).
    pub maintenance: Option<CronJob>,
    /// Headless Service Prometheus scrapes the workers through.
    pub metrics_service: Service,
    /// prometheus-operator ServiceMonitor.
    pub service_monitor: Value,
    /// prometheus-operator PrometheusRule with the SLO alerts; none for products whose
    /// runs do not export metrics yet (scheduled pulls, derived products).
    pub slo_rules: Option<Value>,
    /// Grafana dashboard ConfigMap.
    pub dashboard: ConfigMap,
}

impl Children {
    /// Every child as a manifest, in apply order.
    pub fn manifests(&self) -> Vec<Value> {
        // No `..`: a new child must be placed in the apply order here to compile.
        let Children {
            kafka_topics,
            cdc_connector,
            plan,
            worker_account,
            worker_role,
            worker_binding,
            reader_role,
            reader_binding,
            workload,
            maintenance,
            metrics_service,
            service_monitor,
            slo_rules,
            dashboard,
        } = self;
        let mut out = kafka_topics.clone();
        out.extend(cdc_connector.clone());
        out.push(to_value(plan));
        out.push(to_value(worker_account));
        out.push(to_value(worker_role));
        out.push(to_value(worker_binding));
        out.push(to_value(reader_role));
        out.push(to_value(reader_binding));
        out.push(match workload {
            Workload::Deployment(d) => to_value(d),
            Workload::CronJob(c) => to_value(c),
        });
        out.extend(maintenance.as_ref().map(to_value));
        out.push(to_value(metrics_service));
        out.push(service_monitor.clone());
        out.extend(slo_rules.clone());
        out.push(to_value(dashboard));
        out
    }

    /// The identities of every child: what pruning keeps.
    pub fn ids(&self) -> BTreeSet<ChildId> {
        self.manifests().iter().map(ChildId::of).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_found_by_its_api_version_and_kind_and_plurals_are_unique() {
        let mut plurals = BTreeSet::new();
        for k in &CHILD_KINDS {
            assert_eq!(child_kind(&k.api_version(), k.kind), Some(k));
            assert!(plurals.insert((k.group, k.plural)), "{} twice", k.plural);
        }
        assert_eq!(child_kind("v1", "Secret"), None);
        assert_eq!(child_kind("apps/v1", "ConfigMap"), None);
    }
}
