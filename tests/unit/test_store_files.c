/*
 * test_store_files.c -- the attachment folder (store_files.c) on both
 * engines: its paths, chunks written as sealed 0600 files and read back,
 * a chunk written twice kept once, a tampered or moved file refused, a
 * chunk absent from the folder read from the database, the folders of
 * purged and swept uploads and of an empty room's removed with their
 * rows.
 */
#include "store_fixture.h"

#include <sys/stat.h>

#include "b64.h"
#include "store_attach.h"

/* The fixture's store reopened with the attachment folder dir. */
static void open_with_dir(fx *f, const char *dir)
{
    ch_store_opts o = {.url = G.url, .key_file = G.key1, .attachment_dir = dir};
    char err[512] = "";

    close_store(&f->loop, f->s);
    f->s = ch_store_open(&f->loop, &o, err, sizeof err);
    if (!f->s)
        fail_msg("ch_store_open(%s, %s): %s", G.url, dir, err);
}

/* A new folder under the suite's directory, as path (n bytes). */
static void new_dir(char *path, size_t n) { snprintf(path, n, "%s/files-%d", G.dir, ++G.seq); }

/* An upload by user 1 to a new room of kind, with no chunk yet: its id. */
static int64_t new_upload_in(fx *f, const char *kind)
{
    int64_t room = new_room(f, kind);
    json_t *r;
    int64_t id;

    DO("participant.add", "{s:I, s:I}", "room_id", I(room), "user_id", I(1));
    r = ok(f, "attachment.create",
           J("{s:I, s:I, s:s, s:s}", "room_id", I(room), "uploader_id", I(1), "name", "a.txt",
             "type", "text/plain"));
    id = jint(r, "id");
    json_decref(r);
    return id;
}

/* An upload by user 1 to a new group room: its id. */
static int64_t new_upload(fx *f) { return new_upload_in(f, "group"); }

/* attachment.write of text as chunk seq of id: its "imported". */
static int write_chunk(fx *f, int64_t id, int seq, const char *text)
{
    char *b64 = ch_b64_encode(text, strlen(text), CH_B64_STD);
    json_t *r = ok(f, "attachment.write",
                   J("{s:I, s:i, s:s}", "id", I(id), "seq", seq, "data", b64));
    int imported = TRUE(r, "imported");

    assert_true(TRUE(r, "written"));
    json_decref(r);
    free(b64);
    return imported;
}

/* attachment.read of chunk seq of id gives status st and, for 0, text. */
static void read_is(fx *f, int64_t id, int seq, int st, const char *text)
{
    json_t *r = NULL;
    size_t len = 0;
    unsigned char *plain;
    const char *d;

    assert_int_equal(call(f, "attachment.read", J("{s:I, s:i}", "id", I(id), "seq", seq), &r), st);
    if (st == 0) {
        d = STR(r, "data");
        plain = ch_b64_decode(d, strlen(d), CH_B64_STD, &len);
        assert_non_null(plain);
        assert_int_equal(len, strlen(text));
        assert_memory_equal(plain, text, len);
        free(plain);
    }
    json_decref(r);
}

/* The path of chunk seq of id in dir (ext NULL: the upload's folder). */
static const char *chunk_path(char *out, size_t n, const char *dir, int64_t id, int seq,
                              const char *ext)
{
    assert_int_equal(ch_st_attach_path(out, n, dir, id, seq, ext), 0);
    return out;
}

static void test_paths(void **state)
{
    char out[64];

    (void)state;
    assert_int_equal(ch_st_attach_path(out, sizeof out, "/srv/f", 42, 3, "chunk"), 0);
    assert_string_equal(out, "/srv/f/42/3.chunk");
    assert_int_equal(ch_st_attach_path(out, sizeof out, "/srv/f", 42, 0, "tmp"), 0);
    assert_string_equal(out, "/srv/f/42/0.tmp");
    assert_int_equal(ch_st_attach_path(out, sizeof out, "/srv/f", 9223372036854775807LL, 0, NULL),
                     0);
    assert_string_equal(out, "/srv/f/9223372036854775807");
    assert_int_equal(ch_st_attach_path(out, 18, "/srv/f", 42, 3, "chunk"), 0); /* just fits */
    assert_int_equal(ch_st_attach_path(out, 17, "/srv/f", 42, 3, "chunk"), -1);
    assert_int_equal(ch_st_attach_path(out, sizeof out, "/srv/f", 0, 3, "chunk"), -1);
    assert_int_equal(ch_st_attach_path(out, sizeof out, "/srv/f", -4, 3, "chunk"), -1);
    assert_int_equal(ch_st_attach_path(out, sizeof out, "/srv/f", 4, -1, "chunk"), -1);
    assert_int_equal(ch_st_attach_path(out, sizeof out, "", 4, 1, "chunk"), -1);
    assert_int_equal(ch_st_attach_path(out, sizeof out, NULL, 4, 1, "chunk"), -1);
}

static void test_chunks_as_files(void **state)
{
    fx *f = *state;
    char dir[128], p0[256], p1[256], p2[256];
    struct stat st;
    int64_t id;
    FILE *fp;
    long size;
    int c;

    new_dir(dir, sizeof dir);
    open_with_dir(f, dir);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    id = new_upload(f);
    assert_true(write_chunk(f, id, 0, "first chunk"));
    assert_true(write_chunk(f, id, 1, "second chunk"));
    assert_false(write_chunk(f, id, 0, "again")); /* there already: kept */
    read_is(f, id, 0, 0, "first chunk");
    read_is(f, id, 1, 0, "second chunk");
    read_is(f, id, 7, CH_STORE_ENOENT, NULL); /* neither file nor row */
    assert_int_equal(raw_int("SELECT count(*) FROM attachment_chunks"), 0);

    chunk_path(p0, sizeof p0, dir, id, 0, "chunk");
    chunk_path(p1, sizeof p1, dir, id, 1, "chunk");
    chunk_path(p2, sizeof p2, dir, id, 2, "chunk");
    assert_int_equal(stat(p0, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 20 + (long)strlen("first chunk") + 16);
    chunk_path(p2, sizeof p2, dir, id, 0, "tmp");
    assert_int_equal(stat(p2, &st), -1); /* no leftover */
    chunk_path(p2, sizeof p2, dir, id, 2, "chunk");

    /* chunk 0's file as chunk 2: sealed for another place, refused */
    assert_int_equal(link(p0, p2), 0);
    read_is(f, id, 2, CH_STORE_EIO, NULL);
    /* a byte of chunk 1 changed: refused */
    fp = fopen(p1, "r+b");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    size = ftell(fp);
    fseek(fp, size - 3, SEEK_SET);
    c = fgetc(fp);
    fseek(fp, size - 3, SEEK_SET);
    fputc(c ^ 1, fp);
    fclose(fp);
    read_is(f, id, 1, CH_STORE_EIO, NULL);
}

static void test_removed_with_rows(void **state)
{
    fx *f = *state;
    char dir[128], folder[256];
    struct stat st;
    int64_t kept, purged, swept, msg;
    json_t *r;

    new_dir(dir, sizeof dir);
    open_with_dir(f, dir);
    kept = new_upload(f);
    purged = new_upload(f);
    swept = new_upload(f);
    write_chunk(f, kept, 0, "kept");
    write_chunk(f, purged, 0, "purged");
    write_chunk(f, swept, 0, "swept");
    DO("attachment.finish", "{s:I, s:I}", "id", I(purged), "size", I(6));
    msg = post(f, raw_int("SELECT room_id FROM attachments WHERE id = %lld", (long long)purged), 1,
               "with a file");
    r = ok(f, "attachment.link",
           J("{s:[I], s:I, s:I, s:I}", "ids", I(purged), "room_id",
             I(raw_int("SELECT room_id FROM attachments WHERE id = %lld", (long long)purged)),
             "uploader_id", I(1), "message_id", I(msg)));
    assert_int_equal(jint(r, "linked"), 1);
    json_decref(r);

    r = ok(f, "attachment.purge", J("{s:I}", "message_id", I(msg)));
    assert_int_equal(jint(r, "deleted"), 1);
    json_decref(r);
    assert_int_equal(stat(chunk_path(folder, sizeof folder, dir, purged, 0, NULL), &st), -1);

    free(raw("UPDATE attachments SET created_at = 0 WHERE id = %lld", (long long)swept));
    r = ok(f, "attachment.sweep", J("{}"));
    assert_int_equal(jint(r, "deleted"), 1);
    json_decref(r);
    assert_int_equal(stat(chunk_path(folder, sizeof folder, dir, swept, 0, NULL), &st), -1);
    assert_int_equal(stat(chunk_path(folder, sizeof folder, dir, kept, 0, NULL), &st), 0);
    read_is(f, kept, 0, 0, "kept");
    assert_int_equal(raw_int("SELECT count(*) FROM attachments WHERE id IN (%lld, %lld)",
                             (long long)purged, (long long)swept),
                     0);
}

/* A chunk stored in the database before the folder was configured is
 * still read; new chunks go to the folder. */
static void test_database_chunks_still_read(void **state)
{
    fx *f = *state;
    char dir[128], path[256];
    struct stat st;
    int64_t id = new_upload(f);

    assert_true(write_chunk(f, id, 0, "in the database"));
    new_dir(dir, sizeof dir);
    open_with_dir(f, dir);
    read_is(f, id, 0, 0, "in the database");
    assert_true(write_chunk(f, id, 1, "in the folder"));
    read_is(f, id, 1, 0, "in the folder");
    assert_int_equal(stat(chunk_path(path, sizeof path, dir, id, 1, "chunk"), &st), 0);
    assert_int_equal(raw_int("SELECT count(*) FROM attachment_chunks WHERE attachment_id = %lld",
                             (long long)id),
                     1);
}

/* cleanup.empty_threads deletes a room without messages with its uploads,
 * and their folders. */
static void test_removed_with_empty_room(void **state)
{
    fx *f = *state;
    char dir[128], folder[256];
    struct stat st;
    int64_t id;
    json_t *r;

    new_dir(dir, sizeof dir);
    open_with_dir(f, dir);
    id = new_upload_in(f, "files-cleanup");
    write_chunk(f, id, 0, "in an empty room");
    r = ok(f, "cleanup.empty_threads", J("{s:s}", "kind", "files-cleanup"));
    assert_int_equal(json_array_size(GET(r, "rooms")), 1);
    json_decref(r);
    assert_int_equal(stat(chunk_path(folder, sizeof folder, dir, id, 0, NULL), &st), -1);
    assert_int_equal(raw_int("SELECT count(*) FROM attachments WHERE id = %lld", (long long)id), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paths),
        cmocka_unit_test_setup_teardown(test_chunks_as_files, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_removed_with_rows, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_database_chunks_still_read, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_removed_with_empty_room, fx_setup, fx_teardown),
    };

    return store_suite_main("store_files", tests, sizeof tests / sizeof tests[0]);
}
