/* ops/ctl/args.c: a command's own options and operands. getopt_long would
 * do for most, but `--backup a b c` (a list up to the next option) is not
 * something it can express; one small parser serves every command. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "sm/enums.h"

static int usage_error(struct ctl *ctl, const char *usage, const char *what,
                       const char *arg)
{
    return ctl_fail(ctl, CTL_EXIT_USAGE, "%s%s; usage: amkctl %s", what,
                    arg != NULL ? arg : "", usage);
}

static struct ctl_opt *find(struct ctl_opt *opts, size_t n_opts,
                            const char *name, size_t len)
{
    for (size_t i = 0; i < n_opts; i++) {
        if (strlen(opts[i].name) == len &&
            strncmp(opts[i].name, name, len) == 0) {
            return &opts[i];
        }
    }
    return NULL;
}

/* Appends the comma-separated items of text to list. */
static int add_items(json_t *list, const char *text)
{
    const char *p = text;
    for (;;) {
        size_t len = strcspn(p, ",");
        if (len > 0 && json_array_append_new(list, json_stringn(p, len)) != 0) {
            return -1;
        }
        if (p[len] == '\0') {
            return 0;
        }
        p += len + 1;
    }
}

static bool is_option(const char *arg)
{
    return arg[0] == '-' && arg[1] == '-' && arg[2] != '\0';
}

int ctl_args_parse(struct ctl *ctl, int argc, char **argv, struct ctl_opt *opts,
                   size_t n_opts, const char **operands, int *n_operands,
                   int min, int max, const char *usage)
{
    *n_operands = 0;
    bool options_done = false;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (!options_done && strcmp(arg, "--") == 0) {
            options_done = true;
            continue;
        }
        if (options_done || !is_option(arg)) {
            /* "-h" looks like a mistake; "-5" and "- text" do not. */
            if (!options_done && arg[0] == '-' &&
                isalpha((unsigned char)arg[1])) {
                return usage_error(ctl, usage, "unknown option ", arg);
            }
            if (*n_operands == CTL_MAX_OPERANDS) {
                return usage_error(ctl, usage, "too many arguments", NULL);
            }
            operands[(*n_operands)++] = arg;
            continue;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq != NULL ? (size_t)(eq - name) : strlen(name);
        struct ctl_opt *opt = find(opts, n_opts, name, len);
        if (opt == NULL) {
            return usage_error(ctl, usage, "unknown option ", arg);
        }
        switch (opt->kind) {
            case CTL_OPT_FLAG:
                if (eq != NULL) {
                    return usage_error(ctl, usage, "takes no value: ", arg);
                }
                opt->value = "1";
                break;
            case CTL_OPT_VALUE:
                if (opt->value != NULL) {
                    return usage_error(ctl, usage, "given twice: ", arg);
                }
                if (eq != NULL) {
                    opt->value = eq + 1;
                } else if (i + 1 < argc) {
                    opt->value = argv[++i];
                } else {
                    return usage_error(ctl, usage, "needs a value: ", arg);
                }
                break;
            case CTL_OPT_LIST:
                if (opt->list == NULL && (opt->list = json_array()) == NULL) {
                    return ctl_fail(ctl, CTL_EXIT_USAGE, "out of memory");
                }
                if (eq == NULL && (i + 1 >= argc || is_option(argv[i + 1]))) {
                    return usage_error(ctl, usage, "needs a value: ", arg);
                }
                if (eq != NULL && add_items(opt->list, eq + 1) != 0) {
                    return ctl_fail(ctl, CTL_EXIT_USAGE, "out of memory");
                }
                /* Every following word up to the next option. */
                while (eq == NULL && i + 1 < argc && !is_option(argv[i + 1]) &&
                       strcmp(argv[i + 1], "--") != 0) {
                    if (add_items(opt->list, argv[++i]) != 0) {
                        return ctl_fail(ctl, CTL_EXIT_USAGE, "out of memory");
                    }
                }
                break;
        }
    }
    if (*n_operands < min) {
        return usage_error(ctl, usage, "missing arguments", NULL);
    }
    if (max >= 0 && *n_operands > max) {
        return usage_error(ctl, usage, "unexpected argument ", operands[max]);
    }
    return 0;
}

void ctl_args_free(struct ctl_opt *opts, size_t n_opts)
{
    for (size_t i = 0; i < n_opts; i++) {
        json_decref(opts[i].list);
        opts[i].list = NULL;
        opts[i].value = NULL;
    }
}

struct ctl_opt *ctl_args_get(struct ctl_opt *opts, size_t n_opts,
                             const char *name)
{
    return find(opts, n_opts, name, strlen(name));
}

int ctl_args_u64(struct ctl *ctl, const char *text, const char *what,
                 uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0 ||
        v > max) {
        if (max >= INT64_MAX) {
            return ctl_fail(ctl, CTL_EXIT_USAGE,
                            "%s: '%s' is not a non-negative integer", what,
                            text);
        }
        return ctl_fail(ctl, CTL_EXIT_USAGE,
                        "%s: '%s' is not an integer 0..%llu", what, text,
                        (unsigned long long)max);
    }
    *out = v;
    return 0;
}

int ctl_args_double(struct ctl *ctl, const char *text, const char *what,
                    double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (text[0] == '\0' || *end != '\0' || errno != 0 || !isfinite(v)) {
        return ctl_fail(ctl, CTL_EXIT_USAGE, "%s: '%s' is not a number", what,
                        text);
    }
    *out = v;
    return 0;
}

int ctl_args_enum(struct ctl *ctl, int kind, const char *text, const char *what)
{
    uint8_t value;
    if (amk_enum_parse((enum amk_enum_kind)kind, text, strlen(text), &value) !=
        0) {
        return ctl_fail(ctl, CTL_EXIT_USAGE, "%s: '%s' is not one of %s", what,
                        text, amk_enum_choices((enum amk_enum_kind)kind));
    }
    return 0;
}

const char *ctl_args_session(const struct ctl_opt *session)
{
    if (session->value != NULL) {
        return session->value;
    }
    const char *env = getenv("AMK_SESSION");
    return env != NULL && env[0] != '\0' ? env : NULL;
}
