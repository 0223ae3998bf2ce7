//! AWS Budgets monthly cost budget: name (replacement); limit and alerts (in place), each
//! alert mailing the given addresses when actual or forecast spend passes a percentage.
//! Subscriber addresses and tags are written, not read back (`write_only`): the Budgets
//! API lists them per notification and per resource only.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_budgets::types::{
    Budget, BudgetType, ComparisonOperator, Notification, NotificationType, NotificationWithSubscribers, ResourceTag, Spend,
    Subscriber, SubscriptionType, ThresholdType, TimeUnit,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ec2::{desired_tags, str_prop};
use super::Context;
use crate::aws::err;
use crate::engine::{CloudError, Desired, Observed, Props, ResourceKind};
use crate::model::{Cx, KindModel};

pub const KIND: &str = "budget";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    limit_usd: f64,
    alerts: Vec<AlertSpec>,
    email: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertSpec {
    threshold_percent: f64,
    /// actual or forecasted.
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, PartialOrd)]
struct Alert {
    #[serde(rename = "type")]
    kind: String,
    threshold_percent: f64,
}

pub struct Model;

impl KindModel for Model {
    fn section(&self) -> &'static str {
        "budgets"
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn build(&self, cx: &mut Cx, name: &str, body: serde_yaml::Value) -> Vec<Desired> {
        let Some(spec) = cx.parse::<Spec>(body) else {
            return vec![];
        };
        if !(spec.limit_usd > 0.0 && spec.limit_usd <= 1_000_000.0) {
            cx.error("limit_usd", "the monthly limit is a positive amount of US dollars");
        }
        if spec.alerts.is_empty() || spec.alerts.len() > 5 {
            cx.error("alerts", "a budget has 1 to 5 alerts");
        }
        let mut alerts = Vec::new();
        for (i, a) in spec.alerts.iter().enumerate() {
            let f = format!("alerts[{i}]");
            if !(a.threshold_percent > 0.0 && a.threshold_percent <= 1000.0) {
                cx.error(&format!("{f}.threshold_percent"), "a threshold is a percentage of the limit, above 0 and at most 1000");
            }
            if a.kind != "actual" && a.kind != "forecasted" {
                cx.error(&format!("{f}.type"), format!("unknown alert type `{}`: use actual or forecasted", a.kind));
            }
            let alert = Alert { kind: a.kind.clone(), threshold_percent: a.threshold_percent };
            if alerts.contains(&alert) {
                cx.error(&f, "the same alert is given twice");
            }
            alerts.push(alert);
        }
        alerts.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        if spec.email.is_empty() || spec.email.len() > 10 {
            cx.error("email", "alerts go to 1 to 10 email addresses");
        }
        for (i, e) in spec.email.iter().enumerate() {
            cx.check(&format!("email[{i}]"), super::sns_topic::check_email(e));
        }
        let mut props = Props::new();
        props.insert("budget_name".into(), cx.physical_name(name).into());
        props.insert("limit_usd".into(), serde_json::json!(spec.limit_usd));
        props.insert("alerts".into(), serde_json::to_value(alerts).unwrap_or(Value::Null));
        props.insert("email".into(), spec.email.into());
        props.insert("tags".into(), cx.tags());
        vec![Desired::new(KIND, name, props)]
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![Arc::new(Cloud(cx.clone()))]
}

pub struct Cloud(pub Arc<Context>);

fn alerts_of(props: &Props) -> Vec<Alert> {
    props.get("alerts").and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or_default()
}

fn notification(a: &Alert) -> Result<Notification, CloudError> {
    Notification::builder()
        .notification_type(if a.kind == "forecasted" { NotificationType::Forecasted } else { NotificationType::Actual })
        .comparison_operator(ComparisonOperator::GreaterThan)
        .threshold(a.threshold_percent)
        .threshold_type(ThresholdType::Percentage)
        .build()
        .map_err(|e| CloudError::new("budgets:CreateNotification", e.to_string()))
}

fn subscribers(props: &Props) -> Result<Vec<Subscriber>, CloudError> {
    let emails: Vec<String> = props.get("email").and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or_default();
    emails
        .iter()
        .map(|e| Subscriber::builder().subscription_type(SubscriptionType::Email).address(e).build().map_err(|e| CloudError::new("budgets:CreateBudget", e.to_string())))
        .collect()
}

impl Cloud {
    fn budget(&self, props: &Props) -> Result<Budget, CloudError> {
        let limit = props.get("limit_usd").and_then(Value::as_f64).unwrap_or(0.0);
        let spend = Spend::builder().amount(format!("{limit}")).unit("USD").build().map_err(|e| CloudError::new("budgets:CreateBudget", e.to_string()))?;
        Budget::builder()
            .budget_name(str_prop(props, "budget_name")?)
            .budget_limit(spend)
            .time_unit(TimeUnit::Monthly)
            .budget_type(BudgetType::Cost)
            .build()
            .map_err(|e| CloudError::new("budgets:CreateBudget", e.to_string()))
    }
}

#[async_trait]
impl ResourceKind for Cloud {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn replace_fields(&self) -> &'static [&'static str] {
        &["budget_name"]
    }

    fn write_only(&self) -> &'static [&'static str] {
        &["email", "tags"]
    }

    async fn discover(&self) -> Result<Vec<Observed>, CloudError> {
        let budgets: Vec<_> = self
            .0
            .aws
            .budgets
            .describe_budgets()
            .account_id(&self.0.account)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("budgets:DescribeBudgets", e))?;
        let prefix = format!("{}-", self.0.stack);
        let prefix = prefix.as_str();
        let reads = budgets.iter().filter(|b| b.budget_name().starts_with(prefix)).map(|b| async move {
            let n = self
                .0
                .aws
                .budgets
                .describe_notifications_for_budget()
                .account_id(&self.0.account)
                .budget_name(b.budget_name())
                .send()
                .await
                .map_err(|e| err("budgets:DescribeNotificationsForBudget", e))?;
            let mut alerts: Vec<Alert> = n
                .notifications()
                .iter()
                .map(|x| Alert {
                    kind: if x.notification_type() == &NotificationType::Forecasted { "forecasted".into() } else { "actual".into() },
                    threshold_percent: x.threshold(),
                })
                .collect();
            alerts.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
            let limit: f64 = b.budget_limit().and_then(|s| s.amount().parse().ok()).unwrap_or(0.0);
            let name = b.budget_name().trim_start_matches(prefix).to_string();
            Ok::<_, CloudError>(
                Observed::new(KIND, name, b.budget_name())
                    .with_prop("budget_name", b.budget_name())
                    .with_prop("limit_usd", serde_json::json!(limit))
                    .with_prop("alerts", serde_json::to_value(alerts).unwrap_or(Value::Null)),
            )
        });
        futures::future::try_join_all(reads).await
    }

    async fn create(&self, name: &str, props: &Props) -> Result<Observed, CloudError> {
        let subs = subscribers(props)?;
        let mut req = self.0.aws.budgets.create_budget().account_id(&self.0.account).budget(self.budget(props)?);
        for a in alerts_of(props) {
            req = req.notifications_with_subscribers(
                NotificationWithSubscribers::builder()
                    .notification(notification(&a)?)
                    .set_subscribers(Some(subs.clone()))
                    .build()
                    .map_err(|e| CloudError::new("budgets:CreateBudget", e.to_string()))?,
            );
        }
        for (k, v) in desired_tags(props) {
            req = req.resource_tags(ResourceTag::builder().key(k).value(v).build().map_err(|e| CloudError::new("budgets:CreateBudget", e.to_string()))?);
        }
        match req.send().await.map_err(|e| err("budgets:CreateBudget", e)) {
            // Ours (the name is the stack's) from a run that stopped half-way: bring it in line.
            Err(e) if e.has_code("DuplicateRecordException") => {
                let cur = Observed::new(KIND, name, str_prop(props, "budget_name")?);
                return self.update(name, props, &cur, &["limit_usd".into()]).await;
            }
            other => {
                other?;
            }
        }
        let mut o = Observed::new(KIND, name, str_prop(props, "budget_name")?);
        o.props = props.clone();
        Ok(o)
    }

    async fn update(&self, name: &str, props: &Props, current: &Observed, changed: &[String]) -> Result<Observed, CloudError> {
        let b = &self.0.aws.budgets;
        if changed.iter().any(|c| c == "limit_usd") {
            b.update_budget().account_id(&self.0.account).new_budget(self.budget(props)?).send().await.map_err(|e| err("budgets:UpdateBudget", e))?;
        }
        if changed.iter().any(|c| c == "alerts") {
            let (have, want) = (alerts_of(&current.props), alerts_of(props));
            for a in want.iter().filter(|a| !have.contains(a)) {
                b.create_notification()
                    .account_id(&self.0.account)
                    .budget_name(&current.id)
                    .notification(notification(a)?)
                    .set_subscribers(Some(subscribers(props)?))
                    .send()
                    .await
                    .map_err(|e| err("budgets:CreateNotification", e))?;
            }
            for a in have.iter().filter(|a| !want.contains(a)) {
                b.delete_notification()
                    .account_id(&self.0.account)
                    .budget_name(&current.id)
                    .notification(notification(a)?)
                    .send()
                    .await
                    .map_err(|e| err("budgets:DeleteNotification", e))?;
            }
        }
        Ok(current.updated(name, props))
    }

    async fn delete(&self, current: &Observed) -> Result<(), CloudError> {
        match self.0.aws.budgets.delete_budget().account_id(&self.0.account).budget_name(&current.id).send().await.map_err(|e| err("budgets:DeleteBudget", e)) {
            Err(e) if e.has_code("NotFoundException") => Ok(()),
            other => other.map(|_| ()),
        }
    }
}
