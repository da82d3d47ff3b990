/*
 * The session's state, shared by session.c (the conversation and its commands),
 * session_images.c (staged pictures and their bytes), session_file.c (saving, loading, listing)
 * and session_export.c (Markdown). Nothing else includes this.
 */
#ifndef IMP_SESSION_IMPL_H
#define IMP_SESSION_IMPL_H

#include "session.h"

/* The largest image file that may be attached (its bytes are kept until they are stored). */
#define SESSION_IMAGE_MAX_BYTES ((size_t)256 << 20)

/* An attached picture's bytes: where they can be read, until and after they are in the store. */
typedef struct {
    char sha256[65];
    char *path;           /* the attached file, or the store's copy once stored */
    unsigned char *bytes; /* the file's bytes until they are in the store */
    size_t len;
    int stored;
} session_blob;

struct session {
    engine *eng;
    session_options opt;
    char *dir;
    sessiondoc doc;       /* the whole conversation, the part that left the context included */
    int *staged_slots;    /* engine slots of doc.staged, one reference held each */
    session_blob *blobs;  /* every picture doc refers to */
    int nblobs;
    char *file;           /* the file autosave writes; NULL until the first save */
    int file_auto;        /* file was named by autosave (a rename may remove it) */
    int autosave_failed;  /* the last autosave failed (said once, until one works again) */
    engine_stats last;
    int have_last;
};

/* Tell out that the conversation changed (when it listens). */
void session_changed(const sink *out, sink_change what);
/* Number of the images of the exchanges (the staged ones come after). */
int session_turn_images(const session *s);
/* Stage a picture already known as blob b, named name (front: before the others); -1 with *cause. */
int session_stage_blob(session *s, session_blob *b, const char *name, int front, char **cause);
/* Say something through out (printf-style). */
void session_say(const sink *out, sink_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The blob of a SHA-256, or NULL. */
session_blob *session_blob_find(session *s, const char *sha256);
/* The same, read-only. */
const session_blob *session_blob_find_const(const session *s, const char *sha256);
/* Forget blobs no image of the conversation refers to. */
void session_blobs_gc(session *s);
/* Give back the staged images' engine references and forget them. */
void session_unstage_all(session *s);
/* Decode a blob and add it to the engine: its slot (one reference held), or -1 with *cause. */
int session_blob_slot(session *s, const session_blob *b, const char *name, int *width,
                      int *height, char **cause);
/* Fill the document's model, settings and random state from the engine. */
void session_doc_sync(session *s);
/* Save to the session's own file when there is something to save (after a reply). */
void session_autosave(session *s, const sink *out);
/* Forget the session's file: the next save starts a new one. */
void session_forget_file(session *s);

#endif
