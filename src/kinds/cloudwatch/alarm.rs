//! CloudWatch metric alarm: name (replacement); metric, statistic, period, threshold,
//! comparison and actions (in place, `PutMetricAlarm` rewrites it whole), tags.
//! Dimension values may come from other resources (`{from: postgres}`).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, MetricAlarm, Statistic, Tag};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::aws::err;
use crate::engine::{CloudError, Deletion, Desired, KindInfo, Observed, ResourceKind};
use crate::kinds::names;
use crate::kinds::support::tags::{
    identity, name_taken, of_many, owned, sync_tags, ServiceTags, Tags,
};
use crate::kinds::support::{adapt, desired, wanted_name, Context, Found, Kind};
use crate::model::{Cx, KindModel};

pub static INFO: KindInfo = KindInfo {
    outputs: &["id", "arn"],
    replace: &["alarm_name"],
    ..KindInfo::new(names::ALARM, "alarms", "cloudwatch")
};

const STATISTICS: &[&str] = &["Average", "Sum", "Minimum", "Maximum", "SampleCount"];
const COMPARISONS: &[&str] = &[
    "GreaterThanThreshold",
    "GreaterThanOrEqualToThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
];

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Spec {
    namespace: String,
    metric: String,
    #[serde(default)]
    dimensions: BTreeMap<String, DimSpec>,
    #[serde(default = "average")]
    statistic: String,
    /// Seconds: 10, 30 or a multiple of 60.
    period: i32,
    evaluation_periods: i32,
    threshold: f64,
    comparison: String,
    /// SNS topic to notify when the alarm fires (and when it recovers).
    notify: String,
}

fn average() -> String {
    "Average".into()
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
enum DimSpec {
    Text(String),
    From {
        from: String,
        #[serde(default = "id")]
        output: String,
    },
}

fn id() -> String {
    "id".into()
}

/// What is compared; `R` is a value that may come from another resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Props<R = String> {
    pub alarm_name: String,
    pub namespace: String,
    pub metric: String,
    pub dimensions: BTreeMap<String, R>,
    pub statistic: String,
    pub period: i32,
    pub evaluation_periods: i32,
    pub threshold: f64,
    pub comparison: String,
    pub actions: Vec<R>,
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
        if !spec.namespace.contains('/')
            && !spec
                .namespace
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-/#:".contains(c))
        {
            cx.error(
                "namespace",
                format!(
                    "`{}` is not a metric namespace like AWS/RDS",
                    spec.namespace
                ),
            );
        }
        if !STATISTICS.contains(&spec.statistic.as_str()) {
            cx.error(
                "statistic",
                format!(
                    "unknown statistic `{}`: use {}",
                    spec.statistic,
                    STATISTICS.join(", ")
                ),
            );
        }
        if !(spec.period == 10 || spec.period == 30 || (spec.period >= 60 && spec.period % 60 == 0))
        {
            cx.error_hint(
                "period",
                format!("CloudWatch does not evaluate over {} seconds", spec.period),
                "use 10, 30 or a multiple of 60",
            );
        }
        if spec.evaluation_periods < 1 {
            cx.error("evaluation_periods", "at least one period is evaluated");
        } else if i64::from(spec.period) * i64::from(spec.evaluation_periods) > 86400 {
            cx.error(
                "evaluation_periods",
                "period x evaluation_periods may not exceed one day (86400 s)",
            );
        }
        if !COMPARISONS.contains(&spec.comparison.as_str()) {
            let hint = crate::model::net::closest(&spec.comparison, COMPARISONS.iter().copied())
                .map(|c| format!("did you mean `{c}`?"))
                .unwrap_or_else(|| format!("use {}", COMPARISONS.join(", ")));
            cx.error_hint(
                "comparison",
                format!("unknown comparison `{}`", spec.comparison),
                hint,
            );
        }
        if !spec.threshold.is_finite() {
            cx.error("threshold", "the threshold must be a number");
        }
        if spec.dimensions.len() > 30 {
            cx.error("dimensions", "an alarm has at most 30 dimensions");
        }
        let mut dimensions = BTreeMap::new();
        for (k, v) in &spec.dimensions {
            let value = match v {
                DimSpec::Text(t) => Value::String(t.clone()),
                DimSpec::From { from, output } => {
                    cx.reference_attr(&format!("dimensions.{k}.from"), from, output, &[])
                }
            };
            dimensions.insert(k.clone(), value);
        }
        let props = Props {
            alarm_name: cx.physical_name(name),
            namespace: spec.namespace,
            metric: spec.metric,
            dimensions,
            statistic: spec.statistic,
            period: spec.period,
            evaluation_periods: spec.evaluation_periods,
            threshold: spec.threshold,
            comparison: spec.comparison,
            actions: vec![cx.reference_attr("notify", &spec.notify, "arn", &[names::SNS_TOPIC])],
            tags: cx.tags(),
        };
        vec![desired(&INFO, name, &props)]
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![adapt(Alarm(cx.clone()))]
}

pub struct Alarm(pub Arc<Context>);

fn cw_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// CloudWatch's tag calls (by ARN).
struct CwTags<'a>(&'a aws_sdk_cloudwatch::Client);

#[async_trait]
impl ServiceTags for CwTags<'_> {
    async fn tag(&self, arn: &str, set: &Tags) -> Result<(), CloudError> {
        self.0
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(cw_tags(set)))
            .send()
            .await
            .map_err(|e| err("cloudwatch:TagResource", e))?;
        Ok(())
    }

    async fn untag(&self, arn: &str, keys: &[String]) -> Result<(), CloudError> {
        self.0
            .untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .map_err(|e| err("cloudwatch:UntagResource", e))?;
        Ok(())
    }
}

impl Alarm {
    fn cw(&self) -> &aws_sdk_cloudwatch::Client {
        &self.0.aws.cloudwatch
    }

    fn arn(&self, alarm: &str) -> String {
        let s = &self.0.scope;
        format!(
            "arn:aws:cloudwatch:{}:{}:alarm:{alarm}",
            s.region, s.account
        )
    }

    async fn tags(&self, arn: &str) -> Result<Tags, CloudError> {
        let t = self
            .cw()
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| err("cloudwatch:ListTagsForResource", e))?;
        Ok(crate::kinds::support::tags::visible(
            t.tags().iter().filter_map(|t| Some((t.key()?, t.value()?))),
        ))
    }

    async fn put(&self, p: &Props, with_tags: bool) -> Result<(), CloudError> {
        let dims: Vec<Dimension> = p
            .dimensions
            .iter()
            .map(|(k, v)| Dimension::builder().name(k).value(v).build())
            .collect();
        self.cw()
            .put_metric_alarm()
            .alarm_name(&p.alarm_name)
            .namespace(&p.namespace)
            .metric_name(&p.metric)
            .set_dimensions(Some(dims))
            .statistic(Statistic::from(p.statistic.as_str()))
            .period(p.period)
            .evaluation_periods(p.evaluation_periods)
            .threshold(p.threshold)
            .comparison_operator(ComparisonOperator::from(p.comparison.as_str()))
            .set_alarm_actions(Some(p.actions.clone()))
            .set_ok_actions(Some(p.actions.clone()))
            .set_tags(with_tags.then(|| cw_tags(&p.tags)))
            .send()
            .await
            .map_err(|e| err("cloudwatch:PutMetricAlarm", e))?;
        Ok(())
    }
}

#[async_trait]
impl Kind for Alarm {
    type Props = Props;
    type Remote = (MetricAlarm, Tags);

    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    async fn name_holder(&self, want: &Desired) -> Result<Option<(String, Tags)>, CloudError> {
        let Some(name) = wanted_name(want, "alarm_name") else {
            return Ok(None);
        };
        let existing = self
            .cw()
            .describe_alarms()
            .alarm_names(&name)
            .send()
            .await
            .map_err(|e| err("cloudwatch:DescribeAlarms", e))?;
        match existing.metric_alarms().first().and_then(|a| a.alarm_arn()) {
            Some(arn) => Ok(Some((name.clone(), self.tags(arn).await?))),
            None => Ok(None),
        }
    }

    async fn list(&self, _parents: &[Observed]) -> Result<Vec<Self::Remote>, CloudError> {
        let pages: Vec<_> = self
            .cw()
            .describe_alarms()
            .alarm_name_prefix(format!("{}-", self.0.stack()))
            .into_paginator()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("cloudwatch:DescribeAlarms", e))?;
        let alarms: Vec<MetricAlarm> = pages
            .into_iter()
            .flat_map(|p| p.metric_alarms.unwrap_or_default())
            .collect();
        let arns: Vec<String> = alarms
            .iter()
            .map(|a| a.alarm_arn().unwrap_or_default().to_string())
            .collect();
        let mut tags = of_many(
            &self.0.aws.tagging,
            self.0.stack(),
            "cloudwatch:alarm",
            &arns,
            |arn| async move { self.tags(&arn).await },
        )
        .await?;
        Ok(alarms
            .into_iter()
            .zip(arns)
            .map(|(a, arn)| (a, tags.remove(&arn).unwrap_or_default()))
            .collect())
    }

    fn observe(&self, (a, tags): &Self::Remote) -> Option<Found<Props>> {
        let name = identity(tags, self.0.stack())?;
        let props = Props {
            alarm_name: a.alarm_name()?.to_string(),
            namespace: a.namespace().unwrap_or_default().to_string(),
            metric: a.metric_name().unwrap_or_default().to_string(),
            dimensions: a
                .dimensions()
                .iter()
                .filter_map(|d| Some((d.name()?.to_string(), d.value()?.to_string())))
                .collect(),
            statistic: a
                .statistic()
                .map(|s| s.as_str())
                .unwrap_or_default()
                .to_string(),
            period: a.period().unwrap_or(0),
            evaluation_periods: a.evaluation_periods().unwrap_or(0),
            threshold: a.threshold().unwrap_or(0.0),
            comparison: a
                .comparison_operator()
                .map(|c| c.as_str())
                .unwrap_or_default()
                .to_string(),
            actions: a.alarm_actions().to_vec(),
            tags: tags.clone(),
        };
        Some(
            Found::new(name, a.alarm_name()?, props)
                .output("arn", a.alarm_arn().unwrap_or_default()),
        )
    }

    async fn create(&self, name: &str, want: &Props) -> Result<Found<Props>, CloudError> {
        // PutMetricAlarm overwrites an alarm of the same name: it must be the stack's.
        let existing = self
            .cw()
            .describe_alarms()
            .alarm_names(&want.alarm_name)
            .send()
            .await
            .map_err(|e| err("cloudwatch:DescribeAlarms", e))?;
        if let Some(a) = existing.metric_alarms().first() {
            let tags = self.tags(a.alarm_arn().unwrap_or_default()).await?;
            if !owned(&tags, self.0.stack()) {
                return Err(name_taken(
                    "cloudwatch:PutMetricAlarm",
                    "alarm",
                    &want.alarm_name,
                    &tags,
                ));
            }
        }
        self.put(want, true).await?;
        Ok(Found::new(name, &want.alarm_name, want.clone())
            .output("arn", self.arn(&want.alarm_name)))
    }

    async fn update(
        &self,
        current: &Found<Props>,
        want: &Props,
    ) -> Result<Found<Props>, CloudError> {
        let untagged = |p: &Props| Props {
            tags: Tags::new(),
            ..p.clone()
        };
        if untagged(&current.props) != untagged(want) {
            self.put(want, false).await?;
        }
        let arn = current
            .outputs
            .get("arn")
            .cloned()
            .unwrap_or_else(|| self.arn(&current.id));
        sync_tags(&CwTags(self.cw()), &arn, &current.props.tags, &want.tags).await?;
        Ok(current.with_props(want.clone()))
    }

    async fn delete(&self, current: &Found<Props>) -> Result<Deletion, CloudError> {
        self.cw()
            .delete_alarms()
            .alarm_names(&current.id)
            .send()
            .await
            .map_err(|e| err("cloudwatch:DeleteAlarms", e))?;
        Ok(Deletion::Gone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::support::testing::{self, assert_observes, context, out};

    #[test]
    fn a_described_alarm_is_what_the_file_wants() {
        let file = "buckets:\n  db: {}\nsns_topics:\n  alerts: {}\nalarms:\n  cpu:\n    namespace: AWS/RDS\n    metric: CPUUtilization\n    dimensions: {DBInstanceIdentifier: {from: db}}\n    period: 300\n    evaluation_periods: 2\n    threshold: 80\n    comparison: GreaterThanThreshold\n    notify: alerts\n";
        let a = MetricAlarm::builder()
            .alarm_name("app-cpu")
            .alarm_arn("arn:aws:cloudwatch:eu-west-3:1:alarm:app-cpu")
            .namespace("AWS/RDS")
            .metric_name("CPUUtilization")
            .dimensions(
                Dimension::builder()
                    .name("DBInstanceIdentifier")
                    .value(out("db", "id"))
                    .build(),
            )
            .statistic(Statistic::Average)
            .period(300)
            .evaluation_periods(2)
            .threshold(80.0)
            .comparison_operator(ComparisonOperator::GreaterThanThreshold)
            .alarm_actions(out("alerts", "arn"))
            .build();
        assert_observes(
            Alarm(context()),
            &(a, testing::identity_tags("cpu")),
            file,
            "cpu",
        );
    }
}
