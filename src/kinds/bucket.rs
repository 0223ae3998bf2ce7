//! S3 bucket: name (replacement); versioning, default encryption, public access block,
//! lifecycle rules, the TLS-only policy and tags (in place).
//!
//! Bucket names are global: unless given, the name is `<stack>-<name>-<account id>`.
//! A bucket that still holds objects is kept on delete unless told to empty it
//! (`--force-empty-buckets`, or `force_empty: true`, recorded as a tag on the bucket).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketLocationConstraint,
    BucketVersioningStatus, CreateBucketConfiguration, Delete, ExpirationStatus, LifecycleExpiration,
    LifecycleRule, LifecycleRuleFilter, NoncurrentVersionExpiration, ObjectIdentifier,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, Tag, Tagging, VersioningConfiguration,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::ec2::{bool_prop, desired_tags, str_prop};
use super::Context;
use crate::aws::{err, is_not_found};
use crate::engine::{CloudError, Desired, Observed, Props, ResourceKind};
use crate::model::net::check_bucket_name;
use crate::model::{Cx, KindModel, TAG_NAME, TAG_STACK};

pub const KIND: &str = "bucket";
pub const POLICY_KIND: &str = "bucket_policy";
const POLICY_SUFFIX: &str = ".policy";
/// Tag recording that the bucket may be emptied when it is deleted.
pub const TAG_FORCE_EMPTY: &str = "provision:force-empty";

#[derive(Deserialize)]
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

#[derive(Deserialize)]
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
struct Lifecycle {
    id: String,
    prefix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expire_days: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    noncurrent_expire_days: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    abort_incomplete_upload_days: Option<i32>,
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
    fn section(&self) -> &'static str {
        "buckets"
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn stateful(&self) -> bool {
        true
    }
    fn outputs(&self) -> &'static [&'static str] {
        &["id", "arn", "domain"]
    }
    fn build(&self, cx: &mut Cx, name: &str, body: serde_yaml::Value) -> Vec<Desired> {
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
        let encryption = match (spec.encryption.as_deref().unwrap_or("sse-s3"), &spec.kms_key) {
            ("sse-s3", None) => json!({"algorithm": "AES256"}),
            ("sse-s3", Some(_)) => {
                cx.error("kms_key", "a KMS key is only used with encryption: sse-kms");
                Value::Null
            }
            ("sse-kms", key) => {
                if let Some(k) = key {
                    let ok = k.starts_with("arn:aws:kms:") || k.starts_with("alias/") || k.len() == 36;
                    if !ok {
                        cx.error("kms_key", format!("`{k}` is not a KMS key id, alias/NAME or key ARN"));
                    }
                }
                json!({"algorithm": "aws:kms", "kms_key": key})
            }
            (other, _) => {
                cx.error_hint("encryption", format!("unknown encryption `{other}`"), "use sse-s3 or sse-kms");
                Value::Null
            }
        };
        let mut lifecycle = Vec::new();
        for (i, l) in spec.lifecycle.iter().enumerate() {
            let f = format!("lifecycle[{i}]");
            if l.id.is_empty() || l.id.len() > 255 {
                cx.error(&format!("{f}.id"), "a rule id is 1 to 255 characters");
            }
            if spec.lifecycle[..i].iter().any(|o| o.id == l.id) {
                cx.error(&format!("{f}.id"), format!("two lifecycle rules are named `{}`", l.id));
            }
            for (k, v) in [
                ("expire_days", l.expire_days),
                ("noncurrent_expire_days", l.noncurrent_expire_days),
                ("abort_incomplete_upload_days", l.abort_incomplete_upload_days),
            ] {
                if v.is_some_and(|d| d < 1) {
                    cx.error(&format!("{f}.{k}"), "days must be at least 1");
                }
            }
            if l.expire_days.is_none() && l.noncurrent_expire_days.is_none() && l.abort_incomplete_upload_days.is_none() {
                cx.error(&f, "a lifecycle rule needs an action: expire_days, noncurrent_expire_days or abort_incomplete_upload_days");
            }
            if l.noncurrent_expire_days.is_some() && !spec.versioning {
                cx.error(&format!("{f}.noncurrent_expire_days"), "noncurrent versions only exist with versioning: true");
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
        let mut tags = cx.tags();
        if spec.force_empty {
            if let Some(t) = tags.as_object_mut() {
                t.insert(TAG_FORCE_EMPTY.into(), "true".into());
            }
        }
        let mut props = Props::new();
        props.insert("name".into(), bucket.clone().into());
        props.insert("versioning".into(), spec.versioning.into());
        props.insert("encryption".into(), encryption);
        props.insert("block_public_access".into(), spec.block_public_access.into());
        props.insert("lifecycle".into(), serde_json::to_value(lifecycle).unwrap_or(Value::Null));
        props.insert("tags".into(), tags);

        // The policy is a resource of its own: it may name distributions that themselves
        // name this bucket as their origin.
        let mut statements = Vec::new();
        if spec.deny_insecure_transport {
            statements.push(tls_only(&bucket));
        }
        for (i, d) in spec.cloudfront_access.iter().enumerate() {
            let arn = cx.reference_attr(&format!("cloudfront_access[{i}]"), d, "arn", &["distribution"]);
            statements.push(cloudfront_read(&bucket, arn));
        }
        let mut out = vec![Desired::new(KIND, name, props)];
        if !statements.is_empty() {
            let mut policy = Props::new();
            policy.insert("bucket".into(), crate::engine::reference(name));
            policy.insert("policy".into(), json!({"Version": "2012-10-17", "Statement": statements}));
            out.push(Desired::new(POLICY_KIND, &format!("{name}{POLICY_SUFFIX}"), policy));
        }
        out
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![Arc::new(Cloud(cx.clone())), Arc::new(Policy(cx.clone()))]
}

pub struct Cloud(pub Arc<Context>);

/// Read results where "not configured" comes back as an error code.
fn absent<T>(r: Result<T, CloudError>, codes: &[&str]) -> Result<Option<T>, CloudError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if codes.iter().any(|c| e.has_code(c)) => Ok(None),
        Err(e) => Err(e),
    }
}

impl Cloud {
    fn s3(&self) -> &aws_sdk_s3::Client {
        &self.0.aws.s3
    }

    /// Read every managed setting of a bucket: the bucket, and its policy if it has one.
    async fn observe(&self, name: &str, bucket: &str) -> Result<(Observed, Option<Observed>), CloudError> {
        let s3 = self.s3();
        let (tags, versioning, encryption, pab, lifecycle, policy) = tokio::try_join!(
            async { absent(s3.get_bucket_tagging().bucket(bucket).send().await.map_err(|e| err("s3:GetBucketTagging", e)), &["NoSuchTagSet"]) },
            async { s3.get_bucket_versioning().bucket(bucket).send().await.map_err(|e| err("s3:GetBucketVersioning", e)) },
            async {
                absent(
                    s3.get_bucket_encryption().bucket(bucket).send().await.map_err(|e| err("s3:GetBucketEncryption", e)),
                    &["ServerSideEncryptionConfigurationNotFoundError"],
                )
            },
            async {
                absent(
                    s3.get_public_access_block().bucket(bucket).send().await.map_err(|e| err("s3:GetPublicAccessBlock", e)),
                    &["NoSuchPublicAccessBlockConfiguration"],
                )
            },
            async {
                absent(
                    s3.get_bucket_lifecycle_configuration().bucket(bucket).send().await.map_err(|e| err("s3:GetBucketLifecycleConfiguration", e)),
                    &["NoSuchLifecycleConfiguration"],
                )
            },
            async { absent(s3.get_bucket_policy().bucket(bucket).send().await.map_err(|e| err("s3:GetBucketPolicy", e)), &["NoSuchBucketPolicy"]) },
        )?;
        let tags: BTreeMap<String, String> = tags
            .map(|t| t.tag_set().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect())
            .unwrap_or_default();
        let encryption = encryption
            .and_then(|e| {
                let rule = e.server_side_encryption_configuration()?.rules().first()?.apply_server_side_encryption_by_default()?.clone();
                Some(match rule.sse_algorithm().as_str() {
                    "AES256" => json!({"algorithm": "AES256"}),
                    other => json!({"algorithm": other, "kms_key": rule.kms_master_key_id()}),
                })
            })
            .unwrap_or(Value::Null);
        let blocked = pab
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
                        prefix: r.filter().and_then(|f| f.prefix()).unwrap_or_default().to_string(),
                        expire_days: r.expiration().and_then(|e| e.days()),
                        noncurrent_expire_days: r.noncurrent_version_expiration().and_then(|n| n.noncurrent_days()),
                        abort_incomplete_upload_days: r.abort_incomplete_multipart_upload().and_then(|a| a.days_after_initiation()),
                    })
                    .collect()
            })
            .unwrap_or_default();
        rules.sort();
        let policy = policy
            .and_then(|p| p.policy)
            .map(|p| serde_json::from_str::<Value>(&p).unwrap_or(Value::String(p)))
            .unwrap_or(Value::Null);
        let b = Observed::new(KIND, name, bucket)
            .with_prop("name", bucket)
            .with_prop("versioning", versioning.status() == Some(&BucketVersioningStatus::Enabled))
            .with_prop("encryption", encryption)
            .with_prop("block_public_access", blocked)
            .with_prop("lifecycle", serde_json::to_value(rules).unwrap_or(Value::Null))
            .with_prop("tags", serde_json::to_value(tags).unwrap_or(Value::Null))
            .with_output("arn", format!("arn:aws:s3:::{bucket}"))
            .with_output("domain", format!("{bucket}.s3.{}.amazonaws.com", self.0.aws.region));
        let p = (!policy.is_null()).then(|| {
            Observed::new(POLICY_KIND, format!("{name}{POLICY_SUFFIX}"), format!("{bucket}{POLICY_SUFFIX}"))
                .with_prop("bucket", bucket)
                .with_prop("policy", policy)
        });
        Ok((b, p))
    }

    async fn put_tags(&self, bucket: &str, props: &Props) -> Result<(), CloudError> {
        let tags = desired_tags(props)
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(|e| CloudError::new("s3:PutBucketTagging", e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        let tagging = Tagging::builder()
            .set_tag_set(Some(tags))
            .build()
            .map_err(|e| CloudError::new("s3:PutBucketTagging", e.to_string()))?;
        self.s3().put_bucket_tagging().bucket(bucket).tagging(tagging).send().await.map_err(|e| err("s3:PutBucketTagging", e))?;
        Ok(())
    }

    async fn put_versioning(&self, bucket: &str, on: bool) -> Result<(), CloudError> {
        let status = if on { BucketVersioningStatus::Enabled } else { BucketVersioningStatus::Suspended };
        self.s3()
            .put_bucket_versioning()
            .bucket(bucket)
            .versioning_configuration(VersioningConfiguration::builder().status(status).build())
            .send()
            .await
            .map_err(|e| err("s3:PutBucketVersioning", e))?;
        Ok(())
    }

    async fn put_encryption(&self, bucket: &str, props: &Props) -> Result<(), CloudError> {
        let enc = props.get("encryption").cloned().unwrap_or(Value::Null);
        let algorithm = match enc.get("algorithm").and_then(Value::as_str) {
            Some("aws:kms") => ServerSideEncryption::AwsKms,
            _ => ServerSideEncryption::Aes256,
        };
        let by_default = ServerSideEncryptionByDefault::builder()
            .sse_algorithm(algorithm)
            .set_kms_master_key_id(enc.get("kms_key").and_then(Value::as_str).map(str::to_string))
            .build()
            .map_err(|e| CloudError::new("s3:PutBucketEncryption", e.to_string()))?;
        let conf = ServerSideEncryptionConfiguration::builder()
            .rules(ServerSideEncryptionRule::builder().apply_server_side_encryption_by_default(by_default).build())
            .build()
            .map_err(|e| CloudError::new("s3:PutBucketEncryption", e.to_string()))?;
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
            self.s3().delete_public_access_block().bucket(bucket).send().await.map_err(|e| err("s3:DeletePublicAccessBlock", e))?;
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

    async fn put_lifecycle(&self, bucket: &str, props: &Props) -> Result<(), CloudError> {
        let rules: Vec<Lifecycle> = props
            .get("lifecycle")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        if rules.is_empty() {
            self.s3().delete_bucket_lifecycle().bucket(bucket).send().await.map_err(|e| err("s3:DeleteBucketLifecycle", e))?;
            return Ok(());
        }
        let mut out = Vec::new();
        for r in rules {
            let mut b = LifecycleRule::builder()
                .id(r.id)
                .status(ExpirationStatus::Enabled)
                .filter(LifecycleRuleFilter::builder().prefix(r.prefix).build());
            if let Some(d) = r.expire_days {
                b = b.expiration(LifecycleExpiration::builder().days(d).build());
            }
            if let Some(d) = r.noncurrent_expire_days {
                b = b.noncurrent_version_expiration(NoncurrentVersionExpiration::builder().noncurrent_days(d).build());
            }
            if let Some(d) = r.abort_incomplete_upload_days {
                b = b.abort_incomplete_multipart_upload(AbortIncompleteMultipartUpload::builder().days_after_initiation(d).build());
            }
            out.push(b.build().map_err(|e| CloudError::new("s3:PutBucketLifecycleConfiguration", e.to_string()))?);
        }
        let conf = BucketLifecycleConfiguration::builder()
            .set_rules(Some(out))
            .build()
            .map_err(|e| CloudError::new("s3:PutBucketLifecycleConfiguration", e.to_string()))?;
        self.s3()
            .put_bucket_lifecycle_configuration()
            .bucket(bucket)
            .lifecycle_configuration(conf)
            .send()
            .await
            .map_err(|e| err("s3:PutBucketLifecycleConfiguration", e))?;
        Ok(())
    }

    async fn apply_fields(&self, bucket: &str, props: &Props, changed: &[String]) -> Result<(), CloudError> {
        for f in changed {
            match f.as_str() {
                "tags" => self.put_tags(bucket, props).await?,
                "versioning" => self.put_versioning(bucket, bool_prop(props, "versioning")).await?,
                "encryption" => self.put_encryption(bucket, props).await?,
                "block_public_access" => self.put_public_access_block(bucket, bool_prop(props, "block_public_access")).await?,
                "lifecycle" => self.put_lifecycle(bucket, props).await?,
                _ => {}
            }
        }
        Ok(())
    }

    /// Object versions and delete markers, up to `limit` (None: all).
    async fn versions(&self, bucket: &str, limit: Option<usize>) -> Result<Vec<ObjectIdentifier>, CloudError> {
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
            let markers = page.delete_markers().iter().map(|m| (m.key(), m.version_id()));
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

    fn force_empty(&self, current: &Observed) -> bool {
        self.0.options.force_empty_buckets
            || current.props.get("tags").and_then(|t| t.get(TAG_FORCE_EMPTY)).and_then(Value::as_str) == Some("true")
    }
}

#[async_trait]
impl ResourceKind for Cloud {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn replace_fields(&self) -> &'static [&'static str] {
        &["name"]
    }

    fn stateful(&self) -> bool {
        true
    }

    async fn discover(&self) -> Result<Vec<Observed>, CloudError> {
        // The tagging API finds buckets by tag in one paginated listing.
        let filter = aws_sdk_resourcegroupstagging::types::TagFilter::builder()
            .key(TAG_STACK)
            .values(&self.0.stack)
            .build();
        let pages: Vec<_> = self
            .0
            .aws
            .tagging
            .get_resources()
            .tag_filters(filter)
            .resource_type_filters("s3")
            .into_paginator()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("tagging:GetResources", e))?;
        let mut found = Vec::new();
        for page in &pages {
            for r in page.resource_tag_mapping_list() {
                let Some(bucket) = r.resource_arn().and_then(|a| a.strip_prefix("arn:aws:s3:::")) else {
                    continue;
                };
                let Some(name) = r.tags().iter().find(|t| t.key() == TAG_NAME).map(|t| t.value().to_string()) else {
                    continue;
                };
                found.push((name, bucket.to_string()));
            }
        }
        let reads = found.iter().map(|(name, bucket)| async move {
            match self.observe(name, bucket).await {
                // Deleted since the tag index was read.
                Err(e) if e.has_code("NoSuchBucket") => Ok(None),
                other => other.map(|(b, p)| Some([Some(b), p])),
            }
        });
        Ok(futures::future::try_join_all(reads).await?.into_iter().flatten().flatten().flatten().collect())
    }

    async fn create(&self, name: &str, props: &Props) -> Result<Observed, CloudError> {
        let bucket = str_prop(props, "name")?.to_string();
        let mut req = self.s3().create_bucket().bucket(&bucket);
        if self.0.aws.region != "us-east-1" {
            req = req.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(self.0.aws.region.as_str()))
                    .build(),
            );
        }
        match req.send().await.map_err(|e| err("s3:CreateBucket", e)) {
            Ok(_) => {}
            // Ours already (an earlier run stopped before tagging it, or the tag index lags).
            Err(e) if e.has_code("BucketAlreadyOwnedByYou") => {}
            Err(e) if e.has_code("BucketAlreadyExists") => {
                return Err(CloudError {
                    message: format!("the name {bucket} is taken by another account; set `name` in the stack file"),
                    ..e
                })
            }
            Err(e) => return Err(e),
        }
        // Tags first: from here on the bucket is found by discovery.
        self.put_tags(&bucket, props).await?;
        let all: Vec<String> = ["block_public_access", "encryption", "versioning", "lifecycle"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        self.apply_fields(&bucket, props, &all).await?;
        let (mut o, _) = self.observe(name, &bucket).await?;
        o.props = props.clone();
        Ok(o)
    }

    async fn update(&self, name: &str, props: &Props, current: &Observed, changed: &[String]) -> Result<Observed, CloudError> {
        self.apply_fields(&current.id, props, changed).await?;
        Ok(current.updated(name, props))
    }

    async fn keep_instead_of_delete(&self, current: &Observed) -> Result<Option<String>, CloudError> {
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
            "bucket {} still holds {} object version(s); kept. Run `provision down --force-empty-buckets` (or set force_empty: true) to delete them with the bucket",
            current.id,
            all.len()
        )))
    }

    async fn delete(&self, current: &Observed) -> Result<(), CloudError> {
        let bucket = &current.id;
        if self.force_empty(current) {
            // A deny policy can stand in the way of the deletes: remove it first.
            match self.s3().delete_bucket_policy().bucket(bucket).send().await.map_err(|e| err("s3:DeleteBucketPolicy", e)) {
                Err(e) if e.has_code("NoSuchBucket") => return Ok(()),
                other => {
                    other?;
                }
            }
            loop {
                let batch = self.versions(bucket, Some(1000)).await?;
                if batch.is_empty() {
                    break;
                }
                for chunk in batch.chunks(1000) {
                    let del = Delete::builder()
                        .set_objects(Some(chunk.to_vec()))
                        .quiet(true)
                        .build()
                        .map_err(|e| CloudError::new("s3:DeleteObjects", e.to_string()))?;
                    self.s3().delete_objects().bucket(bucket).delete(del).send().await.map_err(|e| err("s3:DeleteObjects", e))?;
                }
            }
        }
        match self.s3().delete_bucket().bucket(bucket).send().await.map_err(|e| err("s3:DeleteBucket", e)) {
            Err(e) if is_not_found(&e) || e.has_code("NoSuchBucket") => Ok(()),
            other => other.map(|_| ()),
        }
    }
}

/// Write (or remove, when null) a bucket policy.
async fn put_policy(s3: &aws_sdk_s3::Client, bucket: &str, props: &Props) -> Result<(), CloudError> {
    match props.get("policy") {
        Some(p) if !p.is_null() => {
            s3.put_bucket_policy().bucket(bucket).policy(p.to_string()).send().await.map_err(|e| err("s3:PutBucketPolicy", e))?;
        }
        _ => match s3.delete_bucket_policy().bucket(bucket).send().await.map_err(|e| err("s3:DeleteBucketPolicy", e)) {
            Err(e) if e.has_code("NoSuchBucket") => {}
            other => {
                other?;
            }
        },
    }
    Ok(())
}

/// A bucket's policy, kept apart from the bucket so that it can name distributions that
/// name the bucket. Listed by the bucket's discovery.
pub struct Policy(pub Arc<Context>);

#[async_trait]
impl ResourceKind for Policy {
    fn kind(&self) -> &'static str {
        POLICY_KIND
    }

    fn replace_fields(&self) -> &'static [&'static str] {
        &["bucket"]
    }

    async fn discover(&self) -> Result<Vec<Observed>, CloudError> {
        Ok(Vec::new()) // reported by the buckets' discovery
    }

    async fn create(&self, name: &str, props: &Props) -> Result<Observed, CloudError> {
        let bucket = str_prop(props, "bucket")?.to_string();
        put_policy(&self.0.aws.s3, &bucket, props).await?;
        let mut o = Observed::new(POLICY_KIND, name, format!("{bucket}{POLICY_SUFFIX}"));
        o.props = props.clone();
        Ok(o)
    }

    async fn update(&self, name: &str, props: &Props, _current: &Observed, _changed: &[String]) -> Result<Observed, CloudError> {
        self.create(name, props).await
    }

    async fn delete(&self, current: &Observed) -> Result<(), CloudError> {
        let mut none = Props::new();
        none.insert("policy".into(), Value::Null);
        put_policy(&self.0.aws.s3, str_prop(&current.props, "bucket")?, &none).await
    }
}
