//! Workflows: what a `masa` command does, wired from the parts. `contribute` runs a connector
//! through the ingest pipeline into a dataset; `search` and `stats` read a dataset. The CLI
//! only parses arguments and prints; everything it runs lives here.

mod audit;
mod config;
mod contribute;
mod dedup_job;
mod error;
mod governance_cmd;
mod layout;
mod log;
mod maintain;
mod neardup;
mod proof;
pub mod protocol;
mod protocol_cmd;
mod run;
mod runs;
mod search;
mod sink;
mod sources;
mod splits;
mod stats;

pub use audit::{AuditOptions, AuditReport, Finding, audit, publish_report};
pub use config::{Config, DEFAULT_DECLARATION, InitOutcome, masa_home};
pub use contribute::{
    ContributeOptions, ContributeSummary, DEFAULT_NEAR_DUP_THRESHOLD, NearDupOptions,
    PreviewSummary, contribute, interrupted_source, preview,
};
pub use dedup_job::{
    ClusterReport, DedupOptions, DedupReport, DocRef, KeepPolicy, Removal, Shard, Stage, dedup,
};
pub use error::WorkflowError;
pub use governance_cmd::{
    Flow, FlowRoute, ProposalView, TallyView, delegate, proposals_view, propose, tally_view,
    undelegate, vote,
};
pub use log::{
    CheckpointInfo, Consistency, LogEntry, append_entry, log_checkpoint, log_tile, log_verify,
};
pub use maintain::{
    CompactedFile, DEFAULT_TARGET_BYTES, MaintainOptions, MaintainReport, maintain,
};
pub use masa_dedup::MinHashParams;
pub use proof::{
    PROOF_FORMAT, RecordProof, VerifiedProof, prove, prove_record, verify_proof, verify_proof_in,
};
pub use protocol_cmd::{
    AccountView, ChainWeights, CloseOutcome, ContributorView, ProtocolTarget, RewardsView,
    SlashRequest, StateView, chain_weights, close_epoch, contributor_view, init_protocol,
    parse_uids, rewards_view, slash, state_at, state_view, submit_event,
};
pub use run::{
    DaemonEvent, DaemonStop, Pipeline, RunContext, Schedule, SourceOutcome, Workflow,
    WorkflowSource, run_daemon, run_once, run_source, source_options,
};
pub use search::{SearchOptions, SearchView, search, search_faceted};
pub use sources::{KindStatus, check_source, connector_kinds};
pub use splits::{Evicted, Gathered, evict};
pub use stats::{BatchCount, DatasetStats, dataset_stats};
