#include "config.h"

#define _XOPEN_SOURCE_EXTENDED 1
#include <glib.h>
#include <ncurses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "help.h"
#include "sanitize.h"
#include "screen.h"
#include "textview.h"
#include "uidraw.h"
#include "uistate.h"
#include "xmalloc.h"

/* ------------------------------------------------------------------ images in the transcript */

/* The box an image of the transcript is drawn in, for a transcript width. */
static int
uidraw_image_cols(int width)
{
    return width - 2 > 1 ? width - 2 : 1;
}

/*
 * Its rows: about two thirds of what the transcript has on this terminal (status, input, border).
 * Below 256 colors the terminal has few color pairs (64 on xterm), and a larger symbol preview
 * would use them up and recolor what is already drawn: there it stays within
 * UI_IMAGE_FEW_PAIRS_ROWS.
 */
static int
uidraw_image_rows(void)
{
    int rows = (LINES - 3) * 2 / 3;
    if (screen_colors() < 256 && rows > UI_IMAGE_FEW_PAIRS_ROWS)
        rows = UI_IMAGE_FEW_PAIRS_ROWS;
    return rows > UI_IMAGE_MIN_ROWS ? rows : UI_IMAGE_MIN_ROWS;
}

void
uidraw_image_entry(void *ctx, int number, int width, cell_lines *out)
{
    ui *u = ctx;
    int index = uievents_picture(u, number);
    if (index >= 0) {
        gallery_render(u->gal, index, number, uidraw_image_cols(width), u->image_rows, out);
        return;
    }
    /* the picture cannot be decoded for display (its file is gone): its caption says so */
    const char *name = u->snap != NULL && number >= 1 && number <= u->snap->nimages
                           ? u->snap->images[number - 1].name
                           : "?";
    char *caption = xasprintf("  [%d] %s (cannot be shown)", number, name);
    sanitize_line_append(cell_lines_add(out), caption, ROLE_IMAGE_CAPTION, 0);
    free(caption);
}

/* ------------------------------------------------------------------ drawing */

/* A status message longer than the line wraps onto up to this many rows (the numbers give way). */
#define UIDRAW_STATUS_MAX_ROWS 3

/* The rows the status line needs: one, or more for a message that does not fit in one. */
static int
uidraw_status_rows(const ui *u)
{
    if (u->status == NULL || COLS < 4 ||
        sanitize_width(u->status, strlen(u->status), 0) <= COLS - 2)
        return 1;
    textview_style st = {.width = COLS - 2, .role = ROLE_STATUS};
    int n = textview_count_lines(u->status, strlen(u->status), &st);
    int most = LINES / 4 < UIDRAW_STATUS_MAX_ROWS ? LINES / 4 : UIDRAW_STATUS_MAX_ROWS;
    return n < 1 ? 1 : n > most ? (most > 1 ? most : 1) : n;
}

/* A long status message wrapped over rows lines from y (the numbers are left out). */
static void
uidraw_status_wrapped(ui *u, int y, int rows)
{
    role r = u->status_error ? ROLE_ERROR : ROLE_STATUS;
    textview_style st = {.width = COLS - 2, .role = r};
    cell_lines lines;
    cell_lines_init(&lines);
    textview_render(&lines, u->status, strlen(u->status), &st);
    for (int i = 0; i < rows; i++) {
        screen_fill(y + i, 0, COLS, ROLE_STATUS);
        if (i < lines.n)
            screen_draw_line(y + i, 1, &lines.lines[i], COLS - 2, ROLE_STATUS);
    }
    cell_lines_free(&lines);
}

static void
uidraw_status(ui *u, int y, int rows)
{
    if (rows > 1) {
        uidraw_status_wrapped(u, y, rows);
        return;
    }
    const session_snapshot *snap = u->snap;
    int used = snap->used, ctx = snap->ctx;
    int images = 0;
    for (int i = 0; i < snap->nimages; i++)
        images += snap->images[i].turn >= 0 && !snap->images[i].dropped;
    char right[256];
    int off = snprintf(right, sizeof right, " ctx %d/%d", used, ctx);
    if (images > 0)
        off += snprintf(right + off, sizeof right - off, " (%d image%s)", images,
                        images == 1 ? "" : "s");
    if (snap->doc.nstaged > 0)
        off += snprintf(right + off, sizeof right - off, " +%d staged",
                        snap->doc.nstaged * snap->image_positions);
    if (snap->have_last) {
        const engine_stats *s = &snap->last;
        double tps = engine_stats_tokens_per_s(s);
        off += snprintf(right + off, sizeof right - off, " | reused %d new %d", s->reused,
                        s->new_positions);
        if (s->images_encoded > 0)
            off += snprintf(right + off, sizeof right - off, " enc %.1fs", s->encode_ms / 1e3);
        snprintf(right + off, sizeof right - off, " first %.2fs %.1f tok/s ", s->first_token_ms / 1e3,
                 tps);
    } else {
        snprintf(right + off, sizeof right - off, " | %s ", snap->backend);
    }
    int warn = ctx > 0 && used * 10 > ctx * 9;
    role r = warn ? ROLE_STATUS_WARN : ROLE_STATUS;
    char replying[96] = "replying... (Ctrl-C stops)";
    if (u->reply_entry >= 0 && u->reply_pieces > 0) {
        /* the rate from the first token on: the wait for it is the prefill, not the speed */
        double s = (ui_now_ms() - u->reply_first_ms) / 1e3;
        double tps = u->reply_pieces > 1 && s > 0 ? (u->reply_pieces - 1) / s : 0;
        snprintf(replying, sizeof replying, "replying: %d token%s, %.1f tok/s (Ctrl-C stops)",
                 u->reply_pieces, u->reply_pieces == 1 ? "" : "s", tps);
    }
    const char *left = u->status != NULL      ? u->status
                       : u->reply_entry >= 0 ? replying
                       : ui_busy(u)          ? "working... (Ctrl-C stops)"
                       : u->editing ? "editing your last message: Enter replaces the exchange, "
                                      "Esc leaves it"
                                    : "F1 help";
    /* a message wins over the numbers: they give up their columns first */
    int lw = sanitize_width(left, strlen(left), 0);
    int rw = sanitize_width(right, strlen(right), 0);
    if (rw > COLS - lw - 2)
        rw = COLS - lw - 2 > 0 ? COLS - lw - 2 : 0;
    screen_fill(y, 0, COLS, r);
    screen_draw_text(y, 1, left, COLS - rw - 1, u->status_error && u->status ? ROLE_ERROR : r, 0);
    if (rw > 0)
        screen_draw_text(y, COLS - rw, right, rw, r, 0);
}

/* Columns of one tray item: the preview, a gap, the name column and the gap after it. */
#define UIDRAW_TRAY_NAME_COLS 24
#define UIDRAW_TRAY_ITEM_COLS (UI_TRAY_PREVIEW_COLS + 1 + UIDRAW_TRAY_NAME_COLS + 2)
/* Room kept at the right for "+N more" when not every staged image fits. */
#define UIDRAW_TRAY_MORE_COLS 10

static void
uidraw_tray(ui *u, int y)
{
    const session_snapshot *snap = u->snap;
    int x = 0;
    for (int i = 0; i < UI_TRAY_ROWS; i++)
        screen_fill(y + i, 0, COLS, ROLE_TRAY);
    int staged = 0;
    for (int i = 0; i < snap->nimages; i++)
        staged += snap->images[i].turn < 0;
    /* as many items as fit whole (at least one); the rest are counted, not cut off */
    int fit = COLS / UIDRAW_TRAY_ITEM_COLS;
    int reserve = 0;
    if (fit < staged) {
        reserve = UIDRAW_TRAY_MORE_COLS;
        fit = (COLS - reserve) / UIDRAW_TRAY_ITEM_COLS;
    }
    if (fit < 1)
        fit = 1;
    int shown = 0;
    for (int number = 1; number <= snap->nimages && x < COLS && shown < fit; number++) {
        const session_image_view *v = &snap->images[number - 1];
        if (v->turn >= 0)
            continue;
        shown++;
        int index = uievents_picture(u, number);
        int pw = UI_TRAY_PREVIEW_COLS < COLS - x ? UI_TRAY_PREVIEW_COLS : COLS - x;
        if (index >= 0) {
            cell_lines preview;
            cell_lines_init(&preview);
            gallery_render_bare(u->gal, index, UI_TRAY_PREVIEW_COLS, UI_TRAY_ROWS, &preview);
            for (int r = 0; r < UI_TRAY_ROWS && r < preview.n; r++)
                screen_draw_line(y + r, x, &preview.lines[r], pw, ROLE_TRAY);
            cell_lines_free(&preview);
        }
        x += pw + 1;
        /* the number is what /drop N and /show N take */
        char *name = xasprintf("[%d] %s", number, v->name);
        char size[64], cost[64];
        snprintf(size, sizeof size, "%dx%d px", v->width, v->height);
        snprintf(cost, sizeof cost, "%d positions", snap->image_positions);
        int room = COLS - x - reserve;
        int tw = UIDRAW_TRAY_NAME_COLS < room ? UIDRAW_TRAY_NAME_COLS : room;
        if (tw > 0) {
            screen_draw_text(y, x, name, tw, ROLE_TRAY, CELL_BOLD);
            screen_draw_text(y + 1, x, size, tw, ROLE_TRAY, 0);
            screen_draw_text(y + 2, x, cost, tw, ROLE_TRAY, 0);
        }
        free(name);
        x += tw + 2;
    }
    if (shown < staged) {
        char more[32];
        int w = snprintf(more, sizeof more, "+%d more", staged - shown);
        int mx = COLS - w - 1 > 0 ? COLS - w - 1 : 0;
        screen_draw_text(y, mx, more, COLS - mx, ROLE_TRAY, CELL_BOLD);
    }
}

static void
uidraw_help(ui *u)
{
    cell_lines lines;
    cell_lines_init(&lines);
    help_render(&lines, COLS);
    if (u->help_scroll > lines.n - LINES)
        u->help_scroll = lines.n - LINES > 0 ? lines.n - LINES : 0;
    for (int y = 0; y < LINES; y++) {
        int i = y + u->help_scroll;
        screen_draw_line(y, 0, i < lines.n ? &lines.lines[i] : NULL, COLS, ROLE_NORMAL);
    }
    cell_lines_free(&lines);
}

static void
uidraw_image_overlay(ui *u)
{
    cell_lines lines;
    cell_lines_init(&lines);
    gallery_render(u->gal, u->overlay_image, u->overlay_number, COLS, LINES - 2, &lines);
    for (int y = 0; y < LINES - 1; y++)
        screen_draw_line(y, 0, y < lines.n ? &lines.lines[y] : NULL, COLS, ROLE_NORMAL);
    screen_fill(LINES - 1, 0, COLS, ROLE_STATUS);
    screen_draw_text(LINES - 1, 1, "any key goes back to the chat", COLS - 1, ROLE_STATUS, 0);
    cell_lines_free(&lines);
}

void
uidraw_frame(ui *u)
{
    screen_begin_frame();
    if (LINES < 6 || COLS < 20) {
        erase();
        screen_draw_text(0, 0, "terminal too small", COLS, ROLE_ERROR, 0);
        refresh();
        return;
    }
    u->last_draw = ui_now_ms();
    u->dirty = 0;
    if (u->overlay != UI_OVERLAY_NONE) {
        curs_set(0);
        if (u->overlay == UI_OVERLAY_HELP)
            uidraw_help(u);
        else
            uidraw_image_overlay(u);
        refresh();
        return;
    }
    /* bottom up: status, input, tray, separator; the transcript takes what is left */
    int status_rows = uidraw_status_rows(u);
    int status_y = LINES - status_rows;
    cell_lines in_lines;
    cell_lines_init(&in_lines);
    int crow = 0, ccol = 0;
    int max_rows = UI_INPUT_MAX_ROWS < LINES / 3 ? UI_INPUT_MAX_ROWS : LINES / 3;
    input_layout(u->in, COLS - 2, max_rows > 0 ? max_rows : 1, &in_lines, &crow, &ccol);
    int input_rows = in_lines.n > 0 ? in_lines.n : 1;
    int input_y = status_y - input_rows;
    int tray_rows = u->snap->doc.nstaged > 0 ? UI_TRAY_ROWS : 0;
    int tray_y = input_y - tray_rows;
    int sep_y = tray_y - 1;
    int height = sep_y;

    /* a new terminal height gives the images a new box: render them again */
    if (u->image_rows != uidraw_image_rows()) {
        u->image_rows = uidraw_image_rows();
        transcript_invalidate_images(u->tr);
    }
    transcript_layout(u->tr, COLS, height);
    int nimages = gallery_count(u->gal);
    int *tops = xreallocarray(NULL, (size_t)nimages + 1, sizeof *tops);
    for (int i = 0; i < nimages; i++)
        tops[i] = -1;
    for (int y = 0; y < height; y++) {
        const cell_line *line = transcript_view_line(u->tr, y);
        screen_draw_line(y, 0, line, COLS, ROLE_NORMAL);
        if (line != NULL && line->n > 0 && (line->cells[0].attr & CELL_IMAGE_MARK) &&
            line->cells[0].fg >= 0 && line->cells[0].fg < nimages)
            tops[line->cells[0].fg] = y;
    }

    cell_line sep = {NULL, 0};
    int below = transcript_lines_below(u->tr);
    for (int x = 0; x < COLS; x++)
        sanitize_line_append(&sep, "─", ROLE_BORDER, 0);
    screen_draw_line(sep_y, 0, &sep, COLS, ROLE_BORDER);
    free(sep.cells);
    if (below > 0) {
        char more[64];
        snprintf(more, sizeof more, " %d more lines below (End) ", below);
        int w = (int)strlen(more);
        screen_draw_text(sep_y, COLS - w - 1, more, w, ROLE_BORDER, 0);
    }
    if (tray_rows > 0)
        uidraw_tray(u, tray_y);
    for (int r = 0; r < input_rows; r++) {
        screen_draw_text(input_y + r, 0, r == 0 ? (ui_busy(u) ? "· " : "> ") : "  ", 2, ROLE_PROMPT, 0);
        screen_draw_line(input_y + r, 2, r < in_lines.n ? &in_lines.lines[r] : NULL, COLS - 2,
                         ROLE_INPUT);
    }
    cell_lines_free(&in_lines);
    uidraw_status(u, status_y, status_rows);
    move(input_y + crow, 2 + ccol);
    curs_set(1);
    /* sixel pixels are erased only by repainting: repaint all when the images moved */
    int moved = u->image_tops == NULL || u->nimage_tops != nimages ||
                memcmp(u->image_tops, tops, (size_t)nimages * sizeof *tops) != 0;
    if (moved && gallery_mode_of(u->gal) == GALLERY_SIXEL)
        clearok(curscr, TRUE);
    refresh();
    if (moved)
        gallery_overlay(u->gal, tops, nimages, 0, uidraw_image_cols(COLS), u->image_rows, height);
    free(u->image_tops);
    u->image_tops = tops;
    u->nimage_tops = nimages;
}
