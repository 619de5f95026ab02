#!/usr/bin/env bash
# Gathers the third-party CRDs the operator writes: prometheus-operator's ServiceMonitor
# and PrometheusRule exactly as upstream ships them (from its Go module), and Strimzi's
# KafkaTopic and KafkaConnector (minimal structural copies in e2e/stack/crds/).
source "$(dirname "$0")/lib.sh"
out="$STATE_DIR/third-party-crds"
mkdir -p "$out"
dir=$(cd "$CACHE_DIR" && go mod download -json "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" \
  | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
[[ -d "$dir" ]] || die "could not fetch prometheus-operator $PROMETHEUS_OPERATOR_VERSION from the Go module proxy"
for crd in servicemonitors prometheusrules; do
  cp "$dir/example/prometheus-operator-crd/monitoring.coreos.com_$crd.yaml" "$out/"
done
cp "$STACK_DIR"/crds/*.yaml "$out/"
