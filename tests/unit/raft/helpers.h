/* tests/unit/raft/helpers.h: encoded commands for the raft layer's tests
 * (header-only: CMake builds each test_*.c here as its own executable). */
#ifndef AMK_TESTS_UNIT_RAFT_HELPERS_H
#define AMK_TESTS_UNIT_RAFT_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <raft.h>

#include "sm/cmd.h"
#include "sm/enums.h"

/* A fixed leader clock: sm takes time only from the command header. */
#define HELPERS_TIMESTAMP_MS INT64_C(1767225600000) /* 2026-01-01T00:00Z */

/* Encodes cmd, stamped with term, into a raft_malloc'd buffer (what
 * raft_apply takes ownership of). Aborts on failure: a test that cannot
 * build its input has nothing to test. */
static inline struct raft_buffer helpers_encode(struct amk_cmd *cmd,
                                                uint64_t term)
{
    struct raft_buffer out;
    char errmsg[256];
    void *buf;
    size_t len;

    cmd->h.term = term;
    cmd->h.timestamp_ms = HELPERS_TIMESTAMP_MS + (int64_t)term;
    cmd->h.principal = amk_str_c("admin@test");
    if (amk_cmd_encode(cmd, &buf, &len, errmsg) != 0) {
        fprintf(stderr, "helpers_encode: %s\n", errmsg);
        abort();
    }
    out.base = raft_malloc(len);
    if (out.base == NULL) {
        abort();
    }
    memcpy(out.base, buf, len);
    out.len = len;
    free(buf);
    return out;
}

/* centre.register of centre `id`, proposed in `term`. */
static inline struct raft_buffer helpers_centre_register(const char *id,
                                                         uint64_t term)
{
    struct amk_cmd cmd;
    if (amk_cmd_init(&cmd, AMK_CMD_CENTRE_REGISTER) != 0) {
        abort();
    }
    cmd.h.role = AMK_ROLE_ADMIN;
    cmd.u.centre_register.id = amk_str_c(id);
    cmd.u.centre_register.name = amk_str_c(id);
    cmd.u.centre_register.region = amk_str_c("helse-vest");
    return helpers_encode(&cmd, term);
}

/* The no-op a new leader proposes in `term`. */
static inline struct raft_buffer helpers_noop(uint64_t term)
{
    struct amk_cmd cmd;
    if (amk_cmd_init(&cmd, AMK_CMD_NOOP) != 0) {
        abort();
    }
    cmd.h.role = AMK_ROLE_SYSTEM; /* the leader itself */
    return helpers_encode(&cmd, term);
}

/* A snapshot's two buffers as raft stores them, one after the other, in one
 * raft_malloc'd buffer (what restore is handed). */
static inline struct raft_buffer helpers_concat(const struct raft_buffer *bufs)
{
    struct raft_buffer out;
    out.len = bufs[0].len + bufs[1].len;
    out.base = raft_malloc(out.len);
    if (out.base == NULL) {
        abort();
    }
    memcpy(out.base, bufs[0].base, bufs[0].len);
    memcpy((uint8_t *)out.base + bufs[0].len, bufs[1].base, bufs[1].len);
    return out;
}

/* raft_fsm snapshot and restore for tests whose FSM never snapshots. */
static inline int helpers_no_snapshot(struct raft_fsm *fsm,
                                      struct raft_buffer *bufs[],
                                      unsigned *n_bufs)
{
    (void)fsm;
    (void)bufs;
    (void)n_bufs;
    fail_msg("no snapshot is due in this test");
    return RAFT_NOTFOUND;
}

static inline int helpers_no_restore(struct raft_fsm *fsm,
                                     struct raft_buffer *buf)
{
    (void)fsm;
    (void)buf;
    fail_msg("no snapshot is due in this test");
    return RAFT_NOTFOUND;
}

#endif
