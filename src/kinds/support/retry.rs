//! Retries the SDK cannot decide alone: resources still in use while their dependents go
//! away, roles IAM has not propagated yet, creates that must never be repeated blindly,
//! and repeats AWS refuses because the work is already done.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::engine::CloudError;

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
    "ResourceInUse",
    "ClusterContainsTasksException", // ECS: tasks of a deleted service still stopping
    "ClusterContainsServicesException",
];

/// Mark a refusal because the resource is still in use (the common codes, and `also`), so
/// that the engine tries the delete again, with progress, for a while.
pub fn in_use<T>(res: Result<T, CloudError>, also: &[&str]) -> Result<T, CloudError> {
    res.map_err(|e| {
        if IN_USE.iter().chain(also).any(|c| e.has_code(c)) {
            e.in_use()
        } else {
            e
        }
    })
}

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

/// A fresh client token for one create call: the SDK's retries of that call carry it (so
/// AWS recognises a retried create), while every other create, including the
/// re-creation of a replaced resource, gets a new one. EC2 keeps a token tied to its
/// resource for a day after the resource is deleted: a reused token would answer with
/// the deleted resource.
pub fn client_token(stack: &str, name: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let text = format!(
        "{stack}\u{0}{name}\u{0}{nanos}\u{0}{n}\u{0}{}",
        std::process::id()
    );
    // FNV-1a: short, and no need for a cryptographic hash here.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("provision-{h:016x}")
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

    #[test]
    fn client_tokens_differ_per_create_and_fit_aws_limits() {
        let a = client_token("s", "nat");
        let b = client_token("s", "nat");
        assert_ne!(
            a, b,
            "a re-creation must not reuse the token of the deleted one"
        );
        assert!(a.len() <= 64 && a.is_ascii());
    }
}
