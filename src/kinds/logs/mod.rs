//! CloudWatch Logs kinds: log groups.

pub mod log_group;
