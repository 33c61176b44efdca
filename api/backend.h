/* api/backend.h: what the api layer needs from the node that runs it,
 * without knowing raft: propose an encoded command (the node forwards it to
 * the leader if it is not the leader), wait for a linearizable read point,
 * and read the local state machine. server/ implements it. */
#ifndef AMK_API_BACKEND_H
#define AMK_API_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "sm/sm.h"

/* Outcomes of backend calls (besides 0). */
enum amk_api_status {
    AMK_API_OK = 0,
    AMK_API_ENOLEADER, /* no leader reachable: not applied; 503 NO_LEADER */
    AMK_API_ETIMEOUT,  /* outcome unknown: 504 TIMEOUT, retry with the key */
    AMK_API_ESHUTDOWN, /* the node is stopping: 503 UNAVAILABLE */
    AMK_API_ENOMEM,
};

struct amk_api_write;
typedef void (*amk_api_write_cb)(struct amk_api_write *w, int status);

/* A write in flight. The caller owns it (and cmd) until cb, which fires
 * exactly once, never from inside backend->write. */
struct amk_api_write {
    const void *cmd; /* encoded command; term and time are stamped by the
                        leader */
    size_t len;
    amk_api_write_cb cb;
    void *data;
    struct amk_sm_result result; /* status 0: the outcome; owned by the
                                    request, released by the callee's
                                    caller with amk_sm_result_clear() */
};

struct amk_api_read;
typedef void (*amk_api_read_cb)(struct amk_api_read *r, int status);

/* A linearizable read point: on status 0 the local state machine has
 * applied everything acknowledged before the read began. */
struct amk_api_read {
    amk_api_read_cb cb;
    void *data;
    uint64_t index; /* status 0: the read index */
};

struct amk_api_backend {
    void *data;
    struct amk_sm *sm; /* the local state machine, read on the loop thread */
    /* Returns 0 and later calls w->cb, or a status now (no callback). */
    int (*write)(void *data, struct amk_api_write *w);
    /* Returns 0 and later calls r->cb, or a status now (no callback). */
    int (*read)(void *data, struct amk_api_read *r);
    /* A fresh random identifier (UUID v4 text, 36 chars + NUL). */
    void (*new_id)(void *data, char out[37]);
    /* A console heartbeat of a session of `centre` (valid: not stale, not
     * read-only), for the takeover supervisor's liveness; may be NULL. */
    void (*heartbeat)(void *data, const char *session, const char *centre,
                      bool valid);
    /* Whether requests need authentication (false under --insecure). */
    bool secure;
};

#endif
