/*
 * What keys do: one X-macro list of actions with their default keys and help, and a binding
 * table that the config file's "bind KEY ACTION" lines change (the commands are in cmdtable.h).
 */
#ifndef IMP_ACTIONS_H
#define IMP_ACTIONS_H

/* X(id, name, default keys (space separated), help) */
#define ACTIONS(X)                                                                                 \
    X(ACTION_SEND, "send", "Enter", "send the message with the staged images")                    \
    X(ACTION_NEWLINE, "newline", "M-Enter C-j", "insert a newline into the message")              \
    X(ACTION_CANCEL, "cancel", "C-c", "stop the reply; else clear the input line")         \
    X(ACTION_QUIT, "quit", "C-d", "leave imp-chat (on an empty input; else delete forward)")      \
    X(ACTION_HELP, "help", "F1", "show commands and keys")                                        \
    X(ACTION_SCROLL_UP, "scroll-up", "PageUp M-v", "scroll the transcript up a page")             \
    X(ACTION_SCROLL_DOWN, "scroll-down", "PageDown C-v", "scroll the transcript down a page")     \
    X(ACTION_SCROLL_LINE_UP, "scroll-line-up", "S-Up C-Up", "scroll the transcript up a line")   \
    X(ACTION_SCROLL_LINE_DOWN, "scroll-line-down", "S-Down C-Down",                               \
      "scroll the transcript down a line")                                                         \
    X(ACTION_SCROLL_TOP, "scroll-top", "C-Home M-<", "go to the start of the transcript")         \
    X(ACTION_SCROLL_BOTTOM, "scroll-bottom", "C-End M->", "go to the end of the transcript")      \
    X(ACTION_LEFT, "cursor-left", "Left C-b", "move the cursor left")                             \
    X(ACTION_RIGHT, "cursor-right", "Right C-f", "move the cursor right")                         \
    X(ACTION_WORD_LEFT, "word-left", "C-Left M-b", "move to the previous word")                   \
    X(ACTION_WORD_RIGHT, "word-right", "C-Right M-f", "move past the next word")                  \
    X(ACTION_LINE_START, "line-start", "Home C-a",                                                \
      "start of the input line (on an empty input: start of the transcript)")                      \
    X(ACTION_LINE_END, "line-end", "End C-e",                                                     \
      "end of the input line (on an empty input: end of the transcript)")                          \
    X(ACTION_DELETE_BACK, "delete-back", "Backspace C-h", "delete the character before the cursor") \
    X(ACTION_DELETE, "delete", "Delete", "delete the character under the cursor")                 \
    X(ACTION_KILL_END, "kill-to-end", "C-k", "delete to the end of the line")                     \
    X(ACTION_KILL_START, "kill-to-start", "C-u", "delete to the start of the line")               \
    X(ACTION_KILL_WORD, "kill-word", "C-w M-Backspace", "delete the word before the cursor")      \
    X(ACTION_YANK, "yank", "C-y", "insert the text deleted last")                                 \
    X(ACTION_UP, "history-prev", "Up C-p", "previous line of the message, or previous message")   \
    X(ACTION_DOWN, "history-next", "Down C-n", "next line of the message, or next message")       \
    X(ACTION_COMPLETE, "complete", "Tab", "complete a /command or a path after /image")           \
    X(ACTION_REDRAW, "redraw", "C-l", "redraw the screen")                                        \
    X(ACTION_SUSPEND, "suspend", "C-z", "suspend imp-chat (fg brings it back)")

#define ACTIONS_ENUM(id, name, keys, help) id,
typedef enum { ACTION_NONE = -1, ACTIONS(ACTIONS_ENUM) ACTION_COUNT } action;
#undef ACTIONS_ENUM

/* Bind every action's default keys. */
void actions_init(void);
/* Apply a "KEY ACTION" binding (ACTION "none" unbinds); -1 with *cause when either is unknown. */
int actions_bind(const char *spec, char **cause);
/* The action bound to key, or ACTION_NONE. */
action actions_lookup(int key);
/* The action's name. */
const char *actions_name(action a);
/* The action's help line. */
const char *actions_help(action a);
/* The keys bound to a, as names separated by ", " into buf. Returns buf. */
char *actions_keys(action a, char *buf, size_t size);

#endif
