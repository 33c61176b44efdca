/* server/cluster.c: the node's own routes: health, readiness, metrics, the
 * cluster view and membership changes (API.md "Cluster and health"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"

static struct amk_node *node_of(struct amk_http_request *req)
{
    return req->route_data;
}

static int healthz(struct amk_http_request *req)
{
    amk_http_respond_json(req, 200, json_pack("{s:s}", "status", "ok"));
    return AMK_HTTP_DONE;
}

bool amk_node_ready(struct amk_node *node, const char **why)
{
    uint64_t leader = amk_raft_node_leader(&node->raft, NULL);
    uint64_t applied = amk_raft_node_applied_index(&node->raft);
    uint64_t commit = amk_raft_node_commit_index(&node->raft);
    const char *reason = NULL;
    if (node->stopping) {
        reason = "stopping";
    } else if (leader == 0) {
        reason = "no leader known";
    } else if (applied < node->start_index &&
               !(commit > node->start_commit && applied >= commit)) {
        reason = "replaying the log";
    }
    if (why != NULL) {
        *why = reason;
    }
    return reason == NULL;
}

static int readyz(struct amk_http_request *req)
{
    struct amk_node *node = node_of(req);
    const char *why;
    bool ready = amk_node_ready(node, &why);
    json_t *out = json_pack(
        "{s:b, s:I, s:I, s:I}", "ready", ready, "leader",
        (json_int_t)amk_raft_node_leader(&node->raft, NULL), "applied_index",
        (json_int_t)amk_raft_node_applied_index(&node->raft), "loaded_index",
        (json_int_t)node->start_index);
    if (!ready) {
        amk_http_respond_set_retry_after(req, 1);
        json_object_set_new(out, "reason", json_string(why));
    }
    amk_http_respond_json(req, ready ? 200 : 503, out);
    return AMK_HTTP_DONE;
}

/* A member as GET /v1/cluster shows it: addresses, centre and region from
 * the node directory (this node's own configuration until it is
 * registered), null where unknown. */
static json_t *member_json(struct amk_node *node,
                           const struct amk_raft_member *m)
{
    bool self = m->id == node->config.id;
    struct amk_sm_node_info info;
    bool known = amk_sm_node_info(node->sm, m->id, &info) == AMK_OK;
    const char *centre = known ? info.centre : "";
    const char *region = known ? info.region : "";
    const char *http = known ? info.http_address : "";
    if (self && !amk_directory_current(node)) {
        centre = node->config.centre;
        region = node->config.region;
        http = node->http_address;
    }
    json_t *out = json_pack(
        "{s:I, s:s, s:s, s:o, s:o, s:o, s:o}", "id", (json_int_t)m->id,
        "address", m->address, "role", amk_raft_role_name(m->role), "centre",
        centre[0] != '\0' ? json_string(centre) : json_null(), "region",
        region[0] != '\0' ? json_string(region) : json_null(), "http",
        http[0] != '\0' ? json_string(http) : json_null(), "reachable",
        self               ? json_true()
        : m->reachable < 0 ? json_null()
                           : json_boolean(m->reachable));
    return out;
}

static int cluster_get(struct amk_http_request *req)
{
    struct amk_node *node = node_of(req);
    struct amk_raft_member *members = NULL;
    unsigned n = 0;
    if (amk_raft_node_members(&node->raft, &members, &n) != 0) {
        amk_http_respond_error_status(req, 500, AMK_HTTP_CODE_INTERNAL,
                                      "out of memory", NULL);
        return AMK_HTTP_DONE;
    }
    json_t *list = json_array();
    for (unsigned i = 0; i < n; i++) {
        json_array_append_new(list, member_json(node, &members[i]));
    }
    free(members);
    uint64_t leader = amk_raft_node_leader(&node->raft, NULL);
    json_t *out = json_pack(
        "{s:o, s:I, s:I, s:I, s:I, s:s, s:I, s:o}", "leader",
        leader != 0 ? json_integer((json_int_t)leader) : json_null(), "term",
        (json_int_t)amk_raft_node_term(&node->raft), "commit_index",
        (json_int_t)amk_raft_node_commit_index(&node->raft), "applied_index",
        (json_int_t)amk_raft_node_applied_index(&node->raft), "self",
        (json_int_t)node->config.id, "state",
        amk_raft_state_name(amk_raft_node_state(&node->raft)),
        "takeover_after_ms", (json_int_t)node->config.takeover_after * 1000,
        "members", list);
    amk_http_respond_json(req, 200, out);
    return AMK_HTTP_DONE;
}

static void append(char **buf, size_t *len, const char *text, size_t n)
{
    char *grown = realloc(*buf, *len + n + 1);
    if (grown == NULL) {
        return;
    }
    memcpy(grown + *len, text, n + 1);
    *buf = grown;
    *len += n;
}

/* Proposal-to-applied latency on the leader, as a Prometheus histogram. */
static void latency_histogram(char **buf, size_t *len,
                              const struct amk_raft_node_stats *st)
{
    static const double bounds_ms[] = AMK_RAFT_LATENCY_BUCKETS;
    const size_t n = sizeof bounds_ms / sizeof bounds_ms[0];
    char line[160];
    int k = snprintf(line, sizeof line,
                     "# HELP amk_raft_apply_latency_seconds Proposal to"
                     " applied on the leader.\n"
                     "# TYPE amk_raft_apply_latency_seconds histogram\n");
    append(buf, len, line, (size_t)k);
    uint64_t cumulative = 0;
    for (size_t b = 0; b < n; b++) {
        cumulative += st->apply_latency_count[b];
        if (b + 1 < n) {
            k = snprintf(line, sizeof line,
                         "amk_raft_apply_latency_seconds_bucket{le=\"%g\"}"
                         " %llu\n",
                         bounds_ms[b] / 1000.0, (unsigned long long)cumulative);
        } else {
            k = snprintf(line, sizeof line,
                         "amk_raft_apply_latency_seconds_bucket{le=\"+Inf\"}"
                         " %llu\n",
                         (unsigned long long)cumulative);
        }
        append(buf, len, line, (size_t)k);
    }
    k = snprintf(line, sizeof line,
                 "amk_raft_apply_latency_seconds_sum %.6f\n"
                 "amk_raft_apply_latency_seconds_count %llu\n",
                 (double)st->apply_latency_sum_us / 1e6,
                 (unsigned long long)st->apply_latency_total);
    append(buf, len, line, (size_t)k);
}

static void metric(char **buf, size_t *len, const char *name, const char *help,
                   const char *type, uint64_t value)
{
    char line[512];
    int n = snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n",
                     name, help, name, type, name, (unsigned long long)value);
    append(buf, len, line, (size_t)n);
}

static int metrics(struct amk_http_request *req)
{
    struct amk_node *node = node_of(req);
    struct amk_raft_node_stats st;
    amk_raft_node_stats(&node->raft, &st);
    char *buf = NULL;
    size_t len = 0;
    metric(&buf, &len, "amk_raft_term", "Current raft term.", "gauge",
           amk_raft_node_term(&node->raft));
    metric(&buf, &len, "amk_raft_commit_index", "Raft commit index.", "gauge",
           amk_raft_node_commit_index(&node->raft));
    metric(&buf, &len, "amk_raft_applied_index",
           "Index the state machine reflects.", "gauge",
           amk_raft_node_applied_index(&node->raft));
    metric(&buf, &len, "amk_raft_is_leader", "1 if this node leads.", "gauge",
           amk_raft_node_state(&node->raft) == AMK_RAFT_LEADER);
    metric(&buf, &len, "amk_raft_leader_changes_total",
           "Leader changes observed.", "counter", st.leader_changes);
    metric(&buf, &len, "amk_raft_deferred_entries",
           "Earlier-term entries held back (0.15 #220 guard).", "gauge",
           st.deferred);
    metric(&buf, &len, "amk_raft_deferred_entries_total",
           "Earlier-term entries ever held back.", "counter",
           st.deferred_total);
    metric(&buf, &len, "amk_raft_read_barriers_total",
           "raft_barrier calls made for linearizable reads.", "counter",
           st.barriers);
    metric(&buf, &len, "amk_raft_reads_total", "Linearizable reads answered.",
           "counter", st.reads);
    metric(&buf, &len, "amk_raft_log_corruptions_total",
           "Corrupt log tails seen at start.", "counter", st.corruptions);
    metric(&buf, &len, "amk_raft_nudges_total",
           "Barriers sent to unstick a lagging follower.", "counter",
           st.nudges);
    metric(&buf, &len, "amk_raft_proposal_batches_total",
           "raft_apply calls made for proposals (one per batch).", "counter",
           st.batches);
    metric(&buf, &len, "amk_raft_proposals_batched_total",
           "Proposals handed to raft in those batches.", "counter", st.batched);
    metric(&buf, &len, "amk_raft_proposals_orphaned_total",
           "In-flight proposals raft had forgotten, answered outcome unknown "
           "by the node on step-down or close.",
           "counter", st.orphans_failed);
    latency_histogram(&buf, &len, &st);
    metric(&buf, &len, "amk_event_subscribers",
           "Live event streams (SSE) on this node.", "gauge",
           node->api.events.n);
    metric(&buf, &len, "amk_event_subscribers_dropped_total",
           "Event streams ended because the subscriber fell behind.", "counter",
           node->api.events.dropped);
    metric(&buf, &len, "amk_events_published_total",
           "Events pushed to live subscribers.", "counter",
           node->api.events.published);
    struct amk_sm_stats ss;
    amk_sm_stats(node->sm, &ss);
    metric(&buf, &len, "amk_state_db_bytes",
           "Size of the state machine's database image.", "gauge", ss.db_bytes);
    metric(&buf, &len, "amk_state_logs_bytes",
           "Size of the events, audit and idempotency logs as snapshotted.",
           "gauge", ss.logs_bytes);
    metric(&buf, &len, "amk_state_events", "Events kept.", "gauge", ss.events);
    metric(&buf, &len, "amk_state_audit_entries",
           "Audit entries kept (all, unless --audit-retained).", "gauge",
           ss.audit_entries);
    metric(&buf, &len, "amk_state_idempotency_records",
           "Idempotency records kept.", "gauge", ss.idem_records);
    metric(&buf, &len, "amk_access_log_lines_total",
           "Reads of incident data recorded in the access log.", "counter",
           node->access_log.lines);
    metric(&buf, &len, "amk_access_log_errors_total",
           "Access log lines that could not be written.", "counter",
           node->access_log.errors);
    metric(&buf, &len, "amk_supervisor_takeovers_total",
           "Automatic takeovers applied by this node as leader.", "counter",
           node->supervisor.takeovers);
    struct amk_link_stats ls;
    amk_link_stats(&node->link, &ls);
    metric(&buf, &len, "amk_link_forwarded_total",
           "Requests forwarded to the leader over the cluster link.", "counter",
           ls.forwarded_writes + ls.forwarded_reads);
    metric(&buf, &len, "amk_link_forwarded_writes_total",
           "Writes forwarded to the leader.", "counter", ls.forwarded_writes);
    metric(&buf, &len, "amk_link_forwarded_reads_total",
           "Read indexes asked of the leader.", "counter", ls.forwarded_reads);
    metric(&buf, &len, "amk_link_forwarded_ok_total",
           "Forwarded requests answered.", "counter", ls.forwarded_ok);
    metric(&buf, &len, "amk_link_forward_no_leader_total",
           "Forwarded requests answered NO_LEADER (not applied).", "counter",
           ls.forward_no_leader);
    metric(&buf, &len, "amk_link_forward_timeouts_total",
           "Forwarded requests answered TIMEOUT (outcome unknown).", "counter",
           ls.forward_timeouts);
    metric(&buf, &len, "amk_link_forward_retries_total",
           "Forwarded requests retried against a new leader.", "counter",
           ls.forward_retries);
    metric(&buf, &len, "amk_link_served_writes_total",
           "Writes proposed for followers.", "counter", ls.served_writes);
    metric(&buf, &len, "amk_link_served_reads_total",
           "Read indexes given to followers.", "counter", ls.served_reads);
    metric(&buf, &len, "amk_link_heartbeats_received_total",
           "Liveness heartbeats recorded from followers.", "counter",
           ls.heartbeats_received);
    metric(&buf, &len, "amk_link_protocol_errors_total",
           "Link connections closed on a malformed frame.", "counter",
           ls.protocol_errors);
    metric(&buf, &len, "amk_link_connects_total",
           "Connections opened to a leader.", "counter", ls.connects);
    metric(&buf, &len, "amk_link_connect_failures_total",
           "Connections to a leader that failed.", "counter",
           ls.connect_failures);
    metric(&buf, &len, "amk_link_served_connections",
           "Link connections from followers open now.", "gauge",
           ls.served_connections);
    metric(&buf, &len, "amk_link_connected",
           "1 if connected to the leader's link.", "gauge", ls.connected);
    amk_http_metrics_append(node->http, &buf, &len);
    amk_http_respond_text(req, 200, "text/plain; version=0.0.4; charset=utf-8",
                          buf != NULL ? buf : "", len);
    free(buf);
    return AMK_HTTP_DONE;
}

/* --- Membership ----------------------------------------------------------- */

/* Membership changes are leader-only. On a follower: 307 to the same path
 * on the leader's HTTP address from the node directory, or 503 NO_LEADER
 * when no leader (or its address) is known. Returns true when this node
 * leads and the handler goes on. */
static bool leader_only(struct amk_http_request *req)
{
    struct amk_node *node = node_of(req);
    if (amk_raft_node_state(&node->raft) == AMK_RAFT_LEADER) {
        return true;
    }
    uint64_t leader = amk_raft_node_leader(&node->raft, NULL);
    struct amk_sm_node_info info;
    if (leader == 0 || leader == node->config.id ||
        amk_sm_node_info(node->sm, leader, &info) != AMK_OK ||
        info.http_address[0] == '\0') {
        amk_http_respond_set_retry_after(req, 1);
        amk_http_respond_error_status(
            req, 503, AMK_HTTP_CODE_NO_LEADER,
            leader == 0 ? "no leader known; membership changes need one"
                        : "the leader's HTTP address is not known yet",
            NULL);
        return false;
    }
    char location[512];
    snprintf(location, sizeof location, "http://%s%s", info.http_address,
             req->path);
    amk_http_respond_set_location(req, location);
    amk_http_respond_json(req, 307,
                          json_pack("{s:I, s:s}", "leader", (json_int_t)leader,
                                    "location", location));
    return false;
}

struct change_op {
    struct amk_raft_change change;
    struct amk_http_request *req;
    struct amk_node *node;
    uint64_t id;
    int role; /* the role to assign after an add; -1 none */
};

static void answer_raft_error(struct amk_http_request *req, int rv,
                              const char *what)
{
    char message[256];
    snprintf(message, sizeof message, "%s: %s", what, amk_raft_code_name(rv));
    switch (rv) {
        case AMK_RAFT_ENOTLEADER:
        case AMK_RAFT_ELEADERSHIPLOST:
            amk_http_respond_set_retry_after(req, 1);
            amk_http_respond_error_status(req, 503, AMK_HTTP_CODE_NO_LEADER,
                                          message, NULL);
            break;
        case AMK_RAFT_ENOTFOUND:
            amk_http_respond_error(req, AMK_ENOTFOUND, message, NULL);
            break;
        case AMK_RAFT_EEXISTS:
        case AMK_RAFT_EBUSY:
            amk_http_respond_error(req, AMK_ECONFLICT, message, NULL);
            break;
        case AMK_RAFT_EINVAL:
            amk_http_respond_error(req, AMK_EINVALID, message, NULL);
            break;
        default:
            amk_http_respond_error_status(req, 504, AMK_HTTP_CODE_TIMEOUT,
                                          message, NULL);
            break;
    }
}

static void change_done(struct amk_raft_change *change, int status)
{
    struct change_op *op = change->data;
    if (status == 0 && op->role >= 0) {
        int role = op->role;
        op->role = -1;
        int rv = amk_raft_node_assign(&op->node->raft, &op->change, op->id,
                                      role, change_done);
        if (rv == 0) {
            return;
        }
        status = rv;
    }
    if (status != 0) {
        answer_raft_error(op->req, status, "membership change");
    } else {
        amk_http_respond_json(op->req, 200,
                              json_pack("{s:I}", "id", (json_int_t)op->id));
    }
    free(op);
}

static int parse_id(struct amk_http_request *req, const char *text,
                    uint64_t *id)
{
    char *end;
    unsigned long long v = text != NULL ? strtoull(text, &end, 10) : 0;
    if (text == NULL || *end != '\0' || v == 0) {
        amk_http_respond_error(req, AMK_EINVALID, "id: an integer > 0", NULL);
        return -1;
    }
    *id = v;
    return 0;
}

static int start_change(struct amk_http_request *req, struct change_op *op,
                        int rv)
{
    if (rv != 0) {
        free(op);
        answer_raft_error(req, rv, "membership change");
        return AMK_HTTP_DONE;
    }
    return AMK_HTTP_PENDING;
}

static struct change_op *new_change(struct amk_http_request *req, uint64_t id,
                                    int role)
{
    struct change_op *op = calloc(1, sizeof *op);
    if (op != NULL) {
        op->req = req;
        op->node = node_of(req);
        op->id = id;
        op->role = role;
        op->change.data = op;
    } else {
        amk_http_respond_error_status(req, 500, AMK_HTTP_CODE_INTERNAL,
                                      "out of memory", NULL);
    }
    return op;
}

static int member_add(struct amk_http_request *req)
{
    if (!leader_only(req)) {
        return AMK_HTTP_DONE;
    }
    json_t *id = json_object_get(req->body, "id");
    json_t *address = json_object_get(req->body, "address");
    json_t *role = json_object_get(req->body, "role");
    if (!json_is_integer(id) || json_integer_value(id) <= 0) {
        amk_http_respond_error(req, AMK_EINVALID, "id: an integer > 0", NULL);
        return AMK_HTTP_DONE;
    }
    if (!json_is_string(address)) {
        amk_http_respond_error(req, AMK_EINVALID, "address: required (IP:port)",
                               NULL);
        return AMK_HTTP_DONE;
    }
    int r = AMK_RAFT_VOTER;
    if (role != NULL &&
        (!json_is_string(role) ||
         amk_raft_role_parse(json_string_value(role), &r) != 0)) {
        amk_http_respond_error(req, AMK_EINVALID,
                               "role: voter, standby or spare", NULL);
        return AMK_HTTP_DONE;
    }
    struct change_op *op = new_change(req, (uint64_t)json_integer_value(id),
                                      r == AMK_RAFT_SPARE ? -1 : r);
    if (op == NULL) {
        return AMK_HTTP_DONE;
    }
    return start_change(req, op,
                        amk_raft_node_add(&op->node->raft, &op->change, op->id,
                                          json_string_value(address),
                                          change_done));
}

static int member_remove(struct amk_http_request *req)
{
    if (!leader_only(req)) {
        return AMK_HTTP_DONE;
    }
    uint64_t id;
    if (parse_id(req, amk_http_request_param(req, "id"), &id) != 0) {
        return AMK_HTTP_DONE;
    }
    struct change_op *op = new_change(req, id, -1);
    if (op == NULL) {
        return AMK_HTTP_DONE;
    }
    return start_change(
        req, op,
        amk_raft_node_remove(&op->node->raft, &op->change, id, change_done));
}

static int member_role(struct amk_http_request *req)
{
    if (!leader_only(req)) {
        return AMK_HTTP_DONE;
    }
    uint64_t id;
    int r;
    json_t *role = json_object_get(req->body, "role");
    if (parse_id(req, amk_http_request_param(req, "id"), &id) != 0) {
        return AMK_HTTP_DONE;
    }
    if (!json_is_string(role) ||
        amk_raft_role_parse(json_string_value(role), &r) != 0) {
        amk_http_respond_error(req, AMK_EINVALID,
                               "role: voter, standby or spare", NULL);
        return AMK_HTTP_DONE;
    }
    struct change_op *op = new_change(req, id, -1);
    if (op == NULL) {
        return AMK_HTTP_DONE;
    }
    return start_change(
        req, op,
        amk_raft_node_assign(&op->node->raft, &op->change, id, r, change_done));
}

struct transfer_op {
    struct amk_raft_transfer transfer;
    struct amk_http_request *req;
};

static void transfer_done(struct amk_raft_transfer *t, int status)
{
    struct transfer_op *op = t->data;
    if (status != 0) {
        answer_raft_error(op->req, status, "leadership transfer");
    } else {
        amk_http_respond_json(op->req, 200,
                              json_pack("{s:I, s:I}", "leader",
                                        (json_int_t)t->target, "attempts",
                                        (json_int_t)t->attempts));
    }
    free(op);
}

static int leader_transfer(struct amk_http_request *req)
{
    if (!leader_only(req)) {
        return AMK_HTTP_DONE;
    }
    struct amk_node *node = node_of(req);
    json_t *id = json_object_get(req->body, "id");
    if (id != NULL && (!json_is_integer(id) || json_integer_value(id) < 0)) {
        amk_http_respond_error(req, AMK_EINVALID, "id: an integer > 0", NULL);
        return AMK_HTTP_DONE;
    }
    struct transfer_op *op = calloc(1, sizeof *op);
    if (op == NULL) {
        amk_http_respond_error_status(req, 500, AMK_HTTP_CODE_INTERNAL,
                                      "out of memory", NULL);
        return AMK_HTTP_DONE;
    }
    op->req = req;
    op->transfer.data = op;
    op->transfer.target = id != NULL ? (uint64_t)json_integer_value(id) : 0;
    int rv = amk_raft_node_transfer(&node->raft, &op->transfer, transfer_done);
    if (rv != 0) {
        free(op);
        answer_raft_error(req, rv, "leadership transfer");
        return AMK_HTTP_DONE;
    }
    return AMK_HTTP_PENDING;
}

int amk_cluster_routes(struct amk_node *node, char *errmsg)
{
    static const struct {
        const char *method, *pattern;
        amk_http_handler_fn fn;
        unsigned flags;
    } routes[] = {
        {"GET", "/healthz", healthz, 0},
        {"GET", "/readyz", readyz, 0},
        {"GET", "/metrics", metrics, 0},
        {"GET", "/v1/cluster", cluster_get, 0},
        {"POST", "/v1/cluster/members", member_add,
         AMK_HTTP_ROUTE_WRITE | AMK_HTTP_ROUTE_BODY_REQUIRED},
        {"DELETE", "/v1/cluster/members/{id}", member_remove,
         AMK_HTTP_ROUTE_WRITE},
        {"POST", "/v1/cluster/members/{id}/role", member_role,
         AMK_HTTP_ROUTE_WRITE | AMK_HTTP_ROUTE_BODY_REQUIRED},
        {"POST", "/v1/cluster/leader", leader_transfer, AMK_HTTP_ROUTE_WRITE},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        int rv = amk_http_router_add(node->router, routes[i].method,
                                     routes[i].pattern, routes[i].fn,
                                     routes[i].flags, node, errmsg);
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}
