//! `masa simulate`: the network as a continuous-time Markov chain whose events are real
//! protocol events, folded by `masa-rewards` itself.
//!
//! - `engine.rs`: Gillespie's direct method over any [`engine::Model`];
//! - `network.rs`: mass-action reaction networks (the engine's reference models);
//! - `scenario.rs`: `scenario.toml`, checked;
//! - `strategy.rs`: what honest and dishonest contributors and validators do;
//! - `model.rs`: one run: agents, their events, the fold;
//! - `table.rs`, `plot.rs`: the long-format results and their charts.

pub mod engine;
pub mod model;
pub mod network;
pub mod plot;
pub mod report;
pub mod run;
pub mod scenario;
pub mod strategy;
pub mod table;
