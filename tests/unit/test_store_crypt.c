/*
 * test_store_crypt.c -- unit tests of host/store/store_crypt.c: sealing and
 * opening round trips, every kind of tampering and misplacement that must
 * make opening fail, key rotation, untidy keyring text accepted (its parse
 * errors: test_store_keyring.c), the key file (creation with mode 0600, refusal of readable
 * files, the environment variable winning), that the ciphertext hides the
 * plaintext, nonce uniqueness, and sealing from several threads at once.
 */
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "store_crypt.h"

#define ENV_NAME "CH_TEST_STORE_CRYPT_KEYS"
#define ROOM "chat-room:7"

/* --- helpers ------------------------------------------------------------ */

/* What one ch_seal returned (free with sealed_free). */
typedef struct sealed {
    int key_id;
    char *nonce;
    char *data;
} sealed;

static void sealed_free(sealed *s)
{
    free(s->nonce);
    free(s->data);
}

/* Base64 of n bytes all equal to fill, into out (room for 64 chars). */
static void fill_b64(unsigned char fill, size_t n, char *out)
{
    unsigned char raw[48];

    assert_true(n <= sizeof raw);
    memset(raw, fill, n);
    EVP_EncodeBlock((unsigned char *)out, raw, (int)n);
}

/* Keyring text with one line per id; key i is 32 bytes of value i. */
static void ring_text(const int *ids, size_t n, char *out, size_t cap)
{
    char b64[64];
    size_t used = 0;

    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        fill_b64((unsigned char)ids[i], 32, b64);
        used += (size_t)snprintf(out + used, cap - used, "%d:%s\n", ids[i], b64);
        assert_true(used < cap);
    }
}

/* A keyring holding keys with the given ids (see ring_text). */
static ch_keyring *ring_of(const int *ids, size_t n)
{
    char text[1024], err[256] = "";
    ch_keyring *k;

    ring_text(ids, n, text, sizeof text);
    assert_non_null(k = ch_keyring_parse(text, err, sizeof err));
    return k;
}

static ch_keyring *ring_1(void) { return ring_of((const int[]){1}, 1); }

static sealed seal_ok(const ch_keyring *k, const char *room, int64_t id, const char *plain,
                      size_t len)
{
    sealed s = {0};

    assert_int_equal(ch_seal(k, room, id, plain, len, &s.key_id, &s.nonce, &s.data), 0);
    assert_true(s.nonce && s.data);
    return s;
}

/* ch_open's return value; a successful open is checked against
 * want[0..want_len) when want is non-NULL. */
static int try_open(const ch_keyring *k, int key_id, const char *room, int64_t id,
                    const char *nonce, const char *data, const char *want, size_t want_len)
{
    char *plain = NULL;
    size_t len = 12345;
    int rc = ch_open(k, key_id, room, id, nonce, data, &plain, &len);

    assert_true(rc == 0 ? plain && plain[len] == '\0' : !plain);
    if (rc == 0 && want) {
        assert_int_equal(len, want_len);
        assert_memory_equal(plain, want, want_len);
    }
    free(plain);
    return rc;
}

/* Decode canonical base64 (test side, independent of the module). */
static unsigned char *b64_dec(const char *s, size_t *n)
{
    size_t len = strlen(s), pad = 0;
    unsigned char *out = malloc(len / 4 * 3 + 1);

    assert_non_null(out);
    assert_int_equal(len % 4, 0);
    pad = (len > 0 && s[len - 1] == '=') + (len > 1 && s[len - 2] == '=');
    assert_true(EVP_DecodeBlock(out, (const unsigned char *)s, (int)len) >= 0);
    *n = len / 4 * 3 - pad;
    return out;
}

static char *b64_enc(const unsigned char *in, size_t n)
{
    char *out = malloc(n / 3 * 4 + 5);

    assert_non_null(out);
    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    return out;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Fixture of the key file tests: *state is a new empty directory under
 * /tmp (a malloc'd path), removed with all it holds afterwards. */
static int dir_setup(void **state)
{
    char *dir = strdup("/tmp/test_store_crypt.XX"
                       "XX"
                       "XX");

    assert_non_null(dir);
    assert_non_null(mkdtemp(dir));
    *state = dir;
    return 0;
}

static int dir_teardown(void **state)
{
    assert_int_equal(nftw(*state, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
    free(*state);
    return 0;
}

/* dir/name into path (room for PATH_LEN); returns path. */
#define PATH_LEN 256
static char *in_dir(const char *dir, const char *name, char *path)
{
    assert_true(snprintf(path, PATH_LEN, "%s/%s", dir, name) < PATH_LEN);
    return path;
}

/* Write text to path, then set its mode. */
static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, mode), 0);
}

/* --- round trips ---------------------------------------------------------- */

static void round_trip(const char *room, int64_t id, const char *plain, size_t len)
{
    ch_keyring *k = ring_1();
    sealed s = seal_ok(k, room, id, plain, len);

    assert_int_equal(s.key_id, 1);
    assert_int_equal(try_open(k, 1, room, id, s.nonce, s.data, plain, len), 0);
    sealed_free(&s);
    ch_keyring_free(k);
}

static void round_trip_empty_and_one_byte(void **state)
{
    (void)state;
    round_trip(ROOM, 1, "", 0);
    round_trip(ROOM, 1, NULL, 0);
    round_trip(ROOM, 1, "x", 1);
    round_trip(ROOM, 1, "\0", 1);
}

static void round_trip_64k(void **state)
{
    size_t n = (size_t)64 * 1024;
    char *big = malloc(n);

    (void)state;
    assert_non_null(big);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)(i * 131 + (i >> 8));
    round_trip(ROOM, 1, big, n);
    free(big);
}

static void round_trip_utf8(void **state)
{
    const char *s = "h\xc3\xa9llo, \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x91\x8b";

    (void)state;
    round_trip(ROOM, 1, s, strlen(s));
    round_trip("", INT64_MIN, s, strlen(s));
    round_trip("\xe4\xb8\x96", -1, s, strlen(s));
}

/* --- what must fail to open --------------------------------------------- */

/* The fixture: a ring with key 1 and FIX_PLAIN sealed for (ROOM, 5).
 * FIX_PLAIN is 4 bytes: 20 sealed bytes, base64 ending in one '='. */
#define FIX_PLAIN "abcd"
typedef struct fix {
    ch_keyring *k;
    sealed s;
} fix;

static int fix_setup(void **state)
{
    fix *f = calloc(1, sizeof *f);

    assert_non_null(f);
    f->k = ring_1();
    f->s = seal_ok(f->k, ROOM, 5, FIX_PLAIN, 4);
    *state = f;
    return 0;
}

static int fix_teardown(void **state)
{
    fix *f = *state;

    sealed_free(&f->s);
    ch_keyring_free(f->k);
    free(f);
    return 0;
}

#define OPEN_FAILS(k, id, room, mid, nonce, data) \
    assert_int_equal(try_open(k, id, room, mid, nonce, data, NULL, 0), -1)

static void wrong_room_key_fails(void **state)
{
    fix *f = *state;
    const char *rooms[] = {"chat-room:", "chat-room:77", "chat-room:8", "", "Chat-room:7"};

    assert_int_equal(try_open(f->k, 1, ROOM, 5, f->s.nonce, f->s.data, FIX_PLAIN, 4), 0);
    for (size_t i = 0; i < sizeof rooms / sizeof rooms[0]; i++)
        OPEN_FAILS(f->k, 1, rooms[i], 5, f->s.nonce, f->s.data);
}

/* ("ab", 1) must not open as room "a" (with any id) or a longer room. */
static void room_and_id_do_not_run_together(void **state)
{
    const ch_keyring *k = ((fix *)*state)->k;
    sealed s = seal_ok(k, "ab", 1, "x", 1);

    OPEN_FAILS(k, 1, "a", (int64_t)'b' << 56, s.nonce, s.data);
    OPEN_FAILS(k, 1, "a", 1, s.nonce, s.data);
    OPEN_FAILS(k, 1, "ab\x01", 0, s.nonce, s.data);
    assert_int_equal(try_open(k, 1, "ab", 1, s.nonce, s.data, "x", 1), 0);
    sealed_free(&s);
}

static void wrong_message_id_fails(void **state)
{
    fix *f = *state;
    const int64_t ids[] = {4, 6, -5, 5 + ((int64_t)1 << 40), INT64_MIN | 5};

    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        OPEN_FAILS(f->k, 1, ROOM, ids[i], f->s.nonce, f->s.data);
}

/* Flip one bit in each byte [from, to) of the nonce (in_nonce) or the
 * sealed bytes, in turn: every variant must fail to open. */
static void flips_fail(const fix *f, int in_nonce, size_t from, size_t to)
{
    size_t n;
    unsigned char *raw = b64_dec(in_nonce ? f->s.nonce : f->s.data, &n);

    assert_true(to <= n);
    for (size_t byte = from; byte < to; byte++) {
        unsigned char bit = (unsigned char)(1U << byte % 8);
        char *bad;

        raw[byte] ^= bit;
        bad = b64_enc(raw, n);
        raw[byte] ^= bit;
        if (in_nonce)
            OPEN_FAILS(f->k, 1, ROOM, 5, bad, f->s.data);
        else
            OPEN_FAILS(f->k, 1, ROOM, 5, f->s.nonce, bad);
        free(bad);
    }
    free(raw);
}

static void flipped_ciphertext_bit_fails(void **state) { flips_fail(*state, 0, 0, 4); }

static void flipped_tag_bit_fails(void **state) { flips_fail(*state, 0, 4, 4 + 16); }

static void flipped_nonce_fails(void **state) { flips_fail(*state, 1, 0, 12); }

static void truncated_or_swapped_fails(void **state)
{
    fix *f = *state;
    sealed b = seal_ok(f->k, ROOM, 5, FIX_PLAIN, 4);
    size_t n;
    unsigned char *raw = b64_dec(f->s.data, &n);
    char *shorter = b64_enc(raw, n - 1), *tag_only = b64_enc(raw, 15);

    OPEN_FAILS(f->k, 1, ROOM, 5, f->s.nonce, shorter);
    OPEN_FAILS(f->k, 1, ROOM, 5, f->s.nonce, tag_only);
    OPEN_FAILS(f->k, 1, ROOM, 5, b.nonce, f->s.data);
    free(shorter);
    free(tag_only);
    free(raw);
    sealed_free(&b);
}

static void malformed_base64_fails(void **state)
{
    fix *f = *state;
    char bad[128], spaced[128];
    size_t n = strlen(f->s.data);

    snprintf(bad, sizeof bad, "%s", f->s.data);
    bad[1] = '*';
    OPEN_FAILS(f->k, 1, ROOM, 5, f->s.nonce, bad);
    OPEN_FAILS(f->k, 1, ROOM, 5, f->s.nonce, "");
    OPEN_FAILS(f->k, 1, ROOM, 5, "", f->s.data);
    snprintf(spaced, sizeof spaced, " %s", f->s.data);
    OPEN_FAILS(f->k, 1, ROOM, 5, f->s.nonce, spaced);
    snprintf(bad, sizeof bad, "%.*s", (int)n - 1, f->s.data); /* not 4k long */
    OPEN_FAILS(f->k, 1, ROOM, 5, f->s.nonce, bad);
}

/* A last character with unused low bits set decodes to the same bytes
 * under a lax decoder; it must be refused. */
static void non_canonical_base64_fails(void **state)
{
    fix *f = *state;
    char bad[128];
    size_t n = strlen(f->s.data);
    const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    snprintf(bad, sizeof bad, "%s", f->s.data);
    assert_int_equal(n, 28);
    assert_int_equal(bad[n - 1], '=');
    assert_int_equal(bad[n - 2] != '=', 1);
    bad[n - 2] = alpha[(strchr(alpha, bad[n - 2]) - alpha) | 1];
    OPEN_FAILS(f->k, 1, ROOM, 5, f->s.nonce, bad);
}

static void unknown_key_id_fails(void **state)
{
    fix *f = *state;

    OPEN_FAILS(f->k, 2, ROOM, 5, f->s.nonce, f->s.data);
    OPEN_FAILS(f->k, 0, ROOM, 5, f->s.nonce, f->s.data);
    OPEN_FAILS(f->k, -1, ROOM, 5, f->s.nonce, f->s.data);
    assert_int_equal(try_open(f->k, 1, ROOM, 5, f->s.nonce, f->s.data, FIX_PLAIN, 4), 0);
}

static void bad_arguments_fail(void **state)
{
    fix *f = *state;
    int id = 0;
    char *n = NULL, *d = NULL, *p = NULL;
    size_t len = 0;

    assert_int_equal(ch_seal(NULL, ROOM, 1, "a", 1, &id, &n, &d), -1);
    assert_int_equal(ch_seal(f->k, NULL, 1, "a", 1, &id, &n, &d), -1);
    assert_int_equal(ch_seal(f->k, ROOM, 1, NULL, 1, &id, &n, &d), -1);
    assert_int_equal(ch_open(NULL, 1, ROOM, 5, f->s.nonce, f->s.data, &p, &len), -1);
    assert_int_equal(ch_open(f->k, 1, NULL, 5, f->s.nonce, f->s.data, &p, &len), -1);
    assert_int_equal(ch_open(f->k, 1, ROOM, 5, NULL, f->s.data, &p, &len), -1);
    assert_true(!n && !d && !p);
    assert_int_equal(ch_keyring_current(NULL), 0);
    ch_keyring_free(NULL);
}

/* --- rotation ------------------------------------------------------------- */

static void rotation(void **state)
{
    ch_keyring *rings[] = {ring_of((const int[]){1}, 1), ring_of((const int[]){1, 2}, 2),
                           ring_of((const int[]){2, 1}, 2), ring_of((const int[]){2}, 1)};
    ch_keyring *old = rings[0], *both = rings[1], *both_rev = rings[2], *new_only = rings[3];
    sealed row1 = seal_ok(old, ROOM, 1, "old row", 7);
    sealed row2 = seal_ok(both, ROOM, 2, "new row", 7);

    (void)state;
    assert_int_equal(ch_keyring_current(both), 2);
    assert_int_equal(ch_keyring_current(both_rev), 2);
    assert_true(row1.key_id == 1 && row2.key_id == 2);
    assert_int_equal(try_open(both, 1, ROOM, 1, row1.nonce, row1.data, "old row", 7), 0);
    assert_int_equal(try_open(both_rev, 1, ROOM, 1, row1.nonce, row1.data, "old row", 7), 0);
    assert_int_equal(try_open(new_only, 2, ROOM, 2, row2.nonce, row2.data, "new row", 7), 0);
    assert_int_equal(try_open(new_only, 1, ROOM, 1, row1.nonce, row1.data, NULL, 0), -1);
    assert_int_equal(try_open(old, 2, ROOM, 2, row2.nonce, row2.data, NULL, 0), -1);
    /* a row claiming the wrong key id does not open either */
    assert_int_equal(try_open(both, 2, ROOM, 1, row1.nonce, row1.data, NULL, 0), -1);
    sealed_free(&row1);
    sealed_free(&row2);
    for (size_t i = 0; i < 4; i++)
        ch_keyring_free(rings[i]);
}

/* --- parsing --------------------------------------------------------------- */

/* The fixture's row (key 1) opens with a ring read from untidy text. */
static void parse_accepts_comments_blanks_crlf(void **state)
{
    fix *f = *state;
    char k1[64], k9[64], text[512], err[256] = "";
    ch_keyring *k;

    fill_b64(1, 32, k1);
    fill_b64(9, 32, k9);
    snprintf(text, sizeof text, "# rotated 2024\r\n\r\n  1:%s \r\n\t9:%s", k1, k9);
    assert_non_null(k = ch_keyring_parse(text, err, sizeof err));
    assert_int_equal(ch_keyring_current(k), 9);
    assert_int_equal(try_open(k, 1, ROOM, 5, f->s.nonce, f->s.data, FIX_PLAIN, 4), 0);
    ch_keyring_free(k);
}

/* The ring holding key id 1 made of bytes all equal to fill. */
static ch_keyring *ring_filled(unsigned char fill)
{
    char b64[64], text[128], err[256] = "";
    ch_keyring *k;

    fill_b64(fill, 32, b64);
    snprintf(text, sizeof text, "1:%s\n", b64);
    assert_non_null(k = ch_keyring_parse(text, err, sizeof err));
    return k;
}

/* A thread seals with one context per ring and key (store_crypt.c's
 * cache): switching between rings whose keys share an id, and a ring
 * freed and another made (at the same address, likely), each seal is
 * made with its own ring's key. */
static void seal_cache_follows_the_ring(void **state)
{
    ch_keyring *a = ring_filled(1), *b = ring_filled(2), *c;
    sealed sa = seal_ok(a, ROOM, 5, "one", 3), sb = seal_ok(b, ROOM, 5, "two", 3);
    sealed sa2 = seal_ok(a, ROOM, 6, "three", 5), sc;

    (void)state;
    assert_int_equal(try_open(a, 1, ROOM, 5, sa.nonce, sa.data, "one", 3), 0);
    assert_int_equal(try_open(b, 1, ROOM, 5, sb.nonce, sb.data, "two", 3), 0);
    assert_int_equal(try_open(a, 1, ROOM, 6, sa2.nonce, sa2.data, "three", 5), 0);
    assert_int_not_equal(try_open(b, 1, ROOM, 5, sa.nonce, sa.data, NULL, 0), 0);
    assert_int_not_equal(try_open(a, 1, ROOM, 5, sb.nonce, sb.data, NULL, 0), 0);
    ch_keyring_free(a);
    c = ring_filled(3);
    sc = seal_ok(c, ROOM, 7, "four", 4);
    assert_int_equal(try_open(c, 1, ROOM, 7, sc.nonce, sc.data, "four", 4), 0);
    assert_int_not_equal(try_open(b, 1, ROOM, 7, sc.nonce, sc.data, NULL, 0), 0);
    sealed_free(&sa);
    sealed_free(&sb);
    sealed_free(&sa2);
    sealed_free(&sc);
    ch_keyring_free(b);
    ch_keyring_free(c);
}

static void new_key_line(void **state)
{
    char *a = ch_keyring_new_key_line(3), *b = ch_keyring_new_key_line(3);
    char err[256] = "";
    ch_keyring *k;

    (void)state;
    assert_true(a && b && strlen(a) == 2 + 44 + 1 && strncmp(a, "3:", 2) == 0 && a[46] == '\n');
    assert_string_not_equal(a, b);
    assert_non_null(k = ch_keyring_parse(a, err, sizeof err));
    assert_int_equal(ch_keyring_current(k), 3);
    assert_null(ch_keyring_new_key_line(0));
    assert_null(ch_keyring_new_key_line(-5));
    ch_keyring_free(k);
    free(a);
    free(b);
}

/* --- the key file ------------------------------------------------------------ */

static void create_mode_writes_0600_and_reloads(void **state)
{
    char sub[PATH_LEN], path[PATH_LEN], other[PATH_LEN], err[512] = "";
    ch_keyring *k1, *k2, *k3;
    struct stat st;
    sealed s;

    in_dir(*state, "new/deeper", sub);
    assert_non_null(k1 = ch_keyring_load(in_dir(sub, "keys.txt", path), NULL, 1, err, 512));
    assert_int_equal(ch_keyring_current(k1), 1);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 2 + 44 + 1);
    assert_int_equal(stat(sub, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_non_null(k2 = ch_keyring_load(path, NULL, 0, err, sizeof err));
    s = seal_ok(k1, ROOM, 77, "persisted", 9);
    assert_int_equal(try_open(k2, s.key_id, ROOM, 77, s.nonce, s.data, "persisted", 9), 0);
    /* create with an existing file loads it rather than replacing it */
    ch_keyring_free(k1);
    assert_non_null(k1 = ch_keyring_load(path, NULL, 1, err, sizeof err));
    assert_int_equal(try_open(k1, s.key_id, ROOM, 77, s.nonce, s.data, "persisted", 9), 0);
    /* another new file holds another key */
    assert_non_null(k3 = ch_keyring_load(in_dir(sub, "k2", other), NULL, 1, err, 512));
    OPEN_FAILS(k3, 1, ROOM, 77, s.nonce, s.data);
    sealed_free(&s);
    ch_keyring_free(k1);
    ch_keyring_free(k2);
    ch_keyring_free(k3);
}

static void file_errors_name_file_and_line(void **state)
{
    char path[PATH_LEN], text[256], key[64], want[512], err[512] = "";

    assert_null(ch_keyring_load(in_dir(*state, "absent", path), NULL, 0, err, sizeof err));
    assert_non_null(strstr(err, path));
    assert_int_equal(access(path, F_OK), -1);
    assert_null(ch_keyring_load(NULL, NULL, 1, err, sizeof err));
    fill_b64(1, 32, key);
    snprintf(text, sizeof text, "1:%s\n2:%s==\n", key, key);
    write_file(in_dir(*state, "keys.txt", path), text, 0600);
    assert_null(ch_keyring_load(path, NULL, 0, err, sizeof err));
    snprintf(want, sizeof want, "%s:2: key is not valid base64", path);
    assert_string_equal(err, want);
    /* a NUL byte would hide what follows it: "1:KEY\n\0\0..." is refused */
    ring_text((const int[]){1}, 1, text, sizeof text);
    write_file(path, text, 0600);
    assert_int_equal(truncate(path, 64), 0);
    assert_null(ch_keyring_load(path, NULL, 0, err, sizeof err));
    assert_non_null(strstr(err, "NUL"));
}

static void readable_key_file_refused(void **state)
{
    char path[PATH_LEN], text[256], err[512] = "";
    const mode_t bad[] = {0644, 0640, 0604, 0660, 0601};
    ch_keyring *k;

    ring_text((const int[]){1}, 1, text, sizeof text);
    write_file(in_dir(*state, "keys.txt", path), text, 0644);
    assert_null(ch_keyring_load(path, NULL, 1, err, sizeof err));
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "chmod 600"));
    for (size_t i = 1; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(chmod(path, bad[i]), 0);
        assert_null(ch_keyring_load(path, NULL, 0, err, sizeof err));
    }
    assert_int_equal(chmod(path, 0600), 0);
    assert_non_null(k = ch_keyring_load(path, NULL, 0, err, sizeof err));
    ch_keyring_free(k);
    assert_int_equal(chmod(path, 0400), 0);
    assert_non_null(k = ch_keyring_load(path, NULL, 0, err, sizeof err));
    ch_keyring_free(k);
}

static void env_wins_over_file(void **state)
{
    char path[PATH_LEN], text[256], env[256], err[512] = "";
    ch_keyring *k;

    ring_text((const int[]){1}, 1, text, sizeof text);
    ring_text((const int[]){7}, 1, env, sizeof env);
    write_file(in_dir(*state, "keys.txt", path), text, 0600);
    assert_int_equal(setenv(ENV_NAME, env, 1), 0);
    assert_non_null(k = ch_keyring_load(path, ENV_NAME, 0, err, sizeof err));
    assert_int_equal(ch_keyring_current(k), 7);
    ch_keyring_free(k);
    assert_int_equal(setenv(ENV_NAME, "1:garbage!\n", 1), 0);
    assert_null(ch_keyring_load(path, ENV_NAME, 0, err, sizeof err));
    assert_non_null(strstr(err, "$" ENV_NAME ":1:"));
    assert_int_equal(unsetenv(ENV_NAME), 0);
    assert_non_null(k = ch_keyring_load(path, ENV_NAME, 0, err, sizeof err));
    assert_int_equal(ch_keyring_current(k), 1);
    ch_keyring_free(k);
}

/* --- what the sealed bytes look like -------------------------------------- */

static void ciphertext_hides_plaintext(void **state)
{
    const char marker[] = "MARKER-012345678"; /* 16 bytes */
    const char plain[] = "before MARKER-012345678 after";
    sealed s = seal_ok(((fix *)*state)->k, ROOM, 9, plain, strlen(plain));
    size_t n;
    unsigned char *raw = b64_dec(s.data, &n);

    assert_int_equal(sizeof marker - 1, 16);
    assert_int_equal(n, strlen(plain) + 16);
    assert_null(memmem(raw, n, marker, 16));
    assert_null(memmem(s.data, strlen(s.data), marker, 16));
    assert_null(memmem(raw, n, "before", 6));
    free(raw);
    sealed_free(&s);
}

static int cmp_nonce(const void *a, const void *b) { return memcmp(a, b, 12); }

static void nonces_of_1000_seals_distinct(void **state)
{
    enum { N = 1000 };
    unsigned char(*nonces)[12] = malloc(N * sizeof *nonces);
    const fix *f = *state;
    sealed again = seal_ok(f->k, ROOM, 5, FIX_PLAIN, 4);

    assert_string_not_equal(again.data, f->s.data);
    assert_non_null(nonces);
    for (size_t i = 0; i < N; i++) {
        sealed s = seal_ok(f->k, ROOM, 1, "same plaintext", 14);
        size_t n;
        unsigned char *raw = b64_dec(s.nonce, &n);

        assert_int_equal(n, 12);
        memcpy(nonces[i], raw, 12);
        free(raw);
        sealed_free(&s);
    }
    qsort(nonces, N, sizeof *nonces, cmp_nonce);
    for (size_t i = 1; i < N; i++)
        assert_int_not_equal(memcmp(nonces[i - 1], nonces[i], 12), 0);
    free(nonces);
    sealed_free(&again);
}

/* Decrypt s with raw EVP calls and the associated data built here from
 * the layout documented in store_crypt.c (u32 BE length, room bytes, i64
 * BE id), with key 32 bytes of key_fill: 0 if it authenticates. */
static int independent_open(const sealed *s, unsigned char key_fill, const char *room, int64_t id,
                            const char *want)
{
    unsigned char key[32], aad[256], out[256];
    size_t rl = strlen(room), nn, dn;
    unsigned char *nonce = b64_dec(s->nonce, &nn), *data = b64_dec(s->data, &dn);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int outl = 0, ok;

    memset(key, key_fill, sizeof key);
    for (int i = 0; i < 4; i++)
        aad[i] = (unsigned char)(rl >> (24 - 8 * i));
    memcpy(aad + 4, room, rl);
    for (int i = 0; i < 8; i++)
        aad[4 + rl + i] = (unsigned char)((uint64_t)id >> (56 - 8 * i));
    ok = nn == 12 && dn >= 16 && ctx &&
         EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce) == 1 &&
         EVP_DecryptUpdate(ctx, NULL, &outl, aad, (int)(rl + 12)) == 1 &&
         EVP_DecryptUpdate(ctx, out, &outl, data, (int)(dn - 16)) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, data + dn - 16) == 1 &&
         EVP_DecryptFinal_ex(ctx, out + outl, &outl) == 1 && memcmp(out, want, strlen(want)) == 0 &&
         dn - 16 == strlen(want);
    EVP_CIPHER_CTX_free(ctx);
    free(nonce);
    free(data);
    return ok ? 0 : -1;
}

static void associated_data_layout_is_as_documented(void **state)
{
    ch_keyring *k = ring_of((const int[]){5}, 1);
    sealed s = seal_ok(k, "chat-room:7", -2, "known answer", 12);

    (void)state;
    assert_int_equal(independent_open(&s, 5, "chat-room:7", -2, "known answer"), 0);
    assert_int_equal(independent_open(&s, 5, "chat-room:7", 2, "known answer"), -1);
    assert_int_equal(independent_open(&s, 4, "chat-room:7", -2, "known answer"), -1);
    sealed_free(&s);
    ch_keyring_free(k);
}

/* --- threads ---------------------------------------------------------------- */

static void *seal_open_many(void *arg)
{
    const ch_keyring *k = arg;
    char plain[32];

    for (int i = 0; i < 200; i++) {
        sealed s = {0};
        char *out = NULL;
        size_t len = 0;
        int n = snprintf(plain, sizeof plain, "message %d", i), bad;

        bad = ch_seal(k, ROOM, i, plain, (size_t)n, &s.key_id, &s.nonce, &s.data) != 0 ||
              ch_open(k, s.key_id, ROOM, i, s.nonce, s.data, &out, &len) != 0 || s.key_id != 2 ||
              len != (size_t)n || memcmp(out, plain, len) != 0;
        free(out);
        sealed_free(&s);
        if (bad)
            return (void *)1;
    }
    return NULL;
}

static void threads_share_one_keyring(void **state)
{
    ch_keyring *k = ring_of((const int[]){1, 2}, 2);
    pthread_t t[4];
    void *bad;

    (void)state;
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, seal_open_many, k), 0);
    for (int i = 0; i < 4; i++)
        assert_true(pthread_join(t[i], &bad) == 0 && !bad);
    ch_keyring_free(k);
}

#define FIXT(t) cmocka_unit_test_setup_teardown(t, fix_setup, fix_teardown)
#define DIRT(t) cmocka_unit_test_setup_teardown(t, dir_setup, dir_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_empty_and_one_byte),
        cmocka_unit_test(round_trip_64k),
        cmocka_unit_test(round_trip_utf8),
        FIXT(wrong_room_key_fails),
        FIXT(room_and_id_do_not_run_together),
        FIXT(wrong_message_id_fails),
        FIXT(flipped_ciphertext_bit_fails),
        FIXT(flipped_tag_bit_fails),
        FIXT(flipped_nonce_fails),
        FIXT(truncated_or_swapped_fails),
        FIXT(malformed_base64_fails),
        FIXT(non_canonical_base64_fails),
        FIXT(unknown_key_id_fails),
        FIXT(bad_arguments_fail),
        cmocka_unit_test(rotation),
        FIXT(parse_accepts_comments_blanks_crlf),
        cmocka_unit_test(new_key_line),
        cmocka_unit_test(seal_cache_follows_the_ring),
        DIRT(create_mode_writes_0600_and_reloads),
        DIRT(file_errors_name_file_and_line),
        DIRT(readable_key_file_refused),
        DIRT(env_wins_over_file),
        FIXT(ciphertext_hides_plaintext),
        FIXT(nonces_of_1000_seals_distinct),
        cmocka_unit_test(associated_data_layout_is_as_documented),
        cmocka_unit_test(threads_share_one_keyring),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
