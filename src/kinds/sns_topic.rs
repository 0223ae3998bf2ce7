//! SNS topic for alerts: name (replacement); email subscriptions (in place), tags.
//! An email subscription stays "pending confirmation" until its owner clicks the link.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_sns::types::Tag;
use serde::Deserialize;
use serde_json::Value;

use super::ec2::{desired_tags, str_prop};
use super::Context;
use crate::aws::err;
use crate::engine::{CloudError, Desired, Observed, Props, ResourceKind};
use crate::model::{Cx, KindModel, TAG_NAME, TAG_STACK};

pub const KIND: &str = "sns_topic";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    #[serde(default)]
    email: Vec<String>,
}

/// A plausible email address (what SNS and Budgets accept).
pub fn check_email(e: &str) -> Result<(), String> {
    let ok = e.len() <= 254
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && domain.contains('.')
                && !domain.contains("..")
                && domain.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
                && !local.contains(' ')
        });
    if ok {
        Ok(())
    } else {
        Err(format!("`{e}` is not an email address"))
    }
}

pub struct Model;

impl KindModel for Model {
    fn section(&self) -> &'static str {
        "sns_topics"
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn outputs(&self) -> &'static [&'static str] {
        &["id", "arn"]
    }
    fn build(&self, cx: &mut Cx, name: &str, body: serde_yaml::Value) -> Vec<Desired> {
        let Some(spec) = cx.parse::<Spec>(body) else {
            return vec![];
        };
        for (i, e) in spec.email.iter().enumerate() {
            cx.check(&format!("email[{i}]"), check_email(e));
        }
        let mut email = spec.email.clone();
        email.sort();
        email.dedup();
        let mut props = Props::new();
        props.insert("topic_name".into(), cx.physical_name(name).into());
        props.insert("email".into(), email.into());
        props.insert("tags".into(), cx.tags());
        vec![Desired::new(KIND, name, props)]
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![Arc::new(Cloud(cx.clone()))]
}

pub struct Cloud(pub Arc<Context>);

fn emails(props: &Props) -> Vec<String> {
    props.get("email").and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or_default()
}

impl Cloud {
    /// Email subscriptions: address to subscription ARN (or "PendingConfirmation").
    async fn subscriptions(&self, topic: &str) -> Result<BTreeMap<String, String>, CloudError> {
        let subs: Vec<_> = self
            .0
            .aws
            .sns
            .list_subscriptions_by_topic()
            .topic_arn(topic)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("sns:ListSubscriptionsByTopic", e))?;
        Ok(subs
            .iter()
            .filter(|s| s.protocol() == Some("email"))
            .filter_map(|s| Some((s.endpoint()?.to_string(), s.subscription_arn().unwrap_or_default().to_string())))
            .collect())
    }

    async fn sync_email(&self, topic: &str, want: &[String]) -> Result<(), CloudError> {
        let have = self.subscriptions(topic).await?;
        for e in want.iter().filter(|e| !have.contains_key(*e)) {
            self.0.aws.sns.subscribe().topic_arn(topic).protocol("email").endpoint(e).send().await.map_err(|e| err("sns:Subscribe", e))?;
        }
        for (e, arn) in have.iter().filter(|(e, _)| !want.contains(e)) {
            if arn.starts_with("arn:") {
                self.0.aws.sns.unsubscribe().subscription_arn(arn).send().await.map_err(|e| err("sns:Unsubscribe", e))?;
            } else {
                tracing::warn!("cannot remove the unconfirmed subscription of {e} to {topic}: AWS drops it after 3 days");
            }
        }
        Ok(())
    }
}

#[async_trait]
impl ResourceKind for Cloud {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn replace_fields(&self) -> &'static [&'static str] {
        &["topic_name"]
    }

    async fn discover(&self) -> Result<Vec<Observed>, CloudError> {
        let topics: Vec<_> = self
            .0
            .aws
            .sns
            .list_topics()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("sns:ListTopics", e))?;
        let prefix = format!(":{}-", self.0.stack);
        let reads = topics.iter().filter_map(|t| t.topic_arn()).filter(|a| a.contains(&prefix)).map(|arn| async move {
            let t = self.0.aws.sns.list_tags_for_resource().resource_arn(arn).send().await.map_err(|e| err("sns:ListTagsForResource", e))?;
            let tags: BTreeMap<String, String> = t.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
            if tags.get(TAG_STACK) != Some(&self.0.stack) {
                return Ok(None);
            }
            let Some(name) = tags.get(TAG_NAME).cloned() else { return Ok(None) };
            let email: Vec<String> = self.subscriptions(arn).await?.into_keys().collect();
            let topic_name = arn.rsplit(':').next().unwrap_or_default();
            Ok::<_, CloudError>(Some(
                Observed::new(KIND, name, arn)
                    .with_prop("topic_name", topic_name)
                    .with_prop("email", email)
                    .with_prop("tags", serde_json::to_value(tags).unwrap_or(Value::Null))
                    .with_output("arn", arn),
            ))
        });
        Ok(futures::future::try_join_all(reads).await?.into_iter().flatten().collect())
    }

    async fn create(&self, name: &str, props: &Props) -> Result<Observed, CloudError> {
        let tags: Vec<Tag> = desired_tags(props).into_iter().filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok()).collect();
        // CreateTopic is idempotent for the same name and attributes.
        let out = self
            .0
            .aws
            .sns
            .create_topic()
            .name(str_prop(props, "topic_name")?)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| err("sns:CreateTopic", e))?;
        let arn = out.topic_arn.ok_or_else(|| CloudError::new("sns:CreateTopic", "no topic ARN in the answer"))?;
        self.sync_email(&arn, &emails(props)).await?;
        let mut o = Observed::new(KIND, name, &arn).with_output("arn", &arn);
        o.props = props.clone();
        Ok(o)
    }

    async fn update(&self, name: &str, props: &Props, current: &Observed, changed: &[String]) -> Result<Observed, CloudError> {
        if changed.iter().any(|c| c == "email") {
            self.sync_email(&current.id, &emails(props)).await?;
        }
        if changed.iter().any(|c| c == "tags") {
            let (w, unset) = super::tag_diff(&current.props, props);
            if !unset.is_empty() {
                self.0.aws.sns.untag_resource().resource_arn(&current.id).set_tag_keys(Some(unset)).send().await.map_err(|e| err("sns:UntagResource", e))?;
            }
            let tags: Vec<Tag> = w.into_iter().filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok()).collect();
            self.0.aws.sns.tag_resource().resource_arn(&current.id).set_tags(Some(tags)).send().await.map_err(|e| err("sns:TagResource", e))?;
        }
        Ok(current.updated(name, props))
    }

    async fn delete(&self, current: &Observed) -> Result<(), CloudError> {
        // Deleting a topic that does not exist succeeds.
        self.0.aws.sns.delete_topic().topic_arn(&current.id).send().await.map_err(|e| err("sns:DeleteTopic", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::check_email;

    #[test]
    fn emails() {
        assert!(check_email("team@spotilike.example").is_ok());
        for bad in ["team", "team@", "@x.com", "a@b", "a@b..com", "a b@c.com", "a@.com"] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }
}
