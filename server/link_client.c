/* server/link_client.c: a follower's side of the cluster link: one
 * persistent connection to the leader's --binary address (found in the node
 * directory), forwarded requests matched to answers by id, each bounded by
 * its deadline, with one retry when the leader changes under it.
 *
 * A request is an explicit state machine:
 *   QUEUED   on a connection still connecting: not sent
 *   SENT     written to the leader, answer awaited
 *   PARKED   answered NOT_LEADER (or its connection dropped, for a read):
 *            waiting for a new leader to retry once
 *   APPLYING a read whose index came back, waiting for the local apply
 * Outcomes: never sent -> ENOLEADER (not applied, 503); sent and then
 * dropped, timed out or answered SHUTDOWN/ERROR -> ETIMEOUT for a write
 * (outcome unknown, 504); a read is retried once instead, then ENOLEADER. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "link_int.h"

enum req_state {
    REQ_QUEUED = 1,
    REQ_SENT,
    REQ_PARKED,
    REQ_APPLYING,
};

static void timer_cb(uv_timer_t *timer);
static void check_cb(uv_check_t *check);

void link_client__init(struct amk_link *link)
{
    link->next_id = 1;
}

/* --- The request list ----------------------------------------------------- */

static void list_append(struct amk_link *link, struct amk_link_request *req)
{
    req->prev = link->requests_tail;
    req->next = NULL;
    if (link->requests_tail != NULL) {
        link->requests_tail->next = req;
    } else {
        link->requests = req;
    }
    link->requests_tail = req;
    link->n_requests++;
    if (!link->timer_running && link->lifecycle == LINK_OPEN) {
        link->timer_running = true;
        uv_timer_start(&link->timer, timer_cb, LINK_TIMER_MS, LINK_TIMER_MS);
    }
}

static void list_remove(struct amk_link *link, struct amk_link_request *req)
{
    if (req->prev != NULL) {
        req->prev->next = req->next;
    } else {
        link->requests = req->next;
    }
    if (req->next != NULL) {
        req->next->prev = req->prev;
    } else {
        link->requests_tail = req->prev;
    }
    req->prev = req->next = NULL;
    link->n_requests--;
    if (link->n_requests == 0 && link->timer_running) {
        link->timer_running = false;
        uv_timer_stop(&link->timer);
    }
}

/* Takes req off its connection; a draining connection with nothing left
 * on it is closed. */
static void conn_detach(struct amk_link_request *req)
{
    struct link_conn *conn = req->conn;
    if (conn == NULL) {
        return;
    }
    req->conn = NULL;
    conn->n_requests--;
    if (conn->n_requests == 0 && conn != conn->link->current &&
        conn->state != CONN_CLOSING) {
        link__conn_close(conn, AMK_LINK_LOG_DEBUG, NULL);
    }
}

static void complete(struct amk_link_request *req, int status)
{
    struct amk_link *link = req->link;
    conn_detach(req);
    list_remove(link, req);
    switch (status) {
        case AMK_LINK_OK:
            link->stats.forwarded_ok++;
            break;
        case AMK_LINK_ENOLEADER:
            link->stats.forward_no_leader++;
            break;
        case AMK_LINK_ETIMEOUT:
            link->stats.forward_timeouts++;
            break;
        default:
            break;
    }
    if (status != AMK_LINK_OK) {
        amk_sm_result_clear(&req->result);
        req->index = 0;
    }
    req->cb(req, status);
}

/* --- Connections ---------------------------------------------------------- */

static void on_connect(uv_connect_t *connect, int status)
{
    struct link_conn *conn = connect->data;
    struct amk_link *link = conn->link;
    if (conn->state != CONN_CONNECTING) {
        return; /* closed meanwhile (UV_ECANCELED) */
    }
    if (status == 0) {
        conn->state = CONN_OPEN;
        status = link__read_start(conn);
    }
    if (status != 0) {
        char why[160];
        link->stats.connect_failures++;
        link->next_connect_ms = uv_now(link->loop) + LINK_RECONNECT_MS;
        snprintf(why, sizeof why, "connect to leader %llu failed: %s",
                 (unsigned long long)conn->leader_id, uv_strerror(status));
        /* During a failover every forwarded request retries the dead
         * leader: warn once per leader, the rest at debug level. */
        int level = link->warned_leader == conn->leader_id ? AMK_LINK_LOG_DEBUG
                                                           : AMK_LINK_LOG_WARN;
        link->warned_leader = conn->leader_id;
        link__conn_close(conn, level, why);
        return;
    }
    link->stats.connects++;
    link->next_connect_ms = 0;
    link__log(link, AMK_LINK_LOG_INFO, "link to %s: connected (leader %llu)",
              conn->peer, (unsigned long long)conn->leader_id);
    link_client__connected(conn);
}

/* A new connection to leader at address, or NULL (logged). */
static struct link_conn *conn_open(struct amk_link *link, uint64_t leader,
                                   const char *address)
{
    struct sockaddr_storage addr;
    if (amk_link_parse_address(address, false, &addr) != 0) {
        link__log(link, AMK_LINK_LOG_WARN,
                  "link: leader %llu's address '%s' is not IP:port",
                  (unsigned long long)leader, address);
        return NULL;
    }
    struct link_conn *conn = calloc(1, sizeof *conn);
    if (conn == NULL) {
        return NULL;
    }
    conn->link = link;
    conn->state = CONN_CONNECTING;
    conn->connect_started_ms = uv_now(link->loop);
    conn->leader_id = leader;
    snprintf(conn->address, sizeof conn->address, "%s", address);
    snprintf(conn->peer, sizeof conn->peer, "%s", address);
    uv_tcp_init(link->loop, &conn->tcp);
    conn->tcp.data = conn;
    conn->connect.data = conn;
    link->open_handles++;
    uv_tcp_nodelay(&conn->tcp, 1);
    int rv = uv_tcp_connect(&conn->connect, &conn->tcp,
                            (struct sockaddr *)&addr, on_connect);
    if (rv != 0) {
        char why[128];
        link->stats.connect_failures++;
        link->next_connect_ms = uv_now(link->loop) + LINK_RECONNECT_MS;
        snprintf(why, sizeof why, "connect: %s", uv_strerror(rv));
        /* No request is on it yet; the close callback frees it. */
        link__conn_close(conn, AMK_LINK_LOG_WARN, why);
        return NULL;
    }
    return conn;
}

/* The current connection is no longer to the leader: it finishes what was
 * sent on it, then closes. */
static void demote_current(struct amk_link *link)
{
    struct link_conn *conn = link->current;
    if (conn == NULL) {
        return;
    }
    link->current = NULL;
    if (conn->n_requests == 0) {
        link__conn_close(conn, AMK_LINK_LOG_DEBUG, NULL);
        return;
    }
    link__list_add(&link->draining, conn);
}

/* The connection to leader at address, opened if needed; NULL if it could
 * not even be started. */
static struct link_conn *conn_to(struct amk_link *link, uint64_t leader,
                                 const char *address)
{
    struct link_conn *conn = link->current;
    if (conn != NULL && (conn->leader_id != leader ||
                         strcmp(conn->address, address) != 0 || conn->broken)) {
        demote_current(link);
        conn = NULL;
    }
    if (conn == NULL) {
        conn = conn_open(link, leader, address);
        link->current = conn;
    }
    return conn;
}

/* --- Sending ----------------------------------------------------------------
 */

static int send_request(struct amk_link_request *req)
{
    struct amk_link *link = req->link;
    void *frame;
    size_t len;
    int rv =
        req->type == AMK_LINK_PROPOSE
            ? amk_link_encode_propose(req->id, req->cmd, req->len, &frame, &len)
            : amk_link_encode_read_index(req->id, &frame, &len);
    if (rv != AMK_LINK_OK) {
        return rv;
    }
    if (link__send(req->conn, frame, len) != 0) {
        return AMK_LINK_ENOLEADER; /* not sent */
    }
    req->state = REQ_SENT;
    if (req->type == AMK_LINK_PROPOSE) {
        link->stats.forwarded_writes++;
    } else {
        link->stats.forwarded_reads++;
    }
    return AMK_LINK_OK;
}

/* Puts req on a connection to the leader: sent at once when the connection
 * is open, queued while it connects. Returns 0, AMK_LINK_ELOCAL (this node
 * leads), AMK_LINK_ENOLEADER (no leader or address known, or the connection
 * could not be started) or an encoding code; req is then on no
 * connection. */
static int dispatch(struct amk_link *link, struct amk_link_request *req)
{
    const struct amk_link_env *env = &link->config.env;
    char address[64] = "";
    if (env->is_leader(env->data)) {
        return AMK_LINK_ELOCAL;
    }
    uint64_t leader = env->leader(env->data, address, sizeof address);
    if (leader == 0 || leader == link->config.self_id || address[0] == '\0') {
        return AMK_LINK_ENOLEADER;
    }
    struct link_conn *conn = conn_to(link, leader, address);
    if (conn == NULL) {
        return AMK_LINK_ENOLEADER;
    }
    req->conn = conn;
    conn->n_requests++;
    if (conn->state == CONN_CONNECTING) {
        req->state = REQ_QUEUED;
        return AMK_LINK_OK;
    }
    int rv = send_request(req);
    if (rv != AMK_LINK_OK) {
        conn_detach(req);
    }
    return rv;
}

void link_client__connected(struct link_conn *conn)
{
    struct amk_link *link = conn->link;
    for (struct amk_link_request *req = link->requests; req != NULL;) {
        struct amk_link_request *next = req->next;
        if (req->conn == conn && req->state == REQ_QUEUED &&
            send_request(req) != AMK_LINK_OK) {
            complete(req, AMK_LINK_ENOLEADER);
        }
        req = next;
    }
}

static int submit(struct amk_link *link, struct amk_link_request *req,
                  uint8_t type, amk_link_request_cb cb)
{
    if (link->lifecycle != LINK_OPEN) {
        return AMK_LINK_ESHUTDOWN;
    }
    req->link = link;
    req->conn = NULL;
    req->type = type;
    req->cb = cb;
    req->id = link->next_id++;
    req->deadline = uv_now(link->loop) + link->config.request_timeout_ms;
    req->tried = 0;
    req->retried = false;
    req->index = 0;
    memset(&req->result, 0, sizeof req->result);
    int rv = dispatch(link, req);
    if (rv == AMK_LINK_ELOCAL) {
        /* The caller decided this node does not lead; raft says it does:
         * a transition in progress. Not sent, not applied. */
        rv = AMK_LINK_ENOLEADER;
    }
    if (rv != AMK_LINK_OK) {
        if (rv == AMK_LINK_ENOLEADER) {
            link->stats.forward_no_leader++;
        }
        return rv;
    }
    list_append(link, req);
    return AMK_LINK_OK;
}

int amk_link_propose(struct amk_link *link, struct amk_link_request *req,
                     const void *cmd, size_t len, amk_link_request_cb cb)
{
    if (len == 0 || len > AMK_CMD_MAX_SIZE) {
        return AMK_LINK_ETOOBIG;
    }
    req->cmd = cmd;
    req->len = len;
    return submit(link, req, AMK_LINK_PROPOSE, cb);
}

int amk_link_read(struct amk_link *link, struct amk_link_request *req,
                  amk_link_request_cb cb)
{
    req->cmd = NULL;
    req->len = 0;
    return submit(link, req, AMK_LINK_READ_INDEX, cb);
}

/* --- Retries ----------------------------------------------------------------
 */

/* A parked request: sent to a leader other than the one that refused it, as
 * soon as one is known; ELOCAL when this node became the leader. */
static void try_parked(struct amk_link *link, struct amk_link_request *req)
{
    const struct amk_link_env *env = &link->config.env;
    if (env->is_leader(env->data)) {
        complete(req, AMK_LINK_ELOCAL);
        return;
    }
    char address[64] = "";
    uint64_t leader = env->leader(env->data, address, sizeof address);
    if (leader == 0 || leader == link->config.self_id || address[0] == '\0' ||
        leader == req->tried) {
        return; /* still waiting, until the deadline */
    }
    int rv = dispatch(link, req);
    if (rv == AMK_LINK_ENOLEADER) {
        return; /* could not start a connection yet: wait */
    }
    if (rv != AMK_LINK_OK) {
        complete(req, rv);
    }
}

/* The leader refused req, or (read only) its connection dropped. tried: the
 * leader not to try again (0: any). Not applied in either case. */
static void retry(struct amk_link_request *req, uint64_t tried)
{
    struct amk_link *link = req->link;
    conn_detach(req);
    if (req->retried) {
        complete(req, AMK_LINK_ENOLEADER);
        return;
    }
    req->retried = true;
    req->tried = tried;
    req->state = REQ_PARKED;
    link->stats.forward_retries++;
    try_parked(link, req);
}

/* --- Answers ----------------------------------------------------------------
 */

static void start_check(struct amk_link *link)
{
    if (!link->check_running && link->lifecycle == LINK_OPEN) {
        link->check_running = true;
        uv_check_start(&link->check, check_cb);
    }
}

static struct amk_link_request *find_sent(struct link_conn *conn, uint64_t id)
{
    for (struct amk_link_request *req = conn->link->requests; req != NULL;
         req = req->next) {
        if (req->id == id && req->conn == conn && req->state == REQ_SENT) {
            return req;
        }
    }
    return NULL;
}

static void answer_result(struct amk_link_request *req, uint8_t status,
                          struct amk_sm_result *result)
{
    uint64_t leader = req->conn->leader_id;
    switch (status) {
        case AMK_LINK_STATUS_OK:
            req->result = *result; /* moves the body */
            complete(req, AMK_LINK_OK);
            return;
        case AMK_LINK_STATUS_NOT_LEADER:
            retry(req, leader);
            return;
        default: /* SHUTDOWN, ERROR: it may have been appended */
            complete(req, AMK_LINK_ETIMEOUT);
            return;
    }
}

static void answer_index(struct amk_link_request *req, uint8_t status,
                         uint64_t index)
{
    struct amk_link *link = req->link;
    if (status != AMK_LINK_STATUS_OK) {
        /* A read has no side effect: the next leader may serve it. */
        retry(req, req->conn->leader_id);
        return;
    }
    req->index = index;
    conn_detach(req);
    if (link->config.env.applied_index(link->config.env.data) >= index) {
        complete(req, AMK_LINK_OK);
        return;
    }
    req->state = REQ_APPLYING;
    start_check(link);
}

int link_client__frame(struct link_conn *conn, const struct amk_link_header *h,
                       const uint8_t *payload)
{
    struct amk_link *link = conn->link;
    char errmsg[256];
    uint8_t status;
    if (h->type == AMK_LINK_RESULT) {
        struct amk_sm_result result;
        char message[AMK_LINK_MESSAGE_MAX + 1];
        int rv = amk_link_decode_result(payload, h->payload_len, &status,
                                        &result, message, errmsg);
        if (rv != AMK_LINK_OK) {
            link->stats.protocol_errors++;
            link__conn_close(conn, AMK_LINK_LOG_WARN, errmsg);
            return -1;
        }
        struct amk_link_request *req = find_sent(conn, h->id);
        if (req == NULL || req->type != AMK_LINK_PROPOSE) {
            /* Answered after its deadline: the caller has had 504. */
            amk_sm_result_clear(&result);
            link__log(link, AMK_LINK_LOG_DEBUG,
                      "link %s: late RESULT for request %llu", conn->peer,
                      (unsigned long long)h->id);
            return 0;
        }
        if (status != AMK_LINK_STATUS_OK && message[0] != '\0') {
            link__log(link, AMK_LINK_LOG_DEBUG, "link %s: request %llu: %s: %s",
                      conn->peer, (unsigned long long)h->id,
                      amk_link_status_name(status), message);
        }
        answer_result(req, status, &result);
        return 0;
    }
    if (h->type == AMK_LINK_INDEX) {
        uint64_t index;
        if (amk_link_decode_index(payload, h->payload_len, &status, &index,
                                  errmsg) != AMK_LINK_OK) {
            link->stats.protocol_errors++;
            link__conn_close(conn, AMK_LINK_LOG_WARN, errmsg);
            return -1;
        }
        struct amk_link_request *req = find_sent(conn, h->id);
        if (req != NULL && req->type == AMK_LINK_READ_INDEX) {
            answer_index(req, status, index);
        }
        return 0;
    }
    snprintf(errmsg, sizeof errmsg, "unexpected frame type %u from a leader",
             (unsigned)h->type);
    link->stats.protocol_errors++;
    link__conn_close(conn, AMK_LINK_LOG_WARN, errmsg);
    return -1;
}

void link_client__conn_closing(struct link_conn *conn)
{
    struct amk_link *link = conn->link;
    bool shutdown = link->lifecycle != LINK_OPEN;
    /* Take this connection's requests off the list first: handling one may
     * start others (a retry), never on this connection. */
    struct amk_link_request *mine = NULL, **tail = &mine;
    for (struct amk_link_request *req = link->requests; req != NULL;) {
        struct amk_link_request *next = req->next;
        if (req->conn == conn) {
            list_remove(link, req);
            req->conn = NULL;
            conn->n_requests--;
            *tail = req;
            req->next = NULL;
            tail = &req->next;
        }
        req = next;
    }
    while (mine != NULL) {
        struct amk_link_request *req = mine;
        mine = req->next;
        list_append(link, req); /* complete() and retry() expect it listed */
        if (shutdown) {
            complete(req, AMK_LINK_ESHUTDOWN);
        } else if (req->state == REQ_QUEUED) {
            complete(req, AMK_LINK_ENOLEADER); /* never sent */
        } else if (req->type == AMK_LINK_READ_INDEX) {
            retry(req, 0);
        } else {
            complete(req, AMK_LINK_ETIMEOUT); /* sent: outcome unknown */
        }
    }
}

void link_client__shutdown(struct amk_link *link)
{
    while (link->requests != NULL) {
        complete(link->requests, AMK_LINK_ESHUTDOWN);
    }
    link->timer_running = false;
    link->check_running = false;
}

/* --- Timers -----------------------------------------------------------------
 */

static void check_cb(uv_check_t *check)
{
    struct amk_link *link = check->data;
    const struct amk_link_env *env = &link->config.env;
    uint64_t applied = env->applied_index(env->data);
    bool waiting = false;
    for (struct amk_link_request *req = link->requests; req != NULL;) {
        struct amk_link_request *next = req->next;
        if (req->state == REQ_APPLYING) {
            if (applied >= req->index) {
                complete(req, AMK_LINK_OK);
            } else {
                waiting = true;
            }
        }
        req = next;
    }
    if (!waiting && link->check_running) {
        link->check_running = false;
        uv_check_stop(&link->check);
    }
}

/* Closes a connection whose write failed (closing fails or detaches what
 * is on it), or a connect that has hung for a whole request timeout (a
 * black-holed leader: the OS would wait minutes). */
static void reap(struct link_conn *conn, uint64_t now)
{
    if (conn->broken) {
        link__conn_close(conn, AMK_LINK_LOG_WARN, "write failed");
    } else if (conn->state == CONN_CONNECTING &&
               now >= conn->connect_started_ms +
                          conn->link->config.request_timeout_ms) {
        conn->link->stats.connect_failures++;
        link__conn_close(conn, AMK_LINK_LOG_WARN, "connect timed out");
    }
}

static void reap_all(struct amk_link *link, uint64_t now)
{
    if (link->current != NULL) {
        reap(link->current, now);
    }
    for (struct link_conn *conn = link->draining; conn != NULL;) {
        struct link_conn *next = conn->next;
        reap(conn, now);
        conn = next;
    }
    for (struct link_conn *conn = link->served; conn != NULL;) {
        struct link_conn *next = conn->next;
        reap(conn, now);
        conn = next;
    }
}

static void timer_cb(uv_timer_t *timer)
{
    struct amk_link *link = timer->data;
    uint64_t now = uv_now(link->loop);
    reap_all(link, now);
    /* A request added while walking (a retry's callback submitting) lands
     * at the tail and is looked at too: harmless, it is not yet due. */
    for (struct amk_link_request *req = link->requests; req != NULL;) {
        struct amk_link_request *next = req->next;
        if (now >= req->deadline) {
            complete(req, req->state == REQ_QUEUED || req->state == REQ_PARKED
                              ? AMK_LINK_ENOLEADER
                              : AMK_LINK_ETIMEOUT);
        } else if (req->state == REQ_PARKED) {
            try_parked(link, req);
        }
        req = next;
    }
}

/* --- Upkeep -----------------------------------------------------------------
 */

static void send_node_heartbeat(struct amk_link *link, const char *centre)
{
    struct amk_link_heartbeat hb;
    memset(&hb, 0, sizeof hb);
    snprintf(hb.centre, sizeof hb.centre, "%s", centre);
    hb.valid = true;
    void *frame;
    size_t len;
    if (amk_link_encode_heartbeat(0, &hb, &frame, &len) == AMK_LINK_OK) {
        link__send(link->current, frame, len);
    }
}

void amk_link_tick(struct amk_link *link, const char *own_centre)
{
    const struct amk_link_env *env = &link->config.env;
    if (link->lifecycle != LINK_OPEN) {
        return;
    }
    uint64_t now = uv_now(link->loop);
    bool has_centre = own_centre != NULL && own_centre[0] != '\0' &&
                      strlen(own_centre) <= AMK_ID_MAX;
    reap_all(link, now); /* the timer runs only while requests wait */
    if (env->is_leader(env->data)) {
        if (link->current != NULL) {
            demote_current(link);
        }
        if (has_centre) {
            link_server__record(link, "", own_centre, true);
        }
        return;
    }
    char address[64] = "";
    uint64_t leader = env->leader(env->data, address, sizeof address);
    struct link_conn *conn = link->current;
    if (conn != NULL && (conn->leader_id != leader || conn->broken ||
                         strcmp(conn->address, address) != 0)) {
        link__log(link, AMK_LINK_LOG_INFO,
                  "link: leader is now %llu (was %llu): switching",
                  (unsigned long long)leader,
                  (unsigned long long)conn->leader_id);
        demote_current(link);
        conn = NULL;
    }
    if (conn == NULL && leader != 0 && leader != link->config.self_id &&
        address[0] != '\0' && now >= link->next_connect_ms) {
        link->current = conn_open(link, leader, address);
        if (link->current == NULL) {
            link->next_connect_ms = now + LINK_RECONNECT_MS;
        }
        return;
    }
    if (conn != NULL && conn->state == CONN_OPEN && has_centre &&
        now >= link->last_heartbeat_ms + LINK_NODE_HEARTBEAT_MS) {
        link->last_heartbeat_ms = now;
        send_node_heartbeat(link, own_centre);
    }
}

void amk_link_heartbeat(struct amk_link *link, const char *session,
                        const char *centre, bool valid)
{
    const struct amk_link_env *env = &link->config.env;
    if (link->lifecycle != LINK_OPEN || centre == NULL || centre[0] == '\0' ||
        strlen(centre) > AMK_ID_MAX ||
        (session != NULL && strlen(session) > AMK_ID_MAX)) {
        return;
    }
    if (env->is_leader(env->data)) {
        link_server__record(link, session, centre, valid);
        return;
    }
    if (link->current == NULL || link->current->state != CONN_OPEN) {
        return; /* best effort: the tick reconnects, the next one goes */
    }
    struct amk_link_heartbeat hb;
    memset(&hb, 0, sizeof hb);
    snprintf(hb.session, sizeof hb.session, "%s",
             session != NULL ? session : "");
    snprintf(hb.centre, sizeof hb.centre, "%s", centre);
    hb.valid = valid;
    void *frame;
    size_t len;
    if (amk_link_encode_heartbeat(0, &hb, &frame, &len) == AMK_LINK_OK) {
        link__send(link->current, frame, len);
    }
}
