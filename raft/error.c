/* raft/error.c: names of the raft layer's codes and the single translation
 * from canonical/raft's RAFT_* codes. */
#include "raft/error.h"

#include <raft.h>
#include <stdio.h>

static const char *const code_names[AMK_RAFT_CODE__N] = {
    [AMK_RAFT_OK] = "OK",
    [AMK_RAFT_EINVAL] = "INVALID",
    [AMK_RAFT_ENOMEM] = "NO_MEMORY",
    [AMK_RAFT_ENOTLEADER] = "NOT_LEADER",
    [AMK_RAFT_ELEADERSHIPLOST] = "LEADERSHIP_LOST",
    [AMK_RAFT_ESHUTDOWN] = "SHUTTING_DOWN",
    [AMK_RAFT_EUNKNOWN] = "OUTCOME_UNKNOWN",
    [AMK_RAFT_EBUSY] = "BUSY",
    [AMK_RAFT_ENOTFOUND] = "NOT_FOUND",
    [AMK_RAFT_EEXISTS] = "EXISTS",
    [AMK_RAFT_EIO] = "IO_ERROR",
    [AMK_RAFT_ECORRUPT] = "CORRUPT",
    [AMK_RAFT_ENET] = "NETWORK",
    [AMK_RAFT_ETIMEOUT] = "TIMEOUT",
    [AMK_RAFT_ETOOBIG] = "TOO_BIG",
    [AMK_RAFT_ESTATE] = "BAD_STATE",
    [AMK_RAFT_EINTERNAL] = "INTERNAL",
};

const char *amk_raft_code_name(int code)
{
    if (code < 0 || code >= AMK_RAFT_CODE__N || code_names[code] == 0) {
        return "UNKNOWN_CODE";
    }
    return code_names[code];
}

static int translate(int raft_rv)
{
    switch (raft_rv) {
        case 0:
            return AMK_RAFT_OK;
        case RAFT_NOMEM:
            return AMK_RAFT_ENOMEM;
        case RAFT_BADID:
        case RAFT_NOTFOUND:
            return AMK_RAFT_ENOTFOUND;
        case RAFT_DUPLICATEID:
        case RAFT_DUPLICATEADDRESS:
            return AMK_RAFT_EEXISTS;
        case RAFT_BADROLE:
        case RAFT_MALFORMED:
        case RAFT_INVALID:
        case RAFT_NAMETOOLONG:
            return AMK_RAFT_EINVAL;
        case RAFT_NOTLEADER:
            return AMK_RAFT_ENOTLEADER;
        case RAFT_LEADERSHIPLOST:
            return AMK_RAFT_ELEADERSHIPLOST;
        case RAFT_SHUTDOWN:
        case RAFT_CANCELED:
            return AMK_RAFT_ESHUTDOWN;
        case RAFT_CANTCHANGE:
        case RAFT_BUSY:
            return AMK_RAFT_EBUSY;
        case RAFT_CANTBOOTSTRAP:
            return AMK_RAFT_ESTATE;
        case RAFT_CORRUPT:
            return AMK_RAFT_ECORRUPT;
        case RAFT_TOOBIG:
            return AMK_RAFT_ETOOBIG;
        case RAFT_NOCONNECTION:
            return AMK_RAFT_ENET;
        case RAFT_IOERR:
        case RAFT_UNAUTHORIZED:
        case RAFT_NOSPACE:
            return AMK_RAFT_EIO;
        default:
            return AMK_RAFT_EINTERNAL;
    }
}

int amk_raft_code_from_raft(int raft_rv, char *errmsg, const char *context,
                            const char *detail)
{
    if (errmsg != NULL && raft_rv != 0) {
        if (detail != NULL && detail[0] != '\0') {
            snprintf(errmsg, 256, "%s: %s: %s", context, raft_strerror(raft_rv),
                     detail);
        } else {
            snprintf(errmsg, 256, "%s: %s", context, raft_strerror(raft_rv));
        }
    }
    return translate(raft_rv);
}
