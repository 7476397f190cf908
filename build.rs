//! Link flags of the `hub` binary: relative relocations packed (DT_RELR, glibc ≥ 2.36, binutils ≥ 2.38), so the
//! dynamic loader applies the ~48 000 of this position-independent binary from a small bitmap instead of a 1 MB
//! table at every start — every command and every server process pays for that (BENCHMARKS.md, issue 20).

fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
