//! Application Load Balancer: name and scheme (replacement); subnets and security groups
//! (in place), tags. Waits until active. Also the ELBv2 helpers the target group and
//! listener kinds share (tags by ARN, in batches).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{LoadBalancerSchemeEnum, LoadBalancerStateEnum, LoadBalancerTypeEnum, Tag};
use serde::Deserialize;
use serde_json::Value;

use super::ec2::{bool_prop, desired_tags, str_prop};
use super::Context;
use crate::aws::err;
use crate::engine::{CloudError, Desired, Observed, Props, ResourceKind, Status, WaitPolicy};
use crate::model::{Cx, KindModel, TAG_NAME, TAG_STACK};

pub const KIND: &str = "load_balancer";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    /// Public subnets in at least two zones.
    subnets: Vec<String>,
    security_groups: Vec<String>,
    #[serde(default)]
    internal: bool,
}

pub struct Model;

/// ELBv2 names: at most 32 letters, digits and hyphens.
pub fn check_elb_name(cx: &mut Cx, name: &str) -> String {
    let n = cx.physical_name(name);
    if n.len() > 32 {
        cx.error("", format!("`{n}` is longer than the 32 characters ELBv2 allows for a name; use a shorter name"));
    }
    n
}

impl KindModel for Model {
    fn section(&self) -> &'static str {
        "load_balancers"
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn outputs(&self) -> &'static [&'static str] {
        &["id", "arn", "arn_suffix", "dns_name"]
    }
    fn build(&self, cx: &mut Cx, name: &str, body: serde_yaml::Value) -> Vec<Desired> {
        let Some(spec) = cx.parse::<Spec>(body) else {
            return vec![];
        };
        let lb_name = check_elb_name(cx, name);
        if spec.subnets.len() < 2 {
            cx.error("subnets", "an Application Load Balancer needs subnets in at least two zones");
        }
        if spec.security_groups.is_empty() || spec.security_groups.len() > 5 {
            cx.error("security_groups", "a load balancer takes 1 to 5 security groups");
        }
        let subnets: Vec<Value> = spec.subnets.iter().enumerate().map(|(i, s)| cx.reference(&format!("subnets[{i}]"), s, &[super::subnet::KIND])).collect();
        let groups: Vec<Value> = spec
            .security_groups
            .iter()
            .enumerate()
            .map(|(i, g)| cx.reference(&format!("security_groups[{i}]"), g, &[super::security_group::KIND]))
            .collect();
        let mut props = Props::new();
        props.insert("lb_name".into(), lb_name.into());
        props.insert("internal".into(), spec.internal.into());
        props.insert("subnets".into(), subnets.into());
        props.insert("security_groups".into(), groups.into());
        props.insert("tags".into(), cx.tags());
        vec![Desired::new(KIND, name, props)]
    }

    fn check(&self, cx: &mut Cx, d: &Desired, all: &BTreeMap<String, Desired>) {
        let zones: Vec<String> = d
            .props
            .get("subnets")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| crate::engine::as_ref(v).and_then(|(n, _)| all.get(n)))
                    .filter_map(|s| s.props.get("zone").and_then(Value::as_str).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let mut distinct = zones.clone();
        distinct.sort();
        distinct.dedup();
        if zones.len() >= 2 && distinct.len() < 2 {
            cx.error("subnets", format!("the subnets are all in {}: an Application Load Balancer needs two zones", distinct.join(", ")));
        }
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![Arc::new(Cloud(cx.clone()))]
}

pub struct Cloud(pub Arc<Context>);

pub fn elb_tags(props: &Props) -> Vec<Tag> {
    desired_tags(props).into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

/// Tags of ELBv2 resources, 20 ARNs a call.
pub async fn tags_of(cx: &Context, arns: &[String]) -> Result<BTreeMap<String, BTreeMap<String, String>>, CloudError> {
    let mut out = BTreeMap::new();
    for chunk in arns.chunks(20) {
        let d = cx.aws.elb.describe_tags().set_resource_arns(Some(chunk.to_vec())).send().await.map_err(|e| err("elasticloadbalancing:DescribeTags", e))?;
        for td in d.tag_descriptions() {
            let tags = td.tags().iter().filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string()))).collect();
            out.insert(td.resource_arn().unwrap_or_default().to_string(), tags);
        }
    }
    Ok(out)
}

/// Bring an ELBv2 resource's tags to the desired ones.
pub async fn sync_elb_tags(cx: &Context, arn: &str, have: &Props, want: &Props) -> Result<(), CloudError> {
    let (_, unset) = super::tag_diff(have, want);
    if !unset.is_empty() {
        cx.aws.elb.remove_tags().resource_arns(arn).set_tag_keys(Some(unset)).send().await.map_err(|e| err("elasticloadbalancing:RemoveTags", e))?;
    }
    cx.aws.elb.add_tags().resource_arns(arn).set_tags(Some(elb_tags(want))).send().await.map_err(|e| err("elasticloadbalancing:AddTags", e))?;
    Ok(())
}

/// The stack's own load balancers (by name prefix and stack tag), with their tags.
pub async fn stack_load_balancers(cx: &Context) -> Result<Vec<(aws_sdk_elasticloadbalancingv2::types::LoadBalancer, BTreeMap<String, String>)>, CloudError> {
    let lbs: Vec<_> = cx
        .aws
        .elb
        .describe_load_balancers()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<_, _>>()
        .await
        .map_err(|e| err("elasticloadbalancing:DescribeLoadBalancers", e))?;
    let prefix = format!("{}-", cx.stack);
    let ours: Vec<_> = lbs.into_iter().filter(|l| l.load_balancer_name().is_some_and(|n| n.starts_with(&prefix))).collect();
    let arns: Vec<String> = ours.iter().filter_map(|l| l.load_balancer_arn().map(str::to_string)).collect();
    let tags = tags_of(cx, &arns).await?;
    Ok(ours
        .into_iter()
        .filter_map(|l| {
            let t = tags.get(l.load_balancer_arn()?)?.clone();
            (t.get(TAG_STACK) == Some(&cx.stack)).then_some((l, t))
        })
        .collect())
}

/// `app/<name>/<id>`: how CloudWatch names a load balancer (or `targetgroup/...`).
pub fn arn_suffix(arn: &str) -> String {
    if let Some((_, s)) = arn.split_once(":loadbalancer/") {
        return s.to_string();
    }
    if let Some((_, s)) = arn.split_once(":targetgroup/") {
        return format!("targetgroup/{s}");
    }
    String::new()
}

#[async_trait]
impl ResourceKind for Cloud {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn replace_fields(&self) -> &'static [&'static str] {
        &["lb_name", "internal"]
    }

    fn normalize(&self, props: &mut Props) {
        super::sort_string_lists(props, &["subnets", "security_groups"]);
    }

    fn needs_wait(&self) -> bool {
        true
    }

    fn wait_policy(&self) -> WaitPolicy {
        WaitPolicy {
            timeout: Duration::from_secs(10 * 60),
            ..WaitPolicy::default()
        }
    }

    async fn discover(&self) -> Result<Vec<Observed>, CloudError> {
        let found = stack_load_balancers(&self.0).await?;
        let arns: Vec<String> = found.iter().filter_map(|(l, _)| l.load_balancer_arn().map(str::to_string)).collect();
        let listeners = super::listener::discover_in(&self.0, &arns).await?;
        let mut out: Vec<Observed> = found
            .into_iter()
            .filter_map(|(l, tags)| {
                let name = tags.get(TAG_NAME)?.clone();
                let arn = l.load_balancer_arn()?.to_string();
                let mut subnets: Vec<String> = l.availability_zones().iter().filter_map(|z| z.subnet_id().map(str::to_string)).collect();
                subnets.sort();
                let mut groups: Vec<String> = l.security_groups().to_vec();
                groups.sort();
                Some(
                    Observed::new(KIND, name, &arn)
                        .with_prop("lb_name", l.load_balancer_name()?)
                        .with_prop("internal", l.scheme() == Some(&LoadBalancerSchemeEnum::Internal))
                        .with_prop("subnets", subnets)
                        .with_prop("security_groups", groups)
                        .with_prop("tags", serde_json::to_value(tags).unwrap_or(Value::Null))
                        .with_output("arn", &arn)
                        .with_output("arn_suffix", arn_suffix(&arn))
                        .with_output("dns_name", l.dns_name().unwrap_or_default()),
                )
            })
            .collect();
        out.extend(listeners);
        Ok(out)
    }

    async fn create(&self, name: &str, props: &Props) -> Result<Observed, CloudError> {
        let scheme = if bool_prop(props, "internal") { LoadBalancerSchemeEnum::Internal } else { LoadBalancerSchemeEnum::InternetFacing };
        let elb = &self.0.aws.elb;
        let lb_name = str_prop(props, "lb_name")?;
        // Repeating CreateLoadBalancer is harmless on AWS (same settings, same balancer),
        // but not everywhere: sent once, and looked up by name when the answer is lost.
        let lb = super::create_once(
            || async {
                let out = elb
                    .create_load_balancer()
                    .name(lb_name)
                    .r#type(LoadBalancerTypeEnum::Application)
                    .scheme(scheme.clone())
                    .set_subnets(Some(super::sorted_strings(props, "subnets")))
                    .set_security_groups(Some(super::sorted_strings(props, "security_groups")))
                    .set_tags(Some(elb_tags(props)))
                    .customize()
                    .config_override(super::no_retries!(aws_sdk_elasticloadbalancingv2))
                    .send()
                    .await
                    .map_err(|e| err("elasticloadbalancing:CreateLoadBalancer", e))?;
                out.load_balancers().first().cloned().ok_or_else(|| CloudError::new("elasticloadbalancing:CreateLoadBalancer", "no load balancer in the answer"))
            },
            || async {
                let res = elb.describe_load_balancers().names(lb_name).send().await.map_err(|e| err("elasticloadbalancing:DescribeLoadBalancers", e));
                match res {
                    Ok(out) => Ok(out.load_balancers().first().cloned()),
                    Err(e) if e.has_code("LoadBalancerNotFound") => Ok(None),
                    Err(e) => Err(e),
                }
            },
        )
        .await?;
        let arn = lb.load_balancer_arn().unwrap_or_default().to_string();
        let mut o = Observed::new(KIND, name, &arn)
            .with_output("arn", &arn)
            .with_output("arn_suffix", arn_suffix(&arn))
            .with_output("dns_name", lb.dns_name().unwrap_or_default());
        o.props = props.clone();
        Ok(o)
    }

    async fn update(&self, name: &str, props: &Props, current: &Observed, changed: &[String]) -> Result<Observed, CloudError> {
        let elb = &self.0.aws.elb;
        let has = |f: &str| changed.iter().any(|c| c == f);
        if has("subnets") {
            elb.set_subnets().load_balancer_arn(&current.id).set_subnets(Some(super::sorted_strings(props, "subnets"))).send().await.map_err(|e| err("elasticloadbalancing:SetSubnets", e))?;
        }
        if has("security_groups") {
            elb.set_security_groups()
                .load_balancer_arn(&current.id)
                .set_security_groups(Some(super::sorted_strings(props, "security_groups")))
                .send()
                .await
                .map_err(|e| err("elasticloadbalancing:SetSecurityGroups", e))?;
        }
        if has("tags") {
            sync_elb_tags(&self.0, &current.id, &current.props, props).await?;
        }
        Ok(current.updated(name, props))
    }

    async fn delete(&self, current: &Observed) -> Result<(), CloudError> {
        match self.0.aws.elb.delete_load_balancer().load_balancer_arn(&current.id).send().await.map_err(|e| err("elasticloadbalancing:DeleteLoadBalancer", e)) {
            Err(e) if e.has_code("LoadBalancerNotFound") => Ok(()),
            other => other.map(|_| ()),
        }
    }

    async fn status(&self, current: &Observed) -> Result<Status, CloudError> {
        let d = match self.0.aws.elb.describe_load_balancers().load_balancer_arns(&current.id).send().await.map_err(|e| err("elasticloadbalancing:DescribeLoadBalancers", e)) {
            Err(e) if e.has_code("LoadBalancerNotFound") => return Ok(Status::Missing),
            other => other?,
        };
        let Some(state) = d.load_balancers().first().and_then(|l| l.state()) else {
            return Ok(Status::Missing);
        };
        Ok(match state.code() {
            Some(LoadBalancerStateEnum::Active) => Status::Ready,
            Some(LoadBalancerStateEnum::Failed) => Status::Failed(state.reason().unwrap_or("failed").to_string()),
            Some(c) => Status::Pending(c.as_str().to_string()),
            None => Status::Pending("unknown".into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::arn_suffix;

    #[test]
    fn cloudwatch_dimension_names() {
        assert_eq!(arn_suffix("arn:aws:elasticloadbalancing:eu-west-3:1:loadbalancer/app/s-web/50dc6c495c0c9188"), "app/s-web/50dc6c495c0c9188");
        assert_eq!(arn_suffix("arn:aws:elasticloadbalancing:eu-west-3:1:targetgroup/s-tg/73e2d6bc24d8a067"), "targetgroup/s-tg/73e2d6bc24d8a067");
    }
}
