/* server: the ROUTER request loop shared by the three workers.
 *
 * One pass of the loop drains what is waiting on the ROUTER (up to
 * batch_max), validates each request the same way for every worker, and
 * dispatches through the worker's table. Requests are allocated from a
 * small pool of arenas, so a steady load does no malloc per request. */
#include "server.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "clock.h"
#include "daemon.h"
#include "log.h"

#define N_CODES          17
#define INFLIGHT_BUCKETS 4096
#define ARENA_POOL       64
#define MAX_EXTRA        6
#define HELD_MAX         100000     /* replies held for clients that do not read */
#define HELD_BYTES_MAX   (64 << 20) /* ... their bytes at most */
#define HELD_MS          60000      /* ... and for how long */

static const double s_bounds[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                  0.005,   0.01,   0.025,   0.05,   0.1,   0.25,
                                  0.5,     1,      2.5,     5,      10,    30};
#define N_BOUNDS (sizeof(s_bounds) / sizeof(s_bounds[0]))

static const char *s_code_names[N_CODES] = {
    "ok",
    "cancelled",
    "unknown",
    "invalid_argument",
    "deadline_exceeded",
    "not_found",
    "already_exists",
    "permission_denied",
    "resource_exhausted",
    "failed_precondition",
    "aborted",
    "out_of_range",
    "unimplemented",
    "internal",
    "unavailable",
    "data_loss",
    "unauthenticated",
};

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
    bool curve; /* tcp: callers are known by their CURVE key */
    char endpoint[CONFIG_PATH_MAX];
};

/* ---- metrics ---- */

void server_hist_observe(server_hist_t *h, double v)
{
    size_t i = 0;
    while (i < N_BOUNDS && v > s_bounds[i])
        i++;
    h->counts[i]++;
    h->sum += v;
    h->count++;
}

static Rapport__V1__Label **s_labels(wire_arena_t *a, const char *name, const char *value,
                                     const char *name2, const char *value2, size_t *ret_n)
{
    Rapport__V1__Label **ls = (Rapport__V1__Label **)wire_arena_ptrs(a, 2);
    size_t n = 0;
    if (name) {
        ls[n] = (Rapport__V1__Label *)wire_arena_message(a, &rapport__v1__label__descriptor);
        ls[n]->name = wire_str(name);
        ls[n]->value = wire_str(value);
        n++;
    }
    if (name2) {
        ls[n] = (Rapport__V1__Label *)wire_arena_message(a, &rapport__v1__label__descriptor);
        ls[n]->name = wire_str(name2);
        ls[n]->value = wire_str(value2);
        n++;
    }
    *ret_n = n;
    return ls;
}

Rapport__V1__Histogram *server_hist_export(wire_arena_t *a, const server_hist_t *h,
                                           const char *name, const char *help, const char *label,
                                           const char *label_value)
{
    Rapport__V1__Histogram *x =
        (Rapport__V1__Histogram *)wire_arena_message(a, &rapport__v1__histogram__descriptor);
    uint64_t cum = 0;

    x->name = wire_str(name);
    x->help = wire_str(help);
    x->labels = s_labels(a, label, label_value, NULL, NULL, &x->n_labels);
    x->n_bounds = N_BOUNDS;
    x->bounds = wire_arena_alloc(a, sizeof(double) * N_BOUNDS);
    memcpy(x->bounds, s_bounds, sizeof(s_bounds));
    x->n_counts = N_BOUNDS + 1;
    x->counts = wire_arena_alloc(a, sizeof(uint64_t) * (N_BOUNDS + 1));
    for (size_t i = 0; i <= N_BOUNDS; i++) {
        cum += h->counts[i];
        x->counts[i] = cum;
    }
    x->sum = h->sum;
    x->count = h->count;
    return x;
}

Rapport__V1__Gauge *server_gauge(wire_arena_t *a, const char *name, const char *help, double value)
{
    Rapport__V1__Gauge *g =
        (Rapport__V1__Gauge *)wire_arena_message(a, &rapport__v1__gauge__descriptor);
    g->name = wire_str(name);
    g->help = wire_str(help);
    g->value = value;
    return g;
}

#define APPEND(a, arr, n, item)                        \
    do {                                               \
        void **grown_ = wire_arena_ptrs(a, (n) + 1);   \
        if (n)                                         \
            memcpy(grown_, arr, sizeof(void *) * (n)); \
        grown_[n] = item;                              \
        arr = (void *)grown_;                          \
        (n)++;                                         \
    } while (0)

void server_stats_add_gauge(wire_arena_t *a, Rapport__V1__WorkerStats *st, Rapport__V1__Gauge *g)
{
    APPEND(a, st->gauges, st->n_gauges, g);
}

void server_stats_add_hist(wire_arena_t *a, Rapport__V1__WorkerStats *st, Rapport__V1__Histogram *h)
{
    APPEND(a, st->histograms, st->n_histograms, h);
}

void server_stats_add_store(wire_arena_t *a, Rapport__V1__WorkerStats *st, store_t *store)
{
    store_info_t info;
    if (store_info(store, &info) != RP_OK)
        return;
    server_stats_add_gauge(
        a, st, server_gauge(a, "rapport_store_map_bytes", "LMDB map size", (double)info.map_size));
    server_stats_add_gauge(a, st,
                           server_gauge(a, "rapport_store_used_bytes",
                                        "LMDB pages in use times the page size",
                                        (double)info.used_bytes));
    server_stats_add_gauge(a, st,
                           server_gauge(a, "rapport_store_file_bytes", "Size of data.mdb on disk",
                                        (double)info.file_bytes));
    server_stats_add_gauge(a, st,
                           server_gauge(a, "rapport_store_readers", "LMDB reader slots in use",
                                        (double)info.readers_used));
}

static void s_add_counter(wire_arena_t *a, Rapport__V1__WorkerStats *st, const char *name,
                          const char *help, const char *l1, const char *v1, const char *l2,
                          const char *v2, uint64_t value)
{
    Rapport__V1__Counter *c =
        (Rapport__V1__Counter *)wire_arena_message(a, &rapport__v1__counter__descriptor);
    c->name = wire_str(name);
    c->help = wire_str(help);
    c->labels = s_labels(a, l1, v1, l2, v2, &c->n_labels);
    c->value = value;
    APPEND(a, st->counters, st->n_counters, c);
}

/* ---- in-flight table (request_id -> first request) ---- */

static size_t s_hash(const ProtobufCBinaryData *id)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < id->len; i++)
        h = (h ^ id->data[i]) * 1099511628211ull;
    return (size_t)(h % INFLIGHT_BUCKETS);
}

static bool s_same_id(const ProtobufCBinaryData *a, const ProtobufCBinaryData *b)
{
    return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

static server_req_t *s_inflight_find(server_t *s, const ProtobufCBinaryData *id)
{
    for (server_req_t *r = s->inflight[s_hash(id)]; r; r = r->inflight_next)
        if (s_same_id(wire_msg_request_id(r->request), id))
            return r;
    return NULL;
}

static void s_inflight_add(server_t *s, server_req_t *req)
{
    size_t b = s_hash(wire_msg_request_id(req->request));
    req->inflight_next = s->inflight[b];
    s->inflight[b] = req;
}

static void s_inflight_remove(server_t *s, server_req_t *req)
{
    const ProtobufCBinaryData *id = req->request ? wire_msg_request_id(req->request) : NULL;
    server_req_t **pp;
    if (!id || !id->len)
        return;
    for (pp = &s->inflight[s_hash(id)]; *pp; pp = &(*pp)->inflight_next)
        if (*pp == req) {
            *pp = req->inflight_next;
            return;
        }
}

/* ---- requests ---- */

static server_req_t *s_req_new(server_t *s)
{
    wire_arena_t *a = s->n_pool ? s->pool[--s->n_pool] : wire_arena_new();
    server_req_t *req;
    if (!a)
        abort();
    req = wire_arena_alloc(a, sizeof(*req));
    req->server = s;
    req->arena = a;
    req->t0_ns = clock_mono_ns();
    req->role = ROLE_ADMIN;
    s->n_inflight++;
    return req;
}

static void s_req_free(server_req_t *req)
{
    server_t *s = req->server;
    wire_arena_t *a = req->arena;
    s->n_inflight--;
    if (s->n_pool < ARENA_POOL) {
        wire_arena_reset(a);
        s->pool[s->n_pool++] = a;
    } else {
        wire_arena_destroy(&a);
    }
}

static void s_vstatus(server_req_t *req, int code, const char *field, const char *fmt, va_list ap)
{
    char buf[1024];
    if (req->status_code != 0)
        return;
    vsnprintf(buf, sizeof(buf), fmt, ap);
    req->status_code = code;
    req->status_message = wire_arena_strdup(req->arena, buf);
    req->status_field = wire_arena_strdup(req->arena, field ? field : "");
}

void server_req_status(server_req_t *req, int code, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_vstatus(req, code, field, fmt, ap);
    va_end(ap);
}

void server_req_fail(server_req_t *req, rp_err err, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_vstatus(req, rp_err_status_code(err), field, fmt, ap);
    va_end(ap);
}

static ProtobufCMessage *s_reply_msg(server_req_t *req)
{
    if (!req->reply)
        req->reply = wire_arena_message(req->arena, req->server->spec.reply_desc);
    return req->reply;
}

void server_req_reset_reply(server_req_t *req)
{
    ProtobufCMessage *old = s_reply_msg(req);
    const ProtobufCBinaryData *rid = wire_msg_request_id(old);
    ProtobufCBinaryData id = rid ? *rid : (ProtobufCBinaryData){0, NULL};
    const char *user = wire_msg_user_id(old);

    req->reply = wire_arena_message(req->arena, req->server->spec.reply_desc);
    wire_msg_set_envelope(req->reply, id, user);
    req->status_code = 0;
    req->status_message = NULL;
    req->status_field = NULL;
}

bool server_req_failed(const server_req_t *req)
{
    return req->status_code != 0;
}

rp_err server_req_encode(server_req_t *req, uint8_t **ret_buf, size_t *ret_len)
{
    ProtobufCMessage *reply = s_reply_msg(req);
    if (req->status_code != 0) {
        Rapport__V1__Status *st =
            (Rapport__V1__Status *)wire_arena_message(req->arena, &rapport__v1__status__descriptor);
        st->code = (Rapport__V1__StatusCode)req->status_code;
        st->message = req->status_message;
        st->field = req->status_field;
        wire_msg_set_status(reply, &st->base);
    }
    return wire_encode(reply, ret_buf, ret_len);
}

static void s_count(server_req_t *req)
{
    server_t *s = req->server;
    int code = req->status_code >= 0 && req->status_code < N_CODES ? req->status_code : 2;
    if (req->command < s->spec.n_commands) {
        s->counts[req->command * N_CODES + (size_t)code]++;
        server_hist_observe(&s->latency[req->command],
                            (double)(clock_mono_ns() - req->t0_ns) / 1e9);
    }
}

/* Keep a reply the client's queue cannot take now (it does not read: its
 * rcvhwm and our sndhwm are full); s_flush_held sends it later. */
static void s_hold(server_t *s, const bus_envelope_t *env, const void *data, size_t len)
{
    size_t env_bytes = 0;
    held_t *h;
    uint8_t *p;

    for (size_t i = 0; i < env->n; i++)
        env_bytes += env->len[i];
    h = s->n_held < HELD_MAX && s->held_bytes + env_bytes + len <= HELD_BYTES_MAX
            ? malloc(sizeof(*h) + env_bytes + len)
            : NULL;
    if (!h) {
        s->replies_dropped++;
        log_debug("reply dropped: %zu replies (%zu bytes) held already", s->n_held, s->held_bytes);
        return;
    }
    h->next = NULL;
    h->expires_ms = clock_mono_ms() + HELD_MS;
    h->n_env = env->n;
    h->len = len;
    p = h->bytes;
    for (size_t i = 0; i < env->n; i++) {
        h->env_len[i] = env->len[i];
        memcpy(p, env->data[i], env->len[i]);
        p += env->len[i];
    }
    if (len)
        memcpy(p, data, len);
    if (!s->held_tail)
        s->held_tail = &s->held;
    *s->held_tail = h;
    s->held_tail = &h->next;
    s->n_held++;
    s->held_bytes += env_bytes + len;
}

/* Send the held replies that the clients' queues take now; drop those held
 * for HELD_MS, and those whose client is gone. */
static void s_flush_held(server_t *s)
{
    held_t **pp = &s->held;
    int64_t now = clock_mono_ms();

    while (*pp) {
        held_t *h = *pp;
        bus_envelope_t env;
        const uint8_t *p = h->bytes;
        rp_err rc;

        env.n = h->n_env;
        for (size_t i = 0; i < h->n_env; i++) {
            env.len[i] = h->env_len[i];
            memcpy(env.data[i], p, h->env_len[i]);
            p += h->env_len[i];
        }
        rc = bus_send_reply(s->router, &env, p, h->len);
        if (rc == RP_ENOSPC && now < h->expires_ms) {
            pp = &h->next;
            continue;
        }
        if (rc != RP_OK) {
            s->replies_dropped++;
            log_debug("held reply dropped: %s", rp_strerror(rc));
        }
        *pp = h->next;
        s->held_bytes -= (size_t)(p - h->bytes) + h->len;
        free(h);
        s->n_held--;
    }
    s->held_tail = pp;
}

static void s_send(server_req_t *req, const void *data, size_t len)
{
    rp_err rc = bus_send_reply(req->server->router, &req->env, data, len);
    if (rc == RP_ENOSPC) {
        s_hold(req->server, &req->env, data, len);
    } else if (rc != RP_OK) {
        req->server->replies_dropped++;
        log_debug("reply dropped: %s", rp_strerror(rc));
    }
}

static void s_finish_with(server_req_t *req, const void *data, size_t len)
{
    server_req_t *w = req->next_waiter;
    s_inflight_remove(req->server, req);
    s_send(req, data, len);
    s_count(req);
    while (w) {
        server_req_t *next = w->next_waiter;
        s_send(w, data, len);
        w->status_code = req->status_code;
        s_count(w);
        s_req_free(w);
        w = next;
    }
    s_req_free(req);
}

void server_req_reply_raw(server_req_t *req, const void *data, size_t len)
{
    void *copy = wire_arena_alloc(req->arena, len);
    memcpy(copy, data, len);
    req->raw_reply = copy;
    req->raw_len = len;
}

void server_req_finish(server_req_t *req)
{
    uint8_t *buf;
    size_t len;

    if (req->raw_reply) {
        s_finish_with(req, req->raw_reply, req->raw_len);
        return;
    }
    if (server_req_encode(req, &buf, &len) != RP_OK) {
        log_errx("out of memory encoding a reply");
        s_finish_with(req, "", 0);
        return;
    }
    s_finish_with(req, buf, len);
    free(buf);
}

void server_req_finish_bytes(server_req_t *req, const void *data, size_t len)
{
    s_finish_with(req, data, len);
}

/* Answer a request the server refuses before any handler sees it. */
static void s_refuse(server_t *s, server_req_t *req, ProtobufCBinaryData request_id, int code,
                     const char *field, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void s_refuse(server_t *s, server_req_t *req, ProtobufCBinaryData request_id, int code,
                     const char *field, const char *fmt, ...)
{
    va_list ap;
    ProtobufCBinaryData copy = {request_id.len, NULL};

    if (request_id.len) {
        copy.data = wire_arena_alloc(req->arena, request_id.len);
        memcpy(copy.data, request_id.data, request_id.len);
    }
    req->reply = wire_arena_message(req->arena, s->spec.reply_desc);
    wire_msg_set_envelope(req->reply, copy, "");
    va_start(ap, fmt);
    s_vstatus(req, code, field, fmt, ap);
    va_end(ap);
    log_warnx("refused request: %s", req->status_message);
    server_req_finish(req);
}

static server_role_t s_role_parse(const char *name)
{
    if (!strcmp(name, "admin"))
        return ROLE_ADMIN;
    if (!strcmp(name, "writer"))
        return ROLE_WRITER;
    if (!strcmp(name, "reader"))
        return ROLE_READER;
    return ROLE_NONE;
}

static const char *s_role_name(server_role_t role)
{
    return role == ROLE_ADMIN ? "admin" : role == ROLE_WRITER ? "writer" : "reader";
}

/* Who is asking. Over tcp, the CURVE key's role and user id (the ZAP
 * handler's metadata, auth.h): the key's user id replaces the request's,
 * except that a relay key (a worker passing on the user id its own caller
 * was authenticated with) keeps a non-empty one. The request's user_id
 * field is rewritten to match, so a handler reading the request sees the
 * same id. Over ipc, the socket directory's permissions are the gate: the
 * admin role, and the request's user id. */
static void s_identify(server_t *s, server_req_t *req, zmq_msg_t *body)
{
    const char *asked = wire_msg_user_id(req->request);
    bus_peer_t peer;

    req->user_id = asked;
    req->role = ROLE_ADMIN;
    if (!s->curve)
        return;
    bus_msg_peer(body, &peer);
    req->role = s_role_parse(peer.role);
    if (peer.relay && *asked)
        return;
    req->user_id = wire_arena_strdup(req->arena, peer.user);
    req->user_from_key = true;
    wire_msg_set_envelope(req->request, *wire_msg_request_id(req->request), req->user_id);
}

/* Read one request; returns false when nothing was waiting. */
static bool s_read_one(server_t *s, server_req_t **ret_req)
{
    server_req_t *req;
    zmq_msg_t body;
    wire_error_t werr;
    const server_command_t *cmd;
    const ProtobufCBinaryData *rid;
    rp_err rc;

    *ret_req = NULL;
    req = s_req_new(s);
    rc = bus_recv_request(s->router, &req->env, &body);
    if (rc == RP_ENOTFOUND) {
        s_req_free(req);
        return false;
    }
    if (rc != RP_OK) {
        s->malformed++;
        log_warnx("dropped a message with a bad envelope");
        s_req_free(req);
        return true;
    }
    if (zmq_msg_size(&body) > (size_t)s->cfg->max_msg_size) {
        ProtobufCBinaryData id = wire_peek_request_id(zmq_msg_data(&body), zmq_msg_size(&body));
        s->malformed++;
        s_refuse(s, req, id, RAPPORT__V1__STATUS_CODE__RESOURCE_EXHAUSTED, "",
                 "message of %zu bytes is larger than the limit of %lld bytes", zmq_msg_size(&body),
                 (long long)s->cfg->max_msg_size);
        zmq_msg_close(&body);
        return true;
    }
    rc = wire_decode_arena(req->arena, s->spec.request_desc, zmq_msg_data(&body),
                           zmq_msg_size(&body), (size_t)s->cfg->max_msg_size, WIRE_NORMALIZE,
                           &req->request, &werr);
    if (rc != RP_OK) {
        ProtobufCBinaryData id = wire_peek_request_id(zmq_msg_data(&body), zmq_msg_size(&body));
        s->malformed++;
        s_refuse(s, req, id, rp_err_status_code(rc), werr.field, "%s", werr.message);
        zmq_msg_close(&body);
        return true;
    }
    /* The connection's metadata lives in the message: read it first. */
    s_identify(s, req, &body);
    zmq_msg_close(&body);

    rid = wire_msg_request_id(req->request);
    req->command = wire_oneof_case(req->request);
    req->reply = wire_arena_message(req->arena, s->spec.reply_desc);
    wire_msg_set_envelope(req->reply, *rid, req->user_id);

    if (req->command == 0 || req->command >= s->spec.n_commands ||
        !s->spec.commands[req->command].name) {
        s->malformed++;
        s_refuse(s, req, *rid, RAPPORT__V1__STATUS_CODE__INVALID_ARGUMENT, "command",
                 "unknown command (field %u)", req->command);
        return true;
    }
    cmd = &s->spec.commands[req->command];
    if (req->role < cmd->role) {
        log_notice("refused %s to user '%s': it needs the %s role", cmd->name, req->user_id,
                   s_role_name(cmd->role));
        server_req_status(req, RAPPORT__V1__STATUS_CODE__PERMISSION_DENIED, "command",
                          "%s needs the %s role", cmd->name, s_role_name(cmd->role));
        server_req_finish(req);
        return true;
    }
    if (cmd->mutating && !wire_request_id_valid(rid)) {
        server_req_status(req, RAPPORT__V1__STATUS_CODE__INVALID_ARGUMENT, "request_id",
                          "request_id is required for %s (1 to %d bytes)", cmd->name,
                          WIRE_REQUEST_ID_MAX);
        server_req_finish(req);
        return true;
    }
    if (cmd->mutating) {
        server_req_t *first = s_inflight_find(s, rid);
        if (first) {
            /* A retry while the first is still being worked on: it gets
             * the first one's reply. */
            req->next_waiter = first->next_waiter;
            first->next_waiter = req;
            return true;
        }
        s_inflight_add(s, req);
    }
    *ret_req = req;
    return true;
}

static void s_answer_stats(server_t *s, server_req_t *req)
{
    wire_arena_t *a = req->arena;
    Rapport__V1__WorkerStats *st =
        (Rapport__V1__WorkerStats *)wire_arena_message(a, &rapport__v1__worker_stats__descriptor);
    const ProtobufCFieldDescriptor *fd;

    st->worker = wire_str(s->spec.worker);
    for (size_t c = 0; c < s->spec.n_commands; c++) {
        const char *name = s->spec.commands[c].name;
        if (!name)
            continue;
        for (size_t k = 0; k < N_CODES; k++) {
            uint64_t n = s->counts[c * N_CODES + k];
            if (n)
                s_add_counter(a, st, "rapport_requests_total",
                              "Requests answered, by command and status code", "command", name,
                              "code", s_code_names[k], n);
        }
        if (s->latency[c].count)
            server_stats_add_hist(
                a, st,
                server_hist_export(a, &s->latency[c], "rapport_request_duration_seconds",
                                   "Time from receipt to reply", "command", name));
    }
    s_add_counter(a, st, "rapport_malformed_requests_total",
                  "Requests refused before dispatch (malformed, oversized, unknown)", NULL, NULL,
                  NULL, NULL, s->malformed);
    s_add_counter(a, st, "rapport_replies_dropped_total",
                  "Replies not delivered: the client was gone, or did not read for 60 s", NULL,
                  NULL, NULL, NULL, s->replies_dropped);
    server_stats_add_gauge(a, st,
                           server_gauge(a, "rapport_replies_held",
                                        "Replies waiting for a client that does not read",
                                        (double)s->n_held));
    server_stats_add_gauge(a, st,
                           server_gauge(a, "rapport_requests_in_flight",
                                        "Requests held by the worker", (double)s->n_inflight - 1));
    if (s->spec.stats_fn)
        s->spec.stats_fn(s->spec.ctx, a, st);
    /* Put the WorkerStats into the reply's result oneof. */
    fd = protobuf_c_message_descriptor_get_field(s->spec.reply_desc, s->spec.stats_result);
    if (fd && (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)) {
        *(uint32_t *)((char *)req->reply + fd->quantifier_offset) = fd->id;
        *(void **)((char *)req->reply + fd->offset) = st;
    }
    server_req_finish(req);
}

static void s_on_router(server_t *s)
{
    size_t n = 0, max = (size_t)s->cfg->batch_max;
    server_req_t *req;

    while (n < max && s_read_one(s, &req)) {
        if (!req)
            continue;
        if (req->command == s->spec.stats_command) {
            s_answer_stats(s, req);
            continue;
        }
        if (s->spec.batch_fn) {
            s->batch[n++] = req;
            continue;
        }
        s->spec.commands[req->command].fn
            ? s->spec.commands[req->command].fn(s->spec.ctx, req)
            : server_req_status(req, RAPPORT__V1__STATUS_CODE__UNIMPLEMENTED, "command",
                                "%s is not implemented", s->spec.commands[req->command].name);
        if (!req->deferred)
            server_req_finish(req);
        n++;
    }
    if (s->spec.batch_fn && n)
        s->spec.batch_fn(s->spec.ctx, s->batch, n);
}

rp_err server_new(const server_spec_t *spec, const config_t *cfg, void *zctx, const char *endpoint,
                  server_t **ret_server, char *errbuf, size_t errlen)
{
    server_t *s = calloc(1, sizeof(*s));
    rp_err rc;

    if (!s)
        return RP_ENOMEM;
    s->spec = *spec;
    s->cfg = cfg;
    snprintf(s->endpoint, sizeof(s->endpoint), "%s", endpoint);
    s->curve = auth_endpoint_is_tcp(endpoint);
    s->counts = calloc(spec->n_commands * N_CODES, sizeof(uint64_t));
    s->latency = calloc(spec->n_commands, sizeof(server_hist_t));
    s->batch = calloc((size_t)cfg->batch_max, sizeof(server_req_t *));
    if (!s->counts || !s->latency || !s->batch) {
        server_destroy(&s);
        return RP_ENOMEM;
    }
    rc = bus_socket_bind(zctx, BUS_ROUTER, endpoint, cfg, &s->router, errbuf, errlen);
    if (rc != RP_OK) {
        server_destroy(&s);
        return rc;
    }
    *ret_server = s;
    return RP_OK;
}

void server_destroy(server_t **self_p)
{
    server_t *s;
    if (!self_p || !*self_p)
        return;
    s = *self_p;
    if (s->router)
        zmq_close(s->router);
    for (size_t i = 0; i < s->n_pool; i++)
        wire_arena_destroy(&s->pool[i]);
    while (s->held) {
        held_t *next = s->held->next;
        free(s->held);
        s->held = next;
    }
    free(s->counts);
    free(s->latency);
    free(s->batch);
    free(s);
    *self_p = NULL;
}

void server_add_socket(server_t *s, void *sock, void (*on_readable)(void *ctx), void *ctx)
{
    if (s->n_extra >= MAX_EXTRA)
        abort(); /* programmer error: the table is sized for our workers */
    s->extra[s->n_extra].sock = sock;
    s->extra[s->n_extra].fn = on_readable;
    s->extra[s->n_extra].ctx = ctx;
    s->n_extra++;
}

size_t server_inflight(const server_t *s)
{
    return s->n_inflight;
}

int server_run(server_t *s)
{
    bool stopping = false;

    daemon_notify("READY=1\nSTATUS=serving on %s", s->endpoint);
    log_info("serving on %s", s->endpoint);
    for (;;) {
        void *socks[1 + MAX_EXTRA];
        size_t n = 0, first_extra;
        int ready;

        if (daemon_stop && !stopping) {
            stopping = true;
            daemon_notify("STOPPING=1\nSTATUS=finishing %zu requests in flight", s->n_inflight);
            log_info("stopping: finishing %zu requests in flight", s->n_inflight);
        }
        if (stopping && s->n_inflight == 0 && !(s->spec.busy_fn && s->spec.busy_fn(s->spec.ctx)))
            break;
        if (!stopping)
            socks[n++] = s->router;
        first_extra = n;
        for (size_t i = 0; i < s->n_extra; i++)
            socks[n++] = s->extra[i].sock;
        if (s->held)
            s_flush_held(s);
        /* At most 100 ms: tick_fn times peer requests out, so it must run
         * often; 10 ms while replies wait for a client's queue. */
        ready = bus_poll(socks, n,
                         stopping || s->held               ? (s->held ? 10 : 20)
                         : daemon_poll_interval_ms() < 100 ? daemon_poll_interval_ms()
                                                           : 100);
        if (ready > 0) {
            if (!stopping && (ready & 1))
                s_on_router(s);
            for (size_t i = 0; i < s->n_extra; i++)
                if (ready & (1 << (first_extra + i)))
                    s->extra[i].fn(s->extra[i].ctx);
        }
        if (s->spec.tick_fn)
            s->spec.tick_fn(s->spec.ctx);
        daemon_watchdog();
    }
    log_info("stopped");
    return 0;
}

/* ---- dedup ---- */

bool server_dedup_get(store_txn_t *txn, store_dbi_t dbi, const ProtobufCBinaryData *request_id,
                      store_val_t *ret_reply)
{
    store_val_t v;
    if (!request_id || !request_id->len)
        return false;
    if (store_get(txn, dbi, request_id->data, request_id->len, &v) != RP_OK || v.len < 8)
        return false;
    ret_reply->data = (uint8_t *)v.data + 8;
    ret_reply->len = v.len - 8;
    return true;
}

rp_err server_dedup_put(store_txn_t *txn, store_dbi_t dbi, store_dbi_t by_time,
                        const ProtobufCBinaryData *request_id, const void *reply, size_t len)
{
    uint8_t tkey[8 + WIRE_REQUEST_ID_MAX];
    uint8_t *val;
    int64_t now = clock_now_ms();
    rp_err rc;

    if (!request_id || !request_id->len || request_id->len > WIRE_REQUEST_ID_MAX)
        return RP_EINVAL;
    rc = store_reserve(txn, dbi, request_id->data, request_id->len, len + 8, 0, (void **)&val);
    if (rc != RP_OK)
        return rc;
    store_u64_key((uint64_t)now, val);
    memcpy(val + 8, reply, len);
    store_u64_key((uint64_t)now, tkey);
    memcpy(tkey + 8, request_id->data, request_id->len);
    return store_put(txn, by_time, tkey, 8 + request_id->len, "", 0, 0);
}

rp_err server_dedup_prune(store_txn_t *txn, store_dbi_t dbi, store_dbi_t by_time,
                          int64_t max_age_ms, size_t budget, size_t *ret_pruned)
{
    store_cursor_t *cur;
    store_val_t k, v;
    uint64_t cutoff = (uint64_t)(clock_now_ms() - max_age_ms);
    size_t n = 0;
    rp_err rc = store_cursor_open(txn, by_time, &cur);

    if (rc != RP_OK)
        return rc;
    rc = store_cursor_get(cur, STORE_FIRST, &k, &v);
    while (rc == RP_OK && n < budget && k.len > 8 && store_key_u64(k.data) < cutoff) {
        rc = store_del(txn, dbi, (uint8_t *)k.data + 8, k.len - 8, NULL, 0);
        if (rc != RP_OK && rc != RP_ENOTFOUND)
            break;
        rc = store_cursor_del(cur, false);
        if (rc != RP_OK)
            break;
        n++;
        /* Re-seek rather than trust the cursor after a delete (LMDB
         * 0.9.24 cursor-delete quirks, ITS#9376). */
        rc = store_cursor_get(cur, STORE_FIRST, &k, &v);
    }
    store_cursor_close(cur);
    if (ret_pruned)
        *ret_pruned = n;
    return rc == RP_ENOTFOUND ? RP_OK : rc;
}

/* ---- test hook ---- */

int server_step(server_t *s, long timeout_ms)
{
    void *socks[1 + MAX_EXTRA];
    size_t n = 0;
    int ready;

    socks[n++] = s->router;
    for (size_t i = 0; i < s->n_extra; i++)
        socks[n++] = s->extra[i].sock;
    if (s->held)
        s_flush_held(s);
    ready = bus_poll(socks, n, timeout_ms);
    if (ready > 0) {
        if (ready & 1)
            s_on_router(s);
        for (size_t i = 0; i < s->n_extra; i++)
            if (ready & (1 << (1 + i)))
                s->extra[i].fn(s->extra[i].ctx);
    }
    if (s->spec.tick_fn)
        s->spec.tick_fn(s->spec.ctx);
    return ready;
}
