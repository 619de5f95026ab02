"""`meshplane ingest` through a 60 s S3 outage (SeaweedFS frozen with SIGSTOP). Kept in a
module of its own that runs last: after the freeze SeaweedFS may refuse new writes for a
while, which would disturb tests that run after it."""
import os
import signal
import time

from conftest import wait_until
from ingest_support import Worker, create_topic, event, metadata_location, produce
from test_ingest import committed, every_id_once, pipeline  # noqa: F401 - the fixture is used by name


def test_an_s3_outage_of_sixty_seconds_loses_nothing(pipeline, s3, trino):
    create_topic(pipeline["topic"], 2)
    weed = int(open(os.path.join(os.environ["MESHPLANE_STACK_DIR"], "pids", "seaweedfs.pid")).read())
    worker = Worker(pipeline["plan"], pipeline["dir"] / "worker.log", "127.0.0.1:19466", "--idle-seconds", "1")
    try:
        produce(pipeline["topic"], (event(i) for i in range(0, 20000)))
        wait_until(lambda: committed(pipeline) == 20000, 60, "first batch")
        before = metadata_location(pipeline["spec"])
        os.kill(weed, signal.SIGSTOP)  # the S3 server stops answering (fault injection)
        try:
            produce(pipeline["topic"], (event(i) for i in range(20000, 40000)))
            time.sleep(60)
            # Read from the catalog's database: the table's metadata is in the frozen S3.
            assert metadata_location(pipeline["spec"]) == before, "committed without S3"
        finally:
            os.kill(weed, signal.SIGCONT)
        wait_until(lambda: committed(pipeline) == 40000, 120, "lag to recover")
    finally:
        assert worker.stop() == 0
    every_id_once(pipeline, 40000)

    # After the freeze SeaweedFS answers some writes with InternalError until its volume
    # servers have re-registered with the master; leave the server writable for later tests.
    def writable():
        try:
            s3.put_object(Bucket=pipeline["bucket"], Key="_probe", Body=b"ok")
            return True
        except Exception:  # noqa: BLE001 - any failure means not yet
            return False
    wait_until(writable, 180, "SeaweedFS to accept writes again")
