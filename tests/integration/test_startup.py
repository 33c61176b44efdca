#!/usr/bin/env python3
"""tests/integration/test_startup.py: amkd's process contract (API.md
"Command line"): errors at start print one clear line, exit non-zero and
change nothing in the data dir; SIGTERM exits 0.

Run one test: python3 test_startup.py --amkd build/amkd port_in_use
"""

import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster  # noqa: E402
from cluster import check, fingerprint, log, main, run_once  # noqa: E402

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


def error_lines(stderr):
    """stderr lines that are not timestamped log lines (the INSECURE
    warning is one of those)."""
    return [l for l in stderr.splitlines() if l.strip() and not LOG_LINE.match(l)]


def expect_start_error(argv, data_dir, mention, what):
    before = fingerprint(data_dir) if os.path.isdir(data_dir) else None
    t0 = time.monotonic()
    rc, out, err = run_once(argv, timeout=15)
    took = time.monotonic() - t0
    log("%s: exit %d in %.2fs: %s" % (what, rc, took, error_lines(err)))
    check(rc != 0, "%s: exit code is 0" % what, err)
    lines = error_lines(err)
    check(len(lines) == 1, "%s: %d error lines, want one clear line" % (what, len(lines)),
          err)
    check(lines[0].startswith("amkd: "), "%s: the line starts with 'amkd: '" % what,
          lines[0])
    for m in mention if isinstance(mention, (list, tuple)) else [mention]:
        check(m in lines[0], "%s: the line names %r" % (what, m), lines[0])
    after = fingerprint(data_dir) if os.path.isdir(data_dir) else None
    check(before == after, "%s: the data dir changed" % what,
          "before: %s" % before, "after:  %s" % after)
    return lines[0]


def seeded_data_dir(t):
    """A one-node cluster with some data, stopped cleanly: (cluster, node)."""
    c = t.cluster(1)
    n = c[1]
    r = n.write("POST", "/v1/centres", {"id": "seed", "name": "Seed",
                                         "region": "vest", "auto_takeover": False},
                "key-seed")
    check(r.status == 201, "seed write", r)
    rc = n.stop()
    check(rc == 0, "SIGTERM exit code %d" % rc)
    return c, n


def hold(address):
    host, port = address.rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, int(port)))
    s.listen(1)
    return s


def port_in_use(t):
    c, n = seeded_data_dir(t)
    argv = n.argv(peers=c.peers)
    for which in ("http", "raft"):
        address = n.http_addr if which == "http" else n.raft
        s = hold(address)
        try:
            expect_start_error(argv, n.data_dir, [address.rsplit(":", 1)[1]],
                               "%s port in use, existing data" % which)
        finally:
            s.close()
    # A new, empty data dir stays empty.
    empty = os.path.join(c.dir, "empty")
    os.mkdir(empty)
    argv_empty = [a if a != n.data_dir else empty for a in argv]
    for which in ("http", "raft"):
        address = n.http_addr if which == "http" else n.raft
        s = hold(address)
        try:
            expect_start_error(argv_empty, empty, [address.rsplit(":", 1)[1]],
                               "%s port in use, empty data dir" % which)
        finally:
            s.close()
    check(os.listdir(empty) == [], "empty data dir", os.listdir(empty))
    # The data dir still works.
    c.restart(n)
    c.wait_ready([n])
    r = n.get("/v1/centres/seed")
    check(r.status == 200, "data after the failed starts", r)


def bad_flag(t):
    c, n = seeded_data_dir(t)
    base = n.argv(peers=c.peers)
    cases = [
        ([cluster.AMKD, "--bogus"], "--bogus", "unknown flag"),
        (base + ["--bogus", "1"], "--bogus", "unknown flag after good ones"),
        (base + ["--id", "abc"], "--id", "non-numeric id"),
        (base + ["--heartbeat-ms"], "--heartbeat-ms", "flag without its value"),
        (base + ["--peers", "one@127.0.0.1:1"], "--peers", "malformed peers"),
        (base + ["--log-level", "loud"], "--log-level", "unknown log level"),
        (base + ["--raft", "not-an-address"], "raft", "bad raft address"),
        (base + ["--heartbeat-ms", "200", "--election-ms", "300"], "election",
         "election timeout below twice the heartbeat"),
        ([a for a in base if a != "--insecure"], "--insecure",
         "neither --tls-dir nor --insecure"),
        (base + ["stray"], "stray", "stray argument"),
        (base + ["--access-log", "/nonexistent/dir/access.log"],
         "--access-log", "access log in a missing directory"),
        (base + ["--access-log", n.data_dir], ["--access-log",
                                               "not a regular file"],
         "access log that is a directory"),
    ]
    for argv, mention, what in cases:
        expect_start_error(argv, n.data_dir, mention, what)
    rc, out, err = run_once([cluster.AMKD, "--help"])
    check(rc == 0 and "--data-dir" in out, "--help", out, err)


def sigterm(t):
    # One node alone: SIGTERM exits 0.
    c1 = t.cluster(1, tag="-single")
    t0 = time.monotonic()
    rc = c1[1].stop(timeout=10)
    check(rc == 0, "single node: exit code %d after SIGTERM" % rc)
    log("single node stopped in %.2fs" % (time.monotonic() - t0))
    # In a cluster: the leader hands over and exits 0; a follower exits 0.
    c = t.cluster(3)
    leader = c.leader()
    r = leader.write("POST", "/v1/centres", {"id": "x", "name": "X",
                                              "region": "vest",
                                              "auto_takeover": False}, "key-x")
    check(r.status == 201, "write", r)
    t0 = time.monotonic()
    rc = leader.stop(timeout=15)
    took = time.monotonic() - t0
    check(rc == 0, "leader: exit code %d after SIGTERM" % rc)
    log("leader stopped in %.2fs" % took)
    new = c.leader(timeout=10)
    check(new is not leader, "a new leader")
    follower = c.followers(new)[0]
    rc = follower.stop(timeout=15)
    check(rc == 0, "follower: exit code %d after SIGTERM" % rc)
    # The last node, without a majority, still exits 0 and promptly.
    t0 = time.monotonic()
    rc = new.stop(timeout=15)
    check(rc == 0, "last node: exit code %d after SIGTERM" % rc)
    log("last node stopped in %.2fs" % (time.monotonic() - t0))


if __name__ == "__main__":
    sys.exit(main({
        "port_in_use": port_in_use,
        "bad_flag": bad_flag,
        "sigterm": sigterm,
    }))
