/*
 * The turn driver: loads the model, keeps the conversation's KV cache and image embeddings, and
 * runs one turn at a time (only the turn's new positions go through the model). Calls are
 * synchronous; cancelling is a flag checked between tokens, so after a cancel the cache holds
 * exactly the prompt and the tokens already reported.
 */
#ifndef IMP_ENGINE_H
#define IMP_ENGINE_H

#include <stdint.h>

#include "backend.h"
#include "checkpoint.h"
#include "image.h"
#include "imagecache.h"
#include "model_config.h"
#include "quant.h"
#include "sampler.h"
#include "tokenizer.h"

typedef struct engine engine;

typedef struct {
    const char *model_dir;
    backend_choice backend;
    int threads;        /* <= 0: all cores */
    int context;        /* <= 0: tokenizer_model_max_length from config.json */
    const char *system; /* NULL: the default system prompt */
    quant_mode weights; /* QUANT_F16 (0): as shipped; QUANT_AUTO: the backend's default */
} engine_options;

typedef enum {
    ENGINE_STOP_EOS,     /* the model ended its reply */
    ENGINE_STOP_LENGTH,  /* the reply length limit */
    ENGINE_STOP_CANCEL,  /* the cancel flag */
    ENGINE_STOP_CONTEXT, /* the context is full */
    ENGINE_STOP_DEVICE,  /* the GPU failed; the engine went on with the CPU (engine_take_note) */
} engine_stop;

typedef struct {
    int reused;          /* positions kept from the cache */
    int new_positions;   /* positions the prompt ran through the model */
    int images_encoded;  /* images encoded this turn (cached ones are not) */
    double encode_ms;    /* vision tower + projector */
    double prefill_ms;
    double first_token_ms; /* from the send to the first token */
    double decode_ms;      /* for the tokens after the first */
    int generated;
    int limited_to;        /* max_tokens was lowered to this, the room left (0: it was not) */
    engine_stop stop;
} engine_stats;

/* Decode speed of a turn: tokens after the first per second (0 with fewer than two tokens). */
double engine_stats_tokens_per_s(const engine_stats *s);

/* Called for every generated id with its text (possibly empty); return nonzero to stop. */
typedef int (*engine_token_fn)(void *ctx, int32_t id, const char *text, size_t len);

/*
 * Called while the cache is rebuilt from a conversation (making room, a loaded session): done of
 * total positions run. Return nonzero to stop; the rebuild is then left for the next turn.
 */
typedef int (*engine_progress_fn)(void *ctx, int done, int total);

/* What a conversation turn to restore holds (engine_set_turns). */
typedef struct {
    const char *text;
    const int *slots;     /* engine image slots still in the context, attach order */
    int nslots;
    const int32_t *reply; /* the ids generated for it */
    size_t nreply;
} engine_turn_in;

/*
 * Load the model folder and create the backend; NULL with *cause on failure (*note: backend).
 * With --backend auto, a GPU that fails while loading leaves the work to the CPU (said in *note),
 * and one that fails later too: the engine then goes on with the CPU, the turn running ends with
 * ENGINE_STOP_DEVICE and engine_take_note says what happened.
 */
engine *engine_new(const engine_options *opt, char **note, char **cause);
/* What the engine has to say since the last call (a move to the CPU), or NULL. New string. */
char *engine_take_note(engine *e);
/*
 * Build an engine from parts already loaded (the benchmark's synthetic weights); be is borrowed
 * (free it after the engine), tok is taken over (it may be NULL: text in, text out are then
 * unavailable).
 */
engine *engine_new_parts(backend *be, const imp_config *cfg, const checkpoint *ck, tokenizer *tok,
                         int context, const char *system);
/* Free everything. */
void engine_free(engine *e);
/* Borrow the model's configuration. */
const imp_config *engine_config(const engine *e);
/* Name of the backend in use. */
const char *engine_backend_name(const engine *e);
/* The weight mode in use (f16, q8 or q4). */
quant_mode engine_weights(const engine *e);
/*
 * Decode and preprocess an image so it can go with a message; the same content is the same slot.
 * Returns its slot (>= 0) with one reference held by the caller (engine_image_release gives it
 * back), or -1 with *cause (the engine is unchanged).
 */
int engine_image_add(engine *e, const char *path, char **cause);
/* The same for an image already decoded; name is kept for messages. */
int engine_image_add_rgb(engine *e, const image_rgb *img, const char *name);
/* Give back a reference taken by engine_image_add (turns hold their own). */
void engine_image_release(engine *e, int slot);
/* What the image cache holds. */
void engine_image_cache(const engine *e, imagecache_stats *st);
/* Limit the image cache to bytes (pixels and features of images no turn or caller refers to). */
void engine_set_image_cache_limit(engine *e, size_t bytes);
/*
 * Run one turn: the message text with the images in slots (attach order), then generate up to
 * max_tokens ids with the sampler. -1 with *cause when the turn cannot run (nothing changed then).
 * The cache must not be stale (engine_make_room rebuilds it).
 */
int engine_send(engine *e, const char *text, const int *slots, int nslots, int max_tokens,
                engine_token_fn fn, void *fn_ctx, volatile int *cancel, engine_stats *stats,
                char **cause);
/*
 * engine_send with the prompt's ids given (no tokenizer needed: the benchmark); image markers
 * (config's image_token) take the slots in order. The turn's text is empty, so it cannot be
 * rebuilt from the conversation later.
 */
int engine_send_ids(engine *e, const int32_t *ids, size_t n, const int *slots, int nslots,
                    int max_tokens, engine_token_fn fn, void *fn_ctx, volatile int *cancel,
                    engine_stats *stats, char **cause);
/*
 * Generate the last reply again: the cache goes back to the end of the last prompt and the reply is
 * sampled anew. Nothing is run again when the prompt's logits are kept (right after the turn);
 * after an undo only the prompt's last position runs again. -1 with *cause when there is no reply.
 */
int engine_regen(engine *e, int max_tokens, engine_token_fn fn, void *fn_ctx, volatile int *cancel,
                 engine_stats *stats, char **cause);
/*
 * Forget the last turn: the cache is cut back to where the turn began (the end of the turn before
 * it); nothing before is run again. -1 with *cause when there is no turn.
 */
int engine_undo(engine *e, char **cause);
/* Number of turns in the context. */
int engine_turns(const engine *e);
/* Positions turns would fill once in the cache (the conversation stays as it is). */
int engine_turns_positions(const engine *e, const engine_turn_in *turns, int n);

/* What must leave the context for a message to fit: the oldest images first, then oldest turns. */
typedef struct {
    int images;          /* oldest images dropped */
    int turns;           /* oldest turns dropped (after the images) */
    int positions_after; /* positions used once the message is in */
} engine_room_plan;

/*
 * Plan room for a message of text with nimages images and the first token of its reply (with the
 * end marker that follows it): 0 when it fits as things are, 1 when plan says what must be dropped,
 * -1 with *cause when it cannot fit even alone.
 */
int engine_plan_room(engine *e, const char *text, int nimages, engine_room_plan *plan,
                     char **cause);
/*
 * Drop what plan says (NULL: nothing) and rebuild the cache from the turns kept, reusing the cached
 * image embeddings; stats gets the positions run and the time. -1 when the progress callback asked
 * to stop (the cache is then stale: the next call rebuilds it).
 */
int engine_make_room(engine *e, const engine_room_plan *plan, engine_stats *stats);
/* Positions a message of text with nimages images fills as the next turn's prompt. */
int engine_message_positions(engine *e, const char *text, int nimages);
/*
 * Replace the conversation with turns (a loaded session); each slot gets a reference of its own.
 * The cache is stale until engine_make_room rebuilds it, which the next turn must do first.
 */
void engine_set_turns(engine *e, const engine_turn_in *turns, int n);
/* Whether the cache must be rebuilt before the next turn. */
int engine_stale(const engine *e);
/* Call fn while the cache is rebuilt (NULL: no calls). */
void engine_set_progress(engine *e, engine_progress_fn fn, void *ctx);
/* The logits at the last prompt position of the last turn (vocab floats, host). */
const float *engine_prompt_logits_borrow(const engine *e);
/* Positions the conversation fills (when the cache is stale: will fill once rebuilt). */
int engine_positions_used(const engine *e);
/* The context size in positions. */
int engine_context(const engine *e);
/* Total positions run through the model since creation (prompt and generated). */
long engine_positions_run(const engine *e);
/* Forget the conversation (the cache and turns); image embeddings stay cached. */
void engine_clear(engine *e);
/* Replace the system prompt (starts the conversation over). */
void engine_set_system(engine *e, const char *system);
/* Set the sampling parameters; the random stream goes on unless the seed is a new one. */
void engine_set_sampling(engine *e, const sampler_params *p);
/* Restart the random stream from seed (and keep it as the seed). */
void engine_reseed(engine *e, uint64_t seed);
/* The random stream's state, to save it. */
uint64_t engine_rng_state(const engine *e);
/* Continue the random stream from a saved state. */
void engine_set_rng_state(engine *e, uint64_t state);
/* Borrow the sampling parameters. */
const sampler_params *engine_sampling_borrow(const engine *e);
/*
 * From now on, sample replies only among the tokens of these words (each as one token after a
 * space; others are skipped), ".", "," and the ends of a reply: the demo model's plain words.
 */
void engine_set_words(engine *e, const char *const *words, size_t n);
/* Encode slot's image now (vision tower + projector) into out (patches, hidden) host floats. */
void engine_image_features(engine *e, int slot, float *vision, float *projected);

#endif
