"""Shared helpers for tests against the local stack (or any cluster named by KUBECONFIG).

The stack's env file (e2e/stack/up.sh writes it) gives the kubeconfig, Kafka bootstrap
and S3 endpoint; `make e2e` sources it before pytest runs.
"""
import base64
import json
import os
import re
import socket
import subprocess
import time
import uuid

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def example(name, namespace):
    """An example manifest from examples/, moved into `namespace`."""
    with open(f"{REPO}/examples/{name}") as f:
        return re.sub(r"(?m)^  namespace: .*$", f"  namespace: {namespace}", f.read())


def require_env(name):
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: start the stack with `make stack-up` and source .stack/env")
    return value


def kubectl(*args, check=True, input=None, timeout=120):
    """Runs kubectl as a user would; returns the completed process (killed after `timeout` s:
    give a `kubectl wait --timeout` longer than 120 s a longer one)."""
    proc = subprocess.run(["kubectl", *args], capture_output=True, text=True, input=input, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc


def kubectl_json(*args):
    return json.loads(kubectl(*args, "-o", "json").stdout)


def wait_until(condition, timeout, what):
    """Polls `condition` until it returns a truthy value; fails naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


def bucket_exists(s3, bucket):
    try:
        s3.head_bucket(Bucket=bucket)
        return True
    except ClientError:
        return False


def free_port():
    """A loopback port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


MESHPLANE_BIN = os.environ.get("MESHPLANE_BIN", f"{REPO}/target/release/meshplane")


class Controller:
    """A `meshplane controller` process with its log, run on the host so that a test can
    kill it or give it flags; the workers it creates run as pods on the node, with the
    image and requests from the stack's environment (test_platform_pods.py runs the
    controller itself in a pod, installed with helm)."""

    def __init__(self, log_path, metrics_addr, *args):
        self.log_path = log_path
        self.metrics_addr = metrics_addr
        self.log = open(log_path, "a+")
        env = dict(os.environ)
        env.setdefault("MESHPLANE_WORKER_ACCESS_KEY_ID", os.environ.get("AWS_ACCESS_KEY_ID", ""))
        env.setdefault("MESHPLANE_WORKER_SECRET_ACCESS_KEY", os.environ.get("AWS_SECRET_ACCESS_KEY", ""))
        if "--catalog-addr" not in args:
            # Every replica serves the catalog; give each its own port.
            args = (*args, "--catalog-addr", f"127.0.0.1:{free_port()}")
        self.process = subprocess.Popen(
            [MESHPLANE_BIN, "controller", "--topic-replicas", "1", "--metrics-addr", metrics_addr, *args],
            stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def kill(self):
        """SIGKILL: no clean-up, no lease release."""
        self.process.kill()
        self.process.wait(timeout=30)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.log.seek(0)
        print(f"--- {self.log_path} (tail)")
        print(self.log.read()[-4000:])
        self.log.close()


def direct_mode_args(lease):
    """Controller flags for the local stack: topics through Kafka's admin API."""
    return ["--topic-mode", "direct", "--kafka-bootstrap", require_env("MESHPLANE_KAFKA_BOOTSTRAP"),
            "--lease-name", lease, "--lease-seconds", "6"]


def condition(namespace, name, type_):
    product = kubectl_json("-n", namespace, "get", "dataproduct", name)
    for c in product.get("status", {}).get("conditions", []):
        if c["type"] == type_:
            return c
    return None


def event_reasons(namespace, name):
    events = kubectl_json("-n", namespace, "get", "events", "--field-selector", f"involvedObject.name={name}")["items"]
    return {e["reason"] for e in events if e.get("involvedObject", {}).get("kind") == "DataProduct"}


@pytest.fixture
def namespace():
    """A fresh namespace per test, deleted afterwards."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="session")
def s3():
    return boto3.client(
        "s3",
        endpoint_url=require_env("MESHPLANE_S3_ENDPOINT"),
        aws_access_key_id=require_env("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=require_env("AWS_SECRET_ACCESS_KEY"),
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
    )


def secret_data(namespace, name):
    """A Secret's data, decoded."""
    secret = kubectl_json("-n", namespace, "get", "secret", name)
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


def s3_with(keys):
    """An S3 client with the key pair of a Secret's data (no retries: a refusal is final)."""
    return boto3.client(
        "s3", endpoint_url=require_env("MESHPLANE_S3_ENDPOINT"),
        aws_access_key_id=keys["access-key-id"], aws_secret_access_key=keys["secret-access-key"],
        region_name="us-east-1", config=Config(retries={"max_attempts": 1}))


def refused(call):
    """The S3 error code `call` got, or None when it succeeded."""
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"]
    return None


@pytest.fixture(scope="session")
def kafka_bootstrap():
    return require_env("MESHPLANE_KAFKA_BOOTSTRAP")


@pytest.fixture(scope="session")
def trino():
    """The stack's Trino (started on first use: e2e/stack/trino.sh), reading the same
    Iceberg catalog and S3 as the platform."""
    subprocess.run(["bash", f"{REPO}/e2e/stack/trino.sh"], check=True, timeout=900)
    env_file = os.path.join(os.environ.get("MESHPLANE_STACK_DIR", f"{REPO}/.stack"), "env")
    for line in open(env_file):
        if line.startswith("export MESHPLANE_TRINO_URL="):
            os.environ["MESHPLANE_TRINO_URL"] = line.split("=", 1)[1].strip()
    return require_env("MESHPLANE_TRINO_URL")
