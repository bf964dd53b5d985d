#!/usr/bin/env python3
"""
Model-based tests of jovofs (meson suite "model"; run by tests/model/run.bash).

Random sequences of operations are applied both to a real mount and to a
small reference model of what DESIGN.md, SEMANTICS.md and README ("The
tree") say the mount shows. After every step the mount's whole tree (names,
modes, sizes, mtimes, contents) must equal the model's, and each
operation's errno its expected one; at the end the store must equal the
model and load in the real Jovo app. The approach is mountpoint-s3's
reftests: the model is plain data and a few pure functions; the mount
is driven with plain system calls.

Every sequence comes from a seed: `--seed S` replays one exactly (the
failure message says how), `--shrink` (default on) reduces a failing
sequence to a short one that still fails. Where the docs are silent the
model follows the code, and says so in a comment starting "code:".

Nondeterminism is kept out, not tolerated: times the daemon picks ("now"
at a write) are placeholders bound from record.json within the op's time
window; an external change must show within the cache time (the check
polls, and meanwhile every file must show the old or the new version,
whole); FileDb saves are awaited with fsync(), which the docs promise waits
for them; sessions are never used near their expiry boundary (the runner
waits past it).
"""

import argparse
import errno as errno_mod
import json
import os
import random
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jsjson as J  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

HIST_MAX = 4080          # code: history/N.json is an element name for N < 4080 (fs/ino.c)
EXPIRY_MARGIN_MS = 700   # never act on a session this close to its expiry
SLOW = float(os.environ.get("JFS_MODEL_SLOW", "1"))  # scale of every deadline


class Failure(Exception):
    pass


def now_ms():
    return time.time_ns() // 1_000_000


def errname(e):
    return errno_mod.errorcode.get(e, "E%d" % e)


# --------------------------------------------------------------------------- time

_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?"
                  r"(Z|[+-]\d{2}:?\d{2}))?\Z")


def _days_from_civil(y, m, d):
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def iso_parse(s):
    """ms since the epoch of an ISO-8601 time (the extended forms JavaScript's
    Date.parse takes: a date, or date and time with Z or an offset), or None."""
    if not isinstance(s, str):
        return None
    m = _ISO.match(s)
    if not m:
        return None
    y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if not 1 <= mo <= 12:
        return None
    mdays = [31, 29 if (y % 4 == 0 and y % 100 != 0) or y % 400 == 0 else 28,
             31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mo - 1]
    if not 1 <= d <= mdays:
        return None
    h = mi = sec = frac = 0
    off = 0
    if m.group(4) is not None:
        h, mi = int(m.group(4)), int(m.group(5))
        sec = int(m.group(6) or 0)
        if m.group(7):
            frac = int((m.group(7) + "00")[:3])
        if h > 23 or mi > 59 or sec > 59:
            return None
        z = m.group(8)
        if z != "Z":
            oh, om = int(z[1:3]), int(z[-2:])
            if oh > 23 or om > 59:
                return None
            off = (1 if z[0] == "+" else -1) * (oh * 3600 + om * 60)
    return ((_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) - off) * 1000 + frac


def iso_format(ms):
    """Date.prototype.toISOString()"""
    t = time.gmtime(ms // 1000)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour,
                                                   t.tm_min, t.tm_sec, ms % 1000)


ISO_CANON = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z\Z")


def time_ms(v):
    """ms of a stored time value; an unbound placeholder counts as its latest possible time."""
    if isinstance(v, Now):
        return v.hi if v.val is None else iso_parse(v.val)
    return iso_parse(v)


class Now:
    """A time the daemon picks ("now" at a write): bound from the mount's
    record.json the first time it is checked, within [lo, hi] (ms)."""
    __slots__ = ("lo", "hi", "val")

    def __init__(self, lo, hi):
        self.lo, self.hi, self.val = lo, hi, None

    def json_value(self):
        if self.val is None:
            raise Failure("internal: an unbound time placeholder was used")
        return self.val

    def __repr__(self):
        return self.val if self.val else "Now[%d..%d]" % (self.lo, self.hi)


# --------------------------------------------------------------------------- config

ELEMS = ("user", "session", "history", "createdAt", "updatedAt")
ELEM_FILE = {"user.json": "user", "session.json": "session", "createdAt": "createdAt",
             "updatedAt": "updatedAt"}


class Cfg:
    """One sequence's mount: storedElements and options."""

    def __init__(self, d):
        self.d = d
        se = d["stored"]
        self.on = {}
        for el in ELEMS:
            v = se.get(el, el in ("user", "createdAt", "updatedAt"))
            self.on[el] = v.get("enabled", True) if isinstance(v, dict) else bool(v)
        s = se.get("session")
        e = s.get("expiresAfterSeconds", 900) if isinstance(s, dict) else 900
        self.expires_ms = (e or 900) * 1000   # Jovo: `expiresAfterSeconds || 900`
        h = se.get("history")
        self.hist_size = h.get("size", 3) if isinstance(h, dict) else 3
        self.hidden = [k for k, v in (h.items() if isinstance(h, dict) else [])
                       if k not in ("enabled", "size") and v is False]
        self.allow_delete = d["allow_delete"]
        self.max_file_size = d.get("max_file_size") or (1 << 20)
        self.cache_timeout = d["cache_timeout"]
        self.backend = d["backend"]
        self.guard = d.get("guard_ms")  # FileDb staleRewriteWindowMs (None: default)

    def mount_args(self):
        a = ["-o", "cache_timeout=%g" % self.cache_timeout]
        if self.allow_delete:
            a += ["-o", "allow_delete"]
        if self.d.get("max_file_size"):
            a += ["-o", "max_file_size=%d" % self.d["max_file_size"]]
        if self.d.get("write_delay") is not None:
            a += ["-o", "write_delay=%d" % self.d["write_delay"]]
        return a


# --------------------------------------------------------------------------- names

def encode_id(uid):
    """The directory name of a user id (DESIGN section 2; ids here stay short)."""
    out = []
    for i, c in enumerate(uid.encode("utf-8")):
        if c in (0x25, 0x2F) or c < 0x20 or c == 0x7F or (i == 0 and c == 0x2E):
            out.append(b"%%%02X" % c)
        else:
            out.append(bytes([c]))
    return b"".join(out).decode("utf-8")


def decode_name(name):
    """The id a mkdir name stands for, or None when it is not a canonical name."""
    b = name.encode("utf-8")
    if not b or b"%~" in b:
        return None
    out = bytearray()
    i = 0
    while i < len(b):
        c = b[i]
        if c == 0x25:
            h = b[i + 1:i + 3]
            if len(h) < 2 or not re.fullmatch(rb"[0-9A-F]{2}", h):
                return None
            c = int(h, 16)
            if not (c in (0x25, 0x2F) or c < 0x20 or c == 0x7F or (len(out) == 0 and c == 0x2E)):
                return None
            i += 3
        else:
            if c in (0x2F,) or c < 0x20 or c == 0x7F or (len(out) == 0 and c == 0x2E):
                return None
            i += 1
        out.append(c)
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        return None


def classify(rel):
    """What a path inside a user directory names."""
    if rel == "":
        return ("userdir",)
    if rel == "history":
        return ("histdir",)
    if rel == "record.json":
        return ("record",)
    if rel in ELEM_FILE:
        return ("element", ELEM_FILE[rel], None)
    if rel.startswith("history/"):
        name = rel[len("history/"):]
        m = re.fullmatch(r"(0|[1-9][0-9]*)\.json", name)
        if m and int(m.group(1)) < HIST_MAX:
            return ("element", "history", int(m.group(1)))
        return ("scratch", "history", name)
    return ("scratch", "", rel)


# --------------------------------------------------------------------------- the model

class Scratch:
    def __init__(self, data=b"", mode=0o644):
        self.data, self.mode = data, mode

    def __repr__(self):
        return "Scratch(%r, %o)" % (self.data[:40], self.mode)


class Model:
    """What the mount must show: the stored items, scratch files, kept conflicts."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.items = {}     # id -> item (dict, key order as stored)
        self.scratch = {}   # (id, dirsub, name) -> Scratch
        self.conflicts = []  # contents kept in .jovofs/conflicts/, in order
        self.modes = {}     # (id, rel) -> mode a chmod gave (kept in memory, never stored)

    # ---- views (policy/view.c's rules, from DESIGN section 3)

    def expired(self, item, now):
        s = item.get("session")
        if not isinstance(s, dict):
            return False
        ms = time_ms(s.get("updatedAt"))
        return ms is not None and now - ms > self.cfg.expires_ms

    def hist_items(self, item):
        h = item.get("history")
        it = h.get("items") if isinstance(h, dict) else None
        return it if isinstance(it, list) else []

    def hist_count(self, item):
        if not self.cfg.on["history"]:
            return 0
        return min(len(self.hist_items(item)), self.cfg.hist_size)

    def shown(self, item, el, idx, now):
        """The value a file shows, or None when the file does not exist."""
        if item is None or not self.cfg.on[el]:
            return None
        if el == "history":
            if idx >= self.hist_count(item):
                return None
            v = self.hist_items(item)[idx]
            if isinstance(v, dict) and self.cfg.hidden:
                v = {k: x for k, x in v.items() if k not in self.cfg.hidden}
            return v
        if el == "session" and self.expired(item, now):
            return None
        return item.get(el)

    def render_el(self, el, v):
        if el in ("createdAt", "updatedAt") and isinstance(J.plain(v), str):
            return J.plain(v).encode("utf-8") + b"\n"
        return J.render(v)

    def content(self, uid, rel, now):
        """Bytes a user's file shows, or None when it does not exist."""
        item = self.items.get(uid)
        if item is None:
            return None
        k = classify(rel)
        if k[0] == "record":
            return J.render(item)
        if k[0] == "element":
            v = self.shown(item, k[1], k[2], now)
            return None if v is None else self.render_el(k[1], v)
        if k[0] == "scratch":
            sc = self.scratch.get((uid, k[1], k[2]))
            return None if sc is None else sc.data
        return None

    def user_mtime(self, item):
        for key in ("updatedAt", "createdAt"):
            ms = iso_parse(J.plain(item.get(key)))
            if ms is not None:
                return ms
        return None

    def tree(self, now):
        """The whole expected tree: {name: node}; node = dict(type, mode, mtime, content|kids)."""
        root = {".jovofs": {"type": "dir", "mode": 0o555, "mtime": None, "kids": None}}
        for uid, item in self.items.items():
            mt = self.user_mtime(item)
            kids = {}
            for rel in ("user.json", "session.json", "createdAt", "updatedAt", "record.json"):
                c = self.content(uid, rel, now)
                if c is None:
                    continue
                fm = mt
                if rel == "session.json":
                    sm = iso_parse(J.plain(item["session"].get("updatedAt"))) \
                        if isinstance(item.get("session"), dict) else None
                    fm = sm if sm is not None else mt
                kids[rel] = {"type": "file",
                             "mode": self.modes.get((uid, rel),
                                                    0o444 if rel == "record.json" else 0o644),
                             "mtime": fm, "content": c}
            if self.cfg.on["history"]:
                hk = {}
                # code: history/ lists oldest first (DESIGN is silent; fs/node.c says why)
                for i in reversed(range(self.hist_count(item))):
                    hk["%d.json" % i] = {"type": "file",
                                         "mode": self.modes.get((uid, "history/%d.json" % i), 0o644),
                                         "mtime": mt,
                                         "content": self.content(uid, "history/%d.json" % i, now)}
                kids["history"] = {"type": "dir", "mode": self.modes.get((uid, "history"), 0o755),
                                   "mtime": mt, "kids": hk,
                                   "ordered": list(hk)}
            for (sid, dirsub, name), sc in self.scratch.items():
                if sid != uid:
                    continue
                node = {"type": "file", "mode": sc.mode, "mtime": None, "content": sc.data}
                if dirsub == "":
                    kids[name] = node
                elif "history" in kids:
                    kids["history"]["kids"][name] = node
            root[encode_id(uid)] = {"type": "dir", "mode": self.modes.get((uid, ""), 0o755),
                                    "mtime": mt, "kids": kids,
                                    "xid": uid}
        return root

    def session_boundaries(self):
        """Expiry times (ms) of the sessions the model holds."""
        out = []
        for item in self.items.values():
            s = item.get("session")
            if isinstance(s, dict):
                ms = time_ms(s.get("updatedAt"))
                if ms is not None:
                    out.append(ms + self.cfg.expires_ms)
        return out

    # ---- writes (policy/write.c's contract: DESIGN sections 3-4, SEMANTICS)

    def parse_value(self, el, text):
        """(value, None) or (None, errno name)."""
        if el in ("createdAt", "updatedAt"):
            try:
                s = text.decode("utf-8")
            except UnicodeDecodeError:
                return None, "EINVAL"
            s = s.strip(" \t\n\r\f\v")
            if not s or len(s) >= 64 or not s.isprintable():
                return None, "EINVAL"
            ms = iso_parse(s)
            if ms is None:
                return None, "EINVAL"
            return iso_format(ms), None
        try:
            v = J.parse(text)
        except ValueError:
            return None, "EINVAL"
        if not isinstance(v, dict):
            return None, "EINVAL"
        if el == "history":
            return {k: x for k, x in v.items() if k not in self.cfg.hidden}, None
        if not isinstance(v.get("data"), dict):
            return None, "EINVAL"
        return v, None

    def same_value(self, el, a, b):
        if el in ("createdAt", "updatedAt"):
            ma, mb = iso_parse(J.plain(a)), iso_parse(J.plain(b))
            if ma is not None and mb is not None:
                return ma == mb
        return J.equal(a, b)

    def history_value(self, item, idx, value):
        """The "history" element after writing (value None: removing) item idx."""
        old = self.hist_items(item)
        n = len(old) + (1 if value is not None and idx == len(old) else 0)
        items = []
        for i in range(n):
            if len(items) >= self.cfg.hist_size:
                break
            if i != idx:
                items.append(old[i])
                continue
            if value is None:
                continue
            merged = J.copy(value)
            if isinstance(old[i], dict) if i < len(old) else False:
                for k in self.cfg.hidden:
                    if k in old[i]:
                        merged[k] = old[i][k]   # code: a hidden key keeps its stored value, last
            items.append(merged)
        h = item.get("history")
        res = J.copy(h) if isinstance(h, dict) else {}
        res["items"] = items
        return res

    def patched(self, item, el, idx, value, t):
        """@item after writing (or, value None, removing) element @el, at time placeholder @t."""
        new = J.copy(item)
        if el == "history":
            new["history"] = self.history_value(item, idx, value)
        elif el == "session" and value is not None:
            v = J.copy(value)
            v["updatedAt"] = t          # a write of the session is activity (DESIGN 3)
            if "createdAt" not in v:
                v["createdAt"] = t
            new["session"] = v
        elif value is not None:
            new[el] = value
        else:
            new.pop(el, None)
        if self.cfg.on["updatedAt"] and el != "updatedAt":
            new["updatedAt"] = t
        return new

    def commit(self, uid, el, idx, text, now, t):
        """Store @text as element @el of @uid: the errno name, or None; the model changes."""
        item = self.items.get(uid)
        if item is None:
            return "ENOENT"
        if not self.cfg.on[el]:
            return "EPERM"
        if el == "history" and idx >= self.cfg.hist_size:
            return "EPERM"
        if len(text) > self.cfg.max_file_size:
            return "EFBIG"
        value, err = self.parse_value(el, text)
        if err:
            return err
        cur = self.shown(item, el, idx, now)
        if cur is not None and self.same_value(el, cur, value):
            return None  # the same value: nothing is stored (DESIGN 4)
        if el == "history" and idx > len(self.hist_items(item)):
            return "EINVAL"
        self.items[uid] = self.patched(item, el, idx, value, t)
        return None

    def remove(self, uid, el, idx, t):
        item = self.items[uid]
        self.items[uid] = self.patched(item, el, idx, None, t)

    def create(self, uid, t):
        item = {"id": uid}
        if self.cfg.on["user"]:
            item["user"] = {"data": {}}
        if self.cfg.on["createdAt"]:
            item["createdAt"] = t
        if self.cfg.on["updatedAt"]:
            item["updatedAt"] = t
        self.items[uid] = item

    def drop_user(self, uid, by_mount=True):
        """@uid removed (through the mount: its chmods go with it)."""
        self.items.pop(uid, None)
        for k in [k for k in self.modes if k[0] == uid and by_mount]:
            del self.modes[k]
        for k in [k for k in self.scratch if k[0] == uid]:
            del self.scratch[k]

    # ---- placeholders

    def bind(self, records, errors):
        """Bind every placeholder from the mount's record.json of its user."""
        def walk(m, a, path, uid):
            if isinstance(m, Now):
                if m.val is not None:
                    return
                ms = iso_parse(a) if isinstance(a, str) else None
                if ms is None or not ISO_CANON.match(a):
                    errors.append("%s: record.json %s: expected a time the daemon wrote "
                                  "(%s .. %s), got %r" % (uid, path, iso_format(m.lo),
                                                          iso_format(m.hi), a))
                    return
                if not (m.lo - 2 <= ms <= m.hi + 2):
                    errors.append("%s: record.json %s: %s is outside the time of the write "
                                  "(%s .. %s)" % (uid, path, a, iso_format(m.lo),
                                                  iso_format(m.hi)))
                    return
                m.val = a
            elif isinstance(m, dict) and isinstance(a, dict):
                for k, v in m.items():
                    walk(v, a.get(k), path + "." + k, uid)
            elif isinstance(m, list) and isinstance(a, list) and len(m) == len(a):
                for i, (v, w) in enumerate(zip(m, a)):
                    walk(v, w, "%s[%d]" % (path, i), uid)

        for uid, item in self.items.items():
            if uid in records:
                walk(item, records[uid], "", uid)
        # unbound ones left: the daemon did not show the record; the tree compare says so

    def freeze(self):
        """Placeholders that are bound become plain strings."""
        def fr(v):
            if isinstance(v, dict):
                return {k: fr(x) for k, x in v.items()}
            if isinstance(v, list):
                return [fr(x) for x in v]
            if isinstance(v, Now) and v.val is not None:
                return v.val
            return v
        self.items = {k: fr(v) for k, v in self.items.items()}

    def unbound(self):
        found = []

        def walk(v):
            if isinstance(v, dict):
                for x in v.values():
                    walk(x)
            elif isinstance(v, list):
                for x in v:
                    walk(x)
            elif isinstance(v, Now) and v.val is None:
                found.append(v)
        for v in self.items.values():
            walk(v)
        return found


# --------------------------------------------------------------------------- generation

ID_POOL = ["alice", "bob", "amzn1.ask.account.AF3QX", "a/b%c", ".dot", "sp ace \u00fc", "..",
           "\u65e5\u672c"]
BAD_MKDIR = ["%zz", "a%2", "%41b", ".hidden", "x%~0123456789abcdef", "%2e"]
EL_RELS = (["user.json"] * 5 + ["session.json"] * 4 +
           ["createdAt", "updatedAt", "history/0.json", "history/1.json", "history/2.json",
            "history/3.json", "record.json"])
SCRATCH_RELS = ["sedX1y2Z3", ".user.json.swp", "4913", "user.json~", "tmp.json",
                "history/.0.json.swp", "history/x.tmp", "history/5000.json"]
KEYS = ["name", "score", "tags", "nested", "k x", "\u00fcn\u00ef", "a"]
NUMBERS = [0, 1, -1, 7, 42, -17, 3.5, 0.1, -2.5e-7, 1e21, 1.5e300, 123456789012, 2**53 - 1,
           1e-6, 1e-7, 100, 0.30000000000000004, -0.5, 5e-324]
STRINGS = ["", "x", "Ada", "\u00e9 \"q\" \\ \u2713", "line\nbreak", "tab\there", "\u0001ctl",
           "\U0001F600", "a/b", "%41", "\u007f"]
TIMES = ["2025-03-04T05:06:07.089Z", "2025-03-04T05:06:07Z", "2025-03-04T07:06:07.089+02:00",
         "2025-03-04", " 2025-03-04T05:06:07.089Z\n", "2025-03-04T05:06:07.0891234Z",
         "yesterday", "2025-13-01T00:00:00Z", "2025-02-30T00:00:00Z", "2025-03-04T25:00:00Z",
         "{}", "", "2025-03-04T05:06Z", "2025-03-04T05:06:07.089-0130"]


# DynamoDB keeps magnitudes from 1e-130 to 1e126, and Jovo's marshall() refuses numbers
# beyond 2^53 (README): such numbers are for the other backends
DDB_NUMBERS = [x for x in NUMBERS if abs(x) < 2**53 and (x == 0 or abs(x) > 1e-130)]


def gen_value(rng, depth=0, backend="filedb", in_array=False):
    r = rng.random()
    if depth < 2 and r < 0.15:
        return {rng.choice(KEYS): gen_value(rng, depth + 1, backend) for _ in range(rng.randint(0, 3))}
    # FerretDB (the MongoDB of the tests) stores no arrays in arrays
    if depth < 2 and r < 0.25 and not (in_array and backend == "mongodb"):
        return [gen_value(rng, depth + 1, backend, True) for _ in range(rng.randint(0, 3))]
    if r < 0.6:
        return rng.choice(DDB_NUMBERS if backend == "dynamodb" else NUMBERS)
    if r < 0.85:
        s = rng.choice(STRINGS)
        if s == "" and backend == "dynamodb":
            s = "e"
        return s
    return rng.choice([True, False, None])


def gen_data(rng, backend):
    return {k: gen_value(rng, 1, backend) for k in rng.sample(KEYS, rng.randint(0, 3))}


def gen_hist_item(rng, n):
    it = {"output": [{"message": "m%d" % n}], "nlu": {"intent": rng.choice("ABCD")}}
    if rng.random() < 0.3:
        it["request"] = {"n": n}
    if rng.random() < 0.1:
        return "not an object %d" % n
    return it


def gen_item(rng, uid, backend, cfgd):
    """An item as a Jovo app stored it; "@rel:MS" stands for now + MS at setup."""
    it = {"id": uid}
    parts = []
    if rng.random() < 0.9:
        parts.append(("user", {"data": gen_data(rng, backend)}))
    if rng.random() < 0.6:
        upd = rng.choice(["@rel:-10000", "@rel:-10000", "@rel:-172800000", "not a time"])
        parts.append(("session", {"id": "s-%s" % rng.randint(1, 99), "data": gen_data(rng, backend),
                                  "state": [{"component": "StoreComponent"}],
                                  "createdAt": "2026-01-02T03:00:00.000Z", "updatedAt": upd}))
    if rng.random() < 0.5:
        parts.append(("history", {"items": [gen_hist_item(rng, i)
                                            for i in range(rng.randint(0, 5))]}))
    if rng.random() < 0.4:
        parts.append(("custom", {"plugin": "x", "n": [1, 2.5, "three"], "deep": {"t": True}}))
    if rng.random() < 0.95:
        parts.append(("createdAt", rng.choice(["2025-06-30T05:50:04.034Z", "2025-06-30T05:50:04Z"])))
    if rng.random() < 0.95:
        parts.append(("updatedAt", rng.choice(["@rel:-3600000", "@rel:-60000"])))
    if rng.random() < 0.2:
        rng.shuffle(parts)
    for k, v in parts:
        it[k] = v
    return it


def gen_content(rng, rel, cfg):
    k = classify(rel)
    el = k[1] if k[0] == "element" else "user"
    if el in ("createdAt", "updatedAt"):
        r = rng.random()
        if r < 0.15:
            return {"k": "same"}
        return {"k": "time", "text": rng.choice(TIMES)}
    r = rng.random()
    if r < 0.45:
        return {"k": "edit", "key": rng.choice(KEYS), "val": gen_value(rng, 0, cfg["backend"]),
                "compact": rng.random() < 0.3}
    if r < 0.55:
        return {"k": "same"}
    if r < 0.62:
        return {"k": "compact"}
    if r < 0.66 and cfg.get("max_file_size"):
        return {"k": "big"}
    if r < 0.7:
        return {"k": "hidden"}
    return {"k": "raw", "text": rng.choice([
        '{"data":{}}', '{"data":{"a":1},"extra":[1,2]}', '[1,2]', '{"data":5}', '{"nodata":{}}',
        '{"data":{"a":1},"data":{"b":2}}', 'not json', '{"data":{"x":"\u00e9"}}\n\n',
        '{"data":{}} trailing', '', '   ', '{"data":{"n":NaN}}', '"str"',
        '{"data":{"tiny":5e-324}}' if cfg["backend"] != "dynamodb" else '{"data":{"tiny":1e-7}}',
        '{"output":[{"message":"hi"}],"nlu":{"intent":"Z"},"request":{"r":1}}'])}


def gen_op(rng, i, ids, cfg):
    backend = cfg["backend"]
    remote = backend != "filedb"
    short = cfg.get("short_expiry")
    guard = backend == "filedb" and cfg.get("guard_ms") is None
    weights = {"write": 30, "commit": 10, "sw": 6, "rename": 8, "unlink": 6, "rmdir": 3,
               "rmrf": 2, "mkdir": 5, "attr": 3, "ext": 7 if remote else 9, "race": 4,
               "stale": 3 if guard else 0, "remount": 1, "wait": 2 if short else 0, "sync": 2,
               "burst": 1}
    kind = rng.choices(list(weights), list(weights.values()))[0]
    uid = rng.choice(ids)
    op = {"op": kind, "i": i}
    if kind == "write":
        rel = rng.choice(EL_RELS)
        how = rng.choice(["trunc", "trunc", "trunc", "append", "rmw", "ftrunc", "truncate",
                          "fsync", "empty"])
        op.update(uid=uid, rel=rel, how=how, c=gen_content(rng, rel, cfg))
        if how == "append":
            op["c"] = {"k": "raw", "text": rng.choice(["\n", "  \n", "x", '{"a":1}', "\u00e9"])}
        if how in ("ftrunc", "truncate"):
            op["n"] = rng.choice(["zero", "minus1", "same", "plus2", "half", "huge"])
    elif kind == "commit":
        rel = rng.choice(EL_RELS)
        op.update(uid=uid, rel=rel, tmp=rng.choice(SCRATCH_RELS[:5]), c=gen_content(rng, rel, cfg),
                  tuid=uid if rng.random() < 0.85 else rng.choice(ids))
    elif kind == "sw":
        op.update(uid=uid, rel=rng.choice(SCRATCH_RELS), c=gen_content(rng, "user.json", cfg),
                  append=rng.random() < 0.2, mode=rng.choice([0o644, 0o600, 0o755]))
    elif kind == "rename":
        if rng.random() < 0.1:
            op.update(op="mvuser", uid=uid, name=rng.choice([encode_id(u) for u in ids] + ["new"]))
        else:
            a = rng.choice(SCRATCH_RELS + EL_RELS + ["history"])
            b = rng.choice(SCRATCH_RELS + EL_RELS + ["history"])
            op.update(src=[uid, a], dst=[uid if rng.random() < 0.8 else rng.choice(ids), b])
    elif kind == "unlink":
        op.update(uid=uid, rel=rng.choice(SCRATCH_RELS + EL_RELS + ["history", "history/9.json"]))
    elif kind == "rmdir":
        op.update(uid=uid, rel=rng.choice(["", "", "history", "user.json", "history/x.tmp"]))
    elif kind == "rmrf":
        op.update(uid=uid)
    elif kind == "mkdir":
        r = rng.random()
        if r < 0.75:
            op.update(name=encode_id(rng.choice(ids)))
        elif r < 0.9:
            op.update(name=rng.choice(BAD_MKDIR))
        else:
            op.update(name=encode_id(uid) + "/sub")
    elif kind == "attr":
        op.update(uid=uid, rel=rng.choice(SCRATCH_RELS[:4] + EL_RELS + [""]),
                  how=rng.choice(["chmod", "chmod", "utime", "truncate"]),
                  mode=rng.choice([0o600, 0o640, 0o755, 0o444]), n=rng.randint(0, 30))
    elif kind == "ext":
        kinds = ["data", "data", "session_new", "expire", "revive", "history_push", "custom",
                 "new_user", "del_user", "jovo", "odd_time"]
        if backend != "mongodb" and not guard:
            kinds += ["drop_el"]
        op.update(uid=uid, kind=rng.choice(kinds), val=gen_value(rng, 0, backend),
                  el=rng.choice(["session", "history", "user"]))
    elif kind == "race":
        rel = rng.choice(["user.json", "user.json", "session.json", "history/0.json", "createdAt"])
        op.update(uid=uid, rel=rel, c=gen_content(rng, rel, cfg),
                  change=rng.choice(["same", "other", "none"]))
    elif kind == "stale":
        op.update(uid=uid, rel=rng.choice(["user.json", "session.json"]),
                  c={"k": "edit", "key": "stale%d" % i, "val": i, "compact": False},
                  other=rng.choice(ids))
    elif kind == "wait":
        op.update(ms=rng.randint(500, 2500))
    elif kind == "burst":
        op.update(uid=uid, n=rng.randint(3, 12))
    return op


def gen_sequence(seed, backend, nsteps):
    rng = random.Random("%s/%d" % (backend, seed))
    stored = {}
    if rng.random() < 0.9:
        stored["user"] = True
    elif rng.random() < 0.5:
        stored["user"] = False
    short = rng.random() < 0.12
    r = rng.random()
    if short:
        stored["session"] = {"enabled": True, "expiresAfterSeconds": 2}
    elif r < 0.5:
        stored["session"] = True
    elif r < 0.7:
        stored["session"] = {"expiresAfterSeconds": rng.choice([0, 900, 3600])}
    elif r < 0.85:
        stored["session"] = False
    r = rng.random()
    if r < 0.7:
        h = {"enabled": True, "size": rng.choice([1, 2, 3, 3, 4])}
        if rng.random() < 0.3:
            h["nlu"] = False
        if rng.random() < 0.15:
            h["request"] = False
        stored["history"] = h
    if rng.random() < 0.1:
        stored["createdAt"] = False
    if rng.random() < 0.15:
        stored["updatedAt"] = False
    cfg = {"backend": backend, "stored": stored, "allow_delete": rng.random() < 0.5,
           # short: a change by others shows within the cache time, and the check waits for it
           "cache_timeout": rng.choice([0.2, 0.3, 0.5]) if backend != "filedb" else
           rng.choice([0.1, 0.1, 0.2, 0.4, 1]),
           "short_expiry": short}
    if rng.random() < 0.25:
        cfg["max_file_size"] = 4096
    if backend == "filedb":
        cfg["write_delay"] = rng.choice([None, 0, 20, 100])
        if rng.random() < 0.6:
            cfg["guard_ms"] = 0
    ids = rng.sample(ID_POOL, 3)
    items = [gen_item(rng, uid, backend, cfg) for uid in ids if rng.random() < 0.7]
    ops = [gen_op(rng, i, ids, cfg) for i in range(nsteps)]
    return {"seed": seed, "backend": backend, "cfg": cfg, "ids": ids, "items": items, "ops": ops}


# --------------------------------------------------------------------------- the store helper

class Helper:
    """tests/model/helper.js: the store as the Jovo app sees it, and the real Jovo app."""

    def __init__(self, log):
        self.p = subprocess.Popen(
            ["node", os.path.join(HERE, "helper.js"), os.path.join(REPO, "tests", "jovo")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
            env=dict(os.environ, NODE_EXTRA_CA_CERTS=""))

    def call(self, op, **kw):
        kw["op"] = op
        self.p.stdin.write(json.dumps(kw).encode() + b"\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise Failure("the store helper (helper.js) died; see its log")
        ans = J.loads(line.decode("utf-8"))
        if "error" in ans:
            raise Failure("store helper %s: %s" % (op, ans["error"]))
        return ans["ok"]

    def close(self):
        try:
            self.p.stdin.close()
            self.p.wait(timeout=20)
        except Exception:
            self.p.kill()


# --------------------------------------------------------------------------- the mount

def in_mounts(path):
    with open("/proc/self/mounts") as f:
        return any(l.split()[1] == path and l.split()[2].startswith("fuse") for l in f)


class Mount:
    def __init__(self, binary, cfgfile, args, mnt, logpath):
        self.binary, self.cfgfile, self.args, self.mnt, self.logpath = (
            binary, cfgfile, args, mnt, logpath)
        self.proc = None

    def start(self):
        os.makedirs(self.mnt, exist_ok=True)
        with open(self.logpath, "ab") as log:
            log.write(("=== mount: %s -f -o config=%s %s %s\n" % (
                self.binary, self.cfgfile, " ".join(self.args), self.mnt)).encode())
            log.flush()
            # each mount's journal beside it (the default is /var/lib/jovofs for root)
            journal = os.path.join(os.path.dirname(os.path.abspath(self.mnt)),
                                   "journal-" + os.path.basename(self.mnt), "jfs.journal")
            self.proc = subprocess.Popen([self.binary, "-f", "-o", "config=" + self.cfgfile,
                                          "-o", "journal=" + journal] +
                                         self.args + [self.mnt], stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL)
        deadline = time.time() + 20 * SLOW
        while time.time() < deadline:
            if in_mounts(self.mnt):
                try:
                    os.statvfs(self.mnt)
                    return
                except OSError:
                    pass
            if self.proc.poll() is not None:
                raise Failure("jovofs exited (%s) before mounting; log %s" % (
                    self.proc.returncode, self.logpath))
            time.sleep(0.01)
        raise Failure("jovofs did not mount within 20 s; log %s" % self.logpath)

    def stop(self):
        if self.proc is None:
            return
        if in_mounts(self.mnt):
            r = subprocess.run(["fusermount3", "-u", self.mnt], capture_output=True)
            if r.returncode != 0:
                time.sleep(0.2)
                r = subprocess.run(["fusermount3", "-u", self.mnt], capture_output=True)
                if r.returncode != 0:
                    subprocess.run(["fusermount3", "-uz", self.mnt], capture_output=True)
                    self.kill()
                    raise Failure("fusermount3 -u failed: %s" % r.stderr.decode().strip())
        try:
            rc = self.proc.wait(timeout=30 * SLOW)
        except subprocess.TimeoutExpired:
            self.kill()
            raise Failure("jovofs did not exit within 30 s of the unmount")
        self.proc = None
        if rc != 0:
            raise Failure("jovofs exited with status %d after the unmount; log %s" % (rc, self.logpath))
        self.check_log()

    def kill(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
        if in_mounts(self.mnt):
            subprocess.run(["fusermount3", "-uz", self.mnt], capture_output=True)

    def check_log(self):
        with open(self.logpath, "rb") as f:
            log = f.read().decode("utf-8", "replace")
        m = re.search(r"ERROR: AddressSanitizer|runtime error:|LeakSanitizer", log)
        if m:
            raise Failure("sanitizer report in the daemon log %s:\n%s" % (
                self.logpath, log[max(0, m.start() - 200):m.start() + 3000]))

    def path(self, uid, rel=""):
        p = os.path.join(self.mnt, encode_id(uid))
        return os.path.join(p, rel) if rel else p


# ---- system calls, each an outcome string: "OK", or "step:ERRNO,..." of the steps that failed

def _oserr(step, e):
    return "%s:%s" % (step, errname(e.errno))


def sys_write(path, how, content, n):
    if how == "truncate":
        try:
            os.truncate(path, n)
            return "OK"
        except OSError as e:
            return _oserr("truncate", e)
    flags = {"trunc": os.O_WRONLY | os.O_CREAT | os.O_TRUNC, "fsync": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
             "empty": os.O_WRONLY | os.O_CREAT | os.O_TRUNC, "append": os.O_WRONLY | os.O_APPEND,
             "rmw": os.O_RDWR, "ftrunc": os.O_WRONLY, "sw": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
             "swa": os.O_WRONLY | os.O_CREAT | os.O_APPEND}[how]
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as e:
        return _oserr("open", e)
    fails = []
    try:
        if how == "rmw":
            while os.read(fd, 65536):
                pass
            os.ftruncate(fd, 0)
            off = 0
            while off < len(content):
                off += os.pwrite(fd, content[off:], off)
        elif how == "ftrunc":
            os.ftruncate(fd, n)
        elif how != "empty":
            off = 0
            while off < len(content):
                off += os.write(fd, content[off:])
    except OSError as e:
        fails.append(_oserr("ftruncate" if how == "ftrunc" else "write", e))
    if how == "fsync":
        try:
            os.fsync(fd)
        except OSError as e:
            fails.append(_oserr("fsync", e))
    try:
        os.close(fd)
    except OSError as e:
        fails.append(_oserr("close", e))
    return ",".join(fails) or "OK"


def sys_call(step, f, *a):
    try:
        f(*a)
        return "OK"
    except OSError as e:
        return _oserr(step, e)


def read_file(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while True:
            b = os.read(fd, 1 << 20)
            if not b:
                return b"".join(chunks)
            chunks.append(b)
    finally:
        os.close(fd)


def snapshot(mnt, root_only_status=True):
    """The mount's tree as the model's tree() shapes it; errors as {"error": ...}."""
    def node(path, depth):
        try:
            st = os.lstat(path)
        except OSError as e:
            return {"error": "lstat: " + errname(e.errno)}
        n = {"mode": stat.S_IMODE(st.st_mode), "mtime": st.st_mtime_ns // 1_000_000}
        if stat.S_ISDIR(st.st_mode):
            n["type"] = "dir"
            if depth == 0:
                n["kids"] = None
                return n
            try:
                names = os.listdir(path)
            except OSError as e:
                return {"error": "listdir: " + errname(e.errno)}
            n["order"] = names
            n["kids"] = {nm: node(os.path.join(path, nm), depth - 1) for nm in names}
            if depth == 2:
                try:
                    n["xid"] = os.getxattr(path, "user.jovofs.id").decode("utf-8", "replace")
                except OSError as e:
                    n["xid"] = "getxattr:" + errname(e.errno)
        elif stat.S_ISREG(st.st_mode):
            n["type"] = "file"
            n["size"] = st.st_size
            try:
                n["content"] = read_file(path)
            except OSError as e:
                n["content_error"] = errname(e.errno)
        else:
            n["type"] = "other"
        return n

    root = {}
    for nm in os.listdir(mnt):
        root[nm] = node(os.path.join(mnt, nm), 0 if nm == ".jovofs" else 2)
    return root


def short(b, n=300):
    s = repr(b)
    return s if len(s) <= n else s[:n] + "...(%d bytes)" % len(b)


def compare(actual, expected, path, out, either=None):
    """Differences of @actual against @expected (trees of snapshot()/Model.tree()) into @out.
    With @either (the tree before an external change), a file may also show that version."""
    an, en = set(actual), set(expected)
    for nm in sorted(en - an):
        if either is not None and nm not in either:
            continue  # a new one: may not show yet
        out.append("%s%s: missing" % (path, nm))
    for nm in sorted(an - en):
        if either is not None and nm in either:
            continue  # a gone one: may still show
        out.append("%s%s: present, expected absent (%s)" % (path, nm, actual[nm].get("type")))
    for nm in sorted(an & en):
        a, e = actual[nm], expected[nm]
        o = either.get(nm) if either is not None else None
        p = path + nm
        if "error" in a:
            out.append("%s: %s" % (p, a["error"]))
            continue
        if a["type"] != e["type"]:
            out.append("%s: is a %s, expected a %s" % (p, a["type"], e["type"]))
            continue
        if a["mode"] != e["mode"] and not (o and o.get("mode") == a["mode"]):
            out.append("%s: mode %o, expected %o" % (p, a["mode"], e["mode"]))
        if e.get("mtime") is not None and a["mtime"] != e["mtime"] and not (
                o and o.get("mtime") in (a["mtime"], None)):
            out.append("%s: mtime %s, expected %s" % (p, iso_format(a["mtime"]),
                                                      iso_format(e["mtime"])))
        if e["type"] == "file":
            if "content_error" in a:
                out.append("%s: read failed: %s" % (p, a["content_error"]))
                continue
            ok = [e["content"]] + ([o["content"]] if o and o.get("type") == "file" else [])
            if a["content"] not in ok:
                out.append("%s: content differs\n      expected %s\n           got %s" % (
                    p, short(e["content"]), short(a["content"])))
            sizes = {len(c) for c in ok} if either is not None else {len(a["content"])}
            if a["size"] not in sizes:
                out.append("%s: st_size %d but read returned %d bytes" % (p, a["size"], len(a["content"])))
        elif e.get("kids") is not None:
            if "xid" in e and a.get("xid") != e["xid"]:
                out.append("%s: user.jovofs.id %r, expected %r" % (p, a.get("xid"), e["xid"]))
            if e.get("ordered") is not None and either is None:
                got = [n for n in a["order"] if n in e["ordered"]]
                if got == [n for n in e["ordered"] if n in a["order"]] and got != e["ordered"]:
                    pass  # missing ones are reported below
                elif got != e["ordered"]:
                    out.append("%s/: listed in the order %s, expected %s" % (p, got, e["ordered"]))
            compare(a["kids"], e["kids"], p + "/", out, o.get("kids") if o and o.get("kids") else
                    ({} if either is not None else None))


# --------------------------------------------------------------------------- running a sequence

def resolve_rel(v, t0):
    """Initial items: "@rel:MS" is the time now + MS."""
    if isinstance(v, dict):
        return {k: resolve_rel(x, t0) for k, x in v.items()}
    if isinstance(v, list):
        return [resolve_rel(x, t0) for x in v]
    if isinstance(v, str) and v.startswith("@rel:"):
        return iso_format(t0 + int(v[5:]))
    return v


def fmt_op(op):
    return json.dumps({k: v for k, v in op.items() if k != "i"}, ensure_ascii=False)


class Runner:
    def __init__(self, env, seq, verbose=False):
        self.env, self.seq, self.verbose = env, seq, verbose
        self.cfg = Cfg(seq["cfg"])
        self.model = Model(self.cfg)
        self.backend = seq["backend"]
        self.remote = self.backend != "filedb"
        self.step_no = -1
        self.early = {}     # user id -> its directory's mtime (ms) right after an op

    # ---- setup and teardown

    def store_cfg(self):
        tpl = json.loads(self.env.template)
        tag = "m%d_%d_%d" % (self.seq["seed"], os.getpid(), self.env.next_store())
        if self.backend == "filedb":
            tpl["filedb"]["pathToFile"] = os.path.join(self.work, "db", "db.json")
            if self.cfg.guard is not None:
                tpl["filedb"]["staleRewriteWindowMs"] = self.cfg.guard
        elif self.backend == "dynamodb":
            tpl["dynamodb"]["table"]["name"] = tag
        else:
            tpl["mongodb"]["databaseName"] = tag
        return tpl

    def run(self):
        self.work = tempfile.mkdtemp(prefix="seq%d." % self.seq["seed"], dir=self.env.work)
        self.storecfg = self.store_cfg()
        conf = dict(self.storecfg)
        conf["storedElements"] = self.seq["cfg"]["stored"]
        self.cfgfile = os.path.join(self.work, "config.json")
        with open(self.cfgfile, "w") as f:
            json.dump(conf, f)
        self.logpath = os.path.join(self.work, "jovofs.log")
        h = self.env.helper
        h.call("use", backend=self.backend, cfg=self.storecfg, stored=self.seq["cfg"]["stored"])
        h.call("create")
        self.mount = Mount(self.env.binary, self.cfgfile, self.cfg.mount_args(),
                           os.path.join(self.work, "mnt"), self.logpath)
        ok = False
        try:
            self.setup_items()
            self.mount.start()
            self.check("after mount")
            for i, op in enumerate(self.seq["ops"]):
                self.step_no = i
                try:
                    self.step(op)
                except Failure as e:
                    if not str(e).startswith("step "):
                        self.fail(str(e))
                    raise
            self.step_no = len(self.seq["ops"])
            try:
                self.finish()
            except Failure as e:
                if not str(e).startswith("the end"):
                    self.fail(str(e))
                raise
            ok = True
        finally:
            self.mount.kill()
            try:
                h.call("drop")
            except Failure:
                pass
            if ok and not self.env.keep:
                shutil.rmtree(self.work, ignore_errors=True)

    def setup_items(self):
        t0 = now_ms()
        for it in self.seq["items"]:
            item = resolve_rel(it, t0)
            self.env.helper.call("put", item=item)
        self.adopt_store()

    def adopt_store(self, only=None):
        """Take the store's items as the model's (after the Jovo app wrote them)."""
        for it in self.env.helper.call("all"):
            uid = it["id"]
            if only is not None and uid != only:
                continue
            if self.backend != "filedb":
                it = dict([("id", uid)] + [(k, v) for k, v in it.items() if k != "id"])
            self.model.items[uid] = it
        if only is not None and only not in [i["id"] for i in self.env.helper.call("all")]:
            self.model.items.pop(only, None)

    def finish(self):
        t = [time.time()]
        self.settle()
        self.check_store("at the end, before the unmount")
        t.append(time.time())
        self.mount.stop()
        t.append(time.time())
        self.check_store("after the unmount")
        t.append(time.time())
        self.check_jovo()
        t.append(time.time())
        if self.verbose:
            print("  end: settle+store %.0f ms, unmount %.0f ms, store %.0f ms, jovo %.0f ms" % tuple(
                (b - a) * 1000 for a, b in zip(t, t[1:])), flush=True)

    # ---- failure

    def fail(self, what):
        op = self.seq["ops"][self.step_no] if 0 <= self.step_no < len(self.seq["ops"]) else None
        where = ("step %d %s" % (self.step_no, fmt_op(op))) if op else (
            "setup" if self.step_no < 0 else "the end")
        raise Failure("%s: %s" % (where, what))

    # ---- time

    def avoid_expiry(self, window_ms=0):
        """Wait while a session is about to expire (or just did): never act near the boundary."""
        for _ in range(20):
            now = now_ms()
            near = [b for b in self.model.session_boundaries()
                    if b - EXPIRY_MARGIN_MS - window_ms <= now <= b + EXPIRY_MARGIN_MS]
            if not near:
                return
            time.sleep((max(near) + EXPIRY_MARGIN_MS - now) / 1000.0 + 0.01)

    # ---- checks

    def read_records(self):
        recs = {}
        for uid in self.model.items:
            try:
                recs[uid] = J.loads(read_file(self.mount.path(uid, "record.json")).decode("utf-8"))
            except (OSError, ValueError):
                pass
        return recs

    def check(self, what, old=None):
        """The mount's tree equals the model's. With @old (the model's tree before an
        external change): poll until it does, within the cache time, every file showing
        the old or the new version meanwhile."""
        self.avoid_expiry(window_ms=500)
        errs = []
        # the user directories' times first, as `ls -l` right after the op sees them
        early, self.early = self.early, {}
        if old is None:
            for uid in self.model.items:
                if uid in early:
                    continue
                try:
                    early[uid] = os.lstat(self.mount.path(uid)).st_mtime_ns // 1_000_000
                except OSError:
                    pass
        self.model.bind(self.read_records(), errs)
        self.model.freeze()
        if callable(old):
            old = old()  # a tree of times bound just now
        for uid, mt in (early.items() if old is None else ()):
            if mt is None:
                continue
            want = self.model.user_mtime(self.model.items[uid]) if uid in self.model.items else None
            if want is not None and mt != want:
                errs.append("%s: mtime %s right after the op, expected %s" % (
                    encode_id(uid), iso_format(mt), iso_format(want)))
        deadline = time.time() + (2 * self.cfg.cache_timeout + 5) * SLOW
        while True:
            t = now_ms()
            want = self.model.tree(t)
            got = snapshot(self.mount.mnt)
            diffs = list(errs)
            compare(got, want, "", diffs)
            self.check_conflicts(diffs)
            if not diffs:
                return
            if old is None or time.time() > deadline:
                break
            mixed = []
            compare(got, want, "", mixed, either=old)
            if mixed:
                diffs = ["while the mount took in an external change, a file showed neither "
                         "the old nor the new version:"] + mixed
                break
            time.sleep(0.02)
        if old is not None and time.time() > deadline:
            diffs.insert(0, "the mount did not show an external change within %.1f s "
                         "(cache_timeout %g):" % (2 * self.cfg.cache_timeout + 5,
                                                  self.cfg.cache_timeout))
        self.fail("%s: the mount differs from the model:\n    " % what + "\n    ".join(diffs[:25]))

    def check_conflicts(self, diffs):
        d = os.path.join(self.mount.mnt, ".jovofs", "conflicts")
        try:
            got = sorted(read_file(os.path.join(d, n)) for n in os.listdir(d))
        except OSError as e:
            diffs.append(".jovofs/conflicts: " + errname(e.errno))
            return
        want = sorted(self.model.conflicts)
        if got != want:
            diffs.append(".jovofs/conflicts/ holds %s, expected %s" % (
                [short(x, 80) for x in got], [short(x, 80) for x in want]))

    def settle(self):
        """FileDb: fsync() waits until a user's edits are saved (SEMANTICS)."""
        if self.remote:
            return
        for uid in list(self.model.items):
            try:
                fd = os.open(self.mount.path(uid, "record.json"), os.O_RDONLY)
            except OSError as e:
                self.fail("settle: open %s/record.json: %s" % (encode_id(uid), errname(e.errno)))
            try:
                os.fsync(fd)
            except OSError as e:
                self.fail("fsync of %s/record.json: %s" % (encode_id(uid), errname(e.errno)))
            finally:
                os.close(fd)

    def check_store(self, what, only=None, poll=True):
        """The store holds what the model holds (FileDb: polled, as a removed user's save
        has no file to fsync; it is due within write_delay plus a save)."""
        deadline = time.time() + 10 * SLOW
        while True:
            items = {it["id"]: it for it in self.env.helper.call("all")}
            diffs = []
            want = {k: J.plain(v) for k, v in self.model.items.items()}
            for uid in sorted(set(items) | set(want)):
                if only is not None and uid != only:
                    continue
                if uid not in items:
                    diffs.append("%r: not in the store" % uid)
                elif uid not in want:
                    diffs.append("%r: in the store, expected absent: %s" % (uid, short(J.compact(items[uid]))))
                elif not J.equal(items[uid], want[uid]):
                    diffs.append("%r: stored %s\n      expected %s" % (
                        uid, short(J.compact(items[uid]), 600), short(J.compact(want[uid]), 600)))
            if not diffs:
                return
            if self.remote or not poll or time.time() > deadline:
                self.fail("%s: the store differs from the model:\n    %s" % (what, "\n    ".join(diffs)))
            time.sleep(0.05)

    def check_jovo(self):
        """Every user loads in the real Jovo app as the model says."""
        ids = sorted(self.model.items)
        if not ids:
            return
        self.avoid_expiry(window_ms=500)
        now = now_ms()
        res = self.env.helper.call("jovo", reqs=[["get", uid, []] for uid in ids])
        diffs = []
        for uid, got in zip(ids, res):
            item = J.plain(self.model.items[uid])
            u = item.get("user") if self.cfg.on["user"] else None
            want_user = (u.get("data") if isinstance(u, dict) else None) or {}
            # code of Jovo 4.6.2: its default {"enabled": false} is merged under the app's
            # config first, so "session": {"expiresAfterSeconds": N} leaves sessions off in
            # the app (DESIGN 3 says Jovo turns them on, as Jovo's documentation promises)
            sc = self.seq["cfg"]["stored"].get("session")
            jovo_session = sc is True or (isinstance(sc, dict) and sc.get("enabled") is True)
            s = item.get("session") if jovo_session else None
            want_sess = {}
            if isinstance(s, dict) and s and not self.model.expired(item, now):
                want_sess = s.get("data") or {}
            want = {"user": want_user, "session": want_sess}
            if not J.equal(got, want):
                diffs.append("%r: the Jovo app loaded %s, expected %s" % (
                    uid, J.compact(got).decode(), J.compact(want).decode()))
        if diffs:
            self.fail("the store does not load in the Jovo app as expected:\n    " + "\n    ".join(diffs))

    # ---- steps

    def outcome(self, got, want):
        if isinstance(want, str):
            want = {want}
        if got not in want:
            self.fail("outcome %s, expected %s" % (got, " or ".join(sorted(want))))

    def step(self, op):
        t0 = time.time()
        self.avoid_expiry(window_ms=300)
        old = None
        f = getattr(self, "op_" + op["op"])
        r = f(op)
        if isinstance(r, dict):
            old = r.get("old")
        t1 = time.time()
        self.check("after the step", old=old)
        if isinstance(r, dict) and r.get("durable"):
            self.check_store("after fsync() returned", only=r["durable"], poll=False)
        if self.verbose:
            print("  step %d (%.0f+%.0f ms): %s" % (self.step_no, (t1 - t0) * 1000,
                                                   (time.time() - t1) * 1000, fmt_op(op)), flush=True)

    def now_window(self, uid, t0, t1, writes=1):
        """The time a write of @uid between @t0 and @t1 stores: code (policy/write.c): never
        the updatedAt it replaces, so writes within a millisecond count up past the clock."""
        item = self.model.items.get(uid)
        prev = time_ms(item.get("updatedAt")) if item else None
        hi = t1 if prev is None or not (0 <= prev - t1 < 1000) else max(t1, prev + writes)
        return Now(t0, hi)

    # ---- contents

    def content_for(self, uid, rel, spec, now):
        """The bytes a content spec stands for, given what @rel of @uid shows now."""
        m = self.model
        k = spec["k"]
        item = m.items.get(uid)
        kind = classify(rel)
        el, idx = (kind[1], kind[2]) if kind[0] == "element" else ("user", None)
        cur = m.shown(item, el, idx, now) if item is not None else None
        if k == "raw" or k == "time":
            return spec["text"].encode("utf-8")
        if k == "same":
            return m.render_el(el, cur) if cur is not None else b'{"data":{}}\n'
        if k == "compact":
            return J.compact(cur) if cur is not None else b'{"data":{}}'
        if k == "big":
            return J.render({"data": {"pad": "x" * (self.cfg.max_file_size + 10)}})
        if el in ("createdAt", "updatedAt"):
            return (J.plain(cur) if isinstance(J.plain(cur), str) else "2025-01-01T00:00:00.000Z"
                    ).encode() + b"\n"
        v = J.copy(cur) if isinstance(cur, dict) else ({} if el == "history" else {"data": {}})
        if k == "hidden":
            if el != "history":
                return m.render_el(el, cur) if cur is not None else b'{"data":{}}\n'
            v["nlu"] = {"intent": "hidden"}
            v["request"] = {"hidden": True}
        elif el == "history":
            v[spec["key"]] = spec["val"]
        else:
            if not isinstance(v.get("data"), dict):
                v["data"] = {}
            v["data"][spec["key"]] = spec["val"]
        return J.compact(v) if spec.get("compact") else J.render(v)

    def exists(self, uid, rel, now):
        """Whether path @rel of user @uid exists on the mount (by the model)."""
        m = self.model
        if uid not in m.items:
            return False
        k = classify(rel)
        if k[0] in ("userdir", "record"):
            return True
        if k[0] == "histdir":
            return self.cfg.on["history"]
        if k[0] == "scratch":
            if k[1] == "history" and not self.cfg.on["history"]:
                return False
            return (uid, k[1], k[2]) in m.scratch
        if k[1] == "history" and not self.cfg.on["history"]:
            return False
        return m.shown(m.items[uid], k[1], k[2], now) is not None

    def parent_exists(self, uid, rel):
        if uid not in self.model.items:
            return False
        return not rel.startswith("history/") or self.cfg.on["history"]

    # ---- element writes

    def op_write(self, op):
        uid, rel, how = op["uid"], op["rel"], op["how"]
        now = now_ms()
        cur = self.model.content(uid, rel, now)
        base = cur if cur is not None else b""
        n = None
        if how in ("ftrunc", "truncate"):
            n = {"zero": 0, "minus1": max(len(base) - 1, 0), "same": len(base),
                 "plus2": len(base) + 2, "half": len(base) // 2,
                 "huge": self.cfg.max_file_size + 1}[op["n"]]
        data = self.content_for(uid, rel, op["c"], now)
        t0 = now_ms()
        got = sys_write(self.mount.path(uid, rel), how, data, n)
        try:
            # the directory's time right after the close, as `echo > f; ls -l` sees it
            self.early[uid] = mt = os.lstat(self.mount.path(uid)).st_mtime_ns // 1_000_000
        except OSError:
            mt = None
        t1 = now_ms()
        before = self.model.items.get(uid)
        t = self.now_window(uid, t0, t1)
        self.outcome(got, self.expect_write(uid, rel, how, data, n, now, t))
        after = self.model.items.get(uid)
        if (after is not before and before is not None and after is not None and
                after.get("updatedAt") is t and mt is not None and not t.lo - 2 <= mt <= t.hi + 2):
            self.fail("the directory's mtime right after the write is %s, expected the time "
                      "of the write (%s .. %s)" % (iso_format(mt), iso_format(t.lo), iso_format(t.hi)))
        if how == "fsync" and got == "OK" and not self.remote:
            return {"durable": uid}
        return None

    def expect_write(self, uid, rel, how, data, n, now, t):
        m, cfg = self.model, self.cfg
        step = "truncate" if how == "truncate" else "open"
        item = m.items.get(uid)
        if item is None:
            return step + ":ENOENT"
        k = classify(rel)
        if k[0] == "record":
            return step + ":EACCES"
        el, idx = k[1], k[2]
        if el == "history" and not cfg.on["history"]:
            return step + ":ENOENT"
        cur = m.shown(item, el, idx, now)
        creating = how in ("trunc", "fsync", "empty")
        if cur is None:
            if not creating:
                return step + ":ENOENT"
            if not cfg.on[el] or el == "history":
                return "open:EPERM"  # create() of a disabled element, or of an item not shown
            base = b""
        else:
            base = m.render_el(el, cur)

        def commit(text):
            return m.commit(uid, el, idx, text, now, t)

        if how == "empty":
            return "OK"  # O_TRUNC and no write: nothing is stored (SEMANTICS)
        if how in ("truncate", "ftrunc"):
            if n > cfg.max_file_size:
                return ("truncate" if how == "truncate" else "ftruncate") + ":EFBIG"
            text = base[:n] + b"\0" * max(0, n - len(base))
            err = commit(text)
            return "OK" if not err else ("truncate:" if how == "truncate" else "close:") + err
        text = base + data if how == "append" else data
        if how in ("trunc", "fsync") and not data:
            return "OK"
        if len(text) > cfg.max_file_size:
            return "write:EFBIG,fsync:EFBIG,close:EFBIG" if how == "fsync" else "write:EFBIG,close:EFBIG"
        err = commit(text)
        if not err:
            return "OK"
        return ("fsync:" if how == "fsync" else "close:") + err

    def op_burst(self, op):
        """Edits in a row, each followed at once by a stat of the directory (`ls -l` right
        after `echo >`), with no check of the whole tree between them."""
        for k in range(op["n"]):
            self.op_write({"op": "write", "uid": op["uid"], "rel": "user.json", "how": "trunc",
                           "c": {"k": "edit", "key": "burst", "val": k, "compact": k % 2 == 0}})
            try:
                read_file(self.mount.path(op["uid"], "record.json"))
            except OSError:
                pass
            time.sleep(0.002)
        return None

    # ---- scratch files and renames

    def op_sw(self, op):
        uid, rel = op["uid"], op["rel"]
        now = now_ms()
        data = self.content_for(uid, "user.json", op["c"], now)
        path = self.mount.path(uid, rel)
        got = sys_write(path, "swa" if op["append"] else "sw", data, None)
        got += ";" + sys_call("chmod", os.chmod, path, op["mode"])
        self.outcome(got, self.expect_sw(uid, rel, data, op["append"], op["mode"]))

    def expect_sw(self, uid, rel, data, append, mode):
        if not self.parent_exists(uid, rel):
            return "open:ENOENT;chmod:ENOENT"
        _, dirsub, name = classify(rel)
        sc = self.model.scratch.get((uid, dirsub, name))
        if sc is None:
            sc = self.model.scratch[(uid, dirsub, name)] = Scratch(b"", 0o644)
        new = (sc.data + data) if append else data
        # code: max_file_size caps scratch files too (README says "element file")
        big = len(new) > self.cfg.max_file_size
        sc.data = sc.data if append and big else b"" if big else new
        sc.mode = mode & 0o7777
        return ("write:EFBIG" if big else "OK") + ";OK"

    def op_commit(self, op):
        """sed -i, jq > tmp && mv tmp: a scratch file renamed onto an element."""
        uid, tmp, tuid, rel = op["uid"], op["tmp"], op["tuid"], op["rel"]
        now = now_ms()
        data = self.content_for(tuid, rel, op["c"], now)
        got = sys_write(self.mount.path(uid, tmp), "sw", data, None)
        t0 = now_ms()
        got += ";" + sys_call("rename", os.rename, self.mount.path(uid, tmp), self.mount.path(tuid, rel))
        t1 = now_ms()
        want = "open:ENOENT" if not self.parent_exists(uid, tmp) else "OK"
        if want == "OK":
            _, dirsub, name = classify(tmp)
            sc = self.model.scratch.setdefault((uid, dirsub, name), Scratch(b"", 0o644))
            sc.data = data
            if len(data) > self.cfg.max_file_size:
                sc.data = b""
                want = "write:EFBIG"
        want += ";" + self.expect_rename([uid, tmp], [tuid, rel], now, self.now_window(tuid, t0, t1))
        self.outcome(got, want)

    def op_rename(self, op):
        (su, sr), (du, dr) = op["src"], op["dst"]
        now = now_ms()
        t0 = now_ms()
        got = sys_call("rename", os.rename, self.mount.path(su, sr), self.mount.path(du, dr))
        t1 = now_ms()
        self.outcome(got, self.expect_rename(op["src"], op["dst"], now, self.now_window(du, t0, t1)))

    def expect_rename(self, src, dst, now, t):
        m, cfg = self.model, self.cfg
        (su, sr), (du, dr) = src, dst
        ks, kd = classify(sr), classify(dr)
        if not self.exists(su, sr, now) or not self.parent_exists(du, dr):
            return "rename:ENOENT"
        if (su, sr) == (du, dr):
            return "OK"  # the kernel: the same file
        dst_exists = self.exists(du, dr, now)
        if kd[0] == "histdir" and su == du and sr.startswith("history/"):
            return "rename:ENOTEMPTY"  # the kernel: the target is an ancestor of the source
        if ks[0] == "histdir":
            if su == du and dr.startswith("history/"):
                return "rename:EINVAL"  # the kernel: into itself
            if dst_exists and kd[0] != "histdir":
                return "rename:ENOTDIR"
            return "rename:EISDIR" if kd[0] == "histdir" else "rename:EPERM"
        if kd[0] == "histdir":
            return "rename:EISDIR"
        if ks[0] == "scratch":
            sc = m.scratch[(su, ks[1], ks[2])]
            if kd[0] == "scratch":
                del m.scratch[(su, ks[1], ks[2])]
                m.scratch[(du, kd[1], kd[2])] = sc
                return "OK"
            # onto an element: a commit (SEMANTICS: rename scratch -> element)
            if kd[0] == "record":
                return "rename:EACCES"
            el, idx = kd[1], kd[2]
            if not cfg.on[el]:
                return "rename:EPERM"
            if el == "history" and not dst_exists:
                return "rename:EPERM"  # only the items shown can be written
            err = m.commit(du, el, idx, sc.data, now, t)
            if err:
                return "rename:" + err
            del m.scratch[(su, ks[1], ks[2])]
            return "OK"
        # an element or record.json: copied to a scratch name, nothing stored changes
        if kd[0] != "scratch":
            return "rename:EPERM"
        data = m.content(su, sr, now)
        old = m.scratch.get((du, kd[1], kd[2]))
        if old is not None:
            old.data = data
        else:
            m.scratch[(du, kd[1], kd[2])] = Scratch(data, 0o644)
        return "OK"

    def op_mvuser(self, op):
        got = sys_call("rename", os.rename, self.mount.path(op["uid"]),
                       os.path.join(self.mount.mnt, op["name"]))
        if op["uid"] not in self.model.items:
            want = "rename:ENOENT"
        elif op["name"] == encode_id(op["uid"]):
            want = "OK"
        else:
            want = "rename:EPERM"
        self.outcome(got, want)

    # ---- deleting

    def op_unlink(self, op):
        uid, rel = op["uid"], op["rel"]
        now = now_ms()
        t0 = now_ms()
        got = sys_call("unlink", os.unlink, self.mount.path(uid, rel))
        t1 = now_ms()
        self.outcome(got, self.expect_unlink(uid, rel, now, self.now_window(uid, t0, t1)))

    def expect_unlink(self, uid, rel, now, t):
        m, cfg = self.model, self.cfg
        if not self.exists(uid, rel, now):
            return "unlink:ENOENT"
        k = classify(rel)
        if k[0] == "scratch":
            del m.scratch[(uid, k[1], k[2])]   # always removable
            return "OK"
        if k[0] == "histdir":
            return "unlink:EISDIR"
        if not cfg.allow_delete:
            return "unlink:EPERM"
        if k[0] == "record":
            # code: with allow_delete, unlink of record.json succeeds and deletes nothing
            # (so rm -r gets to the rmdir that deletes the record); SEMANTICS says EPERM
            return "OK"
        m.remove(uid, k[1], k[2], t)
        return "OK"

    def op_rmdir(self, op):
        uid, rel = op["uid"], op["rel"]
        now = now_ms()
        t0 = now_ms()
        got = sys_call("rmdir", os.rmdir, self.mount.path(uid, rel))
        t1 = now_ms()
        m, cfg = self.model, self.cfg
        if not self.exists(uid, rel, now):
            want = "rmdir:ENOENT"
        elif classify(rel)[0] not in ("userdir", "histdir"):
            want = "rmdir:ENOTDIR"
        elif not cfg.allow_delete:
            want = "rmdir:EPERM"
        elif rel == "":
            m.drop_user(uid)
            want = "OK"
        else:
            # code: rmdir history/ removes the items it shows (SEMANTICS: "succeeds once its
            # items are removed; ENOTEMPTY otherwise")
            t = self.now_window(uid, t0, t1, writes=10)
            while m.hist_count(m.items[uid]) > 0:
                m.remove(uid, "history", 0, t)
            want = "OK"
        self.outcome(got, want)

    def op_rmrf(self, op):
        uid = op["uid"]
        r = subprocess.run(["rm", "-rf", self.mount.path(uid)], capture_output=True)
        got = "OK" if r.returncode == 0 else "exit:%d" % r.returncode
        m = self.model
        if uid not in m.items:
            want = "OK"
        elif self.cfg.allow_delete:
            m.drop_user(uid)
            want = "OK"
        else:
            for k in [k for k in m.scratch if k[0] == uid]:
                del m.scratch[k]   # scratch files can always be removed; nothing stored is
            want = "exit:1"
        self.outcome(got, want)

    def op_mkdir(self, op):
        name = op["name"]
        t0 = now_ms()
        got = sys_call("mkdir", os.mkdir, os.path.join(self.mount.mnt, name))
        t1 = now_ms()
        m = self.model
        if "/" in name:
            uid = decode_name(name.split("/")[0])
            want = "mkdir:EPERM" if uid in m.items else "mkdir:ENOENT"
        else:
            uid = decode_name(name)
            if uid is None:
                want = "mkdir:EINVAL"
            elif uid in m.items:
                want = "mkdir:EEXIST"
            else:
                m.create(uid, Now(t0, t1))
                want = "OK"
        self.outcome(got, want)

    def op_attr(self, op):
        uid, rel, how = op["uid"], op["rel"], op["how"]
        now = now_ms()
        path = self.mount.path(uid, rel)
        k = classify(rel)
        if how == "truncate" and k[0] in ("element", "record"):
            return self.op_write(dict(op, how="truncate", n="half", c={"k": "same"}))
        if how == "chmod":
            got = sys_call("chmod", os.chmod, path, op["mode"])
        elif how == "utime":
            got = sys_call("utime", os.utime, path, (1000000, 1000000))
        else:
            got = sys_call("truncate", os.truncate, path, op["n"])
        if not self.exists(uid, rel, now):
            want = how + ":ENOENT"
        elif how == "truncate" and k[0] in ("userdir", "histdir"):
            want = "truncate:EISDIR"
        else:
            want = "OK"
            if k[0] == "scratch":
                sc = self.model.scratch[(uid, k[1], k[2])]
                if how == "chmod":
                    sc.mode = op["mode"] & 0o7777
                elif how == "truncate":
                    sc.data = sc.data[:op["n"]] + b"\0" * max(0, op["n"] - len(sc.data))
            elif how == "chmod":
                # SEMANTICS: chmod of a user's file or directory takes effect, kept in
                # memory (per file name) until the unmount or the user's removal
                self.model.modes[(uid, rel)] = op["mode"] & 0o7777
            # code: times of element files and directories are accepted, not stored
        self.outcome(got, want)

    # ---- changes by others

    def ext_now(self, item):
        """A time for an external save: after every time the record holds, as a real
        clock would be (conditional writes compare updatedAt to the millisecond)."""
        t = now_ms()
        prev = time_ms(item.get("updatedAt")) if item else None
        if prev is not None and prev >= t and prev - t < 5000:
            time.sleep((prev - t + 2) / 1000.0)
            t = now_ms()
        return t

    def ext_item(self, op, item, now):
        """The item after external change @op["kind"] (None: no change)."""
        kind, i, cfg = op["kind"], op["i"], self.cfg
        if item is None:
            if kind in ("del_user", "drop_el", "expire", "revive", "odd_time"):
                return None
            kind = "new_user"
        it = J.copy(J.plain(item)) if item is not None else None
        iso = iso_format(now)
        if kind == "new_user":
            if it is not None:
                kind = "data"
            else:
                it = {"id": op["uid"], "user": {"data": {"x%d" % i: op["val"]}},
                      "createdAt": iso, "updatedAt": iso}
                return it
        if kind == "data":
            u = it.get("user") if isinstance(it.get("user"), dict) else {}
            d = u.get("data") if isinstance(u.get("data"), dict) else {}
            d["x%d" % i] = op["val"]
            u["data"] = d
            it["user"] = u
        elif kind in ("session_new", "expire", "revive"):
            s = it.get("session")
            if kind == "session_new" or not isinstance(s, dict):
                s = {"id": "s-ext%d" % i, "data": {"ext": i}, "state": [{"component": "StoreComponent"}],
                     "createdAt": iso, "updatedAt": iso}
            s["updatedAt"] = iso_format(now - cfg.expires_ms - 3600000) if kind == "expire" else iso
            it["session"] = s
        elif kind == "history_push":
            h = it.get("history") if isinstance(it.get("history"), dict) else {}
            old = h.get("items") if isinstance(h.get("items"), list) else []
            h["items"] = ([{"output": [{"message": "ext%d" % i}], "nlu": {"intent": "E"}}] +
                          old)[:cfg.hist_size + 2]
            it["history"] = h
        elif kind == "custom":
            it["custom%d" % (i % 3)] = {"v": op["val"], "n": i}
        elif kind == "odd_time":
            it["createdAt"] = "2025-01-0%dT03:04:05Z" % (1 + i % 9)
        elif kind == "drop_el":
            if op["el"] not in it:
                return None
            del it[op["el"]]
        if cfg.on["updatedAt"]:
            it["updatedAt"] = iso
        return it

    def before_external(self):
        """What the Jovo app reads must hold every accepted edit: FileDb saves them first."""
        self.settle()
        self.check_store("before an external change")

    def op_ext(self, op):
        self.before_external()
        m = self.model
        old = m.tree(now_ms())
        uid, item = op["uid"], m.items.get(op["uid"])
        h = self.env.helper
        if op["kind"] == "jovo":
            h.call("jovo", reqs=[["set", uid, [["x%d" % op["i"], op["val"]]]]])
            self.adopt_store(only=uid)
            if uid not in m.items:
                m.drop_user(uid, by_mount=False)
        elif op["kind"] == "del_user":
            if item is None:
                return None
            h.call("del", id=uid)
            # code: scratch files outlive a user someone else deleted (they show again
            # if the id comes back); a removal through the mount drops them
            m.items.pop(uid)
        else:
            new = self.ext_item(op, item, self.ext_now(item))
            if new is None:
                return None
            h.call("put", item=new)
            if self.backend == "mongodb" and item is not None:
                merged = J.copy(J.plain(item))   # $set: keys it does not name stay
                merged.update(new)
                new = merged
            self.adopt_put(uid, new)
        return {"old": old}

    def adopt_put(self, uid, new):
        """The model takes the item the store holds after a put of @new: the same values,
        in the store's key order (MongoDB's $set adds new fields sorted by name)."""
        self.adopt_store(only=uid)
        got = self.model.items.get(uid)
        if got is None or not J.equal(J.plain(got), new):
            self.fail("the store holds %s after a put of %s" % (
                short(J.compact(got) if got else b"nothing", 400), short(J.compact(new), 400)))

    def op_race(self, op):
        """An editor that read a file, and saves it after someone else changed the record."""
        uid, rel, change = op["uid"], op["rel"], op["change"]
        m, cfg = self.model, self.cfg
        now = now_ms()
        path = self.mount.path(uid, rel)
        data = self.content_for(uid, rel, op["c"], now)
        if not self.exists(uid, rel, now) or classify(rel)[0] != "element":
            got = sys_write(path, "rmw", data, None)
            self.outcome(got, self.expect_write(uid, rel, "rmw", data, None, now, Now(now, now_ms())))
            return None
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError as e:
            self.fail("race: open %s: %s" % (rel, errname(e.errno)))
        try:
            while os.read(fd, 65536):
                pass
            self.before_external()
            base = J.copy(m.items[uid])
            old = m.tree(now_ms())
            el, idx = classify(rel)[1], classify(rel)[2]
            x = J.copy(J.plain(base))
            t = self.ext_now(x)
            iso = iso_format(t)
            if change == "same":
                if el == "user":
                    x["user"]["data"]["r%d" % op["i"]] = op["i"]
                elif el == "session":
                    x["session"]["data"] = {"raced": op["i"]}
                    x["session"]["updatedAt"] = iso
                elif el == "history":
                    x["history"]["items"][0] = {"output": [{"message": "race%d" % op["i"]}]}
                else:
                    x[el] = "2024-01-01T00:00:00.%03dZ" % (op["i"] % 1000)
            elif change == "other":
                x["raced%d" % (op["i"] % 2)] = op["i"]
            if change != "none":
                if cfg.on["updatedAt"]:
                    x["updatedAt"] = iso
                self.env.helper.call("put", item=x)
                self.adopt_put(uid, x)
                x = m.items[uid]
            t0 = now_ms()
            fails = []
            try:
                os.ftruncate(fd, 0)
                off = 0
                while off < len(data):
                    off += os.pwrite(fd, data[off:], off)
            except OSError as e:
                fails.append(_oserr("write", e))
        finally:
            try:
                os.close(fd)
            except OSError as e:
                fails.append(_oserr("close", e))
        t1 = now_ms()
        got = ",".join(fails) or "OK"
        m.items[uid] = x
        self.race_stored = False
        self.race_mount_item = None
        self.race_change = change
        want = self.expect_race(uid, el, idx, base, x, data, now_ms(), self.now_window(uid, t0, t1))
        self.outcome(got, want)
        if got.endswith("ESTALE"):
            # code: the directory's mtime comes from the listing, which the conflict does not
            # refresh: `ls -l` right after ESTALE shows the old time until a file is read
            self.early[uid] = None
        if self.race_mount_item is not None:
            # the store took the write without a reload (its condition held): the mount
            # knows its own write, and others' changes show within the cache time
            old_m = Model(cfg)
            old_m.items = dict(m.items)
            old_m.items[uid] = self.race_mount_item
            old_m.scratch = m.scratch
            self.early[uid] = None
            return {"old": lambda: old_m.tree(now_ms())}
        # a write that reached the store shows what is stored at once (also after ESTALE:
        # issue 10 1b); one refused before it (invalid, the same value) shows the
        # external change within the cache time, like any other
        return None if self.race_stored or change == "none" else {"old": old}

    def expect_race(self, uid, el, idx, base, x, text, now, t):
        """policy/write.c's contract: a store conditional on what the writer read."""
        m, cfg = self.model, self.cfg
        if len(text) > cfg.max_file_size:
            return "write:EFBIG,close:EFBIG"
        value, err = m.parse_value(el, text)
        if err:
            return "close:" + err
        cur = m.shown(base, el, idx, now)
        if cur is not None and m.same_value(el, cur, value):
            return "OK"
        self.race_stored = True
        miss = object()
        if cfg.on["updatedAt"] and "updatedAt" in base:
            cond = J.equal(base["updatedAt"], x.get("updatedAt", miss))
        else:
            key = el
            cond = (key in base) == (key in x) and (key not in base or J.equal(base[key], x[key]))
        if cond:
            m.items[uid] = m.patched(x, el, idx, value, t)
            if self.race_change != "none":
                self.race_mount_item = m.patched(base, el, idx, value, t)
            return "OK"
        was, is_ = m.shown(base, el, idx, now), m.shown(x, el, idx, now)
        if not (was is None and is_ is None) and (was is None or is_ is None or
                                                  not m.same_value(el, was, is_)):
            want = m.shown(m.patched(base, el, idx, value, "2000-01-01T00:00:00.000Z"), el, idx, now)
            if want is not None and is_ is not None and m.same_value(el, want, is_) and el != "session":
                return "OK"
            m.conflicts.append(text)
            return "close:ESTALE"
        m.items[uid] = m.patched(x, el, idx, value, t)
        return "OK"

    def op_stale(self, op):
        """FileDb: a Jovo app writes back the copy of the file it read before a save of
        ours; staleRewriteWindowMs says the edit is applied again (README FileDb)."""
        uid, rel, other = op["uid"], op["rel"], op["other"]
        m = self.model
        now = now_ms()
        if not self.exists(uid, rel, now):
            return None
        self.before_external()
        snap = self.env.helper.call("all")
        data = self.content_for(uid, rel, op["c"], now)
        t0 = now_ms()
        got = sys_write(self.mount.path(uid, rel), "fsync", data, None)
        t1 = now_ms()
        el = classify(rel)[1]
        self.outcome(got, self.expect_write(uid, rel, "fsync", data, None, now,
                                            self.now_window(uid, t0, t1)))
        # the edit is on disk: bind its time before the stale copy hides it
        self.check("after the edit, before the stale rewrite")
        old = Model(self.cfg)
        old.items = {it["id"]: J.copy(it) for it in snap}
        old.scratch = m.scratch
        old_tree = old.tree(now_ms())
        for it in snap:
            if it["id"] == other and other != uid:
                x = self.ext_item({"kind": "data", "i": op["i"], "val": op["i"], "uid": other},
                                  it, self.ext_now(m.items.get(other)))
                it.clear()
                it.update(x)
                m.items[other] = J.copy(x)
        self.env.helper.call("rewrite", items=snap)
        return {"old": old_tree}

    def op_remount(self, op):
        self.mount.stop()
        self.check_store("after the unmount")
        self.mount.start()
        self.model.scratch = {}     # scratch files are gone after the unmount
        self.model.conflicts = []   # kept conflicts live in memory
        self.model.modes = {}       # so do chmods
        return None

    def op_wait(self, op):
        time.sleep(op["ms"] / 1000.0)
        return None

    def op_sync(self, op):
        self.settle()
        self.check_store("after fsync")
        return None


# --------------------------------------------------------------------------- shrinking

def failure_kind(msg):
    """What a failure is about, to keep a shrunk sequence failing the same way."""
    m = re.search(r"(outcome \S+, expected [^\n]*|the mount differs[^\n]*|the store differs|"
                  r"Jovo app|sanitizer|did not show|exited|neither)", msg)
    kind = m.group(1) if m else msg.split("\n")[0][-80:]
    # the op kind of the failing step
    op = re.search(r'step \d+ \{"op": "(\w+)"', msg)
    return (op.group(1) if op else "", re.sub(r"\d+", "N", kind)[:60])


def shrink(env, seq, msg, budget_s, log):
    """Delta debugging over the ops (then the initial items): the shortest sequence
    found within @budget_s that still fails the same way."""
    want = failure_kind(msg)
    end = time.time() + budget_s
    best, best_msg = seq, msg
    runs = 0

    def fails(cand):
        nonlocal runs
        runs += 1
        try:
            Runner(env, cand).run()
            return None
        except Failure as e:
            return str(e) if failure_kind(str(e)) == want else None
        except Exception:
            return None

    # ops after the failing step never matter
    m = re.search(r"step (\d+) ", msg)
    if m:
        n = int(m.group(1)) + 1
        cand = dict(best, ops=best["ops"][:n])
        r = fails(cand)
        if r:
            best, best_msg = cand, r
    chunk = max(1, len(best["ops"]) // 2)
    while chunk >= 1 and time.time() < end:
        i = 0
        progress = False
        while i < len(best["ops"]) and time.time() < end:
            cand = dict(best, ops=best["ops"][:i] + best["ops"][i + chunk:])
            r = fails(cand)
            if r:
                best, best_msg, progress = cand, r, True
                log("    shrunk to %d ops" % len(best["ops"]))
            else:
                i += chunk
        if not progress:
            chunk //= 2
    i = 0
    while i < len(best["items"]) and time.time() < end:
        cand = dict(best, items=best["items"][:i] + best["items"][i + 1:])
        r = fails(cand)
        if r:
            best, best_msg = cand, r
        else:
            i += 1
    return best, best_msg, runs


# --------------------------------------------------------------------------- main

class Env:
    def __init__(self, args):
        self.binary = args.jovofs
        self.template = args.template
        self.work = args.work
        self.keep = args.keep
        self.n = 0
        self.helper_log = open(os.path.join(self.work, "helper.log"), "ab")
        self.helper = Helper(self.helper_log)

    def next_store(self):
        self.n += 1
        return self.n

    def close(self):
        self.helper.close()


def describe(seq):
    """The sequence as JSON that --replay takes: one op a line."""
    d = lambda v: json.dumps(v, ensure_ascii=False)  # noqa: E731
    return ('{"cfg": %s,\n "ids": %s,\n "items": [%s],\n "ops": [\n  %s]}' % (
        d(seq["cfg"]), d(seq["ids"]), ",\n   ".join(d(i) for i in seq["items"]),
        ",\n  ".join(d(o) for o in seq["ops"])))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", required=True, choices=["filedb", "dynamodb", "mongodb"])
    ap.add_argument("--template", required=True, help="backend_config_json of the e2e harness")
    ap.add_argument("--jovofs", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--sequences", type=int, default=50)
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--seed", type=int, action="append", help="run only these seeds")
    ap.add_argument("--replay", help="run the sequence in this JSON file (as a failure prints)")
    ap.add_argument("--no-regress", action="store_true",
                    help="skip the regression sequences of tests/model/regress/")
    ap.add_argument("--budget", type=float, default=0, help="stop starting sequences after S seconds")
    ap.add_argument("--shrink-time", type=float, default=90,
                    help="seconds to shrink the first failing sequence (0: do not)")
    ap.add_argument("--keep", action="store_true", help="keep every sequence's files")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()

    env = Env(args)
    log = lambda s: print(s, flush=True)  # noqa: E731
    start = time.time()
    seeds = args.seed or list(range(args.first_seed, args.first_seed + args.sequences))
    failed = 0
    ran = 0
    rerun = "JOVOFS_BIN=%s tests/model/run.bash %s --steps %d --seed %%d" % (
        os.path.relpath(args.jovofs, REPO) if args.jovofs.startswith(REPO) else args.jovofs,
        args.backend, args.steps)
    try:
        if not args.no_regress and not args.seed and not args.replay:
            rdir = os.path.join(HERE, "regress")
            for name in sorted(os.listdir(rdir) if os.path.isdir(rdir) else []):
                with open(os.path.join(HERE, "regress", name)) as f:
                    d = json.load(f)
                if args.backend not in d.get("backends", [args.backend]):
                    continue
                seq = dict(d, seed=0, backend=args.backend)
                seq["cfg"] = dict(d["cfg"], backend=args.backend)
                ran += 1
                try:
                    Runner(env, seq, args.verbose).run()
                    if args.verbose:
                        log("ok regression %s" % name)
                except Failure as e:
                    failed += 1
                    log("FAIL %s regression tests/model/regress/%s (%s): %s" % (
                        args.backend, name, d.get("why", ""), e))
        for seed in seeds:
            if args.budget and time.time() - start > args.budget and ran > 0:
                log("# time budget of %gs used: %d of %d sequences run" % (args.budget, ran, len(seeds)))
                break
            if args.replay:
                with open(args.replay) as f:
                    d = json.load(f)
                seq = dict(d, seed=seed, backend=args.backend)
                seq["cfg"] = dict(d["cfg"], backend=args.backend)
            else:
                seq = gen_sequence(seed, args.backend, args.steps)
            ran += 1
            t0 = time.time()
            try:
                Runner(env, seq, args.verbose).run()
                if args.verbose:
                    log("ok seed %d (%.1fs)" % (seed, time.time() - t0))
            except Failure as e:
                failed += 1
                msg = str(e)
                log("FAIL %s seed %d: %s" % (args.backend, seed, msg))
                log("  rerun: %s" % (rerun % seed))
                if args.shrink_time > 0 and not args.replay and failed == 1:
                    small, smsg, runs = shrink(env, seq, msg, args.shrink_time, log)
                    path = os.path.join(args.work, "shrunk-%s-%d.json" % (args.backend, seed))
                    with open(path, "w") as f:
                        f.write(describe(small))
                    log("  shrunk in %d runs to %d ops (replay: %s --replay %s):\n%s" % (
                        runs, len(small["ops"]), rerun % seed, path, describe(small)))
                    log("  the shrunk sequence fails with: %s" % smsg)
                else:
                    path = os.path.join(args.work, "failed-%s-%d.json" % (args.backend, seed))
                    with open(path, "w") as f:
                        f.write(describe(seq))
                    log("  the sequence: %s" % path)
            except Exception:
                failed += 1
                log("FAIL %s seed %d: internal error in the model suite:\n%s" % (
                    args.backend, seed, traceback.format_exc()))
                log("  rerun: %s" % (rerun % seed))
    finally:
        env.close()
    log("# %s: %d sequences, %d failed, %.1fs" % (args.backend, ran, failed, time.time() - start))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
