/*
 * log.c -- timestamped log lines on stderr, filtered by verbosity, as
 * text or as JSON objects (log_json.c).  Owns the verbosity, tag and
 * format settings; each line's buffers are its own.
 */
#include "log.h"
#include "log_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int verbosity = 1;
static const char *tag = ""; /* "[worker 2] " in a worker process */
static int worker;           /* 2 then: the JSON lines' "worker" */
static int json;             /* log_format json */

void ch_log_set_verbosity(int v) { verbosity = v; }

void ch_log_set_tag(const char *t)
{
    tag = t ? t : "";
    if (sscanf(tag, "[worker %d]", &worker) != 1)
        worker = 0;
}

void ch_log_set_format(int as_json) { json = as_json; }

int ch_log_enabled(int level) { return level <= CH_LOG_WARN || level <= verbosity + 1; }

/* Format the message into small[cap] or, if it does not fit, a new
 * buffer (returned; the caller frees it unless it is small); its length
 * into *len. */
static char *format_message(char *small, size_t cap, const char *fmt, va_list ap, size_t *len)
{
    va_list again;
    char *big;
    int m;

    va_copy(again, ap);
    m = vsnprintf(small, cap, fmt, ap);
    if (m < 0) {
        small[0] = '\0';
        m = 0;
    } else if ((size_t)m >= cap) {
        if ((big = malloc((size_t)m + 1)) != NULL) {
            vsnprintf(big, (size_t)m + 1, fmt, again);
            va_end(again);
            *len = (size_t)m;
            return big;
        }
        m = (int)cap - 1; /* out of memory: the line is cut */
    }
    va_end(again);
    *len = (size_t)m;
    return small;
}

/* The line in JSON (log_json.h) into a new buffer, or NULL. */
static char *json_line(const struct tm *tm, const char *level, const char *prefix, const char *msg,
                       size_t msg_len, size_t *len)
{
    char stamp[96], zone[8];
    ch_log_parts p = {stamp, level, worker, NULL, 0, msg, msg_len};
    const char *end;

    strftime(zone, sizeof zone, "%z", tm); /* +hhmm -> +hh:mm */
    snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d%.3s:%.2s", tm->tm_year + 1900,
             tm->tm_mon + 1, tm->tm_mday, tm->tm_hour, tm->tm_min, tm->tm_sec, zone,
             zone[0] ? zone + 3 : "");
    if (prefix && prefix[0] == '[' && (end = strstr(prefix, "] ")) != NULL) {
        p.plugin = prefix + 1;
        p.plugin_len = (size_t)(end - prefix - 1);
    }
    return ch_log_json(&p, len);
}

/* One line is built in a buffer (a larger one from the heap when needed)
 * and written with one call, so that the lines of processes sharing
 * stderr (a master and its workers) do not interleave. */
void ch_logv(int level, const char *prefix, const char *fmt, va_list ap)
{
    static const char *names[] = {"ERROR", "WARNING", "INFO", "DEBUG", "TRACE"};
    const char *name = names[level < 0 ? 0 : level > 4 ? 4 : level];
    char small[4096], head[256], text[4096 + 256], *msg, *line;
    size_t msg_len, n = 0;
    time_t now;
    struct tm tm;
    int h;

    if (!ch_log_enabled(level))
        return;
    msg = format_message(small, sizeof small, fmt, ap, &msg_len);
    now = time(NULL);
    localtime_r(&now, &tm);
    if (json) {
        line = json_line(&tm, name, prefix, msg, msg_len, &n);
    } else {
        h = (int)strftime(head, sizeof head, "%Y-%m-%d %H:%M:%S ", &tm);
        h += snprintf(head + h, sizeof head - (size_t)h, "%-7s %s%s", name, tag,
                      prefix ? prefix : "");
        if (h < 0 || (size_t)h >= sizeof head)
            h = (int)strlen(head);
        line = (size_t)h + msg_len + 1 <= sizeof text ? text : malloc((size_t)h + msg_len + 1);
        if (line) {
            memcpy(line, head, (size_t)h);
            memcpy(line + h, msg, msg_len);
            n = (size_t)h + msg_len;
            line[n++] = '\n';
        }
    }
    if (line) {
        flockfile(stderr);
        fwrite(line, 1, n, stderr);
        funlockfile(stderr);
    }
    if (line != text)
        free(line);
    if (msg != small)
        free(msg);
}

void ch_log(int level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    ch_logv(level, NULL, fmt, ap);
    va_end(ap);
}
