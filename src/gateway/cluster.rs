//! What the replicas of a fleet share through Redis (`[gateway] redis = "redis://…"` or `hub serve --redis`):
//! cluster-wide rate limits (GCRA, one Lua script run atomically in Redis — the `redis-cell` algorithm — keyed by
//! client address or token name) and the fan-out of `list_changed` between replicas (pub/sub on `hub:changed`:
//! a replica whose lists change tells its own sessions and publishes; the others tell theirs), and the end of
//! sealed sessions: a session a client DELETEs is closed on every replica and leaves a tombstone (for the idle
//! time), so no replica restores it from its sealed id again.
//!
//! Redis is never in the way of serving: a command that fails or takes over `TIMEOUT` marks Redis down, rate
//! limits fall back to each replica's own (`Verdict::Unavailable`, counted for /metrics), and Redis is tried again
//! after `RETRY`; the subscriber reconnects with backoff. `/status` and `/metrics` say which mode is in force.

use super::sessions::{Changed, Peers, Table};
use futures::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde_json::{Value, json};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Longest a rate-limit check may wait for Redis before the local limit decides.
const TIMEOUT: Duration = Duration::from_millis(500);
/// How long after a failure Redis is left alone (rate limits stay local meanwhile).
const RETRY: Duration = Duration::from_secs(1);
const CHANNEL: &str = "hub:changed";
/// Why Redis is not used yet, before the first contact.
const NOT_YET: &str = "not connected yet";

/// GCRA: KEYS[1] the client's key, ARGV[1] the emission interval and ARGV[2] the burst tolerance, in µs. Returns
/// 0 when the request is allowed (and counted), else how many µs until it would be.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval, tolerance = tonumber(ARGV[1]), tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
if tat - now > tolerance then return math.ceil(tat - now - tolerance) end
redis.call('SET', KEYS[1], tostring(tat + interval), 'PX', math.ceil((tat + interval - now) / 1000) + 1)
return 0
";

/// What Redis said about one request.
pub enum Verdict {
    Allowed,
    /// Over the cluster-wide limit; allowed again after this long.
    Limited(Duration),
    /// Redis could not be asked: the replica's own limit decides.
    Unavailable,
}

struct Health {
    down: Option<(Instant, String)>,
    retry_at: Option<Instant>,
}

pub struct Cluster {
    /// The URL without credentials (for /status).
    shown: String,
    client: redis::Client,
    conn: ConnectionManager,
    /// This replica's id in published messages (its own are ignored when they come back).
    replica: String,
    gcra: redis::Script,
    health: Mutex<Health>,
    fallbacks: AtomicU64,
}

impl Cluster {
    /// Checks the URL; connects lazily (a replica starts whether Redis is up or not).
    pub fn new(url: &str) -> Result<Cluster, String> {
        let client = redis::Client::open(url).map_err(|e| format!("redis URL '{}': {e}", shown(url)))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(RETRY);
        let conn = client.get_connection_manager_lazy(config).map_err(|e| format!("redis: {e}"))?;
        let mut id = [0u8; 8];
        aws_lc_rs::rand::fill(&mut id).map_err(|_| "no randomness for the replica id".to_string())?;
        Ok(Cluster {
            shown: shown(url),
            client,
            conn,
            replica: id.iter().map(|b| format!("{b:02x}")).collect(),
            gcra: redis::Script::new(GCRA),
            // Not connected until the subscription (made at once) or a command succeeds.
            health: Mutex::new(Health { down: Some((Instant::now(), NOT_YET.into())), retry_at: None }),
            fallbacks: AtomicU64::new(0),
        })
    }

    /// Counts one request of `key` against `rate` requests per second (burst: two seconds' worth, as locally).
    pub async fn admit(&self, key: &str, rate: f64) -> Verdict {
        let interval = 1e6 / rate;
        let burst = (rate * 2.0).ceil().max(1.0);
        let mut invocation = self.gcra.key(format!("hub:rate:{key}"));
        invocation.arg(interval.round() as u64).arg((interval * (burst - 1.0)).round() as u64);
        let mut conn = self.conn.clone();
        match self.run(invocation.invoke_async::<u64>(&mut conn), true).await {
            Some(0) => Verdict::Allowed,
            Some(wait) => Verdict::Limited(Duration::from_micros(wait)),
            None => {
                self.fallbacks.fetch_add(1, Ordering::Relaxed);
                Verdict::Unavailable
            }
        }
    }

    /// Tells the other replicas that lists changed here.
    pub async fn publish(&self, changed: Changed) {
        let message = json!({"from": self.replica, "resources": changed.resources, "prompts": changed.prompts});
        let mut publish = redis::cmd("PUBLISH");
        publish.arg(CHANNEL).arg(message.to_string());
        let mut conn = self.conn.clone();
        self.run(publish.query_async::<i64>(&mut conn), false).await;
    }

    /// Session `local` was closed by its client: a tombstone for `ttl`, and every replica closes its copy.
    pub async fn closed(&self, local: &str, ttl: Duration) {
        let mut pipe = redis::pipe();
        pipe.cmd("SET").arg(format!("hub:closed:{local}")).arg(1).arg("PX").arg(ttl.as_millis() as u64).ignore();
        let message = json!({"from": self.replica, "closed": local});
        pipe.cmd("PUBLISH").arg(CHANNEL).arg(message.to_string()).ignore();
        let mut conn = self.conn.clone();
        self.run(pipe.query_async::<()>(&mut conn), false).await;
    }

    /// Whether session `local` was closed by its client (false when Redis cannot say).
    pub async fn is_closed(&self, local: &str) -> bool {
        let mut exists = redis::cmd("EXISTS");
        exists.arg(format!("hub:closed:{local}"));
        let mut conn = self.conn.clone();
        self.run(exists.query_async::<i64>(&mut conn), true).await.is_some_and(|n| n > 0)
    }

    /// One command or pipeline, bounded by `TIMEOUT`; None (Redis marked down) when it fails. `on_the_path`:
    /// a request waits for it, so it is not even tried while Redis is left alone after a failure (what other
    /// replicas must hear — a list change, a closed session — is always tried).
    async fn run<T>(&self, command: impl Future<Output = redis::RedisResult<T>>, on_the_path: bool) -> Option<T> {
        if on_the_path && self.resting() {
            return None;
        }
        match tokio::time::timeout(TIMEOUT, command).await {
            Ok(Ok(value)) => Some(self.up(value)),
            Ok(Err(e)) => self.down(e.to_string()),
            Err(_) => self.down(format!("no answer within {} ms", TIMEOUT.as_millis())),
        }
    }

    /// Relays other replicas' changes to this replica's sessions until `stop`, resubscribing after outages.
    pub fn listen(self: std::sync::Arc<Self>, peers: Peers, table: Table, stop: CancellationToken) {
        tokio::spawn(async move {
            let mut pause = Duration::from_millis(100);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = self.relay(&peers, &table) => {}
                }
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(pause) => {}
                }
                pause = (pause * 2).min(RETRY * 2);
            }
        });
    }

    /// One subscription, until its connection fails.
    async fn relay(&self, peers: &Peers, table: &Table) {
        let subscribed = async {
            let mut pubsub = self.client.get_async_pubsub().await?;
            pubsub.subscribe(CHANNEL).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let mut pubsub = match tokio::time::timeout(TIMEOUT * 4, subscribed).await {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => return self.down(e.to_string()).unwrap_or(()),
            Err(_) => return self.down("subscribing timed out".into()).unwrap_or(()),
        };
        self.up(());
        let mut messages = pubsub.on_message();
        while let Some(m) = messages.next().await {
            let Ok(text) = m.get_payload::<String>() else { continue };
            let Ok(v) = serde_json::from_str::<Value>(&text) else { continue };
            if v["from"].as_str() == Some(self.replica.as_str()) {
                continue;
            }
            match v["closed"].as_str() {
                Some(local) => table.close_local(local).await,
                None => {
                    let changed = Changed { resources: v["resources"] == true, prompts: v["prompts"] == true };
                    peers.notify_all(changed).await;
                }
            }
        }
        self.down::<()>("the subscription to Redis ended".into());
    }

    /// Whether Redis is being left alone after a failure.
    fn resting(&self) -> bool {
        let health = self.health.lock().unwrap_or_else(|p| p.into_inner());
        health.retry_at.is_some_and(|at| Instant::now() < at)
    }

    fn up<T>(&self, verdict: T) -> T {
        let mut health = self.health.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, why)) = health.down.take().filter(|(_, w)| w != NOT_YET) {
            eprintln!("hub serve: Redis {} is back (was: {why}); rate limits are cluster-wide again", self.shown);
        }
        health.retry_at = None;
        verdict
    }

    fn down<T>(&self, why: String) -> Option<T> {
        let mut health = self.health.lock().unwrap_or_else(|p| p.into_inner());
        if health.down.as_ref().is_none_or(|(_, w)| w == NOT_YET) {
            eprintln!(
                "hub serve: Redis {} unreachable ({why}); rate limits are per replica until it is back",
                self.shown
            );
            health.down = Some((Instant::now(), why));
        }
        health.retry_at = Some(Instant::now() + RETRY);
        None
    }

    /// The `cluster` part of /status.
    pub fn status(&self) -> Value {
        let health = self.health.lock().unwrap_or_else(|p| p.into_inner());
        match &health.down {
            None => json!({"redis": self.shown, "connected": true, "rate_limits": "cluster"}),
            Some((since, why)) => json!({
                "redis": self.shown, "connected": false, "rate_limits": "local",
                "error": why, "down_for_secs": since.elapsed().as_secs(),
            }),
        }
    }

    /// Prometheus lines: whether Redis is reachable, and the requests limited locally because it was not.
    pub fn metrics(&self, out: &mut String) {
        let up = self.health.lock().unwrap_or_else(|p| p.into_inner()).down.is_none();
        out.push_str("# HELP hub_cluster_redis_up Whether this replica reaches the fleet's Redis.\n");
        out.push_str(&format!("# TYPE hub_cluster_redis_up gauge\nhub_cluster_redis_up {}\n", u8::from(up)));
        out.push_str("# HELP hub_rate_limit_local_fallbacks_total Requests limited by this replica alone, Redis being unreachable.\n");
        let n = self.fallbacks.load(Ordering::Relaxed);
        out.push_str(&format!(
            "# TYPE hub_rate_limit_local_fallbacks_total counter\nhub_rate_limit_local_fallbacks_total {n}\n"
        ));
    }
}

/// A Redis URL without its password.
fn shown(url: &str) -> String {
    match (url.split_once("://"), url.rsplit_once('@')) {
        (Some((scheme, _)), Some((_, host))) => format!("{scheme}://…@{host}"),
        _ => url.to_string(),
    }
}
