/* raft/node_guard.c: the guards DESIGN.md asks for around raft_uv: a failed
 * disk append is fatal (0.15 defect 2, #320); the state is checked right
 * after every raft tick and received message (defect 1); corrupt log tails
 * dropped at start are logged and counted (defect 3); and the start-time
 * checks that keep a failed start from changing the data directory. */
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "raft/node_internal.h"

#define NODE_OF_IO(io)                                                         \
    ((struct amk_raft_node *)((char *)(io)-offsetof(struct amk_raft_node, io)))

/* Files raft_bootstrap writes into a pristine data directory (raft_uv 0.15),
 * removed again if the start that bootstrapped fails. */
static const char *const bootstrap_files[] = {
    "metadata1",
    "metadata2",
    "0000000000000001-0000000000000001",
};

struct guarded_append {
    struct raft_io_append inner;
    struct raft_io_append *outer;
    raft_io_append_cb outer_cb;
    struct amk_raft_node *node;
    unsigned n;
};

static void guarded_append_cb(struct raft_io_append *inner, int status)
{
    struct guarded_append *g = inner->data;
    struct amk_raft_node *node = g->node;
    struct raft_io_append *outer = g->outer;
    raft_io_append_cb outer_cb = g->outer_cb;
    unsigned n = g->n;
    char msg[256];
    free(g);
    if (status != 0 && !(status == RAFT_CANCELED &&
                         node->lifecycle == AMK_RAFT_NODE_CLOSING)) {
        amk_raft_code_from_raft(status, msg, "disk append", NULL);
        node__fatal(node, AMK_RAFT_EIO,
                    "%s (%u raft entries): canonical/raft 0.15 may keep "
                    "running and leave followers with entries it dropped "
                    "(upstream #320); stopping the node",
                    msg, n);
    }
    outer_cb(outer, status);
    /* A follower's entries committed by this append's AppendEntries were
     * queued, and its answer sent: apply them (raft/fsm.h, apply_later). */
    amk_raft_fsm_drain(&node->fsm);
}

/* io->append wrapper: any append error, synchronous or not, is fatal
 * (DESIGN 0.15 defect 2). */
static int guarded_append(struct raft_io *io, struct raft_io_append *req,
                          const struct raft_entry entries[], unsigned n,
                          raft_io_append_cb cb)
{
    struct amk_raft_node *node = NODE_OF_IO(io);
    struct guarded_append *g;
    char msg[256];
    int rv;

    g = malloc(sizeof *g);
    if (g == NULL) {
        node__fatal(node, AMK_RAFT_EIO,
                    "out of memory appending %u raft entries", n);
        return RAFT_NOMEM;
    }
    g->inner.data = g;
    g->outer = req;
    g->outer_cb = cb;
    g->node = node;
    g->n = n;
    rv = node->uv_append(io, &g->inner, entries, n, guarded_append_cb);
    if (rv != 0) {
        free(g);
        amk_raft_code_from_raft(rv, msg, "disk append", io->errmsg);
        node__fatal(node, AMK_RAFT_EIO,
                    "%s (%u raft entries): upstream #320; stopping the node",
                    msg, n);
        return rv;
    }
    return 0;
}

static void on_tick(struct raft_io *io)
{
    struct amk_raft_node *node = NODE_OF_IO(io);
    node->raft_tick(io);
    node__check_state(node);
}

/* Remembers when a message from server id last arrived (reachability for
 * GET /v1/cluster; raft's own recent_recv is reset every election timeout). */
static void note_contact(struct amk_raft_node *node, raft_id id)
{
    struct node_contact *contacts;
    unsigned i;
    for (i = 0; i < node->n_contacts; i++) {
        if (node->contacts[i].id == id) {
            node->contacts[i].last_ms = uv_now(node->loop);
            return;
        }
    }
    contacts = realloc(node->contacts, (i + 1) * sizeof *contacts);
    if (contacts == NULL) {
        return; /* shown as unreachable: harmless */
    }
    node->contacts = contacts;
    node->contacts[i].id = id;
    node->contacts[i].last_ms = uv_now(node->loop);
    node->n_contacts = i + 1;
}

static void on_recv(struct raft_io *io, struct raft_message *msg)
{
    struct amk_raft_node *node = NODE_OF_IO(io);
    note_contact(node, msg->server_id); /* raft owns msg afterwards */
    node->raft_recv(io, msg);
    node__check_state(node);
}

/* io->start wrapper: raft's tick and receive callbacks are where its state
 * changes, so the state is checked right after each of them (the no-op of a
 * new leader goes out at once, not at the next watch tick). */
static int guarded_start(struct raft_io *io, unsigned msecs,
                         raft_io_tick_cb tick, raft_io_recv_cb recv)
{
    struct amk_raft_node *node = NODE_OF_IO(io);
    node->raft_tick = tick;
    node->raft_recv = recv;
    return node->uv_start(io, msecs, on_tick, on_recv);
}

/* canonical/raft's tracer. Enabled while the log is loaded at start, to see
 * raft_uv drop a corrupt tail (it reports that only here), and afterwards only
 * with config.trace. */
static void trace_emit(struct raft_tracer *t, const char *file, int line,
                       const char *message)
{
    struct amk_raft_node *node = t->impl;
    /* "ignore corrupt-..." lists files an earlier recovery set aside: those
     * are counted by node__scan_corrupt_files(). */
    if (strstr(message, "corrupt") != NULL &&
        strncmp(message, "ignore ", 7) != 0) {
        node->stats.corruptions++;
        node__log(node, AMK_RAFT_LOG_ERROR,
                  "raft log corruption in %s: %s (%s:%d): entries at the "
                  "tail of the log were dropped or set aside (0.15 defect 3)",
                  node->data_dir, message, file, line);
        return;
    }
    if (node->config.trace) {
        node__log(node, AMK_RAFT_LOG_DEBUG, "libraft %s:%d %s", file, line,
                  message);
    }
}

/* Counts the corrupt-* files raft_uv's auto-recovery leaves in the data
 * directory. */
unsigned node__scan_corrupt_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *entry;
    unsigned n = 0;
    if (d == NULL) {
        return 0;
    }
    while ((entry = readdir(d)) != NULL) {
        if (strncmp(entry->d_name, "corrupt-", 8) == 0) {
            n++;
        }
    }
    closedir(d);
    return n;
}

/* Whether raft_uv has written anything into dir yet. */
bool node__data_dir_pristine(const char *dir)
{
    char path[4096];
    unsigned i;
    for (i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, bootstrap_files[i]);
        if (access(path, F_OK) == 0) {
            return false;
        }
    }
    return true;
}

void node__undo_bootstrap(struct amk_raft_node *node)
{
    char path[4096];
    unsigned i;
    for (i = 0; i < sizeof bootstrap_files / sizeof bootstrap_files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", node->data_dir,
                 bootstrap_files[i]);
        unlink(path);
    }
    node__log(node, AMK_RAFT_LOG_WARN,
              "start failed: removed the bootstrap files written into %s",
              node->data_dir);
}

/* Binds the raft address once, so that "address in use" is reported before
 * anything is written to the data directory. */
int node__check_bindable(struct amk_raft_node *node)
{
    struct sockaddr_in sa;
    const char *reason = NULL;
    int fd;
    int one = 1;
    int rv = 0;

    if (node__parse_ipv4(node->address, &sa, &reason) != 0) {
        return AMK_RAFT_EINVAL; /* checked by init */
    }
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(node->errmsg, sizeof node->errmsg, "raft address %s: %s",
                 node->address, strerror(errno));
        return AMK_RAFT_ENET;
    }
    /* libuv sets SO_REUSEADDR on TCP listeners: do the same, so a port in
     * TIME_WAIT is not mistaken for one in use. */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        snprintf(node->errmsg, sizeof node->errmsg,
                 "cannot listen on raft address %s: %s", node->address,
                 strerror(errno));
        rv = AMK_RAFT_ENET;
    }
    close(fd);
    return rv;
}

void node__guard_io(struct amk_raft_node *node)
{
    node->tracer.impl = node;
    node->tracer.enabled = true; /* until start has loaded the log */
    node->tracer.emit = trace_emit;
    raft_uv_set_tracer(&node->io, &node->tracer);
    /* DESIGN 0.15 defect 3: explicit, and off by default (see
     * amk_raft_node_config.auto_recovery). */
    raft_uv_set_auto_recovery(&node->io, node->config.auto_recovery);
    raft_uv_set_connect_retry_delay(&node->io, node->config.connect_retry_ms);
    node->uv_append = node->io.append;
    node->io.append = guarded_append;
    node->uv_start = node->io.start;
    node->io.start = guarded_start;
    /* raft_uv 0.15 fills io->async_work (uv_queue_work) but still says
     * io->version 1, so amk_raft_fsm_bind() took it for an io without
     * async_work and the FSM stayed at version 2: every snapshot's CRC-32
     * over the whole state ran on the loop thread (a 24 MB state held the
     * loop ~170 ms per snapshot, ~90 ms of it the copy; the CRC of 277 MB
     * takes 650 ms). raft_init would also refuse a version 3 FSM with a
     * version 1 io. Say what it is. */
    if (node->io.version < 2 && node->io.async_work != NULL) {
        node->io.version = 2;
    }
}
