#!/usr/bin/env python3
"""tests/integration/test_raft.py: the raft cluster as clients see it over
HTTP (API.md "Cluster and health", DESIGN.md "Consistency"): bootstrap,
writes through followers, linearizable reads anywhere, leader loss, catch-up,
join by snapshot, membership, leadership transfer, restart, minority.

Run one test: python3 test_raft.py --amkd build/amkd follower_write
"""

import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import (Response, TestFailure, Unreachable,  # noqa: E402
                     check, log, main, wait_until, write_retry)


def centre_body(cid):
    # auto_takeover off: these centres have no nodes or consoles, and an
    # automatic takeover would change them under the test.
    return {"id": cid, "name": "Centre " + cid, "region": "vest",
            "backups": [], "auto_takeover": False}


def create_centre(node, cid, timeout=10.0):
    r = node.write("POST", "/v1/centres", centre_body(cid), "key-" + cid,
                   timeout=timeout)
    check(r.status == 201, "create centre %s through %r" % (cid, node), r)
    check(r.json.get("id") == cid, "created centre id", r)
    check(r.header("etag") == '"1"', "ETag of a new centre", r)
    check(r.index is not None and r.index > 0, "X-Amk-Index on a write", r)
    return r


def expect_centre(node, cid, local=False, min_index=None, no_leader_window=0.0):
    """Reads centre cid on node. no_leader_window: right after a leader
    change a follower may answer 503 NO_LEADER until its link to the new
    leader is up; such answers are retried for at most that many seconds
    (and the wait is logged). Steady-state reads use 0: no retry."""
    path = "/v1/centres/" + cid + ("?consistency=local" if local else "")
    r = read_retry(node, path, no_leader_window)
    check(r.status == 200, "read centre %s on %r" % (cid, node), r)
    check(r.json.get("id") == cid, "read centre id", r)
    check(r.index is not None, "X-Amk-Index on a read", r)
    if min_index is not None:
        check(r.index >= min_index,
              "read on %r reflects index %s, before the write at %d"
              % (node, r.index, min_index), r)
    return r


def read_retry(node, path, window):
    t0 = time.monotonic()
    tries = 0
    for tries in range(1000):
        r = node.get(path)
        if r.status != 503 or r.error_code != "NO_LEADER":
            break
        if time.monotonic() - t0 >= window:
            break
        time.sleep(0.02)
    waited = time.monotonic() - t0
    if tries > 0:
        log("GET %s on %r: 503 NO_LEADER for %.2fs after a leader change"
            % (path, node, waited))
    return r


def list_centres(node, local=False, no_leader_window=0.0):
    """Every centre id via paged GET /v1/centres."""
    ids, after = [], None
    for _ in range(100):
        path = "/v1/centres?limit=1000"
        if after:
            path += "&after=" + after
        if local:
            path += "&consistency=local"
        r = read_retry(node, path, no_leader_window)
        check(r.status == 200, "list centres on %r" % node, r)
        ids += [c["id"] for c in r.json["items"]]
        after = r.json.get("next")
        if not after:
            return ids
    raise TestFailure("centre list on %r did not end after 100 pages" % node)


def wait_local(node, cid, min_index=None, timeout=15.0):
    """Waits until node's local state has centre cid and reflects at least
    min_index (catch-up)."""
    def seen():
        r = node.get("/v1/centres/%s?consistency=local" % cid, timeout=2.0)
        if r.status != 200 or r.index is None:
            return None
        if min_index is not None and r.index < min_index:
            return None
        return r
    return wait_until(seen, "%r to apply centre %s (index >= %s)"
                      % (node, cid, min_index), timeout)


def expect_no_leader(r, what):
    check(r.status == 503, what + ": 503 expected", r)
    check(r.error_code == "NO_LEADER", what + ": error code NO_LEADER", r)
    check(r.header("retry-after") is not None, what + ": Retry-After header", r)
    check(r.index is not None, what + ": X-Amk-Index header", r)


# --- tests -----------------------------------------------------------------


def bootstrap(t):
    c = t.cluster(3)
    leader = c.leader()
    log("leader %r" % leader)
    for n in c.live():
        v = n.view()
        check(v["self"] == n.id, "self in /v1/cluster of %r" % n, v)
        check(v["leader"] == leader.id, "leader seen by %r" % n, v)
        check(v["term"] >= 1, "term", v)
        members = {m["id"]: m for m in v["members"]}
        check(sorted(members) == [1, 2, 3], "members seen by %r" % n, v)
        for m in v["members"]:
            check(m["role"] == "voter", "bootstrapped members are voters", v)
            check(m["address"] == c[m["id"]].raft, "member address", v)
        for path in ("/healthz", "/readyz", "/metrics"):
            r = n.get(path)
            check(r.status == 200, path, r)
            check(r.index is not None, "X-Amk-Index on " + path, r)
        metrics = n.get("/metrics").body.decode()
        want = "amk_raft_is_leader %d" % (1 if n is leader else 0)
        check(want in metrics, "metrics of %r: %s" % (n, want))


def follower_write(t):
    c = t.cluster(3)
    leader = c.leader()
    f1, f2 = c.followers(leader)
    r = create_centre(f1, "via-follower", timeout=5.0)
    # Linearizable by default: the other follower must see it at once.
    expect_centre(f2, "via-follower", min_index=r.index)
    expect_centre(leader, "via-follower", min_index=r.index)
    # Replaying the key through the other follower returns the first answer.
    again = f2.write("POST", "/v1/centres", centre_body("via-follower"),
                     "key-via-follower", timeout=5.0)
    check(again.status == 201 and again.json == r.json,
          "idempotent replay through another follower", r, again)


def leader_kill(t):
    c = t.cluster(3)
    old = c.leader()
    f1, f2 = c.followers(old)
    create_centre(f1, "before-kill")
    old.kill9()
    killed_at = time.monotonic()
    new = c.leader(nodes=[f1, f2], timeout=10.0)
    log("new leader %r after %.2fs" % (new, time.monotonic() - killed_at))
    check(new is not old, "a new leader")
    # Writes continue through the survivor that is not the new leader.
    via = f1 if new is f2 else f2
    w = create_centre(via, "after-kill")
    log("first write after the kill acknowledged %.2fs after it"
        % (time.monotonic() - killed_at))
    for n in (f1, f2):
        expect_centre(n, "before-kill", no_leader_window=2.0)
        expect_centre(n, "after-kill", min_index=w.index)
    c.restart(old)
    r = wait_local(old, "after-kill", min_index=w.index)
    log("restarted %r caught up to index %d" % (old, r.index))
    c.wait_ready([old])
    log("leader after restart: %r" % c.leader())
    # And it takes part: a write through it is acknowledged and readable.
    w2 = create_centre(old, "after-restart")
    expect_centre(f1, "after-restart", min_index=w2.index, no_leader_window=2.0)


def join_snapshot(t):
    # Low threshold: the leader compacts its log long before node 4 asks to
    # join, so node 4 can only get the early entries by snapshot install.
    snap = ["--snapshot-threshold", "32", "--snapshot-trailing", "8"]
    c = t.cluster(3, extra=snap)
    leader = c.leader()
    f1 = c.followers(leader)[0]
    ids = ["pre-%03d" % i for i in range(100)]
    for cid in ids:
        r = leader.write("POST", "/v1/centres", centre_body(cid), "key-" + cid)
        check(r.status == 201, "create " + cid, r)
    last_index = r.index
    log("wrote %d centres up to index %d" % (len(ids), last_index))
    n4 = c.add_node(4, join_via=f1)
    wait_until(lambda: 4 in [m["id"] for m in leader.view()["members"]],
               "node 4 in the leader's member list", 20.0, 0.1)
    c.wait_ready([n4], timeout=20.0)
    r = wait_local(n4, ids[0], min_index=last_index, timeout=20.0)
    log("node 4 serves index %d" % r.index)
    missing = set(ids) - set(list_centres(n4, local=True))
    check(not missing, "node 4 lacks %d centres, e.g. %s"
          % (len(missing), sorted(missing)[:5]))
    roles = {m["id"]: m["role"] for m in leader.view()["members"]}
    log("member roles after the join: %s" % roles)
    check(roles.get(4) == "voter", "a joined node becomes a voter", roles)
    # It serves linearizable reads and takes writes like any member.
    expect_centre(n4, ids[-1])
    w = create_centre(n4, "via-joined")
    expect_centre(leader, "via-joined", min_index=w.index)
    # raft_uv keeps snapshots as snapshot-TERM-INDEX-TIMESTAMP(.meta): node 4
    # applied too few entries to take one itself, so one there was installed.
    snaps = sorted(f for f in os.listdir(n4.data_dir)
                   if f.startswith("snapshot-") and f.endswith(".meta"))
    log("node 4 snapshots: %s" % snaps)
    check(snaps, "node 4 was not brought up by a snapshot install",
          os.listdir(n4.data_dir))


def member_remove(t):
    c = t.cluster(3)
    leader = c.leader()
    f1, f2 = c.followers(leader)
    # Through a follower, as an operator's amkctl on any node would (the
    # follower may answer with a redirect to the leader).
    r = f1.admin("DELETE", "/v1/cluster/members/%d" % f2.id)
    check(r.status == 200, "remove member %d" % f2.id, r)
    check(r.index is not None, "X-Amk-Index", r)
    for n in (leader, f1):
        wait_until(lambda n=n: sorted(m["id"] for m in n.view()["members"])
                   == sorted([leader.id, f1.id]),
                   "%r to drop member %d" % (n, f2.id), 10.0)
    f2.kill9()
    # Two voters left: a write needs both, and goes through the follower.
    w = create_centre(f1, "after-remove")
    expect_centre(leader, "after-remove", min_index=w.index)
    r = leader.http("DELETE", "/v1/cluster/members/99")
    check(r.status == 404 and r.error_code == "NOT_FOUND",
          "removing an unknown member", r)


def leader_transfer(t):
    c = t.cluster(3)
    old = c.leader()
    target = c.followers(old)[0]
    r = old.http("POST", "/v1/cluster/leader", {"id": target.id}, timeout=10.0)
    check(r.status == 200, "transfer leadership to %d" % target.id, r)
    check(r.json.get("leader") == target.id, "transfer answer names the target", r)
    new = c.leader()
    check(new is target, "leader after transfer is %r, not %r" % (new, target))
    check(target.view()["leader"] == target.id, "target sees itself leader")
    w = create_centre(target, "on-new-leader")
    expect_centre(old, "on-new-leader", min_index=w.index, no_leader_window=2.0)
    # The old leader is a follower now and forwards writes.
    create_centre(old, "via-old-leader", timeout=5.0)
    r = target.http("POST", "/v1/cluster/leader", {"id": 99})
    check(r.status == 404, "transfer to an unknown id", r)


def restart_all(t):
    c = t.cluster(3)
    leader = c.leader()
    ids = ["keep-%d" % i for i in range(5)]
    for cid in ids:
        w = create_centre(leader, cid)
    order = [leader] + c.followers(leader)  # the leader first: hand-over
    for n in order:
        t0 = time.monotonic()
        rc = n.stop(timeout=15)
        check(rc == 0, "%r exit code after SIGTERM is %d, not 0" % (n, rc))
        log("%r stopped in %.2fs" % (n, time.monotonic() - t0))
    for n in order:
        c.restart(n)
    c.wait_ready(timeout=10.0)
    # /readyz is 200 only once a node "has applied what it loaded at start":
    # its local state must already hold everything written before the stop.
    for n in c.live():
        r = n.get("/v1/centres/%s?consistency=local" % ids[-1])
        t.soft_check(r.status == 200 and r.index is not None and r.index >= w.index,
                     "%r answers /readyz 200 but has not applied its log (local"
                     " read of %s)" % (n, ids[-1]), r, n.get("/readyz"))
    leader = c.leader()
    # Without new writes, every node applies the committed log within a few
    # heartbeats (a follower whose log had an uncommitted tail must not sit
    # at an old index until the next write).
    try:
        wait_until(lambda: all(n.view()["applied_index"] >= w.index
                               for n in c.live()),
                   "every node to apply index %d without new writes" % w.index,
                   5.0, 0.05)
    except TestFailure as e:
        t.soft_check(False, str(e), *["%r: %s" % (n, n.view()) for n in c.live()])
    for n in c.live():
        got = set(list_centres(n, no_leader_window=2.0))
        check(set(ids) <= got, "centres after restart on %r: missing %s"
              % (n, sorted(set(ids) - got)))
    w2 = create_centre(leader, "after-restart")
    for n in c.live():
        wait_local(n, "after-restart", min_index=w2.index, timeout=5.0)
        for cid in ids:
            expect_centre(n, cid, local=True)


def minority(t):
    c = t.cluster(3)
    leader = c.leader()
    f1, f2 = c.followers(leader)
    w = create_centre(leader, "before-split")

    def check_survivor(s, phase):
        # Wait until the survivor no longer believes in any leader (a leader
        # steps down once it has not heard from a majority).
        wait_until(lambda: s.view()["leader"] is None,
                   "%s: %r to see no leader" % (phase, s), 10.0)
        t0 = time.monotonic()
        r = s.http("POST", "/v1/centres", centre_body("lost-" + phase),
                   {"Idempotency-Key": "key-lost-" + phase}, timeout=10.0)
        took = time.monotonic() - t0
        expect_no_leader(r, phase + ": write on a minority node")
        check(took < 3.0, "%s: NO_LEADER took %.1fs (never a hang)" % (phase, took))
        r = s.get("/v1/centres/before-split", timeout=10.0)
        expect_no_leader(r, phase + ": linearizable read on a minority node")
        r = expect_centre(s, "before-split", local=True)
        check(r.index >= w.index, "local read index", r)
        r = s.get("/readyz")
        check(r.status == 503, phase + ": /readyz without a leader", r)

    # Phase A: the leader survives alone and must step down.
    f1.kill9()
    f2.kill9()
    check_survivor(leader, "a")
    c.restart(f1)
    c.restart(f2)
    c.wait_ready()
    new = c.leader()
    r = new.get("/v1/centres/lost-a")
    check(r.status == 404, "the write refused with NO_LEADER was not applied", r)
    # Phase B: a follower survives alone.
    s = [n for n in c.live() if n is not new][0]
    for n in c.live():
        if n is not s:
            n.kill9()
    check_survivor(s, "b")


def outcome_unknown(t):
    """504 TIMEOUT means the outcome is unknown, and a retry with the same
    Idempotency-Key settles it: the leader accepts a write, then cannot reach
    a majority (both followers frozen with SIGSTOP, so their connections stay
    open and nothing is refused). The write must answer 504 within the request
    timeout (never 503 NO_LEADER: the entry is in the leader's log and may
    still commit), and after the followers thaw the retry answers 201 and
    exactly one centre exists."""
    c = t.cluster(3, extra=("--request-timeout-ms", "1500"))
    leader = c.leader()
    frozen = c.followers(leader)
    create_centre(leader, "before-freeze")
    for n in frozen:
        n.kill(signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        r = leader.http("POST", "/v1/centres", centre_body("in-doubt"),
                        {"Idempotency-Key": "key-in-doubt"}, timeout=10.0)
        took = time.monotonic() - t0
        check(r.status == 504 and r.error_code == "TIMEOUT",
              "a write the leader cannot commit answers 504 TIMEOUT", r)
        check(took < 5.0, "504 within the request timeout (took %.1fs)" % took)
    finally:
        for n in frozen:
            n.kill(signal.SIGCONT)
    c.wait_ready()
    r = write_retry(c.live(), "POST", "/v1/centres", centre_body("in-doubt"),
                    "key-in-doubt")
    check(r.status == 201, "the retry with the same key answers 201", r)
    ids = list_centres(c.leader(), no_leader_window=5.0)
    check(ids.count("in-doubt") == 1, "exactly one centre from the write in "
          "doubt", ids)
    # The answer is settled: a third try replays it.
    again = write_retry(c.live(), "POST", "/v1/centres",
                        centre_body("in-doubt"), "key-in-doubt")
    check(again.status == 201 and again.body == r.body,
          "a replay returns the first answer", again, r)


def uncommitted_tail(t):
    """A node that restarts with uncommitted entries at the end of its log
    (appended while it led without a majority), a tail longer than the new
    leader's log, must drop them and catch up with the new leader, with no
    further writes to help (an idle cluster)."""
    c = t.cluster(3)
    old = c.leader()
    f1, f2 = c.followers(old)
    create_centre(old, "base")
    f1.kill9()
    f2.kill9()
    # The old leader appends these before it notices it is alone.
    tails = {}

    def tail_write(k):
        try:
            tails[k] = old.http("POST", "/v1/centres", centre_body("tail-%d" % k),
                                {"Idempotency-Key": "key-tail-%d" % k},
                                timeout=10.0)
        except Unreachable as e:
            tails[k] = e
    threads = [threading.Thread(target=tail_write, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(15)
    for k, r in sorted(tails.items()):
        log("write %d on the isolated leader: %r" % (k, r))
        check(isinstance(r, Unreachable) or r.status in (503, 504),
              "a write without a majority is not acknowledged", r)
    loaded = old.view()["applied_index"]
    old.kill9()
    c.restart(f1)
    c.restart(f2)
    c.wait_ready([f1, f2])
    new = c.leader([f1, f2])
    c.restart(old)
    c.wait_ready([old], timeout=10.0)

    def caught_up():
        target = new.view()["commit_index"]
        return old.view()["applied_index"] >= target
    try:
        wait_until(caught_up, "%r to catch up with %r (no further writes)"
                   % (old, new), 5.0, 0.05)
    except TestFailure as e:
        raise TestFailure("%s\n    %r: %s\n    %r: %s" % (
            e, old, old.view(), new, new.view())) from None
    expect_centre(old, "base", local=True)
    log("%r caught up (had applied %d before the kill)" % (old, loaded))
    for k, tail in sorted(tails.items()):
        r = new.get("/v1/centres/tail-%d" % k)
        if isinstance(tail, Response) and tail.status == 503:
            check(r.status == 404, "a write answered 503 NO_LEADER was applied",
                  r)


def no_ack_lost(t):
    c = t.cluster(3)
    leader = c.leader()
    survivors = c.followers(leader)
    acked, unknown, errors = [], [], []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(node, w):
        for i in range(100000):
            if stop.is_set():
                return
            cid = "ack-%d-%04d" % (w, i)
            try:
                r = write_retry([node], "POST", "/v1/centres", centre_body(cid),
                                "key-" + cid, timeout=15.0)
            except TestFailure as e:
                with lock:
                    unknown.append(cid)
                    errors.append(str(e))
                continue
            with lock:
                if r.status == 201:
                    acked.append((cid, time.monotonic()))
                else:
                    errors.append(repr(r))

    threads = [threading.Thread(target=writer, args=(n, k), daemon=True)
               for k, n in enumerate(survivors)]
    for th in threads:
        th.start()
    try:
        wait_until(lambda: len(acked) >= 40 or errors, "40 acknowledged writes",
                   20.0)
        check(not errors, "writes failed before the kill", *errors[:3])
        before = len(acked)
        leader.kill9()
        wait_until(lambda: len(acked) >= before + 40 or len(errors) > 5,
                   "40 writes acknowledged after the kill", 25.0)
    finally:
        stop.set()
        for th in threads:
            th.join(30)
    check(not errors, "%d writes failed" % len(errors), *errors[:5])
    times = sorted(ts for _, ts in acked)
    gap = max(b - a for a, b in zip(times, times[1:])) if len(times) > 1 else 0
    log("%d acknowledged (%d before the kill), longest gap between two acks"
        " %.2fs, %d with unknown outcome" % (len(acked), before, gap, len(unknown)))
    want = {cid for cid, _ in acked}
    for n in survivors:
        missing = want - set(list_centres(n, no_leader_window=2.0))
        check(not missing, "%d acknowledged writes missing on %r: %s"
              % (len(missing), n, sorted(missing)[:5]))
    c.restart(leader)
    wait_until(lambda: not (want - set(list_centres(leader, local=True))),
               "the restarted node to hold every acknowledged write", 20.0, 0.2)


if __name__ == "__main__":
    sys.exit(main({
        "bootstrap": bootstrap,
        "follower_write": follower_write,
        "leader_kill": leader_kill,
        "join_snapshot": join_snapshot,
        "member_remove": member_remove,
        "leader_transfer": leader_transfer,
        "restart_all": restart_all,
        "minority": minority,
        "no_ack_lost": no_ack_lost,
        "uncommitted_tail": uncommitted_tail,
        "outcome_unknown": outcome_unknown,
    }))
