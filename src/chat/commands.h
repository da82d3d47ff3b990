/* The in-chat commands and messages, one line at a time (shared by --script and the chat). */
#ifndef IMP_COMMANDS_H
#define IMP_COMMANDS_H

#include <stdio.h>

#include "engine.h"

typedef struct {
    engine *eng;
    int max_tokens;
    int print_ids;      /* replies as token ids instead of text */
    int stats;          /* per-turn statistics on stderr */
    FILE *out;          /* replies */
    int *staged;        /* image slots for the next message */
    int nstaged;
    int quit;           /* set by /quit */
    volatile int *cancel;
} commands_state;

/* Initialise a state for eng writing replies to out. */
void commands_init(commands_state *st, engine *eng, int max_tokens, FILE *out);
/* Free the staged list. */
void commands_free(commands_state *st);
/*
 * Run one line: a /command or a message for the model. Returns 0, or -1 with *cause when the line
 * failed (the session goes on).
 */
int commands_run_line(commands_state *st, const char *line, char **cause);
/* Send text with the staged images and write the reply; -1 with *cause when it could not run. */
int commands_send(commands_state *st, const char *text, char **cause);

/*
 * Parse "/set NAME VALUE" arguments into p or *max_tokens; -1 with *cause (naming the setting) when
 * the name or value is bad, and nothing changes then.
 */
int commands_parse_set(const char *args, sampler_params *p, int *max_tokens, char **cause);
/* "the oldest N image(s) and the oldest M turn(s)": what a plan drops, for messages. New string. */
char *commands_room_text_new(const engine_room_plan *plan);

#endif
