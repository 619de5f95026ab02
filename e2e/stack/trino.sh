#!/usr/bin/env bash
# Starts Trino (single node: coordinator and worker) on top of a running stack, with the
# catalog `meshplane`: Iceberg through the SQL catalog tables in PostgreSQL's database
# `iceberg` (created by postgres.sh) and data in SeaweedFS's S3. Started only by what
# needs it; idempotent. Trino's server and Iceberg plugin come from Maven Central.
#
# `trino.sh governed RULES_URL`: a second coordinator, `trino-governed` on
# $TRINO_GOVERNED_PORT, whose access control is the file-based rules at RULES_URL (the
# catalog's /api/access/trino-rules), refreshed every second, with inaccessible columns
# hidden: Trino as consumers meet it. `trino.sh stop-governed` stops it.
source "$(dirname "$0")/lib.sh"
: "${TRINO_GOVERNED_PORT:=18581}"
name=trino port=$TRINO_PORT rules_url=""
case "${1:-}" in
  "") ;;
  governed)
    [[ -n "${2:-}" ]] || die "usage: trino.sh governed RULES_URL"
    name=trino-governed port=$TRINO_GOVERNED_PORT rules_url=$2 ;;
  stop-governed) stop trino-governed; exit 0 ;;
  *) die "usage: trino.sh [governed RULES_URL | stop-governed]" ;;
esac
: "${TRINO_JAVA_HOME:=/usr/lib/jvm/temurin-25-jdk-amd64}"
# Trino 476 needs Java 24 or newer; the system's java is 17.
[[ -x "$TRINO_JAVA_HOME/bin/java" ]] || die "Trino $TRINO_VERSION needs Java 24+: $TRINO_JAVA_HOME/bin/java not found (set TRINO_JAVA_HOME)"

# The server (trino-server-core has no connectors) with the Iceberg plugin, cached by version.
# Fetching needs no stack, so it comes first.
if [[ ! -f "$TRINO_HOME/.complete" ]]; then
  need mvn "to fetch Trino from Maven Central"
  log "fetching Trino $TRINO_VERSION server and Iceberg plugin, ~540 MB (first time only)"
  work="$CACHE_DIR/build/trino-$TRINO_VERSION"
  rm -rf "$work" "$TRINO_HOME"
  mkdir -p "$work" "$TRINO_HOME/plugin/iceberg"
  printf '<project><modelVersion>4.0.0</modelVersion><groupId>x</groupId><artifactId>x</artifactId><version>1</version></project>\n' > "$work/pom.xml"
  # A private local repository, deleted below: the archives need not stay in ~/.m2 too.
  for artifact in "io.trino:trino-server-core:$TRINO_VERSION:tar.gz" "io.trino:trino-iceberg:$TRINO_VERSION:zip"; do
    (cd "$work" && mvn -q -B dependency:copy -Dmaven.repo.local="$work/m2" \
        -Dartifact="$artifact" -DoutputDirectory="$work") \
      >>"$LOG_DIR/build-trino.log" 2>&1 || die "fetching $artifact failed; see $LOG_DIR/build-trino.log"
  done
  tar -xzf "$work/trino-server-core-$TRINO_VERSION.tar.gz" -C "$TRINO_HOME" --strip-components=1
  unzip -q "$work/trino-iceberg-$TRINO_VERSION.zip" -d "$work/iceberg"
  mv "$work/iceberg/trino-iceberg-$TRINO_VERSION"/* "$TRINO_HOME/plugin/iceberg/"
  # The JDBC catalog's PostgreSQL driver comes with the plugin (org.postgresql_postgresql-*.jar).
  compgen -G "$TRINO_HOME/plugin/iceberg/org.postgresql_postgresql-*.jar" >/dev/null \
    || die "the Iceberg plugin has no PostgreSQL JDBC driver"
  rm -rf "$work"
  touch "$TRINO_HOME/.complete"
fi

running seaweedfs || die "SeaweedFS is not running: start the stack first (make stack-up)"
"$STACK_DIR/postgres.sh" || die "PostgreSQL (the Iceberg catalog's database) did not start"

if ! running "$name"; then
  stop "$name"
  port_open "$port" && die "port $port (for $name) is in use by another process"
  log "starting Trino $TRINO_VERSION on 127.0.0.1:$port ($name)"
  dir="$STATE_DIR/$name"
  mkdir -p "$dir/etc/catalog" "$dir/data"
  # Bound on every address so the node's pods (the maintenance jobs) reach it through the
  # Service platform/trino at the node address, as they reach Kafka and S3; this is a
  # single-machine test stack without authentication.
  cat > "$dir/etc/node.properties" <<PROPS
node.environment=meshplane
node.id=meshplane-$name
node.data-dir=$dir/data
node.bind-ip=0.0.0.0
node.internal-address=127.0.0.1
PROPS
  # Trino's recommended JVM settings (core/docker/default/etc/jvm.config), with a heap
  # small enough for a 2-core test machine.
  cat > "$dir/etc/jvm.config" <<'JVM'
-server
-Xmx1G
-XX:G1HeapRegionSize=32M
-XX:+ExplicitGCInvokesConcurrent
-XX:+HeapDumpOnOutOfMemoryError
-XX:+ExitOnOutOfMemoryError
-XX:-OmitStackTraceInFastThrow
-XX:ReservedCodeCacheSize=256M
-XX:PerMethodRecompilationCutoff=10000
-XX:PerBytecodeRecompilationCutoff=10000
-Djdk.attach.allowAttachSelf=true
-Djdk.nio.maxCachedBufferSize=2000000
-XX:+EnableDynamicAgentLoading
-XX:+UnlockDiagnosticVMOptions
-XX:G1NumCollectionsKeepPinned=10000000
JVM
  cat > "$dir/etc/config.properties" <<PROPS
coordinator=true
node-scheduler.include-coordinator=true
http-server.http.port=$port
discovery.uri=http://127.0.0.1:$port
PROPS
  rm -f "$dir/etc/access-control.properties"
  if [[ -n "$rules_url" ]]; then
    # Columns a rule denies are left out of SELECT * and DESCRIBE instead of failing them.
    echo "hide-inaccessible-columns=true" >> "$dir/etc/config.properties"
    cat > "$dir/etc/access-control.properties" <<PROPS
access-control.name=file
security.config-file=$rules_url
security.refresh-period=1s
PROPS
  fi
  printf 'io.trino=INFO\n' > "$dir/etc/log.properties"
  # The catalog every engine shares: named `meshplane` in the catalog tables, as up.sh's
  # MESHPLANE_ICEBERG_NAME; tables without a location go under MESHPLANE_ICEBERG_WAREHOUSE.
  cat > "$dir/etc/catalog/meshplane.properties" <<PROPS
connector.name=iceberg
iceberg.catalog.type=jdbc
iceberg.jdbc-catalog.driver-class=org.postgresql.Driver
iceberg.jdbc-catalog.connection-url=jdbc:postgresql://127.0.0.1:$POSTGRES_PORT/iceberg
iceberg.jdbc-catalog.connection-user=meshplane
iceberg.jdbc-catalog.connection-password=meshplane
iceberg.jdbc-catalog.catalog-name=meshplane
iceberg.jdbc-catalog.default-warehouse-dir=s3://meshplane-warehouse
# Tests expire snapshots at once (Trino's floor is 7d); orphan removal keeps its 7d floor,
# which protects files a worker has written and not yet committed.
iceberg.expire-snapshots.min-retention=0s
fs.native-s3.enabled=true
s3.endpoint=http://127.0.0.1:$S3_PORT
s3.region=us-east-1
s3.path-style-access=true
s3.aws-access-key=$S3_ACCESS_KEY
s3.aws-secret-key=$S3_SECRET_KEY
PROPS
  : > "$LOG_DIR/$name.log"
  start "$name" "$TRINO_HOME/bin/launcher" run -jvm-dir "$TRINO_JAVA_HOME" -etc-dir "$dir/etc" -data-dir "$dir/data"
  trino_started() { curl -sf "http://127.0.0.1:$port/v1/info" | grep -q '"starting":false'; }
  wait_for "$name" 300 trino_started
fi
if [[ "$name" != trino ]]; then
  log "Trino up at http://127.0.0.1:$port ($name, rules from $rules_url)"
  exit 0
fi
line="export MESHPLANE_TRINO_URL=http://127.0.0.1:$TRINO_PORT"
grep -qxF "$line" "$ENV_FILE" 2>/dev/null || echo "$line" >> "$ENV_FILE"
log "Trino up at http://127.0.0.1:$TRINO_PORT (catalog meshplane)"
