/*
 * test_secret.c -- secret files: created 0600 (folders 0700) and never
 * replaced, read whole, refused when group or others may read them, too
 * large, absent or not regular files.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secret.h"

#define PATH_LEN 256

/* A fresh temporary folder per test (state), removed afterwards. */
static int setup(void **state)
{
    char *dir = strdup("/tmp/test_secret.XX"
                       "XX"
                       "XX");

    if (!dir || !mkdtemp(dir))
        return -1;
    *state = dir;
    return 0;
}

static int teardown(void **state)
{
    char cmd[PATH_LEN + 16];

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", (char *)*state);
    free(*state);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *in_dir(void **state, const char *name, char out[PATH_LEN])
{
    snprintf(out, PATH_LEN, "%s/%s", (const char *)*state, name);
    return out;
}

/* The number of entries in dir besides . and .. */
static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static void create_then_read(void **state)
{
    char sub[PATH_LEN], path[PATH_LEN + 8], err[512] = "", *text = NULL;
    size_t len = 0;
    struct stat st;

    in_dir(state, "a/b", sub);
    snprintf(path, sizeof path, "%s/secret", sub);
    assert_int_equal(ch_secret_create(path, "s3cret\n", 7, err, sizeof err), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 7);
    assert_int_equal(stat(sub, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(entries(sub), 1); /* no temporary file left */
    assert_int_equal(ch_secret_read(path, 64, &text, &len, err, sizeof err), 0);
    assert_int_equal(len, 7);
    assert_string_equal(text, "s3cret\n");
    ch_secret_free(text, len);
    /* an existing file is never replaced */
    assert_int_equal(ch_secret_create(path, "other", 5, err, sizeof err), 1);
    assert_int_equal(ch_secret_read(path, 64, &text, &len, err, sizeof err), 0);
    assert_string_equal(text, "s3cret\n");
    ch_secret_free(text, len);
    assert_int_equal(entries(sub), 1);
    ch_secret_free(NULL, 3);
}

static void readable_by_others_refused(void **state)
{
    const mode_t bad[] = {0644, 0640, 0604, 0660, 0601, 0620};
    char path[PATH_LEN], err[512] = "", want[64], *text = NULL;
    size_t len = 0;

    in_dir(state, "secret", path);
    assert_int_equal(ch_secret_create(path, "x", 1, err, sizeof err), 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(chmod(path, bad[i]), 0);
        assert_int_equal(ch_secret_read(path, 64, &text, &len, err, sizeof err), -EACCES);
        assert_non_null(strstr(err, path));
        snprintf(want, sizeof want, "mode %04o", (unsigned)bad[i]);
        assert_non_null(strstr(err, want));
        assert_non_null(strstr(err, "chmod 600"));
    }
    assert_int_equal(chmod(path, 0400), 0);
    assert_int_equal(ch_secret_read(path, 64, &text, &len, err, sizeof err), 0);
    ch_secret_free(text, len);
}

static void other_refusals(void **state)
{
    char path[PATH_LEN], err[512] = "", *text = NULL;
    size_t len = 0;

    assert_int_equal(ch_secret_read(in_dir(state, "absent", path), 64, &text, &len, err,
                                    sizeof err),
                     -ENOENT);
    assert_non_null(strstr(err, path));
    assert_int_equal(ch_secret_create(in_dir(state, "big", path), "0123456789", 10, err,
                                      sizeof err),
                     0);
    assert_int_equal(ch_secret_read(path, 9, &text, &len, err, sizeof err), -EFBIG);
    assert_non_null(strstr(err, path));
    assert_int_equal(ch_secret_read(path, 10, &text, &len, err, sizeof err), 0);
    ch_secret_free(text, len);
    assert_int_equal(ch_secret_read((const char *)*state, 64, &text, &len, err, sizeof err),
                     -EACCES);
    assert_non_null(strstr(err, "not a regular file"));
    assert_true(ch_secret_create(in_dir(state, "big/under-a-file", path), "x", 1, err, sizeof err) <
                0);
    assert_non_null(strstr(err, path));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(create_then_read, setup, teardown),
        cmocka_unit_test_setup_teardown(readable_by_others_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(other_refusals, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
