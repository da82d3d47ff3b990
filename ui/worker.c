#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmdtable.h"
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
    session *s;
    sink out; /* the session's sink: every call becomes an event */
    int delay_ms;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    worker_queue jobs, events;
    int quit;
    volatile int cancel;
    int pending; /* interface side: jobs posted minus DONE events taken */
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

static char *
worker_copy(const char *text, size_t len)
{
    char *copy = xmalloc(len + 1);
    memcpy(copy, text, len);
    copy[len] = '\0';
    return copy;
}

/* ------------------------------------------------------------------ the session's sink */

static void
worker_sink_turn(void *ctx, int index, const char *text, const int *images, int nimages)
{
    worker_event ev = {.kind = WORKER_EV_TURN, .index = index, .text = xstrdup(text),
                       .nimages = nimages};
    ev.images = xreallocarray(NULL, (size_t)nimages + 1, sizeof *ev.images);
    memcpy(ev.images, images, (size_t)nimages * sizeof *images);
    worker_emit(ctx, &ev);
}

static void
worker_sink_reply_reset(void *ctx, int index)
{
    worker_event ev = {.kind = WORKER_EV_REPLY_RESET, .index = index};
    worker_emit(ctx, &ev);
}

static void
worker_sink_reply_text(void *ctx, const char *text, size_t len)
{
    worker *w = ctx;
    worker_event ev = {.kind = WORKER_EV_TEXT, .text = worker_copy(text, len), .len = len};
    worker_emit(w, &ev);
    if (w->delay_ms > 0) {
        struct timespec ts = {w->delay_ms / 1000, (long)(w->delay_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
    }
}

static void
worker_sink_reply_end(void *ctx, const engine_stats *st, const int32_t *ids, size_t nids)
{
    worker_event ev = {.kind = WORKER_EV_REPLY_END, .stats = *st};
    worker_emit(ctx, &ev);
}

static void
worker_sink_message(void *ctx, sink_level level, const char *text)
{
    worker_event ev = {.kind = WORKER_EV_MESSAGE, .level = level, .text = xstrdup(text)};
    worker_emit(ctx, &ev);
}

static void
worker_sink_changed(void *ctx, sink_change what)
{
    worker *w = ctx;
    worker_event ev = {.kind = WORKER_EV_CHANGED, .change = what,
                       .snap = session_snapshot_new(w->s)};
    worker_emit(w, &ev);
}

static int
worker_sink_progress(void *ctx, int done, int total)
{
    worker *w = ctx;
    worker_event ev = {.kind = WORKER_EV_PROGRESS, .done = done, .total = total};
    worker_emit(w, &ev);
    return w->cancel;
}

static int
worker_sink_front(void *ctx, sink_request req, const char *arg, int number, char **cause)
{
    /* the interface runs the other requests itself, on its own thread */
    if (req != SINK_EDIT)
        return log_cause(cause, "not available on the engine thread");
    worker_event ev = {.kind = WORKER_EV_EDIT, .text = xstrdup(arg), .index = number};
    worker_emit(ctx, &ev);
    return 0;
}

/* ------------------------------------------------------------------ the thread */

static void
worker_run(worker *w, worker_job *job)
{
    char *cause = NULL;
    int rc;
    if (job->kind == WORKER_RESUME)
        rc = job->text != NULL ? session_load(w->s, job->text, &w->out, &cause)
                               : session_resume_last(w->s, &w->out, &cause);
    else
        rc = cmdtable_run_line(w->s, &w->out, job->text, job->confirmed, &cause);
    worker_event done = {.kind = WORKER_EV_DONE, .rc = rc, .snap = session_snapshot_new(w->s)};
    if (rc != 0 && cause != NULL) {
        done.text = cause;
        done.len = strlen(cause);
    } else {
        free(cause);
    }
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
        free(n->u.job.text);
        free(n);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

worker *
worker_new(session *s, int delay_ms)
{
    worker *w = xcalloc(1, sizeof *w);
    w->s = s;
    w->delay_ms = delay_ms;
    w->out = (sink){
        .ctx = w,
        .turn = worker_sink_turn,
        .reply_reset = worker_sink_reply_reset,
        .reply_text = worker_sink_reply_text,
        .reply_end = worker_sink_reply_end,
        .message = worker_sink_message,
        .changed = worker_sink_changed,
        .progress = worker_sink_progress,
        .front = worker_sink_front,
    };
    session_set_cancel(s, &w->cancel);
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
worker_event_free(worker_event *ev)
{
    free(ev->text);
    ev->text = NULL;
    free(ev->images);
    ev->images = NULL;
    session_snapshot_free(ev->snap);
    ev->snap = NULL;
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
    /* a reply in progress stops at the next token and is saved as stopped */
    pthread_join(w->thread, NULL);
    session_set_cancel(w->s, NULL);
    worker_node *n;
    while ((n = worker_queue_pop(&w->jobs)) != NULL) {
        free(n->u.job.text);
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
    if (ev->kind == WORKER_EV_DONE)
        w->pending--;
    return 1;
}

void
worker_cancel(worker *w)
{
    w->cancel = 1;
}

int
worker_busy(const worker *w)
{
    return w->pending > 0;
}
