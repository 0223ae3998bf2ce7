//! IAM OpenID Connect provider: lets an outside identity provider's tokens assume the
//! stack's roles (GitHub Actions: `https://token.actions.githubusercontent.com`), so CI
//! deploys with a short-lived role session instead of stored keys. URL and audiences
//! (client ids) are replaced, thumbprints and tags changed in place.
//!
//! IAM keeps one provider per URL and account: a provider for the URL that is not the
//! stack's (no stack tags) is never taken over; `provision adopt` makes it the stack's.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::aws::{err, is_not_found};
use crate::engine::{CloudError, Deletion, Desired, KindInfo, Observed, ResourceKind};
use crate::kinds::names;
use crate::kinds::support::tags::{identity, name_taken, owned, sync_tags, ServiceTags, Tags};
use crate::kinds::support::{adapt, desired, wanted_name, Context, Found, Kind};
use crate::model::{Cx, KindModel, TAG_REGION};

pub static INFO: KindInfo = KindInfo {
    outputs: &["id", "arn"],
    replace: &["url", "client_ids"],
    ..KindInfo::new(names::OIDC_PROVIDER, "oidc_providers", "iam")
};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Spec {
    /// The issuer, `https://` and a host (`https://token.actions.githubusercontent.com`).
    url: String,
    /// The audiences its tokens carry (default: `sts.amazonaws.com`, as GitHub's).
    #[serde(default = "sts_audience")]
    client_ids: Vec<String>,
    /// Certificate thumbprints; AWS no longer needs them for well-known issuers.
    #[serde(default)]
    thumbprints: Vec<String>,
}

fn sts_audience() -> Vec<String> {
    vec!["sts.amazonaws.com".into()]
}

/// What is compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Props {
    /// Without `https://`, as IAM gives it back.
    pub url: String,
    pub client_ids: Vec<String>,
    pub thumbprints: Vec<String>,
    pub tags: Tags,
}

/// The host of an issuer URL, as IAM keys the provider and its condition keys
/// (`token.actions.githubusercontent.com:sub`).
pub fn host(url: &str) -> String {
    url.trim_start_matches("https://")
        .trim_end_matches('/')
        .to_string()
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
        let h = host(&spec.url);
        if !spec.url.starts_with("https://") || h.is_empty() || h.contains(' ') {
            cx.error_hint(
                "url",
                format!("`{}` is not an issuer URL", spec.url),
                "https:// and a host, like https://token.actions.githubusercontent.com",
            );
        }
        if spec.client_ids.is_empty() {
            cx.error("client_ids", "a provider needs at least one audience");
        }
        for (i, t) in spec.thumbprints.iter().enumerate() {
            if t.len() != 40 || !t.chars().all(|c| c.is_ascii_hexdigit()) {
                cx.error(
                    &format!("thumbprints[{i}]"),
                    format!("`{t}` is not a SHA-1 thumbprint (40 hex digits)"),
                );
            }
        }
        let mut client_ids = spec.client_ids;
        client_ids.sort();
        let mut thumbprints: Vec<String> =
            spec.thumbprints.iter().map(|t| t.to_lowercase()).collect();
        thumbprints.sort();
        let props = Props {
            url: h,
            client_ids,
            thumbprints,
            tags: cx.global_tags(),
        };
        vec![desired(&INFO, name, &props)]
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![adapt(OidcProvider(cx.clone()))]
}

pub struct OidcProvider(pub Arc<Context>);

/// A provider as IAM describes it: ARN, URL, audiences, thumbprints, tags.
#[derive(Debug, Clone)]
pub struct Remote {
    pub arn: String,
    pub url: String,
    pub client_ids: Vec<String>,
    pub thumbprints: Vec<String>,
    pub tags: Tags,
}

struct ProviderTags<'a>(&'a aws_sdk_iam::Client);

#[async_trait]
impl ServiceTags for ProviderTags<'_> {
    async fn tag(&self, arn: &str, set: &Tags) -> Result<(), CloudError> {
        self.0
            .tag_open_id_connect_provider()
            .open_id_connect_provider_arn(arn)
            .set_tags(Some(super::sdk_tags(set)))
            .send()
            .await
            .map_err(|e| err("iam:TagOpenIDConnectProvider", e))?;
        Ok(())
    }

    async fn untag(&self, arn: &str, keys: &[String]) -> Result<(), CloudError> {
        self.0
            .untag_open_id_connect_provider()
            .open_id_connect_provider_arn(arn)
            .set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .map_err(|e| err("iam:UntagOpenIDConnectProvider", e))?;
        Ok(())
    }
}

impl OidcProvider {
    fn iam(&self) -> &aws_sdk_iam::Client {
        &self.0.aws.iam
    }

    /// One provider's settings and tags (IAM lists only ARNs).
    async fn read(&self, arn: &str) -> Result<Option<Remote>, CloudError> {
        let out = match self
            .iam()
            .get_open_id_connect_provider()
            .open_id_connect_provider_arn(arn)
            .send()
            .await
            .map_err(|e| err("iam:GetOpenIDConnectProvider", e))
        {
            Err(e) if is_not_found(&e) => return Ok(None),
            other => other?,
        };
        let mut client_ids = out.client_id_list().to_vec();
        client_ids.sort();
        let mut thumbprints: Vec<String> = out
            .thumbprint_list()
            .iter()
            .map(|t| t.to_lowercase())
            .collect();
        thumbprints.sort();
        Ok(Some(Remote {
            arn: arn.to_string(),
            url: host(out.url().unwrap_or_default()),
            client_ids,
            thumbprints,
            tags: out
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect(),
        }))
    }

    /// The provider IAM keeps for a URL: its ARN is the account's and the host.
    fn arn_for(&self, url: &str) -> String {
        format!(
            "arn:aws:iam::{}:oidc-provider/{}",
            self.0.scope.account,
            host(url)
        )
    }
}

#[async_trait]
impl Kind for OidcProvider {
    type Props = Props;
    type Remote = Remote;

    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    async fn name_holder(&self, want: &Desired) -> Result<Option<(String, Tags)>, CloudError> {
        let Some(url) = wanted_name(want, "url") else {
            return Ok(None);
        };
        Ok(self
            .read(&self.arn_for(&url))
            .await?
            .map(|r| (r.url, r.tags)))
    }

    async fn list(&self, _parents: &[Observed]) -> Result<Vec<Remote>, CloudError> {
        let out = self
            .iam()
            .list_open_id_connect_providers()
            .send()
            .await
            .map_err(|e| err("iam:ListOpenIDConnectProviders", e))?;
        let reads = out
            .open_id_connect_provider_list()
            .iter()
            .filter_map(|p| p.arn())
            .map(|arn| self.read(arn));
        Ok(futures::future::try_join_all(reads)
            .await?
            .into_iter()
            .flatten()
            .collect())
    }

    fn observe(&self, r: &Remote) -> Option<Found<Props>> {
        let name = identity(&r.tags, self.0.stack())?;
        // The same stack name homed in another region is another stack.
        if r.tags.get(TAG_REGION) != Some(&self.0.scope.region) {
            return None;
        }
        let props = Props {
            url: r.url.clone(),
            client_ids: r.client_ids.clone(),
            thumbprints: r.thumbprints.clone(),
            tags: r.tags.clone(),
        };
        Some(Found::new(name, &r.arn, props).output("arn", &r.arn))
    }

    async fn create(&self, name: &str, want: &Props) -> Result<Found<Props>, CloudError> {
        let res = self
            .iam()
            .create_open_id_connect_provider()
            .url(format!("https://{}", want.url))
            .set_client_id_list(Some(want.client_ids.clone()))
            .set_thumbprint_list((!want.thumbprints.is_empty()).then(|| want.thumbprints.clone()))
            .set_tags(Some(super::sdk_tags(&want.tags)))
            .send()
            .await
            .map_err(|e| err("iam:CreateOpenIDConnectProvider", e));
        let arn = match res {
            Ok(out) => out
                .open_id_connect_provider_arn()
                .map(str::to_string)
                .unwrap_or_else(|| self.arn_for(&want.url)),
            // Ours from a run that lost the answer; anyone else's stays theirs.
            Err(e) if e.has_code("EntityAlreadyExists") => {
                let arn = self.arn_for(&want.url);
                let have = self.read(&arn).await?.ok_or(e.clone())?;
                if !owned(&have.tags, self.0.stack()) {
                    return Err(name_taken(
                        "iam:CreateOpenIDConnectProvider",
                        "OpenID Connect provider",
                        &want.url,
                        &have.tags,
                    ));
                }
                let current = self.observe(&have).ok_or(e)?;
                return self.update(&current, want).await.map(|f| Found {
                    name: name.to_string(),
                    ..f
                });
            }
            Err(e) => return Err(e),
        };
        Ok(Found::new(name, &arn, want.clone()).output("arn", &arn))
    }

    async fn update(
        &self,
        current: &Found<Props>,
        want: &Props,
    ) -> Result<Found<Props>, CloudError> {
        let have = &current.props;
        if have.thumbprints != want.thumbprints && !want.thumbprints.is_empty() {
            self.iam()
                .update_open_id_connect_provider_thumbprint()
                .open_id_connect_provider_arn(&current.id)
                .set_thumbprint_list(Some(want.thumbprints.clone()))
                .send()
                .await
                .map_err(|e| err("iam:UpdateOpenIDConnectProviderThumbprint", e))?;
        }
        sync_tags(
            &ProviderTags(self.iam()),
            &current.id,
            &have.tags,
            &want.tags,
        )
        .await?;
        Ok(current.with_props(want.clone()))
    }

    /// IAM manages the thumbprints of well-known issuers itself: none in the file means
    /// whatever IAM keeps.
    fn settle(want: &mut Props, have: &Props) {
        if want.thumbprints.is_empty() {
            want.thumbprints = have.thumbprints.clone();
        }
    }

    async fn delete(&self, current: &Found<Props>) -> Result<Deletion, CloudError> {
        match self
            .iam()
            .delete_open_id_connect_provider()
            .open_id_connect_provider_arn(&current.id)
            .send()
            .await
            .map_err(|e| err("iam:DeleteOpenIDConnectProvider", e))
        {
            Err(e) if is_not_found(&e) => Ok(Deletion::Gone),
            other => other.map(|_| Deletion::Gone),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::support::testing::{self, assert_observes, context};

    fn remote(tags: Tags) -> Remote {
        Remote {
            arn: "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
                .into(),
            url: "token.actions.githubusercontent.com".into(),
            client_ids: vec!["sts.amazonaws.com".into()],
            thumbprints: vec!["6938fd4d98bab03faadb97b34396831e3780aea1".into()],
            tags,
        }
    }

    #[test]
    fn a_described_provider_is_what_the_file_wants() {
        let file = "oidc_providers:\n  github: {url: 'https://token.actions.githubusercontent.com', thumbprints: [6938FD4D98BAB03FAADB97B34396831E3780AEA1]}\n";
        assert_observes(
            OidcProvider(context()),
            &remote(testing::global_identity_tags("github")),
            file,
            "github",
        );
        // Another stack's, or this stack's name homed in another region: not ours.
        assert!(OidcProvider(context())
            .observe(&remote(testing::foreign_tags("github")))
            .is_none());
        assert!(OidcProvider(context())
            .observe(&remote(testing::identity_tags("github")))
            .is_none());
    }

    #[test]
    fn the_file_gives_the_host_sorted_audiences_and_global_tags() {
        let d = testing::desired(
            "oidc_providers:\n  github: {url: 'https://token.actions.githubusercontent.com/'}\n",
        );
        let p: Props =
            serde_json::from_value(serde_json::Value::Object(d[0].props.clone())).expect("props");
        assert_eq!(p.url, "token.actions.githubusercontent.com");
        assert_eq!(p.client_ids, vec!["sts.amazonaws.com"]);
        assert!(p.tags.contains_key(TAG_REGION));
    }
}
