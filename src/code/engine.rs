//! The script engine: QuickJS (`rquickjs`) on a thread of its own, one fresh runtime and context per run, with
//! nothing of the machine in reach — no filesystem, network, environment or process objects exist in it, only
//! ECMAScript, `console.log` and the tool namespaces. Its limits: heap (`memory`), stack, wall time (an interrupt
//! for running code, a deadline for awaiting), and the calls the gate counts. Tool calls are made on the hub's own
//! runtime (`Handle::spawn`), so awaited calls overlap (`Promise.all`) while the script's thread only waits.

use super::{Gate, Limits};
use rquickjs::{AsyncContext, AsyncRuntime, CatchResultExt, CaughtError, Ctx, Function, Promise, prelude::Async};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;
use tokio::runtime::Handle;

/// The JavaScript stack a run may use; deeper recursion is a RangeError the script may catch.
const STACK: usize = 1 << 20;
/// The thread's own stack: QuickJS checks against `STACK`, well inside it.
const THREAD_STACK: usize = 8 << 20;
/// What the script is wrapped in: the body of an async function.
const OPENING: &str = "(async () => {";
/// `console.log` lines kept, and characters per line.
const LOG_LINES: usize = 100;
const LOG_LINE: usize = 1_000;

/// How the script's plumbing is defined: tool calls through `__call` (JSON both ways), errors as `Error`s,
/// namespaces that name a missing tool's closest ones, `console` into `__log`.
const BASE: &str = r#"
globalThis.__tool = async (name, args) => {
  const text = await __call(name, args === undefined ? "{}" : JSON.stringify(args));
  const answer = JSON.parse(text);
  if ("error" in answer) { const e = new Error(answer.error); e.tool = name; throw e; }
  return answer.value;
};
globalThis.__namespace = (server, tools) => new Proxy(Object.freeze(tools), {
  get(target, key) {
    if (typeof key !== "string" || key in target || key === "then") return target[key];
    return (args) => __tool(server + "." + key, args);
  },
});
const __show = (v) => typeof v === "string" ? v : (() => { try { return JSON.stringify(v); } catch (e) { return String(v); } })();
globalThis.console = Object.freeze({
  log: (...a) => __log(a.map(__show).join(" ")),
  info: (...a) => __log(a.map(__show).join(" ")),
  warn: (...a) => __log(a.map(__show).join(" ")),
  error: (...a) => __log(a.map(__show).join(" ")),
});
"#;

/// What a run ended with: the script's value as JSON text, or why it has none; its log lines and how many more
/// there were.
pub struct Ended {
    pub value: Result<String, String>,
    pub logs: Vec<String>,
    pub dropped: usize,
}

/// Runs `script` (with `prelude` defining the namespaces) on its own thread; the answer comes when it ends.
pub fn spawn(
    prelude: String,
    script: String,
    limits: Limits,
    deadline: Instant,
    gate: Arc<Gate>,
) -> tokio::sync::oneshot::Receiver<Ended> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let handle = Handle::current();
    let started = std::thread::Builder::new().name("hub-code".into()).stack_size(THREAD_STACK).spawn(move || {
        let ended = match tokio::runtime::Builder::new_current_thread().enable_time().build() {
            Ok(rt) => rt.block_on(run(&prelude, &script, limits, deadline, gate, handle)),
            Err(e) => Ended { value: Err(format!("cannot start the script's runtime: {e}")), logs: vec![], dropped: 0 },
        };
        let _ = tx.send(ended);
    });
    if let Err(e) = started {
        tracing::warn!("cannot start the script's thread: {e}");
    }
    rx
}

async fn run(prelude: &str, script: &str, limits: Limits, deadline: Instant, gate: Arc<Gate>, handle: Handle) -> Ended {
    let logs = Rc::new(RefCell::new((Vec::new(), 0usize)));
    let value = match engine(prelude, script, (limits, deadline), gate, handle, logs.clone()).await {
        Ok(v) => v,
        Err(e) => Err(format!("the script engine failed: {e}")),
    };
    let (logs, dropped) = logs.take();
    Ended { value, logs, dropped }
}

type Logs = Rc<RefCell<(Vec<String>, usize)>>;

async fn engine(
    prelude: &str,
    script: &str,
    (limits, deadline): (Limits, Instant),
    gate: Arc<Gate>,
    handle: Handle,
    logs: Logs,
) -> rquickjs::Result<Result<String, String>> {
    let rt = AsyncRuntime::new()?;
    rt.set_memory_limit(limits.memory).await;
    rt.set_max_stack_size(STACK).await;
    let stop = gate.cancel.clone();
    rt.set_interrupt_handler(Some(Box::new(move || Instant::now() >= deadline || stop.is_cancelled()))).await;
    let ctx = AsyncContext::full(&rt).await?;
    let cancel = gate.cancel.clone();
    let work = ctx.async_with(async |ctx| -> rquickjs::Result<Result<String, String>> {
        install(&ctx, gate, handle, logs)?;
        let setup: Result<(), String> = eval(&ctx, "hub-prelude.js", &format!("{BASE}{prelude}")).map(|_: rquickjs::Value| ());
        if let Err(e) = setup {
            return Ok(Err(format!("the tool namespaces could not be defined: {e}")));
        }
        // The script is the body of an async function, so it may `await` and `return` its answer; its first line
        // stays line 1.
        let wrapped = format!(
            "{OPENING}{script}\n}})().then((v) => {{ const t = JSON.stringify(v); return t === undefined ? \"null\" : t; }})"
        );
        let promise: Promise = match eval(&ctx, "script.js", &wrapped) {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        Ok(promise.into_future::<String>().await.catch(&ctx).map_err(|e| describe(&ctx, e)))
    });
    let timeout = limits.timeout;
    let answer = tokio::select! {
        answer = work => answer?,
        _ = tokio::time::sleep_until(deadline.into()) => Err(format!("the script ran out of time ({}s, [code] timeout_s)", timeout.as_secs())),
        _ = cancel.cancelled() => Err("the script was cancelled".to_string()),
    };
    Ok(answer.map_err(|e| explain(&e, limits)))
}

/// Evaluates `source` as a global script named `file`; an exception as its text.
fn eval<'js, V: rquickjs::FromJs<'js>>(ctx: &Ctx<'js>, file: &str, source: &str) -> Result<V, String> {
    let mut options = rquickjs::context::EvalOptions::default();
    options.filename = Some(file.to_string());
    options.backtrace_barrier = true;
    ctx.eval_with_options(source.as_bytes().to_vec(), options).catch(ctx).map_err(|e| describe(ctx, e))
}

/// A script's failure in one line: `Name: message (script.js line L, column C)` at the script's own innermost
/// frame (not the prelude's); a thrown value that is not an Error as JSON.
fn describe<'js>(ctx: &Ctx<'js>, caught: CaughtError<'js>) -> String {
    match caught {
        CaughtError::Error(e) => e.to_string(),
        CaughtError::Value(v) => {
            let shown = ctx.json_stringify(v.clone()).ok().flatten().and_then(|s| s.to_string().ok());
            format!("uncaught exception (not an Error): {}", shown.unwrap_or_else(|| format!("{:?}", v.type_of())))
        }
        CaughtError::Exception(e) => {
            let name: String = e.get("name").unwrap_or_else(|_| "Error".into());
            let mut line = format!("{name}: {}", e.message().unwrap_or_default());
            let stack = e.stack().unwrap_or_default();
            let at = stack.lines().find_map(|l| l.split("script.js:").nth(1)).and_then(|rest| {
                let mut parts = rest.trim_end_matches(')').split(':');
                Some((parts.next()?.parse::<u32>().ok()?, parts.next()?.parse::<u32>().ok()?))
            });
            if let Some((l, c)) = at {
                // The script's first line is preceded by the wrapper's opening.
                let c = if l == 1 { c.saturating_sub(OPENING.len() as u32).max(1) } else { c };
                line.push_str(&format!(" (script.js line {l}, column {c})"));
            }
            line
        }
    }
}

/// The functions the prelude builds on: `__call(name, argsJson)` → a Promise of the gate's JSON answer, and
/// `__log(line)`.
fn install<'js>(ctx: &Ctx<'js>, gate: Arc<Gate>, handle: Handle, logs: Logs) -> rquickjs::Result<()> {
    let call = Function::new(
        ctx.clone(),
        Async(move |name: String, args: String| {
            let (gate, handle) = (gate.clone(), handle.clone());
            async move {
                let answer = handle.spawn(async move { gate.call(name, args).await }).await;
                Ok::<String, rquickjs::Error>(
                    answer.unwrap_or_else(|e| super::error_json(&format!("the call failed: {e}"))),
                )
            }
        }),
    )?;
    let log = Function::new(ctx.clone(), move |line: String| {
        let mut logs = logs.borrow_mut();
        if logs.0.len() < LOG_LINES {
            logs.0.push(line.chars().take(LOG_LINE).collect());
        } else {
            logs.1 += 1;
        }
    })?;
    ctx.globals().set("__call", call)?;
    ctx.globals().set("__log", log)?;
    Ok(())
}

/// An engine error in the words of the limit it hit.
fn explain(error: &str, limits: Limits) -> String {
    if error.contains("interrupted") {
        format!("the script ran out of time ({}s, [code] timeout_s) or was cancelled", limits.timeout.as_secs())
    } else if error.contains("out of memory") {
        format!("the script ran out of memory ({} MiB, [code] memory_mb)", limits.memory >> 20)
    } else {
        error.to_string()
    }
}
