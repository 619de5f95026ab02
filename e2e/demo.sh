#!/usr/bin/env bash
# The Meshplane story on the examples: governance decides on every product, admitted
# products are planned into buckets, topics and Kubernetes objects, and the products that
# break the rules are rejected with the reason.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/meshplane
step() { printf '\n\033[1;34m==> %s\033[0m\n' "$*"; }

step "Governance policy in force: examples/policy.yaml (plus an Audit policy being previewed)"
for product in examples/orders.yaml examples/payments.yaml examples/customer-profile.yaml \
               examples/exchange-rates.yaml examples/daily-revenue.yaml; do
  step "meshplane plan -f $product"
  "$bin" plan -f "$product" -p examples/policy.yaml -p examples/audit-policy.yaml \
    | sed -n '/^---$/q;p'
done

for product in examples/rejected/*.yaml; do
  step "meshplane plan -f $product   (expected: rejected)"
  set +e
  "$bin" plan -f "$product" -p examples/policy.yaml | sed -n '/^---$/q;p'
  status=${PIPESTATUS[0]}
  set -e
  [[ $status == 1 ]] || { echo "expected exit status 1 (rejected), got $status"; exit 1; }
done

step "Rendered manifests of the Orders product: meshplane plan -f examples/orders.yaml -p examples/policy.yaml"
"$bin" plan -f examples/orders.yaml -p examples/policy.yaml | awk '/^kind:/ {k=$2} /^  name:/ && k {print "  " k " " $2; k=""}'
