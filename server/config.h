/* server/config.h: amkd's settings from, in rising precedence, defaults, a
 * JSON config file (--config), AMK_* environment variables and command-line
 * flags. Every setting has all three spellings: --take-over-after,
 * AMK_TAKEOVER_AFTER, "takeover_after". */
#ifndef AMK_SERVER_CONFIG_H
#define AMK_SERVER_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#define AMK_CONFIG_MAX_PEERS 64

struct amk_config_peer {
    uint64_t id;
    char address[64];
};

struct amk_config {
    uint64_t id;
    char data_dir[512];
    char raft[64];   /* IP:port */
    char http[64];   /* IP:port */
    char binary[64]; /* IP:port, "" = off */
    unsigned n_peers;
    struct amk_config_peer peers[AMK_CONFIG_MAX_PEERS];
    char centre[65];
    char region[65];
    char join[128];          /* HTTP address of a running member, "" = none */
    unsigned takeover_after; /* seconds */
    bool insecure;
    char tls_dir[512];
    char log_level[16]; /* error, warn, info, debug */
    unsigned heartbeat_ms, election_ms;
    unsigned snapshot_threshold, snapshot_trailing;
    unsigned request_timeout_ms; /* a write's wait for its commit */
    /* Replicated behaviour: every node must use the same values. */
    unsigned events_retained; /* 0: sm's default (100000) */
    unsigned idem_window_s;   /* 0: sm's default (24 h) */
    unsigned audit_retained;  /* 0: every audit entry kept (sm's default) */
    /* HTTP limits (0: the HTTP layer's default). */
    unsigned max_body_bytes;
    unsigned max_connections;
    unsigned max_subscribers;
    unsigned http_read_timeout_ms;
    unsigned sse_buffer_bytes;
    char access_log[512]; /* "": <data-dir>/access.log; "off": none */
    char config_file[512];
};

/* Parses everything. Returns 0; 1 when --help/--version was printed (exit
 * 0); -1 with errmsg (256 bytes, one line naming the flag or key) on bad
 * input. */
int amk_config_load(struct amk_config *cfg, int argc, char **argv,
                    char *errmsg);

/* Prints the usage text to f. */
void amk_config_usage(void *f);

#endif
