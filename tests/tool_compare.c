/*
 * Comparisons for the shell tests:
 *   tool_compare floats GOT WANT TOL      float32 files, relative error max|a-b|/max|b| <= TOL
 *   tool_compare png GOT WANT MAXDIFF     8-bit images of the same size, max level difference
 *   tool_compare ids EXPECTED.json CASE TURN   print a fixture case's generated ids
 *   tool_compare prompt-len EXPECTED.json CASE TURN   print its prompt ids count
 */
#include "config.h"

#include <jansson.h>
#include <stb_image.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static int
compare_floats(const char *got_path, const char *want_path, double tol)
{
    size_t ng, nw;
    char *g = testutil_read_file(got_path, &ng), *w = testutil_read_file(want_path, &nw);
    if (g == NULL || w == NULL || ng != nw || ng % 4 != 0) {
        fprintf(stderr, "%s and %s: missing or of different sizes\n", got_path, want_path);
        return 1;
    }
    int ok = testutil_close(got_path, (float *)g, (float *)w, ng / 4, tol);
    free(g);
    free(w);
    return ok ? 0 : 1;
}

static int
compare_png(const char *got_path, const char *want_path, int maxdiff)
{
    int gw, gh, gc, ww, wh, wc;
    unsigned char *g = stbi_load(got_path, &gw, &gh, &gc, 3);
    unsigned char *w = stbi_load(want_path, &ww, &wh, &wc, 3);
    if (g == NULL || w == NULL || gw != ww || gh != wh) {
        fprintf(stderr, "%s and %s: unreadable or of different sizes\n", got_path, want_path);
        return 1;
    }
    int worst = 0;
    for (size_t i = 0; i < (size_t)gw * gh * 3; i++) {
        int d = abs((int)g[i] - (int)w[i]);
        if (d > worst)
            worst = d;
    }
    stbi_image_free(g);
    stbi_image_free(w);
    if (worst > maxdiff) {
        fprintf(stderr, "%s: differs from %s by up to %d levels (allowed %d)\n", got_path,
                want_path, worst, maxdiff);
        return 1;
    }
    return 0;
}

static int
print_case(const char *path, const char *name, int turn, const char *key)
{
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    size_t i;
    json_t *c;
    if (root == NULL)
        return 2;
    json_array_foreach(json_object_get(root, "cases"), i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, "name")), name) != 0)
            continue;
        json_t *ids = json_object_get(json_array_get(json_object_get(c, "turns"), (size_t)turn), key);
        if (strcmp(key, "prompt_ids") == 0) {
            printf("%zu\n", json_array_size(ids));
        } else {
            size_t k;
            json_t *v;
            json_array_foreach(ids, k, v) printf("%s%lld", k ? " " : "", json_integer_value(v));
            printf("\n");
        }
        json_decref(root);
        return 0;
    }
    json_decref(root);
    return 2;
}

int
main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "floats") == 0)
        return compare_floats(argv[2], argv[3], atof(argv[4]));
    if (argc == 5 && strcmp(argv[1], "png") == 0)
        return compare_png(argv[2], argv[3], atoi(argv[4]));
    if (argc == 5 && strcmp(argv[1], "ids") == 0)
        return print_case(argv[2], argv[3], atoi(argv[4]), "generated_ids");
    if (argc == 5 && strcmp(argv[1], "prompt-len") == 0)
        return print_case(argv[2], argv[3], atoi(argv[4]), "prompt_ids");
    fprintf(stderr, "usage: tool_compare floats|png|ids|prompt-len ...\n");
    return 2;
}
