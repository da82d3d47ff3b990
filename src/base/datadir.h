/* Where the program's data files are: installed, or the source tree of an uninstalled build. */
#ifndef IMP_DATADIR_H
#define IMP_DATADIR_H

/* Whether this executable runs from the build folder it was built in (not installed). */
int datadir_uninstalled(void);
/*
 * The path of a data file or folder: the source tree's source_rel for an uninstalled build, else
 * the installed installed_rel under the data folder. New string.
 */
char *datadir_path_new(const char *installed_rel, const char *source_rel);

#endif
