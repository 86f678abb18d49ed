/* auth: CURVE key files and which key a process uses.
 *
 * A tcp endpoint is a CURVE server (ZeroMQ RFC 26) whose clients a ZAP
 * handler (RFC 27, in gate.h) admits by public key. bus.c calls in here
 * when it binds or connects a tcp endpoint.
 *
 * Key files are text: `key = value` lines, blank lines and '#' comments;
 * a file holds one key and each line at most once.
 *
 *   NAME.key  secret-key = <Z85>    the secret key (40 Z85 characters);
 *             public-key = <Z85>    optional, checked against the secret.
 *             Mode 0600 (0640 with a group is fine; readable by others is
 *             refused).
 *   NAME.pub  public-key = <Z85>    the public key; in the authorized keys
 *             role = reader|writer|admin    directory (curve_client_keys_dir)
 *             user = <user id>              also these: the role, the user id
 *             relay = yes|no                recorded for the key (default
 *                                           NAME) and, for a rapport worker
 *                                           calling another one, relay = yes:
 *                                           its requests keep the user_id
 *                                           they carry (the worker's own
 *                                           caller, authenticated there).
 *
 * A line holding nothing but 40 Z85 characters is also accepted as the key
 * (the secret key in a .key file, the public key in a .pub file), so the
 * output of zmq_curve_keypair() can be pasted as it is.
 *
 * Which key a process uses:
 *   serving (bind)     $CREDENTIALS_DIRECTORY/curve.key (systemd's
 *                      LoadCredential=), else curve_secret_key_file;
 *   calling (connect)  $CREDENTIALS_DIRECTORY/curve.key, else
 *                      curve_client_secret_key_file, else
 *                      curve_secret_key_file (a worker calls its peers
 *                      with its own key);
 *   the server's key   <curve_server_key_dir>/<worker>.pub, the worker
 *                      found by the endpoint (the events endpoint is the
 *                      logwriter's).
 *
 * Admitting a client at the handshake is the gate's (gate.h): it keeps the
 * authorized keys in memory (keyring.h) and answers libzmq's ZAP requests. */
#ifndef RAPPORT_AUTH_H
#define RAPPORT_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "err.h"

#define AUTH_KEY_LEN     40 /* Z85 text of a 32-byte CURVE key */
#define AUTH_USER_MAX    50 /* as user_id on the wire */
#define AUTH_ZAP_DOMAIN  "rapport"
#define AUTH_PROP_ROLE   "X-Role"
#define AUTH_PROP_RELAY  "X-Relay"
#define AUTH_PROP_KEY    "X-Key"
#define AUTH_CREDENTIAL  "curve.key"
#define AUTH_MAX_CLIENTS 10000 /* files read from the authorized keys dir */

typedef struct {
    char public_key[AUTH_KEY_LEN + 1];
    char secret_key[AUTH_KEY_LEN + 1];
} auth_keypair_t;

/* One authorized client (a .pub file). */
typedef struct {
    char public_key[AUTH_KEY_LEN + 1];
    char role[8]; /* "reader", "writer", "admin"; "" when the file has none */
    char user[AUTH_USER_MAX + 1];
    bool relay;
} auth_client_t;

/* Whether the endpoint is tcp:// (and so needs CURVE). */
bool auth_endpoint_is_tcp(const char *endpoint);

/* Whether `role` names a role ("reader", "writer" or "admin"). */
bool auth_role_valid(const char *role);

/* A new random key pair (zmq_curve_keypair). RP_EUNIMPL when libzmq has no
 * CURVE. */
rp_err auth_keypair_new(auth_keypair_t *ret_keypair);

/* Read a .key file; the public key is derived from the secret one.
 * RP_ENOTFOUND for a missing file, RP_EPERM when others may read it,
 * RP_ECONFIG for a malformed one; errbuf names the file and the line. */
rp_err auth_keypair_load(const char *path, auth_keypair_t *ret_keypair, char *errbuf,
                         size_t errlen);

/* Read a .pub file. `user` defaults to the file's name without ".pub";
 * `role` stays "" when the file has none. A second key, or a second role,
 * user or relay line, is refused. RP_ENOTFOUND, RP_ECONFIG with errbuf as
 * "FILE:LINE: message". */
rp_err auth_public_load(const char *path, auth_client_t *ret_client, char *errbuf, size_t errlen);

/* Same from text already read (modified in place); `path` names it in
 * messages and gives the default user id. */
rp_err auth_public_parse(const char *path, char *text, auth_client_t *ret_client, char *errbuf,
                         size_t errlen);

/* Write DIR/NAME.key (mode 0600) and DIR/NAME.pub in the formats above;
 * `client` (may be NULL) adds role, user and relay lines to the .pub.
 * Existing files are never overwritten (RP_EEXIST). RP_EINVAL for a name
 * that is not [A-Za-z0-9._-]+; RP_EIO. */
rp_err auth_keypair_write(const char *dir, const char *name, const auth_keypair_t *keypair,
                          const auth_client_t *client, char *errbuf, size_t errlen);

/* The key a worker serves tcp endpoints with (see above). RP_ENOTFOUND
 * when none is configured; load errors as auth_keypair_load. */
rp_err auth_server_keypair(const config_t *cfg, auth_keypair_t *ret_keypair, char *errbuf,
                           size_t errlen);

/* The key a process calls tcp endpoints with (see above). */
rp_err auth_client_keypair(const config_t *cfg, auth_keypair_t *ret_keypair, char *errbuf,
                           size_t errlen);

/* The public key of the worker serving `endpoint`, from curve_server_key_dir.
 * RP_ENOTFOUND when the endpoint is none of the configured ones or the
 * directory is not set; load errors as auth_public_load. */
rp_err auth_server_public_key(const config_t *cfg, const char *endpoint,
                              char ret_key[AUTH_KEY_LEN + 1], char *errbuf, size_t errlen);

#endif
