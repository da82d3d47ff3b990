/* Model hyper-parameters read from config.json (MODEL.md Part A decision 2). */
#ifndef IMP_MODEL_CONFIG_H
#define IMP_MODEL_CONFIG_H

typedef struct {
    char name[96];     /* config.json's _name_or_path ("MILVLG/Imp-v1-3b"), or "" */
    /* Phi-2 language model */
    int hidden;        /* 2560 */
    int heads;         /* 32 */
    int head_dim;      /* hidden / heads = 80 */
    int layers;        /* 32 */
    int inner;         /* 10240 */
    int rotary_dim;    /* 32 */
    float ln_eps;      /* 1e-5 */
    float rope_theta;  /* 10000 */
    int vocab;         /* rows of embed and lm_head: 51200 */
    int eos_id;        /* 50295 */
    int image_token;   /* 50296 */
    int context;       /* tokenizer_model_max_length: 3072 */
    /* SigLIP vision tower */
    int vis_hidden;      /* 1152 */
    int vis_heads;       /* 16 */
    int vis_head_dim;    /* 72 */
    int vis_inner;       /* 4304 */
    int vis_layers;      /* layers used: num_hidden_layers + select_layer + 1 = 26 */
    int vis_image;       /* 384 */
    int vis_patch;       /* 14 */
    int vis_grid;        /* image / patch = 27 */
    int vis_patches;     /* grid * grid = 729 */
    float vis_ln_eps;    /* 1e-6 */
    /* projector */
    int mm_hidden;       /* 1152, must equal vis_hidden */
} imp_config;

/* Read DIR/config.json into cfg; -1 with *cause naming the file and the key on failure. */
int config_load(imp_config *cfg, const char *dir, char **cause);
/* Fill cfg with imp-v1-3b's real dimensions (for --synthetic). */
void config_init_default(imp_config *cfg);

#endif
