//! S3 bucket: name (replacement); versioning, default encryption, public access block,
//! lifecycle rules and tags (in place). Its policy (TLS only, and read access for the
//! stack's CloudFront distributions) is a resource of its own, `<name>.policy`.
//!
//! Bucket names are global: unless given, the name is `<stack>-<name>-<account id>`.
//! A bucket that still holds objects is kept on delete unless told to empty it
//! (`--force-empty`, or `force_empty: true`, recorded as a tag on the bucket).
//! Settings only per-bucket calls give (versioning, encryption, public access, lifecycle,
//! policy) are read one bucket at a time, concurrently.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketLocationConstraint,
    BucketVersioningStatus, CreateBucketConfiguration, Delete, ExpirationStatus,
    LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, NoncurrentVersionExpiration,
    ObjectIdentifier, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    Tag, Tagging, VersioningConfiguration,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::aws::{err, is_not_found};
use crate::engine::{
    reference, CloudError, Deletion, Desired, KindInfo, Observed, ResourceKind, Shown,
};
use crate::kinds::names;
use crate::kinds::support::retry::retry_when;
use crate::kinds::support::tags::{check_adoptable, check_home, identity, name_taken, owned, Tags};
use crate::kinds::support::{adapt, desired, wanted_name, Context, Found, Kind};
use crate::model::net::check_bucket_name;
use crate::model::{Cx, KindModel, TAG_STACK};
use futures::future::BoxFuture;

pub static INFO: KindInfo = KindInfo {
    outputs: &["id", "arn", "domain"],
    shown: &[Shown {
        name: "name",
        template: "{id}",
        about: "the bucket's name",
    }],
    replace: &["name"],
    stateful: true,
    ..KindInfo::new(names::BUCKET, "buckets", "s3")
};

pub static POLICY: KindInfo = KindInfo {
    replace: &["bucket"],
    parent: Some(names::BUCKET),
    ..KindInfo::new(names::BUCKET_POLICY, "", "s3")
};

const POLICY_SUFFIX: &str = ".policy";
/// Tag recording that the bucket may be emptied when it is deleted.
pub const TAG_FORCE_EMPTY: &str = "provision:force-empty";

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Spec {
    /// Global bucket name; default `<stack>-<name>-<account id>`.
    #[serde(default)]
    name: Option<String>,
    #[serde(default = "yes")]
    versioning: bool,
    /// `sse-s3` (default) or `sse-kms`.
    #[serde(default)]
    encryption: Option<String>,
    /// KMS key id or ARN, with `sse-kms`.
    #[serde(default)]
    kms_key: Option<String>,
    #[serde(default = "yes")]
    block_public_access: bool,
    #[serde(default = "yes")]
    deny_insecure_transport: bool,
    #[serde(default)]
    lifecycle: Vec<LifecycleSpec>,
    /// Empty the bucket when it is deleted (objects are lost).
    #[serde(default)]
    force_empty: bool,
    /// CloudFront distributions of the stack that may read its objects (through their
    /// Origin Access Control); nobody else may.
    #[serde(default)]
    cloudfront_access: Vec<String>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct LifecycleSpec {
    id: String,
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    expire_days: Option<i32>,
    #[serde(default)]
    noncurrent_expire_days: Option<i32>,
    #[serde(default)]
    abort_incomplete_upload_days: Option<i32>,
}

/// A lifecycle rule as compared.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Lifecycle {
    pub id: String,
    pub prefix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_days: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noncurrent_expire_days: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_incomplete_upload_days: Option<i32>,
}

/// Default encryption as compared.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Encryption {
    pub algorithm: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key: Option<String>,
}

/// The bucket as compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Props {
    pub name: String,
    pub versioning: bool,
    pub encryption: Option<Encryption>,
    pub block_public_access: bool,
    pub lifecycle: Vec<Lifecycle>,
    pub tags: Tags,
}

/// The policy as compared (a JSON policy document; references resolved).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyProps<R = String> {
    pub bucket: R,
    pub policy: Value,
}

pub struct Model;

/// The statement that refuses every request not made over TLS.
fn tls_only(bucket: &str) -> Value {
    json!({
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/*")],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}
    })
}

/// The statement that lets one CloudFront distribution read the objects.
fn cloudfront_read(bucket: &str, distribution_arn: Value) -> Value {
    json!({
        "Sid": "CloudFrontRead",
        "Effect": "Allow",
        "Principal": {"Service": "cloudfront.amazonaws.com"},
        "Action": "s3:GetObject",
        "Resource": format!("arn:aws:s3:::{bucket}/*"),
        "Condition": {"StringEquals": {"AWS:SourceArn": distribution_arn}}
    })
}

impl KindModel for Model {
    fn schema(&self, g: &mut schemars::SchemaGenerator) -> Option<schemars::Schema> {
        Some(g.subschema_for::<Spec>())
    }

    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    /// Bucket names are global: two entries must not name one bucket (a `name` given
    /// to one that another's derived name already is).
    fn check_all(&self, cx: &mut Cx, all: &std::collections::BTreeMap<String, Desired>) {
        let mut seen: std::collections::BTreeMap<&str, &str> = Default::default();
        for d in all.values().filter(|d| d.kind == INFO.kind) {
            let Some(bucket) = d.props.get("name").and_then(Value::as_str) else {
                continue;
            };
            if let Some(first) = seen.insert(bucket, &d.name) {
                cx.at(INFO.section, &d.name);
                cx.error(
                    "name",
                    format!("bucket `{first}` already has the name `{bucket}`; bucket names are unique across AWS"),
                );
            }
        }
    }

    fn build(&self, cx: &mut Cx, name: &str, body: serde_yaml_ng::Value) -> Vec<Desired> {
        let Some(spec) = cx.parse::<Spec>(body) else {
            return vec![];
        };
        let (bucket, field) = match &spec.name {
            Some(n) => (n.clone(), "name"),
            None => (format!("{}-{}-{}", cx.stack, name, cx.account), ""),
        };
        if let Err(m) = check_bucket_name(&bucket) {
            if spec.name.is_none() {
                cx.error_hint(field, m, "set `name` to a shorter bucket name");
            } else {
                cx.error(field, m);
            }
        }
        let encryption = match (
            spec.encryption.as_deref().unwrap_or("sse-s3"),
            &spec.kms_key,
        ) {
            ("sse-s3", None) => Some(Encryption {
                algorithm: "AES256".into(),
                kms_key: None,
            }),
            ("sse-s3", Some(_)) => {
                cx.error("kms_key", "a KMS key is only used with encryption: sse-kms");
                None
            }
            ("sse-kms", key) => {
                if let Some(k) = key {
                    let ok =
                        k.starts_with("arn:aws:kms:") || k.starts_with("alias/") || k.len() == 36;
                    if !ok {
                        cx.error(
                            "kms_key",
                            format!("`{k}` is not a KMS key id, alias/NAME or key ARN"),
                        );
                    }
                }
                Some(Encryption {
                    algorithm: "aws:kms".into(),
                    kms_key: key.clone(),
                })
            }
            (other, _) => {
                cx.error_hint(
                    "encryption",
                    format!("unknown encryption `{other}`"),
                    "use sse-s3 or sse-kms",
                );
                None
            }
        };
        let mut lifecycle = Vec::new();
        for (i, l) in spec.lifecycle.iter().enumerate() {
            let f = format!("lifecycle[{i}]");
            if l.id.is_empty() || l.id.len() > 255 {
                cx.error(&format!("{f}.id"), "a rule id is 1 to 255 characters");
            }
            if spec.lifecycle[..i].iter().any(|o| o.id == l.id) {
                cx.error(
                    &format!("{f}.id"),
                    format!("two lifecycle rules are named `{}`", l.id),
                );
            }
            for (k, v) in [
                ("expire_days", l.expire_days),
                ("noncurrent_expire_days", l.noncurrent_expire_days),
                (
                    "abort_incomplete_upload_days",
                    l.abort_incomplete_upload_days,
                ),
            ] {
                if v.is_some_and(|d| d < 1) {
                    cx.error(&format!("{f}.{k}"), "days must be at least 1");
                }
            }
            if l.expire_days.is_none()
                && l.noncurrent_expire_days.is_none()
                && l.abort_incomplete_upload_days.is_none()
            {
                cx.error(
                    &f,
                    "a lifecycle rule needs an action: expire_days, noncurrent_expire_days or abort_incomplete_upload_days",
                );
            }
            if l.noncurrent_expire_days.is_some() && !spec.versioning {
                cx.error(
                    &format!("{f}.noncurrent_expire_days"),
                    "noncurrent versions only exist with versioning: true",
                );
            }
            lifecycle.push(Lifecycle {
                id: l.id.clone(),
                prefix: l.prefix.clone(),
                expire_days: l.expire_days,
                noncurrent_expire_days: l.noncurrent_expire_days,
                abort_incomplete_upload_days: l.abort_incomplete_upload_days,
            });
        }
        lifecycle.sort();
        let mut tags = cx.global_tags();
        if spec.force_empty {
            tags.insert(TAG_FORCE_EMPTY.into(), "true".into());
        }
        let props = Props {
            name: bucket.clone(),
            versioning: spec.versioning,
            encryption,
            block_public_access: spec.block_public_access,
            lifecycle,
            tags,
        };
        // The policy is a resource of its own: it may name distributions that themselves
        // name this bucket as their origin.
        let mut statements = Vec::new();
        if spec.deny_insecure_transport {
            statements.push(tls_only(&bucket));
        }
        for (i, d) in spec.cloudfront_access.iter().enumerate() {
            let arn = cx.reference_attr(
                &format!("cloudfront_access[{i}]"),
                d,
                "arn",
                &[names::DISTRIBUTION],
            );
            statements.push(cloudfront_read(&bucket, arn));
        }
        let mut out = vec![desired(&INFO, name, &props)];
        if !statements.is_empty() {
            let policy = PolicyProps {
                bucket: reference(name),
                policy: json!({"Version": "2012-10-17", "Statement": statements}),
            };
            out.push(desired(&POLICY, &format!("{name}{POLICY_SUFFIX}"), &policy));
        }
        out
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![adapt(Bucket(cx.clone())), adapt(Policy(cx.clone()))]
}

pub struct Bucket(pub Arc<Context>);

/// What the per-bucket reads say (a `None` is "not configured").
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub tags: Tags,
    pub versioning: bool,
    pub encryption: Option<Encryption>,
    pub block_public_access: bool,
    pub lifecycle: Vec<Lifecycle>,
}

/// Read results where "not configured" comes back as an error code.
fn absent<T>(r: Result<T, CloudError>, codes: &[&str]) -> Result<Option<T>, CloudError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if codes.iter().any(|c| e.has_code(c)) => Ok(None),
        Err(e) => Err(e),
    }
}

fn s3_tags(tags: &Tags) -> Result<Vec<Tag>, CloudError> {
    tags.iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| CloudError::new("s3:PutBucketTagging", e.to_string()))
        })
        .collect()
}

impl Bucket {
    fn s3(&self) -> &aws_sdk_s3::Client {
        &self.0.aws.s3
    }

    async fn tags(&self, bucket: &str) -> Result<Tags, CloudError> {
        let t = absent(
            self.s3()
                .get_bucket_tagging()
                .bucket(bucket)
                .send()
                .await
                .map_err(|e| err("s3:GetBucketTagging", e)),
            &["NoSuchTagSet"],
        )?;
        Ok(t.map(|t| {
            t.tag_set()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect()
        })
        .unwrap_or_default())
    }

    /// Read every managed setting of a bucket.
    async fn settings(&self, bucket: &str) -> Result<Settings, CloudError> {
        let s3 = self.s3();
        let (tags, versioning, encryption, pab, lifecycle) = tokio::try_join!(
            self.tags(bucket),
            async {
                s3.get_bucket_versioning()
                    .bucket(bucket)
                    .send()
                    .await
                    .map_err(|e| err("s3:GetBucketVersioning", e))
            },
            async {
                absent(
                    s3.get_bucket_encryption()
                        .bucket(bucket)
                        .send()
                        .await
                        .map_err(|e| err("s3:GetBucketEncryption", e)),
                    &["ServerSideEncryptionConfigurationNotFoundError"],
                )
            },
            async {
                absent(
                    s3.get_public_access_block()
                        .bucket(bucket)
                        .send()
                        .await
                        .map_err(|e| err("s3:GetPublicAccessBlock", e)),
                    &["NoSuchPublicAccessBlockConfiguration"],
                )
            },
            async {
                absent(
                    s3.get_bucket_lifecycle_configuration()
                        .bucket(bucket)
                        .send()
                        .await
                        .map_err(|e| err("s3:GetBucketLifecycleConfiguration", e)),
                    &["NoSuchLifecycleConfiguration"],
                )
            },
        )?;
        let encryption = encryption.and_then(|e| {
            let rule = e
                .server_side_encryption_configuration()?
                .rules()
                .first()?
                .apply_server_side_encryption_by_default()?
                .clone();
            Some(match rule.sse_algorithm().as_str() {
                "AES256" => Encryption {
                    algorithm: "AES256".into(),
                    kms_key: None,
                },
                other => Encryption {
                    algorithm: other.to_string(),
                    kms_key: rule.kms_master_key_id().map(str::to_string),
                },
            })
        });
        let block_public_access = pab
            .and_then(|p| p.public_access_block_configuration().cloned())
            .map(|c| {
                c.block_public_acls() == Some(true)
                    && c.ignore_public_acls() == Some(true)
                    && c.block_public_policy() == Some(true)
                    && c.restrict_public_buckets() == Some(true)
            })
            .unwrap_or(false);
        let mut rules: Vec<Lifecycle> = lifecycle
            .map(|l| {
                l.rules()
                    .iter()
                    .filter(|r| r.status() == &ExpirationStatus::Enabled)
                    .map(|r| Lifecycle {
                        id: r.id().unwrap_or_default().to_string(),
                        prefix: r
                            .filter()
                            .and_then(|f| f.prefix())
                            .unwrap_or_default()
                            .to_string(),
                        expire_days: r.expiration().and_then(|e| e.days()),
                        noncurrent_expire_days: r
                            .noncurrent_version_expiration()
                            .and_then(|n| n.noncurrent_days()),
                        abort_incomplete_upload_days: r
                            .abort_incomplete_multipart_upload()
                            .and_then(|a| a.days_after_initiation()),
                    })
                    .collect()
            })
            .unwrap_or_default();
        rules.sort();
        Ok(Settings {
            tags,
            versioning: versioning.status() == Some(&BucketVersioningStatus::Enabled),
            encryption,
            block_public_access,
            lifecycle: rules,
        })
    }

    async fn put_tags(&self, bucket: &str, tags: &Tags) -> Result<(), CloudError> {
        let tagging = Tagging::builder()
            .set_tag_set(Some(s3_tags(tags)?))
            .build()
            .map_err(|e| CloudError::new("s3:PutBucketTagging", e.to_string()))?;
        self.s3()
            .put_bucket_tagging()
            .bucket(bucket)
            .tagging(tagging)
            .send()
            .await
            .map_err(|e| err("s3:PutBucketTagging", e))?;
        Ok(())
    }

    async fn put_versioning(&self, bucket: &str, on: bool) -> Result<(), CloudError> {
        let status = if on {
            BucketVersioningStatus::Enabled
        } else {
            BucketVersioningStatus::Suspended
        };
        self.s3()
            .put_bucket_versioning()
            .bucket(bucket)
            .versioning_configuration(VersioningConfiguration::builder().status(status).build())
            .send()
            .await
            .map_err(|e| err("s3:PutBucketVersioning", e))?;
        Ok(())
    }

    async fn put_encryption(
        &self,
        bucket: &str,
        enc: &Option<Encryption>,
    ) -> Result<(), CloudError> {
        let built = |e: aws_sdk_s3::error::BuildError| {
            CloudError::new("s3:PutBucketEncryption", e.to_string())
        };
        let algorithm = match enc.as_ref().map(|e| e.algorithm.as_str()) {
            Some("aws:kms") => ServerSideEncryption::AwsKms,
            _ => ServerSideEncryption::Aes256,
        };
        let by_default = ServerSideEncryptionByDefault::builder()
            .sse_algorithm(algorithm)
            .set_kms_master_key_id(enc.as_ref().and_then(|e| e.kms_key.clone()))
            .build()
            .map_err(built)?;
        let conf = ServerSideEncryptionConfiguration::builder()
            .rules(
                ServerSideEncryptionRule::builder()
                    .apply_server_side_encryption_by_default(by_default)
                    .build(),
            )
            .build()
            .map_err(built)?;
        self.s3()
            .put_bucket_encryption()
            .bucket(bucket)
            .server_side_encryption_configuration(conf)
            .send()
            .await
            .map_err(|e| err("s3:PutBucketEncryption", e))?;
        Ok(())
    }

    async fn put_public_access_block(&self, bucket: &str, on: bool) -> Result<(), CloudError> {
        if !on {
            self.s3()
                .delete_public_access_block()
                .bucket(bucket)
                .send()
                .await
                .map_err(|e| err("s3:DeletePublicAccessBlock", e))?;
            return Ok(());
        }
        self.s3()
            .put_public_access_block()
            .bucket(bucket)
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(true)
                    .ignore_public_acls(true)
                    .block_public_policy(true)
                    .restrict_public_buckets(true)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| err("s3:PutPublicAccessBlock", e))?;
        Ok(())
    }

    async fn put_lifecycle(&self, bucket: &str, rules: &[Lifecycle]) -> Result<(), CloudError> {
        if rules.is_empty() {
            self.s3()
                .delete_bucket_lifecycle()
                .bucket(bucket)
                .send()
                .await
                .map_err(|e| err("s3:DeleteBucketLifecycle", e))?;
            return Ok(());
        }
        let built = |e: aws_sdk_s3::error::BuildError| {
            CloudError::new("s3:PutBucketLifecycleConfiguration", e.to_string())
        };
        let mut out = Vec::new();
        for r in rules {
            let mut b = LifecycleRule::builder()
                .id(&r.id)
                .status(ExpirationStatus::Enabled)
                .filter(LifecycleRuleFilter::builder().prefix(&r.prefix).build());
            if let Some(d) = r.expire_days {
                b = b.expiration(LifecycleExpiration::builder().days(d).build());
            }
            if let Some(d) = r.noncurrent_expire_days {
                b = b.noncurrent_version_expiration(
                    NoncurrentVersionExpiration::builder()
                        .noncurrent_days(d)
                        .build(),
                );
            }
            if let Some(d) = r.abort_incomplete_upload_days {
                b = b.abort_incomplete_multipart_upload(
                    AbortIncompleteMultipartUpload::builder()
                        .days_after_initiation(d)
                        .build(),
                );
            }
            out.push(b.build().map_err(built)?);
        }
        let conf = BucketLifecycleConfiguration::builder()
            .set_rules(Some(out))
            .build()
            .map_err(built)?;
        self.s3()
            .put_bucket_lifecycle_configuration()
            .bucket(bucket)
            .lifecycle_configuration(conf)
            .send()
            .await
            .map_err(|e| err("s3:PutBucketLifecycleConfiguration", e))?;
        Ok(())
    }

    /// Write the settings that differ between `have` (None: a new bucket) and `want`.
    async fn apply(
        &self,
        bucket: &str,
        have: Option<&Props>,
        want: &Props,
    ) -> Result<(), CloudError> {
        let differs = |f: fn(&Props) -> Value| have.is_none_or(|h| f(h) != f(want));
        // Tags first: from then on discovery finds the bucket whatever happens next.
        if differs(|p| json!(p.tags)) {
            self.put_tags(bucket, &want.tags).await?;
        }
        // The settings are independent: sent at once. S3 may refuse one while another
        // change of the same bucket is in progress (OperationAborted): tried again.
        let mut calls: Vec<BoxFuture<'_, Result<(), CloudError>>> = Vec::new();
        if differs(|p| json!(p.block_public_access)) {
            calls.push(Box::pin(self.settle(|| {
                self.put_public_access_block(bucket, want.block_public_access)
            })));
        }
        if differs(|p| json!(p.encryption)) {
            calls.push(Box::pin(
                self.settle(|| self.put_encryption(bucket, &want.encryption)),
            ));
        }
        // A new bucket is unversioned: only turning it on is a call.
        if have.map_or(want.versioning, |h| h.versioning != want.versioning) {
            calls.push(Box::pin(
                self.settle(|| self.put_versioning(bucket, want.versioning)),
            ));
        }
        if have.map_or(!want.lifecycle.is_empty(), |h| {
            h.lifecycle != want.lifecycle
        }) {
            calls.push(Box::pin(
                self.settle(|| self.put_lifecycle(bucket, &want.lifecycle)),
            ));
        }
        futures::future::try_join_all(calls).await?;
        Ok(())
    }

    /// A bucket setting, tried again while S3 says another change is in progress.
    async fn settle<F, Fut>(&self, f: F) -> Result<(), CloudError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<(), CloudError>>,
    {
        retry_when(
            std::time::Duration::from_secs(60),
            |e: &CloudError| e.has_code("OperationAborted"),
            f,
        )
        .await
    }

    /// Object versions and delete markers, up to `limit` (None: all).
    async fn versions(
        &self,
        bucket: &str,
        limit: Option<usize>,
    ) -> Result<Vec<ObjectIdentifier>, CloudError> {
        let mut out = Vec::new();
        let (mut key_marker, mut version_marker) = (None::<String>, None::<String>);
        loop {
            let page = self
                .s3()
                .list_object_versions()
                .bucket(bucket)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .map_err(|e| err("s3:ListObjectVersions", e))?;
            let versions = page.versions().iter().map(|v| (v.key(), v.version_id()));
            let markers = page
                .delete_markers()
                .iter()
                .map(|m| (m.key(), m.version_id()));
            for (k, v) in versions.chain(markers) {
                if let Some(k) = k {
                    let id = ObjectIdentifier::builder()
                        .key(k)
                        .set_version_id(v.filter(|v| *v != "null").map(str::to_string))
                        .build()
                        .map_err(|e| CloudError::new("s3:ListObjectVersions", e.to_string()))?;
                    out.push(id);
                }
            }
            if limit.is_some_and(|l| out.len() >= l) || page.is_truncated() != Some(true) {
                break;
            }
            key_marker = page.next_key_marker().map(str::to_string);
            version_marker = page.next_version_id_marker().map(str::to_string);
            if key_marker.is_none() {
                break;
            }
        }
        Ok(out)
    }

    fn with_outputs(&self, f: Found<Props>) -> Found<Props> {
        let bucket = f.id.clone();
        f.output("arn", format!("arn:aws:s3:::{bucket}")).output(
            "domain",
            format!("{bucket}.s3.{}.amazonaws.com", self.0.scope.region),
        )
    }

    fn force_empty(&self, current: &Found<Props>) -> bool {
        self.0.options.force_empty
            || current.props.tags.get(TAG_FORCE_EMPTY).map(String::as_str) == Some("true")
    }

    /// Delete every object version and delete marker; a key AWS refuses to delete
    /// (object lock, a denying policy) stops it with that key's error.
    async fn empty(&self, bucket: &str) -> Result<(), CloudError> {
        loop {
            let batch = self.versions(bucket, Some(1000)).await?;
            if batch.is_empty() {
                return Ok(());
            }
            for chunk in batch.chunks(1000) {
                let del = Delete::builder()
                    .set_objects(Some(chunk.to_vec()))
                    .quiet(true)
                    .build()
                    .map_err(|e| CloudError::new("s3:DeleteObjects", e.to_string()))?;
                let out = self
                    .s3()
                    .delete_objects()
                    .bucket(bucket)
                    .delete(del)
                    .send()
                    .await
                    .map_err(|e| err("s3:DeleteObjects", e))?;
                if let Some(e) = out.errors().first() {
                    return Err(CloudError::new(
                        "s3:DeleteObjects",
                        format!(
                            "{} of bucket {bucket} could not be deleted: {}",
                            e.key().unwrap_or("an object"),
                            e.message().unwrap_or("no reason given")
                        ),
                    )
                    .with_code(e.code().unwrap_or("DeleteObjectsError")));
                }
            }
        }
    }
}

#[async_trait]
impl Kind for Bucket {
    /// Encryption as the file writes it: `sse-s3`, `sse-kms` (with its key).
    fn as_written(field: &str, value: &Value) -> Option<Value> {
        if field != "encryption" {
            return None;
        }
        let algorithm = value.get("algorithm")?.as_str()?;
        let name = match algorithm {
            "AES256" => "sse-s3",
            "aws:kms" => "sse-kms",
            _ => return None,
        };
        Some(match value.get("kms_key").and_then(Value::as_str) {
            Some(key) => json!({"encryption": name, "kms_key": key}),
            None => Value::from(name),
        })
    }

    type Props = Props;
    /// The bucket's name and settings.
    type Remote = (String, Settings);

    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    /// A bucket of this account with no tags is the stack's own from a run that stopped
    /// before tagging it (the name holds the stack and the account): free.
    async fn name_holder(&self, want: &Desired) -> Result<Option<(String, Tags)>, CloudError> {
        let Some(name) = wanted_name(want, "name") else {
            return Ok(None);
        };
        let head = self
            .s3()
            .head_bucket()
            .bucket(&name)
            .send()
            .await
            .map_err(|e| err("s3:HeadBucket", e));
        match head {
            Err(e) if is_not_found(&e) => Ok(None),
            // Another account's: the name is taken, whoever holds it.
            Err(e) if e.has_code("Forbidden") || e.has_code("AccessDenied") => {
                Ok(Some((name.clone(), Tags::new())))
            }
            Err(e) => Err(e),
            Ok(_) => {
                let tags = self.tags(&name).await?;
                Ok((!tags.is_empty()).then(|| (name.clone(), tags)))
            }
        }
    }

    /// S3 sets a bucket's tags all at once: the identity joins the tags it has.
    async fn adopt(&self, id: &str, identity: &Tags) -> Option<Result<(), CloudError>> {
        Some(
            async {
                let mut tags = self.tags(id).await?;
                check_adoptable("bucket", id, &tags, identity)?;
                tags.extend(identity.clone());
                self.put_tags(id, &tags).await
            }
            .await,
        )
    }

    fn normalize(p: &mut Props) {
        p.lifecycle.sort();
    }

    async fn list(&self, _parents: &[Observed]) -> Result<Vec<Self::Remote>, CloudError> {
        // The tagging API finds buckets by tag in one paginated listing, but its index
        // learns of new tags later than S3: S3's own listing of the names the stack
        // gives (`<stack>-...`, this region) is read too, and the tags decide.
        let filter = aws_sdk_resourcegroupstagging::types::TagFilter::builder()
            .key(TAG_STACK)
            .values(self.0.stack())
            .build();
        let tagged = async {
            self.0
                .aws
                .tagging
                .get_resources()
                .tag_filters(filter)
                .resource_type_filters("s3")
                .into_paginator()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .map_err(|e| err("tagging:GetResources", e))
        };
        let named = async {
            self.0
                .aws
                .s3
                .list_buckets()
                .prefix(format!("{}-", self.0.stack()))
                .bucket_region(&self.0.aws.region)
                .into_paginator()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .map_err(|e| err("s3:ListBuckets", e))
        };
        let (tagged, named) = futures::future::try_join(tagged, named).await?;
        let prefix = format!("{}-", self.0.stack());
        let mut buckets: BTreeSet<String> = tagged
            .iter()
            .flat_map(|p| p.resource_tag_mapping_list())
            .filter_map(|r| r.resource_arn()?.strip_prefix("arn:aws:s3:::"))
            .map(str::to_string)
            .collect();
        buckets.extend(
            named
                .iter()
                .flat_map(|p| p.buckets())
                .filter(|b| b.bucket_region().is_none_or(|r| r == self.0.aws.region))
                .filter_map(|b| b.name())
                .filter(|n| n.starts_with(&prefix))
                .map(str::to_string),
        );
        let reads = buckets.into_iter().map(|bucket| async move {
            match self.settings(&bucket).await {
                // Deleted since the tag index was read.
                Err(e) if e.has_code("NoSuchBucket") => Ok(None),
                other => other.map(|s| Some((bucket, s))),
            }
        });
        Ok(futures::future::try_join_all(reads)
            .await?
            .into_iter()
            .flatten()
            .collect())
    }

    fn observe(&self, (bucket, s): &Self::Remote) -> Option<Found<Props>> {
        let name = identity(&s.tags, self.0.stack())?;
        let props = Props {
            name: bucket.clone(),
            versioning: s.versioning,
            encryption: s.encryption.clone(),
            block_public_access: s.block_public_access,
            lifecycle: s.lifecycle.clone(),
            tags: s.tags.clone(),
        };
        Some(self.with_outputs(Found::new(name, bucket, props)))
    }

    async fn create(&self, name: &str, want: &Props) -> Result<Found<Props>, CloudError> {
        let bucket = &want.name;
        let mut req = self.s3().create_bucket().bucket(bucket);
        if self.0.scope.region != "us-east-1" {
            req = req.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(
                        self.0.scope.region.as_str(),
                    ))
                    .build(),
            );
        }
        let mut have = None;
        match req.send().await.map_err(|e| err("s3:CreateBucket", e)) {
            Ok(_) => {}
            // In this account already: ours from a run that stopped before tagging it (the
            // name holds the stack and the account), unless another stack's tags say not.
            Err(e) if e.has_code("BucketAlreadyOwnedByYou") => {
                let s = self.settings(bucket).await?;
                if !s.tags.is_empty() && !owned(&s.tags, self.0.stack()) {
                    return Err(name_taken("s3:CreateBucket", "bucket", bucket, &s.tags));
                }
                check_home("s3:CreateBucket", "bucket", bucket, &s.tags, &self.0.scope)?;
                have = self.observe(&(bucket.clone(), s)).map(|f| f.props);
            }
            Err(e) if e.has_code("BucketAlreadyExists") => {
                return Err(CloudError {
                    message: format!(
                    "the name {bucket} is taken by another account; set `name` in the stack file"
                ),
                    ..e
                })
            }
            Err(e) => return Err(e),
        }
        // Tags first: from here on the bucket is found by discovery.
        self.apply(bucket, have.as_ref(), want).await?;
        Ok(self.with_outputs(Found::new(name, bucket, want.clone())))
    }

    async fn update(
        &self,
        current: &Found<Props>,
        want: &Props,
    ) -> Result<Found<Props>, CloudError> {
        self.apply(&current.id, Some(&current.props), want).await?;
        Ok(current.with_props(want.clone()))
    }

    async fn keep(&self, current: &Found<Props>) -> Result<Option<String>, CloudError> {
        if self.force_empty(current) {
            return Ok(None);
        }
        let some = match self.versions(&current.id, Some(1)).await {
            Err(e) if e.has_code("NoSuchBucket") => return Ok(None),
            other => other?,
        };
        if some.is_empty() {
            return Ok(None);
        }
        let all = self.versions(&current.id, None).await?;
        Ok(Some(format!(
            "bucket {} still holds {} object version(s); kept. Run `provision down --force-empty` (or set force_empty: true) to delete them with the bucket",
            current.id,
            all.len()
        )))
    }

    async fn delete(&self, current: &Found<Props>) -> Result<Deletion, CloudError> {
        let bucket = &current.id;
        if self.force_empty(current) {
            // A deny policy can stand in the way of the deletes: remove it first.
            match self
                .s3()
                .delete_bucket_policy()
                .bucket(bucket)
                .send()
                .await
                .map_err(|e| err("s3:DeleteBucketPolicy", e))
            {
                Err(e) if e.has_code("NoSuchBucket") => return Ok(Deletion::Gone),
                other => {
                    other?;
                }
            }
            self.empty(bucket).await?;
        }
        match self
            .s3()
            .delete_bucket()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| err("s3:DeleteBucket", e))
        {
            Err(e) if is_not_found(&e) || e.has_code("NoSuchBucket") => Ok(Deletion::Gone),
            other => other.map(|_| Deletion::Gone),
        }
    }
}

/// A bucket's policy, kept apart from the bucket so that it can name distributions that
/// name the bucket. Found through the stack's buckets.
pub struct Policy(pub Arc<Context>);

impl Policy {
    async fn put(&self, bucket: &str, policy: &Value) -> Result<(), CloudError> {
        let s3 = &self.0.aws.s3;
        if policy.is_null() {
            match s3
                .delete_bucket_policy()
                .bucket(bucket)
                .send()
                .await
                .map_err(|e| err("s3:DeleteBucketPolicy", e))
            {
                Err(e) if e.has_code("NoSuchBucket") => {}
                other => {
                    other?;
                }
            }
            return Ok(());
        }
        s3.put_bucket_policy()
            .bucket(bucket)
            .policy(policy.to_string())
            .send()
            .await
            .map_err(|e| err("s3:PutBucketPolicy", e))?;
        Ok(())
    }
}

#[async_trait]
impl Kind for Policy {
    type Props = PolicyProps;
    /// The bucket's name in the stack, its physical name and its policy.
    type Remote = (String, String, Value);

    fn info(&self) -> &'static KindInfo {
        &POLICY
    }

    async fn list(&self, buckets: &[Observed]) -> Result<Vec<Self::Remote>, CloudError> {
        let reads = buckets.iter().map(|b| async move {
            let got = absent(
                self.0
                    .aws
                    .s3
                    .get_bucket_policy()
                    .bucket(&b.id)
                    .send()
                    .await
                    .map_err(|e| err("s3:GetBucketPolicy", e)),
                &["NoSuchBucketPolicy", "NoSuchBucket"],
            )?;
            Ok::<_, CloudError>(got.and_then(|p| p.policy).map(|p| {
                let doc = serde_json::from_str::<Value>(&p).unwrap_or(Value::String(p));
                (b.name.clone(), b.id.clone(), doc)
            }))
        });
        Ok(futures::future::try_join_all(reads)
            .await?
            .into_iter()
            .flatten()
            .collect())
    }

    fn observe(&self, (name, bucket, policy): &Self::Remote) -> Option<Found<PolicyProps>> {
        let props = PolicyProps {
            bucket: bucket.clone(),
            policy: policy.clone(),
        };
        Some(Found::new(
            format!("{name}{POLICY_SUFFIX}"),
            format!("{bucket}{POLICY_SUFFIX}"),
            props,
        ))
    }

    async fn create(
        &self,
        name: &str,
        want: &PolicyProps,
    ) -> Result<Found<PolicyProps>, CloudError> {
        self.put(&want.bucket, &want.policy).await?;
        Ok(Found::new(
            name,
            format!("{}{POLICY_SUFFIX}", want.bucket),
            want.clone(),
        ))
    }

    async fn update(
        &self,
        current: &Found<PolicyProps>,
        want: &PolicyProps,
    ) -> Result<Found<PolicyProps>, CloudError> {
        self.put(&want.bucket, &want.policy).await?;
        Ok(current.with_props(want.clone()))
    }

    async fn delete(&self, current: &Found<PolicyProps>) -> Result<Deletion, CloudError> {
        self.put(&current.props.bucket, &Value::Null).await?;
        Ok(Deletion::Gone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::support::testing::{self, assert_observes, context, ACCOUNT};

    #[test]
    fn encryption_is_shown_as_the_file_writes_it() {
        let written = |v: Value| <Bucket as Kind>::as_written("encryption", &v);
        assert_eq!(
            written(json!({"algorithm": "AES256"})),
            Some(json!("sse-s3"))
        );
        assert_eq!(
            written(json!({"algorithm": "aws:kms", "kms_key": "arn:aws:kms:eu-west-3:1:key/k"})),
            Some(json!({"encryption": "sse-kms", "kms_key": "arn:aws:kms:eu-west-3:1:key/k"}))
        );
        assert_eq!(
            <Bucket as Kind>::as_written("versioning", &json!(true)),
            None
        );
    }

    const FILE: &str = "buckets:\n  media:\n    versioning: true\n    lifecycle: [{id: old, noncurrent_expire_days: 30}]\n";

    fn settings(tags: Tags) -> Settings {
        Settings {
            tags,
            versioning: true,
            encryption: Some(Encryption {
                algorithm: "AES256".into(),
                kms_key: None,
            }),
            block_public_access: true,
            lifecycle: vec![Lifecycle {
                id: "old".into(),
                prefix: String::new(),
                expire_days: None,
                noncurrent_expire_days: Some(30),
                abort_incomplete_upload_days: None,
            }],
        }
    }

    #[test]
    fn a_read_bucket_is_what_the_file_wants() {
        let bucket = format!("app-media-{ACCOUNT}");
        let remote = (
            bucket.clone(),
            settings(testing::global_identity_tags("media")),
        );
        assert_observes(Bucket(context()), &remote, FILE, "media");
        let policy = testing::desired(FILE)
            .into_iter()
            .find(|d| d.name == "media.policy")
            .expect("the TLS-only policy");
        let observed = (
            "media".to_string(),
            testing::out("media", "id"),
            policy.props["policy"].clone(),
        );
        assert_observes(Policy(context()), &observed, FILE, "media.policy");
        assert!(Bucket(context())
            .observe(&(bucket, settings(testing::foreign_tags("media"))))
            .is_none());
    }
}
