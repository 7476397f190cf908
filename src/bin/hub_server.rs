//! `hub-server NAME`: one of hub's built-in servers over stdio, from a binary that carries the servers alone
//! (hub_servers::process says how hub uses it and what happens when it is of another build).

fn main() -> std::process::ExitCode {
    hub_servers::process::main()
}
