/* tests/unit/server/test_link_codec.c: the cluster link's wire format: frame
 * headers and their caps, every payload's round trip, and every way a
 * payload can be malformed (truncation at each byte, trailing bytes, bad
 * enums, caps, NUL bytes), plus address parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "server/link.h"

static void put_le(uint8_t *p, uint64_t v, unsigned size)
{
    for (unsigned i = 0; i < size; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

/* A header: length, version, type, id. */
static void header(uint8_t *buf, uint32_t length, uint8_t version, uint8_t type,
                   uint64_t id)
{
    put_le(buf, length, 4);
    buf[4] = version;
    buf[5] = type;
    put_le(buf + 6, id, 8);
}

/* --- Headers ------------------------------------------------------------- */

struct header_case {
    const char *name;
    uint32_t length;
    uint8_t version, type;
    int rv;
};

static const struct header_case header_cases[] = {
    {"read_index, empty", 10, 1, AMK_LINK_READ_INDEX, AMK_LINK_OK},
    {"propose, 1 byte", 11, 1, AMK_LINK_PROPOSE, AMK_LINK_OK},
    {"propose at its cap", 10 + AMK_CMD_MAX_SIZE, 1, AMK_LINK_PROPOSE,
     AMK_LINK_OK},
    {"propose over its cap", 11 + AMK_CMD_MAX_SIZE, 1, AMK_LINK_PROPOSE,
     AMK_LINK_ETOOBIG},
    {"result at the frame cap", AMK_LINK_MAX_FRAME, 1, AMK_LINK_RESULT,
     AMK_LINK_OK},
    {"result over the frame cap", AMK_LINK_MAX_FRAME + 1, 1, AMK_LINK_RESULT,
     AMK_LINK_ETOOBIG},
    {"length 0xffffffff", 0xffffffffu, 1, AMK_LINK_RESULT, AMK_LINK_ETOOBIG},
    {"length shorter than the header", 9, 1, AMK_LINK_READ_INDEX,
     AMK_LINK_EPROTO},
    {"length 0", 0, 1, AMK_LINK_READ_INDEX, AMK_LINK_EPROTO},
    {"version 0", 10, 0, AMK_LINK_READ_INDEX, AMK_LINK_EPROTO},
    {"version 2", 10, 2, AMK_LINK_READ_INDEX, AMK_LINK_EPROTO},
    {"type 0", 10, 1, 0, AMK_LINK_EPROTO},
    {"type past the end", 10, 1, AMK_LINK_TYPE__END, AMK_LINK_EPROTO},
    {"type 255", 10, 1, 255, AMK_LINK_EPROTO},
    {"read_index with a payload", 11, 1, AMK_LINK_READ_INDEX, AMK_LINK_ETOOBIG},
    {"index over 9 bytes", 20, 1, AMK_LINK_INDEX, AMK_LINK_ETOOBIG},
    {"heartbeat over its cap", 10 + 200, 1, AMK_LINK_HEARTBEAT,
     AMK_LINK_ETOOBIG},
};

static void test_header_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof header_cases / sizeof header_cases[0]; i++) {
        const struct header_case *c = &header_cases[i];
        uint8_t buf[AMK_LINK_HEADER_SIZE];
        struct amk_link_header h;
        char errmsg[256] = "";
        header(buf, c->length, c->version, c->type, 0x0102030405060708ull);
        int rv = amk_link_header_decode(buf, &h, errmsg);
        if (rv != c->rv) {
            fail_msg("%s: rv %d (%s), expected %d", c->name, rv, errmsg, c->rv);
        }
        if (rv == AMK_LINK_OK) {
            assert_int_equal(h.id, 0x0102030405060708ull);
            assert_int_equal(h.payload_len, c->length - 10);
        } else {
            assert_true(errmsg[0] != '\0');
        }
    }
}

/* A frame split at every byte decodes only once it is whole. */
static void test_frame_partial(void **state)
{
    (void)state;
    void *frame;
    size_t len;
    assert_int_equal(
        amk_link_encode_index(42, AMK_LINK_STATUS_OK, 77, &frame, &len), 0);
    assert_int_equal(len, AMK_LINK_HEADER_SIZE + 9);
    for (size_t have = 0; have < len; have++) {
        struct amk_link_frame f;
        size_t need = 0;
        assert_int_equal(amk_link_frame_decode(frame, have, &f, &need, NULL),
                         AMK_LINK_EAGAIN);
        assert_int_equal(
            need, have < AMK_LINK_HEADER_SIZE ? AMK_LINK_HEADER_SIZE : len);
    }
    struct amk_link_frame f;
    size_t consumed;
    assert_int_equal(amk_link_frame_decode(frame, len, &f, &consumed, NULL), 0);
    assert_int_equal(consumed, len);
    assert_int_equal(f.h.type, AMK_LINK_INDEX);
    assert_int_equal(f.h.id, 42);
    uint8_t status;
    uint64_t index;
    assert_int_equal(amk_link_decode_index(f.payload, f.h.payload_len, &status,
                                           &index, NULL),
                     0);
    assert_int_equal(status, AMK_LINK_STATUS_OK);
    assert_int_equal(index, 77);
    free(frame);
}

/* Two frames back to back: the first is consumed exactly. */
static void test_frame_back_to_back(void **state)
{
    (void)state;
    void *a, *b;
    size_t a_len, b_len;
    assert_int_equal(amk_link_encode_read_index(1, &a, &a_len), 0);
    assert_int_equal(amk_link_encode_read_index(2, &b, &b_len), 0);
    uint8_t buf[64];
    memcpy(buf, a, a_len);
    memcpy(buf + a_len, b, b_len);
    struct amk_link_frame f;
    size_t consumed;
    assert_int_equal(
        amk_link_frame_decode(buf, a_len + b_len, &f, &consumed, NULL), 0);
    assert_int_equal(consumed, a_len);
    assert_int_equal(f.h.id, 1);
    assert_int_equal(
        amk_link_frame_decode(buf + consumed, b_len, &f, &consumed, NULL), 0);
    assert_int_equal(f.h.id, 2);
    free(a);
    free(b);
}

/* --- Round trips -----------------------------------------------------------
 */

static void decode_whole(const void *frame, size_t len, uint8_t type,
                         struct amk_link_frame *f)
{
    size_t consumed;
    char errmsg[256] = "";
    int rv = amk_link_frame_decode(frame, len, f, &consumed, errmsg);
    if (rv != 0) {
        fail_msg("frame: %s", errmsg);
    }
    assert_int_equal(consumed, len);
    assert_int_equal(f->h.type, type);
    assert_int_equal(f->h.version, AMK_LINK_VERSION);
}

static void test_propose_round_trip(void **state)
{
    (void)state;
    uint8_t cmd[300];
    for (size_t i = 0; i < sizeof cmd; i++) {
        cmd[i] = (uint8_t)(i * 7);
    }
    void *frame;
    size_t len;
    assert_int_equal(
        amk_link_encode_propose(UINT64_MAX, cmd, sizeof cmd, &frame, &len), 0);
    struct amk_link_frame f;
    decode_whole(frame, len, AMK_LINK_PROPOSE, &f);
    assert_int_equal(f.h.id, UINT64_MAX);
    assert_int_equal(f.h.payload_len, sizeof cmd);
    assert_memory_equal(f.payload, cmd, sizeof cmd);
    free(frame);

    /* Empty and oversized commands are refused. */
    assert_int_equal(amk_link_encode_propose(1, cmd, 0, &frame, &len),
                     AMK_LINK_EINVAL);
    assert_null(frame);
    assert_int_equal(
        amk_link_encode_propose(1, cmd, AMK_CMD_MAX_SIZE + 1, &frame, &len),
        AMK_LINK_ETOOBIG);
}

static void sample_result(struct amk_sm_result *r, const char *body)
{
    memset(r, 0, sizeof *r);
    r->code = AMK_ESTALE_EPOCH;
    snprintf(r->message, sizeof r->message, "incident i1 is owned by %s",
             "bergen");
    snprintf(r->owner, sizeof r->owner, "bergen");
    r->epoch = 7;
    r->version = 12;
    r->applied = true;
    r->replayed = false;
    r->created = true;
    r->index = 123456789;
    r->body = body != NULL ? strdup(body) : NULL;
    r->event = strdup("{\"not\":\"sent\"}");
}

static void test_result_round_trip(void **state)
{
    (void)state;
    const char *bodies[] = {NULL, "", "{\"id\":\"oslo\",\"version\":1}"};
    for (size_t i = 0; i < 3; i++) {
        struct amk_sm_result in, out;
        sample_result(&in, bodies[i]);
        void *frame;
        size_t len;
        assert_int_equal(amk_link_encode_result(9, AMK_LINK_STATUS_OK, &in,
                                                NULL, &frame, &len),
                         0);
        struct amk_link_frame f;
        decode_whole(frame, len, AMK_LINK_RESULT, &f);
        uint8_t status = 99;
        char message[AMK_LINK_MESSAGE_MAX + 1];
        char errmsg[256] = "";
        int rv = amk_link_decode_result(f.payload, f.h.payload_len, &status,
                                        &out, message, errmsg);
        if (rv != 0) {
            fail_msg("decode: %s", errmsg);
        }
        assert_int_equal(status, AMK_LINK_STATUS_OK);
        assert_int_equal(out.code, in.code);
        assert_string_equal(out.message, in.message);
        assert_string_equal(out.owner, in.owner);
        assert_int_equal(out.epoch, in.epoch);
        assert_int_equal(out.version, in.version);
        assert_true(out.applied == in.applied);
        assert_true(out.replayed == in.replayed);
        assert_true(out.created == in.created);
        assert_int_equal(out.index, in.index);
        if (in.body == NULL) {
            assert_null(out.body);
        } else {
            assert_string_equal(out.body, in.body);
        }
        assert_null(out.event); /* events are not forwarded */
        amk_sm_result_clear(&in);
        amk_sm_result_clear(&out);
        free(frame);
    }
}

static void test_result_failure_round_trip(void **state)
{
    (void)state;
    static const uint8_t statuses[] = {AMK_LINK_STATUS_NOT_LEADER,
                                       AMK_LINK_STATUS_SHUTDOWN,
                                       AMK_LINK_STATUS_ERROR};
    for (size_t i = 0; i < 3; i++) {
        void *frame;
        size_t len;
        assert_int_equal(amk_link_encode_result(5, statuses[i], NULL,
                                                "leadership lost", &frame,
                                                &len),
                         0);
        struct amk_link_frame f;
        decode_whole(frame, len, AMK_LINK_RESULT, &f);
        uint8_t status;
        struct amk_sm_result out;
        char message[AMK_LINK_MESSAGE_MAX + 1];
        assert_int_equal(amk_link_decode_result(f.payload, f.h.payload_len,
                                                &status, &out, message, NULL),
                         0);
        assert_int_equal(status, statuses[i]);
        assert_string_equal(message, "leadership lost");
        assert_null(out.body);
        free(frame);
    }
    /* A long message is cut at the cap, not refused. */
    char long_message[600];
    memset(long_message, 'x', sizeof long_message - 1);
    long_message[sizeof long_message - 1] = '\0';
    void *frame;
    size_t len;
    assert_int_equal(amk_link_encode_result(5, AMK_LINK_STATUS_ERROR, NULL,
                                            long_message, &frame, &len),
                     0);
    free(frame);
    /* OK needs a result; unknown statuses are refused. */
    assert_int_equal(
        amk_link_encode_result(5, AMK_LINK_STATUS_OK, NULL, NULL, &frame, &len),
        AMK_LINK_EINVAL);
    assert_int_equal(amk_link_encode_result(5, AMK_LINK_STATUS__END, NULL, NULL,
                                            &frame, &len),
                     AMK_LINK_EINVAL);
}

static void test_result_body_over_cap(void **state)
{
    (void)state;
    struct amk_sm_result in;
    memset(&in, 0, sizeof in);
    in.body = malloc(AMK_LINK_MAX_PAYLOAD + 1);
    assert_non_null(in.body);
    memset(in.body, 'a', AMK_LINK_MAX_PAYLOAD);
    in.body[AMK_LINK_MAX_PAYLOAD] = '\0';
    void *frame = (void *)1;
    size_t len;
    assert_int_equal(
        amk_link_encode_result(1, AMK_LINK_STATUS_OK, &in, NULL, &frame, &len),
        AMK_LINK_ETOOBIG);
    assert_null(frame);
    amk_sm_result_clear(&in);
}

static void test_heartbeat_round_trip(void **state)
{
    (void)state;
    struct amk_link_heartbeat in, out;
    memset(&in, 0, sizeof in);
    snprintf(in.session, sizeof in.session, "s-123");
    snprintf(in.centre, sizeof in.centre, "oslo");
    in.valid = true;
    void *frame;
    size_t len;
    assert_int_equal(amk_link_encode_heartbeat(0, &in, &frame, &len), 0);
    struct amk_link_frame f;
    decode_whole(frame, len, AMK_LINK_HEARTBEAT, &f);
    assert_int_equal(
        amk_link_decode_heartbeat(f.payload, f.h.payload_len, &out, NULL), 0);
    assert_string_equal(out.session, "s-123");
    assert_string_equal(out.centre, "oslo");
    assert_true(out.valid);
    free(frame);

    /* A node's own heartbeat: no session; the longest ids fit the cap. */
    memset(in.session, 0, sizeof in.session);
    memset(in.centre, 'c', AMK_ID_MAX);
    in.centre[AMK_ID_MAX] = '\0';
    in.valid = false;
    assert_int_equal(amk_link_encode_heartbeat(0, &in, &frame, &len), 0);
    decode_whole(frame, len, AMK_LINK_HEARTBEAT, &f);
    assert_int_equal(
        amk_link_decode_heartbeat(f.payload, f.h.payload_len, &out, NULL), 0);
    assert_string_equal(out.session, "");
    assert_string_equal(out.centre, in.centre);
    assert_false(out.valid);
    free(frame);

    memset(&in, 0, sizeof in); /* no centre */
    assert_int_equal(amk_link_encode_heartbeat(0, &in, &frame, &len),
                     AMK_LINK_EINVAL);
}

/* --- Malformed payloads ----------------------------------------------------
 */

/* Every proper prefix of a valid payload is refused, and nothing leaks. */
static void test_result_truncated_everywhere(void **state)
{
    (void)state;
    struct amk_sm_result in;
    sample_result(&in, "{\"a\":1}");
    void *frame;
    size_t len;
    assert_int_equal(
        amk_link_encode_result(3, AMK_LINK_STATUS_OK, &in, NULL, &frame, &len),
        0);
    const uint8_t *payload = (const uint8_t *)frame + AMK_LINK_HEADER_SIZE;
    size_t payload_len = len - AMK_LINK_HEADER_SIZE;
    for (size_t cut = 0; cut < payload_len; cut++) {
        uint8_t status;
        struct amk_sm_result out;
        char errmsg[256] = "";
        int rv =
            amk_link_decode_result(payload, cut, &status, &out, NULL, errmsg);
        if (rv != AMK_LINK_EPROTO) {
            fail_msg("cut at %zu: rv %d", cut, rv);
        }
        assert_null(out.body);
        assert_non_null(strstr(errmsg, "RESULT"));
    }
    /* And one byte more is trailing garbage. */
    uint8_t *longer = malloc(payload_len + 1);
    assert_non_null(longer);
    memcpy(longer, payload, payload_len);
    longer[payload_len] = 0;
    uint8_t status;
    struct amk_sm_result out;
    assert_int_equal(amk_link_decode_result(longer, payload_len + 1, &status,
                                            &out, NULL, NULL),
                     AMK_LINK_EPROTO);
    free(longer);
    free(frame);
    amk_sm_result_clear(&in);
}

/* Builds a RESULT payload field by field, to break one thing at a time. */
struct builder {
    uint8_t buf[512];
    size_t len;
};

static void b_uint(struct builder *b, uint64_t v, unsigned size)
{
    put_le(b->buf + b->len, v, size);
    b->len += size;
}

static void b_str(struct builder *b, const char *s, size_t n)
{
    b_uint(b, n, 4);
    memcpy(b->buf + b->len, s, n);
    b->len += n;
}

enum breakage {
    BREAK_NONE = 0,
    BREAK_STATUS,
    BREAK_CODE,
    BREAK_FLAGS,
    BREAK_HAS_BODY,
    BREAK_NUL_MESSAGE,
    BREAK_OWNER_CAP,
    BREAK_BODY_LENGTH,
    BREAK_MESSAGE_CAP,
};

static void build_result(struct builder *b, enum breakage what)
{
    b->len = 0;
    b_uint(b, what == BREAK_STATUS ? AMK_LINK_STATUS__END : 0, 1);
    b_uint(b, what == BREAK_CODE ? AMK_CODE__N : AMK_OK, 2);
    if (what == BREAK_NUL_MESSAGE) {
        b_str(b, "a\0b", 3);
    } else if (what == BREAK_MESSAGE_CAP) {
        char big[300];
        memset(big, 'm', sizeof big);
        b_str(b, big, AMK_LINK_MESSAGE_MAX + 1);
    } else {
        b_str(b, "", 0);
    }
    if (what == BREAK_OWNER_CAP) {
        char owner[AMK_ID_MAX + 1];
        memset(owner, 'o', sizeof owner);
        b_str(b, owner, sizeof owner);
    } else {
        b_str(b, "oslo", 4);
    }
    b_uint(b, 1, 8);
    b_uint(b, 2, 8);
    b_uint(b, what == BREAK_FLAGS ? 8 : 5, 1);
    b_uint(b, 99, 8);
    b_uint(b, what == BREAK_HAS_BODY ? 2 : 1, 1);
    if (what == BREAK_BODY_LENGTH) {
        b_uint(b, 0xfffffff0u, 4); /* claims far more than is there */
        memcpy(b->buf + b->len, "{}", 2);
        b->len += 2;
    } else {
        b_str(b, "{}", 2);
    }
}

static void test_result_breakages(void **state)
{
    (void)state;
    static const struct {
        enum breakage what;
        const char *field;
    } cases[] = {
        {BREAK_STATUS, "status"},       {BREAK_CODE, "code"},
        {BREAK_FLAGS, "flags"},         {BREAK_HAS_BODY, "has_body"},
        {BREAK_NUL_MESSAGE, "message"}, {BREAK_OWNER_CAP, "owner"},
        {BREAK_BODY_LENGTH, "body"},    {BREAK_MESSAGE_CAP, "message"},
    };
    struct builder b;
    uint8_t status;
    struct amk_sm_result out;
    build_result(&b, BREAK_NONE);
    assert_int_equal(
        amk_link_decode_result(b.buf, b.len, &status, &out, NULL, NULL), 0);
    assert_true(out.applied && out.created && !out.replayed);
    assert_string_equal(out.body, "{}");
    amk_sm_result_clear(&out);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char errmsg[256] = "";
        build_result(&b, cases[i].what);
        int rv =
            amk_link_decode_result(b.buf, b.len, &status, &out, NULL, errmsg);
        if (rv != AMK_LINK_EPROTO || strstr(errmsg, cases[i].field) == NULL) {
            fail_msg("case %zu: rv %d, errmsg '%s' should name %s", i, rv,
                     errmsg, cases[i].field);
        }
        assert_null(out.body);
    }
}

static void test_index_breakages(void **state)
{
    (void)state;
    uint8_t buf[16];
    uint8_t status;
    uint64_t index;
    buf[0] = AMK_LINK_STATUS_OK;
    put_le(buf + 1, 5, 8);
    assert_int_equal(amk_link_decode_index(buf, 9, &status, &index, NULL), 0);
    assert_int_equal(index, 5);
    /* Failed answers carry no index. */
    buf[0] = AMK_LINK_STATUS_NOT_LEADER;
    assert_int_equal(amk_link_decode_index(buf, 9, &status, &index, NULL),
                     AMK_LINK_EPROTO);
    put_le(buf + 1, 0, 8);
    assert_int_equal(amk_link_decode_index(buf, 9, &status, &index, NULL), 0);
    assert_int_equal(status, AMK_LINK_STATUS_NOT_LEADER);
    buf[0] = 200;
    assert_int_equal(amk_link_decode_index(buf, 9, &status, &index, NULL),
                     AMK_LINK_EPROTO);
    buf[0] = 0;
    for (size_t cut = 0; cut < 9; cut++) {
        assert_int_equal(amk_link_decode_index(buf, cut, &status, &index, NULL),
                         AMK_LINK_EPROTO);
    }
    assert_int_equal(amk_link_decode_index(buf, 10, &status, &index, NULL),
                     AMK_LINK_EPROTO);
}

static void test_heartbeat_breakages(void **state)
{
    (void)state;
    struct builder b;
    struct amk_link_heartbeat hb;
    char errmsg[256];

    b.len = 0; /* empty centre */
    b_str(&b, "s", 1);
    b_str(&b, "", 0);
    b_uint(&b, 1, 1);
    assert_int_equal(amk_link_decode_heartbeat(b.buf, b.len, &hb, errmsg),
                     AMK_LINK_EPROTO);
    assert_non_null(strstr(errmsg, "centre"));

    b.len = 0; /* valid must be 0 or 1 */
    b_str(&b, "s", 1);
    b_str(&b, "oslo", 4);
    b_uint(&b, 2, 1);
    assert_int_equal(amk_link_decode_heartbeat(b.buf, b.len, &hb, errmsg),
                     AMK_LINK_EPROTO);
    assert_non_null(strstr(errmsg, "valid"));

    b.len = 0; /* session over the cap */
    char big[AMK_ID_MAX + 1];
    memset(big, 's', sizeof big);
    b_str(&b, big, sizeof big);
    b_str(&b, "oslo", 4);
    b_uint(&b, 1, 1);
    assert_int_equal(amk_link_decode_heartbeat(b.buf, b.len, &hb, errmsg),
                     AMK_LINK_EPROTO);
    assert_non_null(strstr(errmsg, "session"));
    assert_string_equal(hb.centre, "");
}

/* --- Addresses -------------------------------------------------------------
 */

static void test_addresses(void **state)
{
    (void)state;
    static const struct {
        const char *address;
        bool port_zero;
        int rv;
        int family;
    } cases[] = {
        {"127.0.0.1:9001", false, 0, AF_INET},
        {"0.0.0.0:1", false, 0, AF_INET},
        {"[::1]:9001", false, 0, AF_INET6},
        {"127.0.0.1:0", true, 0, AF_INET},
        {"127.0.0.1:0", false, AMK_LINK_EINVAL, 0},
        {"127.0.0.1:65536", false, AMK_LINK_EINVAL, 0},
        {"127.0.0.1:", false, AMK_LINK_EINVAL, 0},
        {"127.0.0.1", false, AMK_LINK_EINVAL, 0},
        {"localhost:9001", false, AMK_LINK_EINVAL, 0},
        {"::1:9001", false, AMK_LINK_EINVAL, 0},
        {"[::1]9001", false, AMK_LINK_EINVAL, 0},
        {"127.0.0.1:90a1", false, AMK_LINK_EINVAL, 0},
        {"127.0.0.1:-1", false, AMK_LINK_EINVAL, 0},
        {"", false, AMK_LINK_EINVAL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct sockaddr_storage ss;
        int rv =
            amk_link_parse_address(cases[i].address, cases[i].port_zero, &ss);
        if (rv != cases[i].rv) {
            fail_msg("%s: rv %d", cases[i].address, rv);
        }
        if (rv == 0) {
            assert_int_equal(ss.ss_family, cases[i].family);
        }
    }
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(amk_link_code_name(AMK_LINK_ENOLEADER), "NO_LEADER");
    assert_string_equal(amk_link_code_name(-1), "UNKNOWN");
    assert_string_equal(amk_link_code_name(AMK_LINK_CODE__N), "UNKNOWN");
    assert_string_equal(amk_link_status_name(AMK_LINK_STATUS_NOT_LEADER),
                        "NOT_LEADER");
    assert_string_equal(amk_link_status_name(9), "UNKNOWN");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_cases),
        cmocka_unit_test(test_frame_partial),
        cmocka_unit_test(test_frame_back_to_back),
        cmocka_unit_test(test_propose_round_trip),
        cmocka_unit_test(test_result_round_trip),
        cmocka_unit_test(test_result_failure_round_trip),
        cmocka_unit_test(test_result_body_over_cap),
        cmocka_unit_test(test_heartbeat_round_trip),
        cmocka_unit_test(test_result_truncated_everywhere),
        cmocka_unit_test(test_result_breakages),
        cmocka_unit_test(test_index_breakages),
        cmocka_unit_test(test_heartbeat_breakages),
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
