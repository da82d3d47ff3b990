#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "threadpool.h"
#include "xmalloc.h"

struct threadpool {
    int nthreads;
    pthread_t *threads;
    pthread_mutex_t lock;
    pthread_cond_t start;
    pthread_cond_t done;
    atomic_ulong generation; /* bumped for every job so workers see each job once */
    atomic_int pending;      /* workers still running the current job */
    atomic_int stopping;
    /* the current job */
    threadpool_fn fn;
    void *ctx;
    size_t n;
    size_t chunk;
    atomic_size_t next; /* the first index no thread has taken yet */
};

typedef struct {
    threadpool *pool;
    int index;
} threadpool_worker_arg;

/* Chunks per thread in a job. */
#define THREADPOOL_CHUNKS 8

/*
 * Take chunks until none is left: a thread that runs late (another process took its core) does
 * less of the job instead of holding everyone up.
 */
static void
threadpool_do_share(threadpool *pool, int index)
{
    for (;;) {
        size_t begin = atomic_fetch_add_explicit(&pool->next, pool->chunk, memory_order_relaxed);
        if (begin >= pool->n)
            return;
        size_t end = begin + pool->chunk < pool->n ? begin + pool->chunk : pool->n;
        pool->fn(pool->ctx, begin, end, index);
    }
}

static void *
threadpool_worker(void *arg)
{
    threadpool_worker_arg *wa = arg;
    threadpool *pool = wa->pool;
    int index = wa->index;
    unsigned long seen = 0;
    free(wa);
    for (;;) {
        /* spinning here was tried: on a 2-core VM it slowed decode down, so threads sleep */
        pthread_mutex_lock(&pool->lock);
        while (!atomic_load(&pool->stopping) && atomic_load(&pool->generation) == seen)
            pthread_cond_wait(&pool->start, &pool->lock);
        pthread_mutex_unlock(&pool->lock);
        if (atomic_load(&pool->stopping))
            return NULL;
        seen = atomic_load_explicit(&pool->generation, memory_order_acquire);

        threadpool_do_share(pool, index);

        if (atomic_fetch_sub_explicit(&pool->pending, 1, memory_order_acq_rel) == 1) {
            /* under the lock, so a caller about to sleep cannot miss it */
            pthread_mutex_lock(&pool->lock);
            pthread_cond_signal(&pool->done);
            pthread_mutex_unlock(&pool->lock);
        }
    }
}

int
threadpool_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

threadpool *
threadpool_new(int nthreads)
{
    threadpool *pool = xcalloc(1, sizeof *pool);
    if (nthreads <= 0)
        nthreads = threadpool_cores();
    pool->nthreads = nthreads;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->start, NULL);
    pthread_cond_init(&pool->done, NULL);
    pool->threads = xcalloc((size_t)nthreads, sizeof *pool->threads);
    for (int i = 1; i < nthreads; i++) {
        threadpool_worker_arg *wa = xmalloc(sizeof *wa);
        wa->pool = pool;
        wa->index = i;
        pthread_create(&pool->threads[i], NULL, threadpool_worker, wa);
    }
    return pool;
}

void
threadpool_free(threadpool *pool)
{
    if (pool == NULL)
        return;
    pthread_mutex_lock(&pool->lock);
    atomic_store(&pool->stopping, 1);
    pthread_cond_broadcast(&pool->start);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 1; i < pool->nthreads; i++)
        pthread_join(pool->threads[i], NULL);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->start);
    pthread_cond_destroy(&pool->done);
    free(pool->threads);
    free(pool);
}

int
threadpool_size(const threadpool *pool)
{
    return pool->nthreads;
}

void
threadpool_run(threadpool *pool, size_t n, size_t min_chunk, threadpool_fn fn, void *ctx)
{
    if (n == 0)
        return;
    if (min_chunk == 0)
        min_chunk = 1;
    /* several chunks a thread, so the work can even out */
    size_t chunk = (n + (size_t)pool->nthreads * THREADPOOL_CHUNKS - 1) /
                   ((size_t)pool->nthreads * THREADPOOL_CHUNKS);
    if (chunk < min_chunk)
        chunk = min_chunk;
    if (pool->nthreads == 1 || chunk >= n) {
        fn(ctx, 0, n, 0);
        return;
    }
    pthread_mutex_lock(&pool->lock);
    pool->fn = fn;
    pool->ctx = ctx;
    pool->n = n;
    pool->chunk = chunk;
    atomic_store_explicit(&pool->next, 0, memory_order_relaxed);
    atomic_store_explicit(&pool->pending, pool->nthreads - 1, memory_order_relaxed);
    /* the release pairs with the workers' acquire of the generation they start from */
    atomic_fetch_add_explicit(&pool->generation, 1, memory_order_release);
    pthread_cond_broadcast(&pool->start);
    pthread_mutex_unlock(&pool->lock);

    threadpool_do_share(pool, 0);

    pthread_mutex_lock(&pool->lock);
    while (atomic_load_explicit(&pool->pending, memory_order_acquire) > 0)
        pthread_cond_wait(&pool->done, &pool->lock);
    pthread_mutex_unlock(&pool->lock);
}
