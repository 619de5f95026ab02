"""The SLO alerts the planner renders, checked and unit-tested by Prometheus's own promtool.

`meshplane plan` renders each example product's PrometheusRule; `promtool check rules`
validates it and `promtool test rules` evaluates every alert against synthetic series
shaped like the worker's (with the `product` label the ServiceMonitor's relabeling
attaches): each alert fires when its SLO is breached, stays quiet when it holds, and
every alert the planner can render has cases here.
"""
import json
import subprocess

import pytest
import yaml

from conftest import MESHPLANE_BIN, REPO, require_env

EXAMPLES = ["orders.yaml", "payments.yaml", "customer-profile.yaml"]


def rendered_rules(example):
    out = subprocess.run([MESHPLANE_BIN, "plan", "-f", f"{REPO}/examples/{example}", "-p",
                          f"{REPO}/examples/policy.yaml", "-o", "json"],
                         capture_output=True, text=True, check=True).stdout
    objects = json.loads(out)[0]["desired"]["objects"]
    return next(o for o in objects if o["kind"] == "PrometheusRule")


def alert(groups, name):
    return next(r for g in groups for r in g["rules"] if r.get("alert") == name)


def firing(rule, extra=None):
    """The alert promtool must see: the rule's labels (plus any from the expression) and
    its annotations, which are not templated."""
    return [{"exp_labels": {**rule["labels"], **(extra or {})}, "exp_annotations": rule["annotations"]}]


def freshness_cases(rule, product):
    limit = int(rule["expr"].split(" > ")[1].split()[0])
    newest = f'meshplane_ingest_newest_committed_event_timestamp_seconds{{product="{product}",pod="w-0"}}'
    minutes = limit // 60
    return [
        {   # the last commit was at t=60 s and nothing newer came: breached after the
            # limit, firing once it has held for the rule's 5 minutes
            "interval": "1m",
            "input_series": [{"series": newest, "values": f"60+0x{minutes + 30}"}],
            "alert_rule_test": [
                {"eval_time": f"{minutes}m", "alertname": rule["alert"], "exp_alerts": []},
                {"eval_time": f"{minutes + 8}m", "alertname": rule["alert"], "exp_alerts": firing(rule)},
            ],
        },
        {   # commits keep up with the clock: never breached
            "interval": "1m",
            "input_series": [{"series": newest, "values": f"0+60x{minutes + 30}"}],
            "alert_rule_test": [{"eval_time": f"{minutes + 20}m", "alertname": rule["alert"], "exp_alerts": []}],
        },
        {   # nothing committed yet (0): no freshness to judge
            "interval": "1m",
            "input_series": [{"series": newest, "values": f"0x{minutes + 30}"}],
            "alert_rule_test": [{"eval_time": f"{minutes + 20}m", "alertname": rule["alert"], "exp_alerts": []}],
        },
    ]


def rejecting_cases(rule, product):
    rejected = f'meshplane_ingest_events_rejected_total{{product="{product}",pod="w-0"}}'
    written = f'meshplane_ingest_rows_written_total{{product="{product}",pod="w-0"}}'
    allowed = float(rule["expr"].rsplit(" > ", 1)[1])
    # Per minute: 1,000 rows and a rejected share of twice, then half, what the SLO allows.
    over = round(1000 * allowed * 2 / (1 - allowed * 2))
    under = max(0, round(1000 * allowed / 2 / (1 - allowed / 2)) - 1)
    return [
        {
            "interval": "1m",
            "input_series": [{"series": rejected, "values": f"0+{over}x60"},
                             {"series": written, "values": "0+1000x60"}],
            "alert_rule_test": [
                {"eval_time": "10m", "alertname": rule["alert"], "exp_alerts": []},
                {"eval_time": "40m", "alertname": rule["alert"], "exp_alerts": firing(rule)},
            ],
        },
        {
            "interval": "1m",
            "input_series": [{"series": rejected, "values": f"0+{under}x60"},
                             {"series": written, "values": "0+1000x60"}],
            "alert_rule_test": [{"eval_time": "40m", "alertname": rule["alert"], "exp_alerts": []}],
        },
        {   # an idle product rejects nothing
            "interval": "1m",
            "input_series": [{"series": rejected, "values": "0x60"}, {"series": written, "values": "0x60"}],
            "alert_rule_test": [{"eval_time": "40m", "alertname": rule["alert"], "exp_alerts": []}],
        },
    ]


def ingestion_down_cases(rule, product):
    up = f'up{{product="{product}",job="orders-metrics",pod="w-0"}}'
    other = 'up{product="elsewhere/other",job="other-metrics",pod="x-0"}'
    return [
        {   # the worker's target fails its scrapes
            "interval": "1m",
            "input_series": [{"series": up, "values": "0x30"}],
            "alert_rule_test": [
                {"eval_time": "5m", "alertname": rule["alert"], "exp_alerts": []},
                {"eval_time": "15m", "alertname": rule["alert"], "exp_alerts": firing(rule, {"product": product})},
            ],
        },
        {   # no target at all (no worker pod), while another product's is up
            "interval": "1m",
            "input_series": [{"series": other, "values": "1x30"}],
            "alert_rule_test": [
                {"eval_time": "15m", "alertname": rule["alert"], "exp_alerts": firing(rule, {"product": product})},
            ],
        },
        {
            "interval": "1m",
            "input_series": [{"series": up, "values": "1x30"}],
            "alert_rule_test": [{"eval_time": "15m", "alertname": rule["alert"], "exp_alerts": []}],
        },
    ]


CASES = {
    "DataProductFreshnessSLOBreached": freshness_cases,
    "DataProductRejectingRecords": rejecting_cases,
    "DataProductIngestionDown": ingestion_down_cases,
}


@pytest.fixture(scope="module")
def promtool():
    return require_env("MESHPLANE_PROMTOOL")


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_rendered_alert_is_valid_and_fires_only_when_its_slo_is_breached(example, promtool, tmp_path):
    rule = rendered_rules(example)
    product = f'{rule["metadata"]["namespace"]}/{rule["metadata"]["labels"]["meshplane.dev/product"]}'
    groups = rule["spec"]["groups"]
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(yaml.safe_dump({"groups": groups}))
    check = subprocess.run([promtool, "check", "rules", str(rules_file)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr

    names = [r["alert"] for g in groups for r in g["rules"] if "alert" in r]
    assert names, f"{example} renders no alert"
    untested = set(names) - set(CASES)
    assert not untested, f"alerts the planner renders without promtool cases here: {untested}"
    tests = [case for name in names for case in CASES[name](alert(groups, name), product)]
    test_file = tmp_path / "rules_test.yaml"
    test_file.write_text(yaml.safe_dump({"rule_files": [str(rules_file)], "evaluation_interval": "1m",
                                         "tests": tests}))
    run = subprocess.run([promtool, "test", "rules", str(test_file)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout, run.stdout


def test_promtool_fails_a_case_whose_alert_does_not_fire(promtool, tmp_path):
    """The harness can fail: a healthy series expected to fire is reported."""
    rule = rendered_rules("orders.yaml")
    groups = rule["spec"]["groups"]
    down = alert(groups, "DataProductIngestionDown")
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(yaml.safe_dump({"groups": groups}))
    case = ingestion_down_cases(down, "orders/orders")[2]
    case["alert_rule_test"][0]["exp_alerts"] = firing(down, {"product": "orders/orders"})
    test_file = tmp_path / "rules_test.yaml"
    test_file.write_text(yaml.safe_dump({"rule_files": [str(rules_file)], "tests": [case]}))
    run = subprocess.run([promtool, "test", "rules", str(test_file)], capture_output=True, text=True)
    assert run.returncode != 0, run.stdout
