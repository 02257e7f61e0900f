#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""s3req.py - send one SigV4-signed S3 request (botocore signs it).

usage: s3req.py [--env FILE] [--url URL] [--key K] [--secret S] [--region R]
                [--data TEXT | --data-file FILE] [-H 'Name: value']...
                [--out FILE] [-v] METHOD PATH

PATH is '/bucket/key?query', unencoded: each path segment and query value is
percent-encoded here ('+' and ' ' in a key are fine). --env reads a harness
env file (tests/harness/{s3rver,rgw}.sh write DIR/env) and takes URL, KEY and
SECRET from its *_URL, *_KEY and *_SECRET lines; --url/--key/--secret
override them.

Prints "HTTP_STATUS S3_ERROR_CODE" (the code is empty on success), the
response headers and body on stderr with -v, the body into --out FILE if
given. Exit status 0 for a 2xx answer, 1 otherwise, 2 for usage errors.
Needs Debian's python3-botocore: run it with /usr/bin/python3.
"""
import argparse
import http.client
import re
import sys
import urllib.parse

try:
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
except ImportError:
    sys.exit("s3req.py: botocore missing: run scripts/install-deps.sh "
             "and use /usr/bin/python3")

SAFE = "-_.~"


def read_env(path):
    vals = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            name, value = line.split("=", 1)
            for suffix in ("URL", "KEY", "SECRET"):
                if name.endswith("_" + suffix):
                    vals[suffix] = value
    return vals


def encode_target(path):
    raw_path, _, raw_query = path.partition("?")
    if not raw_path.startswith("/"):
        raw_path = "/" + raw_path
    epath = "/".join(urllib.parse.quote(seg, safe=SAFE)
                     for seg in raw_path.split("/"))
    pairs = []
    for item in raw_query.split("&") if raw_query else []:
        name, eq, value = item.partition("=")
        pairs.append(urllib.parse.quote(name, safe=SAFE) + (
            "=" + urllib.parse.quote(value, safe=SAFE) if eq else ""))
    return epath + ("?" + "&".join(pairs) if pairs else "")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("method")
    ap.add_argument("path")
    ap.add_argument("--env")
    ap.add_argument("--url")
    ap.add_argument("--key")
    ap.add_argument("--secret")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--data")
    ap.add_argument("--data-file")
    ap.add_argument("-H", dest="headers", action="append", default=[])
    ap.add_argument("--out")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()

    cfg = read_env(a.env) if a.env else {}
    url = a.url or cfg.get("URL")
    key = a.key or cfg.get("KEY")
    secret = a.secret if a.secret is not None else cfg.get("SECRET")
    if not url or not key or secret is None:
        ap.error("need --env FILE or --url, --key and --secret")

    body = b""
    if a.data is not None:
        body = a.data.encode()
    elif a.data_file:
        with open(a.data_file, "rb") as f:
            body = f.read()

    base = urllib.parse.urlsplit(url)
    target = encode_target(a.path)
    headers = {}
    for h in a.headers:
        name, _, value = h.partition(":")
        headers[name.strip()] = value.strip()
    req = AWSRequest(method=a.method.upper(),
                     url=f"{base.scheme}://{base.netloc}{target}",
                     data=body, headers=headers)
    S3SigV4Auth(Credentials(key, secret), "s3", a.region).add_auth(req)

    conn_cls = (http.client.HTTPSConnection if base.scheme == "https"
                else http.client.HTTPConnection)
    conn = conn_cls(base.hostname, base.port, timeout=60)
    send_body = body if (body or req.method in ("PUT", "POST")) else None
    conn.request(req.method, target, body=send_body,
                 headers=dict(req.headers.items()))
    resp = conn.getresponse()
    data = resp.read()
    if a.out:
        with open(a.out, "wb") as f:
            f.write(data)
    if a.verbose:
        sys.stderr.write(f"{resp.status} {resp.reason}\n")
        for name, value in resp.getheaders():
            sys.stderr.write(f"{name}: {value}\n")
        sys.stderr.write("\n" + data.decode("utf-8", "replace") + "\n")
    m = re.search(rb"<Code>([^<]*)</Code>", data) if resp.status >= 300 \
        else None
    print(resp.status, m.group(1).decode() if m else "")
    return 0 if 200 <= resp.status < 300 else 1


if __name__ == "__main__":
    sys.exit(main())
