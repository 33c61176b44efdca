/* ops/bench/http.c: `amk-bench http`: HTTP write throughput and latency.
 * Starts a local 3-node amkd cluster (default timeouts, --insecure), creates
 * a centre and a session, then drives the leader with N keep-alive
 * connections (one thread each) sending POST /v1/incidents back to back for
 * a fixed time per level (1, 16, 64), then a mixed profile at 16 (80% GET of
 * created incidents, 20% POST). With --target etcd the same load generator
 * drives an etcd 3.4 cluster through its JSON gateway (PUT and linearizable
 * range). Every process it starts is killed by PID on every exit path. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "bench.h"
#include "http_client.h"
#include "local.h"

#define MAX_CONNS      64
#define MAX_ENDPOINTS  8
#define MAX_IDS        200000
#define ID_LEN         48
#define TIMEOUT_MS     5000
#define MIXED_CONNS    16
#define MIXED_READ_PCT 80

struct hbench {
    struct bench_cluster c; /* amkd, dir, nodes, keep */
    unsigned seconds;
    bool etcd;
    char endpoints[MAX_ENDPOINTS][64];
    unsigned n_endpoints;
    char target[64]; /* the address the load goes to */
    char session[128];
    pthread_mutex_t ids_lock;
    char (*ids)[ID_LEN]; /* created incident ids (etcd: keys), for reads */
    size_t n_ids;
};

struct worker {
    struct hbench *b;
    unsigned level, index;
    bool mixed;
    uint64_t deadline_ns;
    unsigned rng;
    uint32_t *latency_us;
    size_t n_latency, cap_latency;
    unsigned long ok, failed, seq;
    int last_bad_status;
    char last_bad_body[160];
};

static void base64(const char *in, char *out, size_t out_size)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t len = strlen(in), o = 0;
    for (size_t i = 0; i < len && o + 5 < out_size; i += 3) {
        unsigned v = (unsigned char)in[i] << 16;
        v |= i + 1 < len ? (unsigned char)in[i + 1] << 8 : 0;
        v |= i + 2 < len ? (unsigned char)in[i + 2] : 0;
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? tab[v & 63] : '=';
    }
    out[o] = '\0';
}

/* The string value of "id" in a rendered object, copied to out; 0 or -1. */
static int extract_id(const char *body, char *out, size_t out_size)
{
    const char *p = strstr(body, "\"id\"");
    if (p == NULL || (p = strchr(p + 4, '"')) == NULL) {
        return -1;
    }
    const char *end = strchr(++p, '"');
    if (end == NULL || (size_t)(end - p) >= out_size) {
        return -1;
    }
    memcpy(out, p, (size_t)(end - p));
    out[end - p] = '\0';
    return 0;
}

/* --- the load ---------------------------------------------------------- */

static void record(struct worker *w, uint64_t took_ns)
{
    if (w->n_latency == w->cap_latency) {
        size_t cap = w->cap_latency ? w->cap_latency * 2 : 4096;
        uint32_t *grown = realloc(w->latency_us, cap * sizeof *grown);
        if (grown == NULL) {
            return;
        }
        w->latency_us = grown;
        w->cap_latency = cap;
    }
    w->latency_us[w->n_latency++] = (uint32_t)(took_ns / 1000);
}

static void keep_id(struct hbench *b, const char *id)
{
    pthread_mutex_lock(&b->ids_lock);
    if (b->n_ids < MAX_IDS) {
        snprintf(b->ids[b->n_ids++], ID_LEN, "%s", id);
    }
    pthread_mutex_unlock(&b->ids_lock);
}

/* One write; returns the status and the created id (etcd: the key). */
static int one_write(struct worker *w, struct http_client_conn *c, char *id)
{
    struct hbench *b = w->b;
    char headers[256], body[256];
    w->seq++;
    if (b->etcd) {
        char key64[128], value64[64];
        snprintf(id, ID_LEN, "bench/%d/%u/%u/%lu", (int)getpid(), w->level,
                 w->index, w->seq);
        base64(id, key64, sizeof key64);
        base64("acute 10.01", value64, sizeof value64);
        snprintf(body, sizeof body, "{\"key\":\"%s\",\"value\":\"%s\"}", key64,
                 value64);
        int status =
            http_client_conn_request(c, "POST", "/v3/kv/put", NULL, body);
        return status == 200 ? 201 : status;
    }
    snprintf(headers, sizeof headers,
             "X-Amk-Session: %s\r\nIdempotency-Key: b%d-%u-%u-%u-%lu\r\n",
             b->session, (int)getpid(), w->mixed, w->level, w->index, w->seq);
    int status = http_client_conn_request(
        c, "POST", "/v1/incidents", headers,
        "{\"urgency\":\"acute\",\"criterion\":\"10.01\"}");
    if (status != 201 ||
        extract_id(http_client_conn_body(c), id, ID_LEN) != 0) {
        id[0] = '\0';
    }
    return status;
}

static int one_read(struct worker *w, struct http_client_conn *c)
{
    struct hbench *b = w->b;
    w->rng = w->rng * 1103515245u + 12345u;
    const char *id = b->ids[(w->rng >> 8) % b->n_ids];
    if (b->etcd) {
        char key64[128], body[192];
        base64(id, key64, sizeof key64);
        snprintf(body, sizeof body, "{\"key\":\"%s\"}", key64);
        return http_client_conn_request(c, "POST", "/v3/kv/range", NULL, body);
    }
    char path[128], headers[160];
    snprintf(path, sizeof path, "/v1/incidents/%s", id);
    snprintf(headers, sizeof headers, "X-Amk-Session: %s\r\n", b->session);
    return http_client_conn_request(c, "GET", path, headers, NULL);
}

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    struct http_client_conn c;
    if (http_client_conn_init(&c, w->b->target, TIMEOUT_MS) != 0) {
        return NULL;
    }
    char id[ID_LEN];
    while (bench_now_ns() < w->deadline_ns) {
        bool read = false;
        if (w->mixed) {
            w->rng = w->rng * 1103515245u + 12345u;
            read = (w->rng >> 8) % 100 < MIXED_READ_PCT;
        }
        uint64_t start = bench_now_ns();
        int status = read ? one_read(w, &c) : one_write(w, &c, id);
        uint64_t took = bench_now_ns() - start;
        bool ok = read ? status == 200 : status == 201;
        if (ok) {
            w->ok++;
            record(w, took);
            if (!read && !w->mixed && id[0] != '\0') {
                keep_id(w->b, id);
            }
        } else {
            w->failed++;
            w->last_bad_status = status;
            snprintf(w->last_bad_body, sizeof w->last_bad_body, "%s",
                     status != 0 ? http_client_conn_body(&c) : "");
            if (status == 0) {
                bench_sleep_ms(10); /* no answer: do not spin on a dead peer */
            }
        }
    }
    http_client_conn_close(&c);
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Runs one level and prints its row. */
static int run_level(struct hbench *b, const char *profile, unsigned conns,
                     bool mixed)
{
    struct worker workers[MAX_CONNS];
    pthread_t threads[MAX_CONNS];
    uint64_t start = bench_now_ns();
    uint64_t deadline = start + (uint64_t)b->seconds * 1000000000u;
    unsigned started = 0;
    for (unsigned i = 0; i < conns; i++) {
        workers[i] = (struct worker){.b = b,
                                     .level = conns,
                                     .index = i,
                                     .mixed = mixed,
                                     .deadline_ns = deadline,
                                     .rng = 2654435761u * (i + 1)};
        if (pthread_create(&threads[i], NULL, worker_run, &workers[i]) != 0) {
            break;
        }
        started++;
    }
    size_t total = 0;
    for (unsigned i = 0; i < started; i++) {
        pthread_join(threads[i], NULL);
        total += workers[i].n_latency;
    }
    double elapsed = (double)(bench_now_ns() - start) / 1e9;
    uint32_t *all = malloc((total ? total : 1) * sizeof *all);
    unsigned long ok = 0, failed = 0;
    int bad = 0;
    const char *bad_body = "";
    size_t n = 0;
    for (unsigned i = 0; i < started; i++) {
        if (all != NULL) {
            memcpy(all + n, workers[i].latency_us,
                   workers[i].n_latency * sizeof *all);
            n += workers[i].n_latency;
        }
        free(workers[i].latency_us);
        ok += workers[i].ok;
        failed += workers[i].failed;
        if (workers[i].failed > 0) {
            bad = workers[i].last_bad_status;
            bad_body = workers[i].last_bad_body;
        }
    }
    double p50 = 0, p99 = 0;
    if (all != NULL && n > 0) {
        qsort(all, n, sizeof *all, cmp_u32);
        p50 = all[n / 2] / 1000.0;
        p99 = all[n * 99 / 100] / 1000.0;
    }
    free(all);
    printf("%-7s %5u %10.0f %9.3f %9.3f %9lu %7lu", profile, conns,
           (double)ok / elapsed, p50, p99, ok, failed);
    if (failed > 0) {
        printf("  (last failure: HTTP %d %s)", bad, bad_body);
    }
    printf("\n");
    fflush(stdout);
    return started == conns && ok > 0 ? 0 : -1;
}

static int run_load(struct hbench *b)
{
    static const unsigned levels[] = {1, 16, 64};
    printf("%-7s %5s %10s %9s %9s %9s %7s\n", "profile", "conns", "ops/s",
           "p50_ms", "p99_ms", "ok", "failed");
    int rv = 0;
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        rv |= run_level(b, "writes", levels[i], false);
    }
    if (b->n_ids == 0) {
        fprintf(stderr, "amk-bench: no ids kept; skipping the mixed run\n");
        return -1;
    }
    rv |= run_level(b, "mixed", MIXED_CONNS, true);
    return rv;
}

/* --- etcd -------------------------------------------------------------- */

/* The endpoint that reports itself leader (maintenance/status), else the
 * first. */
static void etcd_pick_leader(struct hbench *b)
{
    snprintf(b->target, sizeof b->target, "%s", b->endpoints[0]);
    for (unsigned i = 0; i < b->n_endpoints; i++) {
        struct http_client_response r = http_client_request(
            b->endpoints[i], "POST", "/v3/maintenance/status", NULL, "{}",
            TIMEOUT_MS);
        json_t *v = r.status == 200 ? json_loads(r.body, 0, NULL) : NULL;
        http_client_response_clear(&r);
        json_t *header = json_object_get(v, "header");
        const char *self =
            json_string_value(json_object_get(header, "member_id"));
        const char *leader = json_string_value(json_object_get(v, "leader"));
        bool is_leader =
            self != NULL && leader != NULL && !strcmp(self, leader);
        json_decref(v);
        if (is_leader) {
            snprintf(b->target, sizeof b->target, "%s", b->endpoints[i]);
            return;
        }
    }
}

/* --- amkd -------------------------------------------------------------- */

static json_t *post_json(const char *address, const char *path, const char *key,
                         const char *body, int *status)
{
    struct http_client_response r = http_client_request(
        address, body ? "POST" : "GET", path, key, body, TIMEOUT_MS);
    *status = r.status;
    json_t *v = r.body != NULL ? json_loads(r.body, 0, NULL) : NULL;
    http_client_response_clear(&r);
    return v;
}

/* Starts the cluster, waits for an agreed leader and creates the centre and
 * the session. */
static int amk_setup(struct hbench *b)
{
    if (bench_cluster_init(&b->c, "http") != 0) {
        return -1;
    }
    for (unsigned i = 0; i < BENCH_NODES; i++) {
        if (bench_node_start(&b->c, &b->c.nodes[i]) != 0) {
            return -1;
        }
    }
    long leader = 0;
    uint64_t start = bench_now_ns();
    while (leader == 0 && bench_now_ns() - start < 20000000000u) {
        long agreed = -1;
        for (unsigned i = 0; i < BENCH_NODES && agreed != 0; i++) {
            int status;
            json_t *v = post_json(b->c.nodes[i].http, "/v1/cluster", NULL, NULL,
                                  &status);
            json_t *l = json_object_get(v, "leader");
            long id = json_is_integer(l) ? (long)json_integer_value(l) : 0;
            json_decref(v);
            agreed = id > 0 && id <= BENCH_NODES && (agreed < 0 || agreed == id)
                         ? id
                         : 0;
        }
        leader = agreed > 0 ? agreed : 0;
        if (leader == 0) {
            bench_sleep_ms(50);
        }
    }
    if (leader == 0) {
        fprintf(stderr, "amk-bench: no agreed leader within 20 s\n");
        return -1;
    }
    snprintf(b->target, sizeof b->target, "%s", b->c.nodes[leader - 1].http);
    int status;
    char key[64];
    snprintf(key, sizeof key, "bench-centre-%d", (int)getpid());
    json_t *v = post_json(b->target, "/v1/centres", key,
                          "{\"id\":\"bench\",\"name\":\"Bench\",\"region\":"
                          "\"vest\",\"backups\":[],\"auto_takeover\":false}",
                          &status);
    json_decref(v);
    if (status != 201) {
        fprintf(stderr, "amk-bench: POST /v1/centres: HTTP %d\n", status);
        return -1;
    }
    snprintf(key, sizeof key, "bench-session-%d", (int)getpid());
    v = post_json(b->target, "/v1/sessions", key,
                  "{\"centre\":\"bench\",\"console\":\"bench-1\","
                  "\"operator\":\"bench\"}",
                  &status);
    const char *id = json_string_value(json_object_get(v, "id"));
    if (status != 201 || id == NULL) {
        fprintf(stderr, "amk-bench: POST /v1/sessions: HTTP %d\n", status);
        json_decref(v);
        return -1;
    }
    snprintf(b->session, sizeof b->session, "%s", id);
    json_decref(v);
    return 0;
}

static void amk_cleanup(struct hbench *b)
{
    bench_cluster_close(&b->c);
}

/* --- arguments --------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr,
            "usage: amk-bench http [--amkd PATH] [--seconds S] [--keep]\n"
            "       amk-bench http --target etcd --endpoints H:P[,H:P...]"
            " [--seconds S]\n"
            "  --seconds   per concurrency level (default 5)\n"
            "  --amkd      amkd binary (default: $AMK_AMKD, else amkd next to"
            " amk-bench)\n"
            "  --keep      keep the temp dir with amkd data and logs\n"
            "  --target    amk (default: a local 3-node cluster) or etcd (its"
            " v3 JSON gateway;\n"
            "              the load goes to the endpoint that is leader)\n");
}

static int parse_args(struct hbench *b, int argc, char **argv)
{
    b->seconds = 5;
    const char *env = getenv("AMK_AMKD");
    char self[900];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (env != NULL && env[0] != '\0') {
        snprintf(b->c.amkd, sizeof b->c.amkd, "%s", env);
    } else if (n > 0) {
        self[n] = '\0';
        *strrchr(self, '/') = '\0';
        snprintf(b->c.amkd, sizeof b->c.amkd, "%s/amkd", self);
    } else {
        snprintf(b->c.amkd, sizeof b->c.amkd, "amkd");
    }
    for (int i = 0; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--keep") == 0) {
            b->c.keep = true;
            i--;
        } else if (v == NULL) {
            usage();
            return -1;
        } else if (strcmp(a, "--amkd") == 0) {
            snprintf(b->c.amkd, sizeof b->c.amkd, "%s", v);
        } else if (strcmp(a, "--seconds") == 0) {
            b->seconds = (unsigned)strtoul(v, NULL, 10);
        } else if (strcmp(a, "--target") == 0 &&
                   (strcmp(v, "etcd") == 0 || strcmp(v, "amk") == 0)) {
            b->etcd = strcmp(v, "etcd") == 0;
        } else if (strcmp(a, "--endpoints") == 0) {
            char list[600];
            snprintf(list, sizeof list, "%s", v);
            char *save = NULL;
            for (char *e = strtok_r(list, ",", &save);
                 e != NULL && b->n_endpoints < MAX_ENDPOINTS;
                 e = strtok_r(NULL, ",", &save)) {
                snprintf(b->endpoints[b->n_endpoints++], 64, "%s", e);
            }
        } else {
            usage();
            return -1;
        }
    }
    if (b->seconds < 1 || b->seconds > 600) {
        usage();
        return -1;
    }
    if (b->etcd && b->n_endpoints == 0) {
        fprintf(stderr, "amk-bench: --target etcd needs --endpoints\n");
        return -1;
    }
    if (!b->etcd && access(b->c.amkd, X_OK) != 0) {
        fprintf(stderr,
                "amk-bench: amkd not found at %s (--amkd or AMK_AMKD)\n",
                b->c.amkd);
        return -1;
    }
    return 0;
}

int bench_http(int argc, char **argv)
{
    static struct hbench b; /* one per process */
    if (parse_args(&b, argc, argv) != 0) {
        return 2;
    }
    b.ids = calloc(MAX_IDS, sizeof b.ids[0]);
    if (b.ids == NULL) {
        return 1;
    }
    pthread_mutex_init(&b.ids_lock, NULL);
    bench_guard(120 + 4 * (b.seconds + 2 * TIMEOUT_MS / 1000));
    int rv;
    if (b.etcd) {
        etcd_pick_leader(&b);
        printf("amk-bench http: etcd v3 JSON gateway at %s (of %u endpoints),"
               " POST /v3/kv/put, %u s per level\n",
               b.target, b.n_endpoints, b.seconds);
        fflush(stdout);
        rv = run_load(&b);
    } else {
        rv = amk_setup(&b);
        if (rv == 0) {
            printf("amk-bench http: 3 x %s (--insecure, default timeouts), "
                   "leader %s, POST /v1/incidents, %u s per level\n",
                   b.c.amkd, b.target, b.seconds);
            fflush(stdout);
            rv = run_load(&b);
        }
        amk_cleanup(&b);
    }
    free(b.ids);
    return rv == 0 ? 0 : 1;
}
