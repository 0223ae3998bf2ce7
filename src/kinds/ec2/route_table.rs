//! Route table: VPC (replacement); routes to an internet or NAT gateway and subnet
//! associations (both in place, route by route), tags.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ec2::types::ResourceType;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{identity_filters, stack_filter, tag_spec, tags_of, Ec2Tags};
use crate::aws::{err, is_not_found};
use crate::engine::{as_ref, CloudError, Deletion, Desired, KindInfo, Observed, ResourceKind};
use crate::kinds::names;
use crate::kinds::support::retry::{already_done, client_token, create_once, no_retries};
use crate::kinds::support::tags::{identity, owned, sync_tags, Tags};
use crate::kinds::support::{adapt, desired, props_of, Context, Found, Kind};
use crate::model::net::Cidr;
use crate::model::{Cx, KindModel};

pub static INFO: KindInfo = KindInfo {
    replace: &["vpc"],
    ..KindInfo::new(names::ROUTE_TABLE, "route_tables", "ec2")
};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Spec {
    vpc: String,
    #[serde(default)]
    routes: Vec<RouteSpec>,
    /// Subnets associated with this table.
    #[serde(default)]
    subnets: Vec<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RouteSpec {
    destination: String,
    #[serde(default)]
    internet_gateway: Option<String>,
    #[serde(default)]
    nat_gateway: Option<String>,
}

/// A route as compared: destination and exactly one target.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route<R = String> {
    pub destination: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub internet_gateway: Option<R>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nat_gateway: Option<R>,
}

/// What is compared; `R` names other resources (references, then ids).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Props<R = String> {
    pub vpc: R,
    pub routes: Vec<Route<R>>,
    pub subnets: Vec<R>,
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
        let mut routes = Vec::new();
        let mut seen = BTreeSet::new();
        for (i, r) in spec.routes.iter().enumerate() {
            let f = format!("routes[{i}]");
            if let Err(m) = Cidr::parse(&r.destination) {
                cx.error(&format!("{f}.destination"), m);
            }
            if !seen.insert(r.destination.clone()) {
                cx.error(
                    &format!("{f}.destination"),
                    format!("two routes for {}", r.destination),
                );
            }
            let mut route = Route {
                destination: r.destination.clone(),
                internet_gateway: None,
                nat_gateway: None,
            };
            match (&r.internet_gateway, &r.nat_gateway) {
                (Some(g), None) => {
                    let field = format!("{f}.internet_gateway");
                    route.internet_gateway =
                        Some(cx.reference(&field, g, &[names::INTERNET_GATEWAY]));
                }
                (None, Some(n)) => {
                    let field = format!("{f}.nat_gateway");
                    route.nat_gateway = Some(cx.reference(&field, n, &[names::NAT_GATEWAY]));
                }
                _ => cx.error(
                    &f,
                    "a route needs exactly one target: internet_gateway or nat_gateway",
                ),
            }
            routes.push(route);
        }
        let mut subnets = Vec::new();
        for (i, s) in spec.subnets.iter().enumerate() {
            if spec.subnets[..i].contains(s) {
                cx.error(
                    &format!("subnets[{i}]"),
                    format!("subnet `{s}` is listed twice"),
                );
            }
            subnets.push(cx.reference(&format!("subnets[{i}]"), s, &[names::SUBNET]));
        }
        let props = Props {
            vpc: cx.reference("vpc", &spec.vpc, &[names::VPC]),
            routes,
            subnets,
            tags: cx.tags(),
        };
        vec![desired(&INFO, name, &props)]
    }

    fn check(&self, cx: &mut Cx, d: &Desired, all: &BTreeMap<String, Desired>) {
        // A subnet belongs to at most one route table.
        let subnets = |d: &Desired| -> Vec<String> {
            props_of::<Props<Value>>(d)
                .map(|p| {
                    p.subnets
                        .iter()
                        .filter_map(|v| as_ref(v).map(|(n, _)| n.to_string()))
                        .collect()
                })
                .unwrap_or_default()
        };
        let mine = subnets(d);
        for other in all
            .values()
            .filter(|o| o.kind == INFO.kind && o.name < d.name)
        {
            for s in subnets(other) {
                if let Some(i) = mine.iter().position(|m| *m == s) {
                    cx.error(
                        &format!("subnets[{i}]"),
                        format!(
                            "subnet `{s}` is already associated with route table `{}`",
                            other.name
                        ),
                    );
                }
            }
        }
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![adapt(RouteTable(cx.clone()))]
}

/// Who holds a subnet's association, for a table that wants it.
enum Holder {
    /// The table that wants it (its association id).
    Ours(String),
    /// A table that is not the stack's.
    Foreign(String),
    Nobody,
}

pub struct RouteTable(pub Arc<Context>);

/// Outputs `association:<subnet id>` hold the association ids, needed to undo them.
const ASSOC: &str = "association:";

fn associations(f: &Found<Props>) -> BTreeMap<String, String> {
    f.outputs
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(ASSOC)?.to_string(), v.clone())))
        .collect()
}

fn with_associations(mut f: Found<Props>, assoc: BTreeMap<String, String>) -> Found<Props> {
    f.outputs.retain(|k, _| !k.starts_with(ASSOC));
    for (s, a) in assoc {
        f.outputs.insert(format!("{ASSOC}{s}"), a);
    }
    f
}

impl RouteTable {
    async fn sync_routes(
        &self,
        id: &str,
        have: &[Route],
        want: &[Route],
    ) -> Result<(), CloudError> {
        let ec2 = &self.0.aws.ec2;
        let by_dest = |rs: &[Route]| -> BTreeMap<String, Route> {
            rs.iter()
                .map(|r| (r.destination.clone(), r.clone()))
                .collect()
        };
        let (have, want) = (by_dest(have), by_dest(want));
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
                    already_done(res, &["RouteAlreadyExists"])?;
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

    /// Associate `subnet` with table `id`. When a table holds it already: this one (a
    /// retry whose first attempt went through) gives its association; another of the
    /// stack's tables it moves from in this run gives it up in one call (that table's own
    /// update then finds it gone), or has let it go meanwhile (associated again).
    async fn associate(&self, id: &str, subnet: &str) -> Result<String, CloudError> {
        let mut tries = 0;
        loop {
            let res = self
                .0
                .aws
                .ec2
                .associate_route_table()
                .route_table_id(id)
                .subnet_id(subnet)
                .send()
                .await
                .map_err(|e| err("ec2:AssociateRouteTable", e));
            match res {
                Ok(out) => return Ok(out.association_id.unwrap_or_default()),
                Err(e) if e.has_code("Resource.AlreadyAssociated") => {
                    match self.take_over(id, subnet).await? {
                        Holder::Ours(association) => return Ok(association),
                        Holder::Foreign(table) => {
                            return Err(CloudError {
                                message: format!(
                                    "{}; route table {table}, not the stack's, holds it",
                                    e.message
                                ),
                                ..e
                            })
                        }
                        Holder::Nobody if tries < 3 => tries += 1,
                        Holder::Nobody => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Who holds `subnet`, moved to table `id` when it is another of the stack's tables.
    async fn take_over(&self, id: &str, subnet: &str) -> Result<Holder, CloudError> {
        let ec2 = &self.0.aws.ec2;
        let out = ec2
            .describe_route_tables()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("association.subnet-id")
                    .values(subnet)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| err("ec2:DescribeRouteTables", e))?;
        let Some(holder) = out.route_tables().first() else {
            return Ok(Holder::Nobody);
        };
        let Some(association) = holder
            .associations()
            .iter()
            .find(|a| a.subnet_id() == Some(subnet))
            .and_then(|a| a.route_table_association_id())
        else {
            return Ok(Holder::Nobody);
        };
        if holder.route_table_id() == Some(id) {
            return Ok(Holder::Ours(association.to_string()));
        }
        if !owned(&tags_of(holder.tags()), self.0.stack()) {
            return Ok(Holder::Foreign(
                holder.route_table_id().unwrap_or_default().to_string(),
            ));
        }
        let moved = ec2
            .replace_route_table_association()
            .association_id(association)
            .route_table_id(id)
            .send()
            .await
            .map_err(|e| err("ec2:ReplaceRouteTableAssociation", e))?;
        Ok(Holder::Ours(moved.new_association_id.unwrap_or_default()))
    }

    /// Associate and disassociate subnets, from `assoc` (subnet -> association id) to
    /// `want`; returns the association ids by subnet.
    async fn sync_subnets(
        &self,
        id: &str,
        mut assoc: BTreeMap<String, String>,
        want: &[String],
    ) -> Result<BTreeMap<String, String>, CloudError> {
        let ec2 = &self.0.aws.ec2;
        // Each subnet's association is a call of its own: all sent at once.
        let missing = want
            .iter()
            .filter(|s| !assoc.contains_key(*s))
            .map(|s| async move { Ok::<_, CloudError>((s.clone(), self.associate(id, s).await?)) });
        let made = futures::future::try_join_all(missing).await?;
        let gone: Vec<(String, String)> = assoc
            .iter()
            .filter(|(s, _)| !want.contains(*s))
            .map(|(s, a)| (s.clone(), a.clone()))
            .collect();
        let undo = gone.iter().map(|(_, a)| async move {
            match ec2
                .disassociate_route_table()
                .association_id(a)
                .send()
                .await
                .map_err(|e| err("ec2:DisassociateRouteTable", e))
            {
                Err(e) if is_not_found(&e) => Ok(()),
                other => other.map(|_| ()),
            }
        });
        futures::future::try_join_all(undo).await?;
        for (s, _) in gone {
            assoc.remove(&s);
        }
        assoc.extend(made);
        Ok(assoc)
    }
}

#[async_trait]
impl Kind for RouteTable {
    type Props = Props;
    type Remote = aws_sdk_ec2::types::RouteTable;

    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    async fn adopt(&self, id: &str, identity: &Tags) -> Option<Result<(), CloudError>> {
        Some(super::adopt(&self.0, "route table", "rtb-", id, identity).await)
    }

    fn normalize(p: &mut Props) {
        p.routes.sort();
        p.subnets.sort();
    }

    async fn list(&self, _parents: &[Observed]) -> Result<Vec<Self::Remote>, CloudError> {
        self.0
            .aws
            .ec2
            .describe_route_tables()
            .filters(stack_filter(self.0.stack()))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("ec2:DescribeRouteTables", e))
    }

    fn observe(&self, t: &Self::Remote) -> Option<Found<Props>> {
        let tags = tags_of(t.tags());
        let name = identity(&tags, self.0.stack())?;
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
        let assoc: BTreeMap<String, String> = t
            .associations()
            .iter()
            .filter_map(|a| {
                Some((
                    a.subnet_id()?.to_string(),
                    a.route_table_association_id()?.to_string(),
                ))
            })
            .collect();
        let props = Props {
            vpc: t.vpc_id().unwrap_or_default().to_string(),
            routes,
            subnets: assoc.keys().cloned().collect(),
            tags,
        };
        Some(with_associations(
            Found::new(name, t.route_table_id()?, props),
            assoc,
        ))
    }

    async fn create(&self, name: &str, want: &Props) -> Result<Found<Props>, CloudError> {
        let ec2 = &self.0.aws.ec2;
        // The client token makes a repeat harmless on AWS; sent once anyway, and looked up
        // by its tags when the answer is lost, so that no service can make a duplicate.
        let token = client_token(self.0.stack(), name);
        let id = create_once(
            || async {
                let out = ec2
                    .create_route_table()
                    .vpc_id(&want.vpc)
                    .client_token(&token)
                    .tag_specifications(tag_spec(ResourceType::RouteTable, &want.tags))
                    .customize()
                    .config_override(no_retries!(aws_sdk_ec2))
                    .send()
                    .await
                    .map_err(|e| err("ec2:CreateRouteTable", e))?;
                out.route_table
                    .and_then(|t| t.route_table_id)
                    .ok_or_else(|| {
                        CloudError::new("ec2:CreateRouteTable", "no route table id in the answer")
                    })
            },
            || async {
                let out = ec2
                    .describe_route_tables()
                    .set_filters(Some(identity_filters(self.0.stack(), name)))
                    .send()
                    .await
                    .map_err(|e| err("ec2:DescribeRouteTables", e))?;
                Ok(out
                    .route_tables()
                    .first()
                    .and_then(|t| t.route_table_id())
                    .map(str::to_string))
            },
        )
        .await?;
        self.sync_routes(&id, &[], &want.routes).await?;
        let assoc = self
            .sync_subnets(&id, BTreeMap::new(), &want.subnets)
            .await?;
        Ok(with_associations(Found::new(name, id, want.clone()), assoc))
    }

    async fn update(
        &self,
        current: &Found<Props>,
        want: &Props,
    ) -> Result<Found<Props>, CloudError> {
        let have = &current.props;
        if have.routes != want.routes {
            self.sync_routes(&current.id, &have.routes, &want.routes)
                .await?;
        }
        let assoc = self
            .sync_subnets(&current.id, associations(current), &want.subnets)
            .await?;
        sync_tags(
            &Ec2Tags(&self.0.aws.ec2),
            &current.id,
            &have.tags,
            &want.tags,
        )
        .await?;
        Ok(with_associations(current.with_props(want.clone()), assoc))
    }

    async fn delete(&self, current: &Found<Props>) -> Result<Deletion, CloudError> {
        self.sync_subnets(&current.id, associations(current), &[])
            .await?;
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
            Err(e) if is_not_found(&e) => Ok(Deletion::Gone),
            other => other.map(|_| Deletion::Gone),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::support::testing::{self, assert_observes, context, out};
    use aws_sdk_ec2::types::{Route as SdkRoute, RouteTableAssociation};

    #[test]
    fn a_described_table_is_what_the_file_wants() {
        let file = "vpcs:\n  main: {cidr: 10.0.0.0/16}\nsubnets:\n  pub-a: {vpc: main, cidr: 10.0.1.0/24, zone: eu-west-3a}\n  pub-b: {vpc: main, cidr: 10.0.2.0/24, zone: eu-west-3b}\ninternet_gateways:\n  igw: {vpc: main}\nroute_tables:\n  public:\n    vpc: main\n    routes: [{destination: 0.0.0.0/0, internet_gateway: igw}]\n    subnets: [pub-b, pub-a]\n";
        let assoc = |s: &str| {
            RouteTableAssociation::builder()
                .subnet_id(out(s, "id"))
                .route_table_association_id(format!("rtbassoc-{s}"))
                .build()
        };
        let remote = aws_sdk_ec2::types::RouteTable::builder()
            .route_table_id("rtb-1")
            .vpc_id(out("main", "id"))
            .routes(
                SdkRoute::builder()
                    .destination_cidr_block("10.0.0.0/16")
                    .gateway_id("local")
                    .build(),
            )
            .routes(
                SdkRoute::builder()
                    .destination_cidr_block("0.0.0.0/0")
                    .gateway_id(out("igw", "id"))
                    .build(),
            )
            .associations(assoc("pub-a"))
            .associations(assoc("pub-b"))
            .set_tags(Some(super::super::sdk_tags(testing::identity_tags(
                "public",
            ))))
            .build();
        let found = RouteTable(context()).observe(&remote).expect("observed");
        assert_eq!(
            associations(&found).len(),
            2,
            "association ids kept as outputs"
        );
        assert_observes(RouteTable(context()), &remote, file, "public");
    }
}
