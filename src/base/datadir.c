#include "config.h"

#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datadir.h"
#include "xmalloc.h"

int
datadir_uninstalled(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return 0;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash == NULL)
        return 0;
    *slash = '\0';
    /* the same folder, whatever path leads to it; test programs sit one level down */
    struct stat se, sb, sp;
    if (stat(IMP_BUILD_DIR, &sb) != 0 || stat(exe, &se) != 0)
        return 0;
    if (se.st_dev == sb.st_dev && se.st_ino == sb.st_ino)
        return 1;
    slash = strrchr(exe, '/');
    if (slash == NULL)
        return 0;
    *slash = '\0';
    return stat(exe, &sp) == 0 && sp.st_dev == sb.st_dev && sp.st_ino == sb.st_ino;
}

char *
datadir_path_new(const char *installed_rel, const char *source_rel)
{
    if (datadir_uninstalled())
        return xasprintf("%s/%s", IMP_SOURCE_DIR, source_rel);
    return xasprintf("%s/%s", IMP_DATADIR, installed_rel);
}
