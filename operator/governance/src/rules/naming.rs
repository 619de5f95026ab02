//! Naming: the patterns product and field names must match, and the organisation's
//! preferred terms in field names.

use crate::checks::{CheckedField, Findings};
use crate::decision::Rule;
use crate::field_patterns::FieldPatterns;
use crate::policy::{CompiledPolicy, Problems};
use crate::regex_limits::{self, PatternError};
use meshplane_api::{DataProduct, GovernancePolicySpec};
use regex::Regex;
use thiserror::Error;

/// A naming rule that cannot be used.
#[derive(Debug, Error)]
pub enum NamingError {
    /// Compiling `productNamePattern` failed.
    #[error(transparent)]
    ProductNamePattern(PatternError),
    /// Compiling `fieldNamePattern` failed.
    #[error(transparent)]
    FieldNamePattern(PatternError),
    /// A preferred term is the term it replaces.
    #[error("`{term}` is both avoided and preferred")]
    TermReplacesItself {
        /// The term.
        term: String,
    },
}

/// A policy's name patterns, compiled.
#[derive(Debug, Clone, Default)]
pub struct CompiledNaming {
    /// Product name pattern.
    pub product_name: Option<Regex>,
    /// Field name pattern.
    pub field_name: Option<Regex>,
}

/// Validates the naming rules and compiles their patterns.
pub(crate) fn compile(spec: &GovernancePolicySpec, problems: &mut Problems) -> CompiledNaming {
    let Some(naming) = &spec.naming else {
        return CompiledNaming::default();
    };
    for (i, term) in naming.preferred_terms.iter().enumerate() {
        if term.avoid == term.use_instead {
            problems.push(
                format!("spec.naming.preferredTerms[{i}]"),
                NamingError::TermReplacesItself {
                    term: term.avoid.clone(),
                },
            );
        }
    }
    let product_name = naming.product_name_pattern.as_deref().and_then(|p| {
        problems.check(
            "spec.naming.productNamePattern",
            regex_limits::pattern(p).map_err(NamingError::ProductNamePattern),
        )
    });
    let field_name = naming.field_name_pattern.as_deref().and_then(|p| {
        problems.check(
            "spec.naming.fieldNamePattern",
            regex_limits::pattern(p).map_err(NamingError::FieldNamePattern),
        )
    });
    CompiledNaming {
        product_name,
        field_name,
    }
}

/// The product's name against the policy's product name pattern.
pub(crate) fn check_product(
    policy: &CompiledPolicy,
    product: &DataProduct,
    findings: &mut Findings<'_>,
) {
    let Some(pattern) = &policy.naming.product_name else {
        return;
    };
    let name = product.metadata.name.as_deref().unwrap_or_default();
    if !pattern.is_match(name) {
        findings.add(
            "metadata.name",
            Rule::ProductName,
            format!(
                "product name `{name}` does not match `{}`",
                pattern.as_str()
            ),
            format!("rename the product to match `{}`", pattern.as_str()),
        );
    }
}

/// A field's name against the policy's field name pattern and preferred terms. The
/// patterns of every policy were searched once per name ([`FieldPatterns`]).
pub(crate) fn check_field(
    policy: &CompiledPolicy,
    checked: &CheckedField<'_>,
    patterns: &FieldPatterns,
    findings: &mut Findings<'_>,
) {
    let field = checked.field;
    if let (Some(pattern), Some(facts)) = (&policy.naming.field_name, checked.facts) {
        if !patterns.name_allowed(facts, policy.index) {
            findings.add(
                checked.path(".name"),
                Rule::FieldName,
                format!(
                    "field name `{}` does not match `{}`",
                    field.name,
                    pattern.as_str()
                ),
                format!("rename the field to match `{}`", pattern.as_str()),
            );
        }
    }
    let terms = policy
        .policy
        .spec
        .naming
        .as_ref()
        .map(|n| n.preferred_terms.as_slice())
        .unwrap_or_default();
    let used = checked
        .facts
        .into_iter()
        .flat_map(|f| patterns.avoided_terms(f, policy.index));
    for term in used.filter_map(|t| terms.get(t)) {
        let suggestion = field.name.replace(&term.avoid, &term.use_instead);
        findings.add(
            checked.path(".name"),
            Rule::PreferredTerm,
            format!(
                "field `{}` uses `{}`; the organisation's term is `{}`",
                field.name, term.avoid, term.use_instead
            ),
            format!("rename the field to `{suggestion}`"),
        );
    }
}

/// Whether `term` occurs in `name` as whole `_`-separated parts (`user_id` occurs in
/// `user_id` and `billing_user_id`, not in `superuser_identity`).
pub fn contains_term(name: &str, term: &str) -> bool {
    if term.is_empty() {
        return false;
    }
    // Only part boundaries can start a match, so compare there instead of searching.
    let bytes = name.as_bytes();
    let starts = std::iter::once(0).chain(
        bytes
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'_')
            .map(|(i, _)| i + 1),
    );
    starts.into_iter().any(|at| {
        let end = at + term.len();
        end <= bytes.len()
            && bytes[at] == term.as_bytes()[0]
            && &bytes[at..end] == term.as_bytes()
            && (end == bytes.len() || bytes[end] == b'_')
    })
}

#[cfg(test)]
mod tests {
    use super::contains_term;

    #[test]
    fn terms_match_whole_underscore_separated_parts_only() {
        assert!(contains_term("user_id", "user_id"));
        assert!(contains_term("billing_user_id", "user_id"));
        assert!(contains_term("user_id_hash", "user_id"));
        assert!(!contains_term("superuser_identity", "user_id"));
        assert!(!contains_term("user_ids", "user_id"));
        assert!(!contains_term("customer_id", "user_id"));
    }
}
