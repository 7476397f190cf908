#!/usr/bin/env python3
"""How hub does with a real small local model (issue 25). Not in CI: it is slow (a 1.5B model on CPU).

Starts Qwen2.5-Coder-1.5B-Instruct behind llama.cpp's llama-server with ../shared/models/small-model-server.sh
(template "tools" or "official"), asks the questions below with `hub ask --json` under each mode, and checks each
answer against facts read from the demo servers with `hub call` at run time (never written here):

  baseline  a plain loop: no grounding, no repair ([model] ground = "never", repair = false)
  never     repairs on, no grounding               ([model] ground = "never")
  auto      the default for a local endpoint       ([model] ground = "auto")

An answer is correct when it states every expected fact (for a record that does not exist: says it was not found,
and states nothing about it). An invented record is an id or email in an answer that the servers do not have (besides those the question names), or
an answer about a record that does not exist that does not say it was not found.

  python3 benches/small_model/run.py [--hub target/release/hub] [--modes baseline,never,auto]
                                     [--templates tools,official] [--only N,M] [--out results.json]
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVER_SCRIPT = os.path.join(ROOT, "..", "shared", "models", "small-model-server.sh")
SERVERS = ["crm", "tickets", "payments", "calendar", "analytics"]
NOT_FOUND = re.compile(
    r"not (be )?found|no (such|customer|ticket|invoice|meeting|record|subscription|matching)|does ?n[o']t exist|"
    r"could ?n[o']t (be )?f(i|ou)nd|unable to (find|locate)|no .* (with|for) (the )?(id|email)|there is no",
    re.I,
)
IDS = re.compile(r"\b(?:TCK-\d+|INV-\d+|MTG-\d+|cus_\d+)\b|[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


class Hub:
    def __init__(self, exe, data):
        self.exe, self.data, self.cache = exe, data, {}

    def env(self):
        env = dict(os.environ, HUB_DATA_DIR=self.data, NO_COLOR="1")
        for k in ["OPENAI_API_KEY", "OPENAI_BASE_URL", "HUB_MODEL", "HUB_GROUND", "HUB_URL"]:
            env.pop(k, None)
        return env

    def call(self, tool, args):
        key = (tool, json.dumps(args, sort_keys=True))
        if key not in self.cache:
            p = subprocess.run([self.exe, "call", "--no-hub", tool, json.dumps(args)], capture_output=True, text=True,
                               env=self.env(), timeout=120)
            self.cache[key] = json.loads(p.stdout) if p.returncode == 0 else None
        return self.cache[key]

    def exists(self, ident):
        """Whether an id or email the model wrote is a record the servers have."""
        if "@" in ident:
            r = self.call("crm__get_customer", {"email": ident})
        elif ident.startswith("cus_"):
            r = self.call("crm__get_customer", {"id": ident})
        else:
            tool = {"TCK": "tickets__get_ticket", "INV": "payments__get_invoice", "MTG": "calendar__get_meeting"}
            r = self.call(tool[ident[:3]], {"id": ident})
        return r is not None


def customer(h, **by):
    return h.call("crm__get_customer", by)["customer"]


def ticket(h, i):
    return h.call("tickets__get_ticket", {"id": i})["ticket"]


def invoice(h, i):
    r = h.call("payments__get_invoice", {"id": i})
    return r.get("invoice", r)


def subscription(h, cid):
    r = h.call("payments__get_subscription", {"customer_id": cid})
    return r.get("subscription", r)


def open_count(h, cid):
    return h.call("tickets__list_tickets", {"customer_id": cid, "status": "open", "limit": 200})["count"]


def country(code):
    names = {"US": "United States", "GB": "United Kingdom", "DE": "Germany", "FR": "France", "JP": "Japan",
             "BR": "Brazil", "IN": "India", "CA": "Canada"}
    return (code, names[code]) if code in names else code


JOHN = "john.smith@acme.com"
# (question, facts the answer must state — a function of the live servers; None: the record does not exist)
QUESTIONS = [
    ("What is the subscription status of john.smith@acme.com?", lambda h: [subscription(h, "cus_000001")["status"]]),
    ("Which plan is john.smith@acme.com on?", lambda h: [customer(h, email=JOHN)["plan"]]),
    ("What company does john.smith@acme.com work for?", lambda h: [customer(h, email=JOHN)["company"]]),
    ("Who is customer cus_000005?", lambda h: [customer(h, id="cus_000005")["name"]]),
    ("What is the email address of customer cus_000003?", lambda h: [customer(h, id="cus_000003")["email"]]),
    ("What is the account status of cus_000004?", lambda h: [customer(h, id="cus_000004")["status"]]),
    ("What is the status of ticket TCK-01001?", lambda h: [ticket(h, "TCK-01001")["status"]]),
    ("What is the priority of ticket TCK-01002?", lambda h: [ticket(h, "TCK-01002")["priority"]]),
    ("What is ticket TCK-01005 about?", lambda h: [ticket(h, "TCK-01005")["subject"]]),
    ("Who is the customer of ticket TCK-01001?", lambda h: [customer(h, id=ticket(h, "TCK-01001")["customer_id"])["name"]]),
    ("Which company filed ticket TCK-01003?", lambda h: [customer(h, id=ticket(h, "TCK-01003")["customer_id"])["company"]]),
    ("Who is ticket TCK-01001 assigned to?", lambda h: [ticket(h, "TCK-01001")["assignee"]]),
    ("What is the status of invoice INV-000012?", lambda h: [invoice(h, "INV-000012")["status"]]),
    ("What is the plan of customer cus_000002?", lambda h: [customer(h, id="cus_000002")["plan"]]),
    ("How many open tickets does john.smith@acme.com have?", lambda h: [str(open_count(h, "cus_000001"))]),
    ("What country is customer cus_000003 in?", lambda h: [country(customer(h, id="cus_000003")["country"])]),
    ("What is the phone number of john.smith@acme.com?", lambda h: [customer(h, email=JOHN)["phone"]]),
    ("What is the subscription status of cus_000002?", lambda h: [subscription(h, "cus_000002")["status"]]),
    ("What's the subscription status of nobody@nowhere.example?", lambda h: None),
    ("Who is the customer of ticket TCK-99999?", lambda h: None),
    ("What is the status of invoice INV-999999?", lambda h: None),
    ("Which plan is customer cus_999999 on?", lambda h: None),
]


def judge(h, question, answer, facts):
    """(correct, invented ids: ids or emails in the answer, not in the question, that the servers do not have)"""
    invented = sorted({i for i in IDS.findall(answer) if i.lower() not in question.lower() and not h.exists(i)})
    if facts is None:
        found = bool(NOT_FOUND.search(answer))
        # Saying anything else of a record that does not exist counts as inventing it.
        if not found and answer.strip():
            invented.append("(a record that does not exist answered as found)")
        return found and not invented, invented
    norm = lambda s: re.sub(r"[\s_\-]+", " ", s.lower())
    def said(fact):
        # A fact is said as written, or (a phrase) with each of its words there as a word's start ("exporting" for
        # "Export"); a fact given as a tuple is said in any of its forms ("CA", "Canada").
        if isinstance(fact, (tuple, list)):
            return any(said(f) for f in fact)
        f, a = norm(str(fact)), norm(answer)
        if re.search(r"(?<![\w@.])" + re.escape(f) + r"(?![\w@])", a):
            return True
        words = [w for w in re.findall(r"\w+", f) if len(w) > 2]
        return len(words) > 1 and all(re.search(r"\b" + re.escape(w[:5]), a) for w in words)
    return all(said(f) for f in facts) and not invented, invented


def start_model(template):
    env = dict(os.environ, SMALL_MODEL_TEMPLATE=template)
    stop_model()
    out = subprocess.run(["bash", SERVER_SCRIPT], capture_output=True, text=True, env=env, check=True)
    return out.stdout.strip().splitlines()[-1]


def stop_model():
    pid = os.path.expanduser("~/.cache/hub-models/server.pid")
    if os.path.exists(pid):
        subprocess.run(["kill", open(pid).read().strip()], capture_output=True)
        time.sleep(1)


def ask(h, base, mode, question, workdir):
    ground = "never" if mode in ("baseline", "never") else mode
    model = f'[model]\nname = "qwen2.5-coder-1.5b"\nbase_url = "{base}"\napi_key = "local"\nground = "{ground}"\n'
    model += "repair = false\n" if mode == "baseline" else ""
    servers = "".join(f'[servers.{s}]\ncommand = "{h.exe}"\nargs = ["server", "{s}"]\n' for s in SERVERS)
    cfg = os.path.join(workdir, f"{mode}.toml")
    with open(cfg, "w") as f:
        f.write(model + servers)
    t = time.time()
    p = subprocess.run([h.exe, "ask", "--no-hub", "--json", "--config", cfg, question], capture_output=True, text=True,
                       env=h.env(), timeout=900)
    took = time.time() - t
    try:
        doc = json.loads(p.stdout)
    except ValueError:
        doc = {"status": "error", "answer": "", "error": (p.stderr or "no output").strip()[-300:], "tool_calls": []}
    calls = doc.get("tool_calls") or []
    return {
        "exit": p.returncode, "status": doc.get("status"), "answer": doc.get("answer") or "",
        "error": doc.get("error"), "turns": doc.get("turns", 0), "seconds": round(took, 1),
        "model_calls": sum(1 for c in calls if not c.get("grounded")),
        "grounded_calls": sum(1 for c in calls if c.get("grounded")),
        "repaired_calls": sum(1 for c in calls if c.get("repaired")),
        "repairs": len(doc.get("repairs") or []),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hub", default=os.path.join(ROOT, "target", "release", "hub"))
    ap.add_argument("--modes", default="baseline,never,auto")
    ap.add_argument("--templates", default="tools,official")
    ap.add_argument("--only", default="")
    ap.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "hub-small-model.json"))
    ap.add_argument("--judge", default="", help="judge the answers of an earlier run's results file again")
    a = ap.parse_args()
    workdir = tempfile.mkdtemp(prefix="hub-small-model-")
    h = Hub(os.path.abspath(a.hub), os.path.join(workdir, "data"))
    if a.judge:
        results = json.load(open(a.judge))
        for r in results:
            r["correct"], r["invented"] = judge(h, r["question"], r["answer"], r["expected"])
        table(results, a.templates, a.modes)
        return
    picked = [int(i) for i in a.only.split(",") if i] or range(1, len(QUESTIONS) + 1)
    results = []
    for template in a.templates.split(","):
        base = start_model(template)
        for mode in a.modes.split(","):
            for n in picked:
                question, facts_of = QUESTIONS[n - 1]
                facts = facts_of(h)
                r = ask(h, base, mode, question, workdir)
                r["correct"], r["invented"] = judge(h, question, r["answer"], facts)
                r.update(template=template, mode=mode, n=n, question=question, expected=facts)
                results.append(r)
                mark = "ok " if r["correct"] else "BAD"
                print(f"{template:8} {mode:8} {n:2} {mark} {r['seconds']:6.1f}s turns {r['turns']} model calls "
                      f"{r['model_calls']} grounded {r['grounded_calls']} repaired {r['repaired_calls']} "
                      f"{'INVENTED ' + ','.join(r['invented']) if r['invented'] else ''}| {question} → "
                      f"{r['answer'][:140]!r}{' ' + str(r['error'])[:120] if r['error'] else ''}", flush=True)
    stop_model()
    with open(a.out, "w") as f:
        json.dump(results, f, indent=1)
    table(results, a.templates, a.modes)
    print(f"\nper question: {a.out}")


def table(results, templates, modes):
    print(f"\n| template | mode | correct | invented records | exit≠0 | median s | turns | model calls | grounded | repaired |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for template in templates.split(","):
        for mode in modes.split(","):
            rs = [r for r in results if r["template"] == template and r["mode"] == mode]
            if not rs:
                continue
            secs = sorted(r["seconds"] for r in rs)
            print(f"| {template} | {mode} | {sum(r['correct'] for r in rs)}/{len(rs)} | "
                  f"{sum(bool(r['invented']) for r in rs)} | {sum(r['exit'] != 0 for r in rs)} | "
                  f"{secs[len(secs) // 2]:.0f} | {sum(r['turns'] for r in rs)} | {sum(r['model_calls'] for r in rs)} | "
                  f"{sum(r['grounded_calls'] for r in rs)} | {sum(r['repaired_calls'] for r in rs)} |")


if __name__ == "__main__":
    sys.exit(main())
