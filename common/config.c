/* config: the key table, the `key = value` parser and the override chain.
 *
 * Every key is described once in s_keys; file lines, RAPPORT_* variables
 * and flags all go through s_apply, so a value is checked the same way
 * whatever its source, and every error names where it came from. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

typedef enum { KEY_STRING, KEY_INT, KEY_BOOL, KEY_SYNC, KEY_LEVEL } key_type_t;

typedef struct {
    const char *name;
    key_type_t type;
    size_t offset;
    size_t size; /* strings: buffer size */
    int64_t min, max;
    const char *def;
    const char *help;
} key_t_;

#define STR(field, def, help)                                                                     \
    {                                                                                             \
#field, KEY_STRING, offsetof(config_t, field), sizeof(((config_t *)0)->field), 0, 0, def, \
            help                                                                                  \
    }
#define INT(field, lo, hi, def, help)                                    \
    {                                                                    \
#field, KEY_INT, offsetof(config_t, field), 0, lo, hi, def, help \
    }

static const key_t_ s_keys[] = {
    STR(run_dir, "./var/run", "directory of the ipc sockets"),
    STR(state_dir, "./var/lib", "each worker keeps its LMDB env in <state_dir>/<worker>"),
    {"log_level", KEY_LEVEL, offsetof(config_t, log_level), sizeof(((config_t *)0)->log_level), 0,
     0, "info", "error, warning, notice, info or debug"},
    STR(interaction_endpoint, "",
        "rapport-interaction ROUTER (default ipc://<run_dir>/interaction.sock)"),
    STR(segment_endpoint, "", "rapport-segment ROUTER (default ipc://<run_dir>/segment.sock)"),
    STR(logwriter_endpoint, "",
        "rapport-logwriter ROUTER (default ipc://<run_dir>/logwriter.sock)"),
    STR(events_endpoint, "", "rapport-logwriter PUB (default ipc://<run_dir>/events.sock)"),
    INT(sndhwm, 1, 10000000, "100000", "send high-water mark of every socket, in messages"),
    INT(rcvhwm, 1, 10000000, "100000", "receive high-water mark of every socket, in messages"),
    INT(max_msg_size, 1024, 268435456, "4194304", "largest message accepted, in bytes"),
    INT(request_timeout_ms, 10, 3600000, "10000", "how long a worker waits for a peer's reply"),
    INT(held_replies_max, 1, 10000000, "100000",
        "most replies a worker holds for clients that do not read; beyond, a reply is dropped"),
    INT(held_bytes_max, 1024, INT64_MAX, "67108864", "the bytes of the held replies at most"),
    INT(held_reply_ms, 10, 3600000, "60000",
        "how long a worker holds a reply for a client that does not read"),
    INT(batch_max, 1, 100000, "512", "log writer: most requests applied in one commit"),
    {"group_commit", KEY_BOOL, offsetof(config_t, group_commit), 0, 0, 0, "true",
     "log writer: apply many requests per commit (false: one commit per request)"},
    INT(log_batch_entries, 1, 100000, "4096", "segment log: entries per stream message"),
    INT(log_credit, 1, 1024, "16", "segment log: stream messages in flight"),
    INT(index_chunk_entries, 1, 1000000, "32768",
        "log writer: entries put into the contact index per step after a segment log's commit"),
    INT(map_size, 1048576, INT64_MAX, "1073741824",
        "initial LMDB map size in bytes; the map grows when full"),
    INT(event_retention_days, 1, 36500, "7", "log writer: days the durable event log keeps"),
    INT(dedup_retention_days, 1, 36500, "7", "days a request_id's first reply is kept"),
    {"sync_mode", KEY_SYNC, offsetof(config_t, sync_mode), 0, 0, 0, "full",
     "full (fsync every commit), nometasync, or nosync (benchmarks only)"},
    STR(curve_secret_key_file, "",
        "this worker's CURVE secret key file (NAME.key from rapport keygen) for tcp endpoints; "
        "$CREDENTIALS_DIRECTORY/curve.key (systemd LoadCredential=) takes precedence"),
    STR(curve_server_key_dir, "",
        "directory of the workers' public keys, <worker>.pub (interaction, segment, "
        "logwriter), used to connect to tcp endpoints"),
    STR(curve_client_keys_dir, "",
        "authorized client keys of a worker with tcp endpoints: one <name>.pub each with "
        "role = reader|writer|admin, user = ID and, for a worker's key, relay = yes; "
        "unknown keys are refused"),
    STR(curve_client_secret_key_file, "",
        "CURVE secret key the rapport command (or a worker, instead of its own key) "
        "connects to tcp endpoints with"),
    INT(handshake_timeout_ms, 100, 600000, "5000",
        "tcp endpoints: a connection whose CURVE handshake is not done by then is dropped"),
    INT(preauth_max_connections, 1, 100000, "32",
        "tcp endpoints: connections still in their handshake at once; the oldest is cut "
        "beyond (unauthenticated peers hold at most this times max_msg_size)"),
    INT(preauth_max_bytes, 1024, 268435456, "65536",
        "tcp endpoints: bytes a connection may send before its handshake is done; it is cut "
        "beyond"),
    STR(metrics_listen, "",
        "ADDRESS:PORT where the worker serves GET /metrics for Prometheus (e.g. "
        "127.0.0.1:9101; each worker needs its own port: set it per worker with --set or "
        "RAPPORT_METRICS_LISTEN); empty: no HTTP endpoint"),
    STR(nats_url, "",
        "rapport-relay: NATS server URLs, comma-separated (nats://HOST:4222, tls://...); the "
        "relay does not start without it, and the log writer then keeps every event until "
        "the relay has published it"),
    STR(nats_stream, "RAPPORT", "rapport-relay: the JetStream stream (subjects rapport.v1.>)"),
    INT(nats_replicas, 1, 5, "1",
        "rapport-relay: replicas of a stream it creates (3 survives "
        "the loss of a host)"),
    INT(nats_max_age, 0, INT64_MAX / 1000000000, "0",
        "rapport-relay: seconds the stream keeps a message (0: no limit)"),
    INT(nats_max_bytes, 0, INT64_MAX, "0",
        "rapport-relay: most bytes the stream holds (0: no "
        "limit); the oldest messages go first"),
    INT(nats_duplicate_window, 1, 86400, "120",
        "rapport-relay: seconds JetStream remembers a Nats-Msg-Id"),
    STR(nats_user, "", "rapport-relay: NATS user name (with nats_password)"),
    STR(nats_password, "",
        "rapport-relay: NATS password; $CREDENTIALS_DIRECTORY/nats-password takes precedence"),
    STR(nats_nkey_seed_file, "",
        "rapport-relay: file holding an nkey seed (SU...); $CREDENTIALS_DIRECTORY/nats.nk takes "
        "precedence"),
    STR(nats_creds_file, "",
        "rapport-relay: a .creds file (JWT and nkey seed); $CREDENTIALS_DIRECTORY/nats.creds "
        "takes precedence"),
    STR(nats_ca_file, "", "rapport-relay: CA certificate(s) (PEM) to verify a tls:// NATS server"),
    INT(relay_hold_max_days, 0, 36500, "0",
        "log writer: days an event the relay has not confirmed is kept at most (0: until it is "
        "confirmed); pruning one logs an error and counts it in "
        "rapport_events_pruned_unrelayed_total"),
    {"ack_after_relay", KEY_BOOL, offsetof(config_t, ack_after_relay), 0, 0, 0, "false",
     "log writer: hold each write's reply until rapport-relay has confirmed its seq to JetStream "
     "(an acked write is on the stream's replicas)"},
    {"replica", KEY_BOOL, offsetof(config_t, replica), 0, 0, 0, "false",
     "log writer: a read replica that applies the change stream from JetStream (nats_url, "
     "nats_stream) and refuses writes (also --replica)"},
    STR(replica_primary, "",
        "log writer replica: the primary's endpoint, named when a write is refused"),
    STR(replica_consumer, "rapport-replica",
        "log writer replica: name of its durable JetStream consumer (one per replica)"),
};

#define N_KEYS (sizeof(s_keys) / sizeof(s_keys[0]))

static const key_t_ *s_find(const char *name, size_t len)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (strlen(s_keys[i].name) == len && strncmp(s_keys[i].name, name, len) == 0)
            return &s_keys[i];
    return NULL;
}

static bool s_parse_int(const char *v, int64_t *ret)
{
    char *end;
    long long n;
    int64_t mult = 1;

    if (!*v || isspace((unsigned char)*v))
        return false;
    errno = 0;
    n = strtoll(v, &end, 10);
    if (errno || end == v)
        return false;
    if (*end == 'K' || *end == 'k')
        mult = 1024, end++;
    else if (*end == 'M')
        mult = 1024 * 1024, end++;
    else if (*end == 'G')
        mult = 1024 * 1024 * 1024, end++;
    if (*end)
        return false;
    if (n > INT64_MAX / mult || n < INT64_MIN / mult)
        return false;
    *ret = (int64_t)n * mult;
    return true;
}

/* Apply one value; `where` prefixes messages ("FILE:LINE" or "RAPPORT_X"). */
static rp_err s_apply(config_t *cfg, const key_t_ *k, const char *value, const char *where,
                      char *errbuf, size_t errlen)
{
    char *base = (char *)cfg;

    switch (k->type) {
    case KEY_STRING:
        if (strlen(value) >= k->size) {
            rp_errbuf(errbuf, errlen, "%s: value of '%s' is too long (at most %zu bytes)", where,
                      k->name, k->size - 1);
            return RP_ECONFIG;
        }
        memcpy(base + k->offset, value, strlen(value) + 1);
        return RP_OK;
    case KEY_INT: {
        int64_t n;
        if (!s_parse_int(value, &n) || n < k->min || n > k->max) {
            rp_errbuf(errbuf, errlen,
                      "%s: bad value for '%s': '%s' (expected an integer %lld..%lld)", where,
                      k->name, value, (long long)k->min, (long long)k->max);
            return RP_ECONFIG;
        }
        memcpy(base + k->offset, &n, sizeof(n));
        return RP_OK;
    }
    case KEY_BOOL: {
        bool b;
        if (!strcmp(value, "true") || !strcmp(value, "yes") || !strcmp(value, "1") ||
            !strcmp(value, "on"))
            b = true;
        else if (!strcmp(value, "false") || !strcmp(value, "no") || !strcmp(value, "0") ||
                 !strcmp(value, "off"))
            b = false;
        else {
            rp_errbuf(errbuf, errlen, "%s: bad value for '%s': '%s' (expected true or false)",
                      where, k->name, value);
            return RP_ECONFIG;
        }
        memcpy(base + k->offset, &b, sizeof(b));
        return RP_OK;
    }
    case KEY_SYNC: {
        config_sync_t s;
        if (!strcmp(value, "full"))
            s = CONFIG_SYNC_FULL;
        else if (!strcmp(value, "nometasync"))
            s = CONFIG_SYNC_NOMETA;
        else if (!strcmp(value, "nosync"))
            s = CONFIG_SYNC_NONE;
        else {
            rp_errbuf(errbuf, errlen,
                      "%s: bad value for '%s': '%s' (expected full, nometasync or nosync)", where,
                      k->name, value);
            return RP_ECONFIG;
        }
        memcpy(base + k->offset, &s, sizeof(s));
        return RP_OK;
    }
    case KEY_LEVEL: {
        log_level_t lvl;
        if (!log_level_parse(value, &lvl)) {
            rp_errbuf(
                errbuf, errlen,
                "%s: bad value for '%s': '%s' (expected error, warning, notice, info or debug)",
                where, k->name, value);
            return RP_ECONFIG;
        }
        memcpy(base + k->offset, value, strlen(value) + 1);
        return RP_OK;
    }
    }
    return RP_EINTERNAL;
}

void config_defaults(config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < N_KEYS; i++) {
        rp_err rc = s_apply(cfg, &s_keys[i], s_keys[i].def, "default", NULL, 0);
        (void)rc;
    }
}

static char *s_trim(char *s, char *end)
{
    while (s < end && isspace((unsigned char)*s))
        s++;
    while (end > s && isspace((unsigned char)end[-1]))
        end--;
    *end = '\0';
    return s;
}

rp_err config_load_buffer(config_t *cfg, const char *name, const char *buf, size_t len,
                          char *errbuf, size_t errlen)
{
    size_t pos = 0;
    unsigned lineno = 0;
    char line[4096];

    while (pos < len) {
        size_t start = pos, n;
        char *eq, *key, *value, where[CONFIG_PATH_MAX + 32];
        const key_t_ *k;
        rp_err rc;

        while (pos < len && buf[pos] != '\n')
            pos++;
        n = pos - start;
        pos++; /* the newline */
        lineno++;
        snprintf(where, sizeof(where), "%s:%u", name, lineno);
        if (n >= sizeof(line)) {
            rp_errbuf(errbuf, errlen, "%s: line too long", where);
            return RP_ECONFIG;
        }
        memcpy(line, buf + start, n);
        line[n] = '\0';
        if (memchr(line, '\0', n)) {
            rp_errbuf(errbuf, errlen, "%s: NUL byte in line", where);
            return RP_ECONFIG;
        }
        key = s_trim(line, line + n);
        if (*key == '\0' || *key == '#' || *key == ';')
            continue;
        eq = strchr(key, '=');
        if (!eq) {
            rp_errbuf(errbuf, errlen, "%s: expected 'key = value', got '%s'", where, key);
            return RP_ECONFIG;
        }
        value = s_trim(eq + 1, key + strlen(key));
        key = s_trim(key, eq);
        /* Optional double quotes around the value. */
        if (strlen(value) >= 2 && value[0] == '"' && value[strlen(value) - 1] == '"') {
            value[strlen(value) - 1] = '\0';
            value++;
        }
        k = s_find(key, strlen(key));
        if (!k) {
            rp_errbuf(errbuf, errlen, "%s: unknown key '%s'", where, key);
            return RP_ECONFIG;
        }
        rc = s_apply(cfg, k, value, where, errbuf, errlen);
        if (rc != RP_OK)
            return rc;
    }
    return RP_OK;
}

rp_err config_load_file(config_t *cfg, const char *path, char *errbuf, size_t errlen)
{
    FILE *f;
    char *buf = NULL;
    size_t cap = 0, len = 0;
    rp_err rc;

    f = fopen(path, "r");
    if (!f) {
        rp_errbuf(errbuf, errlen, "%s: %s", path, strerror(errno));
        return errno == ENOENT ? RP_ENOTFOUND : RP_ECONFIG;
    }
    for (;;) {
        size_t got;
        if (len + 4096 > cap) {
            char *nb;
            if (cap > 1024 * 1024) {
                rp_errbuf(errbuf, errlen, "%s: file too large", path);
                rc = RP_ECONFIG;
                goto out_close;
            }
            cap = cap ? cap * 2 : 8192;
            nb = realloc(buf, cap);
            if (!nb) {
                rc = RP_ENOMEM;
                goto out_close;
            }
            buf = nb;
        }
        got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        rp_errbuf(errbuf, errlen, "%s: %s", path, strerror(errno));
        rc = RP_ECONFIG;
        goto out_close;
    }
    rc = config_load_buffer(cfg, path, buf ? buf : "", len, errbuf, errlen);
out_close:
    free(buf);
    fclose(f);
    return rc;
}

rp_err config_load_env(config_t *cfg, char *errbuf, size_t errlen)
{
    for (size_t i = 0; i < N_KEYS; i++) {
        char var[96], where[128];
        const char *v;
        size_t j;

        snprintf(var, sizeof(var), "RAPPORT_%s", s_keys[i].name);
        for (j = 8; var[j]; j++)
            var[j] = (char)toupper((unsigned char)var[j]);
        v = getenv(var);
        if (!v)
            continue;
        snprintf(where, sizeof(where), "environment %s", var);
        rp_err rc = s_apply(cfg, &s_keys[i], v, where, errbuf, errlen);
        if (rc != RP_OK)
            return rc;
    }
    return RP_OK;
}

rp_err config_set(config_t *cfg, const char *key, const char *value, char *errbuf, size_t errlen)
{
    const key_t_ *k = s_find(key, strlen(key));
    char where[128];

    if (!k) {
        rp_errbuf(errbuf, errlen, "unknown configuration key '%s'", key);
        return RP_ECONFIG;
    }
    snprintf(where, sizeof(where), "option --%s", key);
    for (char *p = where; *p; p++)
        if (*p == '_')
            *p = '-';
    return s_apply(cfg, k, value, where, errbuf, errlen);
}

void config_finalize(config_t *cfg)
{
    struct {
        char *ep;
        const char *name;
    } eps[] = {
        {cfg->interaction_endpoint, "interaction"},
        {cfg->segment_endpoint, "segment"},
        {cfg->logwriter_endpoint, "logwriter"},
        {cfg->events_endpoint, "events"},
    };
    for (size_t i = 0; i < sizeof(eps) / sizeof(eps[0]); i++) {
        if (eps[i].ep[0])
            continue;
        int n = snprintf(eps[i].ep, CONFIG_PATH_MAX, "ipc://%s/%s.sock", cfg->run_dir, eps[i].name);
        if (n < 0 || n >= CONFIG_PATH_MAX)
            eps[i].ep[0] = '\0';
    }
}

size_t config_key_count(void)
{
    return N_KEYS;
}

const char *config_key_name(size_t i)
{
    return i < N_KEYS ? s_keys[i].name : NULL;
}

const char *config_key_help(size_t i)
{
    return i < N_KEYS ? s_keys[i].help : NULL;
}

rp_err config_load_all(config_t *cfg, const char *path, const char *const *overrides,
                       size_t n_overrides, char *errbuf, size_t errlen)
{
    rp_err rc;

    config_defaults(cfg);
    if (!path || !*path)
        path = getenv("RAPPORT_CONFIG");
    if (path && *path) {
        rc = config_load_file(cfg, path, errbuf, errlen);
        if (rc != RP_OK)
            return rc == RP_ENOTFOUND ? RP_ECONFIG : rc;
    } else {
        rc = config_load_file(cfg, CONFIG_DEFAULT_FILE, errbuf, errlen);
        if (rc != RP_OK && rc != RP_ENOTFOUND)
            return rc;
    }
    rc = config_load_env(cfg, errbuf, errlen);
    if (rc != RP_OK)
        return rc;
    for (size_t i = 0; i < n_overrides; i++) {
        const char *eq = strchr(overrides[i], '=');
        char key[64];
        if (!eq || (size_t)(eq - overrides[i]) >= sizeof(key)) {
            rp_errbuf(errbuf, errlen, "bad override '%s'", overrides[i]);
            return RP_ECONFIG;
        }
        memcpy(key, overrides[i], (size_t)(eq - overrides[i]));
        key[eq - overrides[i]] = '\0';
        rc = config_set(cfg, key, eq + 1, errbuf, errlen);
        if (rc != RP_OK)
            return rc;
    }
    config_finalize(cfg);
    if (errbuf && errlen)
        errbuf[0] = '\0';
    return RP_OK;
}
