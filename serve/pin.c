/*
 * The pin registry: segment id -> number of downloads using it. Retention
 * asks serve_segment_pinned() before deleting a segment; clip planning pins
 * each segment before it first opens its file, and the clip unpins on free.
 * A small chained hash under one mutex: pins change once per segment per
 * download, lookups once per deletion candidate.
 */
#include "serve/serve_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#define NBUCKETS 1024

typedef struct pin {
    int64_t id;
    uint64_t refs;
    struct pin *next;
} pin;

struct serve__pins {
    pthread_mutex_t mu;
    pin *buckets[NBUCKETS];
    uint64_t count; /* distinct pinned ids */
};

static size_t bucket(int64_t id)
{
    return (size_t)(((uint64_t)id * 0x9e3779b97f4a7c15ULL) >> 54) % NBUCKETS;
}

int serve__pins_new(serve__pins **out)
{
    serve__pins *p = calloc(1, sizeof(*p));
    if (!p) return -ENOMEM;
    pthread_mutex_init(&p->mu, NULL);
    *out = p;
    return 0;
}

void serve__pins_free(serve__pins **pp)
{
    serve__pins *p = *pp;
    if (!p) return;
    for (size_t i = 0; i < NBUCKETS; i++) {
        pin *e = p->buckets[i];
        while (e) {
            pin *n = e->next;
            free(e);
            e = n;
        }
    }
    pthread_mutex_destroy(&p->mu);
    free(p);
    *pp = NULL;
}

void serve__pins_add(serve__pins *p, const int64_t *ids, size_t n)
{
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < n; i++) {
        pin **head = &p->buckets[bucket(ids[i])], *e;
        for (e = *head; e && e->id != ids[i]; e = e->next) {}
        if (!e) {
            /* On allocation failure the id stays unpinned: retention may then
             * delete it and the download fails with a read error, which is
             * the same outcome as a disk error. */
            if (!(e = calloc(1, sizeof(*e)))) continue;
            e->id = ids[i];
            e->next = *head;
            *head = e;
            p->count++;
        }
        e->refs++;
    }
    pthread_mutex_unlock(&p->mu);
}

void serve__pins_remove(serve__pins *p, const int64_t *ids, size_t n)
{
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < n; i++) {
        pin **link = &p->buckets[bucket(ids[i])];
        while (*link && (*link)->id != ids[i]) link = &(*link)->next;
        pin *e = *link;
        if (!e) continue;
        if (--e->refs == 0) {
            *link = e->next;
            free(e);
            p->count--;
        }
    }
    pthread_mutex_unlock(&p->mu);
}

bool serve__pins_has(serve__pins *p, int64_t id)
{
    pthread_mutex_lock(&p->mu);
    pin *e = p->buckets[bucket(id)];
    while (e && e->id != id) e = e->next;
    pthread_mutex_unlock(&p->mu);
    return e != NULL;
}

uint64_t serve__pins_count(serve__pins *p)
{
    pthread_mutex_lock(&p->mu);
    uint64_t n = p->count;
    pthread_mutex_unlock(&p->mu);
    return n;
}

static void pins_add_cb(void *opaque, const int64_t *ids, size_t n)
{
    serve__pins_add(opaque, ids, n);
}

static void pins_remove_cb(void *opaque, const int64_t *ids, size_t n)
{
    serve__pins_remove(opaque, ids, n);
}

media_pins serve__pins_media(serve__pins *p)
{
    return (media_pins){.add = pins_add_cb, .remove = pins_remove_cb, .opaque = p};
}
