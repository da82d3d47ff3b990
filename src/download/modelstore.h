/*
 * Where the model is: a -m value, the config file's model setting, $IMP_CHAT_MODEL, a Hugging Face
 * cache snapshot (used in place) and imp-chat's own store, looked at in that order, and what makes
 * a folder complete. Nothing here touches the network.
 */
#ifndef IMP_MODELSTORE_H
#define IMP_MODELSTORE_H

#include <stddef.h>

/* The model imp-chat is made for, and the revision used when none is named. */
#define MODELSTORE_DEFAULT_ID "MILVLG/imp-v1-3b"
#define MODELSTORE_DEFAULT_REV "main"

typedef enum {
    MODELSTORE_OPTION,   /* -m */
    MODELSTORE_CONFIG,   /* the config file's model setting */
    MODELSTORE_ENV,      /* $IMP_CHAT_MODEL */
    MODELSTORE_HF_CACHE, /* a snapshot in the Hugging Face cache */
    MODELSTORE_STORE,    /* imp-chat's own store under $XDG_DATA_HOME */
    MODELSTORE_DEMO,     /* the tiny demo model (--demo) */
} modelstore_source;

/*
 * What a lookup found: a folder and where it was, or (dir NULL) the hub id and revision to
 * download, source then naming the setting that gave the id (MODELSTORE_STORE: the default).
 */
typedef struct {
    char *dir;
    modelstore_source source;
    char *id;  /* OWNER/NAME */
    char *rev; /* branch, tag or commit */
} modelstore_result;

/* One place looked at, for --list-models. */
typedef struct {
    modelstore_source source;
    char *place;  /* the folder, or the setting's value (NULL: not set) */
    char *status; /* "complete", "incomplete: ...", "not set", "nothing there", ... */
    char *dir;    /* the usable folder when complete, else NULL */
} modelstore_entry;

/*
 * Files a complete model folder holds besides the weights, NULL-terminated: the configuration and
 * the tokenizer files (tokenizer_config.json says which added tokens are special).
 */
extern const char *const modelstore_required_files[];

/* Name of a source for messages ("the Hugging Face cache", ...). */
const char *modelstore_source_name(modelstore_source source);
/*
 * Split a hub id "OWNER/NAME[@REV]" into *id and *rev (REV defaults to main). Returns 0, or -1
 * (nothing allocated) when s does not have that form.
 */
int modelstore_parse_id(const char *s, char **id, char **rev);
/*
 * Check that dir holds a complete model: config.json, the tokenizer files and every shard the
 * index names (or model.safetensors), following symbolic links. Returns 0, or -1 with *reason
 * saying what is missing or broken.
 */
int modelstore_check_dir(const char *dir, char **reason);
/* The Hugging Face hub cache: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub. */
char *modelstore_hf_cache(void);
/* imp-chat's folder for a hub id and revision: $XDG_DATA_HOME/imp-chat/models/NAME... */
char *modelstore_store_dir(const char *id, const char *rev);
/*
 * Look for a complete copy of id@rev, first in the Hugging Face cache, then in the store. Returns
 * the folder (new string) and its source, or NULL.
 */
char *modelstore_find_id(const char *id, const char *rev, modelstore_source *source);
/*
 * Resolve a value given by source (-m, the config file or $IMP_CHAT_MODEL): a path that exists is
 * used as given, else a hub id is looked up. Returns 0 with res filled (res->dir NULL: not found,
 * download res->id), or -1 with *cause when the value is neither.
 */
int modelstore_resolve(const char *value, modelstore_source source, modelstore_result *res,
                       char **cause);
/*
 * Find the model without -m: config_model (the config file's setting, NULL when unset), then
 * $IMP_CHAT_MODEL, then the default model in the Hugging Face cache and in the store. Returns 0
 * with res filled as by modelstore_resolve, or -1 with *cause for a setting that points nowhere.
 */
int modelstore_find(const char *config_model, modelstore_result *res, char **cause);
/* Free what a result holds. */
void modelstore_result_free(modelstore_result *res);
/*
 * Every place the lookup would look, in order, for option (-m, may be NULL) and config_model:
 * one entry per setting, per cache snapshot and per store folder. Returns the array, *n entries.
 */
modelstore_entry *modelstore_list(const char *option, const char *config_model, size_t *n);
/* Free a list from modelstore_list. */
void modelstore_list_free(modelstore_entry *entries, size_t n);
/*
 * The tiny demo model: installed under the data folder, or, for an uninstalled build, in the source
 * tree next to the executable. Returns the folder, or NULL with *cause naming where it looked.
 */
char *modelstore_demo_dir(char **cause);

#endif
