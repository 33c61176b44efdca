"""tests/integration/cluster.py: multi-process test harness: starts real amkd
processes on 127.0.0.1, talks HTTP to them with bounded timeouts and bounded
retries, and always kills, by PID, every process it started.

Python 3 standard library only. A test module defines functions taking a
`Test` and calls `main({"name": fn, ...})`; ctest runs one name per entry:

    python3 test_raft.py --amkd build/amkd bootstrap

Ports: every cluster gets a block of ports derived from the test name and the
pid (so concurrent ctest runs differ), below the ephemeral range, probed free
before use. Node i uses base+3(i-1) for raft, +1 HTTP, +2 binary.

Cleanup is layered: try/finally in the runner, atexit, signal handlers, a
watchdog thread that kills everything when the per-test time is up, and (when
util-linux setpriv is present) PR_SET_PDEATHSIG so a node dies with the
harness even if the harness itself is SIGKILLed.
"""

import argparse
import atexit
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import zlib

AMKD = None  # path of the amkd binary, set by main()

PORT_LOW = 10000  # below the Linux ephemeral range (32768-60999)
PORT_SLOTS = 1100
SLOT_WIDTH = 20  # ports per cluster: 6 nodes x 3 listeners, + spare
LOG_TAIL_LINES = 60
SANITIZER_PATTERNS = ("AddressSanitizer", "LeakSanitizer", "runtime error:",
                      "FATAL")

_started = {}  # pid -> subprocess.Popen: every process started, not reaped
_started_lock = threading.Lock()
_clusters = []  # every Cluster made, for log dumps and cleanup
_setpriv = shutil.which("setpriv")
responses = []  # every Response received, in order (contract checks)


class TestFailure(AssertionError):
    pass


class Unreachable(Exception):
    """No HTTP answer: connection refused/reset, timeout, bad response."""


def log(msg):
    sys.stdout.write("[%7.3f] %s\n" % (time.monotonic() - _t0, msg))
    sys.stdout.flush()


_t0 = time.monotonic()


def check(cond, msg, *details):
    if not cond:
        raise TestFailure(msg + "".join("\n    " + str(d) for d in details))


# --- processes -------------------------------------------------------------


def spawn(argv, log_path):
    """Starts argv with stdout and stderr appended to log_path. Only the
    main thread starts processes (PDEATHSIG is per forking thread)."""
    assert threading.current_thread() is threading.main_thread()
    with open(log_path, "ab") as f:
        f.write(("=== %s start: %s\n" % (time.strftime("%H:%M:%S"),
                                        " ".join(argv))).encode())
        f.flush()
        full = argv
        if _setpriv is not None:
            full = [_setpriv, "--pdeathsig", "KILL", "--"] + argv
        proc = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=f,
                                stderr=subprocess.STDOUT, close_fds=True)
    with _started_lock:
        _started[proc.pid] = proc
    return proc


def reap(proc, timeout):
    """Waits up to timeout for proc; returns its exit code or None."""
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    with _started_lock:
        _started.pop(proc.pid, None)
    return rc


def kill_all_started():
    """SIGKILLs, by PID, every process this harness started and reaps it."""
    with _started_lock:
        procs = list(_started.values())
    for proc in procs:
        if proc.poll() is None:
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for proc in procs:
        reap(proc, 5)


atexit.register(kill_all_started)


def run_once(argv, timeout=10):
    """Runs a short-lived amkd (start-up error tests): (rc, stdout, stderr).
    Tracked like every other process so it is killed on any exit path."""
    assert threading.current_thread() is threading.main_thread()
    full = argv
    if _setpriv is not None:
        full = [_setpriv, "--pdeathsig", "KILL", "--"] + argv
    proc = subprocess.Popen(full, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with _started_lock:
        _started[proc.pid] = proc
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise TestFailure("%s did not exit within %ss (killed)\nstderr: %s"
                          % (" ".join(argv), timeout, err.decode(errors="replace")))
    finally:
        with _started_lock:
            _started.pop(proc.pid, None)
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


# --- ports -----------------------------------------------------------------


def _port_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # libuv binds with SO_REUSEADDR, so TIME_WAIT leftovers do not count.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


_slots_taken = set()


def pick_ports(name):
    """A base port whose SLOT_WIDTH ports are free now, derived from the
    test name and pid; bounded number of probes."""
    h = zlib.crc32(("%s:%d" % (name, os.getpid())).encode())
    for attempt in range(64):
        slot = (h + attempt * 7919) % PORT_SLOTS
        if slot in _slots_taken:
            continue
        base = PORT_LOW + slot * SLOT_WIDTH
        if all(_port_free(p) for p in range(base, base + SLOT_WIDTH)):
            _slots_taken.add(slot)
            return base
    raise TestFailure("no free block of %d ports found" % SLOT_WIDTH)


# --- HTTP ------------------------------------------------------------------


class Response:
    def __init__(self, node, method, path, status, headers, body):
        self.node = node
        self.method = method
        self.path = path
        self.status = status
        self.headers = headers  # lower-case name -> value
        self.body = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def header(self, name):
        return self.headers.get(name.lower())

    @property
    def index(self):
        v = self.header("x-amk-index")
        try:
            return int(v)
        except (TypeError, ValueError):
            return None

    @property
    def error_code(self):
        if isinstance(self.json, dict) and isinstance(self.json.get("error"), dict):
            return self.json["error"].get("code")
        return None

    def __repr__(self):
        body = self.body.decode(errors="replace")
        if len(body) > 600:
            body = body[:600] + "..."
        hdrs = ", ".join("%s: %s" % kv for kv in sorted(self.headers.items())
                         if kv[0] not in ("date", "server", "connection"))
        return "%s %s on %s -> %d [%s] %s" % (self.method, self.path, self.node,
                                              self.status, hdrs, body)


def request(address, method, path, body=None, headers=None, timeout=5.0,
            label=None):
    """One HTTP/1.1 request on a fresh connection; raises Unreachable when no
    complete answer arrives within timeout."""
    host, port = address.rsplit(":", 1)
    data = None
    hdrs = dict(headers or {})
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request(method, path, body=data, headers=hdrs)
        r = conn.getresponse()
        payload = r.read()
        resp = Response(label or address, method, path, r.status,
                        {k.lower(): v for k, v in r.getheaders()}, payload)
        if len(responses) < 100000:
            responses.append(resp)
        return resp
    except (OSError, http.client.HTTPException) as e:
        raise Unreachable("%s %s on %s: %s: %s" % (method, path, label or address,
                                                   type(e).__name__, e)) from None
    finally:
        conn.close()


def wait_until(pred, what, timeout=10.0, interval=0.05):
    """Calls pred() until it returns a truthy value (returned); Unreachable
    counts as falsy. Bounded by time and by count."""
    deadline = time.monotonic() + timeout
    last = None
    for _ in range(int(timeout / interval) + 10):
        try:
            v = pred()
            if v:
                return v
            last = v
        except Unreachable as e:
            last = e
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise TestFailure("timed out after %.1fs waiting for %s (last: %r)"
                      % (timeout, what, last))


# --- nodes -----------------------------------------------------------------


class Node:
    def __init__(self, cluster, node_id):
        self.cluster = cluster
        self.id = node_id
        base = cluster.base + 3 * (node_id - 1)
        self.raft = "127.0.0.1:%d" % base
        self.http_addr = "127.0.0.1:%d" % (base + 1)
        self.binary = "127.0.0.1:%d" % (base + 2)
        self.data_dir = os.path.join(cluster.dir, "n%d" % node_id)
        self.log_path = os.path.join(cluster.dir, "logs", "n%d.log" % node_id)
        self.proc = None
        self.extra = []
        self.starts = 0

    def __repr__(self):
        return "n%d" % self.id

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def argv(self, peers=None, join=None):
        a = [AMKD, "--id", str(self.id), "--data-dir", self.data_dir,
             "--raft", self.raft, "--http", self.http_addr,
             "--binary", self.binary, "--insecure"]
        if peers:
            a += ["--peers", peers]
        if join:
            a += ["--join", join]
        return a + list(self.cluster.extra) + list(self.extra)

    def start(self, peers=None, join=None):
        check(not self.alive(), "%r already running" % self)
        self.proc = spawn(self.argv(peers, join), self.log_path)
        self.starts += 1
        log("started %r pid %d (http %s)" % (self, self.proc.pid, self.http_addr))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig=signal.SIGKILL):
        """Sends sig to this node's PID (no waiting)."""
        check(self.alive(), "%r is not running" % self)
        os.kill(self.proc.pid, sig)
        log("sent %s to %r pid %d" % (signal.Signals(sig).name, self, self.proc.pid))

    def kill9(self):
        self.kill(signal.SIGKILL)
        reap(self.proc, 5)

    def wait_exit(self, timeout):
        """Exit code, or None when still running after timeout."""
        return reap(self.proc, timeout)

    def stop(self, timeout=15):
        """SIGTERM and wait; returns the exit code (SIGKILL + failure when
        it does not exit in time)."""
        self.kill(signal.SIGTERM)
        rc = self.wait_exit(timeout)
        if rc is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            reap(self.proc, 5)
            raise TestFailure("%r did not exit within %ss of SIGTERM" % (self, timeout))
        log("%r exited %d" % (self, rc))
        return rc

    # HTTP
    def http(self, method, path, body=None, headers=None, timeout=5.0):
        return request(self.http_addr, method, path, body, headers, timeout,
                       label=repr(self))

    def get(self, path, **kw):
        return self.http("GET", path, **kw)

    def view(self):
        r = self.get("/v1/cluster", timeout=2.0)
        check(r.status == 200, "GET /v1/cluster", r)
        return r.json

    def ready(self):
        try:
            return self.get("/readyz", timeout=2.0).status == 200
        except Unreachable:
            return False

    def write(self, method, path, body, key, session=None, headers=None,
              timeout=20.0):
        """A write with an Idempotency-Key, retried with the same key on
        503/504/no answer (bounded). Returns the final Response."""
        return write_retry([self], method, path, body, key, session, headers,
                           timeout)

    def admin(self, method, path, body=None, timeout=10.0, retry_for=5.0):
        """An admin request from this node's point of view: follows 307/308
        redirects (to the leader) within the cluster, at most 3 hops, and
        retries 503 NO_LEADER for at most retry_for seconds."""
        deadline = time.monotonic() + retry_for
        for _ in range(200):
            node = self
            for _hop in range(4):
                r = node.http(method, path, body, timeout=timeout)
                if r.status not in (307, 308):
                    break
                loc = r.header("location") or ""
                target = [n for n in self.cluster.nodes.values()
                          if loc.startswith("http://%s/" % n.http_addr)]
                check(target, "redirect to an unknown address", r)
                log("%s %s on %r: %d to %r" % (method, path, node, r.status,
                                               target[0]))
                node = target[0]
            if r.status != 503 or time.monotonic() >= deadline:
                return r
            time.sleep(0.1)
        return r

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""


def write_retry(nodes, method, path, body, key, session=None, headers=None,
                timeout=20.0):
    """Sends the write to nodes in turn until an answer other than 503/504
    arrives, always with the same Idempotency-Key. Bounded by time and count.
    Returns the final Response; raises TestFailure when time runs out."""
    hdrs = {"Idempotency-Key": key}
    if session:
        hdrs["X-Amk-Session"] = session
    hdrs.update(headers or {})
    deadline = time.monotonic() + timeout
    last = None
    for attempt in range(400):
        node = nodes[attempt % len(nodes)]
        try:
            r = node.http(method, path, body, hdrs, timeout=max(0.5, min(
                8.0, deadline - time.monotonic())))
            last = r
            if r.status not in (503, 504):
                return r
            pause = 0.1
        except Unreachable as e:
            last = e
            pause = 0.1
        if time.monotonic() + pause >= deadline:
            break
        time.sleep(pause)
    raise TestFailure("write %s %s (key %s) not answered within %.0fs; last: %r"
                      % (method, path, key, timeout, last))


# --- clusters --------------------------------------------------------------


class Cluster:
    def __init__(self, test, name, n=3, extra=()):
        self.test = test
        self.name = name
        self.base = pick_ports(name)
        self.dir = make_tmpdir(name)
        os.makedirs(os.path.join(self.dir, "logs"))
        self.extra = list(extra)
        self.nodes = {i: Node(self, i) for i in range(1, n + 1)}
        self.initial = n
        _clusters.append(self)

    def __getitem__(self, node_id):
        return self.nodes[node_id]

    @property
    def peers(self):
        return ",".join("%d@%s" % (i, self.nodes[i].raft)
                        for i in range(1, self.initial + 1))

    def live(self):
        return [n for n in self.nodes.values() if n.alive()]

    def start(self, wait=True):
        for i in range(1, self.initial + 1):
            self.nodes[i].start(peers=self.peers)
        if wait:
            self.wait_ready()
        return self

    def restart(self, node):
        """Starts a stopped node again with the same flags (--peers is
        ignored once it has data)."""
        node.start(peers=self.peers if node.id <= self.initial else None)

    def add_node(self, node_id, join_via, extra=()):
        node = Node(self, node_id)
        node.extra = list(extra)
        self.nodes[node_id] = node
        node.start(join=join_via.http_addr)
        return node

    def wait_ready(self, nodes=None, timeout=20.0):
        nodes = nodes if nodes is not None else self.live()
        try:
            wait_until(lambda: all(n.ready() for n in nodes),
                       "/readyz 200 on %s" % nodes, timeout)
        except TestFailure as e:
            details = []
            for n in nodes:
                try:
                    v = n.view()
                    details.append("%r /readyz: %s; /v1/cluster: leader %s term %s"
                                   " commit %s applied %s" % (
                                       n, n.get("/readyz").body.decode()[:200],
                                       v.get("leader"), v.get("term"),
                                       v.get("commit_index"), v.get("applied_index")))
                except (Unreachable, TestFailure) as e2:
                    details.append("%r: %s" % (n, e2))
            raise TestFailure(str(e) + "".join("\n    " + d for d in details)) from None

    def leader(self, nodes=None, timeout=15.0):
        """The leader every node of `nodes` (default: the live ones) agrees
        on, itself live and reporting itself leader."""
        nodes = nodes if nodes is not None else self.live()

        def agreed():
            views = [n.view() for n in nodes]
            ids = {v.get("leader") for v in views}
            if len(ids) != 1:
                return None
            lid = ids.pop()
            node = self.nodes.get(lid)
            if node is None or not node.alive():
                return None
            v = node.view()
            if v.get("leader") != lid or v.get("self") != lid:
                return None
            return node

        return wait_until(agreed, "agreement on a live leader among %s" % nodes,
                          timeout, 0.05)

    def followers(self, leader):
        return [n for n in self.live() if n is not leader]

    def close(self):
        for node in self.nodes.values():
            if node.alive():
                try:
                    os.kill(node.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                reap(node.proc, 5)

    def dump_logs(self, lines=LOG_TAIL_LINES):
        for node in self.nodes.values():
            text = node.log_text().splitlines()
            sys.stdout.write("----- %s %r log (%s), last %d of %d lines -----\n"
                             % (self.name, node, node.log_path,
                                min(lines, len(text)), len(text)))
            for line in text[-lines:]:
                sys.stdout.write("    " + line + "\n")
        sys.stdout.flush()


# --- temp dirs ---------------------------------------------------------------

OWNER_FILE = ".amk-it-owner"  # the harness pid; marks a dir as ours


def make_tmpdir(name):
    d = tempfile.mkdtemp(prefix="amk-it-%s-" % name.replace("/", "_"))
    with open(os.path.join(d, OWNER_FILE), "w") as f:
        f.write("%d\n" % os.getpid())
    return d


def sweep_stale_tmpdirs(min_age=600):
    """Removes temp dirs left by a harness that was itself SIGKILLed (its
    nodes died with it through PDEATHSIG; its dirs could not): only dirs
    with our owner file, whose owner is gone, untouched for min_age s."""
    root = tempfile.gettempdir()
    for entry in os.listdir(root):
        d = os.path.join(root, entry)
        marker = os.path.join(d, OWNER_FILE)
        if not entry.startswith("amk-it-") or not os.path.isfile(marker):
            continue
        try:
            with open(marker) as f:
                pid = int(f.read().strip() or 0)
            if time.time() - os.path.getmtime(marker) < min_age:
                continue
            if pid > 0:
                try:
                    os.kill(pid, 0)
                    continue  # still running
                except ProcessLookupError:
                    pass
                except PermissionError:
                    continue
            shutil.rmtree(d, ignore_errors=True)
        except (OSError, ValueError):
            continue


# --- data directory fingerprint ------------------------------------------


def fingerprint(path):
    """Every entry under path with its size, mtime and content hash."""
    out = {}
    for root, dirs, files in os.walk(path):
        for d in dirs:
            p = os.path.join(root, d)
            out[os.path.relpath(p, path) + "/"] = "dir"
        for f in files:
            p = os.path.join(root, f)
            st = os.lstat(p)
            with open(p, "rb") as fh:
                digest = hashlib.sha256(fh.read()).hexdigest()[:16]
            out[os.path.relpath(p, path)] = (st.st_size, st.st_mtime_ns, digest)
    return out


# --- runner ----------------------------------------------------------------


class Test:
    def __init__(self, name):
        self.name = name
        self.clusters = []
        self.failures = []  # soft failures: the test goes on, then fails

    def soft_check(self, cond, msg, *details):
        """Like check(), but records the failure and lets the test go on to
        check what it can; the test fails at the end."""
        try:
            check(cond, msg, *details)
        except TestFailure as e:
            log("FAILED CHECK (test continues): %s" % e)
            self.failures.append(str(e))

    def cluster(self, n=3, extra=(), start=True, tag=""):
        c = Cluster(self, self.name + tag, n, extra)
        self.clusters.append(c)
        if start:
            c.start()
        return c

    def scan_logs(self):
        """Sanitizer reports and fatal errors in any node's log fail the
        test, even when no request noticed them."""
        for c in self.clusters:
            for node in c.nodes.values():
                for line in node.log_text().splitlines():
                    if any(p in line for p in SANITIZER_PATTERNS):
                        self.failures.append("%s %r log: %s" % (c.name, node,
                                                                line.strip()))
                        break

    def tmpdir(self):
        d = make_tmpdir(self.name)
        self._tmp = getattr(self, "_tmp", []) + [d]
        return d


def _dump_all():
    for c in _clusters:
        try:
            c.dump_logs()
        except Exception as e:  # never let a dump hide the cleanup
            sys.stdout.write("(log dump failed: %s)\n" % e)


def _watchdog(name, seconds):
    def fire():
        sys.stdout.write("\nFAIL %s: hard timeout of %ss reached; killing every"
                         " process started\n" % (name, seconds))
        try:
            for line in traceback.format_stack(sys._current_frames()[
                    threading.main_thread().ident]):
                sys.stdout.write(line)
        except Exception:
            pass
        _dump_all()
        kill_all_started()
        sys.stdout.flush()
        os._exit(3)

    t = threading.Timer(seconds, fire)
    t.daemon = True
    t.start()
    return t


def _on_signal(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


def main(tests):
    global AMKD
    ap = argparse.ArgumentParser()
    ap.add_argument("--amkd", default=os.environ.get("AMK_AMKD"))
    ap.add_argument("--timeout", type=float,
                    default=float(os.environ.get("AMK_IT_TIMEOUT", "80")))
    ap.add_argument("names", nargs="*")
    args = ap.parse_args()
    if not args.amkd or not os.access(args.amkd, os.X_OK):
        sys.stderr.write("amkd binary not found: pass --amkd PATH or set AMK_AMKD\n")
        return 2
    AMKD = os.path.abspath(args.amkd)
    names = args.names or list(tests)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    sweep_stale_tmpdirs()
    failed = 0
    for name in names:
        if name not in tests:
            sys.stderr.write("unknown test %s (have: %s)\n" % (name, ", ".join(tests)))
            return 2
        t = Test(name)
        dog = _watchdog(name, args.timeout)
        start = time.monotonic()
        ok = False
        try:
            tests[name](t)
            t.scan_logs()
            check(not t.failures, "%d failed checks:\n  - %s"
                  % (len(t.failures), "\n  - ".join(t.failures)))
            ok = True
        except BaseException as e:
            sys.stdout.write("\nFAIL %s: %s: %s\n" % (name, type(e).__name__, e))
            traceback.print_exc(file=sys.stdout)
            _dump_all()
        finally:
            for c in t.clusters:
                c.close()
            kill_all_started()
            dog.cancel()
            keep = os.environ.get("AMK_IT_KEEP") == "1"
            for c in t.clusters:
                if keep:
                    sys.stdout.write("kept %s\n" % c.dir)
                else:
                    shutil.rmtree(c.dir, ignore_errors=True)
            for d in getattr(t, "_tmp", []):
                if not keep:
                    shutil.rmtree(d, ignore_errors=True)
        took = time.monotonic() - start
        sys.stdout.write("%s %s (%.1fs)\n" % ("PASS" if ok else "FAIL", name, took))
        sys.stdout.flush()
        failed += 0 if ok else 1
        _clusters.clear()
    return 1 if failed else 0
