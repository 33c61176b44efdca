/* raft/transport.c: the plain TCP transport behind the transport seam. */
#include "raft/transport.h"

#include <string.h>

#include "raft/error.h"

static int tcp_init(struct raft_uv_transport *t, uv_loop_t *loop,
                    const void *config, char *errmsg)
{
    int rv;
    (void)config;
    memset(t, 0, sizeof *t);
    rv = raft_uv_tcp_init(t, loop);
    if (rv != 0) {
        return amk_raft_code_from_raft(rv, errmsg, "raft TCP transport",
                                       t->errmsg);
    }
    return 0;
}

static void tcp_release(struct raft_uv_transport *t)
{
    raft_uv_tcp_close(t);
}

const struct amk_raft_transport_ops amk_raft_transport_tcp = {
    .name = "tcp",
    .init = tcp_init,
    .release = tcp_release,
};
