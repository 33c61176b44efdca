/* tests/unit/sm/test_cmd.c: the command codec (sm/cmd.c), enum names
 * (sm/enums.c) and result codes (sm/error.c). The test keeps its own
 * description of every command body, written from cmd.h, so a field the codec
 * table drops, reorders or mistypes shows up in the round trips. */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sm/cmd.h"
#include "sm/enums.h"
#include "sm/error.h"

/* sm/cmd.c's internal encoder with an injectable allocator. */
int cmd__encode(const struct amk_cmd *cmd, void **buf, size_t *len,
                char *errmsg, void *(*realloc_fn)(void *, size_t));

#define CAP_ID   AMK_ID_MAX
#define CAP_TEXT 256
#define CAP_CODE 16
#define CAP_NOTE 16384

/* --- The test's own description of the command bodies ------------------- */

enum tkind { K_STR, K_ENUM, K_BOOL, K_I32, K_I64, K_F64, K_STRS, K_PATIENTS };

struct tfield {
    const char *name;
    enum tkind kind;
    bool required;
    size_t off;   /* value, or list count */
    size_t items; /* list element array */
    unsigned cap; /* string bytes, list count, or enum kind */
};

#define TSTR(m, cap, req)                                                      \
    {                                                                          \
#m, K_STR, req, offsetof(S, m), 0, cap                                 \
    }
#define TENUM(m, kind, req)                                                    \
    {                                                                          \
#m, K_ENUM, req, offsetof(S, m), 0, kind                               \
    }
#define TBOOL(m, req)                                                          \
    {                                                                          \
#m, K_BOOL, req, offsetof(S, m), 0, 0                                  \
    }
#define TI64(m, req)                                                           \
    {                                                                          \
#m, K_I64, req, offsetof(S, m), 0, 0                                   \
    }
#define TF64(m, req)                                                           \
    {                                                                          \
#m, K_F64, req, offsetof(S, m), 0, 0                                   \
    }
#define TBACKUPS                                                               \
    {                                                                          \
        "backups", K_STRS, false, offsetof(S, n_backups),                      \
            offsetof(S, backups), AMK_CMD_MAX_BACKUPS                          \
    }
#define TPATIENTS                                                              \
    {                                                                          \
        "patients", K_PATIENTS, false, offsetof(S, n_patients),                \
            offsetof(S, patients), AMK_CMD_MAX_PATIENTS                        \
    }
#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

#define S struct amk_cmd_centre_register
static const struct tfield t_centre_register[] = {
    TSTR(id, CAP_ID, true), TSTR(name, CAP_TEXT, true),
    TSTR(region, CAP_TEXT, true), TBACKUPS, TBOOL(auto_takeover, false)};
#undef S
#define S struct amk_cmd_centre_update
static const struct tfield t_centre_update[] = {
    TSTR(id, CAP_ID, true), TSTR(name, CAP_TEXT, false), TBACKUPS,
    TBOOL(auto_takeover, false)};
#undef S
#define S struct amk_cmd_centre_set_state
static const struct tfield t_centre_set_state[] = {
    TSTR(id, CAP_ID, true), TENUM(state, AMK_ENUM_SERVICE_STATE, true)};
#undef S
#define S struct amk_cmd_centre_takeover
static const struct tfield t_centre_takeover[] = {
    TSTR(id, CAP_ID, true), TSTR(by, CAP_ID, true),
    TSTR(reason, CAP_TEXT, false), TBOOL(automatic, false)};
#undef S
#define S struct amk_cmd_centre_handback
static const struct tfield t_centre_handback[] = {
    TSTR(id, CAP_ID, true), TENUM(incidents, AMK_ENUM_HANDBACK, false)};
#undef S
#define S struct amk_cmd_session_open
static const struct tfield t_session_open[] = {
    TSTR(id, CAP_ID, true), TSTR(centre, CAP_ID, true),
    TSTR(console, CAP_TEXT, true), TSTR(operator_id, CAP_TEXT, true)};
#undef S
#define S struct amk_cmd_session_close
static const struct tfield t_session_close[] = {TSTR(id, CAP_ID, true)};
#undef S
#define S struct amk_cmd_incident_create
static const struct tfield t_incident_create[] = {
    TSTR(id, CAP_ID, true),
    TENUM(urgency, AMK_ENUM_URGENCY, true),
    TSTR(criterion, CAP_CODE, false),
    TF64(lat, false),
    TF64(lon, false),
    TF64(accuracy_m, false),
    TSTR(address, CAP_TEXT, false),
    TSTR(municipality, CAP_CODE, false),
    TSTR(caller_phone, CAP_TEXT, false),
    TSTR(caller_name, CAP_TEXT, false),
    TPATIENTS,
    TSTR(note, CAP_NOTE, false),
    TSTR(area_centre, CAP_ID, false)};
#undef S
#define S struct amk_cmd_incident_update
static const struct tfield t_incident_update[] = {
    TSTR(id, CAP_ID, true),
    TENUM(urgency, AMK_ENUM_URGENCY, false),
    TSTR(criterion, CAP_CODE, false),
    TF64(lat, false),
    TF64(lon, false),
    TF64(accuracy_m, false),
    TSTR(address, CAP_TEXT, false),
    TSTR(municipality, CAP_CODE, false),
    TSTR(caller_phone, CAP_TEXT, false),
    TSTR(caller_name, CAP_TEXT, false),
    TPATIENTS,
    TENUM(status, AMK_ENUM_INCIDENT_STATUS, false)};
#undef S
#define S struct amk_cmd_incident_note
static const struct tfield t_incident_note[] = {TSTR(id, CAP_ID, true),
                                                TSTR(text, CAP_NOTE, true)};
#undef S
#define S struct amk_cmd_incident_resource
static const struct tfield t_incident_resource[] = {
    TSTR(id, CAP_ID, true), TSTR(resource, CAP_ID, true)};
#undef S
#define S struct amk_cmd_incident_phase
static const struct tfield t_incident_phase[] = {
    TSTR(id, CAP_ID, true), TSTR(resource, CAP_ID, true),
    TENUM(phase, AMK_ENUM_RESOURCE_STATUS, true)};
#undef S
#define S struct amk_cmd_incident_close
static const struct tfield t_incident_close[] = {
    TSTR(id, CAP_ID, true), TENUM(disposition, AMK_ENUM_DISPOSITION, true)};
#undef S
#define S struct amk_cmd_incident_cancel
static const struct tfield t_incident_cancel[] = {
    TSTR(id, CAP_ID, true), TSTR(reason, CAP_TEXT, false)};
#undef S
#define S struct amk_cmd_incident_transfer
static const struct tfield t_incident_transfer[] = {TSTR(id, CAP_ID, true),
                                                    TSTR(to, CAP_ID, true)};
#undef S
#define S struct amk_cmd_incident_transfer_answer
static const struct tfield t_incident_transfer_answer[] = {
    TSTR(id, CAP_ID, true), TSTR(reason, CAP_TEXT, false)};
#undef S
#define S struct amk_cmd_resource_register
static const struct tfield t_resource_register[] = {
    TSTR(id, CAP_ID, true), TENUM(type, AMK_ENUM_RESOURCE_TYPE, true),
    TI64(issi, true), TSTR(home_centre, CAP_ID, true)};
#undef S
#define S struct amk_cmd_resource_status
static const struct tfield t_resource_status[] = {
    TSTR(id, CAP_ID, true), TENUM(status, AMK_ENUM_RESOURCE_STATUS, true),
    TI64(seq, true), TI64(event_time, false), TI64(raw_code, false)};
#undef S
#define S struct amk_cmd_resource_position
static const struct tfield t_resource_position[] = {
    TSTR(id, CAP_ID, true),  TF64(lat, true),        TF64(lon, true),
    TF64(accuracy_m, false), TF64(speed, false),     TF64(heading, false),
    TI64(seq, true),         TI64(event_time, false)};
#undef S
#define S struct amk_cmd_resource_alarm
static const struct tfield t_resource_alarm[] = {
    TSTR(id, CAP_ID, true), TBOOL(on, true), TI64(seq, true),
    TI64(event_time, false)};
#undef S
#define S struct amk_cmd_node_register
static const struct tfield t_node_register[] = {
    TI64(id, true),
    TSTR(raft_address, CAP_ID, true),
    TSTR(http_address, CAP_ID, false),
    TSTR(binary_address, CAP_ID, false),
    TSTR(centre, CAP_ID, false),
    TSTR(region, CAP_ID, false)};
#undef S

struct tcmd {
    uint16_t type;
    const char *name;
    const struct tfield *fields;
    unsigned n;
};

#define T(type, name, fields)                                                  \
    {                                                                          \
        type, name, fields, N_OF(fields)                                       \
    }
static const struct tcmd tcmds[] = {
    {AMK_CMD_NOOP, "noop", NULL, 0},
    T(AMK_CMD_CENTRE_REGISTER, "centre.register", t_centre_register),
    T(AMK_CMD_CENTRE_UPDATE, "centre.update", t_centre_update),
    T(AMK_CMD_CENTRE_SET_STATE, "centre.set_state", t_centre_set_state),
    T(AMK_CMD_CENTRE_TAKEOVER, "centre.takeover", t_centre_takeover),
    T(AMK_CMD_CENTRE_HANDBACK, "centre.handback", t_centre_handback),
    T(AMK_CMD_SESSION_OPEN, "session.open", t_session_open),
    T(AMK_CMD_SESSION_CLOSE, "session.close", t_session_close),
    T(AMK_CMD_INCIDENT_CREATE, "incident.create", t_incident_create),
    T(AMK_CMD_INCIDENT_UPDATE, "incident.update", t_incident_update),
    T(AMK_CMD_INCIDENT_NOTE, "incident.note", t_incident_note),
    T(AMK_CMD_INCIDENT_ASSIGN, "incident.assign", t_incident_resource),
    T(AMK_CMD_INCIDENT_PHASE, "incident.phase", t_incident_phase),
    T(AMK_CMD_INCIDENT_UNASSIGN, "incident.unassign", t_incident_resource),
    T(AMK_CMD_INCIDENT_CLOSE, "incident.close", t_incident_close),
    T(AMK_CMD_INCIDENT_CANCEL, "incident.cancel", t_incident_cancel),
    T(AMK_CMD_INCIDENT_TRANSFER, "incident.transfer", t_incident_transfer),
    T(AMK_CMD_INCIDENT_TRANSFER_ACCEPT, "incident.transfer_accept",
      t_incident_transfer_answer),
    T(AMK_CMD_INCIDENT_TRANSFER_REJECT, "incident.transfer_reject",
      t_incident_transfer_answer),
    T(AMK_CMD_RESOURCE_REGISTER, "resource.register", t_resource_register),
    T(AMK_CMD_RESOURCE_STATUS, "resource.status", t_resource_status),
    T(AMK_CMD_RESOURCE_POSITION, "resource.position", t_resource_position),
    T(AMK_CMD_RESOURCE_ALARM, "resource.alarm", t_resource_alarm),
    T(AMK_CMD_NODE_REGISTER, "node.register", t_node_register),
};
_Static_assert(N_OF(tcmds) == AMK_CMD__END - 1, "every command type");

static const struct tcmd *tcmd_of(uint16_t type)
{
    size_t i;
    for (i = 0; i < N_OF(tcmds); i++) {
        if (tcmds[i].type == type) {
            return &tcmds[i];
        }
    }
    fail_msg("no test description of type %u", type);
    return NULL;
}

/* --- Fixture ----------------------------------------------------------- */

#define POOL_SIZE (1u << 20)

struct fixture {
    const void *tcase; /* the prestate */
    struct amk_cmd cmd;
    struct amk_cmd decoded;
    char *pool; /* strings the cmd points at */
    size_t pool_used;
    void *buf, *buf2; /* encodings */
    size_t len, len2;
    uint8_t *bytes; /* hand-built input */
    size_t bytes_len, bytes_cap;
    char errmsg[256];
};

static int setup_fixture(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fx->tcase = *state;
    fx->pool = malloc(POOL_SIZE);
    assert_non_null(fx->pool);
    *state = fx;
    return 0;
}

static int teardown_fixture(void **state)
{
    struct fixture *fx = *state;
    free(fx->pool);
    free(fx->buf);
    free(fx->buf2);
    free(fx->bytes);
    free(fx);
    return 0;
}

static char *pool_alloc(struct fixture *fx, size_t n)
{
    char *p;
    assert_true(n <= POOL_SIZE - fx->pool_used);
    p = fx->pool + fx->pool_used;
    fx->pool_used += n;
    return p;
}

/* A valid UTF-8 string of exactly len bytes: label, then 2-, 3- and 4-byte
 * characters, padded with 'x'. */
static struct amk_str make_str(struct fixture *fx, const char *label,
                               size_t len)
{
    static const char *const pieces[] = {"\xC3\xB8", "\xE2\x82\xAC",
                                         "\xF0\x9F\x98\x80", "a"};
    char *s = pool_alloc(fx, len + 1);
    size_t n = strlen(label) < len ? strlen(label) : len;
    size_t k;

    memcpy(s, label, n);
    for (k = 0;; k++) {
        const char *piece = pieces[k % N_OF(pieces)];
        if (n + strlen(piece) > len) {
            break;
        }
        memcpy(s + n, piece, strlen(piece));
        n += strlen(piece);
    }
    while (n < len) {
        s[n++] = 'x';
    }
    s[n] = '\0';
    return (struct amk_str){s, (uint32_t)len};
}

/* --- Filling and comparing --------------------------------------------- */

#define FIELD(cmd, f, T) ((T *)((char *)&(cmd)->u + (f)->off))
#define ITEMS(cmd, f, T) ((T *)((char *)&(cmd)->u + (f)->items))

static const int64_t i64_values[] = {INT64_MIN + 1, INT64_MAX, -1,
                                     1234567890123};
static const double f64_values[] = {59.9127,   -0.0,    DBL_MAX,
                                    -4.9e-324, 10.7461, -180.0};

static void fill_patient(struct fixture *fx, struct amk_patient *p, unsigned j)
{
    p->name = make_str(fx, "patient", CAP_TEXT);
    p->national_id = make_str(fx, "01020312345", CAP_CODE);
    p->age = j % 2 ? INT32_MAX : INT32_MIN + 1 + (int32_t)j;
    p->sex = (uint8_t)(j % amk_enum_count(AMK_ENUM_SEX));
}

/* Every field present, strings and lists at their caps, values at edges. */
static void fill_full(struct fixture *fx, struct amk_cmd *cmd,
                      const struct tcmd *t)
{
    unsigned i, j;

    assert_int_equal(amk_cmd_init(cmd, t->type), 0);
    cmd->h.term = UINT64_C(0xFEDCBA9876543210);
    cmd->h.timestamp_ms = -1234567890123;
    cmd->h.if_match = UINT64_MAX;
    cmd->h.idem_key = make_str(fx, "idem", AMK_IDEM_KEY_MAX);
    cmd->h.principal = make_str(fx, "principal", 128);
    cmd->h.role = AMK_ROLE_OBSERVER;
    cmd->h.session = make_str(fx, "session", AMK_ID_MAX);
    cmd->h.centre = make_str(fx, "centre", AMK_ID_MAX);
    cmd->h.epoch = UINT64_MAX - 1;
    for (i = 0; i < t->n; i++) {
        const struct tfield *f = &t->fields[i];
        switch (f->kind) {
            case K_STR:
                *FIELD(cmd, f, struct amk_str) = make_str(fx, f->name, f->cap);
                break;
            case K_ENUM:
                *FIELD(cmd, f, uint8_t) = (uint8_t)(amk_enum_count(f->cap) - 1);
                break;
            case K_BOOL:
                *FIELD(cmd, f, uint8_t) = 1;
                break;
            case K_I32:
                *FIELD(cmd, f, int32_t) = -7;
                break;
            case K_I64:
                *FIELD(cmd, f, int64_t) = i64_values[i % N_OF(i64_values)];
                break;
            case K_F64:
                *FIELD(cmd, f, double) = f64_values[i % N_OF(f64_values)];
                break;
            case K_STRS:
                *FIELD(cmd, f, uint32_t) = f->cap;
                for (j = 0; j < f->cap; j++) {
                    ITEMS(cmd, f, struct amk_str)
                    [j] = make_str(fx, "backup", CAP_ID);
                }
                break;
            case K_PATIENTS:
                *FIELD(cmd, f, uint32_t) = f->cap;
                for (j = 0; j < f->cap; j++) {
                    fill_patient(fx, &ITEMS(cmd, f, struct amk_patient)[j], j);
                }
                break;
        }
    }
}

/* Only the required fields, with zero and short values; header empty. */
static void fill_required(struct fixture *fx, struct amk_cmd *cmd,
                          const struct tcmd *t)
{
    unsigned i;

    assert_int_equal(amk_cmd_init(cmd, t->type), 0);
    for (i = 0; i < t->n; i++) {
        const struct tfield *f = &t->fields[i];
        if (!f->required) {
            continue;
        }
        switch (f->kind) {
            case K_STR:
                *FIELD(cmd, f, struct amk_str) =
                    make_str(fx, f->name, strlen(f->name));
                break;
            case K_ENUM:
            case K_BOOL:
                *FIELD(cmd, f, uint8_t) = 0;
                break;
            case K_I32:
                *FIELD(cmd, f, int32_t) = 0;
                break;
            case K_I64:
                *FIELD(cmd, f, int64_t) = 0;
                break;
            case K_F64:
                *FIELD(cmd, f, double) = 0.0;
                break;
            case K_STRS:
            case K_PATIENTS:
                fail_msg("no required lists in cmd.h");
        }
    }
}

static uint64_t present_mask(const struct tcmd *t, bool required_only)
{
    uint64_t mask = 0;
    unsigned i;
    for (i = 0; i < t->n; i++) {
        if (!required_only || t->fields[i].required) {
            mask |= UINT64_C(1) << i;
        }
    }
    return mask;
}

/* Header strings are always on the wire: NULL and empty are the same. */
static void assert_header_str_equal(struct amk_str a, struct amk_str b)
{
    assert_int_equal(a.len, b.len);
    if (a.len > 0) {
        assert_memory_equal(a.ptr, b.ptr, a.len);
    }
}

/* Body strings: absent (NULL) and present-but-empty differ. */
static void assert_str_equal(const char *what, struct amk_str a,
                             struct amk_str b)
{
    if ((a.ptr == NULL) != (b.ptr == NULL)) {
        fail_msg("%s: present %d vs %d", what, a.ptr != NULL, b.ptr != NULL);
    }
    assert_header_str_equal(a, b);
}

static void assert_f64_identical(double a, double b)
{
    /* Bits, not ==: -0.0 must stay -0.0 and NaN (absent) equal NaN. */
    assert_memory_equal(&a, &b, sizeof a);
}

static void assert_patient_equal(const struct amk_patient *a,
                                 const struct amk_patient *b)
{
    assert_str_equal("patient.name", a->name, b->name);
    assert_str_equal("patient.national_id", a->national_id, b->national_id);
    assert_int_equal(a->age, b->age);
    assert_int_equal(a->sex, b->sex);
}

static void assert_cmd_equal(const struct amk_cmd *a, const struct amk_cmd *b,
                             const struct tcmd *t)
{
    unsigned i, j;

    assert_int_equal(a->h.format, b->h.format);
    assert_int_equal(a->h.type, b->h.type);
    assert_int_equal(a->h.type_version, b->h.type_version);
    assert_true(a->h.term == b->h.term);
    assert_true(a->h.timestamp_ms == b->h.timestamp_ms);
    assert_true(a->h.if_match == b->h.if_match);
    assert_header_str_equal(a->h.idem_key, b->h.idem_key);
    assert_header_str_equal(a->h.principal, b->h.principal);
    assert_int_equal(a->h.role, b->h.role);
    assert_header_str_equal(a->h.session, b->h.session);
    assert_header_str_equal(a->h.centre, b->h.centre);
    assert_true(a->h.epoch == b->h.epoch);
    for (i = 0; i < t->n; i++) {
        const struct tfield *f = &t->fields[i];
        struct amk_cmd *ma = (struct amk_cmd *)a, *mb = (struct amk_cmd *)b;
        switch (f->kind) {
            case K_STR:
                assert_str_equal(f->name, *FIELD(ma, f, struct amk_str),
                                 *FIELD(mb, f, struct amk_str));
                break;
            case K_ENUM:
            case K_BOOL:
                assert_int_equal(*FIELD(ma, f, uint8_t),
                                 *FIELD(mb, f, uint8_t));
                break;
            case K_I32:
                assert_int_equal(*FIELD(ma, f, int32_t),
                                 *FIELD(mb, f, int32_t));
                break;
            case K_I64:
                assert_true(*FIELD(ma, f, int64_t) == *FIELD(mb, f, int64_t));
                break;
            case K_F64:
                assert_f64_identical(*FIELD(ma, f, double),
                                     *FIELD(mb, f, double));
                break;
            case K_STRS:
                assert_int_equal(*FIELD(ma, f, uint32_t),
                                 *FIELD(mb, f, uint32_t));
                for (j = 0; j < f->cap && j < *FIELD(ma, f, uint32_t); j++) {
                    assert_str_equal(f->name, ITEMS(ma, f, struct amk_str)[j],
                                     ITEMS(mb, f, struct amk_str)[j]);
                }
                break;
            case K_PATIENTS:
                assert_int_equal(*FIELD(ma, f, uint32_t),
                                 *FIELD(mb, f, uint32_t));
                for (j = 0; j < f->cap && j < *FIELD(ma, f, uint32_t); j++) {
                    assert_patient_equal(&ITEMS(ma, f, struct amk_patient)[j],
                                         &ITEMS(mb, f, struct amk_patient)[j]);
                }
                break;
        }
    }
}

static void encode_ok(struct fixture *fx, const struct amk_cmd *cmd, void **buf,
                      size_t *len)
{
    int rv = amk_cmd_encode(cmd, buf, len, fx->errmsg);
    if (rv != 0) {
        fail_msg("encode: %d %s", rv, fx->errmsg);
    }
}

static void decode_ok(struct fixture *fx, const void *buf, size_t len,
                      struct amk_cmd *cmd)
{
    int rv = amk_cmd_decode(buf, len, cmd, fx->errmsg);
    if (rv != 0) {
        fail_msg("decode: %d %s", rv, fx->errmsg);
    }
}

/* --- Round trips -------------------------------------------------------- */

struct roundtrip_case {
    const struct tcmd *t;
    bool full;
    char name[64];
};

static void test_roundtrip(void **state)
{
    struct fixture *fx = *state;
    const struct roundtrip_case *rc = fx->tcase;
    const struct tcmd *t = rc->t;
    unsigned i;

    if (rc->full) {
        fill_full(fx, &fx->cmd, t);
    } else {
        fill_required(fx, &fx->cmd, t);
    }
    encode_ok(fx, &fx->cmd, &fx->buf, &fx->len);
    assert_true(fx->len <= AMK_CMD_MAX_SIZE);
    decode_ok(fx, fx->buf, fx->len, &fx->decoded);
    assert_cmd_equal(&fx->cmd, &fx->decoded, t);
    assert_true(fx->decoded.present == present_mask(t, !rc->full));

    /* Decoded strings are slices of the input. */
    for (i = 0; i < t->n; i++) {
        const struct tfield *f = &t->fields[i];
        const struct amk_str *s = FIELD(&fx->decoded, f, struct amk_str);
        if (f->kind == K_STR && s->ptr != NULL) {
            assert_true((const char *)s->ptr >= (const char *)fx->buf);
            assert_true((const char *)s->ptr + s->len <=
                        (const char *)fx->buf + fx->len);
        }
    }

    /* Canonical: decoding and encoding again gives the same bytes. */
    encode_ok(fx, &fx->decoded, &fx->buf2, &fx->len2);
    assert_int_equal(fx->len, fx->len2);
    assert_memory_equal(fx->buf, fx->buf2, fx->len);
}

/* A body string present but empty stays present; header strings are never
 * absent, and come back as empty slices. */
static void test_empty_strings(void **state)
{
    struct fixture *fx = *state;

    amk_cmd_init(&fx->cmd, AMK_CMD_INCIDENT_CANCEL);
    fx->cmd.u.incident_cancel.id = amk_str_c("i");
    fx->cmd.u.incident_cancel.reason = amk_str_c("");
    encode_ok(fx, &fx->cmd, &fx->buf, &fx->len);
    decode_ok(fx, fx->buf, fx->len, &fx->decoded);
    assert_non_null(fx->decoded.u.incident_cancel.reason.ptr);
    assert_int_equal(fx->decoded.u.incident_cancel.reason.len, 0);
    assert_true(fx->decoded.present == 3);
    assert_non_null(fx->decoded.h.idem_key.ptr);
    assert_int_equal(fx->decoded.h.idem_key.len, 0);

    fx->cmd.u.incident_cancel.reason = amk_str_c(NULL);
    free(fx->buf);
    fx->buf = NULL;
    encode_ok(fx, &fx->cmd, &fx->buf, &fx->len);
    decode_ok(fx, fx->buf, fx->len, &fx->decoded);
    assert_null(fx->decoded.u.incident_cancel.reason.ptr);
    assert_true(fx->decoded.present == 1);
}

/* --- Golden bytes: the wire layout of cmd.h, assembled by hand ---------- */

static void put(struct fixture *fx, const void *data, size_t n)
{
    if (fx->bytes_len + n > fx->bytes_cap) {
        fx->bytes_cap = (fx->bytes_len + n) * 2 + 64;
        fx->bytes = realloc(fx->bytes, fx->bytes_cap);
        assert_non_null(fx->bytes);
    }
    if (n > 0) {
        memcpy(fx->bytes + fx->bytes_len, data, n);
    }
    fx->bytes_len += n;
}

static void put_le(struct fixture *fx, uint64_t v, unsigned size)
{
    uint8_t b[8];
    unsigned i;
    for (i = 0; i < size; i++) {
        b[i] = (uint8_t)(v >> (8 * i));
    }
    put(fx, b, size);
}

static void put_strn(struct fixture *fx, const char *s, size_t n)
{
    put_le(fx, n, 4);
    put(fx, s, n);
}

static void put_str(struct fixture *fx, const char *s)
{
    put_strn(fx, s, strlen(s));
}

static void put_f64(struct fixture *fx, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    put_le(fx, bits, 8);
}

/* A valid header for type, version 1; the body follows. */
static void put_header_v(struct fixture *fx, uint16_t type, uint8_t version)
{
    put_le(fx, AMK_CMD_FORMAT, 1);
    put_le(fx, type, 2);
    put_le(fx, version, 1);
    put_le(fx, 5, 8);     /* term */
    put_le(fx, 6, 8);     /* timestamp */
    put_le(fx, 0, 8);     /* if_match */
    put_str(fx, "key");   /* idem_key */
    put_str(fx, "alice"); /* principal */
    put_le(fx, 2, 1);     /* role operator */
    put_str(fx, "s1");    /* session */
    put_str(fx, "oslo");  /* centre */
    put_le(fx, 1, 8);     /* epoch */
}

static void put_header(struct fixture *fx, uint16_t type)
{
    put_header_v(fx, type, 1);
}

static void test_golden_noop(void **state)
{
    struct fixture *fx = *state;
    static const uint8_t expected[] = {
        0x01,                                           /* format */
        0x01, 0x00,                                     /* type noop */
        0x01,                                           /* type_version */
        0x07, 0,    0,    0,    0,    0,    0,    0,    /* term 7 */
        0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, /* timestamp -2 */
        0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, /* if_match */
        0x01, 0,    0,    0,    'k',                    /* idem_key */
        0x01, 0,    0,    0,    'p',                    /* principal */
        0x02,                                           /* role */
        0x00, 0,    0,    0,                            /* session: empty */
        0x02, 0,    0,    0,    'c',  'd',              /* centre */
        0x09, 0,    0,    0,    0,    0,    0,    0,    /* epoch */
        0x00, 0,    0,    0,    0,    0,    0,    0,    /* present */
    };

    amk_cmd_init(&fx->cmd, AMK_CMD_NOOP);
    fx->cmd.h.term = 7;
    fx->cmd.h.timestamp_ms = -2;
    fx->cmd.h.if_match = UINT64_C(0x0102030405060708);
    fx->cmd.h.idem_key = amk_str_c("k");
    fx->cmd.h.principal = amk_str_c("p");
    fx->cmd.h.role = AMK_ROLE_OPERATOR;
    fx->cmd.h.centre = amk_str_c("cd");
    fx->cmd.h.epoch = 9;
    encode_ok(fx, &fx->cmd, &fx->buf, &fx->len);
    assert_int_equal(fx->len, sizeof expected);
    assert_memory_equal(fx->buf, expected, sizeof expected);
    decode_ok(fx, expected, sizeof expected, &fx->decoded);
    assert_cmd_equal(&fx->cmd, &fx->decoded, tcmd_of(AMK_CMD_NOOP));
}

static void test_golden_incident_create(void **state)
{
    struct fixture *fx = *state;
    struct amk_cmd_incident_create *c = &fx->cmd.u.incident_create;

    amk_cmd_init(&fx->cmd, AMK_CMD_INCIDENT_CREATE);
    fx->cmd.h.role = AMK_ROLE_OPERATOR;
    fx->cmd.h.principal = amk_str_c("alice");
    fx->cmd.h.term = 5;
    fx->cmd.h.timestamp_ms = 6;
    fx->cmd.h.idem_key = amk_str_c("key");
    fx->cmd.h.session = amk_str_c("s1");
    fx->cmd.h.centre = amk_str_c("oslo");
    fx->cmd.h.epoch = 1;
    c->id = amk_str_c("x");
    c->urgency = AMK_URG_URGENT;
    c->lat = 1.0;
    c->n_patients = 2;
    c->patients[0].age = 42;
    c->patients[0].sex = AMK_SEX_FEMALE;
    c->patients[1].national_id = amk_str_c("12345678901");
    c->note = amk_str_c("n\xC3\xB8");

    put_header(fx, AMK_CMD_INCIDENT_CREATE);
    put_le(fx, (1u << 0) | (1u << 1) | (1u << 3) | (1u << 10) | (1u << 11), 8);
    put_str(fx, "x");
    put_le(fx, 1, 1);
    put_le(fx, UINT64_C(0x3FF0000000000000), 8); /* 1.0 */
    put_le(fx, 2, 4);                            /* patients */
    put_le(fx, (1u << 2) | (1u << 3), 8);        /* age, sex */
    put_le(fx, 42, 4);
    put_le(fx, 0, 1);
    put_le(fx, 1u << 1, 8); /* national_id */
    put_str(fx, "12345678901");
    put_str(fx, "n\xC3\xB8");

    encode_ok(fx, &fx->cmd, &fx->buf, &fx->len);
    assert_int_equal(fx->len, fx->bytes_len);
    assert_memory_equal(fx->buf, fx->bytes, fx->len);
    decode_ok(fx, fx->bytes, fx->bytes_len, &fx->decoded);
    assert_cmd_equal(&fx->cmd, &fx->decoded, tcmd_of(AMK_CMD_INCIDENT_CREATE));
}

/* Characters at the edges of each UTF-8 length class are accepted. */
static void test_utf8_boundaries(void **state)
{
    static const char *const valid[] = {
        "\x7F",         "\xC2\x80",         "\xDF\xBF",
        "\xE0\xA0\x80", "\xED\x9F\xBF",     "\xEE\x80\x80",
        "\xEF\xBF\xBF", "\xF0\x90\x80\x80", "\xF4\x8F\xBF\xBF",
        "a\xC3\xB8z",
    };
    struct fixture *fx = *state;
    size_t i;

    for (i = 0; i < N_OF(valid); i++) {
        fx->bytes_len = 0;
        put_header(fx, AMK_CMD_SESSION_CLOSE);
        put_le(fx, 1, 8);
        put_str(fx, valid[i]);
        decode_ok(fx, fx->bytes, fx->bytes_len, &fx->decoded);
        assert_int_equal(fx->decoded.u.session_close.id.len, strlen(valid[i]));
    }
}

/* --- Malformed input ---------------------------------------------------- */

struct bad_case {
    const char *name;
    void (*build)(struct fixture *fx, const struct bad_case *bc);
    const char *arg; /* bytes for the builder */
    size_t arg_len;
    uint64_t num;       /* a number for the builder */
    const char *needle; /* expected in the message */
};

#define BYTES(s) s, sizeof(s) - 1

static void b_format(struct fixture *fx, const struct bad_case *bc)
{
    put_header(fx, AMK_CMD_NOOP);
    put_le(fx, 0, 8);
    fx->bytes[0] = (uint8_t)bc->num;
}

static void b_type(struct fixture *fx, const struct bad_case *bc)
{
    put_header(fx, (uint16_t)bc->num);
    put_le(fx, 0, 8);
}

static void b_version(struct fixture *fx, const struct bad_case *bc)
{
    put_header_v(fx, AMK_CMD_SESSION_CLOSE, (uint8_t)bc->num);
    put_le(fx, 1, 8);
    put_str(fx, "s");
}

/* session.close with the given present mask and id bytes. */
static void b_close_id(struct fixture *fx, const struct bad_case *bc)
{
    put_header(fx, AMK_CMD_SESSION_CLOSE);
    put_le(fx, bc->num, 8);
    put_strn(fx, bc->arg, bc->arg_len);
}

static void b_trailing(struct fixture *fx, const struct bad_case *bc)
{
    b_close_id(fx, bc);
    put_le(fx, 0xA5, 1); /* non-zero: not raft padding */
}

/* session.close whose id claims num bytes and carries arg. */
static void b_close_id_len(struct fixture *fx, const struct bad_case *bc)
{
    put_header(fx, AMK_CMD_SESSION_CLOSE);
    put_le(fx, 1, 8);
    put_le(fx, bc->num, 4);
    put(fx, bc->arg, bc->arg_len);
}

static void b_long_id(struct fixture *fx, const struct bad_case *bc)
{
    char id[CAP_ID + 1];
    memset(id, 'i', sizeof id);
    put_header(fx, AMK_CMD_SESSION_CLOSE);
    put_le(fx, 1, 8);
    put_strn(fx, id, sizeof id);
}

static void b_long_note(struct fixture *fx, const struct bad_case *bc)
{
    char *text = pool_alloc(fx, CAP_NOTE + 1);
    memset(text, 'n', CAP_NOTE + 1);
    put_header(fx, AMK_CMD_INCIDENT_NOTE);
    put_le(fx, 3, 8);
    put_str(fx, "i");
    put_strn(fx, text, CAP_NOTE + (size_t)bc->num);
}

/* A header whose string field number num (0 idem_key, 1 principal,
 * 2 session, 3 centre) is arg. */
static void b_header_str(struct fixture *fx, const struct bad_case *bc)
{
    unsigned i;

    put_le(fx, AMK_CMD_FORMAT, 1);
    put_le(fx, AMK_CMD_NOOP, 2);
    put_le(fx, 1, 1);
    put_le(fx, 0, 8); /* term */
    put_le(fx, 0, 8); /* timestamp */
    put_le(fx, 0, 8); /* if_match */
    for (i = 0; i < 4; i++) {
        if (i == 2) {
            put_le(fx, AMK_ROLE_OPERATOR, 1);
        }
        if (i == bc->num) {
            put_strn(fx, bc->arg, bc->arg_len);
        } else {
            put_str(fx, "");
        }
    }
    put_le(fx, 0, 8); /* epoch */
    put_le(fx, 0, 8); /* present */
}

static void b_role(struct fixture *fx, const struct bad_case *bc)
{
    put_header(fx, AMK_CMD_NOOP);
    put_le(fx, 0, 8);
    /* role sits after format..if_match (28), "key" (7), "alice" (9). */
    fx->bytes[28 + 7 + 9] = (uint8_t)bc->num;
}

/* centre.register with backups: count num, then arg_len-byte strings. */
static void b_backups(struct fixture *fx, const struct bad_case *bc)
{
    unsigned i;
    put_header(fx, AMK_CMD_CENTRE_REGISTER);
    put_le(fx, 0xF, 8);
    put_str(fx, "c");
    put_str(fx, "n");
    put_str(fx, "r");
    put_le(fx, bc->num, 4);
    for (i = 0; i < 3 && bc->arg != NULL; i++) {
        put_strn(fx, bc->arg, i == 1 ? bc->arg_len : 1);
    }
}

/* incident.update with patients: count num, then one patient built from arg
 * (present mask first 8 bytes, then raw). */
static void b_patients(struct fixture *fx, const struct bad_case *bc)
{
    put_header(fx, AMK_CMD_INCIDENT_UPDATE);
    put_le(fx, 1 | (1u << 10), 8);
    put_str(fx, "i");
    put_le(fx, bc->num, 4);
    put(fx, bc->arg, bc->arg_len);
}

static void b_enum(struct fixture *fx, const struct bad_case *bc)
{
    put_header(fx, AMK_CMD_INCIDENT_CLOSE);
    put_le(fx, 3, 8);
    put_str(fx, "i");
    put_le(fx, bc->num, 1);
}

static void b_bool(struct fixture *fx, const struct bad_case *bc)
{
    put_header(fx, AMK_CMD_RESOURCE_ALARM);
    put_le(fx, 7, 8);
    put_str(fx, "r");
    put_le(fx, bc->num, 1);
    put_le(fx, 1, 8);
}

/* resource.position with lat bits num. */
static void b_f64(struct fixture *fx, const struct bad_case *bc)
{
    put_header(fx, AMK_CMD_RESOURCE_POSITION);
    put_le(fx, 1 | 2 | 4 | (1u << 6), 8);
    put_str(fx, "r");
    put_le(fx, bc->num, 8);
    put_f64(fx, 10.0);
    put_le(fx, 1, 8);
}

/* resource.status with seq num. */
static void b_i64(struct fixture *fx, const struct bad_case *bc)
{
    put_header(fx, AMK_CMD_RESOURCE_STATUS);
    put_le(fx, 7, 8);
    put_str(fx, "r");
    put_le(fx, 1, 1);
    put_le(fx, bc->num, 8);
}

static void b_missing(struct fixture *fx, const struct bad_case *bc)
{
    put_header(fx, AMK_CMD_RESOURCE_POSITION);
    put_le(fx, 1 | 2 | 4, 8); /* no seq */
    put_str(fx, "r");
    put_f64(fx, 1.0);
    put_f64(fx, 2.0);
}

static void b_prefix(struct fixture *fx, const struct bad_case *bc)
{
    put(fx, bc->arg, bc->arg_len);
}

#define PATIENT_AGE(v) "\x04\0\0\0\0\0\0\0" v
static const struct bad_case bad_cases[] = {
    {"format 2", b_format, NULL, 0, 2, "format"},
    {"format 0", b_format, NULL, 0, 0, "format"},
    {"format 0xFF", b_format, NULL, 0, 0xFF, "format"},
    {"type 0", b_type, NULL, 0, 0, "unknown command type 0"},
    {"type past the end", b_type, NULL, 0, AMK_CMD__END, "type"},
    {"type 0xFFFF", b_type, NULL, 0, 0xFFFF, "type"},
    {"type_version 0", b_version, NULL, 0, 0, "type_version"},
    {"type_version 2", b_version, NULL, 0, 2, "type_version"},
    {"type_version 255", b_version, NULL, 0, 255, "type_version"},
    {"unknown present bit 1", b_close_id, BYTES("s"), 3, "bit 1"},
    {"unknown present bit 63", b_close_id, BYTES("s"), 1 | (UINT64_C(1) << 63),
     "bit 63"},
    {"unknown present bit in a patient", b_patients,
     BYTES("\x10\0\0\0\0\0\0\0"), 1, "patients[0].present: bit 4"},
    {"missing required id", b_close_id, BYTES(""), 0,
     "id: required field missing"},
    {"missing required seq", b_missing, NULL, 0, 0,
     "seq: required field missing"},
    {"id over cap", b_long_id, NULL, 0, 0, "id: length 65"},
    {"id claims 4 GiB", b_close_id_len, BYTES("abc"), UINT32_MAX,
     "id: length 4294967295"},
    {"id claims more than is left", b_close_id_len, BYTES("abc"), 4,
     "truncated"},
    {"note over cap", b_long_note, NULL, 0, 1, "text: length 16385"},
    {"idem_key over cap", b_header_str,
     BYTES("12345678901234567890123456789012345678901234567890123456789012345"),
     0, "idem_key: length 65"},
    {"principal NUL", b_header_str, BYTES("al\0ce"), 1, "principal: NUL"},
    {"session bad UTF-8", b_header_str, BYTES("\xFF"), 2,
     "session: invalid UTF-8"},
    {"centre over cap", b_header_str,
     BYTES(
         "oooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooooo"),
     3, "centre: length 66"},
    {"role 5", b_role, NULL, 0, 5, "role: 5"},
    {"role 0xFF", b_role, NULL, 0, 0xFF, "role"},
    {"backups count 17", b_backups, NULL, 0, 17, "backups: count 17"},
    {"backups count 2^32-2", b_backups, NULL, 0, UINT32_MAX - 1,
     "backups: count 4294967294"},
    {"backups count absent marker", b_backups, NULL, 0, AMK_CMD_ABSENT,
     "backups: count"},
    {"backups[1] over cap", b_backups,
     BYTES("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
     3, "backups[1]: length 65"},
    {"patients count 17", b_patients, NULL, 0, 17, "patients: count 17"},
    {"patients count 2^32-1", b_patients, NULL, 0, UINT32_MAX,
     "patients: count"},
    {"patient national_id over cap", b_patients,
     BYTES("\x02\0\0\0\0\0\0\0\x11\0\0\0"
           "12345678901234567"),
     1, "patients[0].national_id: length 17"},
    {"patient age INT32_MIN", b_patients, BYTES(PATIENT_AGE("\0\0\0\x80")), 1,
     "patients[0].age: INT32_MIN"},
    {"patient sex 4", b_patients, BYTES("\x08\0\0\0\0\0\0\0\x04"), 1,
     "patients[0].sex: 4"},
    {"lone continuation byte", b_close_id, BYTES("a\x80"), 1, "invalid UTF-8"},
    {"overlong 2-byte C0", b_close_id, BYTES("\xC0\xAF"), 1, "invalid UTF-8"},
    {"overlong 2-byte C1", b_close_id, BYTES("\xC1\xBF"), 1, "invalid UTF-8"},
    {"overlong 3-byte", b_close_id, BYTES("\xE0\x80\xAF"), 1, "invalid UTF-8"},
    {"overlong 3-byte top", b_close_id, BYTES("\xE0\x9F\xBF"), 1,
     "invalid UTF-8"},
    {"overlong 4-byte", b_close_id, BYTES("\xF0\x80\x80\xAF"), 1,
     "invalid UTF-8"},
    {"overlong 4-byte top", b_close_id, BYTES("\xF0\x8F\xBF\xBF"), 1,
     "invalid UTF-8"},
    {"surrogate U+D800", b_close_id, BYTES("\xED\xA0\x80"), 1, "invalid UTF-8"},
    {"surrogate U+DFFF", b_close_id, BYTES("\xED\xBF\xBF"), 1, "invalid UTF-8"},
    {"U+110000", b_close_id, BYTES("\xF4\x90\x80\x80"), 1, "invalid UTF-8"},
    {"F5 lead byte", b_close_id, BYTES("\xF5\x80\x80\x80"), 1, "invalid UTF-8"},
    {"FF byte", b_close_id, BYTES("ab\xFF"), 1, "invalid UTF-8 at offset"},
    {"sequence cut by the end", b_close_id, BYTES("a\xE2\x82"), 1,
     "invalid UTF-8"},
    {"bad second byte", b_close_id, BYTES("\xE2\x28\xA1"), 1, "invalid UTF-8"},
    {"bad third byte", b_close_id, BYTES("\xE2\x82\x28"), 1, "invalid UTF-8"},
    {"bad fourth byte", b_close_id, BYTES("\xF0\x9F\x98\x28"), 1,
     "invalid UTF-8"},
    {"NUL in string", b_close_id, BYTES("a\0b"), 1, "id: NUL byte"},
    {"enum 7", b_enum, NULL, 0, 7, "disposition: 7"},
    {"enum 0xFF (absent marker)", b_enum, NULL, 0, 0xFF, "disposition: 255"},
    {"bool 2", b_bool, NULL, 0, 2, "on: 2"},
    {"bool 0xFF", b_bool, NULL, 0, 0xFF, "on: 255"},
    {"lat quiet NaN", b_f64, NULL, 0, UINT64_C(0x7FF8000000000000),
     "lat: not a finite"},
    {"lat signalling NaN", b_f64, NULL, 0, UINT64_C(0x7FF0000000000001),
     "lat: not a finite"},
    {"lat negative NaN", b_f64, NULL, 0, UINT64_C(0xFFF8000000000000),
     "lat: not a finite"},
    {"lat +inf", b_f64, NULL, 0, UINT64_C(0x7FF0000000000000),
     "lat: not a finite"},
    {"lat -inf", b_f64, NULL, 0, UINT64_C(0xFFF0000000000000),
     "lat: not a finite"},
    {"seq INT64_MIN", b_i64, NULL, 0, UINT64_C(0x8000000000000000),
     "seq: INT64_MIN"},
    {"trailing byte", b_trailing, BYTES("s"), 1, "1 trailing bytes"},
    {"empty input", b_prefix, BYTES(""), 0, "truncated"},
    {"format only", b_prefix, BYTES("\x01"), 0, "type: truncated"},
};

static void test_bad_input(void **state)
{
    struct fixture *fx = *state;
    const struct bad_case *bc = fx->tcase;
    uint8_t *exact;
    int rv;

    bc->build(fx, bc);
    /* An exact-size copy, so any over-read is an ASan error. */
    exact = malloc(fx->bytes_len > 0 ? fx->bytes_len : 1);
    assert_non_null(exact);
    if (fx->bytes_len > 0) {
        memcpy(exact, fx->bytes, fx->bytes_len);
    }
    memset(&fx->decoded, 0xA5, sizeof fx->decoded);
    memcpy(&fx->cmd, &fx->decoded, sizeof fx->cmd);
    rv = amk_cmd_decode(exact, fx->bytes_len, &fx->decoded, fx->errmsg);
    free(exact);
    if (rv != AMK_EINVALID || strstr(fx->errmsg, bc->needle) == NULL) {
        fail_msg("%s: rv %d, message \"%s\", expected \"%s\"", bc->name, rv,
                 fx->errmsg, bc->needle);
    }
    /* Bad input changes nothing. */
    assert_memory_equal(&fx->cmd, &fx->decoded, sizeof fx->cmd);
}

/* The valid counterparts of some bad cases decode (the builders are right). */
static void test_bad_case_builders(void **state)
{
    static const struct bad_case good[] = {
        {"id", b_close_id, BYTES("s"), 1, NULL},
        {"enum 6", b_enum, NULL, 0, 6, NULL},
        {"bool 1", b_bool, NULL, 0, 1, NULL},
        {"lat", b_f64, NULL, 0, UINT64_C(0x4000000000000000), NULL},
        {"seq", b_i64, NULL, 0, 1, NULL},
        {"role 4", b_role, NULL, 0, 4, NULL},
        {"backups", b_backups, BYTES("b"), 3, NULL},
        {"patient", b_patients, BYTES(PATIENT_AGE("\x01\0\0\x80")), 1, NULL},
        {"principal", b_header_str, BYTES("alice"), 1, NULL},
        {"note at cap", b_long_note, NULL, 0, 0, NULL},
    };
    struct fixture *fx = *state;
    size_t i;

    for (i = 0; i < N_OF(good); i++) {
        fx->bytes_len = 0;
        good[i].build(fx, &good[i]);
        if (amk_cmd_decode(fx->bytes, fx->bytes_len, &fx->decoded,
                           fx->errmsg) != 0) {
            fail_msg("%s: %s", good[i].name, fx->errmsg);
        }
    }
    assert_int_equal(fx->decoded.u.incident_note.text.len, CAP_NOTE);
}

static void test_too_large(void **state)
{
    struct fixture *fx = *state;
    uint8_t *big = calloc(1, AMK_CMD_MAX_SIZE + 1);

    assert_non_null(big);
    assert_int_equal(
        amk_cmd_decode(big, AMK_CMD_MAX_SIZE + 1, &fx->decoded, fx->errmsg),
        AMK_ETOOLARGE);
    assert_non_null(strstr(fx->errmsg, "262145 bytes"));
    /* At the limit it is judged on content. */
    assert_int_equal(
        amk_cmd_decode(big, AMK_CMD_MAX_SIZE, &fx->decoded, fx->errmsg),
        AMK_EINVALID);
    assert_int_equal(amk_cmd_decode(NULL, 0, &fx->decoded, fx->errmsg),
                     AMK_EINVALID);
    free(big);
}

/* Every proper prefix of a valid encoding is rejected as truncated. */
static void test_truncations(void **state)
{
    struct fixture *fx = *state;
    const struct roundtrip_case *rc = fx->tcase;
    size_t cut;

    if (rc->full) {
        fill_full(fx, &fx->cmd, rc->t);
    } else {
        fill_required(fx, &fx->cmd, rc->t);
    }
    encode_ok(fx, &fx->cmd, &fx->buf, &fx->len);
    for (cut = 0; cut < fx->len; cut++) {
        uint8_t *prefix = malloc(cut > 0 ? cut : 1); /* exact, for ASan */
        int rv;
        assert_non_null(prefix);
        if (cut > 0) {
            memcpy(prefix, fx->buf, cut);
        }
        rv = amk_cmd_decode(prefix, cut, &fx->decoded, fx->errmsg);
        free(prefix);
        if (rv != AMK_EINVALID || strstr(fx->errmsg, "truncated") == NULL) {
            fail_msg("cut at %zu of %zu: rv %d \"%s\"", cut, fx->len, rv,
                     fx->errmsg);
        }
    }
}

/* --- Encode errors ------------------------------------------------------ */

struct encode_case {
    const char *name;
    uint16_t type;
    void (*mutate)(struct amk_cmd *cmd);
    const char *needle;
};

static void m_no_id(struct amk_cmd *c)
{
    c->u.session_close.id = amk_str_c(NULL);
}
static void m_no_urgency(struct amk_cmd *c)
{
    c->u.incident_create.urgency = AMK_ENUM_NONE;
}
static void m_name_257(struct amk_cmd *c)
{
    c->u.centre_register.name.len = 257;
}
static void m_idem_65(struct amk_cmd *c)
{
    c->h.idem_key.len = 65;
}
static void m_principal_129(struct amk_cmd *c)
{
    c->h.principal.len = 129;
}
static void m_urgency_3(struct amk_cmd *c)
{
    c->u.incident_create.urgency = 3;
}
static void m_patient_sex_4(struct amk_cmd *c)
{
    c->u.incident_create.patients[3].sex = 4;
}
static void m_patient_name_long(struct amk_cmd *c)
{
    c->u.incident_update.patients[15].name.len = 257;
}
static void m_on_2(struct amk_cmd *c)
{
    c->u.resource_alarm.on = 2;
}
static void m_lat_inf(struct amk_cmd *c)
{
    c->u.resource_position.lat = INFINITY;
}
static void m_heading_ninf(struct amk_cmd *c)
{
    c->u.resource_position.heading = -INFINITY;
}
static void m_backups_17(struct amk_cmd *c)
{
    c->u.centre_register.n_backups = 17;
}
static void m_patients_17(struct amk_cmd *c)
{
    c->u.incident_create.n_patients = 17;
}
static void m_backup_null(struct amk_cmd *c)
{
    c->u.centre_update.backups[2] = amk_str_c(NULL);
}
static void m_caller_bad_utf8(struct amk_cmd *c)
{
    c->u.incident_create.caller_name = amk_str_c("Ola \xC3");
}
static void m_note_nul(struct amk_cmd *c)
{
    c->u.incident_create.note = (struct amk_str){"a\0b", 3};
}
static void m_role_5(struct amk_cmd *c)
{
    c->h.role = 5;
}
static void m_format_2(struct amk_cmd *c)
{
    c->h.format = 2;
}
static void m_version_2(struct amk_cmd *c)
{
    c->h.type_version = 2;
}
static void m_type_0(struct amk_cmd *c)
{
    c->h.type = 0;
}
static void m_type_end(struct amk_cmd *c)
{
    c->h.type = AMK_CMD__END;
}
static void m_session_null_len(struct amk_cmd *c)
{
    c->h.session = (struct amk_str){NULL, 3};
}
static void m_state_none(struct amk_cmd *c)
{
    c->u.centre_set_state.state = AMK_ENUM_NONE;
}

static const struct encode_case encode_cases[] = {
    {"required id absent", AMK_CMD_SESSION_CLOSE, m_no_id,
     "session.close: id: required field missing"},
    {"required urgency absent", AMK_CMD_INCIDENT_CREATE, m_no_urgency,
     "incident.create: urgency: required field missing"},
    {"required enum absent", AMK_CMD_CENTRE_SET_STATE, m_state_none,
     "state: required"},
    {"name over cap", AMK_CMD_CENTRE_REGISTER, m_name_257,
     "centre.register: name: 257 bytes, at most 256"},
    {"idem_key over cap", AMK_CMD_NOOP, m_idem_65, "header: idem_key: 65"},
    {"principal over cap", AMK_CMD_NOOP, m_principal_129, "principal: 129"},
    {"urgency out of range", AMK_CMD_INCIDENT_CREATE, m_urgency_3,
     "urgency: 3 is not one of acute|urgent|normal"},
    {"patient sex out of range", AMK_CMD_INCIDENT_CREATE, m_patient_sex_4,
     "incident.create: patients[3].sex: 4"},
    {"patient name over cap", AMK_CMD_INCIDENT_UPDATE, m_patient_name_long,
     "patients[15].name: 257 bytes"},
    {"bool 2", AMK_CMD_RESOURCE_ALARM, m_on_2, "on: 2 is not a boolean"},
    {"lat inf", AMK_CMD_RESOURCE_POSITION, m_lat_inf, "lat: not a finite"},
    {"heading -inf", AMK_CMD_RESOURCE_POSITION, m_heading_ninf, "heading"},
    {"backups count 17", AMK_CMD_CENTRE_REGISTER, m_backups_17,
     "backups: 17 elements, at most 16"},
    {"patients count 17", AMK_CMD_INCIDENT_CREATE, m_patients_17,
     "patients: 17 elements"},
    {"backup absent inside the list", AMK_CMD_CENTRE_UPDATE, m_backup_null,
     "backups[2]: absent"},
    {"caller_name bad UTF-8", AMK_CMD_INCIDENT_CREATE, m_caller_bad_utf8,
     "caller_name: invalid UTF-8"},
    {"note with NUL", AMK_CMD_INCIDENT_CREATE, m_note_nul, "note: NUL byte"},
    {"role out of range", AMK_CMD_NOOP, m_role_5, "role: 5"},
    {"format 2", AMK_CMD_NOOP, m_format_2, "format"},
    {"type_version 2", AMK_CMD_INCIDENT_NOTE, m_version_2, "type_version"},
    {"type 0", AMK_CMD_NOOP, m_type_0, "type"},
    {"type past the end", AMK_CMD_NOOP, m_type_end, "type"},
    {"header string NULL with a length", AMK_CMD_NOOP, m_session_null_len,
     "session"},
};

static void test_encode_error(void **state)
{
    struct fixture *fx = *state;
    const struct encode_case *ec = fx->tcase;
    void *buf = &fx; /* must stay untouched */
    size_t len = 12345;
    int rv;

    fill_full(fx, &fx->cmd, tcmd_of(ec->type));
    ec->mutate(&fx->cmd);
    rv = amk_cmd_encode(&fx->cmd, &buf, &len, fx->errmsg);
    if (rv != AMK_EINVALID || strstr(fx->errmsg, ec->needle) == NULL) {
        fail_msg("%s: rv %d, message \"%s\", expected \"%s\"", ec->name, rv,
                 fx->errmsg, ec->needle);
    }
    assert_ptr_equal(buf, &fx);
    assert_int_equal(len, 12345);
}

static void expect_encode_error(struct fixture *fx, const struct tcmd *t,
                                const char *field, const char *problem)
{
    char needle[128];
    void *buf = NULL;
    size_t len = 0;
    int rv = amk_cmd_encode(&fx->cmd, &buf, &len, fx->errmsg);

    snprintf(needle, sizeof needle, "%s: %s: %s", t->name, field, problem);
    if (rv != AMK_EINVALID || strstr(fx->errmsg, needle) == NULL) {
        free(buf);
        fail_msg("rv %d, message \"%s\", expected \"%s\"", rv, fx->errmsg,
                 needle);
    }
    assert_null(buf);
}

/* Per field of one command type, as cmd.h and the brief state them: each
 * required field is required, each string and list is capped where
 * documented, each enum checks its own kind. */
static void test_field_rules(void **state)
{
    struct fixture *fx = *state;
    const struct tcmd *t = ((const struct roundtrip_case *)fx->tcase)->t;
    unsigned i;

    for (i = 0; i < t->n; i++) {
        const struct tfield *f = &t->fields[i];
        char problem[64];

        if (f->required) {
            fill_full(fx, &fx->cmd, t);
            amk_cmd_init(&fx->decoded, t->type); /* all absent */
            memcpy((char *)&fx->cmd.u + f->off, (char *)&fx->decoded.u + f->off,
                   f->kind == K_STR   ? sizeof(struct amk_str)
                   : f->kind == K_I64 ? sizeof(int64_t)
                   : f->kind == K_F64 ? sizeof(double)
                                      : sizeof(uint8_t));
            expect_encode_error(fx, t, f->name, "required field missing");
        }
        fill_full(fx, &fx->cmd, t);
        switch (f->kind) {
            case K_STR:
                *FIELD(&fx->cmd, f, struct amk_str) =
                    make_str(fx, f->name, f->cap + 1);
                snprintf(problem, sizeof problem, "%u bytes, at most %u",
                         f->cap + 1, f->cap);
                expect_encode_error(fx, t, f->name, problem);
                break;
            case K_ENUM:
                *FIELD(&fx->cmd, f, uint8_t) = (uint8_t)amk_enum_count(f->cap);
                snprintf(problem, sizeof problem, "%u is not one of %s",
                         amk_enum_count(f->cap), amk_enum_choices(f->cap));
                expect_encode_error(fx, t, f->name, problem);
                break;
            case K_STRS:
            case K_PATIENTS:
                *FIELD(&fx->cmd, f, uint32_t) = f->cap + 1;
                snprintf(problem, sizeof problem, "%u elements, at most %u",
                         f->cap + 1, f->cap);
                expect_encode_error(fx, t, f->name, problem);
                if (f->kind == K_STRS) {
                    *FIELD(&fx->cmd, f, uint32_t) = f->cap;
                    ITEMS(&fx->cmd, f, struct amk_str)
                    [f->cap - 1] = make_str(fx, "b", CAP_ID + 1);
                    snprintf(problem, sizeof problem, "%s[%u]", f->name,
                             f->cap - 1);
                    expect_encode_error(fx, t, problem, "65 bytes, at most 64");
                } else {
                    struct amk_patient *p =
                        &ITEMS(&fx->cmd, f, struct amk_patient)[0];
                    *FIELD(&fx->cmd, f, uint32_t) = f->cap;
                    p->national_id = make_str(fx, "1", CAP_CODE + 1);
                    expect_encode_error(fx, t, "patients[0].national_id",
                                        "17 bytes, at most 16");
                    p->national_id = make_str(fx, "1", CAP_CODE);
                    p->name = make_str(fx, "n", CAP_TEXT + 1);
                    expect_encode_error(fx, t, "patients[0].name",
                                        "257 bytes, at most 256");
                }
                break;
            default:
                break;
        }
    }
}

/* Allocation failures at every step of a growing encode: AMK_ENOMEM, nothing
 * leaked, outputs untouched; with enough memory it succeeds. */
static int realloc_budget;

static void *failing_realloc(void *ptr, size_t size)
{
    if (realloc_budget <= 0) {
        return NULL;
    }
    realloc_budget--;
    return realloc(ptr, size);
}

static void test_encode_nomem(void **state)
{
    struct fixture *fx = *state;
    void *buf = NULL;
    size_t len = 0;
    int budget, rv = AMK_ENOMEM;

    fill_full(fx, &fx->cmd, tcmd_of(AMK_CMD_INCIDENT_CREATE));
    for (budget = 0; budget < 64 && rv == AMK_ENOMEM; budget++) {
        realloc_budget = budget;
        rv = cmd__encode(&fx->cmd, &buf, &len, fx->errmsg, failing_realloc);
        if (rv == AMK_ENOMEM) {
            assert_null(buf);
            assert_non_null(strstr(fx->errmsg, "out of memory"));
        }
    }
    assert_true(budget > 1); /* it did fail part-way at least once */
    assert_int_equal(rv, 0);
    fx->buf = buf;
    fx->len = len;
    decode_ok(fx, fx->buf, fx->len, &fx->decoded);
    assert_cmd_equal(&fx->cmd, &fx->decoded, tcmd_of(AMK_CMD_INCIDENT_CREATE));
}

/* --- Peek and stamp ----------------------------------------------------- */

/* raft pads entries to a multiple of 8 with zeros: accepted; any other
 * trailing bytes are not. */
static void test_raft_padding(void **state)
{
    (void)state;
    struct amk_cmd cmd, out;
    char errmsg[256];
    void *buf;
    size_t len;
    assert_int_equal(amk_cmd_init(&cmd, AMK_CMD_SESSION_CLOSE), 0);
    cmd.u.session_close.id = amk_str_c("s-1");
    assert_int_equal(amk_cmd_encode(&cmd, &buf, &len, errmsg), 0);
    size_t padded = (len + 7) & ~(size_t)7;
    if (padded == len) {
        padded += 8; /* then 8 zero bytes: one too many */
    }
    uint8_t *p = calloc(1, padded + 8);
    assert_non_null(p);
    memcpy(p, buf, len);
    if (padded - len <= 7) {
        assert_int_equal(amk_cmd_decode(p, padded, &out, errmsg), 0);
        assert_int_equal(out.u.session_close.id.len, 3);
        assert_memory_equal(out.u.session_close.id.ptr, "s-1", 3);
        p[padded - 1] = 1; /* non-zero padding */
        assert_int_equal(amk_cmd_decode(p, padded, &out, errmsg), AMK_EINVALID);
        p[padded - 1] = 0;
    }
    /* Zero bytes that do not end on a multiple of 8. */
    if ((len + 1) % 8 != 0) {
        assert_int_equal(amk_cmd_decode(p, len + 1, &out, errmsg),
                         AMK_EINVALID);
    }
    /* Eight or more zero bytes are never padding. */
    size_t over = ((len + 8) + 7) & ~(size_t)7;
    uint8_t *q = calloc(1, over);
    assert_non_null(q);
    memcpy(q, buf, len);
    assert_int_equal(amk_cmd_decode(q, over, &out, errmsg),
                     over - len > 7 ? AMK_EINVALID : 0);
    free(q);
    free(p);
    free(buf);
}

static void test_peek(void **state)
{
    struct fixture *fx = *state;
    uint64_t term = 0;
    uint16_t type = 0;
    uint8_t *p;

    fill_full(fx, &fx->cmd, tcmd_of(AMK_CMD_RESOURCE_STATUS));
    encode_ok(fx, &fx->cmd, &fx->buf, &fx->len);
    p = fx->buf;
    assert_int_equal(amk_cmd_peek(p, fx->len, &term, &type), 0);
    assert_true(term == UINT64_C(0xFEDCBA9876543210));
    assert_int_equal(type, AMK_CMD_RESOURCE_STATUS);
    assert_int_equal(amk_cmd_peek(p, fx->len, NULL, NULL), 0);
    /* The fixed part up to the term is enough; one byte less is not. */
    assert_int_equal(amk_cmd_peek(p, 12, &term, &type), 0);
    assert_int_equal(amk_cmd_peek(p, 11, &term, &type), AMK_EINVALID);
    assert_int_equal(amk_cmd_peek(NULL, 0, &term, &type), AMK_EINVALID);
    p[0] = 2;
    assert_int_equal(amk_cmd_peek(p, fx->len, &term, &type), AMK_EINVALID);
    p[0] = AMK_CMD_FORMAT;
    p[1] = 0;
    p[2] = 0;
    assert_int_equal(amk_cmd_peek(p, fx->len, &term, &type), AMK_EINVALID);
    p[1] = AMK_CMD__END;
    assert_int_equal(amk_cmd_peek(p, fx->len, &term, &type), AMK_EINVALID);
}

static void test_stamp(void **state)
{
    struct fixture *fx = *state;
    uint8_t *before;
    uint64_t term;

    fill_full(fx, &fx->cmd, tcmd_of(AMK_CMD_INCIDENT_CREATE));
    encode_ok(fx, &fx->cmd, &fx->buf, &fx->len);
    before = malloc(fx->len);
    assert_non_null(before);
    memcpy(before, fx->buf, fx->len);

    assert_int_equal(
        amk_cmd_stamp(fx->buf, fx->len, UINT64_C(0x1122334455667788), -5), 0);
    assert_int_equal(amk_cmd_peek(fx->buf, fx->len, &term, NULL), 0);
    assert_true(term == UINT64_C(0x1122334455667788));
    /* Only term (4..11) and timestamp (12..19) changed. */
    assert_memory_equal(before, fx->buf, 4);
    assert_memory_equal(before + 20, (uint8_t *)fx->buf + 20, fx->len - 20);
    decode_ok(fx, fx->buf, fx->len, &fx->decoded);
    assert_true(fx->decoded.h.term == UINT64_C(0x1122334455667788));
    assert_true(fx->decoded.h.timestamp_ms == -5);
    fx->cmd.h.term = fx->decoded.h.term;
    fx->cmd.h.timestamp_ms = fx->decoded.h.timestamp_ms;
    assert_cmd_equal(&fx->cmd, &fx->decoded, tcmd_of(AMK_CMD_INCIDENT_CREATE));

    /* Too short for the fixed header, or not a command: untouched. */
    memcpy(before, fx->buf, fx->len);
    assert_int_equal(amk_cmd_stamp(fx->buf, 27, 1, 1), AMK_EINVALID);
    assert_memory_equal(before, fx->buf, fx->len);
    assert_int_equal(amk_cmd_stamp(NULL, 0, 1, 1), AMK_EINVALID);
    ((uint8_t *)fx->buf)[0] = 0;
    memcpy(before, fx->buf, fx->len);
    assert_int_equal(amk_cmd_stamp(fx->buf, fx->len, 1, 1), AMK_EINVALID);
    assert_memory_equal(before, fx->buf, fx->len);
    free(before);
}

/* --- Init, names, str --------------------------------------------------- */

static void test_init(void **state)
{
    struct fixture *fx = *state;
    const struct amk_cmd_incident_update *u = &fx->cmd.u.incident_update;
    unsigned j;

    memset(&fx->cmd, 0x5A, sizeof fx->cmd);
    assert_int_equal(amk_cmd_init(&fx->cmd, AMK_CMD_INCIDENT_UPDATE), 0);
    assert_int_equal(fx->cmd.h.format, AMK_CMD_FORMAT);
    assert_int_equal(fx->cmd.h.type, AMK_CMD_INCIDENT_UPDATE);
    assert_int_equal(fx->cmd.h.type_version, 1);
    assert_true(fx->cmd.h.term == 0 && fx->cmd.h.epoch == 0);
    assert_null(fx->cmd.h.idem_key.ptr);
    assert_int_equal(fx->cmd.h.role, 0);
    assert_true(fx->cmd.present == 0);
    assert_null(u->id.ptr);
    assert_int_equal(u->urgency, AMK_ENUM_NONE);
    assert_true(isnan(u->lat) && isnan(u->lon) && isnan(u->accuracy_m));
    assert_int_equal(u->n_patients, AMK_CMD_ABSENT);
    for (j = 0; j < AMK_CMD_MAX_PATIENTS; j++) {
        assert_null(u->patients[j].name.ptr);
        assert_null(u->patients[j].national_id.ptr);
        assert_int_equal(u->patients[j].age, INT32_MIN);
        assert_int_equal(u->patients[j].sex, AMK_ENUM_NONE);
    }
    assert_int_equal(u->status, AMK_ENUM_NONE);

    amk_cmd_init(&fx->cmd, AMK_CMD_RESOURCE_STATUS);
    assert_true(fx->cmd.u.resource_status.seq == INT64_MIN);
    assert_true(fx->cmd.u.resource_status.raw_code == INT64_MIN);
    amk_cmd_init(&fx->cmd, AMK_CMD_CENTRE_UPDATE);
    assert_int_equal(fx->cmd.u.centre_update.n_backups, AMK_CMD_ABSENT);
    assert_int_equal(fx->cmd.u.centre_update.auto_takeover, AMK_ENUM_NONE);

    assert_int_equal(amk_cmd_init(&fx->cmd, 0), AMK_EINVALID);
    assert_int_equal(amk_cmd_init(&fx->cmd, AMK_CMD__END), AMK_EINVALID);
    assert_int_equal(amk_cmd_init(&fx->cmd, 0xFFFF), AMK_EINVALID);
}

static void test_cmd_names(void **state)
{
    size_t i;
    (void)state;
    for (i = 0; i < N_OF(tcmds); i++) {
        assert_string_equal(amk_cmd_name(tcmds[i].type), tcmds[i].name);
    }
    assert_null(amk_cmd_name(0));
    assert_null(amk_cmd_name(AMK_CMD__END));
    assert_null(amk_cmd_name(0xFFFF));
}

static void test_str_c(void **state)
{
    struct amk_str s;
    (void)state;
    s = amk_str_c("abc");
    assert_string_equal(s.ptr, "abc");
    assert_int_equal(s.len, 3);
    s = amk_str_c("");
    assert_non_null(s.ptr);
    assert_int_equal(s.len, 0);
    s = amk_str_c(NULL);
    assert_null(s.ptr);
    assert_int_equal(s.len, 0);
}

/* --- Enums and codes ---------------------------------------------------- */

struct enum_case {
    enum amk_enum_kind kind;
    const char *label;
    const char *names[10]; /* from API.md, NULL-terminated */
};

static const struct enum_case enum_cases[] = {
    {AMK_ENUM_ROLE,
     "role",
     {"system", "admin", "operator", "bridge", "observer"}},
    {AMK_ENUM_URGENCY, "urgency", {"acute", "urgent", "normal"}},
    {AMK_ENUM_INCIDENT_STATUS,
     "incident status",
     {"new", "triaged", "dispatched", "on_scene", "transporting", "resolved",
      "closed", "cancelled"}},
    {AMK_ENUM_RESOURCE_TYPE,
     "resource type",
     {"ambulance", "ambulance_boat", "helicopter", "fixed_wing", "doctor_car",
      "gp_on_call", "first_responder"}},
    {AMK_ENUM_RESOURCE_STATUS,
     "resource status",
     {"out_of_service", "available_station", "available_mobile", "alerted",
      "acknowledged", "en_route", "on_scene", "transporting",
      "at_destination"}},
    {AMK_ENUM_SERVICE_STATE,
     "service state",
     {"normal", "overloaded", "going_down", "down", "unreachable"}},
    {AMK_ENUM_SEX, "sex", {"female", "male", "other", "unknown"}},
    {AMK_ENUM_DISPOSITION,
     "disposition",
     {"transported", "treated_on_scene", "advice_given", "referred",
      "no_patient", "false_alarm", "duplicate"}},
    {AMK_ENUM_HANDBACK, "handback", {"return", "keep"}},
};
_Static_assert(N_OF(enum_cases) == AMK_ENUM__N, "every enum kind");

static void test_enum_kind(void **state)
{
    const struct enum_case *ec = *state;
    const char *const *names = ec->names;
    enum amk_enum_kind kind = ec->kind;
    char joined[512] = "";
    unsigned n = 0, v;
    uint8_t value;

    while (n < N_OF(ec->names) && names[n] != NULL) {
        n++;
    }
    assert_int_equal(amk_enum_count(kind), n);
    for (v = 0; v < n; v++) {
        size_t len = strlen(names[v]);
        char longer[64];

        assert_string_equal(amk_enum_name(kind, v), names[v]);
        value = 0xEE;
        assert_int_equal(amk_enum_parse(kind, names[v], len, &value), 0);
        assert_int_equal(value, v);
        /* Not a prefix, an extension, another case, or with a NUL. */
        value = 0xEE;
        assert_int_equal(amk_enum_parse(kind, names[v], len - 1, &value), -1);
        snprintf(longer, sizeof longer, "%sx", names[v]);
        assert_int_equal(amk_enum_parse(kind, longer, len + 1, &value), -1);
        longer[len] = '\0';
        assert_int_equal(amk_enum_parse(kind, longer, len + 1, &value), -1);
        longer[0] = (char)(longer[0] - 'a' + 'A');
        assert_int_equal(amk_enum_parse(kind, longer, len, &value), -1);
        assert_int_equal(value, 0xEE);
        if (v > 0) {
            strcat(joined, "|");
        }
        strcat(joined, names[v]);
    }
    assert_null(amk_enum_name(kind, n));
    assert_null(amk_enum_name(kind, AMK_ENUM_NONE));
    assert_int_equal(amk_enum_parse(kind, "", 0, &value), -1);
    assert_int_equal(amk_enum_parse(kind, NULL, 0, &value), -1);
    assert_int_equal(amk_enum_parse(kind, "bogus", 5, &value), -1);
    assert_string_equal(amk_enum_choices(kind), joined);
}

static void test_enum_bad_kind(void **state)
{
    uint8_t value;
    (void)state;
    assert_int_equal(amk_enum_count(AMK_ENUM__N), 0);
    assert_null(amk_enum_name(AMK_ENUM__N, 0));
    assert_int_equal(amk_enum_parse(AMK_ENUM__N, "acute", 5, &value), -1);
    assert_string_equal(amk_enum_choices(AMK_ENUM__N), "");
}

static void test_codes(void **state)
{
    static const struct {
        int code;
        const char *name;
        int status;
    } codes[] = {
        {AMK_OK, "OK", 200},
        {AMK_EINVALID, "INVALID", 400},
        {AMK_EUNAUTHENTICATED, "UNAUTHENTICATED", 401},
        {AMK_EFORBIDDEN, "FORBIDDEN", 403},
        {AMK_ENOTFOUND, "NOT_FOUND", 404},
        {AMK_ESTALE_EPOCH, "STALE_EPOCH", 409},
        {AMK_ECONFLICT, "CONFLICT", 409},
        {AMK_EVERSION_MISMATCH, "VERSION_MISMATCH", 412},
        {AMK_ETOOLARGE, "TOO_LARGE", 413},
        {AMK_ECOMPACTED, "COMPACTED", 410},
        {AMK_ENOMEM, "NO_MEMORY", 500},
        {AMK_EINTERNAL, "INTERNAL", 500},
        {-1, "INTERNAL", 500},
        {AMK_CODE__N, "INTERNAL", 500},
        {1000, "INTERNAL", 500},
    };
    size_t i;
    (void)state;
    assert_int_equal(AMK_CODE__N, 12);
    for (i = 0; i < N_OF(codes); i++) {
        assert_string_equal(amk_code_name(codes[i].code), codes[i].name);
        assert_int_equal(amk_code_http_status(codes[i].code), codes[i].status);
    }
}

/* --- Registration ------------------------------------------------------- */

#define MAX_TESTS 512

static struct roundtrip_case roundtrip_cases[2 * N_OF(tcmds)];
static char case_names[MAX_TESTS][96];

static void add(struct CMUnitTest *tests, size_t *n, struct CMUnitTest test,
                const char *prefix, const char *name)
{
    assert_true(*n < MAX_TESTS);
    snprintf(case_names[*n], sizeof case_names[*n], "%s %s", prefix, name);
    test.name = case_names[*n];
    tests[(*n)++] = test;
}

int main(void)
{
    static struct CMUnitTest tests[MAX_TESTS];
    static const uint16_t truncated_types[] = {
        AMK_CMD_NOOP,
        AMK_CMD_CENTRE_REGISTER,
        AMK_CMD_INCIDENT_CREATE,
        AMK_CMD_INCIDENT_UPDATE,
        AMK_CMD_RESOURCE_STATUS,
        AMK_CMD_RESOURCE_POSITION,
    };
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test_setup_teardown(test_empty_strings, setup_fixture,
                                        teardown_fixture),
        cmocka_unit_test_setup_teardown(test_golden_noop, setup_fixture,
                                        teardown_fixture),
        cmocka_unit_test_setup_teardown(test_golden_incident_create,
                                        setup_fixture, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_utf8_boundaries, setup_fixture,
                                        teardown_fixture),
        cmocka_unit_test_setup_teardown(test_bad_case_builders, setup_fixture,
                                        teardown_fixture),
        cmocka_unit_test_setup_teardown(test_too_large, setup_fixture,
                                        teardown_fixture),
        cmocka_unit_test_setup_teardown(test_encode_nomem, setup_fixture,
                                        teardown_fixture),
        cmocka_unit_test_setup_teardown(test_peek, setup_fixture,
                                        teardown_fixture),
        cmocka_unit_test_setup_teardown(test_stamp, setup_fixture,
                                        teardown_fixture),
        cmocka_unit_test_setup_teardown(test_init, setup_fixture,
                                        teardown_fixture),
        cmocka_unit_test(test_cmd_names),
        cmocka_unit_test(test_raft_padding),
        cmocka_unit_test(test_str_c),
        cmocka_unit_test(test_enum_bad_kind),
        cmocka_unit_test(test_codes),
    };
    size_t n = 0, i, k;

    for (i = 0; i < N_OF(fixed); i++) {
        tests[n++] = fixed[i];
    }
    for (i = 0; i < N_OF(tcmds); i++) {
        for (k = 0; k < 2; k++) {
            struct roundtrip_case *rc = &roundtrip_cases[2 * i + k];
            rc->t = &tcmds[i];
            rc->full = k == 0;
            add(tests, &n,
                (struct CMUnitTest)cmocka_unit_test_prestate_setup_teardown(
                    test_roundtrip, setup_fixture, teardown_fixture, rc),
                rc->full ? "roundtrip all fields" : "roundtrip required only",
                tcmds[i].name);
        }
    }
    for (i = 0; i < N_OF(tcmds); i++) {
        add(tests, &n,
            (struct CMUnitTest)cmocka_unit_test_prestate_setup_teardown(
                test_field_rules, setup_fixture, teardown_fixture,
                &roundtrip_cases[2 * i]),
            "field rules", tcmds[i].name);
    }
    for (i = 0; i < N_OF(truncated_types); i++) {
        for (k = 0; k < 2; k++) {
            size_t index = (size_t)(tcmd_of(truncated_types[i]) - tcmds);
            struct roundtrip_case *rc = &roundtrip_cases[2 * index + k];
            add(tests, &n,
                (struct CMUnitTest)cmocka_unit_test_prestate_setup_teardown(
                    test_truncations, setup_fixture, teardown_fixture, rc),
                rc->full ? "truncations all fields" : "truncations required",
                rc->t->name);
        }
    }
    for (i = 0; i < N_OF(bad_cases); i++) {
        add(tests, &n,
            (struct CMUnitTest)cmocka_unit_test_prestate_setup_teardown(
                test_bad_input, setup_fixture, teardown_fixture,
                (void *)&bad_cases[i]),
            "decode rejects", bad_cases[i].name);
    }
    for (i = 0; i < N_OF(encode_cases); i++) {
        add(tests, &n,
            (struct CMUnitTest)cmocka_unit_test_prestate_setup_teardown(
                test_encode_error, setup_fixture, teardown_fixture,
                (void *)&encode_cases[i]),
            "encode rejects", encode_cases[i].name);
    }
    for (i = 0; i < N_OF(enum_cases); i++) {
        add(tests, &n,
            (struct CMUnitTest)cmocka_unit_test_prestate(
                test_enum_kind, (void *)&enum_cases[i]),
            "enum", enum_cases[i].label);
    }
    return _cmocka_run_group_tests("sm/cmd", tests, n, NULL, NULL);
}
