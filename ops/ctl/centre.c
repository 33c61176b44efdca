/* ops/ctl/centre.c: `centre list|get|create|takeover|handback` and
 * `session open|close` (API.md "Centres and sessions"). */
#include <string.h>

#include "ctl.h"
#include "sm/enums.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* "/v1/centres/<id><suffix>" with id percent-encoded. */
static int centre_path(struct ctl *ctl, char *path, size_t cap,
                       const char *base, const char *id, const char *suffix)
{
    snprintf(path, cap, "%s", base);
    if (ctl_url_escape(path, cap, id) != 0 ||
        strlen(path) + strlen(suffix) + 1 > cap) {
        return ctl_fail(ctl, CTL_EXIT_USAGE, "id too long: '%.64s'", id);
    }
    strcat(path, suffix);
    return 0;
}

static void join(const json_t *list, char *out, size_t cap)
{
    out[0] = '\0';
    size_t len = 0;
    for (size_t i = 0; i < json_array_size(list); i++) {
        const char *s = json_string_value(json_array_get(list, i));
        int n = snprintf(out + len, cap - len, "%s%s", i > 0 ? "," : "",
                         s != NULL ? s : "?");
        if (n < 0 || (size_t)n >= cap - len) {
            break;
        }
        len += (size_t)n;
    }
}

static int centre_list(struct ctl *ctl, int argc, char **argv)
{
    const char *operands[CTL_MAX_OPERANDS];
    int n;
    int rv = ctl_args_parse(ctl, argc, argv, NULL, 0, operands, &n, 0, 0,
                            "centre list");
    json_t *items = NULL;
    if (rv == 0) {
        rv = ctl_client_list(ctl, "/v1/centres", &items);
    }
    if (rv != 0) {
        return rv;
    }
    if (ctl->json) {
        ctl_show_list_json(ctl, items);
        return CTL_EXIT_OK;
    }
    static const char *const headers[] = {
        "ID", "NAME", "REGION", "STATE", "EPOCH", "CONTROLLED_BY", "BACKUPS"};
    struct ctl_table t;
    rv = ctl_table_init(&t, N(headers), headers);
    for (size_t i = 0; rv == 0 && i < json_array_size(items); i++) {
        json_t *c = json_array_get(items, i);
        char buf[6][128], backups[512];
        join(json_object_get(c, "backups"), backups, sizeof backups);
        const char *row[] = {
            ctl_show_field(c, "id", buf[0], sizeof buf[0]),
            ctl_show_field(c, "name", buf[1], sizeof buf[1]),
            ctl_show_field(c, "region", buf[2], sizeof buf[2]),
            ctl_show_field(c, "service_state", buf[3], sizeof buf[3]),
            ctl_show_field(c, "epoch", buf[4], sizeof buf[4]),
            ctl_show_field(c, "controlled_by", buf[5], sizeof buf[5]),
            backups};
        rv = ctl_table_add(&t, row);
    }
    if (rv == 0) {
        ctl_table_print(&t, ctl->out);
    }
    ctl_table_free(&t);
    json_decref(items);
    return rv == 0 ? CTL_EXIT_OK : ctl_fail(ctl, CTL_EXIT_API, "out of memory");
}

static void show_object(struct ctl *ctl, const json_t *body)
{
    ctl_show_object(ctl, body);
}

static int centre_get(struct ctl *ctl, int argc, char **argv)
{
    const char *operands[CTL_MAX_OPERANDS];
    int n;
    char path[256];
    int rv = ctl_args_parse(ctl, argc, argv, NULL, 0, operands, &n, 1, 1,
                            "centre get ID");
    if (rv == 0) {
        rv = centre_path(ctl, path, sizeof path, "/v1/centres/", operands[0],
                         "");
    }
    if (rv != 0) {
        return rv;
    }
    struct ctl_call call = {.method = "GET", .path = path};
    return ctl_client_show(ctl, &call, show_object);
}

static void created_line(struct ctl *ctl, const json_t *c)
{
    char id[128], name[256], region[128], backups[512];
    join(json_object_get(c, "backups"), backups, sizeof backups);
    fprintf(ctl->out, "centre %s created: %s, %s, backups %s\n",
            ctl_show_field(c, "id", id, sizeof id),
            ctl_show_field(c, "name", name, sizeof name),
            ctl_show_field(c, "region", region, sizeof region),
            backups[0] != '\0' ? backups : "none");
}

static const char USAGE_CREATE[] =
    "centre create ID NAME REGION [--backup ID...] [--no-auto-takeover]";

static int centre_create(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_opt opts[] = {{"backup", CTL_OPT_LIST, NULL, NULL},
                             {"no-auto-takeover", CTL_OPT_FLAG, NULL, NULL}};
    const char *operands[CTL_MAX_OPERANDS];
    int n;
    int rv = ctl_args_parse(ctl, argc, argv, opts, N(opts), operands, &n, 3, 3,
                            USAGE_CREATE);
    if (rv != 0) {
        ctl_args_free(opts, N(opts));
        return rv;
    }
    json_t *body = json_pack("{s:s, s:s, s:s, s:b}", "id", operands[0], "name",
                             operands[1], "region", operands[2],
                             "auto_takeover", opts[1].value == NULL);
    json_object_set_new(body, "backups",
                        opts[0].list != NULL ? json_incref(opts[0].list)
                                             : json_array());
    struct ctl_call call = {
        .method = "POST", .path = "/v1/centres", .body = body, .write = true};
    rv = ctl_client_show(ctl, &call, created_line);
    json_decref(body);
    ctl_args_free(opts, N(opts));
    return rv;
}

static void takeover_line(struct ctl *ctl, const json_t *c)
{
    char id[128], by[128], epoch[32];
    fprintf(ctl->out, "centre %s is now controlled by %s (epoch %s)\n",
            ctl_show_field(c, "id", id, sizeof id),
            ctl_show_field(c, "controlled_by", by, sizeof by),
            ctl_show_field(c, "epoch", epoch, sizeof epoch));
}

static int centre_takeover(struct ctl *ctl, int argc, char **argv)
{
    static const char usage[] = "centre takeover ID --by ID [--reason TEXT]";
    struct ctl_opt opts[] = {{"by", CTL_OPT_VALUE, NULL, NULL},
                             {"reason", CTL_OPT_VALUE, NULL, NULL}};
    const char *operands[CTL_MAX_OPERANDS];
    int n;
    char path[256];
    int rv = ctl_args_parse(ctl, argc, argv, opts, N(opts), operands, &n, 1, 1,
                            usage);
    if (rv == 0 && opts[0].value == NULL) {
        rv = ctl_fail(ctl, CTL_EXIT_USAGE, "--by is required; usage: amkctl %s",
                      usage);
    }
    if (rv == 0) {
        rv = centre_path(ctl, path, sizeof path, "/v1/centres/", operands[0],
                         "/takeover");
    }
    if (rv != 0) {
        return rv;
    }
    json_t *body = json_pack("{s:s}", "by", opts[0].value);
    if (opts[1].value != NULL) {
        json_object_set_new(body, "reason", json_string(opts[1].value));
    }
    struct ctl_call call = {
        .method = "POST", .path = path, .body = body, .write = true};
    rv = ctl_client_show(ctl, &call, takeover_line);
    json_decref(body);
    return rv;
}

static void handback_line(struct ctl *ctl, const json_t *c)
{
    char id[128], epoch[32];
    fprintf(ctl->out, "centre %s controls itself again (epoch %s)\n",
            ctl_show_field(c, "id", id, sizeof id),
            ctl_show_field(c, "epoch", epoch, sizeof epoch));
}

static int centre_handback(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_opt opts[] = {{"keep", CTL_OPT_FLAG, NULL, NULL}};
    const char *operands[CTL_MAX_OPERANDS];
    int n;
    char path[256];
    int rv = ctl_args_parse(ctl, argc, argv, opts, N(opts), operands, &n, 1, 1,
                            "centre handback ID [--keep]");
    if (rv == 0) {
        rv = centre_path(ctl, path, sizeof path, "/v1/centres/", operands[0],
                         "/handback");
    }
    if (rv != 0) {
        return rv;
    }
    /* --keep: the taker keeps the open incidents it took for good. */
    json_t *body = json_pack("{s:s}", "incidents",
                             opts[0].value != NULL ? "keep" : "return");
    struct ctl_call call = {
        .method = "POST", .path = path, .body = body, .write = true};
    rv = ctl_client_show(ctl, &call, handback_line);
    json_decref(body);
    return rv;
}

int ctl_centre_main(struct ctl *ctl, int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(struct ctl *ctl, int argc, char **argv);
    } verbs[] = {
        {"list", centre_list},         {"get", centre_get},
        {"create", centre_create},     {"takeover", centre_takeover},
        {"handback", centre_handback},
    };
    for (size_t i = 0; argc > 0 && i < N(verbs); i++) {
        if (strcmp(argv[0], verbs[i].name) == 0) {
            return verbs[i].fn(ctl, argc - 1, argv + 1);
        }
    }
    return ctl_fail(ctl, CTL_EXIT_USAGE,
                    "usage: amkctl centre list|get|create|takeover|handback"
                    " ... (see amkctl --help)");
}

static void session_line(struct ctl *ctl, const json_t *s)
{
    char id[128], centre[128];
    fprintf(ctl->out, "%s\n", ctl_show_field(s, "id", id, sizeof id));
    if (json_is_true(json_object_get(s, "read_only"))) {
        /* stdout stays the id alone, for $(amkctl session open ...). */
        fprintf(ctl->err,
                "amkctl: note: the session is read-only (%s is controlled by"
                " another centre)\n",
                ctl_show_field(s, "centre", centre, sizeof centre));
    }
}

static int session_open(struct ctl *ctl, int argc, char **argv)
{
    static const char usage[] =
        "session open CENTRE CONSOLE OPERATOR [--role operator|bridge|"
        "observer]";
    struct ctl_opt opts[] = {{"role", CTL_OPT_VALUE, NULL, NULL}};
    const char *operands[CTL_MAX_OPERANDS];
    int n;
    int rv = ctl_args_parse(ctl, argc, argv, opts, N(opts), operands, &n, 3, 3,
                            usage);
    if (rv == 0 && opts[0].value != NULL) {
        rv = ctl_args_enum(ctl, AMK_ENUM_ROLE, opts[0].value, "--role");
    }
    if (rv != 0) {
        return rv;
    }
    json_t *body = json_pack("{s:s, s:s, s:s}", "centre", operands[0],
                             "console", operands[1], "operator", operands[2]);
    if (opts[0].value != NULL) {
        json_object_set_new(body, "role", json_string(opts[0].value));
    }
    struct ctl_call call = {
        .method = "POST", .path = "/v1/sessions", .body = body, .write = true};
    rv = ctl_client_show(ctl, &call, session_line);
    json_decref(body);
    return rv;
}

static int session_close(struct ctl *ctl, int argc, char **argv)
{
    const char *operands[CTL_MAX_OPERANDS];
    int n;
    char path[256];
    int rv = ctl_args_parse(ctl, argc, argv, NULL, 0, operands, &n, 1, 1,
                            "session close ID");
    if (rv == 0) {
        rv = centre_path(ctl, path, sizeof path, "/v1/sessions/", operands[0],
                         "");
    }
    if (rv != 0) {
        return rv;
    }
    struct ctl_call call = {.method = "DELETE", .path = path, .write = true};
    struct ctl_reply reply;
    rv = ctl_client_run(ctl, &call, &reply);
    if (rv == CTL_EXIT_OK) {
        if (ctl->json) {
            ctl_show_json(ctl, reply.body != NULL ? reply.body : json_null());
        } else {
            fprintf(ctl->out, "session %s closed\n", operands[0]);
        }
    }
    ctl_reply_clear(&reply);
    return rv;
}

int ctl_centre_session(struct ctl *ctl, int argc, char **argv)
{
    if (argc > 0 && strcmp(argv[0], "open") == 0) {
        return session_open(ctl, argc - 1, argv + 1);
    }
    if (argc > 0 && strcmp(argv[0], "close") == 0) {
        return session_close(ctl, argc - 1, argv + 1);
    }
    return ctl_fail(ctl, CTL_EXIT_USAGE,
                    "usage: amkctl session open CENTRE CONSOLE OPERATOR |"
                    " session close ID");
}
