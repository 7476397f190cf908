//! Code mode under random scripts (issue 23): hundreds of scripts stitched from hostile pieces — endless loops,
//! allocation bombs, recursion, broken syntax, the plumbing itself abused, calls with bad arguments — run in one
//! process, one after another. Each must end with a value or a clear error within its limits; none may take the
//! process down, exceed the call cap, or leave the engine unable to run the next one.

use crate::util::HUB;
use hub::agent::policy::{Mode, Policy};
use hub::code::{Limits, run};
use std::time::Duration;

const PIECES: &[&str] = &[
    "while (true) {}",
    "for (;;) { Math.random(); }",
    "return 1",
    "throw new Error('x')",
    "throw 1",
    "await kit.echo({ text: 'a' })",
    "await kit.echo({ text: 1 })",
    "await kit.nope()",
    "await nope()",
    "'x'.repeat(1e9)",
    "new Array(1e8).fill(0)",
    "let s = 'ab'; while (true) s += s",
    "function r() { return r(); } r()",
    "JSON.parse('{')",
    "return { a: 1n }",
    "return Symbol()",
    "[].concat(",
    "}",
    "{",
    "await Promise.all([])",
    "await new Promise((r) => r())",
    "return () => 1",
    "let o = {}; o.o = o; return o",
    "Promise.reject(new Error('unhandled'))",
    "await kit.sleep({ ms: 5 })",
    "console.log('x'.repeat(5000))",
    "for (let i = 0; i < 1000; i++) console.log(i)",
    "return undefined",
    "return null",
    "eval('1 + 1')",
    "globalThis.__call = null",
    "await __call('kit__echo', '{')",
    "await __call()",
    "__log()",
    "await __tool('kit__echo', { text: 'b' })",
    "delete globalThis.kit",
    "Object.prototype.x = 1",
    "await import('fs')",
    "new Function('return 1')()",
    "return await (async () => { throw 2; })()",
    "await kit.big({ items: 20000 })",
    "for (let i = 0; i < 100; i++) kit.echo({ text: 'c' })",
    "await Promise.all(Array.from({ length: 50 }, () => kit.echo({ text: 'd' })))",
    "return await new Promise(() => {})",
];

/// A registry of one server, the testkit (`kit`).
async fn testkit() -> hub::registry::Registry {
    let text = format!("[servers.kit]\ncommand = \"{HUB}\"\nargs = [\"server\", \"testkit\"]\n");
    let config = crate::util::unpinned(hub::config::parse(&text, "test", &|_| None).unwrap());
    hub::registry::Registry::start(&config).await
}

/// xorshift: the same scripts on every run.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_scripts_end_cleanly_and_the_engine_keeps_working() {
    let registry = testkit().await;
    let limits = Limits { timeout: Duration::from_millis(300), memory: 16 << 20, max_calls: 20, output: 4096 };
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..150 {
        let n = 1 + next(&mut state) % 4;
        let script: Vec<&str> = (0..n).map(|_| PIECES[(next(&mut state) % PIECES.len() as u64) as usize]).collect();
        let script = script.join(";\n");
        let cancel = tokio_util::sync::CancellationToken::new();
        let ran = run(&registry, Policy::new(Mode::Ask, false), limits, &script, cancel).await;
        assert!(ran.calls.len() <= limits.max_calls, "script {i}: {} calls\n{script}", ran.calls.len());
        assert!(ran.value.to_string().len() <= limits.output, "script {i}: the value passed the output limit");
        if let Some(e) = &ran.error {
            assert!(!e.is_empty() && !e.contains("panicked"), "script {i}: {e}\n{script}");
        }
    }
    let cancel = tokio_util::sync::CancellationToken::new();
    let ok =
        run(&registry, Policy::new(Mode::Ask, false), limits, "return (await kit.echo({text: 'still here'}))", cancel);
    let ok = ok.await;
    assert_eq!(ok.error, None);
    assert!(ok.value.to_string().contains("still here"), "{:?}", ok.value);
    registry.shutdown().await;
}

/// A process runs at most `AT_ONCE` scripts together: of one more than that, each waiting at a barrier for all of
/// them, the first `AT_ONCE` never meet — the last waits for a turn instead of adding a thread and a heap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_beyond_the_limit_wait_their_turn() {
    let registry = testkit().await;
    let limits = Limits { timeout: Duration::from_secs(2), memory: 16 << 20, max_calls: 5, output: 4096 };
    let n = hub::code::AT_ONCE + 1;
    let script = format!("return (await kit.gather({{ n: {n}, ms: 3600000 }})).met;");
    let runs = (0..n).map(|_| {
        let cancel = tokio_util::sync::CancellationToken::new();
        run(&registry, Policy::new(Mode::Ask, false), limits, &script, cancel)
    });
    let ended = futures::future::join_all(runs).await;
    // The server counts every arrival: the one that waited may meet the count once the others gave up (or give up
    // waiting for its turn); all at once, every one would meet.
    let met = ended.iter().filter(|r| r.value == serde_json::json!(true)).count();
    let errors: Vec<&String> = ended.iter().filter_map(|r| r.error.as_ref()).collect();
    assert!(met <= 1 && errors.len() >= n - 1, "more than the limit ran at once: {met} met; {errors:?}");
    registry.shutdown().await;
}
