//! What the catalog answers with: plain views of its entries, serialised by the HTTP API
//! and read back by the CLI (hence `Deserialize` too).

use crate::entry::{Entry, ProductId};
use crate::lineage::LineageView;
use meshplane_api::{
    duration, Classification, DataProduct, Field, FieldType, MaskingStrategy, MeasuredCompleteness,
    QualityCheck, ServiceLevels, SloTransition, Subject,
};
use meshplane_governance::Finding;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::Arc;

/// A product in a list of results.
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct ProductSummary {
    /// `namespace/name`.
    pub id: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Owning domain.
    pub domain: String,
    /// Accountable owner.
    pub owner: String,
    /// What the product is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Keywords.
    pub tags: Vec<String>,
    /// Classification of the product as a whole.
    pub classification: Classification,
    /// Compliance tags, e.g. `gdpr`.
    pub compliance_tags: BTreeSet<String>,
    /// Whether any field holds personal data.
    pub has_pii: bool,
    /// The source in one line, e.g. `kafka:orders.events`.
    pub source: String,
    /// Whether the platform reports the product Ready (absent before the first reconcile).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready: Option<bool>,
}

impl ProductSummary {
    /// The summary of a product and what governance derived from it.
    pub(crate) fn new(
        id: &ProductId,
        product: &DataProduct,
        classification: Classification,
        compliance_tags: &BTreeSet<String>,
        has_pii: bool,
    ) -> ProductSummary {
        let spec = &product.spec;
        ProductSummary {
            id: id.to_string(),
            namespace: id.namespace.clone(),
            name: id.name.clone(),
            domain: spec.domain.clone(),
            owner: spec.owner.clone(),
            description: spec.description.clone(),
            tags: spec.tags.clone(),
            classification,
            compliance_tags: compliance_tags.clone(),
            has_pii,
            source: spec.source.summary(),
            ready: ready(product),
        }
    }
}

/// The value of the `Ready` condition, when the controller has written one.
pub(crate) fn ready(product: &DataProduct) -> Option<bool> {
    let status = product.status.as_ref()?;
    let ready = status.conditions.iter().find(|c| c.type_ == "Ready")?;
    Some(ready.status == "True")
}

/// One field of a product page.
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct FieldView {
    /// Column name.
    pub name: String,
    /// Logical type.
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// Whether it may be null.
    pub nullable: bool,
    /// What it means.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Sensitivity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classification: Option<Classification>,
    /// Whether it holds personal data.
    pub pii: bool,
    /// How it is masked in the outputs.
    pub masking: MaskingStrategy,
}

/// Measured freshness against the SLO.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Freshness {
    /// The freshness SLO as declared, e.g. `10m`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slo: Option<String>,
    /// Time of the newest event committed to the table (from the ingestion worker).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_event_time: Option<String>,
    /// Age of that event now, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_seconds: Option<i64>,
    /// Whether the SLO is met.
    pub state: FreshnessState,
}

/// Whether a product's data is as fresh as its SLO asks.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FreshnessState {
    /// The newest event is younger than the SLO.
    Met,
    /// The newest event is older than the SLO.
    Breached,
    /// No SLO, or nothing measured yet.
    Unknown,
}

impl FreshnessState {
    /// The name in JSON, e.g. `met`.
    pub fn as_str(self) -> &'static str {
        match self {
            FreshnessState::Met => "met",
            FreshnessState::Breached => "breached",
            FreshnessState::Unknown => "unknown",
        }
    }
}

impl Freshness {
    /// Freshness of `entry` at `now` (seconds since the Unix epoch).
    pub fn of(entry: &Entry, now: i64) -> Freshness {
        let spec = &entry.product.spec;
        let slo = spec.slo.as_ref().and_then(|s| s.freshness.clone());
        let last = entry
            .product
            .status
            .as_ref()
            .and_then(|s| s.last_event_time.clone());
        let age = last
            .as_deref()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .map(|t| now - t.as_second());
        let limit = slo.as_deref().and_then(|s| duration::parse(s).ok());
        let state = match (age, limit) {
            (Some(age), Some(limit)) if age <= limit.as_secs() as i64 => FreshnessState::Met,
            (Some(_), Some(_)) => FreshnessState::Breached,
            _ => FreshnessState::Unknown,
        };
        Freshness {
            slo,
            last_event_time: last,
            age_seconds: age,
            state,
        }
    }
}

/// Measured completeness against the SLO, as the controller last judged it from the
/// platform's Prometheus (condition `CompletenessSLOMet`).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Completeness {
    /// The completeness SLO as declared, in percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slo: Option<f64>,
    /// The last measurement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measured: Option<MeasuredCompleteness>,
    /// Whether the SLO is met (`unknown` while it is not measured).
    pub state: FreshnessState,
    /// Why, in the controller's words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Completeness {
    /// Completeness of `entry` from its status.
    pub fn of(entry: &Entry) -> Completeness {
        let status = entry.product.status.as_ref();
        let condition = status.and_then(|s| {
            s.conditions
                .iter()
                .find(|c| c.type_ == "CompletenessSLOMet")
        });
        let state = match condition.map(|c| c.status.as_str()) {
            Some("True") => FreshnessState::Met,
            Some("False") => FreshnessState::Breached,
            _ => FreshnessState::Unknown,
        };
        Completeness {
            slo: entry.product.spec.slo.as_ref().and_then(|s| s.completeness),
            measured: status.and_then(|s| s.measured_completeness.clone()),
            state,
            message: condition.map(|c| c.message.clone()),
        }
    }
}

/// A status condition, as shown to people.
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct ConditionView {
    /// Condition type, e.g. `Ready`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Machine-readable reason.
    pub reason: String,
    /// Human-readable message.
    pub message: String,
}

/// Where the product's data lives.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct Locations {
    /// Bucket of the table.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// Key prefix of the table.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Source topic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Masked output topic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_topic: Option<String>,
    /// How often the table is updated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_interval: Option<String>,
}

/// Everything the product page shows.
#[derive(Serialize, Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct ProductPage {
    /// The summary.
    #[serde(flatten)]
    pub summary: Arc<ProductSummary>,
    /// Fields with classification and masking.
    pub fields: Vec<Arc<FieldView>>,
    /// How long data is kept.
    pub retention: String,
    /// Service levels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slo: Option<ServiceLevels>,
    /// Measured freshness against the SLO.
    pub freshness: Freshness,
    /// Measured completeness against the SLO.
    pub completeness: Completeness,
    /// The last changes of the SLO conditions, oldest first (the product's
    /// `status.sloHistory`).
    #[serde(default)]
    pub slo_history: Vec<SloTransition>,
    /// Storage and topics.
    pub locations: Locations,
    /// Who may read it.
    pub readers: Vec<Subject>,
    /// Access granted through AccessRequests ("who uses it").
    #[serde(default)]
    pub grants: Vec<AccessView>,
    /// AccessRequests waiting for an approver of the product.
    #[serde(default)]
    pub pending_requests: Vec<AccessView>,
    /// Products that read it (derived products).
    pub consumers: Vec<String>,
    /// Quality checks run on every record.
    pub quality: Vec<QualityCheck>,
    /// Status conditions.
    pub conditions: Vec<ConditionView>,
    /// What the policies in force reject in it.
    pub violations: Vec<FindingView>,
    /// Lineage, upstream and downstream.
    pub lineage: LineageView,
}

/// A governance finding as the catalog shows it: the same JSON as [`Finding`], in types
/// that can be read back ([`Finding`] and its `Rule` are only `Serialize`).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FindingView {
    /// Path of the offending value, e.g. `spec.retention`.
    pub path: String,
    /// The stable name of the rule broken, e.g. `retention`.
    pub rule: String,
    /// Name of the policy.
    pub policy: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: String,
}

impl From<&Finding> for FindingView {
    fn from(f: &Finding) -> FindingView {
        FindingView {
            path: f.path.clone(),
            rule: f.rule.as_str().to_owned(),
            policy: f.policy.to_string(),
            message: f.message.clone(),
            hint: f.hint.clone(),
        }
    }
}

/// The body of every refusal: `{"error": "..."}`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ErrorBody {
    /// What is wrong with the request.
    pub error: String,
}

impl FieldView {
    /// The view of one schema field.
    pub fn of(f: &Field) -> FieldView {
        FieldView {
            name: f.name.clone(),
            field_type: f.field_type,
            nullable: f.nullable,
            description: f.description.clone(),
            classification: f.classification,
            pii: f.is_pii(),
            masking: f.masking.unwrap_or(MaskingStrategy::None),
        }
    }
}

pub(crate) fn locations(entry: &Entry) -> Locations {
    let spec = &entry.product.spec;
    let endpoints = entry
        .product
        .status
        .as_ref()
        .and_then(|s| s.endpoints.clone())
        .unwrap_or_default();
    Locations {
        bucket: endpoints.bucket,
        prefix: endpoints.prefix,
        topic: endpoints
            .topic
            .or_else(|| spec.source.kafka.as_ref().map(|k| k.topic.clone())),
        stream_topic: endpoints
            .stream_topic
            .or_else(|| spec.output.stream.as_ref().map(|s| s.topic.clone())),
        update_interval: spec
            .output
            .table
            .as_ref()
            .map(|t| t.update_interval.clone()),
    }
}

pub(crate) fn conditions(entry: &Entry) -> Vec<ConditionView> {
    entry
        .product
        .status
        .as_ref()
        .map(|s| {
            s.conditions
                .iter()
                .map(|c| ConditionView {
                    type_: c.type_.clone(),
                    status: c.status.clone(),
                    reason: c.reason.clone(),
                    message: c.message.clone(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// An AccessRequest as a product page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessView {
    /// The request, `namespace/name`.
    pub request: String,
    /// Who reads, `Kind:name`.
    pub subject: String,
    /// Why.
    pub purpose: String,
    /// Where the request stands.
    pub phase: Option<meshplane_api::AccessPhase>,
    /// Who or what decided.
    pub decided_by: Option<String>,
    /// The most sensitive columns granted (granted requests).
    pub classification: Option<meshplane_api::Classification>,
    /// Columns granted (granted requests).
    pub columns: Vec<String>,
    /// When the grant ends, RFC 3339.
    pub expires_at: Option<String>,
}

impl AccessView {
    /// The view of `request`.
    pub fn of(request: &meshplane_api::AccessRequest) -> AccessView {
        let namespace = request.namespace_or_default();
        let status = request.status.clone().unwrap_or_default();
        AccessView {
            request: format!(
                "{namespace}/{}",
                request.metadata.name.clone().unwrap_or_default()
            ),
            subject: request.spec.subject.qualified_name(&namespace),
            purpose: request.spec.purpose.clone(),
            phase: status.phase,
            decided_by: status.decided_by,
            classification: status.grant.as_ref().map(|g| g.classification),
            columns: status.grant.map(|g| g.columns).unwrap_or_default(),
            expires_at: request.spec.expires_at.as_ref().map(|t| t.0.to_string()),
        }
    }
}
