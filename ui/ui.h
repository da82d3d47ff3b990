/* The full-screen chat: runs until /quit, Ctrl-D on an empty line, SIGTERM or SIGHUP. */
#ifndef IMP_UI_H
#define IMP_UI_H

#include "options.h"
#include "session.h"

/*
 * Run the chat on the terminal with the conversation s (its engine loaded; borrowed; from here on
 * only the chat's engine thread touches it). note is a line to show at the start (the backend's
 * fallback note) or NULL. Returns the exit status.
 */
int ui_run(const options *opt, session *s, const char *note);

#endif
