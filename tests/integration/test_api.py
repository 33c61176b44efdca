#!/usr/bin/env python3
"""tests/integration/test_api.py: the domain API contract beyond the smoke
test (API.md, docs/api.md), on a 3-node cluster with writes through a
follower: error codes and their shapes, resources and field reports with
sequence ordering, assignment and its conflicts, transfer between centres,
close, list pagination, events as pages and as a resumable SSE stream, and
the audit log.

Run: python3 test_api.py --amkd build/amkd api
"""

import http.client
import json
import os
import re
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster  # noqa: E402
from cluster import check, log, main  # noqa: E402

_keys = [0]


def key():
    _keys[0] += 1
    return "api-%d" % _keys[0]


def expect(r, status, what, code=None):
    check(r.status == status, "%s: want %d" % (what, status), r)
    check(r.index is not None, "%s: X-Amk-Index" % what, r)
    if code is not None:
        check(r.error_code == code, "%s: want error code %s" % (what, code), r)
        check(isinstance(r.json["error"].get("message"), str)
              and r.json["error"]["message"], "%s: error message" % what, r)
    return r


def sse(node, headers, want, timeout=5.0):
    """Reads an event stream until `want` events arrived; returns their ids
    and the raw text."""
    host, port = node.http_addr.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    h = {"Accept": "text/event-stream"}
    h.update(headers)
    conn.request("GET", "/v1/events", headers=h)
    r = conn.getresponse()
    check(r.status == 200, "event stream status %d" % r.status)
    check(r.getheader("Content-Type", "").startswith("text/event-stream"),
          "event stream content type")
    ids, text = [], ""
    while len(ids) < want:
        line = r.fp.readline().decode()
        check(line != "", "event stream ended after %d events" % len(ids))
        text += line
        if line.startswith("id: "):
            ids.append(int(line[4:]))
    conn.close()
    return ids, text


def announce_large_body(node, size):
    """Sends only the headers of a body of `size` bytes: the server answers
    before reading it (sending it all would meet a closed connection)."""
    host, port = node.http_addr.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=5)
    try:
        sock.sendall(("POST /v1/centres HTTP/1.1\r\nHost: x\r\n"
                      "Content-Type: application/json\r\n"
                      "Idempotency-Key: big\r\nContent-Length: %d\r\n\r\n{"
                      % size).encode())
        data = b""
        while b"\r\n\r\n" not in data or len(data) < 200:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    text = data.decode(errors="replace")
    status = int(text.split(" ")[1]) if text.startswith("HTTP/") else 0
    return status, text


def api(t):
    c = t.cluster(3)
    leader = c.leader()
    f1, f2 = c.followers(leader)
    w = f1  # writes through a follower
    post = lambda path, body, **kw: w.write("POST", path, body, key(), **kw)

    # --- Error shapes (API.md error table) ---
    expect(w.http("POST", "/v1/centres", b"{not json",
                  {"Idempotency-Key": key()}), 400, "malformed JSON", "INVALID")
    expect(w.get("/v1/nowhere"), 404, "unknown route", "NOT_FOUND")
    r = expect(w.http("PUT", "/v1/centres"), 405, "wrong method",
               "METHOD_NOT_ALLOWED")
    check("GET" in (r.header("allow") or ""), "405 lists Allow", r)
    status, head = announce_large_body(w, 2 * 1024 * 1024)
    check(status == 413, "body over 1 MiB: 413, got %r" % head)
    check("too_large" in head.lower() and "x-amk-index" in head.lower(),
          "413 TOO_LARGE with X-Amk-Index: %r" % head)
    expect(w.http("POST", "/v1/centres", {"id": "x"},
                  {"Idempotency-Key": "k" * 65}), 400, "key over 64 bytes",
           "INVALID")
    r = expect(post("/v1/centres", {"id": "oslo", "name": "AMK Oslo",
                                    "region": "sor-ost", "backups": ["bergen"],
                                    "auto_takeover": False}), 201, "oslo")
    expect(post("/v1/centres", {"id": "bergen", "name": "AMK Bergen",
                                "region": "vest", "auto_takeover": False}),
           201, "bergen")
    expect(w.get("/v1/centres/nowhere"), 404, "unknown centre", "NOT_FOUND")
    r = expect(post("/v1/incidents", {"urgency": "acute"}), 401,
               "incident without a session", "UNAUTHENTICATED")

    so = expect(post("/v1/sessions", {"centre": "oslo", "console": "c1",
                                      "operator": "nurse"}), 201,
                "oslo login").json["id"]
    sb = expect(post("/v1/sessions", {"centre": "bergen", "console": "c1",
                                      "operator": "coord"}), 201,
                "bergen login").json["id"]
    obs = expect(post("/v1/sessions", {"centre": "oslo", "console": "wall",
                                       "operator": "screen",
                                       "role": "observer"}), 201,
                 "observer login").json["id"]
    r = expect(post("/v1/incidents", {"urgency": "nope"}, session=so), 400,
               "unknown urgency", "INVALID")
    check("urgency" in r.json["error"]["message"], "message names the field", r)
    r = expect(post("/v1/incidents", {"urgency": "acute",
                                      "location": {"lat": 91, "lon": 10}},
                    session=so), 400, "latitude out of range", "INVALID")
    check("lat" in r.json["error"]["message"], "message names lat", r)
    expect(post("/v1/incidents", {"urgency": "acute"}, session=obs), 403,
           "observer write (role not allowed)", "FORBIDDEN")

    # --- Resources and field reports ---
    for rid, issi in (("AMB-OSL-1", 2001001), ("AMB-OSL-2", 2001002),
                      ("AMB-BGO-1", 2002001)):
        home = "oslo" if "OSL" in rid else "bergen"
        r = expect(post("/v1/resources", {"id": rid, "type": "ambulance",
                                          "issi": issi, "home_centre": home}),
                   201, "register " + rid)
        check(r.json["status"] == "available_station", "new unit available", r)
    expect(post("/v1/resources", {"id": "X", "type": "ambulance",
                                  "issi": 2001001, "home_centre": "oslo"}),
           409, "duplicate ISSI", "CONFLICT")
    expect(post("/v1/resources", {"id": "Y", "type": "tank", "issi": 1,
                                  "home_centre": "oslo"}), 400,
           "unknown resource type", "INVALID")
    expect(post("/v1/resources", {"id": "Z", "type": "ambulance",
                                  "issi": 16777216, "home_centre": "oslo"}),
           400, "ISSI over 24 bits", "INVALID")
    r = expect(post("/v1/resources/AMB-OSL-1/position",
                    {"lat": 59.91, "lon": 10.75, "seq": 5,
                     "event_time": "2026-11-24T10:00:00.000Z"}, session=sb),
               200, "position report")
    check(r.json["applied"] is True and r.json["position"]["lat"] == 59.91,
          "position applied", r)
    r = expect(post("/v1/resources/AMB-OSL-1/position",
                    {"lat": 60.0, "lon": 11.0, "seq": 4}, session=sb), 200,
               "late position report")
    check(r.json["applied"] is False and r.json["position"]["lat"] == 59.91,
          "a late report never rolls a unit back", r)
    r = expect(post("/v1/resources/AMB-OSL-1/status",
                    {"status": "available_mobile", "seq": 1}, session=sb), 200,
               "status report (its own counter)")
    check(r.json["applied"] is True and r.json["status"] == "available_mobile",
          "status applied", r)

    # --- Incidents: create, assign, conflicts, transfer, close ---
    inc = expect(post("/v1/incidents", {"urgency": "urgent",
                                        "criterion": "10.01"}, session=so),
                 201, "incident").json
    check(inc["owner"] == "oslo" and inc["status"] == "new", "new incident", inc)
    r = expect(post("/v1/incidents/%s/assignments" % inc["id"],
                    {"resource": "AMB-OSL-1"}, session=so), 201, "assign")
    check(r.json["status"] == "dispatched", "assignment dispatches", r)
    inc2 = expect(post("/v1/incidents", {"urgency": "normal"}, session=so),
                  201, "second incident").json
    expect(post("/v1/incidents/%s/assignments" % inc2["id"],
                {"resource": "AMB-OSL-1"}, session=so), 409,
           "unit already on an incident", "CONFLICT")
    r = expect(post("/v1/incidents/%s/assignments" % inc2["id"],
                    {"resource": "AMB-BGO-1"}, session=so), 409,
               "unit of another centre", "STALE_EPOCH")
    check(r.json["error"]["owner"] == "bergen", "names the controller", r)
    r = expect(post("/v1/resources/AMB-OSL-1/status",
                    {"status": "on_scene", "seq": 2}, session=sb), 200,
               "unit on scene")
    r = expect(f2.get("/v1/incidents/" + inc["id"]), 200, "read incident")
    check(r.json["status"] == "on_scene", "unit status moves the incident", r)
    check(r.header("etag") == '"%d"' % r.json["version"],
          "a read object carries its version as ETag", r)
    r = expect(f2.get("/v1/incidents"), 200, "list incidents")
    check(r.header("etag") is None, "a list has no ETag", r)
    r = expect(post("/v1/incidents/%s/transfer" % inc2["id"], {"to": "bergen"},
                    session=so), 200, "transfer request")
    check(r.json["transfer_to"] == "bergen", "transfer pending", r)
    expect(post("/v1/incidents/%s/transfer/accept" % inc2["id"], {},
                session=so), 409, "the sender cannot accept", "STALE_EPOCH")
    r = expect(post("/v1/incidents/%s/transfer/accept" % inc2["id"], {},
                    session=sb), 200, "bergen accepts")
    check(r.json["owner"] == "bergen", "incident moved to bergen", r)
    r = expect(post("/v1/incidents/%s/close" % inc["id"],
                    {"disposition": "transported"}, session=so), 200, "close")
    check(r.json["status"] == "closed", "closed", r)
    expect(post("/v1/incidents/%s/close" % inc["id"],
                {"disposition": "transported"}, session=so), 409,
           "close twice", "CONFLICT")
    r = expect(f2.get("/v1/resources/AMB-OSL-1"), 200, "unit after close")
    check(r.json["incident"] is None, "closing frees the unit", r)

    # --- Lists and pagination ---
    for i in range(5):
        expect(post("/v1/incidents", {"urgency": "normal"}, session=sb), 201,
               "bulk %d" % i)
    r = expect(f2.get("/v1/incidents?limit=2"), 200, "page 1")
    check(len(r.json["items"]) == 2 and r.json["next"], "page of 2", r)
    seen = [i["id"] for i in r.json["items"]]
    while r.json["next"]:
        r = expect(f2.get("/v1/incidents?limit=2&after=" + r.json["next"]),
                   200, "next page")
        seen += [i["id"] for i in r.json["items"]]
    check(len(seen) == len(set(seen)) == 6, "every open incident once: %r"
          % seen)
    r = expect(f2.get("/v1/incidents?status=all"), 200, "all incidents")
    check(len(r.json["items"]) == 7, "all statuses", r)
    expect(f2.get("/v1/incidents?status=sleeping"), 400, "bad filter",
           "INVALID")

    # --- Events: pages and a resumable stream ---
    r = expect(f2.get("/v1/events?since=0&limit=5"), 200, "events page")
    events = r.json["events"]
    check(len(events) == 5 and r.json["next"] == events[-1]["index"],
          "a page of 5 and its next", r)
    check(all(a["index"] < b["index"] for a, b in zip(events, events[1:])),
          "events in index order", r)
    ids, text = sse(f2, {"Last-Event-ID": str(events[1]["index"])}, 3)
    check(ids == [e["index"] for e in events[2:5]],
          "SSE resumes after Last-Event-ID: %r" % ids)
    check("data: {" in text, "SSE data lines carry the event JSON")

    # --- The remaining routes: phase, unassign, cancel, centre PATCH,
    # sessions read and closed ---
    inc3 = expect(post("/v1/incidents", {"urgency": "acute"}, session=so),
                  201, "third incident").json
    expect(post("/v1/incidents/%s/assignments" % inc3["id"],
                {"resource": "AMB-OSL-2"}, session=so), 201, "assign unit 2")
    r = expect(post("/v1/incidents/%s/assignments/AMB-OSL-2/phase" % inc3["id"],
                    {"phase": "en_route"}, session=so), 200, "phase")
    check(r.json["assignments"][0]["phase"] == "en_route", "phase recorded", r)
    r = expect(w.write("DELETE", "/v1/incidents/%s/assignments/AMB-OSL-2"
                       % inc3["id"], None, key(), session=so), 200,
               "unassign")
    check(r.json["assignments"][0]["active"] is False, "assignment ended", r)
    r = expect(post("/v1/incidents/%s/cancel" % inc3["id"],
                    {"reason": "caller cancelled"}, session=so), 200, "cancel")
    check(r.json["status"] == "cancelled", "cancelled", r)
    r = expect(post("/v1/resources/AMB-OSL-2/alarm", {"on": True, "seq": 50},
                    session=sb), 200, "emergency alarm")
    check(r.json["applied"] is True and r.json["alarm"] is True, "alarm on", r)
    r = expect(post("/v1/resources/AMB-OSL-2/status",
                    {"status": "available_station", "seq": 49}, session=sb),
               200, "status older than the alarm (shared counter)")
    check(r.json["applied"] is False, "the alarm's seq orders statuses too", r)
    inc4 = expect(post("/v1/incidents", {"urgency": "normal"}, session=so),
                  201, "fourth incident").json
    expect(post("/v1/incidents/%s/transfer" % inc4["id"], {"to": "bergen"},
                session=so), 200, "transfer request")
    r = expect(post("/v1/incidents/%s/transfer/reject" % inc4["id"],
                    {"reason": "no capacity"}, session=sb), 200, "reject")
    check(r.json["owner"] == "oslo" and r.json["transfer_to"] is None,
          "a rejected transfer leaves the owner", r)
    r = expect(w.write("PATCH", "/v1/centres/oslo",
                       {"service_state": "overloaded"}, key(), session=so),
               200, "centre declares itself overloaded")
    check(r.json["service_state"] == "overloaded", "service state set", r)
    r = expect(w.write("PATCH", "/v1/centres/bergen", {"name": "AMK Bergen"
                       " (Haukeland)"}, key()), 200, "rename a centre")
    check(r.header("etag") == '"2"', "PATCH raises the version", r)
    r = expect(f2.get("/v1/sessions/" + so), 200, "read a session")
    check(r.json["centre"] == "oslo" and r.json["valid"] is True, "session", r)
    r = expect(w.write("DELETE", "/v1/sessions/" + obs, None, key(),
                       session=obs), 204, "log out")
    expect(post("/v1/sessions/%s/heartbeat" % obs, {}), 401,
           "heartbeat of a closed session", "UNAUTHENTICATED")

    # --- Audit ---
    r = expect(f2.get("/v1/audit?object=" + inc["id"]), 200, "audit")
    actions = [e["action"] for e in r.json["items"]]
    check("incident.create" in actions and "incident.close" in actions,
          "audit of the incident: %r" % actions, r)
    check(any(e["outcome"] == "CONFLICT" for e in r.json["items"]),
          "rejections are audited", r)
    log("%d checks' worth of API answered as documented" % len(actions))


def limits(t):
    """The abuse limits are configurable: a body over --max-body-bytes is
    413, a stream beyond --max-subscribers is 503 with Retry-After."""
    c = t.cluster(1, extra=["--max-body-bytes", "1000",
                            "--max-subscribers", "1"])
    n = c[1]
    body = {"id": "oslo", "name": "x" * 2000, "region": "sor-ost"}
    expect(n.http("POST", "/v1/centres", body, {"Idempotency-Key": key()}),
           413, "body over --max-body-bytes", "TOO_LARGE")
    body["name"] = "AMK Oslo"
    expect(n.write("POST", "/v1/centres", body, key()), 201,
           "a body under the limit")
    host, port = n.http_addr.rsplit(":", 1)
    first = http.client.HTTPConnection(host, int(port), timeout=5)
    first.request("GET", "/v1/events", headers={"Accept": "text/event-stream"})
    check(first.getresponse().status == 200, "the first subscriber streams")
    r = expect(n.get("/v1/events", headers={"Accept": "text/event-stream"}),
               503, "a subscriber beyond --max-subscribers", "UNAVAILABLE")
    check(r.header("retry-after") is not None, "503 carries Retry-After", r)
    first.close()


def compacted(t):
    """Events older than what is kept answer 410 COMPACTED, as pages and as a
    stream; recent ones are served."""
    c = t.cluster(1, extra=["--events-retained", "10"])
    n = c[1]
    expect(n.write("POST", "/v1/centres", {"id": "oslo", "name": "AMK Oslo",
                                           "region": "sor-ost",
                                           "auto_takeover": False}, key()),
           201, "centre")
    s = expect(n.write("POST", "/v1/sessions", {"centre": "oslo",
                                                "console": "c",
                                                "operator": "o"}, key()),
               201, "login").json["id"]
    expect(n.write("POST", "/v1/resources", {"id": "A1", "type": "ambulance",
                                             "issi": 7, "home_centre": "oslo"},
                   key()), 201, "unit")
    # Housekeeping runs once per 1,024 raft indexes: go past one.
    for seq in range(1, 1100):
        r = n.http("POST", "/v1/resources/A1/position",
                   {"lat": 60, "lon": 10, "seq": seq},
                   {"X-Amk-Session": s})
        check(r.status == 200, "position %d" % seq, r)
    expect(n.get("/v1/events?since=0"), 410, "events long gone", "COMPACTED")
    r = expect(n.get("/v1/events?since=%d" % (r.index - 5)), 200,
               "recent events")
    check(len(r.json["events"]) == 5, "the last five events", r)
    expect(n.get("/v1/events", headers={"Accept": "text/event-stream",
                                         "Last-Event-ID": "1"}), 410,
           "a stream from a compacted point", "COMPACTED")


def access_log(t):
    """Reads of incident data (incidents, events, audit) are recorded one
    JSON line each in <data-dir>/access.log of the node that served them,
    with the acting session and its centre, the target, status and index;
    other reads and writes are not (writes are in the audit log)."""
    c = t.cluster(1)
    n = c[1]
    expect(n.write("POST", "/v1/centres",
                   {"id": "oslo", "name": "AMK Oslo", "region": "sor-ost",
                    "auto_takeover": False}, key()), 201, "oslo")
    session = expect(n.write("POST", "/v1/sessions",
                             {"centre": "oslo", "console": "c1",
                              "operator": "op-1"}, key()), 201,
                     "login").json["id"]
    inc = expect(n.write("POST", "/v1/incidents",
                         {"urgency": "acute", "criterion": "10.01"}, key(),
                         session=session), 201, "incident").json
    hdr = {"X-Amk-Session": session}
    reads = [
        (n.http("GET", "/v1/incidents/" + inc["id"], headers=hdr), 200,
         "/v1/incidents/" + inc["id"], session),
        (n.get("/v1/incidents?owner=oslo"), 200, "/v1/incidents?owner=oslo",
         None),
        (n.get("/v1/incidents/no-such"), 404, "/v1/incidents/no-such", None),
        # The same route spelled with an escape: recorded by the route.
        (n.get("/v1/%69ncidents/" + inc["id"]), 200,
         "/v1/%69ncidents/" + inc["id"], None),
        (n.get("/v1/events?since=0"), 200, "/v1/events?since=0", None),
        (n.get("/v1/audit?object=" + inc["id"]), 200,
         "/v1/audit?object=" + inc["id"], None),
    ]
    for r, status, _, _ in reads:
        expect(r, status, "read %s" % r.path)
    # Not patient data, or not a read: not in the access log.
    expect(n.get("/v1/centres/oslo"), 200, "a centre")
    expect(n.get("/healthz"), 200, "health")
    path = os.path.join(n.data_dir, "access.log")
    with open(path, encoding="utf-8") as f:
        lines = [json.loads(line) for line in f.read().splitlines()]
    log("%d access log lines" % len(lines))
    check(len(lines) == len(reads), "one line per read of incident data",
          *lines)
    for line, (r, status, target, sess) in zip(lines, reads):
        check(line["method"] == "GET" and line["target"] == target
              and line["status"] == status and line["node"] == 1
              and line["index"] == r.index and line["session"] == sess
              and line["at"].endswith("Z")
              and line["peer"].startswith("127.0.0.1:"),
              "access log line for %s" % target, line, r)
    check(lines[0].get("centre") == "oslo", "the session's centre", lines[0])
    metrics = n.get("/metrics").body.decode()
    check("amk_access_log_lines_total %d" % len(reads) in metrics,
          "amk_access_log_lines_total counts the lines", metrics)
    gauges = dict(line.split(" ", 1) for line in metrics.splitlines()
                  if line.startswith("amk_state_"))
    check(int(gauges.get("amk_state_audit_entries", 0)) >= 3
          and int(gauges.get("amk_state_db_bytes", 0)) > 0
          and int(gauges.get("amk_state_logs_bytes", 0)) > 0,
          "state size gauges", gauges)


def audit_retention(t):
    """--audit-retained N: after the housekeeping every 1,024 raft indexes
    only the newest N (at least) audit entries are kept; an older `since`
    answers 410 COMPACTED, no `since` reads from the oldest kept."""
    c = t.cluster(1, extra=("--audit-retained", "5"))
    n = c[1]
    expect(n.write("POST", "/v1/centres",
                   {"id": "oslo", "name": "AMK Oslo", "region": "sor-ost",
                    "auto_takeover": False}, key()), 201, "oslo")
    # Cheap audited writes (renames) past index 1,024.
    for i in range(1100):
        r = n.http("PATCH", "/v1/centres/oslo", {"name": "AMK Oslo %d" % i},
                   {"Idempotency-Key": key()})
        check(r.status == 200, "rename %d" % i, r)
        if r.index > 1100:
            break
    r = expect(n.get("/v1/audit?since=1"), 410, "audit since 1", "COMPACTED")
    m = re.search(r"up to index (\d+)", r.json["error"]["message"])
    check(m is not None, "410 names the last index discarded", r)
    purged = int(m.group(1))
    r = expect(n.get("/v1/audit"), 200, "audit from the oldest kept")
    items = r.json["items"]
    check(5 <= len(items) < 1024 and items[0]["index"] > purged,
          "only the newest entries are kept: %d from index %d"
          % (len(items), items[0]["index"] if items else 0), r)
    r2 = expect(n.get("/v1/audit?since=%d" % purged), 200,
                "audit since the last index discarded")
    check(r2.json["items"] == items, "the same entries", r2, r)
    expect(n.get("/v1/audit?since=%d" % (purged - 1)), 410,
           "audit since one before", "COMPACTED")


def curl(node, args, timeout=10):
    """Runs curl (ops/setup-deps installs it) against node: (status line,
    headers dict with lower-case names, body)."""
    argv = ["curl", "-s", "-S", "-D", "-", "--max-time", "5"] + args
    argv[-1] = "http://%s%s" % (node.http_addr, argv[-1])
    rc, out, err = cluster.run_once(argv, timeout=timeout)
    check(rc == 0 or (rc == 28 and "--max-time" in args),
          "curl %s: exit %d" % (" ".join(args), rc), err)
    # The last response head (after a 101 upgrade there are two).
    heads = out.split("\r\n\r\n")
    i = max(k for k, h in enumerate(heads[:-1] or heads)
            if h.lstrip().startswith("HTTP/"))
    lines = heads[i].strip().split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return lines[0], headers, "\r\n\r\n".join(heads[i + 1:])


def http2(t):
    """The API over HTTP/2 (cleartext: prior knowledge, and the HTTP/1.1
    Upgrade): the same statuses, X-Amk-Index, ETag, idempotent replay,
    JSON errors and the event stream as over HTTP/1.1."""
    c = t.cluster(1)
    n = c[1]
    h2 = ["--http2-prior-knowledge"]
    line, hdr, body = curl(n, h2 + ["/v1/cluster"])
    check(line.startswith("HTTP/2 200") and "x-amk-index" in hdr,
          "GET /v1/cluster over h2", line, hdr)
    check(json.loads(body)["self"] == 1, "cluster view over h2", body)
    centre = json.dumps({"id": "oslo", "name": "AMK Oslo",
                         "region": "sor-ost", "auto_takeover": False})
    write = h2 + ["-X", "POST", "-H", "Content-Type: application/json",
                  "-H", "Idempotency-Key: h2-oslo", "--data", centre,
                  "/v1/centres"]
    line, hdr, body = curl(n, write)
    check(line.startswith("HTTP/2 201") and hdr.get("etag") == '"1"'
          and "x-amk-index" in hdr, "create over h2", line, hdr, body)
    first = json.loads(body)
    line, hdr, body = curl(n, write)
    check(line.startswith("HTTP/2 201")
          and hdr.get("idempotent-replayed") == "true"
          and json.loads(body) == first, "replay over h2", line, hdr, body)
    line, hdr, body = curl(n, h2 + ["/v1/incidents/no-such"])
    check(line.startswith("HTTP/2 404") and "x-amk-index" in hdr
          and json.loads(body)["error"]["code"] == "NOT_FOUND",
          "404 over h2", line, hdr, body)
    # HTTP/1.1 Upgrade: h2c, then the answer over HTTP/2.
    line, hdr, body = curl(n, ["--http2", "/v1/centres/oslo"])
    check(line.startswith("HTTP/2 200") and hdr.get("etag") == '"1"'
          and json.loads(body)["id"] == "oslo", "GET after an h2c upgrade",
          line, hdr, body)
    # The event stream over h2: the centre's event arrives with its id.
    line, hdr, body = curl(n, h2 + ["-N", "--max-time", "1", "-H",
                                    "Accept: text/event-stream",
                                    "/v1/events?since=0"])
    check(line.startswith("HTTP/2 200")
          and hdr.get("content-type", "").startswith("text/event-stream")
          and "id: %d" % first_index(n) in body,
          "event stream over h2", line, hdr, body)


def first_index(node):
    """Index of the first event on node."""
    r = node.get("/v1/events?since=0")
    return r.json["events"][0]["index"]


if __name__ == "__main__":
    sys.exit(main({"api": api, "limits": limits, "compacted": compacted,
                   "access_log": access_log, "http2": http2,
                   "audit_retention": audit_retention}))
