/* auth: key files, key selection and the ZAP handler thread.
 *
 * The ZAP handler is the worker's doorkeeper: it logs each refused key at
 * notice level itself (an audit line an operator needs, which no caller
 * could log for it), and nothing above debug otherwise. */
#include "auth.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zmq.h>

#include "log.h"

#define KEYFILE_MAX  4096
#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_FRAMES   8

typedef enum { KEYFILE_SECRET, KEYFILE_PUBLIC } keyfile_t;

static void s_err(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void s_err(char *errbuf, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!errbuf || !errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
}

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
        s_err(errbuf, errlen, "%s: %s", path, strerror(errno));
        return errno == ENOENT ? RP_ENOTFOUND : RP_ECONFIG;
    }
    if (fstat(fd, ret_st) != 0 || !S_ISREG(ret_st->st_mode)) {
        s_err(errbuf, errlen, "%s: not a regular file", path);
        rc = RP_ECONFIG;
        goto out_close;
    }
    for (;;) {
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            s_err(errbuf, errlen, "%s: %s", path, strerror(errno));
            rc = RP_ECONFIG;
            goto out_close;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len == cap - 1) {
            s_err(errbuf, errlen, "%s: larger than %zu bytes", path, cap - 1);
            rc = RP_ECONFIG;
            goto out_close;
        }
    }
    buf[len] = '\0';
    if (memchr(buf, '\0', len)) {
        s_err(errbuf, errlen, "%s: NUL byte in a key file", path);
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

/* Parse the text of a key file of `kind` into *kp / *client. */
static rp_err s_parse(const char *path, char *text, keyfile_t kind, auth_keypair_t *kp,
                      auth_client_t *client, char *errbuf, size_t errlen)
{
    unsigned lineno = 0;
    char *line = text;
    bool have_key = false;

    while (line && *line) {
        char *next = strchr(line, '\n'), *eq, *key, *value;
        if (next)
            *next++ = '\0';
        lineno++;
        key = s_trim(line);
        line = next;
        /* A bare key (zmq_curve_keypair output pasted as it is) first: Z85
         * has '#' and '=' among its characters. */
        if (s_z85_valid(key)) {
            memcpy(kind == KEYFILE_SECRET ? kp->secret_key : client->public_key, key,
                   AUTH_KEY_LEN + 1);
            have_key = true;
            continue;
        }
        if (!*key || *key == '#')
            continue;
        eq = strchr(key, '=');
        if (!eq) {
            s_err(errbuf, errlen, "%s:%u: expected 'key = value' or a Z85 key", path, lineno);
            return RP_ECONFIG;
        }
        *eq = '\0';
        value = s_trim(eq + 1);
        key = s_trim(key);
        if (strlen(value) >= 2 && value[0] == '"' && value[strlen(value) - 1] == '"') {
            value[strlen(value) - 1] = '\0';
            value++;
        }
        if (!strcmp(key, "secret-key") || !strcmp(key, "public-key")) {
            bool secret = key[0] == 's';
            if (!s_z85_valid(value)) {
                s_err(errbuf, errlen, "%s:%u: %s is not a Z85 CURVE key (40 characters)", path,
                      lineno, key);
                return RP_ECONFIG;
            }
            if (secret && kind != KEYFILE_SECRET) {
                s_err(errbuf, errlen, "%s:%u: a secret key in a public key file", path, lineno);
                return RP_ECONFIG;
            }
            if (secret) {
                memcpy(kp->secret_key, value, AUTH_KEY_LEN + 1);
                have_key = true;
            } else if (kind == KEYFILE_SECRET) {
                memcpy(kp->public_key, value, AUTH_KEY_LEN + 1);
            } else {
                memcpy(client->public_key, value, AUTH_KEY_LEN + 1);
                have_key = true;
            }
        } else if (kind == KEYFILE_PUBLIC && !strcmp(key, "role")) {
            if (!auth_role_valid(value)) {
                s_err(errbuf, errlen, "%s:%u: bad role '%s' (expected reader, writer or admin)",
                      path, lineno, value);
                return RP_ECONFIG;
            }
            snprintf(client->role, sizeof(client->role), "%s", value);
        } else if (kind == KEYFILE_PUBLIC && !strcmp(key, "user")) {
            if (!s_user_valid(value)) {
                s_err(errbuf, errlen, "%s:%u: bad user id (1 to %d characters, no blanks)", path,
                      lineno, AUTH_USER_MAX);
                return RP_ECONFIG;
            }
            snprintf(client->user, sizeof(client->user), "%s", value);
        } else if (kind == KEYFILE_PUBLIC && !strcmp(key, "relay")) {
            if (!strcmp(value, "yes") || !strcmp(value, "true"))
                client->relay = true;
            else if (!strcmp(value, "no") || !strcmp(value, "false"))
                client->relay = false;
            else {
                s_err(errbuf, errlen, "%s:%u: bad value for relay: '%s' (expected yes or no)", path,
                      lineno, value);
                return RP_ECONFIG;
            }
        } else {
            s_err(errbuf, errlen, "%s:%u: unknown key '%s'", path, lineno, key);
            return RP_ECONFIG;
        }
    }
    if (!have_key) {
        s_err(errbuf, errlen, "%s: no %s key in the file", path,
              kind == KEYFILE_SECRET ? "secret-key" : "public-key");
        return RP_ECONFIG;
    }
    return RP_OK;
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
        s_err(errbuf, errlen, "%s: a secret key must not be accessible to others (mode %04o)", path,
              (unsigned)(st.st_mode & 07777));
        rc = RP_EPERM;
        goto out_wipe;
    }
    memset(&kp, 0, sizeof(kp));
    rc = s_parse(path, text, KEYFILE_SECRET, &kp, NULL, errbuf, errlen);
    if (rc != RP_OK)
        goto out_wipe;
    if (zmq_curve_public(derived, kp.secret_key) != 0) {
        s_err(errbuf, errlen, "%s: libzmq has no CURVE support", path);
        rc = RP_EUNIMPL;
        goto out_wipe;
    }
    if (kp.public_key[0] && strcmp(kp.public_key, derived) != 0) {
        s_err(errbuf, errlen, "%s: public-key does not belong to secret-key", path);
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

rp_err auth_public_load(const char *path, auth_client_t *ret_client, char *errbuf, size_t errlen)
{
    char text[KEYFILE_MAX];
    auth_client_t client;
    struct stat st;
    const char *base = strrchr(path, '/');
    size_t n;
    rp_err rc = s_read_file(path, text, sizeof(text), &st, errbuf, errlen);

    if (rc != RP_OK)
        return rc;
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
    *ret_client = client;
    return RP_OK;
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
        s_err(errbuf, errlen, "%s: %s", path, strerror(errno));
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
    s_err(errbuf, errlen, "%s: %s", path, strerror(errno));
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
        s_err(errbuf, errlen, "bad key name '%s' (letters, digits, '.', '_' and '-')", name);
        return RP_EINVAL;
    }
    if (client && ((client->role[0] && !auth_role_valid(client->role)) ||
                   (client->user[0] && !s_user_valid(client->user)))) {
        s_err(errbuf, errlen, "bad role or user id");
        return RP_EINVAL;
    }
    n = snprintf(key_path, sizeof(key_path), "%s/%s.key", dir, name);
    if (n < 0 || (size_t)n >= sizeof(key_path) ||
        snprintf(pub_path, sizeof(pub_path), "%s/%s.pub", dir, name) >= (int)sizeof(pub_path)) {
        s_err(errbuf, errlen, "%s: path too long", dir);
        return RP_EINVAL;
    }
    if (access(pub_path, F_OK) == 0) {
        s_err(errbuf, errlen, "%s: File exists", pub_path);
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
        s_err(errbuf, errlen,
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
        s_err(errbuf, errlen,
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
        s_err(errbuf, errlen, "%s is no configured worker endpoint: no server key for it",
              endpoint);
        return RP_ENOTFOUND;
    }
    if (!cfg->curve_server_key_dir[0]) {
        s_err(errbuf, errlen,
              "a tcp endpoint needs the worker's public key: set curve_server_key_dir "
              "(a directory holding %s.pub)",
              worker);
        return RP_ENOTFOUND;
    }
    n = snprintf(path, sizeof(path), "%s/%s.pub", cfg->curve_server_key_dir, worker);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        s_err(errbuf, errlen, "%s: path too long", cfg->curve_server_key_dir);
        return RP_ECONFIG;
    }
    rc = auth_public_load(path, &server, errbuf, errlen);
    if (rc != RP_OK)
        return rc == RP_ENOTFOUND ? RP_ECONFIG : rc;
    memcpy(ret_key, server.public_key, AUTH_KEY_LEN + 1);
    return RP_OK;
}

rp_err auth_client_find(const char *dir, const char *public_key, auth_client_t *ret_client)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t seen = 0;
    rp_err rc = RP_ENOTFOUND;

    if (!d)
        return RP_EIO;
    while ((de = readdir(d)) != NULL && seen < AUTH_MAX_CLIENTS) {
        size_t n = strlen(de->d_name);
        char path[CONFIG_PATH_MAX], err[CONFIG_PATH_MAX + 128];
        auth_client_t client;
        int m;

        if (de->d_name[0] == '.' || n <= 4 || strcmp(de->d_name + n - 4, ".pub") != 0)
            continue;
        seen++;
        m = snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (m < 0 || (size_t)m >= sizeof(path))
            continue;
        if (auth_public_load(path, &client, err, sizeof(err)) != RP_OK) {
            log_warnx("authorized key skipped: %s", err);
            continue;
        }
        if (strcmp(client.public_key, public_key) != 0)
            continue;
        if (!client.role[0] || !client.user[0]) {
            log_warnx("authorized key skipped: %s has no %s line", path,
                      client.role[0] ? "user" : "role");
            continue;
        }
        if (rc == RP_OK) {
            /* Which file would win depends on readdir's order: neither. */
            log_warnx("CURVE key %s refused: authorized twice (%s and another file)", public_key,
                      path);
            rc = RP_ENOTFOUND;
            break;
        }
        *ret_client = client;
        rc = RP_OK;
    }
    closedir(d);
    return rc;
}

/* ---- the ZAP handler (RFC 27) ------------------------------------------- */

typedef struct {
    void *sock;
    char keys_dir[CONFIG_PATH_MAX];
} zap_t;

/* ZMTP metadata: name length (1 byte), name, value length (4 bytes, big
 * endian), value. */
static size_t s_metadata_add(uint8_t *buf, size_t pos, const char *name, const char *value)
{
    size_t nl = strlen(name), vl = strlen(value);
    buf[pos++] = (uint8_t)nl;
    memcpy(buf + pos, name, nl);
    pos += nl;
    buf[pos++] = (uint8_t)(vl >> 24);
    buf[pos++] = (uint8_t)(vl >> 16);
    buf[pos++] = (uint8_t)(vl >> 8);
    buf[pos++] = (uint8_t)vl;
    memcpy(buf + pos, value, vl);
    return pos + vl;
}

static bool s_frame_is(zmq_msg_t *m, const char *text)
{
    return zmq_msg_size(m) == strlen(text) && memcmp(zmq_msg_data(m), text, strlen(text)) == 0;
}

/* Decide one request; the reply's status, user id and metadata. */
static void s_zap_decide(const zap_t *z, zmq_msg_t *f, size_t nf, const char **ret_code,
                         const char **ret_text, auth_client_t *ret_client, uint8_t *meta,
                         size_t *ret_meta_len)
{
    char key[AUTH_KEY_LEN + 1], addr[64];
    size_t alen;
    rp_err rc;

    *ret_meta_len = 0;
    ret_client->user[0] = '\0';
    if (nf < 6 || !s_frame_is(&f[0], "1.0")) {
        *ret_code = "500";
        *ret_text = "bad ZAP request";
        return;
    }
    /* ipc sockets have no domain; libzmq asks only when one is set, but a
     * NULL-mechanism request outside our domain is not ours to refuse. */
    if (!s_frame_is(&f[2], AUTH_ZAP_DOMAIN)) {
        *ret_code = "200";
        *ret_text = "OK";
        return;
    }
    if (!s_frame_is(&f[5], "CURVE") || nf != 7 || zmq_msg_size(&f[6]) != 32) {
        *ret_code = "400";
        *ret_text = "CURVE is required";
        return;
    }
    zmq_z85_encode(key, (const uint8_t *)zmq_msg_data(&f[6]), 32);
    rc = auth_client_find(z->keys_dir, key, ret_client);
    if (rc == RP_OK) {
        /* Always both properties: a peer may send X-* properties of its
         * own in the handshake (ZMQ_METADATA), and libzmq lets the ZAP
         * handler's win only for the names the handler sets. */
        size_t pos = s_metadata_add(meta, 0, AUTH_PROP_ROLE, ret_client->role);
        *ret_meta_len =
            s_metadata_add(meta, pos, AUTH_PROP_RELAY, ret_client->relay ? "yes" : "no");
        *ret_code = "200";
        *ret_text = "OK";
        log_debug("CURVE key %s admitted: user %s, role %s", key, ret_client->user,
                  ret_client->role);
        return;
    }
    alen = zmq_msg_size(&f[3]) < sizeof(addr) - 1 ? zmq_msg_size(&f[3]) : sizeof(addr) - 1;
    memcpy(addr, zmq_msg_data(&f[3]), alen);
    addr[alen] = '\0';
    ret_client->user[0] = '\0';
    if (rc == RP_EIO) {
        *ret_code = "500";
        *ret_text = "authorized keys unreadable";
        log_warn("refused CURVE key %s from %s: cannot read %s", key, addr, z->keys_dir);
        return;
    }
    *ret_code = "400";
    *ret_text = "unknown key";
    log_notice("refused CURVE key %s from %s: not in %s", key, addr, z->keys_dir);
}

static int s_send_str(void *sock, const char *text, int flags)
{
    return zmq_send(sock, text, strlen(text), flags);
}

static void *s_zap_thread(void *arg)
{
    zap_t *z = arg;

    for (;;) {
        zmq_msg_t f[ZAP_FRAMES];
        size_t nf = 0;
        bool more = true, term = false;
        const char *code, *text;
        auth_client_t client;
        uint8_t meta[64];
        size_t meta_len;

        while (more) {
            zmq_msg_t extra, *m = nf < ZAP_FRAMES ? &f[nf] : &extra;
            zmq_msg_init(m);
            if (zmq_msg_recv(m, z->sock, 0) < 0) {
                zmq_msg_close(m);
                if (errno == EINTR)
                    continue;
                term = true; /* ETERM: the context is going away */
                break;
            }
            more = zmq_msg_more(m);
            if (m == &extra)
                zmq_msg_close(m);
            else
                nf++;
        }
        if (term) {
            for (size_t i = 0; i < nf; i++)
                zmq_msg_close(&f[i]);
            break;
        }
        s_zap_decide(z, f, nf, &code, &text, &client, meta, &meta_len);
        /* Reply: version, request id, status code, status text, user id,
         * metadata. */
        if (s_send_str(z->sock, "1.0", ZMQ_SNDMORE) < 0 ||
            zmq_send(z->sock, nf > 1 ? zmq_msg_data(&f[1]) : "", nf > 1 ? zmq_msg_size(&f[1]) : 0,
                     ZMQ_SNDMORE) < 0 ||
            s_send_str(z->sock, code, ZMQ_SNDMORE) < 0 ||
            s_send_str(z->sock, text, ZMQ_SNDMORE) < 0 ||
            s_send_str(z->sock, client.user, ZMQ_SNDMORE) < 0 ||
            zmq_send(z->sock, meta, meta_len, 0) < 0)
            log_debug("ZAP reply not sent: %s", zmq_strerror(errno));
        for (size_t i = 0; i < nf; i++)
            zmq_msg_close(&f[i]);
    }
    zmq_close(z->sock);
    free(z);
    return NULL;
}

rp_err auth_zap_start(void *zctx, const config_t *cfg, char *errbuf, size_t errlen)
{
    zap_t *z;
    pthread_t tid;
    pthread_attr_t attr;
    sigset_t all, old;
    int linger = 0, rc;
    DIR *d;

    if (!cfg->curve_client_keys_dir[0]) {
        s_err(errbuf, errlen,
              "a tcp endpoint needs curve_client_keys_dir, the directory of authorized client "
              "keys");
        return RP_ECONFIG;
    }
    d = opendir(cfg->curve_client_keys_dir);
    if (!d) {
        s_err(errbuf, errlen, "curve_client_keys_dir %s: %s", cfg->curve_client_keys_dir,
              strerror(errno));
        return RP_ECONFIG;
    }
    closedir(d);
    z = calloc(1, sizeof(*z));
    if (!z)
        return RP_ENOMEM;
    snprintf(z->keys_dir, sizeof(z->keys_dir), "%s", cfg->curve_client_keys_dir);
    z->sock = zmq_socket(zctx, ZMQ_REP);
    if (!z->sock) {
        s_err(errbuf, errlen, "ZAP socket: %s", zmq_strerror(errno));
        free(z);
        return RP_EIO;
    }
    zmq_setsockopt(z->sock, ZMQ_LINGER, &linger, sizeof(linger));
    if (zmq_bind(z->sock, ZAP_ENDPOINT) != 0) {
        int e = errno;
        zmq_close(z->sock);
        free(z);
        if (e == EADDRINUSE)
            return RP_OK; /* this context has its handler already */
        s_err(errbuf, errlen, "bind %s: %s", ZAP_ENDPOINT, zmq_strerror(e));
        return RP_EIO;
    }
    /* The handler takes no signals: they are the main loop's business. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&tid, &attr, s_zap_thread, z);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        s_err(errbuf, errlen, "ZAP handler thread: %s", strerror(rc));
        zmq_close(z->sock);
        free(z);
        return RP_ENOMEM;
    }
    return RP_OK;
}
