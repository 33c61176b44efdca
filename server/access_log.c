/* server/access_log.c: appends one JSON line per read of incident or
 * patient data (access_log.h). Lines are built with jansson and written
 * with one write(2) on an O_APPEND descriptor, so concurrent writers and
 * copytruncate rotation never interleave or tear a line. */
#include "access_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "node.h"
#include "sm/sm.h"

static bool has_prefix(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    /* "/v1/incidents" itself, or followed by '/' or '?'. */
    return len >= n && memcmp(s, prefix, n) == 0 &&
           (len == n || s[n] == '/' || s[n] == '?');
}

static bool of_incident_data(const char *path, size_t len)
{
    return has_prefix(path, len, "/v1/incidents") ||
           has_prefix(path, len, "/v1/events") ||
           has_prefix(path, len, "/v1/audit");
}

bool amk_access_log_wants(const struct amk_http_access *access)
{
    bool read =
        (access->method_len == 3 && memcmp(access->method, "GET", 3) == 0) ||
        (access->method_len == 4 && memcmp(access->method, "HEAD", 4) == 0);
    if (!read) {
        return false;
    }
    /* The route the router matched, after it decoded the path: the raw
     * target may spell it otherwise ("/v1/%69ncidents"). Unmatched
     * requests (404) by their target. */
    return access->route != NULL
               ? of_incident_data(access->route, strlen(access->route))
               : of_incident_data(access->target, access->target_len);
}

int amk_access_log_check(const char *path, const char *what, char *errmsg)
{
    if (strcmp(path, "off") == 0) {
        return 0;
    }
    if (strlen(path) >= sizeof((struct amk_access_log *)0)->path) {
        snprintf(errmsg, 256, "%s: path longer than %zu bytes", what,
                 sizeof((struct amk_access_log *)0)->path - 1);
        return -1;
    }
    struct stat st;
    if (stat(path, &st) == 0) {
        /* A directory, FIFO or device would fail or block at open. */
        if (!S_ISREG(st.st_mode)) {
            snprintf(errmsg, 256, "%s %.180s: not a regular file", what, path);
            return -1;
        }
        if (access(path, W_OK) != 0) {
            snprintf(errmsg, 256, "%s %.180s: %s", what, path, strerror(errno));
            return -1;
        }
        return 0;
    }
    if (errno != ENOENT) {
        snprintf(errmsg, 256, "%s %.180s: %s", what, path, strerror(errno));
        return -1;
    }
    char dir[512];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir) {
        slash[1] = '\0'; /* "/file": the root */
    } else if (slash != NULL) {
        *slash = '\0';
    } else {
        snprintf(dir, sizeof dir, ".");
    }
    if (access(dir, W_OK) != 0) {
        snprintf(errmsg, 256, "%s %.180s: directory %.40s: %s", what, path, dir,
                 strerror(errno));
        return -1;
    }
    return 0;
}

int amk_access_log_open(struct amk_access_log *log, const char *path,
                        const char *what, uint64_t node_id, struct amk_sm *sm,
                        char *errmsg)
{
    memset(log, 0, sizeof *log);
    log->fd = -1;
    log->node_id = node_id;
    log->sm = sm;
    if (strcmp(path, "off") == 0) {
        return 0;
    }
    if (amk_access_log_check(path, what, errmsg) != 0) {
        return -1;
    }
    snprintf(log->path, sizeof log->path, "%s", path);
    /* O_NONBLOCK: whatever replaced the file since the check, open must
     * not wait on it (a FIFO); it is refused below. */
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK,
                  0640);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(errmsg, 256, "%s %.180s: %s", what, path,
                 fd < 0 ? strerror(errno) : "not a regular file");
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    log->fd = fd;
    return 0;
}

void amk_access_log_close(struct amk_access_log *log)
{
    if (log->fd >= 0) {
        close(log->fd);
        log->fd = -1;
    }
}

/* Text as received with bytes outside printable ASCII percent-encoded:
 * request targets and headers are not guaranteed UTF-8, and jansson
 * refuses a string that is not (the line would be lost). */
static json_t *ascii_json(const char *target, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = malloc(len * 3 + 1);
    if (out == NULL) {
        return NULL;
    }
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)target[i];
        if (c < 0x20 || c >= 0x7f) {
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        } else {
            out[n++] = (char)c;
        }
    }
    json_t *s = json_stringn(out, n);
    free(out);
    return s;
}

static json_t *now_json(void)
{
    char when[AMK_NOW_TEXT];
    amk_now_text(when);
    return json_string(when);
}

/* Sets key to value, which the object takes; false if value is NULL or
 * the object could not take it. */
static bool put(json_t *obj, const char *key, json_t *value)
{
    return value != NULL && json_object_set_new(obj, key, value) == 0;
}

static json_t *line_json(struct amk_access_log *log,
                         const struct amk_http_access *a)
{
    json_t *obj = json_object();
    if (obj == NULL) {
        return NULL;
    }
    char peer[64] = "";
    if (a->request != NULL) {
        amk_http_request_peer(a->request, peer, sizeof peer);
    }
    bool ok = put(obj, "at", now_json()) &&
              put(obj, "node", json_integer((json_int_t)log->node_id)) &&
              put(obj, "method", json_stringn(a->method, a->method_len)) &&
              put(obj, "target", ascii_json(a->target, a->target_len)) &&
              put(obj, "status", json_integer(a->status)) &&
              put(obj, "index", json_integer((json_int_t)a->index)) &&
              put(obj, "stream", json_boolean(a->stream)) &&
              put(obj, "peer", json_string(peer));
    /* The acting console: its session, and the centre it logged in at. */
    if (ok && a->session != NULL) {
        struct amk_sm_session_info info;
        ok = put(obj, "session", ascii_json(a->session, strlen(a->session)));
        if (ok && log->sm != NULL &&
            amk_sm_session_info(log->sm, a->session, &info) == 0 &&
            info.exists) {
            ok = put(obj, "centre", json_string(info.centre));
        }
    } else if (ok) {
        ok = put(obj, "session", json_null());
    }
    if (!ok) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

void amk_access_log_record(struct amk_access_log *log,
                           const struct amk_http_access *access, bool *warn)
{
    *warn = false;
    if (log->fd < 0 || !amk_access_log_wants(access)) {
        return;
    }
    json_t *obj = line_json(log, access);
    char *text = obj != NULL ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    bool written = false;
    if (text != NULL) {
        size_t len = strlen(text);
        text[len] = '\n'; /* replaces the NUL: written by length */
        ssize_t n;
        do {
            n = write(log->fd, text, len + 1);
        } while (n < 0 && errno == EINTR);
        written = n == (ssize_t)(len + 1);
        free(text);
    }
    if (written) {
        log->lines++;
        log->failing = false;
        return;
    }
    log->errors++;
    *warn = !log->failing;
    log->failing = true;
}
