//! Links `masa` with packed relative relocations (`-z pack-relative-relocs`, DT_RELR) when
//! the linker and the C library can: the position-independent binary otherwise carries
//! 4 MB of relocation entries that the dynamic loader reads at every start (a crawl's peak
//! RSS went from 29 to 22 MB; BENCHMARKS.md, "Web crawl"). A small program is linked and
//! run with the flag first; an older toolchain (binutils before 2.38, glibc before 2.36),
//! another target or `MASA_NO_RELR=1` leaves the link as it was.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=MASA_NO_RELR");
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    let (target, host) = (env::var("TARGET"), env::var("HOST"));
    let native_gnu =
        matches!((&target, &host), (Ok(t), Ok(h)) if t == h && t.contains("linux-gnu"));
    if !native_gnu || env::var_os("MASA_NO_RELR").is_some() {
        return;
    }
    let Some(out) = env::var_os("OUT_DIR").map(PathBuf::from) else {
        return;
    };
    // A table of pointers makes relative relocations; the program checks they were applied.
    let src = out.join("relr_probe.c");
    let probe = "static const char *words[] = {\"packed\", \"relocations\"};\n\
                 int main(void) { return words[1][0] == 'r' ? 0 : 1; }\n";
    if std::fs::write(&src, probe).is_err() {
        return;
    }
    let exe = out.join("relr_probe");
    // The linker cargo uses for this target when one is set, else the C compiler driver
    // rustc itself calls.
    let linker = env::var("RUSTC_LINKER").unwrap_or_else(|_| "cc".into());
    let linked = Command::new(&linker)
        .args(["-fPIE", "-pie", "-Wl,-z,pack-relative-relocs", "-o"])
        .arg(&exe)
        .arg(&src)
        .output()
        .is_ok_and(|o| o.status.success());
    if linked
        && Command::new(&exe)
            .output()
            .is_ok_and(|o| o.status.success())
    {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
