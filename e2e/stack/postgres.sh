#!/usr/bin/env bash
# Starts the stack's PostgreSQL (Debian's, installed if missing): the Iceberg catalog's
# database `iceberg` (the SQL catalog tables every engine shares) and the CDC tests'
# source database `crm` (logical replication on). Idempotent.
source "$(dirname "$0")/lib.sh"
source "$STACK_DIR/node-env.sh"

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
  fi
  # Pods (and host clients at the node's address) reach it with a password; kept in place
  # for data directories made before.
  grep -q "^host all all $POD_CIDR scram-sha-256" "$pg_dir/data/pg_hba.conf" \
    || printf 'host all all %s scram-sha-256\nhost replication all %s scram-sha-256\n' "$POD_CIDR" "$POD_CIDR" >> "$pg_dir/data/pg_hba.conf"
  log "starting PostgreSQL on 127.0.0.1:$POSTGRES_PORT (wal_level=logical)"
  : > "$LOG_DIR/postgres.log"
  chown postgres "$LOG_DIR/postgres.log"
  start postgres runuser -u postgres -- "$pg_bin/postgres" -D "$pg_dir/data" -c "listen_addresses=127.0.0.1,$NODE_IP"
  wait_for postgres 60 "$pg_bin/pg_isready" -h 127.0.0.1 -p "$POSTGRES_PORT"
fi

# Roles and databases, whether PostgreSQL was started now or before.
psql -h 127.0.0.1 -p "$POSTGRES_PORT" -U postgres -v ON_ERROR_STOP=1 -q >>"$LOG_DIR/postgres.log" 2>&1 <<SQL || die "creating the databases failed; see $LOG_DIR/postgres.log"
DO \$\$ BEGIN
IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'meshplane') THEN
  CREATE ROLE meshplane WITH LOGIN REPLICATION PASSWORD 'meshplane';
END IF;
END \$\$;
SELECT 'CREATE DATABASE crm OWNER meshplane' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'crm') \gexec
SELECT 'CREATE DATABASE iceberg OWNER meshplane' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'iceberg') \gexec
SQL

# The catalog tables in iceberg-rust's layout (with `iceberg_type`), which Trino, Spark,
# pyiceberg and Kafka Connect's JDBC catalog also use: created here so that whichever
# engine comes first finds them.
psql -h 127.0.0.1 -p "$POSTGRES_PORT" -U meshplane -d iceberg -v ON_ERROR_STOP=1 -q >>"$LOG_DIR/postgres.log" 2>&1 <<'SQL' || die "creating the Iceberg catalog tables failed; see $LOG_DIR/postgres.log"
CREATE TABLE IF NOT EXISTS iceberg_tables (
  catalog_name VARCHAR(255) NOT NULL, table_namespace VARCHAR(255) NOT NULL, table_name VARCHAR(255) NOT NULL,
  metadata_location VARCHAR(1000), previous_metadata_location VARCHAR(1000), iceberg_type VARCHAR(5),
  PRIMARY KEY (catalog_name, table_namespace, table_name));
CREATE TABLE IF NOT EXISTS iceberg_namespace_properties (
  catalog_name VARCHAR(255) NOT NULL, namespace VARCHAR(255) NOT NULL, property_key VARCHAR(255),
  property_value VARCHAR(1000), PRIMARY KEY (catalog_name, namespace, property_key));
SQL
