/* A fixed pool of worker threads for data-parallel loops. */
#ifndef IMP_THREADPOOL_H
#define IMP_THREADPOOL_H

#include <stddef.h>

typedef struct threadpool threadpool;

/* Work item: process indices [begin, end) of a loop; thread is 0..nthreads-1. */
typedef void (*threadpool_fn)(void *ctx, size_t begin, size_t end, int thread);

/* Start a pool of nthreads threads in all (the caller counts as one); nthreads <= 0 means all cores. */
threadpool *threadpool_new(int nthreads);
/* Stop and join the workers. */
void threadpool_free(threadpool *pool);
/* Number of threads including the caller. */
int threadpool_size(const threadpool *pool);
/*
 * Run fn over [0, n) split in contiguous chunks of at least min_chunk, which the threads take in
 * turn (a thread may get several); returns when all are done.
 */
void threadpool_run(threadpool *pool, size_t n, size_t min_chunk, threadpool_fn fn, void *ctx);
/* Number of online CPU cores. */
int threadpool_cores(void);

#endif
