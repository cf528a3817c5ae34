//! Helpers shared by the connector integration tests.

pub mod site;
