//! Masking of personal data, applied before anything is written.

use crate::hmac_sha256::HmacSha256;
use meshplane_api::MaskingStrategy;

/// What a redacted value becomes.
pub const REDACTED: &str = "[REDACTED]";

/// Masks values with a product namespace's key.
#[derive(Clone)]
pub struct Masker {
    keyed: HmacSha256,
}

impl std::fmt::Debug for Masker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Masker { key: <hidden> }")
    }
}

impl Masker {
    /// A masker with the HMAC key (any length; the Secret holds 256 random bits as hex).
    pub fn new(key: &[u8]) -> Self {
        Masker {
            keyed: HmacSha256::new(key),
        }
    }

    /// Applies `strategy` to a value.
    pub fn mask(&self, strategy: MaskingStrategy, value: &str) -> String {
        match strategy {
            MaskingStrategy::None => value.to_string(),
            MaskingStrategy::Hash => self.pseudonym(value),
            MaskingStrategy::Partial => partial(value),
            MaskingStrategy::Redact => REDACTED.to_string(),
        }
    }

    /// HMAC-SHA256 of the value, lowercase hex: equal inputs give equal pseudonyms (joins
    /// still work), and without the key they cannot be reversed or guessed by hashing
    /// candidate values.
    pub fn pseudonym(&self, value: &str) -> String {
        let tag = self.keyed.sign(value.as_bytes());
        let mut out = String::with_capacity(64);
        for byte in tag {
            out.push(HEX[usize::from(byte >> 4)] as char);
            out.push(HEX[usize::from(byte & 0xf)] as char);
        }
        out
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// All but the last four characters replaced by `*`; values of four characters or fewer are
/// masked entirely.
pub fn partial(value: &str) -> String {
    let count = value.chars().count();
    if count <= 4 {
        return "*".repeat(count);
    }
    let keep = count - 4;
    value
        .chars()
        .enumerate()
        .map(|(i, c)| if i < keep { '*' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_stable_keyed_and_hex() {
        let a = Masker::new(b"key-a");
        let b = Masker::new(b"key-b");
        let p = a.pseudonym("ada@example.com");
        assert_eq!(p, a.pseudonym("ada@example.com"));
        assert_ne!(p, b.pseudonym("ada@example.com"));
        assert_ne!(p, a.pseudonym("bob@example.com"));
        assert_eq!(p.len(), 64);
        assert!(p.bytes().all(|c| c.is_ascii_hexdigit()));
        assert!(!p.contains("example"));
    }

    #[test]
    fn pseudonyms_are_standard_hmac_sha256() {
        // RFC 4231, test case 2: readers can recompute a pseudonym with any HMAC library.
        assert_eq!(
            Masker::new(b"Jefe").pseudonym("what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn partial_keeps_the_last_four_characters_only() {
        assert_eq!(partial("4111111111111111"), "************1111");
        assert_eq!(partial("abc"), "***");
        assert_eq!(partial("zürich-8001"), "*******8001");
    }

    #[test]
    fn redaction_keeps_nothing() {
        let m = Masker::new(b"k");
        assert_eq!(m.mask(MaskingStrategy::Redact, "secret"), REDACTED);
        assert_eq!(m.mask(MaskingStrategy::None, "plain"), "plain");
    }
}
