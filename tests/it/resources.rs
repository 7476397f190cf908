//! MCP beyond tools, server side (issue #13, first part): each business server offers its records as resource
//! templates (`customer://{id}`, `ticket://{id}`, `invoice://{id}`, `subscription://{customer_id}`,
//! `metric://{metric}`), read through its own lookup tool — same JSON as the tool, and the tool's own message for
//! an unknown record, as a JSON-RPC error.

use crate::util::Mcp;
use rmcp::model::{ReadResourceRequestParams, ResourceContents};
use serde_json::{Value, json};

/// The JSON text of `uri`, or the error message.
async fn read(server: &Mcp, uri: &str) -> Result<Value, String> {
    let peer = server.service.peer();
    match peer.read_resource(ReadResourceRequestParams::new(uri)).await {
        Ok(r) => match &r.contents[..] {
            [ResourceContents::TextResourceContents { text, mime_type, .. }] => {
                assert_eq!(mime_type.as_deref(), Some("application/json"));
                Ok(serde_json::from_str(text).unwrap())
            }
            other => panic!("one JSON text expected: {other:?}"),
        },
        Err(e) => Err(e.to_string()),
    }
}

async fn templates(server: &Mcp) -> Vec<String> {
    let list = server.service.peer().list_all_resource_templates().await.unwrap();
    list.into_iter().map(|t| t.uri_template).collect()
}

#[tokio::test]
async fn each_business_server_offers_its_records_as_resources() {
    let d = tempfile::tempdir().unwrap();
    let crm = Mcp::start(d.path(), "crm").await;
    assert_eq!(templates(&crm).await, ["customer://{id}"]);
    let caps = crm.service.peer().peer_info().unwrap().capabilities.clone();
    assert!(caps.resources.is_some() && caps.tools.is_some(), "{caps:?}");
    let customer = read(&crm, "customer://cus_000001").await.unwrap();
    assert_eq!(customer, crm.ok("get_customer", json!({"id": "cus_000001"})).await, "same JSON as the tool");
    let missing = read(&crm, "customer://cus_999999").await.unwrap_err();
    assert!(missing.contains("customer 'cus_999999' not found"), "{missing}");
    let malformed = read(&crm, "customer://42").await.unwrap_err();
    assert!(malformed.contains("cus_"), "the tool's own validation: {malformed}");
    let foreign = read(&crm, "ticket://tkt_000001").await.unwrap_err();
    assert!(foreign.contains("no records of kind 'ticket'") && foreign.contains("customer://"), "{foreign}");
    crm.stop().await;

    let tickets = Mcp::start(d.path(), "tickets").await;
    assert_eq!(templates(&tickets).await, ["ticket://{id}"]);
    let listed = tickets.ok("list_tickets", json!({})).await;
    let id = listed["tickets"][0]["id"].as_str().unwrap().to_string();
    let ticket = read(&tickets, &format!("ticket://{id}")).await.unwrap();
    assert_eq!(ticket, tickets.ok("get_ticket", json!({"id": id})).await);
    tickets.stop().await;

    let pay = Mcp::start(d.path(), "payments").await;
    assert_eq!(templates(&pay).await, ["invoice://{id}", "subscription://{customer_id}"]);
    let invoices = pay.ok("list_invoices", json!({"customer_id": "cus_000001"})).await;
    let id = invoices["invoices"][0]["id"].as_str().unwrap().to_string();
    let invoice = read(&pay, &format!("invoice://{id}")).await.unwrap();
    assert_eq!(invoice, pay.ok("get_invoice", json!({"id": id})).await);
    let sub = read(&pay, "subscription://cus_000001").await.unwrap();
    assert_eq!(sub, pay.ok("get_subscription", json!({"customer_id": "cus_000001"})).await);
    pay.stop().await;

    let analytics = Mcp::start(d.path(), "analytics").await;
    assert_eq!(templates(&analytics).await, ["metric://{metric}"]);
    let mrr = read(&analytics, "metric://mrr").await.unwrap();
    assert_eq!(mrr, analytics.ok("get_report", json!({"metric": "mrr"})).await);
    let unknown = read(&analytics, "metric://nope").await.unwrap_err();
    assert!(unknown.contains("metric must be one of"), "{unknown}");
    analytics.stop().await;
}

/// Through hub: `hub resources` lists every server's templates, `hub read` routes a URI to the server whose
/// template it matches and prints the same JSON the lookup tool gives.
#[test]
fn hub_lists_and_reads_the_servers_resources() {
    let env = crate::util::Env::new();
    let doc = env.run(&["resources", "--json"]).ok().json();
    let templates: Vec<(String, String)> = doc["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["server"].as_str().unwrap().into(), t["uriTemplate"].as_str().unwrap().into()))
        .collect();
    for (server, template) in
        [("crm", "customer://{id}"), ("tickets", "ticket://{id}"), ("analytics", "metric://{metric}")]
    {
        assert!(templates.contains(&(server.into(), template.into())), "{templates:?}");
    }
    let read = env.run(&["read", "customer://cus_000001", "--json"]).ok().json();
    assert_eq!(read["server"], "crm");
    let text = read["contents"][0]["text"].as_str().unwrap();
    let called = env.run(&["call", "crm__get_customer", r#"{"id": "cus_000001"}"#]).ok().json();
    assert_eq!(serde_json::from_str::<Value>(text).unwrap(), called);
    let plain = env.run(&["read", "metric://mrr"]).ok().stdout;
    assert!(plain.contains("\"metric\": \"mrr\""), "{plain}");

    let missing = env.run(&["read", "customer://cus_999999"]);
    assert_eq!(missing.code, 1);
    assert!(missing.stderr.contains("customer 'cus_999999' not found"), "{}", missing.stderr);
    let unrouted = env.run(&["read", "nope://x"]);
    assert_eq!(unrouted.code, 1);
    assert!(unrouted.stderr.contains("no server lists it or a template it matches"), "{}", unrouted.stderr);
    let forced = env.run(&["read", "customer://cus_000001", "--server", "tickets"]);
    assert!(forced.code == 1 && forced.stderr.contains("no records of kind 'customer'"), "{}", forced.stderr);
}
