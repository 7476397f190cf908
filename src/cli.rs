//! The command line: clap definitions mirroring what the user typed (`Cli`), logging setup, the tokio
//! runtime, and dispatch to the command modules. Every command returns `exit::Result`; `setup::main` turns it
//! into the process exit code and prints the error (one line, `hub: …`) on stderr.

use crate::commands::ToolsAction;
use crate::config;
use crate::exit;
use crate::frame::OnSignal;
use crate::{ask, catalog, commands, gateway, repl, triage};
use clap::{CommandFactory, Parser, Subcommand};
use std::path::PathBuf;

mod code;
mod complete;
mod examples;
mod setup;
mod shell;
mod triage_cli;
pub use complete::{live, servers};
pub use setup::{Global, main};
use setup::{init_logging, init_logging_file, read_question, runtime, with_registry};

#[derive(Debug, Parser)]
#[command(name = "hub", version, about = "MCP integration hub: many MCP servers, one tool index, one agent")]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ask one question; the answer goes to stdout
    Ask {
        /// The question ('-' reads it from stdin)
        question: String,
        /// Print one JSON document (answer, status, tool calls, usage, servers)
        #[arg(long)]
        json: bool,
        /// Approve tools that write (otherwise they are refused and the model is told why)
        #[arg(long)]
        yes: bool,
        /// Stream the answer even when stdout is not a terminal
        #[arg(long)]
        stream: bool,
        /// Model turns before giving up with exit 3 (default: config, 15)
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
        max_turns: Option<u32>,
    },
    /// Interactive REPL (reads one message per line when stdin is not a terminal)
    Chat {
        /// Approve tools that write without asking
        #[arg(long)]
        yes: bool,
    },
    /// Triage a batch of support items (JSONL or CSV, or a list tool's result) into JSONL results; resumable
    ///
    /// Each item through the model (or, with none, the offline planner and classifier), N at a time; a report at the
    /// end. Ctrl-C stops taking new items and finishes the running ones; a second Ctrl-C cancels them.
    Triage(triage_cli::TriageCli),
    /// Serve every tool as one MCP server (stdio and/or streamable HTTP at /mcp) plus a REST API
    Serve(gateway::ServeArgs),
    /// List the merged tool index (name, server, read-only/write/destructive, description)
    Tools {
        /// Print one JSON document with schemas and annotations
        #[arg(long)]
        json: bool,
        #[command(subcommand)]
        action: Option<ToolsAction>,
    },
    /// List the servers' resources and resource templates (URI, server, name, mime type, description)
    Resources {
        /// Print one JSON document
        #[arg(long)]
        json: bool,
    },
    /// Read one resource (routed to the server that lists it or a template it matches) and print its contents
    Read {
        /// The resource's URI, as the server gives it (customer://cus_000001)
        #[arg(add = live(complete::resources))]
        uri: String,
        /// The server to read it from, when more than one offers it
        #[arg(long, add = live(complete::servers))]
        server: Option<String>,
        /// Print the MCP contents as JSON
        #[arg(long)]
        json: bool,
    },
    /// List the servers' prompts (NAME is server__prompt; arguments marked ? are optional)
    Prompts {
        /// Print one JSON document
        #[arg(long)]
        json: bool,
    },
    /// Get one prompt filled in by its server and print its messages
    Prompt {
        /// Namespaced name (tickets__triage_ticket) or server.prompt
        #[arg(add = live(complete::prompts))]
        name: String,
        /// Arguments as a JSON object of strings ('-' reads them from stdin)
        args: Option<String>,
        /// Print the messages as JSON
        #[arg(long)]
        json: bool,
    },
    /// Run a script against the tools (code mode, no model) and print what it returns
    Run(code::RunArgs),
    /// Code mode: the tools as a script sees them
    Code {
        #[command(subcommand)]
        action: code::CodeAction,
    },
    /// Call one tool directly and print its result
    Call {
        /// Index name (crm__get_customer) or server.tool
        #[arg(add = live(complete::tools))]
        tool: String,
        /// Arguments as a JSON object ('-' reads them from stdin)
        args: Option<String>,
        /// Print the raw MCP result
        #[arg(long)]
        json: bool,
    },
    /// Each server's state, pid, uptime, restarts, tool count, last error and ping latency
    Status {
        /// Only these servers (default: all)
        #[arg(add = live(complete::servers))]
        servers: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Restart one server of a running `hub serve` now (resetting its crash-loop counters), or stop it
    Restart {
        /// The server's name in the gateway's configuration
        #[arg(add = live(complete::servers))]
        name: String,
        /// Take it out of service instead (until it is restarted)
        #[arg(long)]
        stop: bool,
        /// The gateway's admin token
        #[arg(long, env = "HUB_ADMIN_TOKEN", hide_env_values = true)]
        admin_token: Option<String>,
    },
    /// Print another host's MCP servers as servers.toml entries: hub import-config --from claude-code >> servers.toml
    ImportConfig {
        /// The host's file ('-' for stdin): mcpServers JSON, .claude.json, VS Code mcp.json, Zed settings.json,
        /// Codex config.toml, goose config.yaml
        #[arg(required_unless_present = "from", conflicts_with = "from")]
        file: Option<PathBuf>,
        /// Find the file where this host keeps it
        #[arg(long, value_name = "HOST", value_parser = clap::builder::PossibleValuesParser::new(config::import::HOSTS))]
        from: Option<String>,
    },
    /// OAuth for url servers: log in, log out, see who is logged in
    Auth {
        #[command(subcommand)]
        action: crate::auth::AuthAction,
    },
    /// Check this setup — config, servers, model endpoint, directories — and say how to fix what is broken
    Doctor {
        /// One JSON document: {"ok", "checks": [{mark, area, what, fix}]}
        #[arg(long)]
        json: bool,
    },
    /// Write a servers.toml to start from: the business servers plus your other hosts' MCP servers
    Init {
        /// Where (default: $XDG_CONFIG_HOME/hub/servers.toml)
        path: Option<PathBuf>,
        /// Replace an existing file
        #[arg(long)]
        force: bool,
        /// Leave other hosts' servers out
        #[arg(long)]
        no_import: bool,
    },
    /// Print a completion script (tool, server, resource and prompt names completed live)
    Completions {
        /// bash, zsh, fish, powershell or elvish
        shell: clap_complete::Shell,
        /// A script that completes commands and flags only, without calling hub on TAB
        #[arg(long = "static")]
        r#static: bool,
    },
    /// Print the man page hub(1), or write hub.1 and hub-COMMAND.1 pages into DIR: hub man --dir ~/.local/share/man/man1
    Man {
        /// Write every page into this directory instead
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Run one of the business MCP servers over stdio (what servers.toml launches)
    Server {
        /// crm, tickets, payments, calendar or analytics
        name: String,
    },
}

/// The command tree as every face shows it: the clap definitions, each command's examples, and the live
/// completion candidates.
pub fn command() -> clap::Command {
    examples::attach(Cli::command())
}

pub(crate) fn run(cli: Cli) -> exit::Result<u8> {
    let g = cli.global.clone();
    // The model flags, resolved once into the configuration every front end reads.
    let overrides = |max_turns: Option<u32>, rpm: Option<u32>| config::Overrides {
        model: g.model.clone(),
        max_turns,
        offline: g.offline,
        requests_per_minute: rpm,
        code: g.code,
        long_running: false,
        serving: false,
        hub: match (&g.hub, g.no_hub) {
            (_, true) => crate::attach::Hub::Off,
            (Some(hub), _) => crate::attach::Hub::At(hub.clone()),
            (None, _) => crate::attach::Hub::Auto,
        },
    };
    // Resources and prompts are read from the servers themselves (an attached registry lists only tools).
    let own = |o: config::Overrides| config::Overrides { hub: crate::attach::Hub::Off, ..o };
    // Serve and chat outlive a bad hour of one server: they never give up restarting it.
    let long = |o: config::Overrides| config::Overrides { long_running: true, ..o };
    let load = |o: config::Overrides| {
        config::load(g.config.as_deref(), &o).inspect(|c| crate::auth::vault::configure(c.token_store))
    };
    if !matches!(cli.command, Command::Serve(_)) {
        setup::one_arena();
    }
    match cli.command {
        Command::Ask { question, json, yes, stream, max_turns } => {
            init_logging(&g, "warn,rmcp=error");
            let question = read_question(question)?;
            let config = load(overrides(max_turns, None))?;
            let args = ask::AskArgs { question, json, yes, stream, verbose: g.verbose, quiet: g.quiet };
            with_registry(config, false, OnSignal::Graceful, |c, r, s| async move { ask::run(&c, r, args, &s).await })
        }
        Command::Serve(args) => {
            // With --stdio, stdout is the protocol: logs stay on stderr, as always.
            init_logging(&g, "warn,rmcp=error");
            let config = load(config::Overrides { serving: true, ..own(long(overrides(None, None))) })?;
            with_registry(config, false, OnSignal::Graceful, |c, r, s| async move {
                gateway::serve(r, args, &c, s.token()).await
            })
        }
        Command::Chat { yes } => {
            use std::io::IsTerminal;
            if std::io::stdin().is_terminal() && g.verbose == 0 {
                // Logs never tear the prompt: they go to a file unless -v asks for them.
                init_logging_file(&g, &repl::state_dir().join("hub.log"));
            } else {
                init_logging(&g, "warn,rmcp=error");
            }
            let config = load(long(overrides(None, None)))?;
            let args = repl::ChatArgs { verbose: g.verbose > 0, yes };
            with_registry(config, true, OnSignal::Graceful, |c, r, s| async move { repl::run(&c, r, args, s).await })
        }
        Command::Triage(t) => {
            if let Some(triage_cli::TriageAction::Report { out, report, rows }) = t.action {
                return triage::report(&out, report.as_deref(), rows);
            }
            init_logging(&g, "warn,rmcp=error");
            let config = load(overrides(t.max_turns, t.rpm))?;
            let args = t.into_args(g.quiet);
            // Ctrl-C is triage's own: the first stops new items and lets the running ones finish.
            with_registry(config, true, OnSignal::Graceful, |c, r, s| async move { triage::run(&c, r, args, &s).await })
        }
        Command::Tools { json, action } => {
            init_logging(&g, "warn,rmcp=error");
            let config = load(overrides(None, None))?;
            match action {
                None => with_registry(config, false, OnSignal::Stop, |_, r, _| commands::tools(r, json)),
                Some(ToolsAction::Search { query, server, limit, json }) => {
                    let query = query.join(" ");
                    let ask =
                        crate::search::found::Ask { query: &query, server: server.as_deref(), limit, schemas: false };
                    // A running hub searches for the command: nothing to connect, list or index here.
                    if let Some(answer) = runtime()?.block_on(crate::attach::search(&config, &ask)) {
                        return commands::print_found(&answer.map_err(exit::Failure::usage)?, &ask, json);
                    }
                    with_registry(config, false, OnSignal::Stop, |_, r, _| commands::search(r, ask, json))
                }
                Some(ToolsAction::Accept { names, server, all }) => {
                    with_registry(config, false, OnSignal::Stop, |_, r, _| async move {
                        commands::accept(r, &names, server.as_deref(), all).await
                    })
                }
            }
        }
        Command::Resources { json } => {
            init_logging(&g, "warn,rmcp=error");
            with_registry(load(own(overrides(None, None)))?, false, OnSignal::Stop, |_, r, _| {
                catalog::resources(r, json)
            })
        }
        Command::Read { uri, server, json } => {
            init_logging(&g, "warn,rmcp=error");
            let config = load(own(overrides(None, None)))?;
            with_registry(config, false, OnSignal::Stop, |_, r, _| async move {
                catalog::read(r, &uri, server.as_deref(), json).await
            })
        }
        Command::Prompts { json } => {
            init_logging(&g, "warn,rmcp=error");
            with_registry(load(own(overrides(None, None)))?, false, OnSignal::Stop, |_, r, _| catalog::prompts(r, json))
        }
        Command::Prompt { name, args, json } => {
            init_logging(&g, "warn,rmcp=error");
            let args = commands::parse_args(args.as_deref())?;
            let config = load(own(overrides(None, None)))?;
            with_registry(config, false, OnSignal::Stop, |_, r, _| async move {
                catalog::prompt(r, &name, args, json).await
            })
        }
        Command::Call { tool, args, json } => {
            init_logging(&g, "warn,rmcp=error");
            let args = commands::parse_args(args.as_deref())?;
            let config = load(overrides(None, None))?;
            // Ctrl-C cancels the call (the server is told; a task is cancelled), then hub exits 130.
            with_registry(config, false, OnSignal::Graceful, |_, r, s| async move {
                commands::call(r, &tool, args, json, &s.token()).await
            })
        }
        Command::Run(args) => code::run(&g, args, load(overrides(None, None))?),
        Command::Code { action: code::CodeAction::Api { server } } => {
            code::api(&g, server, load(overrides(None, None))?)
        }
        Command::Status { servers, json } => {
            init_logging(&g, "warn,rmcp=error");
            let config = commands::only_servers(load(overrides(None, None))?, &servers)?;
            with_registry(config, false, OnSignal::Stop, |_, r, _| commands::status(r, servers, json))
        }
        Command::ImportConfig { file, from } => commands::import_config(file.as_deref(), from.as_deref()),
        Command::Auth { action } => {
            init_logging(&g, "warn,rmcp=error");
            let config = load(overrides(None, None))?;
            runtime()?.block_on(crate::auth::run(&config, action))
        }
        Command::Restart { name, stop, admin_token } => {
            let hub = g.hub.clone().unwrap_or_else(|| "http://127.0.0.1:8080".into());
            init_logging(&g, "warn");
            let action = if stop { "stop" } else { "restart" };
            runtime()?.block_on(commands::operate(&hub, &name, action, admin_token.as_deref()))
        }
        Command::Doctor { json } => {
            init_logging(&g, "off");
            crate::doctor::run(g.config.as_deref(), &overrides(None, None), json)
        }
        Command::Init { path, force, no_import } => config::init::run(path.as_deref(), force, !no_import),
        Command::Completions { shell, r#static } => shell::completions(shell, r#static),
        Command::Man { dir } => shell::man(dir.as_deref()),
        Command::Server { name } => {
            init_logging(&cli.global, "warn,rmcp=error");
            setup::business_server(&name)
        }
    }
}
