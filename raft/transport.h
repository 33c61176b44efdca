/* raft/transport.h: the seam that creates the struct raft_uv_transport raft_uv
 * sends its RPCs over. Plain TCP today (raft_uv_tcp); the mTLS transport
 * (DESIGN: Security) will be a second amk_raft_transport_ops and nothing else
 * in raft/ changes. */
#ifndef AMK_RAFT_TRANSPORT_H
#define AMK_RAFT_TRANSPORT_H

#include <raft.h>
#include <raft/uv.h>
#include <uv.h>

/* A transport: the struct raft_uv_transport handed to raft_uv_init, and
 * the seam's own state next to it (found from raft_uv's callbacks, which
 * pass &uv, with amk_raft_transport_of). */
struct amk_raft_transport {
    struct raft_uv_transport uv;
    /* TCP: raft_uv_tcp's own listen and connect, and raft_uv's accept
     * callback, wrapped so that every raft connection gets TCP_NODELAY. */
    int (*inner_listen)(struct raft_uv_transport *t, raft_uv_accept_cb cb);
    int (*inner_connect)(struct raft_uv_transport *t,
                         struct raft_uv_connect *req, raft_id id,
                         const char *address, raft_uv_connect_cb cb);
    raft_uv_accept_cb accept_cb;
};

struct amk_raft_transport_ops {
    const char *name; /* "tcp", for logs */

    /* Fills *t (memory owned by the caller, which must keep it at a fixed
     * address until release) for use on loop. config is the transport's own
     * settings (NULL for TCP; the TLS directory later). Returns 0, or an
     * amk_raft_code with errmsg (256 bytes) set, in which case *t holds
     * nothing to release. */
    int (*init)(struct amk_raft_transport *t, uv_loop_t *loop,
                const void *config, char *errmsg);

    /* Frees what init allocated. Only after raft_uv has closed the transport
     * (t->close callback fired, i.e. in or after raft_close's callback), or
     * when raft_uv never used it. */
    void (*release)(struct amk_raft_transport *t);
};

/* canonical/raft's own TCP transport (raft_uv_tcp_init). Addresses must be
 * IPv4 literals "A.B.C.D:port": 0.15 parses them with uv_ip4_addr and never
 * resolves names (DESIGN 0.15 defect 5). raft_uv_tcp 0.15 leaves Nagle's
 * algorithm on; this sets TCP_NODELAY on every connection it makes or
 * accepts (see transport.c). */
extern const struct amk_raft_transport_ops amk_raft_transport_tcp;

#endif
