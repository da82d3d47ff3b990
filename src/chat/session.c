#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <glib.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "log.h"
#include "session_impl.h"
#include "sessionstore.h"
#include "xmalloc.h"

void
session_say(const sink *out, sink_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = xvasprintf(fmt, ap);
    va_end(ap);
    if (out != NULL && out->message != NULL)
        out->message(out->ctx, level, text);
    free(text);
}

void
session_changed(const sink *out, sink_change what)
{
    if (out != NULL && out->changed != NULL)
        out->changed(out->ctx, what);
}

session *
session_new(engine *e, const session_options *opt)
{
    session *s = xcalloc(1, sizeof *s);
    s->eng = e;
    s->opt = *opt;
    s->dir = opt->dir != NULL ? xstrdup(opt->dir) : sessionstore_dir_new();
    sessiondoc_init(&s->doc);
    s->doc.system = xstrdup(opt->system != NULL ? opt->system : CHAT_DEFAULT_SYSTEM);
    s->doc.max_tokens = opt->max_tokens;
    session_doc_sync(s);
    return s;
}

void
session_free(session *s)
{
    if (s == NULL)
        return;
    session_unstage_all(s);
    sessiondoc_free(&s->doc);
    for (int i = 0; i < s->nblobs; i++) {
        free(s->blobs[i].path);
        free(s->blobs[i].bytes);
    }
    free(s->blobs);
    free(s->staged_slots);
    free(s->file);
    free(s->dir);
    free(s);
}

engine *
session_engine(const session *s)
{
    return s->eng;
}

void
session_set_cancel(session *s, volatile int *cancel)
{
    s->opt.cancel = cancel;
}

const char *
session_dir(const session *s)
{
    return s->dir;
}

/* The model, the sampling settings and the random stream's state of e into d. */
static void
session_doc_fill(sessiondoc *d, const engine *e)
{
    const imp_config *c = engine_config(e);
    free(d->model.name);
    d->model.name = xstrdup(c->name);
    d->model.hidden = c->hidden;
    d->model.layers = c->layers;
    d->model.vocab = c->vocab;
    d->model.vision_hidden = c->vis_hidden;
    d->model.vision_layers = c->vis_layers;
    d->sampling = *engine_sampling_borrow(e);
    d->rng_state = engine_rng_state(e);
}

void
session_doc_sync(session *s)
{
    session_doc_fill(&s->doc, s->eng);
}

/* ------------------------------------------------------------------ turns */

/* A reply as it streams: text and ids go to the conversation and the sink. */
typedef struct {
    session *s;
    sessiondoc_turn *turn;
    const sink *out;
    int started; /* leading blanks of a reply are dropped, as the reference strips them */
    GString *text;
    int32_t *ids;
    size_t nids;
} session_reply;

static int
session_on_token(void *ctx, int32_t id, const char *text, size_t len)
{
    session_reply *r = ctx;
    if (id >= 0) {
        r->ids = xreallocarray(r->ids, r->nids + 1, sizeof *r->ids);
        r->ids[r->nids++] = id;
    }
    if (!r->started) {
        while (len > 0 && isspace((unsigned char)*text)) {
            text++;
            len--;
        }
        if (len == 0)
            return 0;
        r->started = 1;
    }
    g_string_append_len(r->text, text, (gssize)len);
    if (r->out != NULL && r->out->reply_text != NULL)
        r->out->reply_text(r->out->ctx, text, len);
    return 0;
}

static const sessiondoc_stop session_stops[] = {
    [ENGINE_STOP_EOS] = SESSIONDOC_STOP_EOS,
    [ENGINE_STOP_LENGTH] = SESSIONDOC_STOP_LENGTH,
    [ENGINE_STOP_CANCEL] = SESSIONDOC_STOP_CANCEL,
    [ENGINE_STOP_CONTEXT] = SESSIONDOC_STOP_CONTEXT,
    [ENGINE_STOP_DEVICE] = SESSIONDOC_STOP_CANCEL, /* cut short, as by the user */
};

/* Pass on what the engine has to say (the GPU failed and the CPU took over). */
static void
session_engine_note(session *s, const sink *out)
{
    char *note = engine_take_note(s->eng);
    if (note != NULL)
        session_say(out, SINK_WARNING, "%s", note);
    free(note);
}

/* Store a finished reply in its turn, tell the sink, and save. */
static void
session_reply_end(session_reply *r, const engine_stats *st)
{
    session *s = r->s;
    free(r->turn->reply);
    r->turn->reply = g_string_free(r->text, FALSE);
    free(r->turn->ids);
    r->turn->ids = r->ids;
    r->turn->nids = r->nids;
    r->turn->stop = session_stops[st->stop];
    s->last = *st;
    s->have_last = 1;
    if (st->limited_to > 0)
        session_say(r->out, SINK_NOTICE,
                    "the reply was limited to %d tokens (max-tokens is %d): the context had room "
                    "for no more",
                    st->limited_to, s->doc.max_tokens);
    if (r->out != NULL && r->out->reply_end != NULL)
        r->out->reply_end(r->out->ctx, st, r->turn->ids, r->turn->nids);
    session_engine_note(s, r->out);
    session_autosave(s, r->out);
}

static int
session_progress(void *ctx, int done, int total)
{
    const sink *out = ctx;
    if (out != NULL && out->progress != NULL)
        return out->progress(out->ctx, done, total);
    return 0;
}

/* "the oldest 2 image(s) and the oldest 1 exchange(s)": what a plan drops. New string. */
static char *
session_room_text_new(const engine_room_plan *plan)
{
    if (plan->images > 0 && plan->turns > 0)
        return xasprintf("the oldest %d image(s) and the oldest %d exchange(s)", plan->images,
                         plan->turns);
    if (plan->images > 0)
        return xasprintf("the oldest %d image(s)", plan->images);
    return xasprintf("the oldest %d exchange(s)", plan->turns);
}

/* Mark in the conversation what plan dropped from the context, as the engine chose it. */
static void
session_mark_dropped(session *s, const engine_room_plan *plan)
{
    int images = plan->images, turns = plan->turns;
    for (int i = 0; i < s->doc.nturns && images > 0; i++) {
        sessiondoc_turn *t = &s->doc.turns[i];
        for (int k = 0; k < t->nimages && images > 0 && !t->dropped; k++)
            if (!t->images[k].dropped) {
                t->images[k].dropped = 1;
                images--;
            }
    }
    for (int i = 0; i < s->doc.nturns && turns > 0; i++) {
        sessiondoc_turn *t = &s->doc.turns[i];
        if (t->dropped)
            continue;
        t->dropped = 1;
        for (int k = 0; k < t->nimages; k++)
            t->images[k].dropped = 1;
        turns--;
    }
}

/* Rebuild the cache (after a load) or make room by plan; -1 with *cause when it was stopped. */
static int
session_rebuild(session *s, const engine_room_plan *plan, const sink *out, char **cause)
{
    engine_set_progress(s->eng, session_progress, (void *)out);
    int rc = engine_make_room(s->eng, plan, NULL);
    engine_set_progress(s->eng, NULL, NULL);
    session_engine_note(s, out);
    if (plan != NULL && (plan->images > 0 || plan->turns > 0)) {
        session_mark_dropped(s, plan);
        char *what = session_room_text_new(plan);
        session_say(out, SINK_NOTICE,
                    "context full: dropped %s to make room; the cache was rebuilt from the rest "
                    "(images are not encoded again)",
                    what);
        free(what);
        session_changed(out, SINK_DROPPED);
    }
    if (rc != 0)
        return log_cause(cause, "stopped while the conversation was put back in the cache (the "
                                "next message starts it again)");
    return 0;
}

/* The staged images leave with a refused message, unless the front end keeps them. */
static int
session_refused(session *s, const sink *out, char **cause)
{
    if (s->opt.keep_staged || s->doc.nstaged == 0)
        return -1;
    char *was = *cause;
    *cause = xasprintf("%s (the %d staged image(s) were unstaged)", was, s->doc.nstaged);
    free(was);
    session_unstage_all(s);
    session_blobs_gc(s);
    session_changed(out, SINK_STAGED);
    return -1;
}

int
session_send(session *s, const char *text_in, int confirmed, const sink *out, char **cause)
{
    engine *e = s->eng;
    if (*text_in == '\0' && s->doc.nstaged == 0)
        return log_cause(cause, "nothing to send");
    /* the conversation is saved as UTF-8: what the model sees is what is saved */
    char *text = g_utf8_make_valid(text_in, -1);
    engine_room_plan plan;
    int fit = engine_plan_room(e, text, s->doc.nstaged, &plan, cause);
    if (fit < 0) {
        g_free(text);
        return session_refused(s, out, cause);
    }
    if (fit > 0 && s->opt.ask_before_dropping && !confirmed) {
        char *what = session_room_text_new(&plan);
        log_cause(cause, "context full: sending drops %s", what);
        free(what);
        g_free(text);
        return SESSION_CONFIRM;
    }
    if ((fit > 0 || engine_stale(e)) &&
        session_rebuild(s, fit > 0 ? &plan : NULL, out, cause) != 0) {
        g_free(text);
        return -1;
    }

    /* the staged images go with the message */
    sessiondoc_turn *t = sessiondoc_add_turn(&s->doc, text);
    t->images = s->doc.staged;
    t->nimages = s->doc.nstaged;
    int *slots = s->staged_slots;
    int nslots = s->doc.nstaged;
    s->doc.staged = NULL;
    s->doc.nstaged = 0;
    s->staged_slots = NULL;
    if (out != NULL && out->turn != NULL) {
        int *numbers = xreallocarray(NULL, (size_t)nslots + 1, sizeof *numbers);
        int first = session_turn_images(s) - nslots + 1;
        for (int i = 0; i < nslots; i++)
            numbers[i] = first + i;
        out->turn(out->ctx, s->doc.nturns - 1, text, numbers, nslots);
        free(numbers);
    }
    session_changed(out, SINK_STAGED);

    session_reply r = {.s = s, .turn = t, .out = out, .text = g_string_new(NULL)};
    engine_stats st;
    int rc = engine_send(e, text, slots, nslots, s->doc.max_tokens, session_on_token, &r,
                         s->opt.cancel, &st, cause);
    g_free(text);
    for (int i = 0; i < nslots; i++)
        engine_image_release(e, slots[i]); /* the turn holds its own */
    free(slots);
    if (rc != 0) {
        /* not expected after the plan; the exchange is taken back as if never sent */
        g_string_free(r.text, TRUE);
        free(r.ids);
        sessiondoc_drop_last_turn(&s->doc);
        session_blobs_gc(s);
        session_changed(out, SINK_UNDONE);
        return -1;
    }
    session_reply_end(&r, &st);
    return 0;
}

/* Make sure the cache holds the conversation before a reply is generated again. */
static int
session_ready(session *s, const sink *out, char **cause)
{
    if (engine_stale(s->eng))
        return session_rebuild(s, NULL, out, cause);
    return 0;
}

int
session_retry(session *s, const sink *out, char **cause)
{
    if (s->doc.nturns == 0)
        return log_cause(cause, "/retry: no message to reply to yet");
    if (session_ready(s, out, cause) != 0)
        return -1;
    sessiondoc_turn *t = &s->doc.turns[s->doc.nturns - 1];
    if (out != NULL && out->reply_reset != NULL)
        out->reply_reset(out->ctx, s->doc.nturns - 1);
    session_reply r = {.s = s, .turn = t, .out = out, .text = g_string_new(NULL)};
    engine_stats st;
    if (engine_regen(s->eng, s->doc.max_tokens, session_on_token, &r, s->opt.cancel, &st,
                     cause) != 0) {
        g_string_free(r.text, TRUE);
        free(r.ids);
        return -1;
    }
    session_reply_end(&r, &st);
    return 0;
}

/* Take the last exchange back from the engine and the conversation. */
static void
session_take_back(session *s)
{
    if (engine_turns(s->eng) > 0)
        engine_undo(s->eng, NULL);
    sessiondoc_drop_last_turn(&s->doc);
}

int
session_undo(session *s, const sink *out, char **cause)
{
    if (s->doc.nturns == 0)
        return log_cause(cause, "/undo: nothing to take back");
    session_take_back(s);
    session_blobs_gc(s);
    s->have_last = 0;
    session_changed(out, SINK_UNDONE);
    session_autosave(s, out);
    return 0;
}

int
session_edit(session *s, const char *text, int confirmed, const sink *out, char **cause)
{
    if (s->doc.nturns == 0)
        return log_cause(cause, "/edit: no message to edit yet");
    sessiondoc_turn *t = &s->doc.turns[s->doc.nturns - 1];
    if (text == NULL || *text == '\0') {
        if (out == NULL || out->front == NULL)
            return log_cause(cause, "usage: /edit TEXT");
        return out->front(out->ctx, SINK_EDIT, t->text, s->doc.nturns - 1, cause);
    }
    /* its images go with the new text, before any staged since */
    int n = t->nimages;
    sessiondoc_image *images = t->images;
    t->images = NULL;
    t->nimages = 0;
    session_take_back(s);
    session_changed(out, SINK_UNDONE);
    int rc = 0;
    for (int i = n - 1; i >= 0 && rc == 0; i--) {
        session_blob *b = session_blob_find(s, images[i].sha256);
        rc = b != NULL ? session_stage_blob(s, b, images[i].name, 1, cause)
                       : log_cause(cause, "%s: the picture is gone", images[i].name);
    }
    for (int i = 0; i < n; i++)
        sessiondoc_image_free(&images[i]);
    free(images);
    if (rc == 0)
        rc = session_send(s, text, confirmed, out, cause);
    session_blobs_gc(s);
    if (rc != 0)
        session_autosave(s, out); /* the exchange is gone either way: keep the file in step */
    return rc;
}

void
session_clear(session *s, const sink *out)
{
    engine_clear(s->eng);
    session_unstage_all(s);
    sessiondoc_clear(&s->doc);
    session_blobs_gc(s);
    session_forget_file(s);
    s->have_last = 0;
    session_changed(out, SINK_RESET);
}

void
session_system(session *s, const char *text, const sink *out)
{
    if (text == NULL || *text == '\0') {
        session_say(out, SINK_OUTPUT, "%s", s->doc.system);
        return;
    }
    session_clear(s, out);
    free(s->doc.system);
    s->doc.system = g_utf8_make_valid(text, -1);
    engine_set_system(s->eng, s->doc.system);
}

/* ------------------------------------------------------------------ settings */

int
session_parse_set(const char *key, const char *value, sampler_params *p, int *max_tokens,
                  int *seed_given, char **cause)
{
    static const char *const names[] = {"max-tokens", "temp", "top-p", "top-k", "repeat-penalty",
                                        "seed"};
    int known = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        known |= strcmp(key, names[i]) == 0;
    if (!known)
        return log_cause(cause, "/set: unknown setting \"%s\" (max-tokens, temp, top-p, top-k, "
                                "repeat-penalty, seed)", key);
    if (value == NULL || *value == '\0')
        return log_cause(cause, "/set %s needs a value", key);
    char *end;
    errno = 0;
    double v = strtod(value, &end);
    if (errno != 0 || end == value || *end != '\0' || !isfinite(v))
        return log_cause(cause, "/set %s: \"%s\" is not a number", key, value);
    if (strcmp(key, "max-tokens") == 0 && v >= 0 && v <= 1e9 && v == floor(v))
        *max_tokens = (int)v;
    else if (strcmp(key, "temp") == 0 && v >= 0 && v <= 100)
        p->temp = (float)v;
    else if (strcmp(key, "top-p") == 0 && v >= 0 && v <= 1)
        p->top_p = (float)v;
    else if (strcmp(key, "top-k") == 0 && v >= 0 && v <= 1e9 && v == floor(v))
        p->top_k = (int)v;
    else if (strcmp(key, "repeat-penalty") == 0 && v >= 0.01 && v <= 100)
        p->repeat_penalty = (float)v;
    else if (strcmp(key, "seed") == 0 && v >= 0 && v <= 9e18 && v == floor(v)) {
        p->seed = (uint64_t)v;
        p->seed_set = 1;
        *seed_given = 1;
    } else
        return log_cause(cause, "/set %s: %s is out of range", key, value);
    return 0;
}

int
session_set(session *s, const char *name, const char *value, const sink *out, char **cause)
{
    sampler_params p = *engine_sampling_borrow(s->eng);
    int max_tokens = s->doc.max_tokens, seed_given = 0;
    if (session_parse_set(name, value, &p, &max_tokens, &seed_given, cause) != 0)
        return -1;
    s->doc.max_tokens = max_tokens;
    engine_set_sampling(s->eng, &p);
    /* only a seed restarts the random stream, even the same seed again */
    if (seed_given)
        engine_reseed(s->eng, p.seed);
    session_changed(out, SINK_SETTINGS);
    if (s->doc.nturns > 0)
        session_autosave(s, out);
    return 0;
}

void
session_print_settings(const session *s, const sink *out)
{
    const sampler_params *p = engine_sampling_borrow(s->eng);
    char seed[64];
    if (p->seed_set)
        snprintf(seed, sizeof seed, "%llu", (unsigned long long)p->seed);
    else
        snprintf(seed, sizeof seed, "%llu (from the clock)", (unsigned long long)p->seed);
    session_say(out, SINK_OUTPUT,
                "max-tokens %d\ntemp %g%s\ntop-p %g\ntop-k %d\nrepeat-penalty %g\nseed %s",
                s->doc.max_tokens, p->temp, p->temp <= 0 ? " (greedy)" : "", p->top_p, p->top_k,
                p->repeat_penalty, seed);
}

/* ------------------------------------------------------------------ snapshots */

session_snapshot *
session_snapshot_new(const session *s)
{
    session_snapshot *snap = xcalloc(1, sizeof *snap);
    sessiondoc_copy(&snap->doc, &s->doc);
    session_doc_fill(&snap->doc, s->eng);
    int n = session_turn_images(s) + s->doc.nstaged;
    snap->images = xcalloc((size_t)n + 1, sizeof *snap->images);
    snap->owned = xcalloc((size_t)n + 1, sizeof *snap->owned);
    for (int i = 0; i <= snap->doc.nturns; i++) {
        int staged = i == snap->doc.nturns;
        sessiondoc_image *images = staged ? snap->doc.staged : snap->doc.turns[i].images;
        int count = staged ? snap->doc.nstaged : snap->doc.turns[i].nimages;
        for (int k = 0; k < count; k++) {
            session_image_view *v = &snap->images[snap->nimages];
            const session_blob *b = session_blob_find_const(s, images[k].sha256);
            snap->owned[snap->nimages] = xstrdup(b != NULL && b->path != NULL ? b->path : "");
            v->name = images[k].name;
            v->path = snap->owned[snap->nimages];
            v->sha256 = images[k].sha256;
            v->width = images[k].width;
            v->height = images[k].height;
            v->turn = staged ? -1 : i;
            v->dropped = images[k].dropped;
            snap->nimages++;
        }
    }
    snap->used = engine_positions_used(s->eng);
    snap->ctx = engine_context(s->eng);
    snap->image_positions = engine_config(s->eng)->vis_patches;
    snap->last = s->last;
    snap->have_last = s->have_last;
    engine_image_cache(s->eng, &snap->cache);
    snap->file = s->file != NULL ? xstrdup(s->file) : NULL;
    snap->backend = engine_backend_name(s->eng);
    return snap;
}

void
session_snapshot_free(session_snapshot *snap)
{
    if (snap == NULL)
        return;
    for (int i = 0; i < snap->nimages; i++)
        free(snap->owned[i]);
    free(snap->owned);
    free(snap->images);
    free(snap->file);
    sessiondoc_free(&snap->doc);
    free(snap);
}
