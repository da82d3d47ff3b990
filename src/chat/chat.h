/*
 * Conversation state and the prompt template (MODEL.md Part A decisions 7 and 8): the turns with
 * their image slots and the ids generated for them, which is what the KV cache holds.
 */
#ifndef IMP_CHAT_H
#define IMP_CHAT_H

#include <stddef.h>
#include <stdint.h>

/* The system prompt Imp was trained with. */
#define CHAT_DEFAULT_SYSTEM                                                                        \
    "A chat between a curious user and an artificial intelligence assistant. The assistant gives " \
    "helpful, detailed, and polite answers to the user's questions."

/*
 * One turn: the user's message with its images and the reply's generated ids, and where the turn
 * sits in the KV cache (filled in by the engine as it runs the turn).
 */
typedef struct {
    char *text;
    int *slots;      /* engine image slots, attach order */
    int nslots;
    int32_t *reply;  /* generated ids, never re-tokenized */
    size_t nreply;
    int kv_start;    /* cache length before the turn's ids (the previous reply's tail first) */
    int prompt_end;  /* cache length after the turn's prompt */
    size_t seen_start, seen_prompt_end; /* the repetition penalty's id list at the same points */
    int32_t last_prompt_id; /* the prompt's last id, run again when its logits are gone */
} chat_turn;

typedef struct chat chat;

/* A new empty conversation with system prompt system (NULL: the default). */
chat *chat_new(const char *system);
/* Free the conversation. */
void chat_free(chat *c);
/* Forget every turn (the system prompt stays). */
void chat_clear(chat *c);
/* Replace the system prompt; it opens the first turn, so the conversation starts over. */
void chat_set_system(chat *c, const char *system);
/* Borrow the system prompt. */
const char *chat_system_borrow(const chat *c);
/* Number of turns. */
int chat_turns(const chat *c);
/* Borrow turn i (0 is the oldest kept). */
chat_turn *chat_turn_borrow(const chat *c, int i);
/*
 * The prompt text of turn `index` with text and nimages images: the first turn is
 * SYSTEM " USER: " then one "<image>\n" per image, the text and " ASSISTANT:"; later turns start
 * at "USER: ". New string.
 */
char *chat_prompt_new(const chat *c, int index, const char *text, int nimages);
/* Start a turn (its reply empty); returns it. */
chat_turn *chat_add_turn(chat *c, const char *text, const int *slots, int nslots);
/* Append a generated id to the last turn's reply. */
void chat_push_reply(chat *c, int32_t id);
/* Forget the last turn's reply (to generate it again). */
void chat_clear_reply(chat *c);
/* Drop the oldest image still in the conversation; 0 when there is none. */
int chat_drop_oldest_image(chat *c);
/* Drop the oldest turn; 0 when there is none. */
int chat_drop_oldest_turn(chat *c);
/* Drop the newest turn; 0 when there is none. */
int chat_drop_last_turn(chat *c);
/* A copy of the conversation (for planning what to drop without changing it). */
chat *chat_copy_new(const chat *c);

#endif
