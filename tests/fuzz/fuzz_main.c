/* fuzz_main: without libFuzzer, a target replays inputs: every file named
 * on the command line, and every file of every directory named (in name
 * order), through LLVMFuzzerTestOneInput. Exit 0 when all ran; a finding
 * aborts like it does under the fuzzer. */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int s_run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long len;

    if (!f || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "cannot read %s\n", path);
        if (f)
            fclose(f);
        return -1;
    }
    buf = malloc((size_t)len + 1);
    if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
        fprintf(stderr, "cannot read %s\n", path);
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    /* An exact-size copy, so that ASan sees reads past the end. */
    {
        uint8_t *exact = malloc(len ? (size_t)len : 1);
        if (!exact) {
            free(buf);
            return -1;
        }
        memcpy(exact, buf, (size_t)len);
        free(buf);
        LLVMFuzzerTestOneInput(exact, (size_t)len);
        free(exact);
    }
    return 0;
}

static int s_filter(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

int main(int argc, char **argv)
{
    size_t n = 0;
    int failed = 0;

    setenv("RAPPORT_FUZZ_REPLAY", "1", 1); /* the worker targets check after every input */

    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "%s: not found\n", argv[i]);
            return 2;
        }
        if (S_ISDIR(st.st_mode)) {
            struct dirent **names;
            int k = scandir(argv[i], &names, s_filter, alphasort);
            if (k < 0) {
                fprintf(stderr, "%s: cannot list\n", argv[i]);
                return 2;
            }
            for (int j = 0; j < k; j++) {
                char path[4096];
                snprintf(path, sizeof(path), "%s/%s", argv[i], names[j]->d_name);
                if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                    if (getenv("FUZZ_VERBOSE"))
                        fprintf(stderr, "input %s\n", path);
                    failed |= s_run_file(path) != 0;
                    n++;
                }
                free(names[j]);
            }
            free(names);
        } else {
            failed |= s_run_file(argv[i]) != 0;
            n++;
        }
    }
    printf("replayed %zu inputs\n", n);
    return failed ? 1 : 0;
}
