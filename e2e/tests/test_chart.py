"""The Helm chart, installed into the real API server with the real helm client."""
import subprocess
import uuid

import pytest
import yaml

from conftest import REPO, kubectl, kubectl_json, require_env


def helm(*args, check=True):
    proc = subprocess.run([require_env("MESHPLANE_HELM"), *args], capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed: {proc.stderr}")
    return proc


@pytest.mark.parametrize("values", [[], ["--set", "webhook.certManager.enabled=true"]])
def test_the_chart_lints(values):
    out = helm("lint", f"{REPO}/charts/meshplane", *values).stdout
    assert "0 chart(s) failed" in out


def controller_container(*values):
    rendered = helm("template", "meshplane", f"{REPO}/charts/meshplane", *values).stdout
    for document in yaml.safe_load_all(rendered):
        if document and document["kind"] == "Deployment" and document["metadata"]["name"] == "meshplane-controller":
            return document["spec"]["template"]["spec"]["containers"][0]
    raise AssertionError("no controller Deployment rendered")


def test_workers_get_keys_per_product_with_an_iam_endpoint_and_a_shared_pair_only_without_one():
    shared = controller_container("--set", "controller.s3.workerCredentialsSecret=meshplane-s3-workers")
    env = {e["name"]: e for e in shared["env"]}
    assert env["MESHPLANE_WORKER_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]["name"] == "meshplane-s3-workers"
    assert not any(a.startswith("--iam-endpoint") for a in shared["args"])
    scoped = controller_container("--set", "controller.s3.workerCredentialsSecret=meshplane-s3-workers",
                                  "--set", "controller.s3.iamEndpoint=http://s3.example:8333")
    assert "--iam-endpoint=http://s3.example:8333" in scoped["args"]
    assert "MESHPLANE_WORKER_ACCESS_KEY_ID" not in {e["name"] for e in scoped["env"]}


def test_helm_install_creates_the_webhook_and_controller_workloads_and_their_rbac():
    namespace = f"mp-{uuid.uuid4().hex[:8]}"
    release = "meshplane"
    # No pod starts here (no replicas): test_platform_pods.py runs the platform in pods.
    helm("install", release, f"{REPO}/charts/meshplane", "--namespace", namespace, "--create-namespace", "--wait=false",
         "--set", "webhook.replicas=0", "--set", "controller.replicas=0", "--set", "query.replicas=0",
         "--set", "image.repository=meshplane.local/meshplane", "--set", "image.tag=dev", "--set", "image.pullPolicy=Never")
    try:
        deployment = kubectl_json("-n", namespace, "get", "deployment", "meshplane-webhook")
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["args"][0] == "webhook"
        assert f"--namespace={namespace}" in container["args"]
        assert deployment["spec"]["replicas"] == 0
        assert kubectl_json("-n", namespace, "get", "service", "meshplane-webhook")["spec"]["ports"][0]["port"] == 443
        rules = kubectl_json("get", "clusterrole", "meshplane-webhook")["rules"]
        assert any("governancepolicies" in r["resources"] and "watch" in r["verbs"] for r in rules)
        controller = kubectl_json("-n", namespace, "get", "deployment", "meshplane-controller")
        spec = controller["spec"]["template"]["spec"]
        args = spec["containers"][0]["args"]
        assert args[0] == "controller" and "--lease-name=meshplane-controller" in args
        assert controller["spec"]["replicas"] == 0
        assert "--image-pull-policy=Never" in args and "--image=meshplane.local/meshplane:dev" in args
        assert spec["serviceAccountName"] == "meshplane-controller"
        env = {e["name"] for e in spec["containers"][0]["env"]}
        assert {"POD_NAME", "POD_NAMESPACE", "AWS_ACCESS_KEY_ID"} <= env
        # By default the controller's admin pair is never handed to the workers.
        assert "MESHPLANE_WORKER_ACCESS_KEY_ID" not in env
        assert "--catalog-addr=0.0.0.0:8090" in args
        catalog = kubectl_json("-n", namespace, "get", "service", "meshplane-controller-catalog")["spec"]
        assert catalog["ports"][0]["targetPort"] == "catalog"
        assert {"name": "catalog", "containerPort": 8090, "protocol": "TCP"} in spec["containers"][0]["ports"]
        lease_rules = kubectl_json("-n", namespace, "get", "role", "meshplane-controller-leader-election")["rules"]
        assert lease_rules[0]["resources"] == ["leases"]
        # The controller's service account may do what reconciling needs, as the API server sees it.
        who = f"system:serviceaccount:{namespace}:meshplane-controller"
        for verb, resource in [("patch", "dataproducts.meshplane.dev"), ("patch", "dataproducts.meshplane.dev/status"),
                               ("patch", "deployments.apps"), ("create", "secrets"), ("bind", "roles.rbac.authorization.k8s.io")]:
            assert kubectl("auth", "can-i", verb, resource, "--as", who, "-n", "default", check=False).stdout.strip() == "yes", (verb, resource)
        assert kubectl("auth", "can-i", "update", "leases.coordination.k8s.io", "--as", who, "-n", namespace,
                       check=False).stdout.strip() == "yes"
        assert kubectl("auth", "can-i", "get", "secrets", "--as", who, "-n", "default", check=False).stdout.strip() == "no"
        # The query port: its Service speaks PostgreSQL on 5432; its identity may review
        # tokens and watch grants, and read no Secret.
        query = kubectl_json("-n", namespace, "get", "deployment", "meshplane-query")["spec"]["template"]["spec"]
        assert query["containers"][0]["args"][0] == "query"
        assert "--statement-timeout=30s" in query["containers"][0]["args"]
        ports = kubectl_json("-n", namespace, "get", "service", "meshplane-query")["spec"]["ports"]
        assert {"name": "postgres", "port": 5432, "targetPort": "postgres", "protocol": "TCP"} in ports
        reader = f"system:serviceaccount:{namespace}:meshplane-query"
        for verb, resource, allowed in [("create", "tokenreviews.authentication.k8s.io", "yes"),
                                        ("watch", "accessrequests.meshplane.dev", "yes"),
                                        ("patch", "accessrequests.meshplane.dev", "no"),
                                        ("get", "secrets", "no")]:
            assert kubectl("auth", "can-i", verb, resource, "--as", reader, "-n", "default",
                           check=False).stdout.strip() == allowed, (verb, resource)
        # The CRDs ship in the chart and match the repository's.
        with open(f"{REPO}/crds/meshplane.dev_crds.yaml") as a, open(f"{REPO}/charts/meshplane/crds/meshplane.dev_crds.yaml") as b:
            assert a.read() == b.read()
    finally:
        helm("uninstall", release, "--namespace", namespace, check=False)
        kubectl("delete", "namespace", namespace, "--wait=false", check=False)
