//! `hub-server`, the binary that carries the built-in servers alone: hub runs its `hub server NAME` entries from
//! it (the built-in five, the test kits) and they still end with hub; one of another build hands over to hub's
//! own `hub server NAME` — same process, same pipes — instead of serving old code; bad arguments exit 2. Where
//! the C library's archives are, it is linked statically (build.rs).

use crate::util::{
    Env, HUB, LIMIT, RawSession, alive, client, eventually, rest_call, rt, serve, serve_program, server_pids,
};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Command;

const HUB_SERVER: &str = env!("CARGO_BIN_EXE_hub-server");

fn exe(pid: u32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/exe")).ok()
}

fn canonical(path: &str) -> PathBuf {
    std::fs::canonicalize(path).unwrap()
}

/// `hub-server crm` on a fresh data dir, with the build hub would expect and hub to hand over to.
fn server(data: &std::path::Path, expect: Option<&str>, fallback: bool) -> RawSession {
    let mut cmd = Command::new(HUB_SERVER);
    cmd.arg("crm").env("HUB_DATA_DIR", data).env("HUB_DEMO_CUSTOMERS", "300");
    if let Some(build) = expect {
        cmd.env("HUB_SERVER_BUILD", build);
    }
    if fallback {
        cmd.env("HUB_SERVER_FALLBACK", HUB);
    }
    RawSession::spawn(cmd)
}

fn get_customer(s: &mut RawSession) -> Value {
    s.send(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "get_customer", "arguments": {"id": "cus_000001"}}}).to_string());
    s.recv()
}

#[test]
fn hub_runs_the_built_in_servers_from_the_server_binary_and_they_end_with_it() {
    let env = Env::new();
    let mut s = serve(&env, &[]);
    let servers = rt().block_on(async {
        let c = client();
        let tools: Value = c.get(format!("{}/tools", s.base)).send().await.unwrap().json().await.unwrap();
        assert_eq!(tools["count"], 21, "{tools}");
        let ok = rest_call(&c, &s.base, "crm__get_customer", json!({"id": "cus_000001"})).await;
        assert_eq!(ok["result"]["customer"]["name"], "John Smith", "{ok}");
        server_pids(&c, &s).await
    });
    assert_eq!(servers.len(), 5, "the five built-in servers: {servers:?}");
    for p in &servers {
        assert_eq!(exe(*p), Some(canonical(HUB_SERVER)), "server {p} runs from hub-server");
    }
    assert_eq!(s.stop(), Some(0));
    for p in servers {
        assert!(eventually(LIMIT, || !alive(p)), "server {p} outlived hub");
    }
}

#[test]
fn without_a_server_binary_beside_it_hub_runs_hub_server_name() {
    let env = Env::new();
    let bin = env.path("bin");
    std::fs::create_dir(&bin).unwrap();
    let alone = bin.join("hub");
    if std::fs::hard_link(HUB, &alone).is_err() {
        std::fs::copy(HUB, &alone).unwrap();
    }
    env.config(&format!("[servers.crm]\ncommand = \"{}\"\nargs = [\"server\", \"crm\"]\n", alone.display()));
    let mut s = serve_program(&env, &alone, &["--no-socket"]);
    let servers = rt().block_on(server_pids(&client(), &s));
    assert_eq!(servers.len(), 1, "hub started its one server");
    let own = Some(std::fs::canonicalize(&alone).unwrap());
    assert_eq!(exe(servers[0]), own, "the server is hub's own `hub server crm`");
    assert_eq!(s.stop(), Some(0));
    assert!(eventually(LIMIT, || !alive(servers[0])), "the server outlived hub");
}

#[test]
fn a_server_binary_of_another_build_hands_over_to_hub_server() {
    let data = tempfile::tempdir().unwrap();
    let mut stale = server(data.path(), Some("0000000000000000"), true);
    assert_eq!(stale.initialize()["result"]["serverInfo"]["name"], "crm");
    assert_eq!(exe(stale.child.id()), Some(canonical(HUB)), "the same process, now hub's `hub server crm`");
    assert_eq!(get_customer(&mut stale)["result"]["structuredContent"]["customer"]["name"], "John Smith");
    stale.close();
    assert!(stale.child.wait().unwrap().success());

    let build = Command::new(HUB_SERVER).arg("--build").output().unwrap();
    let build = String::from_utf8(build.stdout).unwrap();
    let mut current = server(data.path(), Some(build.trim()), true);
    current.initialize();
    assert_eq!(exe(current.child.id()), Some(canonical(HUB_SERVER)), "the same build serves itself");
    assert_eq!(get_customer(&mut current)["result"]["structuredContent"]["customer"]["name"], "John Smith");
    current.close();
    assert!(current.child.wait().unwrap().success());

    let out = Command::new(HUB_SERVER)
        .arg("crm")
        .env("HUB_DATA_DIR", data.path())
        .env("HUB_SERVER_BUILD", "0000000000000000")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("built from other server code"), "{said}");
}

#[test]
fn the_server_binary_refuses_bad_arguments_with_exit_2() {
    for args in [&["nope"][..], &[], &["crm", "tickets"], &["--help"]] {
        let out = Command::new(HUB_SERVER).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.starts_with("hub-server: "), "{args:?}: {said}");
    }
    let out = Command::new(HUB_SERVER).arg("nope").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown server 'nope'"));
    let not_utf8 = <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"crm\xff");
    let out = Command::new(HUB_SERVER).arg(not_utf8).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Whether the ELF executable at `path` names a program interpreter (a dynamic loader): a `PT_INTERP` entry among
/// its program headers.
fn has_interpreter(path: &str) -> bool {
    let elf = std::fs::read(path).unwrap();
    assert_eq!(&elf[..5], b"\x7fELF\x02", "a 64-bit ELF file");
    let u16_at = |o: usize| usize::from(u16::from_le_bytes([elf[o], elf[o + 1]]));
    let table = usize::try_from(u64::from_le_bytes(elf[0x20..0x28].try_into().unwrap())).unwrap();
    let (size, count) = (u16_at(0x36), u16_at(0x38));
    (0..count).any(|i| u32::from_le_bytes(elf[table + i * size..][..4].try_into().unwrap()) == 3)
}

/// Where `cc` finds `file` (an absolute path), if it does — what build.rs asks before linking statically.
fn archive(file: &str) -> Option<String> {
    let out = Command::new("cc").arg(format!("-print-file-name={file}")).output().ok()?;
    let path = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (path.starts_with('/') && std::path::Path::new(&path).exists()).then_some(path)
}

#[test]
fn the_server_binary_is_linked_statically_where_the_c_library_archives_are() {
    assert!(has_interpreter(HUB), "hub itself stays dynamically linked");
    let archives = ["libc.a", "libm.a", "libgcc_eh.a", "libgcc.a"].map(archive);
    if option_env!("HUB_SERVER_DYNAMIC").is_some() || archives.iter().any(Option::is_none) {
        eprintln!("NOTE: hub-server is linked dynamically here ({archives:?}); nothing to check");
        assert!(has_interpreter(HUB_SERVER));
        return;
    }
    assert!(!has_interpreter(HUB_SERVER), "hub-server is a static PIE: no program interpreter");
    // And it serves.
    let data = tempfile::tempdir().unwrap();
    let mut s = server(data.path(), None, false);
    assert_eq!(s.initialize()["result"]["serverInfo"]["name"], "crm");
    assert_eq!(get_customer(&mut s)["result"]["structuredContent"]["customer"]["name"], "John Smith");
    s.close();
    assert!(s.child.wait().unwrap().success());
}
