//! The object store's identities: one user per grant, with read-only keys scoped to one
//! product's bucket, and one per product's workers, with keys that read and write that
//! product's bucket alone. Behind [`ObjectStoreIdentity`] so the provider can change; the one
//! implementation speaks the IAM Query API (`CreateUser`, `PutUserPolicy`,
//! `CreateAccessKey`, ...), which AWS IAM serves and SeaweedFS serves on its S3 port.

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use std::time::{Duration, SystemTime};
use thiserror::Error;

/// An access key pair.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyPair {
    /// The access key id (not secret).
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

/// What the identity provider could not do.
#[derive(Debug, Error)]
pub enum IdentityError {
    /// The request could not be signed.
    #[error("signing the IAM request {action} failed: {message}")]
    Sign {
        /// IAM action.
        action: &'static str,
        /// Why.
        message: String,
    },
    /// The provider could not be reached.
    #[error("the IAM endpoint {endpoint} could not be reached for {action}")]
    Unreachable {
        /// IAM action.
        action: &'static str,
        /// Where.
        endpoint: String,
        /// Cause.
        #[source]
        source: reqwest::Error,
    },
    /// The provider refused.
    #[error("IAM refused {action} for user {user}: {code}: {message}")]
    Refused {
        /// IAM action.
        action: &'static str,
        /// The user it was about.
        user: String,
        /// The IAM error code, e.g. `AccessDenied`.
        code: String,
        /// Its message.
        message: String,
    },
    /// The answer lacks what was asked for.
    #[error("IAM's answer to {action} has no {element}")]
    Malformed {
        /// IAM action.
        action: &'static str,
        /// The missing element.
        element: &'static str,
    },
}

/// Issues and revokes per-grant identities in the object store.
#[async_trait::async_trait]
pub trait ObjectStoreIdentity: Send + Sync {
    /// Makes `user` exist with read-only access to `bucket` alone, replaces any keys it
    /// had with one new pair, and returns that pair.
    async fn issue_reader(&self, user: &str, bucket: &str) -> Result<KeyPair, IdentityError>;
    /// Makes `user` exist with read and write access to `bucket` alone (objects only: no
    /// bucket configuration), replaces any keys it had with one new pair, and returns it.
    async fn issue_writer(&self, user: &str, bucket: &str) -> Result<KeyPair, IdentityError>;
    /// Removes `user`, its keys and its policy; a user that does not exist is fine.
    async fn revoke(&self, user: &str) -> Result<(), IdentityError>;
}

/// The IAM Query API, signed with the platform's admin keys.
#[derive(Clone)]
pub struct IamApi {
    http: reqwest::Client,
    endpoint: String,
    region: String,
    admin: KeyPair,
}

/// Name of the inline policy of a grant's user (reads).
const READ_POLICY: &str = "meshplane-read";
/// Name of the inline policy of a product's workers' user (reads and writes).
const WRITE_POLICY: &str = "meshplane-write";

impl IamApi {
    /// An IAM client for `endpoint` (e.g. `https://iam.amazonaws.com`, or SeaweedFS's S3
    /// URL), signing for `region` with `admin`.
    pub fn new(endpoint: &str, region: &str, admin: KeyPair) -> Self {
        IamApi {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()
                .unwrap_or_default(),
            endpoint: endpoint.trim_end_matches('/').to_string() + "/",
            region: region.to_string(),
            admin,
        }
    }

    /// Calls `action` with `params`; `Ok(Err(code))` is a refusal with that IAM error code
    /// (for callers that accept some, such as `NoSuchEntity`).
    async fn call(
        &self,
        action: &'static str,
        params: &[(&str, &str)],
    ) -> Result<Result<String, (String, String)>, IdentityError> {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("Action", action)
            .append_pair("Version", "2010-05-08")
            .extend_pairs(params.iter().copied())
            .finish();
        let content_type = "application/x-www-form-urlencoded; charset=utf-8";
        let identity = Credentials::new(
            &self.admin.access_key_id,
            &self.admin.secret_access_key,
            None,
            None,
            "meshplane",
        )
        .into();
        let sign_error = |message: String| IdentityError::Sign { action, message };
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("iam")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| sign_error(e.to_string()))?
            .into();
        let host = reqwest::Url::parse(&self.endpoint)
            .ok()
            .and_then(|u| {
                u.host_str().map(|h| {
                    format!(
                        "{h}{}",
                        u.port().map(|p| format!(":{p}")).unwrap_or_default()
                    )
                })
            })
            .unwrap_or_default();
        let headers = [("content-type", content_type), ("host", host.as_str())];
        let signable = SignableRequest::new(
            "POST",
            &self.endpoint,
            headers.iter().copied(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(|e| sign_error(e.to_string()))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| sign_error(e.to_string()))?
            .into_parts();
        let mut request = self
            .http
            .post(&self.endpoint)
            .header("content-type", content_type)
            .body(body);
        for (name, value) in instructions.headers() {
            request = request.header(name, value);
        }
        let unreachable = |source| IdentityError::Unreachable {
            action,
            endpoint: self.endpoint.clone(),
            source,
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let text = response.text().await.map_err(unreachable)?;
        if status.is_success() {
            return Ok(Ok(text));
        }
        let code = element(&text, "Code").unwrap_or_else(|| status.to_string());
        let message = element(&text, "Message").unwrap_or_else(|| text.chars().take(200).collect());
        Ok(Err((code, message)))
    }

    async fn call_ok(
        &self,
        action: &'static str,
        user: &str,
        params: &[(&str, &str)],
        accepted: &[&str],
    ) -> Result<String, IdentityError> {
        match self.call(action, params).await? {
            Ok(text) => Ok(text),
            Err((code, _)) if accepted.contains(&code.as_str()) => Ok(String::new()),
            Err((code, message)) => Err(IdentityError::Refused {
                action,
                user: user.to_string(),
                code,
                message,
            }),
        }
    }

    async fn delete_keys(&self, user: &str) -> Result<(), IdentityError> {
        let listed = self
            .call_ok(
                "ListAccessKeys",
                user,
                &[("UserName", user)],
                &["NoSuchEntity"],
            )
            .await?;
        for key in elements(&listed, "AccessKeyId") {
            self.call_ok(
                "DeleteAccessKey",
                user,
                &[("UserName", user), ("AccessKeyId", &key)],
                &["NoSuchEntity"],
            )
            .await?;
        }
        Ok(())
    }
}

/// The read-only policy of one bucket.
pub fn reader_policy(bucket: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:ListBucket"],
            "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")],
        }],
    })
    .to_string()
}

/// The policy of a product's workers: objects of one bucket read, written and deleted
/// (the table's files, its metadata, the dead letters, multipart uploads), the bucket
/// listed; nothing about the bucket itself (policy, encryption, deletion).
pub fn writer_policy(bucket: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": [
                "s3:GetObject", "s3:PutObject", "s3:DeleteObject",
                "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
                "s3:ListBucket", "s3:ListBucketMultipartUploads",
            ],
            "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")],
        }],
    })
    .to_string()
}

impl IamApi {
    /// Makes `user` exist with `policy` as its only inline policy, replaces its keys with
    /// one new pair and returns it.
    async fn issue(
        &self,
        user: &str,
        policy_name: &str,
        policy: &str,
    ) -> Result<KeyPair, IdentityError> {
        self.call_ok(
            "CreateUser",
            user,
            &[("UserName", user)],
            &["EntityAlreadyExists"],
        )
        .await?;
        self.call_ok(
            "PutUserPolicy",
            user,
            &[
                ("UserName", user),
                ("PolicyName", policy_name),
                ("PolicyDocument", policy),
            ],
            &[],
        )
        .await?;
        self.delete_keys(user).await?;
        let created = self
            .call_ok("CreateAccessKey", user, &[("UserName", user)], &[])
            .await?;
        let malformed = |element| IdentityError::Malformed {
            action: "CreateAccessKey",
            element,
        };
        Ok(KeyPair {
            access_key_id: element(&created, "AccessKeyId").ok_or(malformed("AccessKeyId"))?,
            secret_access_key: element(&created, "SecretAccessKey")
                .ok_or(malformed("SecretAccessKey"))?,
        })
    }
}

#[async_trait::async_trait]
impl ObjectStoreIdentity for IamApi {
    async fn issue_reader(&self, user: &str, bucket: &str) -> Result<KeyPair, IdentityError> {
        self.issue(user, READ_POLICY, &reader_policy(bucket)).await
    }

    async fn issue_writer(&self, user: &str, bucket: &str) -> Result<KeyPair, IdentityError> {
        self.issue(user, WRITE_POLICY, &writer_policy(bucket)).await
    }

    async fn revoke(&self, user: &str) -> Result<(), IdentityError> {
        self.delete_keys(user).await?;
        for policy_name in [READ_POLICY, WRITE_POLICY] {
            self.call_ok(
                "DeleteUserPolicy",
                user,
                &[("UserName", user), ("PolicyName", policy_name)],
                &["NoSuchEntity"],
            )
            .await?;
        }
        self.call_ok("DeleteUser", user, &[("UserName", user)], &["NoSuchEntity"])
            .await?;
        Ok(())
    }
}

/// The text of the first `<tag>…</tag>` in an IAM XML answer, unescaped.
fn element(xml: &str, tag: &str) -> Option<String> {
    elements(xml, tag).into_iter().next()
}

/// The texts of every `<tag>…</tag>` in an IAM XML answer, unescaped.
fn elements(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut found = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        found.push(
            after[..end]
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&"),
        );
        rest = &after[end + close.len()..];
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_keys_out_of_an_iam_answer() {
        let xml =
            "<CreateAccessKeyResponse><CreateAccessKeyResult><AccessKey><UserName>u</UserName>\
            <AccessKeyId>AK1</AccessKeyId><SecretAccessKey>s&amp;k</SecretAccessKey></AccessKey>\
            </CreateAccessKeyResult></CreateAccessKeyResponse>";
        assert_eq!(element(xml, "AccessKeyId").as_deref(), Some("AK1"));
        assert_eq!(element(xml, "SecretAccessKey").as_deref(), Some("s&k"));
        assert_eq!(element(xml, "Missing"), None);
        let listed = "<AccessKeyMetadata><member><AccessKeyId>A</AccessKeyId></member>\
            <member><AccessKeyId>B</AccessKeyId></member></AccessKeyMetadata>";
        assert_eq!(elements(listed, "AccessKeyId"), vec!["A", "B"]);
    }

    #[test]
    fn a_reader_policy_names_one_bucket_and_reads_only() {
        let policy: serde_json::Value = serde_json::from_str(&reader_policy("orders")).unwrap();
        let statement = &policy["Statement"][0];
        assert_eq!(statement["Effect"], "Allow");
        assert_eq!(
            statement["Action"],
            serde_json::json!(["s3:GetObject", "s3:ListBucket"])
        );
        assert_eq!(
            statement["Resource"],
            serde_json::json!(["arn:aws:s3:::orders", "arn:aws:s3:::orders/*"])
        );
    }

    #[test]
    fn a_writer_policy_names_one_bucket_and_never_its_configuration() {
        let policy: serde_json::Value = serde_json::from_str(&writer_policy("orders")).unwrap();
        let statement = &policy["Statement"][0];
        assert_eq!(
            statement["Resource"],
            serde_json::json!(["arn:aws:s3:::orders", "arn:aws:s3:::orders/*"])
        );
        let actions: Vec<&str> = statement["Action"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert!(actions.contains(&"s3:PutObject") && actions.contains(&"s3:DeleteObject"));
        assert!(actions.iter().all(|a| !a.contains('*')));
        assert!(!actions.iter().any(|a| a.starts_with("s3:PutBucket")
            || *a == "s3:DeleteBucket"
            || a.starts_with("s3:PutEncryption")));
    }

    #[test]
    fn a_key_pair_never_prints_its_secret() {
        let pair = KeyPair {
            access_key_id: "AK".into(),
            secret_access_key: "very-secret".into(),
        };
        assert!(!format!("{pair:?}").contains("very-secret"));
    }
}
