#include "config.h"

#include <glib.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat.h"
#include "engine.h"
#include "image.h"
#include "kvcache.h"
#include "log.h"
#include "phi2.h"
#include "projector.h"
#include "siglip.h"
#include "weights.h"
#include "xmalloc.h"

/* Stop ids besides config's eos: <|endoftext|> (MODEL.md Part A decision 5). */
#define ENGINE_ENDOFTEXT 50256
/* Prompts run through the model in chunks of at most this many positions (bounds scratch). */
#define ENGINE_PREFILL_CHUNK 512

typedef struct {
    unsigned char hash[32]; /* SHA-256 of the decoded pixels and size */
    char *path;
    float *pixels;          /* (3, image, image), freed once encoded */
    float *features;        /* (patches, hidden) on the backend, NULL until encoded */
} engine_image;

/* The last prompt position's logits: kept on the backend, copied to the host when asked for. */
typedef struct {
    float *dev;  /* (vocab) on the backend */
    float *host; /* (vocab) */
    int fresh;   /* host holds dev's values */
} engine_logits;

struct engine {
    imp_config cfg;
    weights *files;        /* NULL for synthetic parts */
    quant_store *quant;    /* the quantized matrices ck points into, or NULL */
    quant_mode weights_mode;
    checkpoint ck;
    int own_ck;
    tokenizer *tok;
    backend *be;
    siglip *vision;
    projector *proj;
    phi2 *lm;
    kvcache *kv;
    sampler *samp;
    chat *conv;
    int ctx;

    engine_image *images;
    int nimages;
    float *vision_out;     /* (patches, vis_hidden) scratch on the backend */

    int32_t *pending;      /* ids generated but not yet run (the last reply's tail) */
    int npending;
    int32_t *seen;         /* text ids of the conversation, for the repetition penalty */
    size_t nseen, seen_cap;
    const float *logits;   /* (vocab) on the backend: the last position run (phi2's buffer) */
    engine_logits *prompt_logits; /* last prompt position of the last turn */
    float *x;              /* (chunk, hidden) input embeddings on the backend */
    long positions_run;
    int last_prompt_end;   /* cache length after the last turn's prompt */
    size_t last_prompt_seen;
    int regen_ok;          /* prompt_logits belong to the last turn's prompt */
    uint8_t *allowed;      /* (vocab) ids replies may use; NULL: all */
    float *allowed_logits; /* (vocab) host copy of the logits being masked */
};

static double
engine_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

engine *
engine_new_parts(backend *be, const imp_config *cfg, const checkpoint *ck, tokenizer *tok,
                 int context, const char *system)
{
    engine *e = xcalloc(1, sizeof *e);
    sampler_params sp;
    e->cfg = *cfg;
    e->ck = *ck;
    e->tok = tok;
    e->be = be;
    e->ctx = context > 0 ? context : cfg->context;
    e->vision = siglip_new(be, ck, cfg);
    e->proj = projector_new(be, ck, cfg);
    e->lm = phi2_new(be, ck, cfg);
    e->kv = kvcache_new(e->lm, be, e->ctx);
    sampler_params_init(&sp);
    e->samp = sampler_new(&sp);
    e->conv = chat_new(system);
    e->pending = xcalloc(2, sizeof *e->pending);
    e->vision_out = be->ops->buf_new(be, (size_t)cfg->vis_patches * cfg->vis_hidden);
    e->prompt_logits = xcalloc(1, sizeof *e->prompt_logits);
    e->prompt_logits->dev = be->ops->buf_new(be, (size_t)cfg->vocab);
    e->prompt_logits->host = xcalloc((size_t)cfg->vocab, sizeof(float));
    e->prompt_logits->fresh = 1; /* zeros until a turn runs */
    e->x = be->ops->buf_new(be, (size_t)ENGINE_PREFILL_CHUNK * cfg->hidden);
    return e;
}

engine *
engine_new(const engine_options *opt, char **note, char **cause)
{
    imp_config cfg;
    checkpoint ck;
    if (config_load(&cfg, opt->model_dir, cause) != 0)
        return NULL;
    tokenizer *tok = tokenizer_new(opt->model_dir, cause);
    if (tok == NULL)
        return NULL;
    weights *files = weights_open(opt->model_dir, cause);
    if (files == NULL) {
        tokenizer_free(tok);
        return NULL;
    }
    if (checkpoint_init(&ck, files, &cfg, cause) != 0) {
        weights_free(files);
        tokenizer_free(tok);
        return NULL;
    }
    int ctx = opt->context > 0 ? opt->context : cfg.context;
    size_t need = backend_model_bytes(&cfg, ctx, ENGINE_PREFILL_CHUNK);
    backend *be = backend_new_for(opt->backend, opt->threads, need, opt->weights, note, cause);
    quant_mode mode = be != NULL ? backend_weights(be, opt->weights) : QUANT_F16;
    quant_store *quant = NULL;
    if (be == NULL || quant_checkpoint(&ck, &cfg, files, mode, be->threads, &quant, cause) != 0) {
        backend_free(be);
        checkpoint_free(&ck);
        weights_free(files);
        tokenizer_free(tok);
        return NULL;
    }
    engine *e = engine_new_parts(be, &cfg, &ck, tok, opt->context, opt->system);
    e->files = files;
    e->quant = quant;
    e->weights_mode = mode;
    e->own_ck = 1;
    return e;
}

void
engine_free(engine *e)
{
    if (e == NULL)
        return;
    backend *be = e->be;
    for (int i = 0; i < e->nimages; i++) {
        free(e->images[i].path);
        free(e->images[i].pixels);
        if (e->images[i].features != NULL)
            be->ops->buf_free(be, e->images[i].features);
    }
    free(e->images);
    be->ops->buf_free(be, e->vision_out);
    be->ops->buf_free(be, e->x);
    be->ops->buf_free(be, e->prompt_logits->dev);
    kvcache_free(e->kv);
    phi2_free(e->lm);
    projector_free(e->proj);
    siglip_free(e->vision);
    backend_free(be);
    sampler_free(e->samp);
    chat_free(e->conv);
    free(e->pending);
    free(e->seen);
    free(e->prompt_logits->host);
    free(e->prompt_logits);
    free(e->allowed);
    free(e->allowed_logits);
    if (e->own_ck)
        checkpoint_free(&e->ck);
    quant_store_free(e->quant);
    weights_free(e->files);
    tokenizer_free(e->tok);
    free(e);
}

const imp_config *
engine_config(const engine *e)
{
    return &e->cfg;
}

const char *
engine_backend_name(const engine *e)
{
    return e->be->ops->name;
}

quant_mode
engine_weights(const engine *e)
{
    return e->weights_mode;
}

int
engine_image_add(engine *e, const char *path, char **cause)
{
    image_rgb img, sized;
    int side = e->cfg.vis_image;
    if (image_load(&img, path, cause) != 0)
        return -1;
    image_resize_bicubic(&sized, &img, side, side);

    /* the content hash covers what the model sees plus the original size */
    unsigned char hash[32];
    gsize hlen = sizeof hash;
    GChecksum *sum = g_checksum_new(G_CHECKSUM_SHA256);
    int dims[2] = {img.width, img.height};
    g_checksum_update(sum, (const guchar *)dims, sizeof dims);
    g_checksum_update(sum, sized.rgb, (gssize)((size_t)side * side * 3));
    g_checksum_get_digest(sum, hash, &hlen);
    g_checksum_free(sum);
    image_free(&img);

    for (int i = 0; i < e->nimages; i++)
        if (memcmp(e->images[i].hash, hash, sizeof hash) == 0) {
            image_free(&sized);
            return i;
        }
    e->images = xreallocarray(e->images, (size_t)e->nimages + 1, sizeof *e->images);
    engine_image *ei = &e->images[e->nimages];
    memset(ei, 0, sizeof *ei);
    memcpy(ei->hash, hash, sizeof hash);
    ei->path = xstrdup(path);
    ei->pixels = xmalloc((size_t)3 * side * side * sizeof(float));
    image_normalize(&sized, ei->pixels);
    image_free(&sized);
    return e->nimages++;
}

/* Run the vision tower and projector for a slot unless its features are cached. */
static int
engine_image_encode(engine *e, int slot)
{
    engine_image *ei = &e->images[slot];
    if (ei->features != NULL)
        return 0;
    backend *be = e->be;
    siglip_encode(e->vision, e->vision_out, ei->pixels);
    ei->features = be->ops->buf_new(be, (size_t)e->cfg.vis_patches * e->cfg.hidden);
    projector_apply(e->proj, ei->features, e->vision_out, e->cfg.vis_patches);
    free(ei->pixels);
    ei->pixels = NULL;
    return 1;
}

void
engine_image_features(engine *e, int slot, float *vision, float *projected)
{
    backend *be = e->be;
    engine_image *ei = &e->images[slot];
    if (ei->features == NULL) {
        engine_image_encode(e, slot);
    } else {
        /* features are cached: vision output is recomputed only when asked for it, from scratch */
        vision = NULL;
    }
    if (vision != NULL)
        be->ops->buf_download(be, vision, e->vision_out, (size_t)e->cfg.vis_patches * e->cfg.vis_hidden);
    if (projected != NULL)
        be->ops->buf_download(be, projected, ei->features, (size_t)e->cfg.vis_patches * e->cfg.hidden);
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

/* The ids turn `index` of c runs: what the last reply left pending, then the prompt's ids. */
static int32_t *
engine_turn_ids(engine *e, const chat *c, int index, const char *text, int nimages, size_t *n)
{
    char *prompt = chat_prompt_new(c, index, text, nimages);
    int32_t *ids = NULL;
    size_t count = 0;
    if (e->npending > 0) {
        ids = xreallocarray(NULL, (size_t)e->npending, sizeof *ids);
        memcpy(ids, e->pending, (size_t)e->npending * sizeof *ids);
        count = (size_t)e->npending;
    }
    tokenizer_encode(e->tok, prompt, strlen(prompt), &ids, &count);
    free(prompt);
    *n = count;
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
    f->filled = 0;
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
    while (n > 0) {
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
                engine_feed_rows(f, e->images[slots[images]].features, NULL, e->cfg.vis_patches);
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
    int32_t last = t->nreply > 0 ? t->reply[t->nreply - 1] : -1;
    e->npending = 0;
    if (last >= 0)
        e->pending[e->npending++] = last;
    if (last != e->cfg.eos_id)
        e->pending[e->npending++] = e->cfg.eos_id;
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
    engine_feed feed = {e, 0};
    tokenizer_stream ts;
    tokenizer_stream_init(&ts);
    char piece[512];
    int32_t last = -1;
    double tfirst = 0;
    st->stop = ENGINE_STOP_LENGTH;
    for (int step = 0; step < max_tokens; step++) {
        if (cancel != NULL && *cancel) {
            st->stop = ENGINE_STOP_CANCEL;
            break;
        }
        if (last >= 0) {
            if (kvcache_length(e->kv) + 1 >= e->ctx) {
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
        if (step == 0)
            tfirst = engine_now_ms();
        st->generated++;
        engine_seen_push(e, &id, 1);
        chat_push_reply(e->conv, id);
        last = id;
        size_t len = tokenizer_stream_push(&ts, e->tok, id, piece, sizeof piece);
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
    engine_set_pending(e, chat_turn_borrow(e->conv, chat_turns(e->conv) - 1));
}

/* Remember where the last prompt ended, so its reply can be generated again. */
static void
engine_mark_prompt_end(engine *e)
{
    e->last_prompt_end = kvcache_length(e->kv);
    e->last_prompt_seen = e->nseen;
    e->regen_ok = 1;
    e->be->ops->buf_copy(e->be, e->prompt_logits->dev, e->logits, (size_t)e->cfg.vocab);
    e->prompt_logits->fresh = 0;
}

int
engine_send(engine *e, const char *text, const int *slots, int nslots, int max_tokens,
            engine_token_fn fn, void *fn_ctx, volatile int *cancel, engine_stats *stats,
            char **cause)
{
    engine_stats st;
    memset(&st, 0, sizeof st);
    double t0 = engine_now_ms();
    if (e->tok == NULL)
        return log_cause(cause, "no tokenizer loaded");

    size_t n;
    int32_t *ids = engine_turn_ids(e, e->conv, chat_turns(e->conv), text, nslots, &n);
    int positions = engine_count_positions(e, ids, n, nslots);
    int used = kvcache_length(e->kv);
    int room = e->ctx - used;
    /* one more position than the prompt: the reply needs room for at least one token */
    if (positions + 1 > room) {
        free(ids);
        if (used == 0 && nslots > 0)
            return log_cause(cause,
                             "the message needs %d positions (%d of them for %d image(s)) but "
                             "the context holds %d",
                             positions + 1, nslots * e->cfg.vis_patches, nslots, e->ctx);
        if (used == 0)
            return log_cause(cause, "the message needs %d positions but the context holds %d",
                             positions + 1, e->ctx);
        return log_cause(cause,
                         "context full: the message needs %d positions but only %d of %d are "
                         "free (/clear starts over)",
                         positions + 1, room, e->ctx);
    }

    /* images first: nothing in the cache changes if one fails */
    double te = engine_now_ms();
    for (int i = 0; i < nslots; i++)
        st.images_encoded += engine_image_encode(e, slots[i]);
    e->be->ops->sync(e->be); /* a GPU backend queues the work: time it done */
    st.encode_ms = engine_now_ms() - te;

    /* prefill: text runs embedded, image markers replaced by the image's 729 rows */
    double tp = engine_now_ms();
    st.reused = used;
    st.new_positions = positions;
    engine_feed feed = {e, 0};
    engine_feed_prompt(&feed, ids, n, slots, nslots);
    engine_feed_flush(&feed, 1);
    free(ids);
    e->npending = 0;
    e->be->ops->sync(e->be);
    st.prefill_ms = engine_now_ms() - tp;
    engine_mark_prompt_end(e);
    chat_add_turn(e->conv, text, slots, nslots);

    engine_generate(e, max_tokens, fn, fn_ctx, cancel, &st, t0);
    if (stats != NULL)
        *stats = st;
    return 0;
}

int
engine_regen(engine *e, int max_tokens, engine_token_fn fn, void *fn_ctx, volatile int *cancel,
             engine_stats *stats, char **cause)
{
    engine_stats st;
    memset(&st, 0, sizeof st);
    double t0 = engine_now_ms();
    if (chat_turns(e->conv) == 0 || !e->regen_ok)
        return log_cause(cause, "no reply to regenerate");
    /* back to the end of the last prompt: its logits were kept, nothing runs again */
    kvcache_truncate(e->kv, e->last_prompt_end);
    e->nseen = e->last_prompt_seen;
    e->npending = 0;
    chat_clear_reply(e->conv);
    /* sampling leaves logits unchanged, so the kept ones serve every regeneration */
    e->logits = e->prompt_logits->dev;
    st.reused = e->last_prompt_end;
    engine_generate(e, max_tokens, fn, fn_ctx, cancel, &st, t0);
    if (stats != NULL)
        *stats = st;
    return 0;
}

/* Positions the conversation c fills, with the pending tail of its last reply. */
static int
engine_chat_positions(engine *e, const chat *c)
{
    int total = 0;
    for (int i = 0; i < chat_turns(c); i++) {
        const chat_turn *t = chat_turn_borrow(c, i);
        char *prompt = chat_prompt_new(c, i, t->text, t->nslots);
        int32_t *ids = NULL;
        size_t n = 0;
        tokenizer_encode(e->tok, prompt, strlen(prompt), &ids, &n);
        free(prompt);
        total += engine_count_positions(e, ids, n, t->nslots);
        free(ids);
        int ended = t->nreply > 0 && t->reply[t->nreply - 1] == e->cfg.eos_id;
        total += (int)t->nreply + (ended ? 0 : 1);
    }
    return total;
}

/* Positions a message needs as the next turn of c (one more for the reply's first token). */
static int
engine_message_positions(engine *e, const chat *c, const char *text, int nimages)
{
    char *prompt = chat_prompt_new(c, chat_turns(c), text, nimages);
    int32_t *ids = NULL;
    size_t n = 0;
    tokenizer_encode(e->tok, prompt, strlen(prompt), &ids, &n);
    free(prompt);
    int positions = engine_count_positions(e, ids, n, nimages) + 1;
    free(ids);
    return positions;
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
        int need = engine_chat_positions(e, c) + engine_message_positions(e, c, text, nimages);
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

int
engine_make_room(engine *e, const engine_room_plan *plan, engine_stats *stats)
{
    engine_stats st;
    memset(&st, 0, sizeof st);
    double t0 = engine_now_ms();
    for (int i = 0; i < plan->images; i++)
        chat_drop_oldest_image(e->conv);
    for (int i = 0; i < plan->turns; i++)
        chat_drop_oldest_turn(e->conv);

    /* rebuild the cache from what is kept; image embeddings are cached, never encoded again */
    kvcache_truncate(e->kv, 0);
    e->nseen = 0;
    e->npending = 0;
    e->regen_ok = 0;
    engine_feed feed = {e, 0};
    int nturns = chat_turns(e->conv);
    for (int i = 0; i < nturns; i++) {
        const chat_turn *t = chat_turn_borrow(e->conv, i);
        size_t n;
        int32_t *ids = engine_turn_ids(e, e->conv, i, t->text, t->nslots, &n);
        for (int k = 0; k < t->nslots; k++)
            st.images_encoded += engine_image_encode(e, t->slots[k]);
        engine_feed_prompt(&feed, ids, n, t->slots, t->nslots);
        free(ids);
        if (i == nturns - 1) {
            engine_feed_flush(&feed, 1);
            engine_mark_prompt_end(e);
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
    return 0;
}

double
engine_stats_tokens_per_s(const engine_stats *s)
{
    return s->generated > 1 && s->decode_ms > 0 ? (s->generated - 1) * 1e3 / s->decode_ms : 0;
}

const float *
engine_prompt_logits_borrow(const engine *e)
{
    engine_logits *pl = e->prompt_logits;
    if (!pl->fresh) {
        e->be->ops->buf_download(e->be, pl->host, pl->dev, (size_t)e->cfg.vocab);
        pl->fresh = 1;
    }
    return pl->host;
}

int
engine_positions_used(const engine *e)
{
    return kvcache_length(e->kv) + e->npending;
}

int
engine_context(const engine *e)
{
    return e->ctx;
}

long
engine_positions_run(const engine *e)
{
    return e->positions_run;
}

void
engine_clear(engine *e)
{
    kvcache_truncate(e->kv, 0);
    chat_clear(e->conv);
    e->npending = 0;
    e->nseen = 0;
    e->regen_ok = 0;
}

void
engine_set_system(engine *e, const char *system)
{
    engine_clear(e);
    chat_set_system(e->conv, system);
}

void
engine_set_sampling(engine *e, const sampler_params *p)
{
    sampler_set_params(e->samp, p);
}

void
engine_set_words(engine *e, const char *const *words, size_t n)
{
    size_t vocab = (size_t)e->cfg.vocab;
    if (e->allowed == NULL) {
        e->allowed = xcalloc(vocab, 1);
        e->allowed_logits = xcalloc(vocab, sizeof(float));
    }
    memset(e->allowed, 0, vocab);
    static const char *const marks[] = {".", ","};
    for (size_t i = 0; i < n + 2; i++) {
        char *text = i < n ? xasprintf(" %s", words[i]) : xstrdup(marks[i - n]);
        int32_t *ids = NULL;
        size_t nids = 0;
        tokenizer_encode(e->tok, text, strlen(text), &ids, &nids);
        if (nids == 1 && ids[0] >= 0 && (size_t)ids[0] < vocab)
            e->allowed[ids[0]] = 1;
        free(ids);
        free(text);
    }
    e->allowed[e->cfg.eos_id] = 1;
    if ((size_t)ENGINE_ENDOFTEXT < vocab)
        e->allowed[ENGINE_ENDOFTEXT] = 1;
}

const sampler_params *
engine_sampling_borrow(const engine *e)
{
    return sampler_params_borrow(e->samp);
}
