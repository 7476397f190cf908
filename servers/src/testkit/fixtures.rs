//! testkit's fixture resources, as the official conformance suite's resource scenarios name them:
//! `test://static-text` (text/plain), `test://static-binary` (a PNG, base64) and the template
//! `test://template/{id}/data` (JSON echoing the id), and `test://watched-resource` to subscribe to — so
//! `hub serve` in front of testkit can be checked by those scenarios, which go through the gateway's routing
//! (issue 13).

use rmcp::model::{ReadResourceResult, Resource, ResourceContents, ResourceTemplate};

/// A 1×1 PNG.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

pub fn resources() -> Vec<Resource> {
    vec![
        Resource::new("test://static-text", "static-text").with_mime_type("text/plain"),
        Resource::new("test://static-binary", "static-binary").with_mime_type("image/png"),
        Resource::new("test://watched-resource", "watched-resource").with_mime_type("text/plain"),
    ]
}

pub fn templates() -> Vec<ResourceTemplate> {
    let t = ResourceTemplate::new("test://template/{id}/data", "template-data");
    vec![t.with_mime_type("application/json").with_description("JSON data for the id in the URI")]
}

/// The fixture at `uri`, if it is one.
pub fn read(uri: &str) -> Option<ReadResourceResult> {
    let contents = match uri {
        "test://static-text" => ResourceContents::TextResourceContents {
            uri: uri.into(),
            mime_type: Some("text/plain".into()),
            text: "This is the content of the static text resource.".into(),
            meta: None,
        },
        "test://watched-resource" => ResourceContents::TextResourceContents {
            uri: uri.into(),
            mime_type: Some("text/plain".into()),
            text: "A resource to subscribe to (testkit's touch tool says it changed).".into(),
            meta: None,
        },
        "test://static-binary" => ResourceContents::BlobResourceContents {
            uri: uri.into(),
            mime_type: Some("image/png".into()),
            blob: PNG.into(),
            meta: None,
        },
        _ => {
            let id = uri.strip_prefix("test://template/")?.strip_suffix("/data")?;
            let text = serde_json::json!({"id": id, "templateTest": true, "data": format!("Data for ID: {id}")});
            ResourceContents::TextResourceContents {
                uri: uri.into(),
                mime_type: Some("application/json".into()),
                text: text.to_string(),
                meta: None,
            }
        }
    };
    Some(ReadResourceResult::new(vec![contents]))
}
