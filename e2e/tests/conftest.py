"""Shared helpers for tests against the local stack (or any cluster named by KUBECONFIG).

The stack's env file (e2e/stack/up.sh writes it) gives the kubeconfig, Kafka bootstrap
and S3 endpoint; `make e2e` sources it before pytest runs.
"""
import json
import os
import re
import subprocess
import time
import uuid

import boto3
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


def kubectl(*args, check=True, input=None):
    """Runs kubectl as a user would; returns the completed process."""
    proc = subprocess.run(["kubectl", *args], capture_output=True, text=True, input=input, timeout=120)
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


@pytest.fixture(scope="session")
def kafka_bootstrap():
    return require_env("MESHPLANE_KAFKA_BOOTSTRAP")
