/*
 * The conversation layer that every front end drives: the conversation (system prompt, settings,
 * exchanges, staged images) over the engine, which holds the part still in the context in its KV
 * cache. It stages and drops images, sends messages (making room by the context policy), takes
 * exchanges back, generates replies again, saves, loads, autosaves and exports. Everything it
 * has to say goes through a sink; calls are synchronous and must come from one thread (the
 * chat's engine thread, or the main thread of --script and -p). Front ends read snapshots.
 */
#ifndef IMP_SESSION_H
#define IMP_SESSION_H

#include "engine.h"
#include "sessiondoc.h"
#include "sink.h"

typedef struct session session;

typedef struct {
    int max_tokens;
    const char *system;     /* NULL: the default system prompt */
    const char *dir;        /* the sessions folder; NULL: sessionstore_dir_new() */
    int autosave;           /* save after every reply */
    int ask_before_dropping; /* a message that does not fit waits for a confirmed send (chat) */
    int keep_staged;        /* a refused message leaves its images staged (chat); else unstaged */
    volatile int *cancel;   /* stops a reply or a rebuild between tokens (may be NULL) */
} session_options;

/* session_send's answer when the message needs older exchanges dropped and must be confirmed. */
#define SESSION_CONFIRM 1

/* An image of the conversation as front ends show it (numbers are the index + 1). */
typedef struct {
    const char *name;   /* the file name as attached */
    const char *path;   /* a file to show it from */
    const char *sha256;
    int width, height;
    int turn;           /* the exchange it went with, -1: staged */
    int dropped;        /* out of the context */
} session_image_view;

/* A copy of the conversation and its numbers, for a front end on another thread. */
typedef struct {
    sessiondoc doc;
    session_image_view *images;
    int nimages;
    int used, ctx, image_positions;
    engine_stats last;
    int have_last;
    imagecache_stats cache;
    char *file;          /* the file autosave writes, or NULL before the first save */
    const char *backend;
    char **owned;        /* paths the views point to */
} session_snapshot;

/* A conversation over e (borrowed) with the given options. */
session *session_new(engine *e, const session_options *opt);
/* Free the conversation (not the engine). */
void session_free(session *s);
/* Borrow the engine. */
engine *session_engine(const session *s);
/* The flag that stops a reply or a rebuild (the chat's engine thread has its own). */
void session_set_cancel(session *s, volatile int *cancel);

/* Stage the image at path for the next message; the same picture twice is staged once. */
int session_stage(session *s, const char *path, const sink *out, char **cause);
/* Unstage image number (as /images numbers them). */
int session_drop(session *s, int number, const sink *out, char **cause);
/*
 * Send text with the staged images and stream the reply. Returns 0, -1 with *cause (nothing was
 * sent), or SESSION_CONFIRM with the question in *cause (ask_before_dropping, not confirmed).
 */
int session_send(session *s, const char *text, int confirmed, const sink *out, char **cause);
/* A new reply to the last message. */
int session_retry(session *s, const sink *out, char **cause);
/* Take the last exchange back (its images are forgotten; the cache is cut back). */
int session_undo(session *s, const sink *out, char **cause);
/*
 * Replace the last exchange's message with text (keeping its images) and reply to it; with text
 * NULL, hand the message to the front end's editor (SINK_EDIT) and change nothing.
 */
int session_edit(session *s, const char *text, int confirmed, const sink *out, char **cause);
/* Start over (the system prompt and settings stay; a new session file on the next save). */
void session_clear(session *s, const sink *out);
/* Replace the system prompt (starts over); NULL or "" prints it instead. */
void session_system(session *s, const char *text, const sink *out);
/* Change a setting by its name (max-tokens, temp, top-p, top-k, repeat-penalty, seed). */
int session_set(session *s, const char *name, const char *value, const sink *out, char **cause);
/* Print every setting with its value. */
void session_print_settings(const session *s, const sink *out);
/* Save: arg NULL or "" the session's own file, NAME into the sessions folder, PATH a copy. */
int session_save(session *s, const char *arg, const sink *out, char **cause);
/* Load NAME from the sessions folder or PATH; the current conversation stays on failure. */
int session_load(session *s, const char *arg, const sink *out, char **cause);
/*
 * Load the newest session of the sessions folder made with this model; 0 with a notice when there
 * is none.
 */
int session_resume_last(session *s, const sink *out, char **cause);
/* List the saved sessions. */
void session_list(const session *s, const sink *out);
/* Export the conversation as Markdown to path, images copied beside it. */
int session_export(session *s, const char *path, const sink *out, char **cause);
/* The sessions folder. */
const char *session_dir(const session *s);

/* A snapshot of the conversation (free with session_snapshot_free). */
session_snapshot *session_snapshot_new(const session *s);
/* Free a snapshot. */
void session_snapshot_free(session_snapshot *snap);
/*
 * Parse "/set" arguments "NAME VALUE" into p and *max_tokens: -1 with *cause naming the setting when
 * the name or the value is bad (nothing changes then). *seed_given is set for a seed.
 */
int session_parse_set(const char *name, const char *value, sampler_params *p, int *max_tokens,
                      int *seed_given, char **cause);

#endif
