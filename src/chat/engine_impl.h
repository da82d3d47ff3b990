/*
 * The engine's state, shared by its two files: engine.c (loading, images, settings) and
 * engine_turn.c (turns, the cache and the room in it). Nothing outside them includes this.
 */
#ifndef IMP_ENGINE_IMPL_H
#define IMP_ENGINE_IMPL_H

#include "chat.h"
#include "engine.h"
#include "kvcache.h"
#include "phi2.h"
#include "projector.h"
#include "siglip.h"
#include "weights.h"

/* Stop ids besides config's eos: <|endoftext|> (MODEL.md Part A decision 5). */
#define ENGINE_ENDOFTEXT 50256
/* Prompts run through the model in chunks of at most this many positions (bounds scratch). */
#define ENGINE_PREFILL_CHUNK 512

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
    int own_be;
    siglip *vision;
    projector *proj;
    phi2 *lm;
    kvcache *kv;
    sampler *samp;
    chat *conv;            /* the turns in the context, with where each sits in the cache */
    int ctx;

    imagecache *images;
    float *vision_out;     /* (patches, vis_hidden) scratch on the backend */

    int32_t pending[2];    /* ids generated but not yet run (the last reply's tail) */
    int npending;
    int32_t *seen;         /* text ids of the conversation, for the repetition penalty */
    size_t nseen, seen_cap;
    const float *logits;   /* (vocab) on the backend: the last position run (phi2's buffer) */
    engine_logits *prompt_logits; /* last prompt position of the last turn */
    float *x;              /* (chunk, hidden) input embeddings on the backend */
    long positions_run;
    int regen_ok;          /* prompt_logits belong to the last turn's prompt */
    int stale;             /* conv is not in the cache yet (a loaded session) */
    uint8_t *allowed;      /* (vocab) ids replies may use; NULL: all */
    float *allowed_logits; /* (vocab) host copy of the logits being masked */
    engine_progress_fn progress;
    void *progress_ctx;
    int fall_back;         /* --backend auto on a GPU: a device failure moves to the CPU */
    int threads;           /* the CPU backend's threads then */
    char *note;            /* what the engine has to say (a move to the CPU), or NULL */
};

/* Run the vision tower and projector for slot unless its features are cached; 1 when it ran. */
int engine_image_encode(engine *e, int slot);
/* Whether the device failed (only asked where the engine can fall back to the CPU). */
int engine_device_lost(engine *e);
/*
 * After work on the backend: when --backend auto's GPU failed, go on with the CPU (see
 * engine.c). 1 when that happened.
 */
int engine_check_device(engine *e);
/* Give back the image references turn t holds. */
void engine_release_turn(engine *e, const chat_turn *t);

#endif
