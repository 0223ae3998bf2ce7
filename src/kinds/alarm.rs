//! CloudWatch metric alarm: name (replacement); metric, statistic, period, threshold,
//! comparison and actions (in place, `PutMetricAlarm` rewrites it whole), tags.
//! Dimension values may come from other resources (`{from: postgres}`).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Statistic, Tag};
use serde::Deserialize;
use serde_json::{json, Value};

use super::ec2::{desired_tags, str_prop};
use super::Context;
use crate::aws::err;
use crate::engine::{CloudError, Desired, Observed, Props, ResourceKind};
use crate::model::{Cx, KindModel, TAG_NAME, TAG_STACK};

pub const KIND: &str = "alarm";

const STATISTICS: &[&str] = &["Average", "Sum", "Minimum", "Maximum", "SampleCount"];
const COMPARISONS: &[&str] = &["GreaterThanThreshold", "GreaterThanOrEqualToThreshold", "LessThanThreshold", "LessThanOrEqualToThreshold"];

#[derive(Deserialize)]
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

#[derive(Deserialize)]
#[serde(untagged)]
enum DimSpec {
    Text(String),
    From { from: String, #[serde(default = "id")] output: String },
}

fn id() -> String {
    "id".into()
}

pub struct Model;

impl KindModel for Model {
    fn section(&self) -> &'static str {
        "alarms"
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn build(&self, cx: &mut Cx, name: &str, body: serde_yaml::Value) -> Vec<Desired> {
        let Some(spec) = cx.parse::<Spec>(body) else {
            return vec![];
        };
        if !spec.namespace.contains('/') && !spec.namespace.chars().all(|c| c.is_ascii_alphanumeric() || "._-/#:".contains(c)) {
            cx.error("namespace", format!("`{}` is not a metric namespace like AWS/RDS", spec.namespace));
        }
        if !STATISTICS.contains(&spec.statistic.as_str()) {
            cx.error("statistic", format!("unknown statistic `{}`: use {}", spec.statistic, STATISTICS.join(", ")));
        }
        if !(spec.period == 10 || spec.period == 30 || (spec.period >= 60 && spec.period % 60 == 0)) {
            cx.error_hint("period", format!("CloudWatch does not evaluate over {} seconds", spec.period), "use 10, 30 or a multiple of 60");
        }
        if spec.evaluation_periods < 1 {
            cx.error("evaluation_periods", "at least one period is evaluated");
        } else if i64::from(spec.period) * i64::from(spec.evaluation_periods) > 86400 {
            cx.error("evaluation_periods", "period x evaluation_periods may not exceed one day (86400 s)");
        }
        if !COMPARISONS.contains(&spec.comparison.as_str()) {
            let hint = crate::model::net::closest(&spec.comparison, COMPARISONS.iter().copied()).map(|c| format!("did you mean `{c}`?")).unwrap_or_else(|| format!("use {}", COMPARISONS.join(", ")));
            cx.error_hint("comparison", format!("unknown comparison `{}`", spec.comparison), hint);
        }
        if !spec.threshold.is_finite() {
            cx.error("threshold", "the threshold must be a number");
        }
        if spec.dimensions.len() > 30 {
            cx.error("dimensions", "an alarm has at most 30 dimensions");
        }
        let mut dims = serde_json::Map::new();
        for (k, v) in &spec.dimensions {
            let value = match v {
                DimSpec::Text(t) => Value::String(t.clone()),
                DimSpec::From { from, output } => cx.reference_attr(&format!("dimensions.{k}.from"), from, output, &[]),
            };
            dims.insert(k.clone(), value);
        }
        let mut props = Props::new();
        props.insert("alarm_name".into(), cx.physical_name(name).into());
        props.insert("namespace".into(), spec.namespace.into());
        props.insert("metric".into(), spec.metric.into());
        props.insert("dimensions".into(), Value::Object(dims));
        props.insert("statistic".into(), spec.statistic.into());
        props.insert("period".into(), spec.period.into());
        props.insert("evaluation_periods".into(), spec.evaluation_periods.into());
        props.insert("threshold".into(), json!(spec.threshold));
        props.insert("comparison".into(), spec.comparison.into());
        props.insert("actions".into(), json!([cx.reference_attr("notify", &spec.notify, "arn", &[super::sns_topic::KIND])]));
        props.insert("tags".into(), cx.tags());
        vec![Desired::new(KIND, name, props)]
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![Arc::new(Cloud(cx.clone()))]
}

pub struct Cloud(pub Arc<Context>);

fn cw_tags(props: &Props) -> Vec<Tag> {
    desired_tags(props).into_iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

impl Cloud {
    async fn put(&self, props: &Props, with_tags: bool) -> Result<(), CloudError> {
        let dims: Vec<Dimension> = props
            .get("dimensions")
            .and_then(Value::as_object)
            .map(|m| m.iter().map(|(k, v)| Dimension::builder().name(k).value(v.as_str().unwrap_or_default()).build()).collect())
            .unwrap_or_default();
        let actions: Vec<String> = props.get("actions").and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or_default();
        self.0
            .aws
            .cloudwatch
            .put_metric_alarm()
            .alarm_name(str_prop(props, "alarm_name")?)
            .namespace(str_prop(props, "namespace")?)
            .metric_name(str_prop(props, "metric")?)
            .set_dimensions(Some(dims))
            .statistic(Statistic::from(str_prop(props, "statistic")?))
            .period(props.get("period").and_then(Value::as_i64).unwrap_or(300) as i32)
            .evaluation_periods(props.get("evaluation_periods").and_then(Value::as_i64).unwrap_or(1) as i32)
            .threshold(props.get("threshold").and_then(Value::as_f64).unwrap_or(0.0))
            .comparison_operator(ComparisonOperator::from(str_prop(props, "comparison")?))
            .set_alarm_actions(Some(actions.clone()))
            .set_ok_actions(Some(actions))
            .set_tags(with_tags.then(|| cw_tags(props)))
            .send()
            .await
            .map_err(|e| err("cloudwatch:PutMetricAlarm", e))?;
        Ok(())
    }
}

#[async_trait]
impl ResourceKind for Cloud {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn replace_fields(&self) -> &'static [&'static str] {
        &["alarm_name"]
    }

    async fn discover(&self) -> Result<Vec<Observed>, CloudError> {
        let pages: Vec<_> = self
            .0
            .aws
            .cloudwatch
            .describe_alarms()
            .alarm_name_prefix(format!("{}-", self.0.stack))
            .into_paginator()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("cloudwatch:DescribeAlarms", e))?;
        let alarms: Vec<_> = pages.iter().flat_map(|p| p.metric_alarms().iter().cloned()).collect();
        let reads = alarms.iter().map(|a| async move {
            let arn = a.alarm_arn().unwrap_or_default();
            let t = self.0.aws.cloudwatch.list_tags_for_resource().resource_arn(arn).send().await.map_err(|e| err("cloudwatch:ListTagsForResource", e))?;
            let tags: BTreeMap<String, String> = t.tags().iter().filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string()))).collect();
            if tags.get(TAG_STACK) != Some(&self.0.stack) {
                return Ok(None);
            }
            let Some(name) = tags.get(TAG_NAME).cloned() else { return Ok(None) };
            let dims: serde_json::Map<String, Value> = a.dimensions().iter().filter_map(|d| Some((d.name()?.to_string(), Value::from(d.value()?)))).collect();
            Ok::<_, CloudError>(Some(
                Observed::new(KIND, name, a.alarm_name().unwrap_or_default())
                    .with_prop("alarm_name", a.alarm_name().unwrap_or_default())
                    .with_prop("namespace", a.namespace().unwrap_or_default())
                    .with_prop("metric", a.metric_name().unwrap_or_default())
                    .with_prop("dimensions", Value::Object(dims))
                    .with_prop("statistic", a.statistic().map(|s| s.as_str()).unwrap_or_default())
                    .with_prop("period", a.period().unwrap_or(0))
                    .with_prop("evaluation_periods", a.evaluation_periods().unwrap_or(0))
                    .with_prop("threshold", json!(a.threshold().unwrap_or(0.0)))
                    .with_prop("comparison", a.comparison_operator().map(|c| c.as_str()).unwrap_or_default())
                    .with_prop("actions", a.alarm_actions().to_vec())
                    .with_prop("tags", serde_json::to_value(tags).unwrap_or(Value::Null))
                    .with_output("arn", arn),
            ))
        });
        Ok(futures::future::try_join_all(reads).await?.into_iter().flatten().collect())
    }

    async fn create(&self, name: &str, props: &Props) -> Result<Observed, CloudError> {
        self.put(props, true).await?;
        let alarm = str_prop(props, "alarm_name")?.to_string();
        let arn = format!("arn:aws:cloudwatch:{}:{}:alarm:{alarm}", self.0.aws.region, self.0.account);
        let mut o = Observed::new(KIND, name, alarm).with_output("arn", arn);
        o.props = props.clone();
        Ok(o)
    }

    async fn update(&self, name: &str, props: &Props, current: &Observed, changed: &[String]) -> Result<Observed, CloudError> {
        if changed.iter().any(|c| c != "tags") {
            self.put(props, false).await?;
        }
        if changed.iter().any(|c| c == "tags") {
            let arn = current.outputs.get("arn").cloned().unwrap_or_default();
            let (_, unset) = super::tag_diff(&current.props, props);
            if !unset.is_empty() {
                self.0.aws.cloudwatch.untag_resource().resource_arn(&arn).set_tag_keys(Some(unset)).send().await.map_err(|e| err("cloudwatch:UntagResource", e))?;
            }
            self.0.aws.cloudwatch.tag_resource().resource_arn(&arn).set_tags(Some(cw_tags(props))).send().await.map_err(|e| err("cloudwatch:TagResource", e))?;
        }
        Ok(current.updated(name, props))
    }

    async fn delete(&self, current: &Observed) -> Result<(), CloudError> {
        self.0.aws.cloudwatch.delete_alarms().alarm_names(&current.id).send().await.map_err(|e| err("cloudwatch:DeleteAlarms", e))?;
        Ok(())
    }
}
