#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""sigv4_diff.py: differential test of common/sigv4.c against botocore.

Usage: /usr/bin/python3 sigv4_diff.py PATH/TO/sigv4_tool [--count N]
                                      [--seed S] [--verbose]

Generates random S3 requests from a fixed seed (awkward keys, query
parameters, headers, bodies, header and presigned auth, with and without a
session token), signs each with botocore's S3 signers and with our C
signer (through tests/tools/sigv4_tool), and compares the results. Prints
the failing requests with both canonical requests, then the summary line
"sigv4-diff: N passed, M failed"; exits 1 on any mismatch, 77 (skip) when
botocore is not installed.

Run it with Debian's /usr/bin/python3, which has python3-botocore.

How botocore is held to the S3 rules we implement:
- The clock is frozen by replacing botocore.auth's `datetime` with one
  whose utcnow() returns the request's time.
- The URL is built with the path already encoded, and S3SigV4Auth /
  S3SigV4QueryAuth sign urlsplit(url).path verbatim (no normalisation, no
  second encoding), so both sides sign the same canonical URI.
- Header auth: query parameters go in request.params as a list of pairs,
  which botocore encodes and sorts by (name, value), repeated names kept.
  botocore adds X-Amz-Date, X-Amz-Content-SHA256 and X-Amz-Security-Token
  itself; we hand the same headers to the C side.
- Presign: request.params is a dict of name -> [values], which
  percent_encode_sequence() expands, so repeated names survive. botocore
  emits its own parameter order; the C side emits the canonical (sorted)
  order with X-Amz-Signature last, so the comparison sorts botocore's pairs.
- Left out because botocore cannot express them the S3 way: an empty
  session token (botocore presign adds "X-Amz-Security-Token=", our API
  reads "" as "no token"), a Date header (botocore rewrites it and drops
  X-Amz-Date), the headers botocore never signs (User-Agent, Expect,
  X-Amzn-Trace-Id), and whitespace other than space and tab in header
  values (botocore folds every Unicode space; the C side rejects controls).
"""

import argparse
import datetime
import hashlib
import json
import random
import subprocess
import sys
import types
from urllib.parse import quote, urlsplit

try:
    from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
    import botocore.auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
except ImportError as e:  # pragma: no cover
    print(f"sigv4-diff: skipped, botocore not importable ({e})")
    sys.exit(77)

SEED = 20130524
DEFAULT_COUNT = 4000
UNSIGNED = "UNSIGNED-PAYLOAD"
MAX_REPORTED = 10


class FrozenDatetime(datetime.datetime):
    """datetime whose utcnow() is the time of the request being signed."""

    frozen = None

    @classmethod
    def utcnow(cls):
        return cls.frozen


botocore.auth.datetime = types.SimpleNamespace(datetime=FrozenDatetime)


class CapturingHeaderAuth(S3SigV4Auth):
    def canonical_request(self, request):
        self.last_canonical = super().canonical_request(request)
        return self.last_canonical


class CapturingQueryAuth(S3SigV4QueryAuth):
    def canonical_request(self, request):
        self.last_canonical = super().canonical_request(request)
        return self.last_canonical


# ---- random requests -------------------------------------------------------

KEY_PIECES = [
    "a", "photos", "2024", "My File", "x+y", "a=b", "q&r", "~tilde", "100%",
    "what?", "#hash", "caf\u00e9", "\u20acuro", "\u65e5\u672c\u8a9e",
    "\U0001f600", "it's", "(1)", "*star*", " lead", "trail ", "a  b", "!",
    "$", "@", ":", ",", ";", "[x]", "{y}", "|", "^", "`", '"', "<>", "\\",
    "%2F", "%20", "+", "=", ".", "..", "-_.~", "dir.d", "UPPER", "tab\there",
]
QUERY_NAMES = [
    "prefix", "delimiter", "max-keys", "list-type", "continuation-token",
    "uploadId", "partNumber", "versionId", "uploads", "lifecycle", "acl",
    "tagging", "response-content-disposition", "x-id", "a b", "a+b", "k=v",
    "k&", "~", "\u00fc", "", "Z", "z", "a-b", "a.b", "a_b", "%41", "Ab",
    "start-after", "encoding-type",
]
QUERY_VALUES = [
    "", "J", "2", "/", "dir/sub dir/", "a+b=c&d", "~!*'()", "100%",
    "caf\u00e9", "\u20ac", "\U0001f600", " ", "  two  spaces ", "x" * 40,
    "attachment; filename=\"r\u00e9sum\u00e9.pdf\"", "1", "url", "%2F",
    "tab\tin", "?#[]@", "AZaz09-._~",
]
HEADER_NAMES = [
    "Content-Type", "Range", "If-Match", "If-None-Match", "Cache-Control",
    "Content-Disposition", "Content-Encoding", "Content-Language",
    "x-amz-meta-color", "X-Amz-Meta-Mode", "x-amz-storage-class", "x-amz-acl",
    "x-amz-copy-source", "x-amz-meta-a_b", "X-Custom-Thing", "x-amz-tagging",
    "x-amz-server-side-encryption", "x-amz-meta-uid", "If-Modified-Since",
]
HEADER_VALUES = [
    "text/plain", "  spaced   out  ", "\tTabbed\tvalue\t", "a,b", '"etag-1"',
    "bytes=0-1023", "caf\u00e9", "x  \t  y", "", "   ", "UPPER lower",
    "/bucket/key%20x", "q='1'", "REDUCED_REDUNDANCY", "a;b;c", "k=v&k2=v2",
    "Tue, 15 Nov 1994 08:12:31 GMT", "\u20ac \u20ac",
]
HOSTS = [
    ("examplebucket.s3.amazonaws.com", ""),
    ("s3.eu-west-3.amazonaws.com", "/bucket-1"),
    ("localhost:9000", "/data"),
    ("127.0.0.1:9000", "/b"),
    ("minio.internal", "/my.bucket"),
]
REGIONS = ["us-east-1", "eu-west-3", "ap-southeast-2", "auto",
           "us-gov-west-1", "cn-north-1"]
METHODS = ["GET", "GET", "PUT", "HEAD", "DELETE", "POST"]
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def random_case(rng, s):
    mode = rng.randrange(4)
    if mode == 0:
        return s.lower()
    if mode == 1:
        return s.upper()
    if mode == 2:
        return s
    return "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in s)


def random_path(rng):
    host, prefix = rng.choice(HOSTS)
    if rng.random() < 0.08:
        return host, (prefix or "") + "/"
    segs = []
    for _ in range(rng.randint(1, 4)):
        r = rng.random()
        if r < 0.08:
            segs.append("")  # gives "//"
        elif r < 0.12:
            segs.append(rng.choice([".", ".."]))
        else:
            segs.append("".join(rng.choice(KEY_PIECES)
                                for _ in range(rng.randint(1, 3))))
    key = "/".join(segs)
    if rng.random() < 0.1:
        key += "/"
    # The S3 way: the key encoded once, '/' kept, nothing normalised.
    return host, prefix + "/" + quote(key, safe="/~")


def random_query(rng):
    query = []
    for _ in range(rng.choice([0, 0, 1, 1, 2, 3, 5])):
        if query and rng.random() < 0.15:
            name = rng.choice(query)[0]  # a repeated name
        else:
            name = rng.choice(QUERY_NAMES)
        query.append((name, rng.choice(QUERY_VALUES)))
    return query


def random_headers(rng, host):
    headers = [(rng.choice(["Host", "host", "HOST"]), host)]
    for _ in range(rng.choice([0, 1, 1, 2, 3, 4])):
        if len(headers) > 1 and rng.random() < 0.15:
            name = random_case(rng, rng.choice(headers[1:])[0])
        else:
            name = random_case(rng, rng.choice(HEADER_NAMES))
        headers.append((name, rng.choice(HEADER_VALUES)))
    rng.shuffle(headers)
    return headers


def random_secret(rng):
    s = "".join(rng.choice(B64) for _ in range(40))
    if rng.random() < 0.05:
        s += rng.choice(["\u00e9", "%", " ", "\U0001f600"])
    return s


def random_time(rng):
    if rng.random() < 0.1:  # a second either side of midnight
        day = rng.randrange(10957, 47482) * 86400
        return day + rng.choice([-1, 0, 1])
    return rng.randrange(946684800, 4102444800)


def random_request(rng):
    host, path = random_path(rng)
    presign = rng.random() < 0.4
    body = b""
    if not presign and rng.random() < 0.5:
        body = rng.choice([b"Welcome to Amazon S3.", b"\x00\xff",
                           bytes(rng.randrange(256)
                                 for _ in range(rng.randrange(1, 300)))])
    token = None
    if rng.random() < 0.3:
        token = "".join(rng.choice(B64 + "=") for _ in range(rng.randint(
            16, 300)))
    return {
        "method": rng.choice(METHODS),
        "host": host,
        "path": path,
        "query": random_query(rng),
        "user_headers": random_headers(rng, host),
        "body": body,
        "unsigned": not presign and rng.random() < 0.2,
        "access_key": rng.choice(["AKIA", "ASIA"]) + "".join(
            rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16)),
        "secret_key": random_secret(rng),
        "session_token": token,
        "region": rng.choice(REGIONS),
        "now": random_time(rng),
        "presign_expires": rng.randint(1, 604800) if presign else 0,
        "null_payload": presign and rng.random() < 0.5,
    }


def aws_examples():
    """The AWS documentation examples that botocore can express."""
    base = {
        "host": "examplebucket.s3.amazonaws.com", "body": b"",
        "unsigned": False, "access_key": "AKIAIOSFODNN7EXAMPLE",
        "secret_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "session_token": None, "region": "us-east-1", "now": 1369353600,
        "presign_expires": 0, "null_payload": False, "method": "GET",
    }
    host = [("Host", base["host"])]
    return [
        dict(base, path="/test.txt", query=[],
             user_headers=host + [("Range", "bytes=0-9")]),
        dict(base, path="/", query=[("lifecycle", "")], user_headers=host),
        dict(base, path="/", query=[("max-keys", "2"), ("prefix", "J")],
             user_headers=host),
        dict(base, path="/test.txt", query=[], user_headers=host,
             presign_expires=86400),
    ]


# ---- signing -----------------------------------------------------------------

def amz_date(now):
    return datetime.datetime.fromtimestamp(
        now, datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def payload_hash(r):
    if r["presign_expires"]:
        return UNSIGNED
    if r["unsigned"]:
        return UNSIGNED
    return hashlib.sha256(r["body"]).hexdigest()


def tool_input(r):
    """The request as sigv4_tool reads it."""
    headers = list(r["user_headers"])
    if not r["presign_expires"]:
        # What botocore's S3SigV4Auth adds before signing.
        headers.append(("X-Amz-Date", amz_date(r["now"])))
        headers.append(("X-Amz-Content-SHA256", payload_hash(r)))
        if r["session_token"]:
            headers.append(("X-Amz-Security-Token", r["session_token"]))
    return {
        "method": r["method"], "path": r["path"],
        "query": [list(kv) for kv in r["query"]],
        "headers": [list(kv) for kv in headers],
        "payload_hash": None if r["null_payload"] else payload_hash(r),
        "access_key": r["access_key"], "secret_key": r["secret_key"],
        "session_token": r["session_token"], "region": r["region"],
        "now": r["now"], "presign_expires": r["presign_expires"],
    }


def botocore_sign(r):
    """(expected output line, botocore's canonical request)."""
    FrozenDatetime.frozen = datetime.datetime.fromtimestamp(
        r["now"], datetime.timezone.utc).replace(tzinfo=None)
    creds = Credentials(r["access_key"], r["secret_key"], r["session_token"])
    url = "https://" + r["host"] + r["path"]
    if r["presign_expires"]:
        params = {}
        for k, v in r["query"]:
            params.setdefault(k, []).append(v)
        req = AWSRequest(method=r["method"], url=url, params=params)
        auth = CapturingQueryAuth(creds, "s3", r["region"],
                                  expires=r["presign_expires"])
    else:
        req = AWSRequest(method=r["method"], url=url, data=r["body"],
                         params=list(r["query"]))
        auth = CapturingHeaderAuth(creds, "s3", r["region"])
        if r["unsigned"]:
            req.context["client_config"] = types.SimpleNamespace(
                s3={"payload_signing_enabled": False})
    for k, v in r["user_headers"]:
        req.headers[k] = v  # HTTPHeaders appends: repeats are kept
    auth.add_auth(req)
    if not r["presign_expires"]:
        return req.headers["Authorization"], auth.last_canonical
    pairs = urlsplit(req.url).query.split("&")
    assert pairs[-1].startswith("X-Amz-Signature=")
    # Our output is the canonical query, then the signature.
    ordered = sorted(pairs[:-1], key=lambda p: tuple(p.split("=", 1)))
    return "&".join(ordered + pairs[-1:]), auth.last_canonical


def run_tool(tool, lines, *args):
    proc = subprocess.run([tool, *args], input="".join(lines),
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"sigv4-diff: {tool} exited {proc.returncode}: "
                 f"{proc.stderr}")
    out = proc.stdout.split("\n")
    if out and out[-1] == "":
        out.pop()
    if len(out) != len(lines):
        sys.exit(f"sigv4-diff: {len(lines)} requests, {len(out)} answers")
    return out


def report(i, r, line, want, got, boto_creq, c_creq):
    print(f"--- mismatch in request {i} ---")
    print("request:  " + line.rstrip("\n"))
    print("botocore: " + want)
    print("ours:     " + got)
    print("botocore canonical request:\n" + boto_creq)
    print("our canonical request:\n" + c_creq)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tool")
    ap.add_argument("--count", type=int, default=DEFAULT_COUNT)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    reqs = aws_examples() + [random_request(rng) for _ in range(args.count)]
    expected = [botocore_sign(r) for r in reqs]
    lines = [json.dumps(tool_input(r)) + "\n" for r in reqs]
    got = run_tool(args.tool, lines)

    bad = [i for i, (want, g) in enumerate(zip(expected, got))
           if want[0] != g]
    if bad:
        canon = run_tool(args.tool, [lines[i] for i in bad], "--canonical")
        for n, i in enumerate(bad[:MAX_REPORTED]):
            c = canon[n]
            c = json.loads(c) if c.startswith('"') else c
            report(i, reqs[i], lines[i], expected[i][0], got[i],
                   expected[i][1], c)
        if len(bad) > MAX_REPORTED:
            print(f"... and {len(bad) - MAX_REPORTED} more")
    if args.verbose:
        kinds = sum(1 for r in reqs if r["presign_expires"])
        print(f"sigv4-diff: {kinds} presigned, {len(reqs) - kinds} header")
    print(f"sigv4-diff: {len(reqs) - len(bad)} passed, {len(bad)} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
