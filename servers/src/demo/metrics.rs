//! Daily business metrics of the demo dataset, derived from the other tables so that they agree with them:
//! mrr and active customers from the subscriptions, signups and churn from the customers, ticket counts from
//! the tickets, failed payments and revenue from the payment attempts.

use super::{Demo, Payment, Ticket};
use std::collections::HashMap;

/// Days of history the metrics cover.
pub const HISTORY_DAYS: i64 = 180;

/// (name, unit, description) of every metric.
pub const METRICS: [(&str, &str, &str); 8] = [
    ("mrr", "usd", "Monthly recurring revenue of active and past-due subscriptions at the end of the day"),
    ("active_customers", "count", "Customers with a live subscription (trialing, active or past due)"),
    ("new_signups", "count", "Customers who signed up that day"),
    ("churned_customers", "count", "Subscriptions canceled that day"),
    ("tickets_opened", "count", "Support tickets created that day"),
    ("tickets_resolved", "count", "Support tickets resolved or closed that day"),
    ("failed_payments", "count", "Payment attempts that failed that day"),
    ("revenue", "usd", "Successful payments collected that day"),
];

#[derive(Debug, Clone, PartialEq)]
pub struct MetricPoint {
    pub metric: &'static str,
    pub day: chrono::NaiveDate,
    pub value: f64,
}

/// Every metric for each of the last `HISTORY_DAYS` days up to and including today.
pub fn metrics(demo: &Demo, tickets: &[Ticket], payments: &[Payment]) -> Vec<MetricPoint> {
    let mut counts: HashMap<(&'static str, chrono::NaiveDate), f64> = HashMap::new();
    let mut bump = |m, d, v| *counts.entry((m, d)).or_insert(0.0) += v;
    for t in tickets {
        bump("tickets_opened", t.created, 1.0);
        if let Some(r) = t.resolved {
            bump("tickets_resolved", r, 1.0);
        }
    }
    for p in payments {
        if p.status == "failed" {
            bump("failed_payments", p.day, 1.0);
        } else {
            bump("revenue", p.day, p.amount_cents as f64 / 100.0);
        }
    }
    for c in &demo.customers {
        bump("new_signups", c.signup, 1.0);
        if let Some(d) = c.churned {
            bump("churned_customers", d, 1.0);
        }
    }
    let mut out = Vec::with_capacity(METRICS.len() * HISTORY_DAYS as usize);
    for offset in (1 - HISTORY_DAYS)..=0 {
        let day = demo.day(offset);
        let live = demo.customers.iter().filter(|c| c.signup <= day && c.churned.is_none_or(|x| x > day));
        let (mut active, mut mrr) = (0.0, 0.0);
        for c in live {
            active += 1.0;
            if !(c.trial && c.signup + chrono::Duration::days(14) > day) {
                mrr += c.price_cents as f64 / 100.0;
            }
        }
        for (metric, _, _) in METRICS {
            let value = match metric {
                "mrr" => mrr,
                "active_customers" => active,
                _ => counts.get(&(metric, day)).copied().unwrap_or(0.0),
            };
            out.push(MetricPoint { metric, day, value: (value * 100.0).round() / 100.0 });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{billing, tickets};
    use super::*;

    #[test]
    fn metrics_agree_with_the_tables() {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let demo = Demo::generate(300, today);
        let t = tickets(&demo);
        let (_, _, p) = billing(&demo);
        let m = metrics(&demo, &t, &p);
        assert_eq!(m.len(), METRICS.len() * HISTORY_DAYS as usize);
        let opened: f64 = m.iter().filter(|x| x.metric == "tickets_opened").map(|x| x.value).sum();
        let recent = t.iter().filter(|x| (today - x.created).num_days() < HISTORY_DAYS).count();
        assert_eq!(opened as usize, recent);
        let failed_today = p.iter().filter(|x| x.status == "failed" && x.day == today - chrono::Duration::days(6));
        let point = m.iter().find(|x| x.metric == "failed_payments" && x.day == today - chrono::Duration::days(6));
        assert_eq!(point.unwrap().value as usize, failed_today.count());
    }
}
