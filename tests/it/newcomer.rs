//! The errors a newcomer meets, each with its next step: a servers.toml that is not there (→ `hub init`), a model
//! that answers without a tool call while tools were offered (→ `hub doctor`), a 401 from the model (which
//! variable to set), a server that exits at start (its last stderr lines and the command line that was run), an
//! unknown tool (the closest names), an unknown server for `hub status` (the ones there are).

use crate::model::{Model, answer, status};
use crate::util::Env;

#[test]
fn each_error_a_newcomer_meets_names_the_next_step() {
    let env = Env::new();
    let missing = env.run(&["--config", "nowhere.toml", "tools"]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("`hub init nowhere.toml` writes one"), "{}", missing.stderr);

    let dies = "[servers.dies]\ncommand = \"sh\"\nargs = [\"-c\", \"echo cannot open the database >&2; exit 3\"]\n";
    env.config(&format!("{}{dies}", Env::server_entry("crm", "crm")));
    let status_doc = env.run(&["status", "--json"]).ok().json();
    let dead = status_doc["servers"].as_array().unwrap().iter().find(|s| s["name"] == "dies").unwrap().clone();
    let why = dead["last_error"].as_str().unwrap();
    assert!(why.contains("cannot open the database"), "stderr tail: {why}");
    assert!(why.contains("command: sh -c 'echo cannot open the database >&2; exit 3'"), "command line: {why}");
    let unknown = env.run(&["call", "crm__get_custmer", "{}"]);
    assert!(unknown.code != 0 && unknown.stderr.contains("did you mean crm__get_customer"), "{}", unknown.stderr);
    let only = env.run(&["status", "crm", "--json"]).ok().json();
    assert_eq!(only["servers"].as_array().unwrap().len(), 1, "{only}");
    let wrong = env.run(&["status", "crn"]);
    assert!(wrong.code == 2 && wrong.stderr.contains("no server 'crn'") && wrong.stderr.contains("it has crm"));

    // A model that never calls a tool although tools were offered: the answer, and a pointer to `hub doctor`.
    let m = Model::start(vec![answer("John Smith is on the Enterprise plan."), answer("again")]);
    env.config(&format!("{}{}", m.config(""), Env::server_entry("crm", "crm")));
    let run = env.run(&["ask", "What plan is John Smith on?"]).ok();
    assert!(run.stderr.contains("without calling any of the 4 tools offered") && run.stderr.contains("hub doctor"));
    let quiet = env.run(&["-q", "ask", "again"]).ok();
    assert!(!quiet.stderr.contains("hub doctor"), "-q keeps stderr to errors: {}", quiet.stderr);

    // A 401: with a key, that key is wrong; without one, which variable to set.
    let refused = Model::start(vec![status(401, "invalid api key", &[])]);
    env.config(&refused.config(""));
    let run = env.run(&["ask", "q"]);
    assert!(run.code == 1 && run.stderr.contains("The key sent (OPENAI_API_KEY"), "{}", run.stderr);
    let keyless = Model::start(vec![status(401, "missing key", &[])]);
    env.config(&format!("[model]\nname = \"scripted\"\nbase_url = \"{}\"\n", keyless.url));
    let run = env.run(&["ask", "q"]);
    assert!(run.code == 1 && run.stderr.contains("No key was sent: set OPENAI_API_KEY"), "{}", run.stderr);
}

/// What `cargo install --path .` gives: the binary alone in a bin directory, run from a directory with no
/// checkout and no servers.toml, still starts its business servers (they are the same binary) and answers.
#[test]
fn the_binary_alone_works_from_any_directory() {
    let env = Env::new();
    std::fs::create_dir_all(env.path("bin")).unwrap();
    std::fs::create_dir_all(env.path("home")).unwrap();
    let copy = env.path("bin/hub");
    std::fs::copy(crate::util::HUB, &copy).unwrap();
    let out = std::process::Command::new(&copy)
        .args(["--offline", "ask", "What is the subscription status of john.smith@acme.com?"])
        .current_dir(env.path("home"))
        .env_clear()
        .envs(env.command(&[]).get_envs().filter_map(|(k, v)| Some((k, v?))))
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("past_due"), "{stdout}");
}
