//! A network of participants for the protocol tests: each a masa home of its own, all
//! acting on one dataset.

use super::Env;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub struct Net {
    pub envs: BTreeMap<&'static str, (Env, String)>,
    pub ds: String,
    _dir: tempfile::TempDir,
}

impl Net {
    pub fn new(names: &[&'static str]) -> Net {
        Self::build(names, None)
    }

    /// The participants' dataset on the test S3 server, under a prefix of its own.
    pub fn on_s3(names: &[&'static str], s3: &super::S3) -> Net {
        Self::build(names, Some(s3))
    }

    fn build(names: &[&'static str], s3: Option<&super::S3>) -> Net {
        let dir = tempfile::tempdir().unwrap();
        let envs = names
            .iter()
            .map(|n| {
                let env = s3.map_or_else(Env::new, Env::for_s3);
                let out = env.ok(&["init"]);
                let key = out
                    .lines()
                    .find_map(|l| l.strip_prefix("contributor public key: "))
                    .unwrap()
                    .to_owned();
                (*n, (env, key))
            })
            .collect();
        let ds = match s3 {
            Some(s3) => {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos();
                format!("s3://{}/protocol-{}-{nanos}", s3.bucket, std::process::id())
            }
            None => dir.path().join("ds").to_str().unwrap().to_owned(),
        };
        Net {
            envs,
            ds,
            _dir: dir,
        }
    }

    pub fn key(&self, who: &str) -> String {
        self.envs[who].1.clone()
    }

    pub fn args<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut a = args.to_vec();
        a.extend(["--dataset", self.ds.as_str()]);
        a
    }

    pub fn ok(&self, who: &str, args: &[&str]) -> String {
        self.envs[who].0.ok(&self.args(args))
    }

    pub fn fails(&self, who: &str, args: &[&str]) -> String {
        self.envs[who].0.fails(&self.args(args))
    }

    pub fn json(&self, who: &str, args: &[&str]) -> Value {
        self.envs[who].0.json(&self.args(args))
    }

    /// Starts `masa args` as `who` without waiting.
    pub fn spawn(&self, who: &str, args: &[&str]) -> std::process::Child {
        self.envs[who]
            .0
            .command(&self.args(args))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    pub fn key_file(&self, who: &str) -> PathBuf {
        self.envs[who].0.path("home").join("contributor.key")
    }

    pub fn contribute(&self, who: &str, files: &Path, extra: &[&str]) {
        let f = files.to_str().unwrap();
        let mut a = vec!["contribute", "--files", f];
        a.extend(extra);
        self.ok(who, &a);
    }

    /// Genesis, 1000 MASA for everyone, then the stakes. The epoch is as long as the
    /// genesis and the stakes, so epoch 0 (every batch so far) ends with the last stake.
    pub fn start(&self, workers: &[&str], validators: &[(&str, u64)]) {
        self.start_with(workers, validators, &[]);
    }

    /// [`Net::start`] with more `init-protocol` arguments.
    pub fn start_with(&self, workers: &[&str], validators: &[(&str, u64)], extra: &[&str]) {
        let epoch_length = (1 + workers.len() + validators.len()) as u64;
        let allocs: Vec<String> = self
            .envs
            .values()
            .map(|(_, k)| format!("{k}=1000"))
            .collect();
        let len = epoch_length.to_string();
        let mut a = vec!["init-protocol", "--epoch-length", len.as_str()];
        for x in &allocs {
            a.extend(["--allocate", x.as_str()]);
        }
        a.extend(extra);
        self.ok("creator", &a);
        for w in workers {
            self.ok(w, &["stake", "50", "--role", "worker"]);
        }
        for (v, s) in validators {
            self.ok(v, &["stake", &s.to_string(), "--role", "validator"]);
        }
    }

    /// Every validator audits; returns each report.
    pub fn audit(&self, validators: &[&str]) -> Vec<Value> {
        validators
            .iter()
            .map(|v| self.json(v, &["audit"]))
            .collect()
    }

    /// Closes the oldest ended epoch and returns `masa rewards --json` for it.
    pub fn close(&self) -> Value {
        let out = self.json("creator", &["epoch", "close"]);
        assert_eq!(out["status"], "closed", "{out}");
        self.json("creator", &["rewards"])
    }
}

/// A contributor's incentive (ppm), zero when no validator weighted it at all.
pub fn incentive(rewards: &Value, key: &str) -> u128 {
    rewards["result"]["payouts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["key"] == key)
        .map_or(0, |p| num(&p["incentive"]))
}

pub fn payout<'a>(rewards: &'a Value, key: &str) -> &'a Value {
    rewards["result"]["payouts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["key"] == key)
        .unwrap_or_else(|| panic!("no payout for {key} in {rewards}"))
}

pub fn num(v: &Value) -> u128 {
    match v {
        Value::String(s) => s.parse().unwrap(),
        Value::Number(n) => n.as_u64().unwrap().into(),
        _ => panic!("not a number: {v}"),
    }
}

pub const MASA: u128 = 1_000_000_000;
