//! Which products a policy applies to.

use meshplane_api::{DataProduct, PolicyScope};

/// Whether the scope selects the product.
pub fn selects(scope: &PolicyScope, product: &DataProduct) -> bool {
    let namespace = product.metadata.namespace.as_deref().unwrap_or("default");
    let namespace_ok =
        scope.namespaces.is_empty() || scope.namespaces.iter().any(|n| glob_matches(n, namespace));
    let domain_ok = scope.domains.is_empty() || scope.domains.contains(&product.spec.domain);
    let labels = product.metadata.labels.as_ref();
    let labels_ok = scope
        .match_labels
        .iter()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v));
    namespace_ok && domain_ok && labels_ok
}

/// `name` matches exactly, or `prefix*` matches by prefix.
fn glob_matches(pattern: &str, value: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => value.starts_with(prefix),
        None => pattern == value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_star_matches_by_prefix_and_plain_names_exactly() {
        assert!(glob_matches("team-*", "team-orders"));
        assert!(!glob_matches("team-*", "orders"));
        assert!(glob_matches("orders", "orders"));
        assert!(!glob_matches("orders", "orders-2"));
        assert!(glob_matches("*", "anything"));
    }
}
