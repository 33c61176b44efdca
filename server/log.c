/* server/log.c: amkd's log sink: one line per message on stderr. */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "node.h"

void amk_log(struct amk_node *node, int level, const char *fmt, ...)
{
    if (level > node->log_level) {
        return;
    }
    static const char *const names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s.%03ldZ %-5s amkd[%llu] %s\n", when,
            ts.tv_nsec / 1000000, names[level],
            (unsigned long long)node->config.id, message);
}
