//! Integration tests of the hub binary and the servers it ships, as real processes on real SQLite files in
//! temporary directories. One test target; `util` holds the helpers.

mod agent;
mod bounded;
mod browser;
mod chat_offers;
mod client_side;
mod core;
mod doctor;
mod fuzz;
mod gateway;
mod hostile;
mod hostile_http;
mod import;
mod jwt;
mod model;
mod oauth;
mod oauth_bad;
mod oauth_client;
mod oauth_keyring;
mod pins;
mod planner;
mod plugins;
mod policy;
mod prompts;
mod reliability;
mod repl;
mod replicas;
mod resources;
mod servers;
mod streamed;
mod supervision;
mod transforms;
mod triage;
mod util;
mod ws;
