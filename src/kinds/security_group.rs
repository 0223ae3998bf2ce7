//! Security group and its rules.
//!
//! One entry of `security_groups` stands for two resources: the group itself (VPC, name,
//! description: replacement; tags) and `<name>.rules`, its ingress and egress rules
//! (kept in place, rule by rule). Splitting them lets groups reference each other in both
//! directions without a dependency cycle: every group exists before any rule is written.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::types::{IpPermission, IpRange, ResourceType, SecurityGroup, UserIdGroupPair};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ec2::{observed_tags, stack_filter, str_prop, sync_tags, tag_spec};
use super::Context;
use crate::aws::{err, is_not_found};
use crate::engine::{CloudError, Desired, Observed, Props, ResourceKind};
use crate::model::net::Cidr;
use crate::model::{Cx, KindModel};

pub const KIND: &str = "security_group";
pub const RULES_KIND: &str = "security_group_rules";
const RULES_SUFFIX: &str = ".rules";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    vpc: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    ingress: Vec<RuleSpec>,
    /// Omitted: all outbound traffic allowed (the AWS default). Given: exactly these.
    #[serde(default)]
    egress: Option<Vec<RuleSpec>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    /// `443`, or a range `1024-65535`. Omitted for protocol `all`.
    #[serde(default)]
    ports: Option<serde_yaml::Value>,
    /// tcp (default), udp, icmp or all.
    #[serde(default)]
    protocol: Option<String>,
    /// Peer given as a CIDR block...
    #[serde(default)]
    cidr: Option<String>,
    /// ...or as another security group of the stack.
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

/// A rule as compared: one protocol, one port range, one peer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
struct Rule {
    protocol: String,
    from_port: i32,
    to_port: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cidr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
}

pub struct Model;

fn parse_ports(v: &serde_yaml::Value) -> Result<(i64, i64), String> {
    let range = match v {
        serde_yaml::Value::Number(n) => {
            let p = n.as_i64().ok_or_else(|| format!("`{n:?}` is not a port number"))?;
            (p, p)
        }
        serde_yaml::Value::String(s) => {
            let (a, b) = s.split_once('-').unwrap_or((s, s));
            let num = |x: &str| {
                x.trim()
                    .parse::<i64>()
                    .map_err(|_| format!("`{s}` is not a port or a range like 1024-65535"))
            };
            (num(a)?, num(b)?)
        }
        _ => return Err("expected a port (443) or a range (\"1024-65535\")".into()),
    };
    for p in [range.0, range.1] {
        if !(0..=65535).contains(&p) {
            return Err(format!("port {p} is outside 0-65535"));
        }
    }
    if range.0 > range.1 {
        return Err(format!("the range {}-{} is reversed", range.0, range.1));
    }
    Ok(range)
}

fn build_rules(cx: &mut Cx, field: &str, rules: &[RuleSpec]) -> Vec<Value> {
    let mut out = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        let f = format!("{field}[{i}]");
        let protocol = match r.protocol.as_deref().unwrap_or("tcp") {
            "tcp" => "tcp",
            "udp" => "udp",
            "icmp" => "icmp",
            "all" | "-1" => "-1",
            other => {
                cx.error(&format!("{f}.protocol"), format!("unknown protocol `{other}`: use tcp, udp, icmp or all"));
                continue;
            }
        };
        let (from, to) = match (&r.ports, protocol) {
            (None, "-1") => (-1, -1),
            (Some(_), "-1") => {
                cx.error(&format!("{f}.ports"), "protocol all covers every port: leave ports out");
                continue;
            }
            (None, "icmp") => (-1, -1),
            (None, _) => {
                cx.error(&f, "ports is required for tcp and udp rules");
                continue;
            }
            (Some(p), _) => match parse_ports(p) {
                Ok((a, b)) => (a, b),
                Err(m) => {
                    cx.error(&format!("{f}.ports"), m);
                    continue;
                }
            },
        };
        let mut rule = serde_json::Map::new();
        rule.insert("protocol".into(), protocol.into());
        rule.insert("from_port".into(), from.into());
        rule.insert("to_port".into(), to.into());
        match (&r.cidr, &r.group) {
            (Some(c), None) => {
                if let Err(m) = Cidr::parse(c) {
                    cx.error(&format!("{f}.cidr"), m);
                }
                rule.insert("cidr".into(), c.clone().into());
            }
            (None, Some(g)) => {
                let v = cx.reference(&format!("{f}.group"), g, &[KIND]);
                rule.insert("group".into(), v);
            }
            _ => {
                cx.error(&f, "a rule needs exactly one peer: cidr or group");
                continue;
            }
        }
        if let Some(d) = &r.description {
            if d.len() > 255 {
                cx.error(&format!("{f}.description"), "rule descriptions are at most 255 characters");
            }
            rule.insert("description".into(), d.clone().into());
        }
        out.push(Value::Object(rule));
    }
    out
}

impl KindModel for Model {
    fn section(&self) -> &'static str {
        "security_groups"
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn build(&self, cx: &mut Cx, name: &str, body: serde_yaml::Value) -> Vec<Desired> {
        let Some(spec) = cx.parse::<Spec>(body) else {
            return vec![];
        };
        let description = spec
            .description
            .clone()
            .unwrap_or_else(|| format!("{} security group of stack {}", name, cx.stack));
        if description.len() > 255 || !description.is_ascii() {
            cx.error("description", "a group description is at most 255 ASCII characters");
        }
        let mut group = Props::new();
        group.insert("vpc".into(), cx.reference("vpc", &spec.vpc, &[super::vpc::KIND]));
        group.insert("group_name".into(), cx.physical_name(name).into());
        group.insert("description".into(), description.into());
        group.insert("tags".into(), cx.tags());

        let ingress = build_rules(cx, "ingress", &spec.ingress);
        let egress = match &spec.egress {
            Some(e) => build_rules(cx, "egress", e),
            None => vec![serde_json::json!({"protocol": "-1", "from_port": -1, "to_port": -1, "cidr": "0.0.0.0/0"})],
        };
        let mut rules = Props::new();
        rules.insert("group".into(), crate::engine::reference(name));
        rules.insert("ingress".into(), Value::Array(ingress));
        rules.insert("egress".into(), Value::Array(egress));
        vec![
            Desired::new(KIND, name, group),
            Desired::new(RULES_KIND, &format!("{name}{RULES_SUFFIX}"), rules),
        ]
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![Arc::new(Groups(cx.clone())), Arc::new(Rules(cx.clone()))]
}

/// Flatten AWS permissions (several peers each) into one rule per peer.
fn flatten(perms: &[IpPermission]) -> Vec<Rule> {
    let mut out = Vec::new();
    for p in perms {
        let protocol = p.ip_protocol().unwrap_or("-1").to_string();
        let (from, to) = if protocol == "-1" {
            (-1, -1)
        } else {
            (p.from_port().unwrap_or(-1), p.to_port().unwrap_or(-1))
        };
        let base = |cidr: Option<String>, group: Option<String>, description: Option<&str>| Rule {
            protocol: protocol.clone(),
            from_port: from,
            to_port: to,
            cidr,
            group,
            description: description.filter(|d| !d.is_empty()).map(str::to_string),
        };
        for r in p.ip_ranges() {
            out.push(base(r.cidr_ip().map(str::to_string), None, r.description()));
        }
        for g in p.user_id_group_pairs() {
            out.push(base(None, g.group_id().map(str::to_string), g.description()));
        }
    }
    out.sort();
    out
}

fn to_permission(r: &Rule) -> IpPermission {
    let mut b = IpPermission::builder().ip_protocol(&r.protocol);
    if r.protocol != "-1" {
        b = b.from_port(r.from_port).to_port(r.to_port);
    }
    if let Some(c) = &r.cidr {
        b = b.ip_ranges(IpRange::builder().cidr_ip(c).set_description(r.description.clone()).build());
    }
    if let Some(g) = &r.group {
        b = b.user_id_group_pairs(
            UserIdGroupPair::builder()
                .group_id(g)
                .set_description(r.description.clone())
                .build(),
        );
    }
    b.build()
}

fn rules_of(props: &Props, field: &str) -> Vec<Rule> {
    props
        .get(field)
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}

fn observe(g: &SecurityGroup, stack: &str) -> Option<[Observed; 2]> {
    let (tags, name) = observed_tags(g.tags(), stack);
    let name = name?;
    let id = g.group_id()?;
    let group = Observed::new(KIND, &name, id)
        .with_prop("vpc", g.vpc_id().unwrap_or_default())
        .with_prop("group_name", g.group_name().unwrap_or_default())
        .with_prop("description", g.description().unwrap_or_default())
        .with_prop("tags", tags);
    let rules = Observed::new(RULES_KIND, format!("{name}{RULES_SUFFIX}"), format!("{id}{RULES_SUFFIX}"))
        .with_prop("group", id)
        .with_prop("ingress", serde_json::to_value(flatten(g.ip_permissions())).unwrap_or(Value::Null))
        .with_prop("egress", serde_json::to_value(flatten(g.ip_permissions_egress())).unwrap_or(Value::Null));
    Some([group, rules])
}

/// The group itself. Its discovery also reports the rules.
pub struct Groups(pub Arc<Context>);

#[async_trait]
impl ResourceKind for Groups {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn replace_fields(&self) -> &'static [&'static str] {
        &["vpc", "group_name", "description"]
    }

    async fn discover(&self) -> Result<Vec<Observed>, CloudError> {
        let groups: Vec<_> = self
            .0
            .aws
            .ec2
            .describe_security_groups()
            .filters(stack_filter(&self.0.stack))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("ec2:DescribeSecurityGroups", e))?;
        Ok(groups.iter().filter_map(|g| observe(g, &self.0.stack)).flatten().collect())
    }

    async fn create(&self, name: &str, props: &Props) -> Result<Observed, CloudError> {
        let ec2 = &self.0.aws.ec2;
        let group_name = str_prop(props, "group_name")?;
        let vpc = str_prop(props, "vpc")?;
        let res = ec2
            .create_security_group()
            .group_name(group_name)
            .description(str_prop(props, "description")?)
            .vpc_id(vpc)
            .tag_specifications(tag_spec(ResourceType::SecurityGroup, props))
            .send()
            .await
            .map_err(|e| err("ec2:CreateSecurityGroup", e));
        let id = match res {
            Ok(out) => out
                .group_id
                .ok_or_else(|| CloudError::new("ec2:CreateSecurityGroup", "no group id in the answer"))?,
            // A create whose answer was lost: the name is unique per VPC, adopt it.
            Err(e) if e.has_code("InvalidGroup.Duplicate") => {
                let out = ec2
                    .describe_security_groups()
                    .filters(aws_sdk_ec2::types::Filter::builder().name("group-name").values(group_name).build())
                    .filters(aws_sdk_ec2::types::Filter::builder().name("vpc-id").values(vpc).build())
                    .send()
                    .await
                    .map_err(|e| err("ec2:DescribeSecurityGroups", e))?;
                let g = out.security_groups().first().ok_or(e.clone())?;
                let owned = g.tags().iter().any(|t| t.key() == Some(crate::model::TAG_STACK) && t.value() == Some(self.0.stack.as_str()));
                if !owned {
                    return Err(CloudError { message: format!("{}; the existing group does not belong to this stack", e.message), ..e });
                }
                g.group_id().unwrap_or_default().to_string()
            }
            Err(e) => return Err(e),
        };
        let mut o = Observed::new(KIND, name, id);
        o.props = props.clone();
        Ok(o)
    }

    async fn update(&self, name: &str, props: &Props, current: &Observed, _changed: &[String]) -> Result<Observed, CloudError> {
        sync_tags(&self.0.aws.ec2, &current.id, &current.props, props).await?;
        let mut o = Observed::new(KIND, name, current.id.clone());
        o.props = props.clone();
        Ok(o)
    }

    async fn delete(&self, current: &Observed) -> Result<(), CloudError> {
        // Network interfaces of deleted load balancers or tasks linger for a while.
        let res = super::retry_in_use(self.0.options.dependency_wait, || async {
            self.0
                .aws
                .ec2
                .delete_security_group()
                .group_id(&current.id)
                .send()
                .await
                .map_err(|e| err("ec2:DeleteSecurityGroup", e))
        })
        .await;
        match res {
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) if e.has_code("DependencyViolation") => Err(super::blockers::explain(&self.0, "group-id", &current.id, e).await),
            other => other.map(|_| ()),
        }
    }
}

/// The rules of a group, kept rule by rule.
pub struct Rules(pub Arc<Context>);

impl Rules {
    async fn current(&self, group: &str) -> Result<(Vec<Rule>, Vec<Rule>), CloudError> {
        let out = self
            .0
            .aws
            .ec2
            .describe_security_groups()
            .group_ids(group)
            .send()
            .await
            .map_err(|e| err("ec2:DescribeSecurityGroups", e))?;
        let g = out
            .security_groups()
            .first()
            .ok_or_else(|| CloudError::new("ec2:DescribeSecurityGroups", format!("group {group} not found")))?;
        Ok((flatten(g.ip_permissions()), flatten(g.ip_permissions_egress())))
    }

    async fn sync(&self, group: &str, have: (Vec<Rule>, Vec<Rule>), want: (Vec<Rule>, Vec<Rule>)) -> Result<(), CloudError> {
        let ec2 = &self.0.aws.ec2;
        let diff = |have: &[Rule], want: &[Rule]| {
            let h: BTreeSet<&Rule> = have.iter().collect();
            let w: BTreeSet<&Rule> = want.iter().collect();
            let add: Vec<IpPermission> = w.difference(&h).map(|r| to_permission(r)).collect();
            let remove: Vec<IpPermission> = h.difference(&w).map(|r| to_permission(r)).collect();
            (add, remove)
        };
        let (in_add, in_remove) = diff(&have.0, &want.0);
        let (out_add, out_remove) = diff(&have.1, &want.1);
        if !in_remove.is_empty() {
            let res = ec2.revoke_security_group_ingress()
                .group_id(group)
                .set_ip_permissions(Some(in_remove))
                .send()
                .await
                .map_err(|e| err("ec2:RevokeSecurityGroupIngress", e));
            super::already_done(res, &["InvalidPermission.NotFound"])?;
        }
        if !out_remove.is_empty() {
            let res = ec2.revoke_security_group_egress()
                .group_id(group)
                .set_ip_permissions(Some(out_remove))
                .send()
                .await
                .map_err(|e| err("ec2:RevokeSecurityGroupEgress", e));
            super::already_done(res, &["InvalidPermission.NotFound"])?;
        }
        if !in_add.is_empty() {
            let res = ec2.authorize_security_group_ingress()
                .group_id(group)
                .set_ip_permissions(Some(in_add))
                .send()
                .await
                .map_err(|e| err("ec2:AuthorizeSecurityGroupIngress", e));
            super::already_done(res, &["InvalidPermission.Duplicate"])?;
        }
        if !out_add.is_empty() {
            let res = ec2.authorize_security_group_egress()
                .group_id(group)
                .set_ip_permissions(Some(out_add))
                .send()
                .await
                .map_err(|e| err("ec2:AuthorizeSecurityGroupEgress", e));
            super::already_done(res, &["InvalidPermission.Duplicate"])?;
        }
        Ok(())
    }

    fn observed(name: &str, group: &str, props: &Props) -> Observed {
        let mut o = Observed::new(RULES_KIND, name, format!("{group}{RULES_SUFFIX}"));
        o.props = props.clone();
        o
    }
}

#[async_trait]
impl ResourceKind for Rules {
    fn kind(&self) -> &'static str {
        RULES_KIND
    }

    fn replace_fields(&self) -> &'static [&'static str] {
        &["group"]
    }

    fn normalize(&self, props: &mut Props) {
        for f in ["ingress", "egress"] {
            if !props.contains_key(f) {
                continue;
            }
            let mut rules = rules_of(props, f);
            rules.sort();
            props.insert(f.into(), serde_json::to_value(rules).unwrap_or(Value::Null));
        }
    }

    async fn discover(&self) -> Result<Vec<Observed>, CloudError> {
        Ok(Vec::new()) // reported by the groups' discovery
    }

    async fn create(&self, name: &str, props: &Props) -> Result<Observed, CloudError> {
        // A new group comes with AWS's default egress rule: start from what is there.
        let group = str_prop(props, "group")?.to_string();
        let have = self.current(&group).await?;
        self.sync(&group, have, (rules_of(props, "ingress"), rules_of(props, "egress"))).await?;
        Ok(Self::observed(name, &group, props))
    }

    async fn update(&self, name: &str, props: &Props, current: &Observed, _changed: &[String]) -> Result<Observed, CloudError> {
        let group = str_prop(props, "group")?.to_string();
        let have = (rules_of(&current.props, "ingress"), rules_of(&current.props, "egress"));
        self.sync(&group, have, (rules_of(props, "ingress"), rules_of(props, "egress"))).await?;
        Ok(Self::observed(name, &group, props))
    }

    async fn delete(&self, current: &Observed) -> Result<(), CloudError> {
        // The group's own deletion removes its rules; what must go first are the rules that
        // reference other groups, so that those groups can be deleted.
        let group = str_prop(&current.props, "group")?.to_string();
        let keep = |rules: Vec<Rule>| rules.into_iter().filter(|r| r.group.is_none()).collect::<Vec<_>>();
        let have = (rules_of(&current.props, "ingress"), rules_of(&current.props, "egress"));
        let want = (keep(have.0.clone()), keep(have.1.clone()));
        match self.sync(&group, have, want).await {
            Err(e) if is_not_found(&e) || e.has_code("InvalidGroup.NotFound") => Ok(()),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_accept_numbers_and_ranges() {
        assert_eq!(parse_ports(&serde_yaml::Value::from(443)), Ok((443, 443)));
        assert_eq!(parse_ports(&serde_yaml::Value::from("1024-65535")), Ok((1024, 65535)));
        assert!(parse_ports(&serde_yaml::Value::from(70000)).unwrap_err().contains("outside"));
        assert!(parse_ports(&serde_yaml::Value::from("90-80")).unwrap_err().contains("reversed"));
        assert!(parse_ports(&serde_yaml::Value::from("http")).is_err());
    }

    #[test]
    fn permissions_flatten_to_one_rule_per_peer() {
        let p = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(80)
            .to_port(80)
            .ip_ranges(IpRange::builder().cidr_ip("10.0.0.0/8").build())
            .user_id_group_pairs(UserIdGroupPair::builder().group_id("sg-1").build())
            .build();
        let rules = flatten(&[p]);
        assert_eq!(rules.len(), 2);
        assert!(rules.iter().all(|r| r.from_port == 80 && r.protocol == "tcp"));
        let back = to_permission(&rules[0]);
        assert_eq!(flatten(&[back]), vec![rules[0].clone()]);
    }
}
