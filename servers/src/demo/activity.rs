//! Activity rows of the demo dataset: support tickets and their comments, meetings, and CRM notes.

use super::{Customer, Demo, Rng};
use chrono::{Duration, NaiveDate};

#[derive(Debug, Clone)]
pub struct Ticket {
    pub id: String,
    pub customer_id: String,
    pub subject: String,
    pub body: String,
    pub status: &'static str,
    pub priority: &'static str,
    pub assignee: Option<&'static str>,
    pub created: NaiveDate,
    pub resolved: Option<NaiveDate>,
}

#[derive(Debug, Clone)]
pub struct Comment {
    pub ticket_id: String,
    pub author: String,
    pub body: String,
    pub day: NaiveDate,
}

#[derive(Debug, Clone)]
pub struct Meeting {
    pub id: String,
    pub customer_id: String,
    pub title: String,
    /// Start as an RFC 3339 UTC timestamp.
    pub start: String,
    pub duration_minutes: i64,
    pub status: &'static str,
    pub cancel_reason: Option<&'static str>,
}

#[derive(Debug, Clone)]
pub struct Note {
    pub customer_id: String,
    pub text: String,
    pub day: NaiveDate,
}

pub const AGENTS: [&str; 6] = ["alice", "bruno", "chioma", "dmitri", "esme", "farah"];

const TOPICS: [(&str, &str); 12] = [
    ("Cannot log in after password reset", "Since resetting my password I get 'invalid credentials'."),
    ("Invoice shows the wrong amount", "Our last invoice charged more than our plan price."),
    ("Export to CSV times out", "Exporting the full report never finishes."),
    ("Request: SSO with Okta", "We would like to enable single sign-on for our team."),
    ("Webhook deliveries failing", "Webhooks to our endpoint return errors since yesterday."),
    ("How do I add a teammate?", "I cannot find where to invite a colleague."),
    ("Payment method update fails", "Updating the card on file shows an error."),
    ("Dashboard loads slowly", "The analytics dashboard takes over a minute to load."),
    ("Cancel our subscription", "We want to cancel at the end of the current period."),
    ("API rate limit too low", "We keep hitting 429 responses from the API."),
    ("Quote for 20 more seats", "We are growing and would like pricing for 20 additional seats on the annual plan."),
    ("Feedback on the new editor", "Sharing a few thoughts on the redesigned editor: the team likes it."),
];
const PRIORITIES: [&str; 4] = ["low", "normal", "high", "urgent"];

/// A ticket's priority as queues have them: low 25 %, normal 45 %, high 20 %, urgent 10 % (`roll` in 0..20).
fn priority(roll: i64) -> &'static str {
    PRIORITIES[match roll {
        0..=4 => 0,
        5..=13 => 1,
        14..=17 => 2,
        _ => 3,
    }]
}
const MEETING_TITLES: [&str; 5] =
    ["Quarterly business review", "Onboarding session", "Renewal review", "Product demo", "Support escalation call"];

/// Tickets for every customer, in customer order, ids TCK-01001 upwards.
pub fn tickets(demo: &Demo) -> Vec<Ticket> {
    let mut out = Vec::new();
    for c in &demo.customers {
        let mut r = Rng::stream(c.index, 2);
        let mut mine: Vec<(String, String, &str, &str, i64)> = Vec::new();
        if c.index == 0 {
            mine.push((
                "Subscription renewal failed".into(),
                "Our renewal payment was declined last week and the account shows past due. Please help us \
                 update the card and retry the payment."
                    .into(),
                "open",
                "high",
                -5,
            ));
            mine.push((TOPICS[5].0.into(), TOPICS[5].1.into(), "closed", "low", -90));
        } else {
            for _ in 0..r.range(0, 4) {
                let (subject, body) = *r.pick(&TOPICS);
                let age = r.range(0, 180).min((demo.today - c.signup).num_days());
                let status = match (age, r.range(0, 10)) {
                    (0..=13, 0..=5) => "open",
                    (0..=13, 6..=7) => "pending",
                    (_, 0) => "open",
                    (_, 1..=5) => "resolved",
                    _ => "closed",
                };
                mine.push((subject.into(), body.into(), status, priority(r.range(0, 20)), -age));
            }
            // Some customers file an open problem again: a duplicate for triage to find.
            if let Some((subject, body, _, priority, offset)) = mine.iter().find(|t| t.2 == "open").cloned()
                && r.chance(20)
            {
                let again = format!("Following up on my earlier ticket, still not solved. {body}");
                mine.push((subject, again, "open", priority, (offset + r.range(0, 3)).min(0)));
            }
        }
        for (subject, body, status, priority, offset) in mine {
            let created = demo.day(offset);
            let resolved = matches!(status, "resolved" | "closed")
                .then(|| (created + Duration::days(r.range(0, 6))).min(demo.today));
            out.push(Ticket {
                id: format!("TCK-{:05}", 1_001 + out.len()),
                customer_id: c.id.clone(),
                subject,
                body,
                status,
                priority,
                assignee: (status != "open" || c.index == 0 || r.chance(50)).then(|| *r.pick(&AGENTS)),
                created,
                resolved,
            });
        }
    }
    out
}

/// Comments on the given tickets (deterministic per ticket).
pub fn comments(demo: &Demo, tickets: &[Ticket]) -> Vec<Comment> {
    let mut out = Vec::new();
    for (i, t) in tickets.iter().enumerate() {
        let mut r = Rng::stream(i, 3);
        let story = t.customer_id == demo.customers[0].id && t.status == "open";
        let n = if story { 1 } else { r.range(0, 3) };
        for k in 0..n {
            let body = if story {
                "Card on file was declined (card_declined). Asked the customer to update the card; will retry the \
                 invoice once they confirm."
                    .to_string()
            } else {
                format!("Follow-up {}: {}", k + 1, r.pick(&["looking into it", "waiting on customer", "fixed"]))
            };
            out.push(Comment {
                ticket_id: t.id.clone(),
                author: t.assignee.unwrap_or("support").to_string(),
                body,
                day: (t.created + Duration::days(k + 1)).min(demo.today),
            });
        }
    }
    out
}

/// Meetings for every customer, ids MTG-00001 upwards; past ones completed (a few canceled).
pub fn meetings(demo: &Demo) -> Vec<Meeting> {
    let mut out = Vec::new();
    for c in &demo.customers {
        let mut r = Rng::stream(c.index, 4);
        let mut mine: Vec<(String, i64, i64, i64)> = Vec::new();
        if c.index == 0 {
            mine.push((format!("Renewal review with {}", c.company), 2, 15, 30));
            mine.push((format!("Quarterly business review with {}", c.company), -40, 10, 60));
        } else {
            for _ in 0..r.range(0, 3) {
                let title = format!("{} with {}", r.pick(&MEETING_TITLES), c.company);
                mine.push((title, r.range(-60, 31), r.range(9, 17), *r.pick(&[30, 45, 60])));
            }
        }
        for (title, offset, hour, minutes) in mine {
            let canceled = c.index != 0 && r.chance(8);
            out.push(Meeting {
                id: format!("MTG-{:05}", out.len() + 1),
                customer_id: c.id.clone(),
                title,
                start: format!("{}T{hour:02}:00:00Z", demo.day(offset)),
                duration_minutes: minutes,
                status: match (canceled, offset < 0) {
                    (true, _) => "canceled",
                    (false, true) => "completed",
                    (false, false) => "scheduled",
                },
                cancel_reason: canceled.then_some("customer requested a new date"),
            });
        }
    }
    out
}

/// CRM notes for every customer.
pub fn notes(demo: &Demo) -> Vec<Note> {
    let mut out = Vec::new();
    for c in &demo.customers {
        let mut r = Rng::stream(c.index, 5);
        if c.index == 0 {
            out.push(note(c, demo.day(-30), "Champion for the renewal; card on file expires soon."));
            continue;
        }
        for _ in 0..r.range(0, 2) {
            let text = *r.pick(&[
                "Interested in the annual plan.",
                "Prefers email over phone.",
                "Asked about SSO pricing.",
                "Evaluating a competitor.",
            ]);
            let age = r.range(0, 365).min((demo.today - c.signup).num_days());
            out.push(note(c, demo.day(-age), text));
        }
    }
    out
}

fn note(c: &Customer, day: NaiveDate, text: &str) -> Note {
    Note { customer_id: c.id.clone(), text: text.to_string(), day }
}
