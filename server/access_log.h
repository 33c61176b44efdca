/* server/access_log.h: this node's record of reads of incident and patient
 * data (DESIGN.md "Security"). Writes are audited in the replicated audit
 * log by the state machine; a read is served by one node, which records it
 * here: one JSON object per line, appended to a file of its own. */
#ifndef AMK_SERVER_ACCESS_LOG_H
#define AMK_SERVER_ACCESS_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include "api/http.h"

struct amk_sm;

struct amk_access_log {
    int fd; /* -1: off */
    char path[512];
    uint64_t node_id;
    struct amk_sm *sm; /* borrowed: sessions' centres (NULL: not looked up) */
    uint64_t lines;    /* recorded */
    uint64_t errors;   /* lines that could not be written */
    bool failing;      /* the last write failed (logged once per run) */
};

/* Which requests are recorded: GET and HEAD of incidents, events (their
 * changes carry whole incidents) and the audit log, by the route matched
 * (or, for a request that matched none, by its target). */
bool amk_access_log_wants(const struct amk_http_access *access);

/* Checks, without creating anything, that path ("off" passes) could be
 * opened for appending: a regular file that is writable, or a missing one
 * in a writable directory. Returns 0, or -1 with errmsg (256 bytes) that
 * starts with `what` (the flag or setting that named the path). */
int amk_access_log_check(const char *path, const char *what, char *errmsg);

/* Checks path as above and opens (creates, mode 0640) it for appending;
 * path "off" turns the log off (log->fd -1). Returns 0, or -1 with errmsg
 * (256 bytes) naming the path and the reason. */
int amk_access_log_open(struct amk_access_log *log, const char *path,
                        const char *what, uint64_t node_id, struct amk_sm *sm,
                        char *errmsg);

/* Appends one line for access if amk_access_log_wants() it. A failed write
 * (disk full) is counted in log->errors and the read is still answered: an
 * emergency service keeps answering; *warn is set on the first failure of
 * a run of them, for the caller to log. */
void amk_access_log_record(struct amk_access_log *log,
                           const struct amk_http_access *access, bool *warn);

void amk_access_log_close(struct amk_access_log *log);

#endif
