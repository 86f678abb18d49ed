/* fuzz_keys: the key-file parser and the authorized keys directory over
 * arbitrary bytes.
 *
 * The input is up to eight files separated by a line "===". Each is parsed
 * as a .pub on its own (auth_public_parse): either it yields a valid Z85 key,
 * a role that is empty or valid and a valid user id, or it fails with
 * RP_ECONFIG and a message naming the file. Then the files are written to a
 * directory and read as a keyring: every file that parsed with a role, whose
 * key no other parsed file has, is found with its role and user; a key that
 * two files have is refused; nothing else is admitted. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zmq.h>

#include "auth.h"
#include "keyring.h"
#include "log.h"

#define MAX_FILES 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void s_fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_keys: %s: %s\n", what, detail);
    abort();
}

static bool s_user_ok(const char *u)
{
    size_t n = strlen(u);
    if (n == 0 || n > AUTH_USER_MAX)
        return false;
    for (; *u; u++)
        if ((unsigned char)*u <= ' ' || *u == 0x7f)
            return false;
    return true;
}

/* Parse one file's text; check the outcome. */
static rp_err s_parse_one(const char *name, const char *text, size_t len, auth_client_t *ret)
{
    char *copy = malloc(len + 1), err[512] = "";
    uint8_t raw[32];
    rp_err rc;

    if (!copy)
        abort();
    memcpy(copy, text, len);
    copy[len] = '\0';
    rc = auth_public_parse(name, copy, ret, err, sizeof(err));
    free(copy);
    if (rc == RP_OK) {
        if (strlen(ret->public_key) != AUTH_KEY_LEN || !zmq_z85_decode(raw, ret->public_key))
            s_fail("accepted a bad key", ret->public_key);
        if (ret->role[0] && !auth_role_valid(ret->role))
            s_fail("accepted a bad role", ret->role);
        if (!s_user_ok(ret->user))
            s_fail("accepted a bad user id", ret->user);
    } else if (rc != RP_ECONFIG || strncmp(err, name, strlen(name)) != 0) {
        s_fail("a refusal that does not name the file", err);
    }
    return rc;
}

static char s_dirname[64];

static void s_clear(const char *dir)
{
    for (int i = 0; i < MAX_FILES; i++) {
        char path[128];
        snprintf(path, sizeof(path), "%s/f%d.pub", dir, i);
        unlink(path);
    }
}

/* The directory goes with the process: a test leaves nothing behind. */
static void s_remove_dir(void)
{
    s_clear(s_dirname);
    rmdir(s_dirname);
}

static const char *s_dir(void)
{
    if (!s_dirname[0]) {
        snprintf(s_dirname, sizeof(s_dirname), "/tmp/fuzz_keys.XXXXXX");
        if (!mkdtemp(s_dirname))
            abort();
        atexit(s_remove_dir);
    }
    return s_dirname;
}

/* Split the input at "\n===\n" into at most MAX_FILES parts. */
static size_t s_split(const uint8_t *data, size_t size, const uint8_t **parts, size_t *lens)
{
    size_t n = 0, start = 0;
    for (size_t i = 0; n < MAX_FILES - 1 && i + 5 <= size; i++)
        if (memcmp(data + i, "\n===\n", 5) == 0) {
            parts[n] = data + start;
            lens[n++] = i - start;
            start = i + 5;
            i += 4;
        }
    parts[n] = data + start;
    lens[n++] = size - start;
    return n;
}

/* The keyring agrees with the files parsed one by one. */
static void s_check_keyring(const keyring_t *k, auth_client_t *clients, bool *ok, size_t n)
{
    size_t admitted = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t raw[32];
        const auth_client_t *found;
        size_t same = 0;

        if (!ok[i])
            continue;
        for (size_t j = 0; j < n; j++)
            same += ok[j] && strcmp(clients[j].public_key, clients[i].public_key) == 0;
        zmq_z85_decode(raw, clients[i].public_key);
        found = keyring_find(k, raw);
        if (same > 1 && found)
            s_fail("admitted a key that two files have", clients[i].public_key);
        if (same == 1 && (!found || strcmp(found->role, clients[i].role) != 0 ||
                          strcmp(found->user, clients[i].user) != 0))
            s_fail("a key file's key is not found as it reads", clients[i].public_key);
        admitted += same == 1;
    }
    if (keyring_count(k) != admitted)
        s_fail("the keyring counts keys that no file admits", "");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *parts[MAX_FILES];
    size_t lens[MAX_FILES], n = s_split(data, size, parts, lens);
    auth_client_t clients[MAX_FILES];
    bool ok[MAX_FILES];
    const char *dir = s_dir();
    keyring_t *k = NULL;
    char err[512];

    log_init("fuzz_keys", LOG_LEVEL_ERR);
    s_clear(dir);
    for (size_t i = 0; i < n; i++) {
        char path[128];
        FILE *f;

        snprintf(path, sizeof(path), "%s/f%zu.pub", dir, i);
        /* What the file reader refuses: a NUL byte, 4 KiB or more. */
        ok[i] = s_parse_one(path, (const char *)parts[i], lens[i], &clients[i]) == RP_OK &&
                clients[i].role[0] && !memchr(parts[i], '\0', lens[i]) && lens[i] < 4095;
        f = fopen(path, "wb");
        if (!f || fwrite(parts[i], 1, lens[i], f) != lens[i] || fclose(f) != 0)
            abort();
    }
    if (keyring_load(dir, &k, err, sizeof(err)) != RP_OK)
        s_fail("the directory did not load", err);
    s_check_keyring(k, clients, ok, n);
    keyring_destroy(&k);
    s_clear(dir);
    return 0;
}
