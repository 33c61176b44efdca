/* tests/unit/raft/test_transport.c: the TCP transport (raft/transport.c):
 * every raft connection, made or accepted, has TCP_NODELAY, which
 * raft_uv_tcp 0.15 never sets. Three nodes in one process
 * (node_harness.h); the process's own sockets are inspected. */
#define _GNU_SOURCE /* nftw's FTW_PHYS */
#include <netinet/tcp.h>

#include "unit/raft/node_harness.h"

/* Whether the TCP socket fd has an end on one of the cluster's raft ports. */
static bool raft_socket(struct cluster *c, int fd)
{
    struct sockaddr_in ends[2];
    unsigned e;
    for (e = 0; e < 2; e++) {
        socklen_t len = sizeof ends[e];
        int rv = e == 0 ? getsockname(fd, (struct sockaddr *)&ends[e], &len)
                        : getpeername(fd, (struct sockaddr *)&ends[e], &len);
        int port;
        if (rv != 0 || ends[e].sin_family != AF_INET) {
            continue;
        }
        port = ntohs(ends[e].sin_port);
        if (port >= c->port_base && port < c->port_base + 3) {
            return true;
        }
    }
    return false;
}

static void test_nodelay(void **state)
{
    struct cluster *c = *state;
    DIR *d;
    struct dirent *e;
    unsigned connections = 0;
    unsigned i;
    int leader;

    for (i = 0; i < 3; i++) {
        node_open(c, i, true);
    }
    leader = wait_leader(c);
    propose_many(c, (unsigned)leader, 1, 3);

    d = opendir("/proc/self/fd");
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        int fd = atoi(e->d_name);
        int type = 0;
        int nodelay = 0;
        int listening = 0;
        socklen_t len = sizeof type;
        if (e->d_name[0] == '.' ||
            getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
            type != SOCK_STREAM || !raft_socket(c, fd)) {
            continue;
        }
        len = sizeof listening;
        assert_int_equal(
            getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len), 0);
        if (listening) {
            continue;
        }
        len = sizeof nodelay;
        assert_int_equal(
            getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &len), 0);
        assert_int_not_equal(nodelay, 0);
        connections++;
    }
    closedir(d);
    /* At least the leader's connections to both followers and theirs to
     * it (raft_uv connects on first send), both ends in this process. */
    assert_true(connections >= 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_nodelay, setup, teardown),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
