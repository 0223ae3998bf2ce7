//! What a stack emits per month, computed by Boavizta: each instance-backed resource (EKS
//! nodes by instance type and count, databases by class, Fargate tasks by vCPU) is sent to
//! a BoaviztAPI server with the stack's region and the same usage hours as the cost.
//! What Boavizta does not model is listed as not covered, with the reason; never left out.

use serde::Serialize;
use serde_json::Value;

use super::cost::{Item, Usage};
use crate::kinds::names;

/// The public BoaviztAPI.
pub const PUBLIC_API: &str = "https://api.boavizta.org";

/// Fargate has no archetype in Boavizta: a task is counted as its vCPU share of an
/// m5.large (2 vCPUs, the general-purpose hosts Fargate runs on), memory included in it.
pub const FARGATE_HOST: &str = "m5.large";
const FARGATE_HOST_VCPUS: f64 = 2.0;

/// Average load the instances are assumed to run at (percent), as Boavizta's default.
pub const LOAD_PERCENT: f64 = 50.0;

/// Boavizta's usage location (ISO 3166-1 alpha-3 of the grid) of an AWS region.
pub fn location(region: &str) -> Option<&'static str> {
    Some(match region {
        "eu-west-3" => "FRA",
        "eu-west-1" => "IRL",
        "eu-west-2" => "GBR",
        "eu-central-1" => "DEU",
        "eu-north-1" => "SWE",
        "eu-south-1" => "ITA",
        "eu-south-2" => "ESP",
        "us-east-1" | "us-east-2" | "us-west-1" | "us-west-2" => "USA",
        "ca-central-1" => "CAN",
        "ap-northeast-1" => "JPN",
        "ap-southeast-2" => "AUS",
        "ap-south-1" => "IND",
        "sa-east-1" => "BRA",
        _ => return None,
    })
}

/// One impact criterion: manufacture (embedded) and use, for the month.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Split {
    pub embedded: f64,
    pub usage: f64,
}

impl Split {
    pub fn total(&self) -> f64 {
        self.embedded + self.usage
    }
    fn add(&mut self, o: Split) {
        self.embedded += o.embedded;
        self.usage += o.usage;
    }
    fn scaled(self, k: f64) -> Split {
        Split {
            embedded: self.embedded * k,
            usage: self.usage * k,
        }
    }
}

/// Global warming (kgCO2eq), primary energy (MJ), abiotic depletion (kgSbeq).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Impacts {
    pub gwp_kg: Split,
    pub pe_mj: Split,
    pub adp_kgsb: Split,
}

impl Impacts {
    fn add(&mut self, o: &Impacts) {
        self.gwp_kg.add(o.gwp_kg);
        self.pe_mj.add(o.pe_mj);
        self.adp_kgsb.add(o.adp_kgsb);
    }
    fn scaled(self, k: f64) -> Impacts {
        Impacts {
            gwp_kg: self.gwp_kg.scaled(k),
            pe_mj: self.pe_mj.scaled(k),
            adp_kgsb: self.adp_kgsb.scaled(k),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    pub name: String,
    pub kind: &'static str,
    /// What was sent to Boavizta (`2 x t3.small`, `0.25 vCPU share of m5.large`).
    pub method: String,
    pub impacts: Impacts,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotCovered {
    pub name: String,
    pub kind: &'static str,
    pub reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Footprint {
    pub region: String,
    pub location: String,
    pub usage: Usage,
    pub api: String,
    pub lines: Vec<Line>,
    pub total: Impacts,
    pub not_covered: Vec<NotCovered>,
}

#[derive(Debug, thiserror::Error)]
pub enum FootprintError {
    #[error("Boavizta does not know the grid of region {0}; pass --usage-location (an ISO 3166-1 alpha-3 code such as FRA)")]
    Region(String),
    #[error("could not reach the Boavizta API at {url}: {reason}. Start a local one (pip install boaviztapi; uvicorn boaviztapi.main:app) and pass --boavizta-url")]
    Unreachable { url: String, reason: String },
    #[error("the Boavizta API at {url} refused {what}: {reason}")]
    Refused {
        url: String,
        what: String,
        reason: String,
    },
}

/// A request to Boavizta: one instance type for the usage hours.
#[derive(Debug, Clone, PartialEq)]
struct Ask {
    instance_type: String,
    /// How many of it (or the share of one, for Fargate).
    count: f64,
    method: String,
}

/// The instance-backed resources and what to ask Boavizta about each; the rest, not covered.
fn asks(items: &[Item]) -> (Vec<(usize, Ask)>, Vec<NotCovered>) {
    let mut asks = Vec::new();
    let mut not = Vec::new();
    for (n, i) in items.iter().enumerate() {
        let p = i.props;
        let num = |f: &str| match p.get(f) {
            Some(Value::Number(x)) => x.as_f64().unwrap_or(0.0),
            Some(Value::String(s)) => s.parse().unwrap_or(0.0),
            _ => 0.0,
        };
        match i.kind {
            names::NODE_GROUP => {
                let t = p
                    .get("instance_types")
                    .and_then(Value::as_array)
                    .and_then(|a| a.first())
                    .and_then(Value::as_str)
                    .unwrap_or("t3.medium");
                let count = p
                    .get("scaling")
                    .and_then(|s| s.get("desired"))
                    .and_then(Value::as_f64)
                    .unwrap_or(1.0);
                asks.push((
                    n,
                    Ask {
                        instance_type: t.to_string(),
                        count,
                        method: format!("{count} x {t}"),
                    },
                ));
            }
            names::DATABASE => {
                let class = p
                    .get("instance_class")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let az = if p.get("multi_az").and_then(Value::as_bool) == Some(true) {
                    2.0
                } else {
                    1.0
                };
                asks.push((
                    n,
                    Ask {
                        instance_type: class.to_string(),
                        count: az,
                        method: format!("{az} x {class}"),
                    },
                ));
            }
            names::ECS_SERVICE => {
                let count = num("desired_count");
                let task =
                    super::cost::refers(items, names::TASK_DEFINITION, p.get("task_definition"));
                let cpu = task.map_or(0.25, |t| {
                    t.props
                        .get("cpu")
                        .and_then(|v| v.as_str().and_then(|s| s.parse().ok()).or(v.as_f64()))
                        .unwrap_or(256.0)
                        / 1024.0
                });
                let share = count * cpu / FARGATE_HOST_VCPUS;
                asks.push((
                    n,
                    Ask {
                        instance_type: FARGATE_HOST.to_string(),
                        count: share,
                        method: format!(
                            "{count} Fargate tasks x {cpu} vCPU: {share:.3} of an {FARGATE_HOST} (vCPU share; Boavizta has no Fargate)"
                        ),
                    },
                ));
            }
            names::NAT_GATEWAY
            | names::LOAD_BALANCER
            | names::EKS_CLUSTER
            | names::BUCKET
            | names::DISTRIBUTION
            | names::ECR_REPOSITORY
            | names::LOG_GROUP => not.push(NotCovered {
                name: i.name.to_string(),
                kind: i.kind,
                reason: match i.kind {
                    names::NAT_GATEWAY | names::LOAD_BALANCER => {
                        "managed network appliance: AWS publishes no hardware for it and Boavizta has no model"
                    }
                    names::EKS_CLUSTER => {
                        "control plane run by AWS on hardware it does not disclose; its nodes are counted"
                    }
                    names::DISTRIBUTION => "CDN edge network: not modelled by Boavizta",
                    _ => "storage service: Boavizta's cloud API models instances, not per-GB storage",
                },
            }),
            _ => {}
        }
    }
    (asks, not)
}

fn split(v: &Value, criterion: &str) -> Split {
    let c = &v["impacts"][criterion];
    let val = |part: &str| c[part]["value"].as_f64().unwrap_or(0.0);
    Split {
        embedded: val("embedded"),
        usage: val("use"),
    }
}

/// Ask the API about every instance-backed resource.
pub async fn footprint(
    api: &str,
    region: &str,
    location: Option<&str>,
    usage: &Usage,
    items: &[Item<'_>],
) -> Result<Footprint, FootprintError> {
    let loc = match location {
        Some(l) => l.to_string(),
        None => self::location(region)
            .ok_or_else(|| FootprintError::Region(region.to_string()))?
            .to_string(),
    };
    let (asks, not_covered) = asks(items);
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| FootprintError::Unreachable {
            url: api.to_string(),
            reason: e.to_string(),
        })?;
    let base = api.trim_end_matches('/');
    let url = format!(
        "{base}/v1/cloud/instance?verbose=false&criteria=gwp&criteria=pe&criteria=adp&duration={}",
        usage.hours
    );
    let calls = asks.iter().map(|(n, ask)| {
        let client = &client;
        let url = &url;
        let loc = &loc;
        async move {
            let body = serde_json::json!({
                "provider": "aws",
                "instance_type": ask.instance_type,
                "usage": {"usage_location": loc, "time_workload": LOAD_PERCENT},
            });
            let res = client.post(url).json(&body).send().await.map_err(|e| {
                FootprintError::Unreachable {
                    url: base.to_string(),
                    reason: e.without_url().to_string(),
                }
            })?;
            let status = res.status();
            let text = res.text().await.unwrap_or_default();
            if !status.is_success() {
                let reason = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| v["detail"].as_str().map(str::to_string))
                    .unwrap_or_else(|| format!("HTTP {status}"));
                return Err(FootprintError::Refused {
                    url: base.to_string(),
                    what: ask.instance_type.clone(),
                    reason,
                });
            }
            let v: Value = serde_json::from_str(&text).map_err(|e| FootprintError::Refused {
                url: base.to_string(),
                what: ask.instance_type.clone(),
                reason: format!("not an impact answer: {e}"),
            })?;
            let one = Impacts {
                gwp_kg: split(&v, "gwp"),
                pe_mj: split(&v, "pe"),
                adp_kgsb: split(&v, "adp"),
            };
            Ok::<_, FootprintError>((*n, ask.clone(), one.scaled(ask.count)))
        }
    });
    let answers = futures::future::try_join_all(calls).await?;
    let mut total = Impacts::default();
    let mut lines = Vec::new();
    for (n, ask, impacts) in answers {
        total.add(&impacts);
        lines.push(Line {
            name: items[n].name.to_string(),
            kind: items[n].kind,
            method: ask.method,
            impacts,
        });
    }
    Ok(Footprint {
        region: region.to_string(),
        location: loc,
        usage: usage.clone(),
        api: base.to_string(),
        lines,
        total,
        not_covered,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_boavizta_cannot_model_is_listed_and_fargate_is_a_named_share() {
        let mut task = crate::engine::Props::new();
        task.insert("cpu".into(), Value::from("512"));
        let mut service = crate::engine::Props::new();
        service.insert("desired_count".into(), Value::from(3));
        service.insert("task_definition".into(), serde_json::json!({"$ref": "api"}));
        let nat = crate::engine::Props::new();
        let items = [
            Item {
                kind: names::TASK_DEFINITION,
                name: "api",
                id: None,
                props: &task,
            },
            Item {
                kind: names::ECS_SERVICE,
                name: "svc",
                id: None,
                props: &service,
            },
            Item {
                kind: names::NAT_GATEWAY,
                name: "nat",
                id: None,
                props: &nat,
            },
        ];
        let (asks, not) = asks(&items);
        assert_eq!(asks.len(), 1);
        assert_eq!(asks[0].1.instance_type, FARGATE_HOST);
        // 3 tasks of half a vCPU: 1.5 vCPUs, three quarters of a 2-vCPU host.
        assert!((asks[0].1.count - 0.75).abs() < 1e-9, "{:?}", asks[0]);
        assert_eq!(not.len(), 1);
        assert_eq!(not[0].name, "nat");
    }
}
