//! CloudWatch kinds: metric alarms.

pub mod alarm;
