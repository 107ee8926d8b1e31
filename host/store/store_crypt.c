/*
 * store_crypt.c -- owns encryption at rest of message content (see
 * store_crypt.h): the keyring (parsing "ID:BASE64" lines, loading or
 * creating the key file through core/secret.h), sealing and
 * opening with AES-256-GCM through OpenSSL's EVP API.  Nonces and sealed
 * bytes travel into the database as strict base64 (core/b64.h).
 *
 * Nothing here is shared and mutable: a keyring is read-only once loaded,
 * and every open uses its own EVP_CIPHER_CTX and every thread its own one
 * for sealing (gcm_seal: kept per thread, keyed per ring and key), so any
 * number of threads may seal and open with one keyring at once.  The one process-wide
 * value is the AES-256-GCM implementation, fetched from OpenSSL's
 * providers once (pthread_once; read-only after) instead of at every
 * seal and open; each thread also owns a small pool of random nonces
 * (fresh_nonce).  Key material is
 * wiped (OPENSSL_cleanse) from every buffer that held it before the
 * buffer is freed or goes out of scope.
 */
#include "store_crypt.h"

#include "b64.h"
#include "secret.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>

#define KEY_LEN 32                  /* AES-256 */
#define NONCE_LEN 12                /* GCM's 96-bit nonce */
#define TAG_LEN 16                  /* GCM's full-length tag */
#define MAX_PLAIN ((size_t)1 << 30) /* keeps every length within an int */
#define MAX_KEY_FILE ((size_t)1 << 20)

typedef struct ring_key {
    int id;
    unsigned char key[KEY_LEN];
} ring_key;

struct ch_keyring {
    ring_key *keys; /* n entries, in file order */
    size_t n;
    size_t cap;   /* room in keys (all of it is wiped) */
    int current;  /* the highest id */
    uint64_t gen; /* this ring's number in the process (seal_ctx's cache) */
};

/* --- errors --------------------------------------------------------------- */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* printf into err (if there is one). */
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    (void)vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* --- the keyring ------------------------------------------------------------ */

/* Wipe every key, then free the ring.  NULL is fine. */
void ch_keyring_free(ch_keyring *k)
{
    if (!k)
        return;
    if (k->keys) {
        OPENSSL_cleanse(k->keys, k->cap * sizeof *k->keys);
        free(k->keys);
    }
    OPENSSL_cleanse(k, sizeof *k);
    free(k);
}

int ch_keyring_current(const ch_keyring *k) { return k ? k->current : 0; }

/* The key with the given id, or NULL (borrowed from the ring). */
static const ring_key *ring_find(const ch_keyring *k, int id)
{
    for (size_t i = 0; i < k->n; i++)
        if (k->keys[i].id == id)
            return &k->keys[i];
    return NULL;
}

static atomic_uint_fast64_t ring_gens; /* rings made in this process */

/* An empty ring with room for cap keys (free with ch_keyring_free), or
 * NULL.  cap is counted up front so the array never moves (a realloc
 * would leave a copy of the keys behind, unwiped). */
static ch_keyring *ring_new(size_t cap)
{
    ch_keyring *k = calloc(1, sizeof *k);

    if (!k)
        return NULL;
    if (!(k->keys = calloc(cap ? cap : 1, sizeof *k->keys))) {
        free(k);
        return NULL;
    }
    k->cap = cap ? cap : 1;
    k->gen = atomic_fetch_add(&ring_gens, 1) + 1;
    return k;
}

/* One line of keyring text, trimmed, with where it came from. */
typedef struct ring_line {
    const char *s; /* not NUL-terminated */
    size_t n;
    const char *name; /* the file or variable, for errors */
    unsigned lineno;
} ring_line;

/* Parse the ID of "ID:BASE64" (digits before the colon) into *id.
 * Returns 0, or -1 with the reason in err. */
static int parse_id(const ring_line *l, size_t colon, int *id, char *err, size_t errlen)
{
    long v = 0;
    size_t i;

    for (i = 0; i < colon; i++) {
        if (l->s[i] < '0' || l->s[i] > '9')
            break;
        v = v * 10 + (l->s[i] - '0');
        if (v > INT_MAX)
            break;
    }
    if (colon == 0 || i < colon || v <= 0) {
        set_err(err, errlen, "%s:%u: key id must be a positive integer (lines are ID:BASE64)",
                l->name, l->lineno);
        return -1;
    }
    *id = (int)v;
    return 0;
}

/* Decode the BASE64 of "ID:BASE64" (starting at b) into key.  Returns 0,
 * or -1 with the reason in err.  The reason never quotes the text. */
static int parse_key(const ring_line *l, size_t b, unsigned char key[KEY_LEN], char *err,
                     size_t errlen)
{
    const char *s = l->s + b;
    size_t n = l->n - b;
    unsigned char buf[KEY_LEN + 3];
    long len = ch_b64_decoded_len(s, n, CH_B64_STD);

    if (len < 0) {
        set_err(err, errlen, "%s:%u: key is not valid base64", l->name, l->lineno);
        return -1;
    }
    if (len != KEY_LEN) {
        set_err(err, errlen, "%s:%u: key is not 32 bytes of base64 (it decodes to %ld)", l->name,
                l->lineno, len);
        return -1;
    }
    (void)ch_b64_decode_into(s, n, CH_B64_STD, buf);
    memcpy(key, buf, KEY_LEN);
    OPENSSL_cleanse(buf, sizeof buf);
    return 0;
}

/* Add the key on line l to the ring (which has room for it).  Returns 0,
 * or -1 with the reason in err. */
static int ring_add_line(ch_keyring *k, const ring_line *l, const unsigned *id_lines, char *err,
                         size_t errlen)
{
    const char *colon = memchr(l->s, ':', l->n);
    const ring_key *dup;
    ring_key *e = &k->keys[k->n];

    if (!colon) {
        set_err(err, errlen, "%s:%u: expected ID:BASE64", l->name, l->lineno);
        return -1;
    }
    if (parse_id(l, (size_t)(colon - l->s), &e->id, err, errlen) < 0)
        return -1;
    if ((dup = ring_find(k, e->id))) {
        set_err(err, errlen, "%s:%u: key id %d appears twice (first on line %u)", l->name,
                l->lineno, e->id, id_lines[dup - k->keys]);
        return -1;
    }
    if (parse_key(l, (size_t)(colon - l->s) + 1, e->key, err, errlen) < 0)
        return -1;
    if (e->id > k->current)
        k->current = e->id;
    k->n++;
    return 0;
}

/* Trim spaces, tabs and a trailing '\r' from both ends of l. */
static void line_trim(ring_line *l)
{
    while (l->n > 0 && (l->s[0] == ' ' || l->s[0] == '\t')) {
        l->s++;
        l->n--;
    }
    while (l->n > 0 && (l->s[l->n - 1] == ' ' || l->s[l->n - 1] == '\t' || l->s[l->n - 1] == '\r'))
        l->n--;
}

/* Lines in text (an upper bound on its keys). */
static size_t count_lines(const char *text)
{
    size_t n = 1;

    for (const char *p = text; (p = strchr(p, '\n')); p++)
        n++;
    return n;
}

/* Parse every line of text into k.  name labels errors.  Returns 0, or
 * -1 with "name:LINE: reason" in err. */
static int ring_fill(ch_keyring *k, const char *text, const char *name, unsigned *id_lines,
                     char *err, size_t errlen)
{
    ring_line l = {.name = name};
    const char *p = text, *nl;

    for (;;) {
        nl = strchr(p, '\n');
        l.s = p;
        l.n = nl ? (size_t)(nl - p) : strlen(p);
        l.lineno++;
        line_trim(&l);
        if (l.n > 0 && l.s[0] != '#') {
            id_lines[k->n] = l.lineno;
            if (ring_add_line(k, &l, id_lines, err, errlen) < 0)
                return -1;
        }
        if (!nl || !nl[1])
            break;
        p = nl + 1;
    }
    if (k->n == 0) {
        set_err(err, errlen, "%s:%u: no keys (expected lines of the form ID:BASE64)", name,
                l.lineno);
        return -1;
    }
    return 0;
}

/* Parse keyring text; name labels errors ("keys.txt:3: ...").  Returns a
 * new keyring (the caller frees it with ch_keyring_free) or NULL with the
 * reason in err.  text is only read; wiping it is the caller's job. */
static ch_keyring *ring_parse_named(const char *text, const char *name, char *err, size_t errlen)
{
    size_t cap = count_lines(text);
    ch_keyring *k = ring_new(cap);
    unsigned *id_lines = calloc(cap, sizeof *id_lines);

    if (!k || !id_lines) {
        set_err(err, errlen, "%s: out of memory", name);
        ch_keyring_free(k);
        free(id_lines);
        return NULL;
    }
    if (ring_fill(k, text, name, id_lines, err, errlen) < 0) {
        ch_keyring_free(k);
        k = NULL;
    }
    free(id_lines);
    return k;
}

/* Errors name the text "keyring" ("keyring:3: ...").  The new ring is
 * the caller's (ch_keyring_free); text stays the caller's to wipe. */
ch_keyring *ch_keyring_parse(const char *text, char *err, size_t errlen)
{
    if (!text) {
        set_err(err, errlen, "keyring: no text");
        return NULL;
    }
    return ring_parse_named(text, "keyring", err, errlen);
}

/* The text is "ID:BASE64\n" and holds the key itself: callers should
 * OPENSSL_cleanse it before they free it. */
char *ch_keyring_new_key_line(int id)
{
    unsigned char key[KEY_LEN];
    char *b64 = NULL, *line = NULL;

    if (id <= 0 || RAND_bytes(key, sizeof key) != 1)
        return NULL;
    b64 = ch_b64_encode(key, sizeof key, CH_B64_STD);
    if (b64 && asprintf(&line, "%d:%s\n", id, b64) < 0)
        line = NULL;
    OPENSSL_cleanse(key, sizeof key);
    if (b64) {
        OPENSSL_cleanse(b64, strlen(b64));
        free(b64);
    }
    return line;
}

/* --- the key file ----------------------------------------------------------- */

/* Parse text (named name in errors), then wipe and free it.  A NUL byte
 * inside (len counts the file's bytes) is refused: it would hide the keys
 * after it. */
static ch_keyring *parse_and_wipe(char *text, size_t len, const char *name, char *err,
                                  size_t errlen)
{
    ch_keyring *k = NULL;

    if (strlen(text) != len)
        set_err(err, errlen, "%s: holds a NUL byte (not a text file)", name);
    else
        k = ring_parse_named(text, name, err, errlen);
    ch_secret_free(text, len);
    return k;
}

/* Make a new key file at path (directories too) holding one random key
 * with id 1.  Returns 0 with the parsed ring in *k (the caller frees it);
 * 1 if the file appeared meanwhile (another process made it: load that);
 * -1 with the reason in err. */
static int create_key_file(const char *path, ch_keyring **k, char *err, size_t errlen)
{
    char *text = ch_keyring_new_key_line(1);
    int rc;

    if (!text) {
        set_err(err, errlen, "%s: cannot make a random key", path);
        return -1;
    }
    if ((rc = ch_secret_create(path, text, strlen(text), err, errlen)) != 0) {
        ch_secret_free(text, strlen(text));
        return rc < 0 ? -1 : rc;
    }
    *k = parse_and_wipe(text, strlen(text), path, err, errlen);
    return *k ? 0 : -1;
}

/* Read and parse the key file at path; with create, make it if absent.
 * Returns a new ring (the caller frees it) or NULL with the reason. */
static ch_keyring *load_key_file(const char *path, int create, char *err, size_t errlen)
{
    ch_keyring *k = NULL;
    char *text = NULL;
    size_t len = 0;
    int rc = ch_secret_read(path, MAX_KEY_FILE, &text, &len, err, errlen);

    if (rc == -ENOENT && create) {
        if (create_key_file(path, &k, err, errlen) <= 0)
            return k;
        rc = ch_secret_read(path, MAX_KEY_FILE, &text, &len, err, errlen);
    }
    return rc == 0 ? parse_and_wipe(text, len, path, err, errlen) : NULL;
}

/* The variable key_env, when set (even to ""), wins over key_file; its
 * errors are labelled "$NAME:LINE: ...", the file's "PATH:LINE: ...".
 * The new ring is the caller's (ch_keyring_free). */
ch_keyring *ch_keyring_load(const char *key_file, const char *key_env, int create, char *err,
                            size_t errlen)
{
    const char *val = key_env && *key_env ? getenv(key_env) : NULL;

    if (val) {
        char name[128];

        (void)snprintf(name, sizeof name, "$%s", key_env);
        return ring_parse_named(val, name, err, errlen);
    }
    if (!key_file || !*key_file) {
        set_err(err, errlen, "no encryption keys: set a key file or a key variable");
        return NULL;
    }
    return load_key_file(key_file, create, err, errlen);
}

/* --- sealing and opening ------------------------------------------------- */

/*
 * The associated data, binding a sealed content to its row:
 *
 *   offset 0      4 bytes   length L of room_key, unsigned big-endian
 *   offset 4      L bytes   room_key, without its NUL
 *   offset 4 + L  8 bytes   msg_id as a two's-complement big-endian int64
 *
 * Every field has a fixed size or a stated length, so two different
 * (room_key, msg_id) pairs never give the same bytes: ("ab", 1) and
 * ("a", anything) differ in the length field already.
 *
 * New malloc'd buffer (the caller frees it) of *n bytes, or NULL.
 */
static unsigned char *make_aad(const char *room_key, int64_t msg_id, size_t *n)
{
    size_t len = strlen(room_key);
    uint64_t id = (uint64_t)msg_id;
    unsigned char *aad;

    /* EVP takes an int length; that bound also fits the 4-byte field */
    if (len > (size_t)INT_MAX - 12 || !(aad = malloc(len + 12)))
        return NULL;
    for (size_t i = 0; i < 4; i++)
        aad[i] = (unsigned char)(len >> (8 * (3 - i)));
    memcpy(aad + 4, room_key, len);
    for (size_t i = 0; i < 8; i++)
        aad[4 + len + i] = (unsigned char)(id >> (8 * (7 - i)));
    *n = len + 12;
    return aad;
}

static pthread_once_t gcm_once = PTHREAD_ONCE_INIT;
static EVP_CIPHER *gcm_fetched; /* the process's, never freed; NULL: not found */

static void gcm_fetch(void) { gcm_fetched = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL); }

/* AES-256-GCM (borrowed, for the life of the process): the fetched
 * implementation, else OpenSSL's built-in table entry, which then makes
 * each EVP_CipherInit_ex look it up again. */
static const EVP_CIPHER *gcm_cipher(void)
{
    pthread_once(&gcm_once, gcm_fetch);
    return gcm_fetched ? gcm_fetched : EVP_aes_256_gcm();
}

/* A context for AES-256-GCM with 96-bit nonces, its key not yet set
 * (new; the caller frees it with EVP_CIPHER_CTX_free), or NULL. */
static EVP_CIPHER_CTX *gcm_new(int enc)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

    if (ctx && (EVP_CipherInit_ex(ctx, gcm_cipher(), NULL, NULL, NULL, enc) != 1 ||
                EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1)) {
        EVP_CIPHER_CTX_free(ctx);
        ctx = NULL;
    }
    return ctx;
}

/* One AES-256-GCM pass with ctx (gcm_new's; key NULL: the key it was
 * last given).  in[0..n) goes to out[0..n); aad is authenticated.
 * Sealing (enc 1) writes the tag into tag; opening (enc 0) checks it.
 * Returns 0, or -1 on any failure (including a tag that does not
 * match). */
static int gcm_pass(EVP_CIPHER_CTX *ctx, int enc, const unsigned char *key,
                    const unsigned char *nonce, const unsigned char *aad, size_t aad_len,
                    const unsigned char *in, size_t n, unsigned char *out, unsigned char *tag)
{
    int ok, outl = 0;

    ok = EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc) == 1 &&
         EVP_CipherUpdate(ctx, NULL, &outl, aad, (int)aad_len) == 1;
    if (ok && n > 0)
        ok = EVP_CipherUpdate(ctx, out, &outl, in, (int)n) == 1 && (size_t)outl == n;
    if (ok && !enc)
        ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) == 1;
    if (ok)
        ok = EVP_CipherFinal_ex(ctx, out + n, &outl) == 1 && outl == 0;
    if (ok && enc)
        ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) == 1;
    return ok ? 0 : -1;
}

/* gcm_pass with a fresh context (opening: rare on the hot paths). */
static int gcm_run(int enc, const unsigned char *key, const unsigned char *nonce,
                   const unsigned char *aad, size_t aad_len, const unsigned char *in, size_t n,
                   unsigned char *out, unsigned char *tag)
{
    EVP_CIPHER_CTX *ctx = gcm_new(enc);
    int rc = ctx ? gcm_pass(ctx, enc, key, nonce, aad, aad_len, in, n, out, tag) : -1;

    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

/*
 * Sealing keeps one context per thread, keyed once for (ring, key id):
 * AES's key schedule and GHASH's tables are made when the key changes,
 * not per seal (each seal then sets only its nonce).  The cache is the
 * thread's (a pthread key: freed, and the key schedule wiped by
 * EVP_CIPHER_CTX_free, when the thread exits); a ring is known by its
 * number (gen), never by its address, so a ring freed and another made
 * at the same address is keyed anew.
 */
typedef struct seal_cache {
    EVP_CIPHER_CTX *ctx; /* owned; NULL: none yet (or dropped after a failure) */
    uint64_t gen;        /* the ring ... */
    int key_id;          /* ... and key it is keyed for */
} seal_cache;

static pthread_key_t seal_key;
static pthread_once_t seal_once = PTHREAD_ONCE_INIT;
static int seal_key_ok;

/* A thread's cache at its exit. */
static void seal_cache_free(void *p)
{
    seal_cache *c = p;

    EVP_CIPHER_CTX_free(c->ctx);
    free(c);
}

/* Make the pthread key of the threads' caches (once per process). */
static void seal_setup(void) { seal_key_ok = pthread_key_create(&seal_key, seal_cache_free) == 0; }

/* Seal in[0..n) with the calling thread's context keyed for (k, key):
 * gcm_pass's result.  Without a cache (out of memory) a fresh context. */
static int gcm_seal(const ch_keyring *k, const ring_key *key, const unsigned char *nonce,
                    const unsigned char *aad, size_t aad_len, const unsigned char *in, size_t n,
                    unsigned char *out, unsigned char *tag)
{
    seal_cache *c;
    int fresh;

    pthread_once(&seal_once, seal_setup);
    c = seal_key_ok ? pthread_getspecific(seal_key) : NULL;
    if (!c && seal_key_ok && (c = calloc(1, sizeof *c)) && pthread_setspecific(seal_key, c) != 0) {
        free(c);
        c = NULL;
    }
    if (!c)
        return gcm_run(1, key->key, nonce, aad, aad_len, in, n, out, tag);
    if (!c->ctx && !(c->ctx = gcm_new(1)))
        return -1;
    fresh = c->gen != k->gen || c->key_id != key->id;
    if (gcm_pass(c->ctx, 1, fresh ? key->key : NULL, nonce, aad, aad_len, in, n, out, tag) != 0) {
        EVP_CIPHER_CTX_free(c->ctx); /* in an unknown state: the next seal makes another */
        c->ctx = NULL;
        return -1;
    }
    c->gen = k->gen;
    c->key_id = key->id;
    return 0;
}

/* Nonces are drawn from OpenSSL's generator NONCE_POOL at a time, into a
 * pool of the calling thread: one RAND_bytes call (its locks and
 * per-call set-up) for many seals instead of one per seal.  Each nonce
 * is handed out once and wiped from the pool; a child made by fork (whose
 * only thread is the one that forked) starts with an empty pool, so
 * parent and child never hand out the same nonce. */
#define NONCE_POOL 128

static _Thread_local struct {
    unsigned char b[NONCE_LEN * NONCE_POOL];
    unsigned next; /* the next unused nonce; NONCE_POOL: empty */
} nonce_pool = {.next = NONCE_POOL};
static pthread_once_t nonce_once = PTHREAD_ONCE_INIT;

/* In a child after fork: the pool inherited from the parent is dropped. */
static void nonce_pool_drop(void)
{
    OPENSSL_cleanse(nonce_pool.b, sizeof nonce_pool.b);
    nonce_pool.next = NONCE_POOL;
}

/* Register nonce_pool_drop for fork (once per process). */
static void nonce_setup(void) { pthread_atfork(NULL, NULL, nonce_pool_drop); }

/* A fresh random nonce into nonce: 0, or -1 when the generator fails. */
static int fresh_nonce(unsigned char nonce[NONCE_LEN])
{
    unsigned char *slot;

    pthread_once(&nonce_once, nonce_setup);
    if (nonce_pool.next >= NONCE_POOL) {
        if (RAND_bytes(nonce_pool.b, sizeof nonce_pool.b) != 1)
            return -1;
        nonce_pool.next = 0;
    }
    slot = nonce_pool.b + (size_t)nonce_pool.next++ * NONCE_LEN;
    memcpy(nonce, slot, NONCE_LEN);
    memset(slot, 0, NONCE_LEN);
    return 0;
}

/* Encrypt plain for (room_key, msg_id) under key into a new malloc'd
 * ciphertext||tag (the caller frees it) and a fresh random nonce. */
static unsigned char *seal_raw(const ch_keyring *k, const ring_key *key, const char *room_key,
                               int64_t msg_id, const char *plain, size_t len,
                               unsigned char nonce[NONCE_LEN])
{
    size_t aad_len;
    unsigned char *aad = make_aad(room_key, msg_id, &aad_len);
    unsigned char *sealed = aad ? malloc(len + TAG_LEN) : NULL;

    if (!sealed || fresh_nonce(nonce) != 0 ||
        gcm_seal(k, key, nonce, aad, aad_len, (const unsigned char *)plain, len, sealed,
                 sealed + len) < 0) {
        free(sealed);
        sealed = NULL;
    }
    free(aad);
    return sealed;
}

/* On success the caller frees *nonce_b64 and *sealed_b64; on failure
 * they are left alone and nothing needs freeing. */
int ch_seal(const ch_keyring *k, const char *room_key, int64_t msg_id, const char *plain,
            size_t len, int *key_id, char **nonce_b64, char **sealed_b64)
{
    const ring_key *key = k ? ring_find(k, k->current) : NULL;
    unsigned char nonce[NONCE_LEN], *sealed;
    char *n64 = NULL, *s64 = NULL;

    if (!key || !room_key || (!plain && len > 0) || len > MAX_PLAIN || !key_id || !nonce_b64 ||
        !sealed_b64)
        return -1;
    if (!(sealed = seal_raw(k, key, room_key, msg_id, plain, len, nonce)))
        return -1;
    n64 = ch_b64_encode(nonce, NONCE_LEN, CH_B64_STD);
    s64 = ch_b64_encode(sealed, len + TAG_LEN, CH_B64_STD);
    free(sealed);
    if (!n64 || !s64) {
        free(n64);
        free(s64);
        return -1;
    }
    *key_id = key->id;
    *nonce_b64 = n64;
    *sealed_b64 = s64;
    return 0;
}

/* Decrypt and authenticate sealed[0..n) (ciphertext||tag, n >= TAG_LEN)
 * into a new malloc'd NUL-terminated plaintext (the caller frees it), or
 * NULL.  A failed attempt wipes what it decrypted. */
static char *open_raw(const ring_key *key, const char *room_key, int64_t msg_id,
                      const unsigned char *nonce, const unsigned char *sealed, size_t n)
{
    size_t aad_len, len = n - TAG_LEN;
    unsigned char tag[TAG_LEN];
    unsigned char *aad = make_aad(room_key, msg_id, &aad_len);
    char *plain = aad ? malloc(len + 1) : NULL;

    memcpy(tag, sealed + len, TAG_LEN);
    if (plain &&
        gcm_run(0, key->key, nonce, aad, aad_len, sealed, len, (unsigned char *)plain, tag) < 0) {
        OPENSSL_cleanse(plain, len);
        free(plain);
        plain = NULL;
    }
    if (plain)
        plain[len] = '\0';
    free(aad);
    return plain;
}

/* On success the caller frees *plain; on failure it is left alone. */
int ch_open(const ch_keyring *k, int key_id, const char *room_key, int64_t msg_id,
            const char *nonce_b64, const char *sealed_b64, char **plain, size_t *len)
{
    const ring_key *key = k ? ring_find(k, key_id) : NULL;
    unsigned char *nonce = NULL, *sealed = NULL;
    size_t nonce_len = 0, sealed_len = 0;
    char *out = NULL;

    if (!key || !room_key || !nonce_b64 || !sealed_b64 || !plain || !len)
        return -1;
    nonce = ch_b64_decode(nonce_b64, strlen(nonce_b64), CH_B64_STD, &nonce_len);
    sealed = ch_b64_decode(sealed_b64, strlen(sealed_b64), CH_B64_STD, &sealed_len);
    if (nonce && sealed && nonce_len == NONCE_LEN && sealed_len >= TAG_LEN &&
        sealed_len - TAG_LEN <= MAX_PLAIN)
        out = open_raw(key, room_key, msg_id, nonce, sealed, sealed_len);
    free(nonce);
    free(sealed);
    if (!out)
        return -1;
    *plain = out;
    *len = sealed_len - TAG_LEN;
    return 0;
}
