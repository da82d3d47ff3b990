#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "xmalloc.h"

typedef struct {
    char *text;
    char *reply;
} chat_turn;

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

void
chat_clear(chat *c)
{
    for (int i = 0; i < c->nturns; i++) {
        free(c->turns[i].text);
        free(c->turns[i].reply);
    }
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

char *
chat_prompt_new(const chat *c, const char *text, int nimages)
{
    static const char marker[] = "<image>\n";
    size_t len = strlen(c->system) + strlen(text) + (size_t)nimages * (sizeof marker - 1) + 32;
    char *p = xmalloc(len);
    size_t off = 0;
    if (c->nturns == 0)
        off += (size_t)snprintf(p, len, "%s USER: ", c->system);
    else
        off += (size_t)snprintf(p, len, "USER: ");
    for (int i = 0; i < nimages; i++)
        off += (size_t)snprintf(p + off, len - off, "%s", marker);
    snprintf(p + off, len - off, "%s ASSISTANT:", text);
    return p;
}

void
chat_add_turn(chat *c, const char *text, const char *reply)
{
    c->turns = xreallocarray(c->turns, (size_t)c->nturns + 1, sizeof *c->turns);
    c->turns[c->nturns].text = xstrdup(text);
    c->turns[c->nturns].reply = xstrdup(reply);
    c->nturns++;
}
