//! CloudFront distribution serving a bucket of the stack through an Origin Access Control;
//! the bucket lets only this distribution read, through its `cloudfront_access`. Takes
//! 5-30 minutes to deploy. Deleting is two steps: disable, wait until deployed, delete.
//!
//! The Origin Access Control is a resource of its own, `<name>.oac`, made before the
//! distribution and deleted after it. CloudFront cannot tag one: it carries the stack's
//! identity in its description, and only such a control is the stack's.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_cloudfront::types::{
    DefaultCacheBehavior, Distribution, DistributionConfig, DistributionConfigWithTags, Origin,
    OriginAccessControlConfig, OriginAccessControlOriginTypes, OriginAccessControlSigningBehaviors,
    OriginAccessControlSigningProtocols, OriginAccessControlSummary, Origins, PriceClass,
    S3OriginConfig, Tag, ViewerProtocolPolicy,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::aws::err;
use crate::engine::{
    as_ref, reference, CloudError, Deletion, Desired, KindInfo, Observed, ResourceKind, Shown,
    Status, WaitPolicy,
};
use crate::kinds::names;
use crate::kinds::support::retry::{client_token, create_once, in_use, no_retries};
use crate::kinds::support::tags::{check_home, identity, Tags};
use crate::kinds::support::{adapt, desired, props_of, Context, Found, Kind};
use crate::model::{Cx, KindModel, TAG_NAME, TAG_STACK};

pub static INFO: KindInfo = KindInfo {
    outputs: &["id", "arn", "domain_name"],
    shown: &[Shown {
        name: "url",
        template: "https://{domain_name}",
        about: "the distribution's address",
    }],
    // CloudFront does not always report the control an origin uses.
    write_only: &["oac"],
    wait: Some(
        WaitPolicy::new(
            Duration::from_secs(60 * 60),
            // Looks early at first (a small change can deploy in seconds); the usual
            // durations shape the rest.
            Duration::from_millis(500),
            Duration::from_secs(30),
        )
        .expecting(Duration::from_secs(300))
        .gone_within(Duration::from_secs(300)),
    ),
    ..KindInfo::new(names::DISTRIBUTION, "distributions", "cloudfront")
};

pub static OAC: KindInfo = KindInfo {
    replace: &["oac_name"],
    ..KindInfo::new(names::ORIGIN_ACCESS_CONTROL, "", "cloudfront")
};

/// The AWS managed cache policy "CachingOptimized".
const CACHING_OPTIMIZED: &str = "658327ea-f89d-4fab-a63d-7e88639e58f6";
const PRICE_CLASSES: &[&str] = &["PriceClass_100", "PriceClass_200", "PriceClass_All"];
const OAC_SUFFIX: &str = ".oac";

#[derive(Deserialize, schemars::JsonSchema)]
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

/// What is compared; `R` names the bucket's domain and the control (references, then
/// values).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Props<R = String> {
    pub comment: String,
    pub origin: R,
    pub origin_path: String,
    pub default_root_object: String,
    pub price_class: String,
    pub enabled: bool,
    pub oac: Option<R>,
    pub tags: Tags,
}

/// The Origin Access Control as compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OacProps {
    pub oac_name: String,
}

/// The description that carries a control's identity.
fn oac_description(stack: &str, name: &str) -> String {
    format!("{TAG_STACK}={stack} {TAG_NAME}={name}")
}

/// The distribution's name in the stack a control's description gives, if it is the stack's.
fn oac_identity(description: &str, stack: &str) -> Option<String> {
    let mut words = description.split_whitespace();
    let s = words.next()?.strip_prefix(&format!("{TAG_STACK}="))?;
    let n = words.next()?.strip_prefix(&format!("{TAG_NAME}="))?;
    (s == stack).then(|| n.to_string())
}

pub struct Model;

impl KindModel for Model {
    fn schema(&self, g: &mut schemars::SchemaGenerator) -> Option<schemars::Schema> {
        Some(g.subschema_for::<Spec>())
    }

    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    fn build(&self, cx: &mut Cx, name: &str, body: serde_yaml_ng::Value) -> Vec<Desired> {
        let Some(spec) = cx.parse::<Spec>(body) else {
            return vec![];
        };
        if !PRICE_CLASSES.contains(&spec.price_class.as_str()) {
            cx.error(
                "price_class",
                format!(
                    "unknown price class `{}`: use {}",
                    spec.price_class,
                    PRICE_CLASSES.join(", ")
                ),
            );
        }
        if let Some(p) = &spec.origin_path {
            if !p.starts_with('/') || p.ends_with('/') {
                cx.error(
                    "origin_path",
                    "an origin path starts with / and does not end with /",
                );
            }
        }
        if let Some(o) = &spec.default_root_object {
            if o.starts_with('/') || o.is_empty() {
                cx.error(
                    "default_root_object",
                    "the default root object is an object name like index.html, without a leading /",
                );
            }
        }
        let comment = cx.physical_name(name);
        let oac_name = format!("{name}{OAC_SUFFIX}");
        let oac = OacProps {
            oac_name: comment.clone(),
        };
        let props = Props {
            comment,
            origin: cx.reference_attr(
                "origin_bucket",
                &spec.origin_bucket,
                "domain",
                &[names::BUCKET],
            ),
            origin_path: spec.origin_path.unwrap_or_default(),
            default_root_object: spec.default_root_object.unwrap_or_default(),
            price_class: spec.price_class,
            enabled: spec.enabled,
            oac: Some(reference(&oac_name)),
            tags: cx.global_tags(),
        };
        vec![desired(&OAC, &oac_name, &oac), desired(&INFO, name, &props)]
    }

    fn check(&self, cx: &mut Cx, d: &Desired, all: &BTreeMap<String, Desired>) {
        // The bucket must let this distribution read it (and only those it names).
        let Some(p) = props_of::<Props<Value>>(d) else {
            return;
        };
        let Some((bucket, _)) = as_ref(&p.origin) else {
            return;
        };
        let allowed = all
            .get(&format!("{bucket}.policy"))
            .and_then(|p| p.props.get("policy"))
            .map(|p| p.to_string().contains(&format!("\"$ref\":\"{}\"", d.name)))
            .unwrap_or(false);
        if !allowed {
            cx.error_hint(
                "origin_bucket",
                format!(
                    "bucket `{bucket}` does not let distribution `{}` read it",
                    d.name
                ),
                format!("add `cloudfront_access: [{}]` to bucket `{bucket}`", d.name),
            );
        }
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![
        adapt(DistributionKind(cx.clone())),
        adapt(AccessControl(cx.clone())),
    ]
}

pub struct DistributionKind(pub Arc<Context>);

fn built(op: &str) -> impl Fn(aws_smithy_types::error::operation::BuildError) -> CloudError + '_ {
    move |e| CloudError::new(op, e.to_string())
}

impl DistributionKind {
    fn cf(&self) -> &aws_sdk_cloudfront::Client {
        &self.0.aws.cloudfront
    }

    fn config(
        &self,
        p: &Props,
        caller_reference: String,
    ) -> Result<DistributionConfig, CloudError> {
        let op = "cloudfront:CreateDistribution";
        let origin_id = format!("{}-origin", p.comment);
        let origin = Origin::builder()
            .id(&origin_id)
            .domain_name(&p.origin)
            .origin_path(&p.origin_path)
            .s3_origin_config(S3OriginConfig::builder().origin_access_identity("").build())
            .set_origin_access_control_id(p.oac.clone())
            .build()
            .map_err(built(op))?;
        let behavior = DefaultCacheBehavior::builder()
            .target_origin_id(&origin_id)
            .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
            .cache_policy_id(CACHING_OPTIMIZED)
            .compress(true)
            .build()
            .map_err(built(op))?;
        DistributionConfig::builder()
            .caller_reference(caller_reference)
            .comment(&p.comment)
            .enabled(p.enabled)
            .default_root_object(&p.default_root_object)
            .price_class(PriceClass::from(p.price_class.as_str()))
            .origins(
                Origins::builder()
                    .quantity(1)
                    .items(origin)
                    .build()
                    .map_err(built(op))?,
            )
            .default_cache_behavior(behavior)
            .build()
            .map_err(built(op))
    }

    async fn tags(&self, arn: &str) -> Result<Tags, CloudError> {
        let t = self
            .cf()
            .list_tags_for_resource()
            .resource(arn)
            .send()
            .await
            .map_err(|e| err("cloudfront:ListTagsForResource", e))?;
        Ok(crate::kinds::support::tags::visible(
            t.tags()
                .map(|t| t.items())
                .unwrap_or_default()
                .iter()
                .map(|t| (t.key(), t.value().unwrap_or(""))),
        ))
    }

    fn cf_tags(tags: &Tags) -> Result<aws_sdk_cloudfront::types::Tags, CloudError> {
        let items = tags
            .iter()
            .map(|(k, v)| {
                Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .map_err(built("cloudfront:TagResource"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(aws_sdk_cloudfront::types::Tags::builder()
            .set_items(Some(items))
            .build())
    }

    async fn get(&self, id: &str) -> Result<Option<Distribution>, CloudError> {
        match self
            .cf()
            .get_distribution()
            .id(id)
            .send()
            .await
            .map_err(|e| err("cloudfront:GetDistribution", e))
        {
            Err(e) if e.has_code("NoSuchDistribution") => Ok(None),
            Err(e) => Err(e),
            Ok(d) => Ok(d.distribution),
        }
    }
}

#[async_trait]
impl Kind for DistributionKind {
    type Props = Props;
    type Remote = (Distribution, Tags);

    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    async fn list(&self, _parents: &[Observed]) -> Result<Vec<Self::Remote>, CloudError> {
        let list = self
            .cf()
            .list_distributions()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| err("cloudfront:ListDistributions", e))?;
        let prefix = format!("{}-", self.0.stack());
        let mut out = Vec::new();
        for s in list.iter().filter(|s| s.comment().starts_with(&prefix)) {
            let tags = self.tags(s.arn()).await?;
            if identity(&tags, self.0.stack()).is_none() {
                continue;
            }
            check_home(
                "cloudfront:ListDistributions",
                "distribution",
                s.id(),
                &tags,
                &self.0.scope,
            )?;
            if let Some(d) = self.get(s.id()).await? {
                out.push((d, tags));
            }
        }
        Ok(out)
    }

    fn observe(&self, (d, tags): &Self::Remote) -> Option<Found<Props>> {
        let name = identity(tags, self.0.stack())?;
        let cfg = d.distribution_config()?;
        let origin = cfg.origins().and_then(|o| o.items().first());
        let props = Props {
            comment: cfg.comment().to_string(),
            origin: origin
                .map(|o| o.domain_name())
                .unwrap_or_default()
                .to_string(),
            origin_path: origin
                .and_then(|o| o.origin_path())
                .unwrap_or_default()
                .to_string(),
            default_root_object: cfg.default_root_object().unwrap_or_default().to_string(),
            price_class: cfg
                .price_class()
                .map(|p| p.as_str())
                .unwrap_or("PriceClass_All")
                .to_string(),
            enabled: cfg.enabled(),
            oac: origin
                .and_then(|o| o.origin_access_control_id())
                .filter(|o| !o.is_empty())
                .map(str::to_string),
            tags: tags.clone(),
        };
        Some(
            Found::new(name, d.id(), props)
                .output("arn", d.arn())
                .output("domain_name", d.domain_name()),
        )
    }

    async fn find(&self, current: &Found<Props>) -> Result<Option<Self::Remote>, CloudError> {
        Ok(self
            .get(&current.id)
            .await?
            .map(|d| (d, current.props.tags.clone())))
    }

    fn state(&self, (d, _): &Self::Remote) -> Status {
        match d.status() {
            "Deployed" => Status::Ready,
            s => Status::Pending(s.to_lowercase()),
        }
    }

    async fn create(&self, name: &str, want: &Props) -> Result<Found<Props>, CloudError> {
        // A fresh caller reference per create: CloudFront remembers references.
        let cfg = self.config(want, client_token(self.0.stack(), name))?;
        let out = self
            .cf()
            .create_distribution_with_tags()
            .distribution_config_with_tags(
                DistributionConfigWithTags::builder()
                    .distribution_config(cfg)
                    .tags(Self::cf_tags(&want.tags)?)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| err("cloudfront:CreateDistributionWithTags", e))?;
        let d = out.distribution().ok_or_else(|| {
            CloudError::new(
                "cloudfront:CreateDistributionWithTags",
                "no distribution in the answer",
            )
        })?;
        Ok(Found::new(name, d.id(), want.clone())
            .output("arn", d.arn())
            .output("domain_name", d.domain_name()))
    }

    async fn update(
        &self,
        current: &Found<Props>,
        want: &Props,
    ) -> Result<Found<Props>, CloudError> {
        let have = &current.props;
        let settings = |p: &Props| {
            let mut p = p.clone();
            p.tags = Tags::new();
            p.oac = None;
            p
        };
        if settings(have) != settings(want) {
            let got = self
                .cf()
                .get_distribution_config()
                .id(&current.id)
                .send()
                .await
                .map_err(|e| err("cloudfront:GetDistributionConfig", e))?;
            let reference = got
                .distribution_config()
                .map(|c| c.caller_reference().to_string())
                .unwrap_or_default();
            let cfg = self.config(want, reference)?;
            self.cf()
                .update_distribution()
                .id(&current.id)
                .set_if_match(got.e_tag().map(str::to_string))
                .distribution_config(cfg)
                .send()
                .await
                .map_err(|e| err("cloudfront:UpdateDistribution", e))?;
        }
        if have.tags != want.tags {
            let arn = current.outputs.get("arn").cloned().unwrap_or_default();
            let unset: Vec<String> = have
                .tags
                .keys()
                .filter(|k| !want.tags.contains_key(*k))
                .cloned()
                .collect();
            if !unset.is_empty() {
                let keys = aws_sdk_cloudfront::types::TagKeys::builder()
                    .set_items(Some(unset))
                    .build();
                self.cf()
                    .untag_resource()
                    .resource(&arn)
                    .tag_keys(keys)
                    .send()
                    .await
                    .map_err(|e| err("cloudfront:UntagResource", e))?;
            }
            self.cf()
                .tag_resource()
                .resource(&arn)
                .tags(Self::cf_tags(&want.tags)?)
                .send()
                .await
                .map_err(|e| err("cloudfront:TagResource", e))?;
        }
        Ok(current.with_props(want.clone()))
    }

    async fn delete(&self, current: &Found<Props>) -> Result<Deletion, CloudError> {
        let got = match self
            .cf()
            .get_distribution_config()
            .id(&current.id)
            .send()
            .await
            .map_err(|e| err("cloudfront:GetDistributionConfig", e))
        {
            Err(e) if e.has_code("NoSuchDistribution") => return Ok(Deletion::Gone),
            other => other?,
        };
        let etag = got.e_tag().map(str::to_string);
        let cfg = got.distribution_config().cloned().ok_or_else(|| {
            CloudError::new("cloudfront:GetDistributionConfig", "no configuration")
        })?;
        if cfg.enabled() {
            // Step 1: disable; once that is deployed, the next step.
            let mut off = cfg.clone();
            off.enabled = false;
            self.cf()
                .update_distribution()
                .id(&current.id)
                .set_if_match(etag)
                .distribution_config(off)
                .send()
                .await
                .map_err(|e| err("cloudfront:UpdateDistribution", e))?;
            return Ok(Deletion::NextStepWhenSettled);
        }
        // Step 2: delete (only accepted once the disabled configuration is deployed).
        match self
            .cf()
            .delete_distribution()
            .id(&current.id)
            .set_if_match(etag)
            .send()
            .await
            .map_err(|e| err("cloudfront:DeleteDistribution", e))
        {
            Err(e) if e.has_code("NoSuchDistribution") => Ok(Deletion::Gone),
            Err(e) if e.has_code("DistributionNotDisabled") => Ok(Deletion::NextStepWhenSettled),
            other => other.map(|_| Deletion::Started),
        }
    }
}

/// The Origin Access Control of a distribution.
pub struct AccessControl(pub Arc<Context>);

impl AccessControl {
    fn cf(&self) -> &aws_sdk_cloudfront::Client {
        &self.0.aws.cloudfront
    }

    /// Every control of the account, page by page.
    async fn all(&self) -> Result<Vec<OriginAccessControlSummary>, CloudError> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .cf()
                .list_origin_access_controls()
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| err("cloudfront:ListOriginAccessControls", e))?;
            let Some(list) = page.origin_access_control_list() else {
                break;
            };
            out.extend(list.items().iter().cloned());
            match list
                .next_marker()
                .filter(|m| !m.is_empty() && list.is_truncated())
            {
                Some(m) => marker = Some(m.to_string()),
                None => break,
            }
        }
        Ok(out)
    }

    async fn by_name(&self, name: &str) -> Result<Option<OriginAccessControlSummary>, CloudError> {
        Ok(self.all().await?.into_iter().find(|o| o.name() == name))
    }
}

#[async_trait]
impl Kind for AccessControl {
    type Props = OacProps;
    type Remote = OriginAccessControlSummary;

    fn info(&self) -> &'static KindInfo {
        &OAC
    }

    async fn list(&self, _parents: &[Observed]) -> Result<Vec<Self::Remote>, CloudError> {
        self.all().await
    }

    fn observe(&self, o: &Self::Remote) -> Option<Found<OacProps>> {
        let name = oac_identity(o.description(), self.0.stack())?;
        Some(Found::new(
            format!("{name}{OAC_SUFFIX}"),
            o.id(),
            OacProps {
                oac_name: o.name().to_string(),
            },
        ))
    }

    async fn create(&self, name: &str, want: &OacProps) -> Result<Found<OacProps>, CloudError> {
        let distribution = name.strip_suffix(OAC_SUFFIX).unwrap_or(name);
        let cfg = OriginAccessControlConfig::builder()
            .name(&want.oac_name)
            .description(oac_description(self.0.stack(), distribution))
            .signing_protocol(OriginAccessControlSigningProtocols::Sigv4)
            .signing_behavior(OriginAccessControlSigningBehaviors::Always)
            .origin_access_control_origin_type(OriginAccessControlOriginTypes::S3)
            .build()
            .map_err(built("cloudfront:CreateOriginAccessControl"))?;
        // Sent once; when the answer is lost (or a repeat is refused as existing), the
        // control is looked up by its name, and taken only if it is the stack's.
        let lookup = || async {
            let found = self.by_name(&want.oac_name).await?;
            match found {
                Some(o) if oac_identity(o.description(), self.0.stack()).is_some() => {
                    Ok(Some(o.id().to_string()))
                }
                Some(o) => Err(CloudError::new(
                    "cloudfront:CreateOriginAccessControl",
                    format!(
                        "origin access control `{}` ({}) already exists and is not this stack's; nothing of it was changed",
                        want.oac_name,
                        o.id()
                    ),
                )
                .with_code("NameTaken")),
                None => Ok(None),
            }
        };
        let created = create_once(
            || async {
                let out = self
                    .cf()
                    .create_origin_access_control()
                    .origin_access_control_config(cfg.clone())
                    .customize()
                    .config_override(no_retries!(aws_sdk_cloudfront))
                    .send()
                    .await
                    .map_err(|e| err("cloudfront:CreateOriginAccessControl", e))?;
                out.origin_access_control()
                    .map(|o| o.id().to_string())
                    .ok_or_else(|| {
                        CloudError::new(
                            "cloudfront:CreateOriginAccessControl",
                            "no id in the answer",
                        )
                    })
            },
            lookup,
        )
        .await;
        let id = match created {
            Ok(id) => id,
            Err(e) if e.has_code("OriginAccessControlAlreadyExists") => lookup().await?.ok_or(e)?,
            Err(e) => return Err(e),
        };
        Ok(Found::new(name, id, want.clone()))
    }

    async fn update(
        &self,
        current: &Found<OacProps>,
        want: &OacProps,
    ) -> Result<Found<OacProps>, CloudError> {
        Ok(current.with_props(want.clone()))
    }

    async fn delete(&self, current: &Found<OacProps>) -> Result<Deletion, CloudError> {
        // In use until the distribution that reads through it is gone.
        let got = self
            .cf()
            .get_origin_access_control()
            .id(&current.id)
            .send()
            .await
            .map_err(|e| err("cloudfront:GetOriginAccessControl", e));
        let res = match got {
            Err(e) => Err(e),
            Ok(got) => in_use(
                self.cf()
                    .delete_origin_access_control()
                    .id(&current.id)
                    .set_if_match(got.e_tag().map(str::to_string))
                    .send()
                    .await
                    .map_err(|e| err("cloudfront:DeleteOriginAccessControl", e)),
                &["OriginAccessControlInUse"],
            ),
        };
        match res {
            Err(e) if e.has_code("NoSuchOriginAccessControl") => Ok(Deletion::Gone),
            other => other.map(|_| Deletion::Gone),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::support::testing::{self, assert_observes, context, out};
    use aws_sdk_cloudfront::types::DistributionConfig as Cfg;

    const FILE: &str = "buckets:\n  media: {cloudfront_access: [cdn]}\ndistributions:\n  cdn: {origin_bucket: media, default_root_object: index.html}\n";

    #[test]
    fn a_read_distribution_and_its_control_are_what_the_file_wants() {
        let origin = Origin::builder()
            .id("app-cdn-origin")
            .domain_name(out("media", "domain"))
            .origin_path("")
            .origin_access_control_id(out("cdn.oac", "id"))
            .build()
            .unwrap();
        let cfg = Cfg::builder()
            .caller_reference("r")
            .comment("app-cdn")
            .enabled(true)
            .default_root_object("index.html")
            .price_class(PriceClass::PriceClass100)
            .origins(
                Origins::builder()
                    .quantity(1)
                    .items(origin)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let d = Distribution::builder()
            .id("E123")
            .arn("arn:aws:cloudfront::1:distribution/E123")
            .status("Deployed")
            .domain_name("d1.cloudfront.net")
            .last_modified_time(aws_smithy_types::DateTime::from_secs(0))
            .in_progress_invalidation_batches(0)
            .distribution_config(cfg)
            .build()
            .unwrap();
        let remote = (d, testing::global_identity_tags("cdn"));
        assert_observes(DistributionKind(context()), &remote, FILE, "cdn");
        assert_eq!(DistributionKind(context()).state(&remote), Status::Ready);

        let summary = |description: String| {
            OriginAccessControlSummary::builder()
                .id(out("cdn.oac", "id"))
                .name("app-cdn")
                .description(description)
                .signing_protocol(OriginAccessControlSigningProtocols::Sigv4)
                .signing_behavior(OriginAccessControlSigningBehaviors::Always)
                .origin_access_control_origin_type(OriginAccessControlOriginTypes::S3)
                .build()
                .unwrap()
        };
        let ours = summary(oac_description("app", "cdn"));
        assert_observes(AccessControl(context()), &ours, FILE, "cdn.oac");
        assert!(AccessControl(context())
            .observe(&summary("made by hand".into()))
            .is_none());
        assert!(AccessControl(context())
            .observe(&summary(oac_description("app-2", "cdn")))
            .is_none());
    }
}
