//! Application Load Balancer: name and scheme (replacement); subnets and security groups
//! (in place), tags. Waits until active.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{
    LoadBalancer, LoadBalancerSchemeEnum, LoadBalancerStateEnum, LoadBalancerTypeEnum,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{arn_suffix, check_name, sdk_tags, tags_by_arn, ElbTags};
use crate::aws::err;
use crate::engine::{
    CloudError, Deletion, Desired, KindInfo, Observed, ResourceKind, Shown, Status, WaitPolicy,
};
use crate::kinds::names;
use crate::kinds::support::props::check_two_zones;
use crate::kinds::support::retry::{create_once, no_retries};
use crate::kinds::support::tags::{identity, sync_tags, Tags};
use crate::kinds::support::{adapt, desired, props_of, Context, Found, Kind};
use crate::model::{Cx, KindModel};

pub static INFO: KindInfo = KindInfo {
    outputs: &["id", "arn", "arn_suffix", "dns_name"],
    shown: &[Shown {
        name: "dns_name",
        template: "{dns_name}",
        about: "the load balancer's address (its listeners say the ports)",
    }],
    replace: &["lb_name", "internal"],
    wait: Some(
        WaitPolicy::new(
            Duration::from_secs(10 * 60),
            Duration::from_millis(200),
            Duration::from_secs(15),
        )
        .expecting(Duration::from_secs(180)),
    ),
    // An internet-facing balancer needs its VPC's internet gateway attached.
    create_after: &[names::INTERNET_GATEWAY],
    ..KindInfo::new(
        names::LOAD_BALANCER,
        "load_balancers",
        "elasticloadbalancing",
    )
};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Spec {
    /// Public subnets in at least two zones.
    subnets: Vec<String>,
    security_groups: Vec<String>,
    #[serde(default)]
    internal: bool,
}

/// What is compared; `R` names subnets and groups (references, then ids).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Props<R = String> {
    pub lb_name: String,
    pub internal: bool,
    pub subnets: Vec<R>,
    pub security_groups: Vec<R>,
    pub tags: Tags,
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
        let lb_name = check_name(cx, name);
        if spec.subnets.len() < 2 {
            cx.error(
                "subnets",
                "an Application Load Balancer needs subnets in at least two zones",
            );
        }
        if spec.security_groups.is_empty() || spec.security_groups.len() > 5 {
            cx.error(
                "security_groups",
                "a load balancer takes 1 to 5 security groups",
            );
        }
        let subnets = spec
            .subnets
            .iter()
            .enumerate()
            .map(|(i, s)| cx.reference(&format!("subnets[{i}]"), s, &[names::SUBNET]))
            .collect();
        let security_groups = spec
            .security_groups
            .iter()
            .enumerate()
            .map(|(i, g)| {
                cx.reference(
                    &format!("security_groups[{i}]"),
                    g,
                    &[names::SECURITY_GROUP],
                )
            })
            .collect();
        let props = Props {
            lb_name,
            internal: spec.internal,
            subnets,
            security_groups,
            tags: cx.tags(),
        };
        vec![desired(&INFO, name, &props)]
    }

    fn check(&self, cx: &mut Cx, d: &Desired, all: &BTreeMap<String, Desired>) {
        let Some(p) = props_of::<Props<Value>>(d) else {
            return;
        };
        check_two_zones(cx, "an Application Load Balancer", &p.subnets, all);
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![adapt(LoadBalancerKind(cx.clone()))]
}

pub struct LoadBalancerKind(pub Arc<Context>);

/// A load balancer with its tags (read by a separate, batched call).
pub type Remote = (LoadBalancer, Tags);

/// The stack's load balancers: those named with the stack's prefix and carrying its tag.
pub async fn stack_load_balancers(cx: &Context) -> Result<Vec<Remote>, CloudError> {
    let lbs: Vec<LoadBalancer> = cx
        .aws
        .elb
        .describe_load_balancers()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<_, _>>()
        .await
        .map_err(|e| err("elasticloadbalancing:DescribeLoadBalancers", e))?;
    let prefix = format!("{}-", cx.stack());
    let ours: Vec<LoadBalancer> = lbs
        .into_iter()
        .filter(|l| {
            l.load_balancer_name()
                .is_some_and(|n| n.starts_with(&prefix))
        })
        .collect();
    let arns: Vec<String> = ours
        .iter()
        .filter_map(|l| l.load_balancer_arn().map(str::to_string))
        .collect();
    let mut tags = tags_by_arn(cx, &arns).await?;
    Ok(ours
        .into_iter()
        .filter_map(|l| {
            let t = tags.remove(l.load_balancer_arn()?)?;
            Some((l, t))
        })
        .collect())
}

fn outputs(f: Found<Props>, arn: &str, dns: &str) -> Found<Props> {
    f.output("arn", arn)
        .output("arn_suffix", arn_suffix(arn))
        .output("dns_name", dns)
}

#[async_trait]
impl Kind for LoadBalancerKind {
    type Props = Props;
    type Remote = Remote;

    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    fn normalize(p: &mut Props) {
        p.subnets.sort();
        p.security_groups.sort();
    }

    async fn list(&self, _parents: &[Observed]) -> Result<Vec<Remote>, CloudError> {
        stack_load_balancers(&self.0).await
    }

    fn observe(&self, (l, tags): &Remote) -> Option<Found<Props>> {
        let name = identity(tags, self.0.stack())?;
        let arn = l.load_balancer_arn()?;
        let mut subnets: Vec<String> = l
            .availability_zones()
            .iter()
            .filter_map(|z| z.subnet_id().map(str::to_string))
            .collect();
        subnets.sort();
        let mut security_groups = l.security_groups().to_vec();
        security_groups.sort();
        let props = Props {
            lb_name: l.load_balancer_name()?.to_string(),
            internal: l.scheme() == Some(&LoadBalancerSchemeEnum::Internal),
            subnets,
            security_groups,
            tags: tags.clone(),
        };
        Some(outputs(
            Found::new(name, arn, props),
            arn,
            l.dns_name().unwrap_or_default(),
        ))
    }

    async fn find(&self, current: &Found<Props>) -> Result<Option<Remote>, CloudError> {
        match self
            .0
            .aws
            .elb
            .describe_load_balancers()
            .load_balancer_arns(&current.id)
            .send()
            .await
            .map_err(|e| err("elasticloadbalancing:DescribeLoadBalancers", e))
        {
            Err(e) if e.has_code("LoadBalancerNotFound") => Ok(None),
            Err(e) => Err(e),
            Ok(out) => Ok(out
                .load_balancers
                .unwrap_or_default()
                .into_iter()
                .next()
                .map(|l| (l, current.props.tags.clone()))),
        }
    }

    fn state(&self, (l, _): &Remote) -> Status {
        let Some(state) = l.state() else {
            return Status::Pending("unknown".into());
        };
        match state.code() {
            Some(LoadBalancerStateEnum::Active) => Status::Ready,
            Some(LoadBalancerStateEnum::Failed) => {
                Status::Failed(state.reason().unwrap_or("failed").to_string())
            }
            Some(c) => Status::Pending(c.as_str().to_string()),
            None => Status::Pending("unknown".into()),
        }
    }

    async fn create(&self, name: &str, want: &Props) -> Result<Found<Props>, CloudError> {
        let scheme = if want.internal {
            LoadBalancerSchemeEnum::Internal
        } else {
            LoadBalancerSchemeEnum::InternetFacing
        };
        let elb = &self.0.aws.elb;
        // Repeating CreateLoadBalancer is harmless on AWS (same settings, same balancer),
        // but not everywhere: sent once, and looked up by name when the answer is lost.
        let lb = create_once(
            || async {
                let out = elb
                    .create_load_balancer()
                    .name(&want.lb_name)
                    .r#type(LoadBalancerTypeEnum::Application)
                    .scheme(scheme.clone())
                    .set_subnets(Some(want.subnets.clone()))
                    .set_security_groups(Some(want.security_groups.clone()))
                    .set_tags(Some(sdk_tags(&want.tags)))
                    .customize()
                    .config_override(no_retries!(aws_sdk_elasticloadbalancingv2))
                    .send()
                    .await
                    .map_err(|e| err("elasticloadbalancing:CreateLoadBalancer", e))?;
                out.load_balancers().first().cloned().ok_or_else(|| {
                    CloudError::new(
                        "elasticloadbalancing:CreateLoadBalancer",
                        "no load balancer in the answer",
                    )
                })
            },
            || async {
                let res = elb
                    .describe_load_balancers()
                    .names(&want.lb_name)
                    .send()
                    .await
                    .map_err(|e| err("elasticloadbalancing:DescribeLoadBalancers", e));
                match res {
                    Ok(out) => Ok(out.load_balancers().first().cloned()),
                    Err(e) if e.has_code("LoadBalancerNotFound") => Ok(None),
                    Err(e) => Err(e),
                }
            },
        )
        .await?;
        let arn = lb.load_balancer_arn().unwrap_or_default();
        Ok(outputs(
            Found::new(name, arn, want.clone()),
            arn,
            lb.dns_name().unwrap_or_default(),
        ))
    }

    async fn update(
        &self,
        current: &Found<Props>,
        want: &Props,
    ) -> Result<Found<Props>, CloudError> {
        let elb = &self.0.aws.elb;
        let have = &current.props;
        if have.subnets != want.subnets {
            elb.set_subnets()
                .load_balancer_arn(&current.id)
                .set_subnets(Some(want.subnets.clone()))
                .send()
                .await
                .map_err(|e| err("elasticloadbalancing:SetSubnets", e))?;
        }
        if have.security_groups != want.security_groups {
            elb.set_security_groups()
                .load_balancer_arn(&current.id)
                .set_security_groups(Some(want.security_groups.clone()))
                .send()
                .await
                .map_err(|e| err("elasticloadbalancing:SetSecurityGroups", e))?;
        }
        sync_tags(&ElbTags(elb), &current.id, &have.tags, &want.tags).await?;
        Ok(current.with_props(want.clone()))
    }

    async fn delete(&self, current: &Found<Props>) -> Result<Deletion, CloudError> {
        match self
            .0
            .aws
            .elb
            .delete_load_balancer()
            .load_balancer_arn(&current.id)
            .send()
            .await
            .map_err(|e| err("elasticloadbalancing:DeleteLoadBalancer", e))
        {
            Err(e) if e.has_code("LoadBalancerNotFound") => Ok(Deletion::Gone),
            other => other.map(|_| Deletion::Gone),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::support::testing::{self, assert_observes, context, out};
    use aws_sdk_elasticloadbalancingv2::types::{AvailabilityZone, LoadBalancerState};

    fn lb(state: LoadBalancerStateEnum) -> LoadBalancer {
        let zone = |s: &str| AvailabilityZone::builder().subnet_id(out(s, "id")).build();
        LoadBalancer::builder()
            .load_balancer_arn(
                "arn:aws:elasticloadbalancing:eu-west-3:1:loadbalancer/app/app-web/50dc",
            )
            .load_balancer_name("app-web")
            .dns_name("app-web-1.eu-west-3.elb.amazonaws.com")
            .scheme(LoadBalancerSchemeEnum::InternetFacing)
            .availability_zones(zone("pub-b"))
            .availability_zones(zone("pub-a"))
            .security_groups(out("alb", "id"))
            .state(LoadBalancerState::builder().code(state).build())
            .build()
    }

    #[test]
    fn a_described_balancer_is_what_the_file_wants() {
        let file = "vpcs:\n  main: {cidr: 10.0.0.0/16}\nsubnets:\n  pub-a: {vpc: main, cidr: 10.0.1.0/24, zone: eu-west-3a}\n  pub-b: {vpc: main, cidr: 10.0.2.0/24, zone: eu-west-3b}\nsecurity_groups:\n  alb: {vpc: main}\nload_balancers:\n  web: {subnets: [pub-a, pub-b], security_groups: [alb]}\n";
        let remote = (
            lb(LoadBalancerStateEnum::Active),
            testing::identity_tags("web"),
        );
        assert_observes(LoadBalancerKind(context()), &remote, file, "web");
        let k = LoadBalancerKind(context());
        assert_eq!(k.state(&remote), Status::Ready);
        assert_eq!(
            k.state(&(lb(LoadBalancerStateEnum::Provisioning), Tags::new())),
            Status::Pending("provisioning".into())
        );
        assert!(k
            .observe(&(
                lb(LoadBalancerStateEnum::Active),
                testing::foreign_tags("web")
            ))
            .is_none());
    }
}
