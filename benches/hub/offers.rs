//! The `offers` scenario (issue #13): `hub resources --json` cold (whole process) with the five shipped servers,
//! then with server-everything beside them; and a sampling round trip through the gateway — an rmcp client
//! calls testkit's `sample` through `hub serve`, testkit asks for a completion, the gateway forwards it to the
//! client, whose callback asks the scripted model — against the model's own time as the callback measured it.
#![allow(deprecated)] // sampling: deprecated by SEP-2577 in rmcp, still in use

use super::model::{Model, answer};
use super::{HUB, run_measured, serve, summary};
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, CreateMessageRequestParams, CreateMessageResult,
    Implementation, SamplingMessage,
};
use rmcp::service::RequestContext;
use rmcp::{ClientHandler, ErrorData, RoleClient, ServiceExt};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn offers() {
    resources_cold();
    sampling_round_trip();
}

fn resources_cold() {
    println!("## offers: `hub resources --json` (whole process: spawn, handshakes, every list, output), n=15");
    let dir = tempfile::tempdir().unwrap();
    let home = std::env::var("INTEROP_HOME").unwrap_or_else(|_| format!("{}/.cache/hub-interop", env!("HOME")));
    let every = format!("{home}/npm-servers/node_modules/.bin/mcp-server-everything");
    let mut configs = vec![("five servers", hub::config::BUILTIN.to_string())];
    if std::path::Path::new(&every).exists() {
        let entry = format!("\n[servers.everything]\ncommand = \"{every}\"\nargs = [\"stdio\"]\n");
        configs.push(("server-everything alone (a Node.js process)", entry.clone()));
        configs.push(("five servers + server-everything", format!("{}{entry}", hub::config::BUILTIN)));
    } else {
        println!("  (server-everything is not installed at {every}: run ../shared/interop/setup.sh; skipped)");
    }
    for (label, config) in configs {
        std::fs::write(dir.path().join("servers.toml"), config).unwrap();
        let cmd = || {
            let mut c = Command::new(HUB);
            c.args(["resources", "--json"]).env("HUB_DATA_DIR", dir.path()).current_dir(dir.path());
            c
        };
        run_measured(&mut cmd());
        summary(label, (0..15).map(|_| run_measured(&mut cmd()).wall).collect());
    }
}

/// A downstream client whose sampling callback asks the scripted model, timing that request.
#[derive(Clone)]
struct Sampler {
    url: String,
    http: reqwest::Client,
    model_times: Arc<Mutex<Vec<Duration>>>,
}

impl ClientHandler for Sampler {
    fn get_info(&self) -> ClientConfig {
        let mut caps = ClientCapabilities::default();
        caps.sampling = Some(Default::default());
        ClientConfig::new(caps, Implementation::new("bench", "1"))
    }
    async fn create_message(
        &self,
        _params: CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        let started = Instant::now();
        let body = serde_json::json!({"model": "scripted", "messages": [{"role": "user", "content": "Say hello."}]});
        let reply = self.http.post(&self.url).json(&body).send().await;
        let text = match reply {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(e) => return Err(ErrorData::internal_error(e.to_string(), None)),
        };
        self.model_times.lock().unwrap().push(started.elapsed());
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let answer = v["choices"][0]["message"]["content"].as_str().unwrap_or_default().to_string();
        Ok(CreateMessageResult::new(SamplingMessage::assistant_text(answer), "scripted".into()))
    }
}

fn sampling_round_trip() {
    println!("## offers: a sampling round trip through `hub serve` (testkit's sample → gateway → client → scripted");
    println!(
        "   model, answering after 20 ms), n=200 sequential calls; overhead = call time - the model request's time"
    );
    let model = Model::start_fn(Duration::from_millis(20), |_| answer("Hello."));
    let dir = tempfile::tempdir().unwrap();
    let kit = format!("[servers.kit]\ncommand = \"{HUB}\"\nargs = [\"server\", \"testkit\"]\n");
    std::fs::write(dir.path().join("servers.toml"), kit).unwrap();
    let (mut child, base) = serve::start(HUB, dir.path());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (calls, models) = rt.block_on(async {
        let url = format!("{}/chat/completions", model.url);
        let client = Sampler { url, http: reqwest::Client::new(), model_times: Arc::default() };
        let transport = rmcp::transport::StreamableHttpClientTransport::from_uri(format!("{base}/mcp"));
        let mcp = client.clone().serve(transport).await.expect("connect");
        let mut calls = Vec::new();
        for _ in 0..210 {
            let started = Instant::now();
            let r = mcp.peer().call_tool(CallToolRequestParams::new("kit__sample")).await.expect("call");
            assert_ne!(r.is_error, Some(true), "{r:?}");
            calls.push(started.elapsed());
        }
        let _ = mcp.cancel().await;
        let models = client.model_times.lock().unwrap().clone();
        (calls[10..].to_vec(), models[10..].to_vec())
    });
    let overhead: Vec<Duration> = calls.iter().zip(&models).map(|(c, m)| c.saturating_sub(*m)).collect();
    summary("call through the gateway", calls);
    summary("the model request alone", models);
    summary("overhead (hub, testkit, the client's own MCP handling)", overhead);
    let _ = child.kill();
    let _ = child.wait();
}
