#include "config.h"

#define _XOPEN_SOURCE_EXTENDED 1
#include <ncurses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actions.h"
#include "keys.h"
#include "log.h"
#include "xmalloc.h"

typedef struct {
    const char *name;
    const char *keys;
    const char *help;
} actions_entry;

static const actions_entry actions_table[] = {
#define ACTIONS_ENTRY(id, name, keys, help) {name, keys, help},
    ACTIONS(ACTIONS_ENTRY)
#undef ACTIONS_ENTRY
};

typedef struct {
    int key;
    action act;
} actions_binding;

static actions_binding *actions_bindings;
static int actions_nbindings;

static void
actions_set(int key, action a)
{
    for (int i = 0; i < actions_nbindings; i++)
        if (actions_bindings[i].key == key) {
            actions_bindings[i].act = a;
            return;
        }
    actions_bindings = xreallocarray(actions_bindings, (size_t)actions_nbindings + 1,
                                     sizeof *actions_bindings);
    actions_bindings[actions_nbindings++] = (actions_binding){key, a};
}

void
actions_init(void)
{
    actions_nbindings = 0;
    for (int a = 0; a < ACTION_COUNT; a++) {
        char *keys = xstrdup(actions_table[a].keys);
        for (char *save = NULL, *k = strtok_r(keys, " ", &save); k != NULL;
             k = strtok_r(NULL, " ", &save)) {
            int key;
            /* a key this terminal does not have (no C-Left in terminfo) is simply not bound */
            if (keys_parse(k, &key) == 0)
                actions_set(key, (action)a);
        }
        free(keys);
    }
    /* terminals send DEL or ^H for Backspace whatever terminfo says */
    actions_set(127, ACTION_DELETE_BACK);
    actions_set(KEYS_META | 127, ACTION_KILL_WORD);
    actions_set('\n', ACTION_NEWLINE);
    actions_set(KEYS_CODE | KEY_F(1), ACTION_HELP);
}

int
actions_bind(const char *spec, char **cause)
{
    char key_name[64], act_name[64];
    if (sscanf(spec, "%63s %63s", key_name, act_name) != 2)
        return log_cause(cause, "bind: expected \"bind KEY ACTION\", got \"%s\"", spec);
    int key;
    if (keys_parse(key_name, &key) != 0)
        return log_cause(cause, "bind: unknown key \"%s\" (examples: C-a, M-x, F2, PageUp, Enter)",
                         key_name);
    if (strcmp(act_name, "none") == 0) {
        actions_set(key, ACTION_NONE);
        return 0;
    }
    for (int a = 0; a < ACTION_COUNT; a++)
        if (strcmp(act_name, actions_table[a].name) == 0) {
            actions_set(key, (action)a);
            return 0;
        }
    return log_cause(cause, "bind: unknown action \"%s\" (see /help)", act_name);
}

action
actions_lookup(int key)
{
    for (int i = 0; i < actions_nbindings; i++)
        if (actions_bindings[i].key == key)
            return actions_bindings[i].act;
    return ACTION_NONE;
}

const char *
actions_name(action a)
{
    return actions_table[a].name;
}

const char *
actions_help(action a)
{
    return actions_table[a].help;
}

/* Whether name is already an item of the ", "-separated list. */
static int
actions_keys_listed(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; *p != '\0';) {
        const char *end = strstr(p, ", ");
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0)
            return 1;
        if (end == NULL)
            break;
        p = end + 2;
    }
    return 0;
}

char *
actions_keys(action a, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < actions_nbindings; i++) {
        if (actions_bindings[i].act != a)
            continue;
        char name[64];
        keys_name(actions_bindings[i].key, name, sizeof name);
        /* two codes can share a name (KEY_BACKSPACE and DEL are both Backspace): list it once */
        if (actions_keys_listed(buf, name))
            continue;
        int n = snprintf(buf + len, size - len, "%s%s", len ? ", " : "", name);
        if (n < 0 || (size_t)n >= size - len)
            break;
        len += (size_t)n;
    }
    return buf;
}
