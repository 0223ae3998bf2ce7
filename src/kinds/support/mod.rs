//! What every kind shares, whatever its service: the typed lifecycle protocol and its
//! adapter to the engine ([`kind`]), retries ([`retry`]), tags and identity ([`tags`]),
//! list properties ([`props`]).

use std::time::Duration;

use crate::aws::Aws;

pub mod kind;
pub mod props;
pub mod retry;
pub mod tags;
#[cfg(test)]
pub mod testing;

pub use kind::{adapt, desired, props_of, wanted_name, Found, Kind};
pub use tags::Tags;

/// Where the stack lives: its name, account and region. What the pure parts of a kind
/// (observe, state) may depend on besides the service's answer.
#[derive(Debug, Clone)]
pub struct Scope {
    pub stack: String,
    pub account: String,
    pub region: String,
}

/// What every kind's AWS side gets: the clients, where the stack lives, the run's options.
#[derive(Debug, Clone)]
pub struct Context {
    pub aws: Aws,
    pub scope: Scope,
    pub options: Options,
}

impl Context {
    /// The stack's name.
    pub fn stack(&self) -> &str {
        &self.scope.stack
    }
}

/// Choices made on the command line that change how resources are deleted or waited on.
#[derive(Debug, Clone)]
pub struct Options {
    /// Empty what still holds data (a bucket's object versions, a repository's images)
    /// so that it can be deleted.
    pub force_empty: bool,
    /// Delete databases without taking a final snapshot.
    pub skip_final_snapshot: bool,
    /// The user agreed to lose the data of what the plan replaces or deletes (a failed
    /// database, which AWS cannot snapshot, may then be deleted without one).
    pub allow_data_loss: bool,
    /// How long a delete keeps retrying while AWS reports the resource as still in use
    /// (dependents still disappearing: network interfaces, NAT addresses).
    pub dependency_wait: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            force_empty: false,
            skip_final_snapshot: false,
            allow_data_loss: false,
            dependency_wait: Duration::from_secs(20 * 60),
        }
    }
}
