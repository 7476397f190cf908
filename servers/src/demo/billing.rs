//! Billing rows of the demo dataset: one subscription per customer, monthly invoices for the last year, and
//! the payment attempts behind each invoice (earlier failures retried, a few renewals that failed for good).

use super::{Customer, Demo, Rng};
use chrono::{Duration, Months, NaiveDate};

#[derive(Debug, Clone)]
pub struct Subscription {
    pub id: String,
    pub customer_id: String,
    pub plan: &'static str,
    pub status: &'static str,
    pub amount_cents: i64,
    pub started: NaiveDate,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub canceled: Option<NaiveDate>,
}

#[derive(Debug, Clone)]
pub struct Invoice {
    pub id: String,
    pub customer_id: String,
    pub subscription_id: String,
    pub amount_cents: i64,
    pub status: &'static str,
    pub issued: NaiveDate,
    pub due: NaiveDate,
    pub paid: Option<NaiveDate>,
    pub attempts: i64,
    pub failure_reason: Option<&'static str>,
}

#[derive(Debug, Clone)]
pub struct Payment {
    pub id: String,
    pub invoice_id: String,
    pub customer_id: String,
    pub amount_cents: i64,
    pub status: &'static str,
    pub day: NaiveDate,
    pub method: String,
    pub failure_reason: Option<&'static str>,
}

const FAILURES: [&str; 3] = ["card_declined", "insufficient_funds", "expired_card"];

/// Subscriptions, invoices and payments for every customer, in customer order.
pub fn billing(demo: &Demo) -> (Vec<Subscription>, Vec<Invoice>, Vec<Payment>) {
    let (mut subs, mut invoices, mut payments) = (Vec::new(), Vec::new(), Vec::new());
    for c in &demo.customers {
        let (sub, inv, pay) = customer_billing(demo, c, invoices.len(), payments.len());
        subs.push(sub);
        invoices.extend(inv);
        payments.extend(pay);
    }
    (subs, invoices, payments)
}

fn customer_billing(
    demo: &Demo,
    c: &Customer,
    invoice_seq: usize,
    payment_seq: usize,
) -> (Subscription, Vec<Invoice>, Vec<Payment>) {
    let mut r = Rng::stream(c.index, 1);
    let sub_id = format!("sub_{:06}", c.index + 1);
    let method = format!("{} ****{:04}", r.pick(&["visa", "mastercard", "amex"]), r.range(1_000, 9_999));
    let end = c.churned.unwrap_or(demo.today);
    let horizon = demo.day(-365);
    let mut invoices = Vec::new();
    let mut payments = Vec::new();
    let mut period_start = c.signup;
    let mut k = 0;
    let months = if c.trial { 0 } else { u32::MAX };
    while k < months {
        let Some(issued) = c.signup.checked_add_months(Months::new(k)) else { break };
        if issued > end {
            break;
        }
        k += 1;
        period_start = issued;
        if issued < horizon {
            continue;
        }
        let id = format!("INV-{:06}", invoice_seq + invoices.len() + 1);
        let recent = (demo.today - issued).num_days() <= 10 && c.churned.is_none();
        let story = c.index == 0;
        // A renewal that failed for good (the seed story's, and ~3% of recent renewals).
        let failed_for_good = recent && (story || r.chance(3));
        // An older renewal whose first attempt failed and the retry went through.
        let retried = !failed_for_good && !story && r.chance(5);
        let mut attempt = |day: NaiveDate, ok: bool, reason: Option<&'static str>| {
            payments.push(Payment {
                id: format!("pay_{:07}", payment_seq + payments.len() + 1),
                invoice_id: id.clone(),
                customer_id: c.id.clone(),
                amount_cents: c.price_cents,
                status: if ok { "succeeded" } else { "failed" },
                day,
                method: method.clone(),
                failure_reason: reason,
            });
        };
        let reason = if story { "card_declined" } else { *r.pick(&FAILURES) };
        let (status, paid, attempts, failure) = if failed_for_good {
            attempt(issued, false, Some(reason));
            let retry = issued + Duration::days(3);
            if retry < demo.today {
                attempt(retry, false, Some(reason));
                ("failed", None, 2, Some(reason))
            } else {
                ("failed", None, 1, Some(reason))
            }
        } else if retried {
            attempt(issued, false, Some(reason));
            attempt(issued + Duration::days(2), true, None);
            ("paid", Some(issued + Duration::days(2)), 2, None)
        } else {
            attempt(issued, true, None);
            ("paid", Some(issued), 1, None)
        };
        invoices.push(Invoice {
            id,
            customer_id: c.id.clone(),
            subscription_id: sub_id.clone(),
            amount_cents: c.price_cents,
            status,
            issued,
            due: issued + Duration::days(7),
            paid,
            attempts,
            failure_reason: failure,
        });
    }
    let last_failed = invoices.last().is_some_and(|i| i.status == "failed");
    let status = match (c.trial, c.churned, last_failed) {
        (true, _, _) => "trialing",
        (_, Some(_), _) => "canceled",
        (_, None, true) => "past_due",
        _ => "active",
    };
    let sub = Subscription {
        id: sub_id,
        customer_id: c.id.clone(),
        plan: c.plan,
        status,
        amount_cents: c.price_cents,
        started: c.signup,
        period_start,
        period_end: period_start.checked_add_months(Months::new(1)).unwrap_or(period_start),
        canceled: c.churned,
    };
    (sub, invoices, payments)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_story_renewal_failed_last_week() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let demo = Demo::generate(50, today);
        let (subs, invoices, payments) = billing(&demo);
        assert_eq!(subs[0].status, "past_due");
        let johns: Vec<_> = invoices.iter().filter(|i| i.customer_id == "cus_000001").collect();
        let last = johns.last().unwrap();
        assert_eq!(last.status, "failed");
        assert_eq!((today - last.issued).num_days(), 6);
        assert!(johns[..johns.len() - 1].iter().all(|i| i.status == "paid"));
        assert!(payments.iter().any(|p| p.invoice_id == last.id && p.status == "failed"));
    }
}
