/*
 * log.c -- timestamped log lines on stderr, filtered by verbosity.
 */
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int verbosity = 1;
static const char *tag = ""; /* "[worker 2] " in a worker process */

void ch_log_set_verbosity(int v) { verbosity = v; }

void ch_log_set_tag(const char *t) { tag = t ? t : ""; }

int ch_log_enabled(int level) { return level <= CH_LOG_WARN || level <= verbosity + 1; }

/* One line is formatted into a buffer (a larger one from the heap when
 * needed) and written with one call, so that the lines of processes
 * sharing stderr (a master and its workers) do not interleave. */
void ch_logv(int level, const char *prefix, const char *fmt, va_list ap)
{
    static const char *names[] = {"ERROR", "WARNING", "INFO", "DEBUG", "TRACE"};
    char stamp[32], small[4096], *line = small;
    size_t cap = sizeof small;
    time_t now;
    struct tm tm;
    int n, m;
    va_list again;

    if (!ch_log_enabled(level))
        return;
    now = time(NULL);
    localtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
    n = snprintf(small, cap, "%s %-7s %s%s", stamp,
                 names[level < 0   ? 0
                       : level > 4 ? 4
                                   : level],
                 tag, prefix ? prefix : "");
    if (n < 0 || (size_t)n >= cap / 2)
        n = 0;
    va_copy(again, ap);
    m = vsnprintf(small + n, cap - (size_t)n, fmt, ap);
    if (m >= 0 && (size_t)(n + m) + 1 >= cap && (line = malloc((size_t)(n + m) + 2)) != NULL) {
        memcpy(line, small, (size_t)n);
        vsnprintf(line + n, (size_t)m + 1, fmt, again);
    } else if (!line || m < 0) {
        line = small;
        m = m < 0 ? 0 : (int)(cap - 2 - (size_t)n);
    }
    va_end(again);
    n += m;
    line[n++] = '\n';
    flockfile(stderr);
    fwrite(line, 1, (size_t)n, stderr);
    funlockfile(stderr);
    if (line != small)
        free(line);
}

void ch_log(int level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    ch_logv(level, NULL, fmt, ap);
    va_end(ap);
}
