//! What the workspace's test suites share.

pub mod fuzz;
pub mod postgres;
