//! AWS Budgets kinds: monthly cost budgets.

pub mod budget;
