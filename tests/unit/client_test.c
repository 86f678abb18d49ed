/* client_test: client_call against a ROUTER thread that misbehaves on
 * purpose: it drops the first copy of a request (the client must resend
 * the very same bytes and match the reply by request_id), never answers
 * (RP_ETIMEDOUT), or answers with a stale reply and garbage first (both
 * skipped). Also pipelining with client_send / client_recv. */
#include "test.h"

#include <pthread.h>
#include <stdatomic.h>

#include "bus.h"
#include "client.h"
#include "clock.h"
#include "wire.h"

#include "rapport/v1/logwriter.pb-c.h"

#define WAIT_MS 15000

typedef enum {
    MODE_DROP_FIRST, /* drop the first copy of each request, answer the others */
    MODE_SILENT,     /* never answer */
    MODE_STALE,      /* answer a stale id and garbage first, then the real reply */
    MODE_ECHO,       /* answer everything */
} mode_t_;

#define MAX_COPIES 64

typedef struct {
    void *zctx;
    void *router;
    mode_t_ mode;
    atomic_int stop;
    /* what the server saw (read after join) */
    int copies;
    uint8_t first[4096];
    size_t first_len;
    bool identical;
    uint64_t answered;
    pthread_t thread;
} server_t_;

/* A LogReply to `req` carrying its request_id (or `other_id`) and an entry
 * whose entry_no is the request's get_entry.entry_no. */
static void s_reply(server_t_ *s, const bus_envelope_t *env, const Rapport__V1__LogRequest *req,
                    const char *other_id)
{
    Rapport__V1__LogReply reply;
    Rapport__V1__Entry entry;
    uint8_t *buf;
    size_t len;

    rapport__v1__log_reply__init(&reply);
    rapport__v1__entry__init(&entry);
    if (other_id) {
        reply.request_id.data = (uint8_t *)(uintptr_t)other_id;
        reply.request_id.len = strlen(other_id);
    } else {
        reply.request_id = req->request_id;
    }
    reply.result_case = RAPPORT__V1__LOG_REPLY__RESULT_ENTRY;
    reply.entry = &entry;
    entry.entry_no =
        req->command_case == RAPPORT__V1__LOG_REQUEST__COMMAND_GET_ENTRY && req->get_entry
            ? req->get_entry->entry_no
            : 0;
    if (wire_encode(&reply.base, &buf, &len) != RP_OK)
        abort();
    if (bus_send_reply(s->router, env, buf, len) == RP_OK)
        s->answered++;
    free(buf);
}

static void *s_server_main(void *arg)
{
    server_t_ *s = arg;

    s->identical = true;
    while (!atomic_load(&s->stop)) {
        bus_envelope_t env;
        zmq_msg_t body;
        ProtobufCMessage *m = NULL;
        wire_error_t werr;
        const uint8_t *data;
        size_t len;

        if (bus_poll(&s->router, 1, 50) != 1)
            continue;
        if (bus_recv_request(s->router, &env, &body) != RP_OK)
            continue;
        data = zmq_msg_data(&body);
        len = zmq_msg_size(&body);
        if (s->copies == 0 && len <= sizeof(s->first)) {
            memcpy(s->first, data, len);
            s->first_len = len;
        } else if (len != s->first_len || memcmp(data, s->first, len) != 0) {
            s->identical = false;
        }
        s->copies++;
        if (wire_decode(&rapport__v1__log_request__descriptor, data, len, 1 << 20, 0, &m, &werr) ==
            RP_OK) {
            const Rapport__V1__LogRequest *req = (const Rapport__V1__LogRequest *)m;
            switch (s->mode) {
            case MODE_DROP_FIRST:
                if (s->copies > 1)
                    s_reply(s, &env, req, NULL);
                break;
            case MODE_SILENT:
                break;
            case MODE_STALE:
                s_reply(s, &env, req, "an-earlier-request");
                bus_send_reply(s->router, &env, "\xff\xff\xff", 3);
                s_reply(s, &env, req, NULL);
                break;
            case MODE_ECHO:
                s_reply(s, &env, req, NULL);
                break;
            }
            wire_free(m);
        }
        zmq_msg_close(&body);
    }
    return NULL;
}

typedef struct {
    void *zctx;
    config_t cfg;
    char endpoint[600];
    server_t_ server;
    client_t *client;
} fixture_t;

static void s_start(fixture_t *f, mode_t_ mode, bool with_server)
{
    char path[560], err[512] = "";

    memset(f, 0, sizeof(*f));
    config_defaults(&f->cfg);
    f->zctx = zmq_ctx_new();
    ASSERT_NOT_NULL(f->zctx);
    test_path(path, sizeof(path), "worker.sock");
    snprintf(f->endpoint, sizeof(f->endpoint), "ipc://%s", path);
    if (with_server) {
        f->server.zctx = f->zctx;
        f->server.mode = mode;
        ASSERT_OK(bus_socket_bind(f->zctx, BUS_ROUTER, f->endpoint, &f->cfg, NULL,
                                  &f->server.router, err, sizeof(err)));
        ASSERT_EQ_INT(pthread_create(&f->server.thread, NULL, s_server_main, &f->server), 0);
    }
    ASSERT_OK(client_new(f->zctx, f->endpoint, &f->cfg, &f->client, err, sizeof(err)));
    ASSERT_NOT_NULL(client_socket(f->client));
}

static void s_stop(fixture_t *f)
{
    client_destroy(&f->client);
    ASSERT_TRUE(f->client == NULL);
    if (f->server.router) {
        atomic_store(&f->server.stop, 1);
        ASSERT_EQ_INT(pthread_join(f->server.thread, NULL), 0);
        zmq_close(f->server.router);
    }
    zmq_ctx_term(f->zctx);
}

static void s_get_entry(Rapport__V1__LogRequest *req, Rapport__V1__GetEntry *ge, const char *id,
                        uint64_t entry_no)
{
    rapport__v1__log_request__init(req);
    rapport__v1__get_entry__init(ge);
    req->request_id.data = (uint8_t *)(uintptr_t)id;
    req->request_id.len = strlen(id);
    req->command_case = RAPPORT__V1__LOG_REQUEST__COMMAND_GET_ENTRY;
    req->get_entry = ge;
    ge->entry_no = entry_no;
}

static void s_retry_sends_same_bytes(void)
{
    fixture_t f;
    Rapport__V1__LogRequest req;
    Rapport__V1__GetEntry ge;
    ProtobufCMessage *m = NULL;
    Rapport__V1__LogReply *reply;
    char id[CLIENT_REQUEST_ID_LEN + 1];
    uint8_t *sent;
    size_t sent_len;

    s_start(&f, MODE_DROP_FIRST, true);
    client_new_request_id(id);
    s_get_entry(&req, &ge, id, 4242);
    ASSERT_OK(
        client_call(f.client, &req.base, &rapport__v1__log_reply__descriptor, WAIT_MS, 200, &m));
    reply = (Rapport__V1__LogReply *)m;
    ASSERT_EQ_MEM(reply->request_id.data, reply->request_id.len, id, strlen(id));
    ASSERT_EQ_INT(reply->result_case, RAPPORT__V1__LOG_REPLY__RESULT_ENTRY);
    ASSERT_EQ_U64(reply->entry->entry_no, 4242);
    ASSERT_TRUE(reply->status == NULL);
    wire_free(m);
    s_stop(&f);
    /* the server saw the request at least twice, byte for byte the same */
    ASSERT_TRUE(f.server.copies >= 2);
    ASSERT_TRUE(f.server.identical);
    ASSERT_OK(wire_encode(&req.base, &sent, &sent_len));
    ASSERT_EQ_MEM(f.server.first, f.server.first_len, sent, sent_len);
    free(sent);
}

static void s_timeout(void)
{
    fixture_t f;
    Rapport__V1__LogRequest req;
    Rapport__V1__GetEntry ge;
    ProtobufCMessage *m = NULL;
    int64_t t0, took;

    s_start(&f, MODE_SILENT, true);
    s_get_entry(&req, &ge, "silent-1", 1);
    t0 = clock_mono_ms();
    ASSERT_ERR(client_call(f.client, &req.base, &rapport__v1__log_reply__descriptor, 300, 100, &m),
               RP_ETIMEDOUT);
    took = clock_mono_ms() - t0;
    ASSERT_TRUE(m == NULL);
    ASSERT_TRUE(took >= 299);
    ASSERT_TRUE(took < WAIT_MS); /* bounded, however loaded the machine */
    s_stop(&f);
    ASSERT_TRUE(f.server.copies >= 1);
    ASSERT_TRUE(f.server.identical);

    /* nobody bound at all: still a clean timeout */
    s_start(&f, MODE_SILENT, false);
    ASSERT_ERR(client_call(f.client, &req.base, &rapport__v1__log_reply__descriptor, 200, 50, &m),
               RP_ETIMEDOUT);
    /* and client_recv with nothing to receive */
    ASSERT_ERR(client_recv(f.client, &rapport__v1__log_reply__descriptor, 50, &m), RP_ETIMEDOUT);
    s_stop(&f);
}

static void s_stale_reply_skipped(void)
{
    fixture_t f;
    Rapport__V1__LogRequest req;
    Rapport__V1__GetEntry ge;
    ProtobufCMessage *m = NULL;
    Rapport__V1__LogReply *reply;

    s_start(&f, MODE_STALE, true);
    s_get_entry(&req, &ge, "the-real-one", 99);
    /* no resend: the stale reply and the garbage come before the real one */
    ASSERT_OK(
        client_call(f.client, &req.base, &rapport__v1__log_reply__descriptor, WAIT_MS, 0, &m));
    reply = (Rapport__V1__LogReply *)m;
    ASSERT_EQ_MEM(reply->request_id.data, reply->request_id.len, "the-real-one", 12);
    ASSERT_EQ_U64(reply->entry->entry_no, 99);
    wire_free(m);
    s_stop(&f);
    ASSERT_EQ_INT(f.server.copies, 1);
}

static void s_needs_request_id(void)
{
    fixture_t f;
    Rapport__V1__LogRequest req;
    Rapport__V1__GetEntry ge;
    Rapport__V1__Entry not_a_request;
    ProtobufCMessage *m = NULL;
    char long_id[66];

    s_start(&f, MODE_ECHO, true);
    s_get_entry(&req, &ge, "", 1);
    ASSERT_ERR(client_call(f.client, &req.base, &rapport__v1__log_reply__descriptor, 1000, 0, &m),
               RP_EINVAL);
    memset(long_id, 'x', 65);
    long_id[65] = '\0';
    s_get_entry(&req, &ge, long_id, 1);
    ASSERT_ERR(client_call(f.client, &req.base, &rapport__v1__log_reply__descriptor, 1000, 0, &m),
               RP_EINVAL);
    rapport__v1__entry__init(&not_a_request);
    ASSERT_TRUE(client_message_request_id(&not_a_request.base) == NULL);
    ASSERT_ERR(client_call(f.client, &not_a_request.base, &rapport__v1__log_reply__descriptor, 1000,
                           0, &m),
               RP_EINVAL);
    ASSERT_TRUE(m == NULL);
    s_stop(&f);
    ASSERT_EQ_INT(f.server.copies, 0); /* nothing was sent */
}

static void s_pipelining(void)
{
    fixture_t f;
    Rapport__V1__LogRequest req;
    Rapport__V1__GetEntry ge;
    bool seen[5] = {false};

    s_start(&f, MODE_ECHO, true);
    for (uint64_t i = 0; i < 5; i++) {
        char id[16];
        snprintf(id, sizeof(id), "pipe-%u", (unsigned)i);
        s_get_entry(&req, &ge, id, i);
        ASSERT_OK(client_send(f.client, &req.base));
    }
    for (int i = 0; i < 5; i++) {
        ProtobufCMessage *m = NULL;
        Rapport__V1__LogReply *reply;
        char want[16];
        ASSERT_OK(client_recv(f.client, &rapport__v1__log_reply__descriptor, WAIT_MS, &m));
        reply = (Rapport__V1__LogReply *)m;
        ASSERT_TRUE(reply->entry != NULL && reply->entry->entry_no < 5);
        snprintf(want, sizeof(want), "pipe-%u", (unsigned)reply->entry->entry_no);
        ASSERT_EQ_MEM(reply->request_id.data, reply->request_id.len, want, strlen(want));
        ASSERT_FALSE(seen[reply->entry->entry_no]);
        seen[reply->entry->entry_no] = true;
        const ProtobufCBinaryData *rid = client_message_request_id(m);
        ASSERT_TRUE(rid == &reply->request_id);
        wire_free(m);
    }
    s_stop(&f);
    ASSERT_EQ_INT(f.server.copies, 5);
}

static void s_request_ids(void)
{
    char ids[200][CLIENT_REQUEST_ID_LEN + 1];

    for (int i = 0; i < 200; i++) {
        client_new_request_id(ids[i]);
        ASSERT_EQ_U64(strlen(ids[i]), CLIENT_REQUEST_ID_LEN);
        for (const char *p = ids[i]; *p; p++)
            ASSERT_TRUE((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'));
        for (int j = 0; j < i; j++)
            ASSERT_TRUE(strcmp(ids[i], ids[j]) != 0);
    }
}

static void s_new_destroy(void)
{
    void *zctx = zmq_ctx_new();
    config_t cfg;
    client_t *c = NULL;
    char err[512] = "";

    config_defaults(&cfg);
    ASSERT_TRUE(client_new(zctx, "nonsense", &cfg, &c, err, sizeof(err)) != RP_OK);
    ASSERT_TRUE(c == NULL);
    ASSERT_TRUE(strlen(err) > 0);
    client_destroy(&c);
    client_destroy(NULL);
    zmq_ctx_term(zctx);
}

static const test_case_t s_cases[] = {
    {"retry_sends_same_bytes", s_retry_sends_same_bytes},
    {"timeout", s_timeout},
    {"stale_reply_skipped", s_stale_reply_skipped},
    {"needs_request_id", s_needs_request_id},
    {"pipelining", s_pipelining},
    {"request_ids", s_request_ids},
    {"new_destroy", s_new_destroy},
};

TEST_MAIN(s_cases)
