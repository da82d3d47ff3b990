/* Conversation state and the prompt template (MODEL.md Part A decisions 7 and 8). */
#ifndef IMP_CHAT_H
#define IMP_CHAT_H

/* The system prompt Imp was trained with. */
#define CHAT_DEFAULT_SYSTEM                                                                        \
    "A chat between a curious user and an artificial intelligence assistant. The assistant gives " \
    "helpful, detailed, and polite answers to the user's questions."

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
/* Number of finished turns. */
int chat_turns(const chat *c);
/*
 * The prompt text of the next turn: the first turn is SYSTEM " USER: " then one "<image>\n" per
 * image, the text and " ASSISTANT:"; later turns start at "USER: ". New string.
 */
char *chat_prompt_new(const chat *c, const char *text, int nimages);
/* Record a finished turn (the user's text and the reply's text). */
void chat_add_turn(chat *c, const char *text, const char *reply);

#endif
