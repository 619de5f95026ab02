//! Deterministic, DNS-safe names for everything provisioned.

/// FNV-1a, 64 bit: a stable hash for name suffixes (not for security).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Lowercase letters, digits and `-`; anything else becomes `-`; no leading, trailing or
/// doubled `-`.
pub fn dns_label_chars(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let c = c.to_ascii_lowercase();
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() {
            c
        } else {
            '-'
        };
        if c == '-' && (out.is_empty() || out.ends_with('-')) {
            continue;
        }
        out.push(c);
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// `text` as a DNS label of at most `max` characters. Too long a name is cut and given a
/// hash of the whole, so distinct inputs stay distinct.
pub fn bounded(text: &str, max: usize) -> String {
    let clean = dns_label_chars(text);
    if clean.len() <= max && !clean.is_empty() {
        return clean;
    }
    let suffix = format!("{:08x}", fnv1a(text) as u32);
    let keep = max.saturating_sub(suffix.len() + 1);
    let head = clean[..keep.min(clean.len())].trim_end_matches('-');
    if head.is_empty() {
        suffix
    } else {
        format!("{head}-{suffix}")
    }
}

/// The bucket of a product: `<prefix>-<namespace>-<name>`, 3 to 63 characters.
pub fn bucket(prefix: &str, namespace: &str, name: &str) -> String {
    let name = bounded(&format!("{prefix}-{namespace}-{name}"), 63);
    if name.len() < 3 {
        format!("{name}-mp")
    } else {
        name
    }
}

/// A Kubernetes object name for a product's child, e.g. `orders-ingest`; a DNS label
/// (≤ 63), so it also fits Services.
pub fn child(product: &str, suffix: &str) -> String {
    bounded(&format!("{product}-{suffix}"), 63)
}

/// The Secret holding a product's own worker keys, e.g. `orders-worker-keys` (not
/// `-s3-credentials`: a product named `meshplane` would take the namespace's shared
/// `meshplane-s3-credentials`).
pub fn worker_credentials(product: &str) -> String {
    child(product, "worker-keys")
}

/// The object-store user of a product's workers, from the product's UID (a product
/// deleted and created again gets a new user); at most 53 characters.
pub fn worker_user(product_uid: &str) -> String {
    format!("meshplane-worker-{}", bounded(product_uid, 36))
}

/// Strimzi `KafkaTopic` resource name for a topic (topic names may hold `.` and `_`).
pub fn kafka_topic_resource(topic: &str) -> String {
    bounded(topic, 63)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_kept_readable() {
        assert_eq!(
            bucket("meshplane", "orders", "orders"),
            "meshplane-orders-orders"
        );
        assert_eq!(child("orders", "ingest"), "orders-ingest");
        assert_eq!(kafka_topic_resource("orders.events"), "orders-events");
    }

    #[test]
    fn long_names_are_cut_with_a_hash_and_stay_distinct() {
        let a = bucket(
            "meshplane",
            "a-very-long-namespace-name-for-a-domain",
            "customer-profile-history-v2",
        );
        let b = bucket(
            "meshplane",
            "a-very-long-namespace-name-for-a-domain",
            "customer-profile-history-v3",
        );
        assert!(a.len() <= 63 && b.len() <= 63, "{a} {b}");
        assert_ne!(a, b);
        assert_eq!(
            a,
            bucket(
                "meshplane",
                "a-very-long-namespace-name-for-a-domain",
                "customer-profile-history-v2"
            )
        );
    }

    #[test]
    fn odd_characters_become_dashes() {
        assert_eq!(dns_label_chars("Orders__Events.V1-"), "orders-events-v1");
        assert_eq!(bounded("...", 63).len(), 8);
    }
}
