//! `transforms`: what a declarative transform and a plugin cost on the call path — REST `/call kit__echo` through
//! `hub serve`, load from this process, with no transform, with one regex redaction, and with a pass-through
//! plugin process (Python) on one hook and on both.

use super::{HUB, ms, percentile};
use serde_json::json;

const PASS: &str =
    "import json, sys\nfor line in sys.stdin:\n    print(json.dumps({'id': json.loads(line)['id']}), flush=True)\n";

pub fn transforms() {
    println!(
        "## transforms and plugins: REST /call kit__echo through `hub serve`, 4 s per row, load from this process"
    );
    let kit = format!("[servers.kit]\ncommand = \"{HUB}\"\nargs = [\"server\", \"testkit\"]\n");
    let redact = "[[servers.kit.transform]]\nredact = ['\\b\\d{4}(-\\d{4}){3}\\b']\nredact_with = \"[card]\"\n";
    let plugin = |hooks: &str| {
        format!("[[plugins]]\ncommand = \"python3\"\nargs = [\"pass.py\"]\nhooks = [{hooks}]\ntools = [\"kit__*\"]\n")
    };
    let rows = [
        ("no transform, no plugin", kit.clone()),
        ("one regex redaction", format!("{kit}{redact}")),
        ("pass-through plugin, before_call", format!("{kit}{}", plugin("\"before_call\""))),
        ("pass-through plugin, both hooks", format!("{kit}{}", plugin("\"before_call\", \"after_call\""))),
    ];
    for (label, config) in rows {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("servers.toml"), config).unwrap();
        std::fs::write(dir.path().join("pass.py"), PASS).unwrap();
        let (mut child, base) = super::serve::start(HUB, dir.path());
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async {
            for clients in [1, 16] {
                let (rate, lat) = super::load::load(clients, 4.0, || {
                    let http = reqwest::Client::new();
                    let url = format!("{base}/call");
                    let body = json!({"tool": "kit__echo", "arguments": {"text": "card 1234-5678-9012-3456"}});
                    move || {
                        let (http, url, body) = (http.clone(), url.clone(), body.clone());
                        async move {
                            let r = http.post(url).json(&body).send().await.unwrap();
                            assert!(r.status().is_success(), "{}", r.status());
                            let _ = r.bytes().await;
                        }
                    }
                })
                .await;
                println!(
                    "{label}, {clients} client(s): {rate:.0} calls/s, p50 {} p99 {}",
                    ms(percentile(&lat, 0.5)),
                    ms(percentile(&lat, 0.99))
                );
            }
        });
        let _ = child.kill();
        let _ = child.wait();
    }
}
