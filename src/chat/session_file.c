#include "config.h"

#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "session_impl.h"
#include "sessionstore.h"
#include "xmalloc.h"

/* The sessions listed by /sessions at most (the newest). */
#define SESSION_LIST_MAX 30

void
session_forget_file(session *s)
{
    free(s->file);
    s->file = NULL;
    s->file_auto = 0;
}

/* Put every picture the conversation refers to in the image store. */
static int
session_store_blobs(session *s, char **cause)
{
    for (int i = 0; i < s->nblobs; i++) {
        session_blob *b = &s->blobs[i];
        if (b->stored)
            continue;
        if (sessionstore_put_blob(s->dir, b->sha256, b->bytes, b->len, cause) != 0)
            return -1;
        free(b->path);
        b->path = sessionstore_blob_path_new(s->dir, b->sha256);
        free(b->bytes);
        b->bytes = NULL;
        b->len = 0;
        b->stored = 1;
    }
    return 0;
}

/* Write the conversation to path (its pictures to the store first). */
static int
session_write(session *s, const char *path, char **cause)
{
    if (session_store_blobs(s, cause) != 0)
        return -1;
    session_doc_sync(s);
    if (s->doc.created == NULL) {
        char when[32];
        time_t now = time(NULL);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
        s->doc.created = xstrdup(when);
    }
    size_t len;
    char *text = sessiondoc_dump_new(&s->doc, &len);
    int rc = sessionstore_write_atomic(path, text, len, cause);
    free(text);
    return rc;
}

/* A new file in the sessions folder named by the time: 2026-11-27-143012.json. New string. */
static char *
session_auto_name_new(const session *s)
{
    char stamp[32];
    time_t now = time(NULL);
    strftime(stamp, sizeof stamp, "%Y-%m-%d-%H%M%S", localtime(&now));
    char *path = xasprintf("%s/%s.json", s->dir, stamp);
    for (int i = 2; access(path, F_OK) == 0; i++) {
        free(path);
        path = xasprintf("%s/%s-%d.json", s->dir, stamp, i);
    }
    return path;
}

/* Save to the session's own file (naming one on the first save). */
static int
session_save_own(session *s, char **cause)
{
    if (sessionstore_mkdirs(s->dir, cause) != 0)
        return -1;
    char *path = s->file != NULL ? xstrdup(s->file) : session_auto_name_new(s);
    if (session_write(s, path, cause) != 0) {
        free(path);
        return -1;
    }
    if (s->file == NULL)
        s->file_auto = 1;
    free(s->file);
    s->file = path;
    return 0;
}

void
session_autosave(session *s, const sink *out)
{
    char *cause = NULL;
    if (!s->opt.autosave || (s->doc.nturns == 0 && s->file == NULL))
        return;
    if (session_save_own(s, &cause) == 0) {
        s->autosave_failed = 0;
        return;
    }
    /* said once: a full disk must not fill the transcript, one line a reply */
    if (!s->autosave_failed)
        session_say(out, SINK_WARNING,
                    "autosave failed: %s (the conversation goes on; /save PATH saves it elsewhere)",
                    cause);
    s->autosave_failed = 1;
    free(cause);
}

int
session_save(session *s, const char *arg, const sink *out, char **cause)
{
    if (arg == NULL || *arg == '\0') {
        if (session_save_own(s, cause) != 0)
            return -1;
        session_say(out, SINK_NOTICE, "saved to %s", s->file);
        return 0;
    }
    int named = strchr(arg, '/') == NULL && !g_str_has_suffix(arg, ".json");
    if (named && !sessionstore_name_ok(arg))
        return log_cause(cause, "/save: \"%s\" is not a session name (no '/', not starting with "
                                "'.', at most 100 bytes)", arg);
    if (named && sessionstore_mkdirs(s->dir, cause) != 0)
        return -1;
    char *path = sessionstore_resolve_new(s->dir, arg);
    if (session_write(s, path, cause) != 0) {
        free(path);
        return -1;
    }
    if (!named) {
        session_say(out, SINK_NOTICE, "saved a copy to %s (autosave goes on in %s)", path,
                    s->file != NULL ? s->file : "the sessions folder");
        free(path);
        return 0;
    }
    /* a name renames the session: autosave follows, and the file it had by date goes */
    if (s->file != NULL && s->file_auto && strcmp(s->file, path) != 0)
        unlink(s->file);
    free(s->file);
    s->file = path;
    s->file_auto = 0;
    session_say(out, SINK_NOTICE, "saved to %s", path);
    return 0;
}

/* ------------------------------------------------------------------ loading */

/* The model check: a session goes back only to the model it was made with. */
static int
session_check_model(const session *s, const sessiondoc *d, const char *path, char **cause)
{
    const imp_config *c = engine_config(s->eng);
    const sessiondoc_model *m = &d->model;
    int same = m->hidden == c->hidden && m->layers == c->layers && m->vocab == c->vocab &&
               m->vision_hidden == c->vis_hidden && m->vision_layers == c->vis_layers &&
               (m->name[0] == '\0' || c->name[0] == '\0' || strcmp(m->name, c->name) == 0);
    if (same)
        return 0;
    return log_cause(cause,
                     "%s: the session was made with %s (hidden %d, %d layers), but this model "
                     "is %s (hidden %d, %d layers)",
                     path, m->name[0] ? m->name : "an unnamed model", m->hidden, m->layers,
                     c->name[0] ? c->name : "an unnamed model", c->hidden, c->layers);
}

/* Every id must be one of the model's. */
static int
session_check_ids(const session *s, const sessiondoc *d, const char *path, char **cause)
{
    int vocab = engine_config(s->eng)->vocab;
    for (int i = 0; i < d->nturns; i++)
        for (size_t k = 0; k < d->turns[i].nids; k++)
            if (d->turns[i].ids[k] >= vocab)
                return log_cause(cause, "%s: messages[%d]: id %d is not in the model's "
                                        "vocabulary of %d",
                                 path, 2 * i + 1, d->turns[i].ids[k], vocab);
    return 0;
}

/* What a load builds before anything of the current conversation changes. */
typedef struct {
    session_blob *blobs;
    int nblobs;
    engine_turn_in *turns;
    int nturns;
    int *slots;     /* every engine reference taken: turn images, then the staged ones */
    int nslots;
} session_loading;

static void
session_loading_free(session *s, session_loading *l, int release)
{
    for (int i = 0; release && i < l->nslots; i++)
        engine_image_release(s->eng, l->slots[i]);
    for (int i = 0; i < l->nblobs; i++) {
        free(l->blobs[i].path);
        free(l->blobs[i].bytes);
    }
    free(l->blobs);
    free(l->turns);
    free(l->slots);
}

/* The picture sha256 for the loading: from the store, checked; -1 with *cause naming it. */
static session_blob *
session_loading_blob(session *s, session_loading *l, const sessiondoc_image *im, const char *path,
                     char **cause)
{
    for (int i = 0; i < l->nblobs; i++)
        if (strcmp(l->blobs[i].sha256, im->sha256) == 0)
            return &l->blobs[i];
    char *blob = sessionstore_blob_path_new(s->dir, im->sha256);
    char *data;
    size_t len;
    if (sessionstore_read(blob, SESSION_IMAGE_MAX_BYTES, &data, &len, cause) != 0) {
        free(*cause);
        *cause = NULL;
        log_cause(cause, "%s: image %s is missing from the image store (%s)", path, im->name,
                  blob);
        free(blob);
        return NULL;
    }
    char sha[65];
    sessionstore_sha256_hex(data, len, sha);
    free(data);
    if (strcmp(sha, im->sha256) != 0) {
        log_cause(cause, "%s: image %s: %s does not hold the picture saved (its SHA-256 differs)",
                  path, im->name, blob);
        free(blob);
        return NULL;
    }
    l->blobs = xreallocarray(l->blobs, (size_t)l->nblobs + 1, sizeof *l->blobs);
    session_blob *b = &l->blobs[l->nblobs++];
    memset(b, 0, sizeof *b);
    memcpy(b->sha256, sha, sizeof sha);
    b->path = blob;
    b->stored = 1;
    return b;
}

/* Decode image im for the loading; its slot, or -1 with *cause. */
static int
session_loading_slot(session *s, session_loading *l, sessiondoc_image *im, const char *path,
                     char **cause)
{
    session_blob *b = session_loading_blob(s, l, im, path, cause);
    if (b == NULL)
        return -1;
    int w, h;
    int slot = session_blob_slot(s, b, im->name, &w, &h, cause);
    if (slot < 0)
        return -1;
    l->slots = xreallocarray(l->slots, (size_t)l->nslots + 1, sizeof *l->slots);
    l->slots[l->nslots++] = slot;
    return slot;
}

/* Check the pictures and build the engine's turns of d; nothing of s changes. */
static int
session_prepare(session *s, sessiondoc *d, const char *path, session_loading *l, char **cause)
{
    memset(l, 0, sizeof *l);
    /* l->slots takes the turns' references in order, then the staged ones' */
    int *first = xreallocarray(NULL, (size_t)d->nturns + 1, sizeof *first);
    l->turns = xcalloc((size_t)d->nturns + 1, sizeof *l->turns);
    for (int i = 0; i < d->nturns; i++) {
        sessiondoc_turn *t = &d->turns[i];
        int begin = l->nslots;
        for (int k = 0; k < t->nimages; k++) {
            if (t->dropped || t->images[k].dropped) {
                /* out of the context: only its bytes must be there, for showing and export */
                if (session_loading_blob(s, l, &t->images[k], path, cause) == NULL)
                    goto fail;
            } else if (session_loading_slot(s, l, &t->images[k], path, cause) < 0) {
                goto fail;
            }
        }
        if (t->dropped)
            continue;
        first[l->nturns] = begin;
        engine_turn_in *in = &l->turns[l->nturns++];
        in->text = t->text;
        in->nslots = l->nslots - begin;
        in->reply = t->ids;
        in->nreply = t->nids;
    }
    for (int k = 0; k < d->nstaged; k++)
        if (session_loading_slot(s, l, &d->staged[k], path, cause) < 0)
            goto fail;
    for (int i = 0; i < l->nturns; i++)
        l->turns[i].slots = l->slots + first[i];
    free(first);
    first = NULL;
    int need = engine_turns_positions(s->eng, l->turns, l->nturns);
    if (need > engine_context(s->eng)) {
        log_cause(cause, "%s: the conversation fills %d positions but the context holds %d (start "
                         "imp-chat with --context %d)",
                  path, need, engine_context(s->eng), need);
        goto fail;
    }
    return 0;
fail:
    free(first);
    session_loading_free(s, l, 1);
    memset(l, 0, sizeof *l);
    return -1;
}

/* Replace the conversation with d (taken over), prepared in l. */
static void
session_commit(session *s, sessiondoc *d, session_loading *l, const char *path)
{
    engine *e = s->eng;
    session_unstage_all(s);
    engine_set_system(e, d->system);
    engine_set_turns(e, l->turns, l->nturns);
    engine_set_sampling(e, &d->sampling);
    engine_set_rng_state(e, d->rng_state);
    /* the staged images' references are the last d->nstaged taken; the turns hold their own */
    int turn_refs = l->nslots - d->nstaged;
    for (int i = 0; i < turn_refs; i++)
        engine_image_release(e, l->slots[i]);
    free(s->staged_slots);
    s->staged_slots = xreallocarray(NULL, (size_t)d->nstaged + 1, sizeof *s->staged_slots);
    if (d->nstaged > 0)
        memcpy(s->staged_slots, l->slots + turn_refs, (size_t)d->nstaged * sizeof *s->staged_slots);
    if (d->max_tokens < 0)
        d->max_tokens = s->doc.max_tokens; /* the file did not say: the current one stays */
    sessiondoc_free(&s->doc);
    s->doc = *d;
    for (int i = 0; i < s->nblobs; i++) {
        free(s->blobs[i].path);
        free(s->blobs[i].bytes);
    }
    free(s->blobs);
    s->blobs = l->blobs;
    s->nblobs = l->nblobs;
    l->blobs = NULL;
    l->nblobs = 0;
    session_forget_file(s);
    /* autosave goes on in the file loaded when it is one of the sessions folder's */
    if (sessionstore_in_dir(s->dir, path))
        s->file = xstrdup(path);
    s->have_last = 0;
    s->autosave_failed = 0;
}

int
session_load(session *s, const char *arg, const sink *out, char **cause)
{
    char *path = sessionstore_resolve_new(s->dir, arg);
    char *data;
    size_t len;
    sessiondoc d;
    session_loading l;
    int rc = -1;
    if (sessionstore_read(path, SESSIONDOC_MAX_BYTES, &data, &len, cause) != 0) {
        free(path);
        return -1;
    }
    if (sessiondoc_parse(&d, data, len, path, cause) == 0) {
        if (session_check_model(s, &d, path, cause) == 0 &&
            session_check_ids(s, &d, path, cause) == 0 &&
            session_prepare(s, &d, path, &l, cause) == 0) {
            session_commit(s, &d, &l, path);
            session_loading_free(s, &l, 0);
            rc = 0;
        } else {
            sessiondoc_free(&d);
        }
    }
    free(data);
    if (rc == 0) {
        if (out != NULL && out->changed != NULL)
            out->changed(out->ctx, SINK_RESET);
        session_say(out, SINK_NOTICE,
                    "loaded %s: %d exchange(s), %d of %d positions (put back in the cache at the "
                    "next message)",
                    path, s->doc.nturns, engine_positions_used(s->eng), engine_context(s->eng));
    }
    free(path);
    return rc;
}

int
session_resume_last(session *s, const sink *out, char **cause)
{
    sessionstore_entry *list;
    int n = sessionstore_list(s->dir, &list), other = 0, rc = 0;
    const char *found = NULL;
    /* the newest made with this model: a session of another one cannot go on here */
    for (int i = 0; i < n && found == NULL; i++) {
        char *data = NULL, *unread = NULL;
        size_t len;
        sessiondoc d;
        if (sessionstore_read(list[i].path, SESSIONDOC_MAX_BYTES, &data, &len, &unread) == 0 &&
            sessiondoc_parse(&d, data, len, list[i].path, &unread) == 0) {
            if (session_check_model(s, &d, list[i].path, &unread) == 0)
                found = list[i].path;
            else
                other++;
            sessiondoc_free(&d);
        }
        free(data);
        free(unread);
    }
    if (found != NULL)
        rc = session_load(s, found, out, cause);
    else if (other > 0)
        session_say(out, SINK_NOTICE,
                    "no saved conversation of this model to resume in %s (%d of another model): "
                    "a new one starts",
                    s->dir, other);
    else
        session_say(out, SINK_NOTICE, "no saved conversation to resume in %s: a new one starts",
                    s->dir);
    sessionstore_list_free(list, n);
    return rc;
}

void
session_list(const session *s, const sink *out)
{
    sessionstore_entry *list;
    int n = sessionstore_list(s->dir, &list);
    if (n == 0) {
        session_say(out, SINK_OUTPUT, "No saved sessions in %s yet.", s->dir);
        return;
    }
    GString *text = g_string_new(NULL);
    g_string_append_printf(text, "Sessions in %s, newest first (/load NAME):", s->dir);
    for (int i = 0; i < n && i < SESSION_LIST_MAX; i++) {
        char when[32], *data = NULL, *cause = NULL;
        size_t len;
        sessiondoc d;
        strftime(when, sizeof when, "%Y-%m-%d %H:%M", localtime(&list[i].mtime));
        int current = s->file != NULL && strcmp(s->file, list[i].path) == 0;
        g_string_append_printf(text, "\n%s %s  %s  ", current ? "*" : " ", list[i].name, when);
        if (sessionstore_read(list[i].path, SESSIONDOC_MAX_BYTES, &data, &len, &cause) == 0 &&
            sessiondoc_parse(&d, data, len, list[i].name, &cause) == 0) {
            const char *first = d.nturns > 0 ? d.turns[0].text : "";
            char *preview = g_utf8_substring(first, 0, MIN(g_utf8_strlen(first, -1), 48));
            g_string_append_printf(text, "%d exchange(s)%s%s%s", d.nturns, *first ? "  \"" : "",
                                   preview, *first ? "\"" : "");
            g_free(preview);
            sessiondoc_free(&d);
        } else {
            g_string_append_printf(text, "(cannot be read: %s)", cause);
        }
        free(data);
        free(cause);
    }
    if (n > SESSION_LIST_MAX)
        g_string_append_printf(text, "\n  ... and %d older", n - SESSION_LIST_MAX);
    session_say(out, SINK_OUTPUT, "%s", text->str);
    g_string_free(text, TRUE);
    sessionstore_list_free(list, n);
}
