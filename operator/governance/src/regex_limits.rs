//! The limits every policy regex compiles under. Set explicitly rather than taken from
//! the regex crate's defaults, so whether a policy is usable never changes with a
//! dependency update, and the webhook, the controller and `meshplane plan` agree.

use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use thiserror::Error;

/// Largest compiled program of one regex or of one set of regexes, in bytes.
pub const SIZE_LIMIT: usize = 10 * (1 << 20);
/// Cache of the lazy DFA, in bytes; a pattern that needs more is searched more slowly,
/// never rejected.
pub const DFA_SIZE_LIMIT: usize = 2 * (1 << 20);

/// How to shrink patterns: Unicode classes are what make them large.
const SHRINK_HINT: &str =
    "use fewer or simpler patterns (an ASCII class such as `[a-z0-9_]` compiles far smaller than `\\w`)";

/// A policy pattern, or a set of them, that does not compile.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum PatternError {
    /// Compiling the pattern failed: it is not a regular expression.
    #[error("`{pattern}` is not a valid regular expression: {source}")]
    Invalid {
        /// The pattern as written.
        pattern: String,
        /// The parser's error.
        source: regex::Error,
    },
    /// Compiling the pattern failed: it is larger than [`SIZE_LIMIT`].
    #[error(
        "`{pattern}` exceeds the regex size limit ({SIZE_LIMIT} bytes compiled); {SHRINK_HINT}"
    )]
    TooBig {
        /// The pattern as written.
        pattern: String,
        /// The regex crate's error.
        source: regex::Error,
    },
    /// Compiling patterns as one set failed: each compiles, together they exceed
    /// [`SIZE_LIMIT`].
    #[error("the combined patterns exceed the regex size limit ({SIZE_LIMIT} bytes compiled); {SHRINK_HINT}")]
    TooBigTogether {
        /// The regex crate's error.
        source: regex::Error,
    },
    /// Compiling patterns as one set failed otherwise.
    #[error("the combined patterns do not compile: {source}")]
    Together {
        /// The regex crate's error.
        source: regex::Error,
    },
}

/// Compiles one pattern under the limits, with the regex crate's own error.
pub fn regex(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern)
        .size_limit(SIZE_LIMIT)
        .dfa_size_limit(DFA_SIZE_LIMIT)
        .build()
}

/// Compiles a policy's pattern under the limits.
pub fn pattern(pattern: &str) -> Result<Regex, PatternError> {
    regex(pattern).map_err(|source| match source {
        regex::Error::CompiledTooBig(_) => PatternError::TooBig {
            pattern: pattern.to_string(),
            source,
        },
        _ => PatternError::Invalid {
            pattern: pattern.to_string(),
            source,
        },
    })
}

/// Compiles patterns into one set under the limits. Patterns that compile one by one
/// can still exceed [`SIZE_LIMIT`] together.
pub fn set<I, S>(patterns: I) -> Result<RegexSet, PatternError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    RegexSetBuilder::new(patterns)
        .size_limit(SIZE_LIMIT)
        .dfa_size_limit(DFA_SIZE_LIMIT)
        .build()
        .map_err(|source| match source {
            regex::Error::CompiledTooBig(_) => PatternError::TooBigTogether { source },
            _ => PatternError::Together { source },
        })
}
