//! The exit-code contract (0 ok, 1 runtime failure, 2 usage or configuration error, 3 turn cap reached,
//! 4 completed with failed items, 130 interrupted) and `Failure`, the error that carries its code to `main`.

use std::fmt;

pub const OK: u8 = 0;
pub const RUNTIME: u8 = 1;
pub const USAGE: u8 = 2;
pub const TURN_CAP: u8 = 3;
pub const FAILED_ITEMS: u8 = 4;
pub const INTERRUPTED: u8 = 130;

/// An error with the exit code it ends the process with.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn usage(message: impl Into<String>) -> Self {
        Failure { code: USAGE, message: message.into() }
    }
    pub fn runtime(message: impl Into<String>) -> Self {
        Failure { code: RUNTIME, message: message.into() }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        match e.downcast::<Failure>() {
            Ok(f) => f,
            Err(e) => Failure::runtime(format!("{e:#}")),
        }
    }
}

pub type Result<T> = std::result::Result<T, Failure>;
