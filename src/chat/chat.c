#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "xmalloc.h"

struct chat {
    char *system;
    chat_turn *turns;
    int nturns;
};

chat *
chat_new(const char *system)
{
    chat *c = xcalloc(1, sizeof *c);
    c->system = xstrdup(system != NULL ? system : CHAT_DEFAULT_SYSTEM);
    return c;
}

static void
chat_turn_free(chat_turn *t)
{
    free(t->text);
    free(t->slots);
    free(t->reply);
}

void
chat_clear(chat *c)
{
    for (int i = 0; i < c->nturns; i++)
        chat_turn_free(&c->turns[i]);
    free(c->turns);
    c->turns = NULL;
    c->nturns = 0;
}

void
chat_free(chat *c)
{
    if (c == NULL)
        return;
    chat_clear(c);
    free(c->system);
    free(c);
}

void
chat_set_system(chat *c, const char *system)
{
    free(c->system);
    c->system = xstrdup(system);
    chat_clear(c);
}

const char *
chat_system_borrow(const chat *c)
{
    return c->system;
}

int
chat_turns(const chat *c)
{
    return c->nturns;
}

chat_turn *
chat_turn_borrow(const chat *c, int i)
{
    return &c->turns[i];
}

char *
chat_prompt_new(const chat *c, int index, const char *text, int nimages)
{
    static const char marker[] = "<image>\n";
    size_t len = strlen(c->system) + strlen(text) + (size_t)nimages * (sizeof marker - 1) + 32;
    char *p = xmalloc(len);
    size_t off = 0;
    if (index == 0)
        off += (size_t)snprintf(p, len, "%s USER: ", c->system);
    else
        off += (size_t)snprintf(p, len, "USER: ");
    for (int i = 0; i < nimages; i++)
        off += (size_t)snprintf(p + off, len - off, "%s", marker);
    snprintf(p + off, len - off, "%s ASSISTANT:", text);
    return p;
}

chat_turn *
chat_add_turn(chat *c, const char *text, const int *slots, int nslots)
{
    c->turns = xreallocarray(c->turns, (size_t)c->nturns + 1, sizeof *c->turns);
    chat_turn *t = &c->turns[c->nturns++];
    memset(t, 0, sizeof *t);
    t->text = xstrdup(text);
    if (nslots > 0) {
        t->slots = xreallocarray(NULL, (size_t)nslots, sizeof *t->slots);
        memcpy(t->slots, slots, (size_t)nslots * sizeof *slots);
    }
    t->nslots = nslots;
    return t;
}

void
chat_push_reply(chat *c, int32_t id)
{
    chat_turn *t = &c->turns[c->nturns - 1];
    /* grow by doubling: replies are appended one id at a time */
    if ((t->nreply & (t->nreply - 1)) == 0)
        t->reply = xreallocarray(t->reply, t->nreply ? t->nreply * 2 : 16, sizeof *t->reply);
    t->reply[t->nreply++] = id;
}

void
chat_clear_reply(chat *c)
{
    chat_turn *t = &c->turns[c->nturns - 1];
    free(t->reply);
    t->reply = NULL;
    t->nreply = 0;
}

int
chat_drop_oldest_image(chat *c)
{
    for (int i = 0; i < c->nturns; i++) {
        chat_turn *t = &c->turns[i];
        if (t->nslots > 0) {
            memmove(t->slots, t->slots + 1, (size_t)(t->nslots - 1) * sizeof *t->slots);
            t->nslots--;
            return 1;
        }
    }
    return 0;
}

int
chat_drop_oldest_turn(chat *c)
{
    if (c->nturns == 0)
        return 0;
    chat_turn_free(&c->turns[0]);
    memmove(c->turns, c->turns + 1, (size_t)(c->nturns - 1) * sizeof *c->turns);
    c->nturns--;
    return 1;
}

int
chat_drop_last_turn(chat *c)
{
    if (c->nturns == 0)
        return 0;
    chat_turn_free(&c->turns[--c->nturns]);
    return 1;
}

chat *
chat_copy_new(const chat *c)
{
    chat *copy = chat_new(c->system);
    for (int i = 0; i < c->nturns; i++) {
        const chat_turn *t = &c->turns[i];
        chat_add_turn(copy, t->text, t->slots, t->nslots);
        for (size_t k = 0; k < t->nreply; k++)
            chat_push_reply(copy, t->reply[k]);
    }
    return copy;
}
