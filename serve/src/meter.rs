//! Usage metering: each key's use of each dataset, appended to its log as signed `usage`
//! protocol events that pay the fee into the reward pool.

use super::AppState;

impl AppState {
    /// Adds `u` to the use of `dataset` by `key` not yet on the log.
    pub(super) fn add_use(&self, dataset: String, key: String, u: Use) {
        let mut usage = self.usage.lock().expect("no thread panics holding it");
        let v = usage.entry((dataset, key)).or_default();
        v.queries += u.queries;
        v.records += u.records;
        v.bytes += u.bytes;
    }
}

/// How use is metered: every `interval`, each key's use of each dataset since the last
/// event becomes a `usage` protocol event signed with `signer`, paying `price_per_query`
/// a query into the reward pool.
#[derive(Debug, Clone)]
pub struct Meter {
    pub signer: std::path::PathBuf,
    pub interval: std::time::Duration,
    pub price_per_query: masa_rewards::Amount,
}

/// Use not yet on the log, by (dataset, key id).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Use {
    pub(super) queries: u64,
    pub(super) records: u64,
    pub(super) bytes: u64,
}

/// The key a request was made with (set as a request extension by the guard), for a
/// handler that meters what it streams after answering.
#[derive(Debug, Clone)]
pub(super) struct KeyId(pub(super) String);

/// Records a handler returned, for metering (set as a response extension).
#[derive(Debug, Clone, Copy)]
pub(super) struct Returned(pub(super) u64);

/// Appends each (dataset, key)'s use since the last flush as a usage event. Use whose event
/// could not be appended is kept for the next flush, so none is lost.
pub(super) async fn flush(state: &AppState, m: &Meter) {
    let pending = std::mem::take(&mut *state.usage.lock().expect("no thread panics holding it"));
    for ((dataset, key), u) in pending {
        let fee = masa_rewards::Amount(m.price_per_query.0.saturating_mul(u128::from(u.queries)));
        let target = masa_workflows::ProtocolTarget {
            dataset: dataset.clone(),
            storage: state.o.storage.clone(),
            key: m.signer.clone(),
        };
        let event = masa_rewards::Event::Usage {
            key: key.clone(),
            queries: u.queries,
            records: u.records,
            bytes: u.bytes,
            fee,
        };
        if let Err(e) = masa_workflows::submit_event(&target, event).await {
            tracing::warn!(dataset = %dataset, key = %key, error = %e, "usage not metered yet (kept for the next interval; --meter-interval 0 turns metering off)");
            state.add_use(dataset, key, u);
        }
    }
}
