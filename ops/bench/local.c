/* ops/bench/local.c: the benchmarks' local amkd cluster (local.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "local.h"

/* The processes started, for the exit and signal handlers. */
static volatile pid_t started_pids[BENCH_NODES];

static void kill_started(void)
{
    for (unsigned i = 0; i < BENCH_NODES; i++) {
        pid_t pid = started_pids[i];
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            started_pids[i] = 0;
        }
    }
}

static void on_fatal_signal(int signum)
{
    for (unsigned i = 0; i < BENCH_NODES; i++) {
        if (started_pids[i] > 0) {
            kill(started_pids[i], SIGKILL); /* async-signal-safe */
        }
    }
    signal(signum, SIG_DFL);
    raise(signum);
}

void bench_guard(unsigned alarm_s)
{
    atexit(kill_started);
    struct sigaction sa = {.sa_handler = on_fatal_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGALRM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* A hard bound on the whole run: every step has its own timeout; this
     * catches what they miss. */
    alarm(alarm_s);
}

void bench_sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static bool port_free(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

static int pick_base_port(struct bench_cluster *c)
{
    if (c->base_port != 0) {
        return 0;
    }
    unsigned h = (unsigned)getpid() * 2654435761u;
    for (unsigned attempt = 0; attempt < 64; attempt++) {
        unsigned base = 10000 + ((h + attempt * 7919u) % 1100) * 20;
        bool ok = true;
        for (unsigned p = base; p < base + 3 * BENCH_NODES && ok; p++) {
            ok = port_free(p);
        }
        if (ok) {
            c->base_port = base;
            return 0;
        }
    }
    fprintf(stderr, "amk-bench: no free ports found\n");
    return -1;
}

int bench_cluster_init(struct bench_cluster *c, const char *name)
{
    snprintf(c->dir, sizeof c->dir, "%s/amk-bench-%s-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", name);
    if (mkdtemp(c->dir) == NULL) {
        fprintf(stderr, "amk-bench: mkdtemp: %s\n", strerror(errno));
        c->dir[0] = '\0';
        return -1;
    }
    if (pick_base_port(c) != 0) {
        return -1;
    }
    size_t off = 0;
    for (unsigned i = 0; i < BENCH_NODES; i++) {
        struct bench_node *n = &c->nodes[i];
        unsigned base = c->base_port + 3 * i;
        n->id = i + 1;
        snprintf(n->raft, sizeof n->raft, "127.0.0.1:%u", base);
        snprintf(n->http, sizeof n->http, "127.0.0.1:%u", base + 1);
        snprintf(n->binary, sizeof n->binary, "127.0.0.1:%u", base + 2);
        snprintf(n->data_dir, sizeof n->data_dir, "%s/n%u", c->dir, n->id);
        snprintf(n->log_path, sizeof n->log_path, "%s/n%u.log", c->dir, n->id);
        off += (size_t)snprintf(c->peers + off, sizeof c->peers - off,
                                "%s%u@%s", i ? "," : "", n->id, n->raft);
    }
    return 0;
}

int bench_node_start(const struct bench_cluster *c, struct bench_node *node)
{
    char id[16];
    snprintf(id, sizeof id, "%u", node->id);
    char *argv[] = {(char *)c->amkd,  "--id",       id,           "--data-dir",
                    node->data_dir,   "--raft",     node->raft,   "--http",
                    node->http,       "--binary",   node->binary, "--peers",
                    (char *)c->peers, "--insecure", NULL};
    int log_fd =
        open(node->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) {
        fprintf(stderr, "amk-bench: %s: %s\n", node->log_path, strerror(errno));
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(log_fd);
        return -1;
    }
    if (pid == 0) {
        /* Dies with the bench even if the bench is SIGKILLed. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) {
            _exit(127);
        }
        int devnull = open("/dev/null", O_RDONLY);
        dup2(devnull, 0);
        dup2(log_fd, 1);
        dup2(log_fd, 2);
        execv(c->amkd, argv);
        dprintf(2, "amk-bench: exec %s: %s\n", c->amkd, strerror(errno));
        _exit(127);
    }
    close(log_fd);
    node->pid = pid;
    started_pids[node->id - 1] = pid;
    return 0;
}

void bench_node_kill(struct bench_node *node)
{
    if (node->pid > 0) {
        kill(node->pid, SIGKILL);
        waitpid(node->pid, NULL, 0);
        started_pids[node->id - 1] = 0;
        node->pid = 0;
    }
}

bool bench_node_alive(struct bench_node *node)
{
    if (node->pid <= 0) {
        return false;
    }
    int status;
    if (waitpid(node->pid, &status, WNOHANG) == node->pid) {
        fprintf(stderr,
                "amk-bench: node %u (pid %d) exited on its own (%s %d);"
                " see %s\n",
                node->id, (int)node->pid,
                WIFEXITED(status) ? "status" : "signal",
                WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
                node->log_path);
        started_pids[node->id - 1] = 0;
        node->pid = 0;
        return false;
    }
    return true;
}

void bench_cluster_close(struct bench_cluster *c)
{
    for (unsigned i = 0; i < BENCH_NODES; i++) {
        bench_node_kill(&c->nodes[i]);
    }
    kill_started();
    if (c->keep) {
        printf("kept %s\n", c->dir);
    } else if (c->dir[0] != '\0') {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", c->dir);
        if (system(cmd) != 0) {
            fprintf(stderr, "amk-bench: could not remove %s\n", c->dir);
        }
    }
}
