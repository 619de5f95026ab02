"""Helpers for the ingestion tests and benchmark: the Orders product's real plan (from
`meshplane plan`), event generation, a worker process, and reading the product's Iceberg
table back with pyiceberg (through the SQL catalog in PostgreSQL) and DuckDB."""
import json
import uuid
import os
import random
import subprocess

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import REPO, require_env

RELEASE_BIN = f"{REPO}/target/release/meshplane"
STATUSES = ["placed", "paid", "shipped", "cancelled"]


def orders_plan(topic, bucket, group):
    """The ingestion plan the planner makes for examples/orders.yaml, pointed at `topic`,
    with its own bucket and table (namespace `e2e`, named after the bucket)."""
    out = subprocess.run([RELEASE_BIN, "plan", "-f", f"{REPO}/examples/orders.yaml", "-p", f"{REPO}/examples/policy.yaml",
                          "-o", "json"], capture_output=True, text=True, check=True).stdout
    plan = json.loads(out)[0]["desired"]["ingestPlan"]
    plan["source"]["kafka"].update(bootstrapServers=require_env("MESHPLANE_KAFKA_BOOTSTRAP"), topic=topic,
                                   consumerGroup=group)
    plan["bucket"] = bucket
    plan["iceberg"].update(namespace="e2e", name=bucket.replace("-", "_"), location=f"s3://{bucket}/table")
    return plan


def new_pipeline(tmp_path, s3, prefix):
    """A fresh topic, bucket, consumer group and Iceberg table (created as the controller
    creates it), named `<prefix>-<run>`."""
    run = uuid.uuid4().hex[:8]
    topic, bucket, group = f"{prefix}-{run}", f"meshplane-{prefix}-{run}", f"meshplane.{prefix}.{run}"
    s3.create_bucket(Bucket=bucket)
    plan = orders_plan(topic, bucket, group)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    ensure_table(path)
    return {"topic": topic, "bucket": bucket, "group": group, "plan": path, "dir": tmp_path, "spec": plan}


def ensure_table(plan_path):
    """Creates the plan's Iceberg table as the controller would (`meshplane table`)."""
    done = subprocess.run([RELEASE_BIN, "table", "--plan", str(plan_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def catalog():
    """The stack's Iceberg catalog, as a pyiceberg SqlCatalog (the same tables Trino and
    Spark would use)."""
    from pyiceberg.catalog.sql import SqlCatalog
    uri = require_env("MESHPLANE_ICEBERG_URI").replace("postgresql://", "postgresql+psycopg2://", 1)
    return SqlCatalog(os.environ.get("MESHPLANE_ICEBERG_NAME", "meshplane"), **{
        "uri": uri, "s3.endpoint": require_env("MESHPLANE_S3_ENDPOINT"),
        "s3.access-key-id": require_env("AWS_ACCESS_KEY_ID"), "s3.secret-access-key": require_env("AWS_SECRET_ACCESS_KEY"),
        "s3.region": "us-east-1", "s3.force-virtual-addressing": "false"})


def load_table(plan):
    return catalog().load_table(f"{plan['iceberg']['namespace']}.{plan['iceberg']['name']}")


def metadata_location(plan):
    """The table's current metadata file, straight from the catalog's database (no S3)."""
    import psycopg2
    with psycopg2.connect(require_env("MESHPLANE_ICEBERG_URI")) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT metadata_location FROM iceberg_tables WHERE catalog_name = %s AND table_namespace = %s"
                       " AND table_name = %s", (os.environ.get("MESHPLANE_ICEBERG_NAME", "meshplane"),
                                                plan["iceberg"]["namespace"], plan["iceberg"]["name"]))
        row = cursor.fetchone()
    return row[0] if row else None


def table_next_offsets(plan):
    """The next offset the table holds per source partition (what it has ingested)."""
    prefix = f"meshplane.kafka.next-offset.{plan['source']['kafka']['topic']}."
    try:
        properties = load_table(plan).properties
    except Exception:  # noqa: BLE001 - not created yet
        return {}
    return {int(k[len(prefix):]): int(v) for k, v in properties.items() if k.startswith(prefix)}


def table_committed_total(plan):
    return sum(table_next_offsets(plan).values())


def scan(plan, columns=("order_id",)):
    """The table's rows as pyiceberg reads them (a pyarrow Table)."""
    return load_table(plan).scan(selected_fields=tuple(columns)).to_arrow()


def duckdb_count(plan):
    """`count(*)` and `count(DISTINCT order_id)` by DuckDB's Iceberg extension, from the
    table's current metadata file."""
    import duckdb
    table = load_table(plan)
    endpoint = require_env("MESHPLANE_S3_ENDPOINT").split("://", 1)[1]
    con = duckdb.connect()
    import glob
    import importlib.util
    for extension in ("httpfs", "avro", "iceberg"):
        # The extension wheels (DuckDB cannot download extensions here).
        where = importlib.util.find_spec(f"duckdb_extension_{extension}").submodule_search_locations[0]
        con.load_extension(glob.glob(f"{where}/extensions/*/{extension}.duckdb_extension")[0])
    con.execute(f"""CREATE SECRET s3 (TYPE s3, KEY_ID '{require_env("AWS_ACCESS_KEY_ID")}',
        SECRET '{require_env("AWS_SECRET_ACCESS_KEY")}', REGION 'us-east-1', ENDPOINT '{endpoint}',
        URL_STYLE 'path', USE_SSL false)""")
    return con.execute(f"SELECT count(*), count(DISTINCT order_id) FROM iceberg_scan('{table.metadata_location}')").fetchone()


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
    """A `meshplane ingest` process on the host."""

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


def data_files(plan):
    """Keys of the data files the table's current snapshot references."""
    prefix = f"s3://{plan['bucket']}/"
    return [f.file.file_path[len(prefix):] for f in load_table(plan).scan().plan_files()]


def random_pause(low, high):
    return random.uniform(low, high)


def trino_query(sql):
    """Runs `sql` on the stack's Trino (e2e/stack/trino.sh) as user `meshplane` in catalog
    `meshplane` (the stack's Iceberg catalog) and returns its rows (a list of lists)."""
    from urllib.parse import urlsplit

    import trino

    url = urlsplit(require_env("MESHPLANE_TRINO_URL"))
    connection = trino.dbapi.connect(host=url.hostname, port=url.port or (443 if url.scheme == "https" else 80),
                                     http_scheme=url.scheme, user="meshplane", catalog="meshplane")
    try:
        cursor = connection.cursor()
        cursor.execute(sql)
        return cursor.fetchall()
    finally:
        connection.close()
