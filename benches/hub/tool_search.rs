//! `cargo bench --bench hub -- tool_search` (issue 22): how well and how fast tool search finds tools among real
//! ones — the captured catalog of 23 third-party servers (429 tools) plus the five business servers.
//! - recall@1/@5/@10 on the queries the ranking was tuned on and on the held-out ones (`tests/it/search_recall.rs`);
//! - prompt tokens (4 bytes a token, as `hub doctor` estimates them): every tool definition in every request vs the
//!   definitions of the 5 tools found for a question;
//! - search latency in-process (the index built, then one search) at ~470 and ~3 000 tools (the catalog 7 times),
//!   and `hub tools search` as a whole process at ~450 and ~3 000 tools (26 and 152 servers): cold (it starts
//!   them) and attached to a running hub.

use super::search_recall::{SETS, cases, evaluate, index};
use super::{HUB, run_measured, summary};
use std::process::Command;
use std::time::{Duration, Instant};

const RUNS: usize = 20;

pub fn tool_search() {
    println!("## tool_search: recall, prompt tokens and latency over the captured catalog + the business servers");
    let small = index(1);
    for file in SETS {
        let c = cases(file);
        let e = evaluate(&small, &c);
        println!(
            "{file}: {} queries over {} tools: recall@1 {:.3} @5 {:.3} @10 {:.3} ({} not in the first 5)",
            c.len(),
            small.entries().len(),
            e.at[0],
            e.at[1],
            e.at[2],
            e.misses.len()
        );
    }
    use hub::agent::tools::{function_tool, tokens_of};
    let tokens = |entries: &mut dyn Iterator<Item = &hub::registry::Entry>| -> usize {
        tokens_of(&entries.map(|e| function_tool(e, false)).collect::<Vec<_>>())
    };
    let all = tokens(&mut small.entries().iter());
    let mut found: Vec<usize> = cases("queries.txt")
        .iter()
        .map(|(q, _)| {
            let hits = small.searcher().search(q, 5, |_| true);
            tokens(&mut hits.iter().map(|h| &small.entries()[h.index]))
        })
        .collect();
    found.sort_unstable();
    println!(
        "prompt tokens for tool definitions: all {} tools {all}; the 5 found for a question p50 {} max {}",
        small.entries().len(),
        found[found.len() / 2],
        found[found.len() - 1]
    );

    for copies in [1, 7] {
        let t = Instant::now();
        let idx = index(copies);
        let built = t.elapsed();
        let t = Instant::now();
        idx.searcher();
        let searcher = t.elapsed();
        let queries = cases("queries.txt");
        let times: Vec<Duration> = queries
            .iter()
            .map(|(q, _)| {
                let t = Instant::now();
                std::hint::black_box(idx.searcher().search(q, 10, |_| true));
                t.elapsed()
            })
            .collect();
        let n = idx.entries().len();
        println!("{n} tools: index built {:.2} ms, search index {:.2} ms", ms(built), ms(searcher));
        summary(&format!("{n} tools: one search in-process"), times);
    }
    whole_process(1);
    whole_process(7);
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `hub tools search` as users run it, over replayed servers (the catalog `copies` times): cold and attached.
fn whole_process(copies: usize) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = String::new();
    let (mut servers, mut tools) = (0, 0);
    for (name, listed) in super::search_recall::servers(copies) {
        servers += 1;
        tools += listed.len();
        if hub_servers::SERVERS.contains(&name.as_str()) {
            config.push_str(&format!("[servers.{name}]\ncommand = \"{HUB}\"\nargs = [\"server\", \"{name}\"]\n"));
            continue;
        }
        let file = super::search_recall::catalog_file(&name);
        config.push_str(&format!(
            "[servers.{name}]\ncommand = \"{HUB}\"\nargs = [\"server\", \"replay\"]\nenv = {{ HUB_REPLAY = \"{}\" }}\n",
            file.display()
        ));
    }
    std::fs::write(dir.path().join("servers.toml"), config).unwrap();
    let run = || {
        let mut c = Command::new(HUB);
        c.args(["tools", "search", "who reviewed my pull request", "--json"])
            .env("HUB_DATA_DIR", dir.path())
            .env("XDG_RUNTIME_DIR", dir.path().join("rt"))
            .current_dir(dir.path());
        run_measured(&mut c)
    };
    let what = format!("hub tools search, {tools} tools of {servers} servers");
    let cold: Vec<_> = (0..=RUNS).map(|_| run()).skip(1).collect();
    summary(&format!("{what}, cold (starts them) — wall"), cold.iter().map(|u| u.wall).collect());
    summary(&format!("{what}, cold — cpu (with its servers)"), cold.iter().map(|u| u.cpu).collect());
    let sock = dir.path().join("rt/hub/hub.sock");
    let (mut hub, _) = super::serve::start_with(HUB, dir.path(), &["--socket", sock.to_str().unwrap()]);
    let attached: Vec<_> = (0..=RUNS).map(|_| run()).skip(1).collect();
    summary(&format!("{what}, attached — wall"), attached.iter().map(|u| u.wall).collect());
    let _ = hub.kill();
    let _ = hub.wait();
}
