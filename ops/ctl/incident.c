/* ops/ctl/incident.c: `incident create|get|list|update|note|assign|close`
 * (API.md "Incidents"). Writes act as a console session (--session or
 * $AMK_SESSION), which the state machine fences by centre and epoch. */
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "sm/enums.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Options shared by create and update; the index of each is fixed. */
enum {
    O_SESSION,
    O_URGENCY,
    O_CRITERION,
    O_LAT,
    O_LON,
    O_ACCURACY,
    O_ADDRESS,
    O_MUNICIPALITY,
    O_CALLER_PHONE,
    O_CALLER_NAME,
    O_NOTE,
    O_STATUS,
    O__N
};

static void details_options(struct ctl_opt *opts)
{
    static const char *const names[O__N] = {
        "session",      "urgency",     "criterion", "lat",
        "lon",          "accuracy",    "address",   "municipality",
        "caller-phone", "caller-name", "note",      "status"};
    for (size_t i = 0; i < O__N; i++) {
        opts[i] = (struct ctl_opt){names[i], CTL_OPT_VALUE, NULL, NULL};
    }
}

static int need_session(struct ctl *ctl, const char *session, const char *usage)
{
    if (session != NULL) {
        return 0;
    }
    return ctl_fail(ctl, CTL_EXIT_USAGE,
                    "--session is required (or $AMK_SESSION); usage: amkctl %s",
                    usage);
}

static int incident_path(struct ctl *ctl, char *path, size_t cap,
                         const char *id, const char *suffix)
{
    snprintf(path, cap, "/v1/incidents/");
    if (ctl_url_escape(path, cap, id) != 0 ||
        strlen(path) + strlen(suffix) + 1 > cap) {
        return ctl_fail(ctl, CTL_EXIT_USAGE, "id too long: '%.64s'", id);
    }
    strcat(path, suffix);
    return 0;
}

/* Sets obj[key] to the number in text, if given. */
static int set_number(struct ctl *ctl, json_t *obj, const char *key,
                      const char *text, const char *what)
{
    if (text == NULL) {
        return 0;
    }
    double v;
    if (ctl_args_double(ctl, text, what, &v) != 0) {
        return CTL_EXIT_USAGE;
    }
    json_object_set_new(obj, key, json_real(v));
    return 0;
}

static void set_string(json_t *obj, const char *key, const char *text)
{
    if (text != NULL) {
        json_object_set_new(obj, key, json_string(text));
    }
}

static bool any_location(struct ctl_opt *opts)
{
    return opts[O_LAT].value != NULL || opts[O_LON].value != NULL ||
           opts[O_ACCURACY].value != NULL || opts[O_ADDRESS].value != NULL ||
           opts[O_MUNICIPALITY].value != NULL;
}

static bool any_caller(struct ctl_opt *opts)
{
    return opts[O_CALLER_PHONE].value != NULL ||
           opts[O_CALLER_NAME].value != NULL;
}

/* Fills body from the options: urgency, criterion, status, and location and
 * caller merged over `location` and `caller` (the current ones on update:
 * the API replaces them whole). */
static int fill_body(struct ctl *ctl, struct ctl_opt *opts, json_t *body,
                     json_t *location, json_t *caller)
{
    if ((opts[O_URGENCY].value != NULL &&
         ctl_args_enum(ctl, AMK_ENUM_URGENCY, opts[O_URGENCY].value,
                       "--urgency") != 0) ||
        (opts[O_STATUS].value != NULL &&
         ctl_args_enum(ctl, AMK_ENUM_INCIDENT_STATUS, opts[O_STATUS].value,
                       "--status") != 0)) {
        return CTL_EXIT_USAGE;
    }
    if ((opts[O_LAT].value == NULL) != (opts[O_LON].value == NULL)) {
        return ctl_fail(ctl, CTL_EXIT_USAGE, "--lat and --lon go together");
    }
    set_string(body, "urgency", opts[O_URGENCY].value);
    set_string(body, "criterion", opts[O_CRITERION].value);
    set_string(body, "status", opts[O_STATUS].value);
    set_string(body, "note", opts[O_NOTE].value);
    if (any_location(opts)) {
        if (set_number(ctl, location, "lat", opts[O_LAT].value, "--lat") ||
            set_number(ctl, location, "lon", opts[O_LON].value, "--lon") ||
            set_number(ctl, location, "accuracy_m", opts[O_ACCURACY].value,
                       "--accuracy")) {
            return CTL_EXIT_USAGE;
        }
        set_string(location, "address", opts[O_ADDRESS].value);
        set_string(location, "municipality", opts[O_MUNICIPALITY].value);
        json_object_set(body, "location", location);
    }
    if (any_caller(opts)) {
        set_string(caller, "phone", opts[O_CALLER_PHONE].value);
        set_string(caller, "name", opts[O_CALLER_NAME].value);
        json_object_set(body, "caller", caller);
    }
    return 0;
}

static void summary_line(struct ctl *ctl, json_t *inc, const char *what)
{
    char cn[128], status[64], disposition[64], urgency[64], version[32];
    ctl_show_field(inc, "disposition", disposition, sizeof disposition);
    fprintf(ctl->out, "incident %s %s: %s%s%s%s, %s (version %s)\n",
            ctl_show_field(inc, "case_number", cn, sizeof cn), what,
            ctl_show_field(inc, "status", status, sizeof status),
            disposition[0] != '-' ? " (" : "",
            disposition[0] != '-' ? disposition : "",
            disposition[0] != '-' ? ")" : "",
            ctl_show_field(inc, "urgency", urgency, sizeof urgency),
            ctl_show_field(inc, "version", version, sizeof version));
}

static const char USAGE_CREATE[] =
    "incident create --session S --urgency acute|urgent|normal [--criterion C]"
    " [--lat N --lon N] [--accuracy M] [--address A] [--municipality NNNN]"
    " [--caller-phone P] [--caller-name N] [--note TEXT]";

static int incident_create(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_opt opts[O__N];
    details_options(opts);
    const char *operands[CTL_MAX_OPERANDS];
    int n;
    int rv = ctl_args_parse(ctl, argc, argv, opts, O__N, operands, &n, 0, 0,
                            USAGE_CREATE);
    const char *session = ctl_args_session(&opts[O_SESSION]);
    if (rv == 0 && opts[O_STATUS].value != NULL) {
        rv = ctl_fail(ctl, CTL_EXIT_USAGE,
                      "--status: an incident starts as new (then: amkctl"
                      " incident update ID --status S)");
    }
    if (rv == 0) {
        rv = need_session(ctl, session, USAGE_CREATE);
    }
    if (rv == 0 && opts[O_URGENCY].value == NULL) {
        rv = ctl_fail(ctl, CTL_EXIT_USAGE,
                      "--urgency is required; usage: amkctl %s", USAGE_CREATE);
    }
    if (rv != 0) {
        return rv;
    }
    json_t *body = json_object();
    json_t *location = json_object();
    json_t *caller = json_object();
    rv = fill_body(ctl, opts, body, location, caller);
    if (rv == 0) {
        struct ctl_call call = {.method = "POST",
                                .path = "/v1/incidents",
                                .body = body,
                                .session = session,
                                .write = true};
        struct ctl_reply reply;
        rv = ctl_client_run(ctl, &call, &reply);
        if (rv == CTL_EXIT_OK) {
            char id[128];
            if (ctl->json) {
                ctl_show_json(ctl, reply.body);
            } else {
                /* The id alone, for I=$(amkctl incident create ...). */
                fprintf(ctl->out, "%s\n",
                        ctl_show_field(reply.body, "id", id, sizeof id));
            }
        }
        ctl_reply_clear(&reply);
    }
    json_decref(caller);
    json_decref(location);
    json_decref(body);
    return rv;
}

static void label(struct ctl *ctl, const char *name)
{
    fprintf(ctl->out, "%-13s", name);
}

static void show_incident(struct ctl *ctl, const json_t *inc)
{
    char a[256], b[256], c[256], d[256];
    fprintf(ctl->out, "incident %s\n", ctl_show_field(inc, "id", a, sizeof a));
    label(ctl, "case:");
    fprintf(ctl->out, "%s (version %s)\n",
            ctl_show_field(inc, "case_number", a, sizeof a),
            ctl_show_field(inc, "version", b, sizeof b));
    label(ctl, "status:");
    fprintf(ctl->out, "%s", ctl_show_field(inc, "status", a, sizeof a));
    if (!json_is_null(json_object_get(inc, "disposition")) &&
        json_object_get(inc, "disposition") != NULL) {
        fprintf(ctl->out, " (%s)",
                ctl_show_field(inc, "disposition", a, sizeof a));
    }
    fputc('\n', ctl->out);
    label(ctl, "urgency:");
    fprintf(ctl->out, "%s, criterion %s\n",
            ctl_show_field(inc, "urgency", a, sizeof a),
            ctl_show_field(inc, "criterion", b, sizeof b));
    label(ctl, "owner:");
    fprintf(ctl->out, "%s (epoch %s), answered by %s, area %s\n",
            ctl_show_field(inc, "owner", a, sizeof a),
            ctl_show_field(inc, "owner_epoch", b, sizeof b),
            ctl_show_field(inc, "answering_centre", c, sizeof c),
            ctl_show_field(inc, "area_centre", d, sizeof d));
    if (json_is_string(json_object_get(inc, "transfer_to"))) {
        label(ctl, "transfer to:");
        fprintf(ctl->out, "%s (pending)\n",
                ctl_show_field(inc, "transfer_to", a, sizeof a));
    }
    json_t *loc = json_object_get(inc, "location");
    label(ctl, "location:");
    fprintf(ctl->out, "%s, municipality %s, %s %s",
            ctl_show_field(loc, "address", a, sizeof a),
            ctl_show_field(loc, "municipality", b, sizeof b),
            ctl_show_field(loc, "lat", c, sizeof c),
            ctl_show_field(loc, "lon", d, sizeof d));
    if (json_is_number(json_object_get(loc, "accuracy_m"))) {
        fprintf(ctl->out, " ±%s m",
                ctl_show_field(loc, "accuracy_m", a, sizeof a));
    }
    fputc('\n', ctl->out);
    json_t *caller = json_object_get(inc, "caller");
    label(ctl, "caller:");
    fprintf(ctl->out, "%s, %s\n", ctl_show_field(caller, "name", a, sizeof a),
            ctl_show_field(caller, "phone", b, sizeof b));
    json_t *patients = json_object_get(inc, "patients");
    for (size_t i = 0; i < json_array_size(patients); i++) {
        json_t *p = json_array_get(patients, i);
        label(ctl, i == 0 ? "patients:" : "");
        fprintf(ctl->out, "%s, age %s, %s\n",
                ctl_show_field(p, "name", a, sizeof a),
                ctl_show_field(p, "age", b, sizeof b),
                ctl_show_field(p, "sex", c, sizeof c));
    }
    json_t *units = json_object_get(inc, "assignments");
    for (size_t i = 0; i < json_array_size(units); i++) {
        json_t *u = json_array_get(units, i);
        label(ctl, i == 0 ? "units:" : "");
        fprintf(ctl->out, "%s %s%s\n",
                ctl_show_field(u, "resource", a, sizeof a),
                ctl_show_field(u, "phase", b, sizeof b),
                json_is_false(json_object_get(u, "active")) ? " (ended)" : "");
    }
    json_t *times = json_object_get(inc, "times");
    const char *key;
    json_t *value;
    bool first = true;
    json_object_foreach(times, key, value)
    {
        if (json_is_string(value)) {
            label(ctl, first ? "times:" : "");
            fprintf(ctl->out, "%-13s %s\n", key, json_string_value(value));
            first = false;
        }
    }
    json_t *notes = json_object_get(inc, "notes");
    for (size_t i = 0; i < json_array_size(notes); i++) {
        json_t *note = json_array_get(notes, i);
        label(ctl, i == 0 ? "notes:" : "");
        fprintf(ctl->out, "%s %s: %s\n",
                ctl_show_field(note, "at", a, sizeof a),
                ctl_show_field(note, "by", b, sizeof b),
                ctl_show_field(note, "text", c, sizeof c));
    }
}

static int incident_get(struct ctl *ctl, int argc, char **argv)
{
    const char *operands[CTL_MAX_OPERANDS];
    int n;
    char path[256];
    int rv = ctl_args_parse(ctl, argc, argv, NULL, 0, operands, &n, 1, 1,
                            "incident get ID");
    if (rv == 0) {
        rv = incident_path(ctl, path, sizeof path, operands[0], "");
    }
    if (rv != 0) {
        return rv;
    }
    struct ctl_call call = {.method = "GET", .path = path};
    return ctl_client_show(ctl, &call, show_incident);
}

static int incident_list(struct ctl *ctl, int argc, char **argv)
{
    static const char usage[] =
        "incident list [--owner C] [--status S|all] [--urgency U]";
    struct ctl_opt opts[] = {{"owner", CTL_OPT_VALUE, NULL, NULL},
                             {"status", CTL_OPT_VALUE, NULL, NULL},
                             {"urgency", CTL_OPT_VALUE, NULL, NULL}};
    const char *operands[CTL_MAX_OPERANDS];
    int n;
    int rv = ctl_args_parse(ctl, argc, argv, opts, N(opts), operands, &n, 0, 0,
                            usage);
    if (rv == 0 && opts[1].value != NULL && strcmp(opts[1].value, "all") != 0) {
        rv = ctl_args_enum(ctl, AMK_ENUM_INCIDENT_STATUS, opts[1].value,
                           "--status");
    }
    if (rv == 0 && opts[2].value != NULL) {
        rv = ctl_args_enum(ctl, AMK_ENUM_URGENCY, opts[2].value, "--urgency");
    }
    char path[1024] = "/v1/incidents";
    if (rv == 0 &&
        (ctl_url_add_query(path, sizeof path, "owner", opts[0].value) ||
         ctl_url_add_query(path, sizeof path, "status", opts[1].value) ||
         ctl_url_add_query(path, sizeof path, "urgency", opts[2].value))) {
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
    static const char *const headers[] = {"ID",      "CASE",      "STATUS",
                                          "URGENCY", "CRITERION", "OWNER",
                                          "ADDRESS", "UNITS"};
    struct ctl_table t;
    rv = ctl_table_init(&t, N(headers), headers);
    for (size_t i = 0; rv == 0 && i < json_array_size(items); i++) {
        json_t *inc = json_array_get(items, i);
        char buf[7][256], units[256] = "";
        json_t *list = json_object_get(inc, "assignments");
        size_t len = 0;
        for (size_t u = 0; u < json_array_size(list); u++) {
            json_t *a = json_array_get(list, u);
            if (json_is_false(json_object_get(a, "active"))) {
                continue;
            }
            char r[128];
            int w = snprintf(units + len, sizeof units - len, "%s%s",
                             len > 0 ? "," : "",
                             ctl_show_field(a, "resource", r, sizeof r));
            if (w < 0 || (size_t)w >= sizeof units - len) {
                break;
            }
            len += (size_t)w;
        }
        const char *row[] = {
            ctl_show_field(inc, "id", buf[0], sizeof buf[0]),
            ctl_show_field(inc, "case_number", buf[1], sizeof buf[1]),
            ctl_show_field(inc, "status", buf[2], sizeof buf[2]),
            ctl_show_field(inc, "urgency", buf[3], sizeof buf[3]),
            ctl_show_field(inc, "criterion", buf[4], sizeof buf[4]),
            ctl_show_field(inc, "owner", buf[5], sizeof buf[5]),
            ctl_show_field(json_object_get(inc, "location"), "address", buf[6],
                           sizeof buf[6]),
            units};
        rv = ctl_table_add(&t, row);
    }
    if (rv == 0) {
        ctl_table_print(&t, ctl->out);
    }
    ctl_table_free(&t);
    json_decref(items);
    return rv == 0 ? CTL_EXIT_OK : ctl_fail(ctl, CTL_EXIT_API, "out of memory");
}

static const char USAGE_UPDATE[] =
    "incident update ID --session S [--urgency U] [--criterion C] [--status S]"
    " [--lat N --lon N] [--accuracy M] [--address A] [--municipality NNNN]"
    " [--caller-phone P] [--caller-name N]";

/* Runs a write on one incident and prints a summary line. */
static int incident_write(struct ctl *ctl, const char *method, const char *path,
                          json_t *body, const char *session,
                          const char *if_match, const char *what)
{
    struct ctl_call call = {.method = method,
                            .path = path,
                            .body = body,
                            .session = session,
                            .if_match = if_match,
                            .write = true};
    struct ctl_reply reply;
    int rv = ctl_client_run(ctl, &call, &reply);
    if (rv == CTL_EXIT_OK) {
        if (ctl->json) {
            ctl_show_json(ctl, reply.body);
        } else {
            summary_line(ctl, reply.body, what);
        }
    }
    ctl_reply_clear(&reply);
    return rv;
}

static int incident_update(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_opt opts[O__N];
    details_options(opts);
    const char *operands[CTL_MAX_OPERANDS];
    int n;
    char path[256];
    int rv = ctl_args_parse(ctl, argc, argv, opts, O__N, operands, &n, 1, 1,
                            USAGE_UPDATE);
    const char *session = ctl_args_session(&opts[O_SESSION]);
    if (rv == 0 && opts[O_NOTE].value != NULL) {
        rv = ctl_fail(ctl, CTL_EXIT_USAGE,
                      "--note: notes are appended with amkctl incident note ID"
                      " TEXT");
    }
    if (rv == 0) {
        rv = need_session(ctl, session, USAGE_UPDATE);
    }
    if (rv == 0 && opts[O_URGENCY].value == NULL &&
        opts[O_CRITERION].value == NULL && opts[O_STATUS].value == NULL &&
        !any_location(opts) && !any_caller(opts)) {
        rv = ctl_fail(ctl, CTL_EXIT_USAGE,
                      "nothing to change; usage: amkctl %s", USAGE_UPDATE);
    }
    if (rv == 0) {
        rv = incident_path(ctl, path, sizeof path, operands[0], "");
    }
    if (rv != 0) {
        return rv;
    }
    json_t *body = json_object();
    json_t *location = NULL, *caller = NULL;
    char version[32] = "";
    if (any_location(opts) || any_caller(opts)) {
        /* The API replaces location and caller whole: merge the options over
         * the current values, and make the write conditional on the version
         * read (If-Match) so a concurrent change is not overwritten. */
        struct ctl_call get = {.method = "GET", .path = path};
        struct ctl_reply current;
        rv = ctl_client_run(ctl, &get, &current);
        if (rv != CTL_EXIT_OK) {
            json_decref(body);
            return rv;
        }
        json_t *l = json_object_get(current.body, "location");
        json_t *c = json_object_get(current.body, "caller");
        location = json_is_object(l) ? json_deep_copy(l) : json_object();
        caller = json_is_object(c) ? json_deep_copy(c) : json_object();
        ctl_show_field(current.body, "version", version, sizeof version);
        ctl_reply_clear(&current);
    } else {
        location = json_object();
        caller = json_object();
    }
    rv = fill_body(ctl, opts, body, location, caller);
    if (rv == 0) {
        rv = incident_write(ctl, "PATCH", path, body, session,
                            version[0] != '\0' ? version : NULL, "updated");
    }
    json_decref(caller);
    json_decref(location);
    json_decref(body);
    return rv;
}

/* note, assign and close: ID, one operand, --session. */
static int incident_action(struct ctl *ctl, int argc, char **argv,
                           const char *usage, const char *suffix,
                           const char *field, int kind, const char *what)
{
    struct ctl_opt opts[] = {{"session", CTL_OPT_VALUE, NULL, NULL}};
    const char *operands[CTL_MAX_OPERANDS];
    int n;
    char path[256];
    int rv = ctl_args_parse(ctl, argc, argv, opts, N(opts), operands, &n, 2, 2,
                            usage);
    const char *session = ctl_args_session(&opts[0]);
    if (rv == 0) {
        rv = need_session(ctl, session, usage);
    }
    if (rv == 0 && kind >= 0) {
        rv = ctl_args_enum(ctl, kind, operands[1], field);
    }
    if (rv == 0) {
        rv = incident_path(ctl, path, sizeof path, operands[0], suffix);
    }
    if (rv != 0) {
        return rv;
    }
    json_t *body = json_pack("{s:s}", field, operands[1]);
    rv = incident_write(ctl, "POST", path, body, session, NULL, what);
    json_decref(body);
    return rv;
}

int ctl_incident_main(struct ctl *ctl, int argc, char **argv)
{
    const char *verb = argc > 0 ? argv[0] : "";
    argc--;
    argv++;
    if (strcmp(verb, "create") == 0) {
        return incident_create(ctl, argc, argv);
    }
    if (strcmp(verb, "get") == 0) {
        return incident_get(ctl, argc, argv);
    }
    if (strcmp(verb, "list") == 0) {
        return incident_list(ctl, argc, argv);
    }
    if (strcmp(verb, "update") == 0) {
        return incident_update(ctl, argc, argv);
    }
    if (strcmp(verb, "note") == 0) {
        return incident_action(ctl, argc, argv,
                               "incident note ID TEXT --session S", "/notes",
                               "text", -1, "noted");
    }
    if (strcmp(verb, "assign") == 0) {
        return incident_action(ctl, argc, argv,
                               "incident assign ID RESOURCE --session S",
                               "/assignments", "resource", -1, "assigned");
    }
    if (strcmp(verb, "close") == 0) {
        return incident_action(
            ctl, argc, argv, "incident close ID DISPOSITION --session S",
            "/close", "disposition", AMK_ENUM_DISPOSITION, "closed");
    }
    return ctl_fail(ctl, CTL_EXIT_USAGE,
                    "usage: amkctl incident create|get|list|update|note|"
                    "assign|close ... (see amkctl --help)");
}
