//! `hub resources` and `hub read`: what the servers offer besides tools — resources and resource templates —
//! and reading one resource from the server that offers it. Text is printed as it is; binary contents are
//! described (mime type and size), never written to the terminal; `--json` gives the MCP contents as they came.
//! The tool index, which the model sees, is not touched.

use crate::exit::{self, Failure};
use crate::output;
use crate::registry::Registry;
use rmcp::model::ResourceContents;
use serde_json::json;

/// `hub resources [--json]`.
pub async fn resources(registry: Registry, json_out: bool) -> exit::Result<u8> {
    for w in output::warnings(&registry) {
        eprintln!("warning: {w}");
    }
    let (resources, templates) = (registry.resources(), registry.templates());
    if json_out {
        let with = |server: &str, v: serde_json::Value| {
            let mut v = v;
            v["server"] = json!(server);
            v
        };
        let resources: Vec<_> = resources.iter().map(|(s, r)| with(s, json!(r))).collect();
        let templates: Vec<_> = templates.iter().map(|(s, t)| with(s, json!(t))).collect();
        let doc = json!({"resources": resources, "templates": templates, "servers": output::server_states(&registry)});
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return Ok(exit::OK);
    }
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

/// `hub read URI [--server NAME] [--json]`.
pub async fn read(registry: Registry, uri: &str, server: Option<&str>, json_out: bool) -> exit::Result<u8> {
    let (server, result) = registry.read_resource(uri, server).await.map_err(|e| Failure::runtime(e.to_string()))?;
    if json_out {
        let doc = json!({"server": server, "uri": uri, "contents": result.contents});
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return Ok(exit::OK);
    }
    for contents in &result.contents {
        match contents {
            ResourceContents::TextResourceContents { text, .. } => println!("{text}"),
            ResourceContents::BlobResourceContents { uri, mime_type, blob, .. } => {
                // base64: four characters for every three bytes.
                let bytes = blob.len() / 4 * 3;
                let mime = mime_type.as_deref().unwrap_or("application/octet-stream");
                println!("({uri}: binary {mime}, about {bytes} bytes — not shown; --json gives it as base64)");
            }
            _ => println!("(contents of a kind hub does not know; --json shows them)"),
        }
    }
    Ok(exit::OK)
}
