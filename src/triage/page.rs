//! The triage report as one self-contained HTML page (`--report FILE.html`): the headline, the category × priority
//! counts, and every item in one table sortable by any column (click a header; the sort is kept in the address,
//! `#sort=customer` or `#sort=-id`, so a link opens sorted) with a filter box. No external resources; every text
//! from the items is escaped (ticket text is written by strangers).
//!
//! Owns: the page. Not: what the report says (see `report`).

use super::report::{Report, Row};
use std::fmt::Write as _;

fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;\
vertical-align:top}th{background:#f3f3f3}#items th{cursor:pointer;user-select:none}\
#items th[aria-sort=ascending]::after{content:' ▲'}#items th[aria-sort=descending]::after{content:' ▼'}\
.urgent{color:#b00;font-weight:bold}.high{color:#c60}td.n{text-align:right}.failed{background:#fff3f3}\
input{font:inherit;padding:4px;width:24em}";

/// Sorting (by `data-sort` when a cell has one, numerically when every key is a number; stable, so ties keep the
/// current order), the address as the sort's state, the filter, and `data-ready` once all of it is wired.
const SCRIPT: &str = r#"(function(){
const t=document.getElementById('items'),b=t.tBodies[0],hs=Array.from(t.tHead.rows[0].cells);
const key=(r,i)=>{const c=r.cells[i];return c.dataset.sort!==undefined?c.dataset.sort:c.textContent.trim()};
function sort(spec){const desc=spec.charAt(0)==='-',name=desc?spec.slice(1):spec;
const i=hs.findIndex(h=>h.dataset.col===name);if(i<0)return;const rows=Array.from(b.rows);
const num=rows.every(r=>key(r,i)!==''&&!isNaN(Number(key(r,i))));
rows.sort((x,y)=>{const p=key(x,i),q=key(y,i);const d=num?Number(p)-Number(q):p.localeCompare(q);return desc?-d:d});
rows.forEach(r=>b.appendChild(r));hs.forEach(h=>h.removeAttribute('aria-sort'));
hs[i].setAttribute('aria-sort',desc?'descending':'ascending')}
const current=()=>{const m=location.hash.match(/^#sort=(-?[a-z_]+)$/);return m?m[1]:''};
hs.forEach(h=>h.addEventListener('click',()=>{location.hash='sort='+(current()===h.dataset.col?'-':'')+h.dataset.col}));
window.addEventListener('hashchange',()=>sort(current()));if(current())sort(current());
const f=document.getElementById('filter');f.addEventListener('input',()=>{const q=f.value.toLowerCase();
let shown=0;Array.from(b.rows).forEach(r=>{const on=r.textContent.toLowerCase().includes(q);r.hidden=!on;shown+=on});
document.getElementById('shown').textContent=shown});
document.body.dataset.ready='1'})();"#;

/// The columns of the items table: name (for `#sort=`), header, the cell's text and its sort key if not the text.
type Column = (&'static str, &'static str, fn(&Row) -> (String, Option<String>));

const COLUMNS: [Column; 11] = [
    ("priority", "Priority", |r| (r.priority.clone(), Some(r.rank().to_string()))),
    ("id", "Id", |r| (r.id.clone(), None)),
    ("category", "Category", |r| (r.category.clone(), None)),
    ("customer", "Customer", |r| (r.customer.clone(), None)),
    ("account", "Account", |r| (r.account.clone(), None)),
    ("summary", "Summary", |r| (r.summary.clone(), None)),
    ("next_action", "Next action", |r| (r.next_action.clone(), None)),
    ("duplicate_of", "Duplicate of", |r| (r.duplicate_of.clone(), None)),
    ("status", "Status", |r| (r.status.clone(), None)),
    ("error", "Error", |r| (r.error.clone(), None)),
    ("applied", "Calls applied", |r| (r.applied.to_string(), None)),
];

/// The whole page.
pub fn html(report: &Report, source: &str) -> String {
    let mut out = String::with_capacity(4096 + report.rows.len() * 600);
    let title = format!("Triage report — {}", esc(source));
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <meta name=\"viewport\" content=\"width=device-width\"><style>{STYLE}</style></head><body>\n\
         <h1>{title}</h1>\n<p id=\"headline\">{}</p>\n",
        esc(&report.headline())
    );
    let (columns, matrix) = report.matrix();
    if !columns.is_empty() {
        out.push_str("<h2>By category and priority</h2>\n<table id=\"matrix\"><thead><tr><th>Category</th>");
        for c in &columns {
            let _ = write!(out, "<th>{}</th>", esc(c));
        }
        out.push_str("<th>Total</th></tr></thead><tbody>\n");
        for (category, counts) in &matrix {
            let _ = write!(out, "<tr><th>{}</th>", esc(category));
            for n in counts {
                let _ = write!(out, "<td class=\"n\">{n}</td>");
            }
            let _ = writeln!(out, "<td class=\"n\">{}</td></tr>", counts.iter().sum::<usize>());
        }
        out.push_str("</tbody></table>\n");
    }
    let _ = write!(
        out,
        "<h2>Items (<span id=\"shown\">{}</span>)</h2>\n<p><input id=\"filter\" type=\"search\" \
         placeholder=\"Filter: any text in the row\" aria-label=\"Filter\"></p>\n<table id=\"items\"><thead><tr>",
        report.rows.len()
    );
    for (name, head, _) in &COLUMNS {
        let _ = write!(out, "<th data-col=\"{name}\">{head}</th>");
    }
    out.push_str("</tr></thead><tbody>\n");
    for row in &report.rows {
        let class = if row.status != "ok" { " class=\"failed\"" } else { "" };
        let _ = write!(out, "<tr data-id=\"{}\"{class}>", esc(&row.id));
        for (name, _, cell) in &COLUMNS {
            let (text, key) = cell(row);
            let sort = key.map(|k| format!(" data-sort=\"{}\"", esc(&k))).unwrap_or_default();
            let class = match *name {
                "priority" if row.rank() < 2 => format!(" class=\"{}\"", esc(&row.priority)),
                "applied" => " class=\"n\"".into(),
                _ => String::new(),
            };
            let _ = write!(out, "<td{sort}{class}>{}</td>", esc(&text));
        }
        out.push_str("</tr>\n");
    }
    let _ = write!(out, "</tbody></table>\n<script>{SCRIPT}</script>\n</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_items_is_escaped_and_the_page_needs_nothing_outside() {
        let line = r#"{"id":"T<1>","status":"ok","answer":{"category":"billing","priority":"urgent","summary":"<img src=x onerror=alert(1)> & \"q\"","customer":{"id":"c1","name":"O'Brien"}}}"#;
        let page = html(&Report::parse(line), "x.jsonl");
        assert!(page.contains("&lt;img src=x onerror=alert(1)&gt; &amp; &quot;q&quot;"));
        assert!(page.contains("O&#39;Brien (c1)") && page.contains("data-id=\"T&lt;1&gt;\""));
        assert!(!page.contains("<img") && !page.contains("src=\"http") && !page.contains("href="));
    }
}
