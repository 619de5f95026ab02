"""Query benchmark (`make bench-query`): the product query port (`meshplane query`:
PostgreSQL's wire protocol via pgwire over DataFusion, reading Iceberg tables) side by
side, in one run, with DuckDB 1.5.5 (Iceberg extension) and Trino 476, on the same
Orders Iceberg table of the local stack (10,000,000 rows by default).

Setup (cached between runs):
  1. namespace `bench-query` with the Orders product (examples/orders.yaml, its own
     topic), applied with kubectl; the controller of the helm-installed platform
     (e2e/stack/platform.sh install, run here only if the release is missing and
     something is to be created) creates its Iceberg table in the stack's SQL catalog
     (PostgreSQL) and its bucket in SeaweedFS; a Ready product of an earlier run is reused;
  2. N rows appended to that table with pyiceberg in one transaction (batches of
     --batch-rows, pyarrow-generated, deterministic): ids `order-000000000`... in
     event-time order over 48 hours from 2026-11-26T00:00Z (the table is partitioned by
     hour(event_time), so ~48 partitions), 50,000 customers, the two PII columns holding
     64-hex pseudonyms as the ingestion worker writes them, currency 60 % EUR, four
     statuses. A table whose current snapshot says it holds exactly N rows of this
     generator is reused (--rebuild forces a new one);
  3. ServiceAccount `bench-reader` files an AccessRequest for the product; the policy
     (examples/policy.yaml) grants ServiceAccounts up to `confidential`; its token is the
     password (`kubectl create token`).

Engines, all on loopback, reading the same table files from SeaweedFS S3
(127.0.0.1:18333) through the same SQL catalog (PostgreSQL, 127.0.0.1:15432):
  - port: `target/release/meshplane query` as a host process, configured as the chart
    configures the pod (charts/meshplane/templates/query.yaml with the default values:
    statement timeout 30s, 100,000 max rows, 512 MiB memory pool, table metadata reused
    for 1 s, 256 connections; DataFusion's default parallelism = 2 CPUs; log level info,
    so every statement is audit-logged, to .stack/logs/bench-query-port.log). KUBECONFIG is the stack's admin
    kubeconfig (the pod uses its ServiceAccount): TokenReviews and the grant watches go to
    the stack's API server. Client: psycopg2 (libpq PQexec, the simple query protocol,
    the statement text sent each time), one connection reused, autocommit (psycopg2
    would otherwise send BEGIN, which the read-only port refuses);
  - DuckDB 1.5.5 in the bench process: threads=2, memory_limit and caches at their
    defaults (printed), extensions httpfs/avro/iceberg from the wheels, `iceberg_scan`
    of the table's current metadata file (as ingest_support.duckdb_count does; no
    catalog lookup per query, unlike the port and Trino). DuckDB keeps the remote files'
    data in memory between statements (enable_external_file_cache, on by default), which
    neither the port nor Trino does: for context it runs once more with that cache off
    (`duckdb-nocache`); the goal compares with DuckDB as configured by default;
  - Trino 476: e2e/stack/trino.sh (started if not running): single node, coordinator
    also worker, -Xmx1G, default session properties, Iceberg connector on the JDBC
    catalog; client: the `trino` DB-API package over HTTP, one connection reused.

Queries, the same SQL text on every engine but for the table reference
(`meshplane.orders.<table>` on the port and Trino, `iceberg_scan('<metadata>')` on DuckDB):
a filtered aggregate (revenue by status of EUR orders in a 2-hour event-time window, ~4 %
of the rows) and a point lookup (one order by id). Each engine runs --warmup runs then
--runs measured runs of a query back to back (engines one after the other; before each
block the bench waits for Trino's JVM to go idle, as it keeps compiling and collecting
after its queries), timed in the client from sending the statement to the last row
decoded; p50/p99 interpolate linearly
between the closest ranks. Every engine's answers must agree (the run fails otherwise).
The port's own per-statement overhead is the round trip of `SELECT 1` through it (parse,
authorize, plan, audit, encode; --overhead-runs), with the same round trip on the stack's
PostgreSQL as the reference for client and loopback; connection setup is psycopg2.connect
(startup + cleartext password + TokenReview) to ReadyForQuery (--connects).

Like every benchmark here it prints its conditions first (e2e/bench/conditions.py),
refuses to start while other processes keep the CPUs busy (--allow-busy overrides and
marks the run), and names the processes that used CPU during each measured block.
It leaves the namespace (the cached table) and Trino running; the port it started is
stopped. `kubectl delete namespace bench-query` drops the cache.
"""
import argparse
import gc
import glob
import importlib.util
import json
import math
import os
import random
import re
import shlex
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
# Every engine and the setup reach the stack on loopback (.stack/env names the node
# address, which pods use); set before the helpers read the environment.
S3_ENDPOINT = "http://127.0.0.1:18333"
CATALOG_URI = "postgresql://meshplane:meshplane@127.0.0.1:15432/iceberg"
os.environ["MESHPLANE_S3_ENDPOINT"] = S3_ENDPOINT
os.environ["MESHPLANE_ICEBERG_URI"] = CATALOG_URI

import psycopg2  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402

from conftest import REPO, example, free_port  # noqa: E402
from ingest_support import RELEASE_BIN, STATUSES, catalog  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
import conditions  # noqa: E402

PLATFORM_NAMESPACE = "meshplane-system"
PRODUCT = "orders"
READER = "bench-reader"
# Bumped whenever the generated rows change, so that a cached table of an older generator
# is rebuilt.
GENERATOR = "bench-query-v1"
BASE_US = 1_795_651_200_000_000  # 2026-11-26T00:00:00Z
SPAN_US = 48 * 3600 * 1_000_000
CURRENCIES = ["EUR", "EUR", "EUR", "USD", "GBP"]
ENGINES = ["port", "duckdb", "duckdb-nocache", "trino"]

AGGREGATE = ("SELECT status, count(*) AS orders, sum(order_total) AS revenue FROM {table} "
             "WHERE event_time >= TIMESTAMP '2026-11-27 06:00:00 UTC' "
             "AND event_time < TIMESTAMP '2026-11-27 08:00:00 UTC' AND currency = 'EUR' "
             "GROUP BY status ORDER BY status")
POINT = ("SELECT order_id, customer_id, order_total, currency, status, event_time FROM {table} "
         "WHERE order_id = '{order_id}'")


def kubectl(*args, input=None, timeout=600, check=True):
    proc = subprocess.run(["kubectl", *args], capture_output=True, text=True, input=input, timeout=timeout)
    if check and proc.returncode != 0:
        raise SystemExit(f"kubectl {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def apply(manifest, attempts=6):
    """kubectl apply; while the platform is being (re)installed the API server may fail to
    call the webhooks: wait for their rollout and try again."""
    for attempt in range(attempts):
        proc = kubectl("apply", "-f", "-", input=manifest, check=False)
        if proc.returncode == 0:
            return
        if "webhook" not in proc.stderr or attempt == attempts - 1:
            raise SystemExit(f"kubectl apply failed: {proc.stderr.strip()}")
        print(f"# kubectl apply: the webhook did not answer ({proc.stderr.strip()[:160]}); waiting for its rollout")
        kubectl("-n", PLATFORM_NAMESPACE, "rollout", "status", "deployment/meshplane-webhook", "--timeout=300s",
                check=False)


def ensure_platform(why):
    """The helm-installed platform (controller, webhook) and the example policy, for what
    the bench must create (`why`); installed only when the release is missing (a reinstall
    would restart the pods of whoever else uses the stack), and left installed."""
    if kubectl("-n", PLATFORM_NAMESPACE, "get", "deployment/meshplane-controller", check=False).returncode != 0:
        print(f"# {why}, and the platform is not installed: bash e2e/stack/platform.sh install", flush=True)
        subprocess.run(["bash", f"{REPO}/e2e/stack/platform.sh", "install"], check=True, timeout=900,
                       stdout=subprocess.DEVNULL)
    if kubectl("get", "governancepolicy", "platform-baseline", check=False).returncode != 0:
        apply(open(f"{REPO}/examples/policy.yaml").read())
    for deployment in ("meshplane-webhook", "meshplane-controller"):
        kubectl("-n", PLATFORM_NAMESPACE, "rollout", "status", f"deployment/{deployment}", "--timeout=300s")


def get_json(namespace, kind, name, attempts=5):
    """The object, or None and kubectl's message (an error other than NotFound is retried:
    the API server may be restarting)."""
    for attempt in range(attempts):
        proc = kubectl("-n", namespace, "get", kind, name, "-o", "json", check=False)
        if proc.returncode == 0:
            return json.loads(proc.stdout), None
        if "NotFound" in proc.stderr or attempt == attempts - 1:
            return None, proc.stderr.strip()
        time.sleep(1)


def table_of(product):
    """The table identifier of a Ready product, or None and why not."""
    status = product.get("status", {})
    ready = [c for c in status.get("conditions", []) if c["type"] == "Ready"]
    if not ready or ready[0]["status"] != "True":
        return None, f"not Ready ({ready[0]['reason']}: {ready[0].get('message', '')})" if ready else "not Ready yet"
    identifier = status.get("table", {}).get("identifier")
    return (identifier, None) if identifier else (None, "Ready without status.table.identifier")


def ensure_product(namespace):
    """The Orders product in `namespace`, Ready; its table identifier. A Ready product of an
    earlier run is used as it is (the platform need not be running then)."""
    product, error = get_json(namespace, "dataproduct", PRODUCT)
    identifier, why = table_of(product) if product else (None, error)
    if identifier:
        return identifier
    ensure_platform(f"dataproduct {namespace}/{PRODUCT}: {why}")
    apply(kubectl("create", "namespace", namespace, "--dry-run=client", "-o", "yaml").stdout)
    apply(example("orders.yaml", namespace).replace("topic: orders.events", f"topic: {namespace}.orders"))
    kubectl("-n", namespace, "wait", "--for=condition=Ready", f"dataproduct/{PRODUCT}", "--timeout=300s")
    kubectl("-n", namespace, "wait", "--for=jsonpath={.status.table.identifier}", f"dataproduct/{PRODUCT}",
            "--timeout=300s")
    identifier, why = table_of(get_json(namespace, "dataproduct", PRODUCT)[0])
    if not identifier:
        raise SystemExit(f"dataproduct {namespace}/{PRODUCT}: {why}")
    return identifier


def grant(namespace):
    """ServiceAccount `bench-reader` granted the product (a grant of an earlier run is
    reused); a token for it, who decided, the granted columns."""
    apply(f"""
apiVersion: v1
kind: ServiceAccount
metadata: {{name: {READER}, namespace: {namespace}}}
""")
    request, error = get_json(namespace, "accessrequest", READER)
    phase = (request or {}).get("status", {}).get("phase")
    if phase != "Granted":
        ensure_platform(f"accessrequest {namespace}/{READER}: {f'phase {phase}' if request else error}")
        apply(f"""
apiVersion: meshplane.dev/v1alpha1
kind: AccessRequest
metadata: {{name: {READER}, namespace: {namespace}}}
spec:
  product: {{namespace: {namespace}, name: {PRODUCT}}}
  subject: {{kind: ServiceAccount, namespace: {namespace}, name: {READER}}}
  purpose: query benchmark (e2e/bench/query.py)
""")
        kubectl("-n", namespace, "wait", "--for=jsonpath={.status.phase}=Granted", f"accessrequest/{READER}",
                "--timeout=300s")
        request, _ = get_json(namespace, "accessrequest", READER)
    token = kubectl("-n", namespace, "create", "token", READER, "--duration=2h").stdout.strip()
    status = request["status"]
    return token, status.get("decidedBy", "?"), status["grant"]["columns"]


def hex_column(rng, n):
    """n distinct-looking 64-hex strings (the shape of the worker's HMAC-SHA256 pseudonyms)."""
    data = pa.py_buffer(rng.randbytes(32 * n).hex().encode("ascii"))
    offsets = pa.array(range(0, 64 * n + 1, 64), pa.int64()).buffers()[1]
    return pa.Array.from_buffers(pa.large_string(), n, [None, offsets, data])


def modulo(i, k):
    return pc.subtract(i, pc.multiply(pc.divide(i, k), k))


def rows(start, stop, total, schema):
    """Rows start..stop of the `total` the table gets, as a pyarrow Table of `schema`."""
    n = stop - start
    i = pa.array(range(start, stop), pa.int64())
    text = pa.large_string()

    def prefixed(prefix, values, width):
        return pc.binary_join_element_wise(pa.scalar(prefix, text), pc.utf8_lpad(pc.cast(values, text), width, "0"),
                                           pa.scalar("", text))
    rng = random.Random(start)
    columns = {
        "order_id": prefixed("order-", i, 9),
        "customer_id": prefixed("customer-", modulo(i, 50_000), 6),
        "customer_email": hex_column(rng, n),
        "shipping_address": hex_column(rng, n),
        "order_total": pc.round(pc.divide(pc.cast(modulo(i, 10_000), pa.float64()), 7.0), 2),
        "currency": pc.take(pa.array(CURRENCIES, text), modulo(i, len(CURRENCIES))),
        "status": pc.take(pa.array(STATUSES, text), modulo(pc.divide(i, 3), len(STATUSES))),
        "event_time": pc.cast(pc.add(pc.divide(pc.multiply(i, SPAN_US), total), BASE_US),
                              pa.timestamp("us", tz="UTC")),
    }
    return pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema)


def ensure_rows(identifier, total, batch_rows, rebuild):
    """The table holds exactly `total` rows of this generator; (table, seconds spent or None
    when reused)."""
    table = catalog().load_table(identifier)
    snapshot = table.current_snapshot()
    summary = snapshot.summary if snapshot else None

    def said(key):
        return summary.additional_properties.get(key) if summary else None
    if (not rebuild and said("meshplane-bench.generator") == GENERATOR and said("meshplane-bench.rows") == str(total)
            and said("total-records") == str(total)):
        return table, None
    started = time.monotonic()
    schema = table.schema().as_arrow()
    with table.transaction() as tx:
        if said("total-records") not in (None, "0"):
            from pyiceberg.expressions import AlwaysTrue
            tx.delete(AlwaysTrue())
        for start in range(0, total, batch_rows):
            stop = min(total, start + batch_rows)
            properties = {"meshplane-bench.generator": GENERATOR, "meshplane-bench.rows": str(total)} \
                if stop == total else {}
            tx.append(rows(start, stop, total, schema), snapshot_properties=properties)
            print(f"#   appended rows {start:,}..{stop:,} ({time.monotonic() - started:.1f}s)", flush=True)
    return catalog().load_table(identifier), time.monotonic() - started


def peak_rss_mib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(samples, q):
    ordered = sorted(samples)
    rank = q * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ms(seconds):
    return f"{seconds * 1000:.2f}"


def normalized(value):
    if hasattr(value, "utcoffset") and value.utcoffset() is not None:
        return ("ts", value.timestamp())
    if isinstance(value, float):
        return ("f", value)
    return ("v", value)


def same(a, b):
    if len(a) != len(b):
        return False
    for row_a, row_b in zip(a, b):
        if len(row_a) != len(row_b):
            return False
        for x, y in zip(row_a, row_b):
            (kx, vx), (ky, vy) = normalized(x), normalized(y)
            if kx == "f" or ky == "f":
                if not (isinstance(vx, (int, float)) and isinstance(vy, (int, float))
                        and math.isclose(vx, vy, rel_tol=1e-9, abs_tol=1e-6)):
                    return False
            elif (kx, vx) != (ky, vy):
                return False
    return True


class Port:
    """`meshplane query` on the host, as the chart runs it."""

    def __init__(self, log_path):
        self.pg, self.metrics = free_port(), free_port()
        self.args = [RELEASE_BIN, "query", f"--listen=127.0.0.1:{self.pg}", f"--metrics-addr=127.0.0.1:{self.metrics}",
                     f"--s3-endpoint={S3_ENDPOINT}", "--s3-region=us-east-1", "--iceberg-type=sql",
                     "--iceberg-name=meshplane", "--iceberg-warehouse=s3://meshplane-warehouse",
                     "--statement-timeout=30s", "--max-rows=100000", "--memory-mib=512", "--table-refresh=1s",
                     "--max-connections=256"]
        self.env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"),
                    "KUBECONFIG": os.environ["KUBECONFIG"], "AWS_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],
                    "AWS_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"], "MESHPLANE_ICEBERG_URI": CATALOG_URI}
        self.log_path = log_path
        self.log = open(log_path, "w")
        self.process = subprocess.Popen(self.args, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while not self.ready():
            if self.process.poll() is not None:
                raise SystemExit(f"meshplane query exited with {self.process.returncode}; see {log_path}:\n"
                                 + open(log_path).read()[-3000:])
            if time.monotonic() > deadline:
                raise SystemExit(f"meshplane query not ready after 120 s; see {log_path}")
            time.sleep(0.1)

    def command(self):
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items() if k not in ("PATH", "HOME"))
        return f"{env} {' '.join(shlex.quote(a) for a in self.args)}"

    def ready(self):
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{self.metrics}/readyz", timeout=2).status == 200
        except OSError:
            return False

    def duration(self, product):
        """(sum, count) of meshplane_query_duration_seconds for `product`."""
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.metrics}/metrics", timeout=5).read().decode()
        label = re.escape(f'product="{product}"')
        found = {}
        for kind in ("sum", "count"):
            match = re.search(rf"^meshplane_query_duration_seconds_{kind}\{{{label}\}} (\S+)$", text, re.M)
            found[kind] = float(match.group(1)) if match else 0.0
        return found["sum"], found["count"]

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.log.close()


def port_dsn(port, token=None):
    dsn = f"host=127.0.0.1 port={port} user={READER} dbname=meshplane sslmode=disable gssencmode=disable"
    return dsn + (f" password={token}" if token else "")


def port_connect(port, token):
    connection = psycopg2.connect(port_dsn(port, token), connect_timeout=10)
    connection.autocommit = True
    return connection


def duckdb_connection(threads):
    import duckdb
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    for extension in ("httpfs", "avro", "iceberg"):
        # The extension wheels (DuckDB cannot download extensions here).
        where = importlib.util.find_spec(f"duckdb_extension_{extension}").submodule_search_locations[0]
        con.load_extension(glob.glob(f"{where}/extensions/*/{extension}.duckdb_extension")[0])
    con.execute(f"""CREATE SECRET s3 (TYPE s3, KEY_ID '{os.environ["AWS_ACCESS_KEY_ID"]}',
        SECRET '{os.environ["AWS_SECRET_ACCESS_KEY"]}', REGION 'us-east-1', ENDPOINT '{S3_ENDPOINT.split("://")[1]}',
        URL_STYLE 'path', USE_SSL false)""")
    settings = con.execute("SELECT current_setting('threads'), current_setting('memory_limit'), "
                           "current_setting('enable_external_file_cache'), "
                           "current_setting('enable_http_metadata_cache'), current_setting('TimeZone')").fetchone()
    return con, dict(zip(["threads", "memory_limit", "enable_external_file_cache", "enable_http_metadata_cache",
                          "TimeZone"], settings))


def trino_url():
    """Trino's address (e2e/stack/trino.sh starts it if it is not running)."""
    subprocess.run(["bash", f"{REPO}/e2e/stack/trino.sh"], check=True, timeout=900, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    env_file = os.path.join(os.environ.get("MESHPLANE_STACK_DIR", f"{REPO}/.stack"), "env")
    for line in open(env_file):
        if line.startswith("export MESHPLANE_TRINO_URL="):
            return line.split("=", 1)[1].strip()
    raise SystemExit("trino.sh did not write MESHPLANE_TRINO_URL")


def stack_pid(name):
    directory = os.path.join(os.environ.get("MESHPLANE_STACK_DIR", f"{REPO}/.stack"), "pids")
    try:
        return int(open(os.path.join(directory, f"{name}.pid")).read().strip())
    except (OSError, ValueError):
        return None


class Block:
    """CPU use around one measured block: the engine's, SeaweedFS's, the catalog
    database's (every `postgres` process), and anyone else's (busy: the stack's other
    processes excepted, as in ingest.py)."""

    def __init__(self, engine_pid, participants):
        self.engine_pid = engine_pid
        self.participants = participants
        self.before = conditions.all_process_cpu()

    def finish(self):
        after = conditions.all_process_cpu()

        def used(pids):
            return sum(after[p][1] - self.before.get(p, ("", 0.0))[1] for p in pids if p in after)
        postgres = [p for p, (name, _) in after.items() if name == "postgres"]
        self.engine_cpu = used([self.engine_pid])
        self.s3_cpu = used([self.participants["seaweedfs"]]) if self.participants.get("seaweedfs") else 0.0
        self.catalog_cpu = used(postgres)
        exclude = set(self.participants.values()) | set(postgres) | {self.engine_pid, os.getpid()}
        self.busy = conditions.busy_elsewhere(self.before, after, exclude=exclude)
        return self


def settle(pid, seconds=0.5, threshold=0.05, timeout=60):
    """Waits until `pid` uses less than `threshold` CPU s per `seconds` (Trino keeps
    compiling and collecting for a while after its queries: that would land in the next
    engine's block); returns how long it took, or None when it did not settle."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        before = conditions.process_cpu_seconds(pid)
        time.sleep(seconds)
        if conditions.process_cpu_seconds(pid) - before < threshold:
            return time.monotonic() - started
    return None


def measure(run, warmup, runs):
    """(seconds per measured run, the first answer, the last answer)."""
    first = run()
    for _ in range(warmup - 1):
        run()
    samples = []
    gc.collect()
    gc.disable()
    try:
        for _ in range(runs):
            started = time.perf_counter()
            last = run()
            samples.append(time.perf_counter() - started)
    finally:
        gc.enable()
    return samples, first, last


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows in the Orders table (default 10,000,000)")
    parser.add_argument("--batch-rows", type=int, default=2_000_000, help="rows per pyiceberg append")
    parser.add_argument("--warmup", type=int, default=5, help="warm-up runs per engine and query (not measured)")
    parser.add_argument("--runs", type=int, default=50, help="measured runs per engine and query")
    parser.add_argument("--overhead-runs", type=int, default=500, help="measured SELECT 1 round trips")
    parser.add_argument("--connects", type=int, default=30, help="measured connection setups")
    parser.add_argument("--namespace", default="bench-query", help="namespace of the bench's Orders product")
    parser.add_argument("--duckdb-threads", type=int, default=2)
    parser.add_argument("--rebuild", action="store_true", help="rebuild the table even if a cached one fits")
    parser.add_argument("--allow-busy", action="store_true", help="run even while other processes use the CPUs")
    args = parser.parse_args()
    if args.warmup < 1 or args.runs < 2:
        parser.error("--warmup must be >= 1 and --runs >= 2")

    busy_before = conditions.check_quiet(args.allow_busy)
    conditions.describe(RELEASE_BIN, [
        f"table: {args.rows:,} Orders rows ({args.batch_rows:,} per append, generator {GENERATOR}), "
        f"namespace {args.namespace}",
        f"runs: {args.warmup} warm-up + {args.runs} measured per engine and query; SELECT 1: {args.warmup} + "
        f"{args.overhead_runs}; connection setup: 2 + {args.connects}",
        "BUSY before start (--allow-busy): "
        + ", ".join(f"{n} (pid {p}, {u:.1f} CPU s in 2 s)" for u, n, p in busy_before[:5])
        if busy_before else "machine quiet before start",
    ])

    # --- setup --------------------------------------------------------------------------
    t0 = time.monotonic()
    identifier = ensure_product(args.namespace)
    product_ready = time.monotonic() - t0
    print(f"# setup: product {args.namespace}/{PRODUCT} Ready with table meshplane.{identifier} "
          f"({product_ready:.1f}s)", flush=True)
    table, built = ensure_rows(identifier, args.rows, args.batch_rows, args.rebuild)
    summary = table.current_snapshot().summary.additional_properties
    data_files, size = int(summary.get("total-data-files", 0)), int(summary.get("total-files-size", 0))
    if built is None:
        print(f"# setup: reused the table of an earlier run (snapshot {table.current_snapshot().snapshot_id}: "
              f"{int(summary['total-records']):,} rows, {data_files} data files, {size / 2**20:,.0f} MiB); "
              "--rebuild to make it anew")
    else:
        print(f"# setup: appended {args.rows:,} rows in {built:.1f}s ({data_files} data files, "
              f"{size / 2**20:,.0f} MiB, snapshot {table.current_snapshot().snapshot_id})")
    metadata = table.metadata_location
    t1 = time.monotonic()
    token, decided_by, columns = grant(args.namespace)
    print(f"# setup: AccessRequest {args.namespace}/{READER} Granted by {decided_by} ({time.monotonic() - t1:.1f}s), "
          f"columns {','.join(columns)}")
    t2 = time.monotonic()
    url = trino_url()
    print(f"# setup: Trino at {url} ({time.monotonic() - t2:.1f}s)")

    logs = os.path.join(os.environ.get("MESHPLANE_STACK_DIR", f"{REPO}/.stack"), "logs")
    os.makedirs(logs, exist_ok=True)
    port = Port(os.path.join(logs, "bench-query-port.log"))
    try:
        run_benchmark(args, port, token, identifier, metadata, url, t0)
    finally:
        port.stop()


def run_benchmark(args, port, token, identifier, metadata, url, t0):
    from urllib.parse import urlsplit
    import trino

    qualified = f"meshplane.{identifier}"
    product = f"{args.namespace}/{PRODUCT}"
    point_id = f"order-{(args.rows * 5) // 8 + 17:09d}"
    queries = {
        "aggregate": AGGREGATE,
        "point lookup": POINT.replace("{order_id}", point_id),
    }

    # The port: wait until the grant is visible (the watch may trail the AccessRequest).
    connection = port_connect(port.pg, token)
    cursor = connection.cursor()
    deadline = time.monotonic() + 120
    while True:
        try:
            cursor.execute(f"SELECT count(*) FROM {qualified}")
            port_count = cursor.fetchone()[0]
            break
        except psycopg2.Error as e:
            if time.monotonic() > deadline:
                raise SystemExit(f"the port never answered SELECT count(*) FROM {qualified}: "
                                 f"SQLSTATE {e.pgcode}: {(e.pgerror or str(e)).strip()}")
            time.sleep(0.2)
    print(f"# setup: port ready on 127.0.0.1:{port.pg} (metrics 127.0.0.1:{port.metrics}, log {port.log_path}); "
          f"setup total {time.monotonic() - t0:.1f}s")

    duck, duck_settings = duckdb_connection(args.duckdb_threads)
    # For context: DuckDB without its in-memory cache of remote file data (the port and
    # Trino read the Parquet files from S3 on every statement).
    duck_nocache, _ = duckdb_connection(args.duckdb_threads)
    duck_nocache.execute("SET enable_external_file_cache = false")
    scan = f"iceberg_scan('{metadata}')"
    split = urlsplit(url)
    trino_connection = trino.dbapi.connect(host=split.hostname, port=split.port, http_scheme=split.scheme,
                                           user="meshplane", catalog="meshplane")
    trino_cursor = trino_connection.cursor()

    def on_port(sql):
        def run():
            try:
                cursor.execute(sql)
                return cursor.fetchall()
            except psycopg2.Error as e:
                raise SystemExit(f"the port failed `{sql}`: SQLSTATE {e.pgcode}: {(e.pgerror or str(e)).strip()}")
        return run

    def on_duckdb(sql, con=duck):
        return lambda: con.execute(sql).fetchall()

    def on_trino(sql):
        def run():
            trino_cursor.execute(sql)
            return [tuple(r) for r in trino_cursor.fetchall()]
        return run

    trino_pid = stack_pid("trino")
    engines = {
        "port": (lambda q: q.format(table=qualified), on_port, port.process.pid),
        "duckdb": (lambda q: q.format(table=scan), on_duckdb, os.getpid()),
        "duckdb-nocache": (lambda q: q.format(table=scan), lambda sql: on_duckdb(sql, duck_nocache), os.getpid()),
        "trino": (lambda q: q.format(table=qualified), on_trino, trino_pid),
    }

    # Every engine counts the same rows.
    counts = {"port": port_count,
              "duckdb": on_duckdb(f"SELECT count(*) FROM {scan}")()[0][0],
              "trino": on_trino(f"SELECT count(*) FROM {qualified}")()[0][0]}
    if set(counts.values()) != {args.rows}:
        raise SystemExit(f"the engines do not count {args.rows:,} rows: {counts}")

    # The stack's processes (SeaweedFS and PostgreSQL serve every engine); Trino's JVM is
    # not one of them: its CPU during another engine's block counts as busy.
    participants = conditions.stack_pids()

    results = {}
    for query_name, template in queries.items():
        answers = {}
        for engine, (render, runner, pid) in engines.items():
            sql = render(template)
            if trino_pid and settle(trino_pid) is None:
                print("# Trino did not go idle within 60 s before this block")
            before = port.duration(product) if engine == "port" else None
            block = Block(pid, participants)
            samples, first, last = measure(runner(sql), args.warmup, args.runs)
            block.finish()
            server = None
            if before is not None:
                after = port.duration(product)
                count = after[1] - before[1]
                server = (after[0] - before[0]) / count if count else None
            if not same(first, last):
                raise SystemExit(f"{engine} answered `{sql}` differently between runs:\n{first}\n{last}")
            answers[engine] = first
            results[(query_name, engine)] = {"samples": samples, "sql": sql, "rows": len(first), "block": block,
                                             "server": server, "total_runs": args.warmup + args.runs}
            print(f"# measured {query_name} on {engine}: p50 {ms(percentile(samples, 0.5))} ms, "
                  f"p99 {ms(percentile(samples, 0.99))} ms", flush=True)
        reference = answers["duckdb"]
        for engine, answer in answers.items():
            if not same(answer, reference):
                raise SystemExit(f"the engines disagree on {query_name}:\n" +
                                 "\n".join(f"  {e}: {a}" for e, a in answers.items()))
        if query_name == "point lookup" and len(reference) != 1:
            raise SystemExit(f"the point lookup found {len(reference)} rows: {reference}")
        if query_name == "aggregate" and len(reference) != len(STATUSES):
            raise SystemExit(f"the aggregate has {len(reference)} groups: {reference}")
        results[(query_name, "answer")] = reference

    # The port's own cost: SELECT 1 through it; the same round trip on PostgreSQL itself
    # (the stack's catalog database) for what libpq, psycopg2 and loopback take.
    if trino_pid:
        settle(trino_pid)
    block = Block(port.process.pid, participants)
    select1, first, _ = measure(on_port("SELECT 1"), args.warmup, args.overhead_runs)
    block.finish()
    if first != [(1,)]:
        raise SystemExit(f"SELECT 1 through the port answered {first}")
    results[("select1", "port")] = {"samples": select1, "block": block}
    reference_connection = psycopg2.connect(CATALOG_URI)
    reference_connection.autocommit = True
    reference_cursor = reference_connection.cursor()

    def on_postgres():
        reference_cursor.execute("SELECT 1")
        return reference_cursor.fetchall()
    postgres_select1, _, _ = measure(on_postgres, args.warmup, args.overhead_runs)
    version = reference_connection.server_version
    postgres_version = f"{version // 10000}.{version % 10000}"
    reference_connection.close()

    def connect_once():
        c = psycopg2.connect(port_dsn(port.pg, token), connect_timeout=10)
        c.close()
    block = Block(port.process.pid, participants)
    connects, _, _ = measure(connect_once, 2, args.connects)
    block.finish()
    results[("connect", "port")] = {"samples": connects, "block": block}
    connection.close()
    trino_connection.close()

    results["port_rss"] = peak_rss_mib(port.process.pid)
    report(args, port, results, postgres_select1, postgres_version, duck_settings, url, metadata)


def report(args, port, results, postgres_select1, postgres_version, duck_settings, url, metadata):
    print()
    print("## How each engine ran (all on loopback; same table files in SeaweedFS S3 127.0.0.1:18333, same SQL "
          "catalog in PostgreSQL 127.0.0.1:15432)")
    print(f"port:   {port.command()}")
    print("        (the chart's flags and default values, charts/meshplane/templates/query.yaml; RUST_LOG unset = "
          f"info, audit log on, written to {port.log_path}; DataFusion target partitions = 2 CPUs; "
          f"peak RSS in this run {results['port_rss']:,.0f} MiB)")
    print(f"        client: psycopg2 {psycopg2.__version__.split()[0]} (libpq {psycopg2.extensions.libpq_version()}), "
          f"simple query protocol, one connection, autocommit; dsn '{port_dsn(port.pg)} password=<token>'")
    print(f"        by hand: PGPASSWORD=$(kubectl -n {args.namespace} create token {READER}) psql "
          f"'{port_dsn(port.pg)}' -c \"<sql>\"")
    print(f"duckdb: duckdb {__import__('duckdb').__version__} in the bench process: "
          + ", ".join(f"{k}={v}" for k, v in duck_settings.items())
          + "; LOAD httpfs, avro, iceberg (wheels); CREATE SECRET s3 (TYPE s3, ENDPOINT '127.0.0.1:18333', "
            "URL_STYLE 'path', USE_SSL false, REGION 'us-east-1', KEY_ID/SECRET = the stack's keys)")
    print(f"        table: iceberg_scan('{metadata}') (the current metadata file)")
    print(f"trino:  Trino 476 at {url} (e2e/stack/trino.sh: single node, -Xmx1G, default session; catalog "
          f"meshplane = Iceberg on the JDBC catalog, native S3); client: trino {__import__('trino').__version__} "
          "DB-API, user meshplane, one connection")
    print(f"        by hand: trino --server {url} --user meshplane --catalog meshplane --execute \"<sql>\"")
    print()
    print("## SQL")
    for query_name in ("aggregate", "point lookup"):
        for engine in ("port", "duckdb", "trino"):
            print(f"{query_name} / {engine}: {results[(query_name, engine)]['sql']}")
        print(f"{query_name} / duckdb-nocache: the same as duckdb, after SET enable_external_file_cache = false")
        print(f"{query_name} answer: {results[(query_name, 'answer')]}")
    print()
    print(f"## Results ({args.rows:,} rows; {args.warmup} warm-up runs excluded, {args.runs} measured; times in ms, "
          "client-side, statement sent to last row decoded)")
    header = f"{'query':<13} {'engine':<14} {'p50':>9} {'p99':>9} {'min':>9} {'max':>9}  {'engine CPU/run':>14} " \
             f"{'S3 CPU/run':>10} {'catalog CPU/run':>15}  notes"
    print(header)
    print("-" * len(header))
    busy_rows = []
    for query_name in ("aggregate", "point lookup"):
        for engine in ENGINES:
            r = results[(query_name, engine)]
            s, b = r["samples"], r["block"]
            per_run = r["total_runs"]
            notes = []
            if r["server"] is not None:
                notes.append(f"port-side mean {ms(r['server'])} ms (meshplane_query_duration_seconds)")
            if engine.startswith("duckdb"):
                notes.append("CPU incl. the bench's Python")
            if engine == "duckdb-nocache":
                notes.append("context only: external file cache off")
            if b.busy:
                notes.append("BUSY")
                busy_rows.append((query_name, engine, b.busy))
            print(f"{query_name:<13} {engine:<14} {ms(percentile(s, .5)):>9} {ms(percentile(s, .99)):>9} "
                  f"{ms(min(s)):>9} {ms(max(s)):>9}  {ms(b.engine_cpu / per_run):>14} {ms(b.s3_cpu / per_run):>10} "
                  f"{ms(b.catalog_cpu / per_run):>15}  {'; '.join(notes)}")
    select1 = results[("select1", "port")]["samples"]
    connects = results[("connect", "port")]["samples"]
    print()
    print(f"port overhead, SELECT 1 round trip ({args.overhead_runs} runs): p50 {ms(percentile(select1, .5))} ms, "
          f"p99 {ms(percentile(select1, .99))} ms, min {ms(min(select1))} ms")
    print(f"  reference, SELECT 1 on the stack's PostgreSQL {postgres_version} (same client, loopback): "
          f"p50 {ms(percentile(postgres_select1, .5))} ms, p99 {ms(percentile(postgres_select1, .99))} ms")
    print(f"port connection setup, psycopg2.connect to ReadyForQuery (startup, cleartext password, TokenReview; "
          f"{args.connects} connects): p50 {ms(percentile(connects, .5))} ms, p99 {ms(percentile(connects, .99))} ms")
    for what in ("select1", "connect"):
        if results[(what, "port")]["block"].busy:
            busy_rows.append((what, "port", results[(what, "port")]["block"].busy))
    for query_name, engine, others in busy_rows:
        print(f"# BUSY during {query_name} on {engine}: other processes used CPU (figures not comparable): "
              + ", ".join(f"{name} (pid {pid}) {used:.1f} CPU s" for used, name, pid in others[:5]))

    print()
    print("## Goal: port p99 within 2x DuckDB and ahead of Trino; overhead < 1 ms")
    lines = []
    for query_name in ("aggregate", "point lookup"):
        p = percentile(results[(query_name, "port")]["samples"], .99)
        d = percentile(results[(query_name, "duckdb")]["samples"], .99)
        t = percentile(results[(query_name, "trino")]["samples"], .99)
        within = p <= 2 * d
        ahead = p < t
        print(f"{query_name}: port p99 {ms(p)} ms vs 2x DuckDB p99 {ms(2 * d)} ms: "
              f"{'held' if within else 'NOT held'} ({p / d:.2f}x DuckDB); vs Trino p99 {ms(t)} ms: "
              f"{'held' if ahead else 'NOT held'} ({p / t:.2f}x Trino)")
        lines.append((query_name, p, d, t, within, ahead))
    p50, p99 = percentile(select1, .5), percentile(select1, .99)
    print(f"overhead (SELECT 1 through the port) < 1 ms: p50 {ms(p50)} ms {'held' if p50 < 1e-3 else 'NOT held'}, "
          f"p99 {ms(p99)} ms {'held' if p99 < 1e-3 else 'NOT held'}")

    print()
    print("## For BENCHMARKS.md")
    date = time.strftime("%Y-%m-%d")
    busy_in = {what for what, _, _ in busy_rows}

    def busy(*what):
        return " (BUSY: see the run)" if busy_in & set(what) else ""
    print("| Date | Query | Port p50 / p99 | DuckDB p50 / p99 | DuckDB, file cache off | Trino p50 / p99 | Goal |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for query_name, p, d, t, within, ahead in lines:
        cells = [f"{ms(percentile(results[(query_name, e)]['samples'], .5))} / "
                 f"{ms(percentile(results[(query_name, e)]['samples'], .99))} ms" for e in ENGINES]
        print(f"| {date} | {query_name}, {args.rows:,} rows | {' | '.join(cells)} | "
              f"≤ 2x DuckDB: {'met' if within else '**not met**'}; ahead of Trino: "
              f"{'met' if ahead else '**not met**'}{busy(query_name)} |")
    print(f"| {date} | port overhead: SELECT 1 round trip | {ms(p50)} / {ms(p99)} ms | | | | < 1 ms: "
          f"{'met' if p99 < 1e-3 else ('p50 met, p99 **not met**' if p50 < 1e-3 else '**not met**')}"
          f"{busy('select1')} |")
    print(f"| {date} | port connection setup (startup + TokenReview) | p50 {ms(percentile(connects, .5))} ms "
          f"| | | | —{busy('connect')} |")
    flags = " ".join(shlex.quote(a) for a in sys.argv[1:])
    print(f"Command: `python e2e/bench/query.py{' ' + flags if flags else ''}` (`make bench-query"
          f"{' BENCH_QUERY_ARGS=' + shlex.quote(flags) if flags else ''}`), stack env sourced; {args.warmup} warm-up "
          f"+ {args.runs} measured runs per engine and query, SELECT 1 x {args.overhead_runs}, "
          f"{args.connects} connects.")


if __name__ == "__main__":
    main()
