//! The REST routes for finding tools and for what the servers offer besides tools, in the same shapes as the CLI's
//! `--json`: `GET /tools/search?q=…[&limit=N][&server=S]` (the tools a caller may see, best first — what
//! `hub tools search --json` prints; 400 for an empty or over-long query, a limit out of 1–100 or an unknown
//! server), `GET /resources` (resources and templates, each with its server), `GET /resource?uri=…[&server=…]` (one
//! resource read from the server that offers it), `GET /prompts` (namespaced names) and
//! `POST /prompt {"name": …, "arguments": {…}}` (one prompt filled in). Errors: 404 for an unknown URI or prompt,
//! 400 for missing or wrong prompt arguments, 503 for a server that is down, 504 for a timeout.

use super::rest::{App, Caller, error, named, status_of};
use crate::catalog;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;

pub async fn resources(State(app): State<Arc<App>>, who: Caller) -> Json<Value> {
    Json(super::only_usable(who.as_deref().map(|w| &**w), catalog::resource_list(&app.gateway.registry)))
}

#[derive(serde::Deserialize)]
pub struct Find {
    q: Option<String>,
    limit: Option<usize>,
    server: Option<String>,
}

pub async fn search(State(app): State<Arc<App>>, who: Caller, Query(f): Query<Find>) -> Response {
    use crate::search::found::{Ask, DEFAULT_LIMIT, found};
    let query = f.q.unwrap_or_default();
    let ask =
        Ask { query: &query, server: f.server.as_deref(), limit: f.limit.unwrap_or(DEFAULT_LIMIT), schemas: false };
    let who = who.as_deref().map(|w| &**w);
    match found(&app.gateway.registry, &[], &ask, |e| super::visible(who, e)) {
        Ok(doc) => Json(doc).into_response(),
        Err(why) => error(StatusCode::BAD_REQUEST, &why),
    }
}

#[derive(serde::Deserialize)]
pub struct Read {
    uri: Option<String>,
    server: Option<String>,
}

pub async fn resource(State(app): State<Arc<App>>, who: Caller, Query(q): Query<Read>) -> Response {
    let Some(uri) = q.uri.filter(|u| !u.is_empty()) else {
        return error(StatusCode::BAD_REQUEST, "give the resource as ?uri=… (and &server=… to choose the server)");
    };
    if let Err(e) = app.gateway.may_read(who.as_deref().map(|w| &**w), &uri, q.server.as_deref(), "read") {
        return error(status_of(&e), &e.to_string());
    }
    match app.gateway.registry.read_resource(&uri, q.server.as_deref()).await {
        Ok((server, result)) => {
            Json(json!({"server": server, "uri": uri, "contents": result.contents})).into_response()
        }
        Err(e) => error(status_of(&e), &e.to_string()),
    }
}

pub async fn prompts(State(app): State<Arc<App>>, who: Caller) -> Json<Value> {
    Json(super::only_usable(who.as_deref().map(|w| &**w), catalog::prompt_list(&app.gateway.registry)))
}

pub async fn prompt(State(app): State<Arc<App>>, who: Caller, body: axum::body::Bytes) -> Response {
    let (name, arguments) = match named(&body, "name") {
        Ok(parsed) => parsed,
        Err(why) => return error(StatusCode::BAD_REQUEST, &why),
    };
    if let Err(e) = app.gateway.may_prompt(who.as_deref().map(|w| &**w), &name) {
        return error(status_of(&e), &e.to_string());
    }
    match app.gateway.registry.get_prompt(&name, arguments.unwrap_or_default()).await {
        Ok((offered, result)) => Json(catalog::prompt_doc(&offered, &result)).into_response(),
        Err(e) => error(status_of(&e), &e.to_string()),
    }
}
