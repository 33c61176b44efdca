/* server/log.c: amkd's log sink: one line per message on stderr. */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "node.h"

void amk_now_text(char out[AMK_NOW_TEXT])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, AMK_NOW_TEXT, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, AMK_NOW_TEXT - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

void amk_log(struct amk_node *node, int level, const char *fmt, ...)
{
    if (level > node->log_level) {
        return;
    }
    static const char *const names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
    char when[AMK_NOW_TEXT];
    amk_now_text(when);
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s %-5s amkd[%llu] %s\n", when, names[level],
            (unsigned long long)node->config.id, message);
}
