/* server/link_codec.c: the cluster link's wire format (server/link.h): frame
 * header, payload encoders and decoders through a bounds-checked cursor,
 * with every cap checked before anything is allocated. Pure: no I/O. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "link.h"

#define ERRMSG_SIZE        256
#define FIXED_AFTER_LENGTH 10u /* version + type + id */
#define HEARTBEAT_CAP      (4u + AMK_ID_MAX + 4u + AMK_ID_MAX + 1u)

static const char *const code_names[AMK_LINK_CODE__N] = {
    [AMK_LINK_OK] = "OK",
    [AMK_LINK_EPROTO] = "PROTOCOL",
    [AMK_LINK_EAGAIN] = "AGAIN",
    [AMK_LINK_ETOOBIG] = "TOO_BIG",
    [AMK_LINK_ENOMEM] = "NO_MEMORY",
    [AMK_LINK_EINVAL] = "INVALID",
    [AMK_LINK_ELISTEN] = "LISTEN",
    [AMK_LINK_ENOLEADER] = "NO_LEADER",
    [AMK_LINK_ETIMEOUT] = "TIMEOUT",
    [AMK_LINK_ELOCAL] = "LOCAL",
    [AMK_LINK_ESHUTDOWN] = "SHUTDOWN",
    [AMK_LINK_ENOTFOUND] = "NOT_FOUND",
};

const char *amk_link_code_name(int code)
{
    if (code < 0 || code >= AMK_LINK_CODE__N || code_names[code] == NULL) {
        return "UNKNOWN";
    }
    return code_names[code];
}

const char *amk_link_status_name(int status)
{
    static const char *const names[AMK_LINK_STATUS__END] = {
        "OK", "NOT_LEADER", "SHUTDOWN", "ERROR"};
    if (status < 0 || status >= AMK_LINK_STATUS__END) {
        return "UNKNOWN";
    }
    return names[status];
}

__attribute__((format(printf, 3, 4))) static int fail(char *errmsg, int code,
                                                      const char *fmt, ...)
{
    if (errmsg != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errmsg, ERRMSG_SIZE, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* --- Little-endian helpers ----------------------------------------------- */

static uint64_t load_le(const uint8_t *p, unsigned size)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

static void store_le(uint8_t *p, uint64_t v, unsigned size)
{
    for (unsigned i = 0; i < size; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

/* --- Header -------------------------------------------------------------- */

bool amk_link_type_known(uint8_t type)
{
    return type >= AMK_LINK_PROPOSE && type < AMK_LINK_TYPE__END;
}

size_t amk_link_payload_cap(uint8_t type)
{
    switch (type) {
        case AMK_LINK_PROPOSE:
            return AMK_CMD_MAX_SIZE;
        case AMK_LINK_RESULT:
            return AMK_LINK_MAX_PAYLOAD;
        case AMK_LINK_INDEX:
            return 1 + 8;
        case AMK_LINK_HEARTBEAT:
            return HEARTBEAT_CAP;
        default: /* READ_INDEX: empty; unknown types: nothing */
            return 0;
    }
}

int amk_link_header_decode(const uint8_t *buf, struct amk_link_header *h,
                           char *errmsg)
{
    memset(h, 0, sizeof *h);
    h->length = (uint32_t)load_le(buf, 4);
    h->version = buf[4];
    h->type = buf[5];
    h->id = load_le(buf + 6, 8);
    if (h->length < FIXED_AFTER_LENGTH) {
        return fail(errmsg, AMK_LINK_EPROTO,
                    "frame length %u: shorter than its own header",
                    (unsigned)h->length);
    }
    if (h->length > AMK_LINK_MAX_FRAME) {
        return fail(errmsg, AMK_LINK_ETOOBIG,
                    "frame length %u: over the cap of %u", (unsigned)h->length,
                    (unsigned)AMK_LINK_MAX_FRAME);
    }
    if (h->version != AMK_LINK_VERSION) {
        return fail(errmsg, AMK_LINK_EPROTO,
                    "protocol version %u: this node speaks %u",
                    (unsigned)h->version, (unsigned)AMK_LINK_VERSION);
    }
    if (!amk_link_type_known(h->type)) {
        return fail(errmsg, AMK_LINK_EPROTO, "frame type %u: unknown",
                    (unsigned)h->type);
    }
    h->payload_len = h->length - FIXED_AFTER_LENGTH;
    size_t cap = amk_link_payload_cap(h->type);
    if (h->payload_len > cap) {
        return fail(errmsg, AMK_LINK_ETOOBIG,
                    "frame type %u: payload of %zu bytes over its cap of %zu",
                    (unsigned)h->type, h->payload_len, cap);
    }
    return AMK_LINK_OK;
}

int amk_link_frame_decode(const void *buf, size_t len,
                          struct amk_link_frame *frame, size_t *consumed,
                          char *errmsg)
{
    memset(frame, 0, sizeof *frame);
    if (len < AMK_LINK_HEADER_SIZE) {
        *consumed = AMK_LINK_HEADER_SIZE;
        return AMK_LINK_EAGAIN;
    }
    int rv = amk_link_header_decode(buf, &frame->h, errmsg);
    if (rv != AMK_LINK_OK) {
        *consumed = 0;
        return rv;
    }
    size_t total = AMK_LINK_HEADER_SIZE + frame->h.payload_len;
    *consumed = total;
    if (len < total) {
        return AMK_LINK_EAGAIN;
    }
    frame->payload = (const uint8_t *)buf + AMK_LINK_HEADER_SIZE;
    return AMK_LINK_OK;
}

/* --- Writing ------------------------------------------------------------- */

/* A frame being built: header room first, payload appended. */
struct writer {
    uint8_t *p;
    size_t len, cap;
    int rv; /* first failure */
};

static void w_init(struct writer *w, uint8_t type, uint64_t id, size_t hint)
{
    w->len = 0;
    w->rv = AMK_LINK_OK;
    w->cap = AMK_LINK_HEADER_SIZE + hint;
    w->p = malloc(w->cap);
    if (w->p == NULL) {
        w->rv = AMK_LINK_ENOMEM;
        return;
    }
    w->p[4] = AMK_LINK_VERSION;
    w->p[5] = type;
    store_le(w->p + 6, id, 8);
    w->len = AMK_LINK_HEADER_SIZE;
}

static uint8_t *w_room(struct writer *w, size_t n)
{
    if (w->rv != AMK_LINK_OK) {
        return NULL;
    }
    if (n > AMK_LINK_MAX_FRAME || w->len + n > AMK_LINK_MAX_FRAME + 4) {
        w->rv = AMK_LINK_ETOOBIG;
        return NULL;
    }
    if (w->len + n > w->cap) {
        size_t cap = w->cap * 2 > w->len + n ? w->cap * 2 : w->len + n;
        uint8_t *grown = realloc(w->p, cap);
        if (grown == NULL) {
            w->rv = AMK_LINK_ENOMEM;
            return NULL;
        }
        w->p = grown;
        w->cap = cap;
    }
    uint8_t *at = w->p + w->len;
    w->len += n;
    return at;
}

static void w_uint(struct writer *w, uint64_t v, unsigned size)
{
    uint8_t *at = w_room(w, size);
    if (at != NULL) {
        store_le(at, v, size);
    }
}

/* str: u32 length + bytes; cap checked, no NUL inside. */
static void w_str(struct writer *w, const char *s, size_t n, size_t cap)
{
    if (w->rv != AMK_LINK_OK) {
        return;
    }
    if (n > cap) {
        w->rv = AMK_LINK_ETOOBIG;
        return;
    }
    if (n > 0 && memchr(s, '\0', n) != NULL) {
        w->rv = AMK_LINK_EINVAL;
        return;
    }
    w_uint(w, n, 4);
    uint8_t *at = w_room(w, n);
    if (at != NULL && n > 0) {
        memcpy(at, s, n);
    }
}

static int w_finish(struct writer *w, void **buf, size_t *len)
{
    if (w->rv == AMK_LINK_OK &&
        w->len - AMK_LINK_HEADER_SIZE > amk_link_payload_cap(w->p[5])) {
        w->rv = AMK_LINK_ETOOBIG;
    }
    if (w->rv != AMK_LINK_OK) {
        free(w->p);
        *buf = NULL;
        *len = 0;
        return w->rv;
    }
    store_le(w->p, w->len - 4, 4);
    *buf = w->p;
    *len = w->len;
    return AMK_LINK_OK;
}

int amk_link_encode_propose(uint64_t id, const void *cmd, size_t cmd_len,
                            void **buf, size_t *len)
{
    if (cmd_len == 0 || cmd_len > AMK_CMD_MAX_SIZE) {
        *buf = NULL;
        *len = 0;
        return cmd_len == 0 ? AMK_LINK_EINVAL : AMK_LINK_ETOOBIG;
    }
    struct writer w;
    w_init(&w, AMK_LINK_PROPOSE, id, cmd_len);
    uint8_t *at = w_room(&w, cmd_len);
    if (at != NULL) {
        memcpy(at, cmd, cmd_len);
    }
    return w_finish(&w, buf, len);
}

int amk_link_encode_result(uint64_t id, uint8_t status,
                           const struct amk_sm_result *result,
                           const char *message, void **buf, size_t *len)
{
    struct writer w;
    size_t body_len = 0;
    if (status >= AMK_LINK_STATUS__END ||
        (status == AMK_LINK_STATUS_OK &&
         (result == NULL || result->code < 0 || result->code >= AMK_CODE__N))) {
        *buf = NULL;
        *len = 0;
        return AMK_LINK_EINVAL;
    }
    if (status == AMK_LINK_STATUS_OK && result->body != NULL) {
        body_len = strlen(result->body);
    }
    w_init(&w, AMK_LINK_RESULT, id, 64 + body_len);
    w_uint(&w, status, 1);
    if (status != AMK_LINK_STATUS_OK) {
        const char *m = message != NULL ? message : "";
        size_t n = strlen(m);
        w_str(&w, m, n > AMK_LINK_MESSAGE_MAX ? AMK_LINK_MESSAGE_MAX : n,
              AMK_LINK_MESSAGE_MAX);
        return w_finish(&w, buf, len);
    }
    size_t message_len = strnlen(result->message, sizeof result->message);
    if (message_len > AMK_LINK_MESSAGE_MAX) {
        message_len = AMK_LINK_MESSAGE_MAX;
    }
    w_uint(&w, (uint64_t)result->code, 2);
    w_str(&w, result->message, message_len, AMK_LINK_MESSAGE_MAX);
    w_str(&w, result->owner, strnlen(result->owner, sizeof result->owner),
          AMK_ID_MAX);
    w_uint(&w, result->epoch, 8);
    w_uint(&w, result->version, 8);
    w_uint(&w,
           (result->applied ? 1u : 0u) | (result->replayed ? 2u : 0u) |
               (result->created ? 4u : 0u),
           1);
    w_uint(&w, result->index, 8);
    w_uint(&w, result->body != NULL, 1);
    if (result->body != NULL) {
        w_str(&w, result->body, body_len, AMK_LINK_MAX_PAYLOAD);
    }
    return w_finish(&w, buf, len);
}

int amk_link_encode_read_index(uint64_t id, void **buf, size_t *len)
{
    struct writer w;
    w_init(&w, AMK_LINK_READ_INDEX, id, 0);
    return w_finish(&w, buf, len);
}

int amk_link_encode_index(uint64_t id, uint8_t status, uint64_t index,
                          void **buf, size_t *len)
{
    if (status >= AMK_LINK_STATUS__END) {
        *buf = NULL;
        *len = 0;
        return AMK_LINK_EINVAL;
    }
    struct writer w;
    w_init(&w, AMK_LINK_INDEX, id, 9);
    w_uint(&w, status, 1);
    w_uint(&w, status == AMK_LINK_STATUS_OK ? index : 0, 8);
    return w_finish(&w, buf, len);
}

int amk_link_encode_heartbeat(uint64_t id, const struct amk_link_heartbeat *hb,
                              void **buf, size_t *len)
{
    size_t centre_len = strnlen(hb->centre, sizeof hb->centre);
    if (centre_len == 0 || centre_len > AMK_ID_MAX ||
        strnlen(hb->session, sizeof hb->session) > AMK_ID_MAX) {
        *buf = NULL;
        *len = 0;
        return AMK_LINK_EINVAL;
    }
    struct writer w;
    w_init(&w, AMK_LINK_HEARTBEAT, id, HEARTBEAT_CAP);
    w_str(&w, hb->session, strlen(hb->session), AMK_ID_MAX);
    w_str(&w, hb->centre, centre_len, AMK_ID_MAX);
    w_uint(&w, hb->valid ? 1 : 0, 1);
    return w_finish(&w, buf, len);
}

/* --- Reading: the bounded cursor ------------------------------------------ */

struct cursor {
    const uint8_t *p;
    size_t left;
    size_t offset; /* from the payload start, for messages */
    char *errmsg;
    const char *what; /* "RESULT" */
    int rv;
};

static void c_init(struct cursor *c, const uint8_t *p, size_t len,
                   const char *what, char *errmsg)
{
    c->p = p;
    c->left = len;
    c->offset = 0;
    c->errmsg = errmsg;
    c->what = what;
    c->rv = AMK_LINK_OK;
}

__attribute__((format(printf, 3, 4))) static void
c_fail(struct cursor *c, const char *field, const char *fmt, ...)
{
    if (c->rv != AMK_LINK_OK) {
        return;
    }
    c->rv = AMK_LINK_EPROTO;
    if (c->errmsg != NULL) {
        int n = snprintf(c->errmsg, ERRMSG_SIZE,
                         "%s: %s at offset %zu: ", c->what, field, c->offset);
        if (n > 0 && n < ERRMSG_SIZE) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(c->errmsg + n, ERRMSG_SIZE - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
}

static const uint8_t *c_take(struct cursor *c, size_t n, const char *field)
{
    if (c->rv != AMK_LINK_OK) {
        return NULL;
    }
    if (n > c->left) {
        c_fail(c, field, "truncated (%zu bytes needed, %zu left)", n, c->left);
        return NULL;
    }
    const uint8_t *at = c->p;
    c->p += n;
    c->left -= n;
    c->offset += n;
    return at;
}

static uint64_t c_uint(struct cursor *c, unsigned size, const char *field)
{
    const uint8_t *at = c_take(c, size, field);
    return at != NULL ? load_le(at, size) : 0;
}

/* A str of at most cap bytes, no NUL: *s points into the payload. The
 * length is checked against cap and what is left before it is used. */
static void c_str(struct cursor *c, const char *field, size_t cap,
                  const char **s, size_t *n)
{
    *s = NULL;
    *n = 0;
    uint64_t len = c_uint(c, 4, field);
    if (c->rv != AMK_LINK_OK) {
        return;
    }
    if (len > cap) {
        c_fail(c, field, "%llu bytes over the cap of %zu",
               (unsigned long long)len, cap);
        return;
    }
    const uint8_t *at = c_take(c, (size_t)len, field);
    if (at == NULL) {
        return;
    }
    if (len > 0 && memchr(at, '\0', (size_t)len) != NULL) {
        c_fail(c, field, "contains a NUL byte");
        return;
    }
    *s = (const char *)at;
    *n = (size_t)len;
}

/* A str copied into out (cap + 1 bytes). */
static void c_str_copy(struct cursor *c, const char *field, size_t cap,
                       char *out)
{
    const char *s;
    size_t n;
    c_str(c, field, cap, &s, &n);
    if (c->rv == AMK_LINK_OK) {
        if (n > 0) {
            memcpy(out, s, n);
        }
        out[n] = '\0';
    }
}

static void c_end(struct cursor *c)
{
    if (c->rv == AMK_LINK_OK && c->left != 0) {
        c_fail(c, "end", "%zu trailing bytes", c->left);
    }
}

static uint8_t c_status(struct cursor *c)
{
    uint8_t status = (uint8_t)c_uint(c, 1, "status");
    if (c->rv == AMK_LINK_OK && status >= AMK_LINK_STATUS__END) {
        c_fail(c, "status", "unknown value %u", (unsigned)status);
    }
    return status;
}

int amk_link_decode_result(const uint8_t *payload, size_t len, uint8_t *status,
                           struct amk_sm_result *result, char *message,
                           char *errmsg)
{
    struct cursor c;
    c_init(&c, payload, len, "RESULT", errmsg);
    memset(result, 0, sizeof *result);
    if (message != NULL) {
        message[0] = '\0';
    }
    *status = c_status(&c);
    if (c.rv != AMK_LINK_OK) {
        return c.rv;
    }
    if (*status != AMK_LINK_STATUS_OK) {
        char why[AMK_LINK_MESSAGE_MAX + 1];
        c_str_copy(&c, "message", AMK_LINK_MESSAGE_MAX, why);
        c_end(&c);
        if (c.rv == AMK_LINK_OK && message != NULL) {
            memcpy(message, why, strlen(why) + 1);
        }
        return c.rv;
    }
    uint64_t code = c_uint(&c, 2, "code");
    if (c.rv == AMK_LINK_OK && code >= AMK_CODE__N) {
        c_fail(&c, "code", "unknown value %llu", (unsigned long long)code);
    }
    result->code = (int)code;
    c_str_copy(&c, "message", AMK_LINK_MESSAGE_MAX, result->message);
    c_str_copy(&c, "owner", AMK_ID_MAX, result->owner);
    result->epoch = c_uint(&c, 8, "epoch");
    result->version = c_uint(&c, 8, "version");
    uint64_t flags = c_uint(&c, 1, "flags");
    if (c.rv == AMK_LINK_OK && (flags & ~UINT64_C(7)) != 0) {
        c_fail(&c, "flags", "unknown bits 0x%02llx", (unsigned long long)flags);
    }
    result->applied = (flags & 1) != 0;
    result->replayed = (flags & 2) != 0;
    result->created = (flags & 4) != 0;
    result->index = c_uint(&c, 8, "index");
    uint64_t has_body = c_uint(&c, 1, "has_body");
    if (c.rv == AMK_LINK_OK && has_body > 1) {
        c_fail(&c, "has_body", "not 0 or 1");
    }
    const char *body = NULL;
    size_t body_len = 0;
    if (has_body == 1) {
        c_str(&c, "body", AMK_LINK_MAX_PAYLOAD, &body, &body_len);
    }
    c_end(&c);
    if (c.rv != AMK_LINK_OK) {
        memset(result, 0, sizeof *result);
        return c.rv;
    }
    if (has_body == 1) {
        /* Bounded: body_len was checked against what the payload holds. */
        result->body = malloc(body_len + 1);
        if (result->body == NULL) {
            memset(result, 0, sizeof *result);
            return fail(errmsg, AMK_LINK_ENOMEM, "RESULT: body: out of memory");
        }
        if (body_len > 0) {
            memcpy(result->body, body, body_len);
        }
        result->body[body_len] = '\0';
    }
    return AMK_LINK_OK;
}

int amk_link_decode_index(const uint8_t *payload, size_t len, uint8_t *status,
                          uint64_t *index, char *errmsg)
{
    struct cursor c;
    c_init(&c, payload, len, "INDEX", errmsg);
    *status = c_status(&c);
    *index = c_uint(&c, 8, "index");
    if (c.rv == AMK_LINK_OK && *status != AMK_LINK_STATUS_OK && *index != 0) {
        c_fail(&c, "index", "set on a failed answer");
    }
    c_end(&c);
    if (c.rv != AMK_LINK_OK) {
        *index = 0;
    }
    return c.rv;
}

int amk_link_decode_heartbeat(const uint8_t *payload, size_t len,
                              struct amk_link_heartbeat *hb, char *errmsg)
{
    struct cursor c;
    c_init(&c, payload, len, "HEARTBEAT", errmsg);
    memset(hb, 0, sizeof *hb);
    c_str_copy(&c, "session", AMK_ID_MAX, hb->session);
    c_str_copy(&c, "centre", AMK_ID_MAX, hb->centre);
    if (c.rv == AMK_LINK_OK && hb->centre[0] == '\0') {
        c_fail(&c, "centre", "empty");
    }
    uint64_t valid = c_uint(&c, 1, "valid");
    if (c.rv == AMK_LINK_OK && valid > 1) {
        c_fail(&c, "valid", "not 0 or 1");
    }
    hb->valid = valid == 1;
    c_end(&c);
    if (c.rv != AMK_LINK_OK) {
        memset(hb, 0, sizeof *hb);
    }
    return c.rv;
}

/* --- Addresses ----------------------------------------------------------- */

int amk_link_parse_address(const char *address, bool allow_port_zero,
                           struct sockaddr_storage *out)
{
    char host[64];
    const char *colon;
    memset(out, 0, sizeof *out);
    if (address == NULL) {
        return AMK_LINK_EINVAL;
    }
    if (address[0] == '[') {
        const char *close = strchr(address, ']');
        if (close == NULL || close[1] != ':' ||
            (size_t)(close - address - 1) >= sizeof host) {
            return AMK_LINK_EINVAL;
        }
        memcpy(host, address + 1, (size_t)(close - address - 1));
        host[close - address - 1] = '\0';
        colon = close + 1;
    } else {
        colon = strrchr(address, ':');
        if (colon == NULL || (size_t)(colon - address) >= sizeof host) {
            return AMK_LINK_EINVAL;
        }
        memcpy(host, address, (size_t)(colon - address));
        host[colon - address] = '\0';
        if (strchr(host, ':') != NULL) {
            return AMK_LINK_EINVAL; /* IPv6 needs brackets */
        }
    }
    const char *port_text = colon + 1;
    if (*port_text == '\0' || strlen(port_text) > 5) {
        return AMK_LINK_EINVAL;
    }
    unsigned port = 0;
    for (const char *p = port_text; *p != '\0'; p++) {
        if (*p < '0' || *p > '9') {
            return AMK_LINK_EINVAL;
        }
        port = port * 10 + (unsigned)(*p - '0');
    }
    if (port > 65535 || (port == 0 && !allow_port_zero)) {
        return AMK_LINK_EINVAL;
    }
    if (address[0] == '[') {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)out;
        if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1) {
            return AMK_LINK_EINVAL;
        }
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        return AMK_LINK_OK;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)out;
    if (inet_pton(AF_INET, host, &a4->sin_addr) != 1) {
        return AMK_LINK_EINVAL;
    }
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    return AMK_LINK_OK;
}
