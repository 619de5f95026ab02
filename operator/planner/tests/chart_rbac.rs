//! The chart's controller ClusterRole grants what provisioning and pruning need on every
//! kind the planner renders: a new kind without its RBAC fails here, not in a cluster.

use meshplane_planner::CHILD_KINDS;
use serde_yaml::Value;

/// Verbs the controller uses on children: apply (get, create, patch), owned-object
/// watches (list, watch) and pruning (list, delete).
const VERBS: [&str; 6] = ["get", "list", "watch", "create", "patch", "delete"];

fn controller_cluster_role_rules() -> Vec<Value> {
    let template = include_str!("../../../charts/meshplane/templates/controller.yaml");
    let document = template
        .split("\n---\n")
        .find(|d| d.contains("\nkind: ClusterRole\n"))
        .expect("the controller template has a ClusterRole");
    // The rules hold no template expressions; the metadata above them does.
    let rules = &document[document
        .find("\nrules:\n")
        .expect("the ClusterRole has rules")..];
    let rules: String = rules
        .lines()
        .take_while(|l| !l.trim_start().starts_with("{{"))
        .map(|l| format!("{l}\n"))
        .collect();
    let parsed: Value = serde_yaml::from_str(&rules).expect("the rules are YAML");
    parsed["rules"]
        .as_sequence()
        .expect("rules is a list")
        .clone()
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_sequence()
        .map(|s| s.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn the_charts_cluster_role_grants_every_verb_on_every_kind_the_planner_renders() {
    let rules = controller_cluster_role_rules();
    for kind in &CHILD_KINDS {
        for verb in VERBS {
            let granted = rules.iter().any(|rule| {
                strings(&rule["apiGroups"]).contains(&kind.group)
                    && strings(&rule["resources"]).contains(&kind.plural)
                    && strings(&rule["verbs"]).contains(&verb)
            });
            assert!(
                granted,
                "the controller's ClusterRole does not grant {verb} on {}/{}",
                if kind.group.is_empty() {
                    "core"
                } else {
                    kind.group
                },
                kind.plural
            );
        }
    }
}

#[test]
fn the_rules_are_read_from_the_template() {
    // Guards the parsing above: it must find the rules the chart really has.
    let rules = controller_cluster_role_rules();
    assert!(rules.len() >= 5, "{rules:?}");
    assert!(rules
        .iter()
        .any(|r| strings(&r["resources"]).contains(&"dataproducts")));
}

#[test]
fn the_charts_cluster_role_lets_the_controller_read_worker_pods_and_nothing_more() {
    // Pods are not children (the Deployments' ReplicaSets make them): the workload step
    // lists them and the controller watches them, to say why no worker is available.
    let rules = controller_cluster_role_rules();
    let granted = |verb: &str| {
        rules.iter().any(|rule| {
            strings(&rule["apiGroups"]).contains(&"")
                && strings(&rule["resources"]).contains(&"pods")
                && strings(&rule["verbs"]).contains(&verb)
        })
    };
    for verb in ["get", "list", "watch"] {
        assert!(
            granted(verb),
            "the controller's ClusterRole does not grant {verb} on pods"
        );
    }
    for verb in ["create", "patch", "delete"] {
        assert!(!granted(verb), "the controller needs no {verb} on pods");
    }
}
