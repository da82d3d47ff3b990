/* config.json through config_load: types, ranges and the derived sizes it checks. */
#include "config.h"

#include <stdlib.h>

#include "fuzztarget.h"
#include "model_config.h"

FUZZ_TARGET(config, data, size)
{
    fuzzutil_write("config.json", data, size);
    imp_config cfg;
    char *cause = NULL;
    if (config_load(&cfg, fuzzutil_scratch_dir(), &cause) == 0) {
        /* what the model code divides by and allocates with */
        FUZZ_CHECK(cfg.heads > 0 && cfg.hidden > 0 && cfg.head_dim * cfg.heads == cfg.hidden);
        FUZZ_CHECK(cfg.vis_heads > 0 && cfg.vis_patch > 0 && cfg.vis_grid > 0);
        FUZZ_CHECK(cfg.layers > 0 && cfg.vocab > 0 && cfg.context > 0);
    } else {
        FUZZ_CHECK(cause != NULL);
    }
    free(cause);
    return 0;
}
