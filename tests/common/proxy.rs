//! A fault-injecting HTTP proxy for the tests: it sits on loopback in front of the
//! emulator and answers a chosen fraction of requests with the faults real AWS produces:
//! throttling (with the code and status each service really uses), 500 and 503, a
//! connection reset before or after the request reached the service, an answer that never
//! comes (the client times out) and added latency.
//!
//! Reproducible: whether a request is faulted, and how, depends only on the seed, the
//! request itself (method, path, body) and how many times that same request was seen
//! before; not on timing or on the order concurrent requests arrive in.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone)]
pub struct Faults {
    pub seed: u64,
    /// Fraction of requests faulted, 0.0..=1.0.
    pub rate: f64,
    /// Latency added to every request: uniformly 0..=this many milliseconds.
    pub max_latency_ms: u64,
    /// How long an answer is held back for the "timeout" fault (longer than the
    /// client's attempt timeout).
    pub hang: Duration,
    /// Fault only requests whose path, target header or body contains this text
    /// (for instance `Action=CreateTargetGroup`).
    pub only: Option<String>,
    /// Every fault is throttling (refused, never carried out).
    pub throttle_only: bool,
}

/// What happened to requests, by fault.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub requests: u64,
    pub passed: u64,
    pub throttled: u64,
    pub internal_error: u64,
    pub unavailable: u64,
    pub reset_before: u64,
    pub reset_after: u64,
    pub timed_out: u64,
    /// Faults whose request had reached the emulator (outcome unknown to the client).
    pub forwarded_then_faulted: u64,
}

impl Tally {
    pub fn faulted(&self) -> u64 {
        self.requests - self.passed
    }
}

pub struct Proxy {
    pub endpoint: String,
    tally: Arc<Mutex<Tally>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub fn tally(&self) -> Tally {
        self.tally.lock().map(|t| t.clone()).unwrap_or_default()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    None,
    Throttle,
    Internal { forwarded: bool },
    Unavailable { forwarded: bool },
    ResetBefore,
    ResetAfter,
    Timeout,
}

/// SplitMix64: small, good enough, no dependency.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn choose(faults: &Faults, key: u64) -> (Fault, u64) {
    let r1 = mix(faults.seed ^ key);
    let r2 = mix(r1);
    let r3 = mix(r2);
    let latency = if faults.max_latency_ms == 0 {
        0
    } else {
        r3 % (faults.max_latency_ms + 1)
    };
    let unit = (r1 >> 11) as f64 / (1u64 << 53) as f64;
    if unit >= faults.rate {
        return (Fault::None, latency);
    }
    let forwarded = r3 & 1 == 0;
    let f = match r2 % 20 {
        0..=6 => Fault::Throttle,
        7..=9 => Fault::Internal { forwarded },
        10..=11 => Fault::Unavailable { forwarded },
        12..=13 => Fault::ResetBefore,
        14..=17 => Fault::ResetAfter,
        _ => Fault::Timeout,
    };
    (f, latency)
}

struct Request {
    head: String,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The signing name from the SigV4 credential scope: `.../<region>/<service>/aws4_request`.
    fn service(&self) -> String {
        self.header("authorization")
            .and_then(|a| a.split("Credential=").nth(1))
            .and_then(|c| c.split(',').next())
            .and_then(|scope| scope.split('/').nth(3))
            .unwrap_or("unknown")
            .to_string()
    }

    fn mentions(&self, text: &str) -> bool {
        self.path.contains(text)
            || self
                .header("x-amz-target")
                .is_some_and(|t| t.contains(text))
            || String::from_utf8_lossy(&self.body).contains(text)
    }

    /// What makes two requests "the same request": method, path, target and body.
    fn identity(&self) -> u64 {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(self.method.as_bytes());
        bytes.extend_from_slice(self.path.as_bytes());
        if let Some(t) = self.header("x-amz-target") {
            bytes.extend_from_slice(t.as_bytes());
        }
        bytes.extend_from_slice(&self.body);
        fnv(&bytes)
    }
}

async fn read_request(r: &mut BufReader<TcpStream>) -> io::Result<Option<Request>> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        let n = r.read_line(&mut line).await?;
        if n == 0 {
            return Ok(None);
        }
        if line == "\r\n" && head.is_empty() {
            continue;
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let mut lines = head.lines();
    let first = lines.next().unwrap_or_default().to_string();
    let mut parts = first.split(' ');
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut req = Request {
        head: first,
        method,
        path,
        headers,
        body: Vec::new(),
    };
    if req
        .header("expect")
        .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
    {
        r.get_mut()
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await?;
    }
    if req
        .header("transfer-encoding")
        .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"))
    {
        req.body = read_chunked(r).await?;
    } else if let Some(len) = req
        .header("content-length")
        .and_then(|l| l.parse::<usize>().ok())
    {
        let mut body = vec![0; len];
        r.read_exact(&mut body).await?;
        req.body = body;
    }
    Ok(Some(req))
}

async fn read_chunked<R: AsyncBufReadExt + Unpin>(r: &mut R) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        r.read_line(&mut size).await?;
        let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        if n == 0 {
            // Trailers, then the empty line.
            loop {
                let mut l = String::new();
                if r.read_line(&mut l).await? == 0 || l == "\r\n" {
                    break;
                }
            }
            return Ok(body);
        }
        let mut chunk = vec![0; n + 2];
        r.read_exact(&mut chunk).await?;
        chunk.truncate(n);
        body.extend_from_slice(&chunk);
    }
}

struct Response {
    status_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Send the request to the emulator on a fresh connection and read the whole answer.
async fn forward(upstream: &str, req: &Request) -> io::Result<Response> {
    let mut s = TcpStream::connect(upstream).await?;
    let mut out = format!("{}\r\n", req.head);
    for (k, v) in &req.headers {
        let lk = k.to_ascii_lowercase();
        if lk == "connection"
            || lk == "transfer-encoding"
            || lk == "content-length"
            || lk == "expect"
        {
            continue;
        }
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        req.body.len()
    ));
    s.write_all(out.as_bytes()).await?;
    s.write_all(&req.body).await?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no response head"))?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut rest = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.to_ascii_lowercase().contains("chunked")
    });
    if chunked {
        let mut r = BufReader::new(&rest[..]);
        rest = read_chunked(&mut r).await?;
    } else if let Some(len) = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        if req.method != "HEAD" {
            rest.truncate(len);
        }
    }
    Ok(Response {
        status_line,
        headers,
        body: rest,
    })
}

async fn write_response(
    w: &mut (impl AsyncWriteExt + Unpin),
    method: &str,
    resp: &Response,
) -> io::Result<()> {
    let mut out = format!("{}\r\n", resp.status_line);
    let mut had_length = false;
    for (k, v) in &resp.headers {
        let lk = k.to_ascii_lowercase();
        if lk == "connection" || lk == "transfer-encoding" || lk == "keep-alive" {
            continue;
        }
        if lk == "content-length" {
            if method != "HEAD" {
                continue;
            }
            had_length = true;
        }
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if method != "HEAD" || !had_length {
        let len = if method == "HEAD" { 0 } else { resp.body.len() };
        out.push_str(&format!("Content-Length: {len}\r\n"));
    }
    out.push_str("Connection: keep-alive\r\n\r\n");
    w.write_all(out.as_bytes()).await?;
    if method != "HEAD" {
        w.write_all(&resp.body).await?;
    }
    w.flush().await
}

/// How a service writes its errors.
#[derive(Clone, Copy, PartialEq)]
pub enum Protocol {
    /// EC2's query protocol: `<Response><Errors><Error>`.
    Ec2,
    /// S3's REST-XML: `<Error>`.
    S3,
    /// JSON 1.1 (and the REST-JSON services): `{"__type", "message"}`.
    Json,
    /// The query protocols (IAM, STS, RDS, ELB, CloudWatch, SNS) and CloudFront:
    /// `<ErrorResponse><Error>`.
    Query,
}

/// One AWS service as the proxy speaks it.
pub struct Service {
    /// The signing name in the request's credential scope.
    pub signing: &'static str,
    /// The name in IAM actions, as the kinds' `KindInfo::service` gives it.
    pub iam: &'static str,
    pub protocol: Protocol,
    /// Throttling as the service really reports it: HTTP status and error code.
    pub throttle: (u16, &'static str),
    /// The code of an internal error.
    pub internal: &'static str,
}

const THROTTLING: &str = "ThrottlingException";
const SERVER: &str = "ServerException";
const INTERNAL: &str = "InternalFailure";

/// Every service the tool calls. A test checks that each kind's service is here.
#[rustfmt::skip]
pub const SERVICES: &[Service] = &[
    svc("ec2", "ec2", Protocol::Ec2, (503, "RequestLimitExceeded"), "InternalError"),
    svc("s3", "s3", Protocol::S3, (503, "SlowDown"), "InternalError"),
    svc("tagging", "tag", Protocol::Json, (400, "ThrottledException"), SERVER),
    svc("eks", "eks", Protocol::Json, (429, "TooManyRequestsException"), SERVER),
    svc("ecs", "ecs", Protocol::Json, (400, THROTTLING), SERVER),
    svc("ecr", "ecr", Protocol::Json, (400, THROTTLING), SERVER),
    svc("logs", "logs", Protocol::Json, (400, THROTTLING), SERVER),
    svc("budgets", "budgets", Protocol::Json, (400, THROTTLING), SERVER),
    svc("ssm", "ssm", Protocol::Json, (400, THROTTLING), SERVER),
    svc("iam", "iam", Protocol::Query, (400, "Throttling"), INTERNAL),
    svc("sts", "sts", Protocol::Query, (400, "Throttling"), INTERNAL),
    svc("rds", "rds", Protocol::Query, (400, "Throttling"), INTERNAL),
    svc("elasticloadbalancing", "elasticloadbalancing", Protocol::Query, (400, "Throttling"), INTERNAL),
    svc("monitoring", "cloudwatch", Protocol::Query, (400, "Throttling"), INTERNAL),
    svc("sns", "sns", Protocol::Query, (400, "Throttling"), INTERNAL),
    svc("cloudfront", "cloudfront", Protocol::Query, (400, "Throttling"), INTERNAL),
];

const fn svc(
    signing: &'static str,
    iam: &'static str,
    protocol: Protocol,
    throttle: (u16, &'static str),
    internal: &'static str,
) -> Service {
    Service {
        signing,
        iam,
        protocol,
        throttle,
        internal,
    }
}

/// The service a request is signed for (the query protocol's row when unknown).
fn service_of(signing: &str) -> &'static Service {
    SERVICES
        .iter()
        .find(|s| s.signing == signing)
        .unwrap_or(&SERVICES[SERVICES.len() - 1])
}

/// The error answer a service gives, in its own protocol.
fn error_response(service: &str, status: u16, code: &str, message: &str) -> Response {
    let reason = match status {
        400 => "Bad Request",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        _ => "Service Unavailable",
    };
    let xml = |body: String| Response {
        status_line: format!("HTTP/1.1 {status} {reason}"),
        headers: vec![("Content-Type".into(), "text/xml".into())],
        body: body.into_bytes(),
    };
    match service_of(service).protocol {
        Protocol::Ec2 => xml(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>fault-proxy</RequestID></Response>"
        )),
        Protocol::S3 => xml(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>fault-proxy</RequestId></Error>"
        )),
        Protocol::Json => Response {
            status_line: format!("HTTP/1.1 {status} {reason}"),
            headers: vec![
                ("Content-Type".into(), "application/x-amz-json-1.1".into()),
                ("x-amzn-ErrorType".into(), code.into()),
                ("x-amzn-RequestId".into(), "fault-proxy".into()),
            ],
            body: format!("{{\"__type\":\"{code}\",\"message\":\"{message}\"}}").into_bytes(),
        },
        Protocol::Query => xml(format!(
            "<ErrorResponse><Error><Type>{}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>",
            if status < 500 { "Sender" } else { "Receiver" }
        )),
    }
}

/// Throttling as each service really reports it.
fn throttle(service: &str) -> Response {
    let (status, code) = service_of(service).throttle;
    let message = if code == "SlowDown" {
        "Please reduce your request rate."
    } else if code == "RequestLimitExceeded" {
        "Request limit exceeded."
    } else {
        "Rate exceeded"
    };
    error_response(service, status, code, message)
}

fn internal(service: &str) -> Response {
    error_response(
        service,
        500,
        service_of(service).internal,
        "We encountered an internal error. Please try again.",
    )
}

fn unavailable(service: &str) -> Response {
    let code = if service == "ec2" {
        "Unavailable"
    } else {
        "ServiceUnavailable"
    };
    error_response(
        service,
        503,
        code,
        "Service is unavailable. Please try again.",
    )
}

pub async fn start(upstream_endpoint: &str, faults: Faults) -> Proxy {
    let upstream = upstream_endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let seen: Arc<Mutex<HashMap<u64, u64>>> = Arc::default();
    let t = tally.clone();
    let task = tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let (upstream, faults, tally, seen) =
                (upstream.clone(), faults.clone(), t.clone(), seen.clone());
            tokio::spawn(async move {
                let _ = serve(sock, &upstream, &faults, &tally, &seen).await;
            });
        }
    });
    Proxy {
        endpoint,
        tally,
        task,
    }
}

async fn serve(
    sock: TcpStream,
    upstream: &str,
    faults: &Faults,
    tally: &Mutex<Tally>,
    seen: &Mutex<HashMap<u64, u64>>,
) -> io::Result<()> {
    let mut r = BufReader::new(sock);
    while let Some(req) = read_request(&mut r).await? {
        let w = r.get_mut();
        let id = req.identity();
        let nth = {
            let mut s = seen.lock().map_err(|_| io::Error::other("poisoned"))?;
            let n = s.entry(id).or_insert(0);
            *n += 1;
            *n
        };
        let (mut fault, latency) = choose(faults, id ^ mix(nth));
        if let Some(only) = &faults.only {
            if !req.mentions(only) {
                fault = Fault::None;
            }
        }
        if faults.throttle_only && fault != Fault::None {
            fault = Fault::Throttle;
        }
        let bump = |f: &dyn Fn(&mut Tally)| {
            if let Ok(mut t) = tally.lock() {
                t.requests += 1;
                f(&mut t);
            }
        };
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        let service = req.service();
        match fault {
            Fault::None => {
                bump(&|t| t.passed += 1);
                let resp = forward(upstream, &req).await?;
                write_response(w, &req.method, &resp).await?;
            }
            Fault::Throttle => {
                bump(&|t| t.throttled += 1);
                write_response(w, &req.method, &throttle(&service)).await?;
            }
            Fault::Internal { forwarded } | Fault::Unavailable { forwarded } => {
                let internal_error = matches!(fault, Fault::Internal { .. });
                bump(&|t| {
                    if internal_error {
                        t.internal_error += 1
                    } else {
                        t.unavailable += 1
                    }
                    if forwarded {
                        t.forwarded_then_faulted += 1
                    }
                });
                if forwarded {
                    forward(upstream, &req).await?;
                }
                let resp = if internal_error {
                    internal(&service)
                } else {
                    unavailable(&service)
                };
                write_response(w, &req.method, &resp).await?;
            }
            Fault::ResetBefore => {
                bump(&|t| t.reset_before += 1);
                reset(r);
                return Ok(());
            }
            Fault::ResetAfter => {
                bump(&|t| {
                    t.reset_after += 1;
                    t.forwarded_then_faulted += 1
                });
                forward(upstream, &req).await?;
                reset(r);
                return Ok(());
            }
            Fault::Timeout => {
                bump(&|t| {
                    t.timed_out += 1;
                    t.forwarded_then_faulted += 1
                });
                forward(upstream, &req).await?;
                tokio::time::sleep(faults.hang).await;
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Close the connection with a TCP reset (SO_LINGER 0), as a dropped connection looks.
fn reset(r: BufReader<TcpStream>) {
    let s = r.into_inner();
    #[allow(deprecated)] // With a zero linger the drop does not block.
    let _ = s.set_linger(Some(Duration::ZERO));
    drop(s);
}
