//! The operators of an EKS cluster (`admins` of `eks_clusters.<name>`): an access entry
//! per IAM principal with the cluster-admin access policy, tagged as the stack's. Only the
//! entries carrying the stack's tags are the stack's: the entry EKS makes for whoever
//! created the cluster and those it makes for node roles are left alone.
//!
//! Made once the cluster is active (access entries need it), deleted before it.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_eks::types::{AccessScope, AccessScopeType};
use serde::{Deserialize, Serialize};

use super::{tags_of, NOT_FOUND};
use crate::aws::err;
use crate::engine::{CloudError, Deletion, KindInfo, Observed};
use crate::kinds::names;
use crate::kinds::support::tags::{owned, Tags};
use crate::kinds::support::{Context, Found, Kind};

pub static INFO: KindInfo = KindInfo {
    replace: &["cluster"],
    // Found through the stack's clusters.
    parent: Some(names::EKS_CLUSTER),
    ..KindInfo::new(names::EKS_ACCESS, "", "eks")
};

/// The name of a cluster's access in the plan: `<cluster>.admins`.
pub const SUFFIX: &str = ".admins";

const ADMIN_POLICY: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy";

/// What is compared; `R` names the cluster and the stack's roles (references, then
/// names and ARNs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Props<R = String> {
    pub cluster: R,
    /// IAM principal ARNs with cluster-admin access.
    pub admins: Vec<R>,
    pub tags: Tags,
}

/// An IAM principal that can be given an access entry: a role or a user of an account.
pub fn check_principal(arn: &str) -> Result<(), String> {
    let bad = || {
        format!(
            "`{arn}` is neither a role of the stack nor an IAM principal ARN \
             (arn:aws:iam::<account>:role/<name> or :user/<name>)"
        )
    };
    let rest = arn
        .strip_prefix("arn:aws:iam::")
        .or_else(|| arn.strip_prefix("arn:aws-us-gov:iam::"))
        .or_else(|| arn.strip_prefix("arn:aws-cn:iam::"))
        .ok_or_else(bad)?;
    let (account, what) = rest.split_once(':').ok_or_else(bad)?;
    let ok = account.len() == 12
        && account.chars().all(|c| c.is_ascii_digit())
        && (what.starts_with("role/") || what.starts_with("user/"))
        && what.len() > 5;
    if ok {
        Ok(())
    } else if what.starts_with("assumed-role/") {
        Err(format!(
            "`{arn}` is a session of a role: give the role's ARN (arn:aws:iam::<account>:role/<name>)"
        ))
    } else {
        Err(bad())
    }
}

pub struct EksAccess(pub Arc<Context>);

/// One cluster's access entries: (cluster, principal, tags).
pub type Entries = (String, Vec<(String, Tags)>);

impl EksAccess {
    async fn entries(&self, cluster: &str) -> Result<Vec<(String, Tags)>, CloudError> {
        let eks = &self.0.aws.eks;
        let principals: Vec<String> = match eks
            .list_access_entries()
            .cluster_name(cluster)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| err("eks:ListAccessEntries", e))
        {
            Err(e) if e.has_code(NOT_FOUND) => return Ok(Vec::new()),
            // A cluster still being made or deleted takes no entry questions yet.
            Err(e) if e.has_code("ResourceInUseException") => return Ok(Vec::new()),
            other => other?,
        };
        let mut out = Vec::new();
        for principal in principals {
            let got = eks
                .describe_access_entry()
                .cluster_name(cluster)
                .principal_arn(&principal)
                .send()
                .await
                .map_err(|e| err("eks:DescribeAccessEntry", e));
            match got {
                Err(e) if e.has_code(NOT_FOUND) => continue,
                Err(e) => return Err(e),
                Ok(o) => {
                    let tags = tags_of(o.access_entry().and_then(|a| a.tags()));
                    out.push((principal, tags));
                }
            }
        }
        Ok(out)
    }

    async fn grant(&self, cluster: &str, principal: &str, tags: &Tags) -> Result<(), CloudError> {
        let eks = &self.0.aws.eks;
        let made = eks
            .create_access_entry()
            .cluster_name(cluster)
            .principal_arn(principal)
            .set_tags(Some(tags.clone().into_iter().collect()))
            .send()
            .await
            .map_err(|e| err("eks:CreateAccessEntry", e));
        match made {
            // Made by an earlier, interrupted run: the policy is associated again below.
            Err(e) if e.has_code("ResourceInUseException") => {}
            other => {
                other?;
            }
        }
        eks.associate_access_policy()
            .cluster_name(cluster)
            .principal_arn(principal)
            .policy_arn(ADMIN_POLICY)
            .access_scope(
                AccessScope::builder()
                    .r#type(AccessScopeType::Cluster)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| err("eks:AssociateAccessPolicy", e))?;
        Ok(())
    }

    async fn revoke(&self, cluster: &str, principal: &str) -> Result<(), CloudError> {
        match self
            .0
            .aws
            .eks
            .delete_access_entry()
            .cluster_name(cluster)
            .principal_arn(principal)
            .send()
            .await
            .map_err(|e| err("eks:DeleteAccessEntry", e))
        {
            Err(e) if e.has_code(NOT_FOUND) => Ok(()),
            other => other.map(|_| ()),
        }
    }
}

#[async_trait]
impl Kind for EksAccess {
    type Props = Props;
    type Remote = Entries;

    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    fn normalize(p: &mut Props) {
        p.admins.sort();
        p.admins.dedup();
    }

    async fn list(&self, clusters: &[Observed]) -> Result<Vec<Entries>, CloudError> {
        let mut out = Vec::new();
        for c in clusters.iter().filter(|c| !c.deleting) {
            out.push((c.id.clone(), self.entries(&c.id).await?));
        }
        Ok(out)
    }

    /// The cluster's entries that carry the stack's tags; none: nothing of the stack.
    fn observe(&self, (cluster, entries): &Entries) -> Option<Found<Props>> {
        let stack = self.0.stack();
        let ours: Vec<&(String, Tags)> = entries.iter().filter(|(_, t)| owned(t, stack)).collect();
        let (_, tags) = ours.first()?;
        let name = tags.get(crate::model::TAG_NAME)?.clone();
        let mut admins: Vec<String> = ours.iter().map(|(p, _)| p.clone()).collect();
        admins.sort();
        let props = Props {
            cluster: cluster.clone(),
            admins,
            tags: (*tags).clone(),
        };
        Some(Found::new(name, format!("{cluster}{SUFFIX}"), props))
    }

    async fn create(&self, name: &str, want: &Props) -> Result<Found<Props>, CloudError> {
        for p in &want.admins {
            self.grant(&want.cluster, p, &want.tags).await?;
        }
        Ok(Found::new(
            name,
            format!("{}{SUFFIX}", want.cluster),
            want.clone(),
        ))
    }

    async fn update(
        &self,
        current: &Found<Props>,
        want: &Props,
    ) -> Result<Found<Props>, CloudError> {
        let have = &current.props;
        for p in want.admins.iter().filter(|p| !have.admins.contains(p)) {
            self.grant(&want.cluster, p, &want.tags).await?;
        }
        for p in have.admins.iter().filter(|p| !want.admins.contains(p)) {
            self.revoke(&want.cluster, p).await?;
        }
        if have.tags != want.tags {
            for p in want.admins.iter().filter(|p| have.admins.contains(p)) {
                let arn = self
                    .0
                    .aws
                    .eks
                    .describe_access_entry()
                    .cluster_name(&want.cluster)
                    .principal_arn(p)
                    .send()
                    .await
                    .map_err(|e| err("eks:DescribeAccessEntry", e))?
                    .access_entry
                    .and_then(|a| a.access_entry_arn)
                    .unwrap_or_default();
                crate::kinds::support::tags::sync_tags(
                    &super::EksTags(&self.0.aws.eks),
                    &arn,
                    &have.tags,
                    &want.tags,
                )
                .await?;
            }
        }
        Ok(current.with_props(want.clone()))
    }

    async fn delete(&self, current: &Found<Props>) -> Result<Deletion, CloudError> {
        for p in &current.props.admins {
            self.revoke(&current.props.cluster, p).await?;
        }
        Ok(Deletion::Gone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::support::testing::{self, assert_observes, context, out};

    const FILE: &str = "iam_roles:\n  eks: {trust: [eks.amazonaws.com]}\n  ci: {trust: [ec2.amazonaws.com]}\nvpcs:\n  main: {cidr: 10.0.0.0/16}\nsubnets:\n  a: {vpc: main, cidr: 10.0.1.0/24, zone: eu-west-3a}\n  b: {vpc: main, cidr: 10.0.2.0/24, zone: eu-west-3b}\neks_clusters:\n  web: {version: '1.34', role: eks, subnets: [a, b], admins: [ci, 'arn:aws:iam::123456789012:user/alice']}\n";

    #[test]
    fn only_the_stacks_tagged_entries_are_its_admins() {
        let ours = testing::identity_tags("web.admins");
        let entries: Entries = (
            out("web", "id"),
            vec![
                // EKS's own: the creator's entry and a node role's.
                ("arn:aws:iam::123456789012:role/creator".into(), Tags::new()),
                (
                    "arn:aws:iam::123456789012:role/app-nodes".into(),
                    testing::foreign_tags("web.admins"),
                ),
                (out("ci", "arn"), ours.clone()),
                ("arn:aws:iam::123456789012:user/alice".into(), ours),
            ],
        );
        assert_observes(EksAccess(context()), &entries, FILE, "web.admins");
        let none: Entries = (out("web", "id"), vec![("x".into(), Tags::new())]);
        assert!(
            EksAccess(context()).observe(&none).is_none(),
            "no entry of the stack: nothing"
        );
    }

    #[test]
    fn principals_are_roles_or_users_of_an_account() {
        assert!(check_principal("arn:aws:iam::123456789012:role/ci").is_ok());
        assert!(check_principal("arn:aws:iam::123456789012:user/alice").is_ok());
        assert!(check_principal("arn:aws:sts::123456789012:assumed-role/ci/x").is_err());
        assert!(
            check_principal("arn:aws:iam::123456789012:assumed-role/ci/x")
                .is_err_and(|e| e.contains("session"))
        );
        assert!(check_principal("arn:aws:iam::1234:role/ci").is_err());
        assert!(check_principal("ci").is_err());
    }
}
