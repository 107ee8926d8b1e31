/*
 * fuzz_config.c -- core/config.c and config_syntax.c: the input as a
 * config file (written to a memory file, read by ch_config_load_file
 * through /proc/self/fd), then, when it had no problem, the route table
 * built from it (core/routes.c: every pattern compiled).  A file with
 * problems must say so in the diagnostics.  Owns the memory file, kept
 * open for the process.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"
#include "log.h"
#include "routes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    ch_config cfg;
    ch_diag diag = {0};
    ch_route_table table;
    int problems;

    if (fd < 0) {
        fd = memfd_create("fuzz.conf", 0);
        FZ_CHECK(fd >= 0);
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ch_log_set_verbosity(-1);
    }
    FZ_CHECK(ftruncate(fd, 0) == 0);
    FZ_CHECK(pwrite(fd, data, size, 0) == (ssize_t)size);
    FZ_CHECK(ch_config_init(&cfg) == 0);
    problems = ch_config_load_file(&cfg, path, &diag);
    FZ_CHECK(problems >= 0 && (size_t)problems <= diag.n);
    FZ_CHECK(problems == 0 || diag.n > 0);
    if (problems == 0 && ch_routes_build(&table, &cfg, NULL) == 0)
        ch_routes_release(&table);
    ch_diag_free(&diag);
    ch_config_free(&cfg);
    return 0;
}
