/* client: the request API used by the CLI, the workers and the tests.
 *
 * A client is one DEALER connected to a worker's ROUTER. client_call()
 * sends a request, waits for the reply carrying the same request_id
 * (skipping stale replies to earlier requests), and resends the very same
 * bytes, so the same request_id, when a retry interval passes without an
 * answer: the server's dedup record makes the retry safe. Every request and
 * reply message of the contract has `bytes request_id = 1`. */
#ifndef RAPPORT_CLIENT_H
#define RAPPORT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "config.h"
#include "err.h"

typedef struct client client_t;

#define CLIENT_REQUEST_ID_LEN 32

/* Connect a DEALER to endpoint (lazily: a peer that is down is not an
 * error here). A tcp endpoint is reached with CURVE (bus.h): RP_ECONFIG or
 * RP_EPERM when the keys it needs are missing or bad, errbuf says which.
 * Owned by the caller (client_destroy). `zctx` is shared. */
rp_err client_new(void *zctx, const char *endpoint, const config_t *cfg, client_t **ret_client,
                  char *errbuf, size_t errlen);

/* Accepts NULL; NULLs the caller's pointer. */
void client_destroy(client_t **self_p);

/* A fresh random request_id: 32 lower-case hex characters + NUL. */
void client_new_request_id(char out[CLIENT_REQUEST_ID_LEN + 1]);

/* Send `req` and wait for its reply (matched by req's request_id), at most
 * timeout_ms in all, resending every retry_ms (0: never). On success
 * *ret_reply is a decoded `reply_desc` message owned by the caller
 * (wire_free); its Status may still be an error. RP_ETIMEDOUT when no reply
 * came, RP_EUNAUTH when a tcp server refused this client's CURVE key (seen
 * after the first resend interval), RP_EPROTO for an undecodable reply,
 * RP_EINVAL when req has no request_id. */
rp_err client_call(client_t *c, const ProtobufCMessage *req,
                   const ProtobufCMessageDescriptor *reply_desc, int timeout_ms, int retry_ms,
                   ProtobufCMessage **ret_reply);

/* Pipelining: send a request now (RP_ENOSPC when the queue is full). */
rp_err client_send(client_t *c, const ProtobufCMessage *req);

/* Pipelining: the next reply of any request, waiting at most timeout_ms.
 * RP_ETIMEDOUT when none (RP_EUNAUTH when a tcp server refused our key). */
rp_err client_recv(client_t *c, const ProtobufCMessageDescriptor *reply_desc, int timeout_ms,
                   ProtobufCMessage **ret_reply);

/* Whether a tcp server has refused this client's CURVE key (reads the
 * handshake monitor's waiting events). */
bool client_refused(client_t *c);

/* The DEALER socket, for zmq_poll in event loops. */
void *client_socket(client_t *c);

/* request_id of any request or reply message (field 1), or NULL. */
const ProtobufCBinaryData *client_message_request_id(const ProtobufCMessage *msg);

#endif
