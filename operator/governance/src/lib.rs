//! The governance engine: `(product, policies) → decision`.
//!
//! Pure: no I/O, no clients, no clocks. The admission webhook, the controller, the
//! `meshplane plan` CLI and the catalog all call [`Engine::evaluate`], so there is one
//! truth about what is allowed.
//!
//! How a decision is made:
//! 1. the policies whose scope matches the product are selected ([`scope`]);
//! 2. built-in structural rules run (exactly one source, unique fields, ...) ([`structure`]);
//! 3. defaults of every `Enforce` policy are composed, most restrictive winning, and
//!    applied to what the product left unset ([`defaults`]); disagreements are reported
//!    as conflicts;
//! 4. each policy checks the effective product on its own ([`checks`]): findings of
//!    `Enforce` policies are violations, of `Audit` policies warnings.
//!
//! Layout: the rules of a policy come in families, one module each under [`rules`] —
//! [`rules::naming`], [`rules::classification`] (with PII detection),
//! [`rules::masking`], [`rules::encryption`], [`rules::retention`], [`rules::access`],
//! [`rules::quality`], [`rules::compliance_tags`]. A family's module holds its error
//! type, the validation and compilation of its part of a policy, its defaults and its
//! checks. [`policy`], [`defaults`] and [`checks`] only run the families in a fixed
//! order, so a new rule is a change in one module plus a row of its table test
//! (`tests/rules.rs`). Shared by all: [`decision`] (what the engine returns),
//! [`field_patterns`] (every policy's field-name regexes, searched once per name) and
//! [`regex_limits`] (the limits every policy pattern compiles under).
#![forbid(unsafe_code)]

pub mod checks;
pub mod compliance;
pub mod decision;
pub mod defaults;
mod engine;
pub mod field_patterns;
mod fnv;
pub mod policy;
pub mod regex_limits;
pub mod rules;
pub mod scope;
mod shared;
pub mod structure;

pub use decision::{
    Conflict, Decision, Finding, Mutation, MutationPath, MutationValue, PolicyName, Rule,
};
pub use engine::Engine;
pub use field_patterns::FieldPatternsError;
pub use policy::{validate_policy, CompiledPolicy, PolicyError, PolicyProblem};
pub use regex_limits::PatternError;
pub use rules::access::RequestVerdict;
pub use rules::RuleError;
pub use shared::SharedEngine;

/// The name findings of the built-in rules carry in place of a policy name.
pub const BUILT_IN: &str = "meshplane (built-in)";

/// [`BUILT_IN`] as a shared policy name.
pub(crate) fn built_in_name() -> &'static PolicyName {
    static NAME: std::sync::LazyLock<PolicyName> =
        std::sync::LazyLock::new(|| PolicyName::from(BUILT_IN));
    &NAME
}
