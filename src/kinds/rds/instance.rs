//! RDS PostgreSQL instance. Private and encrypted always; the master password is generated
//! and kept by AWS (managed master user password in Secrets Manager): it never appears in
//! the stack file, the output or the logs, only the secret's ARN does.
//!
//! In place: class, storage growth and type, backups, windows, security groups, deletion
//! protection, Multi-AZ, engine version. Replacement: identifier, user and database names,
//! subnet group. `down` takes a final snapshot unless `--skip-final-snapshot`, and stops
//! with directions when deletion protection is on.
//!
//! The engine version may be a major (`16`: RDS picks its default minor) or a minor
//! (`16.11`). RDS upgrades minors on its own (automatic minor upgrades, and forced
//! upgrades of minors past their end of support): a newer minor of the same major than the
//! file's is not a change to undo. Paid RDS Extended Support is off unless the file asks.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_rds::types::{DbInstance, DbSnapshot};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{sdk_tags, tags_of, RdsTags};
use crate::aws::err;
use crate::engine::{
    Artifact, CloudError, Deletion, Desired, KindInfo, Observed, ResourceKind, Shown, Status,
    Unavailable, WaitPolicy,
};
use crate::kinds::names;
use crate::kinds::support::tags::{identity, name_taken, owned, sync_tags, Tags};
use crate::kinds::support::{adapt, desired, props_of, wanted_name, Context, Found, Kind};
use crate::model::{Cx, KindModel};

pub static INFO: KindInfo = KindInfo {
    outputs: &["id", "arn", "address", "port", "secret_arn"],
    shown: &[Shown {
        name: "endpoint",
        template: "{address}:{port}",
        about: "where clients connect (the password is in Secrets Manager: secret_arn)",
    }],
    replace: &[
        "identifier",
        "engine",
        "storage_encrypted",
        "username",
        "db_name",
        "subnet_group",
    ],
    // Not read back reliably: the lifecycle setting is sent on create.
    write_only: &["extended_support"],
    stateful: true,
    wait: Some(
        WaitPolicy::new(
            Duration::from_secs(60 * 60),
            Duration::from_secs(2),
            Duration::from_secs(30),
        )
        .expecting(Duration::from_secs(480))
        .gone_within(Duration::from_secs(360)),
    ),
    ..KindInfo::new(names::DATABASE, "databases", "rds")
};

/// PostgreSQL major versions that exist (10 onwards numbers majors with one part). Which
/// of them RDS offers now is AWS's catalog's to say.
pub const POSTGRES_MAJORS: std::ops::RangeInclusive<u32> = 10..=40;

/// RDS instance class families (the letter before the generation).
const CLASS_FAMILIES: &[&str] = &["t", "m", "r", "x", "z", "c"];

const RESERVED_USERS: &[&str] = &["rdsadmin", "admin", "root", "rds_superuser", "public"];

/// Minutes in a week (maintenance windows are weekly).
const WEEK: u32 = 7 * 1440;

/// PostgreSQL's reserved key words (its documentation's appendix "SQL Key Words", the
/// ones reserved in PostgreSQL): RDS refuses them as the master user or database name.
const POSTGRES_RESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "column",
    "constraint",
    "create",
    "current_catalog",
    "current_date",
    "current_role",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "fetch",
    "for",
    "foreign",
    "from",
    "grant",
    "group",
    "having",
    "in",
    "initially",
    "intersect",
    "into",
    "lateral",
    "leading",
    "limit",
    "localtime",
    "localtimestamp",
    "not",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "placing",
    "primary",
    "references",
    "returning",
    "select",
    "session_user",
    "some",
    "symmetric",
    "system_user",
    "table",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "variadic",
    "when",
    "where",
    "window",
    "with",
];

/// States of an instance that fail it: the plan replaces it.
const FAILED: &[&str] = &[
    "failed",
    "incompatible-parameters",
    "incompatible-restore",
    "incompatible-network",
];

/// States in which the instance works although AWS is still busy with it (storage
/// optimisation alone can take hours): nothing to wait for.
fn usable(status: &str) -> bool {
    matches!(
        status,
        "available" | "storage-optimization" | "backing-up" | "maintenance"
    ) || status.starts_with("configuring-")
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Spec {
    engine_version: String,
    #[serde(default = "micro")]
    instance_class: String,
    /// GiB.
    allocated_storage: i32,
    #[serde(default = "gp3")]
    storage_type: String,
    /// Provisioned IOPS: required for io1 and io2, allowed for gp3 from 400 GiB.
    #[serde(default)]
    iops: Option<i32>,
    username: String,
    db_name: String,
    subnet_group: String,
    security_groups: Vec<String>,
    #[serde(default = "seven")]
    backup_retention_days: i32,
    #[serde(default)]
    backup_window: Option<String>,
    #[serde(default)]
    maintenance_window: Option<String>,
    #[serde(default)]
    deletion_protection: bool,
    #[serde(default)]
    multi_az: bool,
    /// Enrol in paid RDS Extended Support once the major leaves standard support.
    #[serde(default)]
    extended_support: bool,
}

fn micro() -> String {
    "db.t3.micro".into()
}
fn gp3() -> String {
    "gp3".into()
}
fn seven() -> i32 {
    7
}

/// What is compared; `R` names the subnet group and groups (references, then ids).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Props<R = String> {
    pub identifier: String,
    pub engine: String,
    pub engine_version: String,
    pub instance_class: String,
    pub allocated_storage: i32,
    pub storage_type: String,
    /// Compared only when the file sets it (AWS reports a baseline otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iops: Option<i32>,
    pub storage_encrypted: bool,
    pub publicly_accessible: bool,
    pub username: String,
    pub db_name: String,
    pub subnet_group: R,
    pub security_groups: Vec<R>,
    pub backup_retention_days: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_window: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance_window: Option<String>,
    pub deletion_protection: bool,
    pub multi_az: bool,
    #[serde(default)]
    pub extended_support: bool,
    pub tags: Tags,
}

/// `hh:mm-hh:mm` in minutes of the day.
fn daily_window(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once('-')?;
    let m = |t: &str| -> Option<u32> {
        let (h, mi) = t.split_once(':')?;
        let (h, mi): (u32, u32) = (h.parse().ok()?, mi.parse().ok()?);
        (h < 24 && mi < 60 && t.len() == 5).then_some(h * 60 + mi)
    };
    Some((m(a)?, m(b)?))
}

/// `ddd:hh:mm-ddd:hh:mm` in minutes of the week.
fn weekly_window(s: &str) -> Option<(u32, u32)> {
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let (a, b) = s.split_once('-')?;
    let m = |t: &str| -> Option<u32> {
        let (d, hm) = t.split_once(':')?;
        let day = DAYS.iter().position(|x| *x == d)? as u32;
        let (h, mi) = hm.split_once(':')?;
        let (h, mi): (u32, u32) = (h.parse().ok()?, mi.parse().ok()?);
        (h < 24 && mi < 60 && hm.len() == 5).then_some(day * 1440 + h * 60 + mi)
    };
    Some((m(a)?, m(b)?))
}

/// A PostgreSQL version as the file may give it: `16` or `16.11`.
pub fn parse_version(v: &str) -> Option<(u32, Option<u32>)> {
    let (major, minor) = match v.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (v, None),
    };
    let digits = |s: &str| !s.is_empty() && s.len() <= 3 && s.chars().all(|c| c.is_ascii_digit());
    if !digits(major) || minor.is_some_and(|m| !digits(m)) {
        return None;
    }
    Some((major.parse().ok()?, minor.and_then(|m| m.parse().ok())))
}

/// Whether an instance at version `have` meets the file's `want`: any minor of its major
/// (`16`), or its minor and any later one of the same major (`16.4` by `16.11`).
fn version_met(want: &str, have: &str) -> bool {
    let (Some(w), Some(h)) = (parse_version(want), parse_version(have)) else {
        return false;
    };
    w.0 == h.0
        && match (w.1, h.1) {
            (None, _) => true,
            (Some(wm), Some(hm)) => hm >= wm,
            (Some(_), None) => false,
        }
}

/// An instance to create, upgrade or resize, as the catalogs are asked about it.
#[derive(Debug, Clone)]
pub struct Ask {
    pub name: String,
    pub engine: String,
    pub version: String,
    pub class: String,
}

/// Whether `offered` (an exact version RDS lists) is what `asked` (`16` or `16.11`) names.
fn names_version(asked: &str, offered: &str) -> bool {
    offered == asked || offered.split('.').next() == Some(asked)
}

/// What RDS would refuse: a version it does not offer, a class it does not offer with it.
/// `versions` is the engine's catalog; `classes` the versions each asked class is offered
/// with.
pub fn check_catalog(
    asks: &[Ask],
    versions: &[String],
    classes: &BTreeMap<String, Vec<String>>,
) -> Vec<Unavailable> {
    let mut out = Vec::new();
    for a in asks {
        if !versions.iter().any(|v| names_version(&a.version, v)) {
            let major = a.version.split('.').next().unwrap_or_default();
            let same_major: Vec<&str> = versions
                .iter()
                .filter(|v| v.split('.').next() == Some(major))
                .map(String::as_str)
                .collect();
            let hint = if same_major.is_empty() {
                let majors: BTreeSet<u32> = versions
                    .iter()
                    .filter_map(|v| parse_version(v).map(|p| p.0))
                    .collect();
                let majors: Vec<String> = majors.iter().map(u32::to_string).collect();
                format!("majors offered: {}", majors.join(", "))
            } else {
                format!(
                    "`{major}` lets RDS pick its current minor; minors offered: {}",
                    same_major.join(", ")
                )
            };
            out.push(Unavailable {
                name: a.name.clone(),
                field: "engine_version".into(),
                message: format!("RDS does not offer {} {}", a.engine, a.version),
                hint: Some(hint),
            });
            continue;
        }
        let with = classes.get(&a.class).map(Vec::as_slice).unwrap_or_default();
        if !with.iter().any(|v| names_version(&a.version, v)) {
            out.push(Unavailable {
                name: a.name.clone(),
                field: "instance_class".into(),
                message: format!(
                    "RDS does not offer {} with {} {} in this region",
                    a.class, a.engine, a.version
                ),
                hint: Some(if with.is_empty() {
                    "db.t4g.micro and db.t3.micro are the smallest classes".to_string()
                } else {
                    let majors: BTreeSet<u32> = with
                        .iter()
                        .filter_map(|v| parse_version(v).map(|p| p.0))
                        .collect();
                    let majors: Vec<String> = majors.iter().map(u32::to_string).collect();
                    format!("{} is offered with majors {}", a.class, majors.join(", "))
                }),
            });
        }
    }
    out
}

/// An RDS instance class as a form: `db.<family><generation><attributes>.<size>`.
pub fn check_class(c: &str) -> Result<(), String> {
    let bad = || format!("`{c}` is not an RDS instance class (like db.t4g.micro or db.m7g.large)");
    let rest = c.strip_prefix("db.").ok_or_else(bad)?;
    let (family, size) = rest.split_once('.').ok_or_else(bad)?;
    let letters: String = family
        .chars()
        .take_while(|ch| ch.is_ascii_lowercase())
        .collect();
    let generation = &family[letters.len()..];
    let sizes = ["micro", "small", "medium", "large", "xlarge", "metal"];
    let size_ok = sizes.contains(&size)
        || size
            .strip_suffix("xlarge")
            .is_some_and(|n| !n.is_empty() && n.chars().all(|ch| ch.is_ascii_digit()))
        || size.starts_with("metal-");
    if !CLASS_FAMILIES.contains(&letters.as_str())
        || !generation.starts_with(|ch: char| ch.is_ascii_digit())
        || !size_ok
    {
        return Err(bad());
    }
    Ok(())
}

/// Provisioned IOPS as RDS takes them per storage type (PostgreSQL).
fn check_iops(cx: &mut Cx, storage: &str, iops: Option<i32>, gib: i32) {
    let err = |cx: &mut Cx, m: String, hint: &str| cx.error_hint("iops", m, hint);
    match (storage, iops) {
        ("io1" | "io2", None) => err(
            cx,
            format!("{storage} storage needs `iops`, the provisioned IOPS"),
            "at least 1000, e.g. iops: 3000 (or use gp3, which needs none)",
        ),
        ("io1" | "io2", Some(n)) => {
            let per_gib = if storage == "io1" { 50 } else { 1000 };
            if !(1000..=256_000).contains(&n) {
                err(
                    cx,
                    format!("{storage} IOPS are 1000 to 256000, not {n}"),
                    "e.g. iops: 3000",
                );
            } else if i64::from(n) > i64::from(gib) * per_gib {
                err(
                    cx,
                    format!("{n} IOPS on {gib} GiB is more than the {per_gib} IOPS per GiB {storage} allows"),
                    "raise allocated_storage or lower iops",
                );
            }
        }
        ("gp3", Some(n)) if gib < 400 => err(
            cx,
            format!("gp3 below 400 GiB has a fixed baseline of 3000 IOPS; {n} cannot be set"),
            "leave iops out, or give at least 400 GiB",
        ),
        ("gp3", Some(n)) if !(12_000..=64_000).contains(&n) => err(
            cx,
            format!("gp3 IOPS from 400 GiB are 12000 to 64000, not {n}"),
            "e.g. iops: 12000",
        ),
        ("gp2", Some(_)) => err(
            cx,
            "gp2 storage has no provisioned IOPS".into(),
            "leave iops out, or use gp3 or io1",
        ),
        _ => {}
    }
}

fn check_name(cx: &mut Cx, field: &str, v: &str, what: &str) {
    let ok = !v.is_empty()
        && v.len() <= 63
        && v.starts_with(|c: char| c.is_ascii_alphabetic())
        && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        cx.error(
            field,
            format!("`{v}` is not a valid {what}: 1-63 letters, digits and underscores, starting with a letter"),
        );
    }
}

/// The mark of the final snapshots `down` takes: `<instance>-final-<UTC stamp>`.
const FINAL: &str = "-final-";

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
        let id = cx.physical_name(name);
        if id.len() > 63 {
            cx.error(
                "",
                format!("the instance identifier `{id}` is longer than 63 characters"),
            );
        }
        match parse_version(&spec.engine_version) {
            Some((major, _)) if POSTGRES_MAJORS.contains(&major) => {}
            _ => cx.error_hint(
                "engine_version",
                format!("`{}` is not a PostgreSQL version", spec.engine_version),
                "give a major (`17`: RDS picks its current minor) or a minor (`17.7`)",
            ),
        }
        if let Err(m) = check_class(&spec.instance_class) {
            cx.error_hint(
                "instance_class",
                m,
                "db.t3.micro and db.t4g.micro are the free-tier classes",
            );
        }
        let (min, max) = match spec.storage_type.as_str() {
            "gp2" | "gp3" => (20, 65536),
            "io1" | "io2" => (100, 65536),
            other => {
                cx.error(
                    "storage_type",
                    format!("unknown storage type `{other}`: use gp3, gp2, io1 or io2"),
                );
                (20, 65536)
            }
        };
        check_iops(cx, &spec.storage_type, spec.iops, spec.allocated_storage);
        if !(min..=max).contains(&spec.allocated_storage) {
            cx.error(
                "allocated_storage",
                format!(
                    "{} storage is {min} to {max} GiB, not {}",
                    spec.storage_type, spec.allocated_storage
                ),
            );
        }
        if !(0..=35).contains(&spec.backup_retention_days) {
            cx.error(
                "backup_retention_days",
                "automated backups are kept 0 to 35 days",
            );
        }
        if spec.backup_retention_days == 0 {
            cx.error_hint(
                "backup_retention_days",
                "0 turns automated backups off",
                "keep at least 1 day of backups",
            );
        }
        check_name(cx, "username", &spec.username, "user name");
        if RESERVED_USERS.contains(&spec.username.to_lowercase().as_str()) {
            cx.error(
                "username",
                format!("`{}` is reserved by RDS PostgreSQL", spec.username),
            );
        }
        check_name(cx, "db_name", &spec.db_name, "database name");
        for (field, v) in [("username", &spec.username), ("db_name", &spec.db_name)] {
            if POSTGRES_RESERVED.contains(&v.to_lowercase().as_str()) {
                cx.error_hint(
                    field,
                    format!("`{v}` is a reserved word of PostgreSQL, which RDS refuses here"),
                    "add a letter or a word (`app_user`, `app`)",
                );
            }
        }
        let backup = spec.backup_window.as_deref().map(|w| (w, daily_window(w)));
        if let Some((w, None)) = backup {
            cx.error(
                "backup_window",
                format!("`{w}` is not a window like 03:00-04:00 (UTC)"),
            );
        }
        if let Some((_, Some((a, b)))) = backup {
            if (b + 1440 - a) % 1440 < 30 {
                cx.error(
                    "backup_window",
                    "the backup window must be at least 30 minutes",
                );
            }
        }
        let maint = spec
            .maintenance_window
            .as_deref()
            .map(|w| (w, weekly_window(w)));
        if let Some((w, None)) = maint {
            cx.error(
                "maintenance_window",
                format!("`{w}` is not a window like sun:04:30-sun:05:30 (UTC)"),
            );
        }
        if let Some((_, Some((a, b)))) = maint {
            if (b + WEEK - a) % WEEK < 30 {
                cx.error(
                    "maintenance_window",
                    "the maintenance window must be at least 30 minutes",
                );
            }
        }
        if let (Some((_, Some((ba, bb)))), Some((_, Some((ma, mb))))) = (backup, maint) {
            // Compare the daily backup window with each day's part of the weekly window.
            let overlaps = (0..7).any(|d| {
                let (s, e) = (
                    d * 1440 + ba,
                    d * 1440 + if bb < ba { bb + 1440 } else { bb },
                );
                s < mb && ma < e
            });
            if overlaps {
                cx.error(
                    "maintenance_window",
                    "the maintenance window overlaps the backup window",
                );
            }
        }
        let security_groups: Vec<_> = spec
            .security_groups
            .iter()
            .enumerate()
            .map(|(i, g)| {
                cx.reference(
                    &format!("security_groups[{i}]"),
                    g,
                    &[names::SECURITY_GROUP],
                )
            })
            .collect();
        if security_groups.is_empty() {
            cx.error("security_groups", "a database needs its security group");
        }
        let props = Props {
            identifier: id,
            engine: "postgres".into(),
            engine_version: spec.engine_version,
            instance_class: spec.instance_class,
            allocated_storage: spec.allocated_storage,
            storage_type: spec.storage_type,
            iops: spec.iops,
            storage_encrypted: true,
            publicly_accessible: false,
            username: spec.username,
            db_name: spec.db_name,
            subnet_group: cx.reference(
                "subnet_group",
                &spec.subnet_group,
                &[names::DB_SUBNET_GROUP],
            ),
            security_groups,
            backup_retention_days: spec.backup_retention_days,
            backup_window: spec.backup_window,
            maintenance_window: spec.maintenance_window,
            deletion_protection: spec.deletion_protection,
            multi_az: spec.multi_az,
            extended_support: spec.extended_support,
            tags: cx.tags(),
        };
        vec![desired(&INFO, name, &props)]
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![adapt(Database(cx.clone()))]
}

pub struct Database(pub Arc<Context>);

fn lifecycle(extended: bool) -> &'static str {
    if extended {
        "open-source-rds-extended-support"
    } else {
        "open-source-rds-extended-support-disabled"
    }
}

#[async_trait]
impl Kind for Database {
    type Props = Props;
    type Remote = DbInstance;

    fn info(&self) -> &'static KindInfo {
        &INFO
    }

    async fn name_holder(&self, want: &Desired) -> Result<Option<(String, Tags)>, CloudError> {
        let Some(id) = wanted_name(want, "identifier") else {
            return Ok(None);
        };
        match self
            .0
            .aws
            .rds
            .describe_db_instances()
            .db_instance_identifier(&id)
            .send()
            .await
            .map_err(|e| err("rds:DescribeDBInstances", e))
        {
            Err(e) if e.has_code("DBInstanceNotFound") || e.has_code("DBInstanceNotFoundFault") => {
                Ok(None)
            }
            Err(e) => Err(e),
            Ok(out) => Ok(out
                .db_instances()
                .first()
                .map(|d| (id.clone(), tags_of(d.tag_list())))),
        }
    }

    fn normalize(p: &mut Props) {
        p.security_groups.sort();
    }

    /// The file's version is met by any minor of its major (`16`), or by its minor and
    /// any later one of the same major (`16.4` by `16.11`): RDS moved it forward.
    fn settle(want: &mut Props, have: &Props) {
        if version_met(&want.engine_version, &have.engine_version) {
            want.engine_version = have.engine_version.clone();
        }
        if want.iops.is_none() {
            want.iops = have.iops;
        }
    }

    /// Checked against RDS's catalogs for the instances to create, upgrade or resize:
    /// `DescribeDBEngineVersions` once, `DescribeOrderableDBInstanceOptions` once per class.
    async fn availability(
        &self,
        wanted: &[&Desired],
        observed: &[Observed],
    ) -> Result<Vec<Unavailable>, CloudError> {
        let asks: Vec<Ask> = wanted
            .iter()
            .filter_map(|d| {
                let p: Props<Value> = props_of(d)?;
                let have = observed.iter().find(|o| o.name == d.name);
                let text = |k: &str| {
                    have.and_then(|o| o.props.get(k))
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                };
                let unchanged = have.is_some()
                    && version_met(&p.engine_version, &text("engine_version"))
                    && p.instance_class == text("instance_class");
                (!unchanged).then(|| Ask {
                    name: d.name.clone(),
                    engine: p.engine,
                    version: p.engine_version,
                    class: p.instance_class,
                })
            })
            .collect();
        let Some(engine) = asks.first().map(|a| a.engine.clone()) else {
            return Ok(Vec::new());
        };
        let rds = &self.0.aws.rds;
        let mut versions = Vec::new();
        let mut pages = rds
            .describe_db_engine_versions()
            .engine(&engine)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| err("rds:DescribeDBEngineVersions", e))?;
            versions.extend(
                page.db_engine_versions()
                    .iter()
                    .filter_map(|v| v.engine_version().map(str::to_string)),
            );
        }
        let mut classes = BTreeMap::new();
        for class in asks
            .iter()
            .map(|a| a.class.clone())
            .collect::<BTreeSet<_>>()
        {
            let mut offered = Vec::new();
            let mut pages = rds
                .describe_orderable_db_instance_options()
                .engine(&engine)
                .db_instance_class(&class)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| err("rds:DescribeOrderableDBInstanceOptions", e))?;
                offered.extend(
                    page.orderable_db_instance_options()
                        .iter()
                        .filter(|o| o.db_instance_class() == Some(class.as_str()))
                        .filter_map(|o| o.engine_version().map(str::to_string)),
                );
            }
            classes.insert(class, offered);
        }
        Ok(check_catalog(&asks, &versions, &classes))
    }

    async fn list(&self, _parents: &[Observed]) -> Result<Vec<DbInstance>, CloudError> {
        self.0
            .aws
            .rds
            .describe_db_instances()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("rds:DescribeDBInstances", e))
    }

    fn observe(&self, db: &DbInstance) -> Option<Found<Props>> {
        let tags = tags_of(db.tag_list());
        let name = identity(&tags, self.0.stack())?;
        let id = db.db_instance_identifier()?;
        let mut security_groups: Vec<String> = db
            .vpc_security_groups()
            .iter()
            .filter_map(|g| g.vpc_security_group_id().map(str::to_string))
            .collect();
        security_groups.sort();
        let props = Props {
            identifier: id.to_string(),
            engine: db.engine().unwrap_or_default().to_string(),
            engine_version: db.engine_version().unwrap_or_default().to_string(),
            instance_class: db.db_instance_class().unwrap_or_default().to_string(),
            allocated_storage: db.allocated_storage().unwrap_or(0),
            storage_type: db.storage_type().unwrap_or_default().to_string(),
            iops: db.iops(),
            storage_encrypted: db.storage_encrypted().unwrap_or(false),
            publicly_accessible: db.publicly_accessible().unwrap_or(false),
            username: db.master_username().unwrap_or_default().to_string(),
            db_name: db.db_name().unwrap_or_default().to_string(),
            subnet_group: db
                .db_subnet_group()
                .and_then(|g| g.db_subnet_group_name())
                .unwrap_or_default()
                .to_string(),
            security_groups,
            backup_retention_days: db.backup_retention_period().unwrap_or(0),
            backup_window: db.preferred_backup_window().map(str::to_string),
            maintenance_window: db.preferred_maintenance_window().map(str::to_string),
            deletion_protection: db.deletion_protection().unwrap_or(false),
            multi_az: db.multi_az().unwrap_or(false),
            extended_support: db.engine_lifecycle_support() == Some(lifecycle(true)),
            tags,
        };
        let endpoint = db.endpoint();
        let mut f = Found::new(name, id, props)
            .output("arn", db.db_instance_arn().unwrap_or_default())
            .output(
                "address",
                endpoint.and_then(|e| e.address()).unwrap_or_default(),
            )
            .output(
                "port",
                endpoint.and_then(|e| e.port()).unwrap_or(5432).to_string(),
            )
            .output(
                "secret_arn",
                db.master_user_secret()
                    .and_then(|s| s.secret_arn())
                    .unwrap_or_default(),
            );
        if let Some(s) = db.db_instance_status().filter(|s| FAILED.contains(s)) {
            f.failed = Some(s.to_string());
        }
        f.deleting = db.db_instance_status() == Some("deleting");
        Some(f)
    }

    async fn find(&self, current: &Found<Props>) -> Result<Option<DbInstance>, CloudError> {
        match self
            .0
            .aws
            .rds
            .describe_db_instances()
            .db_instance_identifier(&current.id)
            .send()
            .await
            .map_err(|e| err("rds:DescribeDBInstances", e))
        {
            Err(e) if e.has_code("DBInstanceNotFound") || e.has_code("DBInstanceNotFoundFault") => {
                Ok(None)
            }
            Err(e) => Err(e),
            Ok(out) => Ok(out.db_instances.unwrap_or_default().into_iter().next()),
        }
    }

    fn state(&self, db: &DbInstance) -> Status {
        match db.db_instance_status() {
            Some(s) if usable(s) => Status::Ready,
            Some(s) if FAILED.contains(&s) || s == "storage-full" => {
                Status::Failed(format!("status {s}"))
            }
            Some(s) => Status::Pending(s.to_string()),
            None => Status::Pending("unknown".into()),
        }
    }

    async fn create(&self, name: &str, want: &Props) -> Result<Found<Props>, CloudError> {
        let res = self
            .0
            .aws
            .rds
            .create_db_instance()
            .db_instance_identifier(&want.identifier)
            .engine("postgres")
            .engine_version(&want.engine_version)
            .db_instance_class(&want.instance_class)
            .allocated_storage(want.allocated_storage)
            .storage_type(&want.storage_type)
            .set_iops(want.iops)
            .storage_encrypted(true)
            .publicly_accessible(false)
            .master_username(&want.username)
            .manage_master_user_password(true)
            .db_name(&want.db_name)
            .db_subnet_group_name(&want.subnet_group)
            .set_vpc_security_group_ids(Some(want.security_groups.clone()))
            .backup_retention_period(want.backup_retention_days)
            .set_preferred_backup_window(want.backup_window.clone())
            .set_preferred_maintenance_window(want.maintenance_window.clone())
            .deletion_protection(want.deletion_protection)
            .multi_az(want.multi_az)
            .engine_lifecycle_support(lifecycle(want.extended_support))
            .copy_tags_to_snapshot(true)
            .set_tags(Some(sdk_tags(&want.tags)))
            .send()
            .await
            .map_err(|e| err("rds:CreateDBInstance", e));
        let db = match res {
            Ok(out) => out.db_instance,
            // Ours already, from a run that stopped before seeing the answer.
            Err(e)
                if e.has_code("DBInstanceAlreadyExists")
                    || e.has_code("DBInstanceAlreadyExistsFault") =>
            {
                let db = self
                    .find(&Found::new(name, &want.identifier, want.clone()))
                    .await?;
                let tags = db
                    .as_ref()
                    .map(|d| tags_of(d.tag_list()))
                    .unwrap_or_default();
                if db.is_some() && !owned(&tags, self.0.stack()) {
                    // Someone else's database: nothing of it is adopted or changed.
                    return Err(name_taken(
                        "rds:CreateDBInstance",
                        "database",
                        &want.identifier,
                        &tags,
                    ));
                }
                db
            }
            Err(e) => return Err(e),
        };
        let db =
            db.ok_or_else(|| CloudError::new("rds:CreateDBInstance", "no instance in the answer"))?;
        let found = self
            .observe(&db)
            .unwrap_or_else(|| Found::new(name, &want.identifier, want.clone()));
        Ok(Found {
            name: name.to_string(),
            props: want.clone(),
            ..found
        })
    }

    async fn update(
        &self,
        current: &Found<Props>,
        want: &Props,
    ) -> Result<Found<Props>, CloudError> {
        let have = &current.props;
        if want.allocated_storage < have.allocated_storage {
            return Err(CloudError::new(
                "rds:ModifyDBInstance",
                format!(
                    "RDS cannot shrink storage ({} GiB to {} GiB): keep {} GiB or more",
                    have.allocated_storage, want.allocated_storage, have.allocated_storage
                ),
            ));
        }
        let mut req = self
            .0
            .aws
            .rds
            .modify_db_instance()
            .db_instance_identifier(&current.id)
            .apply_immediately(true);
        let mut any = false;
        let mut set = |changed: bool| {
            any |= changed;
            changed
        };
        if set(have.engine_version != want.engine_version) {
            let major = |v: &str| v.split('.').next().unwrap_or("").to_string();
            let upgrade = major(&want.engine_version) != major(&have.engine_version);
            req = req
                .engine_version(&want.engine_version)
                .allow_major_version_upgrade(upgrade);
        }
        if set(have.instance_class != want.instance_class) {
            req = req.db_instance_class(&want.instance_class);
        }
        if set(have.allocated_storage != want.allocated_storage) {
            req = req.allocated_storage(want.allocated_storage);
        }
        if set(have.storage_type != want.storage_type) {
            req = req.storage_type(&want.storage_type);
        }
        if set(have.iops != want.iops) {
            req = req.set_iops(want.iops);
        }
        if set(have.publicly_accessible != want.publicly_accessible) {
            req = req.publicly_accessible(false);
        }
        if set(have.security_groups != want.security_groups) {
            req = req.set_vpc_security_group_ids(Some(want.security_groups.clone()));
        }
        if set(have.backup_retention_days != want.backup_retention_days) {
            req = req.backup_retention_period(want.backup_retention_days);
        }
        if set(want.backup_window.is_some() && have.backup_window != want.backup_window) {
            req = req.set_preferred_backup_window(want.backup_window.clone());
        }
        if set(
            want.maintenance_window.is_some() && have.maintenance_window != want.maintenance_window
        ) {
            req = req.set_preferred_maintenance_window(want.maintenance_window.clone());
        }
        if set(have.deletion_protection != want.deletion_protection) {
            req = req.deletion_protection(want.deletion_protection);
        }
        if set(have.multi_az != want.multi_az) {
            req = req.multi_az(want.multi_az);
        }
        if any {
            req.send()
                .await
                .map_err(|e| err("rds:ModifyDBInstance", e))?;
        }
        let arn = current.outputs.get("arn").cloned().unwrap_or_default();
        sync_tags(&RdsTags(&self.0.aws.rds), &arn, &have.tags, &want.tags).await?;
        Ok(current.with_props(want.clone()))
    }

    /// The final snapshots `down` took: manual snapshots carrying the stack's tags (copied
    /// from the instance) and the `-final-` mark, whatever instance they came from.
    async fn artifacts(&self) -> Result<Vec<Artifact>, CloudError> {
        let snapshots: Vec<DbSnapshot> = self
            .0
            .aws
            .rds
            .describe_db_snapshots()
            .snapshot_type("manual")
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("rds:DescribeDBSnapshots", e))?;
        Ok(snapshots
            .iter()
            .filter(|s| owned(&tags_of(s.tag_list()), self.0.stack()))
            .filter_map(|s| {
                let id = s.db_snapshot_identifier()?;
                id.contains(FINAL).then(|| Artifact {
                    what: "final snapshot",
                    kind: INFO.kind,
                    id: id.to_string(),
                    of: s.db_instance_identifier().unwrap_or_default().to_string(),
                    created: s
                        .snapshot_create_time()
                        .and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
                        .unwrap_or_default(),
                    size_gib: s.allocated_storage().map(i64::from),
                })
            })
            .collect())
    }

    async fn delete_artifact(&self, a: &Artifact) -> Result<(), CloudError> {
        match self
            .0
            .aws
            .rds
            .delete_db_snapshot()
            .db_snapshot_identifier(&a.id)
            .send()
            .await
            .map_err(|e| err("rds:DeleteDBSnapshot", e))
        {
            Err(e) if e.has_code("DBSnapshotNotFound") || e.has_code("DBSnapshotNotFoundFault") => {
                Ok(())
            }
            other => other.map(|_| ()),
        }
    }

    fn delete_guard(&self, current: &Found<Props>) -> Option<String> {
        current.props.deletion_protection.then(|| {
            format!(
                "deletion protection is on for database {} ({}): set `deletion_protection: false` for it in the stack file, run `provision up`, then `provision down` again",
                current.name, current.id
            )
        })
    }

    async fn delete(&self, current: &Found<Props>) -> Result<Deletion, CloudError> {
        if current.deleting {
            return Ok(Deletion::Started);
        }
        if let Some(m) = self.delete_guard(current) {
            return Err(CloudError::new("rds:DeleteDBInstance", m).with_code("DeletionProtection"));
        }
        // The final snapshot is the restore point: automated backups go with the instance.
        let mut req = self
            .0
            .aws
            .rds
            .delete_db_instance()
            .db_instance_identifier(&current.id)
            .delete_automated_backups(true);
        let options = &self.0.options;
        if let Some(state) = &current.failed {
            // AWS deletes an instance in a failed state only without a final snapshot.
            if !(options.skip_final_snapshot || options.allow_data_loss) {
                return Err(CloudError::new(
                    "rds:DeleteDBInstance",
                    format!(
                        "database {} is in state {state}: AWS cannot take a final snapshot of it, so it can only be deleted without one; run again with --skip-final-snapshot (down) or --allow-data-loss (up)",
                        current.id
                    ),
                )
                .with_code("FinalSnapshotImpossible"));
            }
            req = req.skip_final_snapshot(true);
        } else if options.skip_final_snapshot {
            req = req.skip_final_snapshot(true);
        } else {
            let snap = format!("{}{FINAL}{}", current.id, crate::clock::utc_stamp());
            tracing::info!("taking final snapshot {snap} of {}", current.id);
            req = req
                .skip_final_snapshot(false)
                .final_db_snapshot_identifier(snap);
        }
        match req.send().await.map_err(|e| err("rds:DeleteDBInstance", e)) {
            Err(e) if e.has_code("DBInstanceNotFound") || e.has_code("DBInstanceNotFoundFault") => {
                Ok(Deletion::Gone)
            }
            // Already being deleted by an earlier, interrupted run.
            Err(e) if e.has_code("InvalidDBInstanceState") && e.message.contains("deleting") => {
                Ok(Deletion::Started)
            }
            other => other.map(|_| Deletion::Started),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::support::testing::{self, assert_observes, context, out};
    use aws_sdk_rds::types::{DbSubnetGroup, Endpoint, Tag, VpcSecurityGroupMembership};

    const FILE: &str = "vpcs:\n  main: {cidr: 10.0.0.0/16}\nsubnets:\n  priv-a: {vpc: main, cidr: 10.0.1.0/24, zone: eu-west-3a}\n  priv-b: {vpc: main, cidr: 10.0.2.0/24, zone: eu-west-3b}\ndb_subnet_groups:\n  db: {subnets: [priv-a, priv-b]}\nsecurity_groups:\n  database: {vpc: main}\ndatabases:\n  postgres: {engine_version: '16.4', allocated_storage: 20, username: app, db_name: app, subnet_group: db, security_groups: [database]}\n";

    fn instance(status: &str, version: &str) -> DbInstance {
        let tags: Vec<Tag> = testing::identity_tags("postgres")
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        DbInstance::builder()
            .db_instance_identifier("app-postgres")
            .db_instance_arn("arn:aws:rds:eu-west-3:1:db:app-postgres")
            .db_instance_status(status)
            .engine("postgres")
            .engine_version(version)
            .db_instance_class("db.t3.micro")
            .allocated_storage(20)
            .storage_type("gp3")
            .storage_encrypted(true)
            .publicly_accessible(false)
            .master_username("app")
            .db_name("app")
            .db_subnet_group(
                DbSubnetGroup::builder()
                    .db_subnet_group_name(out("db", "id"))
                    .build(),
            )
            .vpc_security_groups(
                VpcSecurityGroupMembership::builder()
                    .vpc_security_group_id(out("database", "id"))
                    .build(),
            )
            .backup_retention_period(7)
            .endpoint(
                Endpoint::builder()
                    .address("app-postgres.x.rds.amazonaws.com")
                    .port(5432)
                    .build(),
            )
            .set_tag_list(Some(tags))
            .build()
    }

    #[test]
    fn a_described_instance_is_what_the_file_wants() {
        assert_observes(
            Database(context()),
            &instance("available", "16.4"),
            FILE,
            "postgres",
        );
    }

    #[test]
    fn a_minor_upgraded_by_rds_is_not_planned_as_a_downgrade() {
        let have = Database(context())
            .observe(&instance("available", "16.11"))
            .expect("observed")
            .props;
        let mut want = have.clone();
        want.engine_version = "16.4".into();
        Database::settle(&mut want, &have);
        assert_eq!(want.engine_version, "16.11", "16.11 meets 16.4");
        want.engine_version = "16".into();
        Database::settle(&mut want, &have);
        assert_eq!(want.engine_version, "16.11", "16.11 meets 16");
        want.engine_version = "17".into();
        Database::settle(&mut want, &have);
        assert_eq!(want.engine_version, "17", "a major upgrade stays a change");
        want.engine_version = "16.12".into();
        Database::settle(&mut want, &have);
        assert_eq!(want.engine_version, "16.12", "a newer minor stays a change");
    }

    #[test]
    fn states_where_the_instance_works_are_ready() {
        let k = Database(context());
        for s in [
            "available",
            "storage-optimization",
            "backing-up",
            "configuring-log-exports",
            "maintenance",
        ] {
            assert_eq!(k.state(&instance(s, "16.4")), Status::Ready, "{s}");
        }
        for s in ["creating", "modifying", "deleting"] {
            assert_eq!(
                k.state(&instance(s, "16.4")),
                Status::Pending(s.into()),
                "{s}"
            );
        }
        assert!(matches!(
            k.state(&instance("failed", "16.4")),
            Status::Failed(_)
        ));
        assert!(k
            .observe(&instance("failed", "16.4"))
            .is_some_and(|f| f.failed.is_some()));
    }

    #[test]
    fn versions_and_classes_are_checked_against_the_catalogs() {
        let versions: Vec<String> = ["15.15", "16.10", "16.11", "17.7"]
            .iter()
            .map(|v| v.to_string())
            .collect();
        let classes: BTreeMap<String, Vec<String>> = [
            ("db.t4g.micro".to_string(), versions.clone()),
            ("db.m5.large".to_string(), vec!["15.15".to_string()]),
        ]
        .into();
        let ask = |version: &str, class: &str| Ask {
            name: "postgres".into(),
            engine: "postgres".into(),
            version: version.into(),
            class: class.into(),
        };
        for ok in ["16", "16.11", "17"] {
            assert!(check_catalog(&[ask(ok, "db.t4g.micro")], &versions, &classes).is_empty());
        }
        let old = check_catalog(&[ask("16.4", "db.t4g.micro")], &versions, &classes);
        assert_eq!(old[0].field, "engine_version");
        assert!(old[0]
            .hint
            .as_deref()
            .is_some_and(|h| h.contains("16.10, 16.11") && h.contains("`16`")));
        let gone = check_catalog(&[ask("12", "db.t4g.micro")], &versions, &classes);
        assert!(gone[0]
            .hint
            .as_deref()
            .is_some_and(|h| h.contains("15, 16, 17")));
        let class = check_catalog(&[ask("16", "db.m5.large")], &versions, &classes);
        assert_eq!(class[0].field, "instance_class");
        assert!(class[0]
            .hint
            .as_deref()
            .is_some_and(|h| h.contains("majors 15")));
        let unknown = check_catalog(&[ask("16", "db.x9.large")], &versions, &classes);
        assert_eq!(unknown[0].field, "instance_class");
    }

    #[test]
    fn version_and_class_forms() {
        assert_eq!(parse_version("16"), Some((16, None)));
        assert_eq!(parse_version("16.11"), Some((16, Some(11))));
        assert_eq!(parse_version("16.x"), None);
        assert_eq!(parse_version("v16"), None);
        assert!(check_class("db.t4g.micro").is_ok());
        assert!(check_class("db.m7g.2xlarge").is_ok());
        assert!(check_class("db.r6gd.large").is_ok());
        assert!(check_class("db.q9.large").is_err());
        assert!(check_class("t3.micro").is_err());
        assert!(check_class("db.t3.huge").is_err());
    }

    #[test]
    fn windows_parse() {
        assert_eq!(daily_window("03:00-04:00"), Some((180, 240)));
        assert_eq!(daily_window("3:00-04:00"), None);
        assert_eq!(
            weekly_window("sun:04:30-sun:05:30"),
            Some((6 * 1440 + 270, 6 * 1440 + 330))
        );
        assert_eq!(weekly_window("sunday:04:30-sun:05:30"), None);
    }
}
