//! The `hub` binary: parses the command line and hands it to `hub::cli::run`, whose result is the exit code.

fn main() -> std::process::ExitCode {
    hub::cli::main()
}
