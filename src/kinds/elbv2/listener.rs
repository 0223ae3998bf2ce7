//! ELBv2 listener: load balancer and port (replacement); protocol, certificate and the
//! target group it forwards to (in place), tags. HTTPS needs an ACM certificate ARN.
//! Found through the stack's load balancers.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, Certificate, Listener, ProtocolEnum,
};
use serde::{Deserialize, Serialize};

use super::{sdk_tags, tags_by_arn, ElbTags};
use crate::aws::err;
use crate::engine::{CloudError, Deletion, Desired, KindInfo, Observed, ResourceKind};
use crate::kinds::names;
use crate::kinds::support::retry::{create_once, no_retries};
use crate::kinds::support::tags::{identity, sync_tags, Tags};
use crate::kinds::support::{adapt, desired, Context, Found, Kind};
use crate::model::{Cx, KindModel};

pub static INFO: KindInfo = KindInfo {
    outputs: &["id", "arn"],
    replace: &["load_balancer", "port"],
    parent: Some(names::LOAD_BALANCER),
    ..KindInfo::new(names::LISTENER, "listeners", "elasticloadbalancing")
};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Spec {
    load_balancer: String,
    port: u16,
    /// HTTP (default) or HTTPS.
    #[serde(default)]
    protocol: Option<String>,
    /// ACM certificate ARN, required for HTTPS.
    #[serde(default)]
    certificate_arn: Option<String>,
    target_group: String,
}

/// What is compared; `R` names the balancer and the target group (references, then ARNs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Props<R = String> {
    pub load_balancer: R,
    pub port: u16,
    pub protocol: String,
    pub certificate_arn: Option<String>,
    pub target_group: R,
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
        let protocol = spec
            .protocol
            .clone()
            .unwrap_or_else(|| "HTTP".into())
            .to_uppercase();
        match (protocol.as_str(), &spec.certificate_arn) {
            ("HTTP", None) => {}
            ("HTTP", Some(_)) => cx.error(
                "certificate_arn",
                "a certificate is only used with protocol HTTPS",
            ),
            ("HTTPS", None) => cx.error_hint(
                "certificate_arn",
                "an HTTPS listener needs a certificate",
                "give the ARN of an ACM certificate in the stack's region",
            ),
            ("HTTPS", Some(c)) => {
                if !(c.starts_with("arn:aws:acm:") && c.contains(":certificate/")) {
                    cx.error(
                        "certificate_arn",
                        format!("`{c}` is not an ACM certificate ARN (arn:aws:acm:REGION:ACCOUNT:certificate/ID)"),
                    );
                } else if !c.starts_with(&format!("arn:aws:acm:{}:", cx.region)) {
                    cx.error(
                        "certificate_arn",
                        format!(
                            "the certificate must be in the stack's region {}",
                            cx.region
                        ),
                    );
                }
            }
            (other, _) => cx.error(
                "protocol",
                format!("unknown protocol `{other}`: use HTTP or HTTPS"),
            ),
        }
        if spec.port == 0 {
            cx.error("port", "port must be 1-65535");
        }
        let props = Props {
            load_balancer: cx.reference_attr(
                "load_balancer",
                &spec.load_balancer,
                "arn",
                &[names::LOAD_BALANCER],
            ),
            port: spec.port,
            protocol,
            certificate_arn: spec.certificate_arn,
            target_group: cx.reference_attr(
                "target_group",
                &spec.target_group,
                "arn",
                &[names::TARGET_GROUP],
            ),
            tags: cx.tags(),
        };
        vec![desired(&INFO, name, &props)]
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![adapt(ListenerKind(cx.clone()))]
}

pub struct ListenerKind(pub Arc<Context>);

fn forward(tg: &str) -> Action {
    Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .target_group_arn(tg)
        .build()
}

fn certs(p: &Props) -> Option<Vec<Certificate>> {
    p.certificate_arn
        .as_ref()
        .map(|c| vec![Certificate::builder().certificate_arn(c).build()])
}

#[async_trait]
impl Kind for ListenerKind {
    type Props = Props;
    type Remote = (Listener, Tags);

    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    async fn list(&self, parents: &[Observed]) -> Result<Vec<Self::Remote>, CloudError> {
        let mut listeners: Vec<Listener> = Vec::new();
        for lb in parents {
            let l: Vec<Listener> = self
                .0
                .aws
                .elb
                .describe_listeners()
                .load_balancer_arn(&lb.id)
                .into_paginator()
                .items()
                .send()
                .collect::<Result<_, _>>()
                .await
                .map_err(|e| err("elasticloadbalancing:DescribeListeners", e))?;
            listeners.extend(l);
        }
        let arns: Vec<String> = listeners
            .iter()
            .filter_map(|l| l.listener_arn().map(str::to_string))
            .collect();
        let mut tags = tags_by_arn(&self.0, &arns).await?;
        Ok(listeners
            .into_iter()
            .filter_map(|l| {
                let t = tags.remove(l.listener_arn()?)?;
                Some((l, t))
            })
            .collect())
    }

    fn observe(&self, (l, tags): &Self::Remote) -> Option<Found<Props>> {
        let name = identity(tags, self.0.stack())?;
        let arn = l.listener_arn()?;
        let target_group = l
            .default_actions()
            .iter()
            .find_map(|a| a.target_group_arn())
            .unwrap_or_default()
            .to_string();
        let props = Props {
            load_balancer: l.load_balancer_arn().unwrap_or_default().to_string(),
            port: l.port().and_then(|p| u16::try_from(p).ok()).unwrap_or(0),
            protocol: l.protocol().map(|p| p.as_str()).unwrap_or("").to_string(),
            certificate_arn: l
                .certificates()
                .first()
                .and_then(|c| c.certificate_arn())
                .map(str::to_string),
            target_group,
            tags: tags.clone(),
        };
        Some(Found::new(name, arn, props).output("arn", arn))
    }

    async fn create(&self, name: &str, want: &Props) -> Result<Found<Props>, CloudError> {
        let elb = &self.0.aws.elb;
        let port = i32::from(want.port);
        // One listener per port of a balancer. AWS answers a repeat with the same listener
        // (or DuplicateListener when settings differ); not every service does, so the
        // create is sent once and, when its answer is lost, the port is looked up.
        let lookup = || async {
            let out = elb
                .describe_listeners()
                .load_balancer_arn(&want.load_balancer)
                .send()
                .await
                .map_err(|e| err("elasticloadbalancing:DescribeListeners", e))?;
            Ok(out
                .listeners()
                .iter()
                .find(|l| l.port() == Some(port))
                .and_then(|l| l.listener_arn())
                .map(str::to_string))
        };
        let created = create_once(
            || async {
                let out = elb
                    .create_listener()
                    .load_balancer_arn(&want.load_balancer)
                    .port(port)
                    .protocol(ProtocolEnum::from(want.protocol.as_str()))
                    .set_certificates(certs(want))
                    .default_actions(forward(&want.target_group))
                    .set_tags(Some(sdk_tags(&want.tags)))
                    .customize()
                    .config_override(no_retries!(aws_sdk_elasticloadbalancingv2))
                    .send()
                    .await
                    .map_err(|e| err("elasticloadbalancing:CreateListener", e))?;
                out.listeners()
                    .first()
                    .and_then(|l| l.listener_arn())
                    .map(str::to_string)
                    .ok_or_else(|| {
                        CloudError::new(
                            "elasticloadbalancing:CreateListener",
                            "no listener in the answer",
                        )
                    })
            },
            lookup,
        )
        .await;
        let arn = match created {
            Ok(arn) => arn,
            Err(e) if e.has_code("DuplicateListener") => lookup().await?.ok_or(e)?,
            Err(e) => return Err(e),
        };
        // Settings of an adopted listener are brought to the file's by the next plan.
        Ok(Found::new(name, &arn, want.clone()).output("arn", &arn))
    }

    async fn update(
        &self,
        current: &Found<Props>,
        want: &Props,
    ) -> Result<Found<Props>, CloudError> {
        let elb = &self.0.aws.elb;
        let have = &current.props;
        if (&have.protocol, &have.certificate_arn, &have.target_group)
            != (&want.protocol, &want.certificate_arn, &want.target_group)
        {
            elb.modify_listener()
                .listener_arn(&current.id)
                .protocol(ProtocolEnum::from(want.protocol.as_str()))
                .set_certificates(certs(want))
                .default_actions(forward(&want.target_group))
                .send()
                .await
                .map_err(|e| err("elasticloadbalancing:ModifyListener", e))?;
        }
        sync_tags(&ElbTags(elb), &current.id, &have.tags, &want.tags).await?;
        Ok(current.with_props(want.clone()))
    }

    async fn delete(&self, current: &Found<Props>) -> Result<Deletion, CloudError> {
        match self
            .0
            .aws
            .elb
            .delete_listener()
            .listener_arn(&current.id)
            .send()
            .await
            .map_err(|e| err("elasticloadbalancing:DeleteListener", e))
        {
            Err(e) if e.has_code("ListenerNotFound") => Ok(Deletion::Gone),
            other => other.map(|_| Deletion::Gone),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::support::testing::{self, assert_observes, context, out};

    #[test]
    fn a_described_listener_is_what_the_file_wants() {
        let file = "vpcs:\n  main: {cidr: 10.0.0.0/16}\nsubnets:\n  pub-a: {vpc: main, cidr: 10.0.1.0/24, zone: eu-west-3a}\n  pub-b: {vpc: main, cidr: 10.0.2.0/24, zone: eu-west-3b}\nsecurity_groups:\n  alb: {vpc: main}\nload_balancers:\n  web: {subnets: [pub-a, pub-b], security_groups: [alb]}\ntarget_groups:\n  api: {vpc: main, port: 8000}\nlisteners:\n  http: {load_balancer: web, port: 80, target_group: api}\n";
        let l = Listener::builder()
            .listener_arn("arn:aws:elasticloadbalancing:eu-west-3:1:listener/app/app-web/1/2")
            .load_balancer_arn(out("web", "arn"))
            .port(80)
            .protocol(ProtocolEnum::Http)
            .default_actions(forward(&out("api", "arn")))
            .build();
        assert_observes(
            ListenerKind(context()),
            &(l, testing::identity_tags("http")),
            file,
            "http",
        );
    }
}
