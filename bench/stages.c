/*
 * stages.c -- chanbench's view of the host's store stages: GET /metrics
 * (one blocking HTTP/1.0 request on the main process, before and after a
 * step), the chanhost_store_stage_seconds histograms read from it, and
 * the difference of two readings printed as mean, p50 and p99 per stage
 * (host/store/store_stages.c says what each stage is).  So a step's p99
 * can be laid against where the store's calls spent their time.
 *
 * Owns nothing beyond a call: readings are the caller's values.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "chanbench.h"

/* The body of GET /metrics from host:port into buf (len bytes, NUL
 * terminated); the bytes read, or -1 (no answer within 2 s). */
static long metrics_get(const char *host, int port, char *buf, size_t len)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval tv = {2, 0};
    static const char req[] = "GET /metrics HTTP/1.0\r\n\r\n";
    size_t got = 0;
    ssize_t n;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1 ||
        connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        write(fd, req, sizeof req - 1) != (ssize_t)(sizeof req - 1)) {
        close(fd);
        return -1;
    }
    while (got + 1 < len && (n = read(fd, buf + got, len - 1 - got)) > 0)
        got += (size_t)n;
    close(fd);
    buf[got] = '\0';
    return (long)got;
}

/* The stage named name[0..len) in s (added when new); NULL when full. */
static cb_stage *stage_of(cb_stages *s, const char *name, size_t len)
{
    for (int i = 0; i < s->n; i++)
        if (strlen(s->st[i].name) == len && memcmp(s->st[i].name, name, len) == 0)
            return &s->st[i];
    if (s->n == CB_STAGES_MAX || len >= sizeof s->st[0].name)
        return NULL;
    memcpy(s->st[s->n].name, name, len);
    s->st[s->n].name[len] = '\0';
    return &s->st[s->n++];
}

/* One line of the exposition: a stage's bucket, sum or count. */
static void parse_line(cb_stages *s, const char *line)
{
    static const char fam[] = "chanhost_store_stage_seconds_";
    const char *p = line + sizeof fam - 1, *q, *v;
    cb_stage *st;

    if (strncmp(line, fam, sizeof fam - 1) != 0 || !(q = strstr(p, "stage=\"")) ||
        !(v = strchr(q + 7, '"')) || !(st = stage_of(s, q + 7, (size_t)(v - q - 7))) ||
        !(v = strchr(v, '}')))
        return;
    if (strncmp(p, "sum", 3) == 0)
        st->sum_s = strtod(v + 1, NULL);
    else if (strncmp(p, "count", 5) == 0)
        st->count = strtoull(v + 1, NULL, 10);
    else if (strncmp(p, "bucket", 6) == 0 && (q = strstr(p, "le=\"")) && q[4] != '+' &&
             st->nb < CB_STAGE_BUCKETS) {
        st->le_s[st->nb] = strtod(q + 4, NULL);
        st->cum[st->nb++] = strtoull(v + 1, NULL, 10);
    }
}

int cb_stages_fetch(const char *host, int port, cb_stages *out)
{
    char *buf = malloc(1 << 18), *line, *save = NULL;

    memset(out, 0, sizeof *out);
    if (!buf || metrics_get(host, port, buf, 1 << 18) <= 0) {
        free(buf);
        return -1;
    }
    for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        parse_line(out, line);
    free(buf);
    out->ok = out->n > 0;
    return out->ok ? 0 : -1;
}

/* The q-quantile (seconds) of stage b minus a (the same stage of an
 * earlier reading, or NULL), interpolated within its bucket as
 * Prometheus's histogram_quantile does; past the last bound: that bound. */
static double quantile(const cb_stage *a, const cb_stage *b, double q)
{
    uint64_t n = b->count - (a ? a->count : 0), prev = 0;
    double rank = q * (double)n, lo = 0;

    for (int i = 0; i < b->nb; i++) {
        uint64_t c = b->cum[i] - (a && i < a->nb ? a->cum[i] : 0);

        if ((double)c >= rank)
            return c == prev ? b->le_s[i]
                             : lo + (b->le_s[i] - lo) * (rank - (double)prev) / (double)(c - prev);
        prev = c;
        lo = b->le_s[i];
    }
    return lo;
}

void cb_stages_print(const cb_stages *a, const cb_stages *b)
{
    for (int i = 0; a->ok && b->ok && i < b->n; i++) {
        const cb_stage *sb = &b->st[i], *sa = NULL;
        uint64_t n;

        for (int j = 0; j < a->n; j++)
            if (strcmp(a->st[j].name, sb->name) == 0)
                sa = &a->st[j];
        n = sb->count - (sa ? sa->count : 0);
        if (n == 0)
            continue;
        printf(" store_%s_mean_ms=%.2f store_%s_p50_ms=%.2f store_%s_p99_ms=%.2f", sb->name,
               (sb->sum_s - (sa ? sa->sum_s : 0)) * 1e3 / (double)n, sb->name,
               quantile(sa, sb, 0.50) * 1e3, sb->name, quantile(sa, sb, 0.99) * 1e3);
    }
}
