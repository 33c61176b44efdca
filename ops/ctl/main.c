/* ops/ctl/main.c: amkctl's entry point: the global options (endpoint, output
 * format, timeout), then the command group that does the work. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

#define DEFAULT_ENDPOINT   "http://127.0.0.1:8001"
#define DEFAULT_TIMEOUT_MS 10000 /* above amkd's 5 s commit wait */
#define DEFAULT_RETRIES    4

void ctl_usage(FILE *out)
{
    fputs(
        "usage: amkctl [--endpoint URL] [--json] [--timeout S] [--retries N]"
        " COMMAND\n"
        "\n"
        "cluster:\n"
        "  status                                 every member's view\n"
        "  members add ID ADDRESS [--role voter|standby|spare] [--centre C]"
        " [--region R]\n"
        "  members remove ID\n"
        "  members role ID voter|standby|spare\n"
        "  leader transfer [ID]\n"
        "centres and sessions:\n"
        "  centre list\n"
        "  centre get ID\n"
        "  centre create ID NAME REGION [--backup ID...] [--no-auto-takeover]\n"
        "  centre takeover ID --by ID [--reason TEXT]\n"
        "  centre handback ID [--keep]\n"
        "  session open CENTRE CONSOLE OPERATOR  prints the session id\n"
        "  session close ID\n"
        "incidents (writes need --session S):\n"
        "  incident create --session S --urgency acute|urgent|normal"
        " [--criterion C]\n"
        "      [--lat N --lon N] [--accuracy M] [--address A]"
        " [--municipality NNNN]\n"
        "      [--caller-phone P] [--caller-name N] [--note TEXT]"
        "   prints the id\n"
        "  incident get ID\n"
        "  incident list [--owner C] [--status S|all] [--urgency U]\n"
        "  incident update ID --session S [--urgency U] [--criterion C]"
        " [--status S]\n"
        "      [--lat N --lon N --accuracy M --address A --municipality NNNN]\n"
        "      [--caller-phone P] [--caller-name N]\n"
        "  incident note ID TEXT --session S\n"
        "  incident assign ID RESOURCE --session S\n"
        "  incident close ID DISPOSITION --session S\n"
        "resources:\n"
        "  resource register ID TYPE ISSI HOME\n"
        "  resource get ID\n"
        "  resource status ID STATUS SEQ --session S [--time RFC3339]\n"
        "  resource list [--centre C] [--status S]\n"
        "events:\n"
        "  watch [--since N]                      follows the event log\n"
        "\n"
        "The endpoint is --endpoint, else $AMK_ENDPOINT, else " DEFAULT_ENDPOINT
        ".\n"
        "--json prints the API's JSON (one event per line for watch).\n"
        "Writes carry a fresh Idempotency-Key, retried unchanged on 503, 504\n"
        "and connection errors (--retries, default 4).\n"
        "Exit: 0 ok, 1 API error, 2 usage, 3 endpoint unreachable.\n",
        out);
}

struct global {
    const char *endpoint;
    const char *timeout;
    const char *retries;
    bool json;
    bool help;
};

/* Takes the global options out of argv (anywhere before "--"), so that
 * `amkctl centre list --json` works as well as `amkctl --json centre list`.
 * Returns 0 or a usage error. */
static int take_globals(struct ctl *ctl, int *argc, char **argv,
                        struct global *g)
{
    int kept = 0;
    bool done = false;
    for (int i = 0; i < *argc; i++) {
        const char *arg = argv[i];
        const char **slot = NULL;
        const char *name = NULL;
        if (!done && strcmp(arg, "--") == 0) {
            done = true;
        } else if (!done && strcmp(arg, "--json") == 0) {
            g->json = true;
            continue;
        } else if (!done &&
                   (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)) {
            g->help = true;
            continue;
        } else if (!done) {
            static const char *const names[] = {"--endpoint", "--timeout",
                                                "--retries"};
            const char **slots[] = {&g->endpoint, &g->timeout, &g->retries};
            for (size_t n = 0; n < 3; n++) {
                size_t len = strlen(names[n]);
                if (strncmp(arg, names[n], len) == 0 &&
                    (arg[len] == '\0' || arg[len] == '=')) {
                    slot = slots[n];
                    name = names[n];
                    if (arg[len] == '=') {
                        *slot = arg + len + 1;
                    } else if (i + 1 < *argc) {
                        *slot = argv[++i];
                    } else {
                        return ctl_fail(ctl, CTL_EXIT_USAGE,
                                        "%s needs a value (see amkctl --help)",
                                        name);
                    }
                    break;
                }
            }
            if (slot != NULL) {
                continue;
            }
        }
        argv[kept++] = argv[i];
    }
    *argc = kept;
    return 0;
}

static int configure(struct ctl *ctl, const struct global *g)
{
    char errmsg[CTL_ERRMSG_SIZE];
    const char *endpoint = g->endpoint;
    const char *source = "--endpoint";
    if (endpoint == NULL) {
        endpoint = getenv("AMK_ENDPOINT");
        source = "AMK_ENDPOINT";
    }
    if (endpoint == NULL || endpoint[0] == '\0') {
        endpoint = DEFAULT_ENDPOINT;
    }
    if (ctl_url_parse(endpoint, &ctl->endpoint, errmsg) != 0) {
        return ctl_fail(ctl, CTL_EXIT_USAGE, "%s: %s", source, errmsg);
    }
    ctl->json = g->json;
    ctl->timeout_ms = DEFAULT_TIMEOUT_MS;
    if (g->timeout != NULL) {
        char *end;
        double s = strtod(g->timeout, &end);
        if (end == g->timeout || *end != '\0' || !isfinite(s) || s < 0.1 ||
            s > 3600) {
            return ctl_fail(ctl, CTL_EXIT_USAGE,
                            "--timeout: '%s' is not seconds 0.1..3600",
                            g->timeout);
        }
        ctl->timeout_ms = (int)(s * 1000);
    }
    ctl->retries = DEFAULT_RETRIES;
    if (g->retries != NULL) {
        uint64_t n;
        if (ctl_args_u64(ctl, g->retries, "--retries", 20, &n) != 0) {
            return CTL_EXIT_USAGE;
        }
        ctl->retries = (int)n;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct ctl ctl = {.out = stdout, .err = stderr};
    struct global g = {0};
    argc--;
    argv++;
    if (take_globals(&ctl, &argc, argv, &g) != 0) {
        return CTL_EXIT_USAGE;
    }
    if (g.help || (argc > 0 && strcmp(argv[0], "help") == 0)) {
        ctl_usage(stdout);
        return CTL_EXIT_OK;
    }
    if (argc == 0) {
        ctl_usage(stderr);
        return CTL_EXIT_USAGE;
    }
    if (configure(&ctl, &g) != 0) {
        return CTL_EXIT_USAGE;
    }
    static const struct {
        const char *name;
        int (*fn)(struct ctl *ctl, int argc, char **argv);
    } groups[] = {
        {"status", ctl_cluster_status},  {"members", ctl_cluster_members},
        {"leader", ctl_cluster_leader},  {"centre", ctl_centre_main},
        {"session", ctl_centre_session}, {"incident", ctl_incident_main},
        {"resource", ctl_resource_main}, {"watch", ctl_watch_main},
    };
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++) {
        if (strcmp(argv[0], groups[i].name) == 0) {
            int rv = groups[i].fn(&ctl, argc - 1, argv + 1);
            if (fflush(stdout) != 0 && rv == CTL_EXIT_OK) {
                rv = CTL_EXIT_API; /* a closed pipe must not look like ok */
            }
            return rv;
        }
    }
    return ctl_fail(&ctl, CTL_EXIT_USAGE,
                    "unknown command '%s' (see amkctl --help)", argv[0]);
}
