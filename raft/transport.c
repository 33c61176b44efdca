/* raft/transport.c: the plain TCP transport behind the transport seam:
 * raft_uv_tcp, with TCP_NODELAY on every connection. */
#include "raft/transport.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "raft/error.h"

static struct amk_raft_transport *transport_of(struct raft_uv_transport *t)
{
    return (
        struct amk_raft_transport *)((char *)t -
                                     offsetof(struct amk_raft_transport, uv));
}

/* raft_uv_tcp 0.15 never turns Nagle's algorithm off. raft_uv sends each
 * message on a connection of its own (the answers come back on the peer's
 * connection), so the receiver has no data to piggyback its ACKs on and
 * delays them (40 ms on Linux), and Nagle holds every small message written
 * while an earlier one is unacknowledged until that ACK: a follower then
 * hears nothing from the leader for 40 ms, which showed as 40 ms gaps between
 * AppendEntries and p99s of 40+ ms under load (docs/performance.md). A
 * failure here only costs latency, so it is not reported. */
static void no_delay(struct uv_stream_s *stream)
{
    if (stream != NULL && stream->type == UV_TCP) {
        uv_tcp_nodelay((uv_tcp_t *)stream, 1);
    }
}

static void accepted(struct raft_uv_transport *t, raft_id id,
                     const char *address, struct uv_stream_s *stream)
{
    no_delay(stream);
    transport_of(t)->accept_cb(t, id, address, stream);
}

static int tcp_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
    struct amk_raft_transport *tr = transport_of(t);
    tr->accept_cb = cb;
    return tr->inner_listen(t, accepted);
}

/* raft_uv's connect request, and the one raft_uv_tcp gets instead. */
struct tcp_connect {
    struct raft_uv_connect inner;
    struct raft_uv_connect *outer;
    raft_uv_connect_cb outer_cb;
};

static void connected(struct raft_uv_connect *inner, struct uv_stream_s *stream,
                      int status)
{
    struct tcp_connect *c = inner->data;
    struct raft_uv_connect *outer = c->outer;
    raft_uv_connect_cb cb = c->outer_cb;
    free(c);
    if (status == 0) {
        no_delay(stream);
    }
    cb(outer, stream, status);
}

static int tcp_connect(struct raft_uv_transport *t, struct raft_uv_connect *req,
                       raft_id id, const char *address, raft_uv_connect_cb cb)
{
    struct tcp_connect *c = calloc(1, sizeof *c);
    int rv;
    if (c == NULL) {
        return RAFT_NOMEM;
    }
    c->inner.data = c;
    c->outer = req;
    c->outer_cb = cb;
    req->cb = cb;
    rv = transport_of(t)->inner_connect(t, &c->inner, id, address, connected);
    if (rv != 0) {
        free(c);
    }
    return rv;
}

static int tcp_init(struct amk_raft_transport *t, uv_loop_t *loop,
                    const void *config, char *errmsg)
{
    int rv;
    (void)config;
    memset(t, 0, sizeof *t);
    rv = raft_uv_tcp_init(&t->uv, loop);
    if (rv != 0) {
        return amk_raft_code_from_raft(rv, errmsg, "raft TCP transport",
                                       t->uv.errmsg);
    }
    t->inner_listen = t->uv.listen;
    t->inner_connect = t->uv.connect;
    t->uv.listen = tcp_listen;
    t->uv.connect = tcp_connect;
    return 0;
}

static void tcp_release(struct amk_raft_transport *t)
{
    raft_uv_tcp_close(&t->uv);
}

const struct amk_raft_transport_ops amk_raft_transport_tcp = {
    .name = "tcp",
    .init = tcp_init,
    .release = tcp_release,
};
