//! Link flags of the package's binaries (BENCHMARKS.md, issue 20).
//!
//! - `hub` and `hub-server`: relative relocations packed (DT_RELR, glibc ≥ 2.36, binutils ≥ 2.38), so the dynamic
//!   loader applies the ~48 000 of this position-independent binary from a small bitmap instead of a 1 MB table at
//!   every start — every command and every server process pays for that.
//! - `hub-server` alone: linked statically (a static PIE) on Linux with glibc when the C library's archives are
//!   there (`libc6-dev` has them). A server process then maps no shared C library, loader or libm — pages the
//!   kernel maps around every page touched, most of them never used: crm's RSS 8.4 → 7.1 MiB, no slower per call.
//!   rustc links the standard library against `-lc -lm -lgcc_s` whatever the binary; here those names resolve, for
//!   this binary only, to linker scripts in OUT_DIR that name the archives instead. `hub` stays dynamic: it
//!   resolves host names, which a static glibc can only do with the very glibc it was built with.
//!   `HUB_SERVER_DYNAMIC=1` at build time, another target, or archives not found: `hub-server` is linked as `hub`.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=HUB_SERVER_DYNAMIC");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    if let Some(dir) = static_libraries() {
        println!("cargo:rustc-link-arg-bin=hub-server=-static-pie");
        // `-L` applies to every `-l` of the command line, and is searched before the compiler's own directories.
        println!("cargo:rustc-link-arg-bin=hub-server=-L{}", dir.display());
    }
}

/// A directory where `libc.so`, `libm.so` and `libgcc_s.so` are linker scripts naming the static archives, when
/// `hub-server` is to be linked statically and can be.
fn static_libraries() -> Option<PathBuf> {
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let glibc = var("CARGO_CFG_TARGET_ENV") == "gnu" && var("TARGET") == var("HOST");
    let already = var("CARGO_CFG_TARGET_FEATURE").split(',').any(|f| f == "crt-static");
    if !glibc || already || !var("HUB_SERVER_DYNAMIC").is_empty() {
        return None;
    }
    let [c, m, eh, gcc] = ["libc.a", "libm.a", "libgcc_eh.a", "libgcc.a"].map(archive);
    let (c, m, eh, gcc) = (c?, m?, eh?, gcc?);
    let dir = PathBuf::from(var("OUT_DIR")).join("static");
    std::fs::create_dir_all(&dir).ok()?;
    let group = |files: &[&Path]| {
        let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        format!("/* hub's build.rs: static archives for hub-server */\nGROUP ( {} )\n", names.join(" "))
    };
    std::fs::write(dir.join("libc.so"), group(&[&c, &eh, &gcc])).ok()?;
    std::fs::write(dir.join("libgcc_s.so"), group(&[&eh, &gcc])).ok()?;
    std::fs::write(dir.join("libm.so"), group(&[&m])).ok()?;
    Some(dir)
}

/// Where `cc` (rustc's linker driver here) finds `file`, when it does.
fn archive(file: &str) -> Option<PathBuf> {
    let out = std::process::Command::new("cc").arg(format!("-print-file-name={file}")).output().ok()?;
    let path = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    (path.is_absolute() && path.exists()).then_some(path)
}
