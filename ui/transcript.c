#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "roles.h"
#include "sanitize.h"
#include "textview.h"
#include "transcript.h"
#include "xmalloc.h"

typedef struct {
    transcript_kind kind;
    char *text;
    size_t len, cap;
    int image;
    int stopped, dropped, streaming;
    cell_lines lines; /* for `width`, blank separator line included */
    int width;        /* 0: must be rendered */
    int start;        /* first line's index in the whole transcript */
} transcript_entry;

struct transcript {
    transcript_entry *entries;
    int n, cap;
    transcript_image_fn image_fn;
    void *image_ctx;
    int width, height;
    int total; /* display lines of all entries */
    int below; /* lines under the view; 0 follows the end */
};

transcript *
transcript_new(transcript_image_fn fn, void *ctx)
{
    transcript *t = xcalloc(1, sizeof *t);
    t->image_fn = fn;
    t->image_ctx = ctx;
    return t;
}

static void
transcript_entry_free(transcript_entry *e)
{
    free(e->text);
    cell_lines_free(&e->lines);
}

void
transcript_free(transcript *t)
{
    if (t == NULL)
        return;
    transcript_clear(t);
    free(t->entries);
    free(t);
}

void
transcript_invalidate_images(transcript *t)
{
    for (int i = 0; i < t->n; i++)
        if (t->entries[i].kind == TRANSCRIPT_IMAGE)
            t->entries[i].width = 0;
}

void
transcript_clear(transcript *t)
{
    for (int i = 0; i < t->n; i++)
        transcript_entry_free(&t->entries[i]);
    t->n = 0;
    t->total = 0;
    t->below = 0;
}

void
transcript_truncate(transcript *t, int i)
{
    while (t->n > i && t->n > 0)
        transcript_entry_free(&t->entries[--t->n]);
}

int
transcript_add(transcript *t, transcript_kind kind, const char *text, int image)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 32;
        t->entries = xreallocarray(t->entries, (size_t)t->cap, sizeof *t->entries);
    }
    transcript_entry *e = &t->entries[t->n];
    memset(e, 0, sizeof *e);
    e->kind = kind;
    e->image = image;
    e->len = strlen(text);
    e->cap = e->len + 1;
    e->text = xstrdup(text);
    return t->n++;
}

void
transcript_append(transcript *t, int i, const char *text, size_t len)
{
    transcript_entry *e = &t->entries[i];
    if (e->len + len + 1 > e->cap) {
        e->cap = (e->len + len + 1) * 2;
        e->text = xrealloc(e->text, e->cap);
    }
    memcpy(e->text + e->len, text, len);
    e->len += len;
    e->text[e->len] = '\0';
    e->width = 0;
}

void
transcript_set_text(transcript *t, int i, const char *text)
{
    transcript_entry *e = &t->entries[i];
    e->len = 0;
    e->text[0] = '\0';
    transcript_append(t, i, text, strlen(text));
}

const char *
transcript_text(const transcript *t, int i)
{
    return t->entries[i].text;
}

transcript_kind
transcript_kind_of(const transcript *t, int i)
{
    return t->entries[i].kind;
}

void
transcript_mark(transcript *t, int i, int stopped, int dropped, int streaming)
{
    transcript_entry *e = &t->entries[i];
    e->stopped = stopped;
    e->dropped = dropped;
    e->streaming = streaming;
    e->width = 0;
}

int
transcript_count(const transcript *t)
{
    return t->n;
}

/* One label line: the speaker, then marks such as "stopped" in their own roles. */
static void
transcript_label(cell_lines *out, const char *label, role r, const char *mark, role mark_role)
{
    cell_line *line = cell_lines_add(out);
    sanitize_line_append(line, label, (uint8_t)r, 0);
    if (mark != NULL)
        sanitize_line_append(line, mark, (uint8_t)mark_role, 0);
}

static void
transcript_render(transcript *t, transcript_entry *e, int width)
{
    cell_lines_free(&e->lines);
    textview_style st = {.width = width, .prefix = "  ", .prefix_role = ROLE_NORMAL};
    const char *dropped = e->dropped ? "  (dropped from the context)" : NULL;
    if (e->dropped)
        st.attr = CELL_DIM;
    switch (e->kind) {
    case TRANSCRIPT_USER:
        transcript_label(&e->lines, "you", ROLE_USER_LABEL, dropped, ROLE_NOTICE);
        st.role = ROLE_USER;
        textview_render(&e->lines, e->text, e->len, &st);
        break;
    case TRANSCRIPT_ASSISTANT:
        transcript_label(&e->lines, "imp", ROLE_ASSISTANT_LABEL,
                         e->stopped ? "  stopped" : dropped, e->stopped ? ROLE_STOPPED : ROLE_NOTICE);
        st.role = ROLE_ASSISTANT;
        st.flags = TEXTVIEW_MARKDOWN;
        if (e->len == 0 && e->streaming)
            textview_render(&e->lines, "…", strlen("…"), &st);
        else
            textview_render(&e->lines, e->text, e->len, &st);
        break;
    case TRANSCRIPT_IMAGE:
        if (t->image_fn != NULL)
            t->image_fn(t->image_ctx, e->image, width, &e->lines);
        if (e->dropped) {
            st.role = ROLE_NOTICE;
            textview_render(&e->lines, "(dropped from the context)", 26, &st);
        }
        break;
    case TRANSCRIPT_NOTICE:
    case TRANSCRIPT_ERROR:
        st.role = e->kind == TRANSCRIPT_ERROR ? ROLE_ERROR : ROLE_NOTICE;
        st.first_prefix = "· ";
        textview_render(&e->lines, e->text, e->len, &st);
        break;
    }
    cell_lines_add(&e->lines); /* a blank line between entries */
    e->width = width;
}

/* The entry holding absolute line `line`, and the line's offset in it. */
static int
transcript_find(const transcript *t, int line, int *offset)
{
    for (int i = 0; i < t->n; i++) {
        const transcript_entry *e = &t->entries[i];
        if (line < e->start + e->lines.n) {
            *offset = line - e->start;
            return i;
        }
    }
    *offset = 0;
    return -1;
}

static int
transcript_top(const transcript *t)
{
    int top = t->total - t->height - t->below;
    return top > 0 ? top : 0;
}

void
transcript_layout(transcript *t, int width, int height)
{
    if (width < 1)
        width = 1;
    /* remember what is at the top of the view, as an entry and a fraction of it */
    int anchor = -1, offset = 0, old_lines = 1;
    if (t->below > 0 && t->width != width) {
        anchor = transcript_find(t, transcript_top(t), &offset);
        if (anchor >= 0)
            old_lines = t->entries[anchor].lines.n;
    }
    int total = 0;
    for (int i = 0; i < t->n; i++) {
        transcript_entry *e = &t->entries[i];
        if (e->width != width || e->streaming)
            transcript_render(t, e, width);
        e->start = total;
        total += e->lines.n;
    }
    int grew = total - t->total;
    t->total = total;
    t->width = width;
    t->height = height;
    if (anchor >= 0) {
        const transcript_entry *e = &t->entries[anchor];
        int top = e->start + (int)((long)offset * e->lines.n / (old_lines > 0 ? old_lines : 1));
        t->below = total - height - top;
    } else if (t->below > 0 && grew > 0) {
        /* new lines arrive at the end: a reader scrolled up keeps reading the same lines */
        t->below += grew;
    }
    if (t->below > total - height)
        t->below = total - height;
    if (t->below < 0)
        t->below = 0;
}

const cell_line *
transcript_view_line(const transcript *t, int row)
{
    int offset;
    int i = transcript_find(t, transcript_top(t) + row, &offset);
    if (i < 0 || row >= t->height)
        return NULL;
    return &t->entries[i].lines.lines[offset];
}

void
transcript_scroll(transcript *t, int lines)
{
    t->below -= lines;
    if (t->below > t->total - t->height)
        t->below = t->total - t->height;
    if (t->below < 0)
        t->below = 0;
}

void
transcript_scroll_to(transcript *t, int top)
{
    t->below = top ? t->total : 0;
    transcript_scroll(t, 0);
}

int
transcript_lines_below(const transcript *t)
{
    return t->below;
}
