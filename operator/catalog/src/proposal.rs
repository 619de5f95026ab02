//! A GovernancePolicy proposed for impact analysis, read strictly from a document: exactly
//! one policy, bounded in size, valid before any product is checked against it.

use meshplane_api::load::{load_all, LoadError, Resource};
use meshplane_api::GovernancePolicy;
use meshplane_governance::{validate_policy, PolicyProblem};
use thiserror::Error;

/// Largest policy document accepted.
pub const MAX_POLICY_BYTES: usize = 256 * 1024;

/// Why a proposed policy cannot be analysed.
#[derive(Debug, Error)]
pub enum ProposalError {
    /// The document is larger than [`MAX_POLICY_BYTES`].
    #[error("the policy is {length} bytes; at most {max} are accepted")]
    TooLarge {
        /// Its size.
        length: usize,
        /// The bound.
        max: usize,
    },
    /// The document does not load (YAML syntax, unknown fields, wrong kind).
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The document holds no policy, several resources, or a DataProduct.
    #[error("send exactly one GovernancePolicy (YAML or JSON)")]
    NotOnePolicy,
    /// The policy loads but could not be enforced.
    #[error("the policy is invalid: {}", join(.0))]
    Invalid(Vec<PolicyProblem>),
}

fn join(problems: &[PolicyProblem]) -> String {
    let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
    list.join("; ")
}

/// Reads the one policy of `text` (YAML or JSON); `origin` names it in load errors.
pub fn parse(text: &str, origin: &str) -> Result<GovernancePolicy, ProposalError> {
    if text.len() > MAX_POLICY_BYTES {
        return Err(ProposalError::TooLarge {
            length: text.len(),
            max: MAX_POLICY_BYTES,
        });
    }
    let mut resources = load_all(text, origin)?;
    let policy = match (resources.pop(), resources.is_empty()) {
        (Some(Resource::GovernancePolicy(policy)), true) => *policy,
        _ => return Err(ProposalError::NotOnePolicy),
    };
    let problems = validate_policy(&policy);
    if !problems.is_empty() {
        return Err(ProposalError::Invalid(problems));
    }
    Ok(policy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_valid_policy_is_read() {
        let text = include_str!("../tests/fixtures/pii-30-days.yaml");
        let policy = parse(text, "request body").unwrap();
        assert!(policy.metadata.name.is_some());
    }

    #[test]
    fn anything_else_is_refused_saying_why() {
        let err = parse("kind: [", "request body").unwrap_err();
        assert!(matches!(err, ProposalError::Load(_)), "{err}");
        assert!(err.to_string().contains("request body"), "{err}");
        let product = include_str!("../../../examples/orders.yaml");
        assert_eq!(
            parse(product, "request body").unwrap_err().to_string(),
            "send exactly one GovernancePolicy (YAML or JSON)"
        );
        let huge = " ".repeat(MAX_POLICY_BYTES + 1);
        assert_eq!(
            parse(&huge, "request body").unwrap_err().to_string(),
            format!(
                "the policy is {} bytes; at most {MAX_POLICY_BYTES} are accepted",
                MAX_POLICY_BYTES + 1
            )
        );
    }
}
