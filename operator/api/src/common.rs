//! Small value types shared by products and policies.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

/// How sensitive data is. Ordered: `Public < Internal < Confidential < Restricted`, so the
/// most restrictive of several is simply the maximum.
#[derive(
    Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash,
)]
#[serde(rename_all = "lowercase")]
pub enum Classification {
    /// May be shared with anyone, inside or outside the organisation.
    Public,
    /// For anyone inside the organisation.
    Internal,
    /// For named teams with a business need; includes most personal data.
    Confidential,
    /// The most sensitive data (credentials, health, payment card data): named readers only.
    Restricted,
}

impl Classification {
    /// Every level, least to most restrictive.
    pub const ALL: [Classification; 4] = [
        Classification::Public,
        Classification::Internal,
        Classification::Confidential,
        Classification::Restricted,
    ];

    /// The lowercase name used in YAML, labels and bucket tags.
    pub fn as_str(self) -> &'static str {
        match self {
            Classification::Public => "public",
            Classification::Internal => "internal",
            Classification::Confidential => "confidential",
            Classification::Restricted => "restricted",
        }
    }
}

impl fmt::Display for Classification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a field's value is transformed before it reaches the product's outputs.
/// Ordered by strength: `None < Partial < Hash < Redact`.
#[derive(
    Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash,
)]
#[serde(rename_all = "lowercase")]
pub enum MaskingStrategy {
    /// The value is written as received.
    None,
    /// All but the last four characters are replaced by `*` (e.g. `****1234`).
    Partial,
    /// Keyed HMAC-SHA256 of the value, hex encoded: a stable pseudonym that still joins.
    Hash,
    /// The value is replaced by a fixed marker; nothing of it survives.
    Redact,
}

impl MaskingStrategy {
    /// The lowercase name used in YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            MaskingStrategy::None => "none",
            MaskingStrategy::Partial => "partial",
            MaskingStrategy::Hash => "hash",
            MaskingStrategy::Redact => "redact",
        }
    }
}

impl fmt::Display for MaskingStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The logical type of a schema field; maps onto Arrow/Parquet types in the table output.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// UTF-8 text.
    String,
    /// 32-bit signed integer.
    Int,
    /// 64-bit signed integer.
    Long,
    /// 64-bit IEEE 754 floating point.
    Double,
    /// Exact decimal, carried as a string in JSON events and stored as text.
    Decimal,
    /// `true` or `false`.
    Boolean,
    /// Instant in time: RFC 3339 text or epoch milliseconds in events; stored as UTC microseconds.
    Timestamp,
    /// Calendar date, `YYYY-MM-DD`.
    Date,
}

/// What kind of identity a reader subject is; the same kinds as an RBAC subject.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SubjectKind {
    /// A human user as the cluster's authenticator names them.
    User,
    /// A group of users.
    Group,
    /// A Kubernetes ServiceAccount (give `namespace` too).
    ServiceAccount,
}

impl fmt::Display for SubjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SubjectKind::User => "User",
            SubjectKind::Group => "Group",
            SubjectKind::ServiceAccount => "ServiceAccount",
        })
    }
}
