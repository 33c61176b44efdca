/* raft/node_config.c: the node's configuration: defaults, the checks init
 * makes (ids, IPv4-literal addresses, the peers list, timeouts) and the
 * copies it keeps; role and state names. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raft/node_internal.h"

const char *amk_raft_role_name(int role)
{
    switch (role) {
        case AMK_RAFT_VOTER:
            return "voter";
        case AMK_RAFT_STANDBY:
            return "standby";
        case AMK_RAFT_SPARE:
            return "spare";
        default:
            return NULL;
    }
}

int amk_raft_role_parse(const char *name, int *role)
{
    static const int roles[] = {AMK_RAFT_VOTER, AMK_RAFT_STANDBY,
                                AMK_RAFT_SPARE};
    unsigned i;
    for (i = 0; name != NULL && i < sizeof roles / sizeof roles[0]; i++) {
        if (strcmp(name, amk_raft_role_name(roles[i])) == 0) {
            *role = roles[i];
            return 0;
        }
    }
    return AMK_RAFT_EINVAL;
}

const char *amk_raft_state_name(int state)
{
    switch (state) {
        case AMK_RAFT_UNAVAILABLE:
            return "unavailable";
        case AMK_RAFT_FOLLOWER:
            return "follower";
        case AMK_RAFT_CANDIDATE:
            return "candidate";
        case AMK_RAFT_LEADER:
            return "leader";
        default:
            return "unknown";
    }
}

void amk_raft_node_config_default(struct amk_raft_node_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->heartbeat_ms = AMK_RAFT_DEFAULT_HEARTBEAT_MS;
    cfg->election_ms = AMK_RAFT_DEFAULT_ELECTION_MS;
    cfg->snapshot_threshold = AMK_RAFT_DEFAULT_SNAPSHOT_THRESHOLD;
    cfg->snapshot_trailing = AMK_RAFT_DEFAULT_SNAPSHOT_TRAILING;
    cfg->connect_retry_ms = AMK_RAFT_DEFAULT_CONNECT_RETRY_MS;
    cfg->watch_ms = AMK_RAFT_DEFAULT_WATCH_MS;
    cfg->transfer_attempts = AMK_RAFT_DEFAULT_TRANSFER_ATTEMPTS;
    cfg->pre_vote = true;
    cfg->auto_recovery = false;
}

/* Parses "A.B.C.D:port" into *sa. Returns 0 or -1 with reason set. */
int node__parse_ipv4(const char *address, struct sockaddr_in *sa,
                     const char **reason)
{
    char host[INET_ADDRSTRLEN];
    const char *colon;
    char *end;
    unsigned long port;
    size_t host_len;

    if (address == NULL || address[0] == '\0') {
        *reason = "missing";
        return -1;
    }
    if (strlen(address) > AMK_RAFT_ADDRESS_MAX) {
        *reason = "too long";
        return -1;
    }
    if (address[0] == '[' || strchr(address, ':') != strrchr(address, ':')) {
        *reason = "IPv6 is not supported by canonical/raft 0.15's TCP "
                  "transport: use an IPv4 literal A.B.C.D:port";
        return -1;
    }
    colon = strrchr(address, ':');
    if (colon == NULL) {
        *reason = "no port: expected A.B.C.D:port";
        return -1;
    }
    host_len = (size_t)(colon - address);
    if (host_len == 0 || host_len >= sizeof host) {
        *reason = "not an IPv4 literal: expected A.B.C.D:port (hostnames are "
                  "not resolved by canonical/raft 0.15)";
        return -1;
    }
    memcpy(host, address, host_len);
    host[host_len] = '\0';
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1) {
        *reason = "not an IPv4 literal: expected A.B.C.D:port (hostnames are "
                  "not resolved by canonical/raft 0.15)";
        return -1;
    }
    errno = 0;
    port = strtoul(colon + 1, &end, 10);
    if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || errno != 0 ||
        port == 0 || port > 65535) {
        *reason = "bad port: expected 1..65535";
        return -1;
    }
    sa->sin_port = htons((uint16_t)port);
    return 0;
}

int amk_raft_address_check(const char *address, const char *what, char *errmsg)
{
    struct sockaddr_in sa;
    const char *reason = NULL;
    if (node__parse_ipv4(address, &sa, &reason) != 0) {
        snprintf(errmsg, 256, "%s '%s': %s", what,
                 address != NULL ? address : "", reason);
        return AMK_RAFT_EINVAL;
    }
    return 0;
}

void node__config_free(struct amk_raft_node *node)
{
    free(node->data_dir);
    free(node->peers);
    free(node->peer_addresses);
    free(node->noop_template);
    node->data_dir = NULL;
    node->peers = NULL;
    node->peer_addresses = NULL;
    node->noop_template = NULL;
}

int node__config_check(struct amk_raft_node *node,
                       const struct amk_raft_node_config *c)
{
    char *errmsg = node->errmsg;
    unsigned i;
    unsigned j;
    bool self_listed = false;
    int rv;

    if (c->id == 0) {
        snprintf(errmsg, 256, "raft id must be > 0");
        return AMK_RAFT_EINVAL;
    }
    rv = amk_raft_address_check(c->address, "raft address", errmsg);
    if (rv != 0) {
        return rv;
    }
    if (c->data_dir == NULL || c->data_dir[0] == '\0') {
        snprintf(errmsg, 256, "raft data directory missing");
        return AMK_RAFT_EINVAL;
    }
    if (c->n_peers > 0 && c->peers == NULL) {
        snprintf(errmsg, 256, "peers: %u announced, none given", c->n_peers);
        return AMK_RAFT_EINVAL;
    }
    for (i = 0; i < c->n_peers; i++) {
        const struct amk_raft_peer *p = &c->peers[i];
        if (p->id == 0) {
            snprintf(errmsg, 256, "peers: id must be > 0 (entry %u)", i + 1);
            return AMK_RAFT_EINVAL;
        }
        rv = amk_raft_address_check(p->address, "peers: address", errmsg);
        if (rv != 0) {
            return rv;
        }
        for (j = 0; j < i; j++) {
            if (c->peers[j].id == p->id) {
                snprintf(errmsg, 256, "peers: id %llu listed twice",
                         (unsigned long long)p->id);
                return AMK_RAFT_EINVAL;
            }
            if (strcmp(c->peers[j].address, p->address) == 0) {
                snprintf(errmsg, 256, "peers: address %s listed twice",
                         p->address);
                return AMK_RAFT_EINVAL;
            }
        }
        if (p->id == c->id) {
            if (strcmp(p->address, c->address) != 0) {
                snprintf(errmsg, 256,
                         "peers: this node (id %llu) is listed at %s but its "
                         "raft address is %s",
                         (unsigned long long)c->id, p->address, c->address);
                return AMK_RAFT_EINVAL;
            }
            self_listed = true;
        }
    }
    if (c->n_peers > 0 && !self_listed) {
        snprintf(errmsg, 256, "peers: must include this node (id %llu at %s)",
                 (unsigned long long)c->id, c->address);
        return AMK_RAFT_EINVAL;
    }
    return 0;
}

int node__config_copy(struct amk_raft_node *node,
                      const struct amk_raft_node_config *c)
{
    struct amk_raft_node_config *own = &node->config;
    unsigned i;

    *own = *c;
    if (own->heartbeat_ms == 0) {
        own->heartbeat_ms = AMK_RAFT_DEFAULT_HEARTBEAT_MS;
    }
    if (own->election_ms == 0) {
        own->election_ms = AMK_RAFT_DEFAULT_ELECTION_MS;
    }
    if (own->snapshot_threshold == 0) {
        own->snapshot_threshold = AMK_RAFT_DEFAULT_SNAPSHOT_THRESHOLD;
    }
    if (own->snapshot_trailing == 0) {
        own->snapshot_trailing = AMK_RAFT_DEFAULT_SNAPSHOT_TRAILING;
    }
    if (own->connect_retry_ms == 0) {
        own->connect_retry_ms = AMK_RAFT_DEFAULT_CONNECT_RETRY_MS;
    }
    if (own->watch_ms == 0) {
        own->watch_ms = AMK_RAFT_DEFAULT_WATCH_MS;
    }
    if (own->transfer_attempts == 0) {
        own->transfer_attempts = AMK_RAFT_DEFAULT_TRANSFER_ATTEMPTS;
    }
    if (own->election_ms < 2 * own->heartbeat_ms) {
        snprintf(node->errmsg, sizeof node->errmsg,
                 "raft election timeout (%u ms) must be at least twice the "
                 "heartbeat (%u ms)",
                 own->election_ms, own->heartbeat_ms);
        return AMK_RAFT_EINVAL;
    }
    node->transport_ops =
        c->transport != NULL ? c->transport : &amk_raft_transport_tcp;

    snprintf(node->address, sizeof node->address, "%s", c->address);
    own->address = node->address;
    node->data_dir = strdup(c->data_dir);
    if (node->data_dir == NULL) {
        goto oom;
    }
    own->data_dir = node->data_dir;
    if (c->n_peers > 0) {
        node->peers = calloc(c->n_peers, sizeof *node->peers);
        node->peer_addresses = calloc(c->n_peers, sizeof *node->peer_addresses);
        if (node->peers == NULL || node->peer_addresses == NULL) {
            goto oom;
        }
        for (i = 0; i < c->n_peers; i++) {
            node->peers[i].id = c->peers[i].id;
            snprintf(node->peer_addresses[i], sizeof node->peer_addresses[i],
                     "%s", c->peers[i].address);
            node->peers[i].address = node->peer_addresses[i];
        }
    }
    own->peers = node->peers;
    return 0;

oom:
    snprintf(node->errmsg, sizeof node->errmsg, "out of memory");
    return AMK_RAFT_ENOMEM;
}
