#!/usr/bin/env python3
"""tests/integration/test_contract.py: a smoke test of the domain API
contract (API.md) on a 3-node cluster, every write through a follower:
centres, console login, incident create, takeover fencing (409 STALE_EPOCH
with owner and epoch), ETag/If-Match, idempotent replay, handback, and
X-Amk-Index on every response.

Run: python3 test_contract.py --amkd build/amkd contract
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster  # noqa: E402
from cluster import check, log, main  # noqa: E402

INCIDENT = {
    "urgency": "acute",
    "criterion": "10.01",
    "location": {"lat": 59.9139, "lon": 10.7522, "accuracy_m": 25,
                 "address": "Karl Johans gate 1", "municipality": "0301"},
    "caller": {"phone": "+4799999999", "name": "Kari Nordmann"},
    "patients": [{"name": "Ola Nordmann", "national_id": "01017012345",
                  "age": 54, "sex": "male"}],
    "note": "chest pain",
}


def expect(r, status, what, code=None):
    check(r.status == status, "%s: want %d" % (what, status), r)
    if code is not None:
        check(r.error_code == code, "%s: want error code %s" % (what, code), r)
    return r


def contract(t):
    c = t.cluster(3)
    leader = c.leader()
    f1, f2 = c.followers(leader)
    if os.environ.get("AMK_IT_VIA_LEADER") == "1":
        # Development knob: exercise the contract on the leader alone.
        f1 = f2 = leader
    log("leader %r, writes through %r, reads on %r" % (leader, f1, f2))

    # Centres.
    r = expect(f1.write("POST", "/v1/centres",
                        {"id": "oslo", "name": "AMK Oslo", "region": "sor-ost",
                         "backups": ["bergen"], "auto_takeover": False},
                        "c-oslo", timeout=5.0), 201, "create oslo (backups may"
               " name a centre created later)")
    check(r.json["epoch"] == 1 and r.json["controlled_by"] == "oslo", "new centre", r)
    check(r.header("etag") == '"1"', "ETag of a new centre", r)
    expect(f1.write("POST", "/v1/centres",
                    {"id": "bergen", "name": "AMK Bergen", "region": "vest",
                     "backups": [], "auto_takeover": False}, "c-bergen",
                    timeout=5.0), 201, "create bergen")
    r = expect(f1.http("POST", "/v1/centres",
                       {"id": "oslo", "name": "again", "region": "sor-ost"},
                       {"Idempotency-Key": "c-oslo-dup"}), 409, "duplicate centre",
               "CONFLICT")
    r = expect(f2.get("/v1/centres/oslo"), 200, "read oslo on the other follower")
    check(r.header("etag") == '"%d"' % r.json["version"], "ETag = version", r)
    expect(f2.get("/v1/centres/nowhere"), 404, "unknown centre", "NOT_FOUND")

    # Console login.
    r = expect(f1.write("POST", "/v1/sessions",
                        {"centre": "oslo", "console": "oslo-c1",
                         "operator": "op-1"}, "s-oslo", timeout=5.0), 201,
               "login at oslo")
    check(r.json["centre"] == "oslo" and r.json["epoch"] == 1, "session", r)
    oslo_session = r.json["id"]
    r = expect(f1.write("POST", "/v1/sessions",
                        {"centre": "bergen", "console": "bergen-c1",
                         "operator": "op-2"}, "s-bergen", timeout=5.0), 201,
               "login at bergen")
    bergen_session = r.json["id"]

    # Incident created through a follower; the owner is the session's centre.
    r = expect(f1.write("POST", "/v1/incidents", INCIDENT, "i-1",
                        session=oslo_session, timeout=5.0), 201, "create incident")
    incident = r.json
    iid = incident["id"]
    check(incident["owner"] == "oslo" and incident["version"] == 1,
          "new incident owner and version", r)
    check(r.header("etag") == '"1"', "ETag of a new incident", r)
    check(incident["case_number"], "case number", r)
    first = r
    # Idempotent replay returns the first answer, status and body.
    r = expect(f2.write("POST", "/v1/incidents", INCIDENT, "i-1",
                        session=oslo_session, timeout=5.0), 201, "replay")
    check(r.json == first.json, "replay returns the first body", first, r)
    r = expect(f2.get("/v1/incidents/" + iid), 200, "read incident")
    check(r.json["id"] == iid and r.header("etag") == '"1"', "incident read", r)
    r = expect(f2.get("/v1/incidents?owner=oslo"), 200, "list incidents")
    check([i["id"] for i in r.json["items"]] == [iid] and "next" in r.json,
          "list shape", r)
    expect(f1.http("POST", "/v1/incidents", INCIDENT,
                   {"Idempotency-Key": "i-nosession"}), 401,
           "incident without a session", "UNAUTHENTICATED")
    expect(f1.http("POST", "/v1/incidents", INCIDENT,
                   {"Idempotency-Key": "i-bad", "X-Amk-Session": "no-such"}),
           401, "unknown session", "UNAUTHENTICATED")
    expect(f1.http("POST", "/v1/incidents", {"urgency": "whenever"},
                   {"Idempotency-Key": "i-inv", "X-Amk-Session": oslo_session}),
           400, "bad urgency", "INVALID")

    # Compare-and-set.
    r = expect(f1.write("PATCH", "/v1/incidents/" + iid, {"urgency": "urgent"},
                        "i-1-p1", session=oslo_session,
                        headers={"If-Match": '"1"'}, timeout=5.0), 200,
               "PATCH with a current If-Match")
    check(r.json["version"] == 2 and r.header("etag") == '"2"', "version raised", r)
    r = expect(f1.write("PATCH", "/v1/incidents/" + iid, {"urgency": "normal"},
                        "i-1-p2", session=oslo_session,
                        headers={"If-Match": '"1"'}, timeout=5.0), 412,
               "PATCH with a stale If-Match", "VERSION_MISMATCH")
    check(r.json["error"].get("version") == 2, "412 names the current version", r)

    # Takeover of oslo by bergen, through a follower.
    r = expect(f1.write("POST", "/v1/centres/oslo/takeover",
                        {"by": "bergen", "reason": "test"}, "t-1", timeout=5.0),
               200, "takeover")
    check(r.json["epoch"] == 2 and r.json["controlled_by"] == "bergen",
          "taken-over centre", r)
    # The old session is fenced: 409 STALE_EPOCH naming owner and epoch.
    r = expect(f1.write("PATCH", "/v1/incidents/" + iid, {"urgency": "normal"},
                        "i-1-p3", session=oslo_session, timeout=5.0), 409,
               "old session after takeover", "STALE_EPOCH")
    err = r.json["error"]
    check(err.get("owner") == "bergen" and err.get("epoch") == 1,
          "STALE_EPOCH names the owner (bergen) and its epoch (1)", r)
    r = expect(f1.write("POST", "/v1/incidents", INCIDENT, "i-2",
                        session=oslo_session, timeout=5.0), 409,
               "old session creating an incident", "STALE_EPOCH")
    check(r.json["error"].get("owner") == "bergen", "owner of a stale create", r)
    # The replayed first create still returns its first answer.
    r = expect(f2.write("POST", "/v1/incidents", INCIDENT, "i-1",
                        session=oslo_session, timeout=5.0), 201,
               "replay after the takeover")
    check(r.json == first.json, "replay after takeover = first body", first, r)
    # The taker acts at once; the incident moved to it.
    r = expect(f2.write("PATCH", "/v1/incidents/" + iid, {"status": "triaged"},
                        "i-1-p4", session=bergen_session, timeout=5.0), 200,
               "bergen updates the taken incident")
    # Versions: created 1, PATCH 2, moved by the takeover 3, this PATCH 4.
    check(r.json["owner"] == "bergen" and r.json["version"] == 4
          and r.header("etag") == '"4"', "moved incident", r)
    # A login at the taken-over centre is read-only.
    r = expect(f1.write("POST", "/v1/sessions",
                        {"centre": "oslo", "console": "oslo-c2",
                         "operator": "op-3"}, "s-oslo-2", timeout=5.0), 201,
               "login at a taken-over centre")
    check(r.json.get("read_only") is True, "read-only session", r)

    # Handback returns the open incident.
    r = expect(f1.write("POST", "/v1/centres/oslo/handback", {}, "h-1",
                        timeout=5.0), 200, "handback")
    check(r.json["epoch"] == 3 and r.json["controlled_by"] == "oslo", "handback", r)
    r = expect(f2.get("/v1/incidents/" + iid), 200, "incident after handback")
    check(r.json["owner"] == "oslo", "incident returned to oslo", r)

    # Local reads also carry the index.
    expect(f2.get("/v1/incidents/%s?consistency=local" % iid), 200, "local read")
    expect(f2.get("/v1/events?since=0"), 200, "events")

    missing = [r for r in cluster.responses if r.index is None]
    check(not missing, "%d responses without X-Amk-Index" % len(missing),
          *missing[:5])
    log("%d responses, all with X-Amk-Index" % len(cluster.responses))


if __name__ == "__main__":
    sys.exit(main({"contract": contract}))
