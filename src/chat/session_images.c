#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "image.h"
#include "log.h"
#include "session_impl.h"
#include "sessionstore.h"
#include "xmalloc.h"

/* ------------------------------------------------------------------ pictures */

const session_blob *
session_blob_find_const(const session *s, const char *sha256)
{
    for (int i = 0; i < s->nblobs; i++)
        if (strcmp(s->blobs[i].sha256, sha256) == 0)
            return &s->blobs[i];
    return NULL;
}

session_blob *
session_blob_find(session *s, const char *sha256)
{
    return (session_blob *)session_blob_find_const(s, sha256);
}

/* Whether an image of the conversation (staged included) refers to sha256. */
static int
session_uses(const session *s, const char *sha256)
{
    for (int i = 0; i < s->doc.nturns; i++)
        for (int k = 0; k < s->doc.turns[i].nimages; k++)
            if (strcmp(s->doc.turns[i].images[k].sha256, sha256) == 0)
                return 1;
    for (int i = 0; i < s->doc.nstaged; i++)
        if (strcmp(s->doc.staged[i].sha256, sha256) == 0)
            return 1;
    return 0;
}

void
session_blobs_gc(session *s)
{
    int kept = 0;
    for (int i = 0; i < s->nblobs; i++) {
        if (session_uses(s, s->blobs[i].sha256)) {
            s->blobs[kept++] = s->blobs[i];
        } else {
            free(s->blobs[i].path);
            free(s->blobs[i].bytes);
        }
    }
    s->nblobs = kept;
}

void
session_unstage_all(session *s)
{
    for (int i = 0; i < s->doc.nstaged; i++) {
        engine_image_release(s->eng, s->staged_slots[i]);
        sessiondoc_image_free(&s->doc.staged[i]);
    }
    s->doc.nstaged = 0;
}

int
session_blob_slot(session *s, const session_blob *b, const char *name, int *width, int *height,
                  char **cause)
{
    char *data = NULL;
    size_t len = b->len;
    const unsigned char *bytes = b->bytes;
    if (bytes == NULL) {
        if (sessionstore_read(b->path, SESSION_IMAGE_MAX_BYTES, &data, &len, cause) != 0)
            return -1;
        bytes = (const unsigned char *)data;
    }
    image_rgb img;
    int rc = image_load_memory(&img, bytes, len, b->path != NULL ? b->path : name, cause);
    free(data);
    if (rc != 0)
        return -1;
    *width = img.width;
    *height = img.height;
    int slot = engine_image_add_rgb(s->eng, &img, name);
    image_free(&img);
    return slot;
}

int
session_turn_images(const session *s)
{
    int n = 0;
    for (int i = 0; i < s->doc.nturns; i++)
        n += s->doc.turns[i].nimages;
    return n;
}

/* The file name without its folders. */
static const char *
session_base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash != NULL && slash[1] != '\0' ? slash + 1 : path;
}

int
session_stage_blob(session *s, session_blob *b, const char *name, int front, char **cause)
{
    int w, h;
    int slot = session_blob_slot(s, b, name, &w, &h, cause);
    if (slot < 0)
        return -1;
    int n = s->doc.nstaged;
    s->doc.staged = xreallocarray(s->doc.staged, (size_t)n + 1, sizeof *s->doc.staged);
    s->staged_slots = xreallocarray(s->staged_slots, (size_t)n + 1, sizeof *s->staged_slots);
    int at = front ? 0 : n;
    memmove(s->doc.staged + at + 1, s->doc.staged + at, (size_t)(n - at) * sizeof *s->doc.staged);
    memmove(s->staged_slots + at + 1, s->staged_slots + at,
            (size_t)(n - at) * sizeof *s->staged_slots);
    sessiondoc_image *im = &s->doc.staged[at];
    memset(im, 0, sizeof *im);
    memcpy(im->sha256, b->sha256, sizeof im->sha256);
    im->name = xstrdup(name);
    im->width = w;
    im->height = h;
    s->staged_slots[at] = slot;
    s->doc.nstaged++;
    return 0;
}

/* Warn when the staged images cannot go with the next message as things are. */
static void
session_warn_room(session *s, const sink *out)
{
    engine_room_plan plan;
    char *cause = NULL;
    int fit = engine_plan_room(s->eng, "", s->doc.nstaged, &plan, &cause);
    int need = s->doc.nstaged * engine_config(s->eng)->vis_patches;
    if (fit < 0) {
        session_say(out, SINK_WARNING, "the %d staged image(s) cannot be sent: %s (/drop N "
                                       "unstages one)", s->doc.nstaged, cause);
    } else if (fit > 0) {
        char *what = plan.images > 0 && plan.turns > 0
                         ? xasprintf("the oldest %d image(s) and %d exchange(s)", plan.images,
                                     plan.turns)
                     : plan.images > 0 ? xasprintf("the oldest %d image(s)", plan.images)
                                       : xasprintf("the oldest %d exchange(s)", plan.turns);
        session_say(out, SINK_WARNING,
                    "the %d staged image(s) need %d positions and %d of %d are free: sending "
                    "will drop %s",
                    s->doc.nstaged, need,
                    engine_context(s->eng) - engine_positions_used(s->eng),
                    engine_context(s->eng), what);
        free(what);
    }
    free(cause);
}

int
session_stage(session *s, const char *path, const sink *out, char **cause)
{
    char *data;
    size_t len;
    if (sessionstore_read(path, SESSION_IMAGE_MAX_BYTES, &data, &len, cause) != 0)
        return -1;
    if (len == 0) {
        free(data);
        return log_cause(cause, "%s: empty file", path);
    }
    char sha[65];
    sessionstore_sha256_hex(data, len, sha);
    int first = session_turn_images(s) + 1;
    for (int i = 0; i < s->doc.nstaged; i++)
        if (strcmp(s->doc.staged[i].sha256, sha) == 0) {
            free(data);
            session_say(out, SINK_NOTICE, "%s is already staged as image %d", path, first + i);
            return 0;
        }
    session_blob *b = session_blob_find(s, sha), fresh = {.bytes = (unsigned char *)data,
                                                          .len = len,
                                                          .path = (char *)path};
    memcpy(fresh.sha256, sha, sizeof sha);
    if (session_stage_blob(s, b != NULL ? b : &fresh, session_base_name(path), 0, cause) != 0) {
        free(data);
        return -1;
    }
    if (b == NULL) {
        s->blobs = xreallocarray(s->blobs, (size_t)s->nblobs + 1, sizeof *s->blobs);
        fresh.path = xstrdup(path);
        s->blobs[s->nblobs++] = fresh;
    } else {
        free(data);
    }
    session_changed(out, SINK_STAGED);
    session_warn_room(s, out);
    return 0;
}

int
session_drop(session *s, int number, const sink *out, char **cause)
{
    int first = session_turn_images(s) + 1;
    if (s->doc.nstaged == 0)
        return log_cause(cause, "/drop: no image is staged");
    if (number < first || number >= first + s->doc.nstaged) {
        if (number >= 1 && number < first)
            return log_cause(cause, "/drop: image %d went with an earlier message; only the "
                                    "staged images (%d to %d) can be dropped",
                             number, first, first + s->doc.nstaged - 1);
        return log_cause(cause, "/drop: no staged image %d (the staged ones are %d to %d)",
                         number, first, first + s->doc.nstaged - 1);
    }
    int k = number - first;
    engine_image_release(s->eng, s->staged_slots[k]);
    sessiondoc_image_free(&s->doc.staged[k]);
    s->doc.nstaged--;
    memmove(s->doc.staged + k, s->doc.staged + k + 1,
            (size_t)(s->doc.nstaged - k) * sizeof *s->doc.staged);
    memmove(s->staged_slots + k, s->staged_slots + k + 1,
            (size_t)(s->doc.nstaged - k) * sizeof *s->staged_slots);
    session_blobs_gc(s);
    session_changed(out, SINK_STAGED);
    return 0;
}
