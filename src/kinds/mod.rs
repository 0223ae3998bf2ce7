//! Resource kinds. Each file holds one kind's whole lifecycle: its section of the stack
//! file (parse, checks, desired properties) and its AWS side (discover, create, update,
//! delete, status). Kinds are registered once, in the `kinds!` list below.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::aws::Aws;
use crate::engine::{CloudError, Registry, ResourceKind};
use crate::model::KindModel;

pub mod blockers;
pub mod ec2;

/// What every kind's AWS side gets: the clients, the stack name, the run's options.
#[derive(Debug, Clone)]
pub struct Context {
    pub aws: Aws,
    pub stack: String,
    pub account: String,
    pub options: Options,
}

/// Choices made on the command line that change how resources are deleted or waited on.
#[derive(Debug, Clone)]
pub struct Options {
    /// Empty non-empty buckets (every version and delete marker) so they can be deleted.
    pub force_empty_buckets: bool,
    /// Delete databases without taking a final snapshot.
    pub skip_final_snapshot: bool,
    /// How long a delete keeps retrying while AWS reports the resource as still in use
    /// (dependents still disappearing: network interfaces, NAT addresses).
    pub dependency_wait: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            force_empty_buckets: false,
            skip_final_snapshot: false,
            dependency_wait: Duration::from_secs(180),
        }
    }
}

macro_rules! kinds {
    ($($module:ident),* $(,)?) => {
        $(pub mod $module;)*

        /// The model side of every kind, in stack-file order.
        pub fn models() -> Vec<&'static dyn KindModel> {
            vec![$(&$module::Model as &dyn KindModel),*]
        }

        /// The AWS side of every kind.
        pub fn registry(cx: Arc<Context>) -> Registry {
            let mut all: Vec<Arc<dyn ResourceKind>> = Vec::new();
            $(all.extend($module::cloud(&cx));)*
            Registry::new(all)
        }
    };
}

kinds!(
    iam_role,
    log_group,
    ecs_cluster,
    task_definition,
    ecs_service,
    vpc,
    subnet,
    internet_gateway,
    elastic_ip,
    nat_gateway,
    route_table,
    security_group,
    bucket,
    load_balancer,
    target_group,
    listener,
    db_subnet_group,
    database,
    eks_cluster,
    node_group,
    sns_topic,
    alarm,
    budget,
    distribution,
);

/// A list-of-strings property, sorted (the order of subnets, groups and the like carries
/// no meaning, so both sides are compared sorted).
pub fn sorted_strings(props: &crate::engine::Props, key: &str) -> Vec<String> {
    let mut v: Vec<String> = props
        .get(key)
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    v.sort();
    v
}

/// Sort the given list properties in place, where present (for `ResourceKind::normalize`).
pub fn sort_string_lists(props: &mut crate::engine::Props, keys: &[&str]) {
    for k in keys {
        if props.contains_key(*k) {
            let v = sorted_strings(props, k);
            props.insert((*k).to_string(), v.into());
        }
    }
}

/// From the current to the desired `tags` property: every desired tag (to set) and the
/// keys to remove.
pub fn tag_diff(
    have: &crate::engine::Props,
    want: &crate::engine::Props,
) -> (std::collections::BTreeMap<String, String>, Vec<String>) {
    let (h, w) = (ec2::desired_tags(have), ec2::desired_tags(want));
    let unset = h.keys().filter(|k| !w.contains_key(*k)).cloned().collect();
    (w, unset)
}

/// A change AWS refuses because it is already in place: a retried call whose first
/// attempt went through (its answer was lost), so the SDK's retry met its own work.
pub fn already_done<T>(res: Result<T, CloudError>, codes: &[&str]) -> Result<(), CloudError> {
    match res {
        Ok(_) => Ok(()),
        Err(e) if codes.iter().any(|c| e.has_code(c)) => {
            tracing::debug!("{e}: already in place");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Codes AWS uses for "still in use by something that is going away".
const IN_USE: &[&str] = &[
    "DependencyViolation",
    "InvalidIPAddress.InUse",
    "AuthFailure", // ReleaseAddress on an address a deleting NAT still holds
    "ResourceInUse",
];

/// Retry `f` while AWS says the resource is still in use, up to `limit`.
pub async fn retry_in_use<T, F, Fut>(limit: Duration, f: F) -> Result<T, CloudError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, CloudError>>,
{
    retry_when(limit, |e| IN_USE.iter().any(|c| e.has_code(c)), f).await
}

/// Create something whose create call has no idempotency token, without ever repeating a
/// create that may have succeeded: `create` is sent with the SDK's retries off; when its
/// outcome is unknown (no answer, server error) `lookup` searches for the resource by its
/// identity tags first, and only if it is not there is the create sent again. Throttling
/// (refused, so not carried out) is waited out and retried.
pub async fn create_once<T, C, CF, L, LF>(mut create: C, mut lookup: L) -> Result<T, CloudError>
where
    C: FnMut() -> CF,
    CF: Future<Output = Result<T, CloudError>>,
    L: FnMut() -> LF,
    LF: Future<Output = Result<Option<T>, CloudError>>,
{
    let mut delay = Duration::from_millis(500);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let e = match create().await {
            Ok(v) => return Ok(v),
            Err(e) if crate::aws::is_throttling(&e) || e.outcome_unknown => e,
            Err(e) => return Err(e),
        };
        if e.outcome_unknown {
            if let Some(found) = lookup().await? {
                tracing::info!("{e}; the create had gone through: found it by its tags");
                return Ok(found);
            }
        }
        if attempt >= 6 {
            return Err(e);
        }
        tracing::info!("{e}; trying again in {}ms", delay.as_millis());
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(20));
    }
}

/// SDK settings (for any service crate) for a call whose repetition must be decided by
/// `create_once`: `.config_override(no_retries!(aws_sdk_ec2))`.
macro_rules! no_retries {
    ($krate:ident) => {
        $krate::config::Builder::default().retry_config(aws_config::retry::RetryConfig::disabled())
    };
}
pub(crate) use no_retries;

/// The id of the stack's EC2 resource named `name`, from a describe call's tag filters.
pub fn identity_filters(stack: &str, name: &str) -> Vec<aws_sdk_ec2::types::Filter> {
    vec![
        ec2::stack_filter(stack),
        aws_sdk_ec2::types::Filter::builder()
            .name(format!("tag:{}", crate::model::TAG_NAME))
            .values(name)
            .build(),
    ]
}

/// Retry while a service refuses a role that was just created: IAM is eventually
/// consistent, so ECS or EKS may not be able to assume a new role for some seconds.
pub async fn retry_iam_propagation<T, F, Fut>(f: F) -> Result<T, CloudError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, CloudError>>,
{
    retry_when(Duration::from_secs(90), is_iam_propagation, f).await
}

/// The errors ECS and EKS give for a role they cannot assume yet.
pub fn is_iam_propagation(e: &CloudError) -> bool {
    let m = e.message.to_lowercase();
    let code = e.code.as_deref().unwrap_or("");
    matches!(
        code,
        "ClientException" | "InvalidParameterException" | "AccessDeniedException"
    ) && (m.contains("assume")
        || m.contains("role is not valid")
        || m.contains("not authorized to perform: iam:passrole"))
}

/// Retry `f` while `retryable` says so, with growing delays, up to `limit`.
pub async fn retry_when<T, F, Fut>(
    limit: Duration,
    retryable: fn(&CloudError) -> bool,
    mut f: F,
) -> Result<T, CloudError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, CloudError>>,
{
    let start = tokio::time::Instant::now();
    let mut delay = Duration::from_secs(2);
    loop {
        match f().await {
            Err(e) if retryable(&e) && start.elapsed() + delay <= limit => {
                tracing::info!("{e}; retrying in {}s", delay.as_secs());
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(20));
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn ecs_refusal() -> CloudError {
        CloudError::new("ecs:CreateService", "ECS was unable to assume the role 'arn:aws:iam::1:role/x' that was provided for this task.")
            .with_code("InvalidParameterException")
    }

    #[tokio::test(start_paused = true)]
    async fn a_role_refused_while_iam_propagates_is_retried_until_accepted() {
        let calls = AtomicU32::new(0);
        let res = retry_iam_propagation(|| async {
            if calls.fetch_add(1, Ordering::SeqCst) < 3 {
                Err(ecs_refusal())
            } else {
                Ok("created")
            }
        })
        .await;
        assert_eq!(res.ok(), Some("created"));
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn the_retry_is_bounded_and_other_errors_are_not_retried() {
        let calls = AtomicU32::new(0);
        let start = tokio::time::Instant::now();
        let res: Result<(), _> = retry_iam_propagation(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(ecs_refusal())
        })
        .await;
        assert!(res.is_err_and(|e| e.has_code("InvalidParameterException")));
        assert!(
            start.elapsed() <= Duration::from_secs(90),
            "bounded by 90 s: {:?}",
            start.elapsed()
        );
        assert!(calls.load(Ordering::SeqCst) > 3);

        let calls = AtomicU32::new(0);
        let res: Result<(), _> = retry_iam_propagation(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(CloudError::new("ecs:CreateService", "bad image")
                .with_code("InvalidParameterException"))
        })
        .await;
        assert!(res.is_err());
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "an unrelated error is not retried"
        );
    }

    fn lost() -> CloudError {
        CloudError {
            outcome_unknown: true,
            ..CloudError::new("ec2:CreateVpc", "connection reset")
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_create_whose_answer_was_lost_is_found_not_repeated() {
        let (creates, lookups) = (AtomicU32::new(0), AtomicU32::new(0));
        let res = create_once(
            || async {
                creates.fetch_add(1, Ordering::SeqCst);
                Err::<String, _>(lost()) // carried out, but the answer never came
            },
            || async {
                lookups.fetch_add(1, Ordering::SeqCst);
                Ok(Some("vpc-1".to_string()))
            },
        )
        .await;
        assert_eq!(res.ok().as_deref(), Some("vpc-1"));
        assert_eq!(
            (
                creates.load(Ordering::SeqCst),
                lookups.load(Ordering::SeqCst)
            ),
            (1, 1)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_create_that_did_not_happen_is_sent_again_and_throttling_needs_no_lookup() {
        let (creates, lookups) = (AtomicU32::new(0), AtomicU32::new(0));
        let res = create_once(
            || async {
                match creates.fetch_add(1, Ordering::SeqCst) {
                    0 => Err(lost()),
                    1 => Err(CloudError::new("ec2:CreateVpc", "slow down")
                        .with_code("RequestLimitExceeded")),
                    _ => Ok("vpc-2".to_string()),
                }
            },
            || async {
                lookups.fetch_add(1, Ordering::SeqCst);
                Ok(None)
            },
        )
        .await;
        assert_eq!(res.ok().as_deref(), Some("vpc-2"));
        assert_eq!(
            (
                creates.load(Ordering::SeqCst),
                lookups.load(Ordering::SeqCst)
            ),
            (3, 1)
        );

        let creates = AtomicU32::new(0);
        let res: Result<String, _> = create_once(
            || async {
                creates.fetch_add(1, Ordering::SeqCst);
                Err(CloudError::new("ec2:CreateVpc", "bad CIDR").with_code("InvalidParameterValue"))
            },
            || async { Ok(None) },
        )
        .await;
        assert!(res.is_err());
        assert_eq!(creates.load(Ordering::SeqCst), 1, "a refusal is final");
    }
}
