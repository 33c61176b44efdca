/* server/config.c: defaults < --config JSON file < AMK_* environment < flags.
 * The file is parsed by jansson; flags by getopt_long; every value is checked
 * here so that amkd refuses to start with one clear line. */
#include <errno.h>
#include <stddef.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config.h"

enum kind { K_U64, K_UINT, K_STR, K_BOOL, K_PEERS };

struct setting {
    const char *name; /* flag name; env is AMK_ + upper, key is name with _ */
    enum kind kind;
    size_t offset, size;
    const char *help;
};

#define FIELD(f)                                                               \
    offsetof(struct amk_config, f), sizeof(((struct amk_config *)0)->f)

static const struct setting SETTINGS[] = {
    {"id", K_U64, FIELD(id), "this node's raft id (integer > 0)"},
    {"data-dir", K_STR, FIELD(data_dir), "raft log and snapshots"},
    {"raft", K_STR, FIELD(raft), "IP:port of the raft listener"},
    {"http", K_STR, FIELD(http), "IP:port of the HTTP API"},
    {"binary", K_STR, FIELD(binary), "IP:port of the binary API"},
    {"peers", K_PEERS, FIELD(peers),
     "ID@IP:port,... bootstraps a new cluster (ignored once data exists)"},
    {"centre", K_STR, FIELD(centre), "the AMK centre this node serves"},
    {"region", K_STR, FIELD(region), "the health region of the centre"},
    {"join", K_STR, FIELD(join), "IP:port of a running member's HTTP API"},
    {"takeover-after", K_UINT, FIELD(takeover_after),
     "seconds without a live node or console before auto takeover (10)"},
    {"insecure", K_BOOL, FIELD(insecure), "plaintext, no authentication"},
    {"tls-dir", K_STR, FIELD(tls_dir), "certificates and keys"},
    {"log-level", K_STR, FIELD(log_level), "error, warn, info, debug"},
    {"heartbeat-ms", K_UINT, FIELD(heartbeat_ms), "raft heartbeat (50)"},
    {"election-ms", K_UINT, FIELD(election_ms), "raft election timeout (300)"},
    {"snapshot-threshold", K_UINT, FIELD(snapshot_threshold),
     "entries between snapshots of a node (65536)"},
    {"snapshot-trailing", K_UINT, FIELD(snapshot_trailing),
     "entries kept behind a snapshot (4096)"},
    {"request-timeout-ms", K_UINT, FIELD(request_timeout_ms),
     "how long a write waits for its commit before 504 (5000)"},
    {"events-retained", K_UINT, FIELD(events_retained),
     "newest events kept for /v1/events (100000; same on every node)"},
    {"idempotency-window-s", K_UINT, FIELD(idem_window_s),
     "how long Idempotency-Keys are kept (86400; same on every node)"},
    {"audit-retained", K_UINT, FIELD(audit_retained),
     "newest audit entries kept (0: all, the default; same on every node)"},
    {"max-body-bytes", K_UINT, FIELD(max_body_bytes),
     "largest request body, else 413 (1048576)"},
    {"max-connections", K_UINT, FIELD(max_connections),
     "HTTP connections; beyond, 503 and close (1024)"},
    {"max-subscribers", K_UINT, FIELD(max_subscribers),
     "live event streams; beyond, 503 (1024)"},
    {"http-read-timeout-ms", K_UINT, FIELD(http_read_timeout_ms),
     "time to receive a whole request, and keep-alive idle (10000)"},
    {"sse-buffer-bytes", K_UINT, FIELD(sse_buffer_bytes),
     "bytes queued per event stream before it is ended (1048576)"},
    {"access-log", K_STR, FIELD(access_log),
     "file of reads of incident data (<data-dir>/access.log; off: none)"},
};

#define N_SETTINGS (sizeof SETTINGS / sizeof SETTINGS[0])

void amk_config_usage(void *f)
{
    FILE *out = f;
    fprintf(out, "usage: amkd [--config FILE] [flags]\n\n");
    for (size_t i = 0; i < N_SETTINGS; i++) {
        fprintf(out, "  --%-20s %s\n", SETTINGS[i].name, SETTINGS[i].help);
    }
    fprintf(out, "\nEvery flag is also AMK_<FLAG> in the environment and a key"
                 " of the --config JSON file\n(--data-dir: AMK_DATA_DIR,"
                 " \"data_dir\").\n");
}

static int parse_u64(const char *text, uint64_t max, uint64_t *out)
{
    if (text[0] == '\0' || text[0] == '-') {
        return -1;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0' || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_peers(struct amk_config *cfg, const char *text, char *errmsg)
{
    cfg->n_peers = 0;
    const char *p = text;
    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        char item[128];
        if (len == 0 || len >= sizeof item) {
            snprintf(errmsg, 256, "--peers: empty or overlong entry");
            return -1;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        char *at = strchr(item, '@');
        if (at == NULL) {
            snprintf(errmsg, 256, "--peers: '%s' is not ID@IP:port", item);
            return -1;
        }
        *at = '\0';
        uint64_t id;
        if (parse_u64(item, UINT64_MAX, &id) != 0 || id == 0) {
            snprintf(errmsg, 256, "--peers: '%s' is not a node id > 0", item);
            return -1;
        }
        if (cfg->n_peers == AMK_CONFIG_MAX_PEERS) {
            snprintf(errmsg, 256, "--peers: more than %d peers",
                     AMK_CONFIG_MAX_PEERS);
            return -1;
        }
        struct amk_config_peer *peer = &cfg->peers[cfg->n_peers++];
        peer->id = id;
        snprintf(peer->address, sizeof peer->address, "%s", at + 1);
        for (unsigned i = 0; i + 1 < cfg->n_peers; i++) {
            if (cfg->peers[i].id == id) {
                snprintf(errmsg, 256, "--peers: id %llu appears twice",
                         (unsigned long long)id);
                return -1;
            }
        }
        p += len;
        if (*p == ',') {
            p++;
        }
    }
    return 0;
}

/* Sets one setting from text; `source` names it in errors. */
static int set_value(struct amk_config *cfg, const struct setting *s,
                     const char *text, const char *source, char *errmsg)
{
    char *field = (char *)cfg + s->offset;
    uint64_t v;
    switch (s->kind) {
        case K_U64:
            if (parse_u64(text, UINT64_MAX, &v) != 0) {
                snprintf(errmsg, 256, "%s: '%s' is not a positive integer",
                         source, text);
                return -1;
            }
            *(uint64_t *)field = v;
            return 0;
        case K_UINT:
            if (parse_u64(text, 1u << 30, &v) != 0) {
                snprintf(errmsg, 256, "%s: '%s' is not a number 0..2^30",
                         source, text);
                return -1;
            }
            *(unsigned *)field = (unsigned)v;
            return 0;
        case K_STR:
            if (strlen(text) >= s->size) {
                snprintf(errmsg, 256, "%s: longer than %zu characters", source,
                         s->size - 1);
                return -1;
            }
            snprintf(field, s->size, "%s", text);
            return 0;
        case K_BOOL:
            if (strcmp(text, "1") == 0 || strcmp(text, "true") == 0 ||
                strcmp(text, "yes") == 0) {
                *(bool *)field = true;
            } else if (strcmp(text, "0") == 0 || strcmp(text, "false") == 0 ||
                       strcmp(text, "no") == 0) {
                *(bool *)field = false;
            } else {
                snprintf(errmsg, 256, "%s: '%s' is not true or false", source,
                         text);
                return -1;
            }
            return 0;
        case K_PEERS: {
            int rv = parse_peers(cfg, text, errmsg);
            if (rv != 0) {
                char inner[256];
                snprintf(inner, sizeof inner, "%s", errmsg);
                snprintf(errmsg, 256, "%.64s: %.180s", source,
                         strncmp(inner, "--peers: ", 9) == 0 ? inner + 9
                                                             : inner);
            }
            return rv;
        }
    }
    return -1;
}

static void key_of(const char *flag, char *out, size_t cap, bool env)
{
    size_t i = 0;
    if (env) {
        i = (size_t)snprintf(out, cap, "AMK_");
    }
    for (const char *p = flag; *p != '\0' && i + 1 < cap; p++) {
        char c = *p == '-' ? '_' : *p;
        out[i++] = env && c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
    }
    out[i] = '\0';
}

static int load_file(struct amk_config *cfg, const char *path, char *errmsg)
{
    json_error_t error;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &error);
    if (root == NULL) {
        snprintf(errmsg, 256, "--config %s: %s (line %d, column %d)", path,
                 error.text, error.line, error.column);
        return -1;
    }
    if (!json_is_object(root)) {
        snprintf(errmsg, 256, "--config %s: not a JSON object", path);
        json_decref(root);
        return -1;
    }
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value)
    {
        const struct setting *s = NULL;
        char name[64];
        for (size_t i = 0; i < N_SETTINGS; i++) {
            key_of(SETTINGS[i].name, name, sizeof name, false);
            if (strcmp(name, key) == 0) {
                s = &SETTINGS[i];
                break;
            }
        }
        char source[128];
        snprintf(source, sizeof source, "--config %s: \"%s\"", path, key);
        if (s == NULL) {
            snprintf(errmsg, 256, "%s: unknown setting", source);
            json_decref(root);
            return -1;
        }
        char text[1024];
        if (json_is_string(value)) {
            snprintf(text, sizeof text, "%s", json_string_value(value));
        } else if (json_is_integer(value)) {
            snprintf(text, sizeof text, "%lld",
                     (long long)json_integer_value(value));
        } else if (json_is_boolean(value)) {
            snprintf(text, sizeof text, "%s",
                     json_is_true(value) ? "true" : "false");
        } else {
            snprintf(errmsg, 256, "%s: must be a string, integer or boolean",
                     source);
            json_decref(root);
            return -1;
        }
        if (set_value(cfg, s, text, source, errmsg) != 0) {
            json_decref(root);
            return -1;
        }
    }
    json_decref(root);
    return 0;
}

static void defaults(struct amk_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->takeover_after = 10;
    cfg->request_timeout_ms = 5000;
    snprintf(cfg->log_level, sizeof cfg->log_level, "info");
}

int amk_config_load(struct amk_config *cfg, int argc, char **argv, char *errmsg)
{
    defaults(cfg);
    struct option options[N_SETTINGS + 4];
    for (size_t i = 0; i < N_SETTINGS; i++) {
        options[i] = (struct option){
            SETTINGS[i].name,
            SETTINGS[i].kind == K_BOOL ? no_argument : required_argument, NULL,
            (int)(i + 1000)};
    }
    options[N_SETTINGS] =
        (struct option){"config", required_argument, NULL, 'c'};
    options[N_SETTINGS + 1] = (struct option){"help", no_argument, NULL, 'h'};
    options[N_SETTINGS + 2] =
        (struct option){"version", no_argument, NULL, 'V'};
    options[N_SETTINGS + 3] = (struct option){NULL, 0, NULL, 0};

    /* Pass 1: --config and --help, so the file loads before flags apply. */
    const char *config_file = getenv("AMK_CONFIG");
    opterr = 0;
    optind = 1;
    int opt;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (opt == 'h') {
            amk_config_usage(stdout);
            return 1;
        }
        if (opt == 'V') {
            printf("amkd 0.1\n");
            return 1;
        }
        if (opt == 'c') {
            config_file = optarg;
        }
        if (opt == '?') {
            if (optopt >= 1000 || optopt == 'c') {
                snprintf(errmsg, 256, "%s: needs a value", argv[optind - 1]);
            } else {
                snprintf(errmsg, 256, "unknown flag %s (see amkd --help)",
                         argv[optind - 1]);
            }
            return -1;
        }
    }
    if (optind < argc) {
        snprintf(errmsg, 256, "unexpected argument '%s' (see amkd --help)",
                 argv[optind]);
        return -1;
    }
    if (config_file != NULL && config_file[0] != '\0') {
        snprintf(cfg->config_file, sizeof cfg->config_file, "%s", config_file);
        if (load_file(cfg, config_file, errmsg) != 0) {
            return -1;
        }
    }
    for (size_t i = 0; i < N_SETTINGS; i++) {
        char env[64];
        key_of(SETTINGS[i].name, env, sizeof env, true);
        const char *value = getenv(env);
        if (value != NULL &&
            set_value(cfg, &SETTINGS[i], value, env, errmsg) != 0) {
            return -1;
        }
    }
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (opt < 1000) {
            continue;
        }
        const struct setting *s = &SETTINGS[opt - 1000];
        char source[64];
        snprintf(source, sizeof source, "--%s", s->name);
        if (set_value(cfg, s, s->kind == K_BOOL ? "true" : optarg, source,
                      errmsg) != 0) {
            return -1;
        }
    }

    if (cfg->id == 0) {
        snprintf(errmsg, 256, "--id: required (an integer > 0)");
        return -1;
    }
    if (cfg->data_dir[0] == '\0') {
        snprintf(errmsg, 256, "--data-dir: required");
        return -1;
    }
    if (cfg->raft[0] == '\0' || cfg->http[0] == '\0') {
        snprintf(errmsg, 256, "%s: required (IP:port)",
                 cfg->raft[0] == '\0' ? "--raft" : "--http");
        return -1;
    }
    if (!cfg->insecure && cfg->tls_dir[0] == '\0') {
        snprintf(errmsg, 256, "--tls-dir or --insecure: one is required");
        return -1;
    }
    if (cfg->takeover_after == 0) {
        snprintf(errmsg, 256, "--takeover-after: must be at least 1 second");
        return -1;
    }
    const char *levels[] = {"error", "warn", "info", "debug"};
    bool level_ok = false;
    for (size_t i = 0; i < 4; i++) {
        level_ok |= strcmp(cfg->log_level, levels[i]) == 0;
    }
    if (!level_ok) {
        snprintf(errmsg, 256,
                 "--log-level: '%s' is not error, warn, info"
                 " or debug",
                 cfg->log_level);
        return -1;
    }
    if (cfg->n_peers > 0) {
        bool self = false;
        for (unsigned i = 0; i < cfg->n_peers; i++) {
            self |= cfg->peers[i].id == cfg->id;
        }
        if (!self) {
            snprintf(errmsg, 256,
                     "--peers: does not list this node (--id"
                     " %llu)",
                     (unsigned long long)cfg->id);
            return -1;
        }
    }
    return 0;
}
