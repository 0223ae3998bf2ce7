//! Everything the user sees. The flows return outcomes and ask questions through the
//! [`crate::flows::View`] trait; the two views here are the only code that prints: text
//! for people ([`human`]) and one JSON document for scripts ([`json`]).

pub mod human;
pub mod json;
