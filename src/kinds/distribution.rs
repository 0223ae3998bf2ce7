//! CloudFront distribution serving a bucket of the stack through an Origin Access Control
//! (created and deleted with it); the bucket lets only this distribution read, through its
//! `cloudfront_access`. Takes 5-30 minutes to deploy. Deleting is two steps: disable, wait
//! until deployed, delete (the engine calls `delete` again once the first step settled).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_cloudfront::types::{
    DefaultCacheBehavior, DistributionConfig, DistributionConfigWithTags, Origin, OriginAccessControlConfig,
    OriginAccessControlOriginTypes, OriginAccessControlSigningBehaviors, OriginAccessControlSigningProtocols, Origins, PriceClass,
    S3OriginConfig, Tag, Tags, ViewerProtocolPolicy,
};
use serde::Deserialize;
use serde_json::Value;

use super::ec2::{bool_prop, client_token, desired_tags, str_prop};
use super::Context;
use crate::aws::err;
use crate::engine::{CloudError, Desired, Observed, Props, ResourceKind, Status, WaitPolicy};
use crate::model::{Cx, KindModel, TAG_NAME, TAG_STACK};

pub const KIND: &str = "distribution";
/// The AWS managed cache policy "CachingOptimized".
const CACHING_OPTIMIZED: &str = "658327ea-f89d-4fab-a63d-7e88639e58f6";
const PRICE_CLASSES: &[&str] = &["PriceClass_100", "PriceClass_200", "PriceClass_All"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    origin_bucket: String,
    #[serde(default)]
    origin_path: Option<String>,
    #[serde(default)]
    default_root_object: Option<String>,
    #[serde(default = "cheapest")]
    price_class: String,
    #[serde(default = "yes")]
    enabled: bool,
}

fn cheapest() -> String {
    "PriceClass_100".into()
}
fn yes() -> bool {
    true
}

pub struct Model;

impl KindModel for Model {
    fn section(&self) -> &'static str {
        "distributions"
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn outputs(&self) -> &'static [&'static str] {
        &["id", "arn", "domain_name"]
    }
    fn build(&self, cx: &mut Cx, name: &str, body: serde_yaml::Value) -> Vec<Desired> {
        let Some(spec) = cx.parse::<Spec>(body) else {
            return vec![];
        };
        if !PRICE_CLASSES.contains(&spec.price_class.as_str()) {
            cx.error("price_class", format!("unknown price class `{}`: use {}", spec.price_class, PRICE_CLASSES.join(", ")));
        }
        if let Some(p) = &spec.origin_path {
            if !p.starts_with('/') || p.ends_with('/') {
                cx.error("origin_path", "an origin path starts with / and does not end with /");
            }
        }
        if let Some(o) = &spec.default_root_object {
            if o.starts_with('/') || o.is_empty() {
                cx.error("default_root_object", "the default root object is an object name like index.html, without a leading /");
            }
        }
        let mut props = Props::new();
        props.insert("comment".into(), cx.physical_name(name).into());
        props.insert("origin".into(), cx.reference_attr("origin_bucket", &spec.origin_bucket, "domain", &[super::bucket::KIND]));
        props.insert("origin_path".into(), spec.origin_path.unwrap_or_default().into());
        props.insert("default_root_object".into(), spec.default_root_object.unwrap_or_default().into());
        props.insert("price_class".into(), spec.price_class.into());
        props.insert("enabled".into(), spec.enabled.into());
        props.insert("tags".into(), cx.tags());
        vec![Desired::new(KIND, name, props)]
    }

    fn check(&self, cx: &mut Cx, d: &Desired, all: &std::collections::BTreeMap<String, Desired>) {
        // The bucket must let this distribution read it (and only those it names).
        let Some((bucket, _)) = d.props.get("origin").and_then(crate::engine::as_ref) else { return };
        let allowed = all
            .get(&format!("{bucket}.policy"))
            .and_then(|p| p.props.get("policy"))
            .map(|p| p.to_string().contains(&format!("\"$ref\":\"{}\"", d.name)))
            .unwrap_or(false);
        if !allowed {
            cx.error_hint(
                "origin_bucket",
                format!("bucket `{bucket}` does not let distribution `{}` read it", d.name),
                format!("add `cloudfront_access: [{}]` to bucket `{bucket}`", d.name),
            );
        }
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![Arc::new(Cloud(cx.clone()))]
}

pub struct Cloud(pub Arc<Context>);

fn ser(op: &str) -> impl Fn(aws_smithy_types::error::operation::BuildError) -> CloudError + '_ {
    move |e| CloudError::new(op, e.to_string())
}

impl Cloud {
    fn cf(&self) -> &aws_sdk_cloudfront::Client {
        &self.0.aws.cloudfront
    }

    fn config(&self, props: &Props, oac: &str, caller_reference: String) -> Result<DistributionConfig, CloudError> {
        let op = "cloudfront:CreateDistribution";
        let origin_id = format!("{}-origin", str_prop(props, "comment")?);
        let origin = Origin::builder()
            .id(&origin_id)
            .domain_name(str_prop(props, "origin")?)
            .origin_path(props.get("origin_path").and_then(Value::as_str).unwrap_or(""))
            .s3_origin_config(S3OriginConfig::builder().origin_access_identity("").build())
            .origin_access_control_id(oac)
            .build()
            .map_err(ser(op))?;
        let behavior = DefaultCacheBehavior::builder()
            .target_origin_id(&origin_id)
            .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
            .cache_policy_id(CACHING_OPTIMIZED)
            .compress(true)
            .build()
            .map_err(ser(op))?;
        DistributionConfig::builder()
            .caller_reference(caller_reference)
            .comment(str_prop(props, "comment")?)
            .enabled(bool_prop(props, "enabled"))
            .default_root_object(props.get("default_root_object").and_then(Value::as_str).unwrap_or(""))
            .price_class(PriceClass::from(str_prop(props, "price_class")?))
            .origins(Origins::builder().quantity(1).items(origin).build().map_err(ser(op))?)
            .default_cache_behavior(behavior)
            .build()
            .map_err(ser(op))
    }

    /// The Origin Access Control named after the distribution (created if missing).
    async fn oac(&self, name: &str, create: bool) -> Result<Option<String>, CloudError> {
        let list = self.cf().list_origin_access_controls().send().await.map_err(|e| err("cloudfront:ListOriginAccessControls", e))?;
        let found = list
            .origin_access_control_list()
            .map(|l| l.items().iter().find(|o| o.name() == name).map(|o| o.id().to_string()))
            .unwrap_or_default();
        if found.is_some() || !create {
            return Ok(found);
        }
        let cfg = OriginAccessControlConfig::builder()
            .name(name)
            .description("provision: S3 origin access")
            .signing_protocol(OriginAccessControlSigningProtocols::Sigv4)
            .signing_behavior(OriginAccessControlSigningBehaviors::Always)
            .origin_access_control_origin_type(OriginAccessControlOriginTypes::S3)
            .build()
            .map_err(ser("cloudfront:CreateOriginAccessControl"))?;
        // Sent once; when the answer is lost (or a repeat is refused as existing), the
        // control is looked up by its name.
        let lookup = || async {
            let list = self.cf().list_origin_access_controls().send().await.map_err(|e| err("cloudfront:ListOriginAccessControls", e))?;
            Ok(list.origin_access_control_list().and_then(|l| l.items().iter().find(|o| o.name() == name).map(|o| o.id().to_string())))
        };
        let created = super::create_once(
            || async {
                let out = self
                    .cf()
                    .create_origin_access_control()
                    .origin_access_control_config(cfg.clone())
                    .customize()
                    .config_override(super::no_retries!(aws_sdk_cloudfront))
                    .send()
                    .await
                    .map_err(|e| err("cloudfront:CreateOriginAccessControl", e))?;
                out.origin_access_control().map(|o| o.id().to_string()).ok_or_else(|| CloudError::new("cloudfront:CreateOriginAccessControl", "no id in the answer"))
            },
            lookup,
        )
        .await;
        match created {
            Ok(id) => Ok(Some(id)),
            Err(e) if e.has_code("OriginAccessControlAlreadyExists") => lookup().await,
            Err(e) => Err(e),
        }
    }

    fn observe(&self, d: &aws_sdk_cloudfront::types::Distribution, tags: &std::collections::BTreeMap<String, String>) -> Option<Observed> {
        let cfg = d.distribution_config()?;
        let origin = cfg.origins().and_then(|o| o.items().first());
        Some(
            Observed::new(KIND, tags.get(TAG_NAME)?.clone(), d.id())
                .with_prop("comment", cfg.comment())
                .with_prop("origin", origin.map(|o| o.domain_name()).unwrap_or_default())
                .with_prop("origin_path", origin.and_then(|o| o.origin_path()).unwrap_or_default())
                .with_prop("default_root_object", cfg.default_root_object().unwrap_or_default())
                .with_prop("price_class", cfg.price_class().map(|p| p.as_str()).unwrap_or("PriceClass_All"))
                .with_prop("enabled", cfg.enabled())
                .with_prop("tags", serde_json::to_value(tags).unwrap_or(Value::Null))
                .with_output("arn", d.arn())
                .with_output("domain_name", d.domain_name()),
        )
    }

    async fn tags(&self, arn: &str) -> Result<std::collections::BTreeMap<String, String>, CloudError> {
        let t = self.cf().list_tags_for_resource().resource(arn).send().await.map_err(|e| err("cloudfront:ListTagsForResource", e))?;
        Ok(t.tags().map(|t| t.items().iter().map(|t| (t.key().to_string(), t.value().unwrap_or("").to_string())).collect()).unwrap_or_default())
    }
}

#[async_trait]
impl ResourceKind for Cloud {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn needs_wait(&self) -> bool {
        true
    }

    fn wait_policy(&self) -> WaitPolicy {
        WaitPolicy {
            timeout: Duration::from_secs(60 * 60),
            first_interval: Duration::from_secs(2),
            max_interval: Duration::from_secs(30),
        }
    }

    async fn discover(&self) -> Result<Vec<Observed>, CloudError> {
        let list = self.cf().list_distributions().into_paginator().items().send().collect::<Result<Vec<_>, _>>().await.map_err(|e| err("cloudfront:ListDistributions", e))?;
        let prefix = format!("{}-", self.0.stack);
        let mut out = Vec::new();
        for s in list.iter().filter(|s| s.comment().starts_with(&prefix)) {
            let tags = self.tags(s.arn()).await?;
            if tags.get(TAG_STACK) != Some(&self.0.stack) {
                continue;
            }
            let d = self.cf().get_distribution().id(s.id()).send().await.map_err(|e| err("cloudfront:GetDistribution", e))?;
            if let Some(o) = d.distribution().and_then(|d| self.observe(d, &tags)) {
                out.push(o);
            }
        }
        Ok(out)
    }

    async fn create(&self, name: &str, props: &Props) -> Result<Observed, CloudError> {
        let comment = str_prop(props, "comment")?.to_string();
        let oac = self.oac(&comment, true).await?.ok_or_else(|| CloudError::new("cloudfront:CreateOriginAccessControl", "no id in the answer"))?;
        let cfg = self.config(props, &oac, client_token(&self.0.stack, name, props))?;
        let tags = desired_tags(props)
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(ser("cloudfront:CreateDistributionWithTags")))
            .collect::<Result<Vec<_>, _>>()?;
        let out = self
            .cf()
            .create_distribution_with_tags()
            .distribution_config_with_tags(
                DistributionConfigWithTags::builder()
                    .distribution_config(cfg)
                    .tags(Tags::builder().set_items(Some(tags)).build())
                    .build(),
            )
            .send()
            .await
            .map_err(|e| err("cloudfront:CreateDistributionWithTags", e))?;
        let d = out.distribution().ok_or_else(|| CloudError::new("cloudfront:CreateDistributionWithTags", "no distribution in the answer"))?;
        let mut o = Observed::new(KIND, name, d.id()).with_output("arn", d.arn()).with_output("domain_name", d.domain_name());
        o.props = props.clone();
        Ok(o)
    }

    async fn update(&self, name: &str, props: &Props, current: &Observed, changed: &[String]) -> Result<Observed, CloudError> {
        if changed.iter().any(|c| c != "tags") {
            let got = self.cf().get_distribution_config().id(&current.id).send().await.map_err(|e| err("cloudfront:GetDistributionConfig", e))?;
            let reference = got.distribution_config().map(|c| c.caller_reference().to_string()).unwrap_or_default();
            let oac = self.oac(str_prop(props, "comment")?, true).await?.unwrap_or_default();
            let cfg = self.config(props, &oac, reference)?;
            self.cf()
                .update_distribution()
                .id(&current.id)
                .set_if_match(got.e_tag().map(str::to_string))
                .distribution_config(cfg)
                .send()
                .await
                .map_err(|e| err("cloudfront:UpdateDistribution", e))?;
        }
        if changed.iter().any(|c| c == "tags") {
            let arn = current.outputs.get("arn").cloned().unwrap_or_default();
            let tags = desired_tags(props)
                .into_iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(ser("cloudfront:TagResource")))
                .collect::<Result<Vec<_>, _>>()?;
            self.cf().tag_resource().resource(&arn).tags(Tags::builder().set_items(Some(tags)).build()).send().await.map_err(|e| err("cloudfront:TagResource", e))?;
        }
        Ok(current.updated(name, props))
    }

    async fn delete(&self, current: &Observed) -> Result<(), CloudError> {
        let got = match self.cf().get_distribution_config().id(&current.id).send().await.map_err(|e| err("cloudfront:GetDistributionConfig", e)) {
            Err(e) if e.has_code("NoSuchDistribution") => return self.delete_oac(current).await,
            other => other?,
        };
        let etag = got.e_tag().map(str::to_string);
        let cfg = got.distribution_config().cloned().ok_or_else(|| CloudError::new("cloudfront:GetDistributionConfig", "no configuration"))?;
        if cfg.enabled() {
            // Step 1: disable. The wait then sees it deploying, then settled, and calls again.
            let mut off = cfg.clone();
            off.enabled = false;
            self.cf().update_distribution().id(&current.id).set_if_match(etag).distribution_config(off).send().await.map_err(|e| err("cloudfront:UpdateDistribution", e))?;
            return Ok(());
        }
        // Step 2: delete (only accepted once the disabled configuration is deployed).
        match self.cf().delete_distribution().id(&current.id).set_if_match(etag).send().await.map_err(|e| err("cloudfront:DeleteDistribution", e)) {
            Err(e) if e.has_code("NoSuchDistribution") => {}
            Err(e) if e.has_code("DistributionNotDisabled") => return Ok(()),
            other => {
                other?;
            }
        }
        self.delete_oac(current).await
    }

    async fn status(&self, current: &Observed) -> Result<Status, CloudError> {
        match self.cf().get_distribution().id(&current.id).send().await.map_err(|e| err("cloudfront:GetDistribution", e)) {
            Err(e) if e.has_code("NoSuchDistribution") => Ok(Status::Missing),
            Err(e) => Err(e),
            Ok(d) => Ok(match d.distribution().map(|d| d.status()) {
                Some("Deployed") => Status::Ready,
                Some(s) => Status::Pending(s.to_lowercase()),
                None => Status::Missing,
            }),
        }
    }
}

impl Cloud {
    async fn delete_oac(&self, current: &Observed) -> Result<(), CloudError> {
        let name = current.props.get("comment").and_then(Value::as_str).unwrap_or_default().to_string();
        let Some(id) = self.oac(&name, false).await? else { return Ok(()) };
        let got = self.cf().get_origin_access_control().id(&id).send().await.map_err(|e| err("cloudfront:GetOriginAccessControl", e))?;
        match self.cf().delete_origin_access_control().id(&id).set_if_match(got.e_tag().map(str::to_string)).send().await.map_err(|e| err("cloudfront:DeleteOriginAccessControl", e)) {
            Err(e) if e.has_code("NoSuchOriginAccessControl") => Ok(()),
            other => other.map(|_| ()),
        }
    }
}
