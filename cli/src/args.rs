//! Command-line arguments.

use anyhow::bail;
use clap::{Args, Parser, Subcommand};
use masa_connectors::WebConfig;
use masa_index::SearchQuery;
use masa_storage::StorageOptions;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "masa",
    version,
    about = "Contribute permissioned data to a Masa dataset, and search it",
    long_about = "Masa turns contributed data into a Delta Lake table of Parquet files with a \
tantivy search index and signed per-contributor provenance.\n\n\
Start with `masa init` (creates your contributor key), then `masa contribute --files DIR \
--dataset ./masa-data` (or `masa crawl https://site/ --dataset ./masa-data`), then `masa search \
\"words\" --dataset ./masa-data`."
)]
pub struct Cli {
    /// Folder holding masa's configuration and contributor key.
    #[arg(long, global = true, env = "MASA_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// More log output (-v info, -vv debug). MASA_LOG overrides, e.g. MASA_LOG=debug.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the masa home (default ~/.masa): configuration and an ed25519 contributor key (0600).
    Init {
        /// Replace an existing key. The old contributor identity is lost.
        #[arg(long)]
        force: bool,
    },
    /// Contribute local files, or a source described in a TOML source file, to a dataset
    /// (created if new). Resumes an interrupted run. `masa run` runs several.
    Contribute(ContributeArgs),
    /// Crawl websites into a dataset, honouring robots.txt (ours and AI-training agents),
    /// TDMRep and noai. Resumes a killed crawl with `--resume`.
    #[command(long_about = CRAWL_ABOUT)]
    Crawl(Box<CrawlArgs>),
    /// Show what the extractor keeps of an HTML page: the main text as light Markdown, or
    /// with --json also its metadata, language and quality signals and decision.
    Extract(ExtractArgs),
    /// Search a dataset: ranked hits with title, uri, snippet and contributor.
    Search(SearchArgs),
    /// Show what a dataset holds: records, bytes, contributors, drops by reason.
    Stats(StatsArgs),
    /// Find near-duplicate documents across the whole dataset and remove all but one of each
    /// cluster. `--dry-run` reports without changing the table.
    #[command(long_about = DEDUP_ABOUT)]
    Dedup(DedupArgs),
    /// Table upkeep that changes no data: compact small data files, write the log's history
    /// blocks and a checkpoint. Safe beside running contributors.
    #[command(long_about = MAINTAIN_ABOUT)]
    Maintain(MaintainArgs),
    /// Run a workflow file: several sources into one dataset, each resuming from its own
    /// checkpoint; on a cron schedule with --daemon.
    #[command(long_about = RUN_ABOUT)]
    Run(RunWorkflowArgs),
    /// The connector kinds: what each fetches, the credentials it takes and whether they
    /// are present, the permission its records carry. `check` tries a source.
    Connectors(ConnectorsArgs),
    /// The dataset's transparency log: its signed checkpoint, and consistency with an older one.
    #[command(subcommand)]
    Log(LogCommand),
    /// Write the inclusion proof of a record (row → batch root → log leaf → signed checkpoint) as JSON.
    Proof(ProofArgs),
    /// Check a proof written by `masa proof`, offline: no dataset needed.
    VerifyProof(VerifyProofArgs),
    /// Audit a dataset as a validator: signatures, file and row hashes, batch roots, log
    /// inclusion and consistency, consent evidence, duplicates; publish a signed report.
    Audit(AuditArgs),
    /// Start the reward protocol on a dataset: a signed genesis event with the parameters
    /// and the initial balances.
    #[command(long_about = INIT_PROTOCOL_ABOUT)]
    InitProtocol(InitProtocolArgs),
    /// Stake MASA from your balance for a role (validator, worker, oracle).
    Stake(StakeArgs),
    /// Unstake: the amount unbonds (still slashable, earning nothing) for the parameters'
    /// unbonding epochs, then returns to your balance.
    Unstake(StakeArgs),
    /// Send MASA from your balance to another key.
    Transfer(TransferArgs),
    /// Pay MASA from your balance into the reward pool (an oracle's fee for the data it
    /// used): the next epoch close pays it out with the emission, by the same shares.
    Fee(FeeArgs),
    /// Epochs: `masa epoch close` closes the oldest ended epoch (consensus and emission).
    #[command(subcommand)]
    Epoch(EpochCommand),
    /// An epoch's results per participant (score, consensus, incentive, dividends,
    /// emission, balance); `weights` for an on-chain set_weights; `consensus` runs Yuma
    /// consensus alone on given numbers.
    Rewards(RewardsArgs),
    /// The protocol state folded from the log: balances, stakes, unbonding, parameters,
    /// epoch, rejected events, and the state hash anyone can recompute.
    State(StateArgs),
    /// Slash an offender with evidence gathered from the dataset (the fold re-checks it).
    #[command(long_about = SLASH_ABOUT)]
    Slash(SlashArgs),
    /// Propose parameter changes (--set NAME=VALUE, repeatable); prints the proposal's id.
    #[command(long_about = PROPOSE_ABOUT)]
    Propose(ProposeArgs),
    /// List proposals: open ones with their live tally, decided ones with their result.
    Proposals(ProposalsArgs),
    /// Vote yes, no or abstain on a proposal, with a conviction that multiplies your own
    /// stake's weight and locks it for longer.
    #[command(long_about = VOTE_ABOUT)]
    Vote(VoteArgs),
    /// Delegate your voting weight for a scope (transitively: your delegate may delegate
    /// too), with ordered fallbacks.
    Delegate(DelegateArgs),
    /// Remove your delegation for a scope.
    Undelegate(UndelegateArgs),
    /// A proposal's resolved tally: turnout, yes/no/abstain, weight lost to cycles and to
    /// decay, weight capped back, the largest voter, Gini and Nakamoto coefficients, and
    /// (with --json) where each account's weight went.
    Tally(TallyArgs),
    /// Simulate the network (contributors, validators, oracles playing honest or dishonest
    /// strategies) as a continuous-time Markov chain running the real protocol fold;
    /// `masa simulate report DIR` shows a finished run.
    #[command(long_about = SIMULATE_ABOUT)]
    Simulate(SimulateArgs),
    /// Serve datasets over HTTP: search with filters, records with their inclusion proofs,
    /// the log's checkpoint, stats and epoch results, under /v1 (see the README's "Serving
    /// a dataset"). Stops on SIGTERM or Ctrl-C once requests in flight are answered.
    Serve(ServeArgs),
    /// API keys of `masa serve`, kept hashed in the masa home: create (shown once), list,
    /// revoke.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it (the only time it is shown; only its hash is kept).
    Create {
        /// What it may do, comma-separated: search, records, stats, epochs.
        #[arg(long, value_delimiter = ',', required = true)]
        scope: Vec<String>,
        /// Its rate: N/s, N/min or N/h.
        #[arg(long, default_value = "10/s")]
        rate: String,
        /// A dataset it may read (repeatable; none: every dataset served).
        #[arg(long = "dataset", value_name = "LOCATION")]
        datasets: Vec<String>,
        /// It stops working after this long: 30d, 12h, 90m.
        #[arg(long)]
        expires: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List the keys (ids, scopes, rates, expiry, revoked), never the keys themselves.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id; a running `masa serve` refuses it from its next request.
    Revoke { id: String },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A dataset to serve: a folder or s3://bucket/prefix (repeatable; the first is the
    /// default, others are chosen with ?dataset=LOCATION).
    #[arg(long = "dataset", value_name = "LOCATION", required = true)]
    pub datasets: Vec<String>,
    /// Address to listen on (port 0 picks a free one; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: String,
    /// The most hits one search may return.
    #[arg(long, default_value_t = 1000)]
    pub max_limit: usize,
    /// Allow requests without a key, at this many a second per client address (off by
    /// default: every data route needs a key of `masa keys create`).
    #[arg(long, value_name = "PER_SECOND")]
    pub anonymous_rate: Option<u32>,
    /// Seconds between usage events: each key's use of each dataset is appended to its log
    /// as a usage event signed with your key (0: no metering).
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub meter_interval: u64,
    /// MASA each request costs, paid with the usage event into the reward pool.
    #[arg(long, default_value = "0", value_name = "MASA")]
    pub price_per_query: String,
    /// Seconds a request may take before it is answered 503.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub timeout: u64,
    /// An origin allowed to call the API from a browser (CORS; repeatable; none by default).
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    pub cors_origins: Vec<String>,
    /// Seconds between checks of each table for new commits, which become searchable then.
    #[arg(long, default_value_t = 2, value_name = "SECONDS")]
    pub follow_interval: u64,
    /// Seconds a table version stays open for search cursors after its last use (a cursor
    /// of a version closed since answers 410).
    #[arg(long, default_value_t = 600, value_name = "SECONDS")]
    pub cursor_ttl: u64,
    /// The split cache folder (default: the one `masa search` uses, under
    /// $MASA_CACHE_DIR, $XDG_CACHE_HOME/masa or ~/.cache/masa).
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// The split cache's bound per dataset, in MiB: least recently used splits that no open
    /// version needs are evicted past it.
    #[arg(long, default_value_t = 10240, value_name = "MIB")]
    pub cache_mib: u64,
    /// S3 settings for every served dataset (as for the other commands).
    #[command(flatten)]
    pub s3: S3Args,
}

const SIMULATE_ABOUT: &str = "Simulate the network described by a scenario file as a \
continuous-time Markov chain (Gillespie's direct method): agents arrive, leave, fail, \
recover, contribute synthetic records, report weights and query, each at the scenario's \
rates and by its strategy (honest, low_quality, copier, padder, sybil, cabal_member; \
validators honest, lazy, colluding, offline). Every action is a protocol event folded by \
the same code as `masa state`, and records are scored by the rules `masa audit` applies, \
so what each strategy earns is what the protocol pays it.\n\n\
Writes into --out: series.parquet and series.csv (run, point, time, epoch, metric, value), \
summary.json (reward per unit of cost of each strategy with its 95 % confidence interval, \
whether it beats honest play, the cabal's share, dataset projections) and plots/*.svg. \
Runs are seeded: the same seed gives the same files whatever --threads.\n\n\
--sweep NAME=START:END:STEP or NAME=V1,V2,... (repeatable: every combination runs). NAME \
is a parameter short form as for `masa propose --set` (kappa, bond_alpha, emission, \
min_stake.validator, ...) or a dotted path into the scenario: params.unbonding_epochs, \
contributors.copier.edits, cabal.stake_share, ...";

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SimulateArgs {
    #[command(subcommand)]
    pub command: Option<SimulateCommand>,
    /// The scenario file (TOML; see the README's "Simulation" section).
    #[arg(required = true, value_name = "SCENARIO")]
    pub scenario: Option<PathBuf>,
    /// Monte Carlo runs per sweep point (default: the scenario's `runs`).
    #[arg(long)]
    pub runs: Option<u32>,
    /// The seed (default: the scenario's `seed`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Threads to run on (default: every core). Results do not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
    /// A parameter to sweep, NAME=START:END:STEP or NAME=V1,V2,... (repeatable).
    #[arg(long = "sweep", value_name = "NAME=VALUES")]
    pub sweeps: Vec<String>,
    /// The results folder (created; files in it are replaced).
    #[arg(long, required = true, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print the summary as JSON instead of tables.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum SimulateCommand {
    /// Print the tables of a finished simulation and draw its plots again.
    Report {
        /// The --out folder of a `masa simulate` run.
        dir: PathBuf,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
}

const PROPOSE_ABOUT: &str = "Propose parameter changes. A proposal changes parameters of one \
scope (params, slashing, treasury), is checked against the parameters' bounds when proposed \
(κ strictly between 0 and 1, shares summing to 1, ...), is decided when the epoch \
`governance.decision_epochs` after the current one (counting it) closes, and if it passes \
holds from the next epoch on.\n\n\
NAME is a parameter as `masa state --json` shows it under `params` (`kappa_ppm`, \
`min_stake.validator`, `governance.params.quorum_bps`, ...) with a JSON value, or one of \
the short forms: kappa=0.55, bond_alpha=0.1 (fractions), emission=1200 (MASA), \
epoch_length=64, unbonding_epochs=2, contributor_share=0.41, validator_share=0.41, \
treasury_share=0.18 (fractions; the three together), min_stake.validator=100 (MASA), \
slash.fabrication=1.0 (a fraction), slash_destination=burn|treasury.";

const VOTE_ABOUT: &str = "Vote on a proposal. Your weight is your bonded stake, times the \
conviction's multiplier (Polkadot's table by default: 0 = 0.1x and no lock, 1 = 1x locked 1 \
epoch after the decision, 2 = 2x for 2, 3 = 3x for 4, 4 = 4x for 8, 5 = 5x for 16, 6 = 6x \
for 32). A locked stake cannot be unstaked before the lock ends. Weight delegated to you \
counts 1x. Voting again replaces your vote; a direct vote overrides your delegation.";

#[derive(Debug, Args)]
pub struct ProposeArgs {
    /// A change, NAME=VALUE (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE", required = true)]
    pub set: Vec<String>,
    /// What the proposal is about.
    #[arg(long)]
    pub title: String,
    #[command(flatten)]
    pub target: ProtocolArgs,
}

#[derive(Debug, Args)]
pub struct ProposalsArgs {
    #[command(flatten)]
    pub dataset: DatasetArgs,
    /// Print the proposals as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct VoteArgs {
    /// The proposal's id (as `masa propose` printed it).
    pub proposal: u64,
    /// yes, no or abstain.
    #[arg(value_parser = ["yes", "no", "abstain"])]
    pub choice: String,
    /// A row of the conviction table (0 to 6 by default).
    #[arg(long, default_value_t = 1)]
    pub conviction: u8,
    #[command(flatten)]
    pub target: ProtocolArgs,
}

#[derive(Debug, Args)]
pub struct DelegateArgs {
    /// The delegate's hex public key.
    pub to: String,
    /// params, slashing, treasury or all (a specific scope overrides `all`).
    #[arg(long, default_value = "all")]
    pub scope: String,
    /// A fallback delegate, used when the first one's delegation reaches no voter
    /// (inactive, or a cycle); repeatable, in order.
    #[arg(long = "fallback", value_name = "KEY")]
    pub fallbacks: Vec<String>,
    #[command(flatten)]
    pub target: ProtocolArgs,
}

#[derive(Debug, Args)]
pub struct UndelegateArgs {
    /// The scope whose delegation to remove.
    #[arg(long, default_value = "all")]
    pub scope: String,
    #[command(flatten)]
    pub target: ProtocolArgs,
}

#[derive(Debug, Args)]
pub struct TallyArgs {
    /// The proposal's id.
    pub proposal: u64,
    #[command(flatten)]
    pub dataset: DatasetArgs,
    /// Print the tally and every account's flow as JSON.
    #[arg(long)]
    pub json: bool,
}

const INIT_PROTOCOL_ABOUT: &str = "Start the reward protocol on a dataset with a signed \
genesis event: the parameters (defaults, changed by --params FILE and the flags) and the \
initial balances (--allocate KEY=AMOUNT, repeatable). It can be done once per dataset.\n\n\
Amounts are in MASA with up to 9 decimals. The parameters file is TOML or JSON with any \
subset of the fields `masa state --json` shows under `params`, e.g. `epoch_length = 16` or \
`[min_stake]\nvalidator = \"100000000000\"` (amounts there are in base units, 10^-9 MASA).";

const SLASH_ABOUT: &str = "Slash an offender. Give the offence and what it is about; masa \
gathers the evidence from the dataset and its log, and the fold re-checks it before the \
slash counts:\n\n\
  invalid-manifest --batch ID     the batch's manifest signature does not verify\n\
  consent-violation --record ID   the record's consent is a refusal without an override\n\
  content-mismatch --batch ID     audit reports of validators holding κ of stake found \
rows that do not match their hashes\n\
  fabrication --batch ID          audit reports of validators holding κ found refetched \
pages that differ\n\
  equivocation --validator KEY --epoch N   two different signed reports for one epoch";

#[derive(Debug, Args)]
pub struct ProtocolArgs {
    #[command(flatten)]
    pub dataset: DatasetArgs,
    /// The signing key [default: the masa home's key].
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InitProtocolArgs {
    #[command(flatten)]
    pub target: ProtocolArgs,
    /// Parameters file (TOML or JSON): any subset of the parameters; the rest are defaults.
    #[arg(long, value_name = "FILE")]
    pub params: Option<PathBuf>,
    /// Epoch length in log leaves.
    #[arg(long, value_name = "LEAVES")]
    pub epoch_length: Option<u64>,
    /// MASA minted when an epoch closes.
    #[arg(long, value_name = "AMOUNT")]
    pub emission: Option<String>,
    /// An initial balance, KEY=AMOUNT (hex public key, MASA); repeatable.
    #[arg(long = "allocate", value_name = "KEY=AMOUNT")]
    pub allocations: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StakeArgs {
    /// Amount of MASA (up to 9 decimals).
    pub amount: String,
    /// validator, worker or oracle.
    #[arg(long)]
    pub role: String,
    #[command(flatten)]
    pub target: ProtocolArgs,
}

#[derive(Debug, Args)]
pub struct TransferArgs {
    /// Amount of MASA (up to 9 decimals).
    pub amount: String,
    /// The recipient's hex public key.
    #[arg(long, value_name = "KEY")]
    pub to: String,
    #[command(flatten)]
    pub target: ProtocolArgs,
}

#[derive(Debug, Args)]
pub struct FeeArgs {
    /// Amount of MASA (up to 9 decimals).
    pub amount: String,
    #[command(flatten)]
    pub target: ProtocolArgs,
}

#[derive(Debug, Subcommand)]
pub enum EpochCommand {
    /// Close the oldest epoch whose end the log has reached: Yuma consensus over the
    /// permitted validators' reports, emission to contributors, validators and treasury,
    /// unbonding released. Does nothing (and says when the epoch ends) if none has ended;
    /// running it twice closes once.
    Close(ProtocolArgs),
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RewardsArgs {
    #[command(subcommand)]
    pub command: Option<RewardsCommand>,
    #[command(flatten)]
    pub show: RewardsShowArgs,
}

#[derive(Debug, Args)]
pub struct RewardsShowArgs {
    #[command(flatten)]
    pub dataset: DatasetArgs,
    /// The epoch [default: the latest closed].
    #[arg(long, value_name = "N")]
    pub epoch: Option<u64>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum RewardsCommand {
    /// The contributors' incentive of an epoch as weights for an on-chain set_weights.
    Weights(WeightsArgs),
    /// Run the consensus step alone on a JSON file of stake, weights and bonds (the same
    /// code the epoch close runs) and print its results as JSON.
    #[command(long_about = CONSENSUS_ABOUT)]
    Consensus(ConsensusArgs),
}

const CONSENSUS_ABOUT: &str = "Run Yuma consensus alone, as an epoch close runs it, on \
given numbers. The input file is JSON: {\"stake\": [V], \"weights\": [[M] x V], \
\"bonds_prev\": [[M] x V] (optional), \"permits\": [V] (optional booleans), \"kappa\": 0.5, \
\"bond_alpha\": 0.1} for V validators and M contributors; numbers are raw and non-negative, \
weight rows are normalised here. The output has consensus, ranks, trust and incentive per \
contributor, validator_trust and dividends per validator, and the bonds to pass as \
bonds_prev next time.";

#[derive(Debug, Args)]
pub struct WeightsArgs {
    #[command(flatten)]
    pub dataset: DatasetArgs,
    /// The epoch [default: the latest closed].
    #[arg(long, value_name = "N")]
    pub epoch: Option<u64>,
    /// `bittensor`: uids and u16 weights summing to 65535, as set_weights takes them;
    /// `json`: each contributor key with its incentive (ppm).
    #[arg(long, default_value = "json", value_parser = ["json", "bittensor"])]
    pub format: String,
    /// Contributor key → uid map: JSON {"KEY": uid} or lines `uid KEY` [default: uids
    /// are positions in key order].
    #[arg(long, value_name = "FILE")]
    pub uids: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ConsensusArgs {
    /// The input JSON file (`-` for standard input).
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
}

#[derive(Debug, Args)]
pub struct StateArgs {
    #[command(flatten)]
    pub dataset: DatasetArgs,
    /// The state after the first N leaves of the log [default: all].
    #[arg(long, value_name = "LOG_INDEX")]
    pub at: Option<u64>,
    /// Print the whole state as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SlashArgs {
    /// invalid-manifest, consent-violation, content-mismatch, fabrication or equivocation.
    #[arg(value_parser = ["invalid-manifest", "consent-violation", "content-mismatch", "fabrication", "equivocation"])]
    pub offence: String,
    /// The batch (invalid-manifest, content-mismatch, fabrication).
    #[arg(long, value_name = "BATCH_ID")]
    pub batch: Option<String>,
    /// The record (consent-violation).
    #[arg(long, value_name = "RECORD_ID")]
    pub record: Option<String>,
    /// The validator (equivocation).
    #[arg(long, value_name = "KEY")]
    pub validator: Option<String>,
    /// The epoch (equivocation).
    #[arg(long, value_name = "N")]
    pub epoch: Option<u64>,
    #[command(flatten)]
    pub target: ProtocolArgs,
}

const RUN_ABOUT: &str = "Run a workflow file: a dataset, [pipeline] settings, an optional cron \
schedule and [[source]] tables (a name, a connector kind and its options; see `masa \
connectors`).

Each source runs in file order and resumes from its own checkpoint, as `masa contribute` \
does; one source failing does not stop the others. The exit status is 1 when a source \
failed (with --daemon: when every source failed for good, that is its configuration is \
wrong).

Schedules are Vixie cron expressions in UTC: five fields (minute hour day-of-month month \
day-of-week), with an optional leading seconds field and trailing year field. With \
--daemon each source runs at its schedule's times (its own `schedule`, or the \
workflow's), until SIGTERM or Ctrl-C; a killed run resumes at the next time.

Examples:
  masa run examples/workflow-docs.toml
  masa run --source hn examples/workflow-news.toml
  masa run --daemon examples/workflow-news.toml";

#[derive(Debug, Args)]
pub struct RunWorkflowArgs {
    /// The workflow file (TOML).
    #[arg(value_name = "WORKFLOW")]
    pub file: PathBuf,
    /// Keep running, each source on its schedule.
    #[arg(long)]
    pub daemon: bool,
    /// With --daemon: stop after this many source runs (to try a schedule out).
    #[arg(long, value_name = "N", requires = "daemon")]
    pub max_runs: Option<u64>,
    /// Run only this source (repeatable).
    #[arg(long = "source", value_name = "NAME")]
    pub only: Vec<String>,
    #[command(flatten)]
    pub s3: S3Args,
    /// One JSON line per source run on standard output.
    #[arg(long)]
    pub json: bool,
    /// No progress display.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct ConnectorsArgs {
    #[command(subcommand)]
    pub command: Option<ConnectorsCommand>,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConnectorsCommand {
    /// Try a source with one cheap request, writing nothing: a connector kind (on its public
    /// service), a source file, or every source of a workflow file.
    Check {
        /// A connector kind, or a source or workflow file.
        #[arg(value_name = "NAME|FILE")]
        target: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Print the latest signed checkpoint (tree size, root hash, signature note). Save it
    /// (`--json > cp.json`) to check later that the log only grew.
    Checkpoint {
        #[command(flatten)]
        dataset: DatasetArgs,
        /// Print origin, size, root, signers and the note as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check that the log is consistent with an older checkpoint: it only grew.
    Verify {
        #[command(flatten)]
        dataset: DatasetArgs,
        /// A checkpoint saved earlier: the note, or `masa log checkpoint --json` output.
        #[arg(long, value_name = "FILE")]
        since: PathBuf,
        /// Print the result, with both roots and the consistency proof, as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct ProofArgs {
    /// The record's id (`record_id` column, or `masa search` output).
    pub record_id: String,
    #[command(flatten)]
    pub dataset: DatasetArgs,
    /// Write the proof here instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct VerifyProofArgs {
    /// The proof file (`-` for standard input).
    pub proof: PathBuf,
    /// Also check the proof against this dataset: same log, and its log really had the
    /// proof's checkpoint root (so a checkpoint signed by some other key cannot pass).
    #[arg(long, value_name = "LOCATION")]
    pub dataset: Option<String>,
    /// Require the checkpoint to be signed by this hex public key (repeatable).
    #[arg(long = "trust", value_name = "KEY")]
    pub trusted: Vec<String>,
    /// Print what the proof establishes as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub dataset: DatasetArgs,
    /// The validator's signing key [default: the masa home's key].
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// A checkpoint saved earlier that the log must be consistent with (checkpoints seen
    /// by earlier audits are checked too, from the masa home).
    #[arg(long, value_name = "FILE")]
    pub since: Option<PathBuf>,
    /// Audit only N batches, drawn at random (the report gives the salt).
    #[arg(long, value_name = "N")]
    pub sample: Option<usize>,
    /// Fetch N records' http(s) URIs again, drawn at random, and check the pages still give
    /// the contributed text (a mismatch flags an altered or fabricated record).
    #[arg(long, value_name = "N")]
    pub refetch: Option<usize>,
    /// Let --refetch reach private, loopback and link-local addresses (refused by default:
    /// the dataset chooses the URIs).
    #[arg(long)]
    pub allow_private: bool,
    /// This task's share of the batches, as i/N (else from SLURM_ARRAY_TASK_ID/COUNT or
    /// JOB_COMPLETION_INDEX with MASA_SHARD_COUNT).
    #[arg(long, value_name = "i/N", value_parser = masa_workflows::Shard::parse)]
    pub shard: Option<masa_workflows::Shard>,
    /// Do not store the signed report or append it to the log.
    #[arg(long)]
    pub no_publish: bool,
    /// Score contributors for this epoch in the report's weights [default: the oldest
    /// ended epoch not yet closed]. Weights need a whole audit (no --sample, no --shard).
    #[arg(long, value_name = "N")]
    pub epoch: Option<u64>,
    /// Print the report as JSON (it is printed even when the audit fails).
    #[arg(long)]
    pub json: bool,
}

const DEDUP_ABOUT: &str = "Find near-duplicate documents across the whole dataset (every run, \
every contributor) with MinHash LSH, and remove all but one document of each cluster.\n\n\
`contribute` already drops near-duplicates of what is committed; `dedup` finds the ones it \
could not see (runs that committed at the same time, data from before near-dup removal was \
on) and applies another threshold or keep policy.\n\n\
Without --stage, every stage runs here in order: plan, signatures, buckets, clusters, filter \
(--dry-run stops before filter). For corpora larger than one machine, run the stages as \
separate tasks: `--stage plan` once (it prints the job id), then `--stage signatures --job ID \
--shard i/N` and `--stage buckets --job ID --shard i/N` on N workers each, `--stage clusters \
--job ID` once, and `--stage filter --job ID --shard i/N`. The shard is also read from \
SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT or JOB_COMPLETION_INDEX/MASA_SHARD_COUNT. \
Intermediate files live under dedup/jobs/<job>/ in the dataset, each checksummed: a missing \
or corrupt one stops the job with its name.";

#[derive(Debug, Args)]
pub struct DedupArgs {
    #[command(flatten)]
    pub dataset: DatasetArgs,
    #[command(flatten)]
    pub near_dup: NearDupArgs,
    /// Report clusters and the documents that would be removed; change nothing in the table.
    #[arg(long)]
    pub dry_run: bool,
    /// Which document of a cluster stays: the earliest in log order, or the highest quality
    /// score (ties to the earliest).
    #[arg(long, value_enum, default_value_t = KeepArg::Earliest)]
    pub keep: KeepArg,
    /// Run one stage only (for distributed runs); default: all of them, here.
    #[arg(long, value_enum)]
    pub stage: Option<StageArg>,
    /// The job to continue (printed by the plan stage); required with --stage after plan.
    #[arg(long, value_name = "ID")]
    pub job: Option<String>,
    /// This task's share of a sharded stage, as i/N.
    #[arg(long, value_name = "i/N", value_parser = masa_workflows::Shard::parse)]
    pub shard: Option<masa_workflows::Shard>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum KeepArg {
    Earliest,
    Quality,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum StageArg {
    Plan,
    Signatures,
    Buckets,
    Clusters,
    Filter,
}

impl StageArg {
    pub fn stage(self) -> masa_workflows::Stage {
        use masa_workflows::Stage;
        match self {
            StageArg::Plan => Stage::Plan,
            StageArg::Signatures => Stage::Signatures,
            StageArg::Buckets => Stage::Buckets,
            StageArg::Clusters => Stage::Clusters,
            StageArg::Filter => Stage::Filter,
        }
    }
}

impl KeepArg {
    pub fn policy(self) -> masa_workflows::KeepPolicy {
        match self {
            KeepArg::Earliest => masa_workflows::KeepPolicy::Earliest,
            KeepArg::Quality => masa_workflows::KeepPolicy::Quality,
        }
    }
}

/// Where the dataset is, and how to reach it.
#[derive(Debug, Args)]
pub struct DatasetArgs {
    /// Dataset location: a local folder, file:///path, or s3://bucket/prefix.
    #[arg(
        long = "dataset",
        short = 'd',
        value_name = "LOCATION",
        default_value = "./masa-data"
    )]
    pub location: String,
    #[command(flatten)]
    pub s3: S3Args,
}

/// How to reach datasets on S3.
#[derive(Debug, Args)]
pub struct S3Args {
    /// S3 endpoint URL, for S3-compatible servers (else AWS_ENDPOINT_URL, else AWS).
    #[arg(long, value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// S3 region (else AWS_REGION).
    #[arg(long, value_name = "REGION")]
    pub s3_region: Option<String>,
    /// S3 access key id (else AWS_ACCESS_KEY_ID).
    #[arg(long, value_name = "ID")]
    pub s3_access_key_id: Option<String>,
    /// S3 secret access key (else AWS_SECRET_ACCESS_KEY).
    #[arg(long, value_name = "SECRET")]
    pub s3_secret_access_key: Option<String>,
    /// Any other object-store option, as KEY=VALUE (repeatable).
    #[arg(long = "storage-option", value_name = "KEY=VALUE")]
    pub storage_options: Vec<String>,
}

impl DatasetArgs {
    pub fn storage_options(&self) -> anyhow::Result<StorageOptions> {
        self.s3.storage_options()
    }
}

impl S3Args {
    pub fn storage_options(&self) -> anyhow::Result<StorageOptions> {
        let mut o = StorageOptions::new();
        for kv in &self.storage_options {
            let Some((k, v)) = kv.split_once('=') else {
                bail!("--storage-option {kv:?} is not KEY=VALUE");
            };
            o.insert(k.trim().to_owned(), v.trim().to_owned());
        }
        for (key, value) in [
            ("AWS_ENDPOINT_URL", &self.s3_endpoint),
            ("AWS_REGION", &self.s3_region),
            ("AWS_ACCESS_KEY_ID", &self.s3_access_key_id),
            ("AWS_SECRET_ACCESS_KEY", &self.s3_secret_access_key),
        ] {
            if let Some(v) = value {
                o.insert(key.into(), v.clone());
            }
        }
        Ok(o)
    }
}

#[derive(Debug, Args)]
pub struct ContributeArgs {
    /// A folder (walked recursively) or one file: .txt, .md, .html, or .jsonl with a `text`
    /// field (optional `url` or `id` becomes the record's uri, optional `title`).
    #[arg(
        long,
        value_name = "PATH",
        required_unless_present = "source",
        conflicts_with = "source"
    )]
    pub files: Option<PathBuf>,
    /// A source described in a TOML file: `kind` (see `masa connectors`) and that
    /// connector's options, e.g. `kind = "web"`, `seeds = ["https://docs.example.org/"]`;
    /// `examples/<kind>.toml` has one of each.
    #[arg(long, value_name = "FILE")]
    pub source: Option<PathBuf>,
    #[command(flatten)]
    pub dataset: DatasetArgs,
    /// Largest .txt/.md/.html file taken whole [default: 64 MiB]; larger files stop the run
    /// before anything is written.
    #[arg(long, value_name = "BYTES")]
    pub max_file_bytes: Option<u64>,
    /// Largest .jsonl line [default: 16 MiB]; longer lines are skipped and reported.
    #[arg(long, value_name = "BYTES")]
    pub max_line_bytes: Option<usize>,
    #[command(flatten)]
    pub run: RunArgs,
}

/// How a contribution runs, whatever its source: batching, deduplication, quality, output.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Rows per commit (one Parquet file and one index split each).
    #[arg(long, default_value_t = masa_ingest::DEFAULT_BATCH_ROWS, value_name = "N")]
    pub batch_rows: usize,
    /// Bytes of text per commit, whichever limit comes first.
    #[arg(long, default_value_t = masa_ingest::DEFAULT_BATCH_BYTES, value_name = "BYTES")]
    pub batch_bytes: usize,
    #[command(flatten)]
    pub near_dup: NearDupArgs,
    /// Keep near-duplicates (exact duplicates are still removed).
    #[arg(long)]
    pub no_near_dup: bool,
    #[command(flatten)]
    pub quality: QualityArgs,
    /// Print the run summary (with a crawl's per-host statistics) as JSON.
    #[arg(long)]
    pub json: bool,
    /// No progress display.
    #[arg(long, short)]
    pub quiet: bool,
}

const CRAWL_ABOUT: &str = "Crawl websites into a dataset (created if new).

Permissions are on by default and recorded in every record's consent column: robots.txt \
(RFC 9309) for our agent and for AI-training agents (GPTBot, CCBot, ...); W3C TDMRep \
(/.well-known/tdmrep.json, tdm-reservation headers and meta); X-Robots-Tag and robots meta \
(noai, noimageai, noindex, none exclude a page; nofollow stops link following). Each \
--ignore-* flag overrides one of them, and the records say so.

Politeness: --per-host requests in flight and --rate per host (a longer robots.txt \
Crawl-delay wins); retries with backoff on 5xx, 408, 429 and network errors, honouring \
Retry-After. Private, loopback and link-local addresses are refused unless --allow-private.

Every batch commits with the frontier and seen-set; after a crash, `masa crawl --resume \
--dataset D` continues where the last commit left it. Skipped URLs are counted by reason \
(robots, tdm, noai, noindex, scope, depth, size, type, duplicate, unchanged, error:<kind>).

Examples:
  masa crawl https://docs.example.org/ --dataset ./masa-data --max-pages 500
  masa crawl https://example.org/blog/ --scope prefix --exclude '\\?page=' --dataset D
  masa crawl --resume --dataset ./masa-data";

#[derive(Debug, Args)]
pub struct CrawlArgs {
    /// Start URLs.
    #[arg(value_name = "URL", required_unless_present = "resume")]
    pub seeds: Vec<String>,
    /// Continue this contributor's interrupted crawl of the dataset, with its settings.
    #[arg(long, conflicts_with = "seeds")]
    pub resume: bool,
    /// Crawl without writing anything: print what would be fetched, kept and skipped.
    #[arg(long, conflicts_with = "resume")]
    pub dry_run: bool,
    #[command(flatten)]
    pub dataset: DatasetArgs,
    /// How far from the seeds: the same host, the same registrable domain, or URLs under a
    /// seed URL.
    #[arg(long, value_enum, default_value_t = ScopeArg::Host)]
    pub scope: ScopeArg,
    /// Only URLs matching one of these regular expressions (repeatable).
    #[arg(long, value_name = "RE")]
    pub include: Vec<String>,
    /// Never URLs matching these regular expressions (repeatable).
    #[arg(long, value_name = "RE")]
    pub exclude: Vec<String>,
    /// Page requests in the whole crawl.
    #[arg(long, value_name = "N")]
    pub max_pages: Option<u64>,
    /// Link hops from a seed.
    #[arg(long, value_name = "N")]
    pub max_depth: Option<u16>,
    /// Requests in flight in total.
    #[arg(long, default_value_t = WebConfig::default().concurrency, value_name = "N")]
    pub concurrency: usize,
    /// Requests in flight per host.
    #[arg(long, default_value_t = WebConfig::default().per_host, value_name = "N")]
    pub per_host: usize,
    /// Requests per host: N/s, N/m or N/h; 0 lifts the limit.
    #[arg(long, default_value_t = WebConfig::default().rate, value_name = "RATE")]
    pub rate: String,
    /// Our robots.txt product token and User-Agent name.
    #[arg(long, default_value_t = WebConfig::default().user_agent, value_name = "NAME")]
    pub user_agent: String,
    /// Obey robots.txt rules for this agent too (repeatable; replaces the default list of
    /// AI-training agents).
    #[arg(long, value_name = "TOKEN")]
    pub ai_agent: Vec<String>,
    /// Crawl pages robots.txt disallows (recorded as overridden).
    #[arg(long)]
    pub ignore_robots: bool,
    /// Contribute pages whose TDM rights are reserved (recorded as overridden).
    #[arg(long)]
    pub ignore_tdm: bool,
    /// Contribute pages marked noai, noimageai, noindex or none (recorded as overridden).
    #[arg(long)]
    pub ignore_noai: bool,
    /// Allow private, loopback and link-local addresses (intranets, tests).
    #[arg(long)]
    pub allow_private: bool,
    /// Do not read sitemaps.
    #[arg(long)]
    pub no_sitemaps: bool,
    /// Seconds for a whole request, body included.
    #[arg(long, default_value_t = WebConfig::default().timeout_ms as f64 / 1000.0, value_name = "SECS")]
    pub timeout: f64,
    /// Largest page kept, after decompression.
    #[arg(long, default_value_t = WebConfig::default().max_body_bytes, value_name = "BYTES")]
    pub max_body_bytes: usize,
    /// Retries for 5xx, 408, 429 and network errors.
    #[arg(long, default_value_t = WebConfig::default().retries, value_name = "N")]
    pub retries: u32,
    #[command(flatten)]
    pub run: RunArgs,
}

impl RunArgs {
    pub fn progress(&self) -> masa_ingest::ProgressMode {
        if self.quiet {
            masa_ingest::ProgressMode::Quiet
        } else {
            masa_ingest::ProgressMode::detect()
        }
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ScopeArg {
    Host,
    Domain,
    Prefix,
}

impl CrawlArgs {
    /// The `web` source these flags describe.
    pub fn web_config(&self) -> anyhow::Result<WebConfig> {
        use masa_connectors::web::{signals::Overrides, urls::ScopeKind};
        let mut c = WebConfig::new(self.seeds.clone());
        c.scope = match self.scope {
            ScopeArg::Host => ScopeKind::Host,
            ScopeArg::Domain => ScopeKind::Domain,
            ScopeArg::Prefix => ScopeKind::Prefix,
        };
        c.include = self.include.clone();
        c.exclude = self.exclude.clone();
        c.max_pages = self.max_pages;
        c.max_depth = self.max_depth;
        c.concurrency = self.concurrency;
        c.per_host = self.per_host;
        c.rate = self.rate.clone();
        c.user_agent = self.user_agent.clone();
        if !self.ai_agent.is_empty() {
            c.ai_agents = self.ai_agent.clone();
        }
        c.overrides = Overrides {
            robots: self.ignore_robots,
            tdm: self.ignore_tdm,
            noai: self.ignore_noai,
        };
        c.allow_private = self.allow_private;
        c.sitemaps = !self.no_sitemaps;
        if !(self.timeout.is_finite() && self.timeout > 0.0) {
            bail!("--timeout must be a positive number of seconds");
        }
        c.timeout_ms = (self.timeout * 1000.0) as u64;
        c.connect_timeout_ms = c.connect_timeout_ms.min(c.timeout_ms);
        c.max_body_bytes = self.max_body_bytes;
        c.retries = self.retries;
        Ok(c)
    }
}

#[derive(Debug, Args)]
pub struct QualityArgs {
    /// Drop texts that fail a quality rule (Gopher, C4, FineWeb), counted as
    /// `quality:<rule>`. Without it every text is scored and kept.
    #[arg(long)]
    pub drop_low_quality: bool,
    /// Quality settings from a TOML file: `drop`, `keep_rejects`, `[thresholds]` and
    /// `[languages.<iso 639-3>]` tables (defaults: the published values).
    #[arg(long, value_name = "FILE")]
    pub quality: Option<PathBuf>,
    /// Keep dropped records (quality and duplicates) for inspection, as Parquet files under
    /// the dataset's `rejects/` with a `reject_reason` column.
    #[arg(long)]
    pub keep_rejects: bool,
}

#[derive(Debug, Args)]
pub struct ExtractArgs {
    /// An HTML file (any charset it declares), or `-` for standard input.
    #[arg(value_name = "FILE", default_value = "-")]
    pub file: String,
    /// Print text, metadata, language and quality (signals, score, keep or the failing
    /// rule) as JSON.
    #[arg(long)]
    pub json: bool,
    /// Many pages in one process: JSON lines `{"id": ..., "html": "..."}` on standard
    /// input, one JSON line per input on standard output, in order.
    #[arg(long)]
    pub jsonl: bool,
    /// Quality settings from a TOML file: `drop`, `[thresholds]` and
    /// `[languages.<iso 639-3>]` tables (defaults: the published Gopher/C4/FineWeb values).
    #[arg(long, value_name = "FILE")]
    pub quality: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Query text: words, "a phrase", field:value (title, text), AND/OR/-.
    pub query: String,
    #[command(flatten)]
    pub dataset: DatasetArgs,
    /// Number of hits.
    #[arg(long, short = 'n', default_value_t = 10)]
    pub limit: usize,
    /// Only records of this contributor (hex public key).
    #[arg(long)]
    pub contributor: Option<String>,
    /// Only records from this connector kind (files, web, ...).
    #[arg(long)]
    pub source: Option<String>,
    /// Only records in this language (ISO 639-3: eng, deu, fra, ...).
    #[arg(long)]
    pub lang: Option<String>,
    /// Only records under this licence (an SPDX id, as recorded).
    #[arg(long)]
    pub licence: Option<String>,
    /// Only records whose quality score is at least this (0 to 1).
    #[arg(long, value_name = "SCORE")]
    pub min_quality: Option<f64>,
    /// Order of hits: score (BM25), newest or oldest (fetch time).
    #[arg(long, default_value = "score", value_parser = ["score", "newest", "oldest"])]
    pub sort: String,
    /// Only records fetched at or after this time (RFC 3339 or YYYY-MM-DD).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only records fetched before this time (RFC 3339 or YYYY-MM-DD).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Print hits as JSON.
    #[arg(long)]
    pub json: bool,
}

fn parse_time(flag: &str, s: &str) -> anyhow::Result<i64> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return Ok((t.unix_timestamp_nanos() / 1000) as i64);
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(d) = time::Date::parse(s, &fmt) {
        return Ok(d.midnight().assume_utc().unix_timestamp() * 1_000_000);
    }
    bail!("{flag} {s:?} is not a time: use RFC 3339 (2026-01-31T12:00:00Z) or a date (2026-01-31)")
}

impl SearchArgs {
    pub fn query(&self) -> anyhow::Result<SearchQuery> {
        if self.query.trim().is_empty() {
            bail!("the search query is empty: give some words to look for");
        }
        Ok(SearchQuery {
            text: self.query.clone(),
            limit: self.limit,
            offset: 0,
            sort: match self.sort.as_str() {
                "newest" => masa_index::Sort::Newest,
                "oldest" => masa_index::Sort::Oldest,
                _ => masa_index::Sort::Score,
            },
            contributor: self.contributor.clone(),
            source: self.source.clone(),
            lang: self.lang.clone(),
            licence: self.licence.clone(),
            min_quality: self.min_quality,
            since_micros: self
                .since
                .as_deref()
                .map(|s| parse_time("--since", s))
                .transpose()?,
            until_micros: self
                .until
                .as_deref()
                .map(|s| parse_time("--until", s))
                .transpose()?,
        })
    }
}

const MAINTAIN_ABOUT: &str = "\
Table upkeep that changes no data, safe to run while contributors append.

Small data files (one per committed batch) are rewritten into files of about --target-size, \
one commit per output file with dataChange = false: concurrent appends do not conflict with \
it. Each batch keeps its rows as whole row groups of the compacted file, so index splits, \
signature files and dedup plans stay valid; the original files stay in storage, because \
signed batch manifests, proofs and audits name them. Then the log's history blocks (every \
commit's commitInfo, 100 versions a block) are written where missing, and a Delta checkpoint \
of the version reached, so readers start from it.

A group whose file another writer (a dedup filter, a second maintain) replaced first is \
skipped and reported: rerun to compact it. Killed midway, nothing is lost: each commit is \
whole, and a rerun picks up the files still small.";

#[derive(Debug, Args)]
pub struct MaintainArgs {
    #[command(flatten)]
    pub dataset: DatasetArgs,
    /// Files smaller than this many bytes are compacted, into files of at most about this
    /// size (suffixes k, M, G for powers of 1024).
    #[arg(long, value_name = "BYTES", default_value = "100M", value_parser = parse_bytes)]
    pub target_size: u64,
    /// Report what would be compacted; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

fn parse_bytes(s: &str) -> Result<u64, String> {
    let (digits, unit) = match s.trim().char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => s.trim().split_at(i),
        None => (s.trim(), ""),
    };
    let shift = match unit {
        "" => 0,
        "k" | "K" | "KiB" => 10,
        "M" | "MiB" => 20,
        "G" | "GiB" => 30,
        _ => {
            return Err(format!(
                "{s:?}: use a number of bytes, optionally with k, M or G"
            ));
        }
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a number of bytes"))?;
    match n.checked_shl(shift).filter(|v| *v >> shift == n) {
        Some(v) if v > 0 => Ok(v),
        Some(_) => Err("the size must be above 0".into()),
        None => Err(format!("{s:?} is too large")),
    }
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub dataset: DatasetArgs,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

/// MinHash LSH settings. Every contributor of a dataset should use the same ones: state is
/// kept per parameter set, and a run only sees the state of its own set.
#[derive(Debug, Args)]
pub struct NearDupArgs {
    /// Minimum estimated containment for a text to count as a near duplicate of an earlier
    /// one: the share of its word shingles that the earlier text holds. Candidates come from
    /// the LSH bands; this check decides, so unique texts are kept. A longer text that
    /// includes a shorter earlier one is not its copy (its own share held is what counts).
    #[arg(long, value_name = "J", default_value_t = masa_workflows::DEFAULT_NEAR_DUP_THRESHOLD,
          value_parser = parse_unit)]
    pub threshold: f64,
    /// Words per shingle.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub shingle_words: u16,
    /// LSH bands (bands × rows MinHash permutations).
    #[arg(long, value_name = "B", default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub bands: u16,
    /// Rows (permutations) per band.
    #[arg(long, value_name = "R", default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub rows: u16,
}

impl NearDupArgs {
    pub fn options(&self) -> masa_workflows::NearDupOptions {
        masa_workflows::NearDupOptions {
            params: masa_workflows::MinHashParams {
                shingle_words: self.shingle_words.into(),
                bands: self.bands.into(),
                rows: self.rows.into(),
                ..masa_workflows::MinHashParams::default()
            },
            threshold: self.threshold,
        }
    }
}

fn parse_unit(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is not between 0 and 1"))
    }
}
