/* config: one file of `key = value` lines, every key overridable by a
 * RAPPORT_<KEY> environment variable and by command-line flags, in that
 * order of precedence (flags > environment > file > defaults). Defaults
 * serve a local start with no file at all.
 *
 * The keys, their types, bounds, defaults and help texts live in one table
 * in config.c; deploy/rapport.conf.example documents the same keys. */
#ifndef RAPPORT_CONFIG_H
#define RAPPORT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define CONFIG_PATH_MAX     1024
#define CONFIG_DEFAULT_FILE "/etc/rapport/rapport.conf"

typedef enum {
    CONFIG_SYNC_FULL = 0,   /* fsync data and meta on every commit */
    CONFIG_SYNC_NOMETA = 1, /* MDB_NOMETASYNC: last commit may roll back on a crash */
    CONFIG_SYNC_NONE = 2,   /* MDB_NOSYNC: for benchmarks of the baseline only */
} config_sync_t;

typedef struct config {
    char run_dir[CONFIG_PATH_MAX];
    char state_dir[CONFIG_PATH_MAX];
    char log_level[16];
    /* Empty endpoints derive from run_dir: ipc://<run_dir>/<name>.sock */
    char interaction_endpoint[CONFIG_PATH_MAX];
    char segment_endpoint[CONFIG_PATH_MAX];
    char logwriter_endpoint[CONFIG_PATH_MAX];
    char events_endpoint[CONFIG_PATH_MAX];
    int64_t sndhwm;
    int64_t rcvhwm;
    int64_t max_msg_size;
    int64_t request_timeout_ms;
    /* Replies held for clients that do not read (server.c s_hold). */
    int64_t held_replies_max;
    int64_t held_bytes_max;
    int64_t held_reply_ms;
    int64_t batch_max;
    bool group_commit;
    int64_t log_batch_entries;
    int64_t log_credit;
    int64_t index_chunk_entries;
    int64_t map_size;
    int64_t event_retention_days;
    int64_t dedup_retention_days;
    config_sync_t sync_mode;
    /* Security (tcp endpoints): CURVE key files and the client keys dir. */
    char curve_secret_key_file[CONFIG_PATH_MAX];
    char curve_server_key_dir[CONFIG_PATH_MAX];
    char curve_client_keys_dir[CONFIG_PATH_MAX];
    char curve_client_secret_key_file[CONFIG_PATH_MAX];
    /* What unauthenticated tcp peers may hold (gate.h). */
    int64_t handshake_timeout_ms;
    int64_t preauth_max_connections;
    int64_t preauth_max_bytes;
    char metrics_listen[128]; /* "" = no HTTP /metrics */
    /* The change stream: rapport-relay's NATS JetStream settings, and how
     * long the log writer keeps events the relay has not confirmed. */
    char nats_url[CONFIG_PATH_MAX];
    char nats_stream[64];
    int64_t nats_replicas;
    int64_t nats_max_age;
    int64_t nats_max_bytes;
    int64_t nats_duplicate_window;
    char nats_user[256];
    char nats_password[256];
    char nats_nkey_seed_file[CONFIG_PATH_MAX];
    char nats_creds_file[CONFIG_PATH_MAX];
    char nats_ca_file[CONFIG_PATH_MAX];
    int64_t relay_hold_max_days;
    /* The log writer answers a write once rapport-relay has confirmed
     * its seq (JetStream holds it), not at its own commit. */
    bool ack_after_relay;
    /* A log writer in replica mode: applies the change stream from
     * JetStream (nats_* settings), serves reads, refuses writes. */
    bool replica;
    char replica_primary[CONFIG_PATH_MAX]; /* named in the refusal of a write */
    char replica_consumer[64];             /* its durable JetStream consumer */
} config_t;

/* Fill every key with its default. */
void config_defaults(config_t *cfg);

/* Apply the lines of a file. A missing file is RP_ENOTFOUND (callers ignore
 * it for the default path only). A bad line, unknown key or bad value is
 * RP_ECONFIG with "FILE:LINE: ..." naming the key in errbuf. */
rp_err config_load_file(config_t *cfg, const char *path, char *errbuf, size_t errlen);

/* Apply `key = value` lines from memory; `name` is used in messages. */
rp_err config_load_buffer(config_t *cfg, const char *name, const char *buf, size_t len,
                          char *errbuf, size_t errlen);

/* Apply every RAPPORT_<KEY> variable of the environment. An unknown
 * RAPPORT_ variable is ignored unless it looks like a key (it is not an
 * error: RAPPORT_TODAY and friends are not config keys). */
rp_err config_load_env(config_t *cfg, char *errbuf, size_t errlen);

/* Set one key (flags). RP_ECONFIG on an unknown key or bad value. */
rp_err config_set(config_t *cfg, const char *key, const char *value, char *errbuf, size_t errlen);

/* Derive empty endpoints from run_dir. Call after every source applied. */
void config_finalize(config_t *cfg);

/* Number of keys and the name / help / default of key i, for the example
 * file check and `--help`. */
size_t config_key_count(void);
const char *config_key_name(size_t i);
const char *config_key_help(size_t i);

/* Standard start-up of a process: defaults, the file (explicit path, else
 * $RAPPORT_CONFIG, else the default one if it exists), the environment, then the flag overrides
 * given as "key=value" strings. Prints nothing; errbuf says what is wrong. */
rp_err config_load_all(config_t *cfg, const char *path, const char *const *overrides,
                       size_t n_overrides, char *errbuf, size_t errlen);

#endif
