#include "config.h"

#define _XOPEN_SOURCE_EXTENDED 1
#include <glib.h>
#include <ncurses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmdtable.h"
#include "log.h"
#include "pathcomplete.h"
#include "screen.h"
#include "textview.h"
#include "uicmd.h"
#include "uistate.h"
#include "xmalloc.h"

/* ------------------------------------------------------------------ front-end requests */

/* OSC 52 sets the clipboard of the terminal the user sits at, through SSH and tmux. */
static int
uicmd_copy(ui *u, const char *reply, int code, char **cause)
{
    char *text = code ? textview_last_code_new(reply, strlen(reply)) : xstrdup(reply);
    if (text == NULL)
        return log_cause(cause, "/copy code: the last reply has no code block");
    gchar *b64 = g_base64_encode((const guchar *)text, strlen(text));
    char *seq = xasprintf("\033]52;c;%s\a", b64);
    screen_write_raw(seq, strlen(seq));
    ui_status(u, 0, "copied %zu bytes to the clipboard (OSC 52; in tmux: set -s set-clipboard on)",
              strlen(text));
    free(seq);
    g_free(b64);
    free(text);
    return 0;
}

static int
uicmd_theme(ui *u, const char *args, char **cause)
{
    char *notices = NULL;
    if (*args == '\0') {
        char *list = theme_list_new();
        ui_status(u, 0, "theme %s; themes: %s", theme_name(u->th), list);
        free(list);
        return 0;
    }
    theme *t = theme_load_new(args, &notices, cause);
    if (t == NULL)
        return -1;
    theme_free(u->th);
    u->th = t;
    screen_set_theme(t);
    clearok(curscr, TRUE);
    if (notices != NULL) {
        ui_notice(u, TRANSCRIPT_ERROR, notices);
        free(notices);
    }
    ui_status(u, 0, "theme %s", theme_name(t));
    return 0;
}

static int
uicmd_front(void *ctx, sink_request req, const char *arg, int number, char **cause)
{
    ui *u = ctx;
    switch (req) {
    case SINK_HELP:
        u->overlay = UI_OVERLAY_HELP;
        u->help_scroll = 0;
        return 0;
    case SINK_THEME:
        return uicmd_theme(u, arg, cause);
    case SINK_COPY:
        return uicmd_copy(u, arg, number, cause);
    case SINK_SHOW: {
        int index = uievents_picture(u, number);
        if (index < 0)
            return log_cause(cause, "/show: image %d cannot be shown (%s)", number, arg);
        u->overlay = UI_OVERLAY_IMAGE;
        u->overlay_image = index;
        u->overlay_number = number;
        return 0;
    }
    case SINK_EDIT:
        input_set_text(u->in, arg);
        u->editing = 1;
        return 0;
    case SINK_QUIT:
        u->quit = 1;
        return 0;
    }
    return 0;
}

static void
uicmd_message(void *ctx, sink_level level, const char *text)
{
    ui_notice(ctx, level >= SINK_WARNING ? TRANSCRIPT_ERROR : TRANSCRIPT_NOTICE, text);
}

/* ------------------------------------------------------------------ Enter */

/* Take the editor's text as submitted: into the history, kept across runs. */
static void
uicmd_take(ui *u)
{
    char *text = input_take_new(u->in), *cause = NULL;
    if (inputhist_add(u->hist, text, &cause) != 0) {
        char *line = xasprintf("input history: %s (kept for this run only)", cause);
        ui_notice(u, TRANSCRIPT_ERROR, line);
        free(line);
        free(cause);
    }
    free(text);
}

/* A front command runs here at once, on the latest snapshot. */
static void
uicmd_run_front(ui *u, const cmdtable_call *call)
{
    sink out = {.ctx = u, .message = uicmd_message, .front = uicmd_front};
    cmdtable_ctx c = {.snap = u->snap, .out = &out};
    char *cause = NULL;
    if (cmdtable_run(call, &c, &cause) != 0) {
        ui_status(u, 1, "%s", cause);
        free(cause);
    }
}

void
uicmd_enter(ui *u)
{
    char *text = input_text_new(u->in);
    cmdtable_call call;
    char *cause = NULL;
    if (u->editing) {
        /* the editor holds the last message: sending it replaces the exchange */
        if (u->reply_entry >= 0) {
            ui_status(u, 1, "a reply is on its way: wait for it, or Ctrl-C to stop it");
        } else if (*text == '\0') {
            u->editing = 0;
            ui_status(u, 0, "not edited");
        } else {
            uicmd_take(u);
            u->editing = 0;
            char *line = xasprintf("/edit %s", text);
            ui_post(u, line, text, 0, 1);
            free(line);
        }
        free(text);
        return;
    }
    if (cmdtable_parse(text, &call, &cause) != 0) {
        uicmd_take(u);
        ui_status(u, 1, "%s", cause);
        free(cause);
        free(text);
        return;
    }
    if (call.entry != NULL && call.entry->front) {
        uicmd_take(u);
        uicmd_run_front(u, &call);
    } else if (u->reply_entry >= 0 && call.entry == NULL) {
        /* a message waits in the editor while a reply streams; a command queues behind it */
        ui_status(u, 1, "a reply is on its way: wait for it, or Ctrl-C to stop it");
    } else if (call.entry == NULL && *call.args == '\0' &&
               (u->snap == NULL || u->snap->doc.nstaged == 0)) {
        /* an empty line sends nothing */
    } else {
        uicmd_take(u);
        ui_post(u, text, NULL, u->confirming, call.entry == NULL);
    }
    u->confirming = 0;
    free(text);
}

/* ------------------------------------------------------------------ Tab completion */

static void
uicmd_complete_path(ui *u, const char *typed)
{
    pathcomplete_result res;
    char *cause = NULL;
    if (pathcomplete_complete(typed, &res, &cause) != 0) {
        ui_status(u, 1, "%s", cause);
        free(cause);
        return;
    }
    if (res.insert != NULL && *res.insert != '\0')
        input_insert_text(u->in, res.insert, strlen(res.insert));
    if (res.n > 1) {
        GString *s = g_string_new(NULL);
        for (int i = 0; i < res.n && i < 40; i++)
            g_string_append_printf(s, "%s%s", i ? "  " : "", res.names[i]);
        if (res.n > 40)
            g_string_append_printf(s, "  (%d more)", res.n - 40);
        ui_status(u, 0, "%s", s->str);
        g_string_free(s, TRUE);
    } else if (res.n == 0) {
        ui_status(u, 1, "no file matches");
    }
    pathcomplete_result_free(&res);
}

/* Complete a command name from the table. */
static void
uicmd_complete_name(ui *u, const char *text)
{
    int n;
    const cmdtable_entry *t = cmdtable_entries(&n);
    size_t typed = strlen(text), common = 0;
    const char *first = NULL;
    int count = 0;
    GString *list = g_string_new(NULL);
    for (int i = 0; i < n; i++) {
        if (strncmp(t[i].name, text, typed) != 0)
            continue;
        if (first == NULL) {
            first = t[i].name;
            common = strlen(first);
        }
        while (common > 0 && strncmp(first, t[i].name, common) != 0)
            common--;
        g_string_append_printf(list, "%s%s", count++ ? "  " : "", t[i].name);
    }
    if (count == 1) {
        char *full = xasprintf("%s ", first);
        input_set_text(u->in, full);
        free(full);
    } else if (count > 1) {
        if (common > typed) {
            char *prefix = xstrndup(first, common);
            input_set_text(u->in, prefix);
            free(prefix);
        }
        ui_status(u, 0, "%s", list->str);
    }
    g_string_free(list, TRUE);
}

void
uicmd_complete(ui *u)
{
    static const char *const path_commands[] = {"/image ", "/export ", "/save ", "/load "};
    char *text = input_text_new(u->in);
    for (size_t i = 0; i < sizeof path_commands / sizeof path_commands[0]; i++) {
        size_t n = strlen(path_commands[i]);
        if (strncmp(text, path_commands[i], n) == 0) {
            uicmd_complete_path(u, text + n);
            free(text);
            return;
        }
    }
    if (text[0] == '/' && strchr(text, ' ') == NULL)
        uicmd_complete_name(u, text);
    free(text);
}
