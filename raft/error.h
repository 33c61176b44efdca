/* raft/error.h: the result codes of the raft layer, one table, and the one
 * place where canonical/raft's own codes (RAFT_NOTLEADER, ...) are translated
 * into them. Every function of raft/ returns 0 or one of these codes and, where
 * it has an errmsg buffer, says why in one line. */
#ifndef AMK_RAFT_ERROR_H
#define AMK_RAFT_ERROR_H

enum amk_raft_code {
    AMK_RAFT_OK = 0,
    AMK_RAFT_EINVAL,     /* bad argument or configuration (names the field) */
    AMK_RAFT_ENOMEM,     /* out of memory */
    AMK_RAFT_ENOTLEADER, /* this node is not the leader: forward the request
                            to amk_raft_node_leader() */
    AMK_RAFT_ELEADERSHIPLOST, /* leadership was lost while the request was in
                                 flight: the OUTCOME IS UNKNOWN (the entry may
                                 still be committed by the next leader); retry
                                 only with the same idempotency key */
    AMK_RAFT_ESHUTDOWN, /* the node is closing: outcome unknown, as above */
    AMK_RAFT_EUNKNOWN,  /* committed but the state machine deferred it (0.15
                           #220 guard): outcome unknown to this node */
    AMK_RAFT_EBUSY,     /* another change or a leadership transfer is in
                           progress; retry shortly */
    AMK_RAFT_ENOTFOUND, /* no such server in the configuration */
    AMK_RAFT_EEXISTS,   /* server id or address already in the configuration */
    AMK_RAFT_EIO,       /* data directory or disk failure */
    AMK_RAFT_ECORRUPT,  /* the raft log or a snapshot on disk is corrupt */
    AMK_RAFT_ENET,      /* listen/connect failure (address in use, ...) */
    AMK_RAFT_ETIMEOUT,  /* a verified operation did not complete in time */
    AMK_RAFT_ETOOBIG,   /* entry or message too large */
    AMK_RAFT_ESTATE,    /* call not allowed in the node's lifecycle state */
    AMK_RAFT_EINTERNAL, /* anything else canonical/raft reported */
    AMK_RAFT_CODE__N
};

/* The name of a code ("NOT_LEADER"); never NULL. */
const char *amk_raft_code_name(int code);

/* Translates a canonical/raft return code (RAFT_*) into an amk_raft_code:
 * the only place in the code base where raft's codes are interpreted. When
 * errmsg (256 bytes) is not NULL it gets one line: "context: <raft's text>"
 * plus ": detail" when detail (e.g. raft_errmsg()) is non-empty. */
int amk_raft_code_from_raft(int raft_rv, char *errmsg, const char *context,
                            const char *detail);

#endif
