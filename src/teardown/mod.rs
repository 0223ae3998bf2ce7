//! What `down` needs besides deleting the stack's resources: finding and clearing what
//! else sits in its network and would block the teardown.

pub mod blockers;
