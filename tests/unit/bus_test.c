/* bus_test: sockets on ipc endpoints in a temporary directory: ROUTER /
 * DEALER request and reply with the routing envelope, REQ envelopes, a
 * second bind on a live ipc path refused, a stale socket file taken over,
 * PUB/SUB topics, and the non-blocking receive and send errors. */
#include "test.h"

#include <sys/socket.h>
#include <sys/un.h>

#include "bus.h"
#include "config.h"

#define WAIT_MS 10000 /* generous: the machine may be loaded */

typedef struct {
    void *zctx;
    config_t cfg;
    char endpoint[600];
} fixture_t;

static void s_setup(fixture_t *f, const char *sock_name)
{
    char path[560];

    config_defaults(&f->cfg);
    f->zctx = zmq_ctx_new();
    ASSERT_NOT_NULL(f->zctx);
    test_path(path, sizeof(path), sock_name);
    snprintf(f->endpoint, sizeof(f->endpoint), "ipc://%s", path);
}

static void s_teardown(fixture_t *f)
{
    zmq_ctx_term(f->zctx);
}

static void *s_bind(fixture_t *f, bus_type_t type)
{
    void *sock = NULL;
    char err[512] = "";
    rp_err rc = bus_socket_bind(f->zctx, type, f->endpoint, &f->cfg, NULL, &sock, err, sizeof(err));
    if (rc != RP_OK)
        FAIL("bind %s: RP_%s: %s", f->endpoint, rp_err_name(rc), err);
    return sock;
}

static void *s_connect(fixture_t *f, bus_type_t type)
{
    void *sock = NULL;
    char err[512] = "";
    rp_err rc = bus_socket_connect(f->zctx, type, f->endpoint, &f->cfg, &sock, err, sizeof(err));
    if (rc != RP_OK)
        FAIL("connect %s: RP_%s: %s", f->endpoint, rp_err_name(rc), err);
    return sock;
}

/* Wait until sock has input (bus_poll), failing the case after WAIT_MS. */
static void s_wait_readable(void *sock)
{
    int ready = bus_poll(&sock, 1, WAIT_MS);
    if (ready != 1)
        FAIL("nothing to read within %d ms (bus_poll gave %d)", WAIT_MS, ready);
}

static void s_recv_request(void *router, bus_envelope_t *env, zmq_msg_t *body)
{
    s_wait_readable(router);
    ASSERT_OK(bus_recv_request(router, env, body));
}

static void s_request_reply(void)
{
    fixture_t f;
    void *router, *dealer;
    bus_envelope_t env;
    zmq_msg_t body;

    s_setup(&f, "run/sub/bus.sock"); /* directories are created */
    router = s_bind(&f, BUS_ROUTER);
    dealer = s_connect(&f, BUS_DEALER);

    /* nothing waiting yet */
    ASSERT_ERR(bus_recv_request(router, &env, &body), RP_ENOTFOUND);
    ASSERT_ERR(bus_recv(dealer, &body, NULL, 0), RP_ENOTFOUND);

    ASSERT_OK(bus_send(dealer, "hello", 5));
    s_recv_request(router, &env, &body);
    ASSERT_EQ_U64(env.n, 1); /* the DEALER's routing id */
    ASSERT_TRUE(env.len[0] > 0 && env.len[0] <= BUS_MAX_ID);
    ASSERT_EQ_MEM(zmq_msg_data(&body), zmq_msg_size(&body), "hello", 5);
    zmq_msg_close(&body);
    ASSERT_OK(bus_send_reply(router, &env, "world", 5));

    s_wait_readable(dealer);
    ASSERT_OK(bus_recv(dealer, &body, NULL, 0));
    ASSERT_EQ_MEM(zmq_msg_data(&body), zmq_msg_size(&body), "world", 5);
    zmq_msg_close(&body);

    /* several requests in flight, answered in reverse order */
    bus_envelope_t envs[3];
    for (int i = 0; i < 3; i++) {
        char msg[8];
        snprintf(msg, sizeof(msg), "req%d", i);
        ASSERT_OK(bus_send(dealer, msg, strlen(msg)));
    }
    for (int i = 0; i < 3; i++) {
        char want[8];
        snprintf(want, sizeof(want), "req%d", i);
        s_recv_request(router, &envs[i], &body);
        ASSERT_EQ_MEM(zmq_msg_data(&body), zmq_msg_size(&body), want, strlen(want));
        zmq_msg_close(&body);
    }
    for (int i = 2; i >= 0; i--) {
        char msg[8];
        snprintf(msg, sizeof(msg), "rep%d", i);
        ASSERT_OK(bus_send_reply(router, &envs[i], msg, strlen(msg)));
    }
    for (int i = 2; i >= 0; i--) {
        char want[8];
        snprintf(want, sizeof(want), "rep%d", i);
        s_wait_readable(dealer);
        ASSERT_OK(bus_recv(dealer, &body, NULL, 0));
        ASSERT_EQ_MEM(zmq_msg_data(&body), zmq_msg_size(&body), want, strlen(want));
        zmq_msg_close(&body);
    }
    /* an empty body is a message too */
    ASSERT_OK(bus_send(dealer, "", 0));
    s_recv_request(router, &env, &body);
    ASSERT_EQ_U64(zmq_msg_size(&body), 0);
    zmq_msg_close(&body);

    zmq_close(dealer);
    zmq_close(router);
    s_teardown(&f);
}

/* A REQ client puts an empty delimiter frame in the envelope. */
static void s_req_envelope(void)
{
    fixture_t f;
    void *router, *req;
    bus_envelope_t env;
    zmq_msg_t body;
    char buf[32];
    int n, linger = 0;

    s_setup(&f, "bus.sock");
    router = s_bind(&f, BUS_ROUTER);
    req = zmq_socket(f.zctx, ZMQ_REQ);
    ASSERT_NOT_NULL(req);
    zmq_setsockopt(req, ZMQ_LINGER, &linger, sizeof(linger));
    ASSERT_EQ_INT(zmq_connect(req, f.endpoint), 0);
    ASSERT_EQ_INT(zmq_send(req, "ping", 4, 0), 4);
    s_recv_request(router, &env, &body);
    ASSERT_EQ_U64(env.n, 2);
    ASSERT_EQ_U64(env.len[1], 0);
    ASSERT_EQ_MEM(zmq_msg_data(&body), zmq_msg_size(&body), "ping", 4);
    zmq_msg_close(&body);
    ASSERT_OK(bus_send_reply(router, &env, "pong", 4));
    s_wait_readable(req);
    n = zmq_recv(req, buf, sizeof(buf), 0);
    ASSERT_EQ_INT(n, 4);
    ASSERT_EQ_MEM(buf, 4, "pong", 4);
    zmq_close(req);
    zmq_close(router);
    s_teardown(&f);
}

static void s_second_bind_refused(void)
{
    fixture_t f;
    void *router, *other = NULL, *dealer;
    char err[512] = "";
    bus_envelope_t env;
    zmq_msg_t body;

    s_setup(&f, "live.sock");
    router = s_bind(&f, BUS_ROUTER);
    ASSERT_ERR(
        bus_socket_bind(f.zctx, BUS_ROUTER, f.endpoint, &f.cfg, NULL, &other, err, sizeof(err)),
        RP_EADDRINUSE);
    ASSERT_TRUE(other == NULL);
    ASSERT_CONTAINS(err, f.endpoint);

    /* from another process too: libzmq would otherwise take the path over */
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        void *ctx = zmq_ctx_new(), *s = NULL;
        rp_err rc = bus_socket_bind(ctx, BUS_ROUTER, f.endpoint, &f.cfg, NULL, &s, NULL, 0);
        if (s)
            zmq_close(s);
        zmq_ctx_term(ctx); /* nothing left for valgrind's leak check */
        _exit(rc == RP_EADDRINUSE ? 0 : 1);
    }
    int status = 0;
    ASSERT_TRUE(waitpid(pid, &status, 0) == pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* the first socket still owns the path */
    dealer = s_connect(&f, BUS_DEALER);
    ASSERT_OK(bus_send(dealer, "still here", 10));
    s_recv_request(router, &env, &body);
    ASSERT_EQ_MEM(zmq_msg_data(&body), zmq_msg_size(&body), "still here", 10);
    zmq_msg_close(&body);
    zmq_close(dealer);
    zmq_close(router);
    s_teardown(&f);
}

/* A socket file nobody listens on (a worker that crashed) is replaced. */
static void s_stale_socket_file(void)
{
    fixture_t f;
    struct sockaddr_un sa;
    struct stat sb;
    char path[600];
    void *router, *dealer;
    bus_envelope_t env;
    zmq_msg_t body;
    int fd;

    s_setup(&f, "stale.sock");
    test_path(path, sizeof(path), "stale.sock");
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    ASSERT_TRUE(strlen(path) < sizeof(sa.sun_path));
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_TRUE(fd >= 0);
    ASSERT_EQ_INT(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(fd); /* the file stays, nobody listens */
    ASSERT_TRUE(stat(path, &sb) == 0 && S_ISSOCK(sb.st_mode));

    router = s_bind(&f, BUS_ROUTER);
    dealer = s_connect(&f, BUS_DEALER);
    ASSERT_OK(bus_send(dealer, "x", 1));
    s_recv_request(router, &env, &body);
    zmq_msg_close(&body);
    zmq_close(dealer);
    zmq_close(router);

    /* and the path of a socket closed by its owner can be bound again once
     * libzmq's I/O thread has closed the listener (asynchronously) */
    router = NULL;
    for (int i = 0; i < WAIT_MS / 10 && !router; i++) {
        rp_err rc = bus_socket_bind(f.zctx, BUS_ROUTER, f.endpoint, &f.cfg, NULL, &router, NULL, 0);
        if (rc == RP_EADDRINUSE)
            test_sleep_ms(10);
        else
            ASSERT_OK(rc);
    }
    ASSERT_NOT_NULL(router);
    zmq_close(router);
    s_teardown(&f);
}

static void s_bad_endpoints(void)
{
    fixture_t f;
    void *sock = NULL;
    char ep[300], err[512] = "";

    s_setup(&f, "x.sock");
    memset(ep, 0, sizeof(ep));
    memcpy(ep, "ipc:///", 7);
    memset(ep + 7, 'p', 150); /* longer than sun_path */
    ASSERT_ERR(bus_socket_bind(f.zctx, BUS_ROUTER, ep, &f.cfg, NULL, &sock, err, sizeof(err)),
               RP_EINVAL);
    ASSERT_CONTAINS(err, "too long");
    ASSERT_TRUE(sock == NULL);
    ASSERT_TRUE(bus_socket_bind(f.zctx, BUS_ROUTER, "bogus://x", &f.cfg, NULL, &sock, err,
                                sizeof(err)) != RP_OK);
    ASSERT_TRUE(strlen(err) > 0);
    ASSERT_TRUE(bus_socket_connect(f.zctx, BUS_DEALER, "nonsense", &f.cfg, &sock, err,
                                   sizeof(err)) != RP_OK);
    ASSERT_TRUE(sock == NULL);
    /* connecting to nobody is not an error (lazy) */
    ASSERT_OK(bus_socket_connect(f.zctx, BUS_DEALER, f.endpoint, &f.cfg, &sock, err, sizeof(err)));
    zmq_close(sock);
    s_teardown(&f);
}

static void s_reply_to_gone_peer(void)
{
    fixture_t f;
    void *router;
    bus_envelope_t env;

    s_setup(&f, "bus.sock");
    router = s_bind(&f, BUS_ROUTER);
    memset(&env, 0, sizeof(env));
    env.n = 1;
    env.len[0] = 6;
    memcpy(env.data[0], "nobody", 6);
    /* ROUTER_MANDATORY: an unknown peer is an error, not a silent drop */
    ASSERT_ERR(bus_send_reply(router, &env, "x", 1), RP_EUNAVAIL);
    zmq_close(router);
    s_teardown(&f);
}

static void s_pub_sub(void)
{
    fixture_t f;
    void *pub, *sub;
    zmq_msg_t body;
    char topic[64];
    bool got = false;

    s_setup(&f, "events.sock");
    pub = s_bind(&f, BUS_PUB);
    sub = s_connect(&f, BUS_SUB);
    /* a subscription takes a moment to reach the publisher: publish until
     * the first one arrives */
    for (int i = 0; i < WAIT_MS / 50 && !got; i++) {
        ASSERT_OK(bus_publish(pub, "interaction.logged", "body", 4));
        if (bus_poll(&sub, 1, 50) == 1)
            got = true;
    }
    ASSERT_TRUE(got);
    ASSERT_OK(bus_recv(sub, &body, topic, sizeof(topic)));
    ASSERT_EQ_STR(topic, "interaction.logged");
    ASSERT_EQ_MEM(zmq_msg_data(&body), zmq_msg_size(&body), "body", 4);
    zmq_msg_close(&body);
    /* drain, then a topic longer than the buffer is cut */
    while (bus_recv(sub, &body, NULL, 0) == RP_OK)
        zmq_msg_close(&body);
    ASSERT_OK(bus_publish(pub, "segment.log.progress", "p", 1));
    s_wait_readable(sub);
    ASSERT_OK(bus_recv(sub, &body, topic, 8));
    ASSERT_EQ_STR(topic, "segment");
    ASSERT_EQ_MEM(zmq_msg_data(&body), zmq_msg_size(&body), "p", 1);
    zmq_msg_close(&body);
    zmq_close(sub);
    zmq_close(pub);
    s_teardown(&f);
}

/* A frame without routing id, or an envelope too long, is consumed and
 * reported as RP_EPROTO; the next request still comes through. */
static void s_bad_envelope(void)
{
    fixture_t f;
    void *router, *dealer;
    bus_envelope_t env;
    zmq_msg_t body;

    s_setup(&f, "bus.sock");
    router = s_bind(&f, BUS_ROUTER);
    dealer = s_connect(&f, BUS_DEALER);
    /* the DEALER's frames become envelope frames at the ROUTER: 1 routing
     * id + 8 more frames + the body is more than BUS_MAX_ENVELOPE */
    for (int i = 0; i < BUS_MAX_ENVELOPE; i++)
        ASSERT_EQ_INT(zmq_send(dealer, "e", 1, ZMQ_SNDMORE), 1);
    ASSERT_EQ_INT(zmq_send(dealer, "body", 4, 0), 4);
    ASSERT_OK(bus_send(dealer, "next", 4));
    s_wait_readable(router);
    ASSERT_ERR(bus_recv_request(router, &env, &body), RP_EPROTO);
    s_recv_request(router, &env, &body);
    ASSERT_EQ_MEM(zmq_msg_data(&body), zmq_msg_size(&body), "next", 4);
    zmq_msg_close(&body);

    /* an envelope frame bigger than BUS_MAX_ID */
    char big[BUS_MAX_ID + 1];
    memset(big, 'b', sizeof(big));
    ASSERT_EQ_INT(zmq_send(dealer, big, sizeof(big), ZMQ_SNDMORE), (int)sizeof(big));
    ASSERT_EQ_INT(zmq_send(dealer, "body", 4, 0), 4);
    ASSERT_OK(bus_send(dealer, "after", 5));
    s_wait_readable(router);
    ASSERT_ERR(bus_recv_request(router, &env, &body), RP_EPROTO);
    s_recv_request(router, &env, &body);
    ASSERT_EQ_MEM(zmq_msg_data(&body), zmq_msg_size(&body), "after", 5);
    zmq_msg_close(&body);
    zmq_close(dealer);
    zmq_close(router);
    s_teardown(&f);
}

static void s_options(void)
{
    fixture_t f;
    void *router, *dealer;
    int v = 0;
    int64_t max = 0;
    size_t sz;

    s_setup(&f, "bus.sock");
    f.cfg.sndhwm = 123;
    f.cfg.rcvhwm = 456;
    f.cfg.max_msg_size = 2048;
    ASSERT_EQ_INT(bus_hard_max_msg_size(&f.cfg), 8192);
    router = s_bind(&f, BUS_ROUTER);
    dealer = s_connect(&f, BUS_DEALER);
    sz = sizeof(v);
    ASSERT_EQ_INT(zmq_getsockopt(router, ZMQ_SNDHWM, &v, &sz), 0);
    ASSERT_EQ_INT(v, 123);
    sz = sizeof(v);
    ASSERT_EQ_INT(zmq_getsockopt(dealer, ZMQ_RCVHWM, &v, &sz), 0);
    ASSERT_EQ_INT(v, 456);
    sz = sizeof(v);
    ASSERT_EQ_INT(zmq_getsockopt(dealer, ZMQ_LINGER, &v, &sz), 0);
    ASSERT_EQ_INT(v, 0);
    sz = sizeof(max);
    ASSERT_EQ_INT(zmq_getsockopt(router, ZMQ_MAXMSGSIZE, &max, &sz), 0);
    ASSERT_EQ_INT(max, 8192);
    zmq_close(dealer);
    zmq_close(router);
    s_teardown(&f);
}

static void s_poll(void)
{
    fixture_t f;
    void *router, *d1, *d2, *socks[3];
    char ep2[600], path[560];

    s_setup(&f, "one.sock");
    router = s_bind(&f, BUS_ROUTER);
    d1 = s_connect(&f, BUS_DEALER);
    test_path(path, sizeof(path), "two.sock");
    snprintf(ep2, sizeof(ep2), "ipc://%s", path);
    ASSERT_OK(bus_socket_bind(f.zctx, BUS_DEALER, ep2, &f.cfg, NULL, &d2, NULL, 0));
    socks[0] = d1;
    socks[1] = router;
    socks[2] = d2;
    ASSERT_EQ_INT(bus_poll(socks, 3, 0), 0);
    ASSERT_OK(bus_send(d1, "x", 1));
    ASSERT_EQ_INT(bus_poll(socks, 3, WAIT_MS), 1 << 1);
    zmq_close(d1);
    zmq_close(d2);
    zmq_close(router);
    s_teardown(&f);
}

static const test_case_t s_cases[] = {
    {"request_reply", s_request_reply},
    {"req_envelope", s_req_envelope},
    {"second_bind_refused", s_second_bind_refused},
    {"stale_socket_file", s_stale_socket_file},
    {"bad_endpoints", s_bad_endpoints},
    {"reply_to_gone_peer", s_reply_to_gone_peer},
    {"pub_sub", s_pub_sub},
    {"bad_envelope", s_bad_envelope},
    {"options", s_options},
    {"poll", s_poll},
};

TEST_MAIN(s_cases)
