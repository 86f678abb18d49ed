/* bus: socket options, bind/connect, envelopes.
 *
 * The one place that calls zmq_errno(): every failure becomes an rp_err
 * here. A tcp endpoint always gets CURVE (auth.h): a bound socket is a
 * CURVE server behind the context's ZAP handler, a connected one a CURVE
 * client with the key of the worker it connects to. */
#include "bus.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "auth.h"
#include "log.h"

static const int s_zmq_types[] = {
    [BUS_ROUTER] = ZMQ_ROUTER,
    [BUS_DEALER] = ZMQ_DEALER,
    [BUS_PUB] = ZMQ_XPUB,
    [BUS_SUB] = ZMQ_SUB,
};

int64_t bus_hard_max_msg_size(const config_t *cfg)
{
    return cfg->max_msg_size * 4;
}

static rp_err s_errno(void)
{
    switch (zmq_errno()) {
    case EAGAIN:
        return RP_ENOSPC;
    case EHOSTUNREACH:
        return RP_EUNAVAIL;
    case EADDRINUSE:
        return RP_EADDRINUSE;
    case EINTR:
        return RP_EABORTED;
    case EINVAL:
    case EPROTONOSUPPORT:
        return RP_EINVAL;
    case ENOMEM:
        return RP_ENOMEM;
    case EACCES:
        return RP_EPERM;
    case ETERM:
    case ENOTSOCK:
        return RP_EUNAVAIL;
    default:
        return RP_EIO;
    }
}

bool bus_interrupted(void)
{
    return zmq_errno() == EINTR;
}

static void s_err(char *errbuf, size_t errlen, const char *what, const char *endpoint)
{
    if (errbuf && errlen)
        snprintf(errbuf, errlen, "%s %s: %s", what, endpoint, zmq_strerror(zmq_errno()));
}

static rp_err s_new_socket(void *zctx, bus_type_t type, const char *endpoint, const config_t *cfg,
                           bool bind, void **ret_sock)
{
    void *sock = zmq_socket(zctx, s_zmq_types[type]);
    int linger = 0, one = 1, sndhwm = (int)cfg->sndhwm, rcvhwm = (int)cfg->rcvhwm;
    bool tcp = strncmp(endpoint, "tcp://", 6) == 0;
    /* libzmq reads a whole frame before CURVE has a say: strangers on a
     * bound tcp socket get no more than the largest legitimate request. */
    int64_t maxmsg = tcp && bind ? cfg->max_msg_size : bus_hard_max_msg_size(cfg);

    if (!sock)
        return s_errno();
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof(linger));
    zmq_setsockopt(sock, ZMQ_SNDHWM, &sndhwm, sizeof(sndhwm));
    zmq_setsockopt(sock, ZMQ_RCVHWM, &rcvhwm, sizeof(rcvhwm));
    zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg));
    if (type == BUS_ROUTER)
        zmq_setsockopt(sock, ZMQ_ROUTER_MANDATORY, &one, sizeof(one));
    if (type == BUS_SUB)
        zmq_setsockopt(sock, ZMQ_SUBSCRIBE, "", 0);
    if (type == BUS_PUB) /* every (un)subscription reaches the owner */
        zmq_setsockopt(sock, ZMQ_XPUB_VERBOSER, &one, sizeof(one));
    if (tcp) {
        int ivl = 5000, timeout = 15000, ttl = 15000, handshake = (int)cfg->handshake_timeout_ms;
        zmq_setsockopt(sock, ZMQ_HANDSHAKE_IVL, &handshake, sizeof(handshake));
        zmq_setsockopt(sock, ZMQ_HEARTBEAT_IVL, &ivl, sizeof(ivl));
        zmq_setsockopt(sock, ZMQ_HEARTBEAT_TIMEOUT, &timeout, sizeof(timeout));
        zmq_setsockopt(sock, ZMQ_HEARTBEAT_TTL, &ttl, sizeof(ttl));
    }
    *ret_sock = sock;
    return RP_OK;
}

/* CURVE server options of a tcp socket about to bind; the gate's ZAP
 * handler must be up first (libzmq admits any key when it is missing). */
static rp_err s_curve_server(gate_t *gate, void *sock, const config_t *cfg, char *errbuf,
                             size_t errlen)
{
    auth_keypair_t kp;
    int one = 1;
    rp_err rc;

    if (!gate) {
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "a tcp endpoint needs the gate (programmer error)");
        return RP_EINVAL;
    }
    rc = auth_server_keypair(cfg, &kp, errbuf, errlen);
    if (rc != RP_OK)
        return rc == RP_ENOTFOUND ? RP_ECONFIG : rc;
    rc = gate_watch(gate, sock);
    if (rc != RP_OK && errbuf && errlen)
        snprintf(errbuf, errlen, "cannot watch the tcp endpoint's connections: %s",
                 rp_strerror(rc));
    if (rc == RP_OK &&
        (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof(one)) != 0 ||
         zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, kp.secret_key, AUTH_KEY_LEN + 1) != 0 ||
         zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, AUTH_ZAP_DOMAIN, strlen(AUTH_ZAP_DOMAIN)) != 0)) {
        rc = s_errno();
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "CURVE server options: %s", zmq_strerror(zmq_errno()));
    }
    memset(&kp, 0, sizeof(kp));
    return rc;
}

/* CURVE client options of a tcp socket about to connect to `endpoint`. */
static rp_err s_curve_client(void *sock, const char *endpoint, const config_t *cfg, char *errbuf,
                             size_t errlen)
{
    auth_keypair_t kp;
    char server_key[AUTH_KEY_LEN + 1];
    rp_err rc = auth_server_public_key(cfg, endpoint, server_key, errbuf, errlen);

    if (rc != RP_OK)
        return rc == RP_ENOTFOUND ? RP_ECONFIG : rc;
    rc = auth_client_keypair(cfg, &kp, errbuf, errlen);
    if (rc != RP_OK)
        return rc == RP_ENOTFOUND ? RP_ECONFIG : rc;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, server_key, AUTH_KEY_LEN + 1) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, kp.public_key, AUTH_KEY_LEN + 1) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, kp.secret_key, AUTH_KEY_LEN + 1) != 0) {
        rc = s_errno();
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "CURVE client options: %s", zmq_strerror(zmq_errno()));
    }
    memset(&kp, 0, sizeof(kp));
    return rc;
}

/* For ipc://PATH: make the directory, refuse one that others may enter or
 * write (the directory is the ipc socket's only guard), and refuse a socket
 * file someone is still listening on. A stale file (nobody listening) is
 * fine: libzmq replaces it. */
static rp_err s_ipc_prepare(const char *endpoint, char *errbuf, size_t errlen)
{
    const char *path = endpoint + 6;
    struct sockaddr_un sa;
    char dir[sizeof(sa.sun_path)];
    char *slash;
    struct stat st;
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        if (errbuf)
            snprintf(errbuf, errlen, "ipc path too long (at most %zu bytes): %s",
                     sizeof(sa.sun_path) - 1, path);
        return RP_EINVAL;
    }
    memcpy(dir, path, strlen(path) + 1);
    slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        for (char *p = dir + 1; *p; p++) {
            if (*p != '/')
                continue;
            *p = '\0';
            mkdir(dir, 0770);
            *p = '/';
        }
        mkdir(dir, 0770);
    } else {
        snprintf(dir, sizeof(dir), "%s", slash ? "/" : ".");
    }
    if (stat(dir, &st) == 0 && (st.st_mode & 0007)) {
        if (errbuf)
            snprintf(errbuf, errlen,
                     "the run directory %s is open to others (mode %04o): whoever can reach an "
                     "ipc socket acts as admin; make it 0770 or tighter (chmod o-rwx %s)",
                     dir, (unsigned)(st.st_mode & 07777), dir);
        return RP_EPERM;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return RP_OK;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        close(fd);
        if (errbuf)
            snprintf(errbuf, errlen, "bind %s: address in use by another process", endpoint);
        return RP_EADDRINUSE;
    }
    close(fd);
    return RP_OK;
}

rp_err bus_socket_bind(void *zctx, bus_type_t type, const char *endpoint, const config_t *cfg,
                       gate_t *gate, void **ret_sock, char *errbuf, size_t errlen)
{
    void *sock;
    bool ipc = strncmp(endpoint, "ipc://", 6) == 0;
    rp_err rc;

    if (ipc) {
        rc = s_ipc_prepare(endpoint, errbuf, errlen);
        if (rc != RP_OK)
            return rc;
    }
    rc = s_new_socket(zctx, type, endpoint, cfg, true, &sock);
    if (rc != RP_OK) {
        s_err(errbuf, errlen, "socket", endpoint);
        return rc;
    }
    if (auth_endpoint_is_tcp(endpoint)) {
        rc = s_curve_server(gate, sock, cfg, errbuf, errlen);
        if (rc != RP_OK) {
            zmq_close(sock);
            return rc;
        }
    }
    if (zmq_bind(sock, endpoint) != 0) {
        rc = s_errno();
        s_err(errbuf, errlen, "bind", endpoint);
        zmq_close(sock);
        return rc;
    }
    /* The directory guards the socket; the file's own mode should not
     * depend on the umask of whoever started the worker. */
    if (ipc && chmod(endpoint + 6, 0660) != 0) {
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "chmod 0660 %s: %s", endpoint + 6, strerror(errno));
        zmq_close(sock);
        return RP_EIO;
    }
    *ret_sock = sock;
    return RP_OK;
}

rp_err bus_socket_connect(void *zctx, bus_type_t type, const char *endpoint, const config_t *cfg,
                          void **ret_sock, char *errbuf, size_t errlen)
{
    void *sock;
    rp_err rc = s_new_socket(zctx, type, endpoint, cfg, false, &sock);

    if (rc != RP_OK) {
        s_err(errbuf, errlen, "socket", endpoint);
        return rc;
    }
    if (auth_endpoint_is_tcp(endpoint)) {
        rc = s_curve_client(sock, endpoint, cfg, errbuf, errlen);
        if (rc != RP_OK) {
            zmq_close(sock);
            return rc;
        }
    }
    if (zmq_connect(sock, endpoint) != 0) {
        rc = s_errno();
        s_err(errbuf, errlen, "connect", endpoint);
        zmq_close(sock);
        return rc;
    }
    *ret_sock = sock;
    return RP_OK;
}

static void s_drain(void *sock)
{
    int more = 1;
    size_t sz = sizeof(more);
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return;
        }
        more = zmq_msg_more(&m);
        zmq_msg_close(&m);
    }
    (void)sz;
}

rp_err bus_recv_request(void *sock, bus_envelope_t *env, zmq_msg_t *body)
{
    env->n = 0;
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, sock, ZMQ_DONTWAIT) < 0) {
            rp_err rc = s_errno();
            zmq_msg_close(&m);
            if (env->n > 0)
                return RP_EPROTO;
            return rc == RP_ENOSPC ? RP_ENOTFOUND : rc;
        }
        if (!zmq_msg_more(&m)) {
            if (env->n == 0) {
                /* A ROUTER always gives a routing id first. */
                zmq_msg_close(&m);
                return RP_EPROTO;
            }
            *body = m;
            return RP_OK;
        }
        if (env->n == BUS_MAX_ENVELOPE || zmq_msg_size(&m) > BUS_MAX_ID) {
            zmq_msg_close(&m);
            s_drain(sock);
            return RP_EPROTO;
        }
        env->len[env->n] = zmq_msg_size(&m);
        memcpy(env->data[env->n], zmq_msg_data(&m), zmq_msg_size(&m));
        env->n++;
        zmq_msg_close(&m);
    }
}

rp_err bus_send_reply(void *sock, const bus_envelope_t *env, const void *data, size_t len)
{
    for (size_t i = 0; i < env->n; i++) {
        if (zmq_send(sock, env->data[i], env->len[i], ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
            return s_errno();
    }
    if (zmq_send(sock, data, len, ZMQ_DONTWAIT) < 0)
        return s_errno();
    return RP_OK;
}

rp_err bus_send(void *sock, const void *data, size_t len)
{
    if (zmq_send(sock, data, len, ZMQ_DONTWAIT) < 0)
        return s_errno();
    return RP_OK;
}

rp_err bus_publish(void *sock, const char *topic, const void *data, size_t len)
{
    if (zmq_send(sock, topic, strlen(topic), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return s_errno();
    if (zmq_send(sock, data, len, ZMQ_DONTWAIT) < 0)
        return s_errno();
    return RP_OK;
}

rp_err bus_recv(void *sock, zmq_msg_t *ret_body, char *ret_topic, size_t topic_len)
{
    zmq_msg_t m;
    bool first = true;

    if (ret_topic && topic_len)
        ret_topic[0] = '\0';
    for (;;) {
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, sock, ZMQ_DONTWAIT) < 0) {
            rp_err rc = s_errno();
            zmq_msg_close(&m);
            return rc == RP_ENOSPC ? RP_ENOTFOUND : rc;
        }
        if (!zmq_msg_more(&m))
            break;
        if (first && ret_topic && topic_len) {
            size_t n = zmq_msg_size(&m) < topic_len - 1 ? zmq_msg_size(&m) : topic_len - 1;
            memcpy(ret_topic, zmq_msg_data(&m), n);
            ret_topic[n] = '\0';
        }
        first = false;
        zmq_msg_close(&m);
    }
    *ret_body = m;
    return RP_OK;
}

void bus_msg_peer(zmq_msg_t *msg, bus_peer_t *ret_peer)
{
    const char *user = zmq_msg_gets(msg, "User-Id");
    const char *role = zmq_msg_gets(msg, AUTH_PROP_ROLE);
    const char *relay = zmq_msg_gets(msg, AUTH_PROP_RELAY);
    const char *key = zmq_msg_gets(msg, AUTH_PROP_KEY);

    memset(ret_peer, 0, sizeof(*ret_peer));
    if (user)
        snprintf(ret_peer->user, sizeof(ret_peer->user), "%s", user);
    if (role && auth_role_valid(role))
        snprintf(ret_peer->role, sizeof(ret_peer->role), "%s", role);
    ret_peer->relay = relay && strcmp(relay, "yes") == 0;
    if (key)
        snprintf(ret_peer->key, sizeof(ret_peer->key), "%s", key);
}

int bus_poll(void *const *socks, size_t n, long timeout_ms)
{
    zmq_pollitem_t items[8];
    int rc, ready = 0;

    if (n > 8)
        n = 8;
    for (size_t i = 0; i < n; i++) {
        items[i].socket = socks[i];
        items[i].fd = 0;
        items[i].events = ZMQ_POLLIN;
        items[i].revents = 0;
    }
    rc = zmq_poll(items, (int)n, timeout_ms);
    if (rc < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (items[i].revents & ZMQ_POLLIN)
            ready |= 1 << i;
    return ready;
}

int bus_poll_fd(void *const *socks, size_t n, int fd, long timeout_ms)
{
    zmq_pollitem_t items[9];
    size_t m;
    int rc, ready = 0;

    if (n > 8)
        n = 8;
    for (size_t i = 0; i < n; i++) {
        items[i].socket = socks[i];
        items[i].fd = 0;
        items[i].events = ZMQ_POLLIN;
        items[i].revents = 0;
    }
    m = n;
    if (fd >= 0) {
        items[m].socket = NULL;
        items[m].fd = fd;
        items[m].events = ZMQ_POLLIN;
        items[m].revents = 0;
        m++;
    }
    rc = zmq_poll(items, (int)m, timeout_ms);
    if (rc < 0)
        return -1;
    for (size_t i = 0; i < m; i++)
        if (items[i].revents & ZMQ_POLLIN)
            ready |= 1 << i;
    return ready;
}
