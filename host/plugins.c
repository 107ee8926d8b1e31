/*
 * plugins.c -- the plugin loader (private copy, dlopen, ABI checks, init)
 * and the wrappers through which the host calls plugin callbacks.
 *
 * Copying the .so costs a little disk I/O when a plugin is loaded; loads
 * happen at start-up, before the loop serves anyone.
 */
#include "plugins.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "ws.h"

static const ch_plugin *current;   /* plugin whose callback runs now */

const ch_plugin *ch_plugin_current(void) { return current; }

/* printf into err, always NUL-terminated. */
static void errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Copy src to a new private file; returns its malloc'd path or NULL. */
static char *private_copy(const char *src, const char *name, char *err, size_t errlen)
{
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char *dst = NULL, buf[65536];
    int in = -1, out = -1;
    ssize_t n = 0;

    if (asprintf(&dst, "%s/chanhost-%s-XXXXXX", tmp, name) < 0)
        return NULL;
    in = open(src, O_RDONLY | O_CLOEXEC);
    out = mkstemp(dst);
    while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)n) != n)
            n = -1;
    if (in < 0 || out < 0 || n < 0) {
        errf(err, errlen, "plugin '%s': cannot copy %s: %s", name, src, strerror(errno));
        if (out >= 0)
            unlink(dst);
        free(dst);
        dst = NULL;
    }
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    return dst;
}

/* The ABI and mandatory-field checks.  Returns 0 or -1 with err set. */
static int check_descriptor(const chanhost_plugin *d, const char *name, const char *file,
                            char *err, size_t errlen)
{
    if (d->abi_major != CHANHOST_ABI_MAJOR) {
        errf(err, errlen, "plugin '%s' (%s): ABI major version %u, this host speaks %u; rebuild "
             "it against this sdk/chanhost.h", name, file, d->abi_major, CHANHOST_ABI_MAJOR);
        return -1;
    }
    if (d->abi_minor > CHANHOST_ABI_MINOR || d->struct_size < sizeof(chanhost_plugin)) {
        errf(err, errlen, "plugin '%s' (%s): ABI %u.%u (descriptor %u bytes) is newer than this "
             "host's %u.%u (%zu bytes)", name, file, d->abi_major, d->abi_minor, d->struct_size,
             CHANHOST_ABI_MAJOR, CHANHOST_ABI_MINOR, sizeof(chanhost_plugin));
        return -1;
    }
    if (d->jansson_major != JANSSON_MAJOR_VERSION) {
        errf(err, errlen, "plugin '%s' (%s): built with jansson %u, the host uses jansson %d",
             name, file, d->jansson_major, JANSSON_MAJOR_VERSION);
        return -1;
    }
    if (!d->name || !d->version || !d->connect || !d->receive || !d->disconnect) {
        errf(err, errlen, "plugin '%s' (%s): descriptor lacks a mandatory field (%s)", name, file,
             !d->name ? "name" : !d->version ? "version" : !d->connect ? "connect"
             : !d->receive ? "receive" : "disconnect");
        return -1;
    }
    return 0;
}

/* dlopen the private copy and find the descriptor.  Returns 0 or -1. */
static int open_library(ch_plugin *p, char *err, size_t errlen)
{
    char *copy = private_copy(p->file, p->name, err, errlen);

    if (!copy)
        return -1;
    p->handle = dlopen(copy, RTLD_NOW | RTLD_LOCAL);
    unlink(copy);   /* the mapping stays; nothing is left behind on disk */
    free(copy);
    if (!p->handle) {
        errf(err, errlen, "plugin '%s' (%s): dlopen failed: %s", p->name, p->file, dlerror());
        return -1;
    }
    p->desc = dlsym(p->handle, CHANHOST_DESCRIPTOR_SYMBOL);
    if (!p->desc) {
        errf(err, errlen, "plugin '%s' (%s): no symbol %s (is it a chanhost plugin?)", p->name,
             p->file, CHANHOST_DESCRIPTOR_SYMBOL);
        return -1;
    }
    return check_descriptor(p->desc, p->name, p->file, err, errlen);
}

/* Free a plugin that never finished loading or whose last ref went. */
static void plugin_free(ch_plugin *p)
{
    if (p->handle)
        dlclose(p->handle);
    free(p->name);
    free(p->file);
    free(p);
}

ch_plugin *ch_plugin_load(const char *dir, const char *name, const json_t *settings,
                          uint32_t generation, char *err, size_t errlen)
{
    ch_plugin *p = calloc(1, sizeof *p);
    json_t *empty = NULL;
    struct stat st;
    int rc;

    if (!p || !(p->name = strdup(name)) || asprintf(&p->file, "%s/%s.so", dir, name) < 0) {
        errf(err, errlen, "plugin '%s': out of memory", name);
        if (p)
            free(p->name);
        free(p);
        return NULL;
    }
    p->refs = 1;
    p->generation = generation;
    if (stat(p->file, &st) != 0 || !S_ISREG(st.st_mode)) {
        errf(err, errlen, "plugin '%s': %s: %s", name, p->file,
             errno ? strerror(errno) : "not a regular file");
        plugin_free(p);
        return NULL;
    }
    if (open_library(p, err, errlen) != 0) {
        plugin_free(p);
        return NULL;
    }
    if (!settings)
        settings = empty = json_object();
    current = p;
    rc = p->desc->init ? p->desc->init(ch_api_table(), settings, &p->state) : 0;
    current = NULL;
    json_decref(empty);
    if (rc != 0) {
        errf(err, errlen, "plugin '%s' (%s): init failed with %d", name, p->file, rc);
        plugin_free(p);
        return NULL;
    }
    p->loaded_at = (uint64_t)time(NULL);
    ch_log(CH_LOG_INFO, "plugin %s %s loaded from %s", p->desc->name, p->desc->version, p->file);
    return p;
}

void ch_plugin_ref(ch_plugin *p) { p->refs++; }

void ch_plugin_unref(ch_plugin *p)
{
    if (!p || --p->refs > 0)
        return;
    if (p->desc->fini) {
        current = p;
        p->desc->fini(p->state);
        current = NULL;
    }
    plugin_free(p);
}

/* Mark p current and pinned around a callback; restores the previous. */
#define CALL_IN(p, stmt)                        \
    do {                                        \
        const ch_plugin *saved_ = current;      \
        current = (p);                          \
        ch_plugin_ref(p);                       \
        stmt;                                   \
        current = saved_;                       \
        ch_plugin_unref(p);                     \
    } while (0)

int ch_plugin_connect(ch_plugin *p, chanhost_conn *c)
{
    int rc = 0;

    CALL_IN(p, rc = p->desc->connect(c, p->state));
    return rc;
}

void ch_plugin_receive(ch_plugin *p, chanhost_conn *c, const char *data, size_t len, int binary)
{
    CALL_IN(p, p->desc->receive(c, p->state, data, len, binary));
}

int ch_plugin_has_group_message(const ch_plugin *p) { return p->desc->group_message != NULL; }

void ch_plugin_group_message(ch_plugin *p, chanhost_conn *c, const char *type,
                             const json_t *msg, const chanhost_msg *m)
{
    CALL_IN(p, p->desc->group_message(c, p->state, type, msg, m));
}

void ch_plugin_disconnect(ch_plugin *p, chanhost_conn *c, int code)
{
    CALL_IN(p, p->desc->disconnect(c, p->state, code));
}

void ch_plugin_store_result(ch_plugin *p,
                            void (*cb)(chanhost_conn *c, int status, const json_t *result,
                                       const char *error, void *arg),
                            chanhost_conn *c, int status, const json_t *result,
                            const char *error, void *arg)
{
    CALL_IN(p, cb(c, status, result, error, arg));
}
