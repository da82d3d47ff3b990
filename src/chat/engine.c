#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_impl.h"
#include "log.h"
#include "xmalloc.h"

/* The parts that live on the backend: the model, the cache and the buffers. */
static void
engine_parts_new(engine *e)
{
    backend *be = e->be;
    const imp_config *cfg = &e->cfg;
    e->vision = siglip_new(be, &e->ck, cfg);
    e->proj = projector_new(be, &e->ck, cfg);
    e->lm = phi2_new(be, &e->ck, cfg);
    e->kv = kvcache_new(e->lm, be, e->ctx);
    e->vision_out = be->ops->buf_new(be, (size_t)cfg->vis_patches * cfg->vis_hidden);
    e->prompt_logits->dev = be->ops->buf_new(be, (size_t)cfg->vocab);
    memset(e->prompt_logits->host, 0, (size_t)cfg->vocab * sizeof(float));
    e->prompt_logits->fresh = 1; /* zeros until a turn runs */
    e->x = be->ops->buf_new(be, (size_t)ENGINE_PREFILL_CHUNK * cfg->hidden);
}

static void
engine_parts_free(engine *e)
{
    backend *be = e->be;
    be->ops->buf_free(be, e->vision_out);
    be->ops->buf_free(be, e->x);
    be->ops->buf_free(be, e->prompt_logits->dev);
    kvcache_free(e->kv);
    phi2_free(e->lm);
    projector_free(e->proj);
    siglip_free(e->vision);
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
    e->prompt_logits = xcalloc(1, sizeof *e->prompt_logits);
    e->prompt_logits->host = xcalloc((size_t)cfg->vocab, sizeof(float));
    engine_parts_new(e);
    sampler_params_init(&sp);
    e->samp = sampler_new(&sp);
    e->conv = chat_new(system);
    e->images = imagecache_new(be, cfg, IMAGECACHE_DEFAULT_LIMIT);
    return e;
}

int
engine_device_lost(engine *e)
{
    return e->fall_back && backend_failed(e->be, NULL) != 0;
}

/*
 * --backend auto's GPU failed after loading: the model parts are made again on the CPU from the
 * checkpoint (the mapped files, or the quantized matrices, which the CPU reads as they are), the
 * images are encoded again when next used (their pixels were kept), and the conversation goes back
 * into the cache before the next turn (stale), as after a loaded session. The reply that was
 * running keeps the tokens given before the failure.
 */
int
engine_check_device(engine *e)
{
    char *why = NULL;
    if (!e->fall_back || backend_failed(e->be, &why) == 0)
        return 0;
    char *cause = NULL;
    backend *cpu = backend_new(BACKEND_CPU, e->threads, NULL, &cause);
    if (cpu == NULL)
        fatal("%s; the CPU backend cannot take over: %s", why, cause);
    engine_parts_free(e);
    imagecache_move(e->images, cpu);
    backend_free(e->be);
    e->be = cpu;
    engine_parts_new(e);
    e->fall_back = 0;
    e->logits = NULL;
    e->npending = 0;
    e->regen_ok = 0;
    e->stale = chat_turns(e->conv) > 0; /* the new cache is empty */
    free(e->note);
    e->note = xasprintf("%s; going on with the CPU backend (the conversation is put back in its "
                        "cache before the next reply)",
                        why);
    free(why);
    return 1;
}

char *
engine_take_note(engine *e)
{
    char *note = e->note;
    e->note = NULL;
    return note;
}

/*
 * engine_new with the backend choice given; *device_failed is set when the failure came from the
 * device while loading (the model itself is fine).
 */
static engine *
engine_load(const engine_options *opt, backend_choice choice, char **note, char **cause,
            int *device_failed)
{
    imp_config cfg;
    checkpoint ck;
    *device_failed = 0;
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
    size_t need = backend_model_bytes(&cfg, ctx, ENGINE_PREFILL_CHUNK, opt->weights);
    backend *be = backend_new_for(choice, opt->threads, need, opt->weights, note, cause);
    quant_mode mode = be != NULL ? backend_weights(be, opt->weights) : QUANT_F16;
    quant_store *quant = NULL;
    if (be == NULL || quant_checkpoint(&ck, &cfg, files, mode, be->threads, &quant, cause) != 0) {
        backend_free(be);
        checkpoint_free(&ck);
        weights_free(files);
        tokenizer_free(tok);
        return NULL;
    }
    backend_load_begin(be);
    engine *e = engine_new_parts(be, &cfg, &ck, tok, opt->context, opt->system);
    e->files = files;
    e->quant = quant;
    e->weights_mode = mode;
    e->own_ck = 1;
    e->own_be = 1;
    if (backend_load_end(be, cause) != 0) {
        *device_failed = 1;
        engine_free(e);
        return NULL;
    }
    /* auto: a GPU that fails later hands the conversation to the CPU instead of ending it */
    if (choice == BACKEND_AUTO && strcmp(be->ops->name, "cpu") != 0 && backend_keep_failures(be)) {
        e->fall_back = 1;
        e->threads = opt->threads;
        imagecache_keep_pixels(e->images);
    }
    return e;
}

engine *
engine_new(const engine_options *opt, char **note, char **cause)
{
    int device_failed;
    char *why = NULL;
    engine *e = engine_load(opt, opt->backend, note, &why, &device_failed);
    if (e != NULL || !device_failed || opt->backend != BACKEND_AUTO) {
        if (e == NULL && cause != NULL)
            *cause = why;
        else
            free(why);
        return e;
    }
    /* the GPU failed while loading: auto goes on with the CPU, saying why */
    if (note != NULL)
        free(*note);
    e = engine_load(opt, BACKEND_CPU, note, cause, &device_failed);
    if (e != NULL && note != NULL)
        *note = xasprintf("using the CPU backend: %s", why);
    free(why);
    return e;
}

void
engine_release_turn(engine *e, const chat_turn *t)
{
    for (int i = 0; i < t->nslots; i++)
        imagecache_unref(e->images, t->slots[i]);
}

static void
engine_release_all(engine *e)
{
    for (int i = 0; i < chat_turns(e->conv); i++)
        engine_release_turn(e, chat_turn_borrow(e->conv, i));
}

void
engine_free(engine *e)
{
    if (e == NULL)
        return;
    backend *be = e->be;
    imagecache_free(e->images);
    engine_parts_free(e);
    if (e->own_be)
        backend_free(be);
    sampler_free(e->samp);
    chat_free(e->conv);
    free(e->seen);
    free(e->prompt_logits->host);
    free(e->prompt_logits);
    free(e->allowed);
    free(e->allowed_logits);
    free(e->note);
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
    return imagecache_add(e->images, path, cause);
}

int
engine_image_add_rgb(engine *e, const image_rgb *img, const char *name)
{
    return imagecache_add_rgb(e->images, img, name);
}

void
engine_image_release(engine *e, int slot)
{
    imagecache_unref(e->images, slot);
}

void
engine_image_cache(const engine *e, imagecache_stats *st)
{
    imagecache_get_stats(e->images, st);
}

void
engine_set_image_cache_limit(engine *e, size_t bytes)
{
    imagecache_set_limit(e->images, bytes);
}

int
engine_image_encode(engine *e, int slot)
{
    if (imagecache_features_borrow(e->images, slot) != NULL)
        return 0;
    backend *be = e->be;
    siglip_encode(e->vision, e->vision_out, imagecache_pixels_borrow(e->images, slot));
    float *features = be->ops->buf_new(be, (size_t)e->cfg.vis_patches * e->cfg.hidden);
    projector_apply(e->proj, features, e->vision_out, e->cfg.vis_patches);
    imagecache_set_features(e->images, slot, features);
    return 1;
}

void
engine_image_features(engine *e, int slot, float *vision, float *projected)
{
    int encoded = engine_image_encode(e, slot);
    if (engine_check_device(e))
        encoded = engine_image_encode(e, slot); /* again, on the CPU now in use */
    backend *be = e->be;
    if (!encoded)
        vision = NULL; /* features are cached: the vision output is not there any more */
    if (vision != NULL)
        be->ops->buf_download(be, vision, e->vision_out, (size_t)e->cfg.vis_patches * e->cfg.vis_hidden);
    if (projected != NULL)
        be->ops->buf_download(be, projected, imagecache_features_borrow(e->images, slot),
                              (size_t)e->cfg.vis_patches * e->cfg.hidden);
}

int
engine_turns(const engine *e)
{
    return chat_turns(e->conv);
}

int
engine_stale(const engine *e)
{
    return e->stale;
}

void
engine_set_progress(engine *e, engine_progress_fn fn, void *ctx)
{
    e->progress = fn;
    e->progress_ctx = ctx;
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
    engine_release_all(e);
    kvcache_truncate(e->kv, 0);
    chat_clear(e->conv);
    e->npending = 0;
    e->nseen = 0;
    e->regen_ok = 0;
    e->stale = 0;
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
engine_reseed(engine *e, uint64_t seed)
{
    sampler_reseed(e->samp, seed);
}

uint64_t
engine_rng_state(const engine *e)
{
    return *sampler_rng_borrow(e->samp);
}

void
engine_set_rng_state(engine *e, uint64_t state)
{
    *sampler_rng_borrow(e->samp) = state;
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
