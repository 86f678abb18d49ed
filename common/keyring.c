/* keyring: a snapshot of the authorized keys directory, indexed by key.
 *
 * Entries sit in one array in the order read; an open-addressing table of
 * indexes (linear probing, at most half full) finds a key in one or two
 * probes. CURVE public keys are random, so their first bytes are a good
 * hash already. */
#include "keyring.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "log.h"

typedef struct {
    uint8_t raw[32];
    auth_client_t client;
    bool twice; /* authorized by two files: refused */
} s_entry_t;

struct keyring {
    s_entry_t *entries;
    size_t n, cap;
    uint32_t *slots; /* entry index + 1; 0 is empty */
    size_t n_slots;  /* a power of two */
    size_t admitted;
};

static size_t s_slot_of(const keyring_t *k, const uint8_t raw[32])
{
    uint64_t h;
    size_t i;

    memcpy(&h, raw, sizeof(h));
    for (i = (size_t)h & (k->n_slots - 1); k->slots[i]; i = (i + 1) & (k->n_slots - 1))
        if (memcmp(k->entries[k->slots[i] - 1].raw, raw, 32) == 0)
            break;
    return i;
}

/* Add one client; a key already there becomes refused. */
static rp_err s_add(keyring_t *k, const auth_client_t *client, const char *path)
{
    uint8_t raw[32];
    size_t slot;

    if (!zmq_z85_decode(raw, client->public_key))
        return RP_OK; /* auth_public_load checked it already */
    slot = s_slot_of(k, raw);
    if (k->slots[slot]) {
        s_entry_t *e = &k->entries[k->slots[slot] - 1];
        if (!e->twice) {
            log_warnx("CURVE key %s refused: authorized twice (%s and another file)",
                      client->public_key, path);
            e->twice = true;
            k->admitted--;
        }
        return RP_OK;
    }
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 64;
        s_entry_t *grown = realloc(k->entries, cap * sizeof(*grown));
        if (!grown)
            return RP_ENOMEM;
        k->entries = grown;
        k->cap = cap;
    }
    memcpy(k->entries[k->n].raw, raw, 32);
    k->entries[k->n].client = *client;
    k->entries[k->n].twice = false;
    k->slots[slot] = (uint32_t)++k->n;
    k->admitted++;
    return RP_OK;
}

/* Read one NAME.pub into the keyring (a bad file is left out). */
static rp_err s_read_one(keyring_t *k, const char *dir, const char *name)
{
    char path[CONFIG_PATH_MAX], err[CONFIG_PATH_MAX + 160];
    auth_client_t client;
    int n = snprintf(path, sizeof(path), "%s/%s", dir, name);

    if (n < 0 || (size_t)n >= sizeof(path))
        return RP_OK;
    if (auth_public_load(path, &client, err, sizeof(err)) != RP_OK) {
        log_warnx("authorized key left out: %s", err);
        return RP_OK;
    }
    if (!client.role[0]) {
        log_warnx("authorized key left out: %s has no role line", path);
        return RP_OK;
    }
    return s_add(k, &client, path);
}

static bool s_is_pub(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && n > 4 && strcmp(name + n - 4, ".pub") == 0;
}

rp_err keyring_load(const char *dir, keyring_t **ret_keyring, char *errbuf, size_t errlen)
{
    keyring_t *k = calloc(1, sizeof(*k));
    DIR *d = NULL;
    struct dirent *de;
    size_t seen = 0;
    rp_err rc = RP_OK;

    if (!k)
        return RP_ENOMEM;
    /* At most AUTH_MAX_CLIENTS keys: a table at most half full. */
    k->n_slots = 1;
    while (k->n_slots < 2 * AUTH_MAX_CLIENTS)
        k->n_slots *= 2;
    k->slots = calloc(k->n_slots, sizeof(*k->slots));
    if (!k->slots) {
        keyring_destroy(&k);
        return RP_ENOMEM;
    }
    d = opendir(dir);
    if (!d) {
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "%s: %s", dir, strerror(errno));
        keyring_destroy(&k);
        return RP_EIO;
    }
    while (rc == RP_OK && (de = readdir(d)) != NULL) {
        if (!s_is_pub(de->d_name))
            continue;
        if (++seen > AUTH_MAX_CLIENTS) {
            log_warnx("%s holds more than %d keys: the others are left out", dir, AUTH_MAX_CLIENTS);
            break;
        }
        rc = s_read_one(k, dir, de->d_name);
    }
    closedir(d);
    if (rc != RP_OK) {
        keyring_destroy(&k);
        return rc;
    }
    *ret_keyring = k;
    return RP_OK;
}

void keyring_destroy(keyring_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->entries);
    free((*self_p)->slots);
    free(*self_p);
    *self_p = NULL;
}

const auth_client_t *keyring_find(const keyring_t *k, const unsigned char public_key[32])
{
    size_t slot;
    const s_entry_t *e;

    if (!k)
        return NULL;
    slot = s_slot_of(k, public_key);
    if (!k->slots[slot])
        return NULL;
    e = &k->entries[k->slots[slot] - 1];
    return e->twice ? NULL : &e->client;
}

size_t keyring_count(const keyring_t *k)
{
    return k ? k->admitted : 0;
}
