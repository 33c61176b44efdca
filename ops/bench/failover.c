/* ops/bench/failover.c: `amk-bench failover`: starts a local 3-node cluster
 * of amkd with default timeouts, then per trial kills the leader with
 * SIGKILL and measures the time from the kill to the first acknowledged write
 * through a surviving node; restarts the killed node and waits until it has
 * caught up. At the end every acknowledged write must be readable. Every
 * process it starts is killed by PID on every exit path. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "bench.h"
#include "http_client.h"

#define NODES          3
#define MAX_TRIALS     1000
#define MAX_ACKS       100000
#define RETRY_PAUSE_MS 10

struct fnode {
    unsigned id;
    char raft[32], http[32], binary[32];
    char data_dir[600], log_path[600];
    pid_t pid; /* 0: not running */
};

struct failover {
    char amkd[1024];
    char dir[512];
    unsigned base_port;
    unsigned trials;
    unsigned http_timeout_ms;
    bool any_survivor; /* --via any: write through whichever survivor takes */
    bool keep;
    struct fnode nodes[NODES];
    char peers[256];
    char (*acked)[48];
    unsigned n_acked;
    unsigned seq;
    char last_body[300]; /* of the last write's answer, for error messages */
};

/* The processes started, for the signal and exit handlers. */
static volatile pid_t started_pids[NODES];

static void kill_started(void)
{
    for (unsigned i = 0; i < NODES; i++) {
        pid_t pid = started_pids[i];
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            started_pids[i] = 0;
        }
    }
}

static void on_fatal_signal(int signum)
{
    for (unsigned i = 0; i < NODES; i++) {
        if (started_pids[i] > 0) {
            kill(started_pids[i], SIGKILL); /* async-signal-safe */
        }
    }
    signal(signum, SIG_DFL);
    raise(signum);
}

static double ms_since(uint64_t start_ns)
{
    return (double)(bench_now_ns() - start_ns) / 1e6;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* GET path as JSON (status 200 only); NULL otherwise. */
static json_t *get_json(struct failover *f, const struct fnode *node,
                        const char *path)
{
    struct http_client_response r = http_client_request(
        node->http, "GET", path, NULL, NULL, f->http_timeout_ms);
    json_t *out = NULL;
    if (r.status == 200 && r.body != NULL) {
        out = json_loads(r.body, 0, NULL);
    }
    http_client_response_clear(&r);
    return out;
}

/* --- processes --------------------------------------------------------- */

static int start_node(struct failover *f, struct fnode *node)
{
    char id[16];
    snprintf(id, sizeof id, "%u", node->id);
    char *argv[] = {f->amkd,        "--id",       id,           "--data-dir",
                    node->data_dir, "--raft",     node->raft,   "--http",
                    node->http,     "--binary",   node->binary, "--peers",
                    f->peers,       "--insecure", NULL};
    int log_fd =
        open(node->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) {
        fprintf(stderr, "amk-bench: %s: %s\n", node->log_path, strerror(errno));
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(log_fd);
        return -1;
    }
    if (pid == 0) {
        /* Dies with the bench even if the bench is SIGKILLed. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) {
            _exit(127);
        }
        int devnull = open("/dev/null", O_RDONLY);
        dup2(devnull, 0);
        dup2(log_fd, 1);
        dup2(log_fd, 2);
        execv(f->amkd, argv);
        dprintf(2, "amk-bench: exec %s: %s\n", f->amkd, strerror(errno));
        _exit(127);
    }
    close(log_fd);
    node->pid = pid;
    started_pids[node->id - 1] = pid;
    return 0;
}

static void kill_node(struct fnode *node)
{
    if (node->pid > 0) {
        kill(node->pid, SIGKILL);
        waitpid(node->pid, NULL, 0);
        started_pids[node->id - 1] = 0;
        node->pid = 0;
    }
}

/* A node that exited by itself is reported and counted as stopped. */
static bool node_alive(struct fnode *node)
{
    if (node->pid <= 0) {
        return false;
    }
    int status;
    if (waitpid(node->pid, &status, WNOHANG) == node->pid) {
        fprintf(stderr,
                "amk-bench: node %u (pid %d) exited on its own (%s %d);"
                " see %s\n",
                node->id, (int)node->pid,
                WIFEXITED(status) ? "status" : "signal",
                WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
                node->log_path);
        started_pids[node->id - 1] = 0;
        node->pid = 0;
        return false;
    }
    return true;
}

static bool port_free(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

static int pick_base_port(struct failover *f)
{
    if (f->base_port != 0) {
        return 0;
    }
    unsigned h = (unsigned)getpid() * 2654435761u;
    for (unsigned attempt = 0; attempt < 64; attempt++) {
        unsigned base = 10000 + ((h + attempt * 7919u) % 1100) * 20;
        bool ok = true;
        for (unsigned p = base; p < base + 3 * NODES && ok; p++) {
            ok = port_free(p);
        }
        if (ok) {
            f->base_port = base;
            return 0;
        }
    }
    fprintf(stderr, "amk-bench: no free ports found\n");
    return -1;
}

/* --- cluster views ----------------------------------------------------- */

/* The leader every running node agrees on (itself running), or NULL. */
static struct fnode *agreed_leader(struct failover *f)
{
    long leader = -1;
    for (unsigned i = 0; i < NODES; i++) {
        if (!node_alive(&f->nodes[i])) {
            continue;
        }
        json_t *v = get_json(f, &f->nodes[i], "/v1/cluster");
        json_t *l = v != NULL ? json_object_get(v, "leader") : NULL;
        long id = json_is_integer(l) ? (long)json_integer_value(l) : 0;
        json_decref(v);
        if (id <= 0 || id > NODES || (leader >= 0 && id != leader)) {
            return NULL;
        }
        leader = id;
    }
    if (leader <= 0 || !node_alive(&f->nodes[leader - 1])) {
        return NULL;
    }
    return &f->nodes[leader - 1];
}

static struct fnode *wait_leader(struct failover *f, unsigned timeout_ms)
{
    uint64_t start = bench_now_ns();
    while (ms_since(start) < timeout_ms) {
        struct fnode *l = agreed_leader(f);
        if (l != NULL) {
            return l;
        }
        sleep_ms(20);
    }
    return NULL;
}

/* Every member is in the node directory (its "http" address known, which
 * followers need to forward to it as a new leader). An amkd whose cluster
 * view has no "http" field counts as complete. */
static bool directory_complete(struct failover *f, struct fnode *node)
{
    json_t *v = get_json(f, node, "/v1/cluster");
    json_t *members = v != NULL ? json_object_get(v, "members") : NULL;
    bool complete = json_is_array(members) && json_array_size(members) > 0;
    for (size_t i = 0; complete && i < json_array_size(members); i++) {
        json_t *http = json_object_get(json_array_get(members, i), "http");
        complete = http == NULL || json_is_string(http);
    }
    json_decref(v);
    return complete;
}

static uint64_t applied_index(struct failover *f, struct fnode *node)
{
    json_t *v = get_json(f, node, "/v1/cluster");
    json_t *a = v != NULL ? json_object_get(v, "applied_index") : NULL;
    uint64_t out = json_is_integer(a) ? (uint64_t)json_integer_value(a) : 0;
    json_decref(v);
    return out;
}

static bool ready(struct failover *f, struct fnode *node)
{
    struct http_client_response r = http_client_request(
        node->http, "GET", "/readyz", NULL, NULL, f->http_timeout_ms);
    bool ok = r.status == 200;
    http_client_response_clear(&r);
    return ok;
}

/* --- writes ------------------------------------------------------------ */

/* One write attempt with id/key `id`: 201 records the ack. Returns the
 * status (0: no answer) and the index of the answer. */
static int write_once(struct failover *f, struct fnode *node, const char *id,
                      uint64_t *index)
{
    char body[256];
    snprintf(body, sizeof body,
             "{\"id\":\"%s\",\"name\":\"Failover %s\",\"region\":\"vest\","
             "\"backups\":[],\"auto_takeover\":false}",
             id, id);
    struct http_client_response r = http_client_request(
        node->http, "POST", "/v1/centres", id, body, f->http_timeout_ms);
    int status = r.status;
    snprintf(f->last_body, sizeof f->last_body, "%s",
             r.body != NULL ? r.body : "");
    if (index != NULL) {
        *index = r.index;
    }
    http_client_response_clear(&r);
    if (status == 201 && f->n_acked < MAX_ACKS) {
        snprintf(f->acked[f->n_acked++], sizeof f->acked[0], "%s", id);
    }
    return status;
}

/* Writes a new centre through one of `via` (n_via nodes, taken in turn),
 * retrying the same key on 503/504/no answer until acknowledged or
 * timeout_ms passes. Returns 0 when acknowledged. */
static int write_acked(struct failover *f, struct fnode **via, unsigned n_via,
                       unsigned timeout_ms, uint64_t *index, int *last_status,
                       struct fnode **acked_by)
{
    char id[48];
    snprintf(id, sizeof id, "fo-%u-%u", (unsigned)getpid(), ++f->seq);
    uint64_t start = bench_now_ns();
    for (unsigned attempt = 0;; attempt++) {
        int status = write_once(f, via[attempt % n_via], id, index);
        *last_status = status;
        if (status == 201) {
            if (acked_by != NULL) {
                *acked_by = via[attempt % n_via];
            }
            return 0;
        }
        if (status != 0 && status != 503 && status != 504) {
            fprintf(stderr, "amk-bench: write %s through node %u: HTTP %d %s\n",
                    id, via[attempt % n_via]->id, status, f->last_body);
            return -1;
        }
        if (ms_since(start) >= timeout_ms) {
            return -1;
        }
        sleep_ms(RETRY_PAUSE_MS);
    }
}

/* --- the benchmark ----------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: amk-bench failover [--amkd PATH] [--trials N] [--base-port"
            " P]\n"
            "                          [--via survivor|any] [--keep]\n"
            "  --amkd      amkd binary (default: $AMK_AMKD, else amkd next to"
            " amk-bench)\n"
            "  --trials    leader kills to measure (default 10)\n"
            "  --via       survivor: write through one fixed follower (needs"
            " forwarding);\n"
            "              any: through whichever survivor answers\n"
            "  --keep      keep the temp dir with data and logs\n");
}

static int parse_args(struct failover *f, int argc, char **argv)
{
    f->trials = 10;
    f->http_timeout_ms = 3000;
    const char *env = getenv("AMK_AMKD");
    if (env != NULL && env[0] != '\0') {
        snprintf(f->amkd, sizeof f->amkd, "%s", env);
    } else {
        char self[900];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0) {
            snprintf(f->amkd, sizeof f->amkd, "amkd");
        } else {
            self[n] = '\0';
            char *slash = strrchr(self, '/');
            *slash = '\0';
            snprintf(f->amkd, sizeof f->amkd, "%s/amkd", self);
        }
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--keep") == 0) {
            f->keep = true;
            continue;
        }
        if (v == NULL) {
            usage();
            return -1;
        }
        i++;
        if (strcmp(a, "--amkd") == 0) {
            snprintf(f->amkd, sizeof f->amkd, "%s", v);
        } else if (strcmp(a, "--trials") == 0) {
            f->trials = (unsigned)strtoul(v, NULL, 10);
        } else if (strcmp(a, "--base-port") == 0) {
            f->base_port = (unsigned)strtoul(v, NULL, 10);
        } else if (strcmp(a, "--via") == 0 &&
                   (strcmp(v, "survivor") == 0 || strcmp(v, "any") == 0)) {
            f->any_survivor = strcmp(v, "any") == 0;
        } else {
            usage();
            return -1;
        }
    }
    if (f->trials < 1 || f->trials > MAX_TRIALS) {
        fprintf(stderr, "amk-bench: --trials: 1..%d\n", MAX_TRIALS);
        return -1;
    }
    if (access(f->amkd, X_OK) != 0) {
        fprintf(stderr,
                "amk-bench: amkd not found at %s (--amkd or"
                " AMK_AMKD)\n",
                f->amkd);
        return -1;
    }
    return 0;
}

static int setup(struct failover *f)
{
    snprintf(f->dir, sizeof f->dir, "%s/amk-bench-failover-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(f->dir) == NULL) {
        fprintf(stderr, "amk-bench: mkdtemp: %s\n", strerror(errno));
        return -1;
    }
    if (pick_base_port(f) != 0) {
        return -1;
    }
    size_t off = 0;
    for (unsigned i = 0; i < NODES; i++) {
        struct fnode *n = &f->nodes[i];
        unsigned base = f->base_port + 3 * i;
        n->id = i + 1;
        snprintf(n->raft, sizeof n->raft, "127.0.0.1:%u", base);
        snprintf(n->http, sizeof n->http, "127.0.0.1:%u", base + 1);
        snprintf(n->binary, sizeof n->binary, "127.0.0.1:%u", base + 2);
        snprintf(n->data_dir, sizeof n->data_dir, "%s/n%u", f->dir, n->id);
        snprintf(n->log_path, sizeof n->log_path, "%s/n%u.log", f->dir, n->id);
        off += (size_t)snprintf(f->peers + off, sizeof f->peers - off,
                                "%s%u@%s", i ? "," : "", n->id, n->raft);
    }
    return 0;
}

static void cleanup(struct failover *f)
{
    for (unsigned i = 0; i < NODES; i++) {
        kill_node(&f->nodes[i]);
    }
    kill_started();
    if (f->keep) {
        printf("kept %s\n", f->dir);
    } else if (f->dir[0] != '\0') {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
        if (system(cmd) != 0) {
            fprintf(stderr, "amk-bench: could not remove %s\n", f->dir);
        }
    }
}

static void print_log_tails(struct failover *f)
{
    for (unsigned i = 0; i < NODES; i++) {
        char cmd[800];
        fprintf(stderr, "--- %s (last 15 lines)\n", f->nodes[i].log_path);
        snprintf(cmd, sizeof cmd, "tail -n 15 '%s' >&2", f->nodes[i].log_path);
        if (system(cmd) != 0) {
            fprintf(stderr, "(no log)\n");
        }
    }
}

/* Waits until every node answers /readyz and the killed node's applied
 * index reaches `target`, writing through `via` meanwhile (a lagging
 * follower is only sent entries when there is something to send). */
static int wait_caught_up(struct failover *f, struct fnode *node,
                          struct fnode *via, uint64_t target, double *took_ms)
{
    uint64_t start = bench_now_ns();
    unsigned tick = 0;
    while (ms_since(start) < 30000) {
        if (!node_alive(node)) {
            return -1;
        }
        if (ready(f, node) && applied_index(f, node) >= target) {
            *took_ms = ms_since(start);
            return 0;
        }
        if (++tick % 10 == 0) {
            uint64_t index;
            int status;
            if (write_acked(f, &via, 1, 10000, &index, &status, NULL) != 0) {
                fprintf(stderr,
                        "amk-bench: write during catch-up failed"
                        " (HTTP %d)\n",
                        status);
                return -1;
            }
        }
        sleep_ms(20);
    }
    return -1;
}

static int run(struct failover *f)
{
    printf("amk-bench failover: 3 x %s, default timeouts, in %s (ports"
           " %u..%u), %u trials, writes through %s\n",
           f->amkd, f->dir, f->base_port, f->base_port + 3 * NODES - 1,
           f->trials, f->any_survivor ? "any survivor" : "one survivor");
    fflush(stdout);
    for (unsigned i = 0; i < NODES; i++) {
        if (start_node(f, &f->nodes[i]) != 0) {
            return -1;
        }
    }
    if (wait_leader(f, 20000) == NULL) {
        fprintf(stderr, "amk-bench: no leader within 20 s\n");
        return -1;
    }
    /* Steady state first: a node registers itself in the node directory
     * shortly after start; kill the leader before that and a follower
     * cannot reach the new leader until it registers. */
    uint64_t warm = bench_now_ns();
    while (ms_since(warm) < 20000) {
        bool complete = true;
        for (unsigned i = 0; i < NODES && complete; i++) {
            complete = directory_complete(f, &f->nodes[i]);
        }
        if (complete) {
            break;
        }
        sleep_ms(50);
    }
    double failover_ms[MAX_TRIALS], catchup_ms[MAX_TRIALS];
    printf("%5s %7s %7s %7s %11s %12s %6s\n", "trial", "killed", "via",
           "leader", "failover_ms", "catch-up_ms", "acked");
    fflush(stdout);
    for (unsigned t = 0; t < f->trials; t++) {
        struct fnode *leader = wait_leader(f, 20000);
        if (leader == NULL) {
            fprintf(stderr, "amk-bench: trial %u: no agreed leader\n", t + 1);
            return -1;
        }
        struct fnode *survivors[NODES - 1];
        unsigned n_surv = 0;
        for (unsigned i = 0; i < NODES; i++) {
            if (&f->nodes[i] != leader) {
                survivors[n_surv++] = &f->nodes[i];
            }
        }
        unsigned n_via = f->any_survivor ? n_surv : 1;
        struct fnode **via = survivors;
        if (f->any_survivor) {
            /* Before the kill only the leader takes writes without
             * forwarding. */
            via = &leader;
            n_via = 1;
        }
        uint64_t index;
        int status;
        unsigned acked_before = f->n_acked;
        for (unsigned w = 0; w < 5; w++) {
            if (write_acked(f, via, n_via, 10000, &index, &status, NULL) != 0) {
                fprintf(stderr,
                        "amk-bench: trial %u: write through node %u before the"
                        " kill not acknowledged (HTTP %d)%s\n",
                        t + 1, via[0]->id, status,
                        status == 503 ? "; does this amkd forward writes?"
                                        " (--via any works without)"
                                      : "");
                return -1;
            }
        }
        via = survivors;
        n_via = f->any_survivor ? n_surv : 1;
        uint64_t killed_at = bench_now_ns();
        kill_node(leader);
        struct fnode *first_via = NULL;
        if (write_acked(f, via, n_via, 30000, &index, &status, &first_via) !=
            0) {
            fprintf(stderr,
                    "amk-bench: trial %u: no write acknowledged within"
                    " 30 s of the kill (last HTTP %d)\n",
                    t + 1, status);
            return -1;
        }
        failover_ms[t] = ms_since(killed_at);
        struct fnode *new_leader = wait_leader(f, 10000);
        for (unsigned w = 0; w < 5; w++) {
            if (write_acked(f, via, n_via, 10000, &index, &status, NULL) != 0) {
                fprintf(stderr,
                        "amk-bench: trial %u: write after failover"
                        " failed (HTTP %d)\n",
                        t + 1, status);
                return -1;
            }
        }
        if (start_node(f, leader) != 0 ||
            wait_caught_up(f, leader, via[0], index, &catchup_ms[t]) != 0) {
            fprintf(stderr,
                    "amk-bench: trial %u: node %u did not catch up to"
                    " index %llu within 30 s\n",
                    t + 1, leader->id, (unsigned long long)index);
            return -1;
        }
        printf("%5u %7u %7u %7u %11.1f %12.1f %6u\n", t + 1, leader->id,
               first_via->id, new_leader ? new_leader->id : 0, failover_ms[t],
               catchup_ms[t], f->n_acked - acked_before);
        fflush(stdout);
    }

    /* Every acknowledged write must be readable (linearizable reads on the
     * leader and local reads on every node). */
    struct fnode *leader = wait_leader(f, 20000);
    if (leader == NULL) {
        fprintf(stderr, "amk-bench: no leader for the final check\n");
        return -1;
    }
    unsigned lost = 0;
    for (unsigned i = 0; i < f->n_acked; i++) {
        char path[128];
        snprintf(path, sizeof path, "/v1/centres/%s", f->acked[i]);
        json_t *v = get_json(f, leader, path);
        if (v == NULL) {
            if (lost++ < 10) {
                fprintf(stderr,
                        "amk-bench: acknowledged write %s is not"
                        " readable on the leader (node %u)\n",
                        f->acked[i], leader->id);
            }
        }
        json_decref(v);
    }

    double sorted[MAX_TRIALS];
    memcpy(sorted, failover_ms, f->trials * sizeof sorted[0]);
    qsort(sorted, f->trials, sizeof sorted[0], cmp_double);
    double median =
        f->trials % 2 ? sorted[f->trials / 2]
                      : (sorted[f->trials / 2 - 1] + sorted[f->trials / 2]) / 2;
    printf("failover (SIGKILL of the leader -> first acknowledged write"
           " through a survivor), %u trials: median %.1f ms, max %.1f ms,"
           " min %.1f ms\n",
           f->trials, median, sorted[f->trials - 1], sorted[0]);
    printf("acknowledged writes: %u, readable: %u, lost: %u\n", f->n_acked,
           f->n_acked - lost, lost);
    return lost == 0 ? 0 : 1;
}

int bench_failover(int argc, char **argv)
{
    static struct failover f; /* large; one per process */
    if (parse_args(&f, argc, argv) != 0) {
        return 2;
    }
    f.acked = calloc(MAX_ACKS, sizeof f.acked[0]);
    if (f.acked == NULL) {
        return 1;
    }
    atexit(kill_started);
    struct sigaction sa = {.sa_handler = on_fatal_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGALRM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* A hard bound on the whole run: every step has its own timeout; this
     * catches what they miss. */
    alarm(120 + 90 * f.trials);
    int rv = setup(&f);
    if (rv == 0) {
        rv = run(&f);
        if (rv < 0) {
            print_log_tails(&f);
        }
    }
    cleanup(&f);
    free(f.acked);
    return rv == 0 ? 0 : 1;
}
