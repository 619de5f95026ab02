"""`meshplane ingest` against the local stack's Kafka, S3 and Iceberg catalog (PostgreSQL):
exactly once into the table through repeated SIGKILLs, rebalances and a fenced-out worker,
masked PII, dead letters with reasons. Read back with pyiceberg and DuckDB."""
import json
import os
import time

import pytest

from conftest import free_port, wait_until
from ingest_support import (new_pipeline, Worker, create_topic, data_files, duckdb_count, ensure_table, event, load_table,
                            objects, orders_plan, produce, random_pause, scan, table_committed_total, trino_query)

pytestmark = pytest.mark.skipif(not os.path.exists(__import__("ingest_support").RELEASE_BIN),
                                reason="needs target/release/meshplane (make e2e builds it)")


@pytest.fixture
def pipeline(tmp_path, s3):
    """A fresh topic, bucket, consumer group and Iceberg table."""
    return new_pipeline(tmp_path, s3, "ingest")


def committed(pipeline):
    """Offsets the table holds (its commits), summed over partitions."""
    return table_committed_total(json.loads(pipeline["plan"].read_text()))


def ids_of(pipeline):
    return scan(json.loads(pipeline["plan"].read_text())).column("order_id").to_pylist()


def every_id_once(pipeline, count):
    """pyiceberg, Trino and DuckDB each find orders 0..count-1 in the table, each once."""
    plan = json.loads(pipeline["plan"].read_text())
    ids = ids_of(pipeline)
    assert len(ids) == count and set(ids) == {f"order-{i:09d}" for i in range(count)}, \
        f"pyiceberg: {len(ids) - len(set(ids))} duplicates, {count - len(set(ids))} missing"
    name = f"meshplane.{plan['iceberg']['namespace']}.{plan['iceberg']['name']}"
    assert trino_query(f"SELECT count(*), count(DISTINCT order_id) FROM {name}") == [[count, count]], "Trino"
    assert duckdb_count(plan) == (count, count), "DuckDB"


def test_a_million_events_land_exactly_once_through_ten_sigkills(pipeline, s3, trino):
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
    assert committed(pipeline) < count, "finished before the kills"
    worker = Worker(pipeline["plan"], pipeline["dir"] / "worker.log", "127.0.0.1:19464", *args)
    try:
        wait_until(lambda: committed(pipeline) == count, 300, "every offset committed to the table")
    finally:
        assert worker.stop() == 0

    plan = pipeline["spec"]
    every_id_once(pipeline, count)
    rows = scan(plan, ("customer_email", "shipping_address"))

    # The declared schema with stable field ids; masked fields are text; hourly partitions.
    table = load_table(plan)
    assert [(f.field_id, f.name, str(f.field_type)) for f in table.schema().fields] == [
        (1, "order_id", "string"), (2, "customer_id", "string"), (3, "customer_email", "string"),
        (4, "shipping_address", "string"), (5, "order_total", "double"), (6, "currency", "string"),
        (7, "status", "string"), (8, "event_time", "timestamptz")]
    assert [(f.name, str(f.transform)) for f in table.spec().fields] == [("event_time_hour", "hour")]
    files = data_files(plan)
    assert all(k.startswith("table/data/event_time_hour=2026-11-27-") for k in files), files[:3]
    # Commits carry their offsets; the table does not gather a snapshot per file.
    summary = table.current_snapshot().summary
    assert "meshplane.kafka.offsets" in summary.additional_properties
    assert len(table.snapshots()) < len(files)

    # No raw email or address anywhere: the columns, and every object's raw bytes (data,
    # manifests, metadata, orphans of the killed workers).
    for column in ("customer_email", "shipping_address"):
        assert all(len(v) == 64 and "@" not in v and "Street" not in v for v in rows.column(column).to_pylist())
    for key in objects(s3, pipeline["bucket"]):
        body = s3.get_object(Bucket=pipeline["bucket"], Key=key)["Body"].read()
        assert b"@example.com" not in body and b"Long Street" not in body, key
    # Data files are encrypted as the plan asks.
    head = s3.head_object(Bucket=pipeline["bucket"], Key=files[0])
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
        wait_until(lambda: committed(pipeline) == len(good) + len(bad), 60, "every offset committed")
        import urllib.request
        # Counters move once a commit is complete.
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
    assert sorted(ids_of(pipeline)) == sorted(f"order-{i:09d}" for i in range(100))


def metric(addr, name):
    """A metric of a worker; 0 while its endpoint is not up yet."""
    import urllib.request
    try:
        text = urllib.request.urlopen(f"http://{addr}/metrics", timeout=5).read().decode()
    except OSError:
        return 0.0
    return next((float(l.split()[1]) for l in text.splitlines() if l.startswith(name + " ")), 0.0)


def test_workers_sharing_a_group_rebalance_mid_stream_without_loss_or_duplicates(pipeline, s3, trino):
    """Several replicas of one product: a worker joins and another leaves while they
    consume; each rebalance revokes partitions whose events are still buffered."""
    count, partitions = 1_000_000, 4
    topic, group = pipeline["topic"], pipeline["group"]
    create_topic(topic, partitions)
    produce(topic, (event(i) for i in range(count)))
    # Commits only every 5 s, so a rebalance finds uncommitted events and files.
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
        wait(lambda: committed(pipeline) > 0, 60, "the first commit")
        # Each rebalance must find a holding partitions, or it has nothing to revoke.
        wait(lambda: assigned_at_a() > 0, 60, "worker a to be assigned partitions")
        before = revoked_at_a()
        workers["c"] = Worker(pipeline["plan"], log, addr["c"], *args)  # joins: a rebalance
        wait(lambda: revoked_at_a() > before, 60, "worker a to see the rebalance after c joined")
        wait(lambda: assigned_at_a() > 0, 60, "worker a to be assigned partitions again")
        before = revoked_at_a()
        assert workers["b"].stop() == 0, state()  # leaves, flushing what it holds: another rebalance
        wait(lambda: revoked_at_a() > before, 60, "worker a to see the rebalance after b left")
        wait(lambda: committed(pipeline) == count, 300, "every offset committed")
        # The remaining workers lived through the rebalances.
        assert workers["a"].process.poll() is None and workers["c"].process.poll() is None, state()
    finally:
        codes = {name: w.stop() for name, w in workers.items()}
    assert codes == {"a": 0, "b": 0, "c": 0}, state()

    every_id_once(pipeline, count)


def test_a_stalled_worker_that_wakes_after_another_committed_its_offsets_adds_nothing(pipeline, s3, trino):
    """A worker frozen (SIGSTOP) with data files written and not committed; the group moves
    its partition to a second worker, which commits everything; the first wakes up and
    tries to commit: the fence refuses its files."""
    import signal
    count = 20_000
    create_topic(pipeline["topic"], 1)
    produce(pipeline["topic"], (event(i) for i in range(count)))
    args = ["--idle-seconds", "600", "--flush-seconds", "600", "--max-events", "2000"]
    stalled = Worker(pipeline["plan"], pipeline["dir"] / "stalled.log", "127.0.0.1:19467", *args)
    second = None
    try:
        wait_until(lambda: metric("127.0.0.1:19467", "meshplane_ingest_flushes_total") >= 5, 60,
                   "the first worker to write data files")
        assert committed(pipeline) == 0
        stalled.process.send_signal(signal.SIGSTOP)
        second = Worker(pipeline["plan"], pipeline["dir"] / "second.log", "127.0.0.1:19468",
                        "--idle-seconds", "1", "--flush-seconds", "2")
        # The group waits out the frozen member's session (45 s) before reassigning.
        wait_until(lambda: committed(pipeline) == count, 180, "the second worker to commit every offset")
        stalled.process.send_signal(signal.SIGCONT)
        assert stalled.stop() == 0
    finally:
        stalled.process.send_signal(signal.SIGCONT)
        stalled.stop()
        if second:
            assert second.stop() == 0
    every_id_once(pipeline, count)
    log = open(pipeline["dir"] / "stalled.log").read()
    # Refused by the fence (or, when its files end where the table is, found already there),
    # or dropped when it learnt of the revocation first: never added.
    assert any(m in log for m in ("another worker committed this partition first",
                                  "the table already holds these offsets",
                                  "partition revoked; its uncommitted events are left to the next owner")), log[-3000:]


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
        wait_until(lambda: committed(pipeline) == count + 3, 120, "every offset committed")
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
    assert len(ids_of(pipeline)) == count
    dead = b"".join(s3.get_object(Bucket=pipeline["bucket"], Key=k)["Body"].read()
                    for k in objects(s3, pipeline["bucket"], "_rejected/"))
    assert dead.count(b"order-id-unique") == 3


def test_a_nullable_field_added_to_the_product_becomes_a_column_without_rewriting_data(pipeline, s3):
    create_topic(pipeline["topic"], 1)
    produce(pipeline["topic"], (event(i) for i in range(100)))
    args = ["--idle-seconds", "1"]
    worker = Worker(pipeline["plan"], pipeline["dir"] / "worker.log", "127.0.0.1:19471", *args)
    try:
        wait_until(lambda: committed(pipeline) == 100, 60, "the first events committed")
    finally:
        assert worker.stop() == 0
    plan = json.loads(pipeline["plan"].read_text())
    before = set(data_files(plan))
    # The product gains a nullable field: the table gains an optional column (new field id).
    plan["fields"].append({"name": "coupon", "type": "string", "nullable": True, "classification": "internal",
                           "pii": False, "masking": "none"})
    pipeline["plan"].write_text(json.dumps(plan))
    assert "added=coupon" in ensure_table(pipeline["plan"])
    table = load_table(plan)
    assert [(f.field_id, f.name, f.required) for f in table.schema().fields][-1] == (9, "coupon", False)
    assert set(data_files(plan)) == before, "no data file was rewritten"
    produce(pipeline["topic"], [json.dumps({**json.loads(event(100 + i)), "coupon": f"SAVE{i}"}).encode()
                                for i in range(10)])
    worker = Worker(pipeline["plan"], pipeline["dir"] / "worker.log", "127.0.0.1:19471", *args)
    try:
        wait_until(lambda: committed(pipeline) == 110, 60, "the new events committed")
    finally:
        assert worker.stop() == 0
    rows = scan(plan, ("order_id", "coupon")).to_pylist()
    coupons = {r["order_id"]: r["coupon"] for r in rows}
    assert len(rows) == 110
    assert all(coupons[f"order-{i:09d}"] is None for i in range(100)), "old rows read the new column as null"
    assert [coupons[f"order-{100 + i:09d}"] for i in range(10)] == [f"SAVE{i}" for i in range(10)]
