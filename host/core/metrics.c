/*
 * metrics.c -- owns the process counters (plain integers, loop thread
 * only).  Serving them (GET /metrics, GET /healthz) is app/status.c's.
 */
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t counters[CH_M__COUNT];
static uint64_t http_status[600];

/* Handshake failure reasons, in the order /metrics prints them. */
static const char *const reasons[] = {
    "bad_method", "bad_request", "not_websocket", "bad_version", "bad_key",
    "bad_origin", "not_found",   "unavailable",   "denied",      "timeout",
    "internal",   "limit_user",  "limit_ip",      "limit_rate",  "other",
};
#define N_REASONS (sizeof reasons / sizeof reasons[0])
static uint64_t hs_failures[N_REASONS];

void ch_metric_count(enum ch_metric m) { counters[m]++; }
void ch_metric_add(enum ch_metric m, uint64_t n) { counters[m] += n; }
void ch_metric_set(enum ch_metric m, uint64_t n) { counters[m] = n; }
uint64_t ch_metric_get(enum ch_metric m) { return counters[m]; }

static size_t reason_index(const char *reason)
{
    size_t i;

    for (i = 0; reason && i < N_REASONS - 1; i++)
        if (strcmp(reasons[i], reason) == 0)
            return i;
    return N_REASONS - 1;
}

void ch_metric_handshake_failure(const char *reason) { hs_failures[reason_index(reason)]++; }

/* The i-th handshake failure reason and its count (i < ch_metric_n_reasons). */
size_t ch_metric_n_reasons(void) { return N_REASONS; }
const char *ch_metric_reason(size_t i) { return reasons[i]; }
uint64_t ch_metric_reason_count(size_t i) { return hs_failures[i]; }

void ch_metric_http_status(int status)
{
    if (status >= 100 && status < 600)
        http_status[status]++;
}

uint64_t ch_metric_http_status_count(int status)
{
    return status >= 100 && status < 600 ? http_status[status] : 0;
}
