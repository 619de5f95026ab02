//! The requests a reconcile makes to the API server, as script steps with their answers.

use super::harness::{Call, Step};
use super::{NAMESPACE, TOPICS_NAMESPACE};
use http::StatusCode;
use meshplane_api::DataProduct;
use meshplane_controller::FINALIZER;
use meshplane_planner::prune::targets;
use meshplane_planner::{child_kind, ChildId, ChildKind, DesiredState, PlatformSettings};
use serde_json::{json, Value};

/// `what` of the status patch.
pub const STATUS_PATCH: &str = "the status patch";
/// `what` of the finalizer patch (added or removed).
pub const FINALIZER_PATCH: &str = "the finalizer patch";
/// The KafkaTopic of the Orders source topic `orders.events`.
pub const KAFKA_TOPIC: &str = "orders-events";

const MERGE_PATCH: &str = "application/merge-patch+json";
const APPLY_PATCH: &str = "application/apply-patch+yaml";

fn product_path(product: &DataProduct) -> String {
    format!(
        "/apis/meshplane.dev/v1alpha1/namespaces/{}/dataproducts/{}",
        product.metadata.namespace.as_deref().unwrap_or_default(),
        product.metadata.name.as_deref().unwrap_or_default()
    )
}

/// The collection path of a kind in a namespace.
fn kind_path(kind: &ChildKind, namespace: &str) -> String {
    if kind.group.is_empty() {
        format!(
            "/api/{}/namespaces/{namespace}/{}",
            kind.version, kind.plural
        )
    } else {
        format!(
            "/apis/{}/{}/namespaces/{namespace}/{}",
            kind.group, kind.version, kind.plural
        )
    }
}

fn kafka_topic_path() -> String {
    format!(
        "/apis/kafka.strimzi.io/v1beta2/namespaces/{TOPICS_NAMESPACE}/kafkatopics/{KAFKA_TOPIC}"
    )
}

/// A Kubernetes `Status` failure, as the API server answers it.
fn failure(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Status", "metadata": {},
        "status": "Failure", "reason": reason, "message": message, "code": code,
    })
}

fn with_resource_version(body: &Value, version: &str) -> Value {
    let mut body = body.clone();
    body["metadata"]["resourceVersion"] = json!(version);
    body
}

fn product_with_finalizers(product: &DataProduct, finalizers: &Value) -> Value {
    let mut answer = serde_json::to_value(product).expect("a product serializes");
    answer["metadata"]["finalizers"] = finalizers.clone();
    answer["metadata"]["resourceVersion"] = json!("101");
    answer
}

/// The merge patch that sets `metadata.finalizers` to exactly `expected`, guarded by the
/// product's resourceVersion.
pub fn finalizers_set(product: &DataProduct, expected: &[&str]) -> Step {
    let expected = json!(expected);
    let version = json!(product.metadata.resource_version);
    let answer = product_with_finalizers(product, &expected);
    Step::Kube(
        Call::patch(FINALIZER_PATCH, product_path(product))
            .content_type(MERGE_PATCH)
            .check(move |body| {
                assert_eq!(
                    body["metadata"]["finalizers"], expected,
                    "finalizers patched"
                );
                assert_eq!(
                    body["metadata"]["resourceVersion"], version,
                    "the finalizer patch is guarded by the resourceVersion"
                );
            })
            .reply(StatusCode::OK, answer),
    )
}

/// The finalizer added to a product that has none.
pub fn finalizer_added(product: &DataProduct) -> Step {
    finalizers_set(product, &[FINALIZER])
}

/// An Event of `type_` (`Normal`, `Warning`) and `reason` on the product, whose note
/// contains `note_contains`.
pub fn event(product: &DataProduct, type_: &str, reason: &str, note_contains: &str) -> Step {
    let (type_, reason, note) = (
        type_.to_string(),
        reason.to_string(),
        note_contains.to_string(),
    );
    let name = product.metadata.name.clone();
    let uid = product.metadata.uid.clone();
    Step::Kube(
        Call::post(
            format!("the {reason} Event"),
            format!("/apis/events.k8s.io/v1/namespaces/{NAMESPACE}/events"),
        )
        .check(move |body| {
            assert_eq!(body["reason"], json!(reason), "Event reason");
            assert_eq!(body["type"], json!(type_), "type of the {reason} Event");
            assert_eq!(body["regarding"]["kind"], json!("DataProduct"));
            assert_eq!(body["regarding"]["name"], json!(name));
            assert_eq!(body["regarding"]["uid"], json!(uid));
            let text = body["note"].as_str().unwrap_or_default();
            assert!(
                text.contains(&note),
                "the {reason} Event's note {text:?} should mention {note:?}"
            );
        })
        .reply_with(|body| (StatusCode::CREATED, with_resource_version(body, "1"))),
    )
}

/// The same Event again within a few minutes: the recorder counts it in the Event's
/// series (a merge patch of the Event it created first) instead of creating another.
pub fn event_repeated(product: &DataProduct, type_: &str, reason: &str) -> Step {
    let (type_, reason) = (type_.to_string(), reason.to_string());
    let name = product.metadata.name.clone().unwrap_or_default();
    Step::Kube(
        Call::patch(
            format!("the repeated {reason} Event"),
            format!("/apis/events.k8s.io/v1/namespaces/{NAMESPACE}/events/{name}."),
        )
        .path_prefix()
        .content_type(MERGE_PATCH)
        .check(move |body| {
            assert_eq!(body["reason"], json!(reason), "Event reason");
            assert_eq!(body["type"], json!(type_), "type of the {reason} Event");
            assert_eq!(body["series"]["count"], json!(2), "seen twice");
        })
        .reply_with(|body| (StatusCode::OK, with_resource_version(body, "2"))),
    )
}

fn secret_call(name: &str, status: StatusCode) -> Step {
    let wanted = name.to_string();
    Step::Kube(
        Call::post(
            format!("the creation of Secret {name}"),
            format!("/api/v1/namespaces/{NAMESPACE}/secrets"),
        )
        .check(move |body| {
            assert_eq!(body["metadata"]["name"], json!(wanted), "Secret created");
            assert_eq!(body["metadata"]["namespace"], json!(NAMESPACE));
            assert_eq!(
                body["metadata"]["labels"]["app.kubernetes.io/managed-by"],
                json!("meshplane")
            );
        })
        .reply_with(move |body| {
            if status == StatusCode::CONFLICT {
                (
                    status,
                    failure(409, "AlreadyExists", "secrets already exists"),
                )
            } else {
                (status, with_resource_version(body, "1"))
            }
        }),
    )
}

/// A Secret created (the API server had none of that name).
pub fn secret_created(name: &str) -> Step {
    secret_call(name, StatusCode::CREATED)
}

/// A Secret the controller tries to create, that already exists (409).
pub fn secret_exists(name: &str) -> Step {
    secret_call(name, StatusCode::CONFLICT)
}

/// The resourceVersion's metadata of an existing Secret, as the controller reads it after
/// its create was refused (409).
fn secret_version_read(name: &str) -> Step {
    Step::Kube(
        Call::get(
            format!("the read of Secret {name}'s version"),
            format!("/api/v1/namespaces/{NAMESPACE}/secrets/{name}"),
        )
        .reply(
            StatusCode::OK,
            json!({
                "apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
                "metadata": {"name": name, "namespace": NAMESPACE, "resourceVersion": "1"},
            }),
        ),
    )
}

/// The catalog Secret, left to the platform team (no catalog URI is configured in these
/// tests) and not there: looked at only.
fn catalog_secret_absent() -> Step {
    Step::Kube(
        Call::get(
            "the read of Secret meshplane-catalog's version",
            format!("/api/v1/namespaces/{NAMESPACE}/secrets/meshplane-catalog"),
        )
        .reply(
            StatusCode::NOT_FOUND,
            failure(404, "NotFound", "secrets \"meshplane-catalog\" not found"),
        ),
    )
}

/// What the worker pod template pins after [`secrets`]: the catalog Secret absent, the
/// others at version 1.
pub const PINNED_SECRET_VERSIONS: &str =
    "meshplane-catalog=absent,meshplane-masking-key=1,meshplane-s3-credentials=1";

/// The Secrets of a namespace the controller has not seen yet (by name: the workers' ones,
/// then the product's read credentials).
pub fn secrets(created: bool) -> Vec<Step> {
    let mut steps = vec![catalog_secret_absent()];
    for name in ["meshplane-masking-key", "meshplane-s3-credentials"] {
        if created {
            steps.push(secret_created(name));
        } else {
            steps.push(secret_exists(name));
            steps.push(secret_version_read(name));
        }
    }
    steps.push(if created {
        secret_created("orders-read-credentials")
    } else {
        secret_exists("orders-read-credentials")
    });
    steps
}

/// Server-side apply (field manager `meshplane`, forced) of every child the planner
/// rendered, in any order.
pub fn applies(desired: &DesiredState) -> Step {
    let calls = desired
        .children
        .manifests()
        .into_iter()
        .map(|manifest| {
            let id = ChildId::of(&manifest);
            let api_version = manifest["apiVersion"].as_str().unwrap_or_default();
            let kind = child_kind(api_version, &id.kind)
                .unwrap_or_else(|| panic!("{api_version}/{} is not a child kind", id.kind));
            let path = format!("{}/{}", kind_path(kind, &id.namespace), id.name);
            let wanted = manifest.clone();
            Call::patch(
                format!("the apply of {} {}/{}", id.kind, id.namespace, id.name),
                path,
            )
            .content_type(APPLY_PATCH)
            .query("fieldManager", "meshplane")
            .query("force", "true")
            .check(move |body| {
                assert_eq!(
                    body, &wanted,
                    "the applied object is the planner's manifest"
                );
            })
            .reply_with(|body| (StatusCode::OK, with_resource_version(body, "1")))
        })
        .collect();
    Step::KubeAnyOrder("the server-side applies".into(), calls)
}

/// The label selector of the Orders product's children.
pub const CHILDREN_SELECTOR: &str =
    "app.kubernetes.io/managed-by=meshplane,meshplane.dev/product=orders";

/// The LISTs that look for orphans: every child kind in the product's namespace, and
/// KafkaTopics in the topic operator's, by the product's children selector. None found.
pub fn pruning_lists(product: &DataProduct, settings: &PlatformSettings) -> Step {
    let selector = CHILDREN_SELECTOR;
    let calls = targets(product, settings)
        .into_iter()
        .map(|target| {
            Call::get(
                format!(
                    "the pruning LIST of {} in {}",
                    target.kind.plural, target.namespace
                ),
                kind_path(target.kind, &target.namespace),
            )
            .query("labelSelector", selector)
            .reply(
                StatusCode::OK,
                json!({
                    "apiVersion": "meta.k8s.io/v1",
                    "kind": "PartialObjectMetadataList",
                    "metadata": { "resourceVersion": "1" },
                    "items": [],
                }),
            )
        })
        .collect();
    Step::KubeAnyOrder("the pruning LISTs".into(), calls)
}

/// The readiness GET of the source KafkaTopic; the topic operator reports it Ready.
pub fn topic_ready() -> Step {
    Step::Kube(
        Call::get(
            format!("the readiness GET of KafkaTopic {TOPICS_NAMESPACE}/{KAFKA_TOPIC}"),
            kafka_topic_path(),
        )
        .reply(
            StatusCode::OK,
            json!({
                "apiVersion": "kafka.strimzi.io/v1beta2",
                "kind": "KafkaTopic",
                "metadata": {
                    "name": KAFKA_TOPIC, "namespace": TOPICS_NAMESPACE,
                    "generation": 1, "resourceVersion": "7",
                },
                "status": {
                    "observedGeneration": 1,
                    "conditions": [{ "type": "Ready", "status": "True" }],
                },
            }),
        ),
    )
}

/// The GET of the ingestion Deployment, reporting `available` replicas.
pub fn deployment(available: i32) -> Step {
    Step::Kube(
        Call::get(
            format!("the GET of Deployment {NAMESPACE}/orders-ingest"),
            format!("/apis/apps/v1/namespaces/{NAMESPACE}/deployments/orders-ingest"),
        )
        .reply(
            StatusCode::OK,
            json!({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": { "name": "orders-ingest", "namespace": NAMESPACE },
                "status": { "replicas": 1, "updatedReplicas": 1, "availableReplicas": available },
            }),
        ),
    )
}

/// The label selector of the Orders product's worker pods.
pub const WORKER_SELECTOR: &str =
    "app.kubernetes.io/name=meshplane-ingest,meshplane.dev/product=orders";

/// The LIST of the Orders worker pods (made when no worker is available), answered with
/// `pods`.
pub fn worker_pods(pods: Vec<Value>) -> Step {
    Step::Kube(
        Call::get(
            format!("the LIST of the worker pods in {NAMESPACE}"),
            format!("/api/v1/namespaces/{NAMESPACE}/pods"),
        )
        .query("labelSelector", WORKER_SELECTOR)
        .reply(
            StatusCode::OK,
            json!({
                "apiVersion": "v1",
                "kind": "PodList",
                "metadata": { "resourceVersion": "1" },
                "items": pods,
            }),
        ),
    )
}

/// A worker pod of Orders whose container waits with `reason` and `message` (as the
/// kubelet reports an image it cannot get).
pub fn waiting_worker_pod(name: &str, image: &str, reason: &str, message: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "labels": {
                "app.kubernetes.io/name": "meshplane-ingest",
                "meshplane.dev/product": "orders",
            },
        },
        "spec": { "containers": [{ "name": "ingest", "image": image }] },
        "status": {
            "phase": "Pending",
            "containerStatuses": [{
                "name": "ingest", "image": image, "imageID": "", "ready": false,
                "restartCount": 0,
                "state": { "waiting": { "reason": reason, "message": message } },
            }],
        },
    })
}

/// The merge patch of the status subresource; answered with the product carrying it.
pub fn status_patched(product: &DataProduct) -> Step {
    let answer = serde_json::to_value(product).expect("a product serializes");
    Step::Kube(
        Call::patch(STATUS_PATCH, format!("{}/status", product_path(product)))
            .content_type(MERGE_PATCH)
            .reply_with(move |body| {
                let mut answer = answer;
                answer["status"] = body["status"].clone();
                (StatusCode::OK, answer)
            }),
    )
}

/// The KafkaTopic marked unmanaged (`strimzi.io/managed: "false"`), so deleting it keeps
/// the Kafka topic.
pub fn topic_unmanaged() -> Step {
    Step::Kube(
        Call::patch(
            format!("the unmanaged annotation of KafkaTopic {KAFKA_TOPIC}"),
            kafka_topic_path(),
        )
        .content_type(MERGE_PATCH)
        .check(|body| {
            assert_eq!(
                body,
                &json!({ "metadata": { "annotations": { "strimzi.io/managed": "false" } } })
            );
        })
        .reply(
            StatusCode::OK,
            json!({
                "apiVersion": "kafka.strimzi.io/v1beta2", "kind": "KafkaTopic",
                "metadata": {
                    "name": KAFKA_TOPIC, "namespace": TOPICS_NAMESPACE,
                    "annotations": { "strimzi.io/managed": "false" },
                },
            }),
        ),
    )
}

/// The KafkaTopic deleted.
pub fn topic_deleted() -> Step {
    Step::Kube(
        Call::delete(
            format!("the deletion of KafkaTopic {KAFKA_TOPIC}"),
            kafka_topic_path(),
        )
        .reply(
            StatusCode::OK,
            json!({
                "apiVersion": "v1", "kind": "Status", "metadata": {},
                "status": "Success", "details": { "name": KAFKA_TOPIC, "kind": "kafkatopics" },
            }),
        ),
    )
}
