//! The hand-off from a connector to the pipeline, bounded in items *and* in bytes: a
//! connector that reads 64 MiB files cannot fill memory with them faster than the pipeline
//! consumes them.

use crate::SourceEvent;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

/// An event with the share of the byte budget its body holds; the share returns to the
/// budget when this is dropped (after extraction).
#[derive(Debug)]
pub struct Budgeted {
    pub event: SourceEvent,
    _permit: Option<OwnedSemaphorePermit>,
}

/// A share of the byte budget; returned when dropped.
#[derive(Debug)]
pub struct BudgetShare {
    _permit: Option<OwnedSemaphorePermit>,
}

impl Budgeted {
    /// The event, giving its share back to the budget at once.
    pub fn into_event(self) -> SourceEvent {
        self.event
    }

    /// The event and its share, to be dropped once the event's body is no longer held.
    pub fn split(self) -> (SourceEvent, BudgetShare) {
        (
            self.event,
            BudgetShare {
                _permit: self._permit,
            },
        )
    }
}

/// The pipeline has stopped receiving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

/// What a connector sends events through.
#[derive(Debug, Clone)]
pub struct ItemSender {
    tx: mpsc::Sender<Budgeted>,
    budget: Arc<Semaphore>,
    max_permits: u32,
}

impl ItemSender {
    /// A channel of at most `capacity` events holding at most `budget_bytes` of item bodies
    /// (an item larger than the whole budget waits until it is alone).
    pub fn channel(capacity: usize, budget_bytes: u32) -> (ItemSender, mpsc::Receiver<Budgeted>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let max_permits = budget_bytes.max(1);
        let sender = ItemSender {
            tx,
            budget: Arc::new(Semaphore::new(max_permits as usize)),
            max_permits,
        };
        (sender, rx)
    }

    /// Waits for the event's share of the byte budget (none for a skip).
    async fn reserve(&self, event: &SourceEvent) -> Result<Option<OwnedSemaphorePermit>, Closed> {
        let n = u32::try_from(event.body_len())
            .unwrap_or(u32::MAX)
            .min(self.max_permits);
        if n == 0 {
            return Ok(None);
        }
        let permit = self.budget.clone().acquire_many_owned(n).await;
        permit.map(Some).map_err(|_| Closed)
    }

    /// Sends from async code, waiting for room in the budget.
    pub async fn send(&self, event: SourceEvent) -> Result<(), Closed> {
        let _permit = self.reserve(&event).await?;
        let msg = Budgeted { event, _permit };
        self.tx.send(msg).await.map_err(|_| Closed)
    }

    /// Sends from a blocking thread (`spawn_blocking`), waiting for room in the budget.
    pub fn blocking_send(&self, event: SourceEvent) -> Result<(), Closed> {
        let _permit = tokio::runtime::Handle::current().block_on(self.reserve(&event))?;
        let msg = Budgeted { event, _permit };
        self.tx.blocking_send(msg).map_err(|_| Closed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use masa_record::{Consent, RawItem};
    use std::time::Duration;

    fn item(len: usize) -> SourceEvent {
        SourceEvent::Item(RawItem {
            uri: "u".into(),
            source: "files",
            fetched_at_micros: 1,
            http_status: None,
            content_type: None,
            title: None,
            body: vec![b'x'; len],
            consent: Consent::declared("d"),
            licence: None,
            checkpoint: serde_json::Value::Null.into(),
        })
    }

    #[tokio::test]
    async fn a_full_byte_budget_holds_the_sender_until_an_item_is_released() {
        let (tx, mut rx) = ItemSender::channel(100, 10);
        tx.send(item(8)).await.unwrap();
        // 8 + 8 bytes exceed the 10-byte budget: the second send must wait.
        let second = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send(item(8)).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!second.is_finished(), "the budget did not hold the sender");
        let first = rx.recv().await.unwrap();
        drop(first); // extraction done: its bytes return to the budget
        second.await.unwrap().unwrap();
        assert!(rx.recv().await.is_some());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn blocking_send_from_a_blocking_thread_waits_for_the_budget_too() {
        let (tx, mut rx) = ItemSender::channel(100, 10);
        let producer = tokio::task::spawn_blocking(move || {
            tx.blocking_send(item(8)).unwrap();
            tx.blocking_send(item(8)).unwrap(); // waits until the first is released
        });
        let first = rx.recv().await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !producer.is_finished(),
            "the budget did not hold the blocking sender"
        );
        drop(first);
        producer.await.unwrap();
        assert!(rx.recv().await.is_some());
    }

    #[tokio::test]
    async fn an_item_larger_than_the_budget_still_passes_alone() {
        let (tx, mut rx) = ItemSender::channel(4, 10);
        tx.send(item(1000)).await.unwrap();
        assert!(rx.recv().await.is_some());
    }
}
