/*
 * Where the conversation layer's output goes: a front end (the chat, --script, -p) fills this
 * table. Every piece of model text and every message that quotes outside data (file names, a
 * session's contents) passes through reply_text or message, so one sanitizing step in a front
 * end's sink covers all it writes. The layer never writes to a terminal or a stream itself.
 */
#ifndef IMP_SINK_H
#define IMP_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"

typedef enum {
    SINK_OUTPUT, /* what a command was asked to show (/images, /set, /help): stdout in a script */
    SINK_NOTICE, /* something the user should know (what left the context, where it was saved) */
    SINK_WARNING, /* the same, about something that did not go as asked (an autosave failed) */
    SINK_ERROR,   /* a line failed: front ends say their own errors through their sink too */
} sink_level;

/* What changed in the conversation, for a front end that shows it. */
typedef enum {
    SINK_RESET,   /* replaced: /clear, /system, /load (show it again from a snapshot) */
    SINK_UNDONE,  /* the last exchange was taken back */
    SINK_DROPPED, /* exchanges or images left the context to make room */
    SINK_STAGED,  /* the images staged for the next message changed */
    SINK_SETTINGS, /* a setting changed */
} sink_change;

/* Things only a front end can do (commands that change no conversation state). */
typedef enum {
    SINK_HELP,  /* show the commands and keys */
    SINK_THEME, /* arg: a theme name, or "" to list them */
    SINK_COPY,  /* arg: the text to put on the clipboard */
    SINK_SHOW,  /* arg: an image's file to show full-screen; number: its number */
    SINK_EDIT,  /* arg: the last message's text, back into the editor */
    SINK_QUIT,
} sink_request;

typedef struct {
    void *ctx;
    /* An exchange starts: the user's message (turn index, text, image numbers from 1). */
    void (*turn)(void *ctx, int index, const char *text, const int *images, int nimages);
    /* The reply of the last exchange is generated again (/retry): forget the text shown. */
    void (*reply_reset)(void *ctx, int index);
    /* A piece of the reply (UTF-8, leading blanks of the reply already dropped). */
    void (*reply_text)(void *ctx, const char *text, size_t len);
    /* The reply ended: its statistics and ids. */
    void (*reply_end)(void *ctx, const engine_stats *st, const int32_t *ids, size_t nids);
    /* A line of text for the user. */
    void (*message)(void *ctx, sink_level level, const char *text);
    /* The conversation changed (optional). */
    void (*changed)(void *ctx, sink_change what);
    /* Rebuilding the cache: done of total positions (optional); nonzero stops it. */
    int (*progress)(void *ctx, int done, int total);
    /* A front-end request; -1 with *cause when it cannot be done here. */
    int (*front)(void *ctx, sink_request req, const char *arg, int number, char **cause);
} sink;

#endif
