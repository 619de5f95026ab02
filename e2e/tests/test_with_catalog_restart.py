"""`meshplane ingest` through restarts of the Iceberg catalog's database (PostgreSQL)
while the worker commits every second: a commit either happened or is retried, never
twice. Kept in a module of its own, after the others, because every catalog client of the
suite sees the database go away."""
import subprocess
import threading
import time

from conftest import REPO, wait_until
from ingest_support import Worker, create_topic, event, produce
from test_ingest import committed, every_id_once, pipeline  # noqa: F401 - the fixture is used by name


def stack(script):
    subprocess.run(["bash", "-c", script], cwd=REPO, check=True, capture_output=True, timeout=180)


def test_catalog_database_restarts_mid_commit_lose_and_duplicate_nothing(pipeline, s3, trino):
    count, batches = 240_000, 40
    create_topic(pipeline["topic"], 3)
    worker = Worker(pipeline["plan"], pipeline["dir"] / "worker.log", "127.0.0.1:19469",
                    "--idle-seconds", "1", "--flush-seconds", "1", "--max-events", "5000")

    def produce_steadily():
        # Events keep arriving, so the worker is committing when the database goes.
        for b in range(batches):
            size = count // batches
            produce(pipeline["topic"], (event(i) for i in range(b * size, (b + 1) * size)))
            time.sleep(0.5)

    producer = threading.Thread(target=produce_steadily)
    producer.start()
    try:
        for restart in range(3):
            wait_until(lambda: committed(pipeline) > (restart + 1) * count // 6, 120, f"commits before restart {restart}")
            # Immediate shutdown: open connections and any commit in flight are cut.
            stack("pg=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1) && "
                  "runuser -u postgres -- $pg/pg_ctl -D .stack/postgres/data -m immediate stop")
            time.sleep(3)  # down for a while (fault injection); the worker keeps retrying
            assert worker.process.poll() is None, "the worker exited while the catalog was down"
            stack("bash e2e/stack/postgres.sh")
        producer.join(timeout=300)
        wait_until(lambda: committed(pipeline) == count, 300, "every offset committed after the restarts")
    finally:
        producer.join(timeout=300)
        assert worker.stop() == 0
    every_id_once(pipeline, count)
    log = open(pipeline["dir"] / "worker.log").read()
    # The worker was connected when the database went (its pool saw the connections cut).
    assert "terminating connection due to immediate shutdown" in log
