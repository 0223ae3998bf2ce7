//! The stack lock: one `up` or `down` at a time per stack, across laptops and CI.
//!
//! The lock lives in the account (an SSM parameter `/provision/<stack>/lock`, created with
//! "fail if it exists", so taking it is atomic), not on the laptop. Its value names the
//! holder: who (the caller's ARN, user and host), which command, since when, and when it
//! expires. A holder renews it while it works; a crashed holder's lock expires after
//! [`LEASE`], a holder that died on this same host is recognised at once, and
//! `provision unlock` breaks it explicitly. `drift`, `plan` and `status` never take it.
//!
//! The logic runs over [`LockStore`], so that waiting, expiry and renewal are tested with
//! an in-memory store and virtual time; [`Ssm`] is the real store.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::aws::err;
use crate::engine::CloudError;

/// How long a lock stays valid without renewal.
pub const LEASE: Duration = Duration::from_secs(600);
/// How often a holder renews its lock.
pub const RENEW_EVERY: Duration = Duration::from_secs(120);
/// How often a waiting operation looks again.
const POLL: Duration = Duration::from_secs(5);

/// What the lock says about its holder.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Holder {
    pub id: String,
    /// The caller's identity (ARN) as AWS knows it.
    pub principal: String,
    pub user: String,
    pub host: String,
    /// Where `pid` means something: the boot, the PID namespace and the process's start
    /// time (empty where they cannot be read, or in a lock from an older version).
    #[serde(default)]
    pub boot: String,
    #[serde(default)]
    pub pid_ns: String,
    #[serde(default)]
    pub started: u64,
    pub pid: u32,
    pub command: String,
    /// Seconds since the epoch.
    pub since: u64,
    pub expires: u64,
}

impl Holder {
    pub fn describe(&self) -> String {
        format!(
            "{} ({}@{}, pid {}) running `{}` since {}",
            self.principal,
            self.user,
            self.host,
            self.pid,
            self.command,
            utc(self.since)
        )
    }
}

/// Where the lock is kept. `create` must be atomic: it fails (returns false) when the
/// lock exists.
#[async_trait]
pub trait LockStore: Send + Sync {
    async fn create(&self, value: &str) -> Result<bool, CloudError>;
    async fn read(&self) -> Result<Option<String>, CloudError>;
    async fn overwrite(&self, value: &str) -> Result<(), CloudError>;
    async fn remove(&self) -> Result<(), CloudError>;
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("stack {stack} is locked: {} (the lock expires at {} unless renewed). Run again later or with --lock-timeout to wait; if that operation is dead, `provision unlock` breaks the lock", holder.describe(), utc(holder.expires))]
    Held { stack: String, holder: Holder },
    #[error("stack {stack} is locked, and the lock cannot be read: {value:?}. If no operation is running, `provision unlock` breaks it")]
    Unreadable { stack: String, value: String },
    #[error("{0}")]
    Cloud(#[from] CloudError),
}

/// Something to tell the user while waiting.
pub type WaitReport = Arc<dyn Fn(&Holder, Duration) + Send + Sync>;

/// A held lock: renewed in the background until released. When renewal finds the lock
/// gone or taken by someone else, `lost` is set (and with it the stop flag the caller
/// gave), so that no new work starts.
pub struct Lock {
    store: Arc<dyn LockStore>,
    id: String,
    renewal: tokio::task::JoinHandle<()>,
    pub lost: Arc<AtomicBool>,
}

pub struct Request {
    pub stack: String,
    pub principal: String,
    pub command: String,
    /// How long to wait for another holder (zero: fail at once).
    pub wait: Duration,
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `2026-11-25 10:23:49 UTC`.
pub fn utc(secs: u64) -> String {
    let s = crate::clock::utc_stamp_at(secs);
    format!(
        "{}-{}-{} {}:{}:{} UTC",
        &s[0..4],
        &s[4..6],
        &s[6..8],
        &s[8..10],
        &s[10..12],
        &s[12..14]
    )
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_else(|| "unknown-host".into())
}

fn user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

/// What can be said from here about whether a holder is still running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// Its process is certainly gone: same boot, same PID namespace, and that pid is
    /// free or now another process (a different start time).
    Gone,
    /// Its process is running here.
    Alive,
    /// Another host, boot or PID namespace (a container with the same hostname): only
    /// the lease can tell.
    Unknown,
}

/// Where this process's pids mean something.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Place {
    pub host: String,
    pub boot: String,
    pub pid_ns: String,
}

impl Place {
    pub fn here() -> Place {
        Place {
            host: hostname(),
            boot: std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
                .map(|b| b.trim().to_string())
                .unwrap_or_default(),
            pid_ns: std::fs::read_link("/proc/self/ns/pid")
                .map(|l| l.to_string_lossy().into_owned())
                .unwrap_or_default(),
        }
    }
}

/// A process's start time in clock ticks since boot (field 22 of `/proc/<pid>/stat`);
/// `None` when there is no such process (or no /proc).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

impl Holder {
    /// Judged only where the pid can be known; `process` answers a pid's start time.
    pub fn liveness_from(&self, here: &Place, process: impl Fn(u32) -> Option<u64>) -> Liveness {
        let same_place = self.host == here.host
            && !here.boot.is_empty()
            && self.boot == here.boot
            && !here.pid_ns.is_empty()
            && self.pid_ns == here.pid_ns;
        if !same_place {
            return Liveness::Unknown;
        }
        match process(self.pid) {
            None => Liveness::Gone,
            Some(t) if self.started != 0 && t != self.started => Liveness::Gone,
            Some(_) => Liveness::Alive,
        }
    }

    pub fn liveness(&self) -> Liveness {
        self.liveness_from(&Place::here(), start_time)
    }
}

fn fresh_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    format!("{:016x}", h.finish())
}

impl Lock {
    /// Take the lock, waiting up to `req.wait` for another holder to finish.
    pub async fn acquire(
        store: Arc<dyn LockStore>,
        req: &Request,
        stop: Arc<AtomicBool>,
        waiting: WaitReport,
    ) -> Result<Lock, LockError> {
        let here = Place::here();
        let me = Holder {
            id: fresh_id(),
            principal: req.principal.clone(),
            user: user(),
            host: here.host,
            boot: here.boot,
            pid_ns: here.pid_ns,
            started: start_time(std::process::id()).unwrap_or(0),
            pid: std::process::id(),
            command: req.command.clone(),
            since: 0,
            expires: 0,
        };
        let started = tokio::time::Instant::now();
        loop {
            let mine = Holder {
                since: now(),
                expires: now() + LEASE.as_secs(),
                ..me.clone()
            };
            let value = serde_json::to_string(&mine).unwrap_or_default();
            if store.create(&value).await? {
                tracing::info!("took the lock of stack {}", req.stack);
                return Ok(Lock::held(store, mine, stop));
            }
            let Some(current) = store.read().await? else {
                continue; // released in between
            };
            let Ok(holder) = serde_json::from_str::<Holder>(&current) else {
                return Err(LockError::Unreadable {
                    stack: req.stack.clone(),
                    value: current,
                });
            };
            if holder.id == me.id {
                // Our own create, retried after its answer was lost: it went through.
                tracing::info!("took the lock of stack {} (a retried request)", req.stack);
                return Ok(Lock::held(store, holder, stop));
            }
            let stale = if holder.expires < now() {
                Some(format!("it expired at {}", utc(holder.expires)))
            } else if holder.liveness() == Liveness::Gone {
                Some(format!("process {} on this host is gone", holder.pid))
            } else {
                None
            };
            if let Some(why) = stale {
                tracing::warn!(
                    "taking over the lock of stack {} held by {}: {why}",
                    req.stack,
                    holder.describe()
                );
                // Only if it is still that same stale lock.
                if store.read().await?.as_deref() == Some(current.as_str()) {
                    store.remove().await?;
                }
                continue;
            }
            let waited = started.elapsed();
            if waited >= req.wait {
                return Err(LockError::Held {
                    stack: req.stack.clone(),
                    holder,
                });
            }
            waiting(&holder, waited);
            tokio::time::sleep(POLL.min(req.wait - waited)).await;
        }
    }

    fn held(store: Arc<dyn LockStore>, me: Holder, stop: Arc<AtomicBool>) -> Lock {
        let lost = Arc::new(AtomicBool::new(false));
        let (s, flag, id) = (store.clone(), lost.clone(), me.id.clone());
        let renewal = tokio::spawn(async move {
            let mut me = me;
            loop {
                tokio::time::sleep(RENEW_EVERY).await;
                let current = match s.read().await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!("could not read the stack lock to renew it: {e}");
                        continue;
                    }
                };
                let still_mine = current
                    .as_deref()
                    .and_then(|c| serde_json::from_str::<Holder>(c).ok())
                    .is_some_and(|h| h.id == me.id);
                if !still_mine {
                    eprintln!("The stack lock was broken or taken by another operation: starting nothing new.");
                    flag.store(true, Ordering::SeqCst);
                    stop.store(true, Ordering::SeqCst);
                    return;
                }
                me.expires = now() + LEASE.as_secs();
                if let Err(e) = s
                    .overwrite(&serde_json::to_string(&me).unwrap_or_default())
                    .await
                {
                    tracing::warn!("could not renew the stack lock: {e}");
                }
            }
        });
        Lock {
            store,
            id,
            renewal,
            lost,
        }
    }

    /// Give the lock back (only if it is still ours).
    pub async fn release(self) -> Result<(), CloudError> {
        self.renewal.abort();
        let current = self.store.read().await?;
        let mine = current
            .as_deref()
            .and_then(|c| serde_json::from_str::<Holder>(c).ok())
            .is_some_and(|h| h.id == self.id);
        if mine {
            self.store.remove().await?;
        }
        Ok(())
    }
}

/// Remove the lock when its holder's process is certainly gone (a run of this machine
/// that died); returns that holder. A live or unknown holder's lock is left alone.
pub async fn release_dead(store: &dyn LockStore) -> Result<Option<Holder>, CloudError> {
    let Some(current) = store.read().await? else {
        return Ok(None);
    };
    let Ok(holder) = serde_json::from_str::<Holder>(&current) else {
        return Ok(None);
    };
    if holder.liveness() != Liveness::Gone {
        return Ok(None);
    }
    // Only if it is still that same lock.
    if store.read().await?.as_deref() == Some(current.as_str()) {
        store.remove().await?;
        return Ok(Some(holder));
    }
    Ok(None)
}

/// The current holder, if any (for `status` and `unlock`).
pub async fn holder(store: &dyn LockStore) -> Result<Option<Result<Holder, String>>, CloudError> {
    Ok(store
        .read()
        .await?
        .map(|v| serde_json::from_str::<Holder>(&v).map_err(|_| v)))
}

/// The lock as an SSM parameter of the stack's region.
pub struct Ssm {
    client: aws_sdk_ssm::Client,
    name: String,
    stack: String,
}

impl Ssm {
    pub fn new(client: aws_sdk_ssm::Client, stack: &str) -> Ssm {
        Ssm {
            client,
            name: format!("/provision/{stack}/lock"),
            stack: stack.to_string(),
        }
    }
}

#[async_trait]
impl LockStore for Ssm {
    async fn create(&self, value: &str) -> Result<bool, CloudError> {
        let res = self
            .client
            .put_parameter()
            .name(&self.name)
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(false)
            .description("provision: the operation now changing this stack")
            .tags(
                aws_sdk_ssm::types::Tag::builder()
                    .key("provision:lock")
                    .value(&self.stack)
                    .build()
                    .map_err(|e| CloudError::new("ssm:PutParameter", e.to_string()))?,
            )
            .send()
            .await
            .map_err(|e| err("ssm:PutParameter", e));
        match res {
            Ok(_) => Ok(true),
            Err(e) if e.has_code("ParameterAlreadyExists") => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn read(&self) -> Result<Option<String>, CloudError> {
        let res = self
            .client
            .get_parameter()
            .name(&self.name)
            .send()
            .await
            .map_err(|e| err("ssm:GetParameter", e));
        match res {
            Ok(out) => Ok(out.parameter.and_then(|p| p.value)),
            Err(e) if e.has_code("ParameterNotFound") => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn overwrite(&self, value: &str) -> Result<(), CloudError> {
        self.client
            .put_parameter()
            .name(&self.name)
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .map_err(|e| err("ssm:PutParameter", e))?;
        Ok(())
    }

    async fn remove(&self) -> Result<(), CloudError> {
        match self
            .client
            .delete_parameter()
            .name(&self.name)
            .send()
            .await
            .map_err(|e| err("ssm:DeleteParameter", e))
        {
            Ok(_) => Ok(()),
            Err(e) if e.has_code("ParameterNotFound") => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// An in-memory store, for tests.
#[derive(Default)]
pub struct Memory(
    pub Mutex<Option<String>>,
    pub std::sync::atomic::AtomicUsize,
);

#[async_trait]
impl LockStore for Memory {
    async fn create(&self, value: &str) -> Result<bool, CloudError> {
        let mut v = self
            .0
            .lock()
            .map_err(|_| CloudError::new("lock", "poisoned"))?;
        if v.is_some() {
            return Ok(false);
        }
        *v = Some(value.to_string());
        Ok(true)
    }
    async fn read(&self) -> Result<Option<String>, CloudError> {
        Ok(self
            .0
            .lock()
            .map_err(|_| CloudError::new("lock", "poisoned"))?
            .clone())
    }
    async fn overwrite(&self, value: &str) -> Result<(), CloudError> {
        self.1.fetch_add(1, Ordering::SeqCst);
        *self
            .0
            .lock()
            .map_err(|_| CloudError::new("lock", "poisoned"))? = Some(value.to_string());
        Ok(())
    }
    async fn remove(&self) -> Result<(), CloudError> {
        *self
            .0
            .lock()
            .map_err(|_| CloudError::new("lock", "poisoned"))? = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(wait: u64) -> Request {
        Request {
            stack: "demo".into(),
            principal: "arn:aws:iam::123456789012:user/alice".into(),
            command: "up".into(),
            wait: Duration::from_secs(wait),
        }
    }

    fn quiet() -> WaitReport {
        Arc::new(|_, _| {})
    }

    fn other(expires: u64, host: &str, pid: u32) -> String {
        serde_json::to_string(&Holder {
            id: "other".into(),
            principal: "arn:aws:iam::123456789012:user/bob".into(),
            user: "bob".into(),
            host: host.into(),
            boot: Place::here().boot,
            pid_ns: Place::here().pid_ns,
            started: 0,
            pid,
            command: "down".into(),
            since: now() - 60,
            expires,
        })
        .unwrap_or_default()
    }

    #[tokio::test(start_paused = true)]
    async fn a_held_lock_stops_the_second_operation_naming_the_holder() {
        let store = Arc::new(Memory::default());
        let first = Lock::acquire(store.clone(), &req(0), Arc::default(), quiet())
            .await
            .expect("first");
        let second = Lock::acquire(store.clone(), &req(0), Arc::default(), quiet()).await;
        let msg = match second {
            Err(e @ LockError::Held { .. }) => e.to_string(),
            other => panic!("expected Held, got {:?}", other.map(|_| ())),
        };
        assert!(
            msg.contains("arn:aws:iam::123456789012:user/alice"),
            "{msg}"
        );
        assert!(msg.contains("running `up` since"), "{msg}");
        assert!(msg.contains("provision unlock"), "{msg}");
        first.release().await.expect("release");
        assert!(store.read().await.expect("read").is_none());
        let third = Lock::acquire(store.clone(), &req(0), Arc::default(), quiet()).await;
        assert!(third.is_ok(), "free again after release");
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_operation_gets_the_lock_when_it_is_released_and_gives_up_after_its_bound() {
        let store = Arc::new(Memory::default());
        let first = Lock::acquire(store.clone(), &req(0), Arc::default(), quiet())
            .await
            .expect("first");
        let seen = Arc::new(Mutex::new(0u32));
        let s = seen.clone();
        let report: WaitReport = Arc::new(move |_, _| *s.lock().expect("seen") += 1);
        let waiter = {
            let store = store.clone();
            tokio::spawn(
                async move { Lock::acquire(store, &req(60), Arc::default(), report).await },
            )
        };
        tokio::time::sleep(Duration::from_secs(20)).await;
        first.release().await.expect("release");
        let got = waiter.await.expect("join");
        assert!(got.is_ok(), "the waiter takes the lock once it is free");
        assert!(
            *seen.lock().expect("seen") >= 3,
            "progress was reported while waiting"
        );

        // A holder that never lets go: the waiter stops after its bound.
        let started = tokio::time::Instant::now();
        let res = Lock::acquire(store.clone(), &req(30), Arc::default(), quiet()).await;
        assert!(matches!(res, Err(LockError::Held { .. })));
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(30) && waited < Duration::from_secs(40),
            "{waited:?}"
        );
    }

    /// A store whose first create goes through but whose answer is lost, as a retried
    /// PutParameter meets its own earlier attempt ("already exists").
    struct LostAnswer(Memory);

    #[async_trait]
    impl LockStore for LostAnswer {
        async fn create(&self, value: &str) -> Result<bool, CloudError> {
            self.0.create(value).await?;
            Ok(false)
        }
        async fn read(&self) -> Result<Option<String>, CloudError> {
            self.0.read().await
        }
        async fn overwrite(&self, value: &str) -> Result<(), CloudError> {
            self.0.overwrite(value).await
        }
        async fn remove(&self) -> Result<(), CloudError> {
            self.0.remove().await
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_lock_taken_by_a_retried_request_is_recognised_as_ours() {
        let store = Arc::new(LostAnswer(Memory::default()));
        let lock = Lock::acquire(store.clone(), &req(0), Arc::default(), quiet()).await;
        let lock = lock.unwrap_or_else(|e| panic!("not recognised as ours: {e}"));
        lock.release().await.expect("release");
        assert!(
            store.read().await.expect("read").is_none(),
            "and released as ours"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_expired_lock_or_a_dead_local_holder_is_taken_over() {
        let store = Arc::new(Memory::default());
        store
            .overwrite(&other(now() - 1, "elsewhere", 1))
            .await
            .expect("seed");
        let lock = Lock::acquire(store.clone(), &req(0), Arc::default(), quiet()).await;
        assert!(lock.is_ok(), "expired");

        let store = Arc::new(Memory::default());
        // A pid that cannot exist, on this host.
        store
            .overwrite(&other(now() + 600, &hostname(), u32::MAX))
            .await
            .expect("seed");
        assert!(
            Lock::acquire(store.clone(), &req(0), Arc::default(), quiet())
                .await
                .is_ok()
        );

        // The same pid on another host is not judged from here.
        let store = Arc::new(Memory::default());
        store
            .overwrite(&other(now() + 600, "elsewhere", u32::MAX))
            .await
            .expect("seed");
        assert!(
            Lock::acquire(store.clone(), &req(0), Arc::default(), quiet())
                .await
                .is_err()
        );

        // Garbage is not taken over silently.
        let store = Arc::new(Memory::default());
        store.overwrite("not json").await.expect("seed");
        assert!(matches!(
            Lock::acquire(store.clone(), &req(0), Arc::default(), quiet()).await,
            Err(LockError::Unreadable { .. })
        ));
    }

    #[test]
    fn a_holder_is_judged_only_where_its_pid_means_something() {
        let here = Place {
            host: "laptop".into(),
            boot: "b1".into(),
            pid_ns: "pid:[4026531836]".into(),
        };
        let holder = Holder {
            id: "x".into(),
            principal: "p".into(),
            user: "u".into(),
            host: "laptop".into(),
            boot: "b1".into(),
            pid_ns: "pid:[4026531836]".into(),
            started: 500,
            pid: 42,
            command: "up".into(),
            since: 0,
            expires: 0,
        };
        let running = |pid: u32| (pid == 42).then_some(500);
        assert_eq!(holder.liveness_from(&here, running), Liveness::Alive);
        assert_eq!(holder.liveness_from(&here, |_| None), Liveness::Gone);
        // The pid was reused by a later process.
        assert_eq!(holder.liveness_from(&here, |_| Some(900)), Liveness::Gone);
        // A container with the same hostname: another PID namespace, nothing is known.
        let container = Holder {
            pid_ns: "pid:[4026532200]".into(),
            ..holder.clone()
        };
        assert_eq!(container.liveness_from(&here, |_| None), Liveness::Unknown);
        // After a reboot, or from an older version that did not record where it ran.
        let rebooted = Holder {
            boot: "b0".into(),
            ..holder.clone()
        };
        assert_eq!(rebooted.liveness_from(&here, |_| None), Liveness::Unknown);
        let old = Holder {
            boot: String::new(),
            pid_ns: String::new(),
            ..holder.clone()
        };
        assert_eq!(old.liveness_from(&here, |_| None), Liveness::Unknown);
        let elsewhere = Holder {
            host: "ci-runner".into(),
            ..holder
        };
        assert_eq!(elsewhere.liveness_from(&here, |_| None), Liveness::Unknown);
    }

    #[tokio::test]
    async fn only_a_dead_local_holder_is_released_by_a_run_with_nothing_to_do() {
        let store = Memory::default();
        store
            .overwrite(&other(now() + 600, &hostname(), u32::MAX))
            .await
            .expect("seed");
        assert!(release_dead(&store).await.expect("read").is_some());
        assert!(store.read().await.expect("read").is_none());

        let alive = other(now() + 600, &hostname(), std::process::id());
        store.overwrite(&alive).await.expect("seed");
        assert!(release_dead(&store).await.expect("read").is_none());
        assert_eq!(store.read().await.expect("read"), Some(alive));
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_operation_renews_its_lock_and_notices_when_it_is_broken() {
        let store = Arc::new(Memory::default());
        let stop = Arc::new(AtomicBool::new(false));
        let lock = Lock::acquire(store.clone(), &req(0), stop.clone(), quiet())
            .await
            .expect("lock");
        let first: Holder =
            serde_json::from_str(&store.read().await.expect("read").expect("held")).expect("json");
        // Time is virtual (the wall-clock expiry barely moves): the renewals themselves
        // are what is counted.
        for _ in 0..5 {
            tokio::time::sleep(RENEW_EVERY + Duration::from_secs(1)).await;
        }
        assert_eq!(
            store.1.load(Ordering::SeqCst),
            5,
            "renewed every {RENEW_EVERY:?}"
        );
        let now_held: Holder =
            serde_json::from_str(&store.read().await.expect("read").expect("held")).expect("json");
        assert_eq!(now_held.id, first.id);
        assert!(!stop.load(Ordering::SeqCst));

        // Someone breaks it and another operation takes it: the holder stops new work.
        store
            .overwrite(&other(now() + 600, "elsewhere", 1))
            .await
            .expect("steal");
        tokio::time::sleep(RENEW_EVERY + Duration::from_secs(1)).await;
        assert!(stop.load(Ordering::SeqCst));
        assert!(lock.lost.load(Ordering::SeqCst));
        // Releasing does not remove the other holder's lock.
        lock.release().await.expect("release");
        assert!(store.read().await.expect("read").is_some());
    }
}
