//! Asking the API server who may do what: SubjectAccessReviews.

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::PostParams;
use kube::{Api, Client};
use meshplane_admission::access::ApproverCheck;
use meshplane_admission::ApproverAuthorizer;
use std::collections::BTreeMap;

/// Checks approvers against the cluster's RBAC (or whichever authorizers it runs).
#[derive(Clone)]
pub struct SubjectAccessReviews {
    client: Client,
}

impl SubjectAccessReviews {
    /// Reviews through `client` (its identity needs `create` on subjectaccessreviews).
    pub fn new(client: Client) -> Self {
        SubjectAccessReviews { client }
    }
}

#[async_trait::async_trait]
impl ApproverAuthorizer for SubjectAccessReviews {
    async fn may_approve(&self, check: &ApproverCheck) -> Result<bool, String> {
        let (verb, group, resource) = check.attributes();
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: check.user.username.clone(),
                uid: check.user.uid.clone(),
                groups: check.user.groups.clone(),
                extra: check
                    .user
                    .extra
                    .clone()
                    .map(|extra| extra.into_iter().collect::<BTreeMap<String, Vec<String>>>()),
                resource_attributes: Some(ResourceAttributes {
                    namespace: Some(check.namespace.clone()),
                    verb: Some(verb.into()),
                    group: Some(group.into()),
                    resource: Some(resource.into()),
                    name: Some(check.product.clone()),
                    ..ResourceAttributes::default()
                }),
                ..SubjectAccessReviewSpec::default()
            },
            ..SubjectAccessReview::default()
        };
        let api: Api<SubjectAccessReview> = Api::all(self.client.clone());
        let answer = api
            .create(&PostParams::default(), &review)
            .await
            .map_err(|e| format!("the SubjectAccessReview failed: {e}"))?;
        Ok(answer
            .status
            .is_some_and(|s| s.allowed && s.denied != Some(true)))
    }
}
