#!/usr/bin/env python3
"""A hub plugin (README "Plugins"): one JSON line in per hook, one JSON line out with the same id.
before_call: refuses enterprise upgrades, normalizes emails. after_call: masks phone numbers."""
import json, re, sys

PHONE = re.compile(r"\+\d[\d ().-]{6,}\d")

for line in sys.stdin:
    msg = json.loads(line)
    answer = {"id": msg["id"]}
    args = msg["arguments"]
    if msg["hook"] == "before_call" and args.get("plan") == "enterprise":
        answer["deny"] = "enterprise upgrades go through sales"
    elif msg["hook"] == "before_call" and isinstance(args.get("email"), str):
        answer["arguments"] = {**args, "email": args["email"].strip().lower()}
    elif msg["hook"] == "after_call":
        text = json.dumps(msg["result"])
        if PHONE.search(text):
            answer["result"] = json.loads(PHONE.sub("[phone]", text))
    print(json.dumps(answer), flush=True)
