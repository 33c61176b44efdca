/* server/supervisor.h: the leader's takeover supervisor (DESIGN "Takeover and
 * fencing"; API.md "Centres and sessions"). On the leader, a centre that has
 * had no live node and no valid console heartbeat for --takeover-after
 * seconds, and has auto_takeover on, is taken over by the first live,
 * self-controlled centre of its backup list, in one automatic
 * centre.takeover command. A new leader waits one full detection period
 * before it may. */
#ifndef AMK_SERVER_SUPERVISOR_H
#define AMK_SERVER_SUPERVISOR_H

#include <stdbool.h>
#include <stdint.h>

#include "raft/node.h"

struct amk_node;

struct amk_supervisor {
    bool leading;             /* this node led at the last check */
    uint64_t leader_since_ms; /* uv_now() when it became leader */
    uint64_t next_check_ms;
    bool pending; /* a takeover proposal is in flight */
    void *cmd;    /* its encoded command */
    struct amk_raft_propose propose;
    uint64_t takeovers; /* proposed and applied, for metrics */
};

/* Called from the node's ticker; does its work at most twice a second. */
void amk_supervisor_tick(struct amk_node *node);

#endif
