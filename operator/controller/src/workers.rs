//! Why no ingestion worker is available, read from the worker pods' status. Pure: the
//! workload step lists the pods and hands them here, so every rule is tested on pod
//! fixtures without a cluster.

use crate::status::{WorkloadReason, WorkloadReport};
use k8s_openapi::api::core::v1::{ContainerState, ContainerStateTerminated, ContainerStatus, Pod};

/// Longest piece of a pod's own words (a termination or waiting message) quoted in a
/// condition message: enough for the error line, short enough for `kubectl get`.
pub const MAX_QUOTED: usize = 300;

/// Waiting reasons of a container whose image the kubelet cannot get.
const IMAGE_MISSING: [&str; 4] = [
    "ErrImageNeverPull",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
];

/// The most telling reason among the product's worker pods, with a message naming the
/// pod: an image that cannot be pulled, then a crash loop, then a pod no node takes, then
/// whatever the pod is doing (starting, not ready). Pods being deleted (replaced in a
/// rollout) are left out; ties go to the first pod by name.
pub fn diagnose(pods: &[Pod]) -> WorkloadReport {
    let mut live: Vec<&Pod> = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect();
    live.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let mut worst: Option<WorkloadReport> = None;
    for report in live.into_iter().map(pod_report) {
        if worst
            .as_ref()
            .is_none_or(|w| severity(report.reason) > severity(w.reason))
        {
            worst = Some(report);
        }
    }
    worst.unwrap_or_else(|| WorkloadReport {
        reason: WorkloadReason::Unavailable,
        message: "no worker pod yet".into(),
    })
}

fn severity(reason: WorkloadReason) -> u8 {
    match reason {
        WorkloadReason::ImageMissing => 3,
        WorkloadReason::CrashLooping => 2,
        WorkloadReason::Unschedulable => 1,
        _ => 0,
    }
}

/// What one pod tells.
fn pod_report(pod: &Pod) -> WorkloadReport {
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let status = pod.status.as_ref();
    let containers: Vec<&ContainerStatus> = status
        .into_iter()
        .flat_map(|s| {
            s.init_container_statuses
                .iter()
                .flatten()
                .chain(s.container_statuses.iter().flatten())
        })
        .collect();
    let report = |reason, message| WorkloadReport { reason, message };

    for c in &containers {
        let Some(waiting) = c.state.as_ref().and_then(|s| s.waiting.as_ref()) else {
            continue;
        };
        let why = waiting.reason.as_deref().unwrap_or_default();
        if IMAGE_MISSING.contains(&why) {
            return report(
                WorkloadReason::ImageMissing,
                format!(
                    "pod {name}: image {} of container {} cannot be pulled ({why}){}",
                    c.image,
                    c.name,
                    quoted(waiting.message.as_deref(), clip)
                ),
            );
        }
    }

    for c in &containers {
        let crash_loop = c
            .state
            .as_ref()
            .and_then(|s| s.waiting.as_ref())
            .is_some_and(|w| w.reason.as_deref() == Some("CrashLoopBackOff"));
        // The exit that made it fail: the current one if it just exited with an error,
        // else the previous one (a crash loop waits between restarts).
        let failed = terminated(c.state.as_ref())
            .filter(|t| t.exit_code != 0)
            .or_else(|| {
                terminated(c.last_state.as_ref()).filter(|t| crash_loop || t.exit_code != 0)
            });
        if let Some(exit) = failed {
            return report(
                WorkloadReason::CrashLooping,
                format!(
                    "pod {name}: container {} exited with code {}{} ({} restarts){}",
                    c.name,
                    exit.exit_code,
                    exit_reason(exit),
                    c.restart_count,
                    quoted(exit.message.as_deref(), tail)
                ),
            );
        }
        if crash_loop {
            return report(
                WorkloadReason::CrashLooping,
                format!(
                    "pod {name}: container {} is in CrashLoopBackOff ({} restarts)",
                    c.name, c.restart_count
                ),
            );
        }
    }

    let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("Pending");
    let unschedulable = status
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .find(|c| {
            c.type_ == "PodScheduled"
                && c.status == "False"
                && c.reason.as_deref() == Some("Unschedulable")
        });
    if let (Some(condition), "Pending") = (unschedulable, phase) {
        return report(
            WorkloadReason::Unschedulable,
            format!(
                "pod {name} cannot be scheduled{}",
                quoted(condition.message.as_deref(), clip)
            ),
        );
    }

    let waiting = containers.iter().find_map(|c| {
        c.state
            .as_ref()
            .and_then(|s| s.waiting.as_ref())
            .map(|w| (c.name.as_str(), w))
    });
    let message = match (phase, waiting) {
        ("Failed", _) => format!(
            "pod {name} failed{}{}",
            status
                .and_then(|s| s.reason.as_deref())
                .map(|r| format!(" ({r})"))
                .unwrap_or_default(),
            quoted(status.and_then(|s| s.message.as_deref()), clip)
        ),
        (_, Some((container, w))) => format!(
            "pod {name} is starting: container {container} is waiting ({}){}",
            w.reason.as_deref().unwrap_or("no reason given"),
            quoted(w.message.as_deref(), clip)
        ),
        ("Running", None) => format!(
            "pod {name} is running but not ready: starting, or its requests to S3 or the Iceberg catalog keep failing (see its log)"
        ),
        (phase, None) => format!("pod {name} is {phase}"),
    };
    report(WorkloadReason::Unavailable, message)
}

fn terminated(state: Option<&ContainerState>) -> Option<&ContainerStateTerminated> {
    state.and_then(|s| s.terminated.as_ref())
}

/// ` (OOMKilled)`; nothing for the plain `Error` every failed exit has.
fn exit_reason(exit: &ContainerStateTerminated) -> String {
    match exit.reason.as_deref() {
        Some(reason) if reason != "Error" => format!(" ({reason})"),
        _ => String::new(),
    }
}

/// `: <text>` shortened by `shorten`, or nothing when there is no text.
fn quoted(text: Option<&str>, shorten: fn(&str) -> String) -> String {
    let text = one_line(text.unwrap_or_default());
    if text.is_empty() {
        String::new()
    } else {
        format!(": {}", shorten(&text))
    }
}

/// The text's non-empty lines, trimmed, joined: a condition message reads as one line.
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" | ")
}

/// The start of `text`, at most [`MAX_QUOTED`] characters: what the kubelet writes says
/// the essential first.
fn clip(text: &str) -> String {
    if text.chars().count() <= MAX_QUOTED {
        return text.to_string();
    }
    let head: String = text.chars().take(MAX_QUOTED).collect();
    format!("{head}…")
}

/// The end of `text`, at most [`MAX_QUOTED`] characters: a termination message taken
/// from the logs ends with the error that stopped the worker.
fn tail(text: &str) -> String {
    let count = text.chars().count();
    if count <= MAX_QUOTED {
        return text.to_string();
    }
    let end: String = text.chars().skip(count - MAX_QUOTED).collect();
    format!("…{end}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(fixture: &str) -> Pod {
        serde_yaml::from_str(fixture).expect("the fixture is a Pod")
    }

    macro_rules! fixture {
        ($name:literal) => {
            pod(include_str!(concat!(
                "../tests/fixtures/pods/",
                $name,
                ".yaml"
            )))
        };
    }

    #[test]
    fn no_pod_is_unavailable_with_no_worker_pod_yet() {
        let report = diagnose(&[]);
        assert_eq!(report.reason, WorkloadReason::Unavailable);
        assert_eq!(report.message, "no worker pod yet");
    }

    #[test]
    fn an_image_absent_with_pull_policy_never_is_image_missing_and_named() {
        let report = diagnose(&[fixture!("image-never-pull")]);
        assert_eq!(report.reason, WorkloadReason::ImageMissing);
        assert_eq!(
            report.message,
            "pod orders-ingest-6d5f7c9b8-x2k4q: image meshplane:dev of container ingest cannot \
             be pulled (ErrImageNeverPull): Container image \"meshplane:dev\" is not present \
             with pull policy of Never"
        );
    }

    #[test]
    fn an_image_pull_back_off_is_image_missing() {
        let report = diagnose(&[fixture!("image-pull-backoff")]);
        assert_eq!(report.reason, WorkloadReason::ImageMissing);
        assert!(
            report
                .message
                .contains("image ghcr.io/example/meshplane:0.1.0 of container ingest"),
            "{}",
            report.message
        );
    }

    #[test]
    fn a_crash_loop_quotes_the_exit_code_and_the_end_of_the_last_logs() {
        let report = diagnose(&[fixture!("crash-loop")]);
        assert_eq!(report.reason, WorkloadReason::CrashLooping);
        let message = &report.message;
        assert!(
            message.starts_with(
                "pod orders-ingest-6d5f7c9b8-c8w2n: container ingest exited with code 1 \
                 (4 restarts): …"
            ),
            "{message}"
        );
        assert!(
            message.ends_with(
                "Error: failed to write to bucket meshplane-orders-orders: InvalidAccessKeyId: \
                 The Access Key Id you provided does not exist in our records."
            ),
            "{message}"
        );
        let quoted = message
            .split_once(": …")
            .map(|(_, q)| q)
            .unwrap_or_default();
        assert_eq!(quoted.chars().count(), MAX_QUOTED, "{message}");
        assert!(!message.contains('\n'), "one line: {message}");
    }

    #[test]
    fn a_worker_that_just_exited_with_an_error_is_crash_looping() {
        let report = diagnose(&[fixture!("exited")]);
        assert_eq!(report.reason, WorkloadReason::CrashLooping);
        assert_eq!(
            report.message,
            "pod orders-ingest-6d5f7c9b8-f4r6t: container ingest exited with code 137 \
             (OOMKilled) (0 restarts)"
        );
    }

    #[test]
    fn a_pod_no_node_takes_is_unschedulable_with_the_schedulers_words() {
        let report = diagnose(&[fixture!("unschedulable")]);
        assert_eq!(report.reason, WorkloadReason::Unschedulable);
        assert!(
            report.message.starts_with(
                "pod orders-ingest-6d5f7c9b8-u1v3w cannot be scheduled: 0/1 nodes are \
                 available: 1 Insufficient cpu."
            ),
            "{}",
            report.message
        );
    }

    #[test]
    fn a_starting_or_unready_pod_is_merely_unavailable() {
        let report = diagnose(&[fixture!("starting")]);
        assert_eq!(report.reason, WorkloadReason::Unavailable);
        assert_eq!(
            report.message,
            "pod orders-ingest-6d5f7c9b8-s5t7u is starting: container ingest is waiting \
             (ContainerCreating)"
        );
        let report = diagnose(&[fixture!("running-not-ready")]);
        assert_eq!(report.reason, WorkloadReason::Unavailable);
        assert_eq!(
            report.message,
            "pod orders-ingest-6d5f7c9b8-r2d2c is running but not ready: starting, or its requests to S3 or the Iceberg catalog keep failing (see its log)"
        );
    }

    #[test]
    fn the_most_telling_pod_wins_and_pods_being_replaced_are_left_out() {
        let pods = [
            fixture!("starting"),
            fixture!("crash-loop"),
            fixture!("unschedulable"),
        ];
        assert_eq!(diagnose(&pods).reason, WorkloadReason::CrashLooping);
        let mut pods = pods;
        pods[1].metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
            ));
        assert_eq!(diagnose(&pods).reason, WorkloadReason::Unschedulable);
    }

    #[test]
    fn short_texts_are_quoted_whole_and_long_ones_are_cut_on_characters() {
        assert_eq!(quoted(None, clip), "");
        assert_eq!(quoted(Some(" \n "), tail), "");
        assert_eq!(quoted(Some("a\n  b \n"), clip), ": a | b");
        let long = "é".repeat(MAX_QUOTED + 10);
        assert_eq!(clip(&long).chars().count(), MAX_QUOTED + 1);
        assert!(tail(&long).starts_with('…'));
    }
}
