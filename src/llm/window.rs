//! The model's context window, from the endpoint where it says: an entry of `GET /models` (OpenRouter, vLLM,
//! LM Studio, llama.cpp's `meta`), llama.cpp's `GET /props` (the context the server was started with), Ollama's
//! `POST /api/show` (the `num_ctx` it runs with, else the model's own context length). Used by `hub doctor` and by
//! the agent to fit the tool definitions to a small model. And whether an endpoint is local (a small model's
//! server, most likely; slow to read a long prompt).

use crate::config::ModelConfig;
use serde_json::Value;

/// An endpoint on this machine or the local network (Ollama, llama.cpp, LM Studio, vLLM at home).
pub fn is_local(base_url: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(base_url) else { return false };
    let host = url.host_str().unwrap_or_default().trim_matches(|c| c == '[' || c == ']');
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => {
            ip.is_loopback() || ip.is_private() || ip.is_link_local() || ip.is_unspecified()
        }
        Ok(std::net::IpAddr::V6(ip)) => ip.is_loopback() || ip.is_unspecified(),
        Err(_) => host == "localhost" || host.ends_with(".localhost") || host.ends_with(".local"),
    }
}

/// The window a `/models` entry states, under the names servers use for it.
pub fn of_entry(entry: &Value) -> Option<u64> {
    ["context_length", "context_window", "max_model_len", "max_context_length", "loaded_context_length"]
        .iter()
        .find_map(|k| entry[k].as_u64())
        .or_else(|| entry["meta"]["n_ctx"].as_u64())
        .or_else(|| entry["meta"]["n_ctx_train"].as_u64())
}

/// The server root beside `/v1`.
fn root(base: &str) -> &str {
    let base = base.trim_end_matches('/');
    base.strip_suffix("/v1").unwrap_or(base)
}

/// llama.cpp's `/props`.
pub async fn of_props(http: &reqwest::Client, base: &str) -> Option<u64> {
    let props: Value = http.get(format!("{}/props", root(base))).send().await.ok()?.json().await.ok()?;
    props["default_generation_settings"]["n_ctx"].as_u64().or_else(|| props["n_ctx"].as_u64())
}

/// Ollama's `/api/show` for `model`.
pub async fn of_ollama(http: &reqwest::Client, base: &str, model: &str) -> Option<u64> {
    let url = format!("{}/api/show", root(base));
    let shown: Value =
        http.post(url).json(&serde_json::json!({"model": model})).send().await.ok()?.json().await.ok()?;
    let num_ctx = shown["parameters"].as_str().and_then(|p| {
        p.lines().find_map(|l| l.trim().strip_prefix("num_ctx").and_then(|n| n.trim().parse::<u64>().ok()))
    });
    let trained = shown["model_info"]
        .as_object()
        .and_then(|info| info.iter().find(|(k, _)| k.ends_with(".context_length")).and_then(|(_, v)| v.as_u64()));
    num_ctx.or(trained)
}

/// The window the configured model's `/models` entry states.
async fn of_models(http: &reqwest::Client, cfg: &ModelConfig) -> Option<u64> {
    let base = cfg.base_url.trim_end_matches('/');
    let mut request = http.get(format!("{base}/models"));
    if let Some(k) = &cfg.api_key {
        request = request.bearer_auth(k);
    }
    let listed: Value = match request.send().await {
        Ok(r) if r.status().is_success() => r.json().await.ok()?,
        _ => return None,
    };
    let models = listed["data"].as_array()?;
    let this = models.iter().find(|d| d["id"] == cfg.name.as_str()).or(models.first().filter(|_| models.len() == 1));
    this.and_then(of_entry)
}

/// The window of the configured model: its `/models` entry, else `/props`, else `/api/show`. The three are asked
/// at once (one round trip of waiting, not three, before the first question to a server that answers few).
pub async fn discover(http: &reqwest::Client, cfg: &ModelConfig) -> Option<u64> {
    let base = cfg.base_url.trim_end_matches('/');
    let (listed, props, ollama) =
        tokio::join!(of_models(http, cfg), of_props(http, base), of_ollama(http, base, &cfg.name));
    listed.or(props).or(ollama)
}
