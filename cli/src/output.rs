//! Printing results for people (and as JSON for scripts).

use masa_index::Hit;
use masa_workflows::{
    AuditReport, CheckpointInfo, Consistency, ContributeSummary, DatasetStats, DedupReport,
    VerifiedProof,
};
use std::collections::BTreeMap;
use std::io::IsTerminal;

fn mb(bytes: u64) -> String {
    match bytes {
        0..1_000 => format!("{bytes} B"),
        1_000..1_000_000 => format!("{:.1} kB", bytes as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", bytes as f64 / 1e6),
        _ => format!("{:.2} GB", bytes as f64 / 1e9),
    }
}

fn drops_line(drops: &BTreeMap<String, u64>) -> String {
    drops
        .iter()
        .map(|(r, n)| format!("{r} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn contribute(s: &ContributeSummary, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(s)?);
        return Ok(());
    }
    let st = &s.stats;
    println!(
        "{} {} records ({}) to {} in {} commit(s){}",
        if s.resumed {
            "resumed and contributed"
        } else {
            "contributed"
        },
        st.rows_committed,
        mb(st.bytes_committed),
        s.dataset,
        st.commits,
        s.table_version
            .map(|v| format!(", table version {v}"))
            .unwrap_or_default()
    );
    if st.dropped() > 0 {
        println!("dropped {}: {}", st.dropped(), drops_line(&st.drops));
    }
    println!("contributor {}", s.contributor);
    Ok(())
}

/// A dry run's counts, then the crawl totals and a line per host.
pub fn preview(s: &masa_workflows::PreviewSummary, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(s)?);
        return Ok(());
    }
    println!(
        "dry run: {} pages would be contributed ({}), nothing written",
        s.items,
        mb(s.bytes)
    );
    if !s.skips.is_empty() {
        println!("skipped: {}", drops_line(&s.skips));
    }
    if let Some(src) = &s.source {
        crawl_lines(src);
    }
    Ok(())
}

/// A crawl's summary: the contribution, then the crawl totals and a line per host.
pub fn crawl(s: &ContributeSummary, json: bool) -> anyhow::Result<()> {
    contribute(s, json)?;
    if json {
        return Ok(());
    }
    if let Some(src) = &s.stats.source {
        crawl_lines(src);
    }
    Ok(())
}

fn crawl_lines(src: &serde_json::Value) {
    let n = |v: &serde_json::Value, k: &str| v[k].as_u64().unwrap_or(0);
    println!(
        "crawl: {} pages fetched, {} queued, {} in {:.1} s",
        n(src, "fetched"),
        n(src, "queued"),
        mb(n(src, "bytes")),
        src["seconds"].as_f64().unwrap_or(0.0)
    );
    if let Some(hosts) = src["hosts"].as_object() {
        for (host, h) in hosts {
            let skipped: Vec<String> = h["skipped"]
                .as_object()
                .map(|m| m.iter().map(|(r, c)| format!("{r} {c}")).collect())
                .unwrap_or_default();
            println!(
                "  {host}: {} fetched, {} records, {}{}",
                n(h, "fetched"),
                n(h, "records"),
                mb(n(h, "bytes")),
                if skipped.is_empty() {
                    String::new()
                } else {
                    format!(", skipped {}", skipped.join(", "))
                }
            );
        }
    }
}

fn micros_to_rfc3339(m: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(m as i128 * 1000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| m.to_string())
}

fn highlight(snippet: &str, ranges: &[(usize, usize)], tty: bool) -> String {
    let (on, off) = if tty {
        ("\x1b[1m", "\x1b[0m")
    } else {
        ("", "")
    };
    let mut out = String::new();
    let mut at = 0;
    for &(a, b) in ranges {
        if a < at
            || b > snippet.len()
            || !snippet.is_char_boundary(a)
            || !snippet.is_char_boundary(b)
        {
            continue;
        }
        out.push_str(&snippet[at..a]);
        out.push_str(on);
        out.push_str(&snippet[a..b]);
        out.push_str(off);
        at = b;
    }
    out.push_str(&snippet[at..]);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub fn search(hits: &[Hit], json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(hits)?);
        return Ok(());
    }
    if hits.is_empty() {
        println!("no hits");
        return Ok(());
    }
    let tty = std::io::stdout().is_terminal();
    for (i, h) in hits.iter().enumerate() {
        println!(
            "{}. {}  (score {:.2})",
            i + 1,
            h.doc.title.as_deref().unwrap_or("(untitled)"),
            h.score
        );
        println!("   {}", h.doc.uri);
        println!("   {}", highlight(&h.snippet, &h.highlights, tty));
        println!(
            "   contributor {}  source {}  lang {}  fetched {}  row {}/{}",
            &h.doc.contributor[..h.doc.contributor.len().min(16)],
            h.doc.source,
            h.doc.lang.as_deref().unwrap_or("-"),
            micros_to_rfc3339(h.doc.fetched_at_micros),
            h.doc.batch_id,
            h.doc.row_in_batch
        );
    }
    Ok(())
}

pub fn maintain(r: &masa_workflows::MaintainReport, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(r)?);
        return Ok(());
    }
    let verb = if r.dry_run {
        "would compact"
    } else {
        "compacted"
    };
    for c in &r.compacted {
        match (&c.skipped, &c.path) {
            (Some(why), _) => println!("skipped {} files: {why}; rerun to compact them", c.files),
            (None, Some(path)) => println!(
                "{verb} {} files ({} batches, {}) into {path} ({})",
                c.files,
                c.batches,
                mb(c.bytes_before),
                mb(c.bytes_after.unwrap_or(0))
            ),
            (None, None) => println!(
                "{verb} {} files ({} batches, {})",
                c.files,
                c.batches,
                mb(c.bytes_before)
            ),
        }
    }
    println!(
        "data files    {} -> {}{}",
        r.files_before,
        r.files_after,
        if r.compacted.is_empty() {
            " (no small files to compact)"
        } else {
            ""
        }
    );
    if let Some(v) = r.checkpoint {
        println!("checkpoint    version {v}");
    }
    println!("took          {:.1}s", r.seconds);
    Ok(())
}

pub fn stats(s: &DatasetStats, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(s)?);
        return Ok(());
    }
    println!("dataset       {}", s.dataset);
    println!(
        "table version {}",
        s.table_version
            .map(|v| v.to_string())
            .unwrap_or_else(|| "-".into())
    );
    println!("records       {}", s.records);
    println!("text          {}", mb(s.text_bytes));
    println!("data files    {} ({})", s.data_files, mb(s.data_bytes));
    println!("commits       {}", s.commits);
    println!("contributors  {}", s.contributors.len());
    for (k, n) in &s.contributors {
        println!("  {k}  {n} records");
    }
    let dropped: u64 = s.drops.values().sum();
    println!("dropped       {dropped}");
    for (r, n) in &s.drops {
        println!("  {r}  {n}");
    }
    if s.removed_by_dedup > 0 {
        println!("removed later by masa dedup: {}", s.removed_by_dedup);
    }
    Ok(())
}

pub fn dedup(r: &DedupReport, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(r)?);
        return Ok(());
    }
    println!("dataset     {}", r.dataset);
    println!("job         {}", r.job);
    println!("stages      {} (shard {})", r.stages.join(", "), r.shard);
    println!(
        "documents   {} (table version {})",
        r.documents, r.table_version
    );
    if let Some(b) = r.state_bytes_per_document {
        println!("state       {b:.0} bytes of signatures per document");
    }
    if let (Some(c), Some(n)) = (r.clusters, r.removed) {
        let verb = if r.dry_run {
            "would be removed"
        } else {
            "to remove"
        };
        println!("clusters    {c}");
        println!("documents {verb}: {n}");
        for (k, n) in &r.removed_by_contributor {
            println!("  {k}  {n}");
        }
        // Every cluster with the evidence of each removal; --json has all of them.
        const SHOWN: usize = 20;
        for c in r.cluster_list.iter().take(SHOWN) {
            println!(
                "  keep {} (batch {} row {}, {})",
                c.kept.record_id, c.kept.batch_id, c.kept.row, c.kept.contributor
            );
            for e in &c.removed {
                println!(
                    "    remove {} (batch {} row {}, {}): {} match of {}, Jaccard ≈ {:.2}, containment ≈ {:.2}",
                    e.record_id,
                    e.batch_id,
                    e.row,
                    e.contributor,
                    e.kind,
                    e.matched.record_id,
                    e.similarity.jaccard,
                    e.similarity.containment
                );
            }
        }
        if r.cluster_list.len() > SHOWN {
            println!(
                "  ... and {} more clusters (--json lists them all)",
                r.cluster_list.len() - SHOWN
            );
        }
    }
    if r.stages.contains(&"filter") {
        println!("removed from the table: {} rows", r.rows_removed_from_table);
    }
    for (stage, secs) in &r.seconds {
        println!("  {stage:<11} {secs:.2} s");
    }
    Ok(())
}

pub fn checkpoint(c: &CheckpointInfo, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(c)?);
        return Ok(());
    }
    print!("{}", c.note);
    if c.pending > 0 {
        eprintln!(
            "({} leaves appended after this checkpoint are not signed yet)",
            c.pending
        );
    }
    Ok(())
}

pub fn consistency(c: &Consistency, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(c)?);
    } else {
        println!(
            "consistent: log {} only grew from {} to {} leaves ({} proof hashes checked)",
            c.origin, c.old_size, c.new_size, c.proof_hashes
        );
    }
    Ok(())
}

pub fn verified(v: &VerifiedProof, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(v)?);
    } else {
        println!(
            "valid: record {} is row {} of batch {} signed by {}, leaf {} of log {} at size {}",
            v.record_id, v.row, v.batch_id, v.contributor, v.log_index, v.origin, v.log_size
        );
        println!(
            "checkpoint signed by {} (trust it as far as you trust that key, or check it \
             with --dataset)",
            v.checkpoint_signers.join(", ")
        );
    }
    Ok(())
}

pub fn audit(r: &AuditReport, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(r)?);
        return Ok(());
    }
    println!("dataset    {}", r.dataset);
    println!(
        "log        {} at size {} (root {})",
        r.origin,
        r.log_size,
        &r.log_root[..16]
    );
    println!(
        "audited    {} batches, {} records, {} in {:.1} s (shard {})",
        r.batches_audited,
        r.records_audited,
        mb(r.bytes_hashed),
        r.seconds,
        r.shard
    );
    if !r.checkpoints_checked.is_empty() {
        println!(
            "consistent with earlier checkpoints at sizes {:?}",
            r.checkpoints_checked
        );
    }
    for (k, n) in &r.credited {
        println!("  credited   {k}  {n} records");
    }
    for (k, n) in &r.duplicates {
        println!("  duplicate  {k}  {n} records (an earlier leaf holds them)");
    }
    match r.epoch {
        Some(n) => {
            println!("weights    epoch {n}, {} contributors", r.weights.len());
            for (k, w) in &r.weights {
                println!("  weight     {k}  {w}");
            }
        }
        None => println!(
            "weights    none ({})",
            r.weights_note.as_deref().unwrap_or("no epoch to score")
        ),
    }
    if r.refetched > 0 || !r.refetch_unreachable.is_empty() {
        println!(
            "refetched  {} pages ({} unreachable)",
            r.refetched,
            r.refetch_unreachable.len()
        );
    }
    if r.findings.is_empty() {
        println!("findings   none");
    }
    for f in &r.findings {
        let at = [
            f.batch_id.as_ref().map(|b| format!("batch {b}")),
            f.file.clone(),
            f.row.map(|r| format!("row {r}")),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
        println!("FINDING    [{}] {at}: {}", f.check, f.message);
    }
    if let Some((path, leaf)) = &r.published {
        println!("report     signed, stored at {path}, log leaf {leaf}");
    }
    Ok(())
}
