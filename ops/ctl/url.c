/* ops/ctl/url.c: the only URLs amkctl speaks, http://HOST:PORT[/path], and
 * percent-encoding of path segments and query values. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static bool host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

int ctl_url_parse(const char *text, struct ctl_url *url, char *errmsg)
{
    memset(url, 0, sizeof *url);
    if (strncmp(text, "https://", 8) == 0) {
        snprintf(errmsg, CTL_ERRMSG_SIZE,
                 "%.200s: https is not supported yet; use http://HOST:PORT",
                 text);
        return -1;
    }
    if (strncmp(text, "http://", 7) != 0) {
        snprintf(errmsg, CTL_ERRMSG_SIZE,
                 "%.200s: not an http://HOST:PORT[/path] URL", text);
        return -1;
    }
    const char *p = text + 7;
    const char *host_end;
    if (*p == '[') {
        /* An IPv6 literal: [::1]:8001 (RFC 3986 3.2.2). */
        const char *close = strchr(p, ']');
        if (close == NULL || close == p + 1) {
            snprintf(errmsg, CTL_ERRMSG_SIZE,
                     "%.200s: unterminated IPv6 address", text);
            return -1;
        }
        for (const char *c = p + 1; c < close; c++) {
            if (!(host_char(*c) || *c == ':')) {
                snprintf(errmsg, CTL_ERRMSG_SIZE,
                         "%.200s: bad character in the IPv6 address", text);
                return -1;
            }
        }
        if ((size_t)(close - p - 1) >= sizeof url->host) {
            snprintf(errmsg, CTL_ERRMSG_SIZE, "%.200s: host too long", text);
            return -1;
        }
        memcpy(url->host, p + 1, (size_t)(close - p - 1));
        host_end = close + 1;
    } else {
        host_end = p;
        while (host_char(*host_end)) {
            host_end++;
        }
        if (host_end == p) {
            snprintf(errmsg, CTL_ERRMSG_SIZE, "%.200s: no host", text);
            return -1;
        }
        if ((size_t)(host_end - p) >= sizeof url->host) {
            snprintf(errmsg, CTL_ERRMSG_SIZE, "%.200s: host too long", text);
            return -1;
        }
        memcpy(url->host, p, (size_t)(host_end - p));
    }
    if (*host_end != ':') {
        if (*host_end == '@') {
            snprintf(errmsg, CTL_ERRMSG_SIZE,
                     "%.200s: user information is not supported", text);
        } else if (*host_end == '\0' || *host_end == '/') {
            snprintf(errmsg, CTL_ERRMSG_SIZE,
                     "%.200s: no port (http://HOST:PORT)", text);
        } else {
            snprintf(errmsg, CTL_ERRMSG_SIZE,
                     "%.200s: bad character '%c' in the host", text, *host_end);
        }
        return -1;
    }
    const char *port = host_end + 1;
    const char *port_end = port;
    unsigned long number = 0;
    while (*port_end >= '0' && *port_end <= '9' && port_end - port < 6) {
        number = number * 10 + (unsigned long)(*port_end - '0');
        port_end++;
    }
    if (port_end == port || number == 0 || number > 65535 ||
        (*port_end != '\0' && *port_end != '/')) {
        snprintf(errmsg, CTL_ERRMSG_SIZE,
                 "%.200s: the port must be a number 1..65535", text);
        return -1;
    }
    snprintf(url->port, sizeof url->port, "%lu", number);
    const char *path = port_end;
    size_t path_len = strlen(path);
    while (path_len > 0 && path[path_len - 1] == '/') {
        path_len--; /* "http://h:1/" and "http://h:1" are the same */
    }
    for (size_t i = 0; i < path_len; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c <= 0x20 || c >= 0x7f || c == '?' || c == '#') {
            snprintf(errmsg, CTL_ERRMSG_SIZE,
                     "%.200s: the path may not contain a query, fragment,"
                     " space or control character",
                     text);
            return -1;
        }
    }
    if (path_len >= sizeof url->prefix) {
        snprintf(errmsg, CTL_ERRMSG_SIZE, "%.200s: path too long", text);
        return -1;
    }
    memcpy(url->prefix, path, path_len);
    bool v6 = strchr(url->host, ':') != NULL;
    snprintf(url->text, sizeof url->text, "http://%s%s%s:%s%s", v6 ? "[" : "",
             url->host, v6 ? "]" : "", url->port, url->prefix);
    return 0;
}

int ctl_url_escape(char *out, size_t cap, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len = strlen(out);
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' ||
                     *p == '_' || *p == '~' || *p == ':';
        size_t need = plain ? 1 : 3;
        if (len + need + 1 > cap) {
            return -1;
        }
        if (plain) {
            out[len++] = (char)*p;
        } else {
            out[len++] = '%';
            out[len++] = hex[*p >> 4];
            out[len++] = hex[*p & 15];
        }
    }
    out[len] = '\0';
    return 0;
}

int ctl_url_add_query(char *path, size_t cap, const char *name,
                      const char *value)
{
    if (value == NULL) {
        return 0;
    }
    size_t len = strlen(path);
    int n = snprintf(path + len, cap - len,
                     "%s%s=", strchr(path, '?') != NULL ? "&" : "?", name);
    if (n < 0 || (size_t)n >= cap - len) {
        return -1;
    }
    return ctl_url_escape(path, cap, value);
}
