"""`meshplane ingest` through a restart of the Kafka broker: the worker reconnects,
resumes where it committed and loses and duplicates nothing. Kept in a module of its own,
after the others, because every Kafka client of the suite sees the broker go away."""
import subprocess

from conftest import REPO, wait_until
from ingest_support import Worker, create_topic, event, produce
from test_ingest import committed, every_id_once, pipeline  # noqa: F401 - the fixture is used by name


def stack(script):
    subprocess.run(["bash", "-c", script], cwd=REPO, check=True, capture_output=True, timeout=180)


def test_a_kafka_broker_restart_loses_and_duplicates_nothing(pipeline, s3, trino):
    create_topic(pipeline["topic"], 2)
    worker = Worker(pipeline["plan"], pipeline["dir"] / "worker.log", "127.0.0.1:19467",
                    "--idle-seconds", "1", "--flush-seconds", "2")
    try:
        produce(pipeline["topic"], (event(i) for i in range(0, 20000)))
        wait_until(lambda: committed(pipeline) == 20000, 60, "first batch")
        # The broker goes away (SIGTERM, as a rolling restart does) and comes back.
        stack("source e2e/stack/lib.sh && stop kafka")
        assert worker.process.poll() is None, "the worker exited while Kafka was down"
        stack("bash e2e/stack/up.sh")
        produce(pipeline["topic"], (event(i) for i in range(20000, 40000)))
        wait_until(lambda: committed(pipeline) == 40000, 180,
                   "the worker to resume after the restart")
    finally:
        assert worker.stop() == 0
    every_id_once(pipeline, 40000)
