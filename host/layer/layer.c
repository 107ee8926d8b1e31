/*
 * layer.c -- owns the process-local half of the channel layer: channel
 * names, the endpoints by channel number, groups with their local
 * memberships (nodes from the layer's slabs), group expiry, local
 * delivery (fan-out over a snapshot), and the table of backends selected
 * by url (name validation: layer_names.c).
 *
 * Data.  Endpoints are indexed by channel number (ep->id: the decimal
 * tail of the name, whose prefix is the layer's; names are made when a
 * backend or a caller needs the text); groups by name (key: the group's own name).  A membership node sits in
 * two lists: its group's doubly linked member list, kept in join-time
 * order (a refresh moves it to the tail) so that expiry only looks at the
 * head, and its endpoint's singly linked `groups` list (an endpoint is in
 * a few groups; removing one walks them).
 *
 * Memberships are 48-byte nodes carved from 4 KiB slabs the layer owns
 * (a free list, the slabs freed with the layer), not one malloc each: a
 * connection usually holds two, and glibc would give each a 64-byte chunk
 * (56 bytes asked before the endpoint's list lost its back link).  Memory of memberships that were left stays on the
 * free list for the next joins.  Under AddressSanitizer a free node is
 * poisoned, so a use after its removal is still caught.
 *
 * Fan-out.  ch_layer_deliver_group copies the member pointers into a
 * scratch array before calling out.  A membership removed while any
 * fan-out is running is not freed but "retired" (ep = NULL) onto a list
 * freed when the outermost fan-out ends, so a snapshot entry is always
 * readable and a removed member is recognised in O(1).
 */
#include "layer.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define MEMB_POISON(m) ASAN_POISON_MEMORY_REGION((m), sizeof *(m))
#define MEMB_UNPOISON(m) ASAN_UNPOISON_MEMORY_REGION((m), sizeof *(m))
#else
#define MEMB_POISON(m) ((void)(m))
#define MEMB_UNPOISON(m) ((void)(m))
#endif

#include "hmap.h"
#include "log.h"

#define LAYER_PREFIX "chanhost."
#define LAYER_ID_BYTES 16
/* prefix, the id in hex, '!', a 64-bit counter in decimal, NUL */
_Static_assert(sizeof LAYER_PREFIX - 1 + 2 * LAYER_ID_BYTES + 1 + 20 + 1 <= CH_CHANNEL_NAME_MAX,
               "a channel name must fit an endpoint's name");

typedef struct ch_group {
    ch_membership *head, *tail; /* oldest join first */
    uint32_t count;             /* local members (at most the open files) */
    char name[];                /* at offset 20: a user's host group
                                   "chanhost.user.<id>" fits a 48-byte chunk */
} ch_group;

struct ch_membership {
    ch_group *group;
    ch_endpoint *ep;              /* NULL once removed (retired) */
    ch_membership *gprev, *gnext; /* the group's list; gnext also links
                                      the retired list and the free list */
    ch_membership *enext;         /* the endpoint's list */
    uint64_t joined;              /* uv_now() at the last group_add */
};
_Static_assert(sizeof(ch_membership) == 48, "a membership is a 48-byte slab node");

/* A slab of membership nodes: 8 + 84 * 48 = 4040 bytes, one 4 KiB chunk. */
#define MEMB_PER_SLAB 84
typedef struct memb_slab {
    struct memb_slab *next;
    ch_membership nodes[MEMB_PER_SLAB];
} memb_slab;

struct ch_layer {
    uv_loop_t *loop;
    uint64_t expiry_ms;
    ch_layer_deliver_fn deliver;
    void *arg;
    const ch_layer_backend *ops;
    void *self;
    ch_vmap channels;         /* channel number -> ch_endpoint (endpoint_ops) */
    ch_vmap groups;           /* group name -> ch_group (group_ops) */
    char prefix[CH_NAME_MAX]; /* "chanhost.<32 hex>!" */
    size_t prefix_len;
    uint64_t counter;        /* last channel number handed out */
    ch_membership **scratch; /* the reusable fan-out snapshot */
    size_t scratch_cap;
    int scratch_busy;
    unsigned fanout_depth;  /* nested ch_layer_deliver_group calls */
    ch_membership *retired; /* removed during a fan-out */
    ch_link *link;          /* to the master (borrowed), or NULL */
    memb_slab *slabs;       /* every membership node's slab */
    ch_membership *free_nodes; /* unused nodes, linked by gnext */
};

/* Call an optional backend op; a NULL op is a no-op returning 0. */
#define LAYER_HOOK(l, op, ...) ((l)->ops->op ? (l)->ops->op((l)->self, __VA_ARGS__) : 0)

/* ---- backends by url ------------------------------------------------ */

/* A url-selected backend constructor: like ch_layer_backend_new_fn, plus
 * the url and room for a reason on failure. */
typedef int (*layer_url_new_fn)(ch_layer *l, const char *url, const ch_layer_backend **ops,
                                void **self, char *err, size_t errlen);

typedef struct layer_kind {
    const char *match; /* the exact url, or a prefix ending "://" */
    layer_url_new_fn make;
} layer_kind;

/* The memory backend cannot fail for a reason worth a message. */
static int memory_make(ch_layer *l, const char *url, const ch_layer_backend **ops, void **self,
                       char *err, /* NOLINT(readability-non-const-parameter) */
                       size_t errlen)
{
    (void)url;
    (void)err;
    (void)errlen;
    return ch_layer_memory_new(l, ops, self);
}

/* One entry per backend this build knows, e.g. {"redis://", redis_make}. */
static const layer_kind layer_kinds[] = {
    {"memory", memory_make},
    {"redis://", ch_layer_redis_new},
    {"unix://", ch_layer_redis_new},
    {"redis-sentinel://", ch_layer_redis_new},
    {"channels_redis://", ch_layer_cr_new},
    {"channels_redis+unix://", ch_layer_cr_new},
    {"channels_redis+sentinel://", ch_layer_cr_new},
};

static const layer_kind *layer_kind_find(const char *url)
{
    for (size_t i = 0; i < sizeof layer_kinds / sizeof layer_kinds[0]; i++) {
        const char *match = layer_kinds[i].match;
        size_t n = strlen(match);
        int is_prefix = n >= 3 && strcmp(match + n - 3, "://") == 0;

        if (is_prefix ? strncmp(url, match, n) == 0 : strcmp(url, match) == 0)
            return &layer_kinds[i];
    }
    return NULL;
}

static void __attribute__((format(printf, 3, 4)))
layer_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || !errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* "memory, redis://" -- the backends of layer_kinds, for error text. */
static void layer_kinds_list(char *out, size_t outlen)
{
    size_t used = 0;

    out[0] = '\0';
    for (size_t i = 0; i < sizeof layer_kinds / sizeof layer_kinds[0]; i++) {
        int n = snprintf(out + used, outlen - used, "%s%s", i ? ", " : "", layer_kinds[i].match);

        if (n < 0 || (size_t)n >= outlen - used)
            return;
        used += (size_t)n;
    }
}

/* ---- creation and destruction --------------------------------------- */

/* l->channels: endpoints by their channel number (key: a uint64_t). */
static uint64_t endpoint_hash_key(const void *key, uint64_t seed)
{
    return ch_vmap_hash_u64(*(const uint64_t *)key, seed);
}

static uint64_t endpoint_hash_val(const void *ep, uint64_t seed)
{
    return ch_vmap_hash_u64(((const ch_endpoint *)ep)->id, seed);
}

static int endpoint_match(const void *ep, const void *key)
{
    return ((const ch_endpoint *)ep)->id == *(const uint64_t *)key;
}

static const ch_vmap_ops endpoint_ops = {endpoint_hash_key, endpoint_hash_val, endpoint_match};

/* l->groups: groups by their name (key: the name). */
static uint64_t group_hash_key(const void *key, uint64_t seed)
{
    return ch_vmap_hash_str(key, seed);
}

static uint64_t group_hash_val(const void *g, uint64_t seed)
{
    return ch_vmap_hash_str(((const ch_group *)g)->name, seed);
}

static int group_match(const void *g, const void *key)
{
    return strcmp(((const ch_group *)g)->name, key) == 0;
}

static const ch_vmap_ops group_ops = {group_hash_key, group_hash_val, group_match};

/* A layer with its random process id and no backend yet.  NULL with a
 * reason in err.  Freed with free() until a backend is set. */
static ch_layer *layer_alloc(uv_loop_t *loop, const ch_layer_opts *opts,
                             ch_layer_deliver_fn deliver, void *arg, char *err, size_t errlen)
{
    unsigned char id[LAYER_ID_BYTES];
    ch_layer *l;
    char *p;

    if (!loop || !deliver) {
        layer_err(err, errlen, "channel layer needs a loop and a deliver callback");
        return NULL;
    }
    if (getrandom(id, sizeof id, 0) != (ssize_t)sizeof id) {
        layer_err(err, errlen, "cannot read random bytes: %s", strerror(errno));
        return NULL;
    }
    l = calloc(1, sizeof *l);
    if (!l) {
        layer_err(err, errlen, "out of memory");
        return NULL;
    }
    ch_vmap_init(&l->channels, &endpoint_ops);
    ch_vmap_init(&l->groups, &group_ops);
    l->loop = loop;
    l->expiry_ms = opts ? opts->group_expiry_ms : 0;
    l->link = opts ? opts->link : NULL;
    l->deliver = deliver;
    l->arg = arg;
    p = l->prefix + sizeof LAYER_PREFIX - 1;
    memcpy(l->prefix, LAYER_PREFIX, sizeof LAYER_PREFIX - 1);
    for (size_t i = 0; i < sizeof id; i++) {
        *p++ = "0123456789abcdef"[id[i] >> 4];
        *p++ = "0123456789abcdef"[id[i] & 15];
    }
    *p++ = '!';
    l->prefix_len = (size_t)(p - l->prefix);
    return l;
}

/* Create a layer whose backend is chosen by url in layer_kinds.  The
 * caller frees the result with ch_layer_free. */
ch_layer *ch_layer_new(uv_loop_t *loop, const char *url, const ch_layer_opts *opts,
                       ch_layer_deliver_fn deliver, void *arg, char *err, size_t errlen)
{
    const layer_kind *kind = url ? layer_kind_find(url) : NULL;
    ch_layer *l;
    int rc;

    if (!kind) {
        char list[256];

        layer_kinds_list(list, sizeof list);
        layer_err(err, errlen, "unknown channel layer '%s' (this build supports: %s)",
                  url ? url : "(null)", list);
        return NULL;
    }
    l = layer_alloc(loop, opts, deliver, arg, err, errlen);
    if (!l)
        return NULL;
    if (err && errlen)
        err[0] = '\0';
    rc = kind->make(l, url, &l->ops, &l->self, err, errlen);
    if (rc < 0) {
        if (err && errlen && !err[0])
            layer_err(err, errlen, "cannot start channel layer '%s': %s", url, strerror(-rc));
        free(l);
        return NULL;
    }
    return l;
}

ch_layer *ch_layer_new_backend(uv_loop_t *loop, ch_layer_backend_new_fn make,
                               const ch_layer_opts *opts, ch_layer_deliver_fn deliver, void *arg,
                               char *err, size_t errlen)
{
    ch_layer *l = layer_alloc(loop, opts, deliver, arg, err, errlen);
    int rc;

    if (!l)
        return NULL;
    rc = make(l, &l->ops, &l->self);
    if (rc < 0) {
        layer_err(err, errlen, "cannot start channel layer backend: %s", strerror(-rc));
        free(l);
        return NULL;
    }
    return l;
}

/* A zeroed membership node from the free list (a new slab when it is
 * empty), or NULL when memory is short.  Owned by l; give it back with
 * memb_free. */
static ch_membership *memb_alloc(ch_layer *l)
{
    ch_membership *m;

    if (!l->free_nodes) {
        memb_slab *s = malloc(sizeof *s);

        if (!s)
            return NULL;
        s->next = l->slabs;
        l->slabs = s;
        for (size_t i = MEMB_PER_SLAB; i-- > 0;) {
            s->nodes[i].gnext = l->free_nodes;
            l->free_nodes = &s->nodes[i];
            MEMB_POISON(&s->nodes[i]);
        }
    }
    m = l->free_nodes;
    MEMB_UNPOISON(m);
    l->free_nodes = m->gnext;
    memset(m, 0, sizeof *m);
    return m;
}

/* Put m (no longer in any list) back on l's free list. */
static void memb_free(ch_layer *l, ch_membership *m)
{
    m->gnext = l->free_nodes;
    l->free_nodes = m;
    MEMB_POISON(m);
}

static void layer_free_retired(ch_layer *l)
{
    while (l->retired) {
        ch_membership *m = l->retired;

        l->retired = m->gnext;
        memb_free(l, m);
    }
}

/* Destroy the backend, then every group and membership.  Endpoints still
 * attached are left with groups = NULL and attached = 0 (so a late
 * ch_layer_detach on them is a no-op); their memory is not touched
 * otherwise.  Must not be called from inside a deliver callback. */
void ch_layer_free(ch_layer *l)
{
    size_t pos = 0;
    void *val;

    if (!l)
        return;
    if (l->ops && l->ops->destroy)
        l->ops->destroy(l->self);
    while (ch_vmap_next(&l->channels, &pos, &val)) {
        ch_endpoint *ep = val;

        ep->groups = NULL;
        ep->attached = 0;
    }
    pos = 0;
    while (ch_vmap_next(&l->groups, &pos, &val))
        free(val); /* its memberships go with the slabs */
    while (l->slabs) {
        memb_slab *s = l->slabs;

        l->slabs = s->next;
        MEMB_UNPOISON(s);
        free(s);
    }
    ch_vmap_free(&l->channels);
    ch_vmap_free(&l->groups);
    free(l->scratch);
    free(l);
}

uv_loop_t *ch_layer_loop(const ch_layer *l) { return l->loop; }

ch_link *ch_layer_link(const ch_layer *l) { return l->link; }

void ch_layer_set_link(ch_layer *l, ch_link *link) { l->link = link; }

/* Non-zero if channel is one of this process's names. */
int ch_layer_channel_is_local(const ch_layer *l, const char *channel)
{
    return strncmp(channel, l->prefix, l->prefix_len) == 0;
}

void ch_layer_process_id(const ch_layer *l, char out[33])
{
    const size_t n = 2 * (size_t)LAYER_ID_BYTES;

    memcpy(out, l->prefix + l->prefix_len - 1 - n, n);
    out[n] = '\0';
}

/* Rebuild the name prefix as kind + the process id + '!'; the names
 * must still fit an endpoint's (kind at most 9 bytes: "specific."). */
int ch_layer_set_name_kind(ch_layer *l, const char *kind)
{
    size_t k = strlen(kind), n = 2 * (size_t)LAYER_ID_BYTES;
    char hex[33];

    if (l->counter || k + n + 1 + 20 + 1 > CH_CHANNEL_NAME_MAX || !ch_layer_valid_group(kind))
        return -EINVAL;
    ch_layer_process_id(l, hex);
    snprintf(l->prefix, sizeof l->prefix, "%s%s!", kind, hex);
    l->prefix_len = k + n + 1;
    return 0;
}

/* ---- names ---------------------------------------------------------- */

/* Name validation (ch_layer_valid_group, ch_layer_valid_channel): layer_names.c. */

/* layer.h: ep's channel name, prefix + its number in decimal. */
char *ch_layer_channel_name(const ch_layer *l, const ch_endpoint *ep, char *out)
{
    char digits[20];
    size_t n = 0;
    uint64_t v = ep->id;
    char *p = out + l->prefix_len;

    if (!v) {
        out[0] = '\0';
        return out;
    }
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    memcpy(out, l->prefix, l->prefix_len);
    while (n)
        *p++ = digits[--n];
    *p = '\0';
    return out;
}

/* The channel number of channel if it is one of this layer's names
 * (the prefix, then a decimal number without a leading zero that fits an
 * endpoint's id), else 0. */
static uint64_t layer_channel_id(const ch_layer *l, const char *channel)
{
    const char *p = channel + l->prefix_len;
    uint64_t v = 0;

    if (strncmp(channel, l->prefix, l->prefix_len) != 0 || *p < '1' || *p > '9')
        return 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX >> 1) / 10)
            return 0;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    return *p || v > (UINT64_MAX >> 1) ? 0 : v;
}

/* ---- endpoints and memberships -------------------------------------- */

int ch_layer_attach(ch_layer *l, ch_endpoint *ep)
{
    int rc;

    if (ep->attached)
        return 0;
    uint64_t old = ep->id, id = l->counter + 1;

    ep->id = id;
    rc = ch_vmap_put(&l->channels, &id, ep);
    if (rc < 0) {
        ep->id = old;
        return rc;
    }
    l->counter++;
    ep->groups = NULL;
    ep->attached = 1;
    return 0;
}

/* Unlink g from the map, tell the backend the last local member left,
 * and free it.  g must have no members. */
static void group_drop(ch_layer *l, ch_group *g)
{
    ch_vmap_remove(&l->groups, g->name);
    LAYER_HOOK(l, group_left, g->name);
    free(g);
}

static void glist_append(ch_group *g, ch_membership *m)
{
    m->gnext = NULL;
    m->gprev = g->tail;
    if (g->tail)
        g->tail->gnext = m;
    else
        g->head = m;
    g->tail = m;
}

static void glist_unlink(ch_group *g, ch_membership *m)
{
    if (g->head == m)
        g->head = m->gnext;
    else
        m->gprev->gnext = m->gnext;
    if (g->tail == m)
        g->tail = m->gprev;
    else
        m->gnext->gprev = m->gprev;
}

/* Remove m from its group g (== m->group) and its endpoint, tell the
 * backend, drop g if it became empty, and free m (or retire it while a
 * fan-out runs).  Returns 1 if g was dropped (freed), else 0. */
static int membership_remove(ch_layer *l, ch_group *g, ch_membership *m)
{
    char name[CH_CHANNEL_NAME_MAX];
    int dropped = g->head == m && g->tail == m;

    ch_membership **pp = &m->ep->groups;

    glist_unlink(g, m);
    g->count--;
    while (*pp != m)
        pp = &(*pp)->enext;
    *pp = m->enext;
    LAYER_HOOK(l, member_discard, g->name, ch_layer_channel_name(l, m->ep, name));
    if (dropped)
        group_drop(l, g);
    m->ep = NULL;
    if (l->fanout_depth) {
        m->gnext = l->retired;
        l->retired = m;
    } else {
        memb_free(l, m);
    }
    return dropped;
}

void ch_layer_detach(ch_layer *l, ch_endpoint *ep)
{
    if (!ep->attached)
        return;
    for (ch_membership *m = ep->groups, *next; m; m = next) {
        next = m->enext;
        membership_remove(l, m->group, m);
    }
    ch_vmap_remove(&l->channels, &(uint64_t){ep->id});
    ep->attached = 0;
}

/* Drop g's memberships that are group_expiry old or older (oldest are at
 * the head).  Returns g, or NULL if g lost its last member and was freed. */
static ch_group *group_expire(ch_layer *l, ch_group *g)
{
    uint64_t now;

    if (!l->expiry_ms)
        return g;
    now = uv_now(l->loop);
    for (ch_membership *m = g->head, *next; m; m = next) {
        if (now < m->joined || now - m->joined < l->expiry_ms)
            break;
        next = m->gnext;
        if (membership_remove(l, g, m))
            return NULL;
    }
    return g;
}

/* ep's membership of g, or NULL (a walk of ep's groups). */
static ch_membership *ep_find(ch_endpoint *ep, const ch_group *g)
{
    for (ch_membership *m = ep->groups; m; m = m->enext)
        if (m->group == g)
            return m;
    return NULL;
}

/* A new empty group named name, in the map, announced to the backend.
 * Returns 0 and sets *out, -ENOMEM, or the backend's error. */
static int group_create(ch_layer *l, const char *name, ch_group **out)
{
    size_t len = strlen(name);
    ch_group *g = calloc(1, offsetof(ch_group, name) + len + 1);
    int rc;

    if (!g)
        return -ENOMEM;
    memcpy(g->name, name, len + 1);
    if (ch_vmap_put(&l->groups, g->name, g) < 0) {
        free(g);
        return -ENOMEM;
    }
    rc = LAYER_HOOK(l, group_joined, g->name);
    if (rc < 0) {
        ch_vmap_remove(&l->groups, g->name);
        free(g);
        return rc;
    }
    *out = g;
    return 0;
}

/* Add ep to g (not yet a member).  On failure an empty g is dropped. */
static int membership_create(ch_layer *l, ch_endpoint *ep, ch_group *g)
{
    char name[CH_CHANNEL_NAME_MAX];
    ch_membership *m = memb_alloc(l);
    int rc;

    if (!m) {
        if (!g->count)
            group_drop(l, g);
        return -ENOMEM;
    }
    m->group = g;
    m->ep = ep;
    m->joined = uv_now(l->loop);
    glist_append(g, m);
    g->count++;
    m->enext = ep->groups;
    ep->groups = m;
    rc = LAYER_HOOK(l, member_add, g->name, ch_layer_channel_name(l, ep, name));
    if (rc < 0)
        membership_remove(l, g, m);
    return rc < 0 ? rc : 0;
}

/* Expire the group's old members, then refresh ep's membership (new
 * time, moved to the tail) or create it (and the group if needed). */
int ch_layer_group_add(ch_layer *l, ch_endpoint *ep, const char *group)
{
    char name[CH_CHANNEL_NAME_MAX];
    ch_group *g;
    ch_membership *m;
    int rc;

    if (!ep->attached || !ch_layer_valid_group(group))
        return -EINVAL;
    g = ch_vmap_get(&l->groups, group);
    if (g)
        g = group_expire(l, g);
    m = g ? ep_find(ep, g) : NULL;
    if (m) {
        m->joined = uv_now(l->loop);
        glist_unlink(g, m);
        glist_append(g, m);
        rc = LAYER_HOOK(l, member_add, g->name, ch_layer_channel_name(l, ep, name));
        return rc < 0 ? rc : 0;
    }
    if (!g) {
        rc = group_create(l, group, &g);
        if (rc < 0)
            return rc;
    }
    return membership_create(l, ep, g);
}

int ch_layer_group_discard(ch_layer *l, ch_endpoint *ep, const char *group)
{
    ch_group *g;
    ch_membership *m;

    if (!ch_layer_valid_group(group))
        return -EINVAL;
    g = ep->attached ? ch_vmap_get(&l->groups, group) : NULL;
    if (!g)
        return 0;
    m = ep_find(ep, g);
    if (m)
        membership_remove(l, g, m);
    return 0;
}

/* ---- sending and delivery ------------------------------------------- */

int ch_layer_group_send(ch_layer *l, const char *group, ch_msg *msg)
{
    if (!msg || !ch_layer_valid_group(group))
        return -EINVAL;
    return LAYER_HOOK(l, group_send, group, msg);
}

int ch_layer_send(ch_layer *l, const char *channel, ch_msg *msg)
{
    if (!msg || !ch_layer_valid_channel(channel))
        return -EINVAL;
    return LAYER_HOOK(l, channel_send, channel, msg);
}

/* An array for n snapshot entries: the layer's scratch if it is free
 * (grown as needed), else a fresh one for a nested fan-out.  NULL if out
 * of memory.  Give it back with snapshot_release. */
static ch_membership **snapshot_acquire(ch_layer *l, size_t n)
{
    if (l->scratch_busy)
        return malloc(n * sizeof *l->scratch); /* NOLINT(bugprone-sizeof-expression) */
    if (n > l->scratch_cap) {
        size_t cap = l->scratch_cap * 2 > n ? l->scratch_cap * 2 : n;
        /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
        ch_membership **s = realloc(l->scratch, cap * sizeof *s);

        if (!s)
            return NULL;
        l->scratch = s;
        l->scratch_cap = cap;
    }
    l->scratch_busy = 1;
    return l->scratch;
}

static void snapshot_release(ch_layer *l, ch_membership **snap)
{
    if (snap == l->scratch)
        l->scratch_busy = 0;
    else
        free(snap);
}

/* Expire, snapshot the members, and call deliver for each snapshot entry
 * still a member when its turn comes (callbacks may add, remove, detach
 * and send).  msg is borrowed.  Returns the number of calls made. */
size_t ch_layer_deliver_group(ch_layer *l, const char *group, ch_msg *msg)
{
    ch_group *g = ch_vmap_get(&l->groups, group);
    ch_membership **snap;
    size_t n, i = 0, delivered = 0;

    if (!g || !(g = group_expire(l, g)))
        return 0;
    n = g->count;
    snap = snapshot_acquire(l, n);
    if (!snap) {
        ch_log(CH_LOG_ERROR, "channel layer: out of memory sending to group %s", group);
        return 0;
    }
    for (ch_membership *m = g->head; m && i < n; m = m->gnext)
        snap[i++] = m;
    n = i;
    l->fanout_depth++;
    for (i = 0; i < n; i++) {
        if (!snap[i]->ep)
            continue;
        l->deliver(snap[i]->ep, msg, l->arg);
        delivered++;
    }
    l->fanout_depth--;
    snapshot_release(l, snap);
    if (!l->fanout_depth)
        layer_free_retired(l);
    return delivered;
}

size_t ch_layer_deliver_channel(ch_layer *l, const char *channel, ch_msg *msg)
{
    ch_endpoint *ep = ch_vmap_get(&l->channels, &(uint64_t){layer_channel_id(l, channel)});

    if (!ep || !ep->attached)
        return 0;
    l->deliver(ep, msg, l->arg);
    return 1;
}

/* ---- observability -------------------------------------------------- */

size_t ch_layer_group_count(const ch_layer *l) { return ch_vmap_count(&l->groups); }

size_t ch_layer_group_size(ch_layer *l, const char *group)
{
    ch_group *g = group ? ch_vmap_get(&l->groups, group) : NULL;

    return g ? g->count : 0;
}

const char *ch_layer_backend_name(const ch_layer *l) { return l->ops->name; }

const char *ch_layer_state(const ch_layer *l)
{
    return l->ops->state ? l->ops->state(l->self) : "ok";
}
