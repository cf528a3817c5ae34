//! The contributor's home (`~/.masa/`, or `$MASA_HOME`): configuration and signing key.

use crate::WorkflowError;
use masa_provenance::ContributorKey;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The declaration recorded as consent evidence when the configuration does not set one.
pub const DEFAULT_DECLARATION: &str =
    "I hold the rights to this data and permit its use for training AI models.";

/// `$MASA_HOME`, else `~/.masa`.
pub fn masa_home() -> Result<PathBuf, WorkflowError> {
    if let Some(h) = std::env::var_os("MASA_HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(h));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".masa"))
        .ok_or_else(|| WorkflowError::Other("neither MASA_HOME nor HOME is set: set MASA_HOME to a folder for masa's key and configuration".into()))
}

/// `config.toml` in the masa home.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The signing key file, relative to the masa home unless absolute.
    pub key_file: PathBuf,
    /// Recorded with every record contributed from a declared source (local files).
    pub declaration: String,
    /// API credentials by the environment variable they stand in for
    /// (`MASA_GITHUB_TOKEN = "..."`; several keys separated by commas). The environment
    /// wins when both are set. The masa home is private (`masa init` makes it 0700).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub credentials: std::collections::BTreeMap<String, String>,
}

/// What `masa init` did.
#[derive(Debug)]
pub struct InitOutcome {
    pub home: PathBuf,
    pub public_key: String,
    pub created: bool,
}

impl Config {
    fn path(home: &Path) -> PathBuf {
        home.join("config.toml")
    }

    /// Loads the configuration from `home`.
    pub fn load(home: &Path) -> Result<Self, WorkflowError> {
        let path = Self::path(home);
        let text = std::fs::read_to_string(&path).map_err(|e| WorkflowError::Config {
            path: path.display().to_string(),
            reason: if e.kind() == std::io::ErrorKind::NotFound {
                "not found: run `masa init` first".into()
            } else {
                e.to_string()
            },
        })?;
        toml::from_str(&text).map_err(|e| WorkflowError::Config {
            path: path.display().to_string(),
            reason: format!("{e}; fix it or recreate it with `masa init --force`"),
        })
    }

    pub fn key_path(&self, home: &Path) -> PathBuf {
        home.join(&self.key_file)
    }

    pub fn load_key(&self, home: &Path) -> Result<ContributorKey, WorkflowError> {
        Ok(ContributorKey::load(&self.key_path(home))?)
    }

    /// Creates `home` with a configuration and a fresh key. An existing setup is kept
    /// (and reported) unless `force`.
    pub fn init(home: &Path, force: bool) -> Result<InitOutcome, WorkflowError> {
        let cfg_path = Self::path(home);
        if cfg_path.exists() && !force {
            let cfg = Self::load(home)?;
            let key = cfg.load_key(home).map_err(|e| WorkflowError::Config {
                path: cfg_path.display().to_string(),
                reason: format!(
                    "{e}; if the key is lost, `masa init --force` creates a new identity"
                ),
            })?;
            return Ok(InitOutcome {
                home: home.into(),
                public_key: key.public_hex(),
                created: false,
            });
        }
        std::fs::create_dir_all(home).map_err(|e| WorkflowError::Config {
            path: home.display().to_string(),
            reason: format!("cannot create: {e}"),
        })?;
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(home, std::fs::Permissions::from_mode(0o700));
        }
        let cfg = Config {
            key_file: PathBuf::from("contributor.key"),
            declaration: DEFAULT_DECLARATION.into(),
            credentials: Default::default(),
        };
        // A key without a configuration (an init interrupted in between) is kept: it is
        // the contributor's identity. `--force` replaces it.
        let key_path = cfg.key_path(home);
        let key = if key_path.exists() && !force {
            ContributorKey::load(&key_path)?
        } else {
            let key = ContributorKey::generate()?;
            key.save(&key_path, force)?;
            key
        };
        let text = format!(
            "# Masa contributor configuration (created by `masa init`).\n{}",
            toml::to_string(&cfg).expect("config serializes")
        );
        // Temp file and rename: an interrupted init never leaves half a configuration.
        let tmp = cfg_path.with_extension("toml.tmp");
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, &cfg_path))
            .map_err(|e| WorkflowError::Config {
                path: cfg_path.display().to_string(),
                reason: e.to_string(),
            })?;
        Ok(InitOutcome {
            home: home.into(),
            public_key: key.public_hex(),
            created: true,
        })
    }
}
