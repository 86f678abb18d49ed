/* writer_link: rapport-interaction's DEALER to rapport-logwriter.
 *
 * Requests to the writer are sent on behalf of a client request
 * (server_req_t) and matched to their reply by the outgoing request_id:
 * the pending table is keyed by it. An unanswered request is resent, the
 * same bytes, every third of cfg.request_timeout_ms; one the writer does
 * not answer within cfg.request_timeout_ms gets a reply synthesized by the
 * link (UNAVAILABLE, "rapport-logwriter did not answer within N ms"), so
 * the caller has one path for every outcome: the callback always runs
 * exactly once per successful writer_link_send(). */
#ifndef RAPPORT_INTERACTION_WRITER_LINK_H
#define RAPPORT_INTERACTION_WRITER_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "server.h"

#include "rapport/v1/logwriter.pb-c.h"

typedef struct writer_link writer_link_t;

/* The outcome of one request: `reply` lives in req's arena (decoded there,
 * or synthesized with an error Status). The callback owns req again: it
 * sends the next request or finishes req. */
typedef void (*writer_link_fn)(void *ctx, server_req_t *req, Rapport__V1__LogReply *reply);

/* Connect a DEALER to cfg->logwriter_endpoint (lazily: a writer that is down
 * is not an error here; requests then time out). `zctx` is shared. Owned by
 * the caller (writer_link_destroy). RP_ENOMEM, RP_EINVAL (bad endpoint;
 * errbuf says why). */
rp_err writer_link_new(void *zctx, const config_t *cfg, writer_link_t **ret_link, char *errbuf,
                       size_t errlen);

/* Close the socket and free the link; accepts NULL, NULLs the pointer.
 * Requests still pending get no callback. */
void writer_link_destroy(writer_link_t **self_p);

/* The DEALER, to poll with server_add_socket(). */
void *writer_link_socket(const writer_link_t *link);

/* Encode and send `msg` for `req`; fn(ctx, req, reply) runs later with the
 * writer's reply. msg->request_id (1..64 bytes) is the matching key and
 * must not be pending already (RP_EEXIST). On success req is marked
 * deferred. RP_EINVAL (no request_id), RP_ENOSPC (the queue to the writer
 * is full), RP_EUNAVAIL (socket gone). On failure nothing is pending. */
rp_err writer_link_send(writer_link_t *link, server_req_t *req, Rapport__V1__LogRequest *msg,
                        writer_link_fn fn, void *ctx);

/* Read the replies waiting on the DEALER (at most cfg->batch_max) and run
 * their callbacks. A reply matching nothing pending (late, after a
 * timeout) is dropped. */
void writer_link_on_readable(writer_link_t *link);

/* Run the callback of every request whose time is up, with UNAVAILABLE,
 * and resend those due. Call on every loop turn. */
void writer_link_tick(writer_link_t *link);

/* Requests sent and not answered yet. */
size_t writer_link_pending(const writer_link_t *link);

/* Requests resent, requests that timed out, and replies that matched
 * nothing (late, or answers to a resend), since start. */
uint64_t writer_link_resends(const writer_link_t *link);
uint64_t writer_link_timeouts(const writer_link_t *link);
uint64_t writer_link_unmatched(const writer_link_t *link);

#endif
