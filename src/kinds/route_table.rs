//! Route table: VPC (replacement); routes to an internet or NAT gateway and subnet
//! associations (both in place, route by route), tags.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::types::ResourceType;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ec2::{client_token, observed_tags, stack_filter, str_prop, sync_tags, tag_spec};
use super::Context;
use crate::aws::{err, is_not_found};
use crate::engine::{CloudError, Desired, Observed, Props, ResourceKind};
use crate::model::net::Cidr;
use crate::model::{Cx, KindModel};

pub const KIND: &str = "route_table";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    vpc: String,
    #[serde(default)]
    routes: Vec<RouteSpec>,
    /// Subnets associated with this table.
    #[serde(default)]
    subnets: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteSpec {
    destination: String,
    #[serde(default)]
    internet_gateway: Option<String>,
    #[serde(default)]
    nat_gateway: Option<String>,
}

/// A route as compared: destination and exactly one target id.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
struct Route {
    destination: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    internet_gateway: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nat_gateway: Option<String>,
}

pub struct Model;

impl KindModel for Model {
    fn section(&self) -> &'static str {
        "route_tables"
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn build(&self, cx: &mut Cx, name: &str, body: serde_yaml::Value) -> Vec<Desired> {
        let Some(spec) = cx.parse::<Spec>(body) else {
            return vec![];
        };
        let mut routes = Vec::new();
        let mut seen = BTreeSet::new();
        for (i, r) in spec.routes.iter().enumerate() {
            let f = format!("routes[{i}]");
            if let Err(m) = Cidr::parse(&r.destination) {
                cx.error(&format!("{f}.destination"), m);
            }
            if !seen.insert(r.destination.clone()) {
                cx.error(&format!("{f}.destination"), format!("two routes for {}", r.destination));
            }
            let mut route = serde_json::Map::new();
            route.insert("destination".into(), r.destination.clone().into());
            match (&r.internet_gateway, &r.nat_gateway) {
                (Some(g), None) => {
                    let v = cx.reference(&format!("{f}.internet_gateway"), g, &[super::internet_gateway::KIND]);
                    route.insert("internet_gateway".into(), v);
                }
                (None, Some(n)) => {
                    let v = cx.reference(&format!("{f}.nat_gateway"), n, &[super::nat_gateway::KIND]);
                    route.insert("nat_gateway".into(), v);
                }
                _ => cx.error(&f, "a route needs exactly one target: internet_gateway or nat_gateway"),
            }
            routes.push(Value::Object(route));
        }
        let mut subnets = Vec::new();
        for (i, s) in spec.subnets.iter().enumerate() {
            if spec.subnets[..i].contains(s) {
                cx.error(&format!("subnets[{i}]"), format!("subnet `{s}` is listed twice"));
            }
            subnets.push(cx.reference(&format!("subnets[{i}]"), s, &[super::subnet::KIND]));
        }
        let mut props = Props::new();
        props.insert("vpc".into(), cx.reference("vpc", &spec.vpc, &[super::vpc::KIND]));
        props.insert("routes".into(), Value::Array(routes));
        props.insert("subnets".into(), Value::Array(subnets));
        props.insert("tags".into(), cx.tags());
        vec![Desired::new(KIND, name, props)]
    }

    fn check(&self, cx: &mut Cx, d: &Desired, all: &BTreeMap<String, Desired>) {
        // A subnet belongs to at most one route table.
        let subnets = |d: &Desired| -> Vec<String> {
            d.props
                .get("subnets")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|v| crate::engine::as_ref(v).map(|(n, _)| n.to_string())).collect())
                .unwrap_or_default()
        };
        let mine = subnets(d);
        for other in all.values().filter(|o| o.kind == KIND && o.name < d.name) {
            for s in subnets(other) {
                if let Some(i) = mine.iter().position(|m| *m == s) {
                    cx.error(&format!("subnets[{i}]"), format!("subnet `{s}` is already associated with route table `{}`", other.name));
                }
            }
        }
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![Arc::new(Cloud(cx.clone()))]
}

pub struct Cloud(pub Arc<Context>);

fn routes_of(props: &Props) -> BTreeMap<String, Route> {
    props
        .get("routes")
        .and_then(|v| serde_json::from_value::<Vec<Route>>(v.clone()).ok())
        .unwrap_or_default()
        .into_iter()
        .map(|r| (r.destination.clone(), r))
        .collect()
}

fn subnets_of(props: &Props) -> BTreeSet<String> {
    props
        .get("subnets")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

const ASSOC: &str = "association:";

impl Cloud {
    async fn sync_routes(&self, id: &str, have: &Props, want: &Props) -> Result<(), CloudError> {
        let ec2 = &self.0.aws.ec2;
        let (have, want) = (routes_of(have), routes_of(want));
        for (dest, r) in &want {
            match have.get(dest) {
                Some(h) if h == r => {}
                Some(_) => {
                    ec2.replace_route()
                        .route_table_id(id)
                        .destination_cidr_block(dest)
                        .set_gateway_id(r.internet_gateway.clone())
                        .set_nat_gateway_id(r.nat_gateway.clone())
                        .send()
                        .await
                        .map_err(|e| err("ec2:ReplaceRoute", e))?;
                }
                None => {
                    let res = ec2
                        .create_route()
                        .route_table_id(id)
                        .destination_cidr_block(dest)
                        .set_gateway_id(r.internet_gateway.clone())
                        .set_nat_gateway_id(r.nat_gateway.clone())
                        .send()
                        .await
                        .map_err(|e| err("ec2:CreateRoute", e));
                    super::already_done(res, &["RouteAlreadyExists"])?;
                }
            }
        }
        for dest in have.keys().filter(|d| !want.contains_key(*d)) {
            match ec2
                .delete_route()
                .route_table_id(id)
                .destination_cidr_block(dest)
                .send()
                .await
                .map_err(|e| err("ec2:DeleteRoute", e))
            {
                Err(e) if is_not_found(&e) => {}
                other => {
                    other?;
                }
            }
        }
        Ok(())
    }

    /// Associate and disassociate subnets; returns the association ids by subnet.
    async fn sync_subnets(&self, id: &str, current: Option<&Observed>, want: &Props) -> Result<BTreeMap<String, String>, CloudError> {
        let ec2 = &self.0.aws.ec2;
        let mut assoc: BTreeMap<String, String> = current
            .map(|c| {
                c.outputs
                    .iter()
                    .filter_map(|(k, v)| Some((k.strip_prefix(ASSOC)?.to_string(), v.clone())))
                    .collect()
            })
            .unwrap_or_default();
        let want = subnets_of(want);
        let missing: Vec<String> = want.iter().filter(|s| !assoc.contains_key(*s)).cloned().collect();
        for s in &missing {
            let res = ec2
                .associate_route_table()
                .route_table_id(id)
                .subnet_id(s)
                .send()
                .await
                .map_err(|e| err("ec2:AssociateRouteTable", e));
            let association = match res {
                Ok(out) => out.association_id.unwrap_or_default(),
                // A retry whose first attempt went through: find that association.
                Err(e) if e.has_code("Resource.AlreadyAssociated") => {
                    let out = ec2.describe_route_tables().route_table_ids(id).send().await.map_err(|e| err("ec2:DescribeRouteTables", e))?;
                    out.route_tables()
                        .iter()
                        .flat_map(|t| t.associations())
                        .find(|a| a.subnet_id() == Some(s.as_str()))
                        .and_then(|a| a.route_table_association_id())
                        .map(str::to_string)
                        .ok_or(e)?
                }
                Err(e) => return Err(e),
            };
            assoc.insert(s.clone(), association);
        }
        let gone: Vec<String> = assoc.keys().filter(|s| !want.contains(*s)).cloned().collect();
        for s in gone {
            if let Some(a) = assoc.remove(&s) {
                match ec2
                    .disassociate_route_table()
                    .association_id(&a)
                    .send()
                    .await
                    .map_err(|e| err("ec2:DisassociateRouteTable", e))
                {
                    Err(e) if is_not_found(&e) => {}
                    other => {
                        other?;
                    }
                }
            }
        }
        Ok(assoc)
    }

    fn observed(name: &str, id: &str, props: &Props, assoc: BTreeMap<String, String>) -> Observed {
        let mut o = Observed::new(KIND, name, id);
        o.props = props.clone();
        for (s, a) in assoc {
            o.outputs.insert(format!("{ASSOC}{s}"), a);
        }
        o
    }
}

#[async_trait]
impl ResourceKind for Cloud {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn replace_fields(&self) -> &'static [&'static str] {
        &["vpc"]
    }

    fn normalize(&self, props: &mut Props) {
        if let Some(Value::Array(a)) = props.get_mut("routes") {
            a.sort_by_key(|r| r.get("destination").and_then(Value::as_str).unwrap_or("").to_string());
        }
        if let Some(Value::Array(a)) = props.get_mut("subnets") {
            a.sort_by_key(|v| v.as_str().unwrap_or("").to_string());
        }
    }

    async fn discover(&self) -> Result<Vec<Observed>, CloudError> {
        let tables: Vec<_> = self
            .0
            .aws
            .ec2
            .describe_route_tables()
            .filters(stack_filter(&self.0.stack))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("ec2:DescribeRouteTables", e))?;
        let mut out = Vec::new();
        for t in &tables {
            let (tags, name) = observed_tags(t.tags(), &self.0.stack);
            let (Some(name), Some(id)) = (name, t.route_table_id()) else {
                continue;
            };
            let mut routes: Vec<Route> = t
                .routes()
                .iter()
                .filter(|r| r.gateway_id() != Some("local"))
                .filter_map(|r| {
                    Some(Route {
                        destination: r.destination_cidr_block()?.to_string(),
                        internet_gateway: r.gateway_id().map(str::to_string),
                        nat_gateway: r.nat_gateway_id().map(str::to_string),
                    })
                })
                .collect();
            routes.sort();
            let mut assoc = BTreeMap::new();
            for a in t.associations() {
                if let (Some(s), Some(aid)) = (a.subnet_id(), a.route_table_association_id()) {
                    assoc.insert(s.to_string(), aid.to_string());
                }
            }
            let mut props = Props::new();
            props.insert("vpc".into(), t.vpc_id().unwrap_or_default().into());
            props.insert("routes".into(), serde_json::to_value(&routes).unwrap_or(Value::Null));
            props.insert("subnets".into(), assoc.keys().cloned().collect::<Vec<_>>().into());
            props.insert("tags".into(), tags);
            out.push(Self::observed(&name, id, &props, assoc));
        }
        Ok(out)
    }

    async fn create(&self, name: &str, props: &Props) -> Result<Observed, CloudError> {
        let ec2 = &self.0.aws.ec2;
        // The client token makes a repeat harmless on AWS; sent once anyway, and looked up
        // by its tags when the answer is lost, so that no service can make a duplicate.
        let id = super::create_once(
            || async {
                let out = ec2
                    .create_route_table()
                    .vpc_id(str_prop(props, "vpc")?)
                    .client_token(client_token(&self.0.stack, name, props))
                    .tag_specifications(tag_spec(ResourceType::RouteTable, props))
                    .customize()
                    .config_override(super::no_retries!(aws_sdk_ec2))
                    .send()
                    .await
                    .map_err(|e| err("ec2:CreateRouteTable", e))?;
                out.route_table
                    .and_then(|t| t.route_table_id)
                    .ok_or_else(|| CloudError::new("ec2:CreateRouteTable", "no route table id in the answer"))
            },
            || async {
                let out = ec2
                    .describe_route_tables()
                    .set_filters(Some(super::identity_filters(&self.0.stack, name)))
                    .send()
                    .await
                    .map_err(|e| err("ec2:DescribeRouteTables", e))?;
                Ok(out.route_tables().first().and_then(|t| t.route_table_id()).map(str::to_string))
            },
        )
        .await?;
        self.sync_routes(&id, &Props::new(), props).await?;
        let assoc = self.sync_subnets(&id, None, props).await?;
        Ok(Self::observed(name, &id, props, assoc))
    }

    async fn update(&self, name: &str, props: &Props, current: &Observed, changed: &[String]) -> Result<Observed, CloudError> {
        let has = |f: &str| changed.iter().any(|c| c == f);
        if has("routes") {
            self.sync_routes(&current.id, &current.props, props).await?;
        }
        let assoc = if has("subnets") {
            self.sync_subnets(&current.id, Some(current), props).await?
        } else {
            current
                .outputs
                .iter()
                .filter_map(|(k, v)| Some((k.strip_prefix(ASSOC)?.to_string(), v.clone())))
                .collect()
        };
        if has("tags") {
            sync_tags(&self.0.aws.ec2, &current.id, &current.props, props).await?;
        }
        Ok(Self::observed(name, &current.id, props, assoc))
    }

    async fn delete(&self, current: &Observed) -> Result<(), CloudError> {
        let mut none = Props::new();
        none.insert("subnets".into(), Value::Array(vec![]));
        self.sync_subnets(&current.id, Some(current), &none).await?;
        match self
            .0
            .aws
            .ec2
            .delete_route_table()
            .route_table_id(&current.id)
            .send()
            .await
            .map_err(|e| err("ec2:DeleteRouteTable", e))
        {
            Err(e) if is_not_found(&e) => Ok(()),
            other => other.map(|_| ()),
        }
    }
}
