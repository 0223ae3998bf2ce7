//! RDS PostgreSQL instance. Private and encrypted always; the master password is generated
//! and kept by AWS (managed master user password in Secrets Manager): it never appears in
//! the stack file, the output or the logs, only the secret's ARN does.
//!
//! In place: class, storage growth and type, backups, windows, security groups, deletion
//! protection, Multi-AZ, engine version. Replacement: identifier, user and database names,
//! subnet group. `down` takes a final snapshot unless `--skip-final-snapshot`, and stops
//! with directions when deletion protection is on.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;

use super::db_subnet_group::{rds_tag_map, rds_tags, sync_rds_tags};
use super::ec2::{bool_prop, str_prop};
use super::Context;
use crate::aws::err;
use crate::engine::{CloudError, Desired, Observed, Props, ResourceKind, Status, WaitPolicy};
use crate::model::{Cx, KindModel, TAG_NAME, TAG_STACK};

pub const KIND: &str = "database";

/// PostgreSQL versions RDS offers.
pub const POSTGRES_VERSIONS: &[&str] = &[
    "13.15", "13.16", "13.18", "13.20", "14.12", "14.13", "14.15", "14.17", "15.7", "15.8", "15.10", "15.12", "16.3", "16.4",
    "16.6", "16.8", "17.2", "17.4", "17.5",
];

/// Instance classes RDS PostgreSQL runs on (the common ones).
pub const INSTANCE_CLASSES: &[&str] = &[
    "db.t3.micro", "db.t3.small", "db.t3.medium", "db.t3.large", "db.t3.xlarge", "db.t3.2xlarge", "db.t4g.micro", "db.t4g.small",
    "db.t4g.medium", "db.t4g.large", "db.t4g.xlarge", "db.t4g.2xlarge", "db.m5.large", "db.m5.xlarge", "db.m5.2xlarge",
    "db.m6g.large", "db.m6g.xlarge", "db.m6i.large", "db.m6i.xlarge", "db.m7g.large", "db.r5.large", "db.r5.xlarge",
    "db.r6g.large", "db.r6g.xlarge", "db.r6i.large", "db.r7g.large",
];

const RESERVED_USERS: &[&str] = &["postgres", "rdsadmin", "admin", "root", "rds_superuser", "public"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    engine_version: String,
    #[serde(default = "micro")]
    instance_class: String,
    /// GiB.
    allocated_storage: i32,
    #[serde(default = "gp3")]
    storage_type: String,
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

fn check_name(cx: &mut Cx, field: &str, v: &str, what: &str) {
    let ok = !v.is_empty() && v.len() <= 63 && v.starts_with(|c: char| c.is_ascii_alphabetic()) && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        cx.error(field, format!("`{v}` is not a valid {what}: 1-63 letters, digits and underscores, starting with a letter"));
    }
}

pub struct Model;

impl KindModel for Model {
    fn section(&self) -> &'static str {
        "databases"
    }
    fn kind(&self) -> &'static str {
        KIND
    }
    fn stateful(&self) -> bool {
        true
    }
    fn outputs(&self) -> &'static [&'static str] {
        &["id", "arn", "address", "port", "secret_arn"]
    }
    fn build(&self, cx: &mut Cx, name: &str, body: serde_yaml::Value) -> Vec<Desired> {
        let Some(spec) = cx.parse::<Spec>(body) else {
            return vec![];
        };
        let id = cx.physical_name(name);
        if id.len() > 63 {
            cx.error("", format!("the instance identifier `{id}` is longer than 63 characters"));
        }
        if !POSTGRES_VERSIONS.contains(&spec.engine_version.as_str()) {
            let major = spec.engine_version.split('.').next().unwrap_or("");
            let same: Vec<&str> = POSTGRES_VERSIONS.iter().copied().filter(|v| v.split('.').next() == Some(major)).collect();
            let hint = if same.is_empty() { format!("versions: {}", POSTGRES_VERSIONS.join(", ")) } else { format!("for PostgreSQL {major}: {}", same.join(", ")) };
            cx.error_hint("engine_version", format!("RDS has no PostgreSQL {}", spec.engine_version), hint);
        }
        if !INSTANCE_CLASSES.contains(&spec.instance_class.as_str()) {
            cx.error_hint("instance_class", format!("`{}` is not an RDS PostgreSQL instance class", spec.instance_class), "db.t3.micro and db.t4g.micro are the free-tier classes");
        }
        let (min, max) = match spec.storage_type.as_str() {
            "gp2" | "gp3" => (20, 65536),
            "io1" | "io2" => (100, 65536),
            other => {
                cx.error("storage_type", format!("unknown storage type `{other}`: use gp3, gp2, io1 or io2"));
                (20, 65536)
            }
        };
        if !(min..=max).contains(&spec.allocated_storage) {
            cx.error("allocated_storage", format!("{} storage is {min} to {max} GiB, not {}", spec.storage_type, spec.allocated_storage));
        }
        if !(0..=35).contains(&spec.backup_retention_days) {
            cx.error("backup_retention_days", "automated backups are kept 0 to 35 days");
        }
        if spec.backup_retention_days == 0 {
            cx.error_hint("backup_retention_days", "0 turns automated backups off", "keep at least 1 day of backups");
        }
        check_name(cx, "username", &spec.username, "user name");
        if RESERVED_USERS.contains(&spec.username.to_lowercase().as_str()) {
            cx.error("username", format!("`{}` is reserved by RDS PostgreSQL", spec.username));
        }
        check_name(cx, "db_name", &spec.db_name, "database name");
        let backup = spec.backup_window.as_deref().map(|w| (w, daily_window(w)));
        if let Some((w, None)) = backup {
            cx.error("backup_window", format!("`{w}` is not a window like 03:00-04:00 (UTC)"));
        }
        if let Some((_, Some((a, b)))) = backup {
            if (b + 1440 - a) % 1440 < 30 {
                cx.error("backup_window", "the backup window must be at least 30 minutes");
            }
        }
        let maint = spec.maintenance_window.as_deref().map(|w| (w, weekly_window(w)));
        if let Some((w, None)) = maint {
            cx.error("maintenance_window", format!("`{w}` is not a window like sun:04:30-sun:05:30 (UTC)"));
        }
        if let (Some((_, Some((ba, bb)))), Some((_, Some((ma, mb))))) = (backup, maint) {
            // Compare the daily backup window with each day's part of the weekly window.
            let overlaps = (0..7).any(|d| {
                let (s, e) = (d * 1440 + ba, d * 1440 + if bb < ba { bb + 1440 } else { bb });
                s < mb && ma < e
            });
            if overlaps {
                cx.error("maintenance_window", "the maintenance window overlaps the backup window");
            }
        }
        let groups: Vec<Value> = spec
            .security_groups
            .iter()
            .enumerate()
            .map(|(i, g)| cx.reference(&format!("security_groups[{i}]"), g, &[super::security_group::KIND]))
            .collect();
        if groups.is_empty() {
            cx.error("security_groups", "a database needs its security group");
        }
        let mut props = Props::new();
        props.insert("identifier".into(), id.into());
        props.insert("engine".into(), "postgres".into());
        props.insert("engine_version".into(), spec.engine_version.into());
        props.insert("instance_class".into(), spec.instance_class.into());
        props.insert("allocated_storage".into(), spec.allocated_storage.into());
        props.insert("storage_type".into(), spec.storage_type.into());
        props.insert("storage_encrypted".into(), true.into());
        props.insert("publicly_accessible".into(), false.into());
        props.insert("username".into(), spec.username.into());
        props.insert("db_name".into(), spec.db_name.into());
        props.insert("subnet_group".into(), cx.reference("subnet_group", &spec.subnet_group, &[super::db_subnet_group::KIND]));
        props.insert("security_groups".into(), groups.into());
        props.insert("backup_retention_days".into(), spec.backup_retention_days.into());
        if let Some(w) = spec.backup_window {
            props.insert("backup_window".into(), w.into());
        }
        if let Some(w) = spec.maintenance_window {
            props.insert("maintenance_window".into(), w.into());
        }
        props.insert("deletion_protection".into(), spec.deletion_protection.into());
        props.insert("multi_az".into(), spec.multi_az.into());
        props.insert("tags".into(), cx.tags());
        vec![Desired::new(KIND, name, props)]
    }
}

pub fn cloud(cx: &Arc<Context>) -> Vec<Arc<dyn ResourceKind>> {
    vec![Arc::new(Cloud(cx.clone()))]
}

pub struct Cloud(pub Arc<Context>);

fn int(props: &Props, k: &str) -> i32 {
    props.get(k).and_then(Value::as_i64).unwrap_or(0) as i32
}

/// UTC time as `YYYYMMDDhhmmss`, for snapshot names.
pub fn utc_stamp() -> String {
    utc_stamp_at(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0))
}

/// `secs` after the epoch as `YYYYMMDDhhmmss` (UTC).
pub fn utc_stamp_at(secs: u64) -> String {
    let (days, rem) = ((secs / 86400) as i64, secs % 86400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}{m:02}{d:02}{:02}{:02}{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

impl Cloud {
    fn observe(&self, db: &aws_sdk_rds::types::DbInstance) -> Option<Observed> {
        let tags = rds_tag_map(db.tag_list());
        if tags.get(TAG_STACK) != Some(&self.0.stack) || db.db_instance_status() == Some("deleting") {
            return None;
        }
        let name = tags.get(TAG_NAME)?.clone();
        let id = db.db_instance_identifier()?;
        let mut sgs: Vec<String> = db.vpc_security_groups().iter().filter_map(|g| g.vpc_security_group_id().map(str::to_string)).collect();
        sgs.sort();
        let mut o = Observed::new(KIND, name, id)
            .with_prop("identifier", id)
            .with_prop("engine", db.engine().unwrap_or_default())
            .with_prop("engine_version", db.engine_version().unwrap_or_default())
            .with_prop("instance_class", db.db_instance_class().unwrap_or_default())
            .with_prop("allocated_storage", db.allocated_storage().unwrap_or(0))
            .with_prop("storage_type", db.storage_type().unwrap_or_default())
            .with_prop("storage_encrypted", db.storage_encrypted().unwrap_or(false))
            .with_prop("publicly_accessible", db.publicly_accessible().unwrap_or(false))
            .with_prop("username", db.master_username().unwrap_or_default())
            .with_prop("db_name", db.db_name().unwrap_or_default())
            .with_prop("subnet_group", db.db_subnet_group().and_then(|g| g.db_subnet_group_name()).unwrap_or_default())
            .with_prop("security_groups", sgs)
            .with_prop("backup_retention_days", db.backup_retention_period().unwrap_or(0))
            .with_prop("backup_window", db.preferred_backup_window().unwrap_or_default())
            .with_prop("maintenance_window", db.preferred_maintenance_window().unwrap_or_default())
            .with_prop("deletion_protection", db.deletion_protection().unwrap_or(false))
            .with_prop("multi_az", db.multi_az().unwrap_or(false))
            .with_prop("tags", serde_json::to_value(tags).unwrap_or(Value::Null))
            .with_output("arn", db.db_instance_arn().unwrap_or_default())
            .with_output("address", db.endpoint().and_then(|e| e.address()).unwrap_or_default())
            .with_output("port", db.endpoint().and_then(|e| e.port()).unwrap_or(5432).to_string())
            .with_output("secret_arn", db.master_user_secret().and_then(|s| s.secret_arn()).unwrap_or_default());
        if matches!(db.db_instance_status(), Some("failed" | "incompatible-parameters" | "incompatible-restore" | "incompatible-network")) {
            o.failed = db.db_instance_status().map(str::to_string);
        }
        Some(o)
    }

    async fn describe(&self, id: &str) -> Result<Option<aws_sdk_rds::types::DbInstance>, CloudError> {
        match self.0.aws.rds.describe_db_instances().db_instance_identifier(id).send().await.map_err(|e| err("rds:DescribeDBInstances", e)) {
            Err(e) if e.has_code("DBInstanceNotFound") || e.has_code("DBInstanceNotFoundFault") => Ok(None),
            Err(e) => Err(e),
            Ok(out) => Ok(out.db_instances().first().cloned()),
        }
    }
}

#[async_trait]
impl ResourceKind for Cloud {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn replace_fields(&self) -> &'static [&'static str] {
        &["identifier", "engine", "storage_encrypted", "username", "db_name", "subnet_group"]
    }

    fn stateful(&self) -> bool {
        true
    }

    fn normalize(&self, props: &mut Props) {
        super::sort_string_lists(props, &["security_groups"]);
    }

    fn needs_wait(&self) -> bool {
        true
    }

    fn wait_policy(&self) -> WaitPolicy {
        WaitPolicy {
            timeout: Duration::from_secs(60 * 60),
            first_interval: Duration::from_secs(2),
            max_interval: Duration::from_secs(30),
        }
    }

    async fn discover(&self) -> Result<Vec<Observed>, CloudError> {
        let dbs: Vec<_> = self
            .0
            .aws
            .rds
            .describe_db_instances()
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| err("rds:DescribeDBInstances", e))?;
        Ok(dbs.iter().filter_map(|d| self.observe(d)).collect())
    }

    async fn create(&self, name: &str, props: &Props) -> Result<Observed, CloudError> {
        let id = str_prop(props, "identifier")?.to_string();
        let res = self
            .0
            .aws
            .rds
            .create_db_instance()
            .db_instance_identifier(&id)
            .engine("postgres")
            .engine_version(str_prop(props, "engine_version")?)
            .db_instance_class(str_prop(props, "instance_class")?)
            .allocated_storage(int(props, "allocated_storage"))
            .storage_type(str_prop(props, "storage_type")?)
            .storage_encrypted(true)
            .publicly_accessible(false)
            .master_username(str_prop(props, "username")?)
            .manage_master_user_password(true)
            .db_name(str_prop(props, "db_name")?)
            .db_subnet_group_name(str_prop(props, "subnet_group")?)
            .set_vpc_security_group_ids(Some(super::sorted_strings(props, "security_groups")))
            .backup_retention_period(int(props, "backup_retention_days"))
            .set_preferred_backup_window(props.get("backup_window").and_then(Value::as_str).map(str::to_string))
            .set_preferred_maintenance_window(props.get("maintenance_window").and_then(Value::as_str).map(str::to_string))
            .deletion_protection(bool_prop(props, "deletion_protection"))
            .multi_az(bool_prop(props, "multi_az"))
            .copy_tags_to_snapshot(true)
            .set_tags(Some(rds_tags(props)))
            .send()
            .await
            .map_err(|e| err("rds:CreateDBInstance", e));
        let db = match res {
            Ok(out) => out.db_instance,
            // Ours already, from a run that stopped before seeing the answer.
            Err(e) if e.has_code("DBInstanceAlreadyExists") || e.has_code("DBInstanceAlreadyExistsFault") => self.describe(&id).await?,
            Err(e) => return Err(e),
        };
        let db = db.ok_or_else(|| CloudError::new("rds:CreateDBInstance", "no instance in the answer"))?;
        let mut o = self.observe(&db).unwrap_or_else(|| Observed::new(KIND, name, &id));
        o.name = name.to_string();
        o.props = props.clone();
        Ok(o)
    }

    async fn update(&self, name: &str, props: &Props, current: &Observed, changed: &[String]) -> Result<Observed, CloudError> {
        let has = |f: &str| changed.iter().any(|c| c == f);
        if has("allocated_storage") && int(props, "allocated_storage") < int(&current.props, "allocated_storage") {
            return Err(CloudError::new(
                "rds:ModifyDBInstance",
                format!("RDS cannot shrink storage ({} GiB to {} GiB): keep {} GiB or more", int(&current.props, "allocated_storage"), int(props, "allocated_storage"), int(&current.props, "allocated_storage")),
            ));
        }
        let mut req = self.0.aws.rds.modify_db_instance().db_instance_identifier(&current.id).apply_immediately(true);
        let mut any = false;
        let s = |k: &str| props.get(k).and_then(Value::as_str).map(str::to_string);
        for f in changed {
            any |= f != "tags";
            req = match f.as_str() {
                "engine_version" => {
                    let major = |v: &str| v.split('.').next().unwrap_or("").to_string();
                    let upgrade = major(&s("engine_version").unwrap_or_default()) != major(current.props.get("engine_version").and_then(Value::as_str).unwrap_or(""));
                    req.set_engine_version(s("engine_version")).allow_major_version_upgrade(upgrade)
                }
                "instance_class" => req.set_db_instance_class(s("instance_class")),
                "allocated_storage" => req.allocated_storage(int(props, "allocated_storage")),
                "storage_type" => req.set_storage_type(s("storage_type")),
                "publicly_accessible" => req.publicly_accessible(false),
                "security_groups" => req.set_vpc_security_group_ids(Some(super::sorted_strings(props, "security_groups"))),
                "backup_retention_days" => req.backup_retention_period(int(props, "backup_retention_days")),
                "backup_window" => req.set_preferred_backup_window(s("backup_window")),
                "maintenance_window" => req.set_preferred_maintenance_window(s("maintenance_window")),
                "deletion_protection" => req.deletion_protection(bool_prop(props, "deletion_protection")),
                "multi_az" => req.multi_az(bool_prop(props, "multi_az")),
                _ => req,
            };
        }
        if any {
            req.send().await.map_err(|e| err("rds:ModifyDBInstance", e))?;
        }
        if has("tags") {
            sync_rds_tags(&self.0, current.outputs.get("arn").map(String::as_str).unwrap_or_default(), &current.props, props).await?;
        }
        Ok(current.updated(name, props))
    }

    async fn delete(&self, current: &Observed) -> Result<(), CloudError> {
        if bool_prop(&current.props, "deletion_protection") {
            return Err(CloudError::new(
                "rds:DeleteDBInstance",
                format!(
                    "database {} has deletion protection on: set `deletion_protection: false` for it in the stack file, run `provision up`, then `provision down` again",
                    current.id
                ),
            )
            .with_code("DeletionProtection"));
        }
        let mut req = self.0.aws.rds.delete_db_instance().db_instance_identifier(&current.id).delete_automated_backups(false);
        if self.0.options.skip_final_snapshot {
            req = req.skip_final_snapshot(true);
        } else {
            let snap = format!("{}-final-{}", current.id, utc_stamp());
            tracing::info!("taking final snapshot {snap} of {}", current.id);
            req = req.skip_final_snapshot(false).final_db_snapshot_identifier(snap);
        }
        match req.send().await.map_err(|e| err("rds:DeleteDBInstance", e)) {
            Err(e) if e.has_code("DBInstanceNotFound") || e.has_code("DBInstanceNotFoundFault") => Ok(()),
            // Already being deleted by an earlier, interrupted run.
            Err(e) if e.has_code("InvalidDBInstanceState") && e.message.contains("deleting") => Ok(()),
            other => other.map(|_| ()),
        }
    }

    async fn status(&self, current: &Observed) -> Result<Status, CloudError> {
        let Some(db) = self.describe(&current.id).await? else {
            return Ok(Status::Missing);
        };
        Ok(match db.db_instance_status() {
            Some("available") => Status::Ready,
            Some(s @ ("failed" | "incompatible-parameters" | "incompatible-restore" | "incompatible-network" | "storage-full")) => {
                Status::Failed(format!("status {s}"))
            }
            Some(s) => Status::Pending(s.to_string()),
            None => Status::Pending("unknown".into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse() {
        assert_eq!(daily_window("03:00-04:00"), Some((180, 240)));
        assert_eq!(daily_window("3:00-04:00"), None);
        assert_eq!(weekly_window("sun:04:30-sun:05:30"), Some((6 * 1440 + 270, 6 * 1440 + 330)));
        assert_eq!(weekly_window("sunday:04:30-sun:05:30"), None);
    }

    #[test]
    fn stamps_are_utc_digits() {
        let s = utc_stamp();
        assert_eq!(s.len(), 14);
        assert!(s.starts_with("20") && s.chars().all(|c| c.is_ascii_digit()));
    }
}
