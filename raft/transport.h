/* raft/transport.h: the seam that creates the struct raft_uv_transport raft_uv
 * sends its RPCs over. Plain TCP today (raft_uv_tcp); the mTLS transport
 * (DESIGN: Security) will be a second amk_raft_transport_ops and nothing else
 * in raft/ changes. */
#ifndef AMK_RAFT_TRANSPORT_H
#define AMK_RAFT_TRANSPORT_H

#include <raft.h>
#include <raft/uv.h>
#include <uv.h>

struct amk_raft_transport_ops {
    const char *name; /* "tcp", for logs */

    /* Fills *t (memory owned by the caller, which must keep it at a fixed
     * address until release) for use on loop. config is the transport's own
     * settings (NULL for TCP; the TLS directory later). Returns 0, or an
     * amk_raft_code with errmsg (256 bytes) set, in which case *t holds
     * nothing to release. */
    int (*init)(struct raft_uv_transport *t, uv_loop_t *loop,
                const void *config, char *errmsg);

    /* Frees what init allocated. Only after raft_uv has closed the transport
     * (t->close callback fired, i.e. in or after raft_close's callback), or
     * when raft_uv never used it. */
    void (*release)(struct raft_uv_transport *t);
};

/* canonical/raft's own TCP transport (raft_uv_tcp_init). Addresses must be
 * IPv4 literals "A.B.C.D:port": 0.15 parses them with uv_ip4_addr and never
 * resolves names (DESIGN 0.15 defect 5). */
extern const struct amk_raft_transport_ops amk_raft_transport_tcp;

#endif
