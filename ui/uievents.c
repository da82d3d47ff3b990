#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uistate.h"
#include "xmalloc.h"

int
uievents_picture(ui *u, int number)
{
    if (u->snap == NULL || number < 1 || number > u->snap->nimages)
        return -1;
    const session_image_view *v = &u->snap->images[number - 1];
    for (int i = 0; i < u->npictures; i++)
        if (strcmp(u->pictures[i].sha256, v->sha256) == 0)
            return u->pictures[i].index;
    /* decoded for display once per picture; a failure is remembered too */
    char *cause = NULL;
    int index = gallery_add(u->gal, v->path, v->name, &cause);
    free(cause);
    u->pictures = xreallocarray(u->pictures, (size_t)u->npictures + 1, sizeof *u->pictures);
    ui_picture *p = &u->pictures[u->npictures++];
    snprintf(p->sha256, sizeof p->sha256, "%s", v->sha256);
    p->index = index;
    return index;
}

void
uievents_turns_free(ui *u)
{
    for (int i = 0; i < u->nturns; i++)
        free(u->turns[i].image_entries);
    free(u->turns);
    u->turns = NULL;
    u->nturns = 0;
}

/* Take the snapshot an event carries as the current one. */
static void
uievents_take_snapshot(ui *u, worker_event *ev)
{
    if (ev->snap == NULL)
        return;
    session_snapshot_free(u->snap);
    u->snap = ev->snap;
    ev->snap = NULL;
}

/* Add an exchange's message (its images first) to the transcript; images are numbers. */
static ui_turn *
uievents_add_turn(ui *u, const char *text, const int *images, int nimages)
{
    u->turns = xreallocarray(u->turns, (size_t)u->nturns + 1, sizeof *u->turns);
    ui_turn *t = &u->turns[u->nturns++];
    memset(t, 0, sizeof *t);
    t->first_entry = transcript_count(u->tr);
    t->image_entries = xreallocarray(NULL, (size_t)nimages + 1, sizeof *t->image_entries);
    for (int i = 0; i < nimages; i++)
        t->image_entries[t->nimages++] = transcript_add(u->tr, TRANSCRIPT_IMAGE, "", images[i]);
    t->user_entry = transcript_add(u->tr, TRANSCRIPT_USER, text, -1);
    t->reply_entry = transcript_add(u->tr, TRANSCRIPT_ASSISTANT, "", -1);
    return t;
}

/* Mark what left the context, as the snapshot says. */
static void
uievents_mark_dropped(ui *u)
{
    const sessiondoc *d = &u->snap->doc;
    for (int i = 0; i < u->nturns && i < d->nturns; i++) {
        const sessiondoc_turn *dt = &d->turns[i];
        ui_turn *t = &u->turns[i];
        for (int k = 0; k < t->nimages && k < dt->nimages; k++)
            if (dt->dropped || dt->images[k].dropped)
                transcript_mark(u->tr, t->image_entries[k], 0, 1, 0);
        if (dt->dropped) {
            transcript_mark(u->tr, t->user_entry, 0, 1, 0);
            transcript_mark(u->tr, t->reply_entry, t->stopped, 1, 0);
        }
    }
}

/* Show the whole conversation of the snapshot again (after /clear, /system, /load). */
static void
uievents_rebuild(ui *u)
{
    /* what came before the first exchange (the welcome, start-up notices) stays */
    transcript_truncate(u->tr, u->nturns > 0 ? u->turns[0].first_entry : transcript_count(u->tr));
    uievents_turns_free(u);
    u->reply_entry = -1;
    const sessiondoc *d = &u->snap->doc;
    int number = 1;
    for (int i = 0; i < d->nturns; i++) {
        const sessiondoc_turn *dt = &d->turns[i];
        int *numbers = xreallocarray(NULL, (size_t)dt->nimages + 1, sizeof *numbers);
        for (int k = 0; k < dt->nimages; k++)
            numbers[k] = number++;
        ui_turn *t = uievents_add_turn(u, dt->text, numbers, dt->nimages);
        free(numbers);
        transcript_set_text(u->tr, t->reply_entry, dt->reply);
        t->stopped = dt->stop == SESSIONDOC_STOP_CANCEL;
        transcript_mark(u->tr, t->reply_entry, t->stopped, 0, 0);
    }
    uievents_mark_dropped(u);
    transcript_scroll_to(u->tr, 0);
}

/* The last exchange was taken back: its entries go. */
static void
uievents_undone(ui *u)
{
    if (u->nturns == 0)
        return;
    ui_turn *t = &u->turns[--u->nturns];
    transcript_truncate(u->tr, t->first_entry);
    free(t->image_entries);
    u->reply_entry = -1;
}

static void
uievents_changed(ui *u, worker_event *ev)
{
    uievents_take_snapshot(u, ev);
    switch (ev->change) {
    case SINK_RESET:
        uievents_rebuild(u);
        break;
    case SINK_UNDONE:
        uievents_undone(u);
        break;
    case SINK_DROPPED:
        uievents_mark_dropped(u);
        break;
    case SINK_STAGED:
    case SINK_SETTINGS:
        break;
    }
}

/* What the status line says when a command is done and said nothing itself. */
static void
uievents_command_done(ui *u, const char *line)
{
    size_t n = strcspn(line, " \t");
    const char *args = line + n + strspn(line + n, " \t");
    const session_snapshot *snap = u->snap;
    if (line[0] != '/')
        return; /* --resume: the session said what it loaded */
    if (strncmp(line, "/image", n) == 0 && n == 6 && snap->doc.nstaged > 0) {
        const sessiondoc_image *im = &snap->doc.staged[snap->doc.nstaged - 1];
        ui_status(u, 0, "staged [%d] %s (%dx%d): it goes with your next message", snap->nimages,
                  im->name, im->width, im->height);
    } else if (strncmp(line, "/drop", n) == 0 && n == 5) {
        ui_status(u, 0, "unstaged image %s", args);
    } else if (strncmp(line, "/undo", n) == 0 && n == 5) {
        ui_status(u, 0, "took back the last exchange");
    } else if (strncmp(line, "/clear", n) == 0 && n == 6) {
        ui_status(u, 0, "the conversation starts over");
    } else if (strncmp(line, "/system", n) == 0 && n == 7 && *args != '\0') {
        ui_notice(u, TRANSCRIPT_NOTICE, "New system prompt; the conversation starts over.");
    } else if (strncmp(line, "/set", n) == 0 && n == 4 && *args != '\0') {
        ui_status(u, 0, "set %s", args);
    }
}

static void
uievents_done(ui *u, worker_event *ev)
{
    uievents_take_snapshot(u, ev);
    char *text = NULL, *line = NULL;
    unsigned status_at = u->statuses;
    if (u->nposted > 0) {
        text = u->posted[0].text;
        line = u->posted[0].line;
        status_at = u->posted[0].status_at;
        memmove(u->posted, u->posted + 1, (size_t)(u->nposted - 1) * sizeof *u->posted);
        u->nposted--;
        u->job_start = ui_now_ms();
    }
    if (u->reply_entry >= 0) {
        transcript_mark(u->tr, u->reply_entry, 0, 0, 0);
        u->reply_entry = -1;
    }
    if (u->status_until_done) {
        free(u->status);
        u->status = NULL;
    }
    if (ev->rc != 0 && text != NULL && input_length(u->in) == 0)
        input_set_text(u->in, text); /* a refused message comes back for another try */
    if (ev->rc != 0 && line != NULL && strcmp(line, "--resume") == 0) {
        /* in the transcript, where it stays: the chat goes on with a new conversation */
        char *say = xasprintf("%s (--resume); a new conversation starts", ev->text);
        ui_notice(u, TRANSCRIPT_ERROR, say);
        free(say);
    } else if (ev->rc == SESSION_CONFIRM) {
        u->confirming = 1;
        ui_status(u, 1, "%s (Enter sends, Esc goes back)", ev->text);
    } else if (ev->rc != 0) {
        ui_status(u, 1, "%s", ev->text != NULL ? ev->text : "failed");
    } else if (line != NULL && status_at == u->statuses) {
        /* only when nothing was said since the line was posted: a later message stays */
        uievents_command_done(u, line);
    }
    free(text);
    free(line);
}

void
uievents_apply(ui *u, worker_event *ev)
{
    switch (ev->kind) {
    case WORKER_EV_TURN: {
        ui_turn *t = uievents_add_turn(u, ev->text, ev->images, ev->nimages);
        transcript_mark(u->tr, t->reply_entry, 0, 0, 1);
        u->reply_entry = t->reply_entry;
        u->reply_pieces = 0;
        transcript_scroll_to(u->tr, 0);
        break;
    }
    case WORKER_EV_REPLY_RESET:
        if (ev->index < u->nturns) {
            u->reply_entry = u->turns[ev->index].reply_entry;
            u->reply_pieces = 0;
            transcript_set_text(u->tr, u->reply_entry, "");
            transcript_mark(u->tr, u->reply_entry, 0, 0, 1);
            transcript_scroll_to(u->tr, 0);
        }
        break;
    case WORKER_EV_TEXT:
        if (u->reply_entry >= 0) {
            transcript_append(u->tr, u->reply_entry, ev->text, ev->len);
            if (u->reply_pieces++ == 0)
                u->reply_first_ms = ui_now_ms();
        }
        break;
    case WORKER_EV_REPLY_END:
        if (u->reply_entry >= 0 && u->nturns > 0) {
            ui_turn *t = &u->turns[u->nturns - 1];
            t->stopped =
                ev->stats.stop == ENGINE_STOP_CANCEL || ev->stats.stop == ENGINE_STOP_DEVICE;
            transcript_mark(u->tr, u->reply_entry, t->stopped, 0, 0);
        }
        u->reply_entry = -1;
        if (ev->stats.stop == ENGINE_STOP_CONTEXT)
            ui_notice(u, TRANSCRIPT_NOTICE,
                      "The context is full, so the reply was cut short. The next message drops "
                      "the oldest images and exchanges (you will be asked first); /clear starts "
                      "over.");
        break;
    case WORKER_EV_MESSAGE:
        ui_notice(u, ev->level >= SINK_WARNING ? TRANSCRIPT_ERROR : TRANSCRIPT_NOTICE, ev->text);
        break;
    case WORKER_EV_CHANGED:
        uievents_changed(u, ev);
        break;
    case WORKER_EV_PROGRESS:
        if ((ui_now_ms() - u->job_start > UI_PROGRESS_MS || ev->total >= UI_PROGRESS_POSITIONS) &&
            ev->done < ev->total) {
            ui_status(u, 0, "putting the conversation back in the cache: %d of %d positions "
                            "(Ctrl-C stops)", ev->done, ev->total);
            u->status_until_done = 1;
        }
        break;
    case WORKER_EV_EDIT:
        input_set_text(u->in, ev->text);
        u->editing = 1;
        ui_status(u, 0, "editing your last message: Enter replaces the exchange, Esc leaves it");
        break;
    case WORKER_EV_DONE:
        uievents_done(u, ev);
        break;
    }
    u->dirty = 1;
}
