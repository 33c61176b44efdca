/* ops/bench/local.h: the local 3-node amkd cluster the benchmarks run:
 * a temp directory, free loopback ports, starting and killing nodes by PID,
 * and a guard that kills every node started, on exit and on fatal signals. */
#ifndef AMK_BENCH_LOCAL_H
#define AMK_BENCH_LOCAL_H

#include <stdbool.h>
#include <sys/types.h>

#define BENCH_NODES 3

struct bench_node {
    unsigned id;
    char raft[32], http[32], binary[32];
    char data_dir[600], log_path[600];
    pid_t pid; /* 0: not running */
};

struct bench_cluster {
    char amkd[1024];    /* the binary */
    char dir[512];      /* temp dir with data dirs and logs */
    unsigned base_port; /* 0: pick free ports */
    bool keep;          /* keep dir at close */
    char peers[256];    /* --peers of every node */
    struct bench_node nodes[BENCH_NODES];
};

/* Kills every started node at exit and on SIGINT/TERM/HUP/ALRM, ignores
 * SIGPIPE, and bounds the whole run with alarm(alarm_s). Call once. */
void bench_guard(unsigned alarm_s);

/* Makes the temp dir (name in it), picks the ports unless base_port is set,
 * and fills in each node's addresses and paths and the peers list. Starts
 * nothing. Returns 0, or -1 after printing why. */
int bench_cluster_init(struct bench_cluster *c, const char *name);

/* Starts node (stdout and stderr to its log). Returns 0 or -1. */
int bench_node_start(const struct bench_cluster *c, struct bench_node *node);

/* SIGKILLs node and reaps it, if it runs. */
void bench_node_kill(struct bench_node *node);

/* Whether node runs; one that exited by itself is reported and reaped. */
bool bench_node_alive(struct bench_node *node);

/* Kills every node and removes the temp dir (or says where it was kept). */
void bench_cluster_close(struct bench_cluster *c);

void bench_sleep_ms(unsigned ms);

#endif
