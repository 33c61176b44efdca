"""tests/integration/test_amkctl.py: amkctl end to end against ONE real amkd
(--insecure, a single-voter cluster) and against small fake HTTP servers for
what one healthy node cannot show (retries with the same Idempotency-Key,
a 307 followed, chunked bodies, timeouts). Python 3 standard library only.

    python3 test_amkctl.py --amkd build/amkd --amkctl build/amkctl amkctl

Every process started is killed by PID at the end (finally, atexit, signals,
and a watchdog when --timeout runs out).
"""

import argparse
import atexit
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

AMKD = AMKCTL = None
_started = {}  # pid -> Popen
_lock = threading.Lock()
_t0 = time.monotonic()
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class TestFailure(AssertionError):
    pass


def log(msg):
    sys.stdout.write("[%7.3f] %s\n" % (time.monotonic() - _t0, msg))
    sys.stdout.flush()


def check(cond, msg, *details):
    if not cond:
        raise TestFailure(msg + "".join("\n    " + str(d) for d in details))


def kill_all():
    with _lock:
        procs = list(_started.items())
        _started.clear()
    for pid, proc in procs:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def spawn(argv, **kw):
    proc = subprocess.Popen(argv, **kw)
    with _lock:
        _started[proc.pid] = proc
    return proc


def reap(proc):
    """Kills one process we started, by its PID."""
    with _lock:
        _started.pop(proc.pid, None)
    try:
        os.kill(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=5)


# --- ports -----------------------------------------------------------------


def free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def port_base():
    """Three consecutive free ports from a base derived from the pid (so
    concurrent runs differ), in 5000-6999: below ops/run's 7001-9003 and
    apart from cluster.py's 10000-32000, so only strangers can collide, and
    those are probed for."""
    for attempt in range(200):
        slot = (os.getpid() + attempt * 131) % 660
        base = 5000 + slot * 3
        if all(free(base + i) for i in range(3)):
            return base
    raise TestFailure("no three free ports found")


# --- amkd and amkctl -------------------------------------------------------


class Node:
    def __init__(self, workdir):
        self.base = port_base()
        self.http = "127.0.0.1:%d" % (self.base + 1)
        self.endpoint = "http://" + self.http
        self.log_path = os.path.join(workdir, "amkd.log")
        raft = "127.0.0.1:%d" % self.base
        argv = [AMKD, "--id", "1", "--data-dir", os.path.join(workdir, "n1"),
                "--raft", raft, "--http", self.http,
                "--binary", "127.0.0.1:%d" % (self.base + 2),
                "--peers", "1@" + raft, "--insecure",
                "--centre", "oslo", "--region", "helse-sor-ost"]
        log("start: " + " ".join(argv))
        self.log = open(self.log_path, "ab")
        self.proc = spawn(argv, stdout=self.log, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL)

    def wait_ready(self, seconds=20):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            check(self.proc.poll() is None, "amkd exited: %s" % self.proc.returncode,
                  self.tail())
            try:
                with urllib.request.urlopen(self.endpoint + "/readyz", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise TestFailure("amkd not ready in %d s" % seconds, self.tail())

    def tail(self):
        try:
            with open(self.log_path, "rb") as f:
                return b"".join(f.readlines()[-40:]).decode(errors="replace")
        except OSError:
            return ""


class Ctl:
    def __init__(self, endpoint):
        self.endpoint = endpoint

    def run(self, *args, rc=0, endpoint=True, env=None, timeout=30):
        argv = [AMKCTL] + (["--endpoint", self.endpoint] if endpoint else []) + list(args)
        e = dict(os.environ)
        e.pop("AMK_ENDPOINT", None)
        e.pop("AMK_SESSION", None)
        e.update(env or {})
        proc = spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                     stdin=subprocess.DEVNULL, env=e)
        try:
            out, err = proc.communicate(timeout=timeout)
        finally:
            with _lock:
                _started.pop(proc.pid, None)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        out, err = out.decode(), err.decode()
        log("amkctl %s -> %d%s" % (" ".join(args), proc.returncode,
                                   (" | " + err.strip()) if err.strip() else ""))
        check(proc.returncode == rc,
              "amkctl %s: exit %d, expected %d" % (" ".join(args), proc.returncode, rc),
              "stdout: " + out, "stderr: " + err)
        if rc != 0:
            check(len(err.strip().splitlines()) == 1 and err.startswith("amkctl: "),
                  "an error is one line on stderr starting 'amkctl: '", err)
        return out, err

    def json(self, *args):
        out, _ = self.run("--json", *args)
        return json.loads(out)


# --- fake servers ------------------------------------------------------------


class Fake:
    """An HTTP/1.1 server on a free port whose answers a test scripts:
    handler(method, path, headers, body) -> (status, headers, body, chunked).
    Records every request."""

    def __init__(self, handler):
        fake = self
        self.requests = []

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def serve(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                fake.requests.append((self.command, self.path, dict(self.headers), body))
                status, headers, out, chunked = handler(self.command, self.path,
                                                        self.headers, body)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Connection", "close")
                if chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for i in range(0, len(out), 7):  # small, odd-sized chunks
                        part = out[i:i + 7]
                        self.wfile.write(b"%x;ext=1\r\n%s\r\n" % (len(part), part))
                    self.wfile.write(b"0\r\nX-Trailer: yes\r\n\r\n")
                else:
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                self.close_connection = True

            do_GET = do_POST = do_PATCH = do_DELETE = serve

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def err_body(code, message, **extra):
    e = {"code": code, "message": message}
    e.update(extra)
    return json.dumps({"error": e}).encode()


# --- the test ----------------------------------------------------------------


def test_fakes():
    """Retries, redirects, chunked bodies and timeouts, which one healthy
    node cannot produce on demand."""
    attempts = {"n": 0}

    def flaky(method, path, headers, body):
        if method == "POST" and path == "/v1/centres":
            attempts["n"] += 1
            if attempts["n"] <= 2:
                return 503, {"Retry-After": "0"}, err_body("NO_LEADER", "no leader"), False
            return 201, {}, body, False
        if method == "POST" and path == "/v1/resources":
            return 504, {}, err_body("TIMEOUT", "outcome unknown"), False
        if path == "/v1/centres/x":
            return 307, {"Location": fake.url + "/moved/v1/centres/x"}, b"", False
        if path == "/moved/v1/centres/x":
            return 200, {}, json.dumps({"id": "x", "name": "Chunked Ø",
                                        "backups": []}).encode(), True
        if path == "/v1/centres/loop":
            return 307, {"Location": "/v1/centres/loop"}, b"", False
        if path == "/v1/centres/html":
            return 502, {}, b"<html>bad gateway</html>", False
        return 404, {}, err_body("NOT_FOUND", "no such thing"), False

    fake = Fake(flaky)
    try:
        test_status_views(fake)
        ctl = Ctl(fake.url)
        # 503 twice, then 201: three requests, one key.
        out, _ = ctl.run("centre", "create", "x", "X", "helse-vest", "--backup", "a,b", "c")
        check("centre x created" in out, "created after retries", out)
        posts = [r for r in fake.requests if r[0] == "POST"]
        check(len(posts) == 3, "three attempts", posts)
        keys = {r[2].get("Idempotency-Key") for r in posts}
        check(len(keys) == 1 and UUID.match(keys.pop() or ""),
              "every attempt carries the same UUID Idempotency-Key", posts)
        sent = json.loads(posts[0][3])
        check(sent["backups"] == ["a", "b", "c"] and sent["auto_takeover"] is True,
              "--backup takes a list", sent)
        # A second write gets a fresh key.
        attempts["n"] = 10
        ctl.run("centre", "create", "y", "Y", "helse-vest")
        key2 = fake.requests[-1][2].get("Idempotency-Key")
        check(key2 not in {r[2].get("Idempotency-Key") for r in posts}, "fresh key per write")
        # 504 every time: bounded retries, then exit 1 naming the code.
        fake.requests.clear()
        _, err = ctl.run("--retries", "2", "resource", "register", "A", "ambulance", "5", "x", rc=1)
        check("504 TIMEOUT" in err and "3 attempts" in err, "504 reported after 3 attempts", err)
        check(len(fake.requests) == 3, "three 504s", fake.requests)
        check(len({r[2].get("Idempotency-Key") for r in fake.requests}) == 1,
              "504 retried with the same key")
        # Reads carry no key. A 307 is followed once, to a chunked answer.
        fake.requests.clear()
        got = ctl.json("centre", "get", "x")
        check(got == {"id": "x", "name": "Chunked Ø", "backups": []}, "chunked body", got)
        check([r[1] for r in fake.requests] == ["/v1/centres/x", "/moved/v1/centres/x"],
              "redirect followed", fake.requests)
        check("Idempotency-Key" not in fake.requests[0][2], "no key on reads")
        _, err = ctl.run("centre", "get", "loop", rc=3)
        check("redirected again" in err, "a second redirect is not followed", err)
        _, err = ctl.run("centre", "get", "html", rc=1)
        check("HTTP 502" in err, "a non-API error is named by its status", err)
    finally:
        fake.close()

    # A server that accepts connections and never answers: --timeout.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        url = "http://127.0.0.1:%d" % s.getsockname()[1]
        t = time.monotonic()
        _, err = Ctl(url).run("--timeout", "0.5", "status", rc=3)
        check("timed out after 0.5 s" in err and url in err, "timeout named", err)
        check(time.monotonic() - t < 5, "the timeout is honoured")


def test_status_views(first):
    """status asks every member with an HTTP address for its own view."""

    def cluster(self_id, state, term, commit, members):
        return json.dumps({"leader": 1, "term": term, "commit_index": commit,
                           "applied_index": commit, "self": self_id,
                           "state": state, "takeover_after_ms": 10000,
                           "members": members}).encode()

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = "127.0.0.1:%d" % s.getsockname()[1]
        second = Fake(lambda m, p, h, b: (200, {}, cluster(2, "follower", 7, 41, []), False))
        try:
            members = [
                {"id": 1, "address": "127.0.0.1:1", "http": first.url[7:], "role": "voter",
                 "centre": "oslo", "region": None, "reachable": True},
                {"id": 2, "address": "127.0.0.1:2", "http": second.url, "role": "voter",
                 "centre": None, "region": None, "reachable": True},
                {"id": 3, "address": "127.0.0.1:3", "http": dead, "role": "standby",
                 "centre": None, "region": None, "reachable": False},
                {"id": 4, "address": "127.0.0.1:4", "role": "spare",
                 "centre": None, "region": None, "reachable": None},
            ]
            view = Fake(lambda m, p, h, b: (200, {}, cluster(1, "leader", 7, 42, members), False))
            try:
                out, _ = Ctl(view.url).run("status")
                rows = {line.split()[0]: line.split() for line in out.splitlines()[2:6]}
                check(rows["1*"][3:8] == ["leader", "7", "42", "42", "yes"], "own view", out)
                check(rows["2"][3:8] == ["follower", "7", "41", "41", "yes"], "member's view", out)
                check(rows["3"][3:8] == ["-", "-", "-", "-", "no"], "dead member", out)
                check(rows["4"][2:8] == ["spare", "-", "-", "-", "-", "-"], "no http address", out)
                check("node 3: cannot reach http://%s: connection refused" % dead in out,
                      "why a member is unreachable", out)
                got = Ctl(view.url).json("status")
                check(got["members"][1]["view"]["state"] == "follower" and
                      "error" in got["members"][2]["view"] and
                      "view" not in got["members"][3], "status --json adds views", got)
            finally:
                view.close()
        finally:
            second.close()


def test_node(node):
    ctl = Ctl(node.endpoint)

    # status: a table for people, JSON for scripts, AMK_ENDPOINT honoured.
    out, _ = ctl.run("status")
    check("leader 1" in out and re.search(r"^1\*\s+127\.0\.0\.1:\d+\s+voter\s+leader", out, re.M),
          "status table marks the leader", out)
    out, _ = ctl.run("status", endpoint=False, env={"AMK_ENDPOINT": node.endpoint})
    check("leader 1" in out, "AMK_ENDPOINT is the default endpoint", out)
    st = ctl.json("status")
    check(st["leader"] == 1 and st["members"][0]["id"] == 1, "status --json", st)

    # centres
    out, _ = ctl.run("centre", "create", "oslo", "AMK Oslo", "helse-sor-ost",
                     "--backup", "bergen", "stavanger")
    check("centre oslo created" in out, "create", out)
    ctl.run("centre", "create", "bergen", "AMK Bergen", "helse-vest", "--backup", "forde")
    _, err = ctl.run("centre", "create", "oslo", "AMK Oslo", "helse-sor-ost", rc=1)
    check("409 CONFLICT" in err, "duplicate centre", err)
    out, _ = ctl.run("centre", "list")
    check(re.search(r"^oslo\s+AMK Oslo\s+helse-sor-ost\s+normal\s+1\s+oslo\s+bergen,stavanger$",
                    out, re.M), "centre list row", out)
    got = ctl.json("centre", "list")
    check([c["id"] for c in got["items"]] == ["bergen", "oslo"], "list --json", got)
    got = ctl.json("centre", "get", "oslo")
    check(got["backups"] == ["bergen", "stavanger"] and got["epoch"] == 1, "get --json", got)
    _, err = ctl.run("centre", "get", "nope", rc=1)
    check("404 NOT_FOUND" in err, "unknown centre", err)

    # session and resources
    session, _ = ctl.run("session", "open", "oslo", "console-1", "kari")
    session = session.strip()
    check(UUID.match(session), "session open prints the id alone", session)
    out, _ = ctl.run("resource", "register", "OSL-A1", "ambulance", "2001001", "oslo")
    check("resource OSL-A1 registered" in out, "register", out)
    ctl.run("resource", "register", "OSL-L1", "helicopter", "2001002", "oslo")

    # incidents
    inc, _ = ctl.run("incident", "create", "--session", session, "--urgency", "acute",
                     "--criterion", "10.01", "--lat", "59.9139", "--lon", "10.7522",
                     "--address", "Karl Johans gate 1", "--municipality", "0301",
                     "--note", "brystsmerter")
    inc = inc.strip()
    check(UUID.match(inc), "incident create prints the id", inc)
    got = ctl.json("incident", "get", inc)
    check(got["owner"] == "oslo" and got["status"] == "new" and
          got["notes"][0]["text"] == "brystsmerter", "incident as created", got)
    # update merges a partial location over the current one
    ctl.run("incident", "update", inc, "--session", session, "--address", "Karl Johans gate 2")
    got = ctl.json("incident", "get", inc)
    loc = got["location"]
    check(loc["address"] == "Karl Johans gate 2" and abs(loc["lat"] - 59.9139) < 1e-9 and
          loc["municipality"] == "0301", "partial location update keeps the rest", loc)
    out, _ = ctl.run("incident", "assign", inc, "OSL-A1", "--session", session)
    check("dispatched" in out, "assign dispatches", out)
    out, _ = ctl.run("resource", "status", "OSL-A1", "en_route", "1", "--session", session)
    check("en_route (seq 1)" in out, "status applied", out)
    out, _ = ctl.run("resource", "status", "OSL-A1", "on_scene", "1", "--session", session)
    check("not applied" in out, "a stale seq is not applied", out)
    out, _ = ctl.run("incident", "list")
    check(inc in out and "OSL-A1" in out, "incident list", out)
    got = ctl.json("incident", "list", "--urgency", "normal")
    check(got["items"] == [], "urgency filter", got)
    got = ctl.json("resource", "list", "--status", "en_route")
    check([r["id"] for r in got["items"]] == ["OSL-A1"], "resource filter", got)
    out, _ = ctl.run("incident", "get", inc)
    check("Karl Johans gate 2" in out and "OSL-A1 en_route" in out, "incident view", out)

    # takeover fences the old session; handback; a new session may close.
    out, _ = ctl.run("centre", "takeover", "oslo", "--by", "bergen", "--reason", "drill")
    check("controlled by bergen (epoch 2)" in out, "takeover", out)
    _, err = ctl.run("incident", "note", inc, "late note", "--session", session, rc=1)
    check(re.search(r"^amkctl: 409 STALE_EPOCH: .*\(owner bergen, epoch \d+\)$", err.strip()),
          "stale session names owner and epoch", err)
    out, _ = ctl.run("centre", "handback", "oslo")
    check("controls itself again (epoch 3)" in out, "handback", out)
    session2 = ctl.run("session", "open", "oslo", "console-1", "kari")[0].strip()
    ctl.run("incident", "note", inc, "pasient våken", env={"AMK_SESSION": session2})
    out, _ = ctl.run("incident", "close", inc, "transported", "--session", session2)
    check("closed" in out, "close", out)
    check(ctl.json("incident", "list")["items"] == [], "closed incidents are not listed")
    got = ctl.json("incident", "list", "--status", "all")
    check([i["id"] for i in got["items"]] == [inc], "--status all", got)

    # watch: one line per event from --since, until killed.
    argv = [AMKCTL, "--endpoint", node.endpoint, "watch", "--since", "0"]
    proc = spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                 stdin=subprocess.DEVNULL)
    time.sleep(1.5)
    ctl.run("resource", "register", "OSL-B1", "ambulance_boat", "2001003", "oslo")
    time.sleep(1.2)
    reap(proc)
    lines = proc.stdout.read().decode().splitlines()
    proc.stdout.close()
    proc.stderr.close()
    indexes = [int(line.split()[0]) for line in lines]
    check(indexes == sorted(indexes) and len(set(indexes)) == len(indexes),
          "events in index order, once each", lines)
    check(any("incident.created" in l and "incident:" + inc in l for l in lines),
          "watch shows the incident", lines)
    check("resource:OSL-B1" in lines[-1], "watch follows new events", lines)

    # errors: unreachable (3) and usage (2)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = "http://127.0.0.1:%d" % s.getsockname()[1]  # bound, not listening
        _, err = Ctl(dead).run("status", rc=3)
        check(err.strip() == "amkctl: cannot reach %s: connection refused" % dead,
              "unreachable message", err)
        _, err = Ctl(dead).run("--retries", "1", "centre", "create", "a", "A", "helse-vest", rc=3)
        check("(2 attempts)" in err, "writes retry connection errors", err)
    _, err = ctl.run("incident", "create", "--urgency", "acute", rc=2)
    check("--session is required" in err, "missing session", err)
    _, err = ctl.run("resource", "register", "X", "spaceship", "1", "oslo", rc=2)
    check("ambulance|" in err, "enum choices listed", err)
    ctl.run("frobnicate", rc=2)
    ctl.run("--timeout", "soon", "status", rc=2)
    _, err = ctl.run("status", endpoint=False, env={"AMK_ENDPOINT": "https://x:1"}, rc=2)
    check("AMK_ENDPOINT" in err and "https" in err, "bad endpoint named", err)
    out, _ = ctl.run("--help")
    check("usage: amkctl" in out, "--help")


def main():
    global AMKD, AMKCTL
    ap = argparse.ArgumentParser()
    ap.add_argument("--amkd", required=True)
    ap.add_argument("--amkctl", required=True)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("name", nargs="?", default="amkctl")
    args = ap.parse_args()
    AMKD, AMKCTL = os.path.abspath(args.amkd), os.path.abspath(args.amkctl)

    atexit.register(kill_all)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda s, f: (kill_all(), os._exit(128 + s)))

    def watchdog():
        log("TIMEOUT after %g s: killing everything" % args.timeout)
        kill_all()
        os._exit(1)

    timer = threading.Timer(args.timeout, watchdog)
    timer.daemon = True
    timer.start()

    workdir = tempfile.mkdtemp(prefix="amkctl-it-")
    node = None
    ok = False
    try:
        test_fakes()
        node = Node(workdir)
        node.wait_ready()
        test_node(node)
        ok = True
    except TestFailure as e:
        log("FAIL: %s" % e)
        if node is not None:
            log("amkd log tail:\n" + node.tail())
    finally:
        timer.cancel()
        if node is not None:
            reap(node.proc)
            node.log.close()
        kill_all()
        if ok:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log("kept " + workdir)
    log("PASS" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
