/* tests/fuzz/fuzz_logs_decode.c: the snapshot form of the state machine's
 * logs (sm/logs.c) on arbitrary bytes: sm_logs_decode either refuses them
 * with a message and leaves nothing allocated, or accepts exactly what
 * sm_logs_encode would write for what it decoded (re-encoding gives the
 * input back, byte for byte), and the decoded logs answer queries. */
#include <string.h>

#include "fuzz.h"
#include "sm/error.h"
#include "sm/logs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sm_logs l;
    int64_t last_time = 0;
    char errmsg[256] = "";

    int rv = sm_logs_decode(&l, data, size, &last_time, errmsg, sizeof errmsg);
    if (rv != AMK_OK) {
        FUZZ_CHECK(rv == AMK_EINVALID || rv == AMK_ENOMEM);
        FUZZ_CHECK(errmsg[0] != '\0');
        return 0;
    }
    FUZZ_CHECK(sm_logs_size(&l) == size);
    uint8_t *again = malloc(size + 1);
    FUZZ_CHECK(again != NULL);
    again[size] = 0x5a; /* encode writes exactly sm_logs_size() bytes */
    sm_logs_encode(&l, last_time, again);
    FUZZ_CHECK(again[size] == 0x5a);
    FUZZ_CHECK(memcmp(again, data, size) == 0);
    free(again);

    /* Queries over what was accepted, and a purge, stay in bounds. */
    struct sm_json o = {0};
    bool more;
    uint64_t last;
    sm_audit_page(&l, NULL, NULL, 0, 1000, &o, &more, &last);
    sm_audit_page(&l, "i-1", NULL, 1, 10, &o, &more, &last);
    sm_audit_page(&l, NULL, "op-1", 1, 10, &o, &more, &last);
    free(o.ptr);
    size_t pos = sm_events_after(&l, 0);
    FUZZ_CHECK(pos <= l.events.n);
    sm_logs_purge(&l, 1, 1, INT64_MAX);
    FUZZ_CHECK(l.events.n <= 1 && l.audit.n <= 1 && l.idem.n == 0);
    sm_logs_free(&l);
    return 0;
}

/* --- Seeds: logs with every kind of record ---------------------------- */

static void publish(struct sm_logs *l, struct sm_staged *st)
{
    if (sm_logs_reserve(l, st) != AMK_OK) {
        fprintf(stderr, "fuzz_logs_decode: out of memory\n");
        abort();
    }
    sm_logs_publish(l, st);
}

static void add_records(struct sm_logs *l, uint64_t idx)
{
    static const char event[] =
        "{\"index\":1,\"type\":\"incident.created\",\"changes\":[]}";
    const char *audit[SM_AUDIT_FIELDS] = {"incident.create",
                                          idx % 2 ? "op-1" : "op-2",
                                          "operator",
                                          "oslo",
                                          "console-1",
                                          "sess-1",
                                          idx % 3 ? "i-1" : "i-2",
                                          "OK",
                                          "",
                                          "key-1"};
    const char *idem[SM_IDEM_FIELDS] = {"op-1", "key", "", "", "{\"id\":1}"};
    size_t alen[SM_AUDIT_FIELDS], ilen[SM_IDEM_FIELDS];
    for (int f = 0; f < SM_AUDIT_FIELDS; f++) {
        alen[f] = strlen(audit[f]);
    }
    char key[24];
    snprintf(key, sizeof key, "key-%llu", (unsigned long long)idx);
    idem[SM_IDEM_KEY] = key;
    for (int f = 0; f < SM_IDEM_FIELDS; f++) {
        ilen[f] = strlen(idem[f]);
    }
    struct sm_staged st = {
        .event = sm_event_make(l, idx, event, sizeof event - 1),
        .audit = sm_audit_make(l, idx, 1000 + (int64_t)idx, 2, audit, alen),
        .idem = idx % 2 ? sm_idem_make(l, idx, 1000 + (int64_t)idx, 2, 1, 0,
                                       SM_IDEM_APPLIED | SM_IDEM_HAS_BODY, idem,
                                       ilen)
                        : NULL,
    };
    publish(l, &st);
}

static void seed(amk_fuzz_add_fn *add, void *arg, const struct sm_logs *l)
{
    size_t len = sm_logs_size(l);
    uint8_t *buf = malloc(len);
    if (buf == NULL) {
        abort();
    }
    sm_logs_encode(l, 1717171717000, buf);
    add(arg, buf, len);
    free(buf);
}

void amk_fuzz_seeds(amk_fuzz_add_fn *add, void *arg)
{
    struct sm_logs l;
    sm_logs_init(&l);
    seed(add, arg, &l); /* empty */
    for (uint64_t idx = 1; idx <= 6; idx++) {
        add_records(&l, idx * 2);
    }
    seed(add, arg, &l);
    sm_logs_purge(&l, 3, 4, 1000 + 7); /* purge markers set */
    seed(add, arg, &l);
    sm_logs_free(&l);
}
