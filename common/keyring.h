/* keyring: the authorized client keys of a worker, in memory.
 *
 * The directory curve_client_keys_dir holds one NAME.pub per client (the
 * format is in auth.h). A keyring is a snapshot of it: every *.pub read
 * once and indexed by public key in an open-addressing table, so that the
 * ZAP handler admits or refuses a key with one lookup however many keys
 * there are. The gate (gate.h) reloads the keyring when the directory
 * changes.
 *
 * A file that does not parse, or has no role or no user line, is left out
 * with a warning naming the file and the line; a key found in two files is
 * refused (which file would win is not for readdir's order to decide). */
#ifndef RAPPORT_KEYRING_H
#define RAPPORT_KEYRING_H

#include <stddef.h>

#include "auth.h"
#include "err.h"

typedef struct keyring keyring_t;

/* Read the *.pub files of `dir` (at most AUTH_MAX_CLIENTS of them) into a
 * new keyring, owned by the caller (keyring_destroy). RP_EIO when the
 * directory cannot be read (errbuf says why); RP_ENOMEM. */
rp_err keyring_load(const char *dir, keyring_t **ret_keyring, char *errbuf, size_t errlen);

/* Accepts NULL; NULLs the caller's pointer. */
void keyring_destroy(keyring_t **self_p);

/* The client whose public key is `public_key` (32 raw bytes), or NULL when
 * it is unknown or authorized twice. The pointer lives as long as the
 * keyring. */
const auth_client_t *keyring_find(const keyring_t *k, const unsigned char public_key[32]);

/* Keys admitted (keys authorized twice not counted). */
size_t keyring_count(const keyring_t *k);

#endif
