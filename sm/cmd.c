/* sm/cmd.c: the command codec (wire format in cmd.h). One field table per
 * command type (sm/cmd_table.c) drives amk_cmd_init, amk_cmd_encode and
 * amk_cmd_decode, so the two directions cannot drift apart; decoding reads
 * through a bounds-checked cursor, accepts only the one canonical encoding
 * and never allocates. */
#include "cmd.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_int.h"
#include "error.h"

/* Internal: amk_cmd_encode with the allocator passed in, so tests can inject
 * allocation failures without a global hook. Only tests/unit/sm/test_cmd.c
 * calls it (it repeats this prototype). */
int cmd__encode(const struct amk_cmd *cmd, void **buf, size_t *len,
                char *errmsg, void *(*realloc_fn)(void *, size_t));

#define ERRMSG_SIZE 256 /* callers' errmsg buffers (STYLE.md) */

/* The fixed part of the header, which peek and stamp address directly. */
#define OFF_FORMAT        0
#define OFF_TYPE          1
#define OFF_TYPE_VERSION  3
#define OFF_TERM          4
#define OFF_TIMESTAMP     12
#define OFF_IF_MATCH      20
#define FIXED_HEADER_SIZE (OFF_IF_MATCH + 8)

/* --- Little-endian bytes ------------------------------------------------ */

static uint64_t load_le(const uint8_t *p, unsigned size)
{
    uint64_t v = 0;
    unsigned i;
    for (i = 0; i < size; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

static void store_le(uint8_t *p, uint64_t v, unsigned size)
{
    unsigned i;
    for (i = 0; i < size; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

/* Two's complement without relying on implementation-defined conversions. */
static int32_t i32_of(uint32_t u)
{
    return u <= INT32_MAX ? (int32_t)u : -(int32_t)(UINT32_MAX - u) - 1;
}

static int64_t i64_of(uint64_t u)
{
    return u <= INT64_MAX ? (int64_t)u : -(int64_t)(UINT64_MAX - u) - 1;
}

static uint64_t f64_bits(double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits); /* IEEE-754 binary64 assumed */
    return bits;
}

static double f64_of(uint64_t bits)
{
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

/* --- Messages ----------------------------------------------------------- */

/* Where a field sits, for messages: "incident.create: patients[2].age: ". */
struct where {
    char *errmsg; /* ERRMSG_SIZE bytes, or NULL */
    const char *cmd;
    const char *prefix; /* "" or "patients[2]." */
};

static int vfail(const struct where *w, int code, const char *field,
                 const char *fmt, va_list ap)
{
    int n;
    if (w->errmsg == NULL) {
        return code;
    }
    if (field != NULL) {
        n = snprintf(w->errmsg, ERRMSG_SIZE, "%s: %s%s: ", w->cmd, w->prefix,
                     field);
    } else {
        n = snprintf(w->errmsg, ERRMSG_SIZE, "%s: ", w->cmd);
    }
    if (n >= 0 && n < ERRMSG_SIZE) {
        vsnprintf(w->errmsg + n, ERRMSG_SIZE - (size_t)n, fmt, ap);
    }
    return code;
}

__attribute__((format(printf, 3, 4))) static int
fail(const struct where *w, const char *field, const char *fmt, ...)
{
    va_list ap;
    int rv;
    va_start(ap, fmt);
    rv = vfail(w, AMK_EINVALID, field, fmt, ap);
    va_end(ap);
    return rv;
}

__attribute__((format(printf, 3, 4))) static int
fail_code(const struct where *w, int code, const char *fmt, ...)
{
    va_list ap;
    int rv;
    va_start(ap, fmt);
    rv = vfail(w, code, NULL, fmt, ap);
    va_end(ap);
    return rv;
}

/* The name of list element i ("backups[3]"), in buf. */
static const char *item_name(char *buf, size_t size, const char *list,
                             uint32_t i)
{
    snprintf(buf, size, "%s[%" PRIu32 "]", list, i);
    return buf;
}

/* --- Strings ------------------------------------------------------------ */

enum { UTF8_OK = 0, UTF8_BAD, UTF8_NUL };

/* Checks that p[0..n) is UTF-8 as RFC 3629 defines it (no overlong forms,
 * no surrogates, nothing above U+10FFFF) with no NUL; *at is the offset of
 * the first offending byte. */
static int utf8_check(const uint8_t *p, size_t n, size_t *at)
{
    size_t i = 0;
    while (i < n) {
        uint8_t b = p[i];
        uint8_t lo = 0x80, hi = 0xBF; /* range of the second byte */
        size_t need, k;

        *at = i;
        if (b == 0) {
            return UTF8_NUL;
        }
        if (b < 0x80) {
            i++;
            continue;
        }
        if (b >= 0xC2 && b <= 0xDF) {
            need = 1;
        } else if (b >= 0xE0 && b <= 0xEF) {
            need = 2;
            if (b == 0xE0) {
                lo = 0xA0; /* overlong */
            } else if (b == 0xED) {
                hi = 0x9F; /* U+D800..U+DFFF surrogates */
            }
        } else if (b >= 0xF0 && b <= 0xF4) {
            need = 3;
            if (b == 0xF0) {
                lo = 0x90; /* overlong */
            } else if (b == 0xF4) {
                hi = 0x8F; /* above U+10FFFF */
            }
        } else {
            return UTF8_BAD; /* continuation, C0/C1 overlong, F5..FF */
        }
        if (n - i <= need) {
            return UTF8_BAD; /* sequence cut by the end of the string */
        }
        if (p[i + 1] < lo || p[i + 1] > hi) {
            return UTF8_BAD;
        }
        for (k = 2; k <= need; k++) {
            if ((p[i + k] & 0xC0) != 0x80) {
                return UTF8_BAD;
            }
        }
        i += need + 1;
    }
    return UTF8_OK;
}

/* Checks a present string's length and content; base_offset locates its
 * first byte in messages (decode), or is ignored (encode: SIZE_MAX). */
static int check_str(const struct where *w, const char *name, const char *ptr,
                     uint32_t len, uint32_t cap, size_t base_offset)
{
    size_t at;
    int rv;

    if (len > cap) {
        return fail(w, name, "%" PRIu32 " bytes, at most %" PRIu32, len, cap);
    }
    rv = utf8_check((const uint8_t *)ptr, len, &at);
    if (rv == UTF8_OK) {
        return 0;
    }
    if (base_offset != SIZE_MAX) {
        at += base_offset;
    }
    return fail(w, name, "%s at %s %zu",
                rv == UTF8_NUL ? "NUL byte" : "invalid UTF-8",
                base_offset != SIZE_MAX ? "offset" : "byte", at);
}

/* --- Encoding ----------------------------------------------------------- */

struct wbuf {
    uint8_t *data;
    size_t len;
    size_t cap;
    int rv; /* sticky AMK_ENOMEM / AMK_ETOOLARGE, reported once at the end */
    void *(*realloc_fn)(void *, size_t);
};

static void put(struct wbuf *w, const void *bytes, size_t n)
{
    size_t cap;
    uint8_t *data;

    if (w->rv != 0 || n == 0) {
        return;
    }
    if (n > AMK_CMD_MAX_SIZE - w->len) {
        w->rv = AMK_ETOOLARGE;
        return;
    }
    if (n > w->cap - w->len) {
        cap = w->cap != 0 ? w->cap : 256;
        while (cap - w->len < n) {
            cap *= 2; /* w->len + n <= AMK_CMD_MAX_SIZE: cannot overflow */
        }
        data = w->realloc_fn(w->data, cap);
        if (data == NULL) {
            w->rv = AMK_ENOMEM;
            return;
        }
        w->data = data;
        w->cap = cap;
    }
    memcpy(w->data + w->len, bytes, n);
    w->len += n;
}

static void put_le(struct wbuf *w, uint64_t v, unsigned size)
{
    uint8_t bytes[8];
    store_le(bytes, v, size);
    put(w, bytes, size);
}

static void put_str(struct wbuf *w, const char *ptr, uint32_t len)
{
    put_le(w, len, 4);
    put(w, ptr, len);
}

#define AT(base, f, T)   ((T *)((char *)(base) + (f)->offset))
#define AT_C(base, f, T) ((const T *)((const char *)(base) + (f)->offset))
#define ITEMS_C(base, f) ((const char *)(base) + (f)->items)
#define ITEMS(base, f)   ((char *)(base) + (f)->items)

static bool is_absent(const struct field *f, const void *base)
{
    switch (f->type) {
        case FT_STR:
            return AT_C(base, f, struct amk_str)->ptr == NULL;
        case FT_ENUM:
        case FT_BOOL:
            return *AT_C(base, f, uint8_t) == AMK_ENUM_NONE;
        case FT_I32:
            return *AT_C(base, f, int32_t) == INT32_MIN;
        case FT_I64:
            return *AT_C(base, f, int64_t) == INT64_MIN;
        case FT_F64:
            return isnan(*AT_C(base, f, double));
        case FT_STR_LIST:
        case FT_STRUCT_LIST:
            return *AT_C(base, f, uint32_t) == AMK_CMD_ABSENT;
    }
    return true;
}

static int encode_fields(struct wbuf *w, const struct field *fields, unsigned n,
                         const void *base, const struct where *where);

/* Validates and writes a string that must be present (a list element). */
static int encode_item_str(struct wbuf *w, const struct amk_str *s,
                           const char *name, uint32_t cap,
                           const struct where *where)
{
    int rv;
    if (s->ptr == NULL) {
        return fail(where, name, "absent inside a list");
    }
    rv = check_str(where, name, s->ptr, s->len, cap, SIZE_MAX);
    if (rv != 0) {
        return rv;
    }
    put_str(w, s->ptr, s->len);
    return 0;
}

static int encode_value(struct wbuf *w, const struct field *f, const void *base,
                        const struct where *where)
{
    char name[48], prefix[48];
    uint32_t count, i;
    uint8_t u8;
    double d;
    int rv;

    switch (f->type) {
        case FT_STR:
            return encode_item_str(w, AT_C(base, f, struct amk_str), f->name,
                                   f->cap, where);
        case FT_ENUM:
            u8 = *AT_C(base, f, uint8_t);
            if (u8 >= amk_enum_count((enum amk_enum_kind)f->cap)) {
                return fail(where, f->name, "%u is not one of %s", u8,
                            amk_enum_choices((enum amk_enum_kind)f->cap));
            }
            put_le(w, u8, 1);
            return 0;
        case FT_BOOL:
            u8 = *AT_C(base, f, uint8_t);
            if (u8 > 1) {
                return fail(where, f->name, "%u is not a boolean (0 or 1)", u8);
            }
            put_le(w, u8, 1);
            return 0;
        case FT_I32:
            put_le(w, (uint32_t)*AT_C(base, f, int32_t), 4);
            return 0;
        case FT_I64:
            put_le(w, (uint64_t)*AT_C(base, f, int64_t), 8);
            return 0;
        case FT_F64:
            d = *AT_C(base, f, double);
            if (!isfinite(d)) {
                return fail(where, f->name, "not a finite number");
            }
            put_le(w, f64_bits(d), 8);
            return 0;
        case FT_STR_LIST:
            count = *AT_C(base, f, uint32_t);
            if (count > f->cap) {
                return fail(where, f->name,
                            "%" PRIu32 " elements, at most %" PRIu32, count,
                            f->cap);
            }
            put_le(w, count, 4);
            for (i = 0; i < count; i++) {
                rv = encode_item_str(
                    w, (const struct amk_str *)ITEMS_C(base, f) + i,
                    item_name(name, sizeof name, f->name, i), f->item_cap,
                    where);
                if (rv != 0) {
                    return rv;
                }
            }
            return 0;
        case FT_STRUCT_LIST:
            count = *AT_C(base, f, uint32_t);
            if (count > f->cap) {
                return fail(where, f->name,
                            "%" PRIu32 " elements, at most %" PRIu32, count,
                            f->cap);
            }
            put_le(w, count, 4);
            for (i = 0; i < count; i++) {
                struct where inner = *where;
                snprintf(prefix, sizeof prefix, "%s%s[%" PRIu32 "].",
                         where->prefix, f->name, i);
                inner.prefix = prefix;
                rv = encode_fields(w, f->sub->fields, f->sub->n,
                                   ITEMS_C(base, f) + i * f->sub->elem_size,
                                   &inner);
                if (rv != 0) {
                    return rv;
                }
            }
            return 0;
    }
    return fail(where, f->name, "unknown field type");
}

/* Writes the present mask, then every present field in table order. */
static int encode_fields(struct wbuf *w, const struct field *fields, unsigned n,
                         const void *base, const struct where *where)
{
    uint64_t present = 0;
    unsigned i;
    int rv;

    for (i = 0; i < n; i++) {
        if (!is_absent(&fields[i], base)) {
            present |= UINT64_C(1) << i;
        } else if (fields[i].flags & F_REQUIRED) {
            return fail(where, fields[i].name, "required field missing");
        }
    }
    put_le(w, present, 8);
    for (i = 0; i < n; i++) {
        if (present & (UINT64_C(1) << i)) {
            rv = encode_value(w, &fields[i], base, where);
            if (rv != 0) {
                return rv;
            }
        }
    }
    return 0;
}

/* Header strings are always on the wire; NULL encodes as empty. */
static int encode_header_str(struct wbuf *w, const struct amk_str *s,
                             const char *name, uint32_t cap,
                             const struct where *where)
{
    int rv;
    if (s->ptr == NULL) {
        if (s->len != 0) {
            return fail(where, name, "NULL with length %" PRIu32, s->len);
        }
        put_str(w, "", 0);
        return 0;
    }
    rv = check_str(where, name, s->ptr, s->len, cap, SIZE_MAX);
    if (rv == 0) {
        put_str(w, s->ptr, s->len);
    }
    return rv;
}

static int encode_header(struct wbuf *w, const struct amk_cmd_header *h,
                         const struct cmd_def *def, const struct where *where)
{
    int rv;

    if (h->format != AMK_CMD_FORMAT) {
        return fail(where, "format", "%u, only %u is supported", h->format,
                    AMK_CMD_FORMAT);
    }
    if (h->type_version != def->version) {
        return fail(where, "type_version", "%u, only %u is supported",
                    h->type_version, def->version);
    }
    if (h->role >= amk_enum_count(AMK_ENUM_ROLE)) {
        return fail(where, "role", "%u is not one of %s", h->role,
                    amk_enum_choices(AMK_ENUM_ROLE));
    }
    put_le(w, h->format, 1);
    put_le(w, h->type, 2);
    put_le(w, h->type_version, 1);
    put_le(w, h->term, 8);
    put_le(w, (uint64_t)h->timestamp_ms, 8);
    put_le(w, h->if_match, 8);
    if ((rv = encode_header_str(w, &h->idem_key, "idem_key", AMK_IDEM_KEY_MAX,
                                where)) != 0 ||
        (rv = encode_header_str(w, &h->principal, "principal", CAP_PRINCIPAL,
                                where)) != 0) {
        return rv;
    }
    put_le(w, h->role, 1);
    if ((rv = encode_header_str(w, &h->session, "session", CAP_ID, where)) !=
            0 ||
        (rv = encode_header_str(w, &h->centre, "centre", CAP_ID, where)) != 0) {
        return rv;
    }
    put_le(w, h->epoch, 8);
    return 0;
}

int cmd__encode(const struct amk_cmd *cmd, void **buf, size_t *len,
                char *errmsg, void *(*realloc_fn)(void *, size_t))
{
    const struct cmd_def *def = cmd__def(cmd->h.type);
    struct wbuf w = {NULL, 0, 0, 0, realloc_fn};
    struct where where = {errmsg, "header", ""};
    int rv;

    if (def == NULL) {
        return fail(&where, "type", "unknown command type %u", cmd->h.type);
    }
    rv = encode_header(&w, &cmd->h, def, &where);
    if (rv == 0) {
        where.cmd = def->name;
        rv = encode_fields(&w, def->fields, def->n, &cmd->u, &where);
    }
    if (rv == 0 && w.rv == AMK_ENOMEM) {
        rv = fail_code(&where, AMK_ENOMEM, "out of memory");
    } else if (rv == 0 && w.rv == AMK_ETOOLARGE) {
        rv = fail_code(&where, AMK_ETOOLARGE, "encoded size over %u bytes",
                       AMK_CMD_MAX_SIZE);
    }
    if (rv != 0) {
        free(w.data);
        return rv;
    }
    *buf = w.data;
    *len = w.len;
    return 0;
}

int amk_cmd_encode(const struct amk_cmd *cmd, void **buf, size_t *len,
                   char *errmsg)
{
    return cmd__encode(cmd, buf, len, errmsg, realloc);
}

/* --- Decoding ----------------------------------------------------------- */

/* Every read checks the remaining length first (dqlite's struct cursor). */
struct cursor {
    const uint8_t *p;
    size_t remaining;
    const uint8_t *start; /* for offsets in messages */
};

static size_t cursor_offset(const struct cursor *c)
{
    return (size_t)(c->p - c->start);
}

static int get_bytes(struct cursor *c, size_t n, const uint8_t **out)
{
    if (c->remaining < n) {
        return -1;
    }
    *out = c->p;
    c->p += n;
    c->remaining -= n;
    return 0;
}

static int get_le(struct cursor *c, unsigned size, uint64_t *v)
{
    const uint8_t *p;
    if (get_bytes(c, size, &p) != 0) {
        return -1;
    }
    *v = load_le(p, size);
    return 0;
}

/* Reads a little-endian integer of `size` bytes for field `name`. */
static int read_le(struct cursor *c, unsigned size, uint64_t *v,
                   const char *name, const struct where *where)
{
    size_t offset = cursor_offset(c);
    if (get_le(c, size, v) != 0) {
        return fail(where, name,
                    "truncated at offset %zu (%u bytes needed, %zu left)",
                    offset, size, c->remaining);
    }
    return 0;
}

static int read_str(struct cursor *c, struct amk_str *s, const char *name,
                    uint32_t cap, const struct where *where)
{
    const uint8_t *bytes;
    uint64_t len;
    size_t offset;
    int rv;

    if ((rv = read_le(c, 4, &len, name, where)) != 0) {
        return rv;
    }
    offset = cursor_offset(c);
    if (len > cap) { /* before looking at the bytes */
        return fail(where, name,
                    "length %" PRIu64 " at offset %zu, at most %" PRIu32, len,
                    offset - 4, cap);
    }
    if (get_bytes(c, (size_t)len, &bytes) != 0) {
        return fail(where, name,
                    "truncated at offset %zu (%" PRIu64
                    " bytes needed, %zu left)",
                    offset, len, c->remaining);
    }
    rv =
        check_str(where, name, (const char *)bytes, (uint32_t)len, cap, offset);
    if (rv != 0) {
        return rv;
    }
    s->ptr = (const char *)bytes;
    s->len = (uint32_t)len;
    return 0;
}

static int decode_fields(struct cursor *c, const struct field *fields,
                         unsigned n, void *base, uint64_t *present_out,
                         const struct where *where);

static int read_count(struct cursor *c, const struct field *f, uint32_t *count,
                      const struct where *where)
{
    size_t offset = cursor_offset(c);
    uint64_t v;
    int rv;

    if ((rv = read_le(c, 4, &v, f->name, where)) != 0) {
        return rv;
    }
    /* Capped before any element is read: a claimed count costs nothing. */
    if (v > f->cap) {
        return fail(where, f->name,
                    "count %" PRIu64 " at offset %zu, at most %" PRIu32, v,
                    offset, f->cap);
    }
    *count = (uint32_t)v;
    return 0;
}

static int decode_value(struct cursor *c, const struct field *f, void *base,
                        const struct where *where)
{
    char name[48], prefix[48];
    uint32_t count, i;
    size_t offset = cursor_offset(c);
    uint64_t v;
    double d;
    int rv;

    switch (f->type) {
        case FT_STR:
            return read_str(c, AT(base, f, struct amk_str), f->name, f->cap,
                            where);
        case FT_ENUM:
            if ((rv = read_le(c, 1, &v, f->name, where)) != 0) {
                return rv;
            }
            if (v >= amk_enum_count((enum amk_enum_kind)f->cap)) {
                return fail(where, f->name,
                            "%" PRIu64 " at offset %zu is not one of %s", v,
                            offset,
                            amk_enum_choices((enum amk_enum_kind)f->cap));
            }
            *AT(base, f, uint8_t) = (uint8_t)v;
            return 0;
        case FT_BOOL:
            if ((rv = read_le(c, 1, &v, f->name, where)) != 0) {
                return rv;
            }
            if (v > 1) {
                return fail(where, f->name,
                            "%" PRIu64 " at offset %zu is not a boolean", v,
                            offset);
            }
            *AT(base, f, uint8_t) = (uint8_t)v;
            return 0;
        case FT_I32:
            if ((rv = read_le(c, 4, &v, f->name, where)) != 0) {
                return rv;
            }
            /* The absent marker cannot be sent as a value: it would decode
             * as absent and re-encode differently. */
            if (i32_of((uint32_t)v) == INT32_MIN) {
                return fail(where, f->name,
                            "INT32_MIN at offset %zu is reserved", offset);
            }
            *AT(base, f, int32_t) = i32_of((uint32_t)v);
            return 0;
        case FT_I64:
            if ((rv = read_le(c, 8, &v, f->name, where)) != 0) {
                return rv;
            }
            if (i64_of(v) == INT64_MIN) {
                return fail(where, f->name,
                            "INT64_MIN at offset %zu is reserved", offset);
            }
            *AT(base, f, int64_t) = i64_of(v);
            return 0;
        case FT_F64:
            if ((rv = read_le(c, 8, &v, f->name, where)) != 0) {
                return rv;
            }
            d = f64_of(v);
            if (!isfinite(d)) {
                return fail(where, f->name, "not a finite number at offset %zu",
                            offset);
            }
            *AT(base, f, double) = d;
            return 0;
        case FT_STR_LIST:
            if ((rv = read_count(c, f, &count, where)) != 0) {
                return rv;
            }
            for (i = 0; i < count; i++) {
                rv = read_str(c, (struct amk_str *)ITEMS(base, f) + i,
                              item_name(name, sizeof name, f->name, i),
                              f->item_cap, where);
                if (rv != 0) {
                    return rv;
                }
            }
            *AT(base, f, uint32_t) = count;
            return 0;
        case FT_STRUCT_LIST:
            if ((rv = read_count(c, f, &count, where)) != 0) {
                return rv;
            }
            for (i = 0; i < count; i++) {
                struct where inner = *where;
                snprintf(prefix, sizeof prefix, "%s%s[%" PRIu32 "].",
                         where->prefix, f->name, i);
                inner.prefix = prefix;
                rv = decode_fields(c, f->sub->fields, f->sub->n,
                                   ITEMS(base, f) + i * f->sub->elem_size, NULL,
                                   &inner);
                if (rv != 0) {
                    return rv;
                }
            }
            *AT(base, f, uint32_t) = count;
            return 0;
    }
    return fail(where, f->name, "unknown field type");
}

/* Reads a present mask and the fields it names into base, which holds
 * every field absent. */
static int decode_fields(struct cursor *c, const struct field *fields,
                         unsigned n, void *base, uint64_t *present_out,
                         const struct where *where)
{
    size_t offset = cursor_offset(c);
    uint64_t present, unknown;
    unsigned i;
    int rv;

    if ((rv = read_le(c, 8, &present, "present", where)) != 0) {
        return rv;
    }
    unknown = n < 64 ? present >> n : 0;
    if (unknown != 0) {
        for (i = n; (unknown & 1) == 0; i++) {
            unknown >>= 1;
        }
        return fail(where, "present",
                    "bit %u at offset %zu names no field (%u known)", i, offset,
                    n);
    }
    for (i = 0; i < n; i++) {
        if (!(present & (UINT64_C(1) << i)) && (fields[i].flags & F_REQUIRED)) {
            return fail(where, fields[i].name, "required field missing");
        }
    }
    for (i = 0; i < n; i++) {
        if (present & (UINT64_C(1) << i)) {
            rv = decode_value(c, &fields[i], base, where);
            if (rv != 0) {
                return rv;
            }
        }
    }
    if (present_out != NULL) {
        *present_out = present;
    }
    return 0;
}

static int decode_header(struct cursor *c, struct amk_cmd *cmd,
                         const struct cmd_def **def_out,
                         const struct where *where)
{
    struct amk_cmd_header *h = &cmd->h;
    const struct cmd_def *def;
    uint64_t format, type, version, term, timestamp, if_match, role;
    int rv;

    if ((rv = read_le(c, 1, &format, "format", where)) != 0) {
        return rv;
    }
    if (format != AMK_CMD_FORMAT) {
        return fail(where, "format", "%" PRIu64 ", only %u is supported",
                    format, AMK_CMD_FORMAT);
    }
    if ((rv = read_le(c, 2, &type, "type", where)) != 0) {
        return rv;
    }
    def = cmd__def((uint16_t)type);
    if (def == NULL) {
        return fail(where, "type", "unknown command type %" PRIu64, type);
    }
    if ((rv = read_le(c, 1, &version, "type_version", where)) != 0) {
        return rv;
    }
    if (version != def->version) {
        return fail(where, "type_version",
                    "%s version %" PRIu64 ", only %u is supported", def->name,
                    version, def->version);
    }
    amk_cmd_init(cmd, (uint16_t)type); /* every body field absent */
    if ((rv = read_le(c, 8, &term, "term", where)) != 0 ||
        (rv = read_le(c, 8, &timestamp, "timestamp_ms", where)) != 0 ||
        (rv = read_le(c, 8, &if_match, "if_match", where)) != 0 ||
        (rv = read_str(c, &h->idem_key, "idem_key", AMK_IDEM_KEY_MAX, where)) !=
            0 ||
        (rv = read_str(c, &h->principal, "principal", CAP_PRINCIPAL, where)) !=
            0 ||
        (rv = read_le(c, 1, &role, "role", where)) != 0) {
        return rv;
    }
    if (role >= amk_enum_count(AMK_ENUM_ROLE)) {
        return fail(where, "role", "%" PRIu64 " is not one of %s", role,
                    amk_enum_choices(AMK_ENUM_ROLE));
    }
    if ((rv = read_str(c, &h->session, "session", CAP_ID, where)) != 0 ||
        (rv = read_str(c, &h->centre, "centre", CAP_ID, where)) != 0 ||
        (rv = read_le(c, 8, &h->epoch, "epoch", where)) != 0) {
        return rv;
    }
    h->term = term;
    h->timestamp_ms = i64_of(timestamp);
    h->if_match = if_match;
    h->role = (uint8_t)role;
    *def_out = def;
    return 0;
}

/* canonical/raft stores entries whose length is a multiple of 8, so the
 * proposer pads a command with zero bytes: up to 7 of them, making the whole
 * a multiple of 8, are padding, not trailing garbage. */
static bool is_raft_padding(const struct cursor *c, size_t len)
{
    if (c->remaining > 7 || len % 8 != 0) {
        return false;
    }
    for (size_t i = 0; i < c->remaining; i++) {
        if (c->p[i] != 0) {
            return false;
        }
    }
    return true;
}

int amk_cmd_decode(const void *buf, size_t len, struct amk_cmd *cmd,
                   char *errmsg)
{
    struct amk_cmd decoded; /* cmd changes only on success */
    struct cursor c = {buf, buf != NULL ? len : 0, buf};
    struct where where = {errmsg, "header", ""};
    const struct cmd_def *def = NULL;
    int rv;

    if (len > AMK_CMD_MAX_SIZE) {
        where.cmd = "command";
        return fail_code(&where, AMK_ETOOLARGE, "%zu bytes, at most %u", len,
                         AMK_CMD_MAX_SIZE);
    }
    rv = decode_header(&c, &decoded, &def, &where);
    if (rv != 0) {
        return rv;
    }
    where.cmd = def->name;
    rv = decode_fields(&c, def->fields, def->n, &decoded.u, &decoded.present,
                       &where);
    if (rv != 0) {
        return rv;
    }
    if (c.remaining != 0 && !is_raft_padding(&c, len)) {
        return fail_code(&where, AMK_EINVALID,
                         "%zu trailing bytes at offset %zu", c.remaining,
                         cursor_offset(&c));
    }
    *cmd = decoded;
    return 0;
}

/* --- Init, names, peek, stamp ------------------------------------------- */

static void set_absent(const struct field *fields, unsigned n, void *base)
{
    unsigned i;
    uint32_t j;

    for (i = 0; i < n; i++) {
        const struct field *f = &fields[i];
        switch (f->type) {
            case FT_STR:
                *AT(base, f, struct amk_str) = (struct amk_str){NULL, 0};
                break;
            case FT_ENUM:
            case FT_BOOL:
                *AT(base, f, uint8_t) = AMK_ENUM_NONE;
                break;
            case FT_I32:
                *AT(base, f, int32_t) = INT32_MIN;
                break;
            case FT_I64:
                *AT(base, f, int64_t) = INT64_MIN;
                break;
            case FT_F64:
                *AT(base, f, double) = NAN;
                break;
            case FT_STR_LIST:
                *AT(base, f, uint32_t) = AMK_CMD_ABSENT;
                for (j = 0; j < f->cap; j++) {
                    ((struct amk_str *)ITEMS(base, f))[j] =
                        (struct amk_str){NULL, 0};
                }
                break;
            case FT_STRUCT_LIST:
                *AT(base, f, uint32_t) = AMK_CMD_ABSENT;
                for (j = 0; j < f->cap; j++) {
                    set_absent(f->sub->fields, f->sub->n,
                               ITEMS(base, f) + j * f->sub->elem_size);
                }
                break;
        }
    }
}

int amk_cmd_init(struct amk_cmd *cmd, uint16_t type)
{
    const struct cmd_def *def = cmd__def(type);

    if (def == NULL) {
        return AMK_EINVALID;
    }
    memset(cmd, 0, sizeof *cmd);
    cmd->h.format = AMK_CMD_FORMAT;
    cmd->h.type = type;
    cmd->h.type_version = def->version;
    set_absent(def->fields, def->n, &cmd->u);
    return 0;
}

const char *amk_cmd_name(uint16_t type)
{
    const struct cmd_def *def = cmd__def(type);
    return def != NULL ? def->name : NULL;
}

int amk_cmd_peek(const void *buf, size_t len, uint64_t *term, uint16_t *type)
{
    const uint8_t *p = buf;
    uint16_t t;

    if (p == NULL || len < OFF_TERM + 8 || p[OFF_FORMAT] != AMK_CMD_FORMAT) {
        return AMK_EINVALID;
    }
    t = (uint16_t)load_le(p + OFF_TYPE, 2);
    if (cmd__def(t) == NULL) {
        return AMK_EINVALID;
    }
    if (term != NULL) {
        *term = load_le(p + OFF_TERM, 8);
    }
    if (type != NULL) {
        *type = t;
    }
    return 0;
}

int amk_cmd_stamp(void *buf, size_t len, uint64_t term, int64_t timestamp_ms)
{
    uint8_t *p = buf;

    if (len < FIXED_HEADER_SIZE || amk_cmd_peek(buf, len, NULL, NULL) != 0) {
        return AMK_EINVALID;
    }
    store_le(p + OFF_TERM, term, 8);
    store_le(p + OFF_TIMESTAMP, (uint64_t)timestamp_ms, 8);
    return 0;
}

struct amk_str amk_str_c(const char *s)
{
    struct amk_str str = {NULL, 0};
    if (s != NULL) {
        str.ptr = s;
        str.len = (uint32_t)strlen(s);
    }
    return str;
}
