//! IAM kinds: roles, with their policy documents.

pub mod role;
