/*
 * A conversation as plain data, and its session file: one JSON document (format
 * "imp-chat-session", version 1) with the model it was made with, the system prompt, the
 * settings, the exchanges (the user's message with its images, the reply's text as written and
 * the ids generated for it) and the images staged for the next message. Images are referred to by
 * the SHA-256 of the file's bytes; the bytes themselves live in the sessions folder's image store
 * (sessionstore.h). Parsing needs no model, so a fuzz target is a few lines.
 */
#ifndef IMP_SESSIONDOC_H
#define IMP_SESSIONDOC_H

#include <stddef.h>
#include <stdint.h>

#include "sampler.h"

#define SESSIONDOC_FORMAT "imp-chat-session"
#define SESSIONDOC_VERSION 1
/* Limits on what a session file may hold (a file past them is refused, not truncated). */
#define SESSIONDOC_MAX_BYTES ((size_t)32 << 20)
#define SESSIONDOC_MAX_STRING ((size_t)1 << 20)
#define SESSIONDOC_MAX_MESSAGES 100000
#define SESSIONDOC_MAX_IDS (1 << 20)
#define SESSIONDOC_MAX_IMAGES 64
/* Ids are below this (the model's vocabulary is checked when the session is loaded). */
#define SESSIONDOC_MAX_ID (1 << 20)

/* How a reply ended (engine_stop's values). */
typedef enum {
    SESSIONDOC_STOP_EOS,
    SESSIONDOC_STOP_LENGTH,
    SESSIONDOC_STOP_CANCEL,
    SESSIONDOC_STOP_CONTEXT,
} sessiondoc_stop;

/* An image attached to a message or staged. */
typedef struct {
    char sha256[65]; /* lower-case hex of the file's bytes */
    char *name;      /* the file's name as attached, without folders */
    int width, height;
    int dropped;     /* left the context to make room */
} sessiondoc_image;

/* One exchange: the user's message and the reply. */
typedef struct {
    char *text;
    sessiondoc_image *images;
    int nimages;
    char *reply;       /* as written (leading blanks dropped) */
    int32_t *ids;      /* generated ids, as the cache holds them */
    size_t nids;
    sessiondoc_stop stop;
    int dropped;       /* the exchange left the context to make room */
} sessiondoc_turn;

/* The model a session was made with: its name and the dimensions that tell models apart. */
typedef struct {
    char *name;
    int hidden, layers, vocab, vision_hidden, vision_layers;
} sessiondoc_model;

typedef struct {
    sessiondoc_model model;
    char *created;     /* ISO 8601, UTC */
    char *system;
    sampler_params sampling; /* seed_set: a seed was given */
    int max_tokens;          /* -1: not given */
    uint64_t rng_state;      /* the random stream where it stood */
    sessiondoc_turn *turns;
    int nturns;
    sessiondoc_image *staged;
    int nstaged;
} sessiondoc;

/* An empty document (no turns, no strings). */
void sessiondoc_init(sessiondoc *d);
/* Free what d holds and empty it. */
void sessiondoc_free(sessiondoc *d);
/* A deep copy of src into dst. */
void sessiondoc_copy(sessiondoc *dst, const sessiondoc *src);
/*
 * Parse a session file's len bytes (name is used in messages). 0, or -1 with *cause naming name,
 * the place in the document and what is wrong; d is then empty.
 */
int sessiondoc_parse(sessiondoc *d, const char *buf, size_t len, const char *name, char **cause);
/* The JSON text of d (new string, ends with a newline); *len gets its length. */
char *sessiondoc_dump_new(const sessiondoc *d, size_t *len);
/* Append an empty turn with text; returns it. */
sessiondoc_turn *sessiondoc_add_turn(sessiondoc *d, const char *text);
/* Remove the last turn. */
void sessiondoc_drop_last_turn(sessiondoc *d);
/* Free the turns and staged images (system, settings and model stay). */
void sessiondoc_clear(sessiondoc *d);
/* Copy an image description (deep). */
void sessiondoc_image_copy(sessiondoc_image *dst, const sessiondoc_image *src);
/* Free an image description's strings. */
void sessiondoc_image_free(sessiondoc_image *im);
/* The name a stop reason has in the file ("end", "length", "stopped", "context"). */
const char *sessiondoc_stop_name(sessiondoc_stop stop);

#endif
