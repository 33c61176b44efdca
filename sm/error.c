/* sm/error.c: names and HTTP statuses of the sm layer's result codes (the
 * table in error.h, API.md's error table). */
#include "error.h"

#include <stddef.h>

struct code_info {
    const char *name;
    int http_status;
};

static const struct code_info codes[AMK_CODE__N] = {
    [AMK_OK] = {"OK", 200},
    [AMK_EINVALID] = {"INVALID", 400},
    [AMK_EUNAUTHENTICATED] = {"UNAUTHENTICATED", 401},
    [AMK_EFORBIDDEN] = {"FORBIDDEN", 403},
    [AMK_ENOTFOUND] = {"NOT_FOUND", 404},
    [AMK_ESTALE_EPOCH] = {"STALE_EPOCH", 409},
    [AMK_ECONFLICT] = {"CONFLICT", 409},
    [AMK_EVERSION_MISMATCH] = {"VERSION_MISMATCH", 412},
    [AMK_ETOOLARGE] = {"TOO_LARGE", 413},
    [AMK_ECOMPACTED] = {"COMPACTED", 410},
    [AMK_ENOMEM] = {"NO_MEMORY", 500},
    [AMK_EINTERNAL] = {"INTERNAL", 500},
};

/* A code outside the table is a bug in the caller; report it as the internal
 * failure it is rather than returning NULL into a JSON writer. */
static const struct code_info *lookup(int code)
{
    if (code < 0 || code >= AMK_CODE__N || codes[code].name == NULL) {
        return &codes[AMK_EINTERNAL];
    }
    return &codes[code];
}

const char *amk_code_name(int code)
{
    return lookup(code)->name;
}

int amk_code_http_status(int code)
{
    return lookup(code)->http_status;
}
