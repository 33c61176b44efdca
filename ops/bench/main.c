/* ops/bench/main.c: amk-bench, the load generator: one subcommand per
 * benchmark, each printing its figures. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bench.h"

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: amk-bench sm [N]    apply N commands of each kind to"
                 " an in-process state machine\n"
                 "       amk-bench failover [--amkd PATH] [--trials N]"
                 " [--via survivor|any] [--keep]\n"
                 "                           kill -9 the leader of a local"
                 " 3-node cluster N times;\n"
                 "                           time to the first acknowledged"
                 " write through a survivor\n"
                 "       amk-bench http [--seconds S] [--amkd PATH] [--keep]\n"
                 "       amk-bench http --target etcd --endpoints H:P,..."
                 " [--seconds S]\n"
                 "                           HTTP writes/s, p50 and p99 at 1,"
                 " 16 and 64 keep-alive\n"
                 "                           connections, then a mixed 80/20"
                 " read/write profile\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "sm") == 0) {
        return bench_sm(argc - 2, argv + 2);
    }
    if (strcmp(argv[1], "failover") == 0) {
        return bench_failover(argc - 2, argv + 2);
    }
    if (strcmp(argv[1], "http") == 0) {
        return bench_http(argc - 2, argv + 2);
    }
    fprintf(stderr, "amk-bench: unknown benchmark '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
