/* auth: CURVE key files and which key a process uses.
 *
 * Parsing is strict: a key file holds one key, and each of its lines
 * (role, user, relay) at most once, so that a file edited twice never
 * silently means its last line. Admitting keys at the handshake is the
 * gate's business (gate.c, with the keyring of keyring.c). */
#include "auth.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zmq.h>

#include "log.h"

#define KEYFILE_MAX 4096

typedef enum { KEYFILE_SECRET, KEYFILE_PUBLIC } keyfile_t;

bool auth_endpoint_is_tcp(const char *endpoint)
{
    return endpoint && strncmp(endpoint, "tcp://", 6) == 0;
}

bool auth_role_valid(const char *role)
{
    return role && (!strcmp(role, "reader") || !strcmp(role, "writer") || !strcmp(role, "admin"));
}

/* Whether text is 40 characters of valid Z85 (32 bytes). */
static bool s_z85_valid(const char *text)
{
    uint8_t raw[32];
    return strlen(text) == AUTH_KEY_LEN && zmq_z85_decode(raw, text) != NULL;
}

rp_err auth_keypair_new(auth_keypair_t *ret_keypair)
{
    auth_keypair_t kp;

    if (!zmq_has("curve") || zmq_curve_keypair(kp.public_key, kp.secret_key) != 0)
        return RP_EUNIMPL;
    *ret_keypair = kp;
    return RP_OK;
}

/* ---- key files ---------------------------------------------------------- */

/* Read a small regular file into buf (NUL-terminated). */
static rp_err s_read_file(const char *path, char *buf, size_t cap, struct stat *ret_st,
                          char *errbuf, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t len = 0;
    rp_err rc = RP_OK;

    if (fd < 0) {
        rp_errbuf(errbuf, errlen, "%s: %s", path, strerror(errno));
        return errno == ENOENT ? RP_ENOTFOUND : RP_ECONFIG;
    }
    if (fstat(fd, ret_st) != 0 || !S_ISREG(ret_st->st_mode)) {
        rp_errbuf(errbuf, errlen, "%s: not a regular file", path);
        rc = RP_ECONFIG;
        goto out_close;
    }
    for (;;) {
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rp_errbuf(errbuf, errlen, "%s: %s", path, strerror(errno));
            rc = RP_ECONFIG;
            goto out_close;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len == cap - 1) {
            rp_errbuf(errbuf, errlen, "%s: larger than %zu bytes", path, cap - 1);
            rc = RP_ECONFIG;
            goto out_close;
        }
    }
    buf[len] = '\0';
    if (memchr(buf, '\0', len)) {
        rp_errbuf(errbuf, errlen, "%s: NUL byte in a key file", path);
        rc = RP_ECONFIG;
    }
out_close:
    close(fd);
    return rc;
}

static char *s_trim(char *s)
{
    char *end;
    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        end--;
    *end = '\0';
    return s;
}

/* Whether a user id is 1..AUTH_USER_MAX bytes without control characters
 * or blanks. */
static bool s_user_valid(const char *user)
{
    size_t n = strlen(user);
    if (n == 0 || n > AUTH_USER_MAX)
        return false;
    for (const unsigned char *p = (const unsigned char *)user; *p; p++)
        if (*p <= ' ' || *p == 0x7f)
            return false;
    return true;
}

/* What a key file has given so far: each line at most once. */
typedef struct {
    unsigned key, role, user, relay; /* line numbers, 0: not yet */
} s_seen_t;

/* Note that a line of `what` was read at `lineno`; a second one is an
 * error naming both lines (the last one must not silently win). */
static rp_err s_once(unsigned *seen, const char *what, const char *path, unsigned lineno,
                     char *errbuf, size_t errlen)
{
    if (*seen) {
        rp_errbuf(errbuf, errlen, "%s:%u: a second %s (line %u has one; a key file holds one)",
                  path, lineno, what, *seen);
        return RP_ECONFIG;
    }
    *seen = lineno;
    return RP_OK;
}

/* Store a key (secret or public, per the file's kind) read at lineno. */
static rp_err s_take_key(keyfile_t kind, bool secret_line, const char *value, auth_keypair_t *kp,
                         auth_client_t *client, s_seen_t *seen, const char *path, unsigned lineno,
                         char *errbuf, size_t errlen)
{
    if (secret_line && kind != KEYFILE_SECRET) {
        rp_errbuf(errbuf, errlen, "%s:%u: a secret key in a public key file", path, lineno);
        return RP_ECONFIG;
    }
    if (kind == KEYFILE_SECRET && !secret_line) {
        memcpy(kp->public_key, value, AUTH_KEY_LEN + 1); /* checked against the secret */
        return RP_OK;
    }
    if (s_once(&seen->key, "key", path, lineno, errbuf, errlen) != RP_OK)
        return RP_ECONFIG;
    memcpy(kind == KEYFILE_SECRET ? kp->secret_key : client->public_key, value, AUTH_KEY_LEN + 1);
    return RP_OK;
}

/* One `key = value` line of a public key file other than the key. */
static rp_err s_public_field(const char *key, const char *value, auth_client_t *client,
                             s_seen_t *seen, const char *path, unsigned lineno, char *errbuf,
                             size_t errlen)
{
    if (!strcmp(key, "role")) {
        if (s_once(&seen->role, "role line", path, lineno, errbuf, errlen) != RP_OK)
            return RP_ECONFIG;
        if (!auth_role_valid(value)) {
            rp_errbuf(errbuf, errlen, "%s:%u: bad role '%s' (expected reader, writer or admin)",
                      path, lineno, value);
            return RP_ECONFIG;
        }
        snprintf(client->role, sizeof(client->role), "%s", value);
    } else if (!strcmp(key, "user")) {
        if (s_once(&seen->user, "user line", path, lineno, errbuf, errlen) != RP_OK)
            return RP_ECONFIG;
        if (!s_user_valid(value)) {
            rp_errbuf(errbuf, errlen, "%s:%u: bad user id (1 to %d characters, no blanks)", path,
                      lineno, AUTH_USER_MAX);
            return RP_ECONFIG;
        }
        snprintf(client->user, sizeof(client->user), "%s", value);
    } else if (!strcmp(key, "relay")) {
        if (s_once(&seen->relay, "relay line", path, lineno, errbuf, errlen) != RP_OK)
            return RP_ECONFIG;
        if (!strcmp(value, "yes") || !strcmp(value, "true"))
            client->relay = true;
        else if (!strcmp(value, "no") || !strcmp(value, "false"))
            client->relay = false;
        else {
            rp_errbuf(errbuf, errlen, "%s:%u: bad value for relay: '%s' (expected yes or no)", path,
                      lineno, value);
            return RP_ECONFIG;
        }
    } else {
        rp_errbuf(errbuf, errlen, "%s:%u: unknown key '%s'", path, lineno, key);
        return RP_ECONFIG;
    }
    return RP_OK;
}

/* Split a `key = value` line (trimmed, quotes taken off the value). */
static bool s_split(char *line, char **ret_key, char **ret_value)
{
    char *eq = strchr(line, '='), *value;
    size_t n;

    if (!eq)
        return false;
    *eq = '\0';
    value = s_trim(eq + 1);
    n = strlen(value);
    if (n >= 2 && value[0] == '"' && value[n - 1] == '"') {
        value[n - 1] = '\0';
        value++;
    }
    *ret_key = s_trim(line);
    *ret_value = value;
    return true;
}

/* Parse the text of a key file of `kind` into *kp / *client. Every line is
 * allowed once: a second key, role, user or relay line is refused with
 * the file and the line. */
static rp_err s_parse(const char *path, char *text, keyfile_t kind, auth_keypair_t *kp,
                      auth_client_t *client, char *errbuf, size_t errlen)
{
    unsigned lineno = 0;
    char *line = text;
    s_seen_t seen = {0, 0, 0, 0};
    rp_err rc = RP_OK;

    while (rc == RP_OK && line && *line) {
        char *next = strchr(line, '\n'), *key, *value;
        if (next)
            *next++ = '\0';
        lineno++;
        key = s_trim(line);
        line = next;
        /* A bare key (zmq_curve_keypair output pasted as it is) first: Z85
         * has '#' and '=' among its characters. */
        if (s_z85_valid(key)) {
            rc = s_take_key(kind, kind == KEYFILE_SECRET, key, kp, client, &seen, path, lineno,
                            errbuf, errlen);
            continue;
        }
        if (!*key || *key == '#')
            continue;
        if (!s_split(key, &key, &value)) {
            rp_errbuf(errbuf, errlen, "%s:%u: expected 'key = value' or a Z85 key", path, lineno);
            return RP_ECONFIG;
        }
        if (!strcmp(key, "secret-key") || !strcmp(key, "public-key")) {
            if (!s_z85_valid(value)) {
                rp_errbuf(errbuf, errlen, "%s:%u: %s is not a Z85 CURVE key (40 characters)", path,
                          lineno, key);
                return RP_ECONFIG;
            }
            rc = s_take_key(kind, key[0] == 's', value, kp, client, &seen, path, lineno, errbuf,
                            errlen);
        } else if (kind == KEYFILE_PUBLIC) {
            rc = s_public_field(key, value, client, &seen, path, lineno, errbuf, errlen);
        } else {
            rp_errbuf(errbuf, errlen, "%s:%u: unknown key '%s'", path, lineno, key);
            return RP_ECONFIG;
        }
    }
    if (rc == RP_OK && !seen.key) {
        rp_errbuf(errbuf, errlen, "%s: no %s key in the file", path,
                  kind == KEYFILE_SECRET ? "secret-key" : "public-key");
        return RP_ECONFIG;
    }
    return rc;
}

rp_err auth_keypair_load(const char *path, auth_keypair_t *ret_keypair, char *errbuf, size_t errlen)
{
    char text[KEYFILE_MAX], derived[AUTH_KEY_LEN + 1];
    auth_keypair_t kp;
    struct stat st;
    rp_err rc = s_read_file(path, text, sizeof(text), &st, errbuf, errlen);

    if (rc != RP_OK)
        return rc;
    if (st.st_mode & (S_IROTH | S_IWOTH)) {
        rp_errbuf(errbuf, errlen, "%s: a secret key must not be accessible to others (mode %04o)",
                  path, (unsigned)(st.st_mode & 07777));
        rc = RP_EPERM;
        goto out_wipe;
    }
    memset(&kp, 0, sizeof(kp));
    rc = s_parse(path, text, KEYFILE_SECRET, &kp, NULL, errbuf, errlen);
    if (rc != RP_OK)
        goto out_wipe;
    if (zmq_curve_public(derived, kp.secret_key) != 0) {
        rp_errbuf(errbuf, errlen, "%s: libzmq has no CURVE support", path);
        rc = RP_EUNIMPL;
        goto out_wipe;
    }
    if (kp.public_key[0] && strcmp(kp.public_key, derived) != 0) {
        rp_errbuf(errbuf, errlen, "%s: public-key does not belong to secret-key", path);
        rc = RP_ECONFIG;
        goto out_wipe;
    }
    memcpy(kp.public_key, derived, sizeof(derived));
    *ret_keypair = kp;
out_wipe:
    memset(text, 0, sizeof(text));
    memset(&kp, 0, sizeof(kp));
    return rc;
}

rp_err auth_public_parse(const char *path, char *text, auth_client_t *ret_client, char *errbuf,
                         size_t errlen)
{
    auth_client_t client;
    const char *base = strrchr(path, '/');
    size_t n;
    rp_err rc;

    memset(&client, 0, sizeof(client));
    /* The user id defaults to the file's name. */
    base = base ? base + 1 : path;
    n = strlen(base);
    if (n > 4 && !strcmp(base + n - 4, ".pub"))
        n -= 4;
    if (n <= AUTH_USER_MAX) {
        memcpy(client.user, base, n);
        client.user[n] = '\0';
        if (!s_user_valid(client.user))
            client.user[0] = '\0';
    }
    rc = s_parse(path, text, KEYFILE_PUBLIC, NULL, &client, errbuf, errlen);
    if (rc != RP_OK)
        return rc;
    if (!client.user[0]) {
        rp_errbuf(errbuf, errlen, "%s: no user line, and the file's name is no user id", path);
        return RP_ECONFIG;
    }
    *ret_client = client;
    return RP_OK;
}

rp_err auth_public_load(const char *path, auth_client_t *ret_client, char *errbuf, size_t errlen)
{
    char text[KEYFILE_MAX];
    struct stat st;
    rp_err rc = s_read_file(path, text, sizeof(text), &st, errbuf, errlen);

    if (rc != RP_OK)
        return rc;
    return auth_public_parse(path, text, ret_client, errbuf, errlen);
}

static bool s_name_valid(const char *name)
{
    if (!*name || name[0] == '.' || strlen(name) > 200)
        return false;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
            return false;
    return true;
}

/* Create path exclusively with `mode` and write text to it. */
static rp_err s_write_new(const char *path, mode_t mode, const char *text, char *errbuf,
                          size_t errlen)
{
    size_t len = strlen(text), done = 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);

    if (fd < 0) {
        rp_errbuf(errbuf, errlen, "%s: %s", path, strerror(errno));
        return errno == EEXIST ? RP_EEXIST : RP_EIO;
    }
    /* The umask may have taken bits off; never on. */
    if (fchmod(fd, mode) != 0)
        goto out_fail;
    while (done < len) {
        ssize_t n = write(fd, text + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto out_fail;
        done += (size_t)n;
    }
    if (fsync(fd) != 0)
        goto out_fail;
    if (close(fd) != 0) {
        fd = -1;
        goto out_fail;
    }
    return RP_OK;

out_fail:
    rp_errbuf(errbuf, errlen, "%s: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    unlink(path);
    return RP_EIO;
}

rp_err auth_keypair_write(const char *dir, const char *name, const auth_keypair_t *keypair,
                          const auth_client_t *client, char *errbuf, size_t errlen)
{
    char key_path[CONFIG_PATH_MAX], pub_path[CONFIG_PATH_MAX], text[1024];
    int n;
    rp_err rc;

    if (!s_name_valid(name)) {
        rp_errbuf(errbuf, errlen, "bad key name '%s' (letters, digits, '.', '_' and '-')", name);
        return RP_EINVAL;
    }
    if (client && ((client->role[0] && !auth_role_valid(client->role)) ||
                   (client->user[0] && !s_user_valid(client->user)))) {
        rp_errbuf(errbuf, errlen, "bad role or user id");
        return RP_EINVAL;
    }
    n = snprintf(key_path, sizeof(key_path), "%s/%s.key", dir, name);
    if (n < 0 || (size_t)n >= sizeof(key_path) ||
        snprintf(pub_path, sizeof(pub_path), "%s/%s.pub", dir, name) >= (int)sizeof(pub_path)) {
        rp_errbuf(errbuf, errlen, "%s: path too long", dir);
        return RP_EINVAL;
    }
    if (access(pub_path, F_OK) == 0) {
        rp_errbuf(errbuf, errlen, "%s: File exists", pub_path);
        return RP_EEXIST;
    }
    snprintf(text, sizeof(text),
             "# rapport CURVE secret key \"%s\": keep it secret (mode 0600).\n"
             "public-key = %s\n"
             "secret-key = %s\n",
             name, keypair->public_key, keypair->secret_key);
    rc = s_write_new(key_path, 0600, text, errbuf, errlen);
    memset(text, 0, sizeof(text));
    if (rc != RP_OK)
        return rc;
    n = snprintf(text, sizeof(text), "# rapport CURVE public key \"%s\".\npublic-key = %s\n", name,
                 keypair->public_key);
    if (client && client->role[0])
        n += snprintf(text + n, sizeof(text) - (size_t)n, "role = %s\n", client->role);
    if (client && client->user[0])
        n += snprintf(text + n, sizeof(text) - (size_t)n, "user = %s\n", client->user);
    if (client && client->relay)
        snprintf(text + n, sizeof(text) - (size_t)n, "relay = yes\n");
    rc = s_write_new(pub_path, 0644, text, errbuf, errlen);
    if (rc != RP_OK)
        unlink(key_path);
    return rc;
}

/* ---- which key ---------------------------------------------------------- */

/* $CREDENTIALS_DIRECTORY/curve.key when systemd passed it. */
static rp_err s_credential(auth_keypair_t *ret_keypair, char *errbuf, size_t errlen)
{
    const char *dir = getenv("CREDENTIALS_DIRECTORY");
    char path[CONFIG_PATH_MAX];
    int n;

    if (!dir || !*dir)
        return RP_ENOTFOUND;
    n = snprintf(path, sizeof(path), "%s/%s", dir, AUTH_CREDENTIAL);
    if (n < 0 || (size_t)n >= sizeof(path))
        return RP_ENOTFOUND;
    return auth_keypair_load(path, ret_keypair, errbuf, errlen);
}

rp_err auth_server_keypair(const config_t *cfg, auth_keypair_t *ret_keypair, char *errbuf,
                           size_t errlen)
{
    rp_err rc = s_credential(ret_keypair, errbuf, errlen);

    if (rc != RP_ENOTFOUND)
        return rc;
    if (!cfg->curve_secret_key_file[0]) {
        rp_errbuf(errbuf, errlen,
                  "a tcp endpoint needs this worker's CURVE secret key: set curve_secret_key_file, "
                  "or pass %s with systemd's LoadCredential=",
                  AUTH_CREDENTIAL);
        return RP_ENOTFOUND;
    }
    rc = auth_keypair_load(cfg->curve_secret_key_file, ret_keypair, errbuf, errlen);
    return rc == RP_ENOTFOUND ? RP_ECONFIG : rc;
}

rp_err auth_client_keypair(const config_t *cfg, auth_keypair_t *ret_keypair, char *errbuf,
                           size_t errlen)
{
    const char *path;
    rp_err rc = s_credential(ret_keypair, errbuf, errlen);

    if (rc != RP_ENOTFOUND)
        return rc;
    path = cfg->curve_client_secret_key_file[0] ? cfg->curve_client_secret_key_file
                                                : cfg->curve_secret_key_file;
    if (!path[0]) {
        rp_errbuf(errbuf, errlen,
                  "a tcp endpoint needs a CURVE client key: set curve_client_secret_key_file "
                  "(see rapport keygen), or for a worker its own curve_secret_key_file or "
                  "LoadCredential=%s",
                  AUTH_CREDENTIAL);
        return RP_ENOTFOUND;
    }
    rc = auth_keypair_load(path, ret_keypair, errbuf, errlen);
    return rc == RP_ENOTFOUND ? RP_ECONFIG : rc;
}

rp_err auth_server_public_key(const config_t *cfg, const char *endpoint,
                              char ret_key[AUTH_KEY_LEN + 1], char *errbuf, size_t errlen)
{
    const struct {
        const char *endpoint, *worker;
    } map[] = {
        {cfg->interaction_endpoint, "interaction"},
        {cfg->segment_endpoint, "segment"},
        {cfg->logwriter_endpoint, "logwriter"},
        {cfg->events_endpoint, "logwriter"},
    };
    const char *worker = NULL;
    char path[CONFIG_PATH_MAX];
    auth_client_t server;
    int n;
    rp_err rc;

    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]) && !worker; i++)
        if (!strcmp(map[i].endpoint, endpoint))
            worker = map[i].worker;
    if (!worker) {
        rp_errbuf(errbuf, errlen, "%s is no configured worker endpoint: no server key for it",
                  endpoint);
        return RP_ENOTFOUND;
    }
    if (!cfg->curve_server_key_dir[0]) {
        rp_errbuf(errbuf, errlen,
                  "a tcp endpoint needs the worker's public key: set curve_server_key_dir "
                  "(a directory holding %s.pub)",
                  worker);
        return RP_ENOTFOUND;
    }
    n = snprintf(path, sizeof(path), "%s/%s.pub", cfg->curve_server_key_dir, worker);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        rp_errbuf(errbuf, errlen, "%s: path too long", cfg->curve_server_key_dir);
        return RP_ECONFIG;
    }
    rc = auth_public_load(path, &server, errbuf, errlen);
    if (rc != RP_OK)
        return rc == RP_ENOTFOUND ? RP_ECONFIG : rc;
    memcpy(ret_key, server.public_key, AUTH_KEY_LEN + 1);
    return RP_OK;
}
