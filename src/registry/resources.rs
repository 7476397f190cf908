//! Resources through the registry: every server's resources and resource templates (as last listed), and
//! reading one URI from the server that offers it — URIs stay as the servers give them and are routed by what
//! each server listed: an exact resource URI first, else the template whose fixed prefix (before its first `{`)
//! the URI starts with, the longest such prefix winning. Two servers claiming the same URI is an ambiguity the
//! caller resolves by naming the server.

use super::{CallError, Registry, wire};
use rmcp::model::{ReadResourceRequestParams, ReadResourceResult, Resource, ResourceTemplate};
use rmcp::service::ServiceError;
use rmcp::{Peer, RoleClient};

impl Registry {
    /// Every server's resources, with the server's name, in server order.
    pub fn resources(&self) -> Vec<(String, Resource)> {
        let each = |s: &super::Server| s.listed(|l| l.resources.clone());
        self.servers().iter().flat_map(|s| each(s).into_iter().map(|r| (s.cfg.name.clone(), r))).collect()
    }

    /// Every server's resource templates, with the server's name, in server order.
    pub fn templates(&self) -> Vec<(String, ResourceTemplate)> {
        let each = |s: &super::Server| s.listed(|l| l.templates.clone());
        self.servers().iter().flat_map(|s| each(s).into_iter().map(|t| (s.cfg.name.clone(), t))).collect()
    }

    /// A line for each resource URI more than one server lists (reading it then needs the server named).
    pub fn resource_collisions(&self) -> Vec<String> {
        let mut by_uri: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for (server, r) in self.resources() {
            by_uri.entry(r.uri).or_default().push(server);
        }
        let shared = by_uri.into_iter().filter(|(_, servers)| servers.len() > 1);
        shared
            .map(|(uri, s)| format!("resource '{uri}' is offered by {}; read it with --server", s.join(" and ")))
            .collect()
    }

    /// The server that offers `uri`: `server` when given, else the one whose listing claims it.
    pub fn route(&self, uri: &str, server: Option<&str>) -> Result<String, CallError> {
        if let Some(name) = server {
            return match self.server(name) {
                Some(_) => Ok(name.to_string()),
                None => Err(unknown(uri, format!("no server is named '{name}'"))),
            };
        }
        // Looked up in place, each server's listing under its lock: nothing is copied for a read.
        let servers = self.servers();
        let lists = |s: &super::Server| s.listed(|l| l.resources.iter().any(|r| r.uri == uri));
        let exact: Vec<String> = servers.iter().filter(|s| lists(s)).map(|s| s.cfg.name.clone()).collect();
        let claims = if exact.is_empty() {
            // The longest fixed prefix (before the first `{`) of a template of this server that `uri` starts with.
            let prefix = |s: &super::Server| {
                s.listed(|l| {
                    let fixed = l.templates.iter().map(|t| t.uri_template.split('{').next().unwrap_or_default());
                    fixed.filter(|f| !f.is_empty() && uri.starts_with(f)).map(str::len).max()
                })
            };
            let prefixed: Vec<(String, usize)> =
                servers.iter().filter_map(|s| prefix(s).map(|n| (s.cfg.name.clone(), n))).collect();
            let longest = prefixed.iter().map(|(_, n)| *n).max().unwrap_or(0);
            prefixed.into_iter().filter(|(_, n)| *n == longest).map(|(s, _)| s).collect()
        } else {
            exact
        };
        match &claims[..] {
            [one] => Ok(one.clone()),
            [] => Err(unknown(uri, "no server lists it or a template it matches".into())),
            many => Err(unknown(uri, format!("offered by {}; name one with --server", many.join(", ")))),
        }
    }

    /// Reads `uri` from the server that offers it (see `route`), under that server's deadline.
    pub async fn read_resource(
        &self,
        uri: &str,
        server: Option<&str>,
    ) -> Result<(String, ReadResourceResult), CallError> {
        let name = self.route(uri, server)?;
        let what = format!("read {uri}");
        let result = self
            .upstream(&name, &what, |peer| async move { peer.read_resource(ReadResourceRequestParams::new(uri)).await })
            .await?;
        Ok((name, result))
    }

    /// One request to server `name` (`what` names it in errors) while the server is up, under its deadline; a
    /// protocol error of the server fails it at once.
    pub(super) async fn upstream<T, F>(
        &self,
        name: &str,
        what: &str,
        request: impl FnOnce(Peer<RoleClient>) -> F,
    ) -> Result<T, CallError>
    where
        F: Future<Output = Result<T, ServiceError>>,
    {
        let server = self.server(name).cloned().ok_or_else(|| CallError::Protocol {
            server: name.to_string(),
            message: "no server has this name".into(),
        })?;
        let Some(lease) = server.lease(None, None) else {
            let reason = server.down_reason().unwrap_or_default();
            return Err(CallError::Down { server: name.to_string(), reason, retry_in: server.retry_in() });
        };
        let (peer, fault) = (lease.peer.clone(), lease.fault.clone());
        let reply = tokio::select! {
            r = tokio::time::timeout(server.cfg.timeout, request(peer)) => r,
            _ = fault.tripped() => {
                let reason = format!("it broke the protocol: {}", fault.reason().unwrap_or_default());
                return Err(CallError::Down { server: name.to_string(), reason, retry_in: None });
            }
        };
        let (after, server) = (server.cfg.timeout, name.to_string());
        match reply {
            Ok(Ok(result)) => Ok(result),
            Err(_) => Err(CallError::Timeout { tool: what.to_string(), after }),
            Ok(Err(ServiceError::McpError(e))) => Err(CallError::Protocol { server, message: e.message.to_string() }),
            Ok(Err(e)) => {
                if let Some(reason) = wire::fault_of(&e) {
                    fault.trip(reason);
                }
                Err(CallError::Protocol { server, message: e.to_string() })
            }
        }
    }
}

fn unknown(uri: &str, why: String) -> CallError {
    CallError::UnknownResource { uri: uri.to_string(), why }
}
