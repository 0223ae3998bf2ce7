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

use super::{gone_or_explained, stack_filter, tag_spec, tags_of, Ec2Tags};
use crate::aws::{err, is_not_found};
use crate::engine::{reference, CloudError, Deletion, Desired, KindInfo, Observed, ResourceKind};
use crate::kinds::names;
use crate::kinds::support::retry::{already_done, retry_when};

/// How long a new group may stay unknown by id to EC2's other operations.
const VISIBLE: std::time::Duration = std::time::Duration::from_secs(60);
use crate::kinds::support::tags::{identity, owned, sync_tags, Tags};
use crate::kinds::support::{adapt, desired, Context, Found, Kind};
use crate::model::net::Cidr;
use crate::model::{Cx, KindModel};

pub static INFO: KindInfo = KindInfo {
    replace: &["vpc", "group_name", "description"],
    // AWS refuses to delete a group something uses: the new one comes first (under
    // another name while the old one holds it), users move, the old one goes last.
    replace_creates_first: true,
    ..KindInfo::new(names::SECURITY_GROUP, "security_groups", "ec2")
};

pub static RULES: KindInfo = KindInfo {
    replace: &["group"],
    // The old group keeps its rules until it is deleted: no gap in what is allowed.
    replace_creates_first: true,
    // Listed after the groups, from the same answer.
    parent: Some(names::SECURITY_GROUP),
    ..KindInfo::new(names::SECURITY_GROUP_RULES, "", "ec2")
};

const RULES_SUFFIX: &str = ".rules";

#[derive(Deserialize, schemars::JsonSchema)]
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

/// What `ports` accepts, for the schema: a port number or a range (`1024-65535`).
#[derive(schemars::JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum PortsSchema {
    Port(u16),
    Range(String),
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    /// `443`, or a range `1024-65535`. Omitted for protocol `all`.
    #[serde(default)]
    #[schemars(with = "Option<PortsSchema>")]
    ports: Option<serde_yaml_ng::Value>,
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

/// The group as compared; `R` names the VPC (a reference, then an id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Props<R = String> {
    pub vpc: R,
    pub group_name: String,
    pub description: String,
    pub tags: Tags,
}

/// A rule as compared: one protocol, one port range, one peer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rule<R = String> {
    pub protocol: String,
    pub from_port: i32,
    pub to_port: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<R>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The rules of one group as compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RulesProps<R = String> {
    pub group: R,
    pub ingress: Vec<Rule<R>>,
    pub egress: Vec<Rule<R>>,
}

pub struct Model;

/// One rule as the file writes it (see `Rules::as_written`).
fn rule_as_written(rule: &Value) -> Value {
    let Some(r) = rule.as_object() else {
        return rule.clone();
    };
    let mut out = r.clone();
    let from = out.remove("from_port");
    let to = out.remove("to_port");
    if r.get("protocol").and_then(Value::as_str) == Some("-1") {
        out.insert("protocol".into(), Value::from("all"));
    } else if r.get("protocol").and_then(Value::as_str) == Some("icmp") {
        // The type is the port; every code of it, or every type, is what the file can say.
        if let Some(t) = from.as_ref().and_then(Value::as_i64).filter(|t| *t >= 0) {
            out.insert("ports".into(), Value::from(t));
        }
    } else {
        let ports = match (
            from.as_ref().and_then(Value::as_i64),
            to.as_ref().and_then(Value::as_i64),
        ) {
            (Some(a), Some(b)) if a == b => Value::from(a),
            (Some(a), Some(b)) => Value::from(format!("{a}-{b}")),
            _ => return rule.clone(),
        };
        out.insert("ports".into(), ports);
    }
    Value::Object(out)
}

/// A YAML scalar as the file wrote it, for messages.
fn yaml_text(v: &serde_yaml_ng::Value) -> String {
    match v {
        serde_yaml_ng::Value::String(s) => s.clone(),
        serde_yaml_ng::Value::Number(n) => n.to_string(),
        other => format!("{other:?}"),
    }
}

fn parse_ports(v: &serde_yaml_ng::Value) -> Result<(i32, i32), String> {
    let range = match v {
        serde_yaml_ng::Value::Number(n) => {
            let p = n
                .as_i64()
                .ok_or_else(|| format!("`{n:?}` is not a port number"))?;
            (p, p)
        }
        serde_yaml_ng::Value::String(s) => {
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
    // In 0..=65535: the conversions cannot fail.
    Ok((range.0 as i32, range.1 as i32))
}

fn build_rules(cx: &mut Cx, field: &str, rules: &[RuleSpec]) -> Vec<Rule<Value>> {
    let mut out = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        let f = format!("{field}[{i}]");
        let protocol = match r.protocol.as_deref().unwrap_or("tcp") {
            "tcp" => "tcp",
            "udp" => "udp",
            "icmp" => "icmp",
            "all" | "-1" => "-1",
            other => {
                cx.error(
                    &format!("{f}.protocol"),
                    format!("unknown protocol `{other}`: use tcp, udp, icmp or all"),
                );
                continue;
            }
        };
        let (from, to) = match (&r.ports, protocol) {
            (None, "-1") => (-1, -1),
            (Some(_), "-1") => {
                cx.error(
                    &format!("{f}.ports"),
                    "protocol all covers every port: leave ports out",
                );
                continue;
            }
            (None, "icmp") => (-1, -1),
            // ICMP has types and codes, not ports: EC2 takes the type as FromPort and the
            // code as ToPort (-1: all codes).
            (Some(p), "icmp") => match p.as_u64().filter(|t| *t <= 255) {
                Some(t) => (t as i32, -1),
                None => {
                    cx.error_hint(
                        &format!("{f}.ports"),
                        format!("`{}` is not an ICMP type: for icmp, ports is one type, 0-255, with all its codes", yaml_text(p)),
                        "8 is echo request (ping), 3 destination unreachable; leave ports out for every type",
                    );
                    continue;
                }
            },
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
        let mut rule = Rule {
            protocol: protocol.to_string(),
            from_port: from,
            to_port: to,
            cidr: None,
            group: None,
            description: None,
        };
        match (&r.cidr, &r.group) {
            (Some(c), None) => {
                if let Err(m) = Cidr::parse(c) {
                    cx.error(&format!("{f}.cidr"), m);
                }
                rule.cidr = Some(c.clone());
            }
            (None, Some(g)) => {
                rule.group = Some(cx.reference(&format!("{f}.group"), g, &[names::SECURITY_GROUP]));
            }
            _ => {
                cx.error(&f, "a rule needs exactly one peer: cidr or group");
                continue;
            }
        }
        if let Some(d) = &r.description {
            cx.check(&format!("{f}.description"), check_description(d));
            rule.description = Some(d.clone());
        }
        out.push(rule);
    }
    out
}

/// What EC2 accepts in a group's or a rule's description (in a VPC): at most 255 of
/// letters, digits, spaces and `._-:/()#,@[]+=&;{}!$*`.
pub fn check_description(d: &str) -> Result<(), String> {
    const SYMBOLS: &str = "._-:/()#,@[]+=&;{}!$* ";
    if d.len() > 255 {
        return Err(format!(
            "a description is at most 255 characters, not {}",
            d.len()
        ));
    }
    match d
        .chars()
        .find(|c| !c.is_ascii_alphanumeric() && !SYMBOLS.contains(*c))
    {
        Some(c) => Err(format!(
            "EC2 does not accept `{c}` in a description: only letters, digits, spaces and \
             ._-:/()#,@[]+=&;{{}}!$*"
        )),
        None => Ok(()),
    }
}

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
        let description = spec
            .description
            .clone()
            .unwrap_or_else(|| format!("{} security group of stack {}", name, cx.stack));
        cx.check("description", check_description(&description));
        let group = Props {
            vpc: cx.reference("vpc", &spec.vpc, &[names::VPC]),
            group_name: cx.physical_name(name),
            description,
            tags: cx.tags(),
        };
        let ingress = build_rules(cx, "ingress", &spec.ingress);
        let egress = match &spec.egress {
            Some(e) => build_rules(cx, "egress", e),
            None => vec![Rule {
                protocol: "-1".into(),
                from_port: -1,
                to_port: -1,
                cidr: Some("0.0.0.0/0".into()),
                group: None,
                description: None,
            }],
        };
        let rules = RulesProps {
            group: reference(name),
            ingress,
            egress,
        };
        vec![
            desired(&INFO, name, &group),
            desired(&RULES, &format!("{name}{RULES_SUFFIX}"), &rules),
        ]
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    let listing = Listing::default();
    vec![
        adapt(Groups(cx.clone(), listing.clone())),
        adapt(Rules(cx.clone(), listing)),
    ]
}

/// The groups' last listing, handed to the rules' discovery that follows it: one
/// `DescribeSecurityGroups` for both kinds.
#[derive(Clone, Default)]
pub struct Listing(Arc<std::sync::Mutex<Option<Vec<SecurityGroup>>>>);

impl Listing {
    fn keep(&self, groups: &[SecurityGroup]) {
        if let Ok(mut l) = self.0.lock() {
            *l = Some(groups.to_vec());
        }
    }

    fn take(&self) -> Option<Vec<SecurityGroup>> {
        self.0.lock().ok().and_then(|mut l| l.take())
    }
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
            out.push(base(
                None,
                g.group_id().map(str::to_string),
                g.description(),
            ));
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
        b = b.ip_ranges(
            IpRange::builder()
                .cidr_ip(c)
                .set_description(r.description.clone())
                .build(),
        );
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

async fn list_groups(cx: &Context) -> Result<Vec<SecurityGroup>, CloudError> {
    cx.aws
        .ec2
        .describe_security_groups()
        .filters(stack_filter(cx.stack()))
        .into_paginator()
        .items()
        .send()
        .collect::<Result<_, _>>()
        .await
        .map_err(|e| err("ec2:DescribeSecurityGroups", e))
}

/// The group itself.
pub struct Groups(pub Arc<Context>, pub Listing);

#[async_trait]
impl Kind for Groups {
    type Props = Props;
    type Remote = SecurityGroup;

    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    async fn adopt(&self, id: &str, identity: &Tags) -> Option<Result<(), CloudError>> {
        Some(super::adopt(&self.0, "security group", "sg-", id, identity).await)
    }

    async fn list(&self, _parents: &[Observed]) -> Result<Vec<SecurityGroup>, CloudError> {
        let groups = list_groups(&self.0).await?;
        self.1.keep(&groups);
        Ok(groups)
    }

    fn observe(&self, g: &SecurityGroup) -> Option<Found<Props>> {
        let tags = tags_of(g.tags());
        let name = identity(&tags, self.0.stack())?;
        let props = Props {
            vpc: g.vpc_id().unwrap_or_default().to_string(),
            group_name: g.group_name().unwrap_or_default().to_string(),
            description: g.description().unwrap_or_default().to_string(),
            tags,
        };
        Some(Found::new(name, g.group_id()?, props))
    }

    fn settle(want: &mut Props, have: &Props) {
        if is_successor_name(&have.group_name, &want.group_name) {
            want.group_name = have.group_name.clone();
        }
    }

    async fn create(&self, name: &str, want: &Props) -> Result<Found<Props>, CloudError> {
        match self.create_named(name, want).await? {
            Made::Group(found) => Ok(found),
            // The group this one replaces holds the name until it is deleted.
            Made::HeldByPredecessor => {
                let mut next = want.clone();
                next.group_name = format!("{}-{}", want.group_name, crate::clock::utc_stamp());
                match self.create_named(name, &next).await? {
                    Made::Group(found) => Ok(found),
                    Made::HeldByPredecessor => Err(CloudError::new(
                        "ec2:CreateSecurityGroup",
                        format!("the name `{}` is taken as well", next.group_name),
                    )),
                }
            }
        }
    }

    async fn update(
        &self,
        current: &Found<Props>,
        want: &Props,
    ) -> Result<Found<Props>, CloudError> {
        sync_tags(
            &Ec2Tags(&self.0.aws.ec2),
            &current.id,
            &current.props.tags,
            &want.tags,
        )
        .await?;
        Ok(current.with_props(want.clone()))
    }

    async fn delete(&self, current: &Found<Props>) -> Result<Deletion, CloudError> {
        // Network interfaces of deleted load balancers or tasks linger for a while.
        let res = self
            .0
            .aws
            .ec2
            .delete_security_group()
            .group_id(&current.id)
            .send()
            .await
            .map_err(|e| err("ec2:DeleteSecurityGroup", e));
        gone_or_explained(&self.0, "group-id", &current.id, res).await?;
        Ok(Deletion::Gone)
    }
}

/// A replacement's name while its predecessor holds the wanted one:
/// `<wanted>-<YYYYMMDDhhmmss>`.
fn is_successor_name(have: &str, want: &str) -> bool {
    have.strip_prefix(want)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|stamp| stamp.len() == 14 && stamp.chars().all(|c| c.is_ascii_digit()))
}

/// What a create under one name gave.
enum Made {
    Group(Found<Props>),
    /// The stack's own group of this name, with another description: the one being
    /// replaced.
    HeldByPredecessor,
}

impl Groups {
    async fn create_named(&self, name: &str, want: &Props) -> Result<Made, CloudError> {
        let ec2 = &self.0.aws.ec2;
        let res = ec2
            .create_security_group()
            .group_name(&want.group_name)
            .description(&want.description)
            .vpc_id(&want.vpc)
            .tag_specifications(tag_spec(ResourceType::SecurityGroup, &want.tags))
            .send()
            .await
            .map_err(|e| err("ec2:CreateSecurityGroup", e));
        let id = match res {
            Ok(out) => out.group_id.ok_or_else(|| {
                CloudError::new("ec2:CreateSecurityGroup", "no group id in the answer")
            })?,
            // A create whose answer was lost: the name is unique per VPC, adopt it.
            Err(e) if e.has_code("InvalidGroup.Duplicate") => {
                let filter = |n: &str, v: &str| {
                    aws_sdk_ec2::types::Filter::builder()
                        .name(n)
                        .values(v)
                        .build()
                };
                let out = ec2
                    .describe_security_groups()
                    .filters(filter("group-name", &want.group_name))
                    .filters(filter("vpc-id", &want.vpc))
                    .send()
                    .await
                    .map_err(|e| err("ec2:DescribeSecurityGroups", e))?;
                let g = out.security_groups().first().ok_or(e.clone())?;
                let tags = tags_of(g.tags());
                if !owned(&tags, self.0.stack()) {
                    return Err(CloudError {
                        message: format!(
                            "{}; the existing group does not belong to this stack",
                            e.message
                        ),
                        ..e
                    });
                }
                // A create whose answer was lost made exactly this group; the stack's
                // group of this name with another description is the one replaced.
                let same = identity(&tags, self.0.stack()).as_deref() == Some(name)
                    && g.description() == Some(want.description.as_str());
                if !same {
                    return Ok(Made::HeldByPredecessor);
                }
                g.group_id().unwrap_or_default().to_string()
            }
            Err(e) => return Err(e),
        };
        Ok(Made::Group(Found::new(name, id, want.clone())))
    }
}

/// The rules of a group, kept rule by rule.
pub struct Rules(pub Arc<Context>, pub Listing);

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
        let g = out.security_groups().first().ok_or_else(|| {
            CloudError::new(
                "ec2:DescribeSecurityGroups",
                format!("group {group} not found"),
            )
        })?;
        Ok((
            flatten(g.ip_permissions()),
            flatten(g.ip_permissions_egress()),
        ))
    }

    async fn sync(
        &self,
        group: &str,
        have: (&[Rule], &[Rule]),
        want: (&[Rule], &[Rule]),
    ) -> Result<(), CloudError> {
        let ec2 = &self.0.aws.ec2;
        let diff = |have: &[Rule], want: &[Rule]| {
            let h: BTreeSet<&Rule> = have.iter().collect();
            let w: BTreeSet<&Rule> = want.iter().collect();
            let add: Vec<IpPermission> = w.difference(&h).map(|r| to_permission(r)).collect();
            let remove: Vec<IpPermission> = h.difference(&w).map(|r| to_permission(r)).collect();
            (add, remove)
        };
        let (in_add, in_remove) = diff(have.0, want.0);
        let (out_add, out_remove) = diff(have.1, want.1);
        // Ingress and egress are independent: both directions at once. Within one, what
        // goes is revoked before what comes is authorized (a rule changed only in its
        // description is both).
        let ingress = async {
            if !in_remove.is_empty() {
                let res = ec2
                    .revoke_security_group_ingress()
                    .group_id(group)
                    .set_ip_permissions(Some(in_remove))
                    .send()
                    .await
                    .map_err(|e| err("ec2:RevokeSecurityGroupIngress", e));
                already_done(res, &["InvalidPermission.NotFound"])?;
            }
            if !in_add.is_empty() {
                let res = ec2
                    .authorize_security_group_ingress()
                    .group_id(group)
                    .set_ip_permissions(Some(in_add))
                    .send()
                    .await
                    .map_err(|e| err("ec2:AuthorizeSecurityGroupIngress", e));
                already_done(res, &["InvalidPermission.Duplicate"])?;
            }
            Ok::<_, CloudError>(())
        };
        let egress = async {
            if !out_remove.is_empty() {
                let res = ec2
                    .revoke_security_group_egress()
                    .group_id(group)
                    .set_ip_permissions(Some(out_remove))
                    .send()
                    .await
                    .map_err(|e| err("ec2:RevokeSecurityGroupEgress", e));
                already_done(res, &["InvalidPermission.NotFound"])?;
            }
            if !out_add.is_empty() {
                let res = ec2
                    .authorize_security_group_egress()
                    .group_id(group)
                    .set_ip_permissions(Some(out_add))
                    .send()
                    .await
                    .map_err(|e| err("ec2:AuthorizeSecurityGroupEgress", e));
                already_done(res, &["InvalidPermission.Duplicate"])?;
            }
            Ok(())
        };
        futures::future::try_join(ingress, egress).await?;
        Ok(())
    }
}

#[async_trait]
impl Kind for Rules {
    /// Rules as the file writes them: `protocol: all` without ports, `ports: 443` or
    /// `ports: 1024-65535`.
    fn as_written(field: &str, value: &Value) -> Option<Value> {
        if field != "ingress" && field != "egress" {
            return None;
        }
        let rules = value.as_array()?;
        Some(Value::Array(rules.iter().map(rule_as_written).collect()))
    }

    type Props = RulesProps;
    type Remote = SecurityGroup;

    fn info(&self) -> &'static KindInfo {
        &RULES
    }

    fn normalize(p: &mut RulesProps) {
        p.ingress.sort();
        p.egress.sort();
    }

    async fn list(&self, _parents: &[Observed]) -> Result<Vec<SecurityGroup>, CloudError> {
        match self.1.take() {
            Some(groups) => Ok(groups),
            None => list_groups(&self.0).await,
        }
    }

    fn observe(&self, g: &SecurityGroup) -> Option<Found<RulesProps>> {
        let name = identity(&tags_of(g.tags()), self.0.stack())?;
        let id = g.group_id()?;
        let props = RulesProps {
            group: id.to_string(),
            ingress: flatten(g.ip_permissions()),
            egress: flatten(g.ip_permissions_egress()),
        };
        Some(Found::new(
            format!("{name}{RULES_SUFFIX}"),
            format!("{id}{RULES_SUFFIX}"),
            props,
        ))
    }

    async fn create(&self, name: &str, want: &RulesProps) -> Result<Found<RulesProps>, CloudError> {
        // A new group comes with AWS's default egress rule: start from what is there. EC2
        // is eventually consistent: a group made a moment ago (this one, or a peer) may not
        // be known by id yet, for a few seconds.
        retry_when(
            VISIBLE,
            |e| e.has_code("InvalidGroup.NotFound"),
            || async {
                let (ingress, egress) = self.current(&want.group).await?;
                self.sync(
                    &want.group,
                    (&ingress, &egress),
                    (&want.ingress, &want.egress),
                )
                .await
            },
        )
        .await?;
        Ok(Found::new(
            name,
            format!("{}{RULES_SUFFIX}", want.group),
            want.clone(),
        ))
    }

    async fn update(
        &self,
        current: &Found<RulesProps>,
        want: &RulesProps,
    ) -> Result<Found<RulesProps>, CloudError> {
        let have = &current.props;
        self.sync(
            &want.group,
            (&have.ingress, &have.egress),
            (&want.ingress, &want.egress),
        )
        .await?;
        Ok(current.with_props(want.clone()))
    }

    async fn delete(&self, current: &Found<RulesProps>) -> Result<Deletion, CloudError> {
        // The group's own deletion removes its rules; what must go first are the rules that
        // reference other groups, so that those groups can be deleted.
        let have = &current.props;
        let keep = |rules: &[Rule]| -> Vec<Rule> {
            rules
                .iter()
                .filter(|r| r.group.is_none())
                .cloned()
                .collect()
        };
        let (ingress, egress) = (keep(&have.ingress), keep(&have.egress));
        match self
            .sync(
                &have.group,
                (&have.ingress, &have.egress),
                (&ingress, &egress),
            )
            .await
        {
            Err(e) if is_not_found(&e) || e.has_code("InvalidGroup.NotFound") => Ok(Deletion::Gone),
            other => other.map(|_| Deletion::Gone),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::support::testing::{self, assert_observes, context, out};

    #[test]
    fn rules_are_shown_as_the_file_writes_them() {
        let aws = serde_json::json!([
            {"protocol": "-1", "from_port": -1, "to_port": -1, "cidr": "0.0.0.0/0"},
            {"protocol": "tcp", "from_port": 443, "to_port": 443, "group": "sg-1"},
            {"protocol": "udp", "from_port": 1024, "to_port": 65535, "cidr": "10.0.0.0/8"}
        ]);
        assert_eq!(
            <Rules as Kind>::as_written("egress", &aws),
            Some(serde_json::json!([
                {"protocol": "all", "cidr": "0.0.0.0/0"},
                {"protocol": "tcp", "ports": 443, "group": "sg-1"},
                {"protocol": "udp", "ports": "1024-65535", "cidr": "10.0.0.0/8"}
            ]))
        );
        assert_eq!(
            <Rules as Kind>::as_written("group", &serde_json::json!("sg-1")),
            None
        );
    }

    #[test]
    fn ports_accept_numbers_and_ranges() {
        assert_eq!(
            parse_ports(&serde_yaml_ng::Value::from(443)),
            Ok((443, 443))
        );
        assert_eq!(
            parse_ports(&serde_yaml_ng::Value::from("1024-65535")),
            Ok((1024, 65535))
        );
        assert!(parse_ports(&serde_yaml_ng::Value::from(70000))
            .unwrap_err()
            .contains("outside"));
        assert!(parse_ports(&serde_yaml_ng::Value::from("90-80"))
            .unwrap_err()
            .contains("reversed"));
        assert!(parse_ports(&serde_yaml_ng::Value::from("http")).is_err());
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
        assert!(rules
            .iter()
            .all(|r| r.from_port == 80 && r.protocol == "tcp"));
        let back = to_permission(&rules[0]);
        assert_eq!(flatten(&[back]), vec![rules[0].clone()]);
    }

    #[test]
    fn a_described_group_and_its_rules_are_what_the_file_wants() {
        let file = "vpcs:\n  main: {cidr: 10.0.0.0/16}\nsecurity_groups:\n  alb:\n    vpc: main\n    ingress: [{ports: 80, cidr: 0.0.0.0/0}]\n  backend:\n    vpc: main\n    ingress: [{ports: 8000, group: alb}]\n    egress: [{ports: 443, cidr: 0.0.0.0/0}]\n";
        let remote = SecurityGroup::builder()
            .group_id(out("backend", "id"))
            .group_name("app-backend")
            .description("backend security group of stack app")
            .vpc_id(out("main", "id"))
            .ip_permissions(
                IpPermission::builder()
                    .ip_protocol("tcp")
                    .from_port(8000)
                    .to_port(8000)
                    .user_id_group_pairs(
                        UserIdGroupPair::builder()
                            .group_id(out("alb", "id"))
                            .build(),
                    )
                    .build(),
            )
            .ip_permissions_egress(
                IpPermission::builder()
                    .ip_protocol("tcp")
                    .from_port(443)
                    .to_port(443)
                    .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                    .build(),
            )
            .set_tags(Some(super::super::sdk_tags(testing::identity_tags(
                "backend",
            ))))
            .build();
        assert_observes(
            Groups(context(), Listing::default()),
            &remote,
            file,
            "backend",
        );
        assert_observes(
            Rules(context(), Listing::default()),
            &remote,
            file,
            "backend.rules",
        );
    }
}
