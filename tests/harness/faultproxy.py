#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""faultproxy.py - an HTTP proxy in front of an S3 server that injects faults.

usage: faultproxy.py --upstream URL [--port N] [--port-file FILE]
                     [--mode MODE] [--count N] [--skip N] [--status CODE]
                     [--bytes N] [--delay-ms N] [--method M] [--path SUBSTR]
                     [--log FILE]

Listens on 127.0.0.1 (port 0 = a free one, the default), prints the port on
stdout's first line (and writes it to --port-file), and forwards every
request unchanged to --upstream, Host header included, so SigV4 signatures
made for the proxy's address stay valid upstream. Runs until SIGTERM/SIGINT.

Modes (a fault applies to requests matching --method/--path; --skip N lets
the first N matching requests through unharmed, then --count N requests get
the fault, after which the proxy is back to 'pass'; count 0 = no limit;
--delay-ms N delays each request that gets the fault by N ms first):
  pass     forward (with delay_ms set: a slow server)
  error    answer with --status (503 default: <Code>SlowDown</Code>, 500:
           InternalError, others: InternalError too) without forwarding
  reset    read the request, then close the connection with a TCP RST
  close    read the request, then close the connection cleanly (FIN)
  cut      forward, send the status line, the headers and --bytes bytes of
           the body (default: half of Content-Length), then close
  hang     read the request and never answer (until the client goes away or
           the mode is changed to something else)

Control (answered by the proxy itself, never forwarded):
  GET /__fault?mode=error&status=503&count=3[&skip=1&method=GET&path=x
              &bytes=N&delay_ms=N]
      replaces the whole fault setting (unset parameters go back to their
      defaults) and clears the fault counters; answers the new setting as JSON
  GET /__fault                   the current setting as JSON
  GET /__stats[?reset=1]         counters as JSON: requests by method,
      answers forwarded by status, faults injected by mode, connections
"""
import argparse
import http.client
import http.server
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse

MODES = ("pass", "error", "reset", "close", "cut", "hang")
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate",
              "proxy-authorization", "te", "trailer", "trailers",
              "transfer-encoding", "upgrade", "proxy-connection"}
ERROR_CODES = {503: ("SlowDown", "Please reduce your request rate."),
               500: ("InternalError", "We encountered an internal error. "
                     "Please try again.")}


class Fault:
    """The current fault setting; all access under State.lock."""

    def __init__(self, mode="pass", count=0, skip=0, status=503, nbytes=None,
                 delay_ms=0, method=None, path=None):
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r} (one of {', '.join(MODES)})")
        self.mode, self.count, self.skip = mode, int(count), int(skip)
        self.status = int(status)
        self.nbytes = None if nbytes in (None, "") else int(nbytes)
        self.delay_ms = int(delay_ms)
        self.method = method.upper() if method else None
        self.path = path or None
        self.seen = 0      # matching requests so far
        self.applied = 0   # faults injected so far

    def to_json(self):
        return {"mode": self.mode, "count": self.count, "skip": self.skip,
                "status": self.status, "bytes": self.nbytes,
                "delay_ms": self.delay_ms, "method": self.method,
                "path": self.path, "seen": self.seen,
                "applied": self.applied}

    @classmethod
    def from_query(cls, q):
        def one(name, default=None):
            v = q.get(name)
            return v[-1] if v else default
        return cls(mode=one("mode", "pass"), count=one("count", 0),
                   skip=one("skip", 0), status=one("status", 503),
                   nbytes=one("bytes"), delay_ms=one("delay_ms", 0),
                   method=one("method"), path=one("path"))


class State:
    def __init__(self, upstream, fault, logf):
        self.upstream = upstream
        self.fault = fault
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.logf = logf
        self.reset_stats()

    def reset_stats(self):
        self.stats = {"requests": 0, "by_method": {}, "by_status": {},
                      "faults": {}, "connections": 0,
                      "upstream_errors": 0}

    def log(self, msg):
        if self.logf:
            with self.lock:
                self.logf.write(f"{time.strftime('%H:%M:%S')} {msg}\n")
                self.logf.flush()

    def decide(self, method, target):
        """Count the request and return the fault (a copy) to apply to it."""
        with self.lock:
            s = self.stats
            s["requests"] += 1
            s["by_method"][method] = s["by_method"].get(method, 0) + 1
            f = self.fault
            if f.method and f.method != method:
                return Fault()
            if f.path and f.path not in target:
                return Fault()
            f.seen += 1
            if f.seen <= f.skip:
                return Fault()
            if f.count and f.applied >= f.count:
                return Fault()
            f.applied += 1
            if f.mode != "pass":
                s["faults"][f.mode] = s["faults"].get(f.mode, 0) + 1
            return Fault(f.mode, status=f.status, nbytes=f.nbytes,
                         delay_ms=f.delay_ms)

    def count_status(self, status):
        with self.lock:
            k = str(status)
            self.stats["by_status"][k] = self.stats["by_status"].get(k, 0) + 1


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "faultproxy"
    sys_version = ""
    state = None  # set in main

    def log_message(self, fmt, *args):
        self.state.log("%s %s" % (self.client_address[1], fmt % args))

    def setup(self):
        super().setup()
        self.upconn = None
        with self.state.lock:
            self.state.stats["connections"] += 1

    def finish(self):
        try:
            super().finish()
        finally:
            if self.upconn:
                self.upconn.close()

    # every method goes through one place
    def do_GET(self):
        self.handle_any()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_OPTIONS = do_PATCH = do_GET

    def read_body(self):
        te = self.headers.get("Transfer-Encoding", "").lower()
        if "chunked" in te:
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # trailers up to the empty line
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
            return b"".join(chunks), True
        n = int(self.headers.get("Content-Length") or 0)
        return (self.rfile.read(n) if n else b""), False

    def send_json(self, obj):
        body = json.dumps(obj, indent=1).encode() + b"\n"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def control(self, url):
        q = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        st = self.state
        if url.path == "/__stats":
            with st.lock:
                out = json.loads(json.dumps(st.stats))
                out["fault"] = st.fault.to_json()
                if q.get("reset"):
                    st.reset_stats()
            return self.send_json(out)
        if q:
            try:
                new = Fault.from_query(q)
            except ValueError as e:
                body = (str(e) + "\n").encode()
                self.send_response(400)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return None
            with st.lock:
                st.fault = new
                st.changed.notify_all()
            st.log(f"fault set to {new.to_json()}")
        with st.lock:
            cur = st.fault.to_json()
        return self.send_json(cur)

    def handle_any(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path in ("/__fault", "/__stats"):
            self.read_body()
            return self.control(url)
        body, chunked = self.read_body()
        act = self.state.decide(self.command, self.path)
        if act.delay_ms:
            time.sleep(act.delay_ms / 1000)
        if act.mode == "error":
            return self.send_error_xml(act.status)
        if act.mode in ("reset", "close"):
            self.drop(rst=act.mode == "reset")
            return None
        if act.mode == "hang":
            return self.hang()
        return self.forward(body, chunked, act)

    def send_error_xml(self, status):
        code, msg = ERROR_CODES.get(status, ERROR_CODES[500])
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s'
                '</Code><Message>%s</Message><RequestId>faultproxy</RequestId>'
                '</Error>' % (code, msg)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        if status == 503:
            self.send_header("Retry-After", "1")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def drop(self, rst):
        try:
            self.wfile.flush()
            if rst:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
            else:
                self.connection.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self.close_connection = True
        if rst:
            self.connection.close()

    def hang(self):
        """Never answer: return when the client closes or the mode changes."""
        st = self.state
        sock = self.connection
        with st.lock:
            start_fault = st.fault
        while True:
            with st.lock:
                if st.fault is not start_fault:
                    break
                st.changed.wait(0.2)
            try:
                sock.settimeout(0)
                data = sock.recv(1, socket.MSG_PEEK)
                if data == b"":
                    break  # client went away
            except BlockingIOError:
                pass
            except OSError:
                break
            finally:
                try:
                    sock.settimeout(None)
                except OSError:
                    pass
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        except OSError:
            pass

    def upstream(self):
        up = self.state.upstream
        if self.upconn is None:
            cls = (http.client.HTTPSConnection if up.scheme == "https"
                   else http.client.HTTPConnection)
            self.upconn = cls(up.hostname, up.port, timeout=300)
        return self.upconn

    def forward(self, body, chunked, act):
        headers = [(k, v) for k, v in self.headers.items()
                   if k.lower() not in HOP_BY_HOP]
        resp = None
        for attempt in (0, 1):
            reused = self.upconn is not None
            conn = self.upstream()
            try:
                conn.putrequest(self.command, self.path, skip_host=True,
                                skip_accept_encoding=True)
                for k, v in headers:
                    conn.putheader(k, v)
                if chunked:
                    conn.putheader("Transfer-Encoding", "chunked")
                    conn.endheaders()
                    if body:
                        conn.send(b"%x\r\n%s\r\n" % (len(body), body))
                    conn.send(b"0\r\n\r\n")
                else:
                    if body and "Content-Length" not in self.headers:
                        conn.putheader("Content-Length", str(len(body)))
                    conn.endheaders(body or None)
                resp = conn.getresponse()
                break
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                self.upconn = None
                # a kept-alive upstream connection may have been closed under
                # us: retry once on a fresh one
                if attempt == 1 or not reused:
                    with self.state.lock:
                        self.state.stats["upstream_errors"] += 1
                    self.state.log(f"upstream error: {e!r}")
                    return self.send_error_xml(502)
        self.state.count_status(resp.status)
        self.log_request(resp.status)
        self.send_response_only(resp.status, resp.reason)
        length = resp.getheader("Content-Length")
        upstream_chunked = resp.getheader("Transfer-Encoding", "").lower() \
            .find("chunked") >= 0
        for k, v in resp.getheaders():
            if k.lower() not in HOP_BY_HOP:
                self.send_header(k, v)
        no_body = (self.command == "HEAD" or resp.status in (204, 304)
                   or 100 <= resp.status < 200)
        reencode = upstream_chunked and not no_body
        if reencode:
            self.send_header("Transfer-Encoding", "chunked")
        elif length is None and not no_body:
            # body delimited by the upstream closing: do the same
            self.close_connection = True
        if resp.will_close:
            self.close_connection = True
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        limit = None
        if act.mode == "cut":
            limit = act.nbytes if act.nbytes is not None else (
                int(length) // 2 if length else 1024)
        sent = 0
        try:
            while not no_body:
                data = resp.read1(65536) if hasattr(resp, "read1") \
                    else resp.read(65536)
                if not data:
                    break
                if limit is not None and sent + len(data) >= limit:
                    data = data[:max(0, limit - sent)]
                    self.write_piece(data, reencode)
                    self.wfile.flush()
                    resp.close()
                    self.upconn.close()
                    self.upconn = None
                    self.drop(rst=False)
                    return None
                self.write_piece(data, reencode)
                sent += len(data)
            if limit is not None:
                # the body was shorter than the cut point: cut at its end,
                # before the chunked terminator
                self.wfile.flush()
                self.drop(rst=False)
                return None
            if reencode:
                self.wfile.write(b"0\r\n\r\n")
        finally:
            if resp.will_close and self.upconn:
                self.upconn.close()
                self.upconn = None
        return None

    def write_piece(self, data, chunked):
        if not data:
            return
        if chunked:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        else:
            self.wfile.write(data)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main():
    ap = argparse.ArgumentParser(
        description="fault-injecting HTTP proxy for S3 tests",
        epilog="See the module docstring (head of this file) for the modes.")
    ap.add_argument("--upstream", required=True, help="http://host:port")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--mode", default="pass", choices=MODES)
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--skip", type=int, default=0)
    ap.add_argument("--status", type=int, default=503)
    ap.add_argument("--bytes", type=int)
    ap.add_argument("--delay-ms", type=int, default=0)
    ap.add_argument("--method")
    ap.add_argument("--path")
    ap.add_argument("--log", help="append one line per request to FILE")
    a = ap.parse_args()

    up = urllib.parse.urlsplit(a.upstream)
    if up.scheme not in ("http", "https") or not up.hostname:
        ap.error("--upstream must be http://host:port")
    logf = open(a.log, "a", encoding="utf-8") if a.log else None
    fault = Fault(a.mode, a.count, a.skip, a.status, a.bytes, a.delay_ms,
                  a.method, a.path)
    Handler.state = State(up, fault, logf)
    srv = Server(("127.0.0.1", a.port), Handler)
    port = srv.server_address[1]
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(f"{port}\n")
        os.replace(tmp, a.port_file)
    print(port, flush=True)

    def stop(signum, frame):
        threading.Thread(target=srv.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    srv.serve_forever(poll_interval=0.2)
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
