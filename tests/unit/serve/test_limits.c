/* serve/limits.c (caps on concurrent downloads and snapshots, per token and
 * in all) and serve/workers.c (serve's own threads: a camera host look-up on
 * libuv's pool never waits behind HTTP work). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "serve/http_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static void t_slots(void **state)
{
    (void)state;
    serve__slots *sl = NULL;
    assert_int_equal(serve__slots_new(&sl), 0);
    const serve__slot_kind D = SERVE__SLOT_DOWNLOAD, S = SERVE__SLOT_SNAPSHOT;
    /* Per token 2, in all 3. */
    assert_int_equal(serve__slots_take(sl, D, "alice", 3, 2), 0);
    assert_int_equal(serve__slots_take(sl, D, "alice", 3, 2), 0);
    assert_int_equal(serve__slots_take(sl, D, "alice", 3, 2), -EBUSY); /* 429 */
    assert_int_equal(serve__slots_take(sl, D, "bob", 3, 2), 0);
    assert_int_equal(serve__slots_take(sl, D, "carol", 3, 2), -EAGAIN); /* 503 */
    /* A token at its own cap hears 429 even when the server is full too. */
    assert_int_equal(serve__slots_take(sl, D, "alice", 3, 2), -EBUSY);
    assert_int_equal(serve__slots_in_use(sl, D), 3);
    /* Kinds are counted apart. */
    assert_int_equal(serve__slots_take(sl, S, "alice", 1, 1), 0);
    assert_int_equal(serve__slots_take(sl, S, "bob", 1, 1), -EAGAIN);
    assert_int_equal(serve__slots_in_use(sl, S), 1);
    /* Giving back opens the slot to the next request. */
    serve__slots_give(sl, D, "bob");
    assert_int_equal(serve__slots_take(sl, D, "carol", 3, 2), 0);
    serve__slots_give(sl, D, "alice");
    assert_int_equal(serve__slots_take(sl, D, "alice", 3, 2), 0);
    /* A lowered cap (a reload) refuses new work; what is held drains. */
    assert_int_equal(serve__slots_take(sl, D, "dave", 1, 1), -EAGAIN);
    serve__slots_give(sl, D, "alice");
    serve__slots_give(sl, D, "alice");
    serve__slots_give(sl, D, "carol");
    serve__slots_give(sl, S, "alice");
    assert_int_equal(serve__slots_in_use(sl, D), 0);
    assert_int_equal(serve__slots_in_use(sl, S), 0);
    /* Many tokens at once (the holder table grows). */
    char who[32];
    for (int i = 0; i < 100; i++) {
        snprintf(who, sizeof(who), "t%d", i);
        assert_int_equal(serve__slots_take(sl, D, who, 0, 1), 0);
    }
    for (int i = 0; i < 100; i++) {
        snprintf(who, sizeof(who), "t%d", i);
        assert_int_equal(serve__slots_take(sl, D, who, 0, 1), -EBUSY);
        serve__slots_give(sl, D, who);
    }
    assert_int_equal(serve__slots_in_use(sl, D), 0);
    serve__slots_free(&sl);
    assert_null(sl);
    serve__slots_free(&sl);
}

/* Tasks that hold every worker until released. */
typedef struct busy {
    serve__task task;
    int *done;
    pthread_t loop_thread;
} busy;

static pthread_mutex_t busy_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t busy_cv = PTHREAD_COND_INITIALIZER;
static int busy_release, busy_running;

static void busy_work(serve__task *t)
{
    (void)t;
    pthread_mutex_lock(&busy_mu);
    busy_running++;
    pthread_cond_broadcast(&busy_cv);
    while (!busy_release) pthread_cond_wait(&busy_cv, &busy_mu);
    pthread_mutex_unlock(&busy_mu);
}

static void busy_done(serve__task *t)
{
    busy *b = vg_container_of(t, busy, task);
    assert_true(pthread_equal(b->loop_thread, pthread_self()));
    (*b->done)++;
}

static void on_gai(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    *(int *)req->data = status == 0 && res ? 1 : -1;
    uv_freeaddrinfo(res);
}

static void on_workers_closed(void *arg)
{
    *(int *)arg = 1;
}

/* Every worker busy and more queued behind them: a host look-up (what a
 * camera does before it connects) still completes, because it goes to
 * libuv's pool (one thread here, set in main) and HTTP work never does. */
static void t_workers_leave_dns_alone(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    serve__workers *w = NULL;
    assert_int_equal(serve__workers_new(&loop, 2, &w), 0);
    enum { N = 6 };
    busy b[N];
    int done = 0;
    for (int i = 0; i < N; i++) {
        b[i].task.work = busy_work;
        b[i].task.done = busy_done;
        b[i].done = &done;
        b[i].loop_thread = pthread_self();
        serve__workers_queue(w, &b[i].task);
    }
    pthread_mutex_lock(&busy_mu);
    while (busy_running < 2) pthread_cond_wait(&busy_cv, &busy_mu);
    pthread_mutex_unlock(&busy_mu);
    uv_getaddrinfo_t gai;
    int resolved = 0;
    gai.data = &resolved;
    /* A numeric host: still a job on libuv's pool, and it needs no /etc/hosts
     * or resolver (a fresh root may have neither). */
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST};
    assert_int_equal(uv_getaddrinfo(&loop, &gai, on_gai, "127.0.0.1", "554", &hints), 0);
    while (!resolved) uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(resolved, 1);
    assert_int_equal(done, 0); /* the workers were busy all along */
    pthread_mutex_lock(&busy_mu);
    busy_release = 1;
    pthread_cond_broadcast(&busy_cv);
    pthread_mutex_unlock(&busy_mu);
    while (done < N) uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(busy_running, N);
    int closed = 0;
    serve__workers_close(&w, on_workers_closed, &closed);
    assert_null(w);
    while (!closed) uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    /* Before libuv's pool starts: one thread, so nothing else may hold it. */
    setenv("UV_THREADPOOL_SIZE", "1", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_slots),
        cmocka_unit_test(t_workers_leave_dns_alone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
