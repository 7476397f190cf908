//! The servers' build identity (`hub_servers::BUILD`): a hash of this crate's sources and manifest, the
//! workspace's lock file and the profile. The `hub` and `hub-server` binaries both carry it; a `hub-server`
//! linked against other server code (one `cargo run` did not rebuild) sees a different one from hub's and hands
//! over to `hub server NAME` instead of serving old code.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

const INPUTS: [&str; 4] = ["Cargo.toml", "build.rs", "../Cargo.lock", "src"];

fn main() {
    let mut files = Vec::new();
    for input in INPUTS {
        // A directory is watched whole: cargo reruns this when any file under it changes.
        println!("cargo:rerun-if-changed={input}");
        sources(Path::new(input), &mut files);
    }
    files.sort();
    let mut hash = DefaultHasher::new();
    for f in &files {
        f.hash(&mut hash);
        std::fs::read(f).unwrap_or_default().hash(&mut hash);
    }
    for var in ["PROFILE", "OPT_LEVEL", "DEBUG", "TARGET"] {
        std::env::var(var).unwrap_or_default().hash(&mut hash);
    }
    println!("cargo:rustc-env=HUB_SERVERS_BUILD={:016x}", hash.finish());
}

/// `path` if it is a file, else every file under it, recursively.
fn sources(path: &Path, out: &mut Vec<PathBuf>) {
    if !path.is_dir() {
        return out.push(path.to_path_buf());
    }
    for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
        sources(&entry.path(), out);
    }
}
