/*
 * stats.c -- what chanbench measures with: the monotonic clock, a
 * log-linear latency histogram (mergeable across worker processes), a
 * process tree's resident set size and CPU time from /proc, and the open-file
 * limit.
 */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "chanbench.h"

#define SUB_BITS 5 /* CB_HIST_SUB == 1 << SUB_BITS */

uint64_t cb_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Bucket of value v: values below 32 have a bucket each; above, each power
 * of two is split into 32 equal buckets, so a bucket is at most ~3% wide.
 */
static unsigned hist_index(uint64_t v)
{
    unsigned e;

    if (v < CB_HIST_SUB)
        return (unsigned)v;
    e = 63u - (unsigned)__builtin_clzll(v);
    return (e - SUB_BITS + 1) * CB_HIST_SUB + (unsigned)((v >> (e - SUB_BITS)) - CB_HIST_SUB);
}

/* The middle of bucket i (the value reported for a quantile there). */
static uint64_t hist_value(unsigned i)
{
    unsigned g = i / CB_HIST_SUB;
    uint64_t m = CB_HIST_SUB + i % CB_HIST_SUB;

    if (g == 0)
        return i;
    return (m << (g - 1)) + ((1ull << (g - 1)) >> 1);
}

/* Record one value (nanoseconds). */
void cb_hist_add(cb_hist *h, uint64_t v)
{
    h->b[hist_index(v)]++;
    h->count++;
    if (v > h->max)
        h->max = v;
}

/* Add the values recorded in `from` to `into` (workers to the total). */
void cb_hist_merge(cb_hist *into, const cb_hist *from)
{
    unsigned i;

    for (i = 0; i < CB_HIST_BUCKETS; i++)
        into->b[i] += from->b[i];
    into->count += from->count;
    if (from->max > into->max)
        into->max = from->max;
}

/* The q-quantile (0 < q <= 1) of the recorded values, 0 if none. */
uint64_t cb_hist_quantile(const cb_hist *h, double q)
{
    uint64_t rank = (uint64_t)(q * (double)h->count + 0.999999), seen = 0;
    unsigned i;

    if (h->count == 0)
        return 0;
    if (rank == 0)
        rank = 1;
    for (i = 0; i < CB_HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank)
            return hist_value(i) < h->max ? hist_value(i) : h->max;
    }
    return h->max;
}

/* VmRSS of process pid alone in kB, read from /proc/PID/status; -1 if
 * unknown. */
static long rss_one_kb(long pid)
{
    char path[64], line[256];
    long kb = -1;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0 && sscanf(line + 6, "%ld", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* VmRSS of pid plus that of all its descendants (a host with worker
 * processes: the master and every worker), found through
 * /proc/PID/task/TID/children of each of its threads; depth bounded. */
static long rss_tree_kb(long pid, int depth)
{
    long kb = rss_one_kb(pid);
    char path[64];
    DIR *tasks;
    struct dirent *t;

    if (kb < 0 || depth > 8)
        return kb;
    snprintf(path, sizeof path, "/proc/%ld/task", pid);
    tasks = opendir(path);
    while (tasks && (t = readdir(tasks))) {
        char cpath[300];
        long child;
        FILE *f;

        if (t->d_name[0] == '.')
            continue;
        snprintf(cpath, sizeof cpath, "/proc/%ld/task/%s/children", pid, t->d_name);
        f = fopen(cpath, "r");
        while (f && fscanf(f, "%ld", &child) == 1) {
            long ckb = rss_tree_kb(child, depth + 1);

            if (ckb > 0)
                kb += ckb;
        }
        if (f)
            fclose(f);
    }
    if (tasks)
        closedir(tasks);
    return kb;
}

/* VmRSS of process pid and its descendants in kB; -1 if unknown. */
long cb_rss_kb(long pid) { return rss_tree_kb(pid, 0); }

/* CPU time (user + system, all threads) of process pid in seconds from
 * /proc/PID/stat, -1 if unknown.  Resolution: one clock tick (10 ms). */
double cb_cpu_s(long pid)
{
    char path[64], buf[1024];
    unsigned long long ut, st;
    const char *p;
    size_t n;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    f = fopen(path, "r");
    if (!f)
        return -1.0;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')'); /* the command name may hold blanks */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1.0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* CPU time (user + system) of this process, from getrusage. */
double cb_self_cpu_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* One client connection is one descriptor: use every one we may. */
void cb_raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}
