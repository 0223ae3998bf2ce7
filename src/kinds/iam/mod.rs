//! IAM kinds: roles, with their policy documents, and the OpenID Connect providers
//! whose tokens may assume them.

pub mod oidc_provider;
pub mod role;
