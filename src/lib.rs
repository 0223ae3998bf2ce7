//! `provision`: stand up, check and tear down an AWS application stack described in one
//! YAML file, straight through the AWS SDK, with AWS itself as the only state.
//!
//! Map: [`model`] reads and validates the stack file into desired resources; [`engine`]
//! plans (desired against observed) and applies over the [`engine::ResourceKind`] trait;
//! [`kinds`] holds one module per AWS resource kind; [`aws`] builds the clients and counts
//! calls; [`render`] is all user output; [`cli`] ties them together.

pub mod aws;
pub mod cli;
pub mod clock;
pub mod engine;
pub mod kinds;
pub mod kubeconfig;
pub mod lock;
pub mod model;
pub mod render;
pub mod teardown;
