/* gate: what stands between a worker's tcp endpoints and the world.
 *
 * Every peer of a tcp endpoint is hostile until its CURVE handshake has
 * succeeded. The gate is one thread per process that does three things:
 *
 * - ZAP (RFC 27): it admits or refuses each client key with one lookup in
 *   a keyring (keyring.h) of curve_client_keys_dir, reloaded when the
 *   directory changes (inotify; a stat of the directory where inotify is
 *   unavailable). An admitted connection carries the key's user id (ZAP
 *   User-Id) and the metadata X-Role, X-Relay and X-Key, which libzmq
 *   attaches to every message of the connection.
 * - Bounding what unauthenticated peers hold. libzmq reads a whole frame,
 *   up to ZMQ_MAXMSGSIZE, before the mechanism looks at it, handshake
 *   included. bus.c sets the frame limit of a bound tcp socket to
 *   max_msg_size and ZMQ_HANDSHAKE_IVL to handshake_timeout_ms; the gate
 *   watches each bound tcp socket's connections (zmq_socket_monitor) and
 *   cuts, with shutdown(2), a connection still in its handshake that has
 *   sent more than preauth_max_bytes, and the oldest of them when there are
 *   more than preauth_max_connections. A connection is in its handshake
 *   until the server has written more than the ZMTP greeting and the CURVE
 *   WELCOME (64 + 170 bytes, fixed by ZMTP 3 and RFC 26), which the kernel
 *   reports (TCP_INFO, SIOCOUTQ). So unauthenticated peers hold at most
 *   preauth_max_connections x max_msg_size, whatever their number.
 * - Counting: refused handshakes, cut connections, and connections that
 *   ended before their handshake did.
 *
 * The thread ends when the ZeroMQ context is terminated. */
#ifndef RAPPORT_GATE_H
#define RAPPORT_GATE_H

#include <stdint.h>

#include "config.h"
#include "err.h"

typedef struct gate gate_t;

typedef struct {
    uint64_t refused;       /* handshakes whose key was refused (unknown, or unreadable dir) */
    uint64_t cut;           /* connections the gate cut before their handshake ended */
    uint64_t preauth_ended; /* connections that ended before their handshake did, cut or not */
    uint64_t keys;          /* keys admitted by the keyring in use */
} gate_counters_t;

/* Start the gate of context `zctx`: the thread, bound to libzmq's ZAP
 * endpoint (one per context). It must run before a CURVE server socket
 * binds: libzmq admits every key when no handler is there. RP_ECONFIG when
 * curve_client_keys_dir is unset or unreadable, RP_EADDRINUSE when the
 * context has a ZAP handler already; RP_ENOMEM, RP_EIO. The gate is owned
 * by the caller (gate_destroy before zmq_ctx_term). */
rp_err gate_new(void *zctx, const config_t *cfg, gate_t **ret_gate, char *errbuf, size_t errlen);

/* Accepts NULL; NULLs the caller's pointer. The thread itself ends when
 * the context terminates. */
void gate_destroy(gate_t **self_p);

/* Watch the connections of `sock`, a CURVE server socket about to be bound
 * (call before zmq_bind). RP_ENOMEM, RP_EIO. */
rp_err gate_watch(gate_t *g, void *sock);

/* The counters so far. */
void gate_counters(const gate_t *g, gate_counters_t *ret);

#endif
