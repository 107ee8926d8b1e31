/*
 * test_store_turn.c -- the writers' turn of a SQLite file shared by
 * several processes (host/store/store_turn.c).  The turn is an
 * open-file-description lock, so two descriptors in one process stand
 * for two workers: a free turn is taken at once and seen busy by the
 * other; a writer waiting for it is woken when it is given, or when its
 * holder's descriptor closes (a worker killed); a giver that wants it
 * again while another waits gets it only after that one had it.  It
 * owns a temporary directory, removed at the end.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "store_turn.h"

static char dir[] = "/tmp/chanhost-turn-XX"
                    "XX"
                    "XX"; /* mkdtemp's template */
static char db_path[64];

/* A second writer on its own thread: takes the turn (recording what
 * take returned and that it held it), then gives it back. */
typedef struct writer {
    ch_st_turn turn;
    pthread_t thread;
    int took; /* take's result */
    int had;  /* it held the turn at some point */
} writer;

static void *writer_main(void *arg)
{
    writer *w = arg;

    w->took = ch_st_turn_take(&w->turn);
    __atomic_store_n(&w->had, w->turn.held, __ATOMIC_SEQ_CST);
    ch_st_turn_give(&w->turn);
    return NULL;
}

/* Wait (at most 5 s) until a writer waits in the turn file's waiting
 * room (byte 1, read-locked by each writer waiting for the turn), seen
 * through a descriptor of our own. */
static void wait_for_a_waiter(void)
{
    char path[80];
    int fd;
    struct timespec pause = {0, 100000};

    snprintf(path, sizeof path, "%s-turn", db_path);
    fd = open(path, O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    for (int i = 0; i < 50000; i++) {
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 1, .l_len = 1};

        assert_int_equal(fcntl(fd, F_OFD_GETLK, &fl), 0);
        if (fl.l_type != F_UNLCK) {
            close(fd);
            return;
        }
        nanosleep(&pause, NULL);
    }
    close(fd);
    fail_msg("no writer came to wait for the turn");
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

/* Each test its own database path, so that one failing with the turn
 * held does not hold up the next. */
static int next_db(void **state)
{
    static int n;

    (void)state;
    snprintf(db_path, sizeof db_path, "%s/store%d.db", dir, ++n);
    return 0;
}

static int teardown(void **state)
{
    DIR *d = opendir(dir);
    struct dirent *ent;
    char path[320];

    (void)state;
    while (d && (ent = readdir(d)))
        if (ent->d_name[0] != '.') {
            snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
            unlink(path);
        }
    if (d)
        closedir(d);
    return rmdir(dir);
}

static void open_turn(ch_st_turn *t)
{
    char err[256];

    assert_int_equal(ch_st_turn_open(t, db_path, err, sizeof err), 0);
    assert_true(t->fd >= 0);
}

static void test_a_free_turn_is_taken_at_once_and_seen_busy_elsewhere(void **state)
{
    ch_st_turn a, b;
    struct stat st;
    char path[80];

    (void)state;
    open_turn(&a);
    open_turn(&b);
    snprintf(path, sizeof path, "%s-turn", db_path);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_false(ch_st_turn_busy(&b));
    assert_int_equal(ch_st_turn_take(&a), 0);
    assert_true(a.held);
    assert_false(ch_st_turn_busy(&a)); /* its own */
    assert_true(ch_st_turn_busy(&b));
    ch_st_turn_give(&a);
    assert_false(a.held);
    assert_false(ch_st_turn_busy(&b));
    assert_int_equal(ch_st_turn_take(&b), 0);
    ch_st_turn_give(&b);
    ch_st_turn_close(&a);
    ch_st_turn_close(&b);
    assert_int_equal(a.fd, -1);
}

/* a takes the turn; writer w starts and waits for it (both opened). */
static void hold_with_a_waiter(ch_st_turn *a, writer *w)
{
    open_turn(a);
    open_turn(&w->turn);
    assert_int_equal(ch_st_turn_take(a), 0);
    assert_int_equal(pthread_create(&w->thread, NULL, writer_main, w), 0);
    wait_for_a_waiter();
}

static void test_a_giver_that_wants_it_again_lets_the_waiting_writer_go_first(void **state)
{
    ch_st_turn a;
    writer w = {0};

    (void)state;
    hold_with_a_waiter(&a, &w);
    ch_st_turn_give(&a);
    /* At once again: the other writer waited, so it goes first (this
     * take waits for it, or finds it given already). */
    assert_true(ch_st_turn_take(&a) >= 0);
    assert_true(__atomic_load_n(&w.had, __ATOMIC_SEQ_CST));
    assert_true(a.held);
    assert_int_equal(pthread_join(w.thread, NULL), 0);
    assert_int_equal(w.took, 1);
    ch_st_turn_give(&a);
    ch_st_turn_close(&a);
    ch_st_turn_close(&w.turn);
}

static void test_a_killed_holder_hands_the_turn_on(void **state)
{
    ch_st_turn a;
    writer w = {0};

    (void)state;
    hold_with_a_waiter(&a, &w);
    ch_st_turn_close(&a); /* as the kernel does for a process that dies */
    assert_int_equal(pthread_join(w.thread, NULL), 0);
    assert_int_equal(w.took, 1);
    assert_true(w.had);
    ch_st_turn_close(&w.turn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_a_free_turn_is_taken_at_once_and_seen_busy_elsewhere, next_db),
        cmocka_unit_test_setup(test_a_giver_that_wants_it_again_lets_the_waiting_writer_go_first,
                               next_db),
        cmocka_unit_test_setup(test_a_killed_holder_hands_the_turn_on, next_db),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
