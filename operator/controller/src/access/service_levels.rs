//! The product's service levels as a grant holder sees them: the product's SLO conditions,
//! without their messages (which change with every measurement), so a request's status
//! changes only when an SLO does. Pure.

use meshplane_api::{DataProduct, ServiceLevelState};

/// The SLO conditions a grant shows, with the SLO's name and the product's promise.
fn declared(product: &DataProduct) -> [(&'static str, &'static str, Option<String>); 2] {
    let slo = product.spec.slo.as_ref();
    [
        (
            "freshness",
            "FreshnessSLOMet",
            slo.and_then(|s| s.freshness.clone()),
        ),
        (
            "completeness",
            "CompletenessSLOMet",
            slo.and_then(|s| s.completeness).map(|c| c.to_string()),
        ),
    ]
}

/// One entry per SLO condition the product's status holds, in a fixed order.
pub fn service_levels(product: &DataProduct) -> Vec<ServiceLevelState> {
    let conditions = product
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    declared(product)
        .into_iter()
        .filter_map(|(slo, type_, target)| {
            let condition = conditions.iter().find(|c| c.type_ == type_)?;
            Some(ServiceLevelState {
                slo: slo.into(),
                target,
                status: condition.status.clone(),
                reason: condition.reason.clone(),
                since: Some(condition.last_transition_time.clone()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

    fn condition(type_: &str, status: &str, reason: &str, message: &str) -> Condition {
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: message.into(),
            last_transition_time: Time("2026-12-04T10:00:00Z".parse().unwrap()),
            observed_generation: Some(1),
        }
    }

    fn orders(conditions: Vec<Condition>) -> DataProduct {
        let mut product = meshplane_api::load::load_data_product(
            include_str!("../../../../examples/orders.yaml"),
            "orders.yaml",
        )
        .unwrap();
        product.status = Some(meshplane_api::DataProductStatus {
            conditions,
            ..Default::default()
        });
        product
    }

    #[test]
    fn a_grant_shows_each_measured_slo_with_its_target_and_not_its_changing_message() {
        let product = orders(vec![
            condition("Ready", "True", "Provisioned", "ready"),
            condition(
                "CompletenessSLOMet",
                "Unknown",
                "PrometheusUnavailable",
                "Prometheus at http://p did not answer",
            ),
            condition(
                "FreshnessSLOMet",
                "False",
                "FreshnessSLOBreached",
                "the newest committed event (2026-12-04T09:00:00Z) is older than the 10m freshness SLO",
            ),
        ]);
        let levels = service_levels(&product);
        assert_eq!(
            levels,
            [
                ServiceLevelState {
                    slo: "freshness".into(),
                    target: Some("10m".into()),
                    status: "False".into(),
                    reason: "FreshnessSLOBreached".into(),
                    since: Some(Time("2026-12-04T10:00:00Z".parse().unwrap())),
                },
                ServiceLevelState {
                    slo: "completeness".into(),
                    target: Some("99.5".into()),
                    status: "Unknown".into(),
                    reason: "PrometheusUnavailable".into(),
                    since: Some(Time("2026-12-04T10:00:00Z".parse().unwrap())),
                },
            ]
        );
        // A new measurement with the same verdict changes nothing a grant shows.
        let mut later = product.clone();
        later.status.as_mut().unwrap().conditions[2].message = "another age".into();
        assert_eq!(service_levels(&later), levels);
    }

    #[test]
    fn a_product_without_slo_conditions_shows_none() {
        assert!(
            service_levels(&orders(vec![condition("Ready", "True", "Provisioned", "")])).is_empty()
        );
    }
}
