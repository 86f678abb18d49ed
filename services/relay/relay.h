/* relay: internal interface of rapport-relay, shared by its files.
 *
 * jetstream.c  the NATS side: connection, the stream, where the stream
 *              ends, asynchronous publishing with acks counted
 * relay.c      the loop: read the writer's changes in seq order, publish
 *              them with the expected-last-sequence check, confirm what
 *              JetStream stored, recover from every failure
 *
 * The relay keeps no state of its own: where to go on is the stream's
 * last message (its Rapport-Seq, Rapport-Part and Rapport-Last headers).
 * Every message is published expecting the stream's last sequence to be
 * the previous message's, so nothing is stored twice, skipped or
 * interleaved with a second relay; a failed publish makes the relay read
 * the stream's end again and go on from there.
 *
 * Fencing: every message carries the writer's term (Rapport-Term), one
 * more at each `rapport promote`, which also publishes a term marker
 * (rapport.v1.term). A relay whose writer's term is below the term of the
 * stream's last message serves a store that a promoted replica replaced:
 * it tells the writer (ConfirmRelayed.fenced_by_term: the writer records
 * it and stops with 3), publishes nothing and exits with 3. */
#ifndef RAPPORT_RELAY_H
#define RAPPORT_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"

/* The subject prefix of every message. */
#define RELAY_SUBJECTS "rapport.v1.>"

typedef struct relay_js relay_js_t;

/* Where the stream ends. */
typedef struct {
    uint64_t stream_seq; /* JetStream sequence of the last message (0: empty) */
    uint64_t seq;        /* its Rapport-Seq */
    uint64_t part;       /* its Rapport-Part */
    bool last;           /* Rapport-Last: the last message of its seq */
    uint64_t term;       /* its Rapport-Term: the term of the primary that wrote it */
    char store_id[17];   /* the store id of its Nats-Msg-Id (hex), "" if none */
} relay_end_t;

/* What the acks said so far (counted by the libnats thread). */
typedef struct {
    uint64_t acked_stream_seq; /* highest stream sequence acked since the last drop */
    uint64_t pending;          /* published, not acked nor failed */
    uint64_t failures;         /* acks with an error (or timed out) */
    uint64_t out_of_order;     /* stored where it should not be (a skip in the stream) */
    char last_error[160];
} relay_acks_t;

/* Connect to the servers of cfg->nats_url with its credentials. The
 * connection retries in the background while NATS is down, so this fails
 * only for bad settings (RP_ECONFIG, errbuf says which). Owned by the
 * caller (relay_js_destroy). */
rp_err relay_js_new(const config_t *cfg, relay_js_t **ret, char *errbuf, size_t errlen);

/* Accepts NULL; NULLs the pointer. Drops what is still unacked. */
void relay_js_destroy(relay_js_t **self_p);

/* A connection that libnats gave up (closed) is made again. */
void relay_js_revive(relay_js_t *js);

/* Whether the connection is up now. */
bool relay_js_connected(relay_js_t *js);

/* Create the stream, or check the one there: RP_ECONFIG when its subjects
 * are not exactly rapport.v1.> (errbuf says what it has); RP_EUNAVAIL when
 * NATS or the stream's quorum does not answer (errbuf says why). Limits
 * that differ from the configuration are updated. */
rp_err relay_js_ensure_stream(relay_js_t *js, char *errbuf, size_t errlen);

/* The stream's last message. RP_EUNAVAIL when NATS does not answer. */
rp_err relay_js_end(relay_js_t *js, relay_end_t *ret, char *errbuf, size_t errlen);

/* One message of the change stream. */
typedef struct {
    const char *subject;
    const char *msg_id;
    const char *type; /* the event's type, Rapport-Type */
    uint64_t seq, part;
    uint64_t term; /* Rapport-Term: the writer's term (rapport promote) */
    bool last;
    const char *gap; /* Rapport-Gap, or NULL */
    /* The Nats-Msg-Id of the message this one must follow in the stream
     * (Nats-Expected-Last-Msg-Id), NULL for the first after reading the
     * stream's end: with the expected last sequence alone, a message of
     * another writer could take the place of one of ours in a pipeline. */
    const char *prev_msg_id;
    const void *data;
    size_t len;
} relay_msg_t;

/* Publish asynchronously, expecting the stream's last sequence to be
 * `expect_last` (0: an empty stream). RP_EUNAVAIL when it cannot be sent
 * now (not connected, too many pending); the caller recovers. */
rp_err relay_js_publish(relay_js_t *js, const relay_msg_t *m, uint64_t expect_last);

/* An fd that polls readable once an ack (or a failure) has come since the
 * last relay_js_wake_drain (-1 when there is none: then poll with a
 * timeout). Read the counters after draining it. */
int relay_js_wake_fd(const relay_js_t *js);
void relay_js_wake_drain(relay_js_t *js);

/* A copy of the ack counters. */
void relay_js_acks(relay_js_t *js, relay_acks_t *ret);

/* Forget every unacked publish (after a failure: the stream's end is read
 * again). Acks that arrive for them later are ignored. */
void relay_js_drop_pending(relay_js_t *js);

/* Wait up to timeout_ms for every publish to be acked or failed. */
void relay_js_flush(relay_js_t *js, int timeout_ms);

/* The subject token of a contact no.: bytes outside [A-Za-z0-9_-] become
 * %XX (upper-case hex), "" becomes "%". Writes at most size bytes with the
 * NUL; a token that does not fit is cut at a whole escape. */
void relay_subject_token(const char *in, char *out, size_t size);

typedef struct relay relay_t;

/* The relay process: config checked, writer client, SUB doorbell, NATS
 * connection. RP_ECONFIG for a configuration error (errbuf says what to
 * set). Owned by the caller (relay_destroy). */
rp_err relay_new(const config_t *cfg, void *zctx, relay_t **ret, char *errbuf, size_t errlen);

void relay_destroy(relay_t **self_p);

/* Run until SIGTERM (then drain and return 0), or until a condition that
 * needs the operator: 2 for a stream that is not ours (its subjects or
 * its store id), 3 when the stream has moved past the writer (fenced). */
int relay_run(relay_t *r);

#endif
