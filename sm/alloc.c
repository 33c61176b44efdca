/* sm/alloc.c: SQLite's memory allocator in this process: glibc's malloc
 * behind per-thread caches of freed blocks by size class.
 *
 * Why: Debian's libsqlite3 is built without lookaside memory
 * (SQLITE_OMIT_LOOKASIDE), so every row read into a register, every
 * journal chunk (1 KiB each, a dozen per command) and every balance
 * scratch buffer is a malloc and a free. Mixed with the state machine's
 * long-lived records, those sizes (most above glibc's 1 KiB thread cache)
 * went through glibc's sorted bins: _int_malloc was a quarter of an
 * incident.create (perf, docs/performance.md). A freed block here goes on
 * its thread's list for its class and the next request of that class takes
 * it back in a few instructions.
 *
 * Blocks carry a 16-byte header with their class (or their size, above the
 * largest class), so any thread may free any block. A thread keeps at most
 * CACHE_BYTES per class and gives its lists back when it ends. Not used in
 * sanitizer builds, where AddressSanitizer must see every allocation. */
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#if defined(__SANITIZE_ADDRESS__)

bool sm_alloc_install(void)
{
    return false;
}

#else

#define HEADER      16
#define CACHE_BYTES (1u << 20)
#define LARGE       UINT64_C(0x8000000000000000)

/* Usable sizes: 16-byte steps to 256, then four steps per power of two. */
static const uint32_t CLASS_SIZE[] = {
    16,    32,    48,    64,    80,    96,    112,   128,   144,   160,
    176,   192,   208,   224,   240,   256,   320,   384,   448,   512,
    640,   768,   896,   1024,  1280,  1536,  1792,  2048,  2560,  3072,
    3584,  4096,  5120,  6144,  7168,  8192,  10240, 12288, 14336, 16384,
    20480, 24576, 28672, 32768, 40960, 49152, 57344, 65536};
#define N_CLASSES   (sizeof CLASS_SIZE / sizeof CLASS_SIZE[0])
#define MAX_CLASS   65536u

struct free_block {
    struct free_block *next;
};

struct thread_cache {
    struct free_block *head[N_CLASSES];
    uint32_t count[N_CLASSES];
};

static __thread struct thread_cache *cache;
static pthread_key_t cache_key;

static void cache_release(void *arg)
{
    struct thread_cache *c = arg;
    for (unsigned i = 0; i < N_CLASSES; i++) {
        while (c->head[i] != NULL) {
            struct free_block *b = c->head[i];
            c->head[i] = b->next;
            free((uint8_t *)b - HEADER);
        }
    }
    free(c);
}

static struct thread_cache *thread_cache(void)
{
    if (cache == NULL) {
        cache = calloc(1, sizeof *cache);
        if (cache != NULL) {
            pthread_setspecific(cache_key, cache);
        }
    }
    return cache;
}

static unsigned class_of(size_t n)
{
    if (n <= 256) {
        return n == 0 ? 0 : (unsigned)((n - 1) / 16);
    }
    unsigned i = 16;
    while (CLASS_SIZE[i] < n) {
        i++;
    }
    return i;
}

static void *block_new(uint64_t tag, size_t size)
{
    uint8_t *p = malloc(HEADER + size);
    if (p == NULL) {
        return NULL;
    }
    memcpy(p, &tag, sizeof tag);
    return p + HEADER;
}

static uint64_t tag_of(const void *p)
{
    uint64_t tag;
    memcpy(&tag, (const uint8_t *)p - HEADER, sizeof tag);
    return tag;
}

static void *mem_malloc(int n)
{
    if (n <= 0) {
        return NULL;
    }
    if ((unsigned)n > MAX_CLASS) {
        return block_new(LARGE | (uint64_t)n, (size_t)n);
    }
    unsigned k = class_of((size_t)n);
    struct thread_cache *c = thread_cache();
    if (c != NULL && c->head[k] != NULL) {
        struct free_block *b = c->head[k];
        c->head[k] = b->next;
        c->count[k]--;
        return b;
    }
    return block_new(k, CLASS_SIZE[k]);
}

static void mem_free(void *p)
{
    if (p == NULL) {
        return;
    }
    uint64_t tag = tag_of(p);
    struct thread_cache *c = (tag & LARGE) == 0 ? thread_cache() : NULL;
    if (c == NULL || c->count[tag] >= CACHE_BYTES / CLASS_SIZE[tag]) {
        free((uint8_t *)p - HEADER);
        return;
    }
    struct free_block *b = p;
    b->next = c->head[tag];
    c->head[tag] = b;
    c->count[tag]++;
}

static int mem_size(void *p)
{
    uint64_t tag = tag_of(p);
    return (tag & LARGE) != 0 ? (int)(tag & ~LARGE) : (int)CLASS_SIZE[tag];
}

static void *mem_realloc(void *p, int n)
{
    int have = mem_size(p);
    if (n <= have && (unsigned)have <= MAX_CLASS) {
        return p;
    }
    if ((unsigned)have > MAX_CLASS && (unsigned)n > MAX_CLASS) {
        /* Large to large (memdb's image doubling as the database grows):
         * glibc moves a mapped block with mremap instead of copying it and
         * faulting in fresh pages for the copy. */
        uint8_t *q = realloc((uint8_t *)p - HEADER, HEADER + (size_t)n);
        if (q == NULL) {
            return NULL;
        }
        uint64_t tag = LARGE | (uint64_t)n;
        memcpy(q, &tag, sizeof tag);
        return q + HEADER;
    }
    void *q = mem_malloc(n);
    if (q == NULL) {
        return NULL;
    }
    memcpy(q, p, (size_t)(have < n ? have : n));
    mem_free(p);
    return q;
}

static int mem_roundup(int n)
{
    if (n <= 0 || (unsigned)n > MAX_CLASS) {
        return (n + 15) & ~15;
    }
    return (int)CLASS_SIZE[class_of((size_t)n)];
}

static int mem_init(void *arg)
{
    (void)arg;
    return SQLITE_OK;
}

static void mem_shutdown(void *arg)
{
    (void)arg;
}

bool sm_alloc_install(void)
{
    if (pthread_key_create(&cache_key, cache_release) != 0) {
        return false;
    }
    static const sqlite3_mem_methods methods = {
        .xMalloc = mem_malloc,
        .xFree = mem_free,
        .xRealloc = mem_realloc,
        .xSize = mem_size,
        .xRoundup = mem_roundup,
        .xInit = mem_init,
        .xShutdown = mem_shutdown,
    };
    return sqlite3_config(SQLITE_CONFIG_MALLOC, &methods) == SQLITE_OK;
}

#endif
