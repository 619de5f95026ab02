//! Strimzi `KafkaTopic` resources after they are applied: their readiness as the topic
//! operator reports it, and their release or removal when a product is deleted.

use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::Client;
use thiserror::Error;

/// Annotation that tells Strimzi's topic operator to stop managing a topic: deleting the
/// resource afterwards leaves the Kafka topic and its data in place.
pub const UNMANAGED_ANNOTATION: &str = "strimzi.io/managed";

/// A request about a KafkaTopic failed.
#[derive(Debug, Error)]
pub enum StrimziError {
    /// Reading the KafkaTopic failed.
    #[error("failed to read KafkaTopic {namespace}/{name}: {source}")]
    Read {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// Cause.
        source: kube::Error,
    },
    /// Annotating or deleting the KafkaTopic failed.
    #[error("failed to release KafkaTopic {namespace}/{name}: {source}")]
    Release {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// Cause.
        source: kube::Error,
    },
}

/// What the topic operator says about a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicState {
    /// `Ready=True`.
    Ready,
    /// Not reconciled yet, or no Ready condition.
    Pending(String),
    /// `Ready=False` with the operator's message.
    Failed(String),
}

fn resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kafka.strimzi.io", "v1beta2", "KafkaTopic"),
        "kafkatopics",
    )
}

/// Reads the Ready condition of a KafkaTopic.
pub async fn topic_state(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<TopicState, StrimziError> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource());
    let topic = api
        .get_opt(name)
        .await
        .map_err(|source| StrimziError::Read {
            namespace: namespace.into(),
            name: name.into(),
            source,
        })?;
    let Some(topic) = topic else {
        return Ok(TopicState::Pending("KafkaTopic not found".into()));
    };
    Ok(state_of(&topic.data))
}

/// The state a KafkaTopic's `status` describes (observedGeneration must be current).
pub fn state_of(topic: &serde_json::Value) -> TopicState {
    let generation = topic
        .pointer("/metadata/generation")
        .and_then(|g| g.as_i64());
    let status = topic.get("status");
    let observed = status
        .and_then(|s| s.get("observedGeneration"))
        .and_then(|g| g.as_i64());
    if generation.is_some() && observed.is_some() && observed < generation {
        return TopicState::Pending("the topic operator has not seen the latest spec".into());
    }
    let ready = status
        .and_then(|s| s.get("conditions"))
        .and_then(|c| c.as_array())
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.get("type").and_then(|t| t.as_str()) == Some("Ready"))
        });
    match ready {
        None => TopicState::Pending("waiting for the topic operator".into()),
        Some(c) if c.get("status").and_then(|s| s.as_str()) == Some("True") => TopicState::Ready,
        Some(c) => TopicState::Failed(
            c.get("message")
                .and_then(|m| m.as_str())
                .unwrap_or("not ready")
                .to_string(),
        ),
    }
}

/// Removes a KafkaTopic resource. With `keep_topic` it is first marked unmanaged, so the
/// Kafka topic and its data stay.
pub async fn remove_topic(
    client: &Client,
    namespace: &str,
    name: &str,
    keep_topic: bool,
) -> Result<(), StrimziError> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource());
    let fail = |source| StrimziError::Release {
        namespace: namespace.into(),
        name: name.into(),
        source,
    };
    if keep_topic {
        let patch = serde_json::json!({
            "metadata": { "annotations": { UNMANAGED_ANNOTATION: "false" } }
        });
        match api
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
            Err(e) => return Err(fail(e)),
        }
    }
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(fail(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_topic_is_ready_only_when_the_operator_saw_its_latest_spec() {
        let ready = json!({"metadata": {"generation": 2},
            "status": {"observedGeneration": 2, "conditions": [{"type": "Ready", "status": "True"}]}});
        assert_eq!(state_of(&ready), TopicState::Ready);
        let stale = json!({"metadata": {"generation": 3},
            "status": {"observedGeneration": 2, "conditions": [{"type": "Ready", "status": "True"}]}});
        assert!(matches!(state_of(&stale), TopicState::Pending(_)));
        let failed = json!({"metadata": {"generation": 1},
            "status": {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "False", "message": "Invalid partitions"}]}});
        assert_eq!(
            state_of(&failed),
            TopicState::Failed("Invalid partitions".into())
        );
        assert!(matches!(
            state_of(&json!({"metadata": {}})),
            TopicState::Pending(_)
        ));
    }
}
