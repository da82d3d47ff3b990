#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "worker.h"
#include "xmalloc.h"

typedef struct worker_node {
    struct worker_node *next;
    union {
        worker_job job;
        worker_event ev;
    } u;
} worker_node;

/* A FIFO of nodes. */
typedef struct {
    worker_node *head, *tail;
} worker_queue;

struct worker {
    engine *eng;
    int delay_ms;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    worker_queue jobs, events;
    int quit;
    volatile int cancel;
    int pending; /* interface side: jobs posted minus DONE/ERROR events taken */
    int pipe[2]; /* readable while events wait */
};

static void
worker_queue_push(worker_queue *q, worker_node *n)
{
    n->next = NULL;
    if (q->tail != NULL)
        q->tail->next = n;
    else
        q->head = n;
    q->tail = n;
}

static worker_node *
worker_queue_pop(worker_queue *q)
{
    worker_node *n = q->head;
    if (n != NULL) {
        q->head = n->next;
        if (q->head == NULL)
            q->tail = NULL;
    }
    return n;
}

/* Queue an event for the interface and wake its loop (one byte per event keeps poll simple). */
static void
worker_emit(worker *w, const worker_event *ev)
{
    worker_node *n = xcalloc(1, sizeof *n);
    n->u.ev = *ev;
    pthread_mutex_lock(&w->lock);
    worker_queue_push(&w->events, n);
    pthread_mutex_unlock(&w->lock);
    char b = 1;
    while (write(w->pipe[1], &b, 1) < 0 && errno == EINTR)
        ;
}

static void
worker_emit_text(worker *w, worker_event_kind kind, const char *text, size_t len)
{
    worker_event ev = {.kind = kind, .text = xmalloc(len + 1), .len = len};
    memcpy(ev.text, text, len);
    ev.text[len] = '\0';
    worker_emit(w, &ev);
}

static int
worker_on_token(void *ctx, int32_t id, const char *text, size_t len)
{
    worker *w = ctx;
    (void)id;
    if (len > 0)
        worker_emit_text(w, WORKER_EV_TEXT, text, len);
    if (w->delay_ms > 0 && id >= 0) {
        struct timespec ts = {w->delay_ms / 1000, (long)(w->delay_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
    }
    return 0;
}

/* Add the job's images to the engine; -1 with *cause at the first that fails. */
static int
worker_add_images(worker *w, const worker_job *job, int **slots, char **cause)
{
    *slots = xreallocarray(NULL, (size_t)job->npaths + 1, sizeof **slots);
    for (int i = 0; i < job->npaths; i++) {
        (*slots)[i] = engine_image_add(w->eng, job->paths[i], cause);
        if ((*slots)[i] < 0)
            return -1;
    }
    return 0;
}

static void
worker_run(worker *w, worker_job *job)
{
    worker_event done = {.kind = WORKER_EV_DONE};
    char *cause = NULL;
    int rc = 0;
    switch (job->kind) {
    case WORKER_SEND: {
        int *slots = NULL;
        rc = worker_add_images(w, job, &slots, &cause);
        if (rc == 0 && job->has_plan) {
            engine_make_room(w->eng, &job->plan, NULL);
            worker_event room = {.kind = WORKER_EV_ROOM};
            worker_emit(w, &room);
        }
        if (rc == 0)
            rc = engine_send(w->eng, job->text, slots, job->npaths, job->max_tokens,
                             worker_on_token, w, &w->cancel, &done.stats, &cause);
        done.turn = 1;
        free(slots);
        break;
    }
    case WORKER_REGEN:
        rc = engine_regen(w->eng, job->max_tokens, worker_on_token, w, &w->cancel, &done.stats,
                          &cause);
        done.turn = 1;
        break;
    case WORKER_CLEAR:
        engine_clear(w->eng);
        break;
    case WORKER_SYSTEM:
        engine_set_system(w->eng, job->text);
        break;
    case WORKER_SAMPLING:
        engine_set_sampling(w->eng, &job->sampling);
        break;
    }
    if (rc != 0) {
        worker_emit_text(w, WORKER_EV_ERROR, cause, strlen(cause));
        free(cause);
        return;
    }
    done.positions_used = engine_positions_used(w->eng);
    done.context = engine_context(w->eng);
    worker_emit(w, &done);
}

static void *
worker_main(void *arg)
{
    worker *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->quit && w->jobs.head == NULL)
            pthread_cond_wait(&w->wake, &w->lock);
        if (w->quit)
            break;
        worker_node *n = worker_queue_pop(&w->jobs);
        pthread_mutex_unlock(&w->lock);
        worker_run(w, &n->u.job);
        worker_job_free(&n->u.job);
        free(n);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

worker *
worker_new(engine *e, int delay_ms)
{
    worker *w = xcalloc(1, sizeof *w);
    w->eng = e;
    w->delay_ms = delay_ms;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    if (pipe(w->pipe) != 0)
        fatal("cannot create the engine thread's wake-up pipe: %s", strerror(errno));
    fcntl(w->pipe[0], F_SETFL, O_NONBLOCK);
    fcntl(w->pipe[0], F_SETFD, FD_CLOEXEC);
    fcntl(w->pipe[1], F_SETFD, FD_CLOEXEC);
    int rc = pthread_create(&w->thread, NULL, worker_main, w);
    if (rc != 0)
        fatal("cannot start the engine thread: %s", strerror(rc));
    return w;
}

void
worker_job_free(worker_job *job)
{
    free(job->text);
    for (int i = 0; i < job->npaths; i++)
        free(job->paths[i]);
    free(job->paths);
    memset(job, 0, sizeof *job);
}

void
worker_event_free(worker_event *ev)
{
    free(ev->text);
    ev->text = NULL;
}

void
worker_free(worker *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    w->quit = 1;
    w->cancel = 1;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    worker_node *n;
    while ((n = worker_queue_pop(&w->jobs)) != NULL) {
        worker_job_free(&n->u.job);
        free(n);
    }
    while ((n = worker_queue_pop(&w->events)) != NULL) {
        worker_event_free(&n->u.ev);
        free(n);
    }
    close(w->pipe[0]);
    close(w->pipe[1]);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->wake);
    free(w);
}

int
worker_fd(const worker *w)
{
    return w->pipe[0];
}

void
worker_post(worker *w, worker_job *job)
{
    worker_node *n = xcalloc(1, sizeof *n);
    n->u.job = *job;
    memset(job, 0, sizeof *job);
    w->pending++;
    /* a new job starts uncancelled; set here so a Ctrl-C right after posting is not lost */
    if (w->pending == 1)
        w->cancel = 0;
    pthread_mutex_lock(&w->lock);
    worker_queue_push(&w->jobs, n);
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
}

int
worker_take(worker *w, worker_event *ev)
{
    char buf[64];
    /* drain before popping: an event queued after the drain leaves its byte for the next poll */
    while (read(w->pipe[0], buf, sizeof buf) > 0)
        ;
    pthread_mutex_lock(&w->lock);
    worker_node *n = worker_queue_pop(&w->events);
    pthread_mutex_unlock(&w->lock);
    if (n == NULL)
        return 0;
    *ev = n->u.ev;
    free(n);
    if (ev->kind == WORKER_EV_DONE || ev->kind == WORKER_EV_ERROR)
        w->pending--;
    return 1;
}

void
worker_cancel(worker *w)
{
    w->cancel = 1;
}

