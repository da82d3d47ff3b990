#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "progressbar.h"
#include "safetext.h"
#include "xmalloc.h"

/* Redraw at most this often (seconds), and measure the speed over at least this long. */
#define PROGRESSBAR_REDRAW 0.1
#define PROGRESSBAR_SAMPLE 0.5
/* Longest file name shown in the bar before it is shortened. */
#define PROGRESSBAR_NAME 34

struct progressbar {
    FILE *f;
    int tty;
    int drawn;              /* a bar is on the current line */
    double last_draw;
    double rate;            /* bytes per second, smoothed; 0 until measured */
    double sample_time;     /* start of the current speed sample */
    uint64_t sample_bytes;  /* total_done at that time */
    double file_start;
    download_progress last; /* for redrawing after a line */
};

static double
progressbar_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

progressbar *
progressbar_new(FILE *f)
{
    progressbar *b = xcalloc(1, sizeof *b);
    b->f = f;
    b->tty = isatty(fileno(f));
    return b;
}

static int
progressbar_columns(const progressbar *b)
{
    struct winsize ws;
    if (ioctl(fileno(b->f), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
        return ws.ws_col;
    return 80;
}

static void
progressbar_erase(progressbar *b)
{
    if (b->drawn) {
        fputs("\r\033[K", b->f);
        b->drawn = 0;
    }
}

/* "1h02m", "3m07s", "12s". */
static void
progressbar_format_time(char *buf, size_t cap, double seconds)
{
    long s = (long)(seconds + 0.5);
    if (s >= 3600)
        snprintf(buf, cap, "%ldh%02ldm", s / 3600, s / 60 % 60);
    else if (s >= 60)
        snprintf(buf, cap, "%ldm%02lds", s / 60, s % 60);
    else
        snprintf(buf, cap, "%lds", s);
}

static void
progressbar_draw(progressbar *b)
{
    const download_progress *p = &b->last;
    char done[16], total[16], speed[16], left[48], right[128], name[PROGRESSBAR_NAME + 4];
    int cols = progressbar_columns(b);
    int pct = p->total_size > 0 ? (int)(p->total_done * 100 / p->total_size) : 100;

    /* a file name from the hub: escaped, then cut (an escape may be cut, never sent) */
    char *safe = safetext_new(p->name, strlen(p->name), 0);
    if (strlen(safe) > PROGRESSBAR_NAME)
        snprintf(name, sizeof name, "%.*s...", PROGRESSBAR_NAME - 3, safe);
    else
        snprintf(name, sizeof name, "%s", safe);
    free(safe);
    download_format_bytes(done, sizeof done, p->total_done);
    download_format_bytes(total, sizeof total, p->total_size);
    if (p->event == DOWNLOAD_CHECK) {
        snprintf(right, sizeof right, "%3d%%  checking %" PRIu64 "%% of the file", pct,
                 p->file_size > 0 ? p->file_done * 100 / p->file_size : 100);
    } else if (b->rate > 0) {
        download_format_bytes(speed, sizeof speed, (uint64_t)b->rate);
        progressbar_format_time(left, sizeof left,
                                (double)(p->total_size - p->total_done) / b->rate);
        snprintf(right, sizeof right, "%3d%%  %s / %s  %s/s  %s left", pct, done, total, speed,
                 left);
    } else {
        snprintf(right, sizeof right, "%3d%%  %s / %s", pct, done, total);
    }
    char head[PROGRESSBAR_NAME + 32];
    snprintf(head, sizeof head, "[%d/%d] %s", p->index, p->count, name);
    int width = cols - 1 - (int)strlen(head) - (int)strlen(right) - 4;
    fputs("\r\033[K", b->f);
    if (width >= 10) {
        int fill = (int)((long)width * pct / 100);
        fprintf(b->f, "%s [", head);
        for (int i = 0; i < width; i++)
            fputc(i < fill ? '#' : i == fill ? '>' : ' ', b->f);
        fprintf(b->f, "] %s", right);
    } else {
        fprintf(b->f, "%.*s", cols - 1, right);
    }
    fflush(b->f);
    b->drawn = 1;
    b->last_draw = progressbar_now();
}

/* Start a new speed sample at the current position (hashing is not network speed). */
static void
progressbar_sample_reset(progressbar *b, const download_progress *p)
{
    b->sample_time = progressbar_now();
    b->sample_bytes = p->total_done;
}

static void
progressbar_sample(progressbar *b, const download_progress *p)
{
    double now = progressbar_now(), dt = now - b->sample_time;
    if (dt < PROGRESSBAR_SAMPLE || p->total_done < b->sample_bytes)
        return;
    double inst = (double)(p->total_done - b->sample_bytes) / dt;
    b->rate = b->rate > 0 ? 0.7 * b->rate + 0.3 * inst : inst;
    b->sample_time = now;
    b->sample_bytes = p->total_done;
}

/* A permanent line (above the bar on a terminal); file names from the hub are escaped. */
static void
progressbar_line(progressbar *b, const char *text)
{
    char *safe = safetext_new(text, strlen(text), 0);
    progressbar_erase(b);
    fprintf(b->f, "imp-chat: %s\n", safe);
    free(safe);
    fflush(b->f);
}

void
progressbar_update(void *ctx, const download_progress *p)
{
    progressbar *b = ctx;
    char size[16], speed[16], from[16], *line;
    double now = progressbar_now();
    if (p->event != DOWNLOAD_NOTE)
        b->last = *p;
    switch (p->event) {
    case DOWNLOAD_START:
        b->file_start = now;
        progressbar_sample_reset(b, p);
        break;
    case DOWNLOAD_DATA:
        progressbar_sample(b, p);
        break;
    case DOWNLOAD_CHECK:
        progressbar_sample_reset(b, p);
        break;
    case DOWNLOAD_DONE: {
        double secs = now - b->file_start;
        uint64_t got = p->file_size - p->resumed_from;
        download_format_bytes(size, sizeof size, p->file_size);
        download_format_bytes(speed, sizeof speed, secs > 0 ? (uint64_t)((double)got / secs) : got);
        download_format_bytes(from, sizeof from, p->resumed_from);
        line = p->resumed_from > 0
                   ? xasprintf("[%d/%d] %s: %s, resumed from %s, %.1f s (%s/s)", p->index,
                               p->count, p->name, size, from, secs, speed)
                   : xasprintf("[%d/%d] %s: %s in %.1f s (%s/s)", p->index, p->count, p->name,
                               size, secs, speed);
        progressbar_line(b, line);
        free(line);
        progressbar_sample_reset(b, p);
        break;
    }
    case DOWNLOAD_PRESENT:
        download_format_bytes(size, sizeof size, p->file_size);
        line = xasprintf("[%d/%d] %s: %s, already there and verified", p->index, p->count,
                         p->name, size);
        progressbar_line(b, line);
        free(line);
        progressbar_sample_reset(b, p);
        break;
    case DOWNLOAD_NOTE:
        progressbar_line(b, p->note);
        break;
    }
    if (!b->tty || b->last.name == NULL || p->event == DOWNLOAD_DONE ||
        p->event == DOWNLOAD_PRESENT)
        return;
    if (p->event != DOWNLOAD_DATA && p->event != DOWNLOAD_CHECK)
        progressbar_draw(b);
    else if (now - b->last_draw >= PROGRESSBAR_REDRAW)
        progressbar_draw(b);
}

void
progressbar_end(progressbar *b)
{
    progressbar_erase(b);
    fflush(b->f);
}

void
progressbar_free(progressbar *b)
{
    if (b == NULL)
        return;
    progressbar_end(b);
    free(b);
}
