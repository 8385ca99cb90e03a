/*
 * serve's own worker threads: every piece of request work that blocks (SQLite
 * queries, clip reads, snapshot decoding) runs here, not on libuv's thread
 * pool. libuv has one pool per process, shared by every loop, and the native
 * ingest loops resolve camera host names on it (uv_getaddrinfo): downloads
 * and snapshots queued there would make a reconnecting camera wait behind
 * them. With a pool of its own, HTTP load can only delay HTTP answers.
 *
 * Shape: a FIFO of tasks under one mutex, n threads taking from it, and a
 * second list of finished tasks handed to the loop with one uv_async_send;
 * the async callback runs each finished task's done() on the loop thread, in
 * completion order. Tasks are never cancelled: serve stops only once every
 * queued task has come back (its njobs count), then closes the pool.
 */
#include "serve/http_internal.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

struct serve__workers {
    uv_async_t async; /* first: the close callback gets the struct back */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    serve__task *todo, *todo_tail; /* FIFO, guarded by mu */
    serve__task *done, *done_tail; /* finished, guarded by mu */
    bool stop;                      /* guarded by mu */
    pthread_t *threads;
    unsigned nthreads;
    void (*closed)(void *arg);
    void *closed_arg;
};

static void *worker_main(void *arg)
{
    serve__workers *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->todo && !w->stop) pthread_cond_wait(&w->cv, &w->mu);
        if (!w->todo) break; /* stopping and nothing left */
        serve__task *t = w->todo;
        w->todo = t->next;
        if (!w->todo) w->todo_tail = NULL;
        pthread_mutex_unlock(&w->mu);
        t->work(t);
        pthread_mutex_lock(&w->mu);
        t->next = NULL;
        if (w->done_tail)
            w->done_tail->next = t;
        else
            w->done = t;
        w->done_tail = t;
        /* Woken outside the lock: the loop's on_async() takes it at once,
         * and would block (a futex sleep and a second wake-up on the way
         * of every answer) while this thread still held it. */
        pthread_mutex_unlock(&w->mu);
        uv_async_send(&w->async);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void on_async(uv_async_t *a)
{
    serve__workers *w = vg_container_of(a, serve__workers, async);
    pthread_mutex_lock(&w->mu);
    serve__task *t = w->done;
    w->done = w->done_tail = NULL;
    pthread_mutex_unlock(&w->mu);
    while (t) {
        serve__task *next = t->next; /* done() may free t */
        t->done(t);
        t = next;
    }
}

/* Stops and joins the first n threads (nothing is queued). */
static void join_threads(serve__workers *w, unsigned n)
{
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    for (unsigned i = 0; i < n; i++) pthread_join(w->threads[i], NULL);
}

static void destroy(serve__workers *w)
{
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w->threads);
    free(w);
}

int serve__workers_new(uv_loop_t *loop, unsigned n, serve__workers **out)
{
    int r = 0;
    unsigned started = 0;
    serve__workers *w = calloc(1, sizeof(*w));
    *out = NULL;
    if (!w) return -ENOMEM;
    if (n == 0) n = 1;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (!(w->threads = calloc(n, sizeof(*w->threads)))) {
        r = -ENOMEM;
        goto out;
    }
    for (; started < n; started++) {
        int e = pthread_create(&w->threads[started], NULL, worker_main, w);
        if (e != 0) {
            r = -e;
            goto out;
        }
    }
    w->nthreads = n;
    /* Last: a failure above leaves no handle to close. */
    if ((r = uv_async_init(loop, &w->async, on_async)) < 0) goto out;
    *out = w;
    w = NULL;
out:
    if (w) {
        join_threads(w, started);
        destroy(w);
    }
    return r;
}

void serve__workers_queue(serve__workers *w, serve__task *t)
{
    assert(t->work && t->done);
    t->next = NULL;
    pthread_mutex_lock(&w->mu);
    if (w->todo_tail)
        w->todo_tail->next = t;
    else
        w->todo = t;
    w->todo_tail = t;
    pthread_mutex_unlock(&w->mu);
    /* After the unlock, for the same reason: a worker woken inside it would
     * go back to sleep on the mutex first. Workers re-check todo. */
    pthread_cond_signal(&w->cv);
}

static void on_closed(uv_handle_t *h)
{
    serve__workers *w = vg_container_of((uv_async_t *)h, serve__workers, async);
    void (*cb)(void *) = w->closed;
    void *arg = w->closed_arg;
    destroy(w);
    if (cb) cb(arg);
}

void serve__workers_close(serve__workers **pw, void (*closed)(void *arg), void *arg)
{
    serve__workers *w = *pw;
    *pw = NULL;
    assert(w);
    join_threads(w, w->nthreads);
    /* Every task came back before serve closes the pool; a done() still in
     * the list (its async not yet run) would be a task leaked. */
    assert(!w->todo && !w->done);
    w->closed = closed;
    w->closed_arg = arg;
    uv_close((uv_handle_t *)&w->async, on_closed);
}
