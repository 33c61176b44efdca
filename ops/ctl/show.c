/* ops/ctl/show.c: JSON values as text for people, and as JSON for scripts
 * (--json). */
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

const char *ctl_show_value(const json_t *value, char *buf, size_t cap)
{
    if (cap == 0) {
        return buf;
    }
    buf[0] = '\0';
    if (value == NULL) {
        snprintf(buf, cap, "-");
        return buf;
    }
    switch (json_typeof(value)) {
        case JSON_STRING:
            snprintf(buf, cap, "%s", json_string_value(value));
            break;
        case JSON_INTEGER:
            snprintf(buf, cap, "%lld", (long long)json_integer_value(value));
            break;
        case JSON_REAL:
            snprintf(buf, cap, "%.15g", json_real_value(value));
            break;
        case JSON_TRUE:
            snprintf(buf, cap, "yes");
            break;
        case JSON_FALSE:
            snprintf(buf, cap, "no");
            break;
        case JSON_OBJECT:
        case JSON_ARRAY: {
            char *text = json_dumps(value, JSON_COMPACT);
            snprintf(buf, cap, "%s", text != NULL ? text : "?");
            free(text);
            break;
        }
        case JSON_NULL:
        default:
            snprintf(buf, cap, "-");
            break;
    }
    return buf;
}

const char *ctl_show_field(const json_t *obj, const char *key, char *buf,
                           size_t cap)
{
    return ctl_show_value(json_object_get(obj, key), buf, cap);
}

void ctl_show_json(struct ctl *ctl, const json_t *value)
{
    if (value != NULL) {
        json_dumpf(value, ctl->out, JSON_COMPACT);
    } else {
        fputs("null", ctl->out);
    }
    fputc('\n', ctl->out);
}

void ctl_show_object(struct ctl *ctl, const json_t *obj)
{
    size_t width = 0;
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)obj, key, value)
    {
        if (strlen(key) > width) {
            width = strlen(key);
        }
    }
    json_object_foreach((json_t *)obj, key, value)
    {
        char text[1024], label[256];
        snprintf(label, sizeof label, "%s:", key);
        fprintf(ctl->out, "%-*s %s\n", (int)width + 1, label,
                ctl_show_value(value, text, sizeof text));
    }
}

void ctl_show_list_json(struct ctl *ctl, json_t *items)
{
    json_t *out = json_pack("{s:o, s:n}", "items", items, "next");
    ctl_show_json(ctl, out);
    json_decref(out);
}
