//! Test helpers: `Env` runs the real `hub` binary in a fresh temporary directory with the user's config and
//! environment stripped (its own data dir, HOME and XDG dirs), with a hard time limit on every run; `Mcp`
//! talks to one server process directly with an rmcp client.

#![allow(dead_code)]

use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const HUB: &str = env!("CARGO_BIN_EXE_hub");
/// No hub run in the tests may take longer than this; a run that does is a hang, and fails the test.
pub const LIMIT: Duration = Duration::from_secs(60);

pub struct Env {
    pub dir: tempfile::TempDir,
    pub vars: Vec<(String, String)>,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\nstderr:\n{}", self.stdout, self.stderr))
    }
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "exit {}\nstdout:\n{}\nstderr:\n{}", self.code, self.stdout, self.stderr);
        self
    }
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = |s: &str| dir.path().join(s).display().to_string();
        let vars = vec![
            ("HOME".into(), p("home")),
            ("XDG_CONFIG_HOME".into(), p("config")),
            ("XDG_DATA_HOME".into(), p("data")),
            ("XDG_STATE_HOME".into(), p("state")),
            ("HUB_DATA_DIR".into(), p("data/hub")),
            ("HUB_DEMO_CUSTOMERS".into(), "300".into()),
            // Each test its own runtime directory: a gateway's socket is found by this test's commands only.
            ("XDG_RUNTIME_DIR".into(), p("rt")),
            ("NO_COLOR".into(), "1".into()),
            // The scripted models script every call they make; grounding (the planner's lookups put first) is
            // tested on its own, in ground.rs.
            ("HUB_GROUND".into(), "never".into()),
        ];
        Env { dir, vars }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn set(&mut self, key: &str, value: &str) -> &mut Self {
        self.vars.retain(|(k, _)| k != key);
        self.vars.push((key.into(), value.into()));
        self
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).expect("write");
        path
    }

    /// Writes `servers.toml` in the working directory (found by discovery).
    pub fn config(&self, text: &str) -> PathBuf {
        self.write("servers.toml", text)
    }

    pub fn command(&self, args: &[&str]) -> Command {
        self.command_of(Path::new(HUB), args)
    }

    /// `command` for another copy of hub.
    pub fn command_of(&self, program: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(args).current_dir(self.dir.path()).env_clear();
        cmd.env("PATH", std::env::var("PATH").unwrap_or_default());
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
        cmd
    }

    /// Starts hub with `args`, its stdin, stdout and stderr piped to the test.
    pub fn spawn_piped(&self, args: &[&str]) -> std::process::Child {
        let mut cmd = self.command(args);
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn hub")
    }

    /// Runs hub with `args` and `stdin`, killing it (and failing) past `LIMIT`.
    pub fn run_with(&self, args: &[&str], stdin: &str) -> Run {
        let mut cmd = self.command(args);
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let start = Instant::now();
        let mut child = cmd.spawn().expect("spawn hub");
        let mut input = child.stdin.take().expect("stdin");
        let data = stdin.to_string();
        std::thread::spawn(move || {
            let _ = std::io::Write::write_all(&mut input, data.as_bytes());
        });
        let out = wait_limited(child, LIMIT).unwrap_or_else(|| panic!("hub {args:?} ran past {LIMIT:?}: a hang"));
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            elapsed: start.elapsed(),
        }
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, "")
    }

    /// A server entry running `hub server NAME` (this build), for configs.
    pub fn server_entry(name: &str, server: &str) -> String {
        format!("[servers.{name}]\ncommand = \"{HUB}\"\nargs = [\"server\", \"{server}\"]\n")
    }
}

/// The peak resident memory of process `pid` alone, in kB (`VmHWM`; its children are not counted).
pub fn peak_rss_kb(pid: u32) -> u64 {
    proc_status_kb(pid, "VmHWM:")
}

/// The resident memory of process `pid` now, in kB.
pub fn rss_kb(pid: u32) -> u64 {
    proc_status_kb(pid, "VmRSS:")
}

fn proc_status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} for process {pid}"))
}

pub struct Served {
    pub child: std::process::Child,
    pub base: String,
}

impl Served {
    /// SIGTERM, then the exit code once the gateway has wound down (within the hang limit).
    pub fn stop(&mut self) -> Option<i32> {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let exited = eventually(LIMIT, || self.child.try_wait().ok().flatten().is_some());
        assert!(exited, "hub serve did not exit on SIGTERM");
        self.child.wait().unwrap().code()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `hub serve --http 127.0.0.1:0 --no-socket EXTRA…` and waits for the address it prints.
pub fn serve(env: &Env, extra: &[&str]) -> Served {
    let mut with = vec!["--no-socket"];
    with.extend_from_slice(extra);
    serve_socket(env, &with)
}

/// `serve` with its Unix socket as configured by `extra` (the default one when it says nothing).
pub fn serve_socket(env: &Env, extra: &[&str]) -> Served {
    serve_program(env, Path::new(HUB), extra)
}

/// `serve_socket` run by another copy of hub (`program`).
pub fn serve_program(env: &Env, program: &Path, extra: &[&str]) -> Served {
    let mut args = vec!["serve", "--http", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let mut cmd = env.command_of(program, &args);
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("hub serve: http://") {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(30)).expect("hub serve did not start");
    Served { child, base: format!("http://{addr}") }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap()
}

/// The pids of the gateway's server processes, as its `/status` reports them.
pub async fn server_pids(c: &reqwest::Client, s: &Served) -> Vec<u32> {
    let status: Value = c.get(format!("{}/status", s.base)).send().await.unwrap().json().await.unwrap();
    let servers = status["servers"].as_array().unwrap().iter();
    servers.filter_map(|x| x["pid"].as_u64()).map(|p| p as u32).collect()
}

/// A REST `POST /call` of `tool` with `arguments` to the gateway at `base`: the answer's body.
pub async fn rest_call(c: &reqwest::Client, base: &str, tool: &str, arguments: Value) -> Value {
    let answer = c.post(format!("{base}/call")).json(&serde_json::json!({"tool": tool, "arguments": arguments}));
    answer.send().await.unwrap().json().await.unwrap()
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// Waits for `child` up to `limit`, reading its stdout and stderr meanwhile (a child writing more than a pipe
/// holds would otherwise block); on timeout kills it and returns None.
pub fn wait_limited(mut child: std::process::Child, limit: Duration) -> Option<Output> {
    fn drain(pipe: Option<impl std::io::Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    }
    let (stdout, stderr) = (drain(child.stdout.take()), drain(child.stderr.take()));
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let (stdout, stderr) = (stdout.join().ok()?, stderr.join().ok()?);
                return Some(Output { status, stdout, stderr });
            }
            Ok(None) if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            _ => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// A config for a registry started inside the test process, with pins off: such a registry keeps its pins in the
/// test process's data dir — the user's, which no test may write — and knows the shipped servers' definitions only
/// when it runs as `hub` itself, so a tool changed with the source would be withheld by what an earlier run pinned.
pub fn unpinned(mut config: hub::config::Config) -> hub::config::Config {
    config.pin = hub::config::PinMode::Off;
    config
}

/// Whether process `pid` still exists (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

/// Polls `f` every 20 ms until it is true or `limit` passes.
pub fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

/// One business server process driven directly by an rmcp client.
pub struct Mcp {
    pub service: RunningService<RoleClient, ()>,
    pub child: tokio::process::Child,
}

impl Mcp {
    pub async fn start(data_dir: &Path, server: &str) -> Mcp {
        let mut cmd = tokio::process::Command::new(HUB);
        cmd.args(["server", server])
            .env("HUB_DATA_DIR", data_dir)
            .env("HUB_DEMO_CUSTOMERS", "300")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("spawn server");
        let (stdout, stdin) = (child.stdout.take().unwrap(), child.stdin.take().unwrap());
        let service = tokio::time::timeout(LIMIT, ().serve((stdout, stdin)))
            .await
            .expect("initialize timed out")
            .expect("initialize");
        Mcp { service, child }
    }

    pub async fn call(&self, tool: &str, args: Value) -> CallToolResult {
        let Value::Object(args) = args else { panic!("args must be an object") };
        let params = CallToolRequestParams::new(tool.to_string()).with_arguments(args);
        tokio::time::timeout(LIMIT, self.service.peer().call_tool(params)).await.expect("call timed out").expect("call")
    }

    /// The structured result of a successful call.
    pub async fn ok(&self, tool: &str, args: Value) -> Value {
        let r = self.call(tool, args.clone()).await;
        assert_ne!(r.is_error, Some(true), "{tool}({args}) failed: {r:?}");
        r.structured_content.clone().unwrap_or_else(|| panic!("{tool} gave no structured content: {r:?}"))
    }

    /// The error text of a call that must fail with isError.
    pub async fn err(&self, tool: &str, args: Value) -> String {
        let r = self.call(tool, args.clone()).await;
        assert_eq!(r.is_error, Some(true), "{tool}({args}) should fail: {r:?}");
        hub::output::result_text(&r)
    }

    pub async fn stop(mut self) {
        let _ = self.service.cancel().await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

/// hub running on a pseudo-terminal (its controlling terminal), driven like a person at a keyboard.
pub struct Pty {
    pub child: std::process::Child,
    master: std::fs::File,
    pub screen: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Pty {
    pub fn spawn(env: &Env, args: &[&str]) -> Pty {
        use std::os::fd::{FromRawFd, OwnedFd};
        use std::os::unix::process::CommandExt;
        let (mut master, mut slave) = (0, 0);
        // SAFETY: openpty writes two valid descriptors on success.
        let rc =
            unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) };
        assert_eq!(rc, 0, "openpty failed");
        let mut cmd = env.command(args);
        cmd.env("TERM", "xterm");
        // SAFETY: each is a fresh duplicate of the slave descriptor, owned by the Stdio it is given to.
        unsafe {
            cmd.stdin(std::process::Stdio::from(OwnedFd::from_raw_fd(libc::dup(slave))));
            cmd.stdout(std::process::Stdio::from(OwnedFd::from_raw_fd(libc::dup(slave))));
            cmd.stderr(std::process::Stdio::from(OwnedFd::from_raw_fd(libc::dup(slave))));
            cmd.pre_exec(|| {
                libc::setsid();
                libc::ioctl(0, libc::TIOCSCTTY as _, 0);
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn on pty");
        // SAFETY: closing our copy of the slave; the child has its own.
        unsafe { libc::close(slave) };
        // SAFETY: master is a valid descriptor we own from here on.
        let master = unsafe { std::fs::File::from_raw_fd(master) };
        let screen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut reader = master.try_clone().unwrap();
        let sink = screen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = std::io::Read::read(&mut reader, &mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Pty { child, master, screen }
    }

    pub fn send(&mut self, keys: &str) {
        std::io::Write::write_all(&mut self.master, keys.as_bytes()).unwrap();
    }

    /// Waits until the screen shows `text` (after position `from`), up to 30 s.
    #[track_caller]
    pub fn expect(&self, text: &str) {
        let ok = eventually(LIMIT, || self.screen.lock().unwrap().contains(text));
        assert!(ok, "the screen never showed {text:?}:\n{}", self.screen.lock().unwrap());
    }

    /// Waits until the prompt has been drawn `n` times (the line editor is reading again).
    #[track_caller]
    pub fn prompt(&self, n: usize) {
        let ok = eventually(LIMIT, || self.count("hub> ") >= n);
        assert!(ok, "prompt {n} never came:\n{}", self.screen.lock().unwrap());
    }

    /// Waits until the prompt has been drawn after the last `text` on the screen (redraws of the line while
    /// editing also draw the prompt, so a count alone can be reached before the command's output is done).
    #[track_caller]
    pub fn prompt_after(&self, text: &str) {
        let drawn = || {
            let screen = self.screen.lock().unwrap();
            screen.rfind(text).is_some_and(|at| screen[at..].contains("hub> "))
        };
        assert!(eventually(LIMIT, drawn), "no prompt after {text:?}:\n{}", self.screen.lock().unwrap());
    }

    pub fn count(&self, text: &str) -> usize {
        self.screen.lock().unwrap().matches(text).count()
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A process spoken to in raw JSON-RPC lines over stdio (to test what no client library would send).
pub struct RawSession {
    pub child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    rx: std::sync::mpsc::Receiver<String>,
}

impl RawSession {
    pub fn spawn(mut cmd: Command) -> RawSession {
        use std::io::BufRead;
        let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("spawn");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        RawSession { child, stdin, rx }
    }

    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        std::io::Write::write_all(stdin, format!("{line}\n").as_bytes()).expect("write");
    }

    /// The next message, within `LIMIT`.
    pub fn recv(&self) -> Value {
        let line = self.rx.recv_timeout(LIMIT).expect("no message within the limit");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    /// A legacy (2025-06-18) handshake: initialize, its answer, initialized. Returns the answer.
    pub fn initialize(&mut self) -> Value {
        self.send(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#);
        let answer = self.recv();
        self.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        answer
    }

    /// Closes stdin (the peer should exit).
    pub fn close(&mut self) {
        self.stdin = None;
    }
}
