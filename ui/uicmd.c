#include "config.h"

#define _XOPEN_SOURCE_EXTENDED 1
#include <glib.h>
#include <ncurses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actions.h"
#include "commands.h"
#include "pathcomplete.h"
#include "screen.h"
#include "textview.h"
#include "uicmd.h"
#include "uistate.h"
#include "xmalloc.h"

/* ------------------------------------------------------------------ commands */

static void
uicmd_image(ui *u, const char *args)
{
    char *path = NULL, *cause = NULL;
    if (*args == '\0') {
        ui_status(u, 1, "usage: /image PATH (Tab completes)");
        return;
    }
    if (pathcomplete_parse(args, &path, &cause) != 0) {
        ui_status(u, 1, "%s", cause);
        free(cause);
        return;
    }
    int n = gallery_add(u->gal, path, &cause);
    free(path);
    if (n < 0) {
        ui_status(u, 1, "%s", cause);
        free(cause);
        return;
    }
    u->staged = xreallocarray(u->staged, (size_t)u->nstaged + 1, sizeof *u->staged);
    u->staged[u->nstaged++] = n;
    int w, h;
    gallery_size(u->gal, n, &w, &h);
    char *name = gallery_name_new(u->gal, n);
    ui_status(u, 0, "staged %s (%dx%d): it goes with your next message", name, w, h);
    free(name);
}

static void
uicmd_images(ui *u)
{
    GString *s = g_string_new(NULL);
    for (int i = 0; i < gallery_count(u->gal); i++) {
        int w, h;
        gallery_size(u->gal, i, &w, &h);
        char *name = gallery_name_new(u->gal, i);
        int staged = 0;
        for (int k = 0; k < u->nstaged; k++)
            staged |= u->staged[k] == i;
        g_string_append_printf(s, "%s%d: %s, %dx%d%s", s->len ? "\n" : "", i + 1, name, w, h,
                               staged ? " (staged)" : "");
        free(name);
    }
    if (s->len == 0)
        g_string_append(s, "No images yet: /image PATH attaches one.");
    else
        g_string_prepend(s, "Images of this conversation (/show N shows one):\n");
    ui_notice(u, TRANSCRIPT_NOTICE, s->str);
    g_string_free(s, TRUE);
}

static void
uicmd_show(ui *u, const char *args)
{
    char *end;
    long n = strtol(args, &end, 10);
    if (*args == '\0' || *end != '\0' || n < 1 || n > gallery_count(u->gal)) {
        ui_status(u, 1, "usage: /show N, with N from 1 to %d (see /images)", gallery_count(u->gal));
        return;
    }
    u->overlay = UI_OVERLAY_IMAGE;
    u->overlay_image = (int)n - 1;
    u->dirty = 1;
}

/* OSC 52 sets the clipboard of the terminal the user sits at, through SSH and tmux. */
static void
uicmd_copy(ui *u, const char *args)
{
    const char *reply = NULL;
    for (int i = transcript_count(u->tr) - 1; i >= 0 && reply == NULL; i--)
        if (transcript_kind_of(u->tr, i) == TRANSCRIPT_ASSISTANT)
            reply = transcript_text(u->tr, i);
    if (reply == NULL || *reply == '\0') {
        ui_status(u, 1, "/copy: no reply to copy yet");
        return;
    }
    char *text;
    if (strcmp(args, "code") == 0) {
        text = textview_last_code_new(reply, strlen(reply));
        if (text == NULL) {
            ui_status(u, 1, "/copy code: the last reply has no code block");
            return;
        }
    } else if (*args == '\0') {
        text = xstrdup(reply);
    } else {
        ui_status(u, 1, "usage: /copy [code]");
        return;
    }
    gchar *b64 = g_base64_encode((const guchar *)text, strlen(text));
    char *seq = xasprintf("\033]52;c;%s\a", b64);
    screen_write_raw(seq, strlen(seq));
    ui_status(u, 0, "copied %zu bytes to the clipboard (OSC 52; in tmux: set -s set-clipboard on)",
              strlen(text));
    free(seq);
    g_free(b64);
    free(text);
}

static void
uicmd_stats(ui *u)
{
    if (!u->have_last) {
        ui_status(u, 1, "/stats: no turn yet");
        return;
    }
    const engine_stats *s = &u->last;
    double tps = engine_stats_tokens_per_s(s);
    char *text = xasprintf("Last turn: reused %d positions from the cache, ran %d new ones; %d "
                           "image(s) encoded in %.0f ms; prefill %.0f ms; first token after %.0f "
                           "ms; %d tokens at %.2f tokens/s. Context: %d of %d positions used. "
                           "Backend: %s.",
                           s->reused, s->new_positions, s->images_encoded, s->encode_ms,
                           s->prefill_ms, s->first_token_ms, s->generated, tps, u->used, u->ctx,
                           engine_backend_name(u->eng));
    ui_notice(u, TRANSCRIPT_NOTICE, text);
    free(text);
}

static void
uicmd_theme(ui *u, const char *args)
{
    char *notices = NULL, *cause = NULL;
    if (*args == '\0') {
        char *list = theme_list_new();
        ui_status(u, 0, "theme %s; themes: %s", theme_name(u->th), list);
        free(list);
        return;
    }
    theme *t = theme_load_new(args, &notices, &cause);
    if (t == NULL) {
        ui_status(u, 1, "%s", cause);
        free(cause);
        return;
    }
    theme_free(u->th);
    u->th = t;
    screen_set_theme(t);
    clearok(curscr, TRUE);
    if (notices != NULL) {
        ui_notice(u, TRANSCRIPT_ERROR, notices);
        free(notices);
    }
    ui_status(u, 0, "theme %s", theme_name(t));
}

/* Jobs that change the conversation wait for the reply in progress. */
static int
uicmd_idle_or_say(ui *u, const char *what)
{
    if (!u->busy)
        return 1;
    ui_status(u, 1, "%s: wait for the reply, or Ctrl-C to stop it", what);
    return 0;
}

static void
uicmd_forget(ui *u)
{
    transcript_clear(u->tr);
    ui_turns_free(u);
    u->have_last = 0;
    u->used = 0;
}

static void
uicmd_run(ui *u, const char *line)
{
    size_t nlen = strcspn(line, " \t");
    const char *args = line + nlen + strspn(line + nlen, " \t");
    char name[32];
    snprintf(name, sizeof name, "%.*s", (int)(nlen < 31 ? nlen : 31), line);
    if (strcmp(name, "/image") == 0) {
        uicmd_image(u, args);
    } else if (strcmp(name, "/images") == 0) {
        uicmd_images(u);
    } else if (strcmp(name, "/show") == 0) {
        uicmd_show(u, args);
    } else if (strcmp(name, "/clear") == 0) {
        if (!uicmd_idle_or_say(u, "/clear"))
            return;
        worker_job job = {.kind = WORKER_CLEAR};
        worker_post(u->work, &job);
        uicmd_forget(u);
        u->nstaged = 0;
        ui_status(u, 0, "the conversation starts over");
    } else if (strcmp(name, "/regen") == 0) {
        if (!uicmd_idle_or_say(u, "/regen"))
            return;
        if (u->nturns == 0 || u->turns[u->nturns - 1].reply_entry < 0 ||
            u->turns[u->nturns - 1].dropped) {
            ui_status(u, 1, "/regen: no reply to generate again");
            return;
        }
        ui_turn *t = &u->turns[u->nturns - 1];
        transcript_set_text(u->tr, t->reply_entry, "");
        transcript_mark(u->tr, t->reply_entry, 0, 0, 1);
        worker_job job = {.kind = WORKER_REGEN, .max_tokens = u->max_tokens};
        u->send_first_entry = transcript_count(u->tr); /* an error undoes nothing */
        u->reply_entry = t->reply_entry;
        u->reply_started = 0;
        u->busy = 1;
        worker_post(u->work, &job);
        transcript_scroll_to(u->tr, 0);
    } else if (strcmp(name, "/system") == 0) {
        if (!uicmd_idle_or_say(u, "/system"))
            return;
        if (*args == '\0') {
            ui_status(u, 1, "usage: /system TEXT");
            return;
        }
        worker_job job = {.kind = WORKER_SYSTEM, .text = xstrdup(args)};
        worker_post(u->work, &job);
        uicmd_forget(u);
        ui_notice(u, TRANSCRIPT_NOTICE, "New system prompt; the conversation starts over.");
    } else if (strcmp(name, "/set") == 0) {
        char *cause = NULL;
        sampler_params p = u->sampling;
        int max_tokens = u->max_tokens;
        if (commands_parse_set(args, &p, &max_tokens, &cause) != 0) {
            ui_status(u, 1, "%s", cause);
            free(cause);
            return;
        }
        u->sampling = p;
        u->max_tokens = max_tokens;
        worker_job job = {.kind = WORKER_SAMPLING, .sampling = p};
        worker_post(u->work, &job);
        ui_status(u, 0, "set %s", args);
    } else if (strcmp(name, "/theme") == 0) {
        uicmd_theme(u, args);
    } else if (strcmp(name, "/copy") == 0) {
        uicmd_copy(u, args);
    } else if (strcmp(name, "/stats") == 0) {
        uicmd_stats(u);
    } else if (strcmp(name, "/help") == 0) {
        u->overlay = UI_OVERLAY_HELP;
        u->help_scroll = 0;
    } else if (strcmp(name, "/quit") == 0) {
        u->quit = 1;
    } else {
        ui_status(u, 1, "unknown command %s (F1 or /help lists them)", name);
    }
    u->dirty = 1;
}

/* Enter: a /command runs here, anything else is a message. */
void
uicmd_enter(ui *u)
{
    char *text = input_text_new(u->in);
    if (text[0] == '/' && text[1] != '/') {
        free(input_take_new(u->in));
        uicmd_run(u, text);
    } else {
        if (text[0] == '/') /* "//" sends a message that starts with "/" */
            input_set_text(u->in, text + 1);
        ui_send(u, u->confirming);
    }
    free(text);
}

/* ------------------------------------------------------------------ Tab completion */

void
uicmd_complete(ui *u)
{
    char *text = input_text_new(u->in);
    if (strncmp(text, "/image ", 7) == 0) {
        pathcomplete_result res;
        char *cause = NULL;
        if (pathcomplete_complete(text + 7, &res, &cause) != 0) {
            ui_status(u, 1, "%s", cause);
            free(cause);
            free(text);
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
    } else if (text[0] == '/' && strchr(text, ' ') == NULL) {
        static const char *const names[] = {
#define COMMANDS_NAME(name, args, help) name,
            COMMANDS(COMMANDS_NAME)
#undef COMMANDS_NAME
        };
        size_t typed = strlen(text), common = 0;
        const char *first = NULL;
        int count = 0;
        GString *list = g_string_new(NULL);
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            if (strncmp(names[i], text, typed) != 0)
                continue;
            if (first == NULL) {
                first = names[i];
                common = strlen(first);
            }
            while (common > 0 && strncmp(first, names[i], common) != 0)
                common--;
            g_string_append_printf(list, "%s%s", count++ ? "  " : "", names[i]);
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
    free(text);
}
