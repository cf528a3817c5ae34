//! Progress display: a live line on a terminal, plain log lines otherwise.

use crate::RunStats;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use masa_connectors::SourceProgress;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How a run reports progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// An `indicatif` line on stderr, redrawn in place.
    Bar,
    /// A log line every few seconds (for pipes, CI and log files).
    Log,
    Quiet,
}

impl ProgressMode {
    /// `Bar` when stderr is a terminal, `Log` otherwise.
    pub fn detect() -> Self {
        if std::io::stderr().is_terminal() {
            ProgressMode::Bar
        } else {
            ProgressMode::Log
        }
    }
}

fn line(stats: &RunStats, source: Option<&dyn SourceProgress>, started: Instant) -> String {
    let s = stats.snapshot();
    let secs = started.elapsed().as_secs_f64().max(1e-3);
    let source = source
        .map(|p| format!("; {}", p.line()))
        .unwrap_or_default();
    format!(
        "{} inputs, {} rows in {} commits ({:.1} MB), {} dropped, {:.0} inputs/s{source}",
        s.items,
        s.rows_committed,
        s.commits,
        s.bytes_committed as f64 / 1e6,
        s.dropped(),
        s.items as f64 / secs
    )
}

/// Reports progress until the returned guard is dropped.
pub(crate) struct Reporter {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Reporter {
    pub(crate) fn start(
        mode: ProgressMode,
        stats: Arc<RunStats>,
        source: Option<Arc<dyn SourceProgress>>,
    ) -> Self {
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let started = Instant::now();
        let task = match mode {
            ProgressMode::Quiet => None,
            ProgressMode::Bar => Some(tokio::spawn(async move {
                let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                        .expect("static template"),
                );
                loop {
                    bar.set_message(line(&stats, source.as_deref(), started));
                    bar.tick();
                    tokio::select! {
                        _ = &mut stopped => break,
                        _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    }
                }
                bar.finish_and_clear();
            })),
            ProgressMode::Log => Some(tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = &mut stopped => break,
                        _ = tokio::time::sleep(Duration::from_secs(5)) => {
                            tracing::info!("{}", line(&stats, source.as_deref(), started));
                        }
                    }
                }
            })),
        };
        Reporter {
            stop: Some(stop),
            task,
        }
    }

    pub(crate) async fn finish(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}
