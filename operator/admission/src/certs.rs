//! Self-managed webhook certificates: a long-lived CA (its certificate is the webhook
//! configurations' `caBundle`) and a serving certificate it signs, renewed well before it
//! expires. Pure: the caller passes the time and stores the result.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use std::net::IpAddr;
use thiserror::Error;
use time::{Duration, OffsetDateTime};

/// Lifetime of the CA.
pub const CA_VALIDITY_DAYS: i64 = 3650;
/// Lifetime of a serving certificate.
pub const SERVING_VALIDITY_DAYS: i64 = 365;
/// A serving certificate is renewed once less than this is left.
pub const RENEW_BEFORE_DAYS: i64 = 30;

/// Certificate material, all PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertBundle {
    /// CA certificate (the `caBundle`).
    pub ca_cert_pem: String,
    /// CA private key.
    pub ca_key_pem: String,
    /// Serving certificate.
    pub cert_pem: String,
    /// Serving private key.
    pub key_pem: String,
    /// Expiry of the serving certificate, Unix seconds.
    pub not_after: i64,
    /// The names the serving certificate is valid for.
    pub names: Vec<String>,
}

/// A certificate could not be made.
#[derive(Debug, Error)]
pub enum CertError {
    /// Generating a key failed.
    #[error("failed to generate a key: {0}")]
    Key(#[source] rcgen::Error),
    /// Building or signing a certificate failed.
    #[error("failed to sign the {what} certificate: {source}")]
    Sign {
        /// Which certificate.
        what: &'static str,
        /// The cause.
        source: rcgen::Error,
    },
    /// The stored CA could not be read back.
    #[error("failed to read the stored CA: {0}")]
    StoredCa(#[source] rcgen::Error),
    /// The time is out of range.
    #[error("time {0} is out of range")]
    Time(i64),
}

fn at(unix: i64) -> Result<OffsetDateTime, CertError> {
    OffsetDateTime::from_unix_timestamp(unix).map_err(|_| CertError::Time(unix))
}

fn ca_params(now: OffsetDateTime) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params
        .distinguished_name
        .push(DnType::CommonName, "meshplane-webhook-ca");
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(CA_VALIDITY_DAYS);
    params
}

/// Issues a serving certificate for `names` (DNS names or IP addresses), signed by the
/// given CA, or by a new CA when none is given.
pub fn issue(
    ca: Option<(&str, &str)>,
    names: &[String],
    now_unix: i64,
) -> Result<CertBundle, CertError> {
    let now = at(now_unix)?;
    let (ca_cert_pem, ca_key_pem) = match ca {
        Some((cert, key)) => (cert.to_string(), key.to_string()),
        None => {
            let key = KeyPair::generate().map_err(CertError::Key)?;
            let cert = ca_params(now)
                .self_signed(&key)
                .map_err(|source| CertError::Sign { what: "CA", source })?;
            (cert.pem(), key.serialize_pem())
        }
    };
    let ca_key = KeyPair::from_pem(&ca_key_pem).map_err(CertError::StoredCa)?;
    let issuer = Issuer::from_ca_cert_pem(&ca_cert_pem, ca_key).map_err(CertError::StoredCa)?;

    let mut params = CertificateParams::default();
    params.distinguished_name.push(
        DnType::CommonName,
        names.first().cloned().unwrap_or_default(),
    );
    params.subject_alt_names = names
        .iter()
        .map(|n| match n.parse::<IpAddr>() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => n.clone().try_into().map(SanType::DnsName),
        })
        .collect::<Result<_, _>>()
        .map_err(|source| CertError::Sign {
            what: "serving",
            source,
        })?;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.not_before = now - Duration::hours(1);
    let not_after = now + Duration::days(SERVING_VALIDITY_DAYS);
    params.not_after = not_after;
    let key = KeyPair::generate().map_err(CertError::Key)?;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(|source| CertError::Sign {
            what: "serving",
            source,
        })?;
    Ok(CertBundle {
        ca_cert_pem,
        ca_key_pem,
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        not_after: not_after.unix_timestamp(),
        names: names.to_vec(),
    })
}

/// Whether a serving certificate must be replaced: close to expiry, or for other names.
pub fn needs_renewal(bundle: &CertBundle, names: &[String], now_unix: i64) -> bool {
    bundle.not_after - now_unix < RENEW_BEFORE_DAYS * 86_400 || bundle.names != names
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_000_000;

    #[test]
    fn a_new_bundle_is_valid_for_a_year_and_not_due_for_renewal() {
        let names = vec![
            "127.0.0.1".to_string(),
            "meshplane-webhook.meshplane-system.svc".to_string(),
        ];
        let bundle = issue(None, &names, NOW).unwrap();
        assert!(bundle
            .ca_cert_pem
            .starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(bundle.key_pem.contains("PRIVATE KEY"));
        assert_eq!(bundle.not_after, NOW + SERVING_VALIDITY_DAYS * 86_400);
        assert!(!needs_renewal(&bundle, &names, NOW));
        assert!(needs_renewal(
            &bundle,
            &names,
            bundle.not_after - 29 * 86_400
        ));
        assert!(needs_renewal(&bundle, &names[..1], NOW));
    }

    #[test]
    fn renewal_keeps_the_ca_so_the_ca_bundle_stays_valid() {
        let names = vec!["localhost".to_string()];
        let first = issue(None, &names, NOW).unwrap();
        let second = issue(
            Some((&first.ca_cert_pem, &first.ca_key_pem)),
            &names,
            NOW + 340 * 86_400,
        )
        .unwrap();
        assert_eq!(second.ca_cert_pem, first.ca_cert_pem);
        assert_ne!(second.cert_pem, first.cert_pem);
    }
}
