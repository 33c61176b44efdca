#!/usr/bin/env python3
"""tests/integration/test_takeover.py: the leader's takeover supervisor
(API.md "Centres and sessions"; DESIGN.md "Takeover and fencing"): a centre
with no live node and no valid console heartbeat for --takeover-after
seconds passes to the first live backup centre, in one automatic takeover
that sets it down and fences its sessions; a console heartbeat keeps a
centre without nodes alive.

Run one test: python3 test_takeover.py --amkd build/amkd auto_takeover
"""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import check, log, main, wait_until, write_retry  # noqa: E402

TAKEOVER_AFTER = 2  # seconds


def expect(r, status, what):
    check(r.status == status, "%s: expected %d" % (what, status), r)
    return r


def centre(nodes, cid, backups, auto=True):
    body = {"id": cid, "name": "AMK " + cid, "region": "r-" + cid,
            "backups": backups, "auto_takeover": auto}
    expect(write_retry(nodes, "POST", "/v1/centres", body, "c-" + cid), 201,
           "create centre " + cid)


def controlled_by(node, cid):
    r = node.get("/v1/centres/%s?consistency=local" % cid)
    check(r.status == 200, "read centre " + cid, r)
    return r.json


def auto_takeover(t):
    c = t.cluster(start=False, extra=["--takeover-after", str(TAKEOVER_AFTER)])
    for node, (cid, region) in zip(
            (c[1], c[2], c[3]),
            (("oslo", "sor-ost"), ("bergen", "vest"), ("trondheim", "midt"))):
        node.extra = ["--centre", cid, "--region", region]
    c.start()
    nodes = [c[1], c[2], c[3]]
    centre(nodes, "oslo", ["bergen"])
    centre(nodes, "bergen", ["oslo"])
    centre(nodes, "trondheim", ["bergen"])
    # A centre with no node: kept alive by a console heartbeat only.
    centre(nodes, "haugesund", ["bergen"], auto=False)

    r = expect(write_retry(nodes, "POST", "/v1/sessions",
                           {"centre": "oslo", "console": "c1",
                            "operator": "op1"}, "s-oslo"), 201, "oslo login")
    oslo_session = r.json["id"]
    r = expect(write_retry(nodes, "POST", "/v1/incidents",
                           {"urgency": "acute", "criterion": "10.01"},
                           "inc-1", session=oslo_session), 201, "incident")
    incident = r.json["id"]
    r = expect(write_retry(nodes, "POST", "/v1/sessions",
                           {"centre": "haugesund", "console": "c1",
                            "operator": "op2"}, "s-hau"), 201,
               "haugesund login")
    hau_session = r.json["id"]

    beating = threading.Event()
    beating.set()

    def heartbeat():
        while beating.is_set():
            try:
                c[2].http("POST", "/v1/sessions/%s/heartbeat" % hau_session,
                          timeout=1.0)
            except Exception:  # noqa: BLE001 - best effort, as consoles do
                pass
            time.sleep(0.3)

    beater = threading.Thread(target=heartbeat, daemon=True)
    beater.start()
    expect(write_retry(nodes, "PATCH", "/v1/centres/haugesund",
                       {"auto_takeover": True}, "hau-auto"), 200,
           "auto takeover on for haugesund")

    # Every centre has a live node or console: nothing moves for twice the
    # detection period.
    time.sleep(2 * TAKEOVER_AFTER + 1)
    for cid in ("oslo", "bergen", "trondheim", "haugesund"):
        check(controlled_by(c[2], cid)["controlled_by"] == cid,
              "%s still controls itself" % cid)

    # The node of oslo dies: bergen takes oslo over.
    c[1].kill9()
    log("killed the node of oslo")
    wait_until(lambda: controlled_by(c[2], "oslo")["controlled_by"] == "bergen",
               "oslo taken over by bergen", timeout=4 * TAKEOVER_AFTER + 10)
    oslo = controlled_by(c[2], "oslo")
    check(oslo["service_state"] == "down", "automatic takeover sets down", oslo)
    check(oslo["epoch"] == 2, "takeover raised the epoch", oslo)
    r = c[3].get("/v1/incidents/" + incident)
    check(r.status == 200 and r.json["owner"] == "bergen",
          "oslo's open incident passed to bergen", r)
    r = write_retry([c[2], c[3]], "POST", "/v1/incidents/%s/notes" % incident,
                    {"text": "from oslo"}, "n-1", session=oslo_session)
    check(r.status == 409 and r.error_code == "STALE_EPOCH",
          "oslo's old session is fenced", r)
    check(r.json["error"]["owner"] == "bergen", "owner named", r)
    check(controlled_by(c[2], "trondheim")["controlled_by"] == "trondheim",
          "trondheim (its node alive) is left alone")
    check(controlled_by(c[2], "haugesund")["controlled_by"] == "haugesund",
          "haugesund (console heartbeating) is left alone")

    # The console of haugesund stops: bergen takes it over too.
    beating.clear()
    beater.join(timeout=5)
    wait_until(lambda: controlled_by(c[2], "haugesund")["controlled_by"]
               == "bergen", "haugesund taken over after its console stopped",
               timeout=4 * TAKEOVER_AFTER + 10)


if __name__ == "__main__":
    sys.exit(main({"auto_takeover": auto_takeover}))
