//! Admission of AccessRequests: who filed a request and who decided it are recorded by
//! this webhook alone, from the API server's own account of the user.
//!
//! Pure: [`admit`] says what to check and what to patch; the server asks the API server
//! (a SubjectAccessReview) whether an approver may `approve` the product, and then
//! answers with [`AccessAdmission::finish`].

use k8s_openapi::api::authentication::v1::UserInfo;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, Operation};
use kube::core::DynamicObject;
use meshplane_api::access_request::{
    APPROVAL_ANNOTATION, APPROVED, APPROVE_VERB, DECIDED_BY_ANNOTATION, DENIED,
    REQUESTED_BY_ANNOTATION,
};
use meshplane_api::{AccessRequest, GROUP};
use std::collections::BTreeMap;

/// An approver to authorize before the answer: may `user` `approve` the product?
#[derive(Debug, Clone, PartialEq)]
pub struct ApproverCheck {
    /// The user deciding, as the API server authenticated them.
    pub user: UserInfo,
    /// The product's namespace.
    pub namespace: String,
    /// The product's name.
    pub product: String,
}

impl ApproverCheck {
    /// The RBAC attributes asked about: `approve` on `dataproducts/<name>` in the
    /// product's namespace, in Meshplane's API group.
    pub fn attributes(&self) -> (&'static str, &'static str, &'static str) {
        (APPROVE_VERB, GROUP, "dataproducts")
    }
}

/// What admitting one AccessRequest needs.
#[derive(Debug)]
pub enum AccessAdmission {
    /// The answer, with nothing to check.
    Answer(AdmissionResponse),
    /// Allowed if the approver may approve the product; then answered with `response`.
    Authorize {
        /// The approver to check.
        check: ApproverCheck,
        /// The answer when they may.
        response: AdmissionResponse,
    },
}

impl AccessAdmission {
    /// The answer, given whether the approver may approve (ignored when nothing was to
    /// be checked). `Err` carries why the check could not be made: the request is then
    /// refused, never let through.
    pub fn finish(self, may_approve: Result<bool, String>) -> AdmissionResponse {
        match self {
            AccessAdmission::Answer(response) => response,
            AccessAdmission::Authorize { check, response } => match may_approve {
                Ok(true) => response,
                Ok(false) => response.deny(format!(
                    "{} may not decide access to DataProduct {}/{}: no RBAC rule allows the verb \"{APPROVE_VERB}\" on {GROUP} dataproducts/{} in namespace {}",
                    user_name(&check.user),
                    check.namespace,
                    check.product,
                    check.product,
                    check.namespace
                )),
                Err(cause) => response.deny(format!(
                    "whether {} may approve DataProduct {}/{} could not be checked: {cause}",
                    user_name(&check.user),
                    check.namespace,
                    check.product
                )),
            },
        }
    }

    /// The approver to check, if any.
    pub fn check(&self) -> Option<&ApproverCheck> {
        match self {
            AccessAdmission::Answer(_) => None,
            AccessAdmission::Authorize { check, .. } => Some(check),
        }
    }
}

fn user_name(user: &UserInfo) -> String {
    user.username
        .clone()
        .unwrap_or_else(|| "<anonymous>".into())
}

fn annotations(request: &AccessRequest) -> BTreeMap<String, String> {
    request.metadata.annotations.clone().unwrap_or_default()
}

/// Decides what admitting the request needs; see the module documentation.
pub fn admit(request: &AdmissionRequest<DynamicObject>) -> AccessAdmission {
    let response = AdmissionResponse::from(request);
    let deny = |message: String| AccessAdmission::Answer(response.clone().deny(message));
    let Some(object) = &request.object else {
        return AccessAdmission::Answer(response);
    };
    if !matches!(request.operation, Operation::Create | Operation::Update) {
        return AccessAdmission::Answer(response);
    }
    if request.kind.group != GROUP || request.kind.kind != "AccessRequest" {
        return deny(format!(
            "this webhook reviews {GROUP} AccessRequest resources, not {}/{} {}",
            request.kind.group, request.kind.version, request.kind.kind
        ));
    }
    let name = object.metadata.name.as_deref().unwrap_or("<unnamed>");
    let new: AccessRequest = match serde_json::to_value(object).and_then(serde_json::from_value) {
        Ok(r) => r,
        Err(e) => return deny(format!("AccessRequest {name} cannot be read: {e}")),
    };
    let user = request.user_info.clone();
    let Some(username) = user.username.clone().filter(|u| !u.is_empty()) else {
        return deny("an AccessRequest cannot be filed or decided anonymously".into());
    };
    let new_annotations = annotations(&new);
    let mut wanted = new_annotations.clone();

    if request.operation == Operation::Create {
        if new_annotations.contains_key(APPROVAL_ANNOTATION)
            || new_annotations.contains_key(DECIDED_BY_ANNOTATION)
        {
            return deny(format!(
                "AccessRequest {name}: a request cannot be filed already decided; remove the annotations {APPROVAL_ANNOTATION} and {DECIDED_BY_ANNOTATION}"
            ));
        }
        wanted.insert(REQUESTED_BY_ANNOTATION.into(), username);
        return AccessAdmission::Answer(with_annotations(response, &new, wanted));
    }

    let old: AccessRequest = match request
        .old_object
        .as_ref()
        .map(|o| serde_json::to_value(o).and_then(serde_json::from_value))
    {
        Some(Ok(r)) => r,
        Some(Err(e)) => {
            return deny(format!(
                "the stored AccessRequest {name} cannot be read: {e}"
            ))
        }
        None => {
            return deny(format!(
                "the update of AccessRequest {name} carries no old object"
            ))
        }
    };
    // Deletion in progress: finalizers come and go; nothing else is decided.
    if new.metadata.deletion_timestamp.is_some() {
        return AccessAdmission::Answer(response);
    }
    let old_annotations = annotations(&old);
    if new.spec != old.spec {
        return deny(format!(
            "AccessRequest {name}: the spec of a request cannot change once filed; delete it and file a new one"
        ));
    }
    if new_annotations.get(REQUESTED_BY_ANNOTATION) != old_annotations.get(REQUESTED_BY_ANNOTATION)
    {
        return deny(format!(
            "AccessRequest {name}: the annotation {REQUESTED_BY_ANNOTATION} is recorded by Meshplane and cannot be changed"
        ));
    }
    let old_approval = old_annotations.get(APPROVAL_ANNOTATION);
    let new_approval = new_annotations.get(APPROVAL_ANNOTATION);
    if new_approval == old_approval {
        if new_annotations.get(DECIDED_BY_ANNOTATION) != old_annotations.get(DECIDED_BY_ANNOTATION)
        {
            return deny(format!(
                "AccessRequest {name}: the annotation {DECIDED_BY_ANNOTATION} is recorded by Meshplane and cannot be changed"
            ));
        }
        return AccessAdmission::Answer(response);
    }
    // A decision is made, changed or withdrawn: only by an approver of the product who is
    // neither the requester nor the subject.
    if let Some(value) = new_approval {
        if value != APPROVED && value != DENIED {
            return deny(format!(
                "AccessRequest {name}: the annotation {APPROVAL_ANNOTATION} is \"{value}\"; it must be \"{APPROVED}\" or \"{DENIED}\""
            ));
        }
    }
    let namespace = new.namespace_or_default();
    if old_annotations.get(REQUESTED_BY_ANNOTATION) == Some(&username) {
        return deny(format!(
            "AccessRequest {name}: {username} filed this request and cannot decide it; another approver of the product must"
        ));
    }
    let subject = &new.spec.subject;
    let is_subject = subject.user_name(&namespace).as_deref() == Some(username.as_str())
        || (subject.kind == meshplane_api::SubjectKind::Group
            && user.groups.iter().flatten().any(|g| g == &subject.name));
    if is_subject {
        return deny(format!(
            "AccessRequest {name}: {username} is the subject of this request ({}) and cannot decide it",
            subject.qualified_name(&namespace)
        ));
    }
    match new_approval {
        Some(_) => wanted.insert(DECIDED_BY_ANNOTATION.into(), username),
        None => wanted.remove(DECIDED_BY_ANNOTATION),
    };
    let (product_namespace, product) = new.product_key();
    AccessAdmission::Authorize {
        check: ApproverCheck {
            user,
            namespace: product_namespace,
            product,
        },
        response: with_annotations(response, &new, wanted),
    }
}

/// The response with a patch that makes the object's annotations `wanted`.
fn with_annotations(
    response: AdmissionResponse,
    object: &AccessRequest,
    wanted: BTreeMap<String, String>,
) -> AdmissionResponse {
    if object.metadata.annotations.clone().unwrap_or_default() == wanted {
        return response;
    }
    let mut after = object.clone();
    after.metadata.annotations = Some(wanted);
    let before = serde_json::to_value(object).expect("requests serialize");
    let after = serde_json::to_value(&after).expect("requests serialize");
    match response
        .clone()
        .with_patch(json_patch::diff(&before, &after))
    {
        Ok(r) => r,
        Err(e) => response.deny(format!("the annotations could not be encoded: {e}")),
    }
}
