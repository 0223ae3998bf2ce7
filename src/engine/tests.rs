//! Engine tests over the in-memory fake cloud. Time is paused: waits and delays are
//! virtual, so these run in milliseconds while exercising minutes of polling.

use std::sync::Arc;
use std::time::Duration;

use super::apply::{apply, OpKind, OpResult, Options, Quiet, Report};
use super::fake::{desired, FakeCloud, Knobs};
use super::plan::{plan, teardown, Action};
use super::{Desired, KindInfo, Observed, Registry};

const KINDS: &[(&str, &[&str])] = &[("net", &["value"]), ("box", &[]), ("store", &["value"])];

/// A small stack: net <- a, b <- c (depends on a and b); d independent.
fn stack() -> Vec<Desired> {
    vec![
        desired("net", "net", "10.0.0.0/16", &[]),
        desired("box", "a", "a1", &["net"]),
        desired("box", "b", "b1", &["net"]),
        desired("box", "c", "c1", &["a", "b"]),
        desired("box", "d", "d1", &[]),
    ]
}

async fn up(cloud: &FakeCloud, reg: &Registry, want: &[Desired], parallelism: usize) -> Report {
    let observed = reg.discover_all().await.expect("discover");
    let p = plan(want, &observed, reg).expect("plan");
    let options = Options {
        parallelism,
        ..Options::default()
    };
    let _ = cloud;
    apply(&p, reg, &options, Arc::new(Quiet)).await
}

fn pos(v: &[String], n: &str) -> usize {
    v.iter()
        .position(|x| x == n)
        .unwrap_or_else(|| panic!("{n} not in {v:?}"))
}

#[tokio::test(start_paused = true)]
async fn creates_follow_dependencies_and_run_concurrently() {
    let cloud = FakeCloud::default();
    for n in ["a", "b", "d"] {
        cloud.knobs(
            n,
            Knobs {
                delay: Duration::from_secs(5),
                ..Knobs::default()
            },
        );
    }
    let reg = cloud.registry(KINDS);
    let report = up(&cloud, &reg, &stack(), 10).await;
    assert!(report.ok(), "{report:?}");
    let order = cloud.started("create");
    assert!(pos(&order, "net") < pos(&order, "a"));
    assert!(pos(&order, "net") < pos(&order, "b"));
    assert!(pos(&order, "a") < pos(&order, "c") && pos(&order, "b") < pos(&order, "c"));
    // a, b and d are independent once net exists: they overlapped.
    assert!(
        cloud.lock().max_in_flight >= 3,
        "max in flight {}",
        cloud.lock().max_in_flight
    );
    assert_eq!(cloud.names(), vec!["a", "b", "c", "d", "net"]);
}

#[tokio::test(start_paused = true)]
async fn parallelism_bounds_the_work_in_flight() {
    let cloud = FakeCloud::default();
    let mut want = Vec::new();
    for i in 0..8 {
        let n = format!("n{i}");
        cloud.knobs(
            &n,
            Knobs {
                delay: Duration::from_secs(3),
                ..Knobs::default()
            },
        );
        want.push(desired("box", &n, "x", &[]));
    }
    let reg = cloud.registry(KINDS);
    assert!(up(&cloud, &reg, &want, 3).await.ok());
    assert_eq!(cloud.lock().max_in_flight, 3);
}

#[tokio::test(start_paused = true)]
async fn a_failure_stops_dependents_and_a_rerun_converges() {
    let cloud = FakeCloud::default();
    cloud.knobs(
        "a",
        Knobs {
            fail_create: Some("quota exceeded".into()),
            ..Knobs::default()
        },
    );
    // d is slow: it is running when a fails, and is let finish.
    cloud.knobs(
        "d",
        Knobs {
            delay: Duration::from_secs(30),
            ..Knobs::default()
        },
    );
    let reg = cloud.registry(KINDS);
    let report = up(&cloud, &reg, &stack(), 10).await;
    assert!(!report.ok());
    let result = |n: &str| {
        report
            .outcomes
            .iter()
            .find(|o| o.name == n)
            .map(|o| o.result.clone())
    };
    assert!(
        matches!(result("a"), Some(OpResult::Failed { error, .. }) if error.contains("quota exceeded"))
    );
    assert!(
        matches!(result("c"), Some(OpResult::NotStarted)),
        "c depends on a"
    );
    assert!(
        matches!(result("d"), Some(OpResult::Done { .. })),
        "independent work already running finishes"
    );
    assert!(matches!(result("net"), Some(OpResult::Done { .. })));
    assert!(!cloud.names().contains(&"c".to_string()));

    // The fault goes away; the next run creates only what is missing.
    cloud.knobs("a", Knobs::default());
    let before = cloud.started("create").len();
    let report = up(&cloud, &reg, &stack(), 10).await;
    assert!(report.ok(), "{report:?}");
    let created: Vec<String> = cloud.started("create")[before..].to_vec();
    let mut sorted = created.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        vec!["a", "c"],
        "only the missing resources are created"
    );
    assert_eq!(cloud.names(), vec!["a", "b", "c", "d", "net"]);

    // And a third run has nothing to do.
    let observed = reg.discover_all().await.expect("discover");
    assert!(!plan(&stack(), &observed, &reg).expect("plan").has_changes());
}

#[tokio::test(start_paused = true)]
async fn dependents_wait_until_a_slow_resource_is_ready() {
    let cloud = FakeCloud::default();
    // net stays "creating" for 20 polls and is invisible for 2 polls first.
    cloud.knobs(
        "net",
        Knobs {
            pending_polls: 20,
            invisible_polls: 2,
            ..Knobs::default()
        },
    );
    let reg = cloud.registry(KINDS);
    let report = up(&cloud, &reg, &stack(), 10).await;
    assert!(report.ok(), "{report:?}");
    let log = cloud.lock().log.clone();
    let last_net_poll = log
        .iter()
        .rposition(|(op, n)| op == "status" && n == "net")
        .expect("net polled");
    for dependent in ["a", "b"] {
        let created = log
            .iter()
            .position(|(op, n)| op == "create" && n == dependent)
            .expect("created");
        assert!(
            last_net_poll < created,
            "{dependent} started before net was ready"
        );
    }
    // 2 polls invisible + 20 pending + 1 ready.
    let polls = cloud
        .lock()
        .resources
        .values()
        .find(|r| r.name == "net")
        .map(|r| r.polls);
    assert_eq!(polls, Some(23));
}

#[tokio::test(start_paused = true)]
async fn a_resource_ending_failed_is_a_clear_error() {
    let cloud = FakeCloud::default();
    cloud.knobs(
        "net",
        Knobs {
            pending_polls: 3,
            ends_failed: Some("InsufficientCapacity: no capacity in zone".into()),
            ..Knobs::default()
        },
    );
    let reg = cloud.registry(KINDS);
    let report = up(&cloud, &reg, &stack(), 10).await;
    let failed: Vec<_> = report.failed().collect();
    assert_eq!(failed.len(), 1);
    match &failed[0].result {
        OpResult::Failed { error, .. } => {
            assert!(error.contains("net"), "{error}");
            assert!(
                error.contains("InsufficientCapacity: no capacity in zone"),
                "{error}"
            );
        }
        other => panic!("{other:?}"),
    }
    let mut not_started: Vec<&str> = report.not_started().map(|o| o.name.as_str()).collect();
    not_started.sort();
    assert_eq!(
        not_started,
        vec!["a", "b", "c"],
        "everything depending on net is not started"
    );
    assert!(
        report.done().any(|o| o.name == "d"),
        "d, independent, started with net and finished"
    );
}

#[tokio::test(start_paused = true)]
async fn a_wait_that_never_ends_times_out_with_the_last_status() {
    let cloud = FakeCloud::default();
    cloud.knobs(
        "net",
        Knobs {
            pending_polls: u32::MAX,
            ..Knobs::default()
        },
    );
    let reg = cloud.registry(KINDS);
    let report = up(&cloud, &reg, &[desired("net", "net", "x", &[])], 10).await;
    let failed = report.failed().next().expect("failed").result.clone();
    match failed {
        OpResult::Failed { error, .. } => {
            assert!(error.contains("still creating"), "{error}");
            assert!(error.contains("WaitTimeout"), "{error}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn replacement_deletes_dependents_first_and_recreates_in_order() {
    let cloud = FakeCloud::default();
    let reg = cloud.registry(KINDS);
    assert!(up(&cloud, &reg, &stack(), 10).await.ok());
    let old_net = cloud
        .lock()
        .resources
        .iter()
        .find(|(_, r)| r.name == "net")
        .map(|(id, _)| id.clone());

    // Changing net's value forces its replacement; a, b, c only reference it (not a
    // replacement field of theirs), so they are updated in place with the new id.
    let mut want = stack();
    want[0] = desired("net", "net", "10.1.0.0/16", &[]);
    let observed = reg.discover_all().await.expect("discover");
    let p = plan(&want, &observed, &reg).expect("plan");
    assert_eq!(p.step("net").map(|s| s.action), Some(Action::Replace));
    let net = p.step("net").expect("net");
    assert!(net
        .changes
        .iter()
        .any(|c| c.field == "value" && c.forces_replacement));
    assert_eq!(p.step("a").map(|s| s.action), Some(Action::Update));
    assert_eq!(p.step("d").map(|s| s.action), Some(Action::NoOp));

    let report = apply(&p, &reg, &Options::default(), Arc::new(Quiet)).await;
    assert!(report.ok(), "{report:?}");
    let new_net = cloud
        .lock()
        .resources
        .iter()
        .find(|(_, r)| r.name == "net")
        .map(|(id, _)| id.clone());
    assert_ne!(old_net, new_net);
    let a_ref = cloud
        .lock()
        .resources
        .values()
        .find(|r| r.name == "a")
        .and_then(|r| r.props.get("ref_net").cloned());
    assert_eq!(a_ref.and_then(|v| v.as_str().map(str::to_string)), new_net);
    let observed = reg.discover_all().await.expect("discover");
    assert!(!plan(&want, &observed, &reg).expect("plan").has_changes());
}

#[tokio::test(start_paused = true)]
async fn a_replacement_that_can_live_next_to_the_old_one_is_made_first_and_users_moved_to_it() {
    // Like a security group: AWS refuses to delete it while anything refers to it, and a
    // new one can exist next to it.
    let cloud = FakeCloud::default();
    let reg = cloud.registry_of(vec![
        KindInfo {
            replace: &["value"],
            replace_creates_first: true,
            ..KindInfo::new("group", "group", "fake")
        },
        KindInfo::new("box", "box", "fake"),
    ]);
    let stack = |v: &str| {
        vec![
            desired("group", "g", v, &[]),
            desired("box", "a", "a1", &["g"]),
            desired("box", "b", "b1", &["g"]),
        ]
    };
    assert!(up(&cloud, &reg, &stack("one"), 10).await.ok());
    cloud.knobs(
        "g",
        Knobs {
            refused_while_referenced: true,
            ..Knobs::default()
        },
    );
    let observed = reg.discover_all().await.expect("discover");
    let p = plan(&stack("two"), &observed, &reg).expect("plan");
    assert_eq!(p.step("g").map(|s| s.action), Some(Action::Replace));
    let order: Vec<(OpKind, &str)> = p
        .operations
        .iter()
        .map(|o| (o.op, o.name.as_str()))
        .collect();
    let at = |op: OpKind, n: &str| order.iter().position(|x| *x == (op, n)).expect("op");
    assert!(
        at(OpKind::Create, "g") < at(OpKind::Update, "a"),
        "{order:?}"
    );
    assert!(
        at(OpKind::Update, "b") < at(OpKind::Delete, "g"),
        "{order:?}"
    );

    let report = apply(&p, &reg, &Options::default(), Arc::new(Quiet)).await;
    assert!(report.ok(), "{report:?}");
    let ids: Vec<String> = cloud
        .lock()
        .resources
        .iter()
        .filter(|(_, r)| r.name == "g")
        .map(|(id, _)| id.clone())
        .collect();
    assert_eq!(ids.len(), 1, "the old one is gone");
    for user in ["a", "b"] {
        let r = cloud
            .lock()
            .resources
            .values()
            .find(|r| r.name == user)
            .and_then(|r| r.props.get("ref_g").cloned());
        assert_eq!(
            r.and_then(|v| v.as_str().map(str::to_string)),
            ids.first().cloned()
        );
    }
    let observed = reg.discover_all().await.expect("discover");
    assert!(!plan(&stack("two"), &observed, &reg)
        .expect("plan")
        .has_changes());
}

#[tokio::test(start_paused = true)]
async fn removed_resources_are_deleted_after_their_dependents_let_go() {
    let cloud = FakeCloud::default();
    let reg = cloud.registry(KINDS);
    assert!(up(&cloud, &reg, &stack(), 10).await.ok());
    // Drop c and b: c references b, so c goes first.
    let want: Vec<Desired> = stack()
        .into_iter()
        .filter(|d| d.name != "c" && d.name != "b")
        .collect();
    let observed = reg.discover_all().await.expect("discover");
    let p = plan(&want, &observed, &reg).expect("plan");
    assert_eq!(p.step("c").map(|s| s.action), Some(Action::Delete));
    assert_eq!(p.step("b").map(|s| s.action), Some(Action::Delete));
    let report = apply(&p, &reg, &Options::default(), Arc::new(Quiet)).await;
    assert!(report.ok());
    let deletes = cloud.started("delete");
    assert!(pos(&deletes, "c") < pos(&deletes, "b"));
    assert_eq!(cloud.names(), vec!["a", "d", "net"]);
}

#[tokio::test(start_paused = true)]
async fn teardown_deletes_in_reverse_dependency_order() {
    let cloud = FakeCloud::default();
    let reg = cloud.registry(KINDS);
    assert!(up(&cloud, &reg, &stack(), 10).await.ok());
    let observed = reg.discover_all().await.expect("discover");
    let p = teardown(&observed, &[], &reg).expect("plan");
    assert!(p.steps.iter().all(|s| s.action == Action::Delete));
    let report = apply(&p, &reg, &Options::default(), Arc::new(Quiet)).await;
    assert!(report.ok());
    let deletes = cloud.started("delete");
    assert!(pos(&deletes, "c") < pos(&deletes, "a"));
    assert!(pos(&deletes, "a") < pos(&deletes, "net"));
    assert!(pos(&deletes, "b") < pos(&deletes, "net"));
    assert!(cloud.names().is_empty());
}

#[test]
fn of_two_copies_with_one_identity_the_one_in_use_is_kept() {
    let mut real = Observed::new("box", "net", "net-9");
    real.props
        .insert("cidr".into(), serde_json::json!("10.0.0.0/16"));
    // A decoy given the same tags; its id sorts first.
    let mut decoy = Observed::new("box", "net", "net-1");
    decoy
        .props
        .insert("cidr".into(), serde_json::json!("10.50.0.0/16"));
    let mut sub = Observed::new("box", "sub", "sub-1");
    sub.props.insert("vpc".into(), serde_json::json!("net-9"));
    let observed = vec![decoy, real, sub];
    let want = vec![
        desired("box", "net", "n", &[]),
        desired("box", "sub", "s", &["net"]),
    ];
    let m = super::plan::match_observed(&want, &observed);
    assert_eq!(m.by_name["net"].id, "net-9");
    assert_eq!(m.extra.len(), 1);
    assert_eq!(m.extra[0].0.id, "net-1");
    assert!(
        m.extra[0].1.contains("duplicate of box net-9"),
        "{}",
        m.extra[0].1
    );
}

#[test]
fn of_two_unused_copies_the_older_is_kept_and_when_nothing_tells_them_apart_the_plan_stops() {
    let copy = |id: &str, created: Option<&str>| {
        let mut o = Observed::new("box", "topic", id);
        o.created = created.map(str::to_string);
        o
    };
    let want = vec![desired("box", "topic", "t", &[])];
    let reg = FakeCloud::default().registry(KINDS);

    let observed = vec![
        copy("t-1", Some("2026-11-28T10:00:05Z")),
        copy("t-2", Some("2026-11-28T09:59:59Z")),
    ];
    let p = plan(&want, &observed, &reg).expect("plan");
    let gone: Vec<&str> = p
        .steps
        .iter()
        .filter(|s| s.action == Action::Delete)
        .filter_map(|s| s.id.as_deref())
        .collect();
    assert_eq!(gone, vec!["t-1"], "the younger copy goes");

    for observed in [
        vec![copy("t-1", None), copy("t-2", None)],
        vec![
            copy("t-1", Some("2026-11-28T10:00:05Z")),
            copy("t-2", Some("2026-11-28T10:00:05Z")),
        ],
    ] {
        let e = plan(&want, &observed, &reg).expect_err("nothing tells them apart");
        let text = e.to_string();
        assert!(text.contains("t-1") && text.contains("t-2"), "{text}");
        assert!(text.contains("does not guess"), "{text}");
    }
}

#[tokio::test(start_paused = true)]
async fn duplicates_left_by_a_crash_are_planned_for_deletion() {
    let cloud = FakeCloud::default();
    let reg = cloud.registry(KINDS);
    let want = vec![desired("box", "d", "d1", &[])];
    assert!(up(&cloud, &reg, &want, 10).await.ok());
    // A second copy, as a create whose answer was lost and was repeated would leave.
    let observed = reg.discover_all().await.expect("discover");
    let kind = reg.get("box").expect("kind").clone();
    kind.create("d", &observed[0].props).await.expect("create");
    let observed = reg.discover_all().await.expect("discover");
    assert_eq!(observed.len(), 2);
    let p = plan(&want, &observed, &reg).expect("plan");
    let deletes: Vec<_> = p
        .steps
        .iter()
        .filter(|s| s.action == Action::Delete)
        .collect();
    assert_eq!(deletes.len(), 1);
    assert!(deletes[0]
        .reason
        .as_deref()
        .unwrap_or("")
        .contains("duplicate"));
    let report = apply(&p, &reg, &Options::default(), Arc::new(Quiet)).await;
    assert!(report.ok());
    assert_eq!(cloud.names(), vec!["d"]);
}

#[tokio::test(start_paused = true)]
async fn an_interrupt_stops_new_work_and_reports_the_rest() {
    let cloud = FakeCloud::default();
    cloud.knobs(
        "net",
        Knobs {
            delay: Duration::from_secs(10),
            ..Knobs::default()
        },
    );
    let reg = cloud.registry(KINDS);
    let want = stack();
    let observed = reg.discover_all().await.expect("discover");
    let p = plan(&want, &observed, &reg).expect("plan");
    let options = Options::default();
    let stop = options.stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    let report = apply(&p, &reg, &options, Arc::new(Quiet)).await;
    assert!(report.interrupted);
    let done: Vec<&str> = report.done().map(|o| o.name.as_str()).collect();
    assert!(
        done.contains(&"net"),
        "the running create finished: {done:?}"
    );
    assert!(report
        .not_started()
        .any(|o| o.name == "c" && o.op == OpKind::Create));
}

#[tokio::test(start_paused = true)]
async fn a_create_whose_answer_was_lost_is_adopted_not_repeated() {
    let cloud = FakeCloud::default();
    cloud.knobs(
        "a",
        Knobs {
            lost_answer: true,
            ..Knobs::default()
        },
    );
    let reg = cloud.registry(KINDS);
    let report = up(&cloud, &reg, &stack(), 10).await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(
        cloud.started("create").iter().filter(|n| *n == "a").count(),
        1,
        "the create is not sent again"
    );
    assert!(cloud.started("update").is_empty());
    // c, which depends on a, went ahead with a's real id.
    assert_eq!(cloud.names(), vec!["a", "b", "c", "d", "net"]);
    let observed = reg.discover_all().await.expect("discover");
    assert!(!plan(&stack(), &observed, &reg).expect("plan").has_changes());
}

#[tokio::test(start_paused = true)]
async fn a_create_that_happened_in_part_is_completed_by_an_update() {
    let cloud = FakeCloud::default();
    cloud.knobs(
        "b",
        Knobs {
            partial_create: true,
            ..Knobs::default()
        },
    );
    let reg = cloud.registry(KINDS);
    let report = up(&cloud, &reg, &stack(), 10).await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(cloud.started("update"), vec!["b"]);
    let observed = reg.discover_all().await.expect("discover");
    assert!(!plan(&stack(), &observed, &reg).expect("plan").has_changes());

    // A field that forces replacement cannot be completed in place: the error stands.
    let cloud = FakeCloud::default();
    cloud.knobs(
        "net",
        Knobs {
            partial_create: true,
            ..Knobs::default()
        },
    );
    let reg = cloud.registry(KINDS);
    let report = up(&cloud, &reg, &stack(), 10).await;
    assert!(!report.ok());
    assert!(format!("{report:?}").contains("second step failed"));
}

/// A resource referencing another through an output other than its id (an ARN), in
/// props and in the file.
fn desired_by_arn(kind: &'static str, name: &str, target: &str) -> Desired {
    let mut d = desired(kind, name, name, &[]);
    d.props
        .insert("role".into(), super::reference_attr(target, "arn"));
    d
}

#[tokio::test(start_paused = true)]
async fn what_is_referenced_by_an_output_other_than_its_id_is_deleted_after_its_user() {
    let cloud = FakeCloud::default();
    let reg = cloud.registry(KINDS);
    let want = vec![
        desired("net", "role", "r1", &[]),
        desired_by_arn("box", "cluster", "role"),
    ];
    assert!(up(&cloud, &reg, &want, 10).await.ok());
    let observed = reg.discover_all().await.expect("discover");
    // Torn down without the file: only what exists says who uses whom (the ARN).
    let p = teardown(&observed, &[], &reg).expect("plan");
    cloud.knobs(
        "cluster",
        Knobs {
            delay: Duration::from_secs(30),
            ..Knobs::default()
        },
    );
    let report = apply(&p, &reg, &Options::default(), Arc::new(Quiet)).await;
    assert!(report.ok(), "{report:?}");
    let deletes = cloud.started("delete");
    assert!(
        pos(&deletes, "cluster") < pos(&deletes, "role"),
        "the role went while its user was being deleted: {deletes:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn orderings_kinds_declare_hold_without_references() {
    let cloud = FakeCloud::default();
    let reg = cloud.registry_of(vec![
        KindInfo::new("gateway", "gateways", "fake"),
        KindInfo {
            create_after: &["gateway"],
            ..KindInfo::new("balancer", "balancers", "fake")
        },
        KindInfo {
            delete_after: &["balancer"],
            ..KindInfo::new("gw2", "gws", "fake")
        },
    ]);
    cloud.knobs(
        "igw",
        Knobs {
            delay: Duration::from_secs(20),
            ..Knobs::default()
        },
    );
    let want = vec![
        desired("gateway", "igw", "g", &[]),
        desired("balancer", "alb", "b", &[]),
        desired("gw2", "igw2", "g2", &[]),
    ];
    assert!(up(&cloud, &reg, &want, 10).await.ok());
    let creates = cloud.started("create");
    assert!(pos(&creates, "igw") < pos(&creates, "alb"), "{creates:?}");
    let order: Vec<String> = cloud
        .lock()
        .log
        .iter()
        .map(|(o, n)| format!("{o} {n}"))
        .collect();
    let finished_igw = order
        .iter()
        .position(|l| l == "status igw")
        .expect("igw waited for");
    assert!(finished_igw < pos(&order, "create alb"), "{order:?}");

    cloud.knobs(
        "alb",
        Knobs {
            delay: Duration::from_secs(20),
            ..Knobs::default()
        },
    );
    let observed = reg.discover_all().await.expect("discover");
    let p = teardown(&observed, &[], &reg).expect("plan");
    let report = apply(&p, &reg, &Options::default(), Arc::new(Quiet)).await;
    assert!(report.ok());
    let deletes = cloud.started("delete");
    assert!(pos(&deletes, "alb") < pos(&deletes, "igw2"), "{deletes:?}");
}

/// Progress events, recorded.
#[derive(Default)]
struct Recorder(std::sync::Mutex<Vec<String>>);

impl super::apply::Progress for Recorder {
    fn event(&self, e: super::apply::Event) {
        if let super::apply::Event::Waiting { name, status, .. } = e {
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(format!("{name}: {status}"));
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_delete_refused_while_in_use_is_tried_again_with_progress_then_given_up() {
    let cloud = FakeCloud::default();
    let reg = cloud.registry(KINDS);
    assert!(up(&cloud, &reg, &[desired("box", "d", "d1", &[])], 10)
        .await
        .ok());
    cloud.knobs(
        "d",
        Knobs {
            in_use_deletes: 3,
            ..Knobs::default()
        },
    );
    let observed = reg.discover_all().await.expect("discover");
    let p = teardown(&observed, &[], &reg).expect("plan");
    let rec = Arc::new(Recorder::default());
    let report = apply(&p, &reg, &Options::default(), rec.clone()).await;
    assert!(report.ok(), "{report:?}");
    let seen = rec.0.lock().unwrap().clone();
    assert_eq!(
        seen.iter()
            .filter(|l| l.contains("still in use: used by eni-1"))
            .count(),
        3,
        "{seen:?}"
    );
    assert!(cloud.names().is_empty());

    // Bounded: past the in-use wait, the refusal is the error.
    assert!(up(&cloud, &reg, &[desired("box", "e", "e1", &[])], 10)
        .await
        .ok());
    cloud.knobs(
        "e",
        Knobs {
            in_use_deletes: 1000,
            ..Knobs::default()
        },
    );
    let observed = reg.discover_all().await.expect("discover");
    let p = teardown(&observed, &[], &reg).expect("plan");
    let options = Options {
        in_use_wait: Duration::from_secs(120),
        ..Options::default()
    };
    let started = tokio::time::Instant::now();
    let report = apply(&p, &reg, &options, Arc::new(Quiet)).await;
    assert_eq!(report.failed().count(), 1);
    assert!(started.elapsed() <= Duration::from_secs(120));
}

#[test]
fn pruning_keeps_the_newest_artifacts_of_each_source() {
    use crate::engine::{prunable, Artifact};
    let a = |id: &str, of: &str, created: &str| Artifact {
        what: "final snapshot",
        kind: "database",
        id: id.into(),
        of: of.into(),
        created: created.into(),
        size_gib: Some(20),
    };
    // Oldest first, as the registry lists them.
    let all = vec![
        a("db-1", "db", "2026-11-01T00:00:00Z"),
        a("db-2", "db", "2026-11-02T00:00:00Z"),
        a("db-3", "db", "2026-11-03T00:00:00Z"),
        a("other-1", "other", "2026-11-01T00:00:00Z"),
    ];
    let ids = |v: Vec<Artifact>| v.into_iter().map(|a| a.id).collect::<Vec<_>>();
    assert_eq!(ids(prunable(&all, 1)), vec!["db-1", "db-2"]);
    assert_eq!(ids(prunable(&all, 2)), vec!["db-1"]);
    assert!(prunable(&all, 3).is_empty());
    assert_eq!(ids(prunable(&all, 0)).len(), 4);
}

/// Looks until `ready_at` under `policy`, as `wait_for` does: (looks, time from ready to
/// seen ready).
fn looks(policy: &super::WaitPolicy, ready_at: Duration) -> (usize, Duration) {
    looks_with(policy, ready_at, super::WaitPolicy::next_pause)
}

fn looks_with(
    policy: &super::WaitPolicy,
    ready_at: Duration,
    next: fn(&super::WaitPolicy, Duration, Duration) -> Duration,
) -> (usize, Duration) {
    let (mut t, mut pause, mut n) = (Duration::ZERO, policy.first_interval, 0);
    loop {
        n += 1;
        if t >= ready_at {
            return (n, t - ready_at);
        }
        t += pause;
        pause = next(policy, t, pause);
    }
}

#[test]
fn a_delete_is_seen_finished_within_a_fortieth_of_its_usual_duration() {
    let secs = Duration::from_secs;
    let plain = super::WaitPolicy::new(secs(3600), secs(2), secs(30)).expecting(secs(600));
    let shaped = plain.gone_within(secs(300));
    let gone = super::WaitPolicy::next_pause_gone;
    let mut worst_plain = Duration::ZERO;
    for k in 0..90 {
        let done = Duration::from_millis(225_000 + k * 2_501);
        let (_, lag) = looks_with(&shaped, done, gone);
        assert!(
            lag <= Duration::from_millis(7_500),
            "gone at {done:?}: seen {lag:?} later"
        );
        worst_plain = worst_plain.max(looks_with(&plain, done, gone).1);
    }
    // Without it, a delete's pauses grow to the maximum (the create's duration is not
    // the delete's), and so does the lag.
    assert!(worst_plain > secs(15), "{worst_plain:?}");
    assert!(looks_with(&shaped, secs(224), gone).0 < looks_with(&plain, secs(224), gone).0);
}

#[test]
fn waits_shaped_by_the_usual_duration_see_readiness_within_a_fortieth_of_it() {
    let secs = Duration::from_secs;
    let plain = super::WaitPolicy::new(secs(3600), secs(2), secs(30));
    let shaped = plain.expecting(secs(600));
    let mut worst_plain = Duration::ZERO;
    // Ready anywhere in the usual window, at odd times.
    for k in 0..90 {
        let ready = Duration::from_millis(450_000 + k * 5_003);
        let (_, lag) = looks(&shaped, ready);
        assert!(lag <= secs(15), "ready at {ready:?}: seen {lag:?} later");
        worst_plain = worst_plain.max(looks(&plain, ready).1);
    }
    // Without a usual duration the pause grows to its maximum, and so does the lag.
    assert!(worst_plain > secs(15), "{worst_plain:?}");
    // Quick resources are seen as quickly as before: the first looks grow as they did.
    for quick in [3, 10, 25] {
        assert_eq!(looks(&shaped, secs(quick)), looks(&plain, secs(quick)));
    }
    // Early in the wait the looks are sparse: few of them before the window opens.
    assert!(looks(&shaped, secs(449)).0 < looks(&plain, secs(449)).0);
}

#[test]
fn a_shown_value_waits_for_every_output_it_names() {
    use crate::engine::Shown;
    let endpoint = Shown {
        name: "endpoint",
        template: "{address}:{port}",
        about: "",
    };
    let mut db = Observed::new("database", "db", "app-db");
    assert_eq!(endpoint.render(&db), None, "nothing known yet");
    db.outputs.insert("address".into(), "db.example".into());
    db.outputs.insert("port".into(), String::new());
    assert_eq!(endpoint.render(&db), None, "an empty port is not known");
    db.outputs.insert("port".into(), "5432".into());
    assert_eq!(endpoint.render(&db).as_deref(), Some("db.example:5432"));
}

#[tokio::test(start_paused = true)]
async fn an_interrupt_ends_a_wait_at_once_and_says_what_is_still_settling() {
    let cloud = FakeCloud::default();
    cloud.knobs(
        "net",
        Knobs {
            pending_polls: u32::MAX,
            ..Knobs::default()
        },
    );
    let reg = cloud.registry(KINDS);
    let want = [
        desired("net", "net", "x", &[]),
        desired("box", "a", "a1", &["net"]),
    ];
    let observed = reg.discover_all().await.expect("discover");
    let p = plan(&want, &observed, &reg).expect("plan");
    let options = Options::default();
    let stop = options.stop.clone();
    let started = tokio::time::Instant::now();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(90)).await;
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    let report = apply(&p, &reg, &options, Arc::new(Quiet)).await;
    // The wait (which would go on for its whole timeout) ended within a second of the
    // interrupt, with the status AWS last gave.
    assert!(
        started.elapsed() < Duration::from_secs(92),
        "{:?}",
        started.elapsed()
    );
    assert!(report.interrupted);
    let net = report
        .outcomes
        .iter()
        .find(|o| o.name == "net")
        .expect("net");
    assert!(
        matches!(&net.result, OpResult::Settling { status, .. } if status.contains("creating")),
        "{net:?}"
    );
    let a = report.outcomes.iter().find(|o| o.name == "a").expect("a");
    assert!(matches!(a.result, OpResult::NotStarted), "{a:?}");
    assert!(!report.ok());
}
