//! Resource kinds, grouped by AWS service. Each kind's file holds its whole lifecycle: its
//! section of the stack file (spec, checks, desired properties) and its AWS side (finder,
//! pure observe and state functions, wait policy, create, update, delete), with the
//! fields it compares declared once, as its `Props` struct. Each service's `mod.rs` holds
//! what its kinds share (tags, error codes); `support` what every kind shares.
//!
//! A kind imports only its own service and `support` (a test keeps it so); it names other
//! kinds through [`names`]. Every kind is registered once, in [`KINDS`].

use std::sync::Arc;

use crate::engine::{Registry, ResourceKind};
use crate::model::KindModel;

pub mod budgets;
pub mod cloudfront;
pub mod cloudwatch;
pub mod ec2;
pub mod ecr;
pub mod ecs;
pub mod eks;
pub mod elbv2;
pub mod iam;
pub mod kubernetes;
pub mod logs;
pub mod names;
pub mod rds;
pub mod s3;
pub mod sns;
pub mod support;

pub use support::{Context, Options, Scope};

/// One registered kind: its stack-file side and its AWS side (which may stand for more
/// than one engine kind: a security group and its rules).
pub struct Entry {
    pub model: &'static dyn KindModel,
    pub cloud: fn(&Arc<Context>) -> Vec<Arc<dyn ResourceKind>>,
}

const fn kind(
    model: &'static dyn KindModel,
    cloud: fn(&Arc<Context>) -> Vec<Arc<dyn ResourceKind>>,
) -> Entry {
    Entry { model, cloud }
}

/// Every kind, in stack-file order.
pub static KINDS: &[Entry] = &[
    kind(&iam::oidc_provider::Model, iam::oidc_provider::cloud),
    kind(&iam::role::Model, iam::role::cloud),
    kind(&logs::log_group::Model, logs::log_group::cloud),
    kind(&ecs::cluster::Model, ecs::cluster::cloud),
    kind(&ecs::task_definition::Model, ecs::task_definition::cloud),
    kind(&ecs::service::Model, ecs::service::cloud),
    kind(&ec2::vpc::Model, ec2::vpc::cloud),
    kind(&ec2::subnet::Model, ec2::subnet::cloud),
    kind(&ec2::internet_gateway::Model, ec2::internet_gateway::cloud),
    kind(&ec2::elastic_ip::Model, ec2::elastic_ip::cloud),
    kind(&ec2::nat_gateway::Model, ec2::nat_gateway::cloud),
    kind(&ec2::route_table::Model, ec2::route_table::cloud),
    kind(&ec2::security_group::Model, ec2::security_group::cloud),
    kind(&s3::bucket::Model, s3::bucket::cloud),
    kind(&ecr::repository::Model, ecr::repository::cloud),
    kind(&elbv2::load_balancer::Model, elbv2::load_balancer::cloud),
    kind(&elbv2::target_group::Model, elbv2::target_group::cloud),
    kind(&elbv2::listener::Model, elbv2::listener::cloud),
    kind(&rds::subnet_group::Model, rds::subnet_group::cloud),
    kind(&rds::instance::Model, rds::instance::cloud),
    kind(&eks::cluster::Model, eks::cluster::cloud),
    kind(&eks::node_group::Model, eks::node_group::cloud),
    kind(&kubernetes::object::Model, kubernetes::object::cloud),
    kind(&sns::topic::Model, sns::topic::cloud),
    kind(&cloudwatch::alarm::Model, cloudwatch::alarm::cloud),
    kind(&budgets::budget::Model, budgets::budget::cloud),
    kind(
        &cloudfront::distribution::Model,
        cloudfront::distribution::cloud,
    ),
];

/// The stack-file side of every kind, in stack-file order.
pub fn models() -> Vec<&'static dyn KindModel> {
    KINDS.iter().map(|e| e.model).collect()
}

/// The AWS side of every kind.
pub fn registry(cx: Arc<Context>) -> Registry {
    Registry::new(KINDS.iter().flat_map(|e| (e.cloud)(&cx)).collect())
}
