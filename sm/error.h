/* sm/error.h: the result codes of the state machine layer, one table. The
 * domain codes (AMK_EINVALID .. AMK_ECOMPACTED) are deterministic outcomes of a
 * command or query; AMK_ENOMEM and AMK_EINTERNAL are local failures that must
 * never be replicated as a result (the raft layer aborts on them). */
#ifndef AMK_SM_ERROR_H
#define AMK_SM_ERROR_H

enum amk_code {
    AMK_OK = 0,
    AMK_EINVALID,          /* 400 INVALID: bad field, bad encoding */
    AMK_EUNAUTHENTICATED,  /* 401: unknown or closed session */
    AMK_EFORBIDDEN,        /* 403: role not allowed */
    AMK_ENOTFOUND,         /* 404 */
    AMK_ESTALE_EPOCH,      /* 409: fenced; result names owner and epoch */
    AMK_ECONFLICT,         /* 409: illegal transition, duplicate, busy */
    AMK_EVERSION_MISMATCH, /* 412: If-Match failed */
    AMK_ETOOLARGE,         /* 413: over a size limit */
    AMK_ECOMPACTED,        /* 410: events no longer kept */
    AMK_ENOMEM,            /* local: out of memory */
    AMK_EINTERNAL,         /* local: SQLite or invariant failure */
    AMK_CODE__N
};

/* The wire name of a code ("STALE_EPOCH"); never NULL. */
const char *amk_code_name(int code);

/* The HTTP status a code maps to (API.md error table). */
int amk_code_http_status(int code);

#endif
