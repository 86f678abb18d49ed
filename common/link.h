/* link: a worker's DEALER to another worker, for requests made while
 * serving (the segment worker asks rapport-interaction for contacts and
 * streams to rapport-logwriter).
 *
 * A request is sent with a callback and matched to its reply by
 * request_id (the pending table's key). Unanswered requests are resent,
 * the same bytes, every third of their timeout, and after cfg.request_timeout_ms
 * the callback gets a reply synthesized by the link with UNAVAILABLE and
 * "rapport-<peer> did not answer within N ms": the callback always runs
 * exactly once per successful link_send(), so callers have one path for
 * every outcome. Requests carry their own request_id (idempotent retries
 * forwarded from a client) or get a unique one from the link. */
#ifndef RAPPORT_LINK_H
#define RAPPORT_LINK_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "config.h"
#include "err.h"
#include "server.h"
#include "wire.h"

typedef struct link link_t;

/* The outcome of one request. `reply` (a reply_desc message, never NULL)
 * is allocated in `arena`: the request's arena when the request was sent
 * on behalf of a client request, else an arena that lives only during the
 * callback. */
typedef void (*link_fn)(void *ctx, server_req_t *req, ProtobufCMessage *reply, wire_arena_t *arena);

/* Connect a DEALER to endpoint (lazily). `peer` names the worker in
 * messages ("logwriter"). A tcp endpoint is reached with CURVE (bus.h) and
 * the worker's own key, which the peer authorizes with relay = yes so that
 * the user id the link passes on is kept (auth.h). Owned by the caller
 * (link_destroy). */
rp_err link_new(void *zctx, const char *endpoint, const char *peer,
                const ProtobufCMessageDescriptor *reply_desc, const config_t *cfg,
                link_t **ret_link, char *errbuf, size_t errlen);

/* Close and free; accepts NULL, NULLs the pointer. Pending requests get no
 * callback. */
void link_destroy(link_t **self_p);

/* The DEALER, to poll (server_add_socket(srv, link_socket(l),
 * link_on_readable, l)). */
void *link_socket(const link_t *l);

/* Send msg; fn(ctx, req, reply, arena) runs later. An empty request_id is
 * set to a unique id of the link's, which msg points at until the call
 * returns only (msg is encoded at once).
 * req may be NULL; when given it is marked deferred. RP_EEXIST when the
 * request_id is already pending, RP_ENOSPC when the queue is full,
 * RP_ENOMEM. On failure nothing is pending. */
rp_err link_send(link_t *l, server_req_t *req, ProtobufCMessage *msg, link_fn fn, void *ctx);

/* Same with an explicit timeout (ms) instead of cfg.request_timeout_ms. */
rp_err link_send_timeout(link_t *l, server_req_t *req, ProtobufCMessage *msg, int timeout_ms,
                         link_fn fn, void *ctx);

/* Read waiting replies and run their callbacks (argument: the link). */
void link_on_readable(void *l);

/* Resend what is due and time out what is overdue; call from tick_fn. */
void link_tick(link_t *l);

/* Requests sent and not answered yet. */
size_t link_pending(const link_t *l);

/* Whether the last reply (or timeout) says the peer is up. */
bool link_peer_up(const link_t *l);

/* What the link has done since link_new, for a worker's metrics. */
typedef struct {
    uint64_t resends;   /* requests sent again for want of an answer */
    uint64_t timeouts;  /* requests answered by the link with UNAVAILABLE */
    uint64_t unmatched; /* replies that matched nothing pending (late) */
} link_counters_t;

/* Copy the link's counters into *ret_counters. */
void link_counters(const link_t *l, link_counters_t *ret_counters);

#endif
