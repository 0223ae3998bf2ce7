//! ELBv2 listener: load balancer and port (replacement); protocol, certificate and the
//! target group it forwards to (in place), tags. HTTPS needs an ACM certificate ARN.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum, Certificate, ProtocolEnum};
use serde::Deserialize;
use serde_json::Value;

use super::ec2::str_prop;
use super::load_balancer::{elb_tags, sync_elb_tags, tags_of};
use super::Context;
use crate::aws::err;
use crate::engine::{CloudError, Desired, Observed, Props, ResourceKind};
use crate::model::{Cx, KindModel, TAG_NAME, TAG_STACK};

pub const KIND: &str = "listener";

#[derive(Deserialize)]
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

pub struct Model;

impl KindModel for Model {
    fn section(&self) -> &'static str {
        "listeners"
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn build(&self, cx: &mut Cx, name: &str, body: serde_yaml::Value) -> Vec<Desired> {
        let Some(spec) = cx.parse::<Spec>(body) else {
            return vec![];
        };
        let protocol = spec.protocol.clone().unwrap_or_else(|| "HTTP".into()).to_uppercase();
        match (protocol.as_str(), &spec.certificate_arn) {
            ("HTTP", None) => {}
            ("HTTP", Some(_)) => cx.error("certificate_arn", "a certificate is only used with protocol HTTPS"),
            ("HTTPS", None) => cx.error_hint("certificate_arn", "an HTTPS listener needs a certificate", "give the ARN of an ACM certificate in the stack's region"),
            ("HTTPS", Some(c)) => {
                if !(c.starts_with("arn:aws:acm:") && c.contains(":certificate/")) {
                    cx.error("certificate_arn", format!("`{c}` is not an ACM certificate ARN (arn:aws:acm:REGION:ACCOUNT:certificate/ID)"));
                } else if !c.starts_with(&format!("arn:aws:acm:{}:", cx.region)) {
                    cx.error("certificate_arn", format!("the certificate must be in the stack's region {}", cx.region));
                }
            }
            (other, _) => cx.error("protocol", format!("unknown protocol `{other}`: use HTTP or HTTPS")),
        }
        if spec.port == 0 {
            cx.error("port", "port must be 1-65535");
        }
        let mut props = Props::new();
        props.insert("load_balancer".into(), cx.reference_attr("load_balancer", &spec.load_balancer, "arn", &[super::load_balancer::KIND]));
        props.insert("port".into(), spec.port.into());
        props.insert("protocol".into(), protocol.into());
        props.insert("certificate_arn".into(), spec.certificate_arn.map(Value::from).unwrap_or(Value::Null));
        props.insert("target_group".into(), cx.reference_attr("target_group", &spec.target_group, "arn", &[super::target_group::KIND]));
        props.insert("tags".into(), cx.tags());
        vec![Desired::new(KIND, name, props)]
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![Arc::new(Cloud(cx.clone()))]
}

pub struct Cloud(pub Arc<Context>);

fn forward(tg: &str) -> Action {
    Action::builder().r#type(ActionTypeEnum::Forward).target_group_arn(tg).build()
}

fn certs(props: &Props) -> Option<Vec<Certificate>> {
    props.get("certificate_arn").and_then(Value::as_str).map(|c| vec![Certificate::builder().certificate_arn(c).build()])
}

/// The stack's listeners on the given load balancers (called by the load balancer kind's
/// discovery, which lists the load balancers once for both kinds).
pub async fn discover_in(cx: &Context, load_balancers: &[String]) -> Result<Vec<Observed>, CloudError> {
    let mut listeners = Vec::new();
    for arn in load_balancers {
        let l: Vec<_> = cx
            .aws
            .elb
            .describe_listeners()
            .load_balancer_arn(arn)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("elasticloadbalancing:DescribeListeners", e))?;
        listeners.extend(l);
    }
    let arns: Vec<String> = listeners.iter().filter_map(|l| l.listener_arn().map(str::to_string)).collect();
    let tags = tags_of(cx, &arns).await?;
    Ok(listeners
        .iter()
        .filter_map(|l| {
            let arn = l.listener_arn()?.to_string();
            let t = tags.get(&arn)?;
            if t.get(TAG_STACK) != Some(&cx.stack) {
                return None;
            }
            let tg = l.default_actions().iter().find_map(|a| a.target_group_arn()).unwrap_or_default();
            let cert = l.certificates().first().and_then(|c| c.certificate_arn()).map(Value::from).unwrap_or(Value::Null);
            Some(
                Observed::new(KIND, t.get(TAG_NAME)?.clone(), &arn)
                    .with_prop("load_balancer", l.load_balancer_arn().unwrap_or_default())
                    .with_prop("port", l.port().unwrap_or(0))
                    .with_prop("protocol", l.protocol().map(|p| p.as_str()).unwrap_or(""))
                    .with_prop("certificate_arn", cert)
                    .with_prop("target_group", tg)
                    .with_prop("tags", serde_json::to_value(t).unwrap_or(Value::Null))
                    .with_output("arn", &arn),
            )
        })
        .collect())
}

#[async_trait]
impl ResourceKind for Cloud {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn replace_fields(&self) -> &'static [&'static str] {
        &["load_balancer", "port"]
    }

    async fn discover(&self) -> Result<Vec<Observed>, CloudError> {
        Ok(Vec::new()) // listed with their load balancers: see `discover_in`
    }

    async fn create(&self, name: &str, props: &Props) -> Result<Observed, CloudError> {
        let elb = &self.0.aws.elb;
        let lb = str_prop(props, "load_balancer")?;
        let port = props.get("port").and_then(Value::as_i64).unwrap_or(80) as i32;
        // One listener per port of a balancer. AWS answers a repeat with the same listener
        // (or DuplicateListener when settings differ); not every service does, so the
        // create is sent once and, when its answer is lost, the port is looked up.
        let lookup = || async {
            let out = elb.describe_listeners().load_balancer_arn(lb).send().await.map_err(|e| err("elasticloadbalancing:DescribeListeners", e))?;
            Ok(out.listeners().iter().find(|l| l.port() == Some(port)).and_then(|l| l.listener_arn()).map(str::to_string))
        };
        let created = super::create_once(
            || async {
                let out = elb
                    .create_listener()
                    .load_balancer_arn(lb)
                    .port(port)
                    .protocol(ProtocolEnum::from(str_prop(props, "protocol")?))
                    .set_certificates(certs(props))
                    .default_actions(forward(str_prop(props, "target_group")?))
                    .set_tags(Some(elb_tags(props)))
                    .customize()
                    .config_override(super::no_retries!(aws_sdk_elasticloadbalancingv2))
                    .send()
                    .await
                    .map_err(|e| err("elasticloadbalancing:CreateListener", e))?;
                Ok(out.listeners().first().and_then(|l| l.listener_arn()).unwrap_or_default().to_string())
            },
            lookup,
        )
        .await;
        let arn = match created {
            Ok(arn) => arn,
            Err(e) if e.has_code("DuplicateListener") => lookup().await?.ok_or(e)?,
            Err(e) => return Err(e),
        };
        let mut o = Observed::new(KIND, name, &arn).with_output("arn", &arn);
        o.props = props.clone();
        // Settings of an adopted listener are brought to the file's by the next plan.
        Ok(o)
    }

    async fn update(&self, name: &str, props: &Props, current: &Observed, changed: &[String]) -> Result<Observed, CloudError> {
        if changed.iter().any(|c| ["protocol", "certificate_arn", "target_group"].contains(&c.as_str())) {
            self.0
                .aws
                .elb
                .modify_listener()
                .listener_arn(&current.id)
                .protocol(ProtocolEnum::from(str_prop(props, "protocol")?))
                .set_certificates(certs(props))
                .default_actions(forward(str_prop(props, "target_group")?))
                .send()
                .await
                .map_err(|e| err("elasticloadbalancing:ModifyListener", e))?;
        }
        if changed.iter().any(|c| c == "tags") {
            sync_elb_tags(&self.0, &current.id, &current.props, props).await?;
        }
        Ok(current.updated(name, props))
    }

    async fn delete(&self, current: &Observed) -> Result<(), CloudError> {
        match self.0.aws.elb.delete_listener().listener_arn(&current.id).send().await.map_err(|e| err("elasticloadbalancing:DeleteListener", e)) {
            Err(e) if e.has_code("ListenerNotFound") => Ok(()),
            other => other.map(|_| ()),
        }
    }
}
