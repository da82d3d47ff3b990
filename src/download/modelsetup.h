/*
 * Getting the model in place: the folder for a chat or one-shot run (found by modelstore, else
 * downloaded once the user agrees), imp-chat --download and imp-chat --list-models.
 */
#ifndef IMP_MODELSETUP_H
#define IMP_MODELSETUP_H

#include <stdio.h>

#include "modelstore.h"

/* Exit status after a download was interrupted with Ctrl-C (128 + SIGINT, as shells report it). */
#define MODELSETUP_EXIT_INTERRUPTED 130

typedef struct {
    const char *model;        /* the -m value, or NULL */
    const char *config_model; /* the config file's model setting, or NULL when unset */
    int yes;                  /* --yes: download without asking */
    volatile int *cancel;     /* set on SIGINT; stops a download cleanly */
} modelsetup_options;

/*
 * The model folder to load: the -m value, else the lookup order of modelstore_find. When the model
 * is not there, ask (stdin and stderr are terminals) or go ahead (--yes) and download it into the
 * store. Returns the folder (new string) with *source, or NULL with *cause.
 */
char *modelsetup_model_dir(const modelsetup_options *o, modelstore_source *source, char **cause);
/*
 * imp-chat --download [ID[@REV]] (NULL: the default model): download into the store, or say that
 * the Hugging Face cache already holds it. Returns 0, or -1 with *cause.
 */
int modelsetup_download(const char *id_rev, volatile int *cancel, char **cause);
/* imp-chat --list-models: one line per place looked at, marking the folder that would be used. */
void modelsetup_list(FILE *out, const char *model, const char *config_model);

#endif
