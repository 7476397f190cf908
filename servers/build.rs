//! The servers' build identity (`hub_servers::BUILD`): a hash of this crate's sources and manifest, the
//! workspace's lock file and the profile. The `hub` and `hub-server` binaries both carry it; a `hub-server`
//! linked against other server code (one `cargo run` did not rebuild) sees a different one from hub's and hands
//! over to `hub server NAME` instead of serving old code.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

fn main() {
    let mut files = vec![PathBuf::from("Cargo.toml"), PathBuf::from("build.rs"), PathBuf::from("../Cargo.lock")];
    sources(Path::new("src"), &mut files);
    files.sort();
    let mut hash = DefaultHasher::new();
    for f in &files {
        f.hash(&mut hash);
        std::fs::read(f).unwrap_or_default().hash(&mut hash);
        println!("cargo:rerun-if-changed={}", f.display());
    }
    for var in ["PROFILE", "OPT_LEVEL", "DEBUG", "TARGET"] {
        std::env::var(var).unwrap_or_default().hash(&mut hash);
    }
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rustc-env=HUB_SERVERS_BUILD={:016x}", hash.finish());
}

/// Every file under `dir`, recursively.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() { sources(&path, out) } else { out.push(path) }
    }
}
