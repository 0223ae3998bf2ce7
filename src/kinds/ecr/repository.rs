//! ECR repository for the stack's own images: name `<stack>/<name>` and encryption
//! (replacement); scan on push, tag immutability, a lifecycle that keeps the last N images
//! (in place), tags. Other resources reference its `uri`.
//!
//! A repository that still holds images is kept on delete unless told to empty it
//! (`--force-empty`, or `force_delete: true`, recorded as a tag on the repository).

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ecr::types::{
    EncryptionConfiguration, EncryptionType, ImageScanningConfiguration, ImageTagMutability,
    Repository,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{sdk_tags, tags_of, EcrTags, NOT_FOUND};
use crate::aws::err;
use crate::engine::{CloudError, Deletion, Desired, KindInfo, Observed, ResourceKind, Shown};
use crate::kinds::names;
use crate::kinds::support::tags::{identity, name_taken, owned, sync_tags, Tags};
use crate::kinds::support::{adapt, desired, wanted_name, Context, Found, Kind};
use crate::model::{Cx, KindModel};

pub static INFO: KindInfo = KindInfo {
    outputs: &["id", "arn", "uri"],
    shown: &[Shown {
        name: "uri",
        template: "{uri}",
        about: "where images are pushed (docker push URI:TAG)",
    }],
    replace: &["repository_name", "encryption"],
    stateful: true,
    ..KindInfo::new(names::ECR_REPOSITORY, "ecr_repositories", "ecr")
};

/// Tag recording that the repository may be emptied when it is deleted.
pub const TAG_FORCE_DELETE: &str = "provision:force-delete";

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Spec {
    #[serde(default = "yes")]
    scan_on_push: bool,
    /// Tags cannot be moved to another image once pushed.
    #[serde(default = "yes")]
    immutable_tags: bool,
    /// `aes256` (default) or `kms`.
    #[serde(default)]
    encryption: Option<String>,
    /// KMS key ARN, with `kms` (default: the AWS managed key).
    #[serde(default)]
    kms_key: Option<String>,
    /// Keep only the last N images; older ones expire.
    #[serde(default)]
    keep_last: Option<u32>,
    /// Delete the images with the repository.
    #[serde(default)]
    force_delete: bool,
}

fn yes() -> bool {
    true
}

/// Encryption as compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Encryption {
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_key: Option<String>,
}

/// What is compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Props {
    pub repository_name: String,
    pub scan_on_push: bool,
    pub immutable_tags: bool,
    pub encryption: Encryption,
    pub keep_last: Option<u32>,
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
        let repository_name = format!("{}/{name}", cx.stack);
        if repository_name.len() > 256 {
            cx.error("", "an ECR repository name is at most 256 characters");
        }
        let encryption = match (
            spec.encryption.as_deref().unwrap_or("aes256"),
            &spec.kms_key,
        ) {
            ("aes256", None) => Encryption {
                kind: "AES256".into(),
                kms_key: None,
            },
            ("aes256", Some(_)) => {
                cx.error("kms_key", "a KMS key is only used with encryption: kms");
                Encryption {
                    kind: "AES256".into(),
                    kms_key: None,
                }
            }
            ("kms", key) => {
                if let Some(k) = key.as_deref().filter(|k| !k.starts_with("arn:aws:kms:")) {
                    cx.error("kms_key", format!("`{k}` is not a KMS key ARN"));
                }
                Encryption {
                    kind: "KMS".into(),
                    kms_key: key.clone(),
                }
            }
            (other, _) => {
                cx.error_hint(
                    "encryption",
                    format!("unknown encryption `{other}`"),
                    "use aes256 or kms",
                );
                Encryption {
                    kind: "AES256".into(),
                    kms_key: None,
                }
            }
        };
        if spec.keep_last.is_some_and(|n| !(1..=1000).contains(&n)) {
            cx.error("keep_last", "keep 1 to 1000 images");
        }
        let mut tags = cx.tags();
        if spec.force_delete {
            tags.insert(TAG_FORCE_DELETE.into(), "true".into());
        }
        let props = Props {
            repository_name,
            scan_on_push: spec.scan_on_push,
            immutable_tags: spec.immutable_tags,
            encryption,
            keep_last: spec.keep_last,
            tags,
        };
        vec![desired(&INFO, name, &props)]
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![adapt(EcrRepository(cx.clone()))]
}

pub struct EcrRepository(pub Arc<Context>);

/// A repository with its tags and the number its lifecycle keeps (both read per
/// repository: ECR has no batch for them).
pub type Remote = (Repository, Tags, Option<u32>);

/// The lifecycle policy that keeps the last `n` images.
fn keep_last_policy(n: u32) -> Value {
    json!({"rules": [{
        "rulePriority": 1,
        "description": format!("keep the last {n} images"),
        "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": n},
        "action": {"type": "expire"}
    }]})
}

/// The number a lifecycle policy keeps, if it is one that keeps the last N images.
fn kept_by(policy: &str) -> Option<u32> {
    let v: Value = serde_json::from_str(policy).ok()?;
    v.get("rules")?.as_array()?.iter().find_map(|r| {
        let s = r.get("selection")?;
        (s.get("countType")?.as_str()? == "imageCountMoreThan")
            .then(|| s.get("countNumber")?.as_u64())
            .flatten()
            .and_then(|n| u32::try_from(n).ok())
    })
}

impl EcrRepository {
    fn ecr(&self) -> &aws_sdk_ecr::Client {
        &self.0.aws.ecr
    }

    async fn read(&self, r: Repository) -> Result<Remote, CloudError> {
        let arn = r.repository_arn().unwrap_or_default().to_string();
        let name = r.repository_name().unwrap_or_default().to_string();
        let (tags, lifecycle) = tokio::try_join!(
            async {
                self.ecr()
                    .list_tags_for_resource()
                    .resource_arn(&arn)
                    .send()
                    .await
                    .map_err(|e| err("ecr:ListTagsForResource", e))
            },
            async {
                match self
                    .ecr()
                    .get_lifecycle_policy()
                    .repository_name(&name)
                    .send()
                    .await
                    .map_err(|e| err("ecr:GetLifecyclePolicy", e))
                {
                    Err(e) if e.has_code("LifecyclePolicyNotFoundException") => Ok(None),
                    Err(e) => Err(e),
                    Ok(out) => Ok(out.lifecycle_policy_text().and_then(kept_by)),
                }
            },
        )?;
        Ok((r, tags_of(tags.tags()), lifecycle))
    }

    async fn put_lifecycle(&self, name: &str, keep: Option<u32>) -> Result<(), CloudError> {
        match keep {
            Some(n) => {
                self.ecr()
                    .put_lifecycle_policy()
                    .repository_name(name)
                    .lifecycle_policy_text(keep_last_policy(n).to_string())
                    .send()
                    .await
                    .map_err(|e| err("ecr:PutLifecyclePolicy", e))?;
            }
            None => {
                match self
                    .ecr()
                    .delete_lifecycle_policy()
                    .repository_name(name)
                    .send()
                    .await
                    .map_err(|e| err("ecr:DeleteLifecyclePolicy", e))
                {
                    Err(e) if e.has_code("LifecyclePolicyNotFoundException") => {}
                    other => {
                        other?;
                    }
                }
            }
        }
        Ok(())
    }

    fn force_delete(&self, current: &Found<Props>) -> bool {
        self.0.options.force_empty
            || current.props.tags.get(TAG_FORCE_DELETE).map(String::as_str) == Some("true")
    }
}

fn mutability(immutable: bool) -> ImageTagMutability {
    if immutable {
        ImageTagMutability::Immutable
    } else {
        ImageTagMutability::Mutable
    }
}

#[async_trait]
impl Kind for EcrRepository {
    /// Encryption as the file writes it: `aes256`, `kms` (with its key).
    fn as_written(field: &str, value: &Value) -> Option<Value> {
        if field != "encryption" {
            return None;
        }
        let name = match value.get("kind")?.as_str()? {
            "AES256" => "aes256",
            "KMS" => "kms",
            _ => return None,
        };
        Some(match value.get("kms_key").and_then(Value::as_str) {
            Some(key) => json!({"encryption": name, "kms_key": key}),
            None => Value::from(name),
        })
    }

    type Props = Props;
    type Remote = Remote;

    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    async fn name_holder(&self, want: &Desired) -> Result<Option<(String, Tags)>, CloudError> {
        let Some(name) = wanted_name(want, "repository_name") else {
            return Ok(None);
        };
        let found = self
            .0
            .aws
            .ecr
            .describe_repositories()
            .repository_names(&name)
            .send()
            .await
            .map_err(|e| err("ecr:DescribeRepositories", e));
        match found {
            Err(e) if e.has_code(super::NOT_FOUND) => Ok(None),
            Err(e) => Err(e),
            Ok(out) => match out.repositories().first().cloned() {
                None => Ok(None),
                Some(r) => Ok(Some((name.clone(), self.read(r).await?.1))),
            },
        }
    }

    async fn list(&self, _parents: &[Observed]) -> Result<Vec<Remote>, CloudError> {
        let repos: Vec<Repository> = self
            .ecr()
            .describe_repositories()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("ecr:DescribeRepositories", e))?;
        let prefix = format!("{}/", self.0.stack());
        let reads = repos
            .into_iter()
            .filter(|r| r.repository_name().is_some_and(|n| n.starts_with(&prefix)))
            .map(|r| self.read(r));
        futures::future::try_join_all(reads).await
    }

    fn observe(&self, (r, tags, keep_last): &Remote) -> Option<Found<Props>> {
        let name = identity(tags, self.0.stack())?;
        let enc = r.encryption_configuration();
        let props = Props {
            repository_name: r.repository_name()?.to_string(),
            scan_on_push: r
                .image_scanning_configuration()
                .is_some_and(|s| s.scan_on_push()),
            immutable_tags: r.image_tag_mutability() == Some(&ImageTagMutability::Immutable),
            encryption: Encryption {
                kind: enc
                    .map(|e| e.encryption_type().as_str())
                    .unwrap_or("AES256")
                    .to_string(),
                kms_key: enc.and_then(|e| e.kms_key()).map(str::to_string),
            },
            keep_last: *keep_last,
            tags: tags.clone(),
        };
        Some(
            Found::new(name, r.repository_name()?, props)
                .output("arn", r.repository_arn().unwrap_or_default())
                .output("uri", r.repository_uri().unwrap_or_default()),
        )
    }

    async fn create(&self, name: &str, want: &Props) -> Result<Found<Props>, CloudError> {
        let encryption = EncryptionConfiguration::builder()
            .encryption_type(EncryptionType::from(want.encryption.kind.as_str()))
            .set_kms_key(want.encryption.kms_key.clone())
            .build()
            .map_err(|e| CloudError::new("ecr:CreateRepository", e.to_string()))?;
        let res = self
            .ecr()
            .create_repository()
            .repository_name(&want.repository_name)
            .image_tag_mutability(mutability(want.immutable_tags))
            .image_scanning_configuration(
                ImageScanningConfiguration::builder()
                    .scan_on_push(want.scan_on_push)
                    .build(),
            )
            .encryption_configuration(encryption)
            .set_tags(Some(sdk_tags(&want.tags)))
            .send()
            .await
            .map_err(|e| err("ecr:CreateRepository", e));
        let repo = match res {
            Ok(out) => out.repository.ok_or_else(|| {
                CloudError::new("ecr:CreateRepository", "no repository in the answer")
            })?,
            // Ours from a run that lost the answer; anyone else's is left as it is.
            Err(e) if e.has_code("RepositoryAlreadyExistsException") => {
                let out = self
                    .ecr()
                    .describe_repositories()
                    .repository_names(&want.repository_name)
                    .send()
                    .await
                    .map_err(|e| err("ecr:DescribeRepositories", e))?;
                let r = out.repositories().first().cloned().ok_or(e.clone())?;
                let (r, tags, keep) = self.read(r).await?;
                if !owned(&tags, self.0.stack()) {
                    return Err(name_taken(
                        "ecr:CreateRepository",
                        "repository",
                        &want.repository_name,
                        &tags,
                    ));
                }
                let current = self.observe(&(r, tags, keep)).ok_or(e)?;
                return self.update(&current, want).await.map(|f| Found {
                    name: name.to_string(),
                    ..f
                });
            }
            Err(e) => return Err(e),
        };
        self.put_lifecycle(&want.repository_name, want.keep_last)
            .await?;
        Ok(Found::new(name, &want.repository_name, want.clone())
            .output("arn", repo.repository_arn().unwrap_or_default())
            .output("uri", repo.repository_uri().unwrap_or_default()))
    }

    async fn update(
        &self,
        current: &Found<Props>,
        want: &Props,
    ) -> Result<Found<Props>, CloudError> {
        let have = &current.props;
        let id = &current.id;
        if have.scan_on_push != want.scan_on_push {
            self.ecr()
                .put_image_scanning_configuration()
                .repository_name(id)
                .image_scanning_configuration(
                    ImageScanningConfiguration::builder()
                        .scan_on_push(want.scan_on_push)
                        .build(),
                )
                .send()
                .await
                .map_err(|e| err("ecr:PutImageScanningConfiguration", e))?;
        }
        if have.immutable_tags != want.immutable_tags {
            self.ecr()
                .put_image_tag_mutability()
                .repository_name(id)
                .image_tag_mutability(mutability(want.immutable_tags))
                .send()
                .await
                .map_err(|e| err("ecr:PutImageTagMutability", e))?;
        }
        if have.keep_last != want.keep_last {
            self.put_lifecycle(id, want.keep_last).await?;
        }
        let arn = current.outputs.get("arn").cloned().unwrap_or_default();
        sync_tags(&EcrTags(self.ecr()), &arn, &have.tags, &want.tags).await?;
        Ok(current.with_props(want.clone()))
    }

    async fn keep(&self, current: &Found<Props>) -> Result<Option<String>, CloudError> {
        if self.force_delete(current) {
            return Ok(None);
        }
        let images: Vec<_> = match self
            .ecr()
            .list_images()
            .repository_name(&current.id)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| err("ecr:ListImages", e))
        {
            Err(e) if e.has_code(NOT_FOUND) => return Ok(None),
            other => other?,
        };
        if images.is_empty() {
            return Ok(None);
        }
        Ok(Some(format!(
            "repository {} still holds {} image(s); kept. Run `provision down --force-empty` (or set force_delete: true) to delete them with the repository",
            current.id,
            images.len()
        )))
    }

    async fn delete(&self, current: &Found<Props>) -> Result<Deletion, CloudError> {
        match self
            .ecr()
            .delete_repository()
            .repository_name(&current.id)
            .force(self.force_delete(current))
            .send()
            .await
            .map_err(|e| err("ecr:DeleteRepository", e))
        {
            Err(e) if e.has_code(NOT_FOUND) => Ok(Deletion::Gone),
            other => other.map(|_| Deletion::Gone),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::support::testing::{self, assert_observes, context};

    fn repo() -> Repository {
        Repository::builder()
            .repository_name("app/backend")
            .repository_arn("arn:aws:ecr:eu-west-3:123456789012:repository/app/backend")
            .repository_uri("123456789012.dkr.ecr.eu-west-3.amazonaws.com/app/backend")
            .image_tag_mutability(ImageTagMutability::Immutable)
            .image_scanning_configuration(
                ImageScanningConfiguration::builder()
                    .scan_on_push(true)
                    .build(),
            )
            .encryption_configuration(
                EncryptionConfiguration::builder()
                    .encryption_type(EncryptionType::Aes256)
                    .build()
                    .unwrap(),
            )
            .build()
    }

    #[test]
    fn a_described_repository_is_what_the_file_wants() {
        let file = "ecr_repositories:\n  backend: {keep_last: 10}\n";
        let remote = (repo(), testing::identity_tags("backend"), Some(10));
        assert_observes(EcrRepository(context()), &remote, file, "backend");
        assert!(EcrRepository(context())
            .observe(&(repo(), testing::foreign_tags("backend"), Some(10)))
            .is_none());
    }

    #[test]
    fn the_lifecycle_policy_reads_back_as_what_it_keeps() {
        assert_eq!(kept_by(&keep_last_policy(10).to_string()), Some(10));
        assert_eq!(kept_by("{\"rules\": []}"), None);
        assert_eq!(kept_by("not json"), None);
    }
}
