/* ops/ctl/resource.c: `resource register|get|status|list` (API.md
 * "Resources"). Status reports are facts from the field, ordered by their
 * sequence number: a stale one is accepted but not applied. */
#include <string.h>

#include "ctl.h"
#include "sm/enums.h"

#define N(a)     (sizeof(a) / sizeof((a)[0]))
#define ISSI_MAX 16777215 /* 24-bit TETRA address */

static int resource_path(struct ctl *ctl, char *path, size_t cap,
                         const char *id, const char *suffix)
{
    snprintf(path, cap, "/v1/resources/");
    if (ctl_url_escape(path, cap, id) != 0 ||
        strlen(path) + strlen(suffix) + 1 > cap) {
        return ctl_fail(ctl, CTL_EXIT_USAGE, "id too long: '%.64s'", id);
    }
    strcat(path, suffix);
    return 0;
}

static int resource_register(struct ctl *ctl, int argc, char **argv)
{
    static const char usage[] = "resource register ID TYPE ISSI HOME";
    const char *operands[CTL_MAX_OPERANDS];
    int n;
    uint64_t issi;
    int rv =
        ctl_args_parse(ctl, argc, argv, NULL, 0, operands, &n, 4, 4, usage);
    if (rv == 0) {
        rv = ctl_args_enum(ctl, AMK_ENUM_RESOURCE_TYPE, operands[1], "TYPE");
    }
    if (rv == 0) {
        rv = ctl_args_u64(ctl, operands[2], "ISSI", ISSI_MAX, &issi);
    }
    if (rv != 0) {
        return rv;
    }
    json_t *body = json_pack("{s:s, s:s, s:I, s:s}", "id", operands[0], "type",
                             operands[1], "issi", (json_int_t)issi,
                             "home_centre", operands[3]);
    struct ctl_call call = {
        .method = "POST", .path = "/v1/resources", .body = body, .write = true};
    struct ctl_reply reply;
    rv = ctl_client_run(ctl, &call, &reply);
    json_decref(body);
    if (rv != CTL_EXIT_OK) {
        return rv;
    }
    if (ctl->json) {
        ctl_show_json(ctl, reply.body);
    } else {
        char id[128], type[64], home[128];
        fprintf(ctl->out, "resource %s registered: %s, ISSI %llu, home %s\n",
                ctl_show_field(reply.body, "id", id, sizeof id),
                ctl_show_field(reply.body, "type", type, sizeof type),
                (unsigned long long)issi,
                ctl_show_field(reply.body, "home_centre", home, sizeof home));
    }
    ctl_reply_clear(&reply);
    return CTL_EXIT_OK;
}

static int resource_get(struct ctl *ctl, int argc, char **argv)
{
    const char *operands[CTL_MAX_OPERANDS];
    int n;
    char path[256];
    int rv = ctl_args_parse(ctl, argc, argv, NULL, 0, operands, &n, 1, 1,
                            "resource get ID");
    if (rv == 0) {
        rv = resource_path(ctl, path, sizeof path, operands[0], "");
    }
    if (rv != 0) {
        return rv;
    }
    struct ctl_call call = {.method = "GET", .path = path};
    return ctl_client_show(ctl, &call, ctl_show_object);
}

static int resource_status(struct ctl *ctl, int argc, char **argv)
{
    static const char usage[] =
        "resource status ID STATUS SEQ --session S [--time RFC3339]";
    struct ctl_opt opts[] = {{"session", CTL_OPT_VALUE, NULL, NULL},
                             {"time", CTL_OPT_VALUE, NULL, NULL}};
    const char *operands[CTL_MAX_OPERANDS];
    int n;
    uint64_t seq;
    char path[256];
    int rv = ctl_args_parse(ctl, argc, argv, opts, N(opts), operands, &n, 3, 3,
                            usage);
    const char *session = ctl_args_session(&opts[0]);
    if (rv == 0 && session == NULL) {
        rv = ctl_fail(ctl, CTL_EXIT_USAGE,
                      "--session is required (or $AMK_SESSION); usage:"
                      " amkctl %s",
                      usage);
    }
    if (rv == 0) {
        rv =
            ctl_args_enum(ctl, AMK_ENUM_RESOURCE_STATUS, operands[1], "STATUS");
    }
    if (rv == 0) {
        rv = ctl_args_u64(ctl, operands[2], "SEQ", INT64_MAX, &seq);
    }
    if (rv == 0) {
        rv = resource_path(ctl, path, sizeof path, operands[0], "/status");
    }
    if (rv != 0) {
        return rv;
    }
    json_t *body =
        json_pack("{s:s, s:I}", "status", operands[1], "seq", (json_int_t)seq);
    if (opts[1].value != NULL) {
        json_object_set_new(body, "event_time", json_string(opts[1].value));
    }
    struct ctl_call call = {.method = "POST",
                            .path = path,
                            .body = body,
                            .session = session,
                            .write = true};
    struct ctl_reply reply;
    rv = ctl_client_run(ctl, &call, &reply);
    json_decref(body);
    if (rv != CTL_EXIT_OK) {
        return rv;
    }
    char id[128], status[64], last[32];
    ctl_show_field(reply.body, "id", id, sizeof id);
    ctl_show_field(reply.body, "status", status, sizeof status);
    ctl_show_field(reply.body, "status_seq", last, sizeof last);
    if (ctl->json) {
        ctl_show_json(ctl, reply.body);
    } else if (json_is_false(json_object_get(reply.body, "applied"))) {
        fprintf(ctl->out,
                "resource %s: report seq %llu not applied (last accepted seq"
                " %s); status stays %s\n",
                id[0] != '-' ? id : operands[0], (unsigned long long)seq, last,
                status);
    } else {
        fprintf(ctl->out, "resource %s: %s (seq %llu)\n", id, status,
                (unsigned long long)seq);
    }
    ctl_reply_clear(&reply);
    return CTL_EXIT_OK;
}

static int resource_list(struct ctl *ctl, int argc, char **argv)
{
    static const char usage[] = "resource list [--centre C] [--status S]";
    struct ctl_opt opts[] = {{"centre", CTL_OPT_VALUE, NULL, NULL},
                             {"status", CTL_OPT_VALUE, NULL, NULL}};
    const char *operands[CTL_MAX_OPERANDS];
    int n;
    int rv = ctl_args_parse(ctl, argc, argv, opts, N(opts), operands, &n, 0, 0,
                            usage);
    if (rv == 0 && opts[1].value != NULL) {
        rv = ctl_args_enum(ctl, AMK_ENUM_RESOURCE_STATUS, opts[1].value,
                           "--status");
    }
    char path[1024] = "/v1/resources";
    if (rv == 0 &&
        (ctl_url_add_query(path, sizeof path, "centre", opts[0].value) ||
         ctl_url_add_query(path, sizeof path, "status", opts[1].value))) {
        rv = ctl_fail(ctl, CTL_EXIT_USAGE, "filter too long");
    }
    json_t *items = NULL;
    if (rv == 0) {
        rv = ctl_client_list(ctl, path, &items);
    }
    if (rv != 0) {
        return rv;
    }
    if (ctl->json) {
        ctl_show_list_json(ctl, items);
        return CTL_EXIT_OK;
    }
    static const char *const headers[] = {
        "ID", "TYPE", "ISSI", "HOME", "CONTROLLED_BY", "STATUS", "INCIDENT"};
    struct ctl_table t;
    rv = ctl_table_init(&t, N(headers), headers);
    for (size_t i = 0; rv == 0 && i < json_array_size(items); i++) {
        json_t *r = json_array_get(items, i);
        char buf[7][128];
        const char *row[] = {
            ctl_show_field(r, "id", buf[0], sizeof buf[0]),
            ctl_show_field(r, "type", buf[1], sizeof buf[1]),
            ctl_show_field(r, "issi", buf[2], sizeof buf[2]),
            ctl_show_field(r, "home_centre", buf[3], sizeof buf[3]),
            ctl_show_field(r, "controlled_by", buf[4], sizeof buf[4]),
            ctl_show_field(r, "status", buf[5], sizeof buf[5]),
            ctl_show_field(r, "incident", buf[6], sizeof buf[6])};
        rv = ctl_table_add(&t, row);
    }
    if (rv == 0) {
        ctl_table_print(&t, ctl->out);
    }
    ctl_table_free(&t);
    json_decref(items);
    return rv == 0 ? CTL_EXIT_OK : ctl_fail(ctl, CTL_EXIT_API, "out of memory");
}

int ctl_resource_main(struct ctl *ctl, int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(struct ctl *ctl, int argc, char **argv);
    } verbs[] = {
        {"register", resource_register},
        {"get", resource_get},
        {"status", resource_status},
        {"list", resource_list},
    };
    for (size_t i = 0; argc > 0 && i < N(verbs); i++) {
        if (strcmp(argv[0], verbs[i].name) == 0) {
            return verbs[i].fn(ctl, argc - 1, argv + 1);
        }
    }
    return ctl_fail(ctl, CTL_EXIT_USAGE,
                    "usage: amkctl resource register|get|status|list ... (see"
                    " amkctl --help)");
}
