//! `hub resources`, `hub read`, `hub prompts` and `hub prompt`: what the servers offer besides tools —
//! resources, resource templates and prompts — reading one resource and getting one prompt filled in. Text is
//! printed as it is; binary contents are described (mime type and size), never written to the terminal;
//! `--json` gives the MCP contents as they came. The tool index, which the model sees, is not touched.

use crate::exit::{self, Failure};
use crate::output;
use crate::registry::{Offered, Registry};
use rmcp::model::{ContentBlock, GetPromptResult, JsonObject, ResourceContents};
use serde_json::{Value, json};

/// `hub resources [--json]`.
pub async fn resources(registry: Registry, json_out: bool) -> exit::Result<u8> {
    for w in output::warnings(&registry, &[]) {
        eprintln!("warning: {w}");
    }
    if json_out {
        let mut doc = resource_list(&registry);
        doc["servers"] = Value::Object(output::server_states(&registry, &[]));
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return Ok(exit::OK);
    }
    let (resources, templates) = (registry.resources(), registry.templates());
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let rows = resources
        .iter()
        .map(|(s, r)| vec![r.uri.clone(), s.clone(), r.name.clone(), opt(&r.mime_type), opt(&r.description)])
        .chain(templates.iter().map(|(s, t)| {
            vec![t.uri_template.clone(), s.clone(), t.name.clone(), opt(&t.mime_type), opt(&t.description)]
        }))
        .collect::<Vec<_>>();
    print!("{}", output::table(&["URI", "SERVER", "NAME", "MIME", "DESCRIPTION"], &rows, 70));
    Ok(exit::OK)
}

/// Every resource and template, each with its server — the same shape for `hub resources --json` and REST
/// `GET /resources`.
pub fn resource_list(registry: &Registry) -> Value {
    let with = |server: &str, mut v: Value| {
        v["server"] = json!(server);
        v
    };
    let resources: Vec<_> = registry.resources().iter().map(|(s, r)| with(s, json!(r))).collect();
    let templates: Vec<_> = registry.templates().iter().map(|(s, t)| with(s, json!(t))).collect();
    json!({"resources": resources, "templates": templates})
}

/// Every prompt under its namespaced name, with its server — for `hub prompts --json` and REST `GET /prompts`.
pub fn prompt_list(registry: &Registry) -> Value {
    let listed = registry.prompts().into_iter().map(|o| {
        let mut v = json!(o.prompt);
        v["name"] = json!(o.name);
        v["server"] = json!(o.server);
        v
    });
    json!({"prompts": listed.collect::<Vec<_>>()})
}

/// One filled-in prompt — for `hub prompt --json` and REST `POST /prompt`.
pub fn prompt_doc(offered: &Offered, result: &GetPromptResult) -> Value {
    json!({"name": offered.name, "server": offered.server, "description": result.description, "messages": result.messages})
}

/// `hub read URI [--server NAME] [--json]`.
pub async fn read(registry: Registry, uri: &str, server: Option<&str>, json_out: bool) -> exit::Result<u8> {
    let (server, result) = registry.read_resource(uri, server).await.map_err(|e| Failure::runtime(e.to_string()))?;
    if json_out {
        let doc = json!({"server": server, "uri": uri, "contents": result.contents});
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return Ok(exit::OK);
    }
    for contents in &result.contents {
        println!("{}", contents_text(contents));
    }
    Ok(exit::OK)
}

/// `hub prompts [--json]`.
pub async fn prompts(registry: Registry, json_out: bool) -> exit::Result<u8> {
    for w in output::warnings(&registry, &[]) {
        eprintln!("warning: {w}");
    }
    if json_out {
        let mut doc = prompt_list(&registry);
        doc["servers"] = Value::Object(output::server_states(&registry, &[]));
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return Ok(exit::OK);
    }
    let prompts = registry.prompts();
    let rows = prompts
        .iter()
        .map(|o| {
            let args = o.prompt.arguments.iter().flatten().map(crate::registry::describe_argument);
            let description = o.prompt.description.clone().unwrap_or_default();
            vec![o.name.clone(), o.server.clone(), args.collect::<Vec<_>>().join(" "), description]
        })
        .collect::<Vec<_>>();
    print!("{}", output::table(&["NAME", "SERVER", "ARGUMENTS", "DESCRIPTION"], &rows, 70));
    Ok(exit::OK)
}

/// `hub prompt NAME [JSON_ARGS] [--json]`: the prompt's messages, each under its role.
pub async fn prompt(registry: Registry, name: &str, args: Option<JsonObject>, json_out: bool) -> exit::Result<u8> {
    let (offered, result) =
        registry.get_prompt(name, args.unwrap_or_default()).await.map_err(|e| Failure::runtime(e.to_string()))?;
    if json_out {
        let doc = prompt_doc(&offered, &result);
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return Ok(exit::OK);
    }
    for m in &result.messages {
        let role = serde_json::to_value(&m.role).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
        match m.content.as_resource().map(|r| &r.resource) {
            Some(
                ResourceContents::TextResourceContents { uri, .. } | ResourceContents::BlobResourceContents { uri, .. },
            ) => {
                println!("── {role} · {uri} ──")
            }
            _ => println!("── {role} ──"),
        }
        println!("{}", block_text(&m.content));
    }
    Ok(exit::OK)
}

/// A content block as terminal text: text as it is, resources by their contents, media described.
pub fn block_text(block: &ContentBlock) -> String {
    if let Some(t) = block.as_text() {
        return t.text.clone();
    }
    if let Some(r) = block.as_resource() {
        return contents_text(&r.resource);
    }
    match serde_json::to_value(block) {
        Ok(v) => {
            let (kind, mime) = (v["type"].as_str().unwrap_or("content"), v["mimeType"].as_str().unwrap_or("?"));
            let bytes = v["data"].as_str().map_or(0, |d| d.len() / 4 * 3);
            format!("({kind} {mime}, about {bytes} bytes — not shown; --json gives it)")
        }
        Err(_) => "(content hub cannot show; --json gives it)".to_string(),
    }
}

/// One resource's contents as terminal text: its text, or a description of a binary blob.
pub fn contents_text(contents: &ResourceContents) -> String {
    match contents {
        ResourceContents::TextResourceContents { text, .. } => text.clone(),
        ResourceContents::BlobResourceContents { uri, mime_type, blob, .. } => {
            // base64: four characters for every three bytes.
            let bytes = blob.len() / 4 * 3;
            let mime = mime_type.as_deref().unwrap_or("application/octet-stream");
            format!("({uri}: binary {mime}, about {bytes} bytes — not shown; --json gives it as base64)")
        }
        _ => "(contents of a kind hub does not know; --json shows them)".to_string(),
    }
}
