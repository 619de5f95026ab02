#!/usr/bin/env bash
# Starts what change-data-capture products need, on top of a running stack: Kafka Connect
# with Debezium's PostgreSQL connector (Maven Central), capturing the stack's PostgreSQL
# (started by up.sh, or here). Started only by the tests that need it; idempotent.
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

"$STACK_DIR/postgres.sh" || die "PostgreSQL did not start"

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
