//! hub — an MCP integration hub: many MCP servers, one tool index, an OpenAI-compatible agent loop.
//!
//! Layout:
//! - `cli`      the command line (clap), dispatch to the commands, exit codes
//! - `config`   servers.toml: discovery, strict parsing, ${VAR} expansion, import-config
//! - `exit`     the exit-code contract and the error type that carries one

pub mod cli;
pub mod config;
pub mod exit;
