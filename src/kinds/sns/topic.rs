//! SNS topic: name (replacement), e-mail subscriptions (in place), tags. An e-mail
//! subscription stays pending until its address confirms it.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_sns::types::Tag;
use serde::{Deserialize, Serialize};

use crate::aws::{err, is_not_found};
use crate::engine::{CloudError, Deletion, Desired, KindInfo, Observed, ResourceKind};
use crate::kinds::names;
use crate::kinds::support::tags::{
    identity, name_taken, of_many, owned, sync_tags, ServiceTags, Tags, INDEXED_FROM,
};
use crate::kinds::support::{adapt, desired, wanted_name, Context, Found, Kind};
use crate::model::net::check_email;
use crate::model::{Cx, KindModel};

pub static INFO: KindInfo = KindInfo {
    outputs: &["id", "arn"],
    replace: &["topic_name"],
    ..KindInfo::new(names::SNS_TOPIC, "sns_topics", "sns")
};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Spec {
    #[serde(default)]
    email: Vec<String>,
}

/// What is compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Props {
    pub topic_name: String,
    pub email: Vec<String>,
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
        for (i, e) in spec.email.iter().enumerate() {
            cx.check(&format!("email[{i}]"), check_email(e));
        }
        let mut email = spec.email.clone();
        email.sort();
        email.dedup();
        let props = Props {
            topic_name: cx.physical_name(name),
            email,
            tags: cx.tags(),
        };
        vec![desired(&INFO, name, &props)]
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![adapt(Topic(cx.clone()))]
}

pub struct Topic(pub Arc<Context>);

/// A topic: its ARN, tags and e-mail subscriptions (address to subscription ARN, or
/// "PendingConfirmation").
pub type Remote = (String, Tags, BTreeMap<String, String>);

/// SNS's tag calls (by ARN).
struct SnsTags<'a>(&'a aws_sdk_sns::Client);

#[async_trait]
impl ServiceTags for SnsTags<'_> {
    async fn tag(&self, arn: &str, set: &Tags) -> Result<(), CloudError> {
        let tags = set
            .iter()
            .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
            .collect();
        self.0
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| err("sns:TagResource", e))?;
        Ok(())
    }

    async fn untag(&self, arn: &str, keys: &[String]) -> Result<(), CloudError> {
        self.0
            .untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .map_err(|e| err("sns:UntagResource", e))?;
        Ok(())
    }
}

impl Topic {
    fn sns(&self) -> &aws_sdk_sns::Client {
        &self.0.aws.sns
    }

    async fn tags(&self, arn: &str) -> Result<Tags, CloudError> {
        let t = self
            .sns()
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| err("sns:ListTagsForResource", e))?;
        Ok(crate::kinds::support::tags::visible(
            t.tags().iter().map(|t| (t.key(), t.value())),
        ))
    }

    /// Email subscriptions: address to subscription ARN (or "PendingConfirmation").
    async fn subscriptions(&self, topic: &str) -> Result<BTreeMap<String, String>, CloudError> {
        let subs: Vec<_> = self
            .sns()
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
            .filter_map(|s| {
                Some((
                    s.endpoint()?.to_string(),
                    s.subscription_arn().unwrap_or_default().to_string(),
                ))
            })
            .collect())
    }

    /// Email subscriptions of every topic, by topic ARN, from the account's listing.
    async fn all_subscriptions(
        &self,
    ) -> Result<BTreeMap<String, BTreeMap<String, String>>, CloudError> {
        let subs: Vec<_> = self
            .sns()
            .list_subscriptions()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("sns:ListSubscriptions", e))?;
        let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for s in subs.iter().filter(|s| s.protocol() == Some("email")) {
            let (Some(topic), Some(endpoint)) = (s.topic_arn(), s.endpoint()) else {
                continue;
            };
            out.entry(topic.to_string()).or_default().insert(
                endpoint.to_string(),
                s.subscription_arn().unwrap_or_default().to_string(),
            );
        }
        Ok(out)
    }

    async fn sync_email(&self, topic: &str, want: &[String]) -> Result<(), CloudError> {
        let have = self.subscriptions(topic).await?;
        for e in want.iter().filter(|e| !have.contains_key(*e)) {
            self.sns()
                .subscribe()
                .topic_arn(topic)
                .protocol("email")
                .endpoint(e)
                .send()
                .await
                .map_err(|e| err("sns:Subscribe", e))?;
        }
        for (e, arn) in have.iter().filter(|(e, _)| !want.contains(e)) {
            if arn.starts_with("arn:") {
                self.sns()
                    .unsubscribe()
                    .subscription_arn(arn)
                    .send()
                    .await
                    .map_err(|e| err("sns:Unsubscribe", e))?;
            } else {
                tracing::warn!(
                    "cannot remove the unconfirmed subscription of {e} to {topic}: AWS drops it after 3 days"
                );
            }
        }
        Ok(())
    }

    fn arn(&self, topic: &str) -> String {
        let s = &self.0.scope;
        format!("arn:aws:sns:{}:{}:{topic}", s.region, s.account)
    }
}

#[async_trait]
impl Kind for Topic {
    type Props = Props;
    type Remote = Remote;

    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    async fn name_holder(&self, want: &Desired) -> Result<Option<(String, Tags)>, CloudError> {
        let Some(name) = wanted_name(want, "topic_name") else {
            return Ok(None);
        };
        let arn = self.arn(&name);
        match self
            .sns()
            .get_topic_attributes()
            .topic_arn(&arn)
            .send()
            .await
            .map_err(|e| err("sns:GetTopicAttributes", e))
        {
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e),
            Ok(_) => Ok(Some((name, self.tags(&arn).await?))),
        }
    }

    async fn list(&self, _parents: &[Observed]) -> Result<Vec<Remote>, CloudError> {
        let topics: Vec<_> = self
            .sns()
            .list_topics()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("sns:ListTopics", e))?;
        let prefix = format!(":{}-", self.0.stack());
        let arns: Vec<String> = topics
            .iter()
            .filter_map(|t| t.topic_arn())
            .filter(|a| a.contains(&prefix))
            .map(str::to_string)
            .collect();
        if arns.is_empty() {
            return Ok(Vec::new());
        }
        let tags = of_many(
            &self.0.aws.tagging,
            self.0.stack(),
            "sns",
            &arns,
            |arn| async move { self.tags(&arn).await },
        );
        // Only the stack's own topics' subscriptions count: one topic's are read by
        // topic, many topics' in one listing of the account's.
        let subs = async {
            if arns.len() < INDEXED_FROM {
                let reads = arns.iter().map(|a| async move {
                    Ok::<_, CloudError>((a.clone(), self.subscriptions(a).await?))
                });
                return Ok(futures::future::try_join_all(reads)
                    .await?
                    .into_iter()
                    .collect());
            }
            self.all_subscriptions().await
        };
        let (mut tags, mut subs) = futures::future::try_join(tags, subs).await?;
        Ok(arns
            .into_iter()
            .map(|arn| {
                let t = tags.remove(&arn).unwrap_or_default();
                let s = if owned(&t, self.0.stack()) {
                    subs.remove(&arn).unwrap_or_default()
                } else {
                    BTreeMap::new()
                };
                (arn, t, s)
            })
            .collect())
    }

    fn observe(&self, (arn, tags, subs): &Remote) -> Option<Found<Props>> {
        let name = identity(tags, self.0.stack())?;
        let props = Props {
            topic_name: arn.rsplit(':').next().unwrap_or_default().to_string(),
            email: subs.keys().cloned().collect(),
            tags: tags.clone(),
        };
        let pending: Vec<&str> = subs
            .iter()
            .filter(|(_, a)| !a.starts_with("arn:"))
            .map(|(e, _)| e.as_str())
            .collect();
        let mut f = Found::new(name, arn, props).output("arn", arn);
        if !pending.is_empty() {
            f = f.output("pending_confirmation", pending.join(", "));
        }
        Some(f)
    }

    async fn create(&self, name: &str, want: &Props) -> Result<Found<Props>, CloudError> {
        // CreateTopic answers with an existing topic of that name: it must be the stack's.
        let arn = self.arn(&want.topic_name);
        match self
            .sns()
            .get_topic_attributes()
            .topic_arn(&arn)
            .send()
            .await
            .map_err(|e| err("sns:GetTopicAttributes", e))
        {
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(e),
            Ok(_) => {
                let tags = self.tags(&arn).await?;
                if !owned(&tags, self.0.stack()) {
                    return Err(name_taken(
                        "sns:CreateTopic",
                        "topic",
                        &want.topic_name,
                        &tags,
                    ));
                }
            }
        }
        let tags: Vec<Tag> = want
            .tags
            .iter()
            .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
            .collect();
        let out = self
            .sns()
            .create_topic()
            .name(&want.topic_name)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| err("sns:CreateTopic", e))?;
        let arn = out
            .topic_arn
            .ok_or_else(|| CloudError::new("sns:CreateTopic", "no topic ARN in the answer"))?;
        self.sync_email(&arn, &want.email).await?;
        Ok(Found::new(name, &arn, want.clone()).output("arn", &arn))
    }

    async fn update(
        &self,
        current: &Found<Props>,
        want: &Props,
    ) -> Result<Found<Props>, CloudError> {
        if current.props.email != want.email {
            self.sync_email(&current.id, &want.email).await?;
        }
        sync_tags(
            &SnsTags(self.sns()),
            &current.id,
            &current.props.tags,
            &want.tags,
        )
        .await?;
        Ok(current.with_props(want.clone()))
    }

    async fn delete(&self, current: &Found<Props>) -> Result<Deletion, CloudError> {
        // Deleting a topic that does not exist succeeds.
        self.sns()
            .delete_topic()
            .topic_arn(&current.id)
            .send()
            .await
            .map_err(|e| err("sns:DeleteTopic", e))?;
        Ok(Deletion::Gone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::support::testing::{self, assert_observes, context};

    #[test]
    fn a_read_topic_is_what_the_file_wants_and_pending_addresses_show() {
        let file = "sns_topics:\n  alerts: {email: [team@spotilike.example]}\n";
        let arn = "arn:aws:sns:eu-west-3:123456789012:app-alerts".to_string();
        let subs = BTreeMap::from([(
            "team@spotilike.example".to_string(),
            "PendingConfirmation".to_string(),
        )]);
        let remote = (arn, testing::identity_tags("alerts"), subs);
        assert_observes(Topic(context()), &remote, file, "alerts");
        let f = Topic(context()).observe(&remote).expect("observed");
        assert_eq!(
            f.outputs.get("pending_confirmation").map(String::as_str),
            Some("team@spotilike.example")
        );
    }
}
