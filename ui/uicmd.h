/* The chat's commands (/image, /set, /regen, ...) and Tab completion. */
#ifndef IMP_UICMD_H
#define IMP_UICMD_H

#include "uistate.h"

/* Enter: run the editor's /command, or send its text as a message. */
void uicmd_enter(ui *u);
/* Tab: complete a /command name or a path after /image. */
void uicmd_complete(ui *u);

#endif
