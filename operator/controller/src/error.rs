//! Why a reconcile failed: one variant per step that can fail, the cause kept.

use meshplane_effects::apply::ApplyError;
use meshplane_effects::kafka::KafkaAdminError;
use meshplane_effects::s3::S3Error;
use meshplane_effects::secrets::SecretError;
use meshplane_effects::strimzi::StrimziError;
use meshplane_planner::PlanError;
use thiserror::Error;

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
    /// The Iceberg table could not be created or evolved.
    #[error(transparent)]
    Table(#[from] meshplane_effects::iceberg::TableCatalogError),
    /// A topic could not be provisioned through the Kafka admin API.
    #[error(transparent)]
    Topic(#[from] KafkaAdminError),
    /// A KafkaTopic could not be read or released.
    #[error(transparent)]
    KafkaTopic(#[from] StrimziError),
    /// A Secret the workload references could not be created.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The workers' own object-store keys could not be issued.
    #[error("failed to issue the workers' object-store keys of {product}: {source}")]
    WorkerKeys {
        /// `namespace/name`.
        product: String,
        /// Cause.
        source: meshplane_effects::identity::IdentityError,
    },
    /// The Secret with the workers' own keys could not be checked or created.
    #[error(transparent)]
    WorkerKeySecret(#[from] meshplane_effects::grants::GrantError),
    /// Keys per product are configured but no identity provider is (a configuration error).
    #[error("worker keys per product need the object store's IAM endpoint (--iam-endpoint)")]
    NoIdentityProvider,
    /// The object-store user of the workers could not be removed.
    #[error("failed to revoke the workers' object-store user {user} of {product}: {source}")]
    RevokeWorkerKeys {
        /// `namespace/name`.
        product: String,
        /// The user.
        user: String,
        /// Cause.
        source: meshplane_effects::identity::IdentityError,
    },
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
            ReconcileError::Table(_) => "table",
            ReconcileError::Apply(_) => "apply",
            ReconcileError::Topic(_) | ReconcileError::NoKafkaAdmin => "topic",
            ReconcileError::KafkaTopic(_) => "kafkatopic",
            ReconcileError::Secret(_) => "secret",
            ReconcileError::WorkerKeys { .. }
            | ReconcileError::WorkerKeySecret(_)
            | ReconcileError::NoIdentityProvider
            | ReconcileError::RevokeWorkerKeys { .. } => "worker-keys",
            ReconcileError::Finalizer { .. } => "finalizer",
            ReconcileError::Workload { .. } => "workload",
            ReconcileError::Status { .. } => "status",
        }
    }
}
