/*
 * The in-chat commands, one table for every front end: each entry has its name, arguments, help
 * and handler, and runs the same from the chat and from --script. A line is parsed by a plain
 * function on the text (no model needed). Entries marked front change nothing in the conversation
 * and read a snapshot, so a front end may run them on its own thread at once (/help while a reply
 * streams); the others run on the session's thread.
 */
#ifndef IMP_CMDTABLE_H
#define IMP_CMDTABLE_H

#include "session.h"
#include "sink.h"

/* What a handler gets. */
typedef struct {
    session *s;                   /* NULL when a front end runs a front entry */
    const session_snapshot *snap; /* front entries read this */
    const sink *out;
    int confirmed;                /* the user confirmed a send that drops older exchanges */
} cmdtable_ctx;

typedef struct {
    const char *name;  /* "/image" */
    const char *alias; /* another name for it, or NULL */
    const char *args;  /* "PATH", "" for none; [X] optional */
    const char *help;
    int front;         /* runs on a snapshot and changes no conversation state */
    /* 0, -1 with *cause, or SESSION_CONFIRM with the question in *cause */
    int (*run)(cmdtable_ctx *c, const char *args, char **cause);
} cmdtable_entry;

/* A parsed line: a command with its arguments, or a message. */
typedef struct {
    const cmdtable_entry *entry; /* NULL: a message for the model */
    const char *args;            /* the arguments, or the message ("//x" is the message "/x") */
} cmdtable_call;

/* The table; *n gets the number of entries. */
const cmdtable_entry *cmdtable_entries(int *n);
/* The entry named name (or by its alias), or NULL. */
const cmdtable_entry *cmdtable_find(const char *name, size_t len);
/*
 * Parse one line (what a user typed: a /command or a message). call->args points into line.
 * -1 with *cause for an unknown command.
 */
int cmdtable_parse(const char *line, cmdtable_call *call, char **cause);
/*
 * Run one line on s: a /command or a message. Returns 0, -1 with *cause (the session goes on), or
 * SESSION_CONFIRM with the question in *cause.
 */
int cmdtable_run_line(session *s, const sink *out, const char *line, int confirmed, char **cause);
/* Run a parsed call (front entries read snap, which may not be NULL for them). */
int cmdtable_run(const cmdtable_call *call, cmdtable_ctx *c, char **cause);
/* The commands with their arguments and help, one a line (for --script's /help). New string. */
char *cmdtable_help_new(void);

#endif
