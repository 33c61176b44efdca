/* server/link.c: the cluster link's lifetime (init, close, periodic upkeep)
 * and the connection machinery both sides share: reading frames through the
 * codec with caps checked before allocation, sending, and closing with
 * libuv's close-callback lifetimes. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "link_int.h"

void link__log(struct amk_link *link, int level, const char *fmt, ...)
{
    if (link->config.env.log == NULL) {
        return;
    }
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    link->config.env.log(link->config.env.data, level, msg);
}

void link__list_add(struct link_conn **head, struct link_conn *conn)
{
    conn->prev = NULL;
    conn->next = *head;
    if (*head != NULL) {
        (*head)->prev = conn;
    }
    *head = conn;
}

void link__list_remove(struct link_conn **head, struct link_conn *conn)
{
    if (conn->prev != NULL) {
        conn->prev->next = conn->next;
    } else if (*head == conn) {
        *head = conn->next;
    }
    if (conn->next != NULL) {
        conn->next->prev = conn->prev;
    }
    conn->prev = conn->next = NULL;
}

void link__handle_closed(struct amk_link *link)
{
    link->open_handles--;
    if (link->lifecycle == LINK_CLOSING && link->open_handles == 0) {
        link->lifecycle = LINK_CLOSED;
        if (link->close_cb != NULL) {
            link->close_cb(link);
        }
    }
}

/* --- Sending ------------------------------------------------------------- */

struct link_write {
    uv_write_t req;
    struct link_conn *conn;
    void *frame;
};

static void write_done(uv_write_t *req, int status)
{
    struct link_write *w = req->data;
    struct link_conn *conn = w->conn;
    free(w->frame);
    free(w);
    if (status != 0 && status != UV_ECANCELED) {
        char why[128];
        snprintf(why, sizeof why, "write failed: %s", uv_strerror(status));
        link__conn_close(conn, AMK_LINK_LOG_WARN, why);
    }
}

int link__send(struct link_conn *conn, void *frame, size_t len)
{
    if (conn->state != CONN_OPEN || conn->broken) {
        free(frame);
        return UV_ENOTCONN;
    }
    if (uv_stream_get_write_queue_size((uv_stream_t *)&conn->tcp) >
        LINK_MAX_WRITE_QUEUE) {
        free(frame);
        conn->broken = true;
        link__log(conn->link, AMK_LINK_LOG_WARN,
                  "link %s: peer does not read its answers; dropping it",
                  conn->peer);
        return UV_ENOBUFS;
    }
    struct link_write *w = malloc(sizeof *w);
    if (w == NULL) {
        free(frame);
        conn->broken = true;
        return UV_ENOMEM;
    }
    w->req.data = w;
    w->conn = conn;
    w->frame = frame;
    uv_buf_t buf = uv_buf_init(frame, (unsigned)len);
    int rv = uv_write(&w->req, (uv_stream_t *)&conn->tcp, &buf, 1, write_done);
    if (rv != 0) {
        free(frame);
        free(w);
        /* Not closed here: the caller may be walking a list this
         * connection's requests are on. The timer closes broken ones. */
        conn->broken = true;
        return rv;
    }
    return 0;
}

/* --- Reading ------------------------------------------------------------- */

static void alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct link_conn *conn = handle->data;
    *buf = uv_buf_init((char *)conn->read_buf, sizeof conn->read_buf);
}

/* A whole frame: to the side that owns the connection. */
static int frame_done(struct link_conn *conn, const uint8_t *payload)
{
    struct amk_link_header h = conn->h;
    conn->head_have = 0;
    return conn->served ? link_server__frame(conn, &h, payload)
                        : link_client__frame(conn, &h, payload);
}

/* Feeds n bytes to the frame assembly; stops when the connection closes. */
static void feed(struct link_conn *conn, const uint8_t *p, size_t n)
{
    char errmsg[256];
    while (n > 0 && conn->state == CONN_OPEN) {
        if (conn->head_have < AMK_LINK_HEADER_SIZE) {
            size_t take = AMK_LINK_HEADER_SIZE - conn->head_have;
            take = take < n ? take : n;
            memcpy(conn->head + conn->head_have, p, take);
            conn->head_have += take;
            p += take;
            n -= take;
            if (conn->head_have < AMK_LINK_HEADER_SIZE) {
                return;
            }
            /* Caps (length, version, type, per-type payload) are checked
             * here, before anything is allocated for the payload. */
            if (amk_link_header_decode(conn->head, &conn->h, errmsg) != 0) {
                conn->link->stats.protocol_errors++;
                link__conn_close(conn, AMK_LINK_LOG_WARN, errmsg);
                return;
            }
            conn->payload_have = 0;
            if (conn->h.payload_len == 0) {
                if (frame_done(conn, NULL) != 0) {
                    return;
                }
                continue;
            }
            if (n >= conn->h.payload_len) {
                /* The whole payload is in hand: no copy. */
                const uint8_t *payload = p;
                p += conn->h.payload_len;
                n -= conn->h.payload_len;
                if (frame_done(conn, payload) != 0) {
                    return;
                }
                continue;
            }
            conn->payload = malloc(conn->h.payload_len);
            if (conn->payload == NULL) {
                link__conn_close(conn, AMK_LINK_LOG_ERROR,
                                 "out of memory for a frame");
                return;
            }
        }
        size_t take = conn->h.payload_len - conn->payload_have;
        take = take < n ? take : n;
        memcpy(conn->payload + conn->payload_have, p, take);
        conn->payload_have += take;
        p += take;
        n -= take;
        if (conn->payload_have == conn->h.payload_len) {
            uint8_t *payload = conn->payload;
            conn->payload = NULL;
            int rv = frame_done(conn, payload);
            free(payload);
            if (rv != 0) {
                return;
            }
        }
    }
}

static void read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct link_conn *conn = stream->data;
    (void)buf;
    if (nread > 0) {
        feed(conn, conn->read_buf, (size_t)nread);
        return;
    }
    if (nread == UV_EOF) {
        link__conn_close(conn,
                         conn->served ? AMK_LINK_LOG_DEBUG : AMK_LINK_LOG_INFO,
                         "closed by the peer");
    } else if (nread < 0) {
        char why[128];
        snprintf(why, sizeof why, "read failed: %s", uv_strerror((int)nread));
        link__conn_close(conn, AMK_LINK_LOG_WARN, why);
    }
}

int link__read_start(struct link_conn *conn)
{
    return uv_read_start((uv_stream_t *)&conn->tcp, alloc_cb, read_cb);
}

/* --- Closing ------------------------------------------------------------- */

static void conn_closed(uv_handle_t *handle)
{
    struct link_conn *conn = handle->data;
    struct amk_link *link = conn->link;
    free(conn->payload);
    free(conn);
    link__handle_closed(link);
}

void link__conn_close(struct link_conn *conn, int level, const char *why)
{
    if (conn->state == CONN_CLOSING) {
        return;
    }
    struct amk_link *link = conn->link;
    conn->state = CONN_CLOSING;
    if (why != NULL) {
        link__log(link, level, "link %s %s: %s", conn->served ? "from" : "to",
                  conn->peer, why);
    }
    if (conn->served) {
        link__list_remove(&link->served, conn);
        link->n_served--;
        link_server__conn_closing(conn);
    } else {
        if (link->current == conn) {
            link->current = NULL;
        } else {
            link__list_remove(&link->draining, conn);
        }
        link_client__conn_closing(conn);
    }
    uv_close((uv_handle_t *)&conn->tcp, conn_closed);
}

/* --- Lifetime ------------------------------------------------------------ */

static void timer_closed(uv_handle_t *handle)
{
    link__handle_closed(handle->data);
}

int amk_link_init(struct amk_link *link, uv_loop_t *loop,
                  const struct amk_link_config *config)
{
    memset(link, 0, sizeof *link);
    link->loop = loop;
    link->config = *config;
    if (link->config.request_timeout_ms == 0) {
        link->config.request_timeout_ms = LINK_DEFAULT_TIMEOUT_MS;
    }
    if (link->config.max_connections == 0) {
        link->config.max_connections = LINK_DEFAULT_MAX_CONNECTIONS;
    }
    if (link->config.max_inflight == 0) {
        link->config.max_inflight = LINK_DEFAULT_MAX_INFLIGHT;
    }
    if (config->env.leader == NULL || config->env.is_leader == NULL ||
        config->env.applied_index == NULL || config->env.propose == NULL ||
        config->env.read_index == NULL) {
        snprintf(link->errmsg, sizeof link->errmsg, "link: incomplete env");
        return AMK_LINK_EINVAL;
    }
    if (config->address != NULL && config->address[0] != '\0') {
        if (strlen(config->address) >= sizeof link->address) {
            snprintf(link->errmsg, sizeof link->errmsg,
                     "%.64s: address too long", config->address);
            return AMK_LINK_EINVAL;
        }
        snprintf(link->address, sizeof link->address, "%s", config->address);
    }
    link->config.address = link->address;
    link_client__init(link);
    if (link->address[0] != '\0') {
        int rv = link_server__listen(link);
        if (rv != 0) {
            return rv;
        }
    }
    uv_timer_init(loop, &link->timer);
    link->timer.data = link;
    uv_check_init(loop, &link->check);
    link->check.data = link;
    link->open_handles += 2;
    link->lifecycle = LINK_OPEN;
    return AMK_LINK_OK;
}

uint16_t amk_link_port(const struct amk_link *link)
{
    return link->port;
}

void amk_link_close(struct amk_link *link, amk_link_close_cb cb)
{
    if (link->lifecycle != LINK_OPEN) {
        return;
    }
    link->lifecycle = LINK_CLOSING;
    link->close_cb = cb;
    /* Keep a count over the walk so the callback cannot fire early. */
    link->open_handles++;
    link_server__close(link);
    while (link->served != NULL) {
        link__conn_close(link->served, AMK_LINK_LOG_DEBUG, NULL);
    }
    if (link->current != NULL) {
        link__conn_close(link->current, AMK_LINK_LOG_DEBUG, NULL);
    }
    while (link->draining != NULL) {
        link__conn_close(link->draining, AMK_LINK_LOG_DEBUG, NULL);
    }
    link_client__shutdown(link);
    uv_close((uv_handle_t *)&link->timer, timer_closed);
    uv_close((uv_handle_t *)&link->check, timer_closed);
    link__handle_closed(link);
}

void amk_link_stats(const struct amk_link *link, struct amk_link_stats *out)
{
    *out = link->stats;
    out->served_connections = link->n_served;
    out->connected = link->current != NULL && link->current->state == CONN_OPEN;
}

/* --- Liveness ------------------------------------------------------------ */

int amk_link_liveness(const struct amk_link *link, const char *centre,
                      struct amk_link_liveness *row)
{
    for (unsigned i = 0; i < link->n_liveness; i++) {
        if (strcmp(link->liveness[i].centre, centre) == 0) {
            *row = link->liveness[i];
            return AMK_LINK_OK;
        }
    }
    return AMK_LINK_ENOTFOUND;
}

int amk_link_last_heard(const struct amk_link *link, const char *centre,
                        uint64_t *at_ms)
{
    struct amk_link_liveness row;
    if (amk_link_liveness(link, centre, &row) != AMK_LINK_OK ||
        row.last_valid_ms == 0) {
        return AMK_LINK_ENOTFOUND;
    }
    *at_ms = row.last_valid_ms;
    return AMK_LINK_OK;
}

void amk_link_liveness_reset(struct amk_link *link)
{
    link->n_liveness = 0;
    memset(link->liveness, 0, sizeof link->liveness);
}
