/* Drawing the chat: transcript, tray, input, status line, and the help and image overlays. */
#ifndef IMP_UIDRAW_H
#define IMP_UIDRAW_H

#include "uistate.h"

/* Draw a whole frame (only what changed reaches the terminal) and run the sixel overlay. */
void uidraw_frame(ui *u);
/* The transcript's callback for image entries: u's image `image` for a transcript width. */
void uidraw_image_entry(void *u, int image, int width, cell_lines *out);

#endif
