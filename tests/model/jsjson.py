"""JSON the way JavaScript and jovofs see it, for the model suite.

render(v)       JSON.stringify(v, null, 2) + "\\n": what an element file shows
js_number(x)    Number.prototype.toString (what JSON.stringify prints)
parse(bytes)    strict parsing as the daemon validates a write: UTF-8, no
                NaN/Infinity, a key given twice is an error (ValueError)
equal(a, b)     equality as the daemon compares values (numbers by value,
                objects ignoring key order, true is not 1)
copy(v)         a deep copy that keeps Now placeholders (see model.py) shared
"""

import json
import re

MAX_SAFE = 2**53


def js_number(x):
    if isinstance(x, bool):
        raise TypeError("bool is not a number")
    if isinstance(x, int):
        if abs(x) < MAX_SAFE:
            return str(x)
        x = float(x)
    if x != x or x in (float("inf"), float("-inf")):
        return "null"
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    r = repr(abs(x))
    # r is the shortest round-trip form: digits, maybe a point, maybe an exponent
    m = re.fullmatch(r"(\d+)(?:\.(\d+))?(?:e([+-]\d+))?", r)
    if not m:
        raise ValueError(f"unexpected float repr {r!r}")
    ip, fp, ex = m.group(1), m.group(2) or "", int(m.group(3) or 0)
    digits = (ip + fp).lstrip("0")
    # value = 0.<digits> * 10^n
    lead_zeros = len(ip + fp) - len((ip + fp).lstrip("0"))
    n = len(ip) + ex - lead_zeros
    digits = digits.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        s = digits + "0" * (n - k)
    elif 0 < n <= 21:
        s = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        s = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        es = ("+" if e >= 0 else "-") + str(abs(e))
        s = digits + "e" + es if k == 1 else digits[0] + "." + digits[1:] + "e" + es
    return sign + s


_ESC = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def js_string(s):
    out = ['"']
    for ch in s:
        c = ord(ch)
        if ch in _ESC:
            out.append(_ESC[ch])
        elif c < 0x20 or 0xD800 <= c <= 0xDFFF:
            out.append("\\u%04x" % c)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _render(v, ind):
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return js_number(v)
    if isinstance(v, str):
        return js_string(v)
    if isinstance(v, list):
        if not v:
            return "[]"
        inner = ind + "  "
        return "[\n" + ",\n".join(inner + _render(x, inner) for x in v) + "\n" + ind + "]"
    if isinstance(v, dict):
        if not v:
            return "{}"
        inner = ind + "  "
        return ("{\n" + ",\n".join(inner + js_string(k) + ": " + _render(x, inner)
                                   for k, x in v.items()) + "\n" + ind + "}")
    s = getattr(v, "json_value", None)
    if s is not None:
        return _render(s(), ind)
    raise TypeError(f"cannot render {type(v).__name__}")


def render(v):
    """JSON.stringify(v, null, 2) + "\\n", as bytes."""
    return (_render(v, "") + "\n").encode("utf-8")


def compact(v):
    """JSON.stringify(v), as bytes."""
    return json.dumps(plain(v), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class DuplicateKey(ValueError):
    pass


def _pairs(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise DuplicateKey(f"key {k!r} given twice")
        d[k] = v
    return d


def _const(name):
    raise ValueError(f"{name} is not JSON")


def _int(s):
    i = int(s)
    return i if abs(i) < MAX_SAFE else float(s)


def parse(b):
    """Parse bytes as the daemon does; ValueError (with a reason) when invalid."""
    text = b.decode("utf-8")  # UnicodeDecodeError is a ValueError
    if "\x00" in text:
        raise ValueError("NUL byte")
    return json.loads(text, object_pairs_hook=_pairs, parse_constant=_const, parse_int=_int)


def loads(s):
    """Parse JSON from a trusted source (the helper, record.json): numbers as JS has them."""
    return json.loads(s, object_pairs_hook=dict, parse_int=_int)


def equal(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    ja, jb = getattr(a, "json_value", None), getattr(b, "json_value", None)
    if ja or jb:
        return equal(ja() if ja else a, jb() if jb else b)
    return type(a) is type(b) and a == b


def copy(v):
    if isinstance(v, dict):
        return {k: copy(x) for k, x in v.items()}
    if isinstance(v, list):
        return [copy(x) for x in v]
    return v  # scalars, and placeholders stay shared


def plain(v):
    """v with placeholders replaced by their values (for the helper and printing)."""
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    s = getattr(v, "json_value", None)
    return s() if s else v


if __name__ == "__main__":
    # self-check against JavaScript's own printing
    for x, want in [(0.1, "0.1"), (100, "100"), (100.0, "100"), (1e21, "1e+21"),
                    (1.2345678901234567e19, "12345678901234567000"), (-2.5e-7, "-2.5e-7"),
                    (1e-6, "0.000001"), (1e-7, "1e-7"), (123.456, "123.456"),
                    (5e-324, "5e-324"), (1.5e300, "1.5e+300"), (2**53 - 1, "9007199254740991"),
                    (0.000123, "0.000123"), (1e20, "100000000000000000000"), (-0.0, "0")]:
        assert js_number(x) == want, (x, js_number(x), want)
    assert render({"a": [], "b": {}, "c": [1, {"d": "é\n\x01"}]}) == (
        b'{\n  "a": [],\n  "b": {},\n  "c": [\n    1,\n    {\n      "d": "\xc3\xa9\\n\\u0001"\n'
        b'    }\n  ]\n}\n')
    print("ok")
