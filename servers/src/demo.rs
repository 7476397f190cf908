//! The one deterministic demo dataset shared by the five servers.
//!
//! Every server generates the same customers (same ids, names, emails, plans) from a fixed seed and keeps
//! only the tables it owns; the per-table generators in `demo/` draw from a random stream keyed by the
//! customer and the table, so a server that only needs tickets produces exactly the tickets the analytics
//! server counts. Dates are relative to `today` (the day the store is first created), so "last week" in the
//! seed story stays true for a fresh data directory.
//!
//! Owns: the random generator, the customer list and the seed story's fixed facts. Not the SQL (see `store`).

mod activity;
mod billing;
mod metrics;

pub use activity::{Comment, Meeting, Note, Ticket, comments, meetings, notes, tickets};
pub use billing::{Invoice, Payment, Subscription, billing};
pub use metrics::{METRICS, MetricPoint, metrics};

use chrono::{Duration, NaiveDate};

/// Default number of customers; `HUB_DEMO_CUSTOMERS` overrides it.
pub const DEFAULT_CUSTOMERS: usize = 600;

/// The seed story's customer (always the first one).
pub const STORY_EMAIL: &str = "john.smith@acme.com";

/// A small, fast, deterministic generator (SplitMix64). Not for cryptography.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A stream for one customer and one table: independent of how many other rows were drawn.
    pub fn stream(customer: usize, table: u64) -> Self {
        Rng(0x9E37_79B9_7F4A_7C15 ^ (customer as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9) ^ table << 56)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..hi` (hi exclusive, hi > lo).
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % (hi - lo) as u64) as i64
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next_u64() % items.len() as u64) as usize]
    }
}

/// A plan and its monthly price in cents.
pub const PLANS: [(&str, i64); 4] =
    [("starter", 2_900), ("growth", 9_900), ("business", 29_900), ("enterprise", 99_900)];

const COMPANIES: [(&str, &str); 32] = [
    ("Acme Corp", "acme.com"),
    ("Globex", "globex.com"),
    ("Initech", "initech.com"),
    ("Umbrella Health", "umbrella-health.com"),
    ("Hooli", "hooli.com"),
    ("Stark Industries", "stark.com"),
    ("Wayne Enterprises", "wayne.com"),
    ("Wonka Foods", "wonka.com"),
    ("Cyberdyne Systems", "cyberdyne.io"),
    ("Soylent", "soylent.com"),
    ("Tyrell", "tyrell.com"),
    ("Aperture Labs", "aperture.io"),
    ("Black Mesa", "blackmesa.org"),
    ("Vandelay Industries", "vandelay.com"),
    ("Pied Piper", "piedpiper.com"),
    ("Massive Dynamic", "massivedynamic.com"),
    ("Oscorp", "oscorp.com"),
    ("Dunder Mifflin", "dundermifflin.com"),
    ("Nakatomi Trading", "nakatomi.co.jp"),
    ("Bluth Company", "bluth.com"),
    ("Sterling Cooper", "sterlingcooper.com"),
    ("Los Pollos Hermanos", "lospollos.com"),
    ("Krusty Krab", "krustykrab.com"),
    ("Duff Brewing", "duff.com"),
    ("Virtucon", "virtucon.com"),
    ("Weyland-Yutani", "weyland.com"),
    ("Gekko & Co", "gekko.com"),
    ("Prestige Worldwide", "prestige.com"),
    ("Monarch Solutions", "monarch.io"),
    ("Northwind Traders", "northwind.com"),
    ("Contoso", "contoso.com"),
    ("Fabrikam", "fabrikam.com"),
];

const FIRST: [&str; 24] = [
    "Anna", "Ben", "Carla", "David", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kara", "Luis", "Maya",
    "Noah", "Olga", "Priya", "Quinn", "Rosa", "Sam", "Tara", "Umar", "Vera", "Wes", "Yuki",
];
const LAST: [&str; 24] = [
    "Adams", "Baker", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Huang", "Ivanova", "Jensen", "Kim", "Lopez",
    "Martin", "Nguyen", "Okafor", "Patel", "Quintero", "Rossi", "Schmidt", "Tanaka", "Usman", "Volkov", "Weber",
    "Young",
];
const COUNTRIES: [&str; 8] = ["US", "GB", "DE", "FR", "JP", "BR", "IN", "CA"];

/// One customer account (a contact at a company), as every server knows it.
#[derive(Debug, Clone)]
pub struct Customer {
    pub index: usize,
    pub id: String,
    pub name: String,
    pub email: String,
    pub company: String,
    pub phone: String,
    pub country: &'static str,
    pub plan: &'static str,
    pub price_cents: i64,
    /// Day the customer signed up (and the subscription started).
    pub signup: NaiveDate,
    /// Day the subscription was canceled, if it was.
    pub churned: Option<NaiveDate>,
    /// Still in the 14-day trial (no invoices yet).
    pub trial: bool,
}

impl Customer {
    pub fn status(&self) -> &'static str {
        match (self.churned, self.trial) {
            (Some(_), _) => "churned",
            (None, true) => "trial",
            (None, false) => "active",
        }
    }
}

/// The dataset's frame: the day it is relative to and its customers.
#[derive(Debug, Clone)]
pub struct Demo {
    pub today: NaiveDate,
    pub customers: Vec<Customer>,
}

pub fn customer_id(index: usize) -> String {
    format!("cus_{:06}", index + 1)
}

impl Demo {
    /// Size from `HUB_DEMO_CUSTOMERS` (default 600, at least 1).
    pub fn size_from_env() -> Result<usize, String> {
        match std::env::var("HUB_DEMO_CUSTOMERS") {
            Err(_) => Ok(DEFAULT_CUSTOMERS),
            Ok(v) => match v.trim().parse::<usize>() {
                Ok(n) if (1..=2_000_000).contains(&n) => Ok(n),
                _ => Err(format!("HUB_DEMO_CUSTOMERS must be a number from 1 to 2000000, got '{v}'")),
            },
        }
    }

    pub fn generate(n: usize, today: NaiveDate) -> Demo {
        let mut seen = std::collections::HashSet::new();
        let customers = (0..n.max(1))
            .map(|i| {
                let c = if i == 0 { story_customer(today) } else { random_customer(i, today) };
                let mut c = c;
                if !seen.insert(c.email.clone()) {
                    let (local, domain) = c.email.split_once('@').unwrap_or((&c.email, "example.com"));
                    c.email = format!("{local}{}@{domain}", i + 1);
                    seen.insert(c.email.clone());
                }
                c
            })
            .collect();
        Demo { today, customers }
    }

    pub fn day(&self, offset: i64) -> NaiveDate {
        self.today + Duration::days(offset)
    }
}

fn story_customer(today: NaiveDate) -> Customer {
    Customer {
        index: 0,
        id: customer_id(0),
        name: "John Smith".into(),
        email: STORY_EMAIL.into(),
        company: "Acme Corp".into(),
        phone: "+1-415-555-0142".into(),
        country: "US",
        plan: "business",
        price_cents: 29_900,
        // Monthly renewals fall on the signup's day of month: the last one was six days ago.
        signup: (today - Duration::days(6))
            .checked_sub_months(chrono::Months::new(23))
            .unwrap_or(today - Duration::days(700)),
        churned: None,
        trial: false,
    }
}

fn random_customer(i: usize, today: NaiveDate) -> Customer {
    let mut r = Rng::stream(i, 0);
    let first = r.pick(&FIRST);
    let last = r.pick(&LAST);
    let (company, domain) = *r.pick(&COMPANIES);
    let plan_ix = match r.range(0, 100) {
        0..=39 => 0,
        40..=74 => 1,
        75..=93 => 2,
        _ => 3,
    };
    let (plan, price_cents) = PLANS[plan_ix];
    // Signups spread over three years, denser recently; a few still in trial.
    let age = if r.chance(30) { r.range(0, 180) } else { r.range(180, 1_095) };
    let signup = today - Duration::days(age);
    let trial = age < 14 && r.chance(60);
    let churned = if !trial && r.chance(12) {
        let lived = r.range(20, (age + 1).max(21));
        Some((signup + Duration::days(lived)).min(today - Duration::days(1)))
    } else {
        None
    };
    Customer {
        index: i,
        id: customer_id(i),
        name: format!("{first} {last}"),
        email: format!("{}.{}@{domain}", first.to_lowercase(), last.to_lowercase()),
        company: company.to_string(),
        phone: format!("+1-555-{:03}-{:04}", r.range(100, 999), r.range(0, 9_999)),
        country: COUNTRIES[r.range(0, COUNTRIES.len() as i64) as usize],
        plan,
        price_cents,
        signup,
        churned,
        trial,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_customers_and_unique_emails() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let a = Demo::generate(2_000, today);
        let b = Demo::generate(2_000, today);
        assert_eq!(a.customers.len(), 2_000);
        let emails: std::collections::HashSet<_> = a.customers.iter().map(|c| &c.email).collect();
        assert_eq!(emails.len(), 2_000);
        for (x, y) in a.customers.iter().zip(&b.customers) {
            assert_eq!((&x.id, &x.email, x.signup, x.churned), (&y.id, &y.email, y.signup, y.churned));
        }
        assert_eq!(a.customers[0].email, STORY_EMAIL);
    }
}
