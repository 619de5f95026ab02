//! Splitting text into search tokens.

/// Lower-case alphanumeric runs of `text`, e.g. `Payment-Failed events` → `payment`,
/// `failed`, `events`. Underscored and hyphenated names also yield the whole name, so
/// `customer_email` is found by `customer_email` as well as by `email`.
pub fn tokens(text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    let mut out: Vec<String> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    for word in lower.split_whitespace() {
        let word = word.trim_matches(|c: char| !c.is_alphanumeric());
        if word.contains(['_', '-', '.']) && !out.iter().any(|t| t == word) {
            out.push(word.to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::tokens;

    #[test]
    fn splits_on_punctuation_and_keeps_compound_names() {
        assert_eq!(
            tokens("Payment Failed-Events: customer_email"),
            [
                "payment",
                "failed",
                "events",
                "customer",
                "email",
                "failed-events",
                "customer_email"
            ]
        );
    }

    #[test]
    fn empty_and_symbol_only_text_has_no_tokens() {
        assert!(tokens("").is_empty());
        assert!(tokens(" -- ** ").is_empty());
    }
}
