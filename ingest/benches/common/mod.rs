//! What the extraction benchmarks share: CPU time of this process, and trafilatura run over
//! the same files as the reference extractor.

use std::path::Path;

pub fn cpu_now() -> f64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes only into the plain-data struct we pass.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let s = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    s(u.ru_utime) + s(u.ru_stime)
}

/// trafilatura's text of each file and the CPU seconds it spent in `extract()` alone, when
/// the project's `.venv` (or `MASA_TRAFILATURA_PYTHON`) has it.
pub fn trafilatura<P: AsRef<Path>>(paths: &[P]) -> Option<(Vec<String>, f64)> {
    let py = std::env::var("MASA_TRAFILATURA_PYTHON")
        .unwrap_or_else(|_| format!("{}/../.venv/bin/python", env!("CARGO_MANIFEST_DIR")));
    if !Path::new(&py).exists() {
        eprintln!("extract_web: no {py}; trafilatura not compared");
        return None;
    }
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/trafilatura_extract.py"
    );
    let mut child = std::process::Command::new(&py)
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .ok()?;
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        for p in paths {
            // A child that fails to start closes its input: its exit status says why.
            if writeln!(stdin, "{}", p.as_ref().display()).is_err() {
                break;
            }
        }
    }
    let out = child.wait_with_output().ok()?;
    if !out.status.success() {
        eprintln!("extract_web: trafilatura did not run (is it installed in {py}?)");
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let texts = v["texts"]
        .as_array()?
        .iter()
        .map(|t| t.as_str().unwrap_or("").to_owned())
        .collect();
    Some((texts, v["cpu_secs"].as_f64()?))
}
