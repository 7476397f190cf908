//! The five business servers, each as its own process on a temporary data dir: every tool's happy path,
//! not-found and invalid input, writes that survive a restart, SQL injection as plain text, identical datasets
//! from two fresh dirs, the seed story across servers, tool metadata, and -32601 for unknown methods.

use crate::util::{HUB, Mcp, RawSession};
use serde_json::{Value, json};

fn dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[tokio::test]
async fn the_seed_story_holds_across_the_five_servers() {
    let d = dir();
    let crm = Mcp::start(d.path(), "crm").await;
    let found = crm.ok("search_customers", json!({"query": "john.smith@acme.com"})).await;
    assert_eq!(found["count"], 1);
    let john = &found["customers"][0];
    assert_eq!((john["name"].as_str(), john["company"].as_str()), (Some("John Smith"), Some("Acme Corp")));
    let id = john["id"].as_str().unwrap().to_string();

    let pay = Mcp::start(d.path(), "payments").await;
    let sub = pay.ok("get_subscription", json!({"customer_id": id})).await;
    assert_eq!(sub["status"], "past_due");
    let hist = pay.ok("get_payment_history", json!({"customer_id": id, "limit": 20})).await;
    let statuses: Vec<&str> =
        hist["payments"].as_array().unwrap().iter().map(|p| p["status"].as_str().unwrap()).collect();
    assert_eq!(statuses[0], "failed", "newest attempt failed: {statuses:?}");
    assert!(statuses.iter().skip(1).any(|s| *s == "succeeded"), "earlier payments succeeded: {statuses:?}");
    let failed = pay.ok("list_invoices", json!({"customer_id": id, "status": "failed"})).await;
    assert_eq!(failed["count"], 1);
    let issued = failed["invoices"][0]["issued_at"].as_str().unwrap();
    let days = (chrono_today() - chrono::NaiveDate::parse_from_str(issued, "%Y-%m-%d").unwrap()).num_days();
    assert!((1..=7).contains(&days), "the renewal failed last week: {issued}");

    let tickets = Mcp::start(d.path(), "tickets").await;
    let open = tickets.ok("list_tickets", json!({"customer_id": id, "status": "open"})).await;
    assert_eq!(open["count"], 1);
    assert_eq!(open["tickets"][0]["priority"], "high");
    assert!(open["tickets"][0]["subject"].as_str().unwrap().to_lowercase().contains("renewal"));

    let cal = Mcp::start(d.path(), "calendar").await;
    let upcoming = cal.ok("list_meetings", json!({"customer_id": id})).await;
    assert_eq!(upcoming["count"], 1, "{upcoming}");
    assert_eq!(upcoming["meetings"][0]["status"], "scheduled");
    for m in [crm, pay, tickets, cal] {
        m.stop().await;
    }
}

fn chrono_today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

#[tokio::test]
async fn crm_tools_happy_and_error_paths() {
    let d = dir();
    let crm = Mcp::start(d.path(), "crm").await;
    let acme = crm.ok("search_customers", json!({"query": "Acme", "limit": 100})).await;
    assert!(acme["count"].as_u64().unwrap() > 1);
    assert!(
        acme["customers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["company"] == "Acme Corp" || c["name"].as_str().unwrap().contains("Acme"))
    );
    let by_id = crm.ok("get_customer", json!({"id": "cus_000002"})).await;
    assert_eq!(by_id["customer"]["id"], "cus_000002");
    let by_email = crm.ok("get_customer", json!({"email": "JOHN.SMITH@acme.com"})).await;
    assert_eq!(by_email["customer"]["id"], "cus_000001");
    let updated = crm
        .ok("update_customer", json!({"id": "cus_000002", "fields": {"phone": "+1-555-000-0000", "plan": "growth"}}))
        .await;
    assert_eq!((updated["phone"].as_str(), updated["plan"].as_str()), (Some("+1-555-000-0000"), Some("growth")));
    let note = crm.ok("add_note", json!({"customer_id": "cus_000002", "text": "Called about renewal"})).await;
    assert_eq!(note["text"], "Called about renewal");

    assert!(crm.err("get_customer", json!({"id": "cus_999999"})).await.contains("customer 'cus_999999' not found"));
    assert!(crm.err("get_customer", json!({"email": "nobody@nowhere.org"})).await.contains("no customer with email"));
    assert!(crm.err("get_customer", json!({"email": "not-an-email"})).await.contains("email"));
    assert!(crm.err("get_customer", json!({})).await.contains("id or email"));
    assert!(crm.err("search_customers", json!({"query": "acme", "limit": 1000})).await.contains("limit"));
    assert!(
        crm.err("update_customer", json!({"id": "cus_000002", "fields": {"plan": "gold"}}))
            .await
            .contains("fields.plan")
    );
    assert!(
        crm.err("update_customer", json!({"id": "cus_000002", "fields": {"email": "john.smith@acme.com"}}))
            .await
            .contains("already has email")
    );
    assert!(crm.err("add_note", json!({"customer_id": "cus_000002", "text": "  "})).await.contains("text"));
    // A missing required field is rejected by argument deserialization, as a tool error.
    assert!(!crm.err("add_note", json!({"text": "x"})).await.is_empty());
    crm.stop().await;
}

#[tokio::test]
async fn search_treats_injection_as_text() {
    let d = dir();
    let crm = Mcp::start(d.path(), "crm").await;
    for q in ["x' OR '1'='1", "\"; DROP TABLE customers; --", "acme\" OR name MATCH \"*", "NEAR(a b)"] {
        let r = crm.call("search_customers", json!({"query": q})).await;
        if r.is_error != Some(true) {
            let v = r.structured_content.unwrap();
            assert!(v["count"].as_u64().unwrap() < 300, "{q} matched everything: {v}");
        }
    }
    let still = crm.ok("search_customers", json!({"query": "john.smith@acme.com"})).await;
    assert_eq!(still["count"], 1);
    crm.stop().await;
}

#[tokio::test]
async fn tickets_payments_calendar_analytics_tools() {
    let d = dir();
    let t = Mcp::start(d.path(), "tickets").await;
    let urgent = t.ok("list_tickets", json!({"status": "open", "priority": "high", "limit": 5})).await;
    assert!(urgent["tickets"].as_array().unwrap().iter().all(|x| x["status"] == "open" && x["priority"] == "high"));
    let created = t
        .ok(
            "create_ticket",
            json!({"customer_id": "cus_000003", "subject": "Help", "body": "Broken", "priority": "urgent"}),
        )
        .await;
    let tid = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["status"], "open");
    let done = t.ok("update_ticket", json!({"id": tid, "status": "resolved", "assignee": "alice"})).await;
    assert!(done["resolved_at"].is_string());
    t.ok("add_comment", json!({"ticket_id": tid, "body": "Fixed it"})).await;
    let detail = t.ok("get_ticket", json!({"id": tid})).await;
    assert_eq!(detail["comments"][0]["body"], "Fixed it");
    assert!(t.err("get_ticket", json!({"id": "TCK-99999"})).await.contains("not found"));
    assert!(t.err("get_ticket", json!({"id": "42"})).await.contains("TCK-01001"));
    assert!(
        t.err("create_ticket", json!({"customer_id": "cus_999999", "subject": "a", "body": "b"}))
            .await
            .contains("not found")
    );
    assert!(t.err("list_tickets", json!({"status": "nope"})).await.contains("status"));
    // Duplicate links: set, shown by get and list, never to itself or back, removed by "".
    let linked = t.ok("update_ticket", json!({"id": tid, "duplicate_of": "TCK-01001"})).await;
    assert_eq!(linked["duplicate_of"], "TCK-01001");
    assert_eq!(t.ok("get_ticket", json!({"id": tid})).await["ticket"]["duplicate_of"], "TCK-01001");
    let mine = t.ok("list_tickets", json!({"customer_id": "cus_000003", "limit": 200})).await;
    assert!(mine["tickets"].as_array().unwrap().iter().any(|x| x["id"] == tid && x["duplicate_of"] == "TCK-01001"));
    assert!(t.err("update_ticket", json!({"id": tid, "duplicate_of": tid})).await.contains("itself"));
    let back = t.err("update_ticket", json!({"id": "TCK-01001", "duplicate_of": tid})).await;
    assert!(back.contains("already linked"), "{back}");
    assert!(t.err("update_ticket", json!({"id": tid, "duplicate_of": "TCK-99999"})).await.contains("not found"));
    assert!(t.err("update_ticket", json!({"id": tid})).await.contains("duplicate_of"));
    let unlinked = t.ok("update_ticket", json!({"id": tid, "duplicate_of": ""})).await;
    assert!(unlinked["duplicate_of"].is_null());
    t.stop().await;

    let p = Mcp::start(d.path(), "payments").await;
    let inv = p.ok("list_invoices", json!({"customer_id": "cus_000001", "status": "failed"})).await;
    let inv_id = inv["invoices"][0]["id"].as_str().unwrap().to_string();
    let one = p.ok("get_invoice", json!({"id": inv_id})).await;
    assert_eq!(one["invoice"]["status"], "failed");
    assert!(!one["payments"].as_array().unwrap().is_empty());
    let retry = p.ok("retry_payment", json!({"invoice_id": inv_id})).await;
    assert_eq!(retry["outcome"], "failed", "a declined card is declined again: {retry}");
    assert_eq!(retry["invoice"]["attempts"].as_i64().unwrap(), one["invoice"]["attempts"].as_i64().unwrap() + 1);
    let paid = p.ok("list_invoices", json!({"customer_id": "cus_000001", "status": "paid", "limit": 1})).await;
    let paid_id = paid["invoices"][0]["id"].as_str().unwrap();
    assert!(p.err("retry_payment", json!({"invoice_id": paid_id})).await.contains("only failed invoices"));
    assert!(p.err("get_invoice", json!({"id": "INV-999999"})).await.contains("not found"));
    assert!(p.err("get_subscription", json!({"customer_id": "bad id"})).await.contains("customer_id"));
    p.stop().await;

    let c = Mcp::start(d.path(), "calendar").await;
    let m = c.ok("create_meeting", json!({"customer_id": "cus_000001", "title": "Card update", "start": "2030-01-02T10:00:00Z", "duration_minutes": 30})).await;
    let mid = m["id"].as_str().unwrap().to_string();
    let window = c.ok("list_meetings", json!({"from": "2030-01-02", "to": "2030-01-02"})).await;
    assert_eq!(window["meetings"][0]["id"], mid.as_str());
    let canceled = c.ok("cancel_meeting", json!({"id": mid, "reason": "moved"})).await;
    assert_eq!(canceled["status"], "canceled");
    assert!(c.err("cancel_meeting", json!({"id": mid, "reason": "again"})).await.contains("only scheduled"));
    assert!(
        c.err(
            "create_meeting",
            json!({"customer_id": "cus_000001", "title": "x", "start": "tomorrow", "duration_minutes": 30})
        )
        .await
        .contains("start")
    );
    assert!(
        c.err(
            "create_meeting",
            json!({"customer_id": "cus_000001", "title": "x", "start": "2030-01-02T10:00:00Z", "duration_minutes": 0})
        )
        .await
        .contains("duration_minutes")
    );
    assert!(c.err("list_meetings", json!({"from": "2030-02-01", "to": "2030-01-01"})).await.contains("before"));
    c.stop().await;

    let a = Mcp::start(d.path(), "analytics").await;
    let list = a.ok("list_metrics", json!({})).await;
    assert!(list["metrics"].as_array().unwrap().len() >= 7);
    let trend = a.ok("get_trend", json!({"metric": "mrr", "days": 30})).await;
    assert_eq!(trend["points"].as_array().unwrap().len(), 30);
    let report = a.ok("get_report", json!({"metric": "failed_payments", "period": "7d"})).await;
    assert_eq!(report["days"], 7);
    assert!(report["total"].as_f64().unwrap() >= 1.0, "John's failure is in the last week: {report}");
    assert!(a.err("get_trend", json!({"metric": "happiness"})).await.contains("metric must be one of"));
    assert!(a.err("get_report", json!({"metric": "mrr", "period": "1y"})).await.contains("period"));
    a.stop().await;
}

#[tokio::test]
async fn writes_survive_a_restart() {
    let d = dir();
    let t = Mcp::start(d.path(), "tickets").await;
    let created =
        t.ok("create_ticket", json!({"customer_id": "cus_000010", "subject": "Persist me", "body": "x"})).await;
    t.stop().await;
    let t = Mcp::start(d.path(), "tickets").await;
    let again = t.ok("get_ticket", json!({"id": created["id"]})).await;
    assert_eq!(again["ticket"]["subject"], "Persist me");
    t.stop().await;
}

#[tokio::test]
async fn two_fresh_data_dirs_hold_identical_datasets() {
    let (d1, d2) = (dir(), dir());
    let calls: [(&str, &str, Value); 5] = [
        ("crm", "search_customers", json!({"query": "Globex", "limit": 100})),
        ("tickets", "list_tickets", json!({"limit": 200})),
        ("payments", "get_payment_history", json!({"customer_id": "cus_000123", "limit": 100})),
        ("calendar", "list_meetings", json!({"from": "2000-01-01", "limit": 200})),
        ("analytics", "get_trend", json!({"metric": "revenue", "days": 180})),
    ];
    for (server, tool, args) in calls {
        let (a, b) = (Mcp::start(d1.path(), server).await, Mcp::start(d2.path(), server).await);
        assert_eq!(a.ok(tool, args.clone()).await, b.ok(tool, args).await, "{server}.{tool} differs");
        a.stop().await;
        b.stop().await;
    }
}

#[tokio::test]
async fn every_tool_has_description_schema_annotations_and_output_schema() {
    let d = dir();
    for server in hub_servers::SERVERS {
        let s = Mcp::start(d.path(), server).await;
        let tools = s.service.peer().list_all_tools().await.unwrap();
        assert!(tools.len() >= 3);
        for t in tools {
            assert!(t.description.as_deref().is_some_and(|d| d.len() > 10), "{server}.{}", t.name);
            assert_eq!(t.input_schema.get("type"), Some(&json!("object")));
            let a = t.annotations.as_ref().unwrap_or_else(|| panic!("{server}.{} has no annotations", t.name));
            assert!(a.read_only_hint.is_some() && a.destructive_hint.is_some() && a.idempotent_hint.is_some());
            assert!(t.output_schema.is_some(), "{server}.{} has no output schema", t.name);
        }
        s.stop().await;
    }
}

#[test]
fn unknown_methods_get_method_not_found_at_once() {
    let d = dir();
    let mut cmd = std::process::Command::new(HUB);
    cmd.args(["server", "calendar"]).env("HUB_DATA_DIR", d.path()).env("HUB_DEMO_CUSTOMERS", "50");
    let mut s = RawSession::spawn(cmd);
    assert_eq!(s.initialize()["id"], 1);
    s.send(r#"{"jsonrpc":"2.0","id":7,"method":"bogus/method","params":{}}"#);
    let v = s.recv();
    assert_eq!(v["id"], 7);
    assert_eq!(v["error"]["code"], -32601, "{v}");
    s.close();
    let _ = s.child.wait();
}
