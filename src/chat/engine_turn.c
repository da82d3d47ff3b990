#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_impl.h"
#include "log.h"
#include "xmalloc.h"

static double
engine_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void
engine_seen_push(engine *e, const int32_t *ids, size_t n)
{
    if (n == 0)
        return; /* ids may be NULL then (an empty reply) */
    if (e->nseen + n > e->seen_cap) {
        e->seen_cap = (e->nseen + n) * 2 + 256;
        e->seen = xreallocarray(e->seen, e->seen_cap, sizeof *e->seen);
    }
    memcpy(e->seen + e->nseen, ids, n * sizeof *ids);
    e->nseen += n;
}

/* The prompt ids of turn `index` of c (tokenized on their own, MODEL.md Part A decision 8). */
static int32_t *
engine_prompt_ids(const engine *e, const chat *c, int index, const char *text, int nimages, size_t *n)
{
    char *prompt = chat_prompt_new(c, index, text, nimages);
    int32_t *ids = NULL;
    *n = 0;
    tokenizer_encode(e->tok, prompt, strlen(prompt), &ids, n);
    free(prompt);
    return ids;
}

/* Positions for ids when the first nimages markers of the prompt become images. */
static int
engine_count_positions(const engine *e, const int32_t *ids, size_t n, int nimages)
{
    int positions = 0, images = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] == e->cfg.image_token && images < nimages) {
            positions += e->cfg.vis_patches;
            images++;
        } else {
            positions++;
        }
    }
    return positions;
}

/* Run the input positions of src through the model in chunks; logits of the last position. */
typedef struct {
    engine *e;
    int filled; /* rows in e->x */
    int total;  /* positions this feed will run, for progress; 0: no progress calls */
    int done;
    int stopped; /* the progress callback asked to stop */
} engine_feed;

static void
engine_feed_flush(engine_feed *f, int last)
{
    engine *e = f->e;
    if (f->filled == 0)
        return;
    int pos0 = kvcache_length(e->kv);
    if (last)
        e->logits = phi2_forward_logits(e->lm, kvcache_borrow(e->kv), e->x, f->filled, pos0);
    else
        phi2_forward(e->lm, kvcache_borrow(e->kv), e->x, f->filled, pos0, NULL);
    kvcache_advance(e->kv, f->filled);
    e->positions_run += f->filled;
    f->done += f->filled;
    f->filled = 0;
    if (f->total > 0 && e->progress != NULL && e->progress(e->progress_ctx, f->done, f->total))
        f->stopped = 1;
}

/*
 * Append rows (already on the backend) or ids to the chunk. A full chunk is run only when more rows
 * arrive, so the last chunk is always left for the caller's final flush, which asks for logits.
 */
static void
engine_feed_rows(engine_feed *f, const float *rows, const int32_t *ids, int n)
{
    engine *e = f->e;
    size_t d = (size_t)e->cfg.hidden;
    while (n > 0 && !f->stopped) {
        if (f->filled == ENGINE_PREFILL_CHUNK)
            engine_feed_flush(f, 0);
        int take = ENGINE_PREFILL_CHUNK - f->filled;
        if (take > n)
            take = n;
        float *dst = e->x + (size_t)f->filled * d;
        if (ids != NULL) {
            phi2_embed(e->lm, dst, ids, take);
            ids += take;
        } else {
            e->be->ops->buf_copy(e->be, dst, rows, (size_t)take * d);
            rows += (size_t)take * d;
        }
        f->filled += take;
        n -= take;
    }
}

/*
 * Feed a turn's ids with the image markers replaced by the images' rows, and remember the text ids
 * for the repetition penalty. The images must be encoded.
 */
static void
engine_feed_prompt(engine_feed *f, const int32_t *ids, size_t n, const int *slots, int nslots)
{
    engine *e = f->e;
    int images = 0;
    size_t run = 0;
    for (size_t i = 0; i <= n; i++) {
        int is_image = i < n && ids[i] == e->cfg.image_token && images < nslots;
        if (i == n || is_image) {
            if (i > run) {
                engine_feed_rows(f, NULL, ids + run, (int)(i - run));
                engine_seen_push(e, ids + run, i - run);
            }
            if (is_image) {
                engine_feed_rows(f, imagecache_features_borrow(e->images, slots[images]), NULL,
                                 e->cfg.vis_patches);
                images++;
            }
            run = i + 1;
        }
    }
}

/* The contract's tail of a reply: its last id, then </s> unless the reply already ended with it. */
static void
engine_set_pending(engine *e, const chat_turn *t)
{
    int32_t last = t != NULL && t->nreply > 0 ? t->reply[t->nreply - 1] : -1;
    e->npending = 0;
    if (t == NULL)
        return;
    if (last >= 0)
        e->pending[e->npending++] = last;
    if (last != e->cfg.eos_id)
        e->pending[e->npending++] = e->cfg.eos_id;
}

/* The last turn of the conversation, or NULL. */
static chat_turn *
engine_last_turn(const engine *e)
{
    int n = chat_turns(e->conv);
    return n > 0 ? chat_turn_borrow(e->conv, n - 1) : NULL;
}

/* Sample among the allowed ids: the others get a logit so low that their weight is zero. */
static int32_t
engine_sample_allowed(engine *e)
{
    int n = e->cfg.vocab;
    e->be->ops->buf_download(e->be, e->allowed_logits, e->logits, (size_t)n);
    for (int i = 0; i < n; i++)
        if (!e->allowed[i])
            e->allowed_logits[i] = -1e30f;
    return sampler_sample(e->samp, e->allowed_logits, n, e->seen, e->nseen);
}

/*
 * Sample up to max_tokens ids from e->logits (the prompt's last position), running each through the
 * model before the next; the ids go to the last turn's reply.
 */
static void
engine_generate(engine *e, int max_tokens, engine_token_fn fn, void *fn_ctx,
                volatile int *cancel, engine_stats *st, double t0)
{
    engine_feed feed = {.e = e};
    tokenizer_stream ts;
    tokenizer_stream_init(&ts);
    char piece[512];
    int32_t last = -1;
    double tfirst = 0;
    /* n ids leave the prompt, n - 1 of them and the two of the tail in the cache */
    int room = e->ctx - kvcache_length(e->kv) - 1;
    if (max_tokens > room) {
        max_tokens = room;
        st->limited_to = room;
    }
    st->stop = ENGINE_STOP_LENGTH;
    for (int step = 0; step < max_tokens; step++) {
        if (cancel != NULL && *cancel) {
            st->stop = ENGINE_STOP_CANCEL;
            break;
        }
        if (last >= 0) {
            /* the position for last, then a new id and its end marker as the reply's tail */
            if (kvcache_length(e->kv) + 3 > e->ctx) {
                st->stop = ENGINE_STOP_CONTEXT;
                break;
            }
            engine_feed_rows(&feed, NULL, &last, 1);
            engine_feed_flush(&feed, 1);
        }
        int32_t id =
            e->allowed != NULL
                ? engine_sample_allowed(e)
                : e->be->ops->sample(e->be, e->logits, e->cfg.vocab, sampler_params_borrow(e->samp),
                                     sampler_rng_borrow(e->samp), e->seen, e->nseen);
        if (engine_device_lost(e)) {
            /* the id came from a failed device: the reply ends with the tokens before it */
            st->stop = ENGINE_STOP_DEVICE;
            break;
        }
        if (step == 0)
            tfirst = engine_now_ms();
        st->generated++;
        engine_seen_push(e, &id, 1);
        chat_push_reply(e->conv, id);
        last = id;
        size_t len = e->tok != NULL ? tokenizer_stream_push(&ts, e->tok, id, piece, sizeof piece) : 0;
        int stop_asked = fn != NULL && fn(fn_ctx, id, piece, len) != 0;
        if (id == e->cfg.eos_id || id == ENGINE_ENDOFTEXT) {
            st->stop = ENGINE_STOP_EOS;
            break;
        }
        if (stop_asked) {
            st->stop = ENGINE_STOP_CANCEL;
            break;
        }
    }
    size_t len = tokenizer_stream_flush(&ts, piece, sizeof piece);
    if (len > 0 && fn != NULL)
        fn(fn_ctx, -1, piece, len);
    if (st->generated > 0) {
        st->first_token_ms = tfirst - t0;
        st->decode_ms = engine_now_ms() - tfirst;
    }
    engine_set_pending(e, engine_last_turn(e));
}

/* Remember where turn t's prompt ended and its logits, so its reply can be generated again. */
static void
engine_mark_prompt_end(engine *e, chat_turn *t, int32_t last_id)
{
    t->prompt_end = kvcache_length(e->kv);
    t->seen_prompt_end = e->nseen;
    t->last_prompt_id = last_id;
    e->regen_ok = 1;
    e->be->ops->buf_copy(e->be, e->prompt_logits->dev, e->logits, (size_t)e->cfg.vocab);
    e->prompt_logits->fresh = 0;
}

/* The turn's ids with the last reply's tail first; takes over ids. */
static int32_t *
engine_with_pending(engine *e, int32_t *ids, size_t *n)
{
    int32_t *all = xreallocarray(NULL, *n + 2, sizeof *all);
    memcpy(all, e->pending, (size_t)e->npending * sizeof *all);
    if (*n > 0)
        memcpy(all + e->npending, ids, *n * sizeof *ids);
    *n += (size_t)e->npending;
    free(ids);
    return all;
}

/* engine_send's work once the prompt's ids are known (ids taken over). */
static int
engine_run_turn(engine *e, const char *text, int32_t *ids, size_t n, const int *slots, int nslots,
                int max_tokens, engine_token_fn fn, void *fn_ctx, volatile int *cancel,
                engine_stats *stats, char **cause)
{
    engine_stats st;
    memset(&st, 0, sizeof st);
    double t0 = engine_now_ms();
    if (e->stale) {
        free(ids);
        return log_cause(cause, "the conversation is not in the cache yet");
    }
    int32_t last_prompt_id = n > 0 ? ids[n - 1] : -1;
    ids = engine_with_pending(e, ids, &n);
    int positions = engine_count_positions(e, ids, n, nslots);
    int used = kvcache_length(e->kv);
    int room = e->ctx - used;
    /* the reply needs room for its first token and the end marker that follows it */
    if (positions + 2 > room) {
        free(ids);
        if (used == 0 && nslots > 0)
            return log_cause(cause,
                             "the message needs %d positions (%d of them for %d image(s)) but "
                             "the context holds %d",
                             positions + 2, nslots * e->cfg.vis_patches, nslots, e->ctx);
        if (used == 0)
            return log_cause(cause, "the message needs %d positions but the context holds %d",
                             positions + 2, e->ctx);
        return log_cause(cause,
                         "context full: the message needs %d positions but only %d of %d are "
                         "free (/clear starts over)",
                         positions + 2, room, e->ctx);
    }

    /* images first: nothing in the cache changes if one fails */
    double te = engine_now_ms();
    for (int i = 0; i < nslots; i++)
        st.images_encoded += engine_image_encode(e, slots[i]);
    e->be->ops->sync(e->be); /* a GPU backend queues the work: time it done */
    st.encode_ms = engine_now_ms() - te;

    /* prefill: text runs embedded, image markers replaced by the image's rows */
    double tp = engine_now_ms();
    st.reused = used;
    st.new_positions = positions;
    chat_turn *t = chat_add_turn(e->conv, text, slots, nslots);
    for (int i = 0; i < nslots; i++)
        imagecache_ref(e->images, slots[i]);
    t->kv_start = used;
    t->seen_start = e->nseen;
    engine_feed feed = {.e = e};
    engine_feed_prompt(&feed, ids, n, slots, nslots);
    engine_feed_flush(&feed, 1);
    free(ids);
    e->npending = 0;
    e->be->ops->sync(e->be);
    st.prefill_ms = engine_now_ms() - tp;
    engine_mark_prompt_end(e, t, last_prompt_id);

    engine_generate(e, max_tokens, fn, fn_ctx, cancel, &st, t0);
    engine_check_device(e);
    if (stats != NULL)
        *stats = st;
    return 0;
}

int
engine_send(engine *e, const char *text, const int *slots, int nslots, int max_tokens,
            engine_token_fn fn, void *fn_ctx, volatile int *cancel, engine_stats *stats,
            char **cause)
{
    if (e->tok == NULL)
        return log_cause(cause, "no tokenizer loaded");
    size_t n;
    int32_t *ids = engine_prompt_ids(e, e->conv, chat_turns(e->conv), text, nslots, &n);
    return engine_run_turn(e, text, ids, n, slots, nslots, max_tokens, fn, fn_ctx, cancel, stats,
                           cause);
}

int
engine_send_ids(engine *e, const int32_t *ids, size_t n, const int *slots, int nslots,
                int max_tokens, engine_token_fn fn, void *fn_ctx, volatile int *cancel,
                engine_stats *stats, char **cause)
{
    int32_t *copy = xreallocarray(NULL, n + 1, sizeof *copy);
    memcpy(copy, ids, n * sizeof *ids);
    return engine_run_turn(e, "", copy, n, slots, nslots, max_tokens, fn, fn_ctx, cancel, stats,
                           cause);
}

int
engine_regen(engine *e, int max_tokens, engine_token_fn fn, void *fn_ctx, volatile int *cancel,
             engine_stats *stats, char **cause)
{
    engine_stats st;
    memset(&st, 0, sizeof st);
    double t0 = engine_now_ms();
    chat_turn *t = engine_last_turn(e);
    if (t == NULL || e->stale)
        return log_cause(cause, "no reply to regenerate");
    e->npending = 0;
    chat_clear_reply(e->conv);
    if (e->regen_ok) {
        /* back to the end of the last prompt: its logits were kept, nothing runs again */
        kvcache_truncate(e->kv, t->prompt_end);
        e->nseen = t->seen_prompt_end;
        e->logits = e->prompt_logits->dev;
    } else {
        /* the logits went with an undone turn: run the prompt's last position again */
        kvcache_truncate(e->kv, t->prompt_end - 1);
        e->nseen = t->seen_prompt_end;
        engine_feed feed = {.e = e};
        engine_feed_rows(&feed, NULL, &t->last_prompt_id, 1);
        engine_feed_flush(&feed, 1);
        engine_mark_prompt_end(e, t, t->last_prompt_id);
        st.new_positions = 1;
    }
    st.reused = kvcache_length(e->kv) - st.new_positions;
    engine_generate(e, max_tokens, fn, fn_ctx, cancel, &st, t0);
    engine_check_device(e);
    if (stats != NULL)
        *stats = st;
    return 0;
}

int
engine_undo(engine *e, char **cause)
{
    chat_turn *t = engine_last_turn(e);
    if (t == NULL)
        return log_cause(cause, "nothing to undo");
    if (!e->stale) {
        /* the cache goes back to where the turn began; what came before stays as it is */
        kvcache_truncate(e->kv, t->kv_start);
        e->nseen = t->seen_start;
    }
    engine_release_turn(e, t);
    chat_drop_last_turn(e->conv);
    engine_set_pending(e, engine_last_turn(e));
    e->regen_ok = 0;
    return 0;
}

/* Positions the conversation c fills, with the pending tail of its last reply. */
static int
engine_chat_positions(const engine *e, const chat *c)
{
    int total = 0;
    for (int i = 0; i < chat_turns(c); i++) {
        const chat_turn *t = chat_turn_borrow(c, i);
        size_t n;
        int32_t *ids = engine_prompt_ids(e, c, i, t->text, t->nslots, &n);
        total += engine_count_positions(e, ids, n, t->nslots);
        free(ids);
        int ended = t->nreply > 0 && t->reply[t->nreply - 1] == e->cfg.eos_id;
        total += (int)t->nreply + (ended ? 0 : 1);
    }
    return total;
}

/* Positions a message fills as the next turn of c. */
static int
engine_next_positions(const engine *e, const chat *c, const char *text, int nimages)
{
    size_t n;
    int32_t *ids = engine_prompt_ids(e, c, chat_turns(c), text, nimages, &n);
    int positions = engine_count_positions(e, ids, n, nimages);
    free(ids);
    return positions;
}

int
engine_turns_positions(const engine *e, const engine_turn_in *turns, int n)
{
    if (e->tok == NULL)
        return 0;
    chat *c = chat_new(chat_system_borrow(e->conv));
    for (int i = 0; i < n; i++) {
        chat_add_turn(c, turns[i].text, turns[i].slots, turns[i].nslots);
        for (size_t k = 0; k < turns[i].nreply; k++)
            chat_push_reply(c, turns[i].reply[k]);
    }
    int positions = engine_chat_positions(e, c);
    chat_free(c);
    return positions;
}

int
engine_message_positions(engine *e, const char *text, int nimages)
{
    return e->tok != NULL ? engine_next_positions(e, e->conv, text, nimages) : 0;
}

int
engine_plan_room(engine *e, const char *text, int nimages, engine_room_plan *plan, char **cause)
{
    memset(plan, 0, sizeof plan[0]);
    if (e->tok == NULL)
        return log_cause(cause, "no tokenizer loaded");
    chat *c = chat_copy_new(e->conv);
    int rc = 0;
    /* the oldest images go first (729 positions each), then the oldest turns */
    for (;;) {
        /* the reply's first token and the end marker after it come with the message */
        int need = engine_chat_positions(e, c) + engine_next_positions(e, c, text, nimages) + 2;
        plan->positions_after = need;
        if (need <= e->ctx)
            break;
        if (chat_drop_oldest_image(c)) {
            plan->images++;
        } else if (chat_drop_oldest_turn(c)) {
            plan->turns++;
        } else {
            if (nimages > 0)
                rc = log_cause(cause,
                               "the message needs %d positions (%d of them for %d image(s)) but "
                               "the context holds %d",
                               need, nimages * e->cfg.vis_patches, nimages, e->ctx);
            else
                rc = log_cause(cause, "the message needs %d positions but the context holds %d",
                               need, e->ctx);
            break;
        }
    }
    chat_free(c);
    if (rc != 0)
        return -1;
    return plan->images > 0 || plan->turns > 0;
}

/* Drop the oldest image of the conversation, giving back its reference. */
static void
engine_drop_oldest_image(engine *e)
{
    for (int i = 0; i < chat_turns(e->conv); i++) {
        const chat_turn *t = chat_turn_borrow(e->conv, i);
        if (t->nslots > 0) {
            imagecache_unref(e->images, t->slots[0]);
            chat_drop_oldest_image(e->conv);
            return;
        }
    }
}

/* engine_make_room's work on the backend in use. */
static int
engine_rebuild(engine *e, const engine_room_plan *plan, engine_stats *stats)
{
    engine_stats st;
    memset(&st, 0, sizeof st);
    double t0 = engine_now_ms();
    for (int i = 0; plan != NULL && i < plan->images; i++)
        engine_drop_oldest_image(e);
    for (int i = 0; plan != NULL && i < plan->turns && chat_turns(e->conv) > 0; i++) {
        engine_release_turn(e, chat_turn_borrow(e->conv, 0));
        chat_drop_oldest_turn(e->conv);
    }

    /* rebuild the cache from what is kept; cached image embeddings are not encoded again */
    kvcache_truncate(e->kv, 0);
    e->nseen = 0;
    e->npending = 0;
    e->regen_ok = 0;
    e->stale = 1;
    engine_feed feed = {.e = e, .total = engine_chat_positions(e, e->conv)};
    /* said before the first chunk runs: a chunk of the real model takes seconds on a CPU */
    if (feed.total > 0 && e->progress != NULL && e->progress(e->progress_ctx, 0, feed.total))
        feed.stopped = 1;
    int nturns = chat_turns(e->conv);
    for (int i = 0; i < nturns && !feed.stopped; i++) {
        chat_turn *t = chat_turn_borrow(e->conv, i);
        size_t n;
        int32_t *ids = engine_prompt_ids(e, e->conv, i, t->text, t->nslots, &n);
        int32_t last_prompt_id = n > 0 ? ids[n - 1] : -1;
        ids = engine_with_pending(e, ids, &n);
        for (int k = 0; k < t->nslots; k++)
            st.images_encoded += engine_image_encode(e, t->slots[k]);
        t->kv_start = kvcache_length(e->kv) + feed.filled;
        t->seen_start = e->nseen;
        engine_feed_prompt(&feed, ids, n, t->slots, t->nslots);
        free(ids);
        if (i == nturns - 1) {
            engine_feed_flush(&feed, 1);
            engine_mark_prompt_end(e, t, last_prompt_id);
        } else {
            /* kept for a later undo and regeneration (the logits are the last turn's only) */
            t->prompt_end = kvcache_length(e->kv) + feed.filled;
            t->seen_prompt_end = e->nseen;
            t->last_prompt_id = last_prompt_id;
        }
        /* the reply's ids but the last, which stays pending as after a normal turn */
        if (t->nreply > 1)
            engine_feed_rows(&feed, NULL, t->reply, (int)t->nreply - 1);
        engine_seen_push(e, t->reply, t->nreply);
        engine_set_pending(e, t);
    }
    engine_feed_flush(&feed, 0);
    e->be->ops->sync(e->be);
    st.new_positions = kvcache_length(e->kv);
    st.prefill_ms = engine_now_ms() - t0;
    if (stats != NULL)
        *stats = st;
    if (feed.stopped) {
        /* a partial cache is no use: the next turn starts the rebuild over */
        kvcache_truncate(e->kv, 0);
        e->regen_ok = 0;
        return -1;
    }
    e->stale = 0;
    return 0;
}

int
engine_make_room(engine *e, const engine_room_plan *plan, engine_stats *stats)
{
    int rc = engine_rebuild(e, plan, stats);
    /* the GPU failed on the way: the CPU now in use builds the cache again */
    if (engine_check_device(e))
        rc = engine_rebuild(e, NULL, stats);
    return rc;
}

void
engine_set_turns(engine *e, const engine_turn_in *turns, int n)
{
    engine_clear(e);
    for (int i = 0; i < n; i++) {
        chat_add_turn(e->conv, turns[i].text, turns[i].slots, turns[i].nslots);
        for (int k = 0; k < turns[i].nslots; k++)
            imagecache_ref(e->images, turns[i].slots[k]);
        for (size_t k = 0; k < turns[i].nreply; k++)
            chat_push_reply(e->conv, turns[i].reply[k]);
    }
    e->stale = n > 0;
}

int
engine_positions_used(const engine *e)
{
    if (e->stale)
        return engine_chat_positions(e, e->conv);
    return kvcache_length(e->kv) + e->npending;
}
