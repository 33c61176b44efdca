/* sm/json.h: the state machine's JSON writer: a growing buffer and the few
 * value kinds objects and events need. Internal to sm/. Output is
 * deterministic. Text reaching it came through the codec (valid UTF-8, no
 * NUL), so only quotes, backslashes and control characters are escaped. */
#ifndef AMK_SM_JSON_H
#define AMK_SM_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct sm_json {
    char *ptr; /* malloc'd, NUL-terminated at len */
    size_t len, cap;
    bool failed; /* an allocation failed: the text is incomplete */
};

/* Appends n bytes: inline when they fit, which is nearly always (objects
 * are rendered field by field, so this runs a few dozen times per object). */
void sm_json_add_grow(struct sm_json *o, const char *s, size_t n);
static inline void sm_json_add(struct sm_json *o, const char *s, size_t n)
{
    if (o->len + n >= o->cap || o->failed) {
        sm_json_add_grow(o, s, n);
        return;
    }
    memcpy(o->ptr + o->len, s, n);
    o->len += n;
    o->ptr[o->len] = '\0';
}
void sm_json_lit(struct sm_json *o, const char *s);
/* A JSON string of n bytes of text. */
void sm_json_str(struct sm_json *o, const char *s, size_t n);
/* ,"name": (no comma before the first key of an object: *first). */
void sm_json_key(struct sm_json *o, bool *first, const char *name);
/* The same for a string literal `name`, its text and length known at
 * compile time: renderers write a few dozen keys per object. */
#define SM_JSON_KEY(o, first, name)                                            \
    sm_json_key_text((o), (first),                                             \
                     ",\"" name "\":", sizeof(",\"" name "\":") - 1)
static inline void sm_json_key_text(struct sm_json *o, bool *first,
                                    const char *text, size_t n)
{
    if (*first) {
        *first = false;
        text++;
        n--;
    }
    sm_json_add(o, text, n);
}
void sm_json_int(struct sm_json *o, int64_t v);
/* 15 significant digits; non-finite as null. */
void sm_json_real(struct sm_json *o, double v);
/* "2026-11-24T10:00:00.123Z" from ms since the epoch. */
void sm_json_time(struct sm_json *o, int64_t ms);

#endif
