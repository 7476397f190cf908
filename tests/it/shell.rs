//! Shell integration through the binary: the completion scripts loaded by a real bash and zsh (`complete -p hub`,
//! `$_comps[hub]`), bash completing live tool, server and resource names through the script's own function, the
//! static scripts, every command's `--help` example, and the man pages rendered by `man -l`.
//!
//! zsh and man come from Debian packages that `.ci/run` installs; without them the test says so loudly and skips
//! that part, unless HUB_REQUIRE_SHELLS is set (CI sets it).

use crate::util::Env;
use std::process::Command;

/// A shell (or `man`) run with the test environment's variables, in its directory.
fn shell(env: &Env, program: &str, args: &[&str]) -> Option<(bool, String, String)> {
    let template = env.command(&[]);
    let vars = template.get_envs().filter_map(|(k, v)| Some((k, v?)));
    match Command::new(program).args(args).current_dir(env.path("")).env_clear().envs(vars).output() {
        Ok(o) => Some((
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            assert!(std::env::var_os("HUB_REQUIRE_SHELLS").is_none(), "{program} is required (HUB_REQUIRE_SHELLS)");
            eprintln!("\n*** SKIPPED: {program} is not installed (apt-get install {program}) ***\n");
            None
        }
        Err(e) => panic!("cannot run {program}: {e}"),
    }
}

/// What bash's completion function offers for the words of `line` (the last one being completed).
fn bash_completes(env: &Env, script: &std::path::Path, line: &str) -> Vec<String> {
    let words: Vec<&str> = line.split(' ').collect();
    let program = format!(
        "source {}; COMP_WORDS=({}); COMP_CWORD={}; COMP_TYPE=9; _clap_complete_hub hub '{}' '{}'; \
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        words.iter().map(|w| format!("'{w}'")).collect::<Vec<_>>().join(" "),
        words.len() - 1,
        words[words.len() - 1],
        words[words.len() - 2],
    );
    let (ok, out, err) = shell(env, "bash", &["-c", &program]).expect("bash");
    assert!(ok, "{err}");
    out.lines().map(str::to_string).collect()
}

#[test]
fn completion_scripts_load_in_bash_and_zsh_and_complete_live_names() {
    let env = Env::new();
    env.config(&format!("{}{}", Env::server_entry("crm", "crm"), Env::server_entry("tickets", "tickets")));
    let bash = env.run(&["completions", "bash"]).ok();
    let script = env.write("hub.bash", &bash.stdout);
    let (ok, out, err) =
        shell(&env, "bash", &["-c", &format!("source {}; complete -p hub", script.display())]).unwrap();
    assert!(ok && out.contains("-F _clap_complete_hub hub"), "{out}{err}");

    let tools = bash_completes(&env, &script, "hub call crm__g");
    assert_eq!(tools, ["crm__get_customer"], "live tool names");
    let all = bash_completes(&env, &script, "hub call ");
    assert!(all.iter().any(|t| t == "tickets__list_tickets") && all.len() >= 9, "{all:?}");
    assert_eq!(bash_completes(&env, &script, "hub status t"), ["tickets"], "server names");
    assert_eq!(bash_completes(&env, &script, "hub read cus"), ["customer://"], "a resource template's fixed part");
    let flags = bash_completes(&env, &script, "hub ask --ma");
    assert_eq!(flags, ["--max-turns"], "flags too");

    let zsh = env.write("_hub", &env.run(&["completions", "zsh"]).ok().stdout);
    let program =
        format!("autoload -Uz compinit && compinit -u -D && source {} && print -r -- $_comps[hub]", zsh.display());
    if let Some((ok, out, err)) = shell(&env, "zsh", &["-fc", &program]) {
        assert!(ok && out.trim() == "_clap_dynamic_completer_hub", "{out}{err}");
    }
    for sh in ["fish", "powershell", "elvish"] {
        assert!(env.run(&["completions", sh]).ok().stdout.contains("HUB_COMPLETE"), "{sh}");
    }
    // The ahead-of-time script needs no hub process on TAB.
    let fixed = env.run(&["completions", "bash", "--static"]).ok();
    assert!(fixed.stdout.contains("_hub()") && fixed.stdout.contains("import-config"));
    let fixed = env.write("static.bash", &fixed.stdout);
    let (ok, _, err) = shell(&env, "bash", &["-n", fixed.to_str().unwrap()]).unwrap();
    assert!(ok, "{err}");
    let wrong = env.run(&["completions", "tcsh"]);
    assert!(wrong.code == 2 && wrong.stderr.contains("possible values: bash"), "{}", wrong.stderr);
}

#[test]
fn every_command_has_an_example_and_the_man_pages_render() {
    fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        if !cmd.get_after_help().is_some_and(|h| h.to_string().starts_with("Examples:")) {
            missing.push(path.to_string());
        }
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            walk(sub, &format!("{path} {}", sub.get_name()), missing);
        }
    }
    let mut missing = Vec::new();
    walk(&hub::cli::command(), "hub", &mut missing);
    assert!(missing.is_empty(), "commands without an example: {missing:?}");
    let env = Env::new();
    let help = env.run(&["auth", "login", "--help"]).ok().stdout;
    assert!(help.contains("Examples:\n  hub auth login github"), "{help}");

    let page = env.run(&["man"]).ok();
    assert!(page.stdout.contains(".TH hub 1") && page.stdout.contains("triage"), "{}", page.stdout);
    let dir = env.path("man1");
    env.run(&["man", "--dir", dir.to_str().unwrap()]).ok();
    for name in ["hub", "hub-ask", "hub-serve", "hub-auth", "hub-completions", "hub-call"] {
        let text = std::fs::read_to_string(dir.join(format!("{name}.1"))).unwrap();
        assert!(text.contains(&format!(".TH {name} 1")), "{name}: {text}");
    }
    let call = dir.join("hub-call.1");
    let Some((ok, out, err)) = shell(&env, "man", &["-l", call.to_str().unwrap()]) else { return };
    assert!(ok, "{err}");
    assert!(out.contains("hub call crm__get_customer") && out.contains("Index name"), "{out}");
}
