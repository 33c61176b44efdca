/* ops/bench/failover.c: `amk-bench failover`: starts a local 3-node cluster
 * of amkd with default timeouts, then per trial kills the leader with
 * SIGKILL and measures the time from the kill to the first acknowledged write
 * through a surviving node; restarts the killed node and waits until it has
 * caught up. At the end every acknowledged write must be readable. Every
 * process it starts is killed by PID on every exit path. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "bench.h"
#include "http_client.h"
#include "local.h"

#define MAX_TRIALS     1000
#define MAX_ACKS       100000
#define RETRY_PAUSE_MS 10

struct failover {
    struct bench_cluster c; /* amkd, dir, ports, nodes, keep */
    unsigned trials;
    unsigned http_timeout_ms;
    bool any_survivor; /* --via any: write through whichever survivor takes */
    char (*acked)[48];
    unsigned n_acked;
    unsigned seq;
    char last_body[300]; /* of the last write's answer, for error messages */
};

static double ms_since(uint64_t start_ns)
{
    return (double)(bench_now_ns() - start_ns) / 1e6;
}

/* GET path as JSON (status 200 only); NULL otherwise. */
static json_t *get_json(struct failover *f, const struct bench_node *node,
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

/* --- cluster views ----------------------------------------------------- */

/* The leader every running node agrees on (itself running), or NULL. */
static struct bench_node *agreed_leader(struct failover *f)
{
    long leader = -1;
    for (unsigned i = 0; i < BENCH_NODES; i++) {
        if (!bench_node_alive(&f->c.nodes[i])) {
            continue;
        }
        json_t *v = get_json(f, &f->c.nodes[i], "/v1/cluster");
        json_t *l = v != NULL ? json_object_get(v, "leader") : NULL;
        long id = json_is_integer(l) ? (long)json_integer_value(l) : 0;
        json_decref(v);
        if (id <= 0 || id > BENCH_NODES || (leader >= 0 && id != leader)) {
            return NULL;
        }
        leader = id;
    }
    if (leader <= 0 || !bench_node_alive(&f->c.nodes[leader - 1])) {
        return NULL;
    }
    return &f->c.nodes[leader - 1];
}

static struct bench_node *wait_leader(struct failover *f, unsigned timeout_ms)
{
    uint64_t start = bench_now_ns();
    while (ms_since(start) < timeout_ms) {
        struct bench_node *l = agreed_leader(f);
        if (l != NULL) {
            return l;
        }
        bench_sleep_ms(20);
    }
    return NULL;
}

/* Every member is in the node directory (its "http" address known, which
 * followers need to forward to it as a new leader). An amkd whose cluster
 * view has no "http" field counts as complete. */
static bool directory_complete(struct failover *f, struct bench_node *node)
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

static uint64_t applied_index(struct failover *f, struct bench_node *node)
{
    json_t *v = get_json(f, node, "/v1/cluster");
    json_t *a = v != NULL ? json_object_get(v, "applied_index") : NULL;
    uint64_t out = json_is_integer(a) ? (uint64_t)json_integer_value(a) : 0;
    json_decref(v);
    return out;
}

static bool ready(struct failover *f, struct bench_node *node)
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
static int write_once(struct failover *f, struct bench_node *node,
                      const char *id, uint64_t *index)
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
static int write_acked(struct failover *f, struct bench_node **via,
                       unsigned n_via, unsigned timeout_ms, uint64_t *index,
                       int *last_status, struct bench_node **acked_by)
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
        bench_sleep_ms(RETRY_PAUSE_MS);
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
        snprintf(f->c.amkd, sizeof f->c.amkd, "%s", env);
    } else {
        char self[900];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0) {
            snprintf(f->c.amkd, sizeof f->c.amkd, "amkd");
        } else {
            self[n] = '\0';
            char *slash = strrchr(self, '/');
            *slash = '\0';
            snprintf(f->c.amkd, sizeof f->c.amkd, "%s/amkd", self);
        }
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--keep") == 0) {
            f->c.keep = true;
            continue;
        }
        if (v == NULL) {
            usage();
            return -1;
        }
        i++;
        if (strcmp(a, "--amkd") == 0) {
            snprintf(f->c.amkd, sizeof f->c.amkd, "%s", v);
        } else if (strcmp(a, "--trials") == 0) {
            f->trials = (unsigned)strtoul(v, NULL, 10);
        } else if (strcmp(a, "--base-port") == 0) {
            f->c.base_port = (unsigned)strtoul(v, NULL, 10);
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
    if (access(f->c.amkd, X_OK) != 0) {
        fprintf(stderr,
                "amk-bench: amkd not found at %s (--amkd or"
                " AMK_AMKD)\n",
                f->c.amkd);
        return -1;
    }
    return 0;
}

static int setup(struct failover *f)
{
    return bench_cluster_init(&f->c, "failover");
}

static void cleanup(struct failover *f)
{
    bench_cluster_close(&f->c);
}

static void print_log_tails(struct failover *f)
{
    for (unsigned i = 0; i < BENCH_NODES; i++) {
        char cmd[800];
        fprintf(stderr, "--- %s (last 15 lines)\n", f->c.nodes[i].log_path);
        snprintf(cmd, sizeof cmd, "tail -n 15 '%s' >&2",
                 f->c.nodes[i].log_path);
        if (system(cmd) != 0) {
            fprintf(stderr, "(no log)\n");
        }
    }
}

/* Waits until every node answers /readyz and the killed node's applied
 * index reaches `target`, writing through `via` meanwhile (a lagging
 * follower is only sent entries when there is something to send). */
static int wait_caught_up(struct failover *f, struct bench_node *node,
                          struct bench_node *via, uint64_t target,
                          double *took_ms)
{
    uint64_t start = bench_now_ns();
    unsigned tick = 0;
    while (ms_since(start) < 30000) {
        if (!bench_node_alive(node)) {
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
        bench_sleep_ms(20);
    }
    return -1;
}

static int run(struct failover *f)
{
    printf("amk-bench failover: 3 x %s, default timeouts, in %s (ports"
           " %u..%u), %u trials, writes through %s\n",
           f->c.amkd, f->c.dir, f->c.base_port,
           f->c.base_port + 3 * BENCH_NODES - 1, f->trials,
           f->any_survivor ? "any survivor" : "one survivor");
    fflush(stdout);
    for (unsigned i = 0; i < BENCH_NODES; i++) {
        if (bench_node_start(&f->c, &f->c.nodes[i]) != 0) {
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
        for (unsigned i = 0; i < BENCH_NODES && complete; i++) {
            complete = directory_complete(f, &f->c.nodes[i]);
        }
        if (complete) {
            break;
        }
        bench_sleep_ms(50);
    }
    double failover_ms[MAX_TRIALS], catchup_ms[MAX_TRIALS];
    printf("%5s %7s %7s %7s %11s %12s %6s\n", "trial", "killed", "via",
           "leader", "failover_ms", "catch-up_ms", "acked");
    fflush(stdout);
    for (unsigned t = 0; t < f->trials; t++) {
        struct bench_node *leader = wait_leader(f, 20000);
        if (leader == NULL) {
            fprintf(stderr, "amk-bench: trial %u: no agreed leader\n", t + 1);
            return -1;
        }
        struct bench_node *survivors[BENCH_NODES - 1];
        unsigned n_surv = 0;
        for (unsigned i = 0; i < BENCH_NODES; i++) {
            if (&f->c.nodes[i] != leader) {
                survivors[n_surv++] = &f->c.nodes[i];
            }
        }
        unsigned n_via = f->any_survivor ? n_surv : 1;
        struct bench_node **via = survivors;
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
        bench_node_kill(leader);
        struct bench_node *first_via = NULL;
        if (write_acked(f, via, n_via, 30000, &index, &status, &first_via) !=
            0) {
            fprintf(stderr,
                    "amk-bench: trial %u: no write acknowledged within"
                    " 30 s of the kill (last HTTP %d)\n",
                    t + 1, status);
            return -1;
        }
        failover_ms[t] = ms_since(killed_at);
        struct bench_node *new_leader = wait_leader(f, 10000);
        for (unsigned w = 0; w < 5; w++) {
            if (write_acked(f, via, n_via, 10000, &index, &status, NULL) != 0) {
                fprintf(stderr,
                        "amk-bench: trial %u: write after failover"
                        " failed (HTTP %d)\n",
                        t + 1, status);
                return -1;
            }
        }
        if (bench_node_start(&f->c, leader) != 0 ||
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
    struct bench_node *leader = wait_leader(f, 20000);
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
    bench_guard(120 + 90 * f.trials);
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
