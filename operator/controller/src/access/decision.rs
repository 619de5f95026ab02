//! What an AccessRequest comes to, from the request, its product and the policies'
//! verdict. Pure: no I/O, the time is given.

use k8s_openapi::jiff::Timestamp;
use meshplane_api::access_request::{APPROVAL_ANNOTATION, APPROVED, DECIDED_BY_ANNOTATION, DENIED};
use meshplane_api::{AccessPhase, AccessRequest, Classification, DataProduct, SubjectKind};
use meshplane_governance::RequestVerdict;

/// What is granted.
#[derive(Debug, Clone, PartialEq)]
pub struct GrantPlan {
    /// The most sensitive columns granted.
    pub classification: Classification,
    /// The columns the subject sees.
    pub columns: Vec<String>,
    /// Whether object-store keys are issued: only when every column is granted, as the
    /// keys read whole files.
    pub object_store: bool,
}

/// The request's outcome.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Granted, by `decided_by`.
    Grant {
        /// `policy/<names>`, `readers-of/<product>` or `user/<name>`.
        decided_by: String,
        /// What is granted.
        plan: GrantPlan,
        /// Why, in a sentence.
        message: String,
    },
    /// Waiting for an approver.
    Pending {
        /// Why it waits.
        message: String,
    },
    /// Refused, or ended: nothing is granted.
    Closed {
        /// `Denied` or `Expired`.
        phase: AccessPhase,
        /// Condition reason, e.g. `ProductNotFound`.
        reason: &'static str,
        /// Who decided, when someone did.
        decided_by: Option<String>,
        /// Why, in a sentence.
        message: String,
    },
}

impl Outcome {
    /// The phase written to status.
    pub fn phase(&self) -> AccessPhase {
        match self {
            Outcome::Grant { .. } => AccessPhase::Granted,
            Outcome::Pending { .. } => AccessPhase::Pending,
            Outcome::Closed { phase, .. } => *phase,
        }
    }
}

/// The product's classification: declared (governance sets it), else that of its most
/// sensitive field, else `internal`.
pub fn product_classification(product: &DataProduct) -> Classification {
    product.spec.classification.unwrap_or_else(|| {
        product
            .spec
            .schema
            .fields
            .iter()
            .filter_map(|f| f.classification)
            .max()
            .unwrap_or(Classification::Internal)
    })
}

/// The grant for `level` on `product`: the columns at or below it (a field without a
/// classification counts as the product's), and keys only when that is every column.
pub fn grant_plan(product: &DataProduct, level: Classification) -> GrantPlan {
    let product_level = product_classification(product);
    let level = level.min(product_level);
    let columns: Vec<String> = product
        .spec
        .schema
        .fields
        .iter()
        .filter(|f| f.classification.unwrap_or(product_level) <= level)
        .map(|f| f.name.clone())
        .collect();
    GrantPlan {
        classification: level,
        object_store: columns.len() == product.spec.schema.fields.len(),
        columns,
    }
}

/// The subject in the policies' form: `namespace/name` for a ServiceAccount.
pub fn policy_subject_name(request: &AccessRequest) -> (SubjectKind, String) {
    let subject = &request.spec.subject;
    let name = match subject.kind {
        SubjectKind::ServiceAccount => format!(
            "{}/{}",
            subject
                .namespace
                .clone()
                .unwrap_or_else(|| request.namespace_or_default()),
            subject.name
        ),
        _ => subject.name.clone(),
    };
    (subject.kind, name)
}

/// Whether the product's own `spec.access.readers` lists the subject.
fn listed_reader(request: &AccessRequest, product: &DataProduct) -> bool {
    let subject = &request.spec.subject;
    let request_namespace = request.namespace_or_default();
    let product_namespace = product.metadata.namespace.clone().unwrap_or_default();
    product.spec.access.readers.iter().any(|r| {
        r.kind == subject.kind
            && r.name == subject.name
            && (subject.kind != SubjectKind::ServiceAccount
                || r.namespace.as_deref().unwrap_or(&product_namespace)
                    == subject.namespace.as_deref().unwrap_or(&request_namespace))
    })
}

/// Decides the request. `verdict` is the policies' answer for the subject at the
/// request's level (asked only when needed). An approver's denial wins over everything;
/// then the product's own readers list, the policies, and an approver's approval.
pub fn decide(
    request: &AccessRequest,
    product: Option<&DataProduct>,
    verdict: impl FnOnce(&DataProduct, SubjectKind, &str, Classification) -> RequestVerdict,
    now: Timestamp,
) -> Outcome {
    let (product_namespace, product_name) = request.product_key();
    let product_key = format!("{product_namespace}/{product_name}");
    if let Some(expiry) = &request.spec.expires_at {
        if expiry.0 <= now {
            return Outcome::Closed {
                phase: AccessPhase::Expired,
                reason: "Expired",
                decided_by: None,
                message: format!("the grant expired at {}; file a new request", expiry.0),
            };
        }
    }
    let Some(product) = product.filter(|p| p.metadata.deletion_timestamp.is_none()) else {
        return Outcome::Closed {
            phase: AccessPhase::Denied,
            reason: "ProductNotFound",
            decided_by: None,
            message: format!("DataProduct {product_key} does not exist"),
        };
    };
    let annotations = request.metadata.annotations.clone().unwrap_or_default();
    let approval = annotations.get(APPROVAL_ANNOTATION).map(String::as_str);
    let decider = annotations.get(DECIDED_BY_ANNOTATION).cloned();
    if approval == Some(DENIED) {
        let by = decider.unwrap_or_else(|| "an approver".into());
        return Outcome::Closed {
            phase: AccessPhase::Denied,
            reason: "DeniedByApprover",
            decided_by: Some(format!("user/{by}")),
            message: format!("{by} denied access to {product_key}"),
        };
    }
    let level = request
        .spec
        .classification
        .unwrap_or_else(|| product_classification(product));
    let plan = grant_plan(product, level);
    if listed_reader(request, product) {
        return Outcome::Grant {
            decided_by: format!("readers-of/{product_key}"),
            message: format!("{product_key} lists the subject in spec.access.readers"),
            plan,
        };
    }
    let (kind, subject_name) = policy_subject_name(request);
    let waiting = match verdict(product, kind, &subject_name, plan.classification) {
        RequestVerdict::Allowed(policies) => {
            return Outcome::Grant {
                decided_by: format!("policy/{}", policies.join(",")),
                message: format!(
                    "the access rules of {} allow {kind}:{subject_name} to read {} data",
                    policies.join(", "),
                    plan.classification
                ),
                plan,
            }
        }
        RequestVerdict::NeedsApproval(why) => why,
    };
    match (approval, decider) {
        (Some(APPROVED), Some(by)) => Outcome::Grant {
            decided_by: format!("user/{by}"),
            message: format!("{by} approved access to {product_key}"),
            plan,
        },
        _ => Outcome::Pending {
            message: format!(
                "{waiting}; waiting for a user allowed to approve {product_key} (meshplane access approve)"
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use meshplane_api::access_request::{APPROVAL_ANNOTATION, DECIDED_BY_ANNOTATION};
    use meshplane_api::load::{load_all, Resource};
    use meshplane_api::{AccessRequestSpec, AccessSubject, GovernancePolicy, ProductReference};
    use meshplane_governance::Engine;
    use std::collections::BTreeMap;

    fn example(file: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/../../examples/{file}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    /// The Orders product as admitted under the example policy, and that policy's engine.
    fn orders() -> (DataProduct, Engine) {
        let policy: GovernancePolicy = match load_all(&example("policy.yaml"), "policy.yaml")
            .unwrap()
            .remove(0)
        {
            Resource::GovernancePolicy(p) => *p,
            Resource::DataProduct(_) => panic!("policy.yaml holds a policy"),
        };
        let engine = Engine::new(&[policy]).unwrap();
        let product =
            meshplane_api::load::load_data_product(&example("orders.yaml"), "orders.yaml").unwrap();
        (engine.evaluate(&product).effective, engine)
    }

    fn request(kind: SubjectKind, name: &str, namespace: Option<&str>) -> AccessRequest {
        let mut request = AccessRequest::new(
            "reporting-orders",
            AccessRequestSpec {
                product: ProductReference {
                    name: "orders".into(),
                    namespace: Some("orders".into()),
                },
                subject: AccessSubject {
                    kind,
                    name: name.into(),
                    namespace: namespace.map(str::to_string),
                },
                purpose: "weekly revenue report".into(),
                classification: None,
                expires_at: None,
            },
        );
        request.metadata.namespace = Some("analytics".into());
        request
    }

    fn decided(request: &AccessRequest, product: Option<&DataProduct>, engine: &Engine) -> Outcome {
        decide(
            request,
            product,
            |p, kind, name, level| engine.decide_access(p, kind, name, level),
            Timestamp::from_second(1_800_000_000).unwrap(),
        )
    }

    fn annotate(request: &mut AccessRequest, approval: &str, by: &str) {
        request.metadata.annotations = Some(BTreeMap::from([
            (APPROVAL_ANNOTATION.to_string(), approval.to_string()),
            (DECIDED_BY_ANNOTATION.to_string(), by.to_string()),
        ]));
    }

    #[test]
    fn a_service_account_the_policy_allows_is_granted_every_column_with_keys() {
        let (product, engine) = orders();
        let outcome = decided(
            &request(SubjectKind::ServiceAccount, "reporting", None),
            Some(&product),
            &engine,
        );
        let Outcome::Grant {
            decided_by, plan, ..
        } = outcome
        else {
            panic!("granted: {outcome:?}")
        };
        assert_eq!(decided_by, "policy/platform-baseline");
        assert_eq!(plan.classification, Classification::Confidential);
        assert_eq!(plan.columns.len(), product.spec.schema.fields.len());
        assert!(plan.object_store);
    }

    #[test]
    fn a_user_no_rule_names_waits_for_an_approver_and_an_approval_grants() {
        let (product, engine) = orders();
        let mut request = request(SubjectKind::User, "report-bot", None);
        let outcome = decided(&request, Some(&product), &engine);
        let Outcome::Pending { message } = &outcome else {
            panic!("pending: {outcome:?}")
        };
        assert!(
            message.contains("policy platform-baseline does not allow User:report-bot"),
            "{message}"
        );
        assert!(
            message.contains("waiting for a user allowed to approve orders/orders"),
            "{message}"
        );
        annotate(&mut request, "approved", "orders-owner");
        assert!(matches!(
            decided(&request, Some(&product), &engine),
            Outcome::Grant { decided_by, .. } if decided_by == "user/orders-owner"
        ));
    }

    #[test]
    fn an_approvers_denial_wins_over_the_policies() {
        let (product, engine) = orders();
        let mut request = request(SubjectKind::ServiceAccount, "reporting", None);
        annotate(&mut request, "denied", "orders-owner");
        let outcome = decided(&request, Some(&product), &engine);
        assert_eq!(outcome.phase(), AccessPhase::Denied);
        assert!(matches!(
            outcome,
            Outcome::Closed {
                reason: "DeniedByApprover",
                ..
            }
        ));
    }

    #[test]
    fn a_reader_the_product_lists_is_granted_by_the_product() {
        let (product, engine) = orders();
        let outcome = decided(
            &request(SubjectKind::Group, "analytics-analysts", None),
            Some(&product),
            &engine,
        );
        assert!(matches!(
            outcome,
            Outcome::Grant { decided_by, .. } if decided_by == "readers-of/orders/orders"
        ));
    }

    #[test]
    fn an_unknown_or_deleted_product_is_denied_naming_it() {
        let (mut product, engine) = orders();
        let request = request(SubjectKind::ServiceAccount, "reporting", None);
        let outcome = decided(&request, None, &engine);
        assert!(matches!(
            &outcome,
            Outcome::Closed { reason: "ProductNotFound", message, .. } if message == "DataProduct orders/orders does not exist"
        ));
        product.metadata.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
        assert_eq!(
            decided(&request, Some(&product), &engine).phase(),
            AccessPhase::Denied
        );
    }

    #[test]
    fn an_expired_request_is_closed_whatever_approved_it() {
        let (product, engine) = orders();
        let mut request = request(SubjectKind::ServiceAccount, "reporting", None);
        request.spec.expires_at = Some(Time(Timestamp::from_second(1_700_000_000).unwrap()));
        assert_eq!(
            decided(&request, Some(&product), &engine).phase(),
            AccessPhase::Expired
        );
    }

    #[test]
    fn a_lower_level_hides_the_columns_above_it_and_gives_no_keys() {
        let (mut product, _) = orders();
        for field in &mut product.spec.schema.fields {
            if field.name == "order_total" {
                field.classification = Some(Classification::Internal);
            }
        }
        let plan = grant_plan(&product, Classification::Internal);
        assert_eq!(plan.classification, Classification::Internal);
        assert!(plan.columns.contains(&"order_total".to_string()));
        assert!(!plan.columns.contains(&"customer_email".to_string()));
        assert!(!plan.object_store);
        // Asking above the product's level grants the product's level.
        assert_eq!(
            grant_plan(&product, Classification::Restricted).classification,
            product_classification(&product)
        );
    }
}
