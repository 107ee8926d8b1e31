/*
 * driver.c -- a plain main() for the fuzz targets when libFuzzer is not
 * there (the gcc builds): runs LLVMFuzzerTestOneInput once over every
 * file named on the command line, or in a directory named there (not
 * recursively), so CTest replays each committed corpus in every build.
 * Owns nothing past one file's bytes, freed after its run.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Read the whole file at path into a new malloc'd buffer (*len bytes; the
 * caller frees it).  Returns NULL with a message on stderr. */
static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    long n;

    if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
        !(buf = malloc((size_t)n + 1)) || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "fuzz driver: cannot read %s\n", path);
        free(buf);
        if (f)
            fclose(f);
        return NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Run the target over one file.  Returns 0, or -1 if it cannot be read. */
static int run_file(const char *path)
{
    size_t len;
    uint8_t *buf = read_all(path, &len);

    if (!buf)
        return -1;
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    return 0;
}

/* scandir's filter: every entry but "." and "..". */
static int not_dots(const struct dirent *e)
{
    return strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
}

/* Run the target over every regular file of dir, in name order.  Returns
 * the number of files run, or -1 on an error. */
static int run_dir(const char *dir)
{
    struct dirent **names;
    int n = scandir(dir, &names, not_dots, alphasort), runs = 0, i;

    if (n < 0) {
        fprintf(stderr, "fuzz driver: cannot list %s\n", dir);
        return -1;
    }
    for (i = 0; i < n; i++) {
        char path[4096];
        struct stat st;

        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            if (run_file(path) < 0)
                runs = -1;
            else if (runs >= 0)
                runs++;
        }
        free(names[i]);
    }
    free(names);
    return runs;
}

/* Replay every file and directory argument; an empty corpus fails, so a
 * test that runs nothing cannot pass. */
int main(int argc, char **argv)
{
    int total = 0, i;

    for (i = 1; i < argc; i++) {
        struct stat st;
        int n;

        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "fuzz driver: no such file: %s\n", argv[i]);
            return 1;
        }
        n = S_ISDIR(st.st_mode) ? run_dir(argv[i]) : run_file(argv[i]) == 0;
        if (n < 0)
            return 1;
        total += n;
    }
    printf("%s: %d inputs replayed\n", argv[0], total);
    return total > 0 ? 0 : 1;
}
