//! An in-memory cloud for testing the engine: resources of any kind, with knobs for slow
//! creates, failures, resources that stay pending for a while or end failed, and
//! eventual consistency (a new resource invisible for some polls).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use super::{
    CloudError, Deletion, Desired, KindInfo, Observed, Props, Registry, ResourceKind, Status,
    WaitPolicy,
};

#[derive(Debug, Clone, Default)]
pub struct Knobs {
    /// How long each create/update/delete call takes.
    pub delay: Duration,
    /// The create call fails with this message.
    pub fail_create: Option<String>,
    /// Status polls answering `Pending` after a create, before `Ready`.
    pub pending_polls: u32,
    /// After its pending polls, the resource ends failed with this reason.
    pub ends_failed: Option<String>,
    /// Status polls answering `Missing` right after create (eventual consistency).
    pub invisible_polls: u32,
    /// The create happens but its answer is lost: the caller gets an error.
    pub lost_answer: bool,
    /// The create happens only in part (without its `value`), then fails.
    pub partial_create: bool,
    /// Delete calls refused as "still in use" before one is accepted.
    pub in_use_deletes: u32,
    /// Like AWS for a security group: a delete is refused while another resource's
    /// properties hold its id.
    pub refused_while_referenced: bool,
}

#[derive(Debug, Clone)]
pub struct Stored {
    pub kind: &'static str,
    pub name: String,
    pub props: Props,
    pub polls: u32,
    /// When it was made: one second after the one made before it.
    pub created: Option<String>,
}

#[derive(Debug, Default)]
pub struct State {
    pub resources: BTreeMap<String, Stored>,
    pub knobs: BTreeMap<String, Knobs>,
    /// (operation, name) in the order the calls started.
    pub log: Vec<(String, String)>,
    pub in_flight: usize,
    pub max_in_flight: usize,
    /// In-use refusals given so far, by name.
    pub refused: BTreeMap<String, u32>,
    next_id: u64,
}

#[derive(Clone, Default)]
pub struct FakeCloud {
    pub state: Arc<Mutex<State>>,
}

impl FakeCloud {
    pub fn knobs(&self, name: &str, k: Knobs) {
        self.lock().knobs.insert(name.to_string(), k);
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// A registry with one fake kind per (kind, replace fields).
    pub fn registry(&self, kinds: &[(&'static str, &'static [&'static str])]) -> Registry {
        self.registry_of(
            kinds
                .iter()
                .map(|(k, r)| KindInfo {
                    replace: r,
                    ..KindInfo::new(k, k, "fake")
                })
                .collect(),
        )
    }

    /// A registry with one fake kind per description (parents, orderings...). Every
    /// fake kind waits, with a short policy.
    pub fn registry_of(&self, kinds: Vec<KindInfo>) -> Registry {
        Registry::new(
            kinds
                .into_iter()
                .map(|info| {
                    let info: &'static KindInfo = Box::leak(Box::new(KindInfo {
                        outputs: &["id", "arn"],
                        wait: Some(WaitPolicy::new(
                            Duration::from_secs(600),
                            Duration::from_secs(1),
                            Duration::from_secs(10),
                        )),
                        ..info
                    }));
                    Arc::new(FakeKind {
                        info,
                        cloud: self.clone(),
                    }) as Arc<dyn ResourceKind>
                })
                .collect(),
        )
    }

    /// Names in the order a given operation started on them.
    pub fn started(&self, op: &str) -> Vec<String> {
        self.lock()
            .log
            .iter()
            .filter(|(o, _)| o == op)
            .map(|(_, n)| n.clone())
            .collect()
    }

    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .lock()
            .resources
            .values()
            .map(|s| s.name.clone())
            .collect();
        v.sort();
        v
    }

    async fn call(&self, op: &str, name: &str) -> Knobs {
        let knobs = {
            let mut s = self.lock();
            s.log.push((op.to_string(), name.to_string()));
            s.in_flight += 1;
            s.max_in_flight = s.max_in_flight.max(s.in_flight);
            s.knobs.get(name).cloned().unwrap_or_default()
        };
        tokio::time::sleep(knobs.delay).await;
        self.lock().in_flight -= 1;
        knobs
    }
}

pub struct FakeKind {
    info: &'static KindInfo,
    cloud: FakeCloud,
}

fn observed(kind: &'static str, id: &str, s: &Stored) -> Observed {
    let mut o = Observed::new(kind, &s.name, id).with_output("arn", format!("arn:fake:{id}"));
    o.props = s.props.clone();
    o.created = s.created.clone();
    o
}

#[async_trait]
impl ResourceKind for FakeKind {
    fn info(&self) -> &'static KindInfo {
        self.info
    }

    async fn discover(&self, parents: &[Observed]) -> Result<Vec<Observed>, CloudError> {
        let mut s = self.cloud.lock();
        s.log.push((
            "discover".into(),
            format!("{}:{}", self.info.kind, parents.len()),
        ));
        Ok(s.resources
            .iter()
            .filter(|(_, r)| r.kind == self.info.kind)
            .map(|(id, r)| observed(self.info.kind, id, r))
            .collect())
    }

    async fn create(&self, name: &str, props: &Props) -> Result<Observed, CloudError> {
        let knobs = self.cloud.call("create", name).await;
        if let Some(m) = knobs.fail_create {
            return Err(CloudError::new("fake:Create", m).with_code("Boom"));
        }
        let mut s = self.cloud.lock();
        s.next_id += 1;
        let id = format!("{}-{}", self.info.kind, s.next_id);
        let mut stored = Stored {
            kind: self.info.kind,
            name: name.to_string(),
            props: props.clone(),
            polls: 0,
            created: Some(crate::clock::rfc3339_at(1_767_225_600 + s.next_id)),
        };
        if knobs.partial_create {
            stored.props.remove("value");
        }
        let o = observed(self.info.kind, &id, &stored);
        s.resources.insert(id, stored);
        if knobs.lost_answer {
            let mut e = CloudError::new("fake:Create", "connection reset").with_code("Reset");
            e.outcome_unknown = true;
            return Err(e);
        }
        if knobs.partial_create {
            return Err(CloudError::new("fake:Create", "second step failed").with_code("Boom"));
        }
        Ok(o)
    }

    async fn update(
        &self,
        name: &str,
        props: &Props,
        current: &Observed,
        _changed: &[String],
    ) -> Result<Observed, CloudError> {
        self.cloud.call("update", name).await;
        let mut s = self.cloud.lock();
        let r = s
            .resources
            .get_mut(&current.id)
            .ok_or_else(|| CloudError::new("fake:Update", "gone").with_code("NotFound"))?;
        r.props = props.clone();
        Ok(observed(self.info.kind, &current.id, r))
    }

    async fn delete(&self, current: &Observed) -> Result<Deletion, CloudError> {
        let knobs = self.cloud.call("delete", &current.name).await;
        let mut s = self.cloud.lock();
        let refused = s.refused.entry(current.name.clone()).or_default();
        if *refused < knobs.in_use_deletes {
            *refused += 1;
            return Err(CloudError::new("fake:Delete", "used by eni-1").in_use());
        }
        let id = Value::String(current.id.clone());
        if let Some(user) = s
            .resources
            .values()
            .find(|r| knobs.refused_while_referenced && r.props.values().any(|v| *v == id))
        {
            let message = format!("{} is used by {}", current.id, user.name);
            return Err(CloudError::new("fake:Delete", message).in_use());
        }
        s.resources.remove(&current.id);
        Ok(Deletion::Started)
    }

    async fn status(&self, current: &Observed) -> Result<Status, CloudError> {
        let mut s = self.cloud.lock();
        s.log.push(("status".into(), current.name.clone()));
        let knobs = s.knobs.get(&current.name).cloned().unwrap_or_default();
        let Some(r) = s.resources.get_mut(&current.id) else {
            return Ok(Status::Missing);
        };
        r.polls += 1;
        if r.polls <= knobs.invisible_polls {
            return Ok(Status::Missing);
        }
        if r.polls <= knobs.invisible_polls + knobs.pending_polls {
            return Ok(Status::Pending("creating".into()));
        }
        if let Some(reason) = knobs.ends_failed {
            return Ok(Status::Failed(reason));
        }
        Ok(Status::Ready)
    }
}

/// A desired resource with references to `deps` (as `ref_<dep>` fields) and a value.
pub fn desired(kind: &'static str, name: &str, value: &str, deps: &[&str]) -> Desired {
    let mut props = Props::new();
    props.insert("value".into(), value.into());
    for d in deps {
        props.insert(format!("ref_{d}"), super::reference(d));
    }
    Desired::new(kind, name, props)
}
