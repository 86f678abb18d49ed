/* server: the request loop every worker runs (Malamute's mlm_server role).
 *
 * A worker describes itself with a server_spec_t: its request and reply
 * messages and a dispatch table indexed by the request's `command` oneof
 * case. The server binds the ROUTER, decodes each request with limits,
 * answers malformed, oversized and unknown requests itself, checks
 * request_id on mutating commands and the caller's role, coalesces a
 * repeat of an in-flight request_id onto the first, calls the handler,
 * sends the reply, and keeps per-command counters and latency histograms
 * for the Stats command. Handlers read as decode -> validate -> act ->
 * reply; one that must wait for a peer marks the request deferred and calls
 * server_req_finish() later. */
#ifndef RAPPORT_SERVER_H
#define RAPPORT_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "config.h"
#include "err.h"
#include "store.h"
#include "wire.h"

#include "rapport/v1/common.pb-c.h"

typedef enum {
    ROLE_NONE = 0,
    ROLE_READER = 1,
    ROLE_WRITER = 2,
    ROLE_ADMIN = 3,
} server_role_t;

typedef struct server server_t;
typedef struct server_req server_req_t;

typedef void (*server_handler_fn)(void *ctx, server_req_t *req);

typedef struct {
    const char *name;     /* snake_case, as in the proto oneof */
    server_handler_fn fn; /* NULL: answered UNIMPLEMENTED */
    server_role_t role;   /* least role allowed */
    bool mutating;        /* needs a request_id; a repeat gets the first reply */
    /* Internal to rapport (the log writer's write path, which trusts what
     * the other workers validated): over tcp only their keys (relay = yes)
     * may send it. */
    bool internal;
    /* Idempotent by an id of its own (a segment log's log_id): the server
     * keeps no record under the request_id. */
    bool own_idempotency;
    /* A batch-mode worker's own handler of the command (the server does
     * not look at it): one table says everything about a command. */
    const void *impl;
} server_command_t;

typedef struct {
    const char *worker;
    const ProtobufCMessageDescriptor *request_desc;
    const ProtobufCMessageDescriptor *reply_desc;
    const server_command_t *commands; /* indexed by command case */
    size_t n_commands;
    uint32_t stats_command; /* case of GetStats, answered by the server */
    uint32_t stats_result;  /* reply result case carrying WorkerStats */
    /* Optional. Batch mode: every request drained in one go (up to
     * batch_max) is handed over at once, already validated; the worker
     * replies to each with server_req_finish(). */
    void (*batch_fn)(void *ctx, server_req_t **reqs, size_t n);
    /* Optional, with batch_fn: the work a request brings (1 for most; a
     * segment log batch, its entries). A drain stops once it holds
     * batch_weight_max, so that a peer that sends big requests back to
     * back leaves room, in the next drain, for the others (a ROUTER
     * socket takes its peers in turn). */
    size_t (*weight_fn)(const server_req_t *req);
    size_t batch_weight_max;
    /* Optional: add the worker's own gauges / histograms to a Stats reply. */
    void (*stats_fn)(void *ctx, wire_arena_t *arena, Rapport__V1__WorkerStats *stats);
    /* Optional: called on every loop turn (timeouts, background work). */
    void (*tick_fn)(void *ctx);
    /* Optional: one bounded step of background work (a chunk of a
     * follow-up segment, of an index), run on every loop turn; true when
     * more is left, so that the loop does not sleep before the next. */
    bool (*background_fn)(void *ctx);
    /* Optional: at stop, whether the worker still has work in flight. */
    bool (*busy_fn)(void *ctx);
    void *ctx;
    /* Optional: the worker's idempotency records, two DBIs of its store
     * (see "idempotency records" below). The server answers the repeat of a
     * mutating request from them before any handler sees it, and prunes
     * records older than dedup_retention_days. */
    store_t *dedup_store;
    store_dbi_t dedup_dbi;      /* principal + request_id -> time + first reply */
    store_dbi_t dedup_time_dbi; /* time + principal + request_id -> "" */
    /* Optional: a repeat is being answered from its idempotency record
     * (req->raw_reply holds the first reply). True when the worker holds
     * it (req->deferred) and finishes it later itself. */
    bool (*dedup_hit_fn)(void *ctx, server_req_t *req);
} server_spec_t;

struct server_req {
    server_t *server;
    bus_envelope_t env;
    wire_arena_t *arena;       /* request, reply and handler scratch */
    ProtobufCMessage *request; /* decoded, codes upper-cased */
    ProtobufCMessage *reply;   /* reply_desc, envelope fields set */
    uint32_t command;
    /* The caller: over tcp its CURVE key's user id (a relay key keeps the
     * request's) and role; over ipc the request's user id and ROLE_ADMIN.
     * Record this user id, never a user_id field of the request. It is
     * also the principal of the request's idempotency record. */
    const char *user_id;
    server_role_t role;
    bool user_from_key; /* user_id is the key's: ignore user ids nested in the request */
    bool relay;         /* over tcp: a key with relay = yes (one of rapport's workers) */
    const char *key;    /* over tcp: the caller's public key (Z85); "" over ipc */
    uint64_t t0_ns;
    int status_code; /* rapport.v1.StatusCode */
    char *status_message;
    char *status_field;
    size_t weight;         /* batch mode: weight_fn's answer (1 without it) */
    bool deferred;         /* the handler will call server_req_finish */
    const void *raw_reply; /* set by server_req_reply_raw */
    size_t raw_len;
    void *user;                  /* handler's own per-request data */
    server_req_t *next_waiter;   /* repeats of the same request_id */
    server_req_t *inflight_next; /* server's in-flight list */
    bool in_table;               /* in that list */
};

/* Create a server bound to `endpoint`. On failure errbuf says why
 * (RP_EADDRINUSE, RP_EINVAL...). Owned by the caller (server_destroy). */
rp_err server_new(const server_spec_t *spec, const config_t *cfg, void *zctx, const char *endpoint,
                  server_t **ret_server, char *errbuf, size_t errlen);

/* The gate of the server's process (gate.h), started on first use: a
 * worker binding another tcp socket (the log writer's PUB) passes it to
 * bus_socket_bind. Owned by the server. Errors as gate_new. */
rp_err server_gate(server_t *s, gate_t **ret_gate, char *errbuf, size_t errlen);

/* Accepts NULL; NULLs the caller's pointer. Unfinished requests are
 * dropped without a reply. */
void server_destroy(server_t **self_p);

/* Also poll `sock`; on_readable(ctx) runs when it has input. */
void server_add_socket(server_t *s, void *sock, void (*on_readable)(void *ctx), void *ctx);

/* Run until daemon_stop is set and nothing is in flight (deferred requests
 * and busy_fn). Returns 0. Sends READY=1 first and WATCHDOG=1 as it goes. */
int server_run(server_t *s);

/* Record the failure of a request (first call wins). `err` maps to the
 * wire status code; `field` may be NULL. */
void server_req_fail(server_req_t *req, rp_err err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Same with an explicit wire status code. */
void server_req_status(server_req_t *req, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Forget the status and result set so far (a transaction being run
 * again); the envelope fields stay. */
void server_req_reset_reply(server_req_t *req);

/* Whether the request has failed already. */
bool server_req_failed(const server_req_t *req);

/* Send the reply (status and result as set), count it, free the request.
 * The request must not be used afterwards. */
void server_req_finish(server_req_t *req);

/* Answer with already encoded reply bytes (a dedup hit) instead of
 * req->reply; they are copied. The reply leaves when the request is
 * finished (by the server after a handler returns, or server_req_finish). */
void server_req_reply_raw(server_req_t *req, const void *data, size_t len);

/* Send already encoded reply bytes (a dedup hit) instead of req->reply, then
 * free the request. */
void server_req_finish_bytes(server_req_t *req, const void *data, size_t len);

/* Encode req->reply as it stands (with its status). Caller frees. */
rp_err server_req_encode(server_req_t *req, uint8_t **ret_buf, size_t *ret_len);

/* ---- idempotency records ----
 *
 * A mutating request's first reply is kept under (principal, request_id),
 * the principal being req->user_id: two principals never see each other's
 * replies, and within one a reused request_id returns the first reply and
 * changes nothing. The server answers repeats itself (spec.dedup_*);
 * handlers record their reply in the write transaction of their change. */

/* Store req's reply, encoded as it stands (with its status), under
 * (req->user_id, request_id) in `txn`, a write transaction of the spec's
 * dedup_store. RP_EINVAL without a request_id; store errors. */
rp_err server_dedup_record(server_req_t *req, store_txn_t *txn);

/* Same with reply bytes encoded already, for a principal named by the
 * caller: a deferred request that finishes after a restart, when the
 * server_req_t is gone. */
rp_err server_dedup_put(server_t *s, store_txn_t *txn, const char *user_id,
                        const ProtobufCBinaryData *request_id, const void *reply, size_t len);

/* Look (user_id, request_id) up; on a hit *ret_reply points into the txn. */
bool server_dedup_get(server_t *s, store_txn_t *txn, const char *user_id,
                      const ProtobufCBinaryData *request_id, store_val_t *ret_reply);

/* Delete records older than max_age_ms, at most `budget` of them. */
rp_err server_dedup_prune(server_t *s, store_txn_t *txn, int64_t max_age_ms, size_t budget,
                          size_t *ret_pruned);

/* ---- metrics helpers for stats_fn ---- */

typedef struct {
    uint64_t counts[20];
    double sum;
    uint64_t count;
} server_hist_t;

/* Observe a value in seconds (or any unit matching server_hist_bounds). */
void server_hist_observe(server_hist_t *h, double v);

Rapport__V1__Histogram *server_hist_export(wire_arena_t *a, const server_hist_t *h,
                                           const char *name, const char *help, const char *label,
                                           const char *label_value);

Rapport__V1__Gauge *server_gauge(wire_arena_t *a, const char *name, const char *help, double value);

/* Append to a WorkerStats' repeated fields (arena-grown arrays). */
void server_stats_add_gauge(wire_arena_t *a, Rapport__V1__WorkerStats *st, Rapport__V1__Gauge *g);
void server_stats_add_hist(wire_arena_t *a, Rapport__V1__WorkerStats *st,
                           Rapport__V1__Histogram *h);

/* The store's sizes and reader slots as gauges (every worker has them):
 * rapport_store_map_bytes, _used_bytes, _file_bytes, _readers. */
void server_stats_add_store(wire_arena_t *a, Rapport__V1__WorkerStats *st, store_t *store);

/* Requests waiting in the ROUTER's queue are not visible; this is the
 * number of requests the server holds (deferred / being processed). */
size_t server_inflight(const server_t *s);

/* Test hook (fuzzers): one turn of server_run's loop without notify,
 * watchdog or stop handling: wait up to timeout_ms for input on the ROUTER
 * and the added sockets, handle what is there, run tick_fn. A fuzzer binds
 * the server to an inproc:// endpoint and drives it from a DEALER in the
 * same thread. Returns bus_poll's result (a bit per ready socket, 0, -1). */
int server_step(server_t *s, long timeout_ms);

#endif
