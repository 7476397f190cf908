//! `replicas = N` (a stdio server run as N processes of one command), `urls = ["…", "…"]` (a streamable HTTP
//! server reached at several addresses) and `balance` (how calls pick a replica): read and checked here, with
//! file:line errors. The registry (`registry::replica`) runs and routes them.

use super::raw::{RawServer, Str};
use super::resolve::one_of;
use super::{ErrAt, Failure};

/// Most replicas one server may have: each is a process or a connection of its own.
pub const MAX_REPLICAS: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Balance {
    /// The healthy replica with the fewest calls in flight; ties go round robin.
    #[default]
    LeastBusy,
    /// A downstream session keeps its replica while that replica is healthy (for stateful servers).
    Sticky,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Replicas {
    /// How many connections: N processes of a stdio server, or one per url.
    pub count: usize,
    /// A url server's addresses, one per replica (empty for a stdio server).
    pub urls: Vec<String>,
    pub balance: Balance,
}

impl Default for Replicas {
    fn default() -> Self {
        Replicas { count: 1, urls: Vec::new(), balance: Balance::LeastBusy }
    }
}

/// The url a url server's transport is built from: `url`, or the first of `urls`.
pub fn first_url(s: &RawServer) -> Option<&Str> {
    s.url.as_ref().or_else(|| s.urls.as_ref().and_then(|u| u.get_ref().first()))
}

/// Reads server `name`'s `replicas`, `urls` and `balance`.
pub fn resolve(
    name: &str,
    s: &RawServer,
    exp: &dyn Fn(&Str, &str) -> Result<String, Failure>,
    err: &ErrAt<'_>,
) -> Result<Replicas, Failure> {
    let key = |k: &str| format!("servers.{name}.{k}");
    let balance = one_of(
        s.balance.as_ref(),
        &key("balance"),
        &[("least_busy", Balance::LeastBusy), ("sticky", Balance::Sticky)],
        err,
    )?;
    if let Some(n) = &s.replicas {
        if s.url.is_some() || s.urls.is_some() {
            let why = "applies to command servers; give a url server several addresses with urls = [\"…\", \"…\"]";
            return Err(err(n.span().start, &key("replicas"), why));
        }
        let count = *n.get_ref();
        if count < 1 || count > MAX_REPLICAS as i64 {
            return Err(err(n.span().start, &key("replicas"), &format!("must be 1 to {MAX_REPLICAS}, got {count}")));
        }
        return Ok(Replicas { count: count as usize, urls: Vec::new(), balance });
    }
    let Some(list) = &s.urls else {
        return Ok(Replicas { balance, ..Replicas::default() });
    };
    if s.url.is_some() {
        return Err(err(list.span().start, &key("urls"), "set url or urls, not both"));
    }
    if s.command.is_some() {
        return Err(err(
            list.span().start,
            &key("urls"),
            "applies to url servers; run a command server several times with replicas = N",
        ));
    }
    if list.get_ref().is_empty() || list.get_ref().len() > MAX_REPLICAS {
        let why = format!("must list 1 to {MAX_REPLICAS} addresses, got {}", list.get_ref().len());
        return Err(err(list.span().start, &key("urls"), &why));
    }
    let mut urls: Vec<String> = Vec::new();
    for u in list.get_ref() {
        let url = exp(u, &key("urls"))?;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            let why = format!("must start with http:// or https://, got '{url}'");
            return Err(err(u.span().start, &key("urls"), &why));
        }
        if urls.contains(&url) {
            return Err(err(u.span().start, &key("urls"), &format!("lists '{url}' twice")));
        }
        urls.push(url);
    }
    Ok(Replicas { count: urls.len(), urls, balance })
}
