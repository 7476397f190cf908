//! The examples under every command's `--help` (and so in its man page): one table, keyed by the command's path,
//! applied to the clap definitions when the command is built. A command without an entry here fails the test
//! that walks every subcommand, so a new command cannot ship without one.

/// `(command path, examples)`; the path is the subcommand names below `hub`, space-separated.
const EXAMPLES: &[(&str, &[&str])] = &[
    (
        "ask",
        &[
            "hub ask \"What is the subscription status of john.smith@acme.com?\"",
            "hub ask --json \"How many open tickets are high priority?\" | jq .answer",
            "echo \"Refund invoice INV-1042\" | hub ask --yes -",
        ],
    ),
    ("chat", &["hub chat", "hub chat --yes < questions.txt"]),
    (
        "triage report",
        &["hub triage report queue.jsonl", "hub triage report queue.jsonl --report queue.html --rows 10"],
    ),
    (
        "triage",
        &[
            "hub triage tickets.jsonl --out results.jsonl",
            "hub triage tickets.csv --out results.jsonl --schema answer.schema.json --concurrency 8",
            "hub triage tickets.jsonl --out results.jsonl --retry-failed",
            "hub triage --from tickets__list_tickets --args '{\"status\": \"open\"}' --out queue.jsonl",
            "hub triage --from tickets__list_tickets --args '{\"status\": \"open\"}' --dry-run --out plan.jsonl",
            "hub triage --from tickets__list_tickets --args '{\"status\": \"open\"}' --apply --out applied.jsonl",
            "hub triage --from tickets__list_tickets --out queue.jsonl --report queue.html",
            "hub triage report queue.jsonl --report queue.md",
        ],
    ),
    (
        "serve",
        &[
            "hub serve --http 127.0.0.1:8080",
            "hub serve --stdio",
            "HUB_TOKEN=secret hub serve --http 0.0.0.0:8080 --audit calls.jsonl",
        ],
    ),
    ("tools", &["hub tools", "hub tools --json | jq '.tools[].name'"]),
    (
        "run",
        &[
            "hub run chore.js",
            "echo 'return (await crm.search_customers({query: \"acme\"})).count' | hub run -",
            "hub run --json --yes follow-up.js | jq .calls",
        ],
    ),
    ("code", &["hub code api", "hub code api --server tickets"]),
    ("code api", &["hub code api > tools.d.ts", "hub code api --server crm"]),
    (
        "tools search",
        &[
            "hub tools search create an issue",
            "hub tools search git_comit --limit 3",
            "hub tools search invoices --server payments --json | jq '.hits[].name'",
        ],
    ),
    (
        "tools accept",
        &["hub tools accept crm__get_customer", "hub tools accept --server crm", "hub tools accept --all"],
    ),
    ("resources", &["hub resources", "hub resources --json"]),
    ("read", &["hub read customer://cus_000001", "hub read customer://cus_000001 --server crm --json"]),
    ("prompts", &["hub prompts"]),
    ("prompt", &["hub prompt tickets__triage_ticket '{\"id\": \"TCK-01001\"}'"]),
    (
        "call",
        &[
            "hub call crm__get_customer '{\"id\": \"cus_000001\"}'",
            "hub call payments.get_subscription '{\"customer_id\": \"john.smith@acme.com\"}' --json",
            "echo '{\"status\": \"open\"}' | hub call tickets__list_tickets -",
        ],
    ),
    ("status", &["hub status", "hub status crm tickets", "hub status --json | jq '.servers'"]),
    ("restart", &["hub restart crm --hub http://127.0.0.1:8080", "HUB_ADMIN_TOKEN=… hub restart payments --stop"]),
    (
        "import-config",
        &[
            "hub import-config --from claude-code >> servers.toml",
            "hub import-config ~/.config/Claude/claude_desktop_config.json",
            "hub import-config .vscode/mcp.json",
        ],
    ),
    ("auth", &["hub auth login github", "hub auth status"]),
    ("auth login", &["hub auth login github", "hub auth login github --no-browser --scope repo"]),
    ("auth logout", &["hub auth logout github"]),
    ("auth status", &["hub auth status", "hub auth status --json"]),
    ("doctor", &["hub doctor", "hub doctor --json | jq '.checks[] | select(.mark != \"ok\")'"]),
    ("init", &["hub init", "hub init ./servers.toml --no-import", "hub init --force"]),
    (
        "completions",
        &[
            "hub completions bash > ~/.local/share/bash-completion/completions/hub",
            "hub completions zsh > \"${fpath[1]}/_hub\"",
            "hub completions fish > ~/.config/fish/completions/hub.fish",
        ],
    ),
    ("man", &["hub man | man -l -", "hub man --dir ~/.local/share/man/man1"]),
    ("server", &["hub server crm", "hub call crm__search_customers '{\"query\": \"acme\"}'  # what it serves"]),
];

/// The command tree with every command's examples after its help.
pub(super) fn attach(cmd: clap::Command) -> clap::Command {
    with(cmd, "")
}

fn with(mut cmd: clap::Command, path: &str) -> clap::Command {
    if let Some((_, lines)) = EXAMPLES.iter().find(|(p, _)| *p == path) {
        cmd = cmd.after_help(text(lines));
    } else if path.is_empty() {
        cmd = cmd.after_help(text(&[
            "hub ask \"Who owns the Acme account?\"",
            "hub doctor",
            "hub serve --http 127.0.0.1:8080",
        ]));
    }
    let names: Vec<String> = cmd.get_subcommands().map(|s| s.get_name().to_string()).collect();
    for name in names {
        let sub_path = if path.is_empty() { name.clone() } else { format!("{path} {name}") };
        cmd = cmd.mut_subcommand(&name, |s| with(s, &sub_path));
    }
    cmd
}

fn text(lines: &[&str]) -> String {
    let body: String = lines.iter().map(|l| format!("\n  {l}")).collect();
    format!("Examples:{body}")
}
