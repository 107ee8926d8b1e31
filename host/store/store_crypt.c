/*
 * store_crypt.c -- owns encryption at rest of message content (see
 * store_crypt.h): the keyring (parsing "ID:BASE64" lines, loading or
 * creating the key file, refusing files others can read), sealing and
 * opening with AES-256-GCM through OpenSSL's EVP API, and the strict
 * base64 that carries nonces and sealed bytes into the database.
 *
 * Nothing here is shared and mutable: a keyring is read-only once loaded,
 * and every seal or open uses its own EVP_CIPHER_CTX, so any number of
 * threads may seal and open with one keyring at once.  Key material is
 * wiped (OPENSSL_cleanse) from every buffer that held it before the
 * buffer is freed or goes out of scope.
 */
#include "store_crypt.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

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
    ring_key *keys;                 /* n entries, in file order */
    size_t n;
    size_t cap;                     /* room in keys (all of it is wiped) */
    int current;                    /* the highest id */
};

/* --- base64 ------------------------------------------------------------ */

/* The 6-bit value of a standard-alphabet base64 character, or -1. */
static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Check that s[0..n) is canonical padded base64 (length a multiple of 4,
 * only alphabet characters, at most two '=' and only at the end, unused
 * low bits of the last character zero) and return the number of bytes it
 * decodes to, or -1 if it is malformed.  EVP_DecodeBlock alone would skip
 * whitespace and count padding as zero bytes, so it runs only after this. */
static long b64_check(const char *s, size_t n)
{
    size_t pad = 0, i;
    int v = 0;

    if (n % 4 != 0 || n > (size_t)INT_MAX)
        return -1;
    if (n > 0 && s[n - 1] == '=')
        pad++;
    if (n > 1 && s[n - 2] == '=')
        pad++;
    for (i = 0; i < n - pad; i++)
        if ((v = b64_value(s[i])) < 0)
            return -1;
    if ((pad == 1 && (v & 3) != 0) || (pad == 2 && (v & 15) != 0))
        return -1;
    return (long)(n / 4 * 3 - pad);
}

/* Decode s[0..n) into out, which has room for n / 4 * 3 bytes.  Returns
 * the decoded length, or -1 if s is malformed. */
static long b64_decode_into(const char *s, size_t n, unsigned char *out)
{
    long len = b64_check(s, n);

    if (len < 0)
        return -1;
    if (n > 0 && EVP_DecodeBlock(out, (const unsigned char *)s, (int)n) < 0)
        return -1;
    return len;
}

/* Decode the NUL-terminated s into a new malloc'd buffer (the caller
 * frees it); *len gets the decoded length.  NULL if s is malformed. */
static unsigned char *b64_decode(const char *s, size_t *len)
{
    size_t n = strlen(s);
    unsigned char *out;
    long got;

    if (b64_check(s, n) < 0 || !(out = malloc(n / 4 * 3 + 1)))
        return NULL;
    if ((got = b64_decode_into(s, n, out)) < 0) {
        free(out);
        return NULL;
    }
    *len = (size_t)got;
    return out;
}

/* New malloc'd, NUL-terminated base64 of in[0..n) (the caller frees it),
 * or NULL if n is too large or memory is short. */
static char *b64_encode(const unsigned char *in, size_t n)
{
    char *out;

    if (n > (size_t)INT_MAX / 4 * 3)
        return NULL;
    if (!(out = malloc(n / 3 * 4 + 5)))
        return NULL;
    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    return out;
}

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
    return k;
}

/* One line of keyring text, trimmed, with where it came from. */
typedef struct ring_line {
    const char *s;                  /* not NUL-terminated */
    size_t n;
    const char *name;               /* the file or variable, for errors */
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
    long len = b64_check(s, n);

    if (len < 0) {
        set_err(err, errlen, "%s:%u: key is not valid base64", l->name, l->lineno);
        return -1;
    }
    if (len != KEY_LEN) {
        set_err(err, errlen, "%s:%u: key is not 32 bytes of base64 (it decodes to %ld)",
                l->name, l->lineno, len);
        return -1;
    }
    (void)b64_decode_into(s, n, buf);
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
    while (l->n > 0 && (l->s[l->n - 1] == ' ' || l->s[l->n - 1] == '\t' ||
                        l->s[l->n - 1] == '\r'))
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
static ch_keyring *ring_parse_named(const char *text, const char *name, char *err,
                                    size_t errlen)
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
    if ((b64 = b64_encode(key, sizeof key)) && asprintf(&line, "%d:%s\n", id, b64) < 0)
        line = NULL;
    OPENSSL_cleanse(key, sizeof key);
    if (b64) {
        OPENSSL_cleanse(b64, strlen(b64));
        free(b64);
    }
    return line;
}

/* --- the key file ----------------------------------------------------------- */

/* mkdir -p the directory part of path, new directories with mode 0700.
 * Returns 0, or -1 with the reason in err. */
static int make_parent_dirs(const char *path, char *err, size_t errlen)
{
    char *dir = strdup(path), *slash;
    int rc = 0;

    if (!dir) {
        set_err(err, errlen, "%s: out of memory", path);
        return -1;
    }
    if ((slash = strrchr(dir, '/')))
        *slash = '\0';
    for (char *p = dir + 1; slash && rc == 0 && p <= slash; p++) {
        char c = *p;

        if (c != '/' && c != '\0')
            continue;
        *p = '\0';
        if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
            set_err(err, errlen, "cannot create directory %s for %s: %s", dir, path,
                    strerror(errno));
            rc = -1;
        }
        *p = c;
    }
    free(dir);
    return rc;
}

/* Write text to fd completely.  Returns 0 or -1 (errno set). */
static int write_all(int fd, const char *text, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, text, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        text += w;
        n -= (size_t)w;
    }
    return 0;
}

/* fsync the directory holding path, so that the new file's entry is on
 * disk too.  Failures are ignored (some file systems refuse it). */
static void sync_parent_dir(const char *path)
{
    char *dir = strdup(path), *slash;
    int fd;

    if (!dir)
        return;
    slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

/* Create path (which must not exist) holding text, mode 0600, synced.
 * On failure nothing is left behind.  Returns 0; -1 with the reason in
 * err; or 1 if the file appeared meanwhile (another process made it). */
static int write_new_file(const char *path, const char *text, char *err, size_t errlen)
{
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);

    if (fd < 0 && errno == EEXIST)
        return 1;
    if (fd < 0) {
        set_err(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    if (fchmod(fd, 0600) < 0 || write_all(fd, text, strlen(text)) < 0 || fsync(fd) < 0) {
        set_err(err, errlen, "cannot write %s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    if (close(fd) < 0) {
        set_err(err, errlen, "cannot write %s: %s", path, strerror(errno));
        unlink(path);
        return -1;
    }
    sync_parent_dir(path);
    return 0;
}

/* Check that the open key file fd is a regular file only its owner can
 * read and return its size in *size.  Returns 0, or -1 with the reason. */
static int check_key_file(int fd, const char *path, size_t *size, char *err, size_t errlen)
{
    struct stat st;

    if (fstat(fd, &st) < 0) {
        set_err(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        set_err(err, errlen, "%s: not a regular file", path);
        return -1;
    }
    if (st.st_mode & 077) {
        set_err(err, errlen,
                "%s: mode %04o lets group or others read the keys; run chmod 600 %s", path,
                (unsigned)(st.st_mode & 07777), path);
        return -1;
    }
    if ((size_t)st.st_size > MAX_KEY_FILE) {
        set_err(err, errlen, "%s: too large for a key file (%lld bytes)", path,
                (long long)st.st_size);
        return -1;
    }
    *size = (size_t)st.st_size;
    return 0;
}

/* Read up to size bytes from fd into buf (fewer at end of file).
 * Returns the count, or -1 (errno set). */
static ssize_t read_all(int fd, char *buf, size_t size)
{
    size_t got = 0;

    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* Read the whole of the open key file into a new malloc'd NUL-terminated
 * buffer (the caller wipes and frees it), or NULL with the reason.  A NUL
 * byte inside is refused: it would hide the keys after it. */
static char *read_key_file(int fd, const char *path, char *err, size_t errlen)
{
    size_t size;
    ssize_t got;
    char *text;

    if (check_key_file(fd, path, &size, err, errlen) < 0)
        return NULL;
    if (!(text = malloc(size + 1))) {
        set_err(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    if ((got = read_all(fd, text, size)) >= 0) {
        text[got] = '\0';
        if (strlen(text) == (size_t)got)
            return text;
        set_err(err, errlen, "%s: holds a NUL byte (not a text file)", path);
    } else {
        set_err(err, errlen, "cannot read %s: %s", path, strerror(errno));
    }
    OPENSSL_cleanse(text, size + 1);
    free(text);
    return NULL;
}

/* Parse text (named name in errors), then wipe and free it. */
static ch_keyring *parse_and_wipe(char *text, const char *name, char *err, size_t errlen)
{
    ch_keyring *k = ring_parse_named(text, name, err, errlen);

    OPENSSL_cleanse(text, strlen(text));
    free(text);
    return k;
}

/* Make a new key file at path (directories too) holding one random key
 * with id 1.  Returns 0 with the parsed ring in *k (the caller frees it);
 * 1 if the file appeared meanwhile (another process made it: load that);
 * -1 with the reason in err. */
static int create_key_file(const char *path, ch_keyring **k, char *err, size_t errlen)
{
    char *text;
    int rc;

    if (make_parent_dirs(path, err, errlen) < 0)
        return -1;
    if (!(text = ch_keyring_new_key_line(1))) {
        set_err(err, errlen, "%s: cannot make a random key", path);
        return -1;
    }
    if ((rc = write_new_file(path, text, err, errlen)) != 0) {
        OPENSSL_cleanse(text, strlen(text));
        free(text);
        return rc;
    }
    *k = parse_and_wipe(text, path, err, errlen);
    return *k ? 0 : -1;
}

/* Open and parse the key file at path; with create, make it if absent.
 * Returns a new ring (the caller frees it) or NULL with the reason. */
static ch_keyring *load_key_file(const char *path, int create, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ch_keyring *k = NULL;
    char *text;

    if (fd < 0 && errno == ENOENT && create) {
        if (create_key_file(path, &k, err, errlen) <= 0)
            return k;
        fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0) {
        set_err(err, errlen, "cannot open key file %s: %s", path, strerror(errno));
        return NULL;
    }
    text = read_key_file(fd, path, err, errlen);
    close(fd);
    return text ? parse_and_wipe(text, path, err, errlen) : NULL;
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

/* One AES-256-GCM pass.  in[0..n) goes to out[0..n); aad is
 * authenticated.  Sealing (enc 1) writes the tag into tag; opening
 * (enc 0) checks it.  Returns 0, or -1 on any failure (including a tag
 * that does not match).  A fresh context per call: thread-safe. */
static int gcm_run(int enc, const unsigned char *key, const unsigned char *nonce,
                   const unsigned char *aad, size_t aad_len, const unsigned char *in,
                   size_t n, unsigned char *out, unsigned char *tag)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int ok, outl = 0;

    ok = ctx && EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) == 1 &&
         EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc) == 1 &&
         EVP_CipherUpdate(ctx, NULL, &outl, aad, (int)aad_len) == 1;
    if (ok && n > 0)
        ok = EVP_CipherUpdate(ctx, out, &outl, in, (int)n) == 1 && (size_t)outl == n;
    if (ok && !enc)
        ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) == 1;
    if (ok)
        ok = EVP_CipherFinal_ex(ctx, out + n, &outl) == 1 && outl == 0;
    if (ok && enc)
        ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) == 1;
    EVP_CIPHER_CTX_free(ctx);
    return ok ? 0 : -1;
}

/* Encrypt plain for (room_key, msg_id) under key into a new malloc'd
 * ciphertext||tag (the caller frees it) and a fresh random nonce. */
static unsigned char *seal_raw(const ring_key *key, const char *room_key, int64_t msg_id,
                               const char *plain, size_t len, unsigned char nonce[NONCE_LEN])
{
    size_t aad_len;
    unsigned char *aad = make_aad(room_key, msg_id, &aad_len);
    unsigned char *sealed = aad ? malloc(len + TAG_LEN) : NULL;

    if (!sealed || RAND_bytes(nonce, NONCE_LEN) != 1 ||
        gcm_run(1, key->key, nonce, aad, aad_len, (const unsigned char *)plain, len, sealed,
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

    if (!key || !room_key || (!plain && len > 0) || len > MAX_PLAIN || !key_id ||
        !nonce_b64 || !sealed_b64)
        return -1;
    if (!(sealed = seal_raw(key, room_key, msg_id, plain, len, nonce)))
        return -1;
    n64 = b64_encode(nonce, NONCE_LEN);
    s64 = b64_encode(sealed, len + TAG_LEN);
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
    if (plain && gcm_run(0, key->key, nonce, aad, aad_len, sealed, len,
                         (unsigned char *)plain, tag) < 0) {
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
    nonce = b64_decode(nonce_b64, &nonce_len);
    sealed = b64_decode(sealed_b64, &sealed_len);
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
