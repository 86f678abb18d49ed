/* server_internal: what server.c and server_stats.c share (private to
 * them): the server's state. */
#ifndef RAPPORT_SERVER_INTERNAL_H
#define RAPPORT_SERVER_INTERNAL_H

#include "gate.h"
#include "server.h"

#define N_CODES          17
#define INFLIGHT_BUCKETS 4096
#define ARENA_POOL       64
#define MAX_EXTRA        6
#define PRUNE_FIRST_MS   5000  /* idempotency records: first prune after start */
#define PRUNE_EVERY_MS   60000 /* ... then every minute */
#define PRUNE_BUDGET     10000 /* ... at most this many per transaction */

typedef struct {
    void *sock;
    void (*fn)(void *ctx);
    void *ctx;
} extra_t;

/* A reply held for a client whose queue is full: its envelope frames, then
 * the reply, in `bytes`. */
typedef struct held {
    struct held *next;
    int64_t expires_ms;
    size_t n_env;
    size_t env_len[BUS_MAX_ENVELOPE];
    size_t len;
    uint8_t bytes[];
} held_t;

struct server {
    server_spec_t spec;
    const config_t *cfg;
    void *router;
    extra_t extra[MAX_EXTRA];
    size_t n_extra;
    server_req_t *inflight[INFLIGHT_BUCKETS];
    size_t n_inflight;
    wire_arena_t *pool[ARENA_POOL];
    size_t n_pool;
    server_req_t **batch;
    uint64_t *counts;       /* n_commands * N_CODES */
    server_hist_t *latency; /* n_commands */
    uint64_t malformed;
    held_t *held; /* oldest first */
    held_t **held_tail;
    size_t n_held, held_bytes;
    uint64_t replies_dropped;
    uint64_t *denied;    /* n_commands: PERMISSION_DENIED answers */
    uint64_t dedup_hits; /* repeats answered from an idempotency record */
    int64_t next_prune_ms;
    bool curve;                /* tcp: callers are known by their CURVE key */
    gate_t *gate;              /* tcp: the ZAP handler and pre-auth guard, made on demand */
    struct metrics_http *http; /* GET /metrics, when metrics_listen is set */
    int64_t started_ms, http_run_ms;
    void *zctx;
    char endpoint[CONFIG_PATH_MAX];
};

/* Answer a GetStats request with the server's and the worker's metrics,
 * and finish it (server_stats.c). */
void server_stats_answer(server_t *s, server_req_t *req);

/* The metrics as Prometheus text for GET /metrics (a metrics_http_fn; ctx is
 * the server): 0 with *ret_text malloc'd, or -1 (server_stats.c). */
int server_stats_text(void *ctx, char **ret_text, size_t *ret_len);

#endif
