//! `hub chat` through piped stdin and through a pseudo-terminal, against the scripted model: memory across
//! turns, slash commands, /reset, approvals y and n, Ctrl-C during a slow tool (turn cancelled upstream, the
//! conversation stays valid, the next question works), Ctrl-C at the prompt, and history kept between sessions.

use crate::model::{Model, answer, calls, tool_messages};
use crate::util::{Env, HUB, Pty, eventually};
use serde_json::Value;
use std::io::Write;
use std::time::Duration;

fn user_texts(req: &Value) -> Vec<String> {
    req["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "user")
        .map(|m| m["content"].as_str().unwrap().to_string())
        .collect()
}

fn kit_env(m: &Model, extra: &str) -> Env {
    let mut env = Env::new();
    let log = env.path("kit.log");
    env.set("HUB_TESTKIT_LOG", log.to_str().unwrap());
    env.config(&format!(
        "{}\n[servers.kit]\ncommand = \"{HUB}\"\nargs = [\"server\", \"testkit\"]\n{extra}\n",
        m.config("")
    ));
    env
}

#[test]
fn piped_conversation_remembers_and_reset_forgets() {
    let m = Model::start(vec![answer("first answer"), answer("second answer"), answer("after reset")]);
    let env = kit_env(&m, "");
    let run = env.run_with(&["chat"], "hello one\nhello two\n/tools echo\n/servers\n/reset\nhello three\n/nope\n").ok();
    assert!(
        run.stdout.contains("first answer\n")
            && run.stdout.contains("second answer\n")
            && run.stdout.contains("after reset"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("hub>"), "no decoration when piped");
    let reqs = m.requests();
    assert_eq!(user_texts(&reqs[1]), ["hello one", "hello two"], "the second request carries the first exchange");
    assert!(
        reqs[1]["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["role"] == "assistant" && m["content"] == "first answer")
    );
    assert_eq!(user_texts(&reqs[2]), ["hello three"], "/reset forgets");
    assert!(run.stdout.contains("kit__echo"), "/tools lists: {}", run.stdout);
    let found = run.stdout.lines().skip_while(|l| !l.starts_with("NAME")).nth(1).unwrap_or_default();
    assert!(found.starts_with("kit__echo"), "/tools QUERY puts the best match first: {}", run.stdout);
    assert!(run.stdout.contains("SERVER") && run.stdout.contains("kit"), "/servers shows status");
    assert!(run.stderr.contains("unknown command /nope"), "{}", run.stderr);
}

#[test]
fn model_history_save_verbose_and_offline() {
    let m = Model::start(vec![answer("one"), answer("two")]);
    let env = kit_env(&m, "");
    let run = env.run_with(&["chat"], "q1\n/model other-model\nq2\n/history\n/save t.json\n/verbose\n/model\n").ok();
    assert_eq!(m.requests()[1]["model"], "other-model");
    assert!(run.stdout.contains("user: q1") && run.stdout.contains("assistant: one"), "{}", run.stdout);
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(env.path("t.json")).unwrap()).unwrap();
    assert_eq!(saved["messages"].as_array().unwrap().len(), 5);
    assert!(run.stdout.contains("(verbose on)") && run.stdout.contains("model: other-model"));
    let offline = Env::new();
    let run = offline.run_with(&["chat"], "Which customers do we have at Globex?\n").ok();
    assert!(run.stdout.contains("offline planner") && run.stdout.contains("@globex.com"));
}

#[test]
fn approvals_yes_and_no() {
    let m = Model::start(vec![
        calls(&[("w1", "kit__write", "{\"value\":\"a\"}")]),
        answer("done 1"),
        calls(&[("w2", "kit__write", "{\"value\":\"b\"}")]),
        answer("done 2"),
    ]);
    let env = kit_env(&m, "");
    let run = env.run_with(&["chat"], "write a\nn\nwrite b\ny\n").ok();
    assert!(run.stderr.contains("Allow write on server 'kit'"), "{}", run.stderr);
    let refused = tool_messages(&m.requests()[1]);
    assert!(refused[0].1.contains("declined"), "{refused:?}");
    let allowed = tool_messages(&m.requests()[3]);
    assert!(allowed.last().unwrap().1.contains("done"), "{allowed:?}");
    let log = std::fs::read_to_string(env.path("kit.log")).unwrap();
    assert_eq!(log.matches("start write").count(), 1, "only the approved call ran");
}

#[test]
fn ctrl_c_during_a_slow_tool_cancels_the_turn_only() {
    let m = Model::start(vec![calls(&[("s1", "kit__sleep", "{\"ms\":60000}")]), answer("next question works")]);
    let env = kit_env(&m, "timeout_s = 120");
    let mut child = env
        .command(&["chat"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "sleep please").unwrap();
    let log = env.path("kit.log");
    assert!(eventually(crate::util::LIMIT, || std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("start sleep")));
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert!(
        eventually(crate::util::LIMIT, || std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("cancelled sleep")),
        "cancelled upstream"
    );
    writeln!(stdin, "and now?").unwrap();
    drop(stdin);
    let out = crate::util::wait_limited(child, Duration::from_secs(30)).expect("chat hung");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("next question works"), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("(interrupted)"));
    let second = &m.requests()[1];
    let msgs = tool_messages(second);
    assert_eq!(msgs.len(), 1, "the unanswered call got a synthetic result");
    assert!(msgs[0].1.contains("interrupted by the user"), "{msgs:?}");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn terminal_session_prompt_ctrl_c_history_and_ctrl_d() {
    let m =
        Model::start(vec![answer("answer one"), answer("answer two"), answer("answer three"), answer("answer four")]);
    let env = kit_env(&m, "");
    let mut pty = Pty::spawn(&env, &["chat"]);
    pty.expect("/help for commands");
    pty.prompt(1);
    pty.send("garbage that is cleared");
    pty.expect("cleared");
    pty.send("\x03");
    pty.prompt(2);
    pty.send("first question\r");
    pty.expect("answer one");
    pty.prompt(3);
    pty.send("/hel\t");
    pty.expect("/help");
    pty.send("\r");
    pty.prompt_after("Commands:");
    pty.send("\x04");
    assert!(eventually(crate::util::LIMIT, || pty.child.try_wait().ok().flatten().is_some()), "Ctrl-D exits");
    assert_eq!(user_texts(&m.requests()[0]), ["first question"], "Ctrl-C at the prompt cleared the line");
    let history = std::fs::read_to_string(env.path("state/hub/history")).unwrap();
    assert!(history.contains("first question"), "{history}");
    // A second session recalls the first one's line with the Up arrow.
    let mut pty = Pty::spawn(&env, &["chat"]);
    pty.prompt(1);
    pty.send("\x1b[A");
    pty.expect("/help");
    pty.send("\x1b[A");
    pty.expect("first question");
    pty.send("\r");
    pty.expect("answer two");
    pty.prompt(2);
    assert_eq!(user_texts(&m.requests()[1]), ["first question"]);
    // A pasted block (bracketed paste) is one message, newlines kept; a trailing \ continues a line.
    pty.send("\x1b[200~pasted line one\npasted line two\x1b[201~");
    pty.expect("pasted line two");
    pty.send("\r");
    pty.expect("answer three");
    pty.prompt(3);
    pty.send("continued \\\r");
    pty.expect("... ");
    pty.send("on the next line\r");
    pty.expect("answer four");
    pty.prompt(4);
    pty.send("/exit\r");
    assert!(eventually(crate::util::LIMIT, || pty.child.try_wait().ok().flatten().is_some()), "/exit exits");
    let texts = user_texts(&m.requests()[3]);
    assert_eq!(texts[1], "pasted line one\npasted line two");
    assert_eq!(texts[2], "continued \non the next line");
}

/// Regression: `hub chat` caught only SIGINT; SIGTERM killed it without the clean shutdown of its servers.
#[test]
fn sigterm_ends_chat_cleanly_and_stops_its_servers() {
    use std::io::BufRead;
    let m = Model::start(vec![]);
    let env = kit_env(&m, "");
    let mut child = env
        .command(&["chat"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    stdin.write_all(b"/servers\n").unwrap();
    // The /servers table: the kit row carries the server's pid.
    let pid: u32 = loop {
        let line = rx.recv_timeout(crate::util::LIMIT).expect("no /servers table");
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.first() == Some(&"kit") {
            break cols[2].parse().expect("a pid");
        }
    };
    assert!(crate::util::alive(pid));
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let exited = eventually(crate::util::LIMIT, || child.try_wait().ok().flatten().is_some());
    assert!(exited, "hub chat did not exit on SIGTERM");
    assert_eq!(child.wait().unwrap().code(), Some(130), "interrupted, by its own hand (not killed by the signal)");
    assert!(eventually(crate::util::LIMIT, || !crate::util::alive(pid)), "the server outlived hub chat");
    drop(stdin);
}
