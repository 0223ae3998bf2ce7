//! CloudFront kinds: distributions and the Origin Access Controls they read buckets with.

pub mod distribution;
