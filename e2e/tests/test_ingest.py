"""`meshplane ingest` against the local stack's Kafka and S3: exactly once through repeated
SIGKILLs, masked PII, dead letters with reasons, and an S3 outage."""
import json
import os
import time
import uuid

import pytest

from conftest import free_port, wait_until
from ingest_support import (Worker, committed_total, create_topic, event, objects, orders_plan, produce,
                            random_pause, read_table)

pytestmark = pytest.mark.skipif(not os.path.exists(__import__("ingest_support").RELEASE_BIN),
                                reason="needs target/release/meshplane (make e2e builds it)")


@pytest.fixture
def pipeline(tmp_path, s3):
    """A fresh topic, bucket (SSE as the controller makes it) and consumer group."""
    run = uuid.uuid4().hex[:8]
    topic, bucket, group = f"ingest-{run}", f"meshplane-ingest-{run}", f"meshplane.ingest.{run}"
    s3.create_bucket(Bucket=bucket)
    plan = orders_plan(topic, bucket, group)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    return {"topic": topic, "bucket": bucket, "group": group, "plan": path, "dir": tmp_path}


def all_rows(s3, bucket):
    tables = read_table(s3, bucket)
    ids = [i for t in tables.values() for i in t.column("order_id").to_pylist()]
    return tables, ids


def test_a_million_events_land_exactly_once_through_ten_sigkills(pipeline, s3):
    count, partitions = 1_000_000, 4
    create_topic(pipeline["topic"], partitions)
    produce(pipeline["topic"], (event(i) for i in range(count)))

    args = ["--idle-seconds", "1", "--flush-seconds", "2", "--max-events", "50000"]
    kills = 0
    while kills < 10:
        worker = Worker(pipeline["plan"], pipeline["dir"] / "worker.log", "127.0.0.1:19464", *args)
        time.sleep(random_pause(0.5, 2.5))  # a random moment while it consumes (fault injection)
        worker.kill()
        kills += 1
    assert committed_total(pipeline["topic"], pipeline["group"], partitions) < count, "finished before the kills"
    worker = Worker(pipeline["plan"], pipeline["dir"] / "worker.log", "127.0.0.1:19464", *args)
    try:
        wait_until(lambda: committed_total(pipeline["topic"], pipeline["group"], partitions) == count, 300,
                   "every offset committed")
    finally:
        assert worker.stop() == 0

    tables, ids = all_rows(s3, pipeline["bucket"])
    assert len(ids) == count, f"{len(ids) - len(set(ids))} duplicates, {count - len(set(ids))} missing"
    assert set(ids) == {f"order-{i:09d}" for i in range(count)}

    # The declared schema: names, order, types; masked fields are text.
    schema = next(iter(tables.values())).schema
    assert schema.names == ["order_id", "customer_id", "customer_email", "shipping_address", "order_total",
                            "currency", "status", "event_time"]
    assert [str(t) for t in schema.types] == ["string", "string", "string", "string", "double", "string", "string",
                                             "timestamp[us, tz=UTC]"]
    assert all(k.split("/")[1].startswith("dt=2026-11-27") and k.split("/")[2].startswith("hr=") for k in tables)

    # No raw email or address anywhere: decoded columns and every object's raw bytes.
    for table in tables.values():
        for column in ("customer_email", "shipping_address"):
            values = table.column(column).to_pylist()
            assert all(len(v) == 64 and "@" not in v and "Street" not in v for v in values)
    for key in objects(s3, pipeline["bucket"]):
        body = s3.get_object(Bucket=pipeline["bucket"], Key=key)["Body"].read()
        assert b"@example.com" not in body and b"Long Street" not in body, key
    # Objects are encrypted as the plan asks.
    head = s3.head_object(Bucket=pipeline["bucket"], Key=next(iter(tables)))
    assert head.get("ServerSideEncryption") == "AES256"


def test_malformed_events_go_to_the_dead_letter_with_reasons(pipeline, s3):
    create_topic(pipeline["topic"], 1)
    good = [event(i) for i in range(100)]
    bad = [b"{not json", b"[1, 2, 3]", b"\xff\xfe\xfd", b'{"order_id": 42}',
           json.dumps({**json.loads(event(1)), "event_time": "yesterday"}).encode(),
           json.dumps({**json.loads(event(2)), "order_total": "lots"}).encode(),
           json.dumps({**json.loads(event(3)), "status": "lost"}).encode(),
           b"{" + b'"order_id": "' + b"x" * (100 * 1024) + b'"}']
    produce(pipeline["topic"], good[:50] + bad + good[50:])
    worker = Worker(pipeline["plan"], pipeline["dir"] / "worker.log", "127.0.0.1:19465", "--idle-seconds", "1",
                    "--max-event-bytes", "65536")
    try:
        wait_until(lambda: committed_total(pipeline["topic"], pipeline["group"], 1) == len(good) + len(bad), 60,
                   "every offset committed")
        import urllib.request
        # Counters move once a flush is complete, just after its offsets are committed.
        counted = lambda: (lambda m: f"meshplane_ingest_events_rejected_total {len(bad)}" in m
                           and f"meshplane_ingest_rows_written_total {len(good)}" in m)(
            urllib.request.urlopen("http://127.0.0.1:19465/metrics", timeout=5).read().decode())
        wait_until(counted, 30, "the rejected and written counters to match what was sent")
    finally:
        assert worker.stop() == 0

    lines = [json.loads(line) for key in objects(s3, pipeline["bucket"], "_rejected/")
             for line in s3.get_object(Bucket=pipeline["bucket"], Key=key)["Body"].read().decode().splitlines()]
    assert sorted(l["offset"] for l in lines) == list(range(50, 50 + len(bad)))
    reasons = " | ".join(l["reason"] for l in sorted(lines, key=lambda l: l["offset"]))
    for expected in ["not valid JSON", "not a JSON object", "not valid UTF-8",
                     "field `order_id`: expected string, got number", "expected timestamp (RFC 3339), got \"yesterday\"",
                     "field `order_total`: expected double, got string", "quality check `known-status`",
                     "exceeds the limit"]:
        assert expected in reasons, expected
    assert all(l["topic"] == pipeline["topic"] and l["partition"] == 0 for l in lines)
    _, ids = all_rows(s3, pipeline["bucket"])
    assert sorted(ids) == sorted(f"order-{i:09d}" for i in range(100))


def metric(addr, name):
    import urllib.request
    text = urllib.request.urlopen(f"http://{addr}/metrics", timeout=5).read().decode()
    return next((float(l.split()[1]) for l in text.splitlines() if l.startswith(name + " ")), 0.0)


def test_workers_sharing_a_group_rebalance_mid_stream_without_loss_or_duplicates(pipeline, s3):
    """Several replicas of one product: a worker joins and another leaves while they
    consume; each rebalance revokes partitions whose events are still buffered."""
    count, partitions = 1_000_000, 4
    topic, group = pipeline["topic"], pipeline["group"]
    create_topic(topic, partitions)
    produce(topic, (event(i) for i in range(count)))
    # Files close only every 5 s, so a rebalance finds unflushed events in the buffers.
    args = ["--idle-seconds", "5", "--flush-seconds", "5", "--max-events", "50000"]
    log = pipeline["dir"] / "workers.log"
    ports = set()
    while len(ports) < 3:
        ports.add(free_port())
    addr = dict(zip("abc", (f"127.0.0.1:{p}" for p in sorted(ports))))
    workers = {"a": Worker(pipeline["plan"], log, addr["a"], *args),
               "b": Worker(pipeline["plan"], log, addr["b"], *args)}

    def revoked_at_a():
        return metric(addr["a"], "meshplane_ingest_partitions_revoked_total")

    def assigned_at_a():
        return metric(addr["a"], "meshplane_ingest_partitions_assigned")

    def state():
        codes = {name: w.process.poll() for name, w in workers.items()}
        tail = "".join(open(log).readlines()[-30:])
        return f"exit codes {codes}; last lines of the workers' log:\n{tail}"

    def wait(condition, timeout, what):
        try:
            wait_until(condition, timeout, what)
        except AssertionError as e:
            raise AssertionError(f"{e}; {state()}") from None

    try:
        wait(lambda: committed_total(topic, group, partitions) > 0, 60, "the first commit")
        # Each rebalance must find a holding partitions, or it has nothing to revoke.
        wait(lambda: assigned_at_a() > 0, 60, "worker a to be assigned partitions")
        before = revoked_at_a()
        workers["c"] = Worker(pipeline["plan"], log, addr["c"], *args)  # joins: a rebalance
        wait(lambda: revoked_at_a() > before, 60, "worker a to see the rebalance after c joined")
        wait(lambda: assigned_at_a() > 0, 60, "worker a to be assigned partitions again")
        before = revoked_at_a()
        assert workers["b"].stop() == 0, state()  # leaves, flushing what it holds: another rebalance
        wait(lambda: revoked_at_a() > before, 60, "worker a to see the rebalance after b left")
        wait(lambda: committed_total(topic, group, partitions) == count, 300, "every offset committed")
        # The remaining workers lived through the rebalances.
        assert workers["a"].process.poll() is None and workers["c"].process.poll() is None, state()
    finally:
        codes = {name: w.stop() for name, w in workers.items()}
    assert codes == {"a": 0, "b": 0, "c": 0}, state()

    _, ids = all_rows(s3, pipeline["bucket"])
    assert len(ids) == count, f"{len(ids) - len(set(ids))} duplicates, {count - len(set(ids))} missing"
    assert set(ids) == {f"order-{i:09d}" for i in range(count)}
    assert "partition revoked; its unflushed events are left to the next owner" in open(log).read()
    assert not objects(s3, pipeline["bucket"], "_ingest/"), "a flush marker was left behind"


def test_objects_of_a_flush_that_was_never_committed_are_removed_before_the_replay(pipeline, s3):
    # What a worker killed between writing its objects and committing leaves behind: the
    # flush marker and an object the replay would not overwrite (another hour's file).
    create_topic(pipeline["topic"], 1)
    produce(pipeline["topic"], (event(i) for i in range(1000)))
    stale = "table/dt=2099-01-01/hr=00/part-00000-00000000000000000000.parquet"
    s3.put_object(Bucket=pipeline["bucket"], Key=stale, Body=b"stale")
    marker = f"_ingest/{pipeline['group']}/partition-00000.json"
    s3.put_object(Bucket=pipeline["bucket"], Key=marker, Body=json.dumps({"start": 0, "end": 499, "keys": [stale]}))
    worker = Worker(pipeline["plan"], pipeline["dir"] / "worker.log", "127.0.0.1:19467", "--idle-seconds", "1")
    try:
        wait_until(lambda: committed_total(pipeline["topic"], pipeline["group"], 1) == 1000, 60, "every offset committed")
    finally:
        assert worker.stop() == 0
    keys = objects(s3, pipeline["bucket"])
    assert stale not in keys and marker not in keys
    _, ids = all_rows(s3, pipeline["bucket"])
    assert sorted(ids) == [f"order-{i:09d}" for i in range(1000)]
    log = open(pipeline["dir"] / "worker.log").read()
    assert "previous flush was not committed; replaying its offsets as the same flush" in log


def test_the_stream_output_port_republishes_every_row_masked(pipeline, s3):
    """Rows also go to the product's output topic, masked, at least once; events rejected
    (here: repeats of a `unique` order id within a file) go to neither."""
    from confluent_kafka import Consumer

    count, partitions = 5_000, 2
    out = f"{pipeline['topic']}.masked"
    create_topic(pipeline["topic"], partitions)
    create_topic(out, partitions)
    plan = json.loads(pipeline["plan"].read_text())
    plan["streamTopic"] = out
    plan["quality"].append({"name": "order-id-unique", "type": "unique", "field": "order_id"})
    pipeline["plan"].write_text(json.dumps(plan))
    # Keyed by order id, so a repeat lands in the same partition (and the same file).
    from confluent_kafka import Producer
    producer = Producer({"bootstrap.servers": os.environ["MESHPLANE_KAFKA_BOOTSTRAP"], "linger.ms": 20})
    for i in list(range(count)) + [7, 8, 9]:
        producer.produce(pipeline["topic"], event(i), key=f"order-{i:09d}".encode())
    assert producer.flush(60) == 0

    worker = Worker(pipeline["plan"], pipeline["dir"] / "worker.log", "127.0.0.1:19466",
                    "--idle-seconds", "1", "--flush-seconds", "600")
    try:
        wait_until(lambda: committed_total(pipeline["topic"], pipeline["group"], partitions) == count + 3, 120,
                   "every offset committed")
    finally:
        assert worker.stop() == 0

    consumer = Consumer({"bootstrap.servers": os.environ["MESHPLANE_KAFKA_BOOTSTRAP"], "group.id": f"check-{out}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([out])
    events, deadline = [], time.monotonic() + 60
    try:
        while len(events) < count and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                events.append(message.value())
        extra = consumer.poll(3.0)  # nothing beyond the rows: no rejected event republished
        if extra is not None and extra.error() is None:
            events.append(extra.value())
    finally:
        consumer.close()
    decoded = [json.loads(e) for e in events]
    assert sorted(d["order_id"] for d in decoded) == sorted(f"order-{i:09d}" for i in range(count))
    assert all(b"@example.com" not in e and b"Long Street" not in e for e in events)
    assert all(len(d["customer_email"]) == 64 and d["event_time"].endswith("Z") for d in decoded)
    _, ids = all_rows(s3, pipeline["bucket"])
    assert len(ids) == count
    dead = b"".join(s3.get_object(Bucket=pipeline["bucket"], Key=k)["Body"].read()
                    for k in objects(s3, pipeline["bucket"], "_rejected/"))
    assert dead.count(b"order-id-unique") == 3
