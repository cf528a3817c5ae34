//! Bad input ends with one clear message naming the input, a non-zero exit, and the
//! dataset exactly as it was.

mod common;

use common::Env;
use std::collections::BTreeMap;
use std::path::Path;

/// Every file under `dir` with its size and content hash: "exactly as before" made checkable.
fn snapshot(dir: &Path) -> BTreeMap<String, (u64, String)> {
    let mut out = BTreeMap::new();
    if !dir.exists() {
        return out;
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                out.insert(
                    p.strip_prefix(dir).unwrap().display().to_string(),
                    (bytes.len() as u64, masa_record::sha256_hex(&bytes)),
                );
            }
        }
    }
    out
}

/// A dataset with some committed content, to check that failures leave it untouched.
fn seeded(env: &Env) -> String {
    let src = env.path("seed");
    common::write_docs(&src, 5);
    let ds = env.path("data").display().to_string();
    env.ok(&[
        "contribute",
        "--files",
        src.to_str().unwrap(),
        "--dataset",
        &ds,
    ]);
    ds
}

fn contribute_fails(env: &Env, input: &Path, ds: &str, extra: &[&str]) -> String {
    let before = snapshot(Path::new(ds));
    let mut args = vec![
        "contribute",
        "--files",
        input.to_str().unwrap(),
        "--dataset",
        ds,
    ];
    args.extend_from_slice(extra);
    let err = env.fails(&args);
    assert_eq!(
        snapshot(Path::new(ds)),
        before,
        "the dataset changed after: {err}"
    );
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "one message: {err}"
    );
    err
}

#[test]
fn missing_folder_is_named() {
    let env = Env::new();
    let ds = seeded(&env);
    let missing = env.path("no-such-folder");
    let err = contribute_fails(&env, &missing, &ds, &[]);
    assert!(
        err.contains("no-such-folder") && err.contains("no such file or folder"),
        "{err}"
    );
}

#[test]
fn empty_folder_has_nothing_to_contribute() {
    let env = Env::new();
    let ds = seeded(&env);
    let empty = env.path("empty");
    std::fs::create_dir(&empty).unwrap();
    std::fs::write(empty.join("photo.jpg"), [0xff, 0xd8]).unwrap();
    let err = contribute_fails(&env, &empty, &ds, &[]);
    assert!(err.contains("contains no supported files"), "{err}");
}

#[test]
fn non_utf8_file_is_named_with_the_offset_and_nothing_is_committed() {
    let env = Env::new();
    let ds = seeded(&env);
    let src = env.path("mixed");
    common::write_docs(&src, 3);
    std::fs::write(src.join("zz-latin1.txt"), b"na\xefve caf\xe9").unwrap();
    let err = contribute_fails(&env, &src, &ds, &[]);
    assert!(
        err.contains("zz-latin1.txt") && err.contains("not valid UTF-8"),
        "{err}"
    );
    assert!(err.contains("offset 2"), "{err}");
}

#[test]
fn unreadable_file_is_named() {
    let env = Env::new();
    let ds = seeded(&env);
    let src = env.path("locked");
    common::write_docs(&src, 2);
    let target = src.join("secret.txt");
    if nix_is_root() {
        // Permissions do not stop root; /proc/self/mem is a regular file no one can read
        // from offset 0.
        std::os::unix::fs::symlink("/proc/self/mem", &target).unwrap();
    } else {
        std::fs::write(&target, "hidden").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o000)).unwrap();
    }
    let err = contribute_fails(&env, &src, &ds, &[]);
    assert!(
        err.contains("secret.txt") && err.contains("cannot read"),
        "{err}"
    );
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .is_some_and(|l| l.split_whitespace().nth(1) == Some("0"))
}

#[test]
fn oversized_html_file_is_refused_by_the_documented_limit() {
    let env = Env::new();
    let ds = seeded(&env);
    let src = env.path("huge");
    std::fs::create_dir(&src).unwrap();
    // A sparse 2 GiB file: costs no disk, and must be refused without being read.
    let f = std::fs::File::create(src.join("page.html")).unwrap();
    f.set_len(2 << 30).unwrap();
    let err = contribute_fails(&env, &src, &ds, &[]);
    assert!(
        err.contains("page.html") && err.contains("67108864-byte limit"),
        "{err}"
    );
    assert!(err.contains("--max-file-bytes"), "{err}");
}

#[test]
fn malformed_jsonl_lines_are_reported_by_number_and_the_rest_ingested() {
    let env = Env::new();
    let input = env.path("posts.jsonl");
    std::fs::write(
        &input,
        "{\"text\": \"first good line\"}\n{\"text\": \"second\"\n{\"txt\": \"wrong field\"}\n{\"text\": \"last good line\"}\n",
    )
    .unwrap();
    let ds = env.path("data").display().to_string();
    let out = env.masa(&[
        "contribute",
        "--files",
        input.to_str().unwrap(),
        "--dataset",
        &ds,
        "--json",
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let err = common::stderr(&out);
    assert!(err.contains("posts.jsonl:2:"), "{err}");
    assert!(
        err.contains("posts.jsonl:3: missing string field `text`"),
        "{err}"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["stats"]["rows_committed"], 2);
    assert_eq!(v["stats"]["drops"]["input:malformed_jsonl"], 2);
}

#[test]
#[allow(unsafe_code)]
fn two_gigabyte_jsonl_is_streamed_in_bounded_memory() {
    use std::io::{Seek, SeekFrom, Write};
    let env = Env::new();
    let input = env.path("big.jsonl");
    let mut f = std::fs::File::create(&input).unwrap();
    writeln!(f, "{{\"text\": \"before the giant line\"}}").unwrap();
    // A 2 GiB line of zero bytes (a sparse hole), then one more good line.
    f.seek(SeekFrom::Current(2 << 30)).unwrap();
    writeln!(f).unwrap();
    writeln!(f, "{{\"text\": \"after the giant line\"}}").unwrap();
    drop(f);
    let ds = env.path("data").display().to_string();
    let mut child = env
        .command(&[
            "contribute",
            "--files",
            input.to_str().unwrap(),
            "--dataset",
            &ds,
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = std::io::read_to_string(child.stdout.take().unwrap()).unwrap();
    let err = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
    assert!(child.wait().unwrap().success(), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["stats"]["rows_committed"], 2);
    assert_eq!(v["stats"]["drops"]["input:line_too_long"], 1);
    assert!(
        err.contains("big.jsonl:2: line of 2147483648 bytes"),
        "{err}"
    );
    // SAFETY: getrusage only writes into the struct we pass, which is plain data.
    let max_rss_kib = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_CHILDREN, &mut u), 0);
        u.ru_maxrss
    };
    assert!(
        max_rss_kib < 512 * 1024,
        "peak RSS {max_rss_kib} KiB: the file was not streamed"
    );
}

#[test]
fn unknown_dataset_scheme_is_refused_with_the_accepted_forms() {
    let env = Env::new();
    let src = env.path("docs");
    common::write_docs(&src, 1);
    let err = env.fails(&[
        "contribute",
        "--files",
        src.to_str().unwrap(),
        "--dataset",
        "ftp://host/data",
    ]);
    assert!(
        err.contains("unknown dataset scheme `ftp`") && err.contains("s3://bucket/prefix"),
        "{err}"
    );
    let err = env.fails(&["search", "x", "--dataset", "ftp://host/data"]);
    assert!(err.contains("unknown dataset scheme"), "{err}");
}

#[test]
fn a_folder_that_is_not_a_masa_dataset_is_left_alone() {
    let env = Env::new();
    let src = env.path("docs");
    common::write_docs(&src, 2);
    let other = env.path("my-photos");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("holiday.jpg"), b"jpeg").unwrap();
    let other_s = other.display().to_string();
    let err = contribute_fails(&env, &src, &other_s, &[]);
    assert!(err.contains("is not a Masa dataset"), "{err}");
    assert!(!other.join("table").exists());
    let err = env.fails(&["stats", "--dataset", &other_s]);
    assert!(err.contains("is not a Masa dataset"), "{err}");
}

#[test]
fn reading_a_missing_dataset_says_how_to_create_one() {
    let env = Env::new();
    let missing = env.path("nothing-here").display().to_string();
    for cmd in [
        &["stats", "--dataset", &missing][..],
        &["search", "x", "--dataset", &missing][..],
    ] {
        let err = env.fails(cmd);
        assert!(
            err.contains("no Masa dataset at") && err.contains("masa contribute"),
            "{err}"
        );
    }
    assert!(
        !Path::new(&missing).exists(),
        "a read must not create the dataset"
    );
}

#[test]
fn contributing_without_init_says_to_run_init() {
    let env = Env::new();
    let src = env.path("docs");
    common::write_docs(&src, 1);
    let ds = env.path("data").display().to_string();
    let out = env
        .command(&[
            "contribute",
            "--files",
            src.to_str().unwrap(),
            "--dataset",
            &ds,
        ])
        .env("MASA_HOME", env.path("fresh-home"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        common::stderr(&out).contains("masa init"),
        "{}",
        common::stderr(&out)
    );
}
