/* sm/cmd_int.h: what the codec (sm/cmd.c) and its field tables
 * (sm/cmd_table.c) share. Internal to sm/. */
#ifndef AMK_SM_CMD_INT_H
#define AMK_SM_CMD_INT_H

#include <stddef.h>
#include <stdint.h>

#include "cmd.h"

/* Caps on body strings, in bytes. They bound memory and log entry size only;
 * what a valid id or criterion looks like is the state machine's business. */
#define CAP_ID        AMK_ID_MAX
#define CAP_TEXT      256
#define CAP_CODE      16 /* criterion, municipality, national_id */
#define CAP_NOTE      16384
#define CAP_PRINCIPAL 128

enum field_type {
    FT_STR,         /* struct amk_str; cap: max bytes */
    FT_ENUM,        /* uint8_t; cap: enum amk_enum_kind */
    FT_BOOL,        /* uint8_t, 0 or 1 */
    FT_I32,         /* int32_t */
    FT_I64,         /* int64_t */
    FT_F64,         /* double, finite */
    FT_STR_LIST,    /* uint32_t count + struct amk_str[]; cap: max count,
                       item_cap: max bytes of each string */
    FT_STRUCT_LIST, /* uint32_t count + struct[]; cap: max count; sub: the
                       element's own table (own present mask) */
};

#define F_REQUIRED 1u

struct table;

struct field {
    const char *name; /* wire/API name, used in error messages */
    enum field_type type;
    unsigned flags;
    size_t offset; /* of the value, or of a list's count */
    size_t items;  /* lists: offset of the element array */
    uint32_t cap;
    uint32_t item_cap;
    const struct table *sub;
};

struct table {
    const struct field *fields;
    unsigned n;
    size_t elem_size; /* nested tables: sizeof one element */
};

struct cmd_def {
    const char *name;
    uint8_t version; /* the one type_version this build reads and writes */
    const struct field *fields;
    unsigned n;
};

/* The definition of a command type, or NULL if this build has none. */
const struct cmd_def *cmd__def(uint16_t type);

#endif
