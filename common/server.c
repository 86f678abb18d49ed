/* server: the ROUTER request loop shared by the three workers.
 *
 * One pass of the loop drains what is waiting on the ROUTER (up to
 * batch_max), validates each request the same way for every worker (size,
 * decode, the caller's identity and role, the internal write path, the
 * request_id), answers a repeat from its idempotency record, and dispatches
 * the rest through the worker's table. Requests are allocated from a small
 * pool of arenas, so a steady load does no malloc per request. Metrics and
 * the Stats answer are in server_stats.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "clock.h"
#include "daemon.h"
#include "hash.h"
#include "log.h"
#include "metrics_http.h"
#include "server_internal.h"

static void s_prune(server_t *s);

/* ---- in-flight table ((principal, request_id) -> first request) ---- */

static size_t s_hash(const char *user, const ProtobufCBinaryData *id)
{
    /* The length byte keeps ("ab", "c") and ("a", "bc") apart. */
    uint8_t ulen = (uint8_t)strlen(user);
    uint64_t h = hash_bytes(hash_str(HASH_INIT, user), &ulen, 1);
    return (size_t)(hash_bytes(h, id->data, id->len) % INFLIGHT_BUCKETS);
}

static bool s_same(const server_req_t *r, const char *user, const ProtobufCBinaryData *id)
{
    const ProtobufCBinaryData *rid = wire_msg_request_id(r->request);
    return rid->len == id->len && memcmp(rid->data, id->data, id->len) == 0 &&
           strcmp(r->user_id, user) == 0;
}

static server_req_t *s_inflight_find(server_t *s, const char *user, const ProtobufCBinaryData *id)
{
    for (server_req_t *r = s->inflight[s_hash(user, id)]; r; r = r->inflight_next)
        if (s_same(r, user, id))
            return r;
    return NULL;
}

static void s_inflight_add(server_t *s, server_req_t *req)
{
    size_t b = s_hash(req->user_id, wire_msg_request_id(req->request));
    req->inflight_next = s->inflight[b];
    s->inflight[b] = req;
    req->in_table = true;
}

static void s_inflight_remove(server_t *s, server_req_t *req)
{
    server_req_t **pp;
    if (!req->in_table)
        return;
    for (pp = &s->inflight[s_hash(req->user_id, wire_msg_request_id(req->request))]; *pp;
         pp = &(*pp)->inflight_next)
        if (*pp == req) {
            *pp = req->inflight_next;
            req->in_table = false;
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
    req->key = "";
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
    h = s->n_held < (size_t)s->cfg->held_replies_max &&
                s->held_bytes + env_bytes + len <= (size_t)s->cfg->held_bytes_max
            ? malloc(sizeof(*h) + env_bytes + len)
            : NULL;
    if (!h) {
        s->replies_dropped++;
        log_debug("reply dropped: %zu replies (%zu bytes) held already", s->n_held, s->held_bytes);
        return;
    }
    h->next = NULL;
    h->expires_ms = clock_mono_ms() + s->cfg->held_reply_ms;
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
 * for held_reply_ms, and those whose client is gone. */
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
 * handler's metadata, gate.h): the key's user id replaces the request's,
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
    req->relay = peer.relay;
    req->key = wire_arena_strdup(req->arena, peer.key);
    if (peer.relay && *asked)
        return;
    req->user_id = wire_arena_strdup(req->arena, peer.user);
    req->user_from_key = true;
    wire_msg_set_envelope(req->request, *wire_msg_request_id(req->request), req->user_id);
}

/* Whether the caller may send `cmd`; if not, answer PERMISSION_DENIED. */
static bool s_permitted(server_t *s, server_req_t *req, const server_command_t *cmd)
{
    if (cmd->internal && s->curve && !req->relay) {
        log_notice("refused %s to user '%s': internal to rapport, its key has no relay = yes",
                   cmd->name, req->user_id);
        server_req_status(req, RAPPORT__V1__STATUS_CODE__PERMISSION_DENIED, "command",
                          "%s is internal to rapport: only its workers' keys (relay = yes) may "
                          "send it",
                          cmd->name);
    } else if (req->role < cmd->role) {
        log_notice("refused %s to user '%s': it needs the %s role", cmd->name, req->user_id,
                   s_role_name(cmd->role));
        server_req_status(req, RAPPORT__V1__STATUS_CODE__PERMISSION_DENIED, "command",
                          "%s needs the %s role", cmd->name, s_role_name(cmd->role));
    } else {
        return true;
    }
    s->denied[req->command]++;
    server_req_finish(req);
    return false;
}

/* A mutating request: coalesce it onto the same one in flight, or answer
 * it from its idempotency record; true when it is still to be handled. */
static bool s_first_time(server_t *s, server_req_t *req, const server_command_t *cmd,
                         store_txn_t **txn)
{
    const ProtobufCBinaryData *rid = wire_msg_request_id(req->request);
    server_req_t *first = s_inflight_find(s, req->user_id, rid);
    store_val_t v;

    if (first) {
        /* A retry while the first is still being worked on: it gets the
         * first one's reply. */
        req->next_waiter = first->next_waiter;
        first->next_waiter = req;
        return false;
    }
    if (s->spec.dedup_store && !cmd->own_idempotency) {
        /* Batch mode reads the whole drain in one snapshot: nothing of it
         * commits before the drain is handed over. Otherwise a handler may
         * have committed since, so each lookup takes a fresh one. */
        if (!*txn && store_txn_begin(s->spec.dedup_store, false, txn) != RP_OK)
            *txn = NULL;
        if (*txn && server_dedup_get(s, *txn, req->user_id, rid, &v)) {
            s->dedup_hits++;
            server_req_reply_raw(req, v.data, v.len);
            if (!s->spec.dedup_hit_fn || !s->spec.dedup_hit_fn(s->spec.ctx, req))
                server_req_finish(req);
            if (!s->spec.batch_fn) {
                store_txn_abort(*txn);
                *txn = NULL;
            }
            return false;
        }
        if (!s->spec.batch_fn) {
            store_txn_abort(*txn);
            *txn = NULL;
        }
    }
    s_inflight_add(s, req);
    return true;
}

/* Read one request; returns false when nothing was waiting. */
static bool s_read_one(server_t *s, store_txn_t **dedup_txn, server_req_t **ret_req)
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
    if (!s_permitted(s, req, cmd))
        return true;
    if (cmd->mutating && !wire_request_id_valid(rid)) {
        server_req_status(req, RAPPORT__V1__STATUS_CODE__INVALID_ARGUMENT, "request_id",
                          "request_id is required for %s (1 to %d bytes)", cmd->name,
                          WIRE_REQUEST_ID_MAX);
        server_req_finish(req);
        return true;
    }
    if (cmd->mutating && !s_first_time(s, req, cmd, dedup_txn))
        return true;
    *ret_req = req;
    return true;
}

static void s_on_router(server_t *s)
{
    size_t n = 0, max = (size_t)s->cfg->batch_max, weight = 0;
    server_req_t *req;
    store_txn_t *dedup_txn = NULL;

    while (n < max && s_read_one(s, &dedup_txn, &req)) {
        if (!req)
            continue;
        if (req->command == s->spec.stats_command) {
            server_stats_answer(s, req);
            continue;
        }
        if (s->spec.batch_fn) {
            s->batch[n++] = req;
            req->weight = s->spec.weight_fn ? s->spec.weight_fn(req) : 1;
            weight += req->weight;
            if (s->spec.batch_weight_max && weight >= s->spec.batch_weight_max)
                break;
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
    store_txn_abort(dedup_txn);
    if (s->spec.batch_fn && n)
        s->spec.batch_fn(s->spec.ctx, s->batch, n);
}

rp_err server_gate(server_t *s, gate_t **ret_gate, char *errbuf, size_t errlen)
{
    if (!s->gate) {
        rp_err rc = gate_new(s->zctx, s->cfg, &s->gate, errbuf, errlen);
        if (rc != RP_OK)
            return rc;
    }
    *ret_gate = s->gate;
    return RP_OK;
}

rp_err server_new(const server_spec_t *spec, const config_t *cfg, void *zctx, const char *endpoint,
                  server_t **ret_server, char *errbuf, size_t errlen)
{
    server_t *s = calloc(1, sizeof(*s));
    gate_t *gate = NULL;
    rp_err rc;

    if (!s)
        return RP_ENOMEM;
    s->spec = *spec;
    s->cfg = cfg;
    snprintf(s->endpoint, sizeof(s->endpoint), "%s", endpoint);
    s->curve = auth_endpoint_is_tcp(endpoint);
    s->zctx = zctx;
    s->next_prune_ms = clock_mono_ms() + PRUNE_FIRST_MS;
    s->started_ms = clock_mono_ms();
    s->counts = calloc(spec->n_commands * N_CODES, sizeof(uint64_t));
    s->latency = calloc(spec->n_commands, sizeof(server_hist_t));
    s->denied = calloc(spec->n_commands, sizeof(uint64_t));
    s->batch = calloc((size_t)cfg->batch_max, sizeof(server_req_t *));
    if (!s->counts || !s->latency || !s->denied || !s->batch) {
        server_destroy(&s);
        return RP_ENOMEM;
    }
    if (s->curve && (rc = server_gate(s, &gate, errbuf, errlen)) != RP_OK) {
        server_destroy(&s);
        return rc;
    }
    rc = bus_socket_bind(zctx, BUS_ROUTER, endpoint, cfg, gate, &s->router, errbuf, errlen);
    if (rc == RP_OK && cfg->metrics_listen[0])
        rc = metrics_http_new(cfg->metrics_listen, server_stats_text, s, &s->http, errbuf, errlen);
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
    metrics_http_destroy(&s->http);
    if (s->router)
        zmq_close(s->router);
    for (size_t i = 0; i < s->n_pool; i++)
        wire_arena_destroy(&s->pool[i]);
    while (s->held) {
        held_t *next = s->held->next;
        free(s->held);
        s->held = next;
    }
    gate_destroy(&s->gate);
    free(s->counts);
    free(s->latency);
    free(s->denied);
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

/* Serve the HTTP endpoint when its fd is ready, and at least every second
 * for its timeouts. */
static void s_http_run(server_t *s, bool ready)
{
    int64_t now = clock_mono_ms();

    if (!ready && now - s->http_run_ms < 1000)
        return;
    s->http_run_ms = now;
    metrics_http_run(s->http);
}

int server_run(server_t *s)
{
    bool stopping = false, more = false;

    daemon_notify("READY=1\nSTATUS=serving on %s", s->endpoint);
    log_info("serving on %s", s->endpoint);
    if (s->http)
        log_info("metrics on http://%s/metrics", s->cfg->metrics_listen);
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
         * often; 10 ms while replies wait for a client's queue; no wait
         * while background work is left. */
        ready = bus_poll_fd(socks, n, s->http ? metrics_http_fd(s->http) : -1,
                            more                              ? 0
                            : stopping || s->held             ? (s->held ? 10 : 20)
                            : daemon_poll_interval_ms() < 100 ? daemon_poll_interval_ms()
                                                              : 100);
        if (s->http)
            s_http_run(s, ready > 0 && (ready & (1 << n)));
        if (ready > 0) {
            if (!stopping && (ready & 1))
                s_on_router(s);
            for (size_t i = 0; i < s->n_extra; i++)
                if (ready & (1 << (first_extra + i)))
                    s->extra[i].fn(s->extra[i].ctx);
        }
        if (s->spec.tick_fn)
            s->spec.tick_fn(s->spec.ctx);
        more = s->spec.background_fn && s->spec.background_fn(s->spec.ctx);
        s_prune(s);
        daemon_watchdog();
    }
    log_info("stopped");
    return 0;
}

/* ---- idempotency records ---- */

#define DEDUP_KEY_MAX (1 + 255 + WIRE_REQUEST_ID_MAX)

/* Record key: the principal's length (1 byte), the principal, the
 * request_id. */
static size_t s_dedup_key(const char *user_id, const ProtobufCBinaryData *request_id,
                          uint8_t out[DEDUP_KEY_MAX])
{
    size_t ulen = strlen(user_id);

    if (ulen > 255)
        ulen = 255;
    out[0] = (uint8_t)ulen;
    memcpy(out + 1, user_id, ulen);
    memcpy(out + 1 + ulen, request_id->data, request_id->len);
    return 1 + ulen + request_id->len;
}

bool server_dedup_get(server_t *s, store_txn_t *txn, const char *user_id,
                      const ProtobufCBinaryData *request_id, store_val_t *ret_reply)
{
    uint8_t key[DEDUP_KEY_MAX];
    store_val_t v;

    if (!request_id || !request_id->len || request_id->len > WIRE_REQUEST_ID_MAX)
        return false;
    if (store_get(txn, s->spec.dedup_dbi, key, s_dedup_key(user_id, request_id, key), &v) !=
            RP_OK ||
        v.len < 8)
        return false;
    ret_reply->data = (uint8_t *)v.data + 8;
    ret_reply->len = v.len - 8;
    return true;
}

rp_err server_dedup_put(server_t *s, store_txn_t *txn, const char *user_id,
                        const ProtobufCBinaryData *request_id, const void *reply, size_t len)
{
    uint8_t key[DEDUP_KEY_MAX], tkey[8 + DEDUP_KEY_MAX];
    uint8_t *val;
    uint64_t now = (uint64_t)clock_now_ms();
    size_t klen;
    rp_err rc;

    if (!s->spec.dedup_store || !request_id || !request_id->len ||
        request_id->len > WIRE_REQUEST_ID_MAX)
        return RP_EINVAL;
    klen = s_dedup_key(user_id, request_id, key);
    rc = store_reserve(txn, s->spec.dedup_dbi, key, klen, len + 8, 0, (void **)&val);
    if (rc != RP_OK)
        return rc;
    store_u64_key(now, val);
    if (len)
        memcpy(val + 8, reply, len);
    store_u64_key(now, tkey);
    memcpy(tkey + 8, key, klen);
    return store_put(txn, s->spec.dedup_time_dbi, tkey, 8 + klen, "", 0, 0);
}

rp_err server_dedup_record(server_req_t *req, store_txn_t *txn)
{
    uint8_t *bytes;
    size_t len;
    rp_err rc = server_req_encode(req, &bytes, &len);

    if (rc != RP_OK)
        return rc;
    rc = server_dedup_put(req->server, txn, req->user_id, wire_msg_request_id(req->request), bytes,
                          len);
    free(bytes);
    return rc;
}

rp_err server_dedup_prune(server_t *s, store_txn_t *txn, int64_t max_age_ms, size_t budget,
                          size_t *ret_pruned)
{
    store_cursor_t *cur = NULL;
    store_val_t k, v;
    uint64_t cutoff = (uint64_t)(clock_now_ms() - max_age_ms);
    size_t n = 0;
    rp_err rc = store_cursor_open(txn, s->spec.dedup_time_dbi, &cur);

    if (rc != RP_OK)
        return rc;
    rc = store_cursor_get(cur, STORE_FIRST, &k, &v);
    while (rc == RP_OK && n < budget && k.len > 8 && store_key_u64(k.data) < cutoff) {
        rc = store_del(txn, s->spec.dedup_dbi, (uint8_t *)k.data + 8, k.len - 8, NULL, 0);
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

static rp_err s_prune_txn(store_txn_t *txn, void *ctx)
{
    server_t *s = ctx;
    size_t n = 0;
    rp_err rc =
        server_dedup_prune(s, txn, s->cfg->dedup_retention_days * 86400000LL, PRUNE_BUDGET, &n);
    if (rc == RP_OK && n)
        log_debug("pruned %zu idempotency records", n);
    return rc;
}

/* Every minute: drop idempotency records past dedup_retention_days. */
static void s_prune(server_t *s)
{
    int64_t now = clock_mono_ms();
    rp_err rc;

    if (!s->spec.dedup_store || now < s->next_prune_ms)
        return;
    s->next_prune_ms = now + PRUNE_EVERY_MS;
    rc = store_write(s->spec.dedup_store, s_prune_txn, s, NULL);
    if (rc != RP_OK)
        log_warnx("cannot prune idempotency records: %s", rp_strerror(rc));
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
    if (s->spec.background_fn)
        s->spec.background_fn(s->spec.ctx);
    s_prune(s);
    return ready;
}
