//! `masa connectors`: every connector kind, whether the credentials it takes are present,
//! and a check of a source with one cheap request (the connector's own `check`, which runs
//! before anything is written in a contribution too).

use crate::{Config, WorkflowError};
use masa_connectors::{BuildContext, KINDS, KindInfo, SourceConfig};
use serde::Serialize;
use std::path::Path;

/// One connector kind as `masa connectors` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct KindStatus {
    #[serde(flatten)]
    pub info: KindInfo,
    /// Each credential variable and how many keys it holds now (environment, else the
    /// masa configuration). Never the keys.
    pub keys: Vec<(String, usize)>,
    /// It can run with what is present.
    pub usable: bool,
}

/// The build context of the contributor in `home`, or a neutral one when `home` has no
/// configuration yet (listing and checking need no key).
fn context(home: &Path) -> BuildContext {
    match Config::load(home) {
        Ok(c) => BuildContext {
            declaration: c.declaration,
            credentials: c.credentials,
        },
        Err(_) => BuildContext {
            declaration: crate::DEFAULT_DECLARATION.into(),
            credentials: Default::default(),
        },
    }
}

/// Every connector kind, in the registry's order.
pub fn connector_kinds(home: &Path) -> Vec<KindStatus> {
    let ctx = context(home);
    KINDS
        .iter()
        .map(|info| {
            let keys: Vec<(String, usize)> = info
                .credentials
                .iter()
                .map(|var| (var.to_string(), masa_connectors::api::keys(&ctx, var).len()))
                .collect();
            let usable = !info.credentials_required || keys.iter().any(|(_, n)| *n > 0);
            KindStatus {
                info: *info,
                keys,
                usable,
            }
        })
        .collect()
}

/// Builds `source` and runs its check (one cheap request for API sources); writes nothing.
pub async fn check_source(home: &Path, source: &SourceConfig) -> Result<(), WorkflowError> {
    let mut c = source.build(&context(home))?;
    c.check().await?;
    Ok(())
}
