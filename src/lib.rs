//! `provision`: stand up, check and tear down an AWS application stack described in one
//! YAML file, straight through the AWS SDK, with AWS itself as the only state.
//!
//! Map: [`model`] reads and validates the stack file into desired resources; [`engine`]
//! plans (desired against observed), schedules and applies over the
//! [`engine::ResourceKind`] trait; [`kinds`] holds the AWS resource kinds, grouped by
//! service; [`aws`] builds the clients and counts calls; [`flows`] are the commands'
//! choreography, [`view`] all user output, [`cli`] the arguments and exit codes;
//! [`report`] draws, prices and weighs the stack from its file (diagram, cost, footprint). See
//! docs/ARCHITECTURE.md.

pub mod aws;
pub mod cli;
pub mod clock;
pub mod engine;
pub mod flows;
pub mod kinds;
pub mod kubeconfig;
pub mod lock;
pub mod model;
pub mod report;
pub mod teardown;
pub mod view;
