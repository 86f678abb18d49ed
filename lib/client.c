/* librapport's client: the connection to the three workers, the one error
 * type, request ids, and the call engine.
 *
 * A call is encoded once, with its request_id, and kept in the client's
 * table of calls in flight until its reply comes (matched by request_id,
 * in any order), or its deadline passes. Unanswered, it is resent, the
 * very same bytes, every retry interval: the worker's idempotency record
 * answers a repeat with the first execution's reply, so the call happens
 * once. A blocking call is an asynchronous one followed by a wait on the
 * client's sockets. One DEALER per worker (common/client.c), connected
 * on first use. */
#include "lib.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "bus.h"
#include "client.h"
#include "clock.h"
#include "wire.h"

#define ID_MAX 64

static const struct {
    const char *process;
    const ProtobufCMessageDescriptor *request;
    const ProtobufCMessageDescriptor *reply;
    size_t endpoint_offset;
} s_services[RAPPORT_SERVICE_COUNT] = {
    [RAPPORT_INTERACTION] = {"rapport-interaction", &rapport__v1__interaction_request__descriptor,
                             &rapport__v1__interaction_reply__descriptor,
                             offsetof(config_t, interaction_endpoint)},
    [RAPPORT_SEGMENT] = {"rapport-segment", &rapport__v1__segment_request__descriptor,
                         &rapport__v1__segment_reply__descriptor,
                         offsetof(config_t, segment_endpoint)},
    [RAPPORT_LOGWRITER] = {"rapport-logwriter", &rapport__v1__log_request__descriptor,
                           &rapport__v1__log_reply__descriptor,
                           offsetof(config_t, logwriter_endpoint)},
};

/* One call in flight. */
typedef struct {
    rapport_service svc;
    uint8_t id[ID_MAX];
    size_t id_len;
    uint8_t *buf; /* the encoded request, resent as it is */
    size_t len;
    int64_t deadline, next_send;
    int deadline_ms, retry_ms;
    unsigned flags;
    rapport_done_fn done;
    void *arg;
    ProtobufCMessage *held; /* the last UNAVAILABLE reply, kept for the deadline */
} call_t;

struct rapport_client {
    config_t cfg;
    void *zctx;
    bool own_zctx;
    char user_id[256];
    int timeout_ms;
    client_t *conn[RAPPORT_SERVICE_COUNT];
    int epfd; /* rapport_client_fd: an epoll set of the DEALERs' ZMQ_FDs */
    call_t *calls;
    size_t n_calls, cap_calls;
    uint64_t ended; /* calls ended since rapport_client_new */
};

/* ---- errors ------------------------------------------------------------------ */

int lib_fail(rapport_error *err, int code, rapport_error_source source, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return code;
    err->code = code;
    err->source = source;
    err->field[0] = '\0';
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return code;
}

static void s_clear(rapport_error *err)
{
    if (err) {
        err->code = 0;
        err->source = RAPPORT_ERR_NONE;
        err->message[0] = '\0';
        err->field[0] = '\0';
    }
}

RAPPORT_EXPORT int rapport_reply_error(const ProtobufCMessage *reply, rapport_error *err)
{
    const Rapport__V1__Status *st =
        reply ? (const Rapport__V1__Status *)(const void *)wire_msg_status(reply) : NULL;

    if (!st || st->code == RAPPORT__V1__STATUS_CODE__OK) {
        s_clear(err);
        return 0;
    }
    if (err) {
        const ProtobufCEnumValue *v =
            protobuf_c_enum_descriptor_get_value(&rapport__v1__status_code__descriptor, st->code);
        lib_fail(err, (int)st->code, RAPPORT_ERR_SERVER, "%s",
                 st->message && *st->message ? st->message
                 : v                         ? v->name
                                             : "error");
        snprintf(err->field, sizeof(err->field), "%s", st->field ? st->field : "");
    }
    return (int)st->code;
}

RAPPORT_EXPORT void rapport_reply_free(void *reply)
{
    wire_free(reply);
}

/* ---- request ids ------------------------------------------------------------------- */

/* UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, the version, a 12-bit
 * counter that keeps the ids of one millisecond in order (method 1), the
 * variant and 62 random bits. */
RAPPORT_EXPORT void rapport_new_request_id(char out[RAPPORT_REQUEST_ID_LEN + 1])
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static uint64_t last_ms, counter;
    static const char hex[] = "0123456789abcdef";
    struct timespec ts;
    uint8_t b[16];
    uint64_t ms;
    size_t o = 0;

    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
        uint64_t t = clock_mono_ns() ^ ((uint64_t)getpid() << 32);
        for (size_t i = 0; i < sizeof(b); i++)
            b[i] = (uint8_t)(t >> (8 * (i % 8))) ^ (uint8_t)(i * 37u);
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    pthread_mutex_lock(&mu);
    if (ms <= last_ms) {
        ms = last_ms;
        if (++counter > 0xfff) {
            ms = ++last_ms;
            counter = 0;
        }
    } else {
        last_ms = ms;
        counter = b[6] & 0x7u; /* leave room to count up */
    }
    pthread_mutex_unlock(&mu);
    for (int i = 0; i < 6; i++)
        b[i] = (uint8_t)(ms >> (40 - 8 * i));
    b[6] = (uint8_t)(0x70u | (counter >> 8));
    b[7] = (uint8_t)counter;
    b[8] = (uint8_t)(0x80u | (b[8] & 0x3fu));
    for (size_t i = 0; i < sizeof(b); i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
}

/* ---- the client ------------------------------------------------------------------ */

const config_t *lib_config(const rapport_client *c)
{
    return &c->cfg;
}

void *lib_zmq_context(const rapport_client *c)
{
    return c->zctx;
}

RAPPORT_EXPORT int rapport_client_new(const rapport_options *opts, rapport_client **ret_client,
                                      rapport_error *err)
{
    static const rapport_options none = {0};
    const char *const *overrides;
    const char *path;
    char errbuf[CONFIG_PATH_MAX + 256];
    size_t n = 0;
    rapport_client *c;

    *ret_client = NULL;
    if (!opts)
        opts = &none;
    c = calloc(1, sizeof(*c));
    if (!c)
        return lib_fail(err, RAPPORT__V1__STATUS_CODE__RESOURCE_EXHAUSTED, RAPPORT_ERR_USAGE,
                        "out of memory");
    overrides = opts->settings;
    while (overrides && overrides[n])
        n++;
    path = opts->config_path && !*opts->config_path ? "/dev/null" : opts->config_path;
    if (config_load_all(&c->cfg, path, overrides, n, errbuf, sizeof(errbuf)) != RP_OK) {
        free(c);
        return lib_fail(err, RAPPORT__V1__STATUS_CODE__INVALID_ARGUMENT, RAPPORT_ERR_CONFIG, "%s",
                        errbuf);
    }
    snprintf(c->user_id, sizeof(c->user_id), "%s", opts->user_id ? opts->user_id : "");
    c->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : (int)c->cfg.request_timeout_ms;
    c->epfd = -1;
    c->zctx = opts->zmq_context;
    if (!c->zctx) {
        c->zctx = zmq_ctx_new();
        c->own_zctx = true;
        if (!c->zctx) {
            free(c);
            return lib_fail(err, RAPPORT__V1__STATUS_CODE__INTERNAL, RAPPORT_ERR_TRANSPORT,
                            "cannot create a ZeroMQ context: %s", zmq_strerror(errno));
        }
    }
    *ret_client = c;
    s_clear(err);
    return 0;
}

static void s_call_free(call_t *call)
{
    free(call->buf);
    wire_free(call->held);
}

RAPPORT_EXPORT void rapport_client_destroy(rapport_client **client_p)
{
    rapport_client *c;

    if (!client_p || !*client_p)
        return;
    c = *client_p;
    for (size_t i = 0; i < c->n_calls; i++)
        s_call_free(&c->calls[i]);
    free(c->calls);
    for (int s = 0; s < RAPPORT_SERVICE_COUNT; s++)
        client_destroy(&c->conn[s]);
    if (c->epfd >= 0)
        close(c->epfd);
    if (c->own_zctx)
        zmq_ctx_term(c->zctx);
    free(c);
    *client_p = NULL;
}

static bool s_service_ok(rapport_service svc)
{
    return (unsigned)svc < RAPPORT_SERVICE_COUNT;
}

RAPPORT_EXPORT const char *rapport_client_endpoint(const rapport_client *c, rapport_service svc)
{
    return s_service_ok(svc) ? (const char *)&c->cfg + s_services[svc].endpoint_offset : "";
}

RAPPORT_EXPORT const char *rapport_client_events_endpoint(const rapport_client *c)
{
    return c->cfg.events_endpoint;
}

RAPPORT_EXPORT const char *rapport_service_process(rapport_service svc)
{
    return s_service_ok(svc) ? s_services[svc].process : "rapport";
}

RAPPORT_EXPORT const ProtobufCMessageDescriptor *rapport_service_request(rapport_service svc)
{
    return s_service_ok(svc) ? s_services[svc].request : NULL;
}

RAPPORT_EXPORT const ProtobufCMessageDescriptor *rapport_service_reply(rapport_service svc)
{
    return s_service_ok(svc) ? s_services[svc].reply : NULL;
}

RAPPORT_EXPORT int rapport_client_probe(rapport_client *c, rapport_service svc, rapport_error *err)
{
    const char *ep = rapport_client_endpoint(c, svc);

    if (!*ep)
        return lib_fail(err, RAPPORT__V1__STATUS_CODE__UNAVAILABLE, RAPPORT_ERR_CONFIG,
                        "no endpoint for %s (is the run directory path too long?)",
                        rapport_service_process(svc));
    if (!lib_reach(ep))
        return lib_fail(err, RAPPORT__V1__STATUS_CODE__UNAVAILABLE, RAPPORT_ERR_TRANSPORT,
                        "%s is not running (%s): start it with `systemctl start rapport.target`, "
                        "or `deploy/run.sh`",
                        s_services[svc].process, ep);
    s_clear(err);
    return 0;
}

/* Add a DEALER's ZMQ_FD to the epoll set. */
static void s_watch(rapport_client *c, client_t *conn)
{
    struct epoll_event ev = {.events = EPOLLIN};
    int fd;
    size_t len = sizeof(fd);

    if (zmq_getsockopt(client_socket(conn), ZMQ_FD, &fd, &len) == 0)
        epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* The DEALER to svc, connected on first use. */
static client_t *s_conn(rapport_client *c, rapport_service svc, rapport_error *err)
{
    char errbuf[CONFIG_PATH_MAX + 256];
    const char *ep = rapport_client_endpoint(c, svc);
    rp_err rc;

    if (c->conn[svc])
        return c->conn[svc];
    rc = client_new(c->zctx, ep, &c->cfg, &c->conn[svc], errbuf, sizeof(errbuf));
    if (rc != RP_OK) {
        lib_fail(err, rp_err_status_code(rc),
                 rc == RP_ECONFIG || rc == RP_EPERM ? RAPPORT_ERR_CONFIG : RAPPORT_ERR_TRANSPORT,
                 "cannot connect to %s at %s: %s", s_services[svc].process, ep, errbuf);
        return NULL;
    }
    if (c->epfd >= 0)
        s_watch(c, c->conn[svc]);
    return c->conn[svc];
}

/* ---- the call engine ------------------------------------------------------------- */

/* Encode request with its envelope completed (request_id, user_id),
 * leaving request as it was. */
static int s_encode(rapport_client *c, ProtobufCMessage *request, const rapport_call_opts *opts,
                    call_t *call, rapport_error *err)
{
    const ProtobufCBinaryData *rid = wire_msg_request_id(request);
    const char *user = wire_msg_user_id(request);
    ProtobufCBinaryData saved_id, id;
    const char *saved_user = user;
    char fresh[RAPPORT_REQUEST_ID_LEN + 1];
    rp_err rc;

    if (!rid)
        return lib_fail(err, RAPPORT__V1__STATUS_CODE__INVALID_ARGUMENT, RAPPORT_ERR_USAGE,
                        "%s has no request_id", request->descriptor->name);
    saved_id = *rid;
    id = saved_id;
    if (id.len == 0 && opts && opts->request_id) {
        id.data = (uint8_t *)(uintptr_t)opts->request_id;
        id.len = strlen(opts->request_id);
    } else if (id.len == 0) {
        rapport_new_request_id(fresh);
        id.data = (uint8_t *)fresh;
        id.len = RAPPORT_REQUEST_ID_LEN;
    }
    if (!wire_request_id_valid(&id) || id.len > ID_MAX)
        return lib_fail(err, RAPPORT__V1__STATUS_CODE__INVALID_ARGUMENT, RAPPORT_ERR_USAGE,
                        "a request_id has 1 to 64 bytes (got %zu)", id.len);
    memcpy(call->id, id.data, id.len);
    call->id_len = id.len;
    wire_msg_set_envelope(request, id, user && *user ? user : c->user_id);
    rc = wire_encode(request, &call->buf, &call->len);
    wire_msg_set_envelope(request, saved_id, saved_user);
    if (rc != RP_OK)
        return lib_fail(err, rp_err_status_code(rc), RAPPORT_ERR_USAGE, "cannot encode %s: %s",
                        request->descriptor->name, rp_strerror(rc));
    return 0;
}

static call_t *s_find(rapport_client *c, rapport_service svc, const uint8_t *id, size_t len)
{
    for (size_t i = 0; i < c->n_calls; i++)
        if (c->calls[i].svc == svc && c->calls[i].id_len == len &&
            memcmp(c->calls[i].id, id, len) == 0)
            return &c->calls[i];
    return NULL;
}

static int s_start(rapport_client *c, rapport_service svc, ProtobufCMessage *request,
                   const rapport_call_opts *opts, rapport_done_fn done, void *arg,
                   rapport_error *err)
{
    call_t call = {.svc = svc, .done = done, .arg = arg};
    client_t *conn;
    int64_t now = clock_mono_ms();
    int rc;

    if (!s_service_ok(svc) || !request || request->descriptor != s_services[svc].request)
        return lib_fail(err, RAPPORT__V1__STATUS_CODE__INVALID_ARGUMENT, RAPPORT_ERR_USAGE,
                        "the request is no %s",
                        s_service_ok(svc) ? s_services[svc].request->name : "rapport request");
    conn = s_conn(c, svc, err);
    if (!conn)
        return err ? err->code : RAPPORT__V1__STATUS_CODE__UNAVAILABLE;
    rc = s_encode(c, request, opts, &call, err);
    if (rc != 0)
        return rc;
    if (s_find(c, svc, call.id, call.id_len)) {
        free(call.buf);
        return lib_fail(err, RAPPORT__V1__STATUS_CODE__ALREADY_EXISTS, RAPPORT_ERR_USAGE,
                        "a call with request_id %.*s is already in flight", (int)call.id_len,
                        (const char *)call.id);
    }
    call.deadline_ms = opts && opts->deadline_ms > 0 ? opts->deadline_ms : c->timeout_ms;
    call.retry_ms = opts && opts->retry_ms > 0 ? opts->retry_ms : call.deadline_ms / 4;
    if (call.retry_ms < 1)
        call.retry_ms = 1;
    call.flags = opts ? opts->flags : 0;
    call.deadline = now + call.deadline_ms;
    call.next_send = now + call.retry_ms;
    if (c->n_calls == c->cap_calls) {
        size_t cap = c->cap_calls ? 2 * c->cap_calls : 16;
        call_t *v = realloc(c->calls, cap * sizeof(*v));
        if (!v) {
            free(call.buf);
            return lib_fail(err, RAPPORT__V1__STATUS_CODE__RESOURCE_EXHAUSTED, RAPPORT_ERR_USAGE,
                            "out of memory");
        }
        c->calls = v;
        c->cap_calls = cap;
    }
    /* A full queue (RP_ENOSPC) is the same as a lost request: resent later. */
    if (bus_send(client_socket(conn), call.buf, call.len) == RP_EIO) {
        free(call.buf);
        return lib_fail(err, RAPPORT__V1__STATUS_CODE__UNAVAILABLE, RAPPORT_ERR_TRANSPORT,
                        "cannot send to %s at %s", s_services[svc].process,
                        rapport_client_endpoint(c, svc));
    }
    c->calls[c->n_calls++] = call;
    s_clear(err);
    return 0;
}

/* End call i: out of the table first (its callback may start calls). */
static void s_finish(rapport_client *c, size_t i, int code, ProtobufCMessage *reply,
                     const rapport_error *e)
{
    call_t call = c->calls[i];

    c->calls[i] = c->calls[--c->n_calls];
    c->ended++;
    if (call.held && call.held != reply)
        wire_free(call.held);
    free(call.buf);
    call.done(call.arg, code, reply, e);
}

/* A refusal that may go away when the same request is sent again: a
 * worker's own peer did not answer (UNAVAILABLE), a queue was full
 * (RESOURCE_EXHAUSTED), or the same request_id is still on its way to the
 * log writer (ABORTED on request_id: its outcome is not known yet). */
static bool s_retryable(int code, const char *field)
{
    return code == RAPPORT__V1__STATUS_CODE__UNAVAILABLE ||
           code == RAPPORT__V1__STATUS_CODE__RESOURCE_EXHAUSTED ||
           (code == RAPPORT__V1__STATUS_CODE__ABORTED && strcmp(field, "request_id") == 0);
}

static void s_on_reply(rapport_client *c, rapport_service svc, ProtobufCMessage *reply)
{
    const ProtobufCBinaryData *id = client_message_request_id(reply);
    call_t *call = id ? s_find(c, svc, id->data, id->len) : NULL;
    rapport_error e;
    int code;

    if (!call) {
        wire_free(reply); /* a late answer to a call that has ended */
        return;
    }
    code = rapport_reply_error(reply, &e);
    if (s_retryable(code, e.field) && !(call->flags & RAPPORT_CALL_NO_RETRY) &&
        clock_mono_ms() + call->retry_ms < call->deadline) {
        /* May go away: ask again, same id, until the deadline. */
        wire_free(call->held);
        call->held = reply;
        call->next_send = clock_mono_ms() + call->retry_ms;
        return;
    }
    s_finish(c, (size_t)(call - c->calls), code, reply, &e);
}

static void s_expire(rapport_client *c, size_t i)
{
    call_t *call = &c->calls[i];
    rapport_error e;
    int code;

    if (call->held) {
        code = rapport_reply_error(call->held, &e);
        s_finish(c, i, code, call->held, &e);
        return;
    }
    if (client_refused(c->conn[call->svc]))
        code = lib_fail(&e, RAPPORT__V1__STATUS_CODE__UNAUTHENTICATED, RAPPORT_ERR_TRANSPORT,
                        "%s at %s refused this client's CURVE key (is its .pub in the worker's "
                        "curve_client_keys_dir?)",
                        s_services[call->svc].process, rapport_client_endpoint(c, call->svc));
    else
        code = lib_fail(&e, RAPPORT__V1__STATUS_CODE__DEADLINE_EXCEEDED, RAPPORT_ERR_TRANSPORT,
                        "no answer from %s at %s within %d ms", s_services[call->svc].process,
                        rapport_client_endpoint(c, call->svc), call->deadline_ms);
    s_finish(c, i, code, NULL, &e);
}

RAPPORT_EXPORT int rapport_client_process(rapport_client *c)
{
    uint64_t ended = c->ended;
    int64_t now;

    for (int s = 0; s < RAPPORT_SERVICE_COUNT; s++) {
        for (;;) {
            ProtobufCMessage *reply;
            rp_err rc;

            if (!c->conn[s])
                break;
            rc = client_recv(c->conn[s], s_services[s].reply, 0, &reply);
            if (rc == RP_EPROTO)
                continue; /* garbage: not an answer to anything */
            if (rc != RP_OK)
                break;
            s_on_reply(c, (rapport_service)s, reply);
        }
    }
    now = clock_mono_ms();
    for (size_t i = 0; i < c->n_calls;) {
        call_t *call = &c->calls[i];
        if (now >= call->deadline) {
            s_expire(c, i);
            continue;
        }
        if (now >= call->next_send) {
            bus_send(client_socket(c->conn[call->svc]), call->buf, call->len);
            call->next_send = now + call->retry_ms;
        }
        i++;
    }
    return (int)(c->ended - ended);
}

RAPPORT_EXPORT int rapport_client_timeout(rapport_client *c)
{
    int64_t now = clock_mono_ms(), first = INT64_MAX;

    /* ZMQ_FD signals changes, not readiness: a reply that came while the
     * socket was busy sending leaves the fd quiet. Waiting replies make
     * the timeout 0. */
    for (int s = 0; s < RAPPORT_SERVICE_COUNT && c->n_calls; s++) {
        int events = 0;
        size_t len = sizeof(events);
        if (c->conn[s] &&
            zmq_getsockopt(client_socket(c->conn[s]), ZMQ_EVENTS, &events, &len) == 0 &&
            (events & ZMQ_POLLIN))
            return 0;
    }

    for (size_t i = 0; i < c->n_calls; i++) {
        int64_t t = c->calls[i].next_send < c->calls[i].deadline ? c->calls[i].next_send
                                                                 : c->calls[i].deadline;
        if (t < first)
            first = t;
    }
    if (first == INT64_MAX)
        return -1;
    return first <= now ? 0 : first - now > INT32_MAX ? INT32_MAX : (int)(first - now);
}

RAPPORT_EXPORT size_t rapport_client_pending(const rapport_client *c)
{
    return c->n_calls;
}

RAPPORT_EXPORT int rapport_client_fd(rapport_client *c)
{
    if (c->epfd >= 0)
        return c->epfd;
    c->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (c->epfd < 0)
        return -1;
    for (int s = 0; s < RAPPORT_SERVICE_COUNT; s++)
        if (c->conn[s])
            s_watch(c, c->conn[s]);
    return c->epfd;
}

RAPPORT_EXPORT int rapport_call_async(rapport_client *c, rapport_service svc,
                                      ProtobufCMessage *request, const rapport_call_opts *opts,
                                      rapport_done_fn done, void *arg, rapport_error *err)
{
    if (!done)
        return lib_fail(err, RAPPORT__V1__STATUS_CODE__INVALID_ARGUMENT, RAPPORT_ERR_USAGE,
                        "an asynchronous call needs its callback");
    return s_start(c, svc, request, opts, done, arg, err);
}

/* The outcome of a blocking call. */
typedef struct {
    bool done;
    int code;
    ProtobufCMessage *reply;
    rapport_error err;
} wait_t;

static void s_wait_done(void *arg, int code, ProtobufCMessage *reply, const rapport_error *err)
{
    wait_t *w = arg;

    w->done = true;
    w->code = code;
    w->reply = reply;
    w->err = *err;
}

RAPPORT_EXPORT int rapport_call(rapport_client *c, rapport_service svc, ProtobufCMessage *request,
                                const rapport_call_opts *opts, ProtobufCMessage **ret_reply,
                                rapport_error *err)
{
    wait_t w = {0};
    int rc;

    if (ret_reply)
        *ret_reply = NULL;
    rc = s_start(c, svc, request, opts, s_wait_done, &w, err);
    if (rc != 0)
        return rc;
    while (!w.done) {
        void *socks[RAPPORT_SERVICE_COUNT];
        size_t n = 0;

        for (int s = 0; s < RAPPORT_SERVICE_COUNT; s++)
            if (c->conn[s])
                socks[n++] = client_socket(c->conn[s]);
        if (bus_poll(socks, n, rapport_client_timeout(c)) < 0) {
            /* A signal: the call ends here, without its callback. */
            for (size_t i = 0; i < c->n_calls; i++)
                if (c->calls[i].done == s_wait_done && c->calls[i].arg == &w) {
                    s_call_free(&c->calls[i]);
                    c->calls[i] = c->calls[--c->n_calls];
                    break;
                }
            return lib_fail(err, RAPPORT__V1__STATUS_CODE__CANCELLED, RAPPORT_ERR_TRANSPORT,
                            "interrupted while waiting for %s at %s", s_services[svc].process,
                            rapport_client_endpoint(c, svc));
        }
        rapport_client_process(c);
    }
    if (err)
        *err = w.err;
    if (ret_reply)
        *ret_reply = w.reply;
    else
        wire_free(w.reply);
    return w.code;
}
