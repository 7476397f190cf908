//! hub — an MCP integration hub: many MCP servers, one tool index, an OpenAI-compatible agent loop.
//!
//! Layout:
//! - `cli`      the command line (clap), dispatch to the commands, exit codes
//! - `commands` tools, call, status, import-config, and the connect/run/shutdown frame
//! - `config`   servers.toml: discovery, strict parsing, ${VAR} expansion, import-config
//! - `exit`     the exit-code contract and the error type that carries one
//! - `output`   tables and tool results for people
//! - `registry` connections under supervision, the merged tool index, routed calls

pub mod cli;
pub mod commands;
pub mod config;
pub mod exit;
pub mod output;
pub mod registry;
