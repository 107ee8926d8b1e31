/*
 * plugins.h -- loading consumer plugins and calling into them.
 *
 * Loading (in this order, each refusal logged with the file, the field,
 * the expected and the actual value; the host keeps running):
 *   1. the file PLUGIN_DIR/NAME.so exists and is a regular file;
 *   2. it is copied to a private file and dlopen()ed from there with
 *      RTLD_NOW | RTLD_LOCAL: dlopen caches by path, so loading a rebuilt
 *      .so from its usual path would return the old code; with a private
 *      copy, two versions of one plugin can be loaded at once;
 *   3. the symbol chanhost_plugin_descriptor is found;
 *   4. the descriptor is checked (ch_plugin_check_descriptor): abi_major
 *      equal, abi_minor not newer than the host's, struct_size at least an
 *      ABI 1.0 descriptor, jansson_major equal, and the mandatory fields
 *      name, version and receive; what this host knows of it is copied;
 *   5. a schema (SDK 1.2, chanhost_schema) is copied into host memory and
 *      its migrations are applied by the store (asynchronously; refused
 *      without a store, or when a migration fails: one line naming the
 *      plugin, its version and the database's error); its operations
 *      "<name>.<op>" are installed (store_plugin.h);
 *   6. init(api, settings, &state), if the plugin has one, returns 0.
 *
 * Every other callback is optional: the wrappers below honour a NULL one
 * (connect: accept; disconnect, group_message, adopt, fini: skipped).
 *
 * The endpoints a descriptor declares (ABI 1.2) are copied at step 3/4
 * whenever its major is this host's, before the other checks, so that a
 * plugin refused later keeps its declarations (ch_plugin_refused_endpoints)
 * and its endpoints can answer 503.
 *
 * A loaded version is reference-counted: the registry holds one
 * reference, every connection it serves holds one.  When the last goes,
 * fini runs, then its remaining timers and posters are released
 * (timers.h), and the library is closed; never while one of its callbacks
 * is on the stack (callbacks are always invoked through ch_plugin_*
 * wrappers that hold a reference for the duration of the call).  Timers
 * hold no reference: they never keep an old version loaded.
 */
#ifndef CH_PLUGINS_H
#define CH_PLUGINS_H

#include <jansson.h>
#include <stdint.h>

#include <uv.h>

#include "chanhost.h"

/* One HTTP endpoint a plugin declared (chanhost_endpoint, ABI 1.2), as
 * the host keeps it: method and pattern copied (owned, may be NULL when
 * the plugin left them out), access as declared, handler pointing into the
 * plugin's code (NULL in a refused plugin's declarations: no code). */
typedef struct ch_endpoint_decl {
    char *method;
    char *pattern;
    int access;
    void (*handler)(chanhost_http *req, void *state);
} ch_endpoint_decl;
struct ch_store;
struct ch_store_schema;

/* What identifies the contents of a file for change detection. */
typedef struct ch_file_id {
    uint64_t dev, ino, size, mtime_ns;
} ch_file_id;

typedef struct ch_plugin {
    char *name;                  /* as in the config ("echo") */
    char *file;                  /* the .so it was loaded from */
    void *handle;                /* dlopen handle */
    const chanhost_plugin *desc; /* &desc_copy once the checks passed */
    chanhost_plugin desc_copy;   /* the descriptor as this host knows it */
    void *state;                 /* what init returned */
    uint32_t refs;
    uint32_t generation;                     /* 1 for the first load of a name */
    uint64_t loaded_at;                      /* wall clock, seconds */
    uint64_t connections;                    /* connections it serves now */
    ch_file_id file_id;                      /* of `file` when it was loaded */
    struct ch_store_schema *schema;          /* its tables and ops (a reference), or NULL */
    struct ch_plugin *live_next, *live_prev; /* every live version */
    unsigned linked : 1;
    ch_endpoint_decl *endpoints; /* its declared endpoints (owned) */
    size_t n_endpoints;
    /* ABI 1.2: what this version made (timers.c owns and frees them; they
     * hold no reference: released after fini when the version unloads) */
    struct chanhost_timer *timers;   /* its timers, newest first */
    struct chanhost_poster *posters; /* its posters for loop_post */
} ch_plugin;

/* The function table every plugin's init gets (api.h's ch_api_table;
 * static, borrowed).  Set once by the assembler before the first load. */
void ch_plugin_set_api(const chanhost_api *api);

/* The store plugin schemas are migrated in (borrowed; NULL: `store
 * none`, and a plugin with a schema is refused) and the loop it runs on
 * (ch_plugin_load runs it until the migrations are done).  Set by the
 * assembler after opening the store, before the first load. */
void ch_plugin_set_store(struct ch_store *store, uv_loop_t *loop);

/* Read the schema of dir/name.so without starting it (no migration, no
 * init; for `chanhost migrate`, export and import): a new reference, or
 * NULL with the reason in err, or NULL with err "" when the plugin
 * declares none.  Blocking (disk). */
struct ch_store_schema *ch_plugin_read_schema(const char *dir, const char *name, char *err,
                                              size_t errlen);

/* The version rules and mandatory fields, for a descriptor d (borrowed;
 * only its first d->struct_size bytes are read) of plugin `name` loaded
 * from `file` (both borrowed, for the message).  Accepts the host's major
 * with a minor not newer than the host's; fills *out (caller's) with the
 * first min(struct_size, sizeof *out) bytes of d and zeros after them, so
 * callbacks newer than the plugin are NULL.  Returns 0, or -1 with the
 * reason in err (errlen bytes, starting "plugin 'name' (file): "). */
int ch_plugin_check_descriptor(const chanhost_plugin *d, const char *name, const char *file,
                               chanhost_plugin *out, char *err, size_t errlen);

/* Load dir/name.so.  settings: borrowed object (NULL = empty).  Returns a
 * new plugin with refs = 1, or NULL with the reason in err (errlen bytes;
 * the reason starts with the plugin name).  A plugin with a schema runs
 * the store's loop until its migrations are done (start-up only: the
 * caller is not inside a loop callback). */
ch_plugin *ch_plugin_load(const char *dir, const char *name, const json_t *settings,
                          uint32_t generation, char *err, size_t errlen);

/* Load without blocking the loop: the file work (copy, dlopen, checks)
 * runs on the thread pool, the migrations in the store, init on the loop;
 * then done(p, NULL, arg) with
 * the started plugin (refs = 1, the caller's), or done(NULL, reason, arg).
 * settings: borrowed (copied).  Returns 0, or a negative errno if the job
 * could not be queued (done is then never called). */
typedef void (*ch_plugin_loaded_fn)(ch_plugin *p, const char *err, void *arg);
int ch_plugin_load_async(uv_loop_t *loop, const char *dir, const char *name, const json_t *settings,
                         uint32_t generation, ch_plugin_loaded_fn done, void *arg);

/* Non-zero if the file now identified by `now` differs from p's. */
int ch_plugin_file_changed(const ch_plugin *p, const ch_file_id *now);

void ch_plugin_ref(ch_plugin *p);
/* Drop a reference; at zero: fini, dlclose, free. */
void ch_plugin_unref(ch_plugin *p);

/* Calls into the plugin, with the plugin marked current for logging and
 * pinned for the duration. */
int ch_plugin_connect(ch_plugin *p, chanhost_conn *c);
void ch_plugin_receive(ch_plugin *p, chanhost_conn *c, const char *data, size_t len, int binary);
int ch_plugin_has_group_message(const ch_plugin *p);
void ch_plugin_group_message(ch_plugin *p, chanhost_conn *c, const char *type, const json_t *msg,
                             const chanhost_msg *m);
void ch_plugin_disconnect(ch_plugin *p, chanhost_conn *c, int code);

/* Hand a store result to the plugin's callback cb (c may be NULL). */
void ch_plugin_store_result(ch_plugin *p,
                            void (*cb)(chanhost_conn *c, int status, const json_t *result,
                                       const char *error, void *arg),
                            chanhost_conn *c, int status, const json_t *result, const char *error,
                            void *arg);

/* Call an endpoint's handler (a function of p's) with req (borrowed). */
void ch_plugin_http(ch_plugin *p, void (*handler)(chanhost_http *req, void *state),
                    chanhost_http *req);

/* Hand an api->store_exec result to the plugin's callback cb. */
void ch_plugin_exec_result(ch_plugin *p,
                           void (*cb)(int status, const json_t *result, const char *error,
                                      void *arg),
                           int status, const json_t *result, const char *error, void *arg);

/* The endpoints declared by the last refused load of plugin `name` whose
 * descriptor could be read (its major was this host's: init failed, a
 * newer minor, a missing field ...), so that they answer 503 while no
 * version of it runs: borrowed, valid until the next load of that name
 * (loop thread); NULL with *n = 0 if none.  Handlers are NULL. */
const ch_endpoint_decl *ch_plugin_refused_endpoints(const char *name, size_t *n);

/* Forget every remembered refused declaration (ch_app_free). */
void ch_plugin_refused_free(void);

/* Every live plugin version, newest first (walk with ->live_next). */
const ch_plugin *ch_plugin_live(void);

/* Non-zero if p has the optional adopt callback (ABI 1.1). */
int ch_plugin_can_adopt(const ch_plugin *p);

/* Ask p (a new version) to take over c, whose old version set old_data.
 * Returns the callback's answer (0: taken over). */
int ch_plugin_adopt(ch_plugin *p, chanhost_conn *c, void *old_data);

/* Run fn(arg) (host code that calls into p, e.g. a timer's callback; arg
 * borrowed) with p marked current and pinned for the call. */
void ch_plugin_call(ch_plugin *p, void (*fn)(void *arg), void *arg);

/* The plugin whose callback is running, or NULL (for log prefixes, and
 * the owner of the timers and posters it makes: timers.h). */
const ch_plugin *ch_plugin_current(void);

#endif
