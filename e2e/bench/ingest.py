"""Ingestion benchmark (`make bench-ingest`) on the local stack's Kafka, S3 and Iceberg
catalog (PostgreSQL).

Produces N Orders events (~300 bytes, 8 fields, 2 of them PII) to a fresh topic first,
then measures a pipeline draining it into an Iceberg table: events/s from start to the
last offset committed into the table, CPU seconds the pipeline used (so events/s per
core), and the p99 of the time from an event's arrival to its commit (the worker's
histogram). Other pipelines
can be measured over the same events and the same S3 server: `--pipeline CMD` runs CMD
with {topic} {bucket} {group} substituted and waits for the consumer group `group` to
commit every offset.

Every run first prints what it depended on (e2e/bench/conditions.py): machine, load,
binary revision, stack versions. It refuses to start while other processes keep the CPUs
busy (a build or a test suite sharing the two cores changes per-CPU figures), and reports
the CPU seconds of Kafka and SeaweedFS and of any other busy process during the drain.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
import boto3  # noqa: E402

from ingest_support import (RELEASE_BIN, committed_total, create_topic, ensure_table, event, orders_plan,  # noqa: E402
                            produce, table_committed_total)

sys.path.insert(0, os.path.dirname(__file__))
import conditions  # noqa: E402
from conditions import process_cpu_seconds as cpu_seconds  # noqa: E402


def peak_rss_mib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--pipeline", help="command of another pipeline to measure over the same events")
    parser.add_argument("--allow-busy", action="store_true", help="run even while other processes use the CPUs")
    args = parser.parse_args()

    busy_before = conditions.check_quiet(args.allow_busy)
    conditions.describe(RELEASE_BIN, [
        f"events: {args.events:,} ({args.partitions} partitions), worker flags: --flush-seconds 5 --idle-seconds 2 "
        f"--max-events 200000" if not args.pipeline else f"pipeline: {args.pipeline}",
        f"busy before start: {busy_before}" if busy_before else "machine quiet before start",
    ])

    run = uuid.uuid4().hex[:8]
    topic, bucket, group = f"bench-ingest-{run}", f"meshplane-bench-{run}", f"meshplane.bench.{run}"
    s3 = boto3.client("s3", endpoint_url=os.environ["MESHPLANE_S3_ENDPOINT"])
    s3.create_bucket(Bucket=bucket)
    create_topic(topic, args.partitions)
    t0 = time.monotonic()
    produce(topic, (event(i) for i in range(args.events)))
    print(f"produced {args.events:,} events to {topic} ({args.partitions} partitions) in {time.monotonic() - t0:.1f}s")

    metrics_addr = "127.0.0.1:19470"
    if args.pipeline:
        command = args.pipeline.format(topic=topic, bucket=bucket, group=group)
        process = subprocess.Popen(command, shell=True)
    else:
        plan_path = f"/tmp/bench-plan-{run}.json"
        plan = orders_plan(topic, bucket, group)
        with open(plan_path, "w") as f:
            json.dump(plan, f)
        ensure_table(plan_path)
        env = dict(os.environ, MESHPLANE_MASKING_KEY="bench-masking-key", MESHPLANE_METRICS_ADDR=metrics_addr,
                   RUST_LOG="warn")
        # Commits every 5 s (the update interval); data files roll at 200,000 events per partition.
        process = subprocess.Popen([RELEASE_BIN, "ingest", "--plan", plan_path, "--flush-seconds", "5",
                                    "--idle-seconds", "2", "--max-events", "200000"], env=env)
    stack = conditions.stack_pids()
    stack_cpu_before = {name: cpu_seconds(pid) for name, pid in stack.items()}
    everyone_before = conditions.all_process_cpu()
    start = time.monotonic()
    def drained():
        if args.pipeline:
            return committed_total(topic, group, args.partitions)
        # The worker's counters move when a commit into the table succeeded (cheaper to poll
        # than the table; the table is checked once at the end).
        try:
            text = urllib.request.urlopen(f"http://{metrics_addr}/metrics", timeout=5).read().decode()
        except OSError:
            return 0
        found = dict(re.findall(r"^(meshplane_ingest_(?:rows_written|events_rejected)_total) (\d+)", text, re.M))
        return sum(int(v) for v in found.values())

    while drained() < args.events:
        if process.poll() is not None:
            sys.exit(f"the pipeline exited with {process.returncode}")
        time.sleep(0.2)
    elapsed = time.monotonic() - start
    cpu = cpu_seconds(process.pid)
    voluntary, involuntary = conditions.context_switches(process.pid)
    stack_cpu = {name: cpu_seconds(pid) - stack_cpu_before[name] for name, pid in stack.items()}
    others = conditions.busy_elsewhere(everyone_before, conditions.all_process_cpu(),
                                       exclude=set(stack.values()) | {process.pid, os.getpid()})
    rss = peak_rss_mib(process.pid)
    latency = ""
    if not args.pipeline:
        text = urllib.request.urlopen(f"http://{metrics_addr}/metrics", timeout=5).read().decode()
        buckets = [(float(le), int(n)) for le, n in
                   re.findall(r'meshplane_ingest_event_to_object_seconds_bucket\{le="([^"+]+)"\} (\d+)', text)]
        total = max(n for _, n in buckets)
        p99 = next(le for le, n in buckets if n >= 0.99 * total)
        latency = f", event-to-commit p99 <= {p99:g}s (histogram bucket, {total} commits)"
    process.terminate()
    process.wait(timeout=60)
    if not args.pipeline:
        assert table_committed_total(plan) == args.events, "the table does not hold every offset"
    print(f"drained {args.events:,} events in {elapsed:.1f}s: {args.events / elapsed:,.0f} events/s, "
          f"{cpu:.1f} CPU s -> {args.events / cpu:,.0f} events/s per core{latency}, peak RSS {rss:,.0f} MiB")
    print(f"# worker context switches: {voluntary:,} voluntary, {involuntary:,} involuntary "
          f"({1000 * voluntary / args.events:.1f} voluntary per 1,000 events)")
    print("# during the drain: " + ", ".join(f"{name} {used:.1f} CPU s" for name, used in stack_cpu.items() if used >= 0.05))
    if others:
        print("# BUSY: other processes used CPU during the drain (per-CPU figures not comparable): "
              + ", ".join(f"{name} (pid {pid}) {used:.1f} CPU s" for used, name, pid in others[:5]))


if __name__ == "__main__":
    main()
