"""Table maintenance (`meshplane maintain`, through the stack's Trino) on tables the worker
writes: retention deletes old partitions from the table and their files from the bucket;
compaction running while the worker commits loses and duplicates nothing."""
import json
import os
import subprocess
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from conftest import wait_until
from ingest_support import (new_pipeline, RELEASE_BIN, Worker, create_topic, duckdb_count, ensure_table, load_table, objects,
                            orders_plan, produce, scan, table_committed_total, trino_query)
from test_ingest import every_id_once

pytestmark = pytest.mark.skipif(not os.path.exists(RELEASE_BIN),
                                reason="needs target/release/meshplane (make e2e builds it)")


@pytest.fixture
def pipeline(tmp_path, s3, trino):
    """A fresh topic, bucket, consumer group and Iceberg table."""
    return new_pipeline(tmp_path, s3, "maintain")


def orders_event(i, at):
    return json.dumps({
        "order_id": f"order-{i:09d}", "customer_id": f"customer-{i % 500:06d}",
        "customer_email": f"user{i}@example.com", "shipping_address": f"{i} Long Street, Springfield",
        "order_total": 10.5, "currency": "EUR", "status": "placed",
        "event_time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }).encode()


def maintain(plan_path, *args):
    done = subprocess.run([RELEASE_BIN, "maintain", "--plan", str(plan_path), *args],
                          capture_output=True, text=True, timeout=600)
    return done


def hour_partition(at):
    return f"event_time_hour={at.strftime('%Y-%m-%d-%H')}"


def test_retention_deletes_expired_partitions_and_their_files_and_keeps_fresh_rows(pipeline, s3):
    plan = pipeline["spec"]
    retention = plan["retentionSeconds"]
    now = datetime.now(timezone.utc)
    old_hours = [now - timedelta(seconds=retention) - timedelta(hours=h) for h in (2, 5)]
    old, fresh = 2_000, 1_000
    create_topic(pipeline["topic"], 2)
    produce(pipeline["topic"], [orders_event(i, old_hours[i % 2]) for i in range(old)]
            + [orders_event(i, now) for i in range(old, old + fresh)])
    worker = Worker(pipeline["plan"], pipeline["dir"] / "worker.log", "127.0.0.1:19481",
                    "--idle-seconds", "1", "--flush-seconds", "2", "--max-events", "300")
    try:
        wait_until(lambda: table_committed_total(plan) == old + fresh, 120, "every offset committed")
    finally:
        assert worker.stop() == 0
    prefix = "table/data/"
    before = objects(s3, pipeline["bucket"], prefix)
    for at in old_hours:
        assert any(hour_partition(at) in key for key in before), f"no files for {hour_partition(at)}: {before[:5]}"
    fresh_files_before = [k for k in before if hour_partition(now) in k]
    assert len(fresh_files_before) > 1, "the worker wrote one file: nothing to compact"

    done = maintain(pipeline["plan"], "--keep-snapshots", "0s")
    assert done.returncode == 0, done.stderr
    for action in ("delete-expired-partitions", "compact-files", "rewrite-manifests", "expire-snapshots",
                   "remove-orphan-files"):
        assert f"{action} e2e.{plan['iceberg']['name']}: done" in done.stdout, done.stdout

    # The table: only the fresh rows, each once, by every engine.
    ids = scan(plan).column("order_id").to_pylist()
    assert sorted(ids) == [f"order-{i:09d}" for i in range(old, old + fresh)]
    name = f"meshplane.e2e.{plan['iceberg']['name']}"
    assert trino_query(f"SELECT count(*), count(DISTINCT order_id) FROM {name}") == [[fresh, fresh]]
    assert duckdb_count(plan) == (fresh, fresh)
    # The bucket: no file of an expired hour; the fresh hour compacted into one file.
    after = objects(s3, pipeline["bucket"], prefix)
    for at in old_hours:
        assert not [k for k in after if hour_partition(at) in k], f"files of {hour_partition(at)} left"
    fresh_files_after = [k for k in after if hour_partition(now) in k]
    assert len(fresh_files_after) == 1, fresh_files_after
    # One snapshot left (the others expired); their metadata files too.
    assert len(load_table(plan).snapshots()) == 1

    # Maintenance again changes nothing and still succeeds; the worker goes on on top.
    again = maintain(pipeline["plan"], "--keep-snapshots", "0s")
    assert again.returncode == 0, again.stderr
    produce(pipeline["topic"], [orders_event(i, now) for i in range(old + fresh, old + fresh + 10)])
    worker = Worker(pipeline["plan"], pipeline["dir"] / "worker.log", "127.0.0.1:19481",
                    "--idle-seconds", "1", "--flush-seconds", "2")
    try:
        wait_until(lambda: table_committed_total(plan) == old + fresh + 10, 120, "the new events committed")
    finally:
        assert worker.stop() == 0
    assert trino_query(f"SELECT count(*), count(DISTINCT order_id) FROM {name}") == [[fresh + 10, fresh + 10]]


def test_compaction_while_the_worker_commits_loses_and_duplicates_nothing(pipeline):
    plan = pipeline["spec"]
    count = 200_000
    name = f"meshplane.e2e.{plan['iceberg']['name']}"
    create_topic(pipeline["topic"], 4)
    stop = threading.Event()
    outcomes = {"compacted": 0, "failed": []}
    snapshots = f'meshplane.e2e."{plan["iceberg"]["name"]}$snapshots"'

    def compact():
        # Compaction and snapshot expiry as the maintenance job runs them, over and over;
        # a compaction counts when it committed a `replace` snapshot before the worker's
        # last commit.
        while not stop.is_set():
            try:
                trino_query(f"ALTER TABLE {name} EXECUTE optimize(file_size_threshold => '100MB')")
                replaced = trino_query(f"SELECT count(*) FROM {snapshots} WHERE operation = 'replace'")[0][0]
                if replaced and table_committed_total(plan) < count:
                    outcomes["compacted"] += 1
                trino_query(f"ALTER TABLE {name} EXECUTE expire_snapshots(retention_threshold => '0s')")
            except Exception as e:  # a conflict with a worker commit fails the statement; it runs again
                outcomes["failed"].append(str(e)[:300])

    compactor = threading.Thread(target=compact, daemon=True)
    worker = Worker(pipeline["plan"], pipeline["dir"] / "worker.log", "127.0.0.1:19482",
                    "--idle-seconds", "1", "--flush-seconds", "1", "--max-events", "2000")
    compactor.start()
    # Events arrive over ~40 s, so the worker commits every second all along.
    batch = 5_000
    for start in range(0, count, batch):
        produce(pipeline["topic"], (orders_event(i, datetime(2026, 11, 27, i // 50_000, tzinfo=timezone.utc))
                                    for i in range(start, start + batch)))
        time.sleep(1)  # pacing the load, not waiting for a result
    try:
        wait_until(lambda: table_committed_total(plan) == count, 300, "every offset committed")
    finally:
        stop.set()
        compactor.join(120)
        assert worker.stop() == 0
    assert outcomes["compacted"] >= 2, f"compaction never committed while the worker did: {outcomes}"
    every_id_once(pipeline, count)
