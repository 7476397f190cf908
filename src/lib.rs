//! hub — an MCP integration hub: many MCP servers, one tool index, an OpenAI-compatible agent loop.
//!
//! Layout:
//! - `agent`    the tool-calling loop: turns, parallel tool calls, approvals, turn cap
//! - `ask`      `hub ask`: progress, answer or --json document, exit code
//! - `backoff`  exponential backoff with jitter (model retries, server restarts)
//! - `catalog`  `hub resources`, `read`, `prompts`, `prompt`: what servers offer besides tools
//! - `cli`      the command line (clap), dispatch to the commands, exit codes
//! - `commands` tools, call, status, import-config
//! - `config`   servers.toml: discovery, strict parsing, ${VAR} expansion, import-config
//! - `exit`     the exit-code contract and the error type that carries one
//! - `frame`    the frame every registry-backed command runs in: start, run, always stop the children
//! - `gateway`  `hub serve`: the index as one MCP server (stdio, HTTP) plus the REST API
//! - `llm`      the OpenAI-compatible endpoint: requests, retries, streaming, lenient parsing
//! - `output`   tables and tool results for people
//! - `planner`  the offline planner: answers without a model, deterministically
//! - `rank`     lexical relevance of tools to a question
//! - `registry` connections under supervision, the merged tool index, routed calls
//! - `repl`     `hub chat`: the interactive REPL
//! - `sampling` servers' sampling requests answered with the model, under each server's policy
//! - `shutdown` the one place SIGINT/SIGTERM become a cancellation token
//! - `telemetry` OpenTelemetry export of spans and metrics, W3C trace context in and out
//! - `triage`   `hub triage`: batches of items, concurrent, resumable, schema-checked
//! - `truncate` JSON-aware truncation of tool results within a byte budget

pub mod agent;
pub mod ask;
pub mod attach;
pub mod auth;
pub mod backoff;
pub mod catalog;
pub mod cli;
pub mod code;
pub mod commands;
pub mod config;
pub mod doctor;
pub mod exit;
pub mod frame;
pub mod gateway;
pub mod llm;
pub mod output;
pub mod planner;
pub mod rank;
pub mod registry;
pub mod repl;
pub mod sampling;
pub mod search;
pub mod shutdown;
pub mod telemetry;
pub mod triage;
pub mod truncate;
