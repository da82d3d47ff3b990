#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "log.h"
#include "pathcomplete.h"
#include "xmalloc.h"

void
commands_init(commands_state *st, engine *eng, int max_tokens, FILE *out)
{
    memset(st, 0, sizeof *st);
    st->eng = eng;
    st->max_tokens = max_tokens;
    st->out = out;
}

void
commands_free(commands_state *st)
{
    free(st->staged);
    st->staged = NULL;
    st->nstaged = 0;
}

typedef struct {
    commands_state *st;
    int started; /* leading whitespace of a reply is dropped, as the reference strips it */
    int32_t *ids;
    size_t nids;
} commands_reply;

static int
commands_on_token(void *ctx, int32_t id, const char *text, size_t len)
{
    commands_reply *r = ctx;
    if (id >= 0) {
        r->ids = xreallocarray(r->ids, r->nids + 1, sizeof *r->ids);
        r->ids[r->nids++] = id;
    }
    if (r->st->print_ids)
        return 0;
    if (!r->started) {
        while (len > 0 && isspace((unsigned char)*text)) {
            text++;
            len--;
        }
        if (len == 0)
            return 0;
        r->started = 1;
    }
    fwrite(text, 1, len, r->st->out);
    fflush(r->st->out);
    return 0;
}

static const char *
commands_stop_name(engine_stop stop)
{
    switch (stop) {
    case ENGINE_STOP_EOS:
        return "end of reply";
    case ENGINE_STOP_LENGTH:
        return "length limit";
    case ENGINE_STOP_CANCEL:
        return "stopped";
    case ENGINE_STOP_CONTEXT:
        return "context full";
    }
    return "?";
}

static void commands_reply_end(commands_state *st, commands_reply *r, const engine_stats *stats);

int
commands_send(commands_state *st, const char *text, char **cause)
{
    commands_reply r = {st, 0, NULL, 0};
    engine_stats s;
    engine_room_plan plan;
    int fit = engine_plan_room(st->eng, text, st->nstaged, &plan, cause);
    if (fit < 0)
        return -1;
    if (fit > 0) {
        /* never silent: say what leaves the context before it goes */
        char *what = commands_room_text_new(&plan);
        fprintf(stderr, "imp-chat: context full: dropping %s to make room\n", what);
        free(what);
        engine_make_room(st->eng, &plan, NULL);
    }
    if (engine_send(st->eng, text, st->staged, st->nstaged, st->max_tokens, commands_on_token, &r,
                    st->cancel, &s, cause) != 0)
        return -1;
    st->nstaged = 0;
    commands_reply_end(st, &r, &s);
    return 0;
}

/* Generate the last reply again. */
static int
commands_regen(commands_state *st, char **cause)
{
    commands_reply r = {st, 0, NULL, 0};
    engine_stats s;
    if (engine_regen(st->eng, st->max_tokens, commands_on_token, &r, st->cancel, &s, cause) != 0)
        return -1;
    commands_reply_end(st, &r, &s);
    return 0;
}

char *
commands_room_text_new(const engine_room_plan *plan)
{
    if (plan->images > 0 && plan->turns > 0)
        return xasprintf("the oldest %d image(s) and the oldest %d turn(s)", plan->images,
                         plan->turns);
    if (plan->images > 0)
        return xasprintf("the oldest %d image(s)", plan->images);
    return xasprintf("the oldest %d turn(s)", plan->turns);
}

/* Finish a reply: its ids when asked for, the newline, and the statistics line. */
static void
commands_reply_end(commands_state *st, commands_reply *r, const engine_stats *stats)
{
    const engine_stats *sp = stats;
    engine_stats s = *sp;
    if (st->print_ids) {
        for (size_t i = 0; i < r->nids; i++)
            fprintf(st->out, "%s%d", i ? " " : "", r->ids[i]);
    }
    fputc('\n', st->out);
    fflush(st->out);
    free(r->ids);
    if (st->stats) {
        double tps = engine_stats_tokens_per_s(&s);
        fprintf(stderr,
                "imp-chat: turn: reused %d positions, new %d positions, %d image(s) encoded in "
                "%.1f ms, prefill %.1f ms, first token %.1f ms, %d tokens at %.2f tokens/s (%s), "
                "%d of %d positions used\n",
                s.reused, s.new_positions, s.images_encoded, s.encode_ms, s.prefill_ms,
                s.first_token_ms, s.generated, tps, commands_stop_name(s.stop),
                engine_positions_used(st->eng), engine_context(st->eng));
    }
}

int
commands_parse_set(const char *args, sampler_params *p, int *max_tokens, char **cause)
{
    char key[32];
    const char *value;
    size_t klen = strcspn(args, " \t");
    if (klen == 0 || klen >= sizeof key)
        return log_cause(cause, "usage: /set max-tokens|temp|top-p|top-k|repeat-penalty|seed VALUE");
    memcpy(key, args, klen);
    key[klen] = '\0';
    value = args + klen + strspn(args + klen, " \t");
    if (*value == '\0')
        return log_cause(cause, "/set %s needs a value", key);
    char *end;
    errno = 0;
    double v = strtod(value, &end);
    if (errno != 0 || end == value || *end != '\0' || !isfinite(v))
        return log_cause(cause, "/set %s: \"%s\" is not a number", key, value);
    static const char *const names[] = {"max-tokens", "temp", "top-p", "top-k", "repeat-penalty",
                                        "seed"};
    int known = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        known |= strcmp(key, names[i]) == 0;
    if (!known)
        return log_cause(cause, "/set: unknown setting \"%s\" (max-tokens, temp, top-p, top-k, "
                                "repeat-penalty, seed)", key);
    if (strcmp(key, "max-tokens") == 0 && v >= 0 && v <= 1e9 && v == floor(v))
        *max_tokens = (int)v;
    else if (strcmp(key, "temp") == 0 && v >= 0 && v <= 100)
        p->temp = (float)v;
    else if (strcmp(key, "top-p") == 0 && v >= 0 && v <= 1)
        p->top_p = (float)v;
    else if (strcmp(key, "top-k") == 0 && v >= 0 && v <= 1e9 && v == floor(v))
        p->top_k = (int)v;
    else if (strcmp(key, "repeat-penalty") == 0 && v >= 0.01 && v <= 100)
        p->repeat_penalty = (float)v;
    else if (strcmp(key, "seed") == 0 && v >= 0 && v == floor(v)) {
        p->seed = (uint64_t)v;
        p->seed_set = 1;
    } else
        return log_cause(cause, "/set %s: %s is out of range", key, value);
    return 0;
}

static int
commands_set(commands_state *st, const char *args, char **cause)
{
    sampler_params p = *engine_sampling_borrow(st->eng);
    int max_tokens = st->max_tokens;
    if (commands_parse_set(args, &p, &max_tokens, cause) != 0)
        return -1;
    st->max_tokens = max_tokens;
    engine_set_sampling(st->eng, &p);
    return 0;
}

int
commands_run_line(commands_state *st, const char *line, char **cause)
{
    if (line[0] != '/')
        return commands_send(st, line, cause);

    size_t nlen = strcspn(line, " \t");
    const char *args = line + nlen + strspn(line + nlen, " \t");
    if (strncmp(line, "/image", nlen) == 0 && nlen == 6) {
        if (*args == '\0')
            return log_cause(cause, "usage: /image PATH");
        /* the same path syntax as the chat's /image: quotes, escapes, ~ */
        char *path;
        if (pathcomplete_parse(args, &path, cause) != 0)
            return -1;
        int slot = engine_image_add(st->eng, path, cause);
        free(path);
        if (slot < 0)
            return -1;
        st->staged = xreallocarray(st->staged, (size_t)st->nstaged + 1, sizeof *st->staged);
        st->staged[st->nstaged++] = slot;
        return 0;
    }
    if (strncmp(line, "/set", nlen) == 0 && nlen == 4)
        return commands_set(st, args, cause);
    if (strncmp(line, "/system", nlen) == 0 && nlen == 7) {
        if (*args == '\0')
            return log_cause(cause, "usage: /system TEXT");
        engine_set_system(st->eng, args);
        return 0;
    }
    if (strncmp(line, "/clear", nlen) == 0 && nlen == 6) {
        engine_clear(st->eng);
        st->nstaged = 0;
        return 0;
    }
    if (strncmp(line, "/regen", nlen) == 0 && nlen == 6)
        return commands_regen(st, cause);
    if (strncmp(line, "/quit", nlen) == 0 && nlen == 5) {
        st->quit = 1;
        return 0;
    }
    return log_cause(cause, "unknown command \"%.*s\" (commands: /image, /set, /system, /clear, /regen, /quit)",
                     (int)nlen, line);
}
