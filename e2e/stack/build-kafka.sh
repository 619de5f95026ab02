#!/usr/bin/env bash
# Fetches Apache Kafka (KRaft broker, tools and Connect) jars from Maven Central into a
# classpath folder, with a log4j2 binding so the broker logs.
source "$(dirname "$0")/lib.sh"
need mvn "to fetch Kafka from Maven Central"
need java "to run Kafka"
out="$KAFKA_HOME"
[[ -f "$out/.complete" ]] && exit 0
work="$CACHE_DIR/build/$(basename "$KAFKA_HOME")"
mkdir -p "$work" "$out/libs"
cat > "$work/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.meshplane.stack</groupId>
  <artifactId>kafka-classpath</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>connect-runtime</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>connect-json</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId><version>2.24.3</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>2.0.17</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>2.24.3</version></dependency>
  </dependencies>
</project>
POM
log "fetching Kafka $KAFKA_VERSION jars from Maven Central (first time only)"
(cd "$work" && mvn -q -B dependency:copy-dependencies -DoutputDirectory="$out/libs" -DincludeScope=runtime) \
  >"$LOG_DIR/build-kafka.log" 2>&1 || die "fetching Kafka failed; see $LOG_DIR/build-kafka.log"
touch "$out/.complete"
