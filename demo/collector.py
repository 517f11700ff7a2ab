#!/usr/bin/env python3
"""A tiny analytics collector for the Offtrack demo (Python 3 standard library only).

Serve:   python3 demo/collector.py serve --port 8123 [--log hits.jsonl] [--ready FILE]
Report:  python3 demo/collector.py report hits.jsonl [--sent sent.txt] [--ts-param ts]

`serve` listens on 127.0.0.1, answers every GET (one hit) and every POST (a
batch: one hit per line, or Matomo's {"requests": [...]}) with an empty 200
and logs each hit with its query parameters: one readable line on stdout,
one JSON line in --log. `report` prints what arrived, in arrival order, with each hit's `ts`
(the time the hit was made) next to its arrival time; with --sent it also
checks that the hits arrived in the order they were sent.
"""

import argparse
import datetime
import json
import os
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qsl, urlsplit


def clock(t):
    """Local wall-clock time with milliseconds, e.g. 14:03:07.512."""
    return datetime.datetime.fromtimestamp(t).strftime("%H:%M:%S.%f")[:-3]


def strip_param(query, name):
    """The raw query string without `name=...` (the parameter the library adds)."""
    return "&".join(p for p in query.split("&") if p.split("=", 1)[0] != name)


class Handler(BaseHTTPRequestHandler):
    server_version = "demo-collector/1"
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        url = urlsplit(self.path)
        self.server.requests += 1
        self.log_hit(time.time(), "GET", url.path, url.query, 1)
        self.answer()

    def do_POST(self):
        arrival = time.time()
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        if self.headers.get("Content-Type", "").startswith("application/json"):
            queries = [q.lstrip("?") for q in json.loads(body)["requests"]]
        else:
            queries = body.split("\n") if body else []
        self.server.requests += 1
        print(f"    [collector] {clock(arrival)}  POST {url.path}  a batch of {len(queries)} hit(s)",
              flush=True)
        for query in queries:
            self.log_hit(arrival, "POST", url.path, query, len(queries))
        self.answer()

    def log_hit(self, arrival, method, path, query, batch):
        params = parse_qsl(query, keep_blank_values=True)
        record = {
            "arrival": arrival,
            "method": method,
            "path": path,
            "request": self.server.requests,
            "batch": batch,
            "query": query,
            "params": params,
            "user_agent": self.headers.get("User-Agent", ""),
        }
        if self.server.log_file is not None:
            self.server.log_file.write(json.dumps(record) + "\n")
            self.server.log_file.flush()
        shown = "  ".join(f"{k}={v}" for k, v in params)
        made = dict(params).get(self.server.ts_param)
        age = ""
        if made is not None and made.isdigit():
            age = f"  (made {clock(int(made))[:-4]}, {arrival - int(made):.1f} s earlier)"
        indent = "      " if method == "POST" else ""
        print(f"    [collector] {indent}{clock(arrival)}  {method} {path}  {shown}{age}", flush=True)

    def answer(self):
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def log_message(self, fmt, *args):
        pass  # the hit line above is the log


def serve(args):
    server = HTTPServer(("127.0.0.1", args.port), Handler)
    server.ts_param = args.ts_param
    server.requests = 0
    server.log_file = open(args.log, "a", encoding="utf-8") if args.log else None
    # SIGTERM from the demo's cleanup ends the process quietly.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"    [collector] listening on http://127.0.0.1:{args.port}/", flush=True)
    if args.ready:
        with open(args.ready, "w", encoding="utf-8") as f:
            f.write(str(os.getpid()))
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if server.log_file is not None:
            server.log_file.close()
    return 0


def report(args):
    records = []
    if os.path.exists(args.log):
        with open(args.log, encoding="utf-8") as f:
            records = [json.loads(line) for line in f if line.strip()]
    requests = {}
    for r in records:
        requests.setdefault(r.get("request", 0), (r.get("method", "GET"), r.get("path", ""), []))[2].append(r)
    print(f"  {len(records)} hit(s) arrived at the collector in {len(requests)} request(s):")
    for n, (method, path, hits) in requests.items():
        print(f"    request {n}: {method} {path} with {len(hits)} hit(s)")
    print(f"  the hits, in this order:")
    print(f"  {'#':>2}  {'made (ts)':<12}  {'arrived':<12}  {'late by':>8}  hit")
    for i, r in enumerate(records, 1):
        params = dict(r["params"])
        ts = params.get(args.ts_param, "")
        made = clock(int(ts))[:-4] if ts.isdigit() else "(no ts)"
        late = f"{r['arrival'] - int(ts):.1f} s" if ts.isdigit() else "-"
        shown = " ".join(f"{k}={v}" for k, v in r["params"] if k != args.ts_param)
        print(f"  {i:>2}  {made:<12}  {clock(r['arrival']):<12}  {late:>8}  {shown}")

    ok = True
    missing_ts = [i for i, r in enumerate(records, 1) if args.ts_param not in dict(r["params"])]
    if missing_ts:
        ok = False
        print(f"  hits without a {args.ts_param} parameter: {missing_ts}")
    if args.sent:
        with open(args.sent, encoding="utf-8") as f:
            sent = [line.rstrip("\n") for line in f if line.strip()]
        arrived = [strip_param(r["query"], args.ts_param) for r in records]
        if arrived == sent:
            print(f"  order check: all {len(sent)} hits arrived once each, in the order they were made")
        else:
            ok = False
            print("  order check FAILED")
            print("    sent:    " + " | ".join(sent))
            print("    arrived: " + " | ".join(arrived))
    return 0 if ok else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the collector")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--log", help="append one JSON line per hit to this file")
    s.add_argument("--ready", help="create this file once listening")
    s.add_argument("--ts-param", default="ts")
    r = sub.add_parser("report", help="summarise a --log file")
    r.add_argument("log")
    r.add_argument("--sent", help="file with the hits as sent, one per line")
    r.add_argument("--ts-param", default="ts")
    args = parser.parse_args()
    return serve(args) if args.command == "serve" else report(args)


if __name__ == "__main__":
    sys.exit(main())
