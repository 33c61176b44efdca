/* raft/node_snapshot.c: when this node takes its snapshots. Every voter
 * snapshots once per config.snapshot_threshold entries (the period T), each
 * at its own phase of it, so that no two snapshot at the same index. */
#include "raft/node_internal.h"

/* canonical/raft 0.15 takes a snapshot at the end of an apply pass once
 * last_applied - log.snapshot.last_index >= snapshot.threshold
 * (src/replication.c, shouldTakeSnapshot / takeSnapshot). A node taking one
 * acknowledges entries late: its loop is held while the FSM copies the
 * state (12 - 130 ms for 12 - 33 MB in amk-bench http), and raft_uv's put
 * sets a barrier in front of its appends (src/uv_snapshot.c). With one
 * threshold for all, all voters apply the same entries and snapshot at the
 * same index, so no majority could acknowledge, and commits stalled
 * cluster-wide (docs/performance.md). With a majority free of snapshots at
 * every index, commits go on at the pace of the two fastest voters.
 *
 * Different fixed thresholds per node only spread the snapshots: multiples
 * of different periods still meet (8,192 x 4 = 32,768 = 10,922 x 3, to
 * within 2). Instead every node keeps the common period T and a phase of
 * its own, rank x T / n for the rank of its id among the n voters: the
 * targets k x T + phase of two nodes are always at least T / n apart, and
 * after each snapshot the threshold is set so that the next one lands on
 * the node's next target at least T / 2 ahead. The log index is all nodes
 * share, so this needs no messages; it spaces snapshots by entries, not by
 * time: at W writes/s two voters' snapshots start T / (n W) seconds apart,
 * which the default T keeps well above the time a snapshot put takes
 * (docs/operations.md). A node that catches up a long way (after a restart)
 * applies many entries in one pass and may snapshot late, off its phase,
 * once; its next target is on the phase again. */
void node__snapshot_schedule(struct amk_raft_node *node)
{
    struct raft *r = &node->raft;
    uint64_t period = node->config.snapshot_threshold;
    uint64_t last = r->log.snapshot.last_index;
    uint64_t voters = 0;
    uint64_t rank = 0;
    uint64_t phase;
    uint64_t earliest;
    uint64_t target;
    unsigned i;

    for (i = 0; i < r->configuration.n; i++) {
        const struct raft_server *s = &r->configuration.servers[i];
        if (s->role != RAFT_VOTER) {
            continue;
        }
        voters++;
        if (s->id < node->config.id) {
            rank++;
        }
    }
    if (voters == 0) {
        voters = 1;
    }
    rank %= voters;
    phase = period * rank / voters;
    earliest = last + (period + 1) / 2;
    target = phase;
    if (earliest > phase) {
        target += (earliest - phase + period - 1) / period * period;
    }
    node->snapshot_target = target;
    raft_set_snapshot_threshold(r, (unsigned)(target - last));
}
