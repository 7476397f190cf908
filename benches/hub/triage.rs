//! The triage scenarios of `benches/hub.rs`: `triage` (200 items from a file, 3 turns each against a scripted
//! endpoint answering after 100 ms, `--concurrency 16`), `triage_scale` (the same at 10 000 items and
//! `--concurrency 64`, then offline triage of 10 000 open tickets taken from the tickets server with `--from`).
//! Wall time against the ideal (items × turns × 100 ms / concurrency), CPU and peak RSS of hub and its children.

use super::{HUB, model, ms, procs, reap, scripted};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A run's wall and CPU time (hub and its children) and peak resident memory, hub's own and its largest child's
/// (VmHWM sampled every 50 ms: wait4's ru_maxrss would count the bench's own pages, inherited at fork).
struct Measured {
    wall: Duration,
    cpu: Duration,
    hub_kb: u64,
    child_kb: u64,
}

fn measured(cmd: &mut Command) -> Measured {
    let start = Instant::now();
    #[allow(clippy::zombie_processes)] // reaped below
    let child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("spawn");
    let pid = child.id();
    let (mut hub_kb, mut child_kb) = (0, 0);
    loop {
        hub_kb = hub_kb.max(procs::status_kb(pid, "VmHWM:"));
        for c in procs::children(pid) {
            child_kb = child_kb.max(procs::status_kb(c, "VmHWM:"));
        }
        if let Some((cpu, _)) = reap(pid, libc::WNOHANG, cmd) {
            return Measured { wall: start.elapsed(), cpu, hub_kb, child_kb };
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Measured {
    fn memory(&self) -> String {
        format!("peak RSS hub {} MiB, largest server {} MiB", self.hub_kb / 1024, self.child_kb / 1024)
    }
}

/// `n` items through the scripted model, `concurrency` at a time; prints the figures.
fn batch(n: usize, concurrency: usize) {
    println!(
        "## triage: {n} items, scripted model 100 ms per turn, 3 turns each (2 tool calls), --concurrency {concurrency}"
    );
    let dir = tempfile::tempdir().unwrap();
    let m = model::Model::start_fn(Duration::from_millis(100), |req| {
        let turns = req["messages"].as_array().unwrap().iter().filter(|m| m["role"] == "assistant").count();
        match turns {
            0 => model::calls(&[("a", "crm__get_customer", r#"{"id":"cus_000001"}"#)]),
            1 => model::calls(&[("b", "payments__get_subscription", r#"{"customer_id":"cus_000001"}"#)]),
            _ => model::answer("billing, high: renewal failed; ask for a new card"),
        }
    });
    let items: String = (0..n).map(|i| format!("{{\"id\":\"t{i}\",\"text\":\"ticket {i}\"}}\n")).collect();
    std::fs::write(dir.path().join("items.jsonl"), items).unwrap();
    let c = concurrency.to_string();
    let args = ["triage", "items.jsonl", "--out", "out.jsonl", "--concurrency", &c, "--quiet"];
    let u = measured(&mut scripted(dir.path(), &m.url, &args));
    let lines = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap().lines().count();
    assert_eq!(lines, n);
    let ideal = n.div_ceil(concurrency) as f64 * 3.0 * 0.1;
    println!(
        "wall {} (ideal {ideal:.2} s → {:.3}× the ideal), CPU {} (hub + servers), {}, max model requests in flight {}",
        ms(u.wall),
        u.wall.as_secs_f64() / ideal,
        ms(u.cpu),
        u.memory(),
        m.max_in_flight()
    );
}

pub fn triage() {
    batch(200, 16);
}

/// The offline decision of every open ticket of a dataset big enough to have 10 000.
fn offline_queue() {
    let dir = tempfile::tempdir().unwrap();
    // About 0.27 open tickets per customer in the demo data.
    let customers = "38000";
    let cmd = |args: &[&str]| {
        let mut c = Command::new(HUB);
        c.args(args)
            .env("HUB_DATA_DIR", dir.path())
            .env("HUB_DEMO_CUSTOMERS", customers)
            .env_remove("OPENAI_API_KEY")
            .env_remove("OPENAI_BASE_URL")
            .current_dir(dir.path());
        c
    };
    let seeded = Instant::now();
    measured(&mut cmd(&["tools"]));
    let seeded = seeded.elapsed();
    let args = ["triage", "--from", "tickets__list_tickets", "--args", r#"{"status":"open"}"#, "--out", "q.jsonl"];
    let u = measured(&mut cmd(&[&args[..], &["--quiet"]].concat()));
    let n = std::fs::read_to_string(dir.path().join("q.jsonl")).unwrap().lines().count();
    println!(
        "## triage offline: every open ticket of a {customers}-customer dataset, --from tickets__list_tickets, built-in decision, --concurrency 4"
    );
    println!(
        "{n} tickets in {} ({:.0} items/s; seeding the data first took {}), CPU {} (hub + servers), {}",
        ms(u.wall),
        n as f64 / u.wall.as_secs_f64(),
        ms(seeded),
        ms(u.cpu),
        u.memory()
    );
    let started = Instant::now();
    measured(&mut cmd(&["triage", "report", "q.jsonl", "--report", "q.html"]));
    let size = std::fs::metadata(dir.path().join("q.html")).map_or(0, |m| m.len());
    println!("its report (terminal and HTML page, {} KiB): {}", size / 1024, ms(started.elapsed()));
}

pub fn triage_scale() {
    batch(10_000, 64);
    offline_queue();
}
