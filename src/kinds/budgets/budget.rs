//! AWS Budgets monthly cost budget: name (replacement); limit and alerts (in place), each
//! alert mailing the given addresses when actual or forecast spend passes a percentage;
//! tags. A budget is the stack's by its tags, like everything else: the name prefix alone
//! proves nothing. Subscriber addresses are written, not read back (`write_only`): the
//! Budgets API lists them per notification only.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_budgets::types::{
    Budget, BudgetType, ComparisonOperator, Notification, NotificationType,
    NotificationWithSubscribers, ResourceTag, Spend, Subscriber, SubscriptionType, ThresholdType,
    TimeUnit,
};
use serde::{Deserialize, Serialize};

use crate::aws::err;
use crate::engine::{CloudError, Deletion, Desired, KindInfo, Observed, ResourceKind};
use crate::kinds::names;
use crate::kinds::support::tags::{
    check_home, identity, name_taken, owned, sync_tags, ServiceTags, Tags,
};
use crate::kinds::support::{adapt, desired, wanted_name, Context, Found, Kind};
use crate::model::net::check_email;
use crate::model::{Cx, KindModel};

pub static INFO: KindInfo = KindInfo {
    replace: &["budget_name"],
    write_only: &["email"],
    ..KindInfo::new(names::BUDGET, "budgets", "budgets")
};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Spec {
    limit_usd: f64,
    alerts: Vec<AlertSpec>,
    email: Vec<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct AlertSpec {
    threshold_percent: f64,
    /// actual or forecasted.
    #[serde(rename = "type")]
    kind: String,
}

/// An alert as compared.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, PartialOrd)]
pub struct Alert {
    #[serde(rename = "type")]
    pub kind: String,
    pub threshold_percent: f64,
}

/// What is compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Props {
    pub budget_name: String,
    pub limit_usd: f64,
    pub alerts: Vec<Alert>,
    #[serde(default)]
    pub email: Vec<String>,
    pub tags: Tags,
}

fn sort_alerts(a: &mut [Alert]) {
    a.sort_by(|x, y| x.partial_cmp(y).unwrap_or(std::cmp::Ordering::Equal));
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
        if !(spec.limit_usd > 0.0 && spec.limit_usd <= 1_000_000.0) {
            cx.error(
                "limit_usd",
                "the monthly limit is a positive amount of US dollars",
            );
        }
        if spec.alerts.is_empty() || spec.alerts.len() > 5 {
            cx.error("alerts", "a budget has 1 to 5 alerts");
        }
        let mut alerts = Vec::new();
        for (i, a) in spec.alerts.iter().enumerate() {
            let f = format!("alerts[{i}]");
            if !(a.threshold_percent > 0.0 && a.threshold_percent <= 1000.0) {
                cx.error(
                    &format!("{f}.threshold_percent"),
                    "a threshold is a percentage of the limit, above 0 and at most 1000",
                );
            }
            if a.kind != "actual" && a.kind != "forecasted" {
                cx.error(
                    &format!("{f}.type"),
                    format!("unknown alert type `{}`: use actual or forecasted", a.kind),
                );
            }
            let alert = Alert {
                kind: a.kind.clone(),
                threshold_percent: a.threshold_percent,
            };
            if alerts.contains(&alert) {
                cx.error(&f, "the same alert is given twice");
            }
            alerts.push(alert);
        }
        sort_alerts(&mut alerts);
        if spec.email.is_empty() || spec.email.len() > 10 {
            cx.error("email", "alerts go to 1 to 10 email addresses");
        }
        for (i, e) in spec.email.iter().enumerate() {
            cx.check(&format!("email[{i}]"), check_email(e));
        }
        let props = Props {
            budget_name: cx.physical_name(name),
            limit_usd: spec.limit_usd,
            alerts,
            email: spec.email,
            tags: cx.global_tags(),
        };
        vec![desired(&INFO, name, &props)]
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![adapt(BudgetKind(cx.clone()))]
}

pub struct BudgetKind(pub Arc<Context>);

fn notification(a: &Alert) -> Result<Notification, CloudError> {
    Notification::builder()
        .notification_type(if a.kind == "forecasted" {
            NotificationType::Forecasted
        } else {
            NotificationType::Actual
        })
        .comparison_operator(ComparisonOperator::GreaterThan)
        .threshold(a.threshold_percent)
        .threshold_type(ThresholdType::Percentage)
        .build()
        .map_err(|e| CloudError::new("budgets:CreateNotification", e.to_string()))
}

fn subscribers(p: &Props) -> Result<Vec<Subscriber>, CloudError> {
    p.email
        .iter()
        .map(|e| {
            Subscriber::builder()
                .subscription_type(SubscriptionType::Email)
                .address(e)
                .build()
                .map_err(|e| CloudError::new("budgets:CreateBudget", e.to_string()))
        })
        .collect()
}

fn resource_tags(tags: &Tags) -> Result<Vec<ResourceTag>, CloudError> {
    tags.iter()
        .map(|(k, v)| {
            ResourceTag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| CloudError::new("budgets:TagResource", e.to_string()))
        })
        .collect()
}

/// Budgets' tag calls (by ARN).
struct BudgetTags<'a>(&'a aws_sdk_budgets::Client);

#[async_trait]
impl ServiceTags for BudgetTags<'_> {
    async fn tag(&self, arn: &str, set: &Tags) -> Result<(), CloudError> {
        self.0
            .tag_resource()
            .resource_arn(arn)
            .set_resource_tags(Some(resource_tags(set)?))
            .send()
            .await
            .map_err(|e| err("budgets:TagResource", e))?;
        Ok(())
    }

    async fn untag(&self, arn: &str, keys: &[String]) -> Result<(), CloudError> {
        self.0
            .untag_resource()
            .resource_arn(arn)
            .set_resource_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .map_err(|e| err("budgets:UntagResource", e))?;
        Ok(())
    }
}

impl BudgetKind {
    fn budgets(&self) -> &aws_sdk_budgets::Client {
        &self.0.aws.budgets
    }

    fn account(&self) -> &str {
        &self.0.scope.account
    }

    fn arn(&self, budget: &str) -> String {
        format!("arn:aws:budgets::{}:budget/{budget}", self.account())
    }

    async fn tags(&self, budget: &str) -> Result<Tags, CloudError> {
        let t = self
            .budgets()
            .list_tags_for_resource()
            .resource_arn(self.arn(budget))
            .send()
            .await
            .map_err(|e| err("budgets:ListTagsForResource", e))?;
        Ok(crate::kinds::support::tags::visible(
            t.resource_tags().iter().map(|t| (t.key(), t.value())),
        ))
    }

    fn budget(&self, p: &Props) -> Result<Budget, CloudError> {
        let spend = Spend::builder()
            .amount(format!("{}", p.limit_usd))
            .unit("USD")
            .build()
            .map_err(|e| CloudError::new("budgets:CreateBudget", e.to_string()))?;
        Budget::builder()
            .budget_name(&p.budget_name)
            .budget_limit(spend)
            .time_unit(TimeUnit::Monthly)
            .budget_type(BudgetType::Cost)
            .build()
            .map_err(|e| CloudError::new("budgets:CreateBudget", e.to_string()))
    }

    async fn sync(&self, budget: &str, have: &Props, want: &Props) -> Result<(), CloudError> {
        let b = self.budgets();
        if have.limit_usd != want.limit_usd {
            b.update_budget()
                .account_id(self.account())
                .new_budget(self.budget(want)?)
                .send()
                .await
                .map_err(|e| err("budgets:UpdateBudget", e))?;
        }
        for a in want.alerts.iter().filter(|a| !have.alerts.contains(a)) {
            b.create_notification()
                .account_id(self.account())
                .budget_name(budget)
                .notification(notification(a)?)
                .set_subscribers(Some(subscribers(want)?))
                .send()
                .await
                .map_err(|e| err("budgets:CreateNotification", e))?;
        }
        for a in have.alerts.iter().filter(|a| !want.alerts.contains(a)) {
            b.delete_notification()
                .account_id(self.account())
                .budget_name(budget)
                .notification(notification(a)?)
                .send()
                .await
                .map_err(|e| err("budgets:DeleteNotification", e))?;
        }
        sync_tags(&BudgetTags(b), &self.arn(budget), &have.tags, &want.tags).await
    }
}

#[async_trait]
impl Kind for BudgetKind {
    type Props = Props;
    /// A budget, its alerts and its tags.
    type Remote = (Budget, Vec<Alert>, Tags);

    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    async fn name_holder(&self, want: &Desired) -> Result<Option<(String, Tags)>, CloudError> {
        let Some(name) = wanted_name(want, "budget_name") else {
            return Ok(None);
        };
        let found = self
            .budgets()
            .describe_budget()
            .account_id(&self.0.scope.account)
            .budget_name(&name)
            .send()
            .await
            .map_err(|e| err("budgets:DescribeBudget", e));
        match found {
            Err(e) if e.has_code("NotFoundException") => Ok(None),
            Err(e) => Err(e),
            Ok(_) => Ok(Some((name.clone(), self.tags(&name).await?))),
        }
    }

    async fn list(&self, _parents: &[Observed]) -> Result<Vec<Self::Remote>, CloudError> {
        let budgets: Vec<Budget> = self
            .budgets()
            .describe_budgets()
            .account_id(self.account())
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("budgets:DescribeBudgets", e))?;
        let prefix = format!("{}-", self.0.stack());
        let reads = budgets
            .into_iter()
            .filter(|b| b.budget_name().starts_with(&prefix))
            .map(|b| async move {
                let tags = self.tags(b.budget_name()).await?;
                check_home(
                    "budgets:DescribeBudgets",
                    "budget",
                    b.budget_name(),
                    &tags,
                    &self.0.scope,
                )?;
                if !owned(&tags, self.0.stack()) {
                    return Ok::<_, CloudError>((b, Vec::new(), tags));
                }
                let n = self
                    .budgets()
                    .describe_notifications_for_budget()
                    .account_id(self.account())
                    .budget_name(b.budget_name())
                    .send()
                    .await
                    .map_err(|e| err("budgets:DescribeNotificationsForBudget", e))?;
                let mut alerts: Vec<Alert> = n
                    .notifications()
                    .iter()
                    .map(|x| Alert {
                        kind: if x.notification_type() == &NotificationType::Forecasted {
                            "forecasted".into()
                        } else {
                            "actual".into()
                        },
                        threshold_percent: x.threshold(),
                    })
                    .collect();
                sort_alerts(&mut alerts);
                // A notification is unique by type and threshold on AWS; a copy (the
                // emulator makes one when a create is retried) is the same alert.
                alerts.dedup();
                Ok((b, alerts, tags))
            });
        futures::future::try_join_all(reads).await
    }

    fn observe(&self, (b, alerts, tags): &Self::Remote) -> Option<Found<Props>> {
        let name = identity(tags, self.0.stack())?;
        let props = Props {
            budget_name: b.budget_name().to_string(),
            limit_usd: b
                .budget_limit()
                .and_then(|s| s.amount().parse().ok())
                .unwrap_or(0.0),
            alerts: alerts.clone(),
            email: Vec::new(),
            tags: tags.clone(),
        };
        Some(Found::new(name, b.budget_name(), props))
    }

    async fn create(&self, name: &str, want: &Props) -> Result<Found<Props>, CloudError> {
        let subs = subscribers(want)?;
        let mut req = self
            .budgets()
            .create_budget()
            .account_id(self.account())
            .budget(self.budget(want)?)
            .set_resource_tags(Some(resource_tags(&want.tags)?));
        for a in &want.alerts {
            req = req.notifications_with_subscribers(
                NotificationWithSubscribers::builder()
                    .notification(notification(a)?)
                    .set_subscribers(Some(subs.clone()))
                    .build()
                    .map_err(|e| CloudError::new("budgets:CreateBudget", e.to_string()))?,
            );
        }
        match req.send().await.map_err(|e| err("budgets:CreateBudget", e)) {
            Ok(_) => {}
            // The name exists: ours from a run that stopped half-way (then brought in
            // line), or someone else's (then left alone).
            Err(e) if e.has_code("DuplicateRecordException") => {
                let tags = self.tags(&want.budget_name).await?;
                if !owned(&tags, self.0.stack()) {
                    return Err(name_taken(
                        "budgets:CreateBudget",
                        "budget",
                        &want.budget_name,
                        &tags,
                    ));
                }
                let have = Props {
                    limit_usd: f64::NAN,
                    alerts: Vec::new(),
                    tags,
                    ..want.clone()
                };
                self.sync(&want.budget_name, &have, want).await?;
            }
            Err(e) => return Err(e),
        }
        Ok(Found::new(name, &want.budget_name, want.clone()))
    }

    async fn update(
        &self,
        current: &Found<Props>,
        want: &Props,
    ) -> Result<Found<Props>, CloudError> {
        self.sync(&current.id, &current.props, want).await?;
        Ok(current.with_props(want.clone()))
    }

    async fn delete(&self, current: &Found<Props>) -> Result<Deletion, CloudError> {
        match self
            .budgets()
            .delete_budget()
            .account_id(self.account())
            .budget_name(&current.id)
            .send()
            .await
            .map_err(|e| err("budgets:DeleteBudget", e))
        {
            Err(e) if e.has_code("NotFoundException") => Ok(Deletion::Gone),
            other => other.map(|_| Deletion::Gone),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::support::testing::{self, assert_observes, context};

    fn budget() -> Budget {
        Budget::builder()
            .budget_name("app-monthly")
            .budget_limit(Spend::builder().amount("50.0").unit("USD").build().unwrap())
            .time_unit(TimeUnit::Monthly)
            .budget_type(BudgetType::Cost)
            .build()
            .unwrap()
    }

    #[test]
    fn a_budget_is_the_stacks_by_its_tags_not_its_name() {
        let file = "budgets:\n  monthly: {limit_usd: 50, alerts: [{threshold_percent: 80, type: forecasted}], email: [team@spotilike.example]}\n";
        let alerts = vec![Alert {
            kind: "forecasted".into(),
            threshold_percent: 80.0,
        }];
        let ours = (
            budget(),
            alerts.clone(),
            testing::global_identity_tags("monthly"),
        );
        assert_observes(BudgetKind(context()), &ours, file, "monthly");
        // Stack `app` does not claim `app-monthly` of stack `app-2`, nor a hand-made one.
        let k = BudgetKind(context());
        assert!(k
            .observe(&(budget(), alerts.clone(), testing::foreign_tags("monthly")))
            .is_none());
        assert!(k.observe(&(budget(), alerts, Tags::new())).is_none());
    }
}
