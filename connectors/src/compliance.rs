//! The compliance check every connector passes in its tests: each item carries provenance
//! and consent evidence, and checkpoints only move forward (resuming after any event yields
//! exactly the events that followed it).

use crate::{BuildContext, ConnectorError, ItemSender, SourceConfig, SourceEvent};

/// Builds, checks and runs `config` from `resume` to the end, collecting its events.
pub async fn collect(
    config: &SourceConfig,
    ctx: &BuildContext,
    resume: Option<serde_json::Value>,
) -> Result<Vec<SourceEvent>, ConnectorError> {
    let mut c = config.build(ctx)?;
    c.check().await?;
    let (tx, mut rx) = ItemSender::channel(16, 1 << 20);
    let run = tokio::spawn(c.run(resume, tx));
    let mut out = Vec::new();
    while let Some(e) = rx.recv().await {
        out.push(e.into_event());
    }
    run.await.map_err(|e| ConnectorError::Config {
        kind: "compliance",
        message: format!("connector task failed: {e}"),
    })??;
    Ok(out)
}

async fn events(
    config: &SourceConfig,
    ctx: &BuildContext,
    resume: Option<serde_json::Value>,
) -> Vec<SourceEvent> {
    collect(config, ctx, resume)
        .await
        .expect("the source checks and runs")
}

fn key(e: &SourceEvent) -> (String, serde_json::Value) {
    match e {
        SourceEvent::Item(i) => (i.uri.clone(), i.checkpoint.to_value()),
        SourceEvent::Skip(s) => (s.uri.clone(), s.checkpoint.to_value()),
    }
}

/// Runs `config` to the end, then resumes it from every event's checkpoint, and panics with
/// a precise message on any violation. For tests; `kind` is the expected record `source`.
pub async fn assert_source_compliance(config: &SourceConfig, ctx: &BuildContext, kind: &str) {
    let all = events(config, ctx, None).await;
    assert!(!all.is_empty(), "the source emitted nothing");
    for e in &all {
        if let SourceEvent::Item(i) = e {
            assert!(!i.uri.is_empty(), "an item has no uri");
            assert_eq!(i.source, kind, "{}: wrong source kind", i.uri);
            assert!(i.fetched_at_micros > 0, "{}: no fetch time", i.uri);
            let c = &i.consent;
            let evidence =
                c.declaration.is_some() || c.robots.is_some() || c.tdm_reserved.is_some();
            assert!(evidence, "{}: no consent evidence", i.uri);
        }
    }
    let keys: Vec<(String, serde_json::Value)> = all.iter().map(key).collect();
    for (k, (uri, cp)) in keys.iter().enumerate() {
        let rest: Vec<String> = events(config, ctx, Some(cp.clone()))
            .await
            .iter()
            .map(|e| key(e).0)
            .collect();
        let want: Vec<String> = keys[k + 1..].iter().map(|(u, _)| u.clone()).collect();
        assert_eq!(
            rest, want,
            "resuming after event {k} ({uri}) must yield exactly the events after it"
        );
    }
}
