/* ops/bench/bench.h: the load generator's subcommands. */
#ifndef AMK_BENCH_H
#define AMK_BENCH_H

#include <stdint.h>

/* `amk-bench sm [N]`: applies N commands of each measured type in process. */
int bench_sm(int argc, char **argv);

/* `amk-bench failover [--amkd PATH] [--trials N] ...`: kills the leader of a
 * local 3-node amkd cluster N times and measures the time from the kill to
 * the first acknowledged write through a survivor (ops/bench/failover.c). */
int bench_failover(int argc, char **argv);

/* `amk-bench http [--target etcd --endpoints ...] [--seconds S]`: HTTP
 * write throughput and latency of a local 3-node amkd cluster, or of etcd
 * through its v3 JSON gateway (ops/bench/http.c). */
int bench_http(int argc, char **argv);

/* Monotonic clock in nanoseconds. */
uint64_t bench_now_ns(void);

#endif
