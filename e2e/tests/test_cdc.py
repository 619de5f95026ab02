"""Change data capture ground: PostgreSQL with logical replication and Kafka Connect
with Debezium's PostgreSQL connector, checked end to end with a real Kafka client."""
import json
import os
import subprocess
import urllib.error
import urllib.request
import uuid

import pytest
from confluent_kafka import Consumer

from conftest import REPO, wait_until


@pytest.fixture(scope="module")
def cdc():
    """Starts PostgreSQL and Kafka Connect (only for the tests that need them)."""
    subprocess.run(["bash", f"{REPO}/e2e/stack/cdc-up.sh"], check=True, timeout=600)
    port = os.environ.get("POSTGRES_PORT", "15432")
    return {
        "psql": ["psql", "-h", "127.0.0.1", "-p", port, "-U", "meshplane", "-d", "crm", "-v", "ON_ERROR_STOP=1", "-q"],
        "connect": f"http://127.0.0.1:{os.environ.get('CONNECT_PORT', '18083')}",
    }


def rest(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read()
        return json.loads(text) if text else None


def test_a_row_inserted_in_postgres_arrives_in_kafka_as_a_change_event(cdc, kafka_bootstrap):
    suffix = uuid.uuid4().hex[:8]
    table, topic, connector = f"customers_{suffix}", f"cdc-smoke-{suffix}", f"cdc-smoke-{suffix}"
    subprocess.run([*cdc["psql"], "-c", f"CREATE TABLE public.{table} (customer_id text PRIMARY KEY, email text)"], check=True)
    rest("POST", f"{cdc['connect']}/connectors", {
        "name": connector,
        "config": {
            "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
            "database.hostname": "127.0.0.1",
            "database.port": os.environ.get("POSTGRES_PORT", "15432"),
            "database.user": "meshplane",
            "database.password": "meshplane",
            "database.dbname": "crm",
            "plugin.name": "pgoutput",
            "slot.name": f"smoke_{suffix}",
            "publication.name": f"smoke_{suffix}",
            "publication.autocreate.mode": "filtered",
            "table.include.list": f"public.{table}",
            "topic.prefix": f"smoke{suffix}",
            "topic.creation.default.replication.factor": "1",
            "topic.creation.default.partitions": "1",
            "key.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter.schemas.enable": "false",
            "transforms": "route",
            "transforms.route.type": "org.apache.kafka.connect.transforms.RegexRouter",
            "transforms.route.regex": ".*",
            "transforms.route.replacement": topic,
        },
    })
    consumer = None
    try:
        def task_running():
            try:
                tasks = rest("GET", f"{cdc['connect']}/connectors/{connector}/status")["tasks"]
            except urllib.error.HTTPError as e:  # 404 until the connector is registered
                if e.code == 404:
                    return False
                raise
            if tasks and tasks[0]["state"] == "FAILED":
                raise AssertionError(f"the Debezium task failed: {tasks[0].get('trace', '')[:2000]}")
            return bool(tasks) and tasks[0]["state"] == "RUNNING"
        wait_until(task_running, 120, "the Debezium task to run")
        subprocess.run([*cdc["psql"], "-c", f"INSERT INTO public.{table} VALUES ('c-1', 'ada@example.com')"], check=True)
        consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": f"smoke-{suffix}", "auto.offset.reset": "earliest"})
        consumer.subscribe([topic])

        def change_event():
            message = consumer.poll(1.0)
            if message is None or message.error() or message.value() is None:
                return None
            return json.loads(message.value())
        event = wait_until(change_event, 120, "the change event in Kafka")
        assert event["op"] in ("c", "r")
        assert event["after"] == {"customer_id": "c-1", "email": "ada@example.com"}
    finally:
        if consumer is not None:
            consumer.close()
        try:
            rest("DELETE", f"{cdc['connect']}/connectors/{connector}")
        except Exception:  # noqa: BLE001 - cleanup must not hide the test's own failure
            pass
        subprocess.run([*cdc["psql"], "-c", f"SELECT pg_drop_replication_slot('smoke_{suffix}') "
                        f"WHERE EXISTS (SELECT FROM pg_replication_slots WHERE slot_name = 'smoke_{suffix}' AND NOT active)"],
                       check=False)
