//! S3 kinds: buckets and their policies.

pub mod bucket;
