/*
 * log.c -- timestamped log lines on stderr, filtered by verbosity.
 */
#include "log.h"

#include <stdio.h>
#include <time.h>

static int verbosity = 1;

void ch_log_set_verbosity(int v) { verbosity = v; }

int ch_log_enabled(int level) { return level <= CH_LOG_WARN || level <= verbosity + 1; }

void ch_logv(int level, const char *prefix, const char *fmt, va_list ap)
{
    static const char *names[] = {"ERROR", "WARNING", "INFO", "DEBUG", "TRACE"};
    char stamp[32];
    time_t now;
    struct tm tm;

    if (!ch_log_enabled(level))
        return;
    now = time(NULL);
    localtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
    flockfile(stderr);
    fprintf(stderr, "%s %-7s %s", stamp,
            names[level < 0   ? 0
                  : level > 4 ? 4
                              : level],
            prefix ? prefix : "");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    funlockfile(stderr);
}

void ch_log(int level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    ch_logv(level, NULL, fmt, ap);
    va_end(ap);
}
