//! Exponential backoff with jitter, shared by the model client's retries and the supervisor's restarts: the n-th
//! wait is a random point between half and all of `base × 2^(n-1)`, capped at `max`, so that callers that failed
//! together (triage workers, a fleet's servers) do not retry in lockstep.

use std::time::Duration;

/// The wait before attempt `attempt` (1-based).
pub fn delay(attempt: u32, base: Duration, max: Duration) -> Duration {
    let ceiling = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20)).min(max);
    jittered(ceiling)
}

/// Between half and all of `d`.
pub fn jittered(d: Duration) -> Duration {
    d.mul_f64(0.5 + 0.5 * unit())
}

/// A number in [0, 1) that differs between calls and processes (std's randomly keyed hasher; no crate needed).
fn unit() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_within_jitter_and_caps() {
        let (base, max) = (Duration::from_millis(250), Duration::from_secs(8));
        let delays: Vec<Duration> = (0..50).map(|_| delay(3, base, max)).collect();
        assert!(delays.iter().all(|d| *d >= Duration::from_millis(500) && *d <= Duration::from_millis(1000)));
        assert!(delays.iter().any(|d| *d != delays[0]), "not all the same: {delays:?}");
        assert!(delay(30, base, max) <= max && delay(30, base, max) >= max / 2);
    }
}
