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
    in_flight: Arc<InFlight>,
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
    /// The most requests in flight at once.
    pub peak_in_flight: usize,
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
        let mut r = StatsReport {
            peak_in_flight: self.in_flight.peak(),
            ..StatsReport::default()
        };
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
    /// The most requests in flight at once, in total (each service also has its own,
    /// lower bound: see [`service_limit`]).
    pub max_requests: usize,
}

/// Requests in flight one service takes at most: low for the control planes AWS
/// throttles hardest (IAM, CloudFront, Budgets, STS, SSM), higher for the rest.
pub fn service_limit(service: &str) -> usize {
    match service {
        "iam" | "cloudfront" | "budgets" | "sts" | "ssm" => 4,
        _ => 8,
    }
}

/// Requests in flight: now, and the most at once (for `--stats` and the tests).
#[derive(Debug, Default)]
pub struct InFlight {
    now: std::sync::atomic::AtomicUsize,
    peak: std::sync::atomic::AtomicUsize,
}

impl InFlight {
    fn enter(&self) {
        use std::sync::atomic::Ordering;
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(n, Ordering::SeqCst);
    }
    fn leave(&self) {
        self.now.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
    pub fn peak(&self) -> usize {
        self.peak.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The HTTPS client the SDK would make by default.
fn default_https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::{tls, Builder, ConnectorBuilder};
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector = ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

/// An HTTP client that lets a request go only when its service's and the total bound
/// allow: discovery, applies and waits all share them.
#[derive(Debug, Clone)]
struct Bounded {
    inner: aws_smithy_runtime_api::client::http::SharedHttpClient,
    bounds: Bounds,
}

/// A service's bound, the total one, and the count of requests in flight.
#[derive(Debug, Clone)]
struct Bounds {
    service: Arc<tokio::sync::Semaphore>,
    total: Arc<tokio::sync::Semaphore>,
    in_flight: Arc<InFlight>,
}

#[derive(Debug, Clone)]
struct BoundedConnector {
    inner: aws_smithy_runtime_api::client::http::SharedHttpConnector,
    bounds: Bounds,
}

impl aws_smithy_runtime_api::client::http::HttpClient for Bounded {
    fn http_connector(
        &self,
        settings: &aws_smithy_runtime_api::client::http::HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> aws_smithy_runtime_api::client::http::SharedHttpConnector {
        aws_smithy_runtime_api::client::http::SharedHttpConnector::new(BoundedConnector {
            inner: self.inner.http_connector(settings, components),
            bounds: self.bounds.clone(),
        })
    }
}

impl aws_smithy_runtime_api::client::http::HttpConnector for BoundedConnector {
    fn call(
        &self,
        request: aws_smithy_runtime_api::client::orchestrator::HttpRequest,
    ) -> aws_smithy_runtime_api::client::http::HttpConnectorFuture {
        let this = self.clone();
        aws_smithy_runtime_api::client::http::HttpConnectorFuture::new(async move {
            let closed = |e: tokio::sync::AcquireError| {
                aws_smithy_runtime_api::client::result::ConnectorError::other(Box::new(e), None)
            };
            // The service's bound first: a request waiting for a busy service does not
            // hold a place of the total.
            let b = &this.bounds;
            let _service = b.service.clone().acquire_owned().await.map_err(closed)?;
            let _total = b.total.clone().acquire_owned().await.map_err(closed)?;
            b.in_flight.enter();
            let answer = this.inner.call(request).await;
            b.in_flight.leave();
            answer
        })
    }
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
    /// The credentials every client signs with (an EKS token is signed with them too).
    pub credentials: Option<aws_credential_types::provider::SharedCredentialsProvider>,
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
        // say otherwise. Adaptive: throttling answers slow every later request of the
        // client down (a token bucket refilled at the rate AWS accepts), not only the retry.
        if std::env::var_os("AWS_MAX_ATTEMPTS").is_none()
            && std::env::var_os("AWS_RETRY_MODE").is_none()
        {
            loader = loader.retry_config(
                RetryConfig::adaptive()
                    .with_max_attempts(8)
                    .with_initial_backoff(Duration::from_millis(200))
                    .with_max_backoff(Duration::from_secs(20)),
            );
        }
        // A profile named on the command line wins over the environment's keys, as with
        // the AWS CLI (the standard chain would look at the environment first).
        // The SDK's default HTTPS client (rustls with aws-lc, proxies from the
        // environment), made here so that it can be bounded (see `Bounded`).
        loader = loader.http_client(default_https_client());
        if let Some(p) = &settings.profile {
            loader = loader.profile_name(p).credentials_provider(
                aws_config::profile::ProfileFileCredentialsProvider::builder()
                    .profile_name(p)
                    .build(),
            );
        }
        let conf = loader.load().await;
        Aws::from_conf(&conf, &settings.region, settings.max_requests)
    }

    /// The caller's credentials as a signing identity (for what is signed outside a
    /// client: the EKS token).
    pub async fn identity(
        &self,
    ) -> Result<aws_smithy_runtime_api::client::identity::Identity, CloudError> {
        use aws_credential_types::provider::ProvideCredentials;
        let provider = self.credentials.as_ref().ok_or_else(|| {
            CloudError::new("sts:credentials", "no AWS credentials found")
                .with_code("NoCredentials")
        })?;
        let creds = provider.provide_credentials().await.map_err(|e| {
            CloudError::new("sts:credentials", e.to_string()).with_code("CredentialsUnavailable")
        })?;
        Ok(creds.into())
    }

    /// Clients that make no call at start (no credentials are looked up): for code paths
    /// that need an `Aws` but no answer from it, such as unit tests of kinds.
    pub fn offline(region: &str) -> Aws {
        let conf = aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .build();
        Aws::from_conf(&conf, region, 1)
    }

    fn from_conf(conf: &aws_config::SdkConfig, region: &str, max_requests: usize) -> Aws {
        let stats = Arc::new(Stats::default());
        let counter = Counter(stats.clone());
        let emulated = std::env::var_os("AWS_ENDPOINT_URL").is_some();
        let total = Arc::new(tokio::sync::Semaphore::new(max_requests.max(1)));
        // Each service's client behind its bound and the total one.
        let bounded = |service: &str| {
            conf.http_client().map(|inner| Bounded {
                inner,
                bounds: Bounds {
                    service: Arc::new(tokio::sync::Semaphore::new(
                        service_limit(service).min(max_requests).max(1),
                    )),
                    total: total.clone(),
                    in_flight: stats.in_flight.clone(),
                },
            })
        };
        macro_rules! client {
            ($krate:ident, $service:expr) => {{
                let mut b = $krate::config::Builder::from(conf).interceptor(counter.clone());
                if let Some(h) = bounded($service) {
                    b = b.http_client(h);
                }
                $krate::Client::from_conf(b.build())
            }};
        }
        let s3 = {
            let mut b = aws_sdk_s3::config::Builder::from(conf)
                .interceptor(counter.clone())
                .force_path_style(emulated);
            if let Some(h) = bounded("s3") {
                b = b.http_client(h);
            }
            aws_sdk_s3::Client::from_conf(b.build())
        };
        Aws {
            ec2: client!(aws_sdk_ec2, "ec2"),
            s3,
            sts: client!(aws_sdk_sts, "sts"),
            tagging: client!(aws_sdk_resourcegroupstagging, "tagging"),
            iam: client!(aws_sdk_iam, "iam"),
            rds: client!(aws_sdk_rds, "rds"),
            ecs: client!(aws_sdk_ecs, "ecs"),
            elb: client!(aws_sdk_elasticloadbalancingv2, "elasticloadbalancing"),
            eks: client!(aws_sdk_eks, "eks"),
            cloudwatch: client!(aws_sdk_cloudwatch, "cloudwatch"),
            logs: client!(aws_sdk_cloudwatchlogs, "logs"),
            sns: client!(aws_sdk_sns, "sns"),
            budgets: client!(aws_sdk_budgets, "budgets"),
            cloudfront: client!(aws_sdk_cloudfront, "cloudfront"),
            ssm: client!(aws_sdk_ssm, "ssm"),
            ecr: client!(aws_sdk_ecr, "ecr"),
            stats,
            region: region.to_string(),
            credentials: conf.credentials_provider(),
        }
    }

    /// The account the credentials belong to, and the caller's ARN.
    pub async fn caller(&self) -> Result<(String, String), CloudError> {
        let out = self
            .sts
            .get_caller_identity()
            .customize()
            // The first call: a wrong endpoint or no network shows at once, not after
            // the retries that later calls are worth.
            .config_override(
                aws_sdk_sts::config::Builder::default()
                    .retry_config(RetryConfig::standard().with_max_attempts(2)),
            )
            .send()
            .await
            .map_err(|e| err("sts:GetCallerIdentity", e))?;
        let account = out
            .account
            .ok_or_else(|| CloudError::new("sts:GetCallerIdentity", "no account in the answer"))?;
        Ok((account, out.arn.unwrap_or_else(|| "unknown caller".into())))
    }
}

/// The profile named by `--profile` or `AWS_PROFILE` must be in the shared files: a
/// mistyped name is an error, never a silent fall-back to other credentials.
pub async fn check_profile(explicit: Option<&str>) -> Result<(), CloudError> {
    let name = match explicit {
        Some(p) => p.to_string(),
        None => match std::env::var("AWS_PROFILE") {
            Ok(p) if !p.is_empty() => p,
            _ => return Ok(()),
        },
    };
    let set = aws_config::profile::load(
        &aws_types::os_shim_internal::Fs::real(),
        &aws_types::os_shim_internal::Env::real(),
        &aws_runtime::env_config::file::EnvConfigFiles::default(),
        None,
    )
    .await
    .map_err(|e| {
        CloudError::new(
            "profile",
            format!("the AWS configuration files cannot be read: {e}"),
        )
        .with_code(CREDENTIALS_UNAVAILABLE)
    })?;
    if set.get_profile(&name).is_some() {
        return Ok(());
    }
    let mut known: Vec<&str> = set.profiles().collect();
    known.sort_unstable();
    let there = if known.is_empty() {
        "there are none".to_string()
    } else {
        format!("they hold {}", known.join(", "))
    };
    let from = if explicit.is_some() {
        "--profile"
    } else {
        "AWS_PROFILE"
    };
    Err(CloudError::new(
        "profile",
        format!("{from} names `{name}`, which is not a profile of the AWS config or credentials files ({there})"),
    )
    .with_code(PROFILE_NOT_FOUND))
}

/// Convert an SDK error into a [`CloudError`] naming the operation and the AWS error code,
/// in words a person can act on: never the SDK's debug dump (`-v` logs the full chain).
pub fn err<E>(
    operation: &str,
    e: SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
) -> CloudError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let mut code = e.code().map(str::to_string);
    let message = match e.message() {
        Some(m) => m.to_string(),
        // AWS's code without words (a HEAD's 404): the code says it.
        None if code.is_some() => match &e {
            SdkError::ServiceError(s) => format!("HTTP {}", s.raw().status().as_u16()),
            _ => "no message".into(),
        },
        None => {
            let (c, m) = unexplained(&e);
            code = code.or(c);
            tracing::info!(
                operation,
                detail = %aws_smithy_types::error::display::DisplayErrorContext(&e),
                "AWS call failed"
            );
            m
        }
    };
    let outcome_unknown = match &e {
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
        // A request that never left (no credentials, no connection) was not carried out.
        SdkError::DispatchFailure(d) => !(d.is_user() || code.as_deref() == Some(NO_CREDENTIALS)),
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

/// Codes of our own for failures AWS never answered.
pub const NO_CREDENTIALS: &str = "NoCredentials";
pub const CREDENTIALS_UNAVAILABLE: &str = "CredentialsUnavailable";
pub const UNREACHABLE: &str = "Unreachable";
pub const NOT_AWS: &str = "NotAnAwsAnswer";
pub const PROFILE_NOT_FOUND: &str = "ProfileNotFound";

/// Where calls go: the endpoint override, or AWS itself.
fn endpoint() -> String {
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => "AWS".into(),
    }
}

/// A failure without AWS's own message: what the request met on its way (credentials, the
/// network, an answer that is not AWS's), in one line.
fn unexplained<E>(
    e: &SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
) -> (Option<String>, String)
where
    E: std::error::Error + Send + Sync + 'static,
{
    use aws_credential_types::provider::error::CredentialsError;
    let chain = || {
        let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
        std::iter::from_fn(move || {
            let cur = next?;
            next = cur.source();
            Some(cur)
        })
    };
    if let Some(c) = chain().find_map(|x| x.downcast_ref::<CredentialsError>()) {
        return match c {
            CredentialsError::CredentialsNotLoaded(_) => (
                Some(NO_CREDENTIALS.into()),
                "no AWS credentials were found (environment, profile, SSO, container or instance role)".into(),
            ),
            other => (
                Some(CREDENTIALS_UNAVAILABLE.into()),
                format!("the AWS credentials could not be obtained: {}", innermost(other)),
            ),
        };
    }
    match e {
        SdkError::TimeoutError(_) => (
            Some(UNREACHABLE.into()),
            format!("{} did not answer in time", endpoint()),
        ),
        SdkError::DispatchFailure(_) => {
            let why = chain()
                .find_map(|x| x.downcast_ref::<std::io::Error>())
                .map(|io| match io.kind() {
                    std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
                    _ => io.to_string(),
                })
                .unwrap_or_else(|| innermost(e));
            (
                Some(UNREACHABLE.into()),
                format!("cannot reach {}: {why}", endpoint()),
            )
        }
        SdkError::ResponseError(r) => (Some(NOT_AWS.into()), not_aws(r.raw())),
        SdkError::ServiceError(s) => (Some(NOT_AWS.into()), not_aws(s.raw())),
        _ => (None, innermost(e)),
    }
}

/// The answer of something that is not AWS (a proxy's page, a wrong endpoint).
fn not_aws(raw: &aws_smithy_runtime_api::client::orchestrator::HttpResponse) -> String {
    let kind = raw
        .headers()
        .get("content-type")
        .map(|t| t.split(';').next().unwrap_or(t).trim().to_string())
        .unwrap_or_else(|| "no content type".into());
    format!(
        "{} answered HTTP {} ({kind}), which is not an AWS answer",
        endpoint(),
        raw.status().as_u16()
    )
}

/// The last message of an error's chain: the cause, without the layers' wrapping.
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// What to do about an error, when its code says: one line for the report.
pub fn advice(code: &str) -> Option<String> {
    let endpoint_set = std::env::var_os("AWS_ENDPOINT_URL").is_some();
    Some(match code {
        NO_CREDENTIALS => "set AWS_PROFILE (or --profile) to a profile of ~/.aws/config, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; with IAM Identity Center run `aws sso login` first".into(),
        PROFILE_NOT_FOUND => "`aws configure --profile NAME` creates one; `aws configure list-profiles` lists them".into(),
        CREDENTIALS_UNAVAILABLE => "set AWS_PROFILE (or --profile), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; check the profile's settings, and for an SSO profile run `aws sso login`".into(),
        UNREACHABLE if endpoint_set => "check AWS_ENDPOINT_URL: nothing answers there".into(),
        UNREACHABLE => "check the network connection (and any proxy settings)".into(),
        NOT_AWS if endpoint_set => "AWS_ENDPOINT_URL points at something that is not AWS".into(),
        NOT_AWS => "a proxy or captive portal may stand between this machine and AWS".into(),
        "ExpiredToken" | "ExpiredTokenException" | "RequestExpired" | "TokenRefreshRequired" => {
            "the credentials have expired: refresh them (`aws sso login`, or new session keys) and run again".into()
        }
        "InvalidClientTokenId" | "UnrecognizedClientException" | "SignatureDoesNotMatch"
        | "AuthFailure" | "InvalidAccessKeyId" | "IncompleteSignature" => {
            "AWS does not accept these credentials: check the access key and secret (or the profile) in use".into()
        }
        c if c.contains("AccessDenied") || c == "UnauthorizedOperation" || c == "AuthorizationError" => {
            "the caller lacks this permission: docs/iam-policy.json lists every action provision needs".into()
        }
        c if throttling_code(c) => {
            "AWS kept refusing for its request rate: lower --parallelism, or run again in a few minutes".into()
        }
        _ => return None,
    })
}

/// Error codes for throttling, across services: the request was refused, not carried out.
pub fn is_throttling(e: &CloudError) -> bool {
    e.code.as_deref().is_some_and(throttling_code)
}

fn throttling_code(c: &str) -> bool {
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
}

/// Error codes meaning AWS refused the input itself (a value, a combination, a policy).
pub fn is_invalid_input(code: &str) -> bool {
    let credentials = matches!(code, "InvalidClientTokenId" | "InvalidAccessKeyId");
    !credentials
        && !code.contains("NotFound")
        && (code.starts_with("Invalid")
            || code.starts_with("Malformed")
            || code.contains("Validation"))
}

/// Error codes meaning "it is not there".
pub fn is_not_found(e: &CloudError) -> bool {
    e.code.as_deref().is_some_and(|c| {
        c.contains("NotFound") || c.starts_with("NoSuch") || c == "404" || c == "NotFound"
    })
}
