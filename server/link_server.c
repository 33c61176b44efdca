/* server/link_server.c: the leader's side of the cluster link: the listener
 * on --binary, PROPOSE and READ_INDEX served through the env (raft on a real
 * node), and the liveness table HEARTBEAT frames feed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "link_int.h"

static void peer_name(struct link_conn *conn)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    char host[48] = "?";
    unsigned port = 0;
    if (uv_tcp_getpeername(&conn->tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            uv_ip4_name(a, host, sizeof host);
            port = ntohs(a->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            uv_ip6_name(a, host, sizeof host);
            port = ntohs(a->sin6_port);
        }
    }
    snprintf(conn->peer, sizeof conn->peer, "%s:%u", host, port);
}

static void refuse_closed(uv_handle_t *handle)
{
    free(handle);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct amk_link *link = server->data;
    if (status != 0) {
        link__log(link, AMK_LINK_LOG_WARN, "link: accept: %s",
                  uv_strerror(status));
        return;
    }
    if (link->lifecycle != LINK_OPEN ||
        link->n_served >= link->config.max_connections) {
        /* Accept and close at once, so the backlog does not fill up. */
        uv_tcp_t *refused = malloc(sizeof *refused);
        if (refused == NULL) {
            return;
        }
        uv_tcp_init(link->loop, refused);
        if (uv_accept(server, (uv_stream_t *)refused) == 0) {
            link__log(link, AMK_LINK_LOG_WARN,
                      "link: %u connections open: refusing another",
                      link->n_served);
        }
        uv_close((uv_handle_t *)refused, refuse_closed);
        return;
    }
    struct link_conn *conn = calloc(1, sizeof *conn);
    if (conn == NULL) {
        link__log(link, AMK_LINK_LOG_ERROR, "link: out of memory on accept");
        return;
    }
    conn->link = link;
    conn->served = true;
    conn->state = CONN_OPEN;
    uv_tcp_init(link->loop, &conn->tcp);
    conn->tcp.data = conn;
    link->open_handles++;
    link__list_add(&link->served, conn);
    link->n_served++;
    int rv = uv_accept(server, (uv_stream_t *)&conn->tcp);
    if (rv == 0) {
        uv_tcp_nodelay(&conn->tcp, 1);
        peer_name(conn);
        rv = link__read_start(conn);
    }
    if (rv != 0) {
        char why[128];
        snprintf(why, sizeof why, "accept: %s", uv_strerror(rv));
        link__conn_close(conn, AMK_LINK_LOG_WARN, why);
        return;
    }
    link__log(link, AMK_LINK_LOG_DEBUG, "link from %s: connected", conn->peer);
}

static void failed_listener_closed(uv_handle_t *handle)
{
    free(handle);
}

static void listener_closed(uv_handle_t *handle)
{
    struct amk_link *link = handle->data;
    free(handle);
    link__handle_closed(link);
}

void link_server__close(struct amk_link *link)
{
    if (link->listener != NULL) {
        uv_close((uv_handle_t *)link->listener, listener_closed);
        link->listener = NULL;
    }
}

int link_server__listen(struct amk_link *link)
{
    struct sockaddr_storage addr;
    if (amk_link_parse_address(link->address, true, &addr) != 0) {
        snprintf(link->errmsg, sizeof link->errmsg,
                 "%s: not an IP:port address", link->address);
        return AMK_LINK_EINVAL;
    }
    uv_tcp_t *listener = malloc(sizeof *listener);
    if (listener == NULL) {
        snprintf(link->errmsg, sizeof link->errmsg, "out of memory");
        return AMK_LINK_ENOMEM;
    }
    uv_tcp_init(link->loop, listener);
    listener->data = link;
    int rv = uv_tcp_bind(listener, (struct sockaddr *)&addr, 0);
    if (rv == 0) {
        rv = uv_listen((uv_stream_t *)listener, 128, on_connection);
    }
    if (rv != 0) {
        snprintf(link->errmsg, sizeof link->errmsg, "listen %s: %s",
                 link->address, uv_strerror(rv));
        /* The handle is ours alone: the loop frees it once closed. */
        uv_close((uv_handle_t *)listener, failed_listener_closed);
        return AMK_LINK_ELISTEN;
    }
    struct sockaddr_storage bound;
    int len = sizeof bound;
    if (uv_tcp_getsockname(listener, (struct sockaddr *)&bound, &len) == 0) {
        link->port = ntohs(bound.ss_family == AF_INET6
                               ? ((struct sockaddr_in6 *)&bound)->sin6_port
                               : ((struct sockaddr_in *)&bound)->sin_port);
    }
    link->listener = listener;
    link->open_handles++;
    return AMK_LINK_OK;
}

/* --- Served requests ------------------------------------------------------ */

static void op_detach(struct amk_link_op *op)
{
    struct link_conn *conn = op->conn;
    if (conn == NULL) {
        return;
    }
    if (op->prev != NULL) {
        op->prev->next = op->next;
    } else {
        conn->ops = op->next;
    }
    if (op->next != NULL) {
        op->next->prev = op->prev;
    }
    op->prev = op->next = NULL;
    op->conn = NULL;
    conn->n_ops--;
    if (conn->paused && conn->state == CONN_OPEN &&
        conn->n_ops <= conn->link->config.max_inflight / 2) {
        conn->paused = false;
        if (link__read_start(conn) != 0) {
            conn->broken = true;
        }
    }
}

static struct amk_link_op *op_new(struct link_conn *conn,
                                  const struct amk_link_header *h)
{
    struct amk_link_op *op = calloc(1, sizeof *op);
    if (op == NULL) {
        return NULL;
    }
    op->link = conn->link;
    op->conn = conn;
    op->id = h->id;
    op->type = h->type;
    op->next = conn->ops;
    if (conn->ops != NULL) {
        conn->ops->prev = op;
    }
    conn->ops = op;
    conn->n_ops++;
    if (!conn->paused && conn->n_ops >= conn->link->config.max_inflight) {
        /* Back-pressure: the follower's requests wait in its socket. */
        conn->paused = true;
        uv_read_stop((uv_stream_t *)&conn->tcp);
    }
    return op;
}

static void answer(struct link_conn *conn, int rv, void *frame, size_t len)
{
    if (rv != AMK_LINK_OK) {
        link__log(conn->link, AMK_LINK_LOG_ERROR,
                  "link %s: could not encode an answer: %s", conn->peer,
                  amk_link_code_name(rv));
        return;
    }
    link__send(conn, frame, len);
}

void amk_link_op_result(struct amk_link_op *op, int status,
                        const struct amk_sm_result *result, const char *message)
{
    struct link_conn *conn = op->conn;
    if (conn != NULL) {
        void *frame;
        size_t len;
        int rv = amk_link_encode_result(op->id, (uint8_t)status, result,
                                        message, &frame, &len);
        if (rv == AMK_LINK_ETOOBIG) {
            /* Applied, but the answer does not fit a frame: the follower
             * answers 504, the client's retry with its key replays. */
            rv = amk_link_encode_result(op->id, AMK_LINK_STATUS_ERROR, NULL,
                                        "the result is too large to forward",
                                        &frame, &len);
        }
        answer(conn, rv, frame, len);
        op_detach(op);
    }
    free(op);
}

void amk_link_op_index(struct amk_link_op *op, int status, uint64_t index)
{
    struct link_conn *conn = op->conn;
    if (conn != NULL) {
        void *frame;
        size_t len;
        int rv =
            amk_link_encode_index(op->id, (uint8_t)status, index, &frame, &len);
        answer(conn, rv, frame, len);
        op_detach(op);
    }
    free(op);
}

static void refuse(struct link_conn *conn, const struct amk_link_header *h,
                   int status, const char *message)
{
    void *frame;
    size_t len;
    int rv =
        h->type == AMK_LINK_PROPOSE
            ? amk_link_encode_result(h->id, (uint8_t)status, NULL, message,
                                     &frame, &len)
            : amk_link_encode_index(h->id, (uint8_t)status, 0, &frame, &len);
    answer(conn, rv, frame, len);
}

static int serve(struct link_conn *conn, const struct amk_link_header *h,
                 const uint8_t *payload)
{
    struct amk_link *link = conn->link;
    const struct amk_link_env *env = &link->config.env;
    if (link->lifecycle != LINK_OPEN || !env->is_leader(env->data)) {
        refuse(conn, h, AMK_LINK_STATUS_NOT_LEADER, "not the leader");
        return 0;
    }
    struct amk_link_op *op = op_new(conn, h);
    if (op == NULL) {
        refuse(conn, h, AMK_LINK_STATUS_NOT_LEADER, "out of memory");
        return 0;
    }
    int status;
    if (h->type == AMK_LINK_PROPOSE) {
        link->stats.served_writes++;
        status = env->propose(env->data, op, payload, h->payload_len);
    } else {
        link->stats.served_reads++;
        status = env->read_index(env->data, op);
    }
    if (status != AMK_LINK_STATUS_OK) {
        op_detach(op);
        free(op);
        refuse(conn, h, status,
               status == AMK_LINK_STATUS_NOT_LEADER ? "not the leader"
                                                    : "refused");
    }
    return 0;
}

int link_server__frame(struct link_conn *conn, const struct amk_link_header *h,
                       const uint8_t *payload)
{
    char errmsg[256];
    struct amk_link *link = conn->link;
    switch (h->type) {
        case AMK_LINK_PROPOSE:
            if (h->payload_len == 0) {
                break;
            }
            return serve(conn, h, payload);
        case AMK_LINK_READ_INDEX:
            return serve(conn, h, payload);
        case AMK_LINK_HEARTBEAT: {
            struct amk_link_heartbeat hb;
            if (amk_link_decode_heartbeat(payload, h->payload_len, &hb,
                                          errmsg) != 0) {
                link->stats.protocol_errors++;
                link__conn_close(conn, AMK_LINK_LOG_WARN, errmsg);
                return -1;
            }
            if (link->config.env.is_leader(link->config.env.data)) {
                link->stats.heartbeats_received++;
                link_server__record(link, hb.session, hb.centre, hb.valid);
            }
            return 0;
        }
        default:
            break;
    }
    snprintf(errmsg, sizeof errmsg, "unexpected frame type %u (%s payload)",
             (unsigned)h->type, h->payload_len == 0 ? "empty" : "with a");
    link->stats.protocol_errors++;
    link__conn_close(conn, AMK_LINK_LOG_WARN, errmsg);
    return -1;
}

void link_server__conn_closing(struct link_conn *conn)
{
    /* The env still owns the ops: their answers are dropped when they
     * come (amk_link_op_* frees them). */
    while (conn->ops != NULL) {
        op_detach(conn->ops);
    }
}

/* --- Liveness ------------------------------------------------------------ */

void link_server__record(struct amk_link *link, const char *session,
                         const char *centre, bool valid)
{
    if (centre == NULL || centre[0] == '\0' || strlen(centre) > AMK_ID_MAX) {
        return;
    }
    uint64_t now = uv_now(link->loop);
    struct amk_link_liveness *row = NULL;
    for (unsigned i = 0; i < link->n_liveness; i++) {
        if (strcmp(link->liveness[i].centre, centre) == 0) {
            row = &link->liveness[i];
            break;
        }
    }
    if (row == NULL) {
        if (link->n_liveness < AMK_LINK_MAX_CENTRES) {
            row = &link->liveness[link->n_liveness++];
        } else {
            /* Full (more centres than exist): reuse the quietest row. */
            row = &link->liveness[0];
            for (unsigned i = 1; i < link->n_liveness; i++) {
                if (link->liveness[i].last_any_ms < row->last_any_ms) {
                    row = &link->liveness[i];
                }
            }
        }
        memset(row, 0, sizeof *row);
        snprintf(row->centre, sizeof row->centre, "%s", centre);
    }
    row->last_any_ms = now;
    if (valid) {
        row->last_valid_ms = now;
        snprintf(row->last_session, sizeof row->last_session, "%.*s",
                 AMK_ID_MAX, session != NULL ? session : "");
    }
}
