"""Governance enforced by the API server: the admission webhook (`meshplane webhook`)
registered with the real kube-apiserver, exercised with kubectl exactly as users type."""
import os
import subprocess
import uuid

import pytest

from conftest import REPO, example, kubectl, kubectl_json, wait_until

WEBHOOK_ADDR = os.environ.get("MESHPLANE_WEBHOOK_ADDR", "127.0.0.1:9443")
OPERATOR_NAMESPACE = "meshplane-system"



def meshplane_binary():
    path = os.environ.get("MESHPLANE_BIN", f"{REPO}/target/release/meshplane")
    if not os.path.exists(path):
        pytest.fail(f"{path} does not exist: build it with `cargo build -p meshplane` (make e2e does)")
    return path


def start_webhook(log):
    return subprocess.Popen(
        [meshplane_binary(), "webhook", "--listen", WEBHOOK_ADDR, "--url", f"https://{WEBHOOK_ADDR}",
         "--namespace", OPERATOR_NAMESPACE],
        stdout=log, stderr=subprocess.STDOUT,
    )


def rejected(namespace):
    """A dry run of a product the platform policy rejects: fails once governance is in force."""
    proc = kubectl("apply", "--dry-run=server", "-f", "-",
                   input=example("rejected/pii-over-retention.yaml", namespace), check=False)
    return proc.returncode != 0 and "violates governance" in proc.stderr


@pytest.fixture(scope="module")
def webhook(tmp_path_factory):
    kubectl("apply", "-f", "-", input=f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {OPERATOR_NAMESPACE}\n")
    probe_ns = f"probe-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", probe_ns)
    log = open(tmp_path_factory.mktemp("webhook") / "webhook.log", "w+")
    process = start_webhook(log)
    try:
        wait_until(lambda: kubectl("get", "validatingwebhookconfiguration", "meshplane", check=False).returncode == 0
                   or process.poll() is not None, 60, "the webhook configurations")
        assert process.poll() is None, open(log.name).read()
        kubectl("apply", "-f", f"{REPO}/examples/policy.yaml")
        kubectl("delete", "-f", f"{REPO}/examples/audit-policy.yaml", "--ignore-not-found")
        wait_until(lambda: rejected(probe_ns), 60, "the platform policy to be in force")
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)
        # Never leave a failurePolicy=Fail webhook pointing at nothing behind.
        kubectl("delete", "mutatingwebhookconfiguration,validatingwebhookconfiguration", "meshplane",
                "--ignore-not-found")
        kubectl("delete", "namespace", probe_ns, "--wait=false", check=False)
        log.close()


def test_orders_is_admitted_and_stored_with_its_pii_masked(webhook, namespace):
    kubectl("apply", "-f", "-", input=example("orders.yaml", namespace))
    product = kubectl_json("-n", namespace, "get", "dataproduct", "orders")
    fields = {f["name"]: f for f in product["spec"]["schema"]["fields"]}
    for pii in ["customer_email", "shipping_address"]:
        assert fields[pii]["masking"] == "hash" and fields[pii]["pii"] is True
        assert fields[pii]["classification"] == "confidential"
    assert product["spec"]["classification"] == "confidential"
    assert product["spec"]["encryption"] == {"enabled": True, "algorithm": "AES256"}
    assert product["metadata"]["labels"]["compliance.meshplane.dev/gdpr"] == "true"


@pytest.mark.parametrize("how", [
    ["create", "-f", "-"],
    ["apply", "-f", "-"],
    ["apply", "--server-side", "-f", "-"],
    ["create", "--dry-run=server", "-f", "-"],
])
def test_pii_kept_too_long_is_rejected_with_the_engines_message(webhook, namespace, how):
    proc = kubectl(*how, input=example("rejected/pii-over-retention.yaml", namespace), check=False)
    assert proc.returncode != 0
    assert 'admission webhook "validate.dataproducts.meshplane.dev" denied the request' in proc.stderr
    assert "retention 730d exceeds the maximum 365d for personal data (PII field `customer_email`)" in proc.stderr
    assert "policy platform-baseline" in proc.stderr
    assert kubectl("-n", namespace, "get", "dataproduct", "orders-archive", check=False).returncode != 0


@pytest.mark.parametrize("how", [
    ["create", "-f", "-"],
    ["apply", "--server-side", "-f", "-"],
    ["apply", "--dry-run=server", "-f", "-"],
])
def test_user_id_is_rejected_naming_customer_id(webhook, namespace, how):
    proc = kubectl(*how, input=example("rejected/user-id-naming.yaml", namespace), check=False)
    assert proc.returncode != 0
    assert "the organisation's term is `customer_id`" in proc.stderr


@pytest.mark.parametrize("how", ["patch", "server-side-apply", "dry-run"])
def test_an_update_that_breaks_the_policy_is_rejected(webhook, namespace, how):
    kubectl("apply", "-f", "-", input=example("orders.yaml", namespace))
    if how == "server-side-apply":
        proc = kubectl("apply", "--server-side", "--force-conflicts", "-f", "-",
                       input=example("orders.yaml", namespace).replace("retention: 90d", "retention: 730d"), check=False)
    else:
        extra = ["--dry-run=server"] if how == "dry-run" else []
        proc = kubectl("-n", namespace, "patch", "dataproduct", "orders", "--type=merge",
                       "-p", '{"spec":{"retention":"730d"}}', *extra, check=False)
    assert proc.returncode != 0, proc.stdout
    assert "exceeds the maximum 365d for personal data" in proc.stderr
    assert kubectl_json("-n", namespace, "get", "dataproduct", "orders")["spec"]["retention"] == "90d"


def test_an_audit_policy_warns_and_admits(webhook, namespace):
    kubectl("apply", "-f", f"{REPO}/examples/audit-policy.yaml")
    try:
        def warned():
            kubectl("-n", namespace, "delete", "dataproduct", "orders", "--ignore-not-found")
            proc = kubectl("apply", "-f", "-", input=example("orders.yaml", namespace))
            return "Warning: policy freshness-checks-preview (Audit): spec.quality: a freshness quality check is required" in proc.stderr
        wait_until(warned, 60, "the Audit policy's warning")
        assert kubectl("-n", namespace, "get", "dataproduct", "orders").returncode == 0
    finally:
        kubectl("delete", "-f", f"{REPO}/examples/audit-policy.yaml", "--ignore-not-found")


def test_an_invalid_policy_is_rejected_naming_the_pattern(webhook):
    policy = (
        "apiVersion: meshplane.dev/v1alpha1\nkind: GovernancePolicy\nmetadata:\n  name: broken-patterns\n"
        "spec:\n  piiDetection:\n    fieldPatterns: ['email', '([unclosed']\n"
    )
    proc = kubectl("apply", "-f", "-", input=policy, check=False)
    assert proc.returncode != 0
    assert "spec.piiDetection.fieldPatterns[1]" in proc.stderr and "([unclosed" in proc.stderr


def test_a_policy_whose_patterns_are_too_large_together_is_rejected_naming_the_field(webhook):
    """Each pattern compiles, the set of twelve exceeds the regex size limit: denied with
    the field named, and the webhook keeps serving (it used to crash on such a policy)."""
    patterns = ", ".join(f"'\\w{{30}}x{i}'" for i in range(1, 13))
    policy = (
        "apiVersion: meshplane.dev/v1alpha1\nkind: GovernancePolicy\nmetadata:\n  name: oversized-patterns\n"
        f"spec:\n  piiDetection:\n    fieldPatterns: [{patterns}]\n"
    )
    proc = kubectl("apply", "-f", "-", input=policy, check=False)
    assert proc.returncode != 0
    assert "GovernancePolicy oversized-patterns is invalid" in proc.stderr, proc.stderr
    assert "spec.piiDetection.fieldPatterns: the combined patterns exceed the regex size limit" in proc.stderr, \
        proc.stderr
    assert kubectl("get", "governancepolicy", "oversized-patterns", check=False).returncode != 0
    assert webhook.poll() is None, "the webhook stopped"
    assert "meshplane_policy_rebuild_failures_total" in served_metrics()


def served_metrics():
    """The webhook's /metrics, on its HTTPS port (its CA is self-managed: not verified here)."""
    import ssl
    import urllib.request
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with urllib.request.urlopen(f"https://{WEBHOOK_ADDR}/metrics", context=context, timeout=10) as response:
        return response.read().decode()


def test_the_operator_namespace_is_exempt(webhook):
    proc = kubectl("apply", "--dry-run=server", "-f", "-",
                   input=example("rejected/pii-over-retention.yaml", OPERATOR_NAMESPACE), check=False)
    assert proc.returncode == 0, proc.stderr


def test_with_the_webhook_stopped_products_cannot_be_created(webhook, namespace):
    """failurePolicy: Fail — governance cannot be bypassed by taking the webhook down."""
    webhook.terminate()
    webhook.wait(timeout=30)
    proc = kubectl("apply", "-f", "-", input=example("orders.yaml", namespace), check=False)
    assert proc.returncode != 0
    assert "failed calling webhook" in proc.stderr
    assert kubectl("-n", namespace, "get", "dataproduct", "orders", check=False).returncode != 0


def served_certificate():
    import ssl
    host, port = WEBHOOK_ADDR.split(":")
    return ssl.get_server_certificate((host, int(port)))


def test_a_certificate_close_to_expiry_is_renewed_and_served_without_a_restart(tmp_path, namespace):
    """Runs its own webhook checking every second; the Secret is aged to 10 days left."""
    kubectl("delete", "mutatingwebhookconfiguration,validatingwebhookconfiguration", "meshplane", "--ignore-not-found")
    log = open(tmp_path / "webhook.log", "w+")
    process = subprocess.Popen(
        [meshplane_binary(), "webhook", "--listen", WEBHOOK_ADDR, "--url", f"https://{WEBHOOK_ADDR}",
         "--namespace", OPERATOR_NAMESPACE, "--cert-check-seconds", "1"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: kubectl("get", "validatingwebhookconfiguration", "meshplane", check=False).returncode == 0
                   or process.poll() is not None, 60, "the webhook configurations")
        assert process.poll() is None, open(log.name).read()
        secret = kubectl_json("-n", OPERATOR_NAMESPACE, "get", "secret", "meshplane-webhook-tls")
        before = secret["data"]["tls.crt"]
        ca_before = secret["data"]["ca.crt"]
        served_before = wait_until(served_certificate, 30, "the webhook to serve TLS")
        import time
        ten_days = str(int(time.time()) + 10 * 86400)
        kubectl("-n", OPERATOR_NAMESPACE, "annotate", "secret", "meshplane-webhook-tls",
                f"meshplane.dev/not-after={ten_days}", "--overwrite")
        renewed = wait_until(
            lambda: (s := kubectl_json("-n", OPERATOR_NAMESPACE, "get", "secret", "meshplane-webhook-tls"))["data"]["tls.crt"] != before and s,
            60, "the certificate to be renewed")
        assert renewed["data"]["ca.crt"] == ca_before, "renewal keeps the CA, so the caBundle stays valid"
        wait_until(lambda: served_certificate() != served_before, 30, "the renewed certificate to be served")
        assert process.poll() is None, "reloaded without a restart"
        proc = kubectl("apply", "--dry-run=server", "-f", "-", input=example("orders.yaml", namespace))
        assert "(server dry run)" in proc.stdout
    finally:
        process.terminate()
        process.wait(timeout=30)
        kubectl("delete", "mutatingwebhookconfiguration,validatingwebhookconfiguration", "meshplane", "--ignore-not-found")
        log.close()
