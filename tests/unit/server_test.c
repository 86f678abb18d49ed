/* server_test: the shared request loop, driven by a toy worker built on the
 * real contract messages (LogRequest / LogReply) and run by server_run in
 * a thread: dispatch, refusals (unknown command, garbage, missing
 * request_id, oversized, invalid field), UNIMPLEMENTED, deferred requests
 * and the coalescing of a repeated in-flight request_id, the Stats answer,
 * stopping with work in flight, plus the dedup record and metrics helpers. */
#include "test.h"

#include <pthread.h>
#include <stdatomic.h>

#include "client.h"
#include "clock.h"
#include "daemon.h"
#include "log.h"
#include "server.h"

#include "rapport/v1/logwriter.pb-c.h"

#define WAIT_MS 15000

/* ---- the toy worker ---- */

typedef struct {
    server_t *server;
    atomic_int write_calls;
    atomic_int get_calls;
    uint64_t next_entry_no;
    server_req_t *pending[16];
    atomic_int n_pending;
    int64_t release_after_ms; /* deferred requests are finished after this long... */
    int release_at_inflight;  /* ...or as soon as the server holds this many */
    int64_t first_pending_ms;
} app_t;

static Rapport__V1__LogRequest *s_request(server_req_t *req)
{
    return (Rapport__V1__LogRequest *)req->request;
}

static Rapport__V1__LogReply *s_reply(server_req_t *req)
{
    return (Rapport__V1__LogReply *)req->reply;
}

static void s_get_entry(void *ctx, server_req_t *req)
{
    app_t *app = ctx;
    uint64_t no = s_request(req)->get_entry->entry_no;
    Rapport__V1__Entry *e;

    atomic_fetch_add(&app->get_calls, 1);
    if (no == 0) {
        server_req_fail(req, RP_ENOTFOUND, "get_entry.entry_no", "Entry No. %llu does not exist",
                        (unsigned long long)no);
        return;
    }
    e = (Rapport__V1__Entry *)wire_arena_message(req->arena, &rapport__v1__entry__descriptor);
    e->entry_no = no;
    e->description = wire_arena_printf(req->arena, "entry %llu", (unsigned long long)no);
    s_reply(req)->result_case = RAPPORT__V1__LOG_REPLY__RESULT_ENTRY;
    s_reply(req)->entry = e;
}

/* Echoes the (normalized) entry with a new number; an entry described as
 * "defer" is answered later, from the tick. */
static void s_write_entry(void *ctx, server_req_t *req)
{
    app_t *app = ctx;
    Rapport__V1__Entry *e = s_request(req)->write_entry->entry;

    atomic_fetch_add(&app->write_calls, 1);
    if (!e) {
        server_req_fail(req, RP_EINVAL, "write_entry.entry", "entry is required");
        return;
    }
    e->entry_no = ++app->next_entry_no;
    s_reply(req)->result_case = RAPPORT__V1__LOG_REPLY__RESULT_ENTRY;
    s_reply(req)->entry = e;
    if (strcmp(e->description, "defer") == 0) {
        int n = atomic_load(&app->n_pending);
        if (n == 0)
            app->first_pending_ms = clock_mono_ms();
        app->pending[n] = req;
        req->deferred = true;
        atomic_store(&app->n_pending, n + 1);
    }
}

static void s_tick(void *ctx)
{
    app_t *app = ctx;
    int n = atomic_load(&app->n_pending);

    if (n == 0)
        return;
    if ((int)server_inflight(app->server) < app->release_at_inflight &&
        clock_mono_ms() - app->first_pending_ms < app->release_after_ms)
        return;
    for (int i = 0; i < n; i++)
        server_req_finish(app->pending[i]);
    atomic_store(&app->n_pending, 0);
}

static void s_stats(void *ctx, wire_arena_t *a, Rapport__V1__WorkerStats *st)
{
    (void)ctx;
    server_stats_add_gauge(a, st, server_gauge(a, "test_gauge", "A gauge of the toy worker", 42));
}

#define CMD(c) RAPPORT__V1__LOG_REQUEST__COMMAND_##c

static const server_command_t s_commands[CMD(STATS) + 1] = {
    [CMD(WRITE_ENTRY)] = {"write_entry", s_write_entry, ROLE_WRITER, true},
    [CMD(GET_ENTRY)] = {"get_entry", s_get_entry, ROLE_READER, false},
    [CMD(SET_ENTRIES_CANCELED)] = {"set_entries_canceled", NULL, ROLE_ADMIN, true},
    [CMD(STATS)] = {"stats", NULL, ROLE_READER, false},
};

/* ---- fixture: the server in a thread, a client and a raw DEALER ---- */

typedef struct {
    void *zctx;
    config_t cfg;
    char endpoint[600];
    app_t app;
    server_spec_t spec;
    server_t *server;
    pthread_t thread;
    client_t *client;
    void *dealer;
} fixture_t;

/* Set by a case to change the toy worker's spec before it starts. */
static void (*s_spec_hook)(server_spec_t *spec);

static void *s_run(void *arg)
{
    fixture_t *f = arg;
    server_run(f->server);
    return NULL;
}

/* Start the toy worker: requests up to max_msg_size bytes; deferred
 * requests are finished after release_after_ms or as soon as the server
 * holds release_at_inflight requests. */
static void s_start_full(fixture_t *f, int64_t max_msg_size, int64_t release_after_ms,
                         int release_at_inflight)
{
    char path[560], err[512] = "";
    int linger = 0;

    memset(f, 0, sizeof(*f));
    /* No notifications; a watchdog interval only to make server_run poll
     * every 100 ms, so that it sees daemon_stop soon. */
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_PID");
    setenv("WATCHDOG_USEC", "400000", 1);
    log_init("server_test", LOG_LEVEL_WARNING);
    daemon_stop = 0;
    config_defaults(&f->cfg);
    f->cfg.max_msg_size = max_msg_size;
    f->zctx = zmq_ctx_new();
    ASSERT_NOT_NULL(f->zctx);
    test_path(path, sizeof(path), "run/logwriter.sock");
    snprintf(f->endpoint, sizeof(f->endpoint), "ipc://%s", path);

    f->app.release_after_ms = release_after_ms;
    f->app.release_at_inflight = release_at_inflight;
    f->spec.worker = "testworker";
    f->spec.request_desc = &rapport__v1__log_request__descriptor;
    f->spec.reply_desc = &rapport__v1__log_reply__descriptor;
    f->spec.commands = s_commands;
    f->spec.n_commands = sizeof(s_commands) / sizeof(s_commands[0]);
    f->spec.stats_command = CMD(STATS);
    f->spec.stats_result = RAPPORT__V1__LOG_REPLY__RESULT_STATS;
    f->spec.stats_fn = s_stats;
    f->spec.tick_fn = s_tick;
    f->spec.ctx = &f->app;
    if (s_spec_hook)
        s_spec_hook(&f->spec);
    ASSERT_OK(server_new(&f->spec, &f->cfg, f->zctx, f->endpoint, &f->server, err, sizeof(err)));
    f->app.server = f->server;
    ASSERT_EQ_INT(pthread_create(&f->thread, NULL, s_run, f), 0);

    ASSERT_OK(client_new(f->zctx, f->endpoint, &f->cfg, &f->client, err, sizeof(err)));
    f->dealer = zmq_socket(f->zctx, ZMQ_DEALER);
    ASSERT_NOT_NULL(f->dealer);
    zmq_setsockopt(f->dealer, ZMQ_LINGER, &linger, sizeof(linger));
    ASSERT_EQ_INT(zmq_connect(f->dealer, f->endpoint), 0);
}

static void s_start(fixture_t *f)
{
    s_start_full(f, 4 * 1024 * 1024, 10000, 2);
}

static void s_stop(fixture_t *f)
{
    daemon_stop = 1;
    ASSERT_EQ_INT(pthread_join(f->thread, NULL), 0);
    client_destroy(&f->client);
    zmq_close(f->dealer);
    server_destroy(&f->server);
    ASSERT_TRUE(f->server == NULL);
    zmq_ctx_term(f->zctx);
}

/* Send raw bytes on the DEALER and decode the reply. */
static Rapport__V1__LogReply *s_raw_call(fixture_t *f, const void *data, size_t len)
{
    zmq_msg_t body;
    ProtobufCMessage *m = NULL;
    wire_error_t err;
    void *sock = f->dealer;

    ASSERT_EQ_INT(zmq_send(f->dealer, data, len, 0), (int)len);
    if (bus_poll(&sock, 1, WAIT_MS) != 1)
        FAIL("no reply within %d ms", WAIT_MS);
    ASSERT_OK(bus_recv(f->dealer, &body, NULL, 0));
    ASSERT_OK(wire_decode(&rapport__v1__log_reply__descriptor, zmq_msg_data(&body),
                          zmq_msg_size(&body), 1 << 24, 0, &m, &err));
    zmq_msg_close(&body);
    return (Rapport__V1__LogReply *)m;
}

static Rapport__V1__LogReply *s_raw_call_msg(fixture_t *f, const Rapport__V1__LogRequest *req)
{
    uint8_t *buf;
    size_t len;
    Rapport__V1__LogReply *r;

    ASSERT_OK(wire_encode(&req->base, &buf, &len));
    r = s_raw_call(f, buf, len);
    free(buf);
    return r;
}

static Rapport__V1__LogReply *s_call(fixture_t *f, const Rapport__V1__LogRequest *req)
{
    ProtobufCMessage *m = NULL;
    ASSERT_OK(
        client_call(f->client, &req->base, &rapport__v1__log_reply__descriptor, WAIT_MS, 0, &m));
    return (Rapport__V1__LogReply *)m;
}

static void s_set_id(Rapport__V1__LogRequest *req, const char *id)
{
    req->request_id.data = (uint8_t *)(uintptr_t)id;
    req->request_id.len = strlen(id);
}

static void s_get_req(Rapport__V1__LogRequest *req, Rapport__V1__GetEntry *ge, const char *id,
                      uint64_t no)
{
    rapport__v1__log_request__init(req);
    rapport__v1__get_entry__init(ge);
    s_set_id(req, id);
    req->command_case = CMD(GET_ENTRY);
    req->get_entry = ge;
    ge->entry_no = no;
}

static void s_write_req(Rapport__V1__LogRequest *req, Rapport__V1__WriteEntry *we,
                        Rapport__V1__Entry *e, const char *id, const char *description)
{
    rapport__v1__log_request__init(req);
    rapport__v1__write_entry__init(we);
    rapport__v1__entry__init(e);
    s_set_id(req, id);
    req->command_case = CMD(WRITE_ENTRY);
    req->write_entry = we;
    we->entry = e;
    e->contact_no = wire_str("ct000001");
    e->description = wire_str(description);
}

static void s_expect_status(const Rapport__V1__LogReply *r, Rapport__V1__StatusCode code,
                            const char *field)
{
    if (!r->status)
        FAIL("expected status %d (field '%s'), the reply has none", (int)code, field);
    if (r->status->code != code)
        FAIL("expected status %d, got %d: %s (field '%s')", (int)code, (int)r->status->code,
             r->status->message, r->status->field);
    ASSERT_EQ_STR(r->status->field, field);
    ASSERT_TRUE(strlen(r->status->message) > 0);
}

/* ---- cases ---- */

static void s_dispatch(void)
{
    fixture_t f;
    Rapport__V1__LogRequest req;
    Rapport__V1__GetEntry ge;
    Rapport__V1__WriteEntry we;
    Rapport__V1__Entry e;
    Rapport__V1__LogReply *r;

    s_start(&f);
    s_get_req(&req, &ge, "get-5", 5);
    req.user_id = wire_str("alice");
    r = s_call(&f, &req);
    ASSERT_TRUE(r->status == NULL);
    ASSERT_EQ_INT(r->result_case, RAPPORT__V1__LOG_REPLY__RESULT_ENTRY);
    ASSERT_EQ_U64(r->entry->entry_no, 5);
    ASSERT_EQ_STR(r->entry->description, "entry 5");
    ASSERT_EQ_STR(r->user_id, "alice");
    ASSERT_EQ_MEM(r->request_id.data, r->request_id.len, "get-5", 5);
    wire_free(&r->base);

    /* a handler's failure */
    s_get_req(&req, &ge, "get-0", 0);
    r = s_call(&f, &req);
    s_expect_status(r, RAPPORT__V1__STATUS_CODE__NOT_FOUND, "get_entry.entry_no");
    ASSERT_CONTAINS(r->status->message, "does not exist");
    wire_free(&r->base);

    /* a read needs no request_id */
    s_get_req(&req, &ge, "", 6);
    r = s_raw_call_msg(&f, &req);
    ASSERT_TRUE(r->status == NULL);
    ASSERT_EQ_U64(r->entry->entry_no, 6);
    ASSERT_EQ_U64(r->request_id.len, 0);
    wire_free(&r->base);

    /* a write: the handler sees codes upper-cased */
    s_write_req(&req, &we, &e, "write-1", "first call");
    e.salesperson_code = wire_str("jo");
    r = s_call(&f, &req);
    ASSERT_TRUE(r->status == NULL);
    ASSERT_EQ_U64(r->entry->entry_no, 1);
    ASSERT_EQ_STR(r->entry->salesperson_code, "JO");
    ASSERT_EQ_STR(r->entry->contact_no, "CT000001");
    ASSERT_EQ_STR(r->entry->description, "first call");
    wire_free(&r->base);
    s_stop(&f);
    ASSERT_EQ_INT(atomic_load(&f.app.get_calls), 3);
    ASSERT_EQ_INT(atomic_load(&f.app.write_calls), 1);
}

static void s_unknown_command(void)
{
    fixture_t f;
    Rapport__V1__LogRequest req;
    Rapport__V1__ListEntries le;
    Rapport__V1__GetEntry ge;
    Rapport__V1__LogReply *r;

    s_start(&f);
    rapport__v1__log_request__init(&req);
    rapport__v1__list_entries__init(&le);
    s_set_id(&req, "list-1");
    req.command_case = CMD(LIST_ENTRIES); /* a real command this worker lacks */
    req.list_entries = &le;
    r = s_call(&f, &req);
    s_expect_status(r, RAPPORT__V1__STATUS_CODE__INVALID_ARGUMENT, "command");
    ASSERT_CONTAINS(r->status->message, "unknown command");
    ASSERT_EQ_MEM(r->request_id.data, r->request_id.len, "list-1", 6);
    wire_free(&r->base);

    /* no command at all */
    rapport__v1__log_request__init(&req);
    s_set_id(&req, "none-1");
    r = s_call(&f, &req);
    s_expect_status(r, RAPPORT__V1__STATUS_CODE__INVALID_ARGUMENT, "command");
    wire_free(&r->base);

    /* a command number from a newer contract (unknown field 60) */
    r = s_raw_call(&f, "\x0a\x05new-1\xe2\x03\x00", 10);
    s_expect_status(r, RAPPORT__V1__STATUS_CODE__INVALID_ARGUMENT, "command");
    ASSERT_EQ_MEM(r->request_id.data, r->request_id.len, "new-1", 5);
    wire_free(&r->base);

    /* still serving */
    s_get_req(&req, &ge, "get-1", 1);
    r = s_call(&f, &req);
    ASSERT_TRUE(r->status == NULL);
    wire_free(&r->base);
    s_stop(&f);
}

static void s_garbage_then_serving(void)
{
    fixture_t f;
    Rapport__V1__LogRequest req;
    Rapport__V1__GetEntry ge;
    Rapport__V1__WriteEntry we;
    Rapport__V1__Entry e;
    Rapport__V1__LogReply *r;

    s_start(&f);
    r = s_raw_call(&f, "\xff\xff\xff", 3);
    s_expect_status(r, RAPPORT__V1__STATUS_CODE__INVALID_ARGUMENT, "");
    ASSERT_EQ_U64(r->request_id.len, 0);
    ASSERT_CONTAINS(r->status->message, "malformed");
    wire_free(&r->base);

    /* garbage after a readable request_id: the reply carries it */
    r = s_raw_call(&f,
                   "\x0a\x03"
                   "abc\xff\xff",
                   7);
    s_expect_status(r, RAPPORT__V1__STATUS_CODE__INVALID_ARGUMENT, "");
    ASSERT_EQ_MEM(r->request_id.data, r->request_id.len, "abc", 3);
    wire_free(&r->base);

    /* an empty frame is an empty request: no command */
    r = s_raw_call(&f, "", 0);
    s_expect_status(r, RAPPORT__V1__STATUS_CODE__INVALID_ARGUMENT, "command");
    wire_free(&r->base);

    /* a field out of its limits: named by its path */
    s_write_req(&req, &we, &e, "bad-field-1", "x");
    e.salesperson_code = wire_str("ELEVENCHARS");
    r = s_raw_call_msg(&f, &req);
    s_expect_status(r, RAPPORT__V1__STATUS_CODE__INVALID_ARGUMENT,
                    "write_entry.entry.salesperson_code");
    ASSERT_EQ_MEM(r->request_id.data, r->request_id.len, "bad-field-1", 11);
    wire_free(&r->base);

    /* an enum out of range */
    s_write_req(&req, &we, &e, "bad-enum-1", "x");
    e.evaluation = (Rapport__V1__Evaluation)17;
    r = s_raw_call_msg(&f, &req);
    s_expect_status(r, RAPPORT__V1__STATUS_CODE__INVALID_ARGUMENT, "write_entry.entry.evaluation");
    wire_free(&r->base);

    s_get_req(&req, &ge, "get-2", 2);
    r = s_call(&f, &req);
    ASSERT_TRUE(r->status == NULL);
    ASSERT_EQ_U64(r->entry->entry_no, 2);
    wire_free(&r->base);
    s_stop(&f);
    ASSERT_EQ_INT(atomic_load(&f.app.write_calls), 0);
}

static void s_mutating_needs_request_id(void)
{
    fixture_t f;
    Rapport__V1__LogRequest req;
    Rapport__V1__WriteEntry we;
    Rapport__V1__Entry e;
    Rapport__V1__LogReply *r;

    s_start(&f);
    s_write_req(&req, &we, &e, "", "no id");
    r = s_raw_call_msg(&f, &req);
    s_expect_status(r, RAPPORT__V1__STATUS_CODE__INVALID_ARGUMENT, "request_id");
    ASSERT_CONTAINS(r->status->message, "write_entry");
    wire_free(&r->base);
    s_stop(&f);
    ASSERT_EQ_INT(atomic_load(&f.app.write_calls), 0); /* never reached the handler */
}

static void s_oversized(void)
{
    fixture_t f;
    Rapport__V1__LogRequest req;
    Rapport__V1__WriteEntry we;
    Rapport__V1__Entry e;
    Rapport__V1__CommentLine lines[10], *plines[10];
    Rapport__V1__GetEntry ge;
    Rapport__V1__LogReply *r;
    char comment[201];
    uint8_t *buf;
    size_t len;

    s_start_full(&f, 1024, 10000, 2); /* hard limit (MAXMSGSIZE) 4096 */
    memset(comment, 'c', 200);
    comment[200] = '\0';
    s_write_req(&req, &we, &e, "big-1", "too big");
    for (int i = 0; i < 10; i++) {
        rapport__v1__comment_line__init(&lines[i]);
        lines[i].line_no = (uint32_t)(i + 1) * 10000;
        lines[i].comment = comment;
        plines[i] = &lines[i];
    }
    e.comments = plines;
    e.n_comments = 10;
    ASSERT_OK(wire_encode(&req.base, &buf, &len));
    ASSERT_TRUE(len > 1024 && len < 4096);
    r = s_raw_call(&f, buf, len);
    free(buf);
    s_expect_status(r, RAPPORT__V1__STATUS_CODE__RESOURCE_EXHAUSTED, "");
    ASSERT_EQ_MEM(r->request_id.data, r->request_id.len, "big-1", 5); /* peeked */
    ASSERT_CONTAINS(r->status->message, "1024");
    wire_free(&r->base);

    /* over the hard limit (4x): libzmq drops that connection, the server
     * goes on serving the others */
    uint8_t *huge = calloc(1, 5000);
    ASSERT_NOT_NULL(huge);
    memcpy(huge, "\x0a\x06huge-1", 8);
    ASSERT_EQ_INT(zmq_send(f.dealer, huge, 5000, 0), 5000);
    free(huge);

    /* just under the limit is served */
    e.n_comments = 2;
    ASSERT_TRUE(wire_size(&req.base) <= 1024);
    s_set_id(&req, "small-1");
    r = s_call(&f, &req);
    ASSERT_TRUE(r->status == NULL);
    wire_free(&r->base);

    s_get_req(&req, &ge, "get-3", 3);
    r = s_call(&f, &req);
    ASSERT_TRUE(r->status == NULL);
    wire_free(&r->base);
    s_stop(&f);
    ASSERT_EQ_INT(atomic_load(&f.app.write_calls), 1);
}

static void s_unimplemented(void)
{
    fixture_t f;
    Rapport__V1__LogRequest req;
    Rapport__V1__SetEntriesCanceled sc;
    Rapport__V1__LogReply *r;

    s_start(&f);
    rapport__v1__log_request__init(&req);
    rapport__v1__set_entries_canceled__init(&sc);
    s_set_id(&req, "cancel-1");
    req.command_case = CMD(SET_ENTRIES_CANCELED);
    req.set_entries_canceled = &sc;
    r = s_call(&f, &req);
    s_expect_status(r, RAPPORT__V1__STATUS_CODE__UNIMPLEMENTED, "command");
    ASSERT_CONTAINS(r->status->message, "set_entries_canceled");
    wire_free(&r->base);
    s_stop(&f);
}

static int64_t s_counter(const Rapport__V1__WorkerStats *st, const char *name, const char *command,
                         const char *code)
{
    for (size_t i = 0; i < st->n_counters; i++) {
        const Rapport__V1__Counter *c = st->counters[i];
        bool cmd_ok = command == NULL, code_ok = code == NULL;
        if (strcmp(c->name, name) != 0)
            continue;
        for (size_t l = 0; l < c->n_labels; l++) {
            if (command && !strcmp(c->labels[l]->name, "command") &&
                !strcmp(c->labels[l]->value, command))
                cmd_ok = true;
            if (code && !strcmp(c->labels[l]->name, "code") && !strcmp(c->labels[l]->value, code))
                code_ok = true;
        }
        if (cmd_ok && code_ok)
            return (int64_t)c->value;
    }
    return -1;
}

static void s_stats_command(void)
{
    fixture_t f;
    Rapport__V1__LogRequest req;
    Rapport__V1__GetEntry ge;
    Rapport__V1__GetStats gs;
    Rapport__V1__LogReply *r;
    const Rapport__V1__WorkerStats *st;
    bool hist = false, gauge = false, inflight = false;

    s_start(&f);
    for (uint64_t i = 1; i <= 3; i++) {
        s_get_req(&req, &ge, "get", i);
        r = s_call(&f, &req);
        wire_free(&r->base);
    }
    s_get_req(&req, &ge, "get-missing", 0);
    r = s_call(&f, &req);
    wire_free(&r->base);
    r = s_raw_call(&f, "\xff", 1); /* malformed */
    wire_free(&r->base);

    rapport__v1__log_request__init(&req);
    rapport__v1__get_stats__init(&gs);
    s_set_id(&req, "stats-1");
    req.command_case = CMD(STATS);
    req.stats = &gs;
    r = s_call(&f, &req);
    ASSERT_TRUE(r->status == NULL);
    ASSERT_EQ_INT(r->result_case, RAPPORT__V1__LOG_REPLY__RESULT_STATS);
    st = r->stats;
    ASSERT_EQ_STR(st->worker, "testworker");
    ASSERT_EQ_INT(s_counter(st, "rapport_requests_total", "get_entry", "ok"), 3);
    ASSERT_EQ_INT(s_counter(st, "rapport_requests_total", "get_entry", "not_found"), 1);
    ASSERT_EQ_INT(s_counter(st, "rapport_requests_total", "write_entry", NULL), -1);
    ASSERT_TRUE(s_counter(st, "rapport_malformed_requests_total", NULL, NULL) >= 1);
    for (size_t i = 0; i < st->n_histograms; i++) {
        const Rapport__V1__Histogram *h = st->histograms[i];
        if (strcmp(h->name, "rapport_request_duration_seconds") != 0 || h->n_labels != 1 ||
            strcmp(h->labels[0]->value, "get_entry") != 0)
            continue;
        hist = true;
        ASSERT_EQ_U64(h->count, 4);
        ASSERT_EQ_U64(h->n_counts, h->n_bounds + 1);
        ASSERT_EQ_U64(h->counts[h->n_counts - 1], 4); /* cumulative: +Inf has them all */
        for (size_t k = 1; k < h->n_counts; k++)
            ASSERT_TRUE(h->counts[k] >= h->counts[k - 1]);
    }
    for (size_t i = 0; i < st->n_gauges; i++) {
        if (!strcmp(st->gauges[i]->name, "test_gauge")) {
            gauge = true;
            ASSERT_TRUE(st->gauges[i]->value == 42.0);
        }
        if (!strcmp(st->gauges[i]->name, "rapport_requests_in_flight")) {
            inflight = true;
            ASSERT_TRUE(st->gauges[i]->value == 0.0); /* the stats request itself not counted */
        }
    }
    ASSERT_TRUE(hist);
    ASSERT_TRUE(gauge);
    ASSERT_TRUE(inflight);
    wire_free(&r->base);

    /* the stats request itself is counted afterwards */
    r = s_call(&f, &req);
    ASSERT_EQ_INT(s_counter(r->stats, "rapport_requests_total", "stats", "ok"), 1);
    wire_free(&r->base);
    s_stop(&f);
}

/* A retry of a request_id while the first is still being worked on gets
 * the first one's reply; the handler runs once. */
static void s_inflight_repeat_coalesced(void)
{
    fixture_t f;
    Rapport__V1__LogRequest req;
    Rapport__V1__WriteEntry we;
    Rapport__V1__Entry e;
    uint8_t *buf;
    size_t len;
    void *sock;
    uint64_t entry_nos[2];

    s_start(&f);
    s_write_req(&req, &we, &e, "dup-1", "defer");
    ASSERT_OK(wire_encode(&req.base, &buf, &len));
    ASSERT_EQ_INT(zmq_send(f.dealer, buf, len, 0), (int)len);
    ASSERT_EQ_INT(zmq_send(f.dealer, buf, len, 0), (int)len);
    free(buf);
    sock = f.dealer;
    for (int i = 0; i < 2; i++) {
        zmq_msg_t body;
        ProtobufCMessage *m = NULL;
        wire_error_t err;
        Rapport__V1__LogReply *r;
        if (bus_poll(&sock, 1, WAIT_MS) != 1)
            FAIL("reply %d did not come", i + 1);
        ASSERT_OK(bus_recv(f.dealer, &body, NULL, 0));
        ASSERT_OK(wire_decode(&rapport__v1__log_reply__descriptor, zmq_msg_data(&body),
                              zmq_msg_size(&body), 1 << 20, 0, &m, &err));
        zmq_msg_close(&body);
        r = (Rapport__V1__LogReply *)m;
        ASSERT_TRUE(r->status == NULL);
        ASSERT_EQ_MEM(r->request_id.data, r->request_id.len, "dup-1", 5);
        entry_nos[i] = r->entry->entry_no;
        wire_free(m);
    }
    ASSERT_EQ_U64(entry_nos[0], entry_nos[1]);
    s_stop(&f);
    ASSERT_EQ_INT(atomic_load(&f.app.write_calls), 1);
}

/* daemon_stop set while a deferred request is pending: the server stops
 * reading but finishes it (and answers) before server_run returns. */
static void s_stop_finishes_inflight(void)
{
    fixture_t f;
    Rapport__V1__LogRequest req;
    Rapport__V1__WriteEntry we;
    Rapport__V1__Entry e;
    ProtobufCMessage *m = NULL;
    int64_t deadline;

    s_start_full(&f, 4 * 1024 * 1024, 500, 1000); /* release by time only */
    s_write_req(&req, &we, &e, "slow-1", "defer");
    ASSERT_OK(client_send(f.client, &req.base));
    deadline = clock_mono_ms() + WAIT_MS;
    while (atomic_load(&f.app.n_pending) == 0 && clock_mono_ms() < deadline)
        test_sleep_ms(5);
    ASSERT_EQ_INT(atomic_load(&f.app.n_pending), 1);
    daemon_stop = 1;
    ASSERT_OK(client_recv(f.client, &rapport__v1__log_reply__descriptor, WAIT_MS, &m));
    ASSERT_EQ_U64(((Rapport__V1__LogReply *)m)->entry->entry_no, 1);
    wire_free(m);
    s_stop(&f);
    ASSERT_EQ_INT(atomic_load(&f.app.n_pending), 0);
}

static void s_endpoint_in_use(void)
{
    fixture_t f;
    server_t *other = NULL;
    char err[512] = "";

    s_start(&f);
    ASSERT_ERR(server_new(&f.spec, &f.cfg, f.zctx, f.endpoint, &other, err, sizeof(err)),
               RP_EADDRINUSE);
    ASSERT_TRUE(other == NULL);
    server_destroy(&other);
    server_destroy(NULL);
    s_stop(&f);
}

/* ---- dedup records ---- */

enum { DB_DEDUP, DB_DEDUP_TIME };

static void s_dedup(void)
{
    static const store_dbi_spec_t specs[] = {{"dedup", 0}, {"dedup_time", 0}};
    store_t *st = NULL;
    store_txn_t *t;
    store_val_t v;
    char dir[600], path[600], ep[640], err[512] = "";
    ProtobufCBinaryData ids[3] = {
        {5, (uint8_t *)(uintptr_t) "req-1"},
        {5, (uint8_t *)(uintptr_t) "req-2"},
        {5, (uint8_t *)(uintptr_t) "req-3"},
    };
    ProtobufCBinaryData missing = {5, (uint8_t *)(uintptr_t) "req-9"}, empty = {0, NULL};
    uint8_t long_id[WIRE_REQUEST_ID_MAX + 1];
    ProtobufCBinaryData too_long = {sizeof(long_id), long_id};
    size_t pruned = 99;
    uint64_t n;
    config_t cfg;
    server_spec_t spec;
    server_t *s = NULL;
    void *zctx = zmq_ctx_new();

    test_path(dir, sizeof(dir), "dedup");
    ASSERT_OK(store_open(dir, specs, 2, 1 << 20, CONFIG_SYNC_NONE, &st, err, sizeof(err)));
    config_defaults(&cfg);
    memset(&spec, 0, sizeof(spec));
    spec.worker = "testworker";
    spec.request_desc = &rapport__v1__log_request__descriptor;
    spec.reply_desc = &rapport__v1__log_reply__descriptor;
    spec.commands = s_commands;
    spec.n_commands = sizeof(s_commands) / sizeof(s_commands[0]);
    spec.dedup_store = st;
    spec.dedup_dbi = store_dbi(st, DB_DEDUP);
    spec.dedup_time_dbi = store_dbi(st, DB_DEDUP_TIME);
    test_path(path, sizeof(path), "run/dedup.sock");
    snprintf(ep, sizeof(ep), "ipc://%s", path);
    ASSERT_OK(server_new(&spec, &cfg, zctx, ep, &s, err, sizeof(err)));

    ASSERT_OK(store_txn_begin(st, true, &t));
    for (int i = 0; i < 3; i++) {
        char reply[32];
        snprintf(reply, sizeof(reply), "reply bytes %d", i);
        ASSERT_OK(server_dedup_put(s, t, "alice", &ids[i], reply, strlen(reply)));
    }
    /* the same request_id of another principal is another record */
    ASSERT_OK(server_dedup_put(s, t, "bob", &ids[0], "bob's", 5));
    memset(long_id, 'l', sizeof(long_id));
    ASSERT_ERR(server_dedup_put(s, t, "alice", &too_long, "x", 1), RP_EINVAL);
    ASSERT_ERR(server_dedup_put(s, t, "alice", &empty, "x", 1), RP_EINVAL);
    ASSERT_ERR(server_dedup_put(s, t, "alice", NULL, "x", 1), RP_EINVAL);
    /* an empty reply is a reply */
    ASSERT_OK(server_dedup_put(s, t, "alice", &missing, "", 0));
    ASSERT_TRUE(server_dedup_get(s, t, "alice", &missing, &v));
    ASSERT_EQ_U64(v.len, 0);
    ASSERT_OK(store_txn_commit(t));

    ASSERT_OK(store_txn_begin(st, false, &t));
    for (int i = 0; i < 3; i++) {
        char want[32];
        snprintf(want, sizeof(want), "reply bytes %d", i);
        ASSERT_TRUE(server_dedup_get(s, t, "alice", &ids[i], &v));
        ASSERT_EQ_MEM(v.data, v.len, want, strlen(want));
    }
    ASSERT_TRUE(server_dedup_get(s, t, "bob", &ids[0], &v));
    ASSERT_EQ_MEM(v.data, v.len, "bob's", 5);
    ASSERT_FALSE(server_dedup_get(s, t, "bob", &ids[1], &v));
    ASSERT_FALSE(server_dedup_get(s, t, "", &ids[0], &v));
    ASSERT_FALSE(server_dedup_get(s, t, "alic", &ids[0], &v));
    ASSERT_FALSE(server_dedup_get(s, t, "alice", &empty, &v));
    ASSERT_FALSE(server_dedup_get(s, t, "alice", NULL, &v));
    store_txn_abort(t);

    /* nothing is old enough */
    ASSERT_OK(store_txn_begin(st, true, &t));
    ASSERT_OK(server_dedup_prune(s, t, 3600 * 1000, 100, &pruned));
    ASSERT_EQ_U64(pruned, 0);
    /* everything is (a cut-off in the future), within a budget */
    ASSERT_OK(server_dedup_prune(s, t, -60000, 2, &pruned));
    ASSERT_EQ_U64(pruned, 2);
    ASSERT_OK(server_dedup_prune(s, t, -60000, 100, &pruned));
    ASSERT_EQ_U64(pruned, 3);
    ASSERT_OK(store_count(t, spec.dedup_time_dbi, &n));
    ASSERT_EQ_U64(n, 0);
    ASSERT_OK(store_count(t, spec.dedup_dbi, &n));
    ASSERT_EQ_U64(n, 0);
    for (int i = 0; i < 3; i++)
        ASSERT_FALSE(server_dedup_get(s, t, "alice", &ids[i], &v));
    /* pruning an empty index */
    ASSERT_OK(server_dedup_prune(s, t, -60000, 100, &pruned));
    ASSERT_EQ_U64(pruned, 0);
    ASSERT_OK(server_dedup_prune(s, t, -60000, 100, NULL));
    ASSERT_OK(store_txn_commit(t));
    server_destroy(&s);
    zmq_ctx_term(zctx);
    store_close(&st);
}

/* ---- metrics helpers ---- */

static void s_metrics_helpers(void)
{
    wire_arena_t *a = wire_arena_new();
    server_hist_t h;
    Rapport__V1__Histogram *x;
    Rapport__V1__WorkerStats *st;

    memset(&h, 0, sizeof(h));
    server_hist_observe(&h, 0.00001); /* first bucket */
    server_hist_observe(&h, 0.003);   /* <= 0.005 */
    server_hist_observe(&h, 0.005);   /* bounds are inclusive */
    server_hist_observe(&h, 100);     /* +Inf */
    ASSERT_EQ_U64(h.count, 4);
    ASSERT_TRUE(h.sum > 100.008 && h.sum < 100.0081);
    x = server_hist_export(a, &h, "lat_seconds", "Latency", "command", "get");
    ASSERT_EQ_STR(x->name, "lat_seconds");
    ASSERT_EQ_STR(x->help, "Latency");
    ASSERT_EQ_U64(x->n_labels, 1);
    ASSERT_EQ_STR(x->labels[0]->name, "command");
    ASSERT_EQ_STR(x->labels[0]->value, "get");
    ASSERT_EQ_U64(x->n_counts, x->n_bounds + 1);
    ASSERT_EQ_U64(x->counts[0], 1);
    for (size_t i = 0; i < x->n_bounds; i++) {
        uint64_t want = 1;
        if (x->bounds[i] >= 0.005)
            want = 3;
        if (i > 0)
            ASSERT_TRUE(x->bounds[i] > x->bounds[i - 1]);
        ASSERT_EQ_U64(x->counts[i], want);
    }
    ASSERT_EQ_U64(x->counts[x->n_bounds], 4);
    ASSERT_EQ_U64(x->count, 4);
    x = server_hist_export(a, &h, "no_labels", "x", NULL, NULL);
    ASSERT_EQ_U64(x->n_labels, 0);

    st = (Rapport__V1__WorkerStats *)wire_arena_message(a, &rapport__v1__worker_stats__descriptor);
    for (int i = 0; i < 5; i++) {
        char *name = wire_arena_printf(a, "g%d", i);
        server_stats_add_gauge(a, st, server_gauge(a, name, "help", i));
    }
    server_stats_add_hist(a, st, x);
    ASSERT_EQ_U64(st->n_gauges, 5);
    for (int i = 0; i < 5; i++) {
        char want[8];
        snprintf(want, sizeof(want), "g%d", i);
        ASSERT_EQ_STR(st->gauges[i]->name, want);
        ASSERT_TRUE(st->gauges[i]->value == (double)i);
    }
    ASSERT_EQ_U64(st->n_histograms, 1);
    /* it encodes and decodes within the limits */
    uint8_t *buf;
    size_t len;
    ProtobufCMessage *m;
    wire_error_t err;
    ASSERT_OK(wire_encode(&st->base, &buf, &len));
    ASSERT_OK(wire_decode(&rapport__v1__worker_stats__descriptor, buf, len, len, 0, &m, &err));
    wire_free(m);
    free(buf);
    wire_arena_destroy(&a);
}

/* Batch mode with weights: each get_entry weighs its entry No.; the first
 * batch holds the worker until the case has queued the rest. */
static atomic_int s_go, s_held, s_n_batches;
static int s_batch_sizes[16];

static void s_weighted_batch(void *ctx, server_req_t **reqs, size_t n)
{
    int k = atomic_load(&s_n_batches);
    int64_t deadline = clock_mono_ms() + WAIT_MS;

    atomic_store(&s_held, 1);
    while (k == 0 && !atomic_load(&s_go) && clock_mono_ms() < deadline)
        usleep(1000);
    if (k < 16)
        s_batch_sizes[k] = (int)n;
    atomic_store(&s_n_batches, k + 1);
    for (size_t i = 0; i < n; i++) {
        s_get_entry(ctx, reqs[i]);
        server_req_finish(reqs[i]);
    }
}

static size_t s_weight(const server_req_t *req)
{
    return (size_t)((const Rapport__V1__LogRequest *)req->request)->get_entry->entry_no;
}

static void s_weighted_spec(server_spec_t *spec)
{
    spec->batch_fn = s_weighted_batch;
    spec->weight_fn = s_weight;
    spec->batch_weight_max = 8;
}

/* A drain stops once it holds batch_weight_max: six requests of weight 5
 * queued behind a held batch come two by two. */
static void s_batch_weight(void)
{
    fixture_t f;
    Rapport__V1__LogRequest req;
    Rapport__V1__GetEntry ge;
    uint8_t *buf;
    size_t len;

    atomic_store(&s_go, 0);
    atomic_store(&s_held, 0);
    atomic_store(&s_n_batches, 0);
    s_spec_hook = s_weighted_spec;
    s_start(&f);
    s_spec_hook = NULL;
    for (int i = 0; i < 7; i++) {
        s_get_req(&req, &ge, "", i == 0 ? 1 : 5);
        ASSERT_OK(wire_encode(&req.base, &buf, &len));
        ASSERT_EQ_INT(zmq_send(f.dealer, buf, len, 0), (int)len);
        free(buf);
        if (i == 0) { /* the first is drained alone, and holds the worker */
            int64_t deadline = clock_mono_ms() + WAIT_MS;
            while (!atomic_load(&s_held) && clock_mono_ms() < deadline)
                usleep(1000);
            ASSERT_TRUE(atomic_load(&s_held));
        }
    }
    usleep(100000); /* the six reach the worker's queue */
    atomic_store(&s_go, 1);
    for (int i = 0; i < 7; i++) {
        void *sock = f.dealer;
        zmq_msg_t body;
        if (bus_poll(&sock, 1, WAIT_MS) != 1)
            FAIL("reply %d of 7 missing", i + 1);
        ASSERT_OK(bus_recv(f.dealer, &body, NULL, 0));
        zmq_msg_close(&body);
    }
    s_stop(&f);
    ASSERT_EQ_INT(atomic_load(&s_n_batches), 4);
    ASSERT_EQ_INT(s_batch_sizes[0], 1);
    ASSERT_EQ_INT(s_batch_sizes[1], 2);
    ASSERT_EQ_INT(s_batch_sizes[2], 2);
    ASSERT_EQ_INT(s_batch_sizes[3], 2);
}

static const test_case_t s_cases[] = {
    {"dispatch", s_dispatch},
    {"unknown_command", s_unknown_command},
    {"garbage_then_serving", s_garbage_then_serving},
    {"mutating_needs_request_id", s_mutating_needs_request_id},
    {"oversized", s_oversized},
    {"unimplemented", s_unimplemented},
    {"stats_command", s_stats_command},
    {"inflight_repeat_coalesced", s_inflight_repeat_coalesced},
    {"stop_finishes_inflight", s_stop_finishes_inflight},
    {"endpoint_in_use", s_endpoint_in_use},
    {"dedup", s_dedup},
    {"metrics_helpers", s_metrics_helpers},
    {"batch_weight", s_batch_weight},
};

TEST_MAIN(s_cases)
