//! Durations as written in resources: a whole number and one unit, e.g. `30s`, `5m`,
//! `12h`, `90d`, `2w`. One unit keeps them unambiguous to read and to compare.

use std::time::Duration;
use thiserror::Error;

/// The pattern every duration field of the CRDs is validated against.
pub const DURATION_PATTERN: &str = r"^[0-9]+(s|m|h|d|w)$";

/// A duration string that does not follow [`DURATION_PATTERN`].
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DurationError {
    /// The text is not `<number><unit>`.
    #[error("`{text}` is not a duration: write a whole number and one unit of s, m, h, d, w (e.g. `90d`)")]
    Malformed {
        /// The offending text.
        text: String,
    },
    /// The number does not fit.
    #[error("`{text}` is too long a duration")]
    Overflow {
        /// The offending text.
        text: String,
    },
}

/// Parses `90d`, `5m`, ... into a [`Duration`].
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let malformed = || DurationError::Malformed {
        text: text.to_string(),
    };
    let unit = text.chars().last().ok_or_else(malformed)?;
    let digits = &text[..text.len() - unit.len_utf8()];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed());
    }
    let seconds_per_unit: u64 = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        'w' => 604_800,
        _ => return Err(malformed()),
    };
    let overflow = || DurationError::Overflow {
        text: text.to_string(),
    };
    let count: u64 = digits.parse().map_err(|_| overflow())?;
    count
        .checked_mul(seconds_per_unit)
        .map(Duration::from_secs)
        .ok_or_else(overflow)
}

/// Whole days, rounded up: what S3 lifecycle expiration takes.
pub fn whole_days_ceil(duration: Duration) -> u64 {
    duration.as_secs().div_ceil(86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse("12h"), Ok(Duration::from_secs(43_200)));
        assert_eq!(parse("90d"), Ok(Duration::from_secs(90 * 86_400)));
        assert_eq!(parse("2w"), Ok(Duration::from_secs(14 * 86_400)));
    }

    #[test]
    fn rejects_malformed_text_naming_it() {
        for bad in [
            "", "d", "90", "9 0d", "-1d", "1.5h", "90days", "1h30m", "5é",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.to_string().contains(&format!("`{bad}`")), "{err}");
        }
    }

    #[test]
    fn rejects_overflow() {
        assert!(matches!(
            parse("99999999999999999999w"),
            Err(DurationError::Overflow { .. })
        ));
        assert!(matches!(
            parse("18446744073709551615w"),
            Err(DurationError::Overflow { .. })
        ));
    }

    #[test]
    fn rounds_days_up_for_lifecycle_rules() {
        assert_eq!(whole_days_ceil(parse("90d").unwrap()), 90);
        assert_eq!(whole_days_ceil(parse("25h").unwrap()), 2);
        assert_eq!(whole_days_ceil(parse("1s").unwrap()), 1);
    }
}
