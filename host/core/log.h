/*
 * log.h -- the host's log lines, Daphne-style verbosity.
 *
 * Levels: CH_LOG_ERROR and CH_LOG_WARN always print; CH_LOG_INFO from -v1
 * (the default), CH_LOG_DEBUG from -v2, CH_LOG_TRACE from -v3.  Lines go
 * to stderr as "YYYY-mm-dd HH:MM:SS LEVEL message", or with
 * `log_format json` as one JSON object a line (log_json.h).  The values equal the
 * SDK's CHANHOST_LOG_* so plugin log calls map one to one.
 */
#ifndef CH_LOG_H
#define CH_LOG_H

#include <stdarg.h>

enum { CH_LOG_ERROR = 0, CH_LOG_WARN = 1, CH_LOG_INFO = 2, CH_LOG_DEBUG = 3, CH_LOG_TRACE = 4 };

/* Set the verbosity 0..3 (-v0..-v3). */
void ch_log_set_verbosity(int v);

/* A tag written before every message (static string, borrowed; NULL:
 * none), e.g. "[worker 2] " in a worker process (app/master.c). */
void ch_log_set_tag(const char *tag);

/* Lines as text (0, the default) or one JSON object each (non-zero:
 * `log_format json`, log_json.h). */
void ch_log_set_format(int as_json);

/* Non-zero if a line at `level` would be printed. */
int ch_log_enabled(int level);

/* Print one line at `level`; the format is printf's. */
void ch_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ch_logv(int level, const char *prefix, const char *fmt, va_list ap);

#endif
