/* The full-screen chat: runs until /quit, Ctrl-D on an empty line, SIGTERM or SIGHUP. */
#ifndef IMP_UI_H
#define IMP_UI_H

#include "engine.h"
#include "options.h"

/*
 * Run the chat on the terminal with engine e (loaded; borrowed). note is a line to show at the
 * start (the backend's fallback note) or NULL. Returns the exit status.
 */
int ui_run(const options *opt, engine *e, const char *note);

#endif
