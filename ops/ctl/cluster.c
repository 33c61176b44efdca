/* ops/ctl/cluster.c: `status` (every member's own view of the cluster),
 * `members add|remove|role` and `leader transfer` (API.md "Cluster and
 * health"). */
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

#define MEMBER_TIMEOUT_MS 2000 /* one slow member must not stall status */

/* What one member says about itself: its /v1/cluster, or why not. */
struct view {
    json_t *cluster; /* owned; NULL if not asked or not answered */
    char error[CTL_ERRMSG_SIZE];
    bool asked;
};

/* The member's HTTP address as a URL ("127.0.0.1:8002" or a URL). */
static int member_url(const json_t *member, struct ctl_url *url)
{
    const char *http = json_string_value(json_object_get(member, "http"));
    if (http == NULL || http[0] == '\0') {
        return -1;
    }
    char text[600], errmsg[CTL_ERRMSG_SIZE];
    snprintf(text, sizeof text, "%s%s",
             strncmp(http, "http://", 7) == 0 ? "" : "http://", http);
    return ctl_url_parse(text, url, errmsg);
}

static void ask_member(struct ctl *ctl, const json_t *member, struct view *v)
{
    struct ctl_url url;
    if (member_url(member, &url) != 0) {
        return;
    }
    v->asked = true;
    struct ctl_call call = {.method = "GET",
                            .path = "/v1/cluster",
                            .url = &url,
                            .no_retry = true,
                            .timeout_ms = ctl->timeout_ms < MEMBER_TIMEOUT_MS
                                              ? ctl->timeout_ms
                                              : MEMBER_TIMEOUT_MS};
    struct ctl_reply reply;
    if (ctl_client_call(ctl, &call, &reply, v->error) == CTL_EXIT_OK) {
        v->cluster = json_incref(reply.body);
        v->error[0] = '\0';
    }
    ctl_reply_clear(&reply);
}

static json_int_t int_field(const json_t *obj, const char *key)
{
    return json_integer_value(json_object_get(obj, key));
}

static void status_json(struct ctl *ctl, json_t *cluster, struct view *views)
{
    json_t *out = json_deep_copy(cluster);
    json_t *members = json_object_get(out, "members");
    for (size_t i = 0; i < json_array_size(members); i++) {
        if (!views[i].asked) {
            continue;
        }
        json_object_set_new(json_array_get(members, i), "view",
                            views[i].cluster != NULL
                                ? json_incref(views[i].cluster)
                                : json_pack("{s:s}", "error", views[i].error));
    }
    ctl_show_json(ctl, out);
    json_decref(out);
}

static int status_table(struct ctl *ctl, json_t *cluster, struct view *views)
{
    json_t *members = json_object_get(cluster, "members");
    json_int_t self = int_field(cluster, "self");
    json_int_t leader = int_field(cluster, "leader"); /* 0: none known */
    char buf[8][128];
    if (leader != 0) {
        fprintf(ctl->out,
                "leader %lld, term %lld (as seen by node %lld at"
                " %s)\n",
                (long long)leader, (long long)int_field(cluster, "term"),
                (long long)self, ctl->endpoint.text);
    } else {
        fprintf(ctl->out,
                "no leader known (term %lld, as seen by node %lld at"
                " %s)\n",
                (long long)int_field(cluster, "term"), (long long)self,
                ctl->endpoint.text);
    }
    struct ctl_table t;
    static const char *const headers[] = {"ID",      "ADDRESS",  "ROLE",
                                          "STATE",   "TERM",     "COMMIT",
                                          "APPLIED", "REACHABLE"};
    if (ctl_table_init(&t, 8, headers) != 0) {
        return ctl_fail(ctl, CTL_EXIT_API, "out of memory");
    }
    for (size_t i = 0; i < json_array_size(members); i++) {
        json_t *m = json_array_get(members, i);
        json_int_t id = int_field(m, "id");
        /* The member's own numbers when it answered; the endpoint's own
         * when it is the endpoint; otherwise what the endpoint knows. */
        json_t *own = views[i].cluster;
        if (own == NULL && !views[i].asked && id == self) {
            own = cluster;
        }
        snprintf(buf[0], sizeof buf[0], "%lld%s", (long long)id,
                 id == leader ? "*" : "");
        ctl_show_field(m, "address", buf[1], sizeof buf[1]);
        ctl_show_field(m, "role", buf[2], sizeof buf[2]);
        if (own != NULL) {
            ctl_show_field(own, "state", buf[3], sizeof buf[3]);
            ctl_show_field(own, "term", buf[4], sizeof buf[4]);
            ctl_show_field(own, "commit_index", buf[5], sizeof buf[5]);
            ctl_show_field(own, "applied_index", buf[6], sizeof buf[6]);
            snprintf(buf[7], sizeof buf[7], "yes");
        } else {
            snprintf(buf[3], sizeof buf[3], "%s",
                     id == leader ? "leader" : "-");
            snprintf(buf[4], sizeof buf[4], "-");
            snprintf(buf[5], sizeof buf[5], "-");
            snprintf(buf[6], sizeof buf[6], "-");
            if (views[i].asked) {
                snprintf(buf[7], sizeof buf[7], "no");
            } else {
                ctl_show_field(m, "reachable", buf[7], sizeof buf[7]);
            }
        }
        const char *row[8];
        for (size_t c = 0; c < 8; c++) {
            row[c] = buf[c];
        }
        if (ctl_table_add(&t, row) != 0) {
            ctl_table_free(&t);
            return ctl_fail(ctl, CTL_EXIT_API, "out of memory");
        }
    }
    ctl_table_print(&t, ctl->out);
    ctl_table_free(&t);
    for (size_t i = 0; i < json_array_size(members); i++) {
        if (views[i].asked && views[i].cluster == NULL) {
            fprintf(ctl->out, "node %lld: %s\n",
                    (long long)int_field(json_array_get(members, i), "id"),
                    views[i].error);
        }
    }
    return CTL_EXIT_OK;
}

int ctl_cluster_status(struct ctl *ctl, int argc, char **argv)
{
    const char *operands[CTL_MAX_OPERANDS];
    int n;
    int rv =
        ctl_args_parse(ctl, argc, argv, NULL, 0, operands, &n, 0, 0, "status");
    if (rv != 0) {
        return rv;
    }
    struct ctl_call call = {.method = "GET", .path = "/v1/cluster"};
    struct ctl_reply reply;
    rv = ctl_client_run(ctl, &call, &reply);
    if (rv != CTL_EXIT_OK) {
        return rv;
    }
    json_t *members = json_object_get(reply.body, "members");
    size_t n_members = json_array_size(members);
    struct view *views = calloc(n_members + 1, sizeof *views);
    if (views == NULL) {
        ctl_reply_clear(&reply);
        return ctl_fail(ctl, CTL_EXIT_API, "out of memory");
    }
    for (size_t i = 0; i < n_members; i++) {
        json_t *m = json_array_get(members, i);
        if (int_field(m, "id") == int_field(reply.body, "self")) {
            continue; /* the endpoint just answered for itself */
        }
        ask_member(ctl, m, &views[i]);
    }
    if (ctl->json) {
        status_json(ctl, reply.body, views);
    } else {
        rv = status_table(ctl, reply.body, views);
    }
    for (size_t i = 0; i < n_members; i++) {
        json_decref(views[i].cluster);
    }
    free(views);
    ctl_reply_clear(&reply);
    return rv;
}

static bool role_ok(const char *role)
{
    return strcmp(role, "voter") == 0 || strcmp(role, "standby") == 0 ||
           strcmp(role, "spare") == 0;
}

/* Runs a membership or leadership write and prints its answer. */
static int change(struct ctl *ctl, const char *method, const char *path,
                  json_t *body, const char *done)
{
    struct ctl_call call = {.method = method,
                            .path = path,
                            .body = body,
                            .write = true,
                            .unkeyed = true};
    struct ctl_reply reply;
    int rv = ctl_client_run(ctl, &call, &reply);
    if (rv == CTL_EXIT_OK) {
        if (ctl->json) {
            ctl_show_json(ctl, reply.body);
        } else {
            fprintf(ctl->out, "%s\n", done);
        }
    }
    ctl_reply_clear(&reply);
    return rv;
}

static const char USAGE_ADD[] =
    "members add ID ADDRESS [--role voter|standby|spare] [--centre C]"
    " [--region R]";

static int members_add(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_opt opts[] = {{"role", CTL_OPT_VALUE, NULL, NULL},
                             {"centre", CTL_OPT_VALUE, NULL, NULL},
                             {"region", CTL_OPT_VALUE, NULL, NULL}};
    const char *operands[CTL_MAX_OPERANDS];
    int n;
    uint64_t id;
    int rv =
        ctl_args_parse(ctl, argc, argv, opts, 3, operands, &n, 2, 2, USAGE_ADD);
    if (rv == 0) {
        rv = ctl_args_u64(ctl, operands[0], "ID", INT64_MAX, &id);
    }
    if (rv == 0 && id == 0) {
        rv = ctl_fail(ctl, CTL_EXIT_USAGE, "ID: node ids start at 1");
    }
    if (rv == 0 && opts[0].value != NULL && !role_ok(opts[0].value)) {
        rv = ctl_fail(ctl, CTL_EXIT_USAGE,
                      "--role: '%s' is not voter, standby or spare",
                      opts[0].value);
    }
    if (rv != 0) {
        ctl_args_free(opts, 3);
        return rv;
    }
    json_t *body =
        json_pack("{s:I, s:s}", "id", (json_int_t)id, "address", operands[1]);
    const char *role = opts[0].value != NULL ? opts[0].value : "voter";
    json_object_set_new(body, "role", json_string(role));
    if (opts[1].value != NULL) {
        json_object_set_new(body, "centre", json_string(opts[1].value));
    }
    if (opts[2].value != NULL) {
        json_object_set_new(body, "region", json_string(opts[2].value));
    }
    char done[256];
    snprintf(done, sizeof done, "member %llu added at %s as %s",
             (unsigned long long)id, operands[1], role);
    rv = change(ctl, "POST", "/v1/cluster/members", body, done);
    json_decref(body);
    ctl_args_free(opts, 3);
    return rv;
}

static int members_remove(struct ctl *ctl, int argc, char **argv)
{
    const char *operands[CTL_MAX_OPERANDS];
    int n;
    uint64_t id;
    int rv = ctl_args_parse(ctl, argc, argv, NULL, 0, operands, &n, 1, 1,
                            "members remove ID");
    if (rv == 0) {
        rv = ctl_args_u64(ctl, operands[0], "ID", INT64_MAX, &id);
    }
    if (rv != 0) {
        return rv;
    }
    char path[64], done[64];
    snprintf(path, sizeof path, "/v1/cluster/members/%llu",
             (unsigned long long)id);
    snprintf(done, sizeof done, "member %llu removed", (unsigned long long)id);
    return change(ctl, "DELETE", path, NULL, done);
}

static int members_role(struct ctl *ctl, int argc, char **argv)
{
    const char *operands[CTL_MAX_OPERANDS];
    int n;
    uint64_t id;
    const char *usage = "members role ID voter|standby|spare";
    int rv =
        ctl_args_parse(ctl, argc, argv, NULL, 0, operands, &n, 2, 2, usage);
    if (rv == 0) {
        rv = ctl_args_u64(ctl, operands[0], "ID", INT64_MAX, &id);
    }
    if (rv == 0 && !role_ok(operands[1])) {
        rv = ctl_fail(ctl, CTL_EXIT_USAGE,
                      "ROLE: '%s' is not voter, standby or spare; usage:"
                      " amkctl %s",
                      operands[1], usage);
    }
    if (rv != 0) {
        return rv;
    }
    char path[96], done[96];
    snprintf(path, sizeof path, "/v1/cluster/members/%llu/role",
             (unsigned long long)id);
    snprintf(done, sizeof done, "member %llu is now %s", (unsigned long long)id,
             operands[1]);
    json_t *body = json_pack("{s:s}", "role", operands[1]);
    rv = change(ctl, "POST", path, body, done);
    json_decref(body);
    return rv;
}

int ctl_cluster_members(struct ctl *ctl, int argc, char **argv)
{
    if (argc > 0 && strcmp(argv[0], "add") == 0) {
        return members_add(ctl, argc - 1, argv + 1);
    }
    if (argc > 0 && strcmp(argv[0], "remove") == 0) {
        return members_remove(ctl, argc - 1, argv + 1);
    }
    if (argc > 0 && strcmp(argv[0], "role") == 0) {
        return members_role(ctl, argc - 1, argv + 1);
    }
    return ctl_fail(ctl, CTL_EXIT_USAGE,
                    "usage: amkctl members add|remove|role ... (see amkctl"
                    " --help)");
}

int ctl_cluster_leader(struct ctl *ctl, int argc, char **argv)
{
    const char *usage = "leader transfer [ID]";
    if (argc == 0 || strcmp(argv[0], "transfer") != 0) {
        return ctl_fail(ctl, CTL_EXIT_USAGE, "usage: amkctl %s", usage);
    }
    const char *operands[CTL_MAX_OPERANDS];
    int n;
    uint64_t id = 0;
    int rv = ctl_args_parse(ctl, argc - 1, argv + 1, NULL, 0, operands, &n, 0,
                            1, usage);
    if (rv == 0 && n == 1) {
        rv = ctl_args_u64(ctl, operands[0], "ID", INT64_MAX, &id);
    }
    if (rv != 0) {
        return rv;
    }
    json_t *body =
        id != 0 ? json_pack("{s:I}", "id", (json_int_t)id) : json_object();
    struct ctl_call call = {.method = "POST",
                            .path = "/v1/cluster/leader",
                            .body = body,
                            .write = true,
                            .unkeyed = true};
    struct ctl_reply reply;
    rv = ctl_client_run(ctl, &call, &reply);
    json_decref(body);
    if (rv != CTL_EXIT_OK) {
        return rv;
    }
    if (ctl->json) {
        ctl_show_json(ctl, reply.body);
    } else {
        char leader[32];
        ctl_show_field(reply.body, "leader", leader, sizeof leader);
        fprintf(ctl->out, "leadership transferred to %s\n", leader);
    }
    ctl_reply_clear(&reply);
    return CTL_EXIT_OK;
}
