//! SNS kinds: topics with their e-mail subscriptions.

pub mod topic;
