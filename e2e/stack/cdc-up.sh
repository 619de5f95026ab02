#!/usr/bin/env bash
# Starts what change-data-capture products need, on top of a running stack: PostgreSQL
# (Debian's, logical replication on) and Kafka Connect with Debezium's PostgreSQL
# connector (Maven Central). Started only by the tests that need it; idempotent.
source "$(dirname "$0")/lib.sh"
source "$STACK_DIR/node-env.sh"
running kafka || die "Kafka is not running: start the stack first (make stack-up)"

# Debezium's connector plugin, cached by version.
if [[ ! -f "$DEBEZIUM_HOME/.complete" ]]; then
  need mvn "to fetch Debezium from Maven Central"
  log "fetching Debezium PostgreSQL connector $DEBEZIUM_VERSION (first time only)"
  work="$CACHE_DIR/build/debezium-$DEBEZIUM_VERSION"
  mkdir -p "$work" "$DEBEZIUM_HOME"
  printf '<project><modelVersion>4.0.0</modelVersion><groupId>x</groupId><artifactId>x</artifactId><version>1</version></project>\n' > "$work/pom.xml"
  (cd "$work" && mvn -q -B dependency:copy \
      -Dartifact="io.debezium:debezium-connector-postgres:$DEBEZIUM_VERSION:tar.gz:plugin" -DoutputDirectory="$work") \
    >"$LOG_DIR/build-debezium.log" 2>&1 || die "fetching Debezium failed; see $LOG_DIR/build-debezium.log"
  tar -xzf "$work"/debezium-connector-postgres-*-plugin.tar.gz -C "$DEBEZIUM_HOME"
  touch "$DEBEZIUM_HOME/.complete"
fi

# PostgreSQL refuses to run as root: run it as the `postgres` system user.
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [[ -z "$pg_bin" ]]; then
  log "installing PostgreSQL from Debian"
  { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql; } >"$LOG_DIR/apt-postgresql.log" 2>&1 \
    || die "installing PostgreSQL failed; see $LOG_DIR/apt-postgresql.log"
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
id postgres >/dev/null 2>&1 || die "the postgres system user is missing (it comes with Debian's postgresql package)"
pg_dir="$STATE_DIR/postgres"
as_pg() { runuser -u postgres -- "$@"; }
if ! running postgres; then
  stop postgres
  port_open "$POSTGRES_PORT" && die "port $POSTGRES_PORT (for postgres) is in use by another process"
  if [[ ! -f "$pg_dir/data/PG_VERSION" ]]; then
    mkdir -p "$pg_dir"
    chown postgres "$pg_dir"
    as_pg "$pg_bin/initdb" -D "$pg_dir/data" -U postgres --auth=trust >"$LOG_DIR/postgres-initdb.log" 2>&1 \
      || die "initdb failed; see $LOG_DIR/postgres-initdb.log"
    cat >> "$pg_dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1,$NODE_IP'
port = $POSTGRES_PORT
unix_socket_directories = '$pg_dir'
wal_level = logical
max_wal_senders = 8
max_replication_slots = 8
fsync = off
CONF
    # Pods reach it through the platform/postgres Service, with a password.
    printf 'host all all %s scram-sha-256\nhost replication all %s scram-sha-256\n' "$POD_CIDR" "$POD_CIDR" >> "$pg_dir/data/pg_hba.conf"
  fi
  log "starting PostgreSQL on 127.0.0.1:$POSTGRES_PORT (wal_level=logical)"
  : > "$LOG_DIR/postgres.log"
  chown postgres "$LOG_DIR/postgres.log"
  start postgres runuser -u postgres -- "$pg_bin/postgres" -D "$pg_dir/data"
  wait_for postgres 60 "$pg_bin/pg_isready" -h 127.0.0.1 -p "$POSTGRES_PORT"
  psql -h 127.0.0.1 -p "$POSTGRES_PORT" -U postgres -v ON_ERROR_STOP=1 -q >>"$LOG_DIR/postgres.log" 2>&1 <<SQL || die "creating the CRM database failed; see $LOG_DIR/postgres.log"
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'meshplane') THEN
    CREATE ROLE meshplane WITH LOGIN REPLICATION PASSWORD 'meshplane';
  END IF;
END \$\$;
SELECT 'CREATE DATABASE crm OWNER meshplane' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'crm') \gexec
SQL
fi

if ! running kafka-connect; then
  stop kafka-connect
  port_open "$CONNECT_PORT" && die "port $CONNECT_PORT (for kafka-connect) is in use by another process"
  log "starting Kafka Connect with Debezium on 127.0.0.1:$CONNECT_PORT"
  dir="$STATE_DIR/connect"
  mkdir -p "$dir"
  cat > "$dir/connect.properties" <<PROPS
bootstrap.servers=127.0.0.1:$KAFKA_PORT
group.id=meshplane-connect
listeners=http://127.0.0.1:$CONNECT_PORT
key.converter=org.apache.kafka.connect.json.JsonConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
config.storage.topic=_connect-configs
offset.storage.topic=_connect-offsets
status.storage.topic=_connect-status
config.storage.replication.factor=1
offset.storage.replication.factor=1
status.storage.replication.factor=1
offset.flush.interval.ms=1000
plugin.path=$DEBEZIUM_HOME
PROPS
  : > "$LOG_DIR/kafka-connect.log"
  start kafka-connect java -Xms256m -Xmx1g -Dlog4j2.configurationFile="$STATE_DIR/kafka/log4j2.properties" \
    -cp "$KAFKA_HOME/libs/*" org.apache.kafka.connect.cli.ConnectDistributed "$dir/connect.properties"
  connector_loaded() { curl -sf "http://127.0.0.1:$CONNECT_PORT/connector-plugins" | grep -q PostgresConnector; }
  wait_for kafka-connect 180 connector_loaded
fi
cat >> "$ENV_FILE" <<ENV
export MESHPLANE_POSTGRES_URL=postgresql://meshplane:meshplane@127.0.0.1:$POSTGRES_PORT/crm
export MESHPLANE_CONNECT_URL=http://127.0.0.1:$CONNECT_PORT
ENV
log "CDC components up (PostgreSQL, Kafka Connect + Debezium)"
