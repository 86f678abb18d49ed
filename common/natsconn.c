/* natsconn: a libnats connection made from rapport's nats_* settings:
 * the server list, the credentials (user and password, an nkey seed, a
 * .creds file, a TLS CA, or their systemd LoadCredential= files), and a
 * connection that retries forever in the background. */
#include "natsconn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define MAX_SERVERS 16

static void s_on_disconnected(natsConnection *nc, void *closure)
{
    (void)nc;
    (void)closure;
    log_warnx("disconnected from NATS; reconnecting");
}

static void s_on_reconnected(natsConnection *nc, void *closure)
{
    char url[256] = "";
    (void)closure;
    natsConnection_GetConnectedUrl(nc, url, sizeof(url));
    log_notice("connected to NATS at %s", url);
}

static void s_on_connected(natsConnection *nc, void *closure)
{
    s_on_reconnected(nc, closure);
}

/* A secret from systemd's LoadCredential= wins over the setting. */
static const char *s_credential(const char *name, const char *setting, char *buf, size_t size)
{
    const char *dir = getenv("CREDENTIALS_DIRECTORY");
    FILE *f;

    if (dir && *dir) {
        snprintf(buf, size, "%s/%s", dir, name);
        f = fopen(buf, "r");
        if (f) {
            fclose(f);
            return buf;
        }
    }
    return setting[0] ? setting : NULL;
}

/* The first line of a small file (a password). */
static rp_err s_read_line(const char *path, char *out, size_t size, char *errbuf, size_t errlen)
{
    FILE *f = fopen(path, "r");
    size_t n;

    if (!f) {
        snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
        return RP_ECONFIG;
    }
    if (!fgets(out, (int)size, f))
        out[0] = '\0';
    fclose(f);
    n = strcspn(out, "\r\n");
    out[n] = '\0';
    return RP_OK;
}

/* An nkey seed file holds the seed (SU...) and the user's public key
 * (U..., as `nk -gen user -pubout` prints both): libnats needs the key. */
static rp_err s_nkey_public(const char *path, char *out, size_t size, char *errbuf, size_t errlen)
{
    FILE *f = fopen(path, "r");
    char line[256];

    if (!f) {
        snprintf(errbuf, errlen, "nats_nkey_seed_file: %s: %s", path, strerror(errno));
        return RP_ECONFIG;
    }
    out[0] = '\0';
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n \t")] = '\0';
        if (line[0] == 'U' && strlen(line) == 56 && strlen(line) < size)
            memcpy(out, line, strlen(line) + 1);
    }
    fclose(f);
    if (!out[0]) {
        snprintf(errbuf, errlen,
                 "nats_nkey_seed_file: %s holds no public user key (a line U... of 56 "
                 "characters next to the seed, as `nk -gen user -pubout` prints)",
                 path);
        return RP_ECONFIG;
    }
    return RP_OK;
}

static rp_err s_auth(const config_t *cfg, natsOptions *opts, char *errbuf, size_t errlen)
{
    char buf[CONFIG_PATH_MAX + 64], pw[256], pub[64];
    const char *path;
    natsStatus s = NATS_OK;
    rp_err rc;

    path = s_credential("nats-password", "", buf, sizeof(buf));
    if (path) {
        rc = s_read_line(path, pw, sizeof(pw), errbuf, errlen);
        if (rc != RP_OK)
            return rc;
    } else {
        snprintf(pw, sizeof(pw), "%s", cfg->nats_password);
    }
    if (cfg->nats_user[0] || pw[0])
        s = natsOptions_SetUserInfo(opts, cfg->nats_user, pw);
    path = s_credential("nats.creds", cfg->nats_creds_file, buf, sizeof(buf));
    if (s == NATS_OK && path)
        s = natsOptions_SetUserCredentialsFromFiles(opts, path, NULL);
    if (s != NATS_OK) {
        snprintf(errbuf, errlen, "NATS credentials: %s", nats_GetLastError(NULL));
        return RP_ECONFIG;
    }
    path = s_credential("nats.nk", cfg->nats_nkey_seed_file, buf, sizeof(buf));
    if (path) {
        rc = s_nkey_public(path, pub, sizeof(pub), errbuf, errlen);
        if (rc != RP_OK)
            return rc;
        if (natsOptions_SetNKeyFromSeed(opts, pub, path) != NATS_OK) {
            snprintf(errbuf, errlen, "nats_nkey_seed_file: %s: %s", path, nats_GetLastError(NULL));
            return RP_ECONFIG;
        }
    }
    if (cfg->nats_ca_file[0] &&
        (natsOptions_SetSecure(opts, true) != NATS_OK ||
         natsOptions_LoadCATrustedCertificates(opts, cfg->nats_ca_file) != NATS_OK)) {
        snprintf(errbuf, errlen, "nats_ca_file: %s: %s", cfg->nats_ca_file,
                 nats_GetLastError(NULL));
        return RP_ECONFIG;
    }
    return RP_OK;
}

/* Split nats_url at commas into the server list. */
static rp_err s_servers(const config_t *cfg, natsOptions *opts, char *errbuf, size_t errlen)
{
    char copy[CONFIG_PATH_MAX];
    const char *list[MAX_SERVERS];
    int n = 0;

    snprintf(copy, sizeof(copy), "%s", cfg->nats_url);
    for (char *p = copy; *p;) {
        size_t len;
        p += strspn(p, ", ");
        len = strcspn(p, ", ");
        if (!len)
            break;
        if (n == MAX_SERVERS) {
            snprintf(errbuf, errlen, "nats_url: more than %d servers", MAX_SERVERS);
            return RP_ECONFIG;
        }
        list[n++] = p;
        p += len;
        if (*p)
            *p++ = '\0';
    }
    if (n == 0 || natsOptions_SetServers(opts, list, n) != NATS_OK) {
        snprintf(errbuf, errlen, "nats_url: bad value '%s': %s", cfg->nats_url,
                 n ? nats_GetLastError(NULL) : "no server");
        return RP_ECONFIG;
    }
    return RP_OK;
}

rp_err natsconn_options(const config_t *cfg, const char *name, natsOptions **ret, char *errbuf,
                        size_t errlen)
{
    natsOptions *opts = NULL;
    rp_err rc;

    *ret = NULL;
    if (natsOptions_Create(&opts) != NATS_OK) {
        snprintf(errbuf, errlen, "cannot create the NATS options");
        return RP_ENOMEM;
    }
    rc = s_servers(cfg, opts, errbuf, errlen);
    if (rc == RP_OK)
        rc = s_auth(cfg, opts, errbuf, errlen);
    if (rc != RP_OK) {
        natsOptions_Destroy(opts);
        return rc;
    }
    if (natsOptions_SetName(opts, name) != NATS_OK ||
        natsOptions_SetMaxReconnect(opts, -1) != NATS_OK ||
        natsOptions_SetReconnectWait(opts, 250) != NATS_OK ||
        natsOptions_SetReconnectJitter(opts, 250, 1000) != NATS_OK ||
        natsOptions_SetTimeout(opts, 2000) != NATS_OK ||
        natsOptions_SetPingInterval(opts, 5000) != NATS_OK ||
        natsOptions_SetMaxPingsOut(opts, 3) != NATS_OK ||
        natsOptions_SetReconnectBufSize(opts, 64 << 20) != NATS_OK ||
        natsOptions_SetFailRequestsOnDisconnect(opts, true) != NATS_OK ||
        natsOptions_SetDisconnectedCB(opts, s_on_disconnected, NULL) != NATS_OK ||
        natsOptions_SetReconnectedCB(opts, s_on_reconnected, NULL) != NATS_OK ||
        natsOptions_SetRetryOnFailedConnect(opts, true, s_on_connected, NULL) != NATS_OK) {
        snprintf(errbuf, errlen, "NATS options: %s", nats_GetLastError(NULL));
        natsOptions_Destroy(opts);
        return RP_ECONFIG;
    }
    *ret = opts;
    return RP_OK;
}

rp_err natsconn_connect(const config_t *cfg, natsOptions *opts, natsConnection **ret, char *errbuf,
                        size_t errlen)
{
    /* With RetryOnFailedConnect a server that is down gives
     * NATS_NOT_YET_CONNECTED and a connection that keeps trying. */
    natsStatus s = natsConnection_Connect(ret, opts);

    if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED) {
        snprintf(errbuf, errlen, "cannot connect to NATS (%s): %s", cfg->nats_url,
                 nats_GetLastError(NULL));
        return RP_ECONFIG;
    }
    return RP_OK;
}

void natsconn_header_u64(natsMsg *m, const char *key, uint64_t *out)
{
    const char *v = NULL;
    char *end;
    *out = 0;
    if (natsMsgHeader_Get(m, key, &v) == NATS_OK && v) {
        unsigned long long n;
        errno = 0;
        n = strtoull(v, &end, 10);
        if (!errno && end != v && !*end)
            *out = n;
    }
}
