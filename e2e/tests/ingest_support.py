"""Helpers for the ingestion tests and benchmark: the Orders product's real plan (from
`meshplane plan`), event generation, a worker process, and reading the table back with
pyarrow."""
import io
import json
import os
import random
import subprocess

import pyarrow.parquet as pq
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import REPO, require_env

RELEASE_BIN = f"{REPO}/target/release/meshplane"
STATUSES = ["placed", "paid", "shipped", "cancelled"]


def orders_plan(topic, bucket, group):
    """The ingestion plan the planner makes for examples/orders.yaml, pointed at `topic`."""
    out = subprocess.run([RELEASE_BIN, "plan", "-f", f"{REPO}/examples/orders.yaml", "-p", f"{REPO}/examples/policy.yaml",
                          "-o", "json"], capture_output=True, text=True, check=True).stdout
    plan = json.loads(out)[0]["desired"]["ingestPlan"]
    plan["source"]["kafka"].update(bootstrapServers=require_env("MESHPLANE_KAFKA_BOOTSTRAP"), topic=topic,
                                   consumerGroup=group)
    plan["bucket"] = bucket
    return plan


def event(i):
    """A ~300-byte Orders event with 8 fields, 2 of them personal data."""
    return json.dumps({
        "order_id": f"order-{i:09d}", "customer_id": f"customer-{i % 50000:06d}",
        "customer_email": f"user{i}@example.com", "shipping_address": f"{i} Long Street, Apt {i % 97}, Springfield",
        "order_total": round((i % 10000) / 7.0, 2), "currency": "EUR", "status": STATUSES[i % 4],
        "event_time": f"2026-11-27T{(i // 100000) % 24:02d}:{(i // 1000) % 60:02d}:{i % 60:02d}Z",
    }).encode()


def create_topic(name, partitions):
    admin = AdminClient({"bootstrap.servers": require_env("MESHPLANE_KAFKA_BOOTSTRAP")})
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(timeout=30)


def produce(topic, payloads):
    producer = Producer({"bootstrap.servers": require_env("MESHPLANE_KAFKA_BOOTSTRAP"), "linger.ms": 20,
                         "batch.size": 1048576, "compression.type": "lz4", "queue.buffering.max.messages": 2000000})
    for i, payload in enumerate(payloads):
        while True:
            try:
                producer.produce(topic, payload, key=str(i).encode())
                break
            except BufferError:
                producer.poll(0.05)
    assert producer.flush(120) == 0


def committed_total(topic, group, partitions):
    consumer = Consumer({"bootstrap.servers": require_env("MESHPLANE_KAFKA_BOOTSTRAP"), "group.id": group})
    try:
        offsets = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return sum(max(tp.offset, 0) for tp in offsets)
    except KafkaException as e:
        # A fresh broker answers NOT_COORDINATOR until its offsets topic exists.
        if e.args[0].retriable() or e.args[0].code() == KafkaError.NOT_COORDINATOR:
            return -1
        raise
    finally:
        consumer.close()


class Worker:
    """A `meshplane ingest` process (run on the host: the local stack has no kubelet)."""

    def __init__(self, plan_path, log_path, metrics_addr, *args, masking_key="e2e-masking-key-0123456789abcdef"):
        env = dict(os.environ, MESHPLANE_MASKING_KEY=masking_key,
                   MESHPLANE_METRICS_ADDR=metrics_addr, RUST_LOG="info")
        self.log = open(log_path, "a")
        self.process = subprocess.Popen([RELEASE_BIN, "ingest", "--plan", str(plan_path), *args],
                                        stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def kill(self):
        self.process.kill()
        self.process.wait(timeout=30)

    def stop(self):
        """SIGTERM: the worker flushes, commits and exits 0."""
        if self.process.poll() is None:
            self.process.terminate()
            return self.process.wait(timeout=60)
        return self.process.returncode


def objects(s3, bucket, prefix=""):
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


def read_table(s3, bucket, prefix="table/"):
    """Every Parquet file of the table, read with pyarrow: (tables by key)."""
    tables = {}
    for key in objects(s3, bucket, prefix):
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        tables[key] = pq.read_table(io.BytesIO(body))
    return tables


def random_pause(low, high):
    return random.uniform(low, high)
