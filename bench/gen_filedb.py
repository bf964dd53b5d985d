#!/usr/bin/env python3
"""Generate a Jovo FileDb file (db.json) for benchmarks.

Writes N users the way Jovo's FileDb does: JSON.stringify(users, null, 2),
no trailing newline. Each user has user.data, a session, 3 history items
with output and nlu, createdAt/updatedAt and a custom key; about 2.6 KB per
user, so 100,000 users make about 260 MB.

    bench/gen_filedb.py [-n 100000] [--seed 1] [-o db/db.json]

Deterministic for a given seed. Python's json.dumps(indent=2) lays out
arrays and objects exactly as JSON.stringify(x, null, 2) does; the
generator only uses integers and strings (no floats whose text differs
between Python and JavaScript).
"""
import argparse
import json
import os
import random
import sys
from datetime import datetime, timedelta, timezone

EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)
INTENTS = ["StartIntent", "HelpIntent", "OrderPizzaIntent", "CancelIntent", "YesIntent",
           "NoIntent", "RepeatIntent", "ScoreIntent"]
WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliett kilo lima mike "
         "november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee "
         "zulu pizza margherita pepperoni large small medium crust cheese").split()


def iso(dt):
    """Date.toISOString()"""
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)


def sentence(rnd, n):
    return " ".join(rnd.choice(WORDS) for _ in range(n)).capitalize() + "."


def history_item(rnd, when):
    intent = rnd.choice(INTENTS)
    return {
        "output": [{
            "message": sentence(rnd, rnd.randint(5, 9)),
        }],
        "nlu": {
            "intent": {"name": intent},
            "entities": {
                "size": {"id": "size", "key": "large", "name": "size", "value": rnd.choice(WORDS)},
            },
        },
        "createdAt": iso(when),
    }


def user(rnd, i):
    created = EPOCH + timedelta(seconds=rnd.randint(0, 180 * 86400), milliseconds=rnd.randint(0, 999))
    updated = created + timedelta(seconds=rnd.randint(0, 30 * 86400), milliseconds=rnd.randint(0, 999))
    sess_start = updated - timedelta(seconds=rnd.randint(0, 600))
    uid = "amzn1.ask.account.%s%06d" % ("".join(rnd.choice("ABCDEFGHJKLMNPQRSTUVWXYZ234567")
                                                 for _ in range(40)), i)
    return {
        "id": uid,
        "user": {
            "data": {
                "name": rnd.choice(WORDS).capitalize(),
                "score": rnd.randint(0, 100000),
                "visits": rnd.randint(1, 500),
                "favorites": [rnd.choice(WORDS) for _ in range(rnd.randint(1, 3))],
                "settings": {"sound": rnd.random() < 0.5, "language": "en-US"},
            }
        },
        "session": {
            "id": "amzn1.echo-api.session.%08x-%04x" % (rnd.getrandbits(32), rnd.getrandbits(16)),
            "data": {"step": rnd.randint(0, 9), "cart": [rnd.choice(WORDS)]},
            "state": [{"component": "GlobalComponent"}, {"component": "OrderComponent",
                                                          "config": {"retries": rnd.randint(0, 3)}}],
            "createdAt": iso(sess_start),
            "updatedAt": iso(updated),
        },
        "history": {"items": [history_item(rnd, updated - timedelta(seconds=30 * k)) for k in range(3)]},
        "createdAt": iso(created),
        "updatedAt": iso(updated),
        "myPlugin": {"lastSeen": iso(updated), "counter": rnd.randint(0, 9999)},
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--count", type=int, default=100000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("-o", "--output", default="db/db.json")
    args = ap.parse_args()

    rnd = random.Random(args.seed)
    d = os.path.dirname(args.output)
    if d:
        os.makedirs(d, exist_ok=True)
    tmp = args.output + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        if args.count == 0:
            f.write("[]")
        else:
            # stream: "[\n  " item ",\n  " item ... "\n]", each item indented one level
            f.write("[\n")
            for i in range(args.count):
                text = json.dumps(user(rnd, i), indent=2, ensure_ascii=False)
                f.write("  " + text.replace("\n", "\n  "))
                f.write(",\n" if i + 1 < args.count else "\n")
            f.write("]")
    os.replace(tmp, args.output)
    size = os.path.getsize(args.output)
    print("%s: %d users, %d bytes (%.0f bytes/user)" % (args.output, args.count, size,
                                                       size / max(args.count, 1)), file=sys.stderr)


if __name__ == "__main__":
    main()
