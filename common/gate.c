/* gate: the ZAP handler, the pre-authentication guard and their counters,
 * in one thread per process.
 *
 * The thread polls libzmq's ZAP socket, a control socket (the main thread
 * asks it to watch a socket), the monitor sockets of the watched sockets
 * and an inotify descriptor on the authorized keys directory. It logs each
 * refused key at notice level itself (an audit line an operator needs,
 * which no caller could log for it), and nothing above debug otherwise. */
#include "gate.h"

#include <errno.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zmq.h>

#include "auth.h"
#include "clock.h"
#include "keyring.h"
#include "log.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_FRAMES   8
#define WATCH_MAX    4
#define PROBE_MS     20
#define AUDIT_PER_S  20
/* Bytes a CURVE server writes before the handshake's outcome: the ZMTP 3
 * greeting (64) and the WELCOME command (2 + 168, RFC 26). READY or ERROR
 * follows: more written means the handshake is over. */
#define HANDSHAKE_WRITTEN (64 + 170)
#define MONITOR_EVENTS    (ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED)

/* Counters shared by the thread (writer) and the gate's owner (reader);
 * freed by whichever lets go last. */
typedef struct {
    _Atomic uint64_t refused, cut, preauth_ended, keys;
    atomic_int refs;
} gate_shared_t;

struct gate {
    void *ctl; /* PAIR to the thread */
    gate_shared_t *shared;
    unsigned n_watch;
};

typedef struct {
    int fd;
    int64_t since_ms;
} pending_t;

/* The thread's own state. */
typedef struct {
    void *zap, *ctl;
    void *mon[WATCH_MAX];
    size_t n_mon;
    int ifd, wd; /* inotify: descriptor and watch (-1: none) */
    struct timespec dir_mtime;
    bool keys_dirty;
    keyring_t *keys;
    char keys_dir[CONFIG_PATH_MAX];
    int64_t max_conns, max_bytes, handshake_ms;
    pending_t *pending; /* connections in their handshake, oldest first */
    size_t n_pending, cap_pending;
    gate_shared_t *shared;
    void *zctx;
    int64_t audit_since_ms; /* refused keys logged in this second */
    unsigned audit_lines;
    uint64_t audit_skipped;
} gate_thread_t;

static void s_shared_release(gate_shared_t *sh)
{
    if (sh && atomic_fetch_sub(&sh->refs, 1) == 1)
        free(sh);
}

/* ---- the authorized keys ------------------------------------------------ */

static void s_watch_dir(gate_thread_t *t)
{
    struct stat st;

    if (t->ifd >= 0 && t->wd < 0)
        t->wd = inotify_add_watch(t->ifd, t->keys_dir,
                                  IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE |
                                      IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF |
                                      IN_MOVE_SELF | IN_ONLYDIR);
    if (stat(t->keys_dir, &st) == 0)
        t->dir_mtime = st.st_mtim;
}

/* Without inotify: whether the directory's mtime moved (a file added,
 * removed or renamed; an edit in place is seen by inotify only). */
static bool s_dir_changed(gate_thread_t *t)
{
    struct stat st;

    if (t->ifd >= 0 && t->wd >= 0)
        return false;
    if (stat(t->keys_dir, &st) != 0)
        return true;
    return st.st_mtim.tv_sec != t->dir_mtime.tv_sec || st.st_mtim.tv_nsec != t->dir_mtime.tv_nsec;
}

static void s_reload(gate_thread_t *t)
{
    keyring_t *k = NULL;
    char err[CONFIG_PATH_MAX + 128];

    t->keys_dirty = false;
    s_watch_dir(t);
    if (keyring_load(t->keys_dir, &k, err, sizeof(err)) != RP_OK) {
        log_warnx("authorized keys unreadable, every key is refused: %s", err);
        t->keys_dirty = true; /* try again at the next handshake */
    }
    keyring_destroy(&t->keys);
    t->keys = k;
    atomic_store(&t->shared->keys, keyring_count(k));
    log_debug("authorized keys: %zu from %s", keyring_count(k), t->keys_dir);
}

/* Read what inotify has: any event makes the keyring stale. */
static void s_on_inotify(gate_thread_t *t)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

    for (;;) {
        ssize_t n = read(t->ifd, buf, sizeof(buf));
        if (n <= 0)
            break;
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            if (ev->mask & IN_IGNORED)
                t->wd = -1; /* the directory went: watch it again at the reload */
            p += sizeof(*ev) + ev->len;
        }
        t->keys_dirty = true;
    }
}

/* ---- ZAP (RFC 27) ------------------------------------------------------- */

/* ZMTP metadata: name length (1 byte), name, value length (4 bytes, big
 * endian), value. */
static size_t s_metadata_add(uint8_t *buf, size_t pos, const char *name, const char *value)
{
    size_t nl = strlen(name), vl = strlen(value);
    buf[pos++] = (uint8_t)nl;
    memcpy(buf + pos, name, nl);
    pos += nl;
    buf[pos++] = (uint8_t)(vl >> 24);
    buf[pos++] = (uint8_t)(vl >> 16);
    buf[pos++] = (uint8_t)(vl >> 8);
    buf[pos++] = (uint8_t)vl;
    memcpy(buf + pos, value, vl);
    return pos + vl;
}

static bool s_frame_is(zmq_msg_t *m, const char *text)
{
    return zmq_msg_size(m) == strlen(text) && memcmp(zmq_msg_data(m), text, strlen(text)) == 0;
}

typedef struct {
    const char *code, *text;
    char user[AUTH_USER_MAX + 1];
    uint8_t meta[160];
    size_t meta_len;
} zap_answer_t;

/* Whether to log one more refused key: at most AUDIT_PER_S lines a second,
 * so that a flood of unknown keys cannot flood the journal; the lines left
 * out are counted in the next one. */
static bool s_audit_ok(gate_thread_t *t)
{
    int64_t now = clock_mono_ms();

    if (now - t->audit_since_ms >= 1000) {
        if (t->audit_skipped)
            log_notice("%llu more CURVE keys refused in the last second(s), not logged",
                       (unsigned long long)t->audit_skipped);
        t->audit_since_ms = now;
        t->audit_lines = 0;
        t->audit_skipped = 0;
    }
    if (t->audit_lines < AUDIT_PER_S) {
        t->audit_lines++;
        return true;
    }
    t->audit_skipped++;
    return false;
}

/* Decide one request. */
static void s_zap_decide(gate_thread_t *t, zmq_msg_t *f, size_t nf, zap_answer_t *ans)
{
    char key[AUTH_KEY_LEN + 1], addr[64];
    const auth_client_t *client;
    size_t alen, pos;

    ans->meta_len = 0;
    ans->user[0] = '\0';
    if (nf < 6 || !s_frame_is(&f[0], "1.0")) {
        ans->code = "500", ans->text = "bad ZAP request";
        return;
    }
    /* ipc sockets have no domain; libzmq asks only when one is set, but a
     * NULL-mechanism request outside our domain is not ours to refuse. */
    if (!s_frame_is(&f[2], AUTH_ZAP_DOMAIN)) {
        ans->code = "200", ans->text = "OK";
        return;
    }
    if (!s_frame_is(&f[5], "CURVE") || nf != 7 || zmq_msg_size(&f[6]) != 32) {
        ans->code = "400", ans->text = "CURVE is required";
        atomic_fetch_add(&t->shared->refused, 1);
        return;
    }
    if (t->ifd >= 0)
        s_on_inotify(t); /* a change made just before this handshake counts */
    if (t->keys_dirty || s_dir_changed(t))
        s_reload(t);
    zmq_z85_encode(key, (const uint8_t *)zmq_msg_data(&f[6]), 32);
    client = keyring_find(t->keys, (const unsigned char *)zmq_msg_data(&f[6]));
    if (client) {
        /* Always every property: a peer may send X-* properties of its
         * own in the handshake (ZMQ_METADATA), and libzmq lets the ZAP
         * handler's win only for the names the handler sets. */
        pos = s_metadata_add(ans->meta, 0, AUTH_PROP_ROLE, client->role);
        pos = s_metadata_add(ans->meta, pos, AUTH_PROP_RELAY, client->relay ? "yes" : "no");
        ans->meta_len = s_metadata_add(ans->meta, pos, AUTH_PROP_KEY, key);
        snprintf(ans->user, sizeof(ans->user), "%s", client->user);
        ans->code = "200", ans->text = "OK";
        log_debug("CURVE key %s admitted: user %s, role %s", key, client->user, client->role);
        return;
    }
    alen = zmq_msg_size(&f[3]) < sizeof(addr) - 1 ? zmq_msg_size(&f[3]) : sizeof(addr) - 1;
    memcpy(addr, zmq_msg_data(&f[3]), alen);
    addr[alen] = '\0';
    atomic_fetch_add(&t->shared->refused, 1);
    if (!t->keys) {
        ans->code = "500", ans->text = "authorized keys unreadable";
        log_warn("refused CURVE key %s from %s: cannot read %s", key, addr, t->keys_dir);
        return;
    }
    ans->code = "400", ans->text = "unknown key";
    if (s_audit_ok(t))
        log_notice("refused CURVE key %s from %s: not in %s", key, addr, t->keys_dir);
}

static int s_send_str(void *sock, const char *text, int flags)
{
    return zmq_send(sock, text, strlen(text), flags);
}

/* Answer one ZAP request; false when the context is going away. */
static bool s_on_zap(gate_thread_t *t)
{
    zmq_msg_t f[ZAP_FRAMES];
    size_t nf = 0;
    bool more = true;
    zap_answer_t ans;

    while (more) {
        zmq_msg_t extra, *m = nf < ZAP_FRAMES ? &f[nf] : &extra;
        zmq_msg_init(m);
        if (zmq_msg_recv(m, t->zap, nf ? 0 : ZMQ_DONTWAIT) < 0) {
            int e = errno;
            zmq_msg_close(m);
            for (size_t i = 0; i < nf; i++)
                zmq_msg_close(&f[i]);
            return e == EAGAIN || e == EINTR;
        }
        more = zmq_msg_more(m);
        if (m == &extra)
            zmq_msg_close(m);
        else
            nf++;
    }
    s_zap_decide(t, f, nf, &ans);
    /* Reply: version, request id, status code, status text, user id,
     * metadata. */
    if (s_send_str(t->zap, "1.0", ZMQ_SNDMORE) < 0 ||
        zmq_send(t->zap, nf > 1 ? zmq_msg_data(&f[1]) : "", nf > 1 ? zmq_msg_size(&f[1]) : 0,
                 ZMQ_SNDMORE) < 0 ||
        s_send_str(t->zap, ans.code, ZMQ_SNDMORE) < 0 ||
        s_send_str(t->zap, ans.text, ZMQ_SNDMORE) < 0 ||
        s_send_str(t->zap, ans.user, ZMQ_SNDMORE) < 0 ||
        zmq_send(t->zap, ans.meta, ans.meta_len, 0) < 0)
        log_debug("ZAP reply not sent: %s", zmq_strerror(errno));
    for (size_t i = 0; i < nf; i++)
        zmq_msg_close(&f[i]);
    return true;
}

/* ---- connections in their handshake -------------------------------------- */

/* What the kernel says of a connection: bytes written by libzmq (acked or
 * queued) and bytes received. False when the descriptor is gone. */
static bool s_probe(int fd, uint64_t *ret_written, uint64_t *ret_received)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);
    int queued = 0;

    memset(&ti, 0, sizeof(ti));
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0)
        return false;
    if (ioctl(fd, SIOCOUTQ, &queued) != 0)
        queued = 0;
    uint64_t acked = ti.tcpi_bytes_acked, received = ti.tcpi_bytes_received;
    *ret_written = acked + (queued > 0 ? (uint64_t)queued : 0u);
    *ret_received = received;
    return true;
}

static void s_pending_remove(gate_thread_t *t, size_t i)
{
    memmove(&t->pending[i], &t->pending[i + 1], (t->n_pending - i - 1) * sizeof(*t->pending));
    t->n_pending--;
}

static void s_cut(gate_thread_t *t, size_t i, const char *why)
{
    log_info("cut an unauthenticated tcp connection: %s", why);
    shutdown(t->pending[i].fd, SHUT_RDWR);
    atomic_fetch_add(&t->shared->cut, 1);
    atomic_fetch_add(&t->shared->preauth_ended, 1);
    s_pending_remove(t, i);
}

/* Settle the connections whose handshake is over; cut those that sent too
 * much, took too long, or are too many. */
static void s_enforce(gate_thread_t *t)
{
    int64_t now = clock_mono_ms();
    size_t i = 0;

    while (i < t->n_pending) {
        uint64_t written, received;
        if (!s_probe(t->pending[i].fd, &written, &received)) {
            atomic_fetch_add(&t->shared->preauth_ended, 1);
            s_pending_remove(t, i);
        } else if (written > HANDSHAKE_WRITTEN) {
            s_pending_remove(t, i);
        } else if (received > (uint64_t)t->max_bytes) {
            s_cut(t, i, "more bytes than preauth_max_bytes before authenticating");
        } else if (now - t->pending[i].since_ms > t->handshake_ms + 1000) {
            s_cut(t, i, "handshake not finished in handshake_timeout_ms");
        } else {
            i++;
        }
    }
    while (t->n_pending > (size_t)t->max_conns)
        s_cut(t, 0, "more than preauth_max_connections handshakes at once");
}

static void s_on_accepted(gate_thread_t *t, int fd)
{
    if (t->n_pending == t->cap_pending) {
        size_t cap = t->cap_pending ? t->cap_pending * 2 : 64;
        pending_t *grown = realloc(t->pending, cap * sizeof(*grown));
        if (!grown) {
            shutdown(fd, SHUT_RDWR); /* no room to watch it: not admitted */
            atomic_fetch_add(&t->shared->cut, 1);
            return;
        }
        t->pending = grown;
        t->cap_pending = cap;
    }
    t->pending[t->n_pending].fd = fd;
    t->pending[t->n_pending].since_ms = clock_mono_ms();
    t->n_pending++;
}

static void s_on_disconnected(gate_thread_t *t, int fd)
{
    for (size_t i = 0; i < t->n_pending; i++)
        if (t->pending[i].fd == fd) {
            atomic_fetch_add(&t->shared->preauth_ended, 1);
            s_pending_remove(t, i);
            return;
        }
}

/* Read every event waiting on a monitor socket (frames: event number u16
 * and value u32, then the endpoint). */
static void s_on_monitor(gate_thread_t *t, void *mon)
{
    for (;;) {
        zmq_msg_t ev, addr;
        uint16_t event;
        uint32_t value;

        zmq_msg_init(&ev);
        if (zmq_msg_recv(&ev, mon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ev);
            return;
        }
        zmq_msg_init(&addr);
        if (zmq_msg_more(&ev))
            zmq_msg_recv(&addr, mon, 0);
        zmq_msg_close(&addr);
        if (zmq_msg_size(&ev) < 6) {
            zmq_msg_close(&ev);
            continue;
        }
        memcpy(&event, zmq_msg_data(&ev), 2);
        memcpy(&value, (uint8_t *)zmq_msg_data(&ev) + 2, 4);
        zmq_msg_close(&ev);
        if (event == ZMQ_EVENT_ACCEPTED)
            s_on_accepted(t, (int)value);
        else if (event == ZMQ_EVENT_DISCONNECTED)
            s_on_disconnected(t, (int)value);
        /* HANDSHAKE_SUCCEEDED: s_enforce settles it right after. */
    }
}

/* "inproc://..." from the owner: watch that monitor endpoint. */
static void s_on_ctl(gate_thread_t *t)
{
    char ep[128];
    int n = zmq_recv(t->ctl, ep, sizeof(ep) - 1, ZMQ_DONTWAIT);
    void *mon;
    const char *reply = "error";

    if (n < 0)
        return;
    ep[n < (int)sizeof(ep) ? n : (int)sizeof(ep) - 1] = '\0';
    if (t->n_mon < WATCH_MAX && (mon = zmq_socket(t->zctx, ZMQ_PAIR)) != NULL) {
        int linger = 0;
        zmq_setsockopt(mon, ZMQ_LINGER, &linger, sizeof(linger));
        if (zmq_connect(mon, ep) == 0) {
            t->mon[t->n_mon++] = mon;
            reply = "ok";
        } else {
            zmq_close(mon);
        }
    }
    s_send_str(t->ctl, reply, 0);
}

static void s_thread_free(gate_thread_t *t)
{
    if (t->zap)
        zmq_close(t->zap);
    if (t->ctl)
        zmq_close(t->ctl);
    for (size_t i = 0; i < t->n_mon; i++)
        zmq_close(t->mon[i]);
    if (t->ifd >= 0)
        close(t->ifd);
    keyring_destroy(&t->keys);
    free(t->pending);
    s_shared_release(t->shared);
    free(t);
}

static void *s_thread(void *arg)
{
    gate_thread_t *t = arg;

    for (;;) {
        zmq_pollitem_t items[3 + WATCH_MAX];
        size_t n = 0, first_mon;
        int rc;

        items[n++] = (zmq_pollitem_t){t->zap, 0, ZMQ_POLLIN, 0};
        items[n++] = (zmq_pollitem_t){t->ctl, 0, ZMQ_POLLIN, 0};
        items[n++] = (zmq_pollitem_t){NULL, t->ifd, ZMQ_POLLIN, 0};
        first_mon = n;
        for (size_t i = 0; i < t->n_mon; i++)
            items[n++] = (zmq_pollitem_t){t->mon[i], 0, ZMQ_POLLIN, 0};
        rc = zmq_poll(items, (int)n, t->n_pending ? PROBE_MS : -1);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0)
            break; /* ETERM: the context is going away */
        if (t->ifd >= 0 && (items[2].revents & ZMQ_POLLIN))
            s_on_inotify(t);
        for (size_t i = 0; i < t->n_mon; i++)
            if (items[first_mon + i].revents & ZMQ_POLLIN)
                s_on_monitor(t, t->mon[i]);
        if ((items[1].revents & ZMQ_POLLIN))
            s_on_ctl(t);
        if ((items[0].revents & ZMQ_POLLIN) && !s_on_zap(t))
            break;
        if (t->n_pending)
            s_enforce(t);
    }
    s_thread_free(t);
    return NULL;
}

/* ---- the owner's side ------------------------------------------------- */

static rp_err s_thread_new(void *zctx, const config_t *cfg, gate_shared_t *sh,
                           gate_thread_t **ret_t, char *errbuf, size_t errlen)
{
    gate_thread_t *t = calloc(1, sizeof(*t));
    int linger = 0;

    if (!t)
        return RP_ENOMEM;
    t->zctx = zctx;
    t->shared = sh;
    atomic_fetch_add(&sh->refs, 1);
    t->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    t->wd = -1;
    t->max_conns = cfg->preauth_max_connections;
    t->max_bytes = cfg->preauth_max_bytes;
    t->handshake_ms = cfg->handshake_timeout_ms;
    snprintf(t->keys_dir, sizeof(t->keys_dir), "%s", cfg->curve_client_keys_dir);
    s_reload(t);
    if (!t->keys) {
        rp_errbuf(errbuf, errlen, "curve_client_keys_dir %s cannot be read", t->keys_dir);
        s_thread_free(t);
        return RP_ECONFIG;
    }
    t->zap = zmq_socket(zctx, ZMQ_REP);
    t->ctl = zmq_socket(zctx, ZMQ_PAIR);
    if (!t->zap || !t->ctl) {
        rp_errbuf(errbuf, errlen, "gate sockets: %s", zmq_strerror(errno));
        s_thread_free(t);
        return RP_EIO;
    }
    zmq_setsockopt(t->zap, ZMQ_LINGER, &linger, sizeof(linger));
    zmq_setsockopt(t->ctl, ZMQ_LINGER, &linger, sizeof(linger));
    if (zmq_bind(t->zap, ZAP_ENDPOINT) != 0) {
        int e = errno;
        rp_errbuf(errbuf, errlen, "bind %s: %s", ZAP_ENDPOINT, zmq_strerror(e));
        s_thread_free(t);
        return e == EADDRINUSE ? RP_EADDRINUSE : RP_EIO;
    }
    *ret_t = t;
    return RP_OK;
}

rp_err gate_new(void *zctx, const config_t *cfg, gate_t **ret_gate, char *errbuf, size_t errlen)
{
    gate_t *g = calloc(1, sizeof(*g));
    gate_thread_t *t = NULL;
    char ep[64];
    int linger = 0, rc;
    pthread_t tid;
    pthread_attr_t attr;
    sigset_t all, old;
    rp_err err;

    if (!cfg->curve_client_keys_dir[0]) {
        free(g);
        rp_errbuf(errbuf, errlen,
                  "a tcp endpoint needs curve_client_keys_dir, the directory of authorized client "
                  "keys");
        return RP_ECONFIG;
    }
    if (!g || !(g->shared = calloc(1, sizeof(*g->shared)))) {
        free(g);
        return RP_ENOMEM;
    }
    atomic_init(&g->shared->refs, 1);
    err = s_thread_new(zctx, cfg, g->shared, &t, errbuf, errlen);
    if (err != RP_OK) {
        gate_destroy(&g);
        return err;
    }
    snprintf(ep, sizeof(ep), "inproc://rapport-gate-%p", (void *)g);
    g->ctl = zmq_socket(zctx, ZMQ_PAIR);
    if (!g->ctl || zmq_setsockopt(g->ctl, ZMQ_LINGER, &linger, sizeof(linger)) != 0 ||
        zmq_bind(g->ctl, ep) != 0 || zmq_connect(t->ctl, ep) != 0) {
        rp_errbuf(errbuf, errlen, "gate control socket: %s", zmq_strerror(errno));
        s_thread_free(t);
        gate_destroy(&g);
        return RP_EIO;
    }
    /* The thread takes no signals: they are the main loop's business. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&tid, &attr, s_thread, t);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        rp_errbuf(errbuf, errlen, "gate thread: %s", strerror(rc));
        s_thread_free(t);
        gate_destroy(&g);
        return RP_ENOMEM;
    }
    *ret_gate = g;
    return RP_OK;
}

void gate_destroy(gate_t **self_p)
{
    gate_t *g;

    if (!self_p || !*self_p)
        return;
    g = *self_p;
    if (g->ctl)
        zmq_close(g->ctl);
    s_shared_release(g->shared);
    free(g);
    *self_p = NULL;
}

rp_err gate_watch(gate_t *g, void *sock)
{
    char ep[96], reply[8];
    int n;

    if (g->n_watch >= WATCH_MAX)
        return RP_ENOMEM;
    snprintf(ep, sizeof(ep), "inproc://rapport-gate-%p-%u", (void *)g, g->n_watch);
    if (zmq_socket_monitor(sock, ep, MONITOR_EVENTS) != 0)
        return RP_EIO;
    if (zmq_send(g->ctl, ep, strlen(ep), 0) < 0)
        return RP_EIO;
    n = zmq_recv(g->ctl, reply, sizeof(reply), 0);
    if (n != 2 || memcmp(reply, "ok", 2) != 0)
        return RP_EIO;
    g->n_watch++;
    return RP_OK;
}

void gate_counters(const gate_t *g, gate_counters_t *ret)
{
    ret->refused = atomic_load(&g->shared->refused);
    ret->cut = atomic_load(&g->shared->cut);
    ret->preauth_ended = atomic_load(&g->shared->preauth_ended);
    ret->keys = atomic_load(&g->shared->keys);
}
