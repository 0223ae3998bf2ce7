//! The AWS side shared by every resource kind: SDK clients built from the standard
//! configuration chain, call accounting, error conversion.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde::Serialize;

use crate::engine::CloudError;

/// Counts every AWS call by service and operation (calls, and attempts including retries).
#[derive(Debug, Default)]
pub struct Stats {
    counts: Mutex<BTreeMap<(String, String), (u64, u64)>>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OperationCount {
    pub service: String,
    pub operation: String,
    pub write: bool,
    pub calls: u64,
    pub attempts: u64,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct StatsReport {
    pub reads: u64,
    pub writes: u64,
    pub attempts: u64,
    pub operations: Vec<OperationCount>,
}

/// Operations that only read. Everything else counts as a write.
pub fn is_read(operation: &str) -> bool {
    ["Describe", "List", "Get", "Head", "Lookup", "Search"]
        .iter()
        .any(|p| operation.starts_with(p))
}

impl Stats {
    fn bump(&self, service: &str, operation: &str, call: bool) {
        if let Ok(mut c) = self.counts.lock() {
            let e = c
                .entry((service.to_string(), operation.to_string()))
                .or_default();
            if call {
                e.0 += 1;
            } else {
                e.1 += 1;
            }
        }
    }

    pub fn report(&self) -> StatsReport {
        let mut r = StatsReport::default();
        if let Ok(c) = self.counts.lock() {
            for ((service, operation), (calls, attempts)) in c.iter() {
                let write = !is_read(operation);
                if write {
                    r.writes += calls;
                } else {
                    r.reads += calls;
                }
                r.attempts += attempts;
                r.operations.push(OperationCount {
                    service: service.clone(),
                    operation: operation.clone(),
                    write,
                    calls: *calls,
                    attempts: *attempts,
                });
            }
        }
        r
    }
}

#[derive(Debug, Clone)]
struct Counter(Arc<Stats>);

impl Intercept for Counter {
    fn name(&self) -> &'static str {
        "provision-call-counter"
    }

    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>() {
            self.0.bump(m.service(), m.name(), true);
        }
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>() {
            self.0.bump(m.service(), m.name(), false);
        }
        Ok(())
    }
}

/// Connection settings from the command line; the rest comes from the standard chain
/// (environment, profiles, `AWS_ENDPOINT_URL`).
#[derive(Debug, Clone)]
pub struct Settings {
    pub region: String,
    pub profile: Option<String>,
    /// How long one attempt of a call may take (then it counts as a timeout and is retried).
    pub attempt_timeout: Duration,
}

/// SDK clients for every service the kinds use, all counted.
#[derive(Clone, Debug)]
pub struct Aws {
    pub ec2: aws_sdk_ec2::Client,
    pub s3: aws_sdk_s3::Client,
    pub sts: aws_sdk_sts::Client,
    pub tagging: aws_sdk_resourcegroupstagging::Client,
    pub iam: aws_sdk_iam::Client,
    pub rds: aws_sdk_rds::Client,
    pub ecs: aws_sdk_ecs::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub eks: aws_sdk_eks::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub sns: aws_sdk_sns::Client,
    pub budgets: aws_sdk_budgets::Client,
    pub cloudfront: aws_sdk_cloudfront::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub stats: Arc<Stats>,
    pub region: String,
}

impl Aws {
    pub async fn connect(settings: &Settings) -> Aws {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(settings.region.clone()))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(settings.attempt_timeout)
                    .build(),
            );
        // Our retry bounds, unless the standard settings (AWS_MAX_ATTEMPTS, AWS_RETRY_MODE)
        // say otherwise.
        if std::env::var_os("AWS_MAX_ATTEMPTS").is_none()
            && std::env::var_os("AWS_RETRY_MODE").is_none()
        {
            loader = loader.retry_config(
                RetryConfig::standard()
                    .with_max_attempts(8)
                    .with_initial_backoff(Duration::from_millis(200))
                    .with_max_backoff(Duration::from_secs(20)),
            );
        }
        if let Some(p) = &settings.profile {
            loader = loader.profile_name(p);
        }
        let conf = loader.load().await;
        Aws::from_conf(&conf, &settings.region)
    }

    /// Clients that make no call at start (no credentials are looked up): for code paths
    /// that need an `Aws` but no answer from it, such as unit tests of kinds.
    pub fn offline(region: &str) -> Aws {
        let conf = aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .build();
        Aws::from_conf(&conf, region)
    }

    fn from_conf(conf: &aws_config::SdkConfig, region: &str) -> Aws {
        let stats = Arc::new(Stats::default());
        let counter = Counter(stats.clone());
        let emulated = std::env::var_os("AWS_ENDPOINT_URL").is_some();
        macro_rules! client {
            ($krate:ident) => {
                $krate::Client::from_conf(
                    $krate::config::Builder::from(conf)
                        .interceptor(counter.clone())
                        .build(),
                )
            };
        }
        Aws {
            ec2: client!(aws_sdk_ec2),
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(conf)
                    .interceptor(counter.clone())
                    .force_path_style(emulated)
                    .build(),
            ),
            sts: client!(aws_sdk_sts),
            tagging: client!(aws_sdk_resourcegroupstagging),
            iam: client!(aws_sdk_iam),
            rds: client!(aws_sdk_rds),
            ecs: client!(aws_sdk_ecs),
            elb: client!(aws_sdk_elasticloadbalancingv2),
            eks: client!(aws_sdk_eks),
            cloudwatch: client!(aws_sdk_cloudwatch),
            logs: client!(aws_sdk_cloudwatchlogs),
            sns: client!(aws_sdk_sns),
            budgets: client!(aws_sdk_budgets),
            cloudfront: client!(aws_sdk_cloudfront),
            ssm: client!(aws_sdk_ssm),
            ecr: client!(aws_sdk_ecr),
            stats,
            region: region.to_string(),
        }
    }

    /// The account the credentials belong to, and the caller's ARN.
    pub async fn caller(&self) -> Result<(String, String), CloudError> {
        let out = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| err("sts:GetCallerIdentity", e))?;
        let account = out
            .account
            .ok_or_else(|| CloudError::new("sts:GetCallerIdentity", "no account in the answer"))?;
        Ok((account, out.arn.unwrap_or_else(|| "unknown caller".into())))
    }
}

/// Convert an SDK error into a [`CloudError`] naming the operation and the AWS error code.
pub fn err<E>(
    operation: &str,
    e: SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
) -> CloudError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let code = e.code().map(str::to_string);
    let message = match e.message() {
        Some(m) => m.to_string(),
        None => match &e {
            SdkError::TimeoutError(_) => "timed out".to_string(),
            SdkError::DispatchFailure(_) => format!(
                "could not reach AWS: {}",
                aws_smithy_types::error::display::DisplayErrorContext(&e)
            ),
            _ => aws_smithy_types::error::display::DisplayErrorContext(&e).to_string(),
        },
    };
    let outcome_unknown = match &e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(s) => s.raw().status().is_server_error(),
        _ => false,
    };
    CloudError {
        operation: operation.to_string(),
        code,
        message,
        outcome_unknown,
        in_use: false,
    }
}

/// Error codes for throttling, across services: the request was refused, not carried out.
pub fn is_throttling(e: &CloudError) -> bool {
    e.code.as_deref().is_some_and(|c| {
        matches!(
            c,
            "Throttling"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "TooManyRequestsException"
                | "RequestThrottled"
                | "SlowDown"
                | "ThrottledException"
        )
    })
}

/// Error codes meaning "it is not there".
pub fn is_not_found(e: &CloudError) -> bool {
    e.code.as_deref().is_some_and(|c| {
        c.contains("NotFound") || c.starts_with("NoSuch") || c == "404" || c == "NotFound"
    })
}
