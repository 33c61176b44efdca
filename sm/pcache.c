/* sm/pcache.c: a thin layer over SQLite's own page cache that skips the
 * page-cache truncation that cannot drop anything.
 *
 * Why: the state machine's database is ":memory:", so every page of it lives
 * in the page cache. SQLite 3.40 (Debian 12) truncates the cache to the
 * database size at the end of every transaction. That is free while the
 * cache's highest page number is within the database, but btree's
 * balance_nonroot parks a page at the pending-byte page number (262,145 for
 * 4 KiB pages) while it reorders siblings, and pcache1 never lowers its
 * highest key again on a rekey, so the next commit walks the whole hash
 * table: every page of the database, once per page split. With a few
 * hundred MB of state that walk was most of an apply (perf, docs/
 * performance.md).
 *
 * This layer keeps its own upper bound of the page numbers present: the
 * highest page created by a fetch, plus the few pages rekeyed above it
 * (kept exactly, as a short list, until they move back). A truncation at a
 * limit above all of them has nothing to drop and is not passed on; any
 * other truncation is. Page contents, and so the database image, are
 * untouched: only the cache's bookkeeping is involved. */
#include <pthread.h>
#include <stdbool.h>
#include <sqlite3.h>
#include <stdlib.h>

#include "internal.h"

#define PCACHE_OUTLIERS 8

struct pcache {
    sqlite3_pcache *base;
    unsigned max_key; /* no page fetched into being has a higher number */
    unsigned n_outliers;
    unsigned outliers[PCACHE_OUTLIERS]; /* pages rekeyed above max_key */
};

static sqlite3_pcache_methods2 base_methods;
static bool installed, alloc_installed;

static int pcache_init(void *arg)
{
    (void)arg;
    return base_methods.xInit != NULL ? base_methods.xInit(base_methods.pArg)
                                      : SQLITE_OK;
}

static void pcache_shutdown(void *arg)
{
    (void)arg;
    if (base_methods.xShutdown != NULL) {
        base_methods.xShutdown(base_methods.pArg);
    }
}

static sqlite3_pcache *pcache_create(int page_size, int extra_size,
                                     int purgeable)
{
    struct pcache *c = calloc(1, sizeof *c);
    if (c == NULL) {
        return NULL;
    }
    c->base = base_methods.xCreate(page_size, extra_size, purgeable);
    if (c->base == NULL) {
        free(c);
        return NULL;
    }
    return (sqlite3_pcache *)c;
}

static void pcache_cachesize(sqlite3_pcache *p, int n)
{
    base_methods.xCachesize(((struct pcache *)p)->base, n);
}

static int pcache_pagecount(sqlite3_pcache *p)
{
    return base_methods.xPagecount(((struct pcache *)p)->base);
}

static sqlite3_pcache_page *pcache_fetch(sqlite3_pcache *p, unsigned key,
                                         int create)
{
    struct pcache *c = (struct pcache *)p;
    sqlite3_pcache_page *page = base_methods.xFetch(c->base, key, create);
    if (page != NULL && create != 0 && key > c->max_key) {
        c->max_key = key;
    }
    return page;
}

static void pcache_unpin(sqlite3_pcache *p, sqlite3_pcache_page *page,
                         int discard)
{
    base_methods.xUnpin(((struct pcache *)p)->base, page, discard);
}

static void outlier_remove(struct pcache *c, unsigned i)
{
    c->outliers[i] = c->outliers[--c->n_outliers];
}

static void pcache_rekey(sqlite3_pcache *p, sqlite3_pcache_page *page,
                         unsigned old_key, unsigned new_key)
{
    struct pcache *c = (struct pcache *)p;
    base_methods.xRekey(c->base, page, old_key, new_key);
    for (unsigned i = 0; i < c->n_outliers; i++) {
        if (c->outliers[i] == old_key) {
            outlier_remove(c, i);
            break;
        }
    }
    if (new_key <= c->max_key) {
        return;
    }
    if (c->n_outliers < PCACHE_OUTLIERS) {
        c->outliers[c->n_outliers++] = new_key;
    } else {
        c->max_key = new_key; /* correct, only slower */
    }
}

static void pcache_truncate(sqlite3_pcache *p, unsigned limit)
{
    struct pcache *c = (struct pcache *)p;
    int needed = c->max_key >= limit;
    for (unsigned i = 0; i < c->n_outliers && !needed; i++) {
        needed = c->outliers[i] >= limit;
    }
    if (!needed) {
        return;
    }
    base_methods.xTruncate(c->base, limit);
    if (limit == 0) {
        c->max_key = 0;
        c->n_outliers = 0;
        return;
    }
    if (c->max_key >= limit) {
        c->max_key = limit - 1;
    }
    for (unsigned i = 0; i < c->n_outliers;) {
        if (c->outliers[i] >= limit) {
            outlier_remove(c, i);
        } else {
            i++;
        }
    }
}

static void pcache_destroy(sqlite3_pcache *p)
{
    struct pcache *c = (struct pcache *)p;
    base_methods.xDestroy(c->base);
    free(c);
}

static void pcache_shrink(sqlite3_pcache *p)
{
    base_methods.xShrink(((struct pcache *)p)->base);
}

static void pcache_install(void)
{
    /* SQLite's memory statistics take a global mutex on every allocation
     * (5% of an apply); nothing here reads them. */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    alloc_installed = sm_alloc_install();
    if (sqlite3_config(SQLITE_CONFIG_GETPCACHE2, &base_methods) != SQLITE_OK ||
        base_methods.xCreate == NULL) {
        return;
    }
    static const sqlite3_pcache_methods2 methods = {
        .iVersion = 1,
        .xInit = pcache_init,
        .xShutdown = pcache_shutdown,
        .xCreate = pcache_create,
        .xCachesize = pcache_cachesize,
        .xPagecount = pcache_pagecount,
        .xFetch = pcache_fetch,
        .xUnpin = pcache_unpin,
        .xRekey = pcache_rekey,
        .xTruncate = pcache_truncate,
        .xDestroy = pcache_destroy,
        .xShrink = pcache_shrink,
    };
    installed = sqlite3_config(SQLITE_CONFIG_PCACHE2, &methods) == SQLITE_OK;
}

void sm_sqlite_configure(void)
{
    /* Global settings, possible only before SQLite initialises; if
     * something in the process opened a database first, sqlite3_config
     * answers SQLITE_MISUSE and SQLite's defaults stay, which are correct,
     * only slower. */
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, pcache_install);
}

bool sm_pcache_installed(void)
{
    sm_sqlite_configure();
    return installed;
}
