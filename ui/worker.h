/*
 * The engine thread of the chat: the interface posts jobs (send, regenerate, clear, settings) and
 * reads events (reply text, end of turn, errors) when the wake-up fd is readable. Only the worker
 * touches the engine while a job runs; the interface may borrow it between jobs.
 */
#ifndef IMP_WORKER_H
#define IMP_WORKER_H

#include "engine.h"

typedef enum {
    WORKER_SEND,     /* text with image paths; make room first when has_plan */
    WORKER_REGEN,    /* the last reply again */
    WORKER_CLEAR,    /* forget the conversation */
    WORKER_SYSTEM,   /* new system prompt (text) */
    WORKER_SAMPLING, /* new sampling parameters */
} worker_job_kind;

typedef struct {
    worker_job_kind kind;
    char *text;
    char **paths; /* images to attach, in order */
    int npaths;
    int max_tokens;
    sampler_params sampling;
    engine_room_plan plan;
    int has_plan;
} worker_job;

typedef enum {
    WORKER_EV_TEXT,  /* a piece of the reply */
    WORKER_EV_ROOM,  /* the context was rebuilt without what the plan dropped */
    WORKER_EV_DONE,  /* the turn (or any other job) ended */
    WORKER_EV_ERROR, /* the job could not run; text says why; nothing changed */
} worker_event_kind;

typedef struct {
    worker_event_kind kind;
    char *text; /* TEXT: the piece; ERROR: the cause; owned by the event */
    size_t len;
    engine_stats stats;     /* DONE after a send or regen */
    int turn;               /* DONE: 1 when the job was a turn */
    int positions_used;     /* after the job */
    int context;
} worker_event;

typedef struct worker worker;

/* Start the thread for e (borrowed; it must outlive the worker). delay_ms slows tokens for tests. */
worker *worker_new(engine *e, int delay_ms);
/* Cancel what runs, stop the thread and free the queues. */
void worker_free(worker *w);
/* The fd that becomes readable when events are waiting. */
int worker_fd(const worker *w);
/* Queue a job; its strings and arrays are taken over. */
void worker_post(worker *w, worker_job *job);
/* Take the next event (1), or 0 when there is none. Free it with worker_event_free. */
int worker_take(worker *w, worker_event *ev);
/* Free an event's text. */
void worker_event_free(worker_event *ev);
/* Ask the running turn to stop after the token in progress. */
void worker_cancel(worker *w);
/* Free a job's strings (for jobs that were not posted). */
void worker_job_free(worker_job *job);

#endif
