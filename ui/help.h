/* The help screen, generated from the command list and the key bindings in force. */
#ifndef IMP_HELP_H
#define IMP_HELP_H

#include "cells.h"

/* Append the help text for a screen width columns wide to out. */
void help_render(cell_lines *out, int width);

#endif
