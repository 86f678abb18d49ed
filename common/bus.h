/* bus: ZeroMQ sockets set up the same way everywhere.
 *
 * Every socket gets LINGER, explicit HWMs and MAXMSGSIZE; every ROUTER gets
 * ROUTER_MANDATORY; tcp links get ZMTP heartbeats. Servers receive a
 * request as routing envelope + body and reply with the same envelope, so
 * DEALER and REQ clients both work. bus.c alone calls zmq_errno().
 *
 * tcp endpoints get CURVE (auth.h): bus_socket_bind makes a CURVE server
 * behind the gate's ZAP handler, bus_socket_connect a CURVE client holding the
 * served worker's public key. Missing or bad keys fail the call with
 * RP_ECONFIG (RP_EPERM for a secret key others may read) and errbuf says
 * which key and which setting. */
#ifndef RAPPORT_BUS_H
#define RAPPORT_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zmq.h>

#include "config.h"
#include "err.h"
#include "gate.h"

#define BUS_MAX_ENVELOPE 8
#define BUS_MAX_ID       256

typedef enum {
    BUS_ROUTER,
    BUS_DEALER,
    BUS_PUB, /* an XPUB: its owner reads the subscriptions (one message each) */
    BUS_SUB,
} bus_type_t;

/* Routing envelope of one request: the frames before the body. */
typedef struct {
    size_t n;
    size_t len[BUS_MAX_ENVELOPE];
    uint8_t data[BUS_MAX_ENVELOPE][BUS_MAX_ID];
} bus_envelope_t;

/* Who sent a message, from its connection's metadata (set by the gate's
 * ZAP handler on tcp endpoints; all empty on ipc). */
typedef struct {
    char user[64]; /* ZAP User-Id */
    char role[8];  /* X-Role: "reader", "writer", "admin" or "" */
    bool relay;    /* X-Relay: a worker relaying its caller's user_id */
    char key[48];  /* X-Key: the peer's public key (Z85) */
} bus_peer_t;

/* Hard limit set as ZMQ_MAXMSGSIZE on ipc sockets and on connected tcp
 * ones: bigger messages make libzmq drop the connection. Between
 * max_msg_size and this, a worker still reads the message and answers
 * RESOURCE_EXHAUSTED. A bound tcp socket, whose peers are strangers until
 * their handshake is done, takes max_msg_size at most. */
int64_t bus_hard_max_msg_size(const config_t *cfg);

/* Create a socket bound to `endpoint`. A tcp endpoint needs the worker's
 * secret key and a gate (gate.h, which admits the keys and watches the
 * connections); `gate` may be NULL for other endpoints. For ipc endpoints
 * the directory is created, a directory that others may enter or write
 * (mode & 0007) is refused (RP_EPERM), a live socket file is refused
 * (RP_EADDRINUSE: libzmq would otherwise take it over silently), and the
 * socket file is made 0660 whatever the umask. On failure errbuf says why.
 * The socket is owned by the caller (zmq_close). */
rp_err bus_socket_bind(void *zctx, bus_type_t type, const char *endpoint, const config_t *cfg,
                       gate_t *gate, void **ret_sock, char *errbuf, size_t errlen);

/* Create a socket connected to `endpoint` (connects lazily; never fails for
 * a peer that is down). A tcp endpoint needs a client key and the public key
 * of the worker serving it (auth.h); a server that refuses the key is seen
 * as a peer that never answers. */
rp_err bus_socket_connect(void *zctx, bus_type_t type, const char *endpoint, const config_t *cfg,
                          void **ret_sock, char *errbuf, size_t errlen);

/* Receive one request on a ROUTER without blocking: the envelope and the
 * body (a zmq_msg_t the caller closes). RP_EAGAIN-like RP_ENOTFOUND when
 * nothing is waiting; RP_EPROTO for a message with a bad envelope (it has
 * been consumed and dropped). */
rp_err bus_recv_request(void *sock, bus_envelope_t *ret_env, zmq_msg_t *ret_body);

/* Read the sender's identity from a received message (any frame of it);
 * call before closing the message. */
void bus_msg_peer(zmq_msg_t *msg, bus_peer_t *ret_peer);

/* Send a reply to the envelope without blocking. RP_EUNAVAIL when the peer
 * is gone, RP_ENOSPC when its queue is full (the reply is dropped). */
rp_err bus_send_reply(void *sock, const bus_envelope_t *env, const void *data, size_t len);

/* Send one frame (DEALER) or a topic + body pair (PUB) without blocking. */
rp_err bus_send(void *sock, const void *data, size_t len);
rp_err bus_publish(void *sock, const char *topic, const void *data, size_t len);

/* Receive the last frame of the next message without blocking (a DEALER's
 * reply; for a SUB, *ret_topic gets the topic frame if not NULL).
 * RP_ENOTFOUND when nothing is waiting. */
rp_err bus_recv(void *sock, zmq_msg_t *ret_body, char *ret_topic, size_t topic_len);

/* zmq_poll on up to 8 sockets for POLLIN; returns a bit per ready socket,
 * or -1 on EINTR (so a signal can stop the loop). */
int bus_poll(void *const *socks, size_t n, long timeout_ms);

/* bus_poll, and also the file descriptor fd (when >= 0) for readability:
 * its bit is 1 << n in the result. */
int bus_poll_fd(void *const *socks, size_t n, int fd, long timeout_ms);

/* Whether a zmq call failed because of a signal. */
bool bus_interrupted(void);

#endif
