#include "config.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmdtable.h"
#include "log.h"
#include "pathcomplete.h"
#include "xmalloc.h"

/* A number argument from 1 up; -1 when args is not one. */
static long
cmdtable_number(const char *args)
{
    char *end;
    long n = strtol(args, &end, 10);
    return *args != '\0' && *end == '\0' && n >= 1 ? n : -1;
}

/* A path argument as typed (quotes, escapes, ~); new string or NULL with *cause. */
static char *
cmdtable_path_new(const char *args, const char *usage, char **cause)
{
    char *path = NULL;
    if (*args == '\0') {
        log_cause(cause, "usage: %s", usage);
        return NULL;
    }
    if (pathcomplete_parse(args, &path, cause) != 0)
        return NULL;
    return path;
}

static void
cmdtable_say(cmdtable_ctx *c, const char *text)
{
    if (c->out != NULL && c->out->message != NULL)
        c->out->message(c->out->ctx, SINK_OUTPUT, text);
}

static int
cmdtable_front(cmdtable_ctx *c, sink_request req, const char *arg, int number, char **cause)
{
    if (c->out == NULL || c->out->front == NULL)
        return log_cause(cause, "not available here");
    return c->out->front(c->out->ctx, req, arg, number, cause);
}

/* ------------------------------------------------------------------ conversation commands */

static int
cmd_image(cmdtable_ctx *c, const char *args, char **cause)
{
    char *path = cmdtable_path_new(args, "/image PATH", cause);
    if (path == NULL)
        return -1;
    int rc = session_stage(c->s, path, c->out, cause);
    free(path);
    return rc;
}

static int
cmd_drop(cmdtable_ctx *c, const char *args, char **cause)
{
    long n = cmdtable_number(args);
    if (n < 0)
        return log_cause(cause, "usage: /drop N (the number of a staged image, see /images)");
    return session_drop(c->s, (int)n, c->out, cause);
}

static int
cmd_undo(cmdtable_ctx *c, const char *args, char **cause)
{
    return session_undo(c->s, c->out, cause);
}

static int
cmd_retry(cmdtable_ctx *c, const char *args, char **cause)
{
    return session_retry(c->s, c->out, cause);
}

static int
cmd_edit(cmdtable_ctx *c, const char *args, char **cause)
{
    return session_edit(c->s, *args ? args : NULL, c->confirmed, c->out, cause);
}

static int
cmd_clear(cmdtable_ctx *c, const char *args, char **cause)
{
    session_clear(c->s, c->out);
    return 0;
}

static int
cmd_system(cmdtable_ctx *c, const char *args, char **cause)
{
    session_system(c->s, args, c->out);
    return 0;
}

static int
cmd_set(cmdtable_ctx *c, const char *args, char **cause)
{
    if (*args == '\0') {
        session_print_settings(c->s, c->out);
        return 0;
    }
    size_t klen = strcspn(args, " \t");
    char *name = xstrndup(args, klen);
    const char *value = args + klen + strspn(args + klen, " \t");
    int rc = session_set(c->s, name, value, c->out, cause);
    free(name);
    return rc;
}

static int
cmd_save(cmdtable_ctx *c, const char *args, char **cause)
{
    if (*args == '\0')
        return session_save(c->s, NULL, c->out, cause);
    char *path = cmdtable_path_new(args, "/save [NAME|PATH]", cause);
    if (path == NULL)
        return -1;
    int rc = session_save(c->s, path, c->out, cause);
    free(path);
    return rc;
}

static int
cmd_load(cmdtable_ctx *c, const char *args, char **cause)
{
    char *path = cmdtable_path_new(args, "/load NAME|PATH (/sessions lists the names)", cause);
    if (path == NULL)
        return -1;
    int rc = session_load(c->s, path, c->out, cause);
    free(path);
    return rc;
}

static int
cmd_sessions(cmdtable_ctx *c, const char *args, char **cause)
{
    session_list(c->s, c->out);
    return 0;
}

static int
cmd_export(cmdtable_ctx *c, const char *args, char **cause)
{
    char *path = cmdtable_path_new(args, "/export PATH.md", cause);
    if (path == NULL)
        return -1;
    int rc = session_export(c->s, path, c->out, cause);
    free(path);
    return rc;
}

/* ------------------------------------------------------------------ front commands */

static int
cmd_images(cmdtable_ctx *c, const char *args, char **cause)
{
    const session_snapshot *snap = c->snap;
    if (snap->nimages == 0) {
        cmdtable_say(c, "No images yet: /image PATH attaches one.");
        return 0;
    }
    GString *s = g_string_new("Images of this conversation (/show N shows one):");
    for (int i = 0; i < snap->nimages; i++) {
        const session_image_view *v = &snap->images[i];
        g_string_append_printf(s, "\n%d: %s, %dx%d%s", i + 1, v->name, v->width, v->height,
                               v->turn < 0   ? " (staged: /drop N unstages it)"
                               : v->dropped ? " (left the context)"
                                            : "");
    }
    cmdtable_say(c, s->str);
    g_string_free(s, TRUE);
    return 0;
}

static int
cmd_show(cmdtable_ctx *c, const char *args, char **cause)
{
    const session_snapshot *snap = c->snap;
    if (snap->nimages == 0)
        return log_cause(cause, "/show: there are no images yet (/image PATH attaches one)");
    long n = cmdtable_number(args);
    if (n < 1 || n > snap->nimages)
        return log_cause(cause, "usage: /show N, with N from 1 to %d (see /images)",
                         snap->nimages);
    return cmdtable_front(c, SINK_SHOW, snap->images[n - 1].path, (int)n, cause);
}

static int
cmd_copy(cmdtable_ctx *c, const char *args, char **cause)
{
    const sessiondoc *d = &c->snap->doc;
    if (*args != '\0' && strcmp(args, "code") != 0)
        return log_cause(cause, "usage: /copy [code]");
    if (d->nturns == 0 || d->turns[d->nturns - 1].reply[0] == '\0')
        return log_cause(cause, "/copy: no reply to copy yet");
    return cmdtable_front(c, SINK_COPY, d->turns[d->nturns - 1].reply, *args != '\0', cause);
}

static int
cmd_stats(cmdtable_ctx *c, const char *args, char **cause)
{
    const session_snapshot *snap = c->snap;
    GString *s = g_string_new(NULL);
    if (snap->have_last) {
        const engine_stats *l = &snap->last;
        g_string_append_printf(s,
                               "Last turn: reused %d positions from the cache, ran %d new ones; "
                               "%d image(s) encoded in %.0f ms; prefill %.0f ms; first token "
                               "after %.0f ms; %d tokens at %.2f tokens/s. ",
                               l->reused, l->new_positions, l->images_encoded, l->encode_ms,
                               l->prefill_ms, l->first_token_ms, l->generated,
                               engine_stats_tokens_per_s(l));
    }
    const imagecache_stats *ic = &snap->cache;
    g_string_append_printf(s,
                           "Context: %d of %d positions used. Image cache: %d image(s), %d "
                           "encoded, %d in use, %.1f of %.0f MB",
                           snap->used, snap->ctx, ic->images, ic->encoded, ic->in_use,
                           ic->bytes / 1048576.0, ic->limit / 1048576.0);
    if (ic->evicted > 0)
        g_string_append_printf(s, " (%d freed, least recently used first)", ic->evicted);
    g_string_append_printf(s, ". Backend: %s.", snap->backend);
    if (snap->file != NULL)
        g_string_append_printf(s, " Saved in %s.", snap->file);
    cmdtable_say(c, s->str);
    g_string_free(s, TRUE);
    return 0;
}

static int
cmd_theme(cmdtable_ctx *c, const char *args, char **cause)
{
    return cmdtable_front(c, SINK_THEME, args, 0, cause);
}

static int
cmd_help(cmdtable_ctx *c, const char *args, char **cause)
{
    return cmdtable_front(c, SINK_HELP, "", 0, cause);
}

static int
cmd_quit(cmdtable_ctx *c, const char *args, char **cause)
{
    return cmdtable_front(c, SINK_QUIT, "", 0, cause);
}

static const cmdtable_entry cmdtable_table[] = {
    {"/image", NULL, "PATH", "stage an image for the next message (Tab completes paths)", 0,
     cmd_image},
    {"/images", NULL, "", "list the images of the conversation (the staged ones last)", 1,
     cmd_images},
    {"/drop", NULL, "N", "unstage image N (the tray shows the numbers)", 0, cmd_drop},
    {"/show", NULL, "N", "show image N full-screen until a key is pressed", 1, cmd_show},
    {"/undo", NULL, "", "take back the last exchange (the cache is cut back, nothing runs again)",
     0, cmd_undo},
    {"/retry", "/regen", "", "a new reply to the last message (greedy: the same one)", 0,
     cmd_retry},
    {"/edit", NULL, "[TEXT]",
     "the last message back in the editor; sending replaces the exchange (TEXT: at once)", 0,
     cmd_edit},
    {"/clear", NULL, "", "start the conversation over (cached images stay)", 0, cmd_clear},
    {"/system", NULL, "[TEXT]", "replace the system prompt and start over; alone: show it", 0,
     cmd_system},
    {"/set", NULL, "[NAME VALUE]",
     "max-tokens, temp, top-p, top-k, repeat-penalty or seed; alone: show them all", 0, cmd_set},
    {"/save", NULL, "[NAME|PATH]",
     "save the session (NAME: under that name from now on; PATH: a copy there)", 0, cmd_save},
    {"/load", NULL, "NAME|PATH", "continue a saved session", 0, cmd_load},
    {"/sessions", NULL, "", "list the saved sessions, newest first", 0, cmd_sessions},
    {"/export", NULL, "PATH.md", "write the conversation as Markdown, images beside it", 0,
     cmd_export},
    {"/theme", NULL, "[NAME]", "switch the color theme; alone: list the themes", 1, cmd_theme},
    {"/copy", NULL, "[code]", "copy the last reply (or its last code block) to the clipboard", 1,
     cmd_copy},
    {"/stats", NULL, "", "the last turn's numbers, the context and the image cache", 1, cmd_stats},
    {"/help", NULL, "", "show commands and keys", 1, cmd_help},
    {"/quit", NULL, "", "leave imp-chat", 1, cmd_quit},
};

const cmdtable_entry *
cmdtable_entries(int *n)
{
    *n = (int)(sizeof cmdtable_table / sizeof cmdtable_table[0]);
    return cmdtable_table;
}

const cmdtable_entry *
cmdtable_find(const char *name, size_t len)
{
    int n;
    const cmdtable_entry *t = cmdtable_entries(&n);
    for (int i = 0; i < n; i++) {
        if (strlen(t[i].name) == len && strncmp(t[i].name, name, len) == 0)
            return &t[i];
        if (t[i].alias != NULL && strlen(t[i].alias) == len && strncmp(t[i].alias, name, len) == 0)
            return &t[i];
    }
    return NULL;
}

int
cmdtable_parse(const char *line, cmdtable_call *call, char **cause)
{
    call->entry = NULL;
    call->args = line;
    if (line[0] != '/')
        return 0;
    if (line[1] == '/') {
        call->args = line + 1; /* "//text" sends "/text" */
        return 0;
    }
    size_t nlen = strcspn(line, " \t\n");
    call->entry = cmdtable_find(line, nlen);
    if (call->entry == NULL)
        return log_cause(cause, "unknown command \"%.*s\" (/help lists them; //text sends a "
                                "message that starts with /)",
                         (int)(nlen < 40 ? nlen : 40), line);
    call->args = line + nlen + strspn(line + nlen, " \t\n");
    return 0;
}

int
cmdtable_run(const cmdtable_call *call, cmdtable_ctx *c, char **cause)
{
    if (call->entry == NULL)
        return session_send(c->s, call->args, c->confirmed, c->out, cause);
    const cmdtable_entry *e = call->entry;
    if (e->args[0] == '\0' && call->args[0] != '\0')
        return log_cause(cause, "%s takes no arguments", e->name);
    return e->run(c, call->args, cause);
}

int
cmdtable_run_line(session *s, const sink *out, const char *line, int confirmed, char **cause)
{
    cmdtable_call call;
    if (cmdtable_parse(line, &call, cause) != 0)
        return -1;
    cmdtable_ctx c = {.s = s, .out = out, .confirmed = confirmed};
    session_snapshot *snap = NULL;
    if (call.entry != NULL && call.entry->front)
        c.snap = snap = session_snapshot_new(s);
    int rc = cmdtable_run(&call, &c, cause);
    session_snapshot_free(snap);
    return rc;
}

char *
cmdtable_help_new(void)
{
    int n;
    const cmdtable_entry *t = cmdtable_entries(&n);
    GString *s = g_string_new("Commands (a line without / is a message; //text sends /text):");
    for (int i = 0; i < n; i++) {
        char lhs[64];
        snprintf(lhs, sizeof lhs, "%s%s%s", t[i].name, t[i].args[0] ? " " : "", t[i].args);
        g_string_append_printf(s, "\n  %-24s %s", lhs, t[i].help);
        if (t[i].alias != NULL)
            g_string_append_printf(s, " (also %s)", t[i].alias);
    }
    return g_string_free(s, FALSE);
}
