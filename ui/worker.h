/*
 * The engine thread of the chat: it owns the conversation (session.h) and runs the lines the
 * interface posts (messages and the commands that change the conversation) one at a time; what
 * the session says comes back as events, read when the wake-up fd is readable. Planning, sending,
 * rebuilding and saving all happen here; the interface only reads the snapshots the events carry.
 */
#ifndef IMP_WORKER_H
#define IMP_WORKER_H

#include "session.h"

typedef enum {
    WORKER_LINE,   /* a line as typed: a message or a /command */
    WORKER_RESUME, /* --resume: text names the session, NULL the last one */
} worker_job_kind;

typedef struct {
    worker_job_kind kind;
    char *text;
    int confirmed; /* the user confirmed dropping older exchanges for this message */
} worker_job;

typedef enum {
    WORKER_EV_TURN,        /* an exchange starts: index, text (the message), images, nimages */
    WORKER_EV_REPLY_RESET, /* index's reply is generated again */
    WORKER_EV_TEXT,        /* a piece of the reply */
    WORKER_EV_REPLY_END,   /* stats */
    WORKER_EV_MESSAGE,     /* level, text */
    WORKER_EV_CHANGED,     /* change, snap */
    WORKER_EV_PROGRESS,    /* done of total positions put back in the cache */
    WORKER_EV_EDIT,        /* text: the last message, for the editor */
    WORKER_EV_DONE,        /* the job ended: rc (0, -1, SESSION_CONFIRM), text (the cause), snap */
} worker_event_kind;

typedef struct {
    worker_event_kind kind;
    char *text; /* owned by the event */
    size_t len;
    int index;
    int *images; /* image numbers (from 1) */
    int nimages;
    sink_level level;
    sink_change change;
    int done, total;
    int rc;
    engine_stats stats;
    session_snapshot *snap; /* owned by the event; the taker may steal it (set to NULL) */
} worker_event;

typedef struct worker worker;

/* Start the thread for s (borrowed; it must outlive the worker). delay_ms slows tokens for tests. */
worker *worker_new(session *s, int delay_ms);
/* Cancel what runs, stop the thread and free the queues. */
void worker_free(worker *w);
/* The fd that becomes readable when events are waiting. */
int worker_fd(const worker *w);
/* Queue a job; its text is taken over. */
void worker_post(worker *w, worker_job *job);
/* Take the next event (1), or 0 when there is none. Free it with worker_event_free. */
int worker_take(worker *w, worker_event *ev);
/* Free an event's text, images and snapshot. */
void worker_event_free(worker_event *ev);
/* Ask the running job to stop after the token in progress (or the rebuild's chunk). */
void worker_cancel(worker *w);
/* Whether a job is posted and not yet done. */
int worker_busy(const worker *w);

#endif
