/* writer_link: pending table, resends, timeouts and reply matching for the
 * DEALER to rapport-logwriter.
 *
 * A pending node lives in the arena of the client request it serves, so
 * nothing is malloc'd per request; a node is always unlinked before its
 * callback runs, because the callback may finish (and so free) the
 * request. The timeout and the resend interval are the same for every
 * request, so two FIFO lists stay ordered by time: one by deadline (send
 * order), one by next resend (a resent node moves to its tail). Resending
 * the same bytes is safe: the writer coalesces and dedups mutations by
 * request_id, and a request lost in a writer restart still gets through. */
#include "writer_link.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "clock.h"
#include "log.h"
#include "wire.h"

#define LINK_BUCKETS 1024

typedef struct link_pending {
    uint8_t id[WIRE_REQUEST_ID_MAX];
    size_t id_len;
    server_req_t *req;
    writer_link_fn fn;
    void *ctx;
    const uint8_t *bytes; /* the encoded request, for resends */
    size_t len;
    int64_t deadline_ms;
    int64_t resend_ms;
    struct link_pending *bucket_next;
    struct link_pending *fifo_prev, *fifo_next;
    struct link_pending *rs_prev, *rs_next;
} link_pending_t;

struct writer_link {
    const config_t *cfg;
    void *sock;
    link_pending_t *buckets[LINK_BUCKETS];
    link_pending_t *fifo_head, *fifo_tail; /* by deadline */
    link_pending_t *rs_head, *rs_tail;     /* by next resend */
    int64_t resend_interval_ms;
    size_t n_pending;
    uint64_t resends;
    uint64_t timeouts;
    uint64_t unmatched;
};

static size_t s_hash(const uint8_t *id, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ id[i]) * 1099511628211ull;
    return (size_t)(h % LINK_BUCKETS);
}

static link_pending_t *s_find(writer_link_t *link, const uint8_t *id, size_t len)
{
    for (link_pending_t *p = link->buckets[s_hash(id, len)]; p; p = p->bucket_next)
        if (p->id_len == len && memcmp(p->id, id, len) == 0)
            return p;
    return NULL;
}

static void s_rs_append(writer_link_t *link, link_pending_t *p)
{
    p->rs_prev = link->rs_tail;
    p->rs_next = NULL;
    if (link->rs_tail)
        link->rs_tail->rs_next = p;
    else
        link->rs_head = p;
    link->rs_tail = p;
}

static void s_rs_remove(writer_link_t *link, link_pending_t *p)
{
    if (p->rs_prev)
        p->rs_prev->rs_next = p->rs_next;
    else
        link->rs_head = p->rs_next;
    if (p->rs_next)
        p->rs_next->rs_prev = p->rs_prev;
    else
        link->rs_tail = p->rs_prev;
}

static void s_link_in(writer_link_t *link, link_pending_t *p)
{
    size_t b = s_hash(p->id, p->id_len);
    p->bucket_next = link->buckets[b];
    link->buckets[b] = p;
    p->fifo_prev = link->fifo_tail;
    p->fifo_next = NULL;
    if (link->fifo_tail)
        link->fifo_tail->fifo_next = p;
    else
        link->fifo_head = p;
    link->fifo_tail = p;
    s_rs_append(link, p);
    link->n_pending++;
}

static void s_unlink(writer_link_t *link, link_pending_t *p)
{
    link_pending_t **pp = &link->buckets[s_hash(p->id, p->id_len)];
    while (*pp && *pp != p)
        pp = &(*pp)->bucket_next;
    if (*pp)
        *pp = p->bucket_next;
    if (p->fifo_prev)
        p->fifo_prev->fifo_next = p->fifo_next;
    else
        link->fifo_head = p->fifo_next;
    if (p->fifo_next)
        p->fifo_next->fifo_prev = p->fifo_prev;
    else
        link->fifo_tail = p->fifo_prev;
    s_rs_remove(link, p);
    link->n_pending--;
}

/* A reply made up by the link, in the request's arena. */
static Rapport__V1__LogReply *s_synth_reply(server_req_t *req, const link_pending_t *p, int code,
                                            const char *message)
{
    wire_arena_t *a = req->arena;
    Rapport__V1__LogReply *r =
        (Rapport__V1__LogReply *)wire_arena_message(a, &rapport__v1__log_reply__descriptor);
    Rapport__V1__Status *st =
        (Rapport__V1__Status *)wire_arena_message(a, &rapport__v1__status__descriptor);

    r->request_id.len = p->id_len;
    r->request_id.data = wire_arena_alloc(a, p->id_len);
    memcpy(r->request_id.data, p->id, p->id_len);
    st->code = (Rapport__V1__StatusCode)code;
    st->message = wire_arena_strdup(a, message);
    r->status = st;
    return r;
}

rp_err writer_link_new(void *zctx, const config_t *cfg, writer_link_t **ret_link, char *errbuf,
                       size_t errlen)
{
    writer_link_t *link = calloc(1, sizeof(*link));
    rp_err rc;

    if (!link)
        return RP_ENOMEM;
    link->cfg = cfg;
    link->resend_interval_ms = cfg->request_timeout_ms / 3 > 0 ? cfg->request_timeout_ms / 3 : 1;
    rc = bus_socket_connect(zctx, BUS_DEALER, cfg->logwriter_endpoint, cfg, &link->sock, errbuf,
                            errlen);
    if (rc != RP_OK) {
        writer_link_destroy(&link);
        return rc;
    }
    *ret_link = link;
    return RP_OK;
}

void writer_link_destroy(writer_link_t **self_p)
{
    writer_link_t *link;

    if (!self_p || !*self_p)
        return;
    link = *self_p;
    if (link->sock)
        zmq_close(link->sock);
    free(link);
    *self_p = NULL;
}

void *writer_link_socket(const writer_link_t *link)
{
    return link->sock;
}

rp_err writer_link_send(writer_link_t *link, server_req_t *req, Rapport__V1__LogRequest *msg,
                        writer_link_fn fn, void *ctx)
{
    const ProtobufCBinaryData *id = &msg->request_id;
    link_pending_t *p;
    uint8_t *buf;
    size_t len;
    rp_err rc;

    if (!wire_request_id_valid(id))
        return RP_EINVAL;
    if (s_find(link, id->data, id->len))
        return RP_EEXIST;
    len = wire_size(&msg->base);
    buf = wire_arena_alloc(req->arena, len ? len : 1);
    len = wire_encode_to(&msg->base, buf);
    rc = bus_send(link->sock, buf, len);
    if (rc != RP_OK)
        return rc;
    p = wire_arena_alloc(req->arena, sizeof(*p));
    memcpy(p->id, id->data, id->len);
    p->id_len = id->len;
    p->req = req;
    p->fn = fn;
    p->ctx = ctx;
    p->bytes = buf;
    p->len = len;
    p->deadline_ms = clock_mono_ms() + link->cfg->request_timeout_ms;
    p->resend_ms = clock_mono_ms() + link->resend_interval_ms;
    s_link_in(link, p);
    req->deferred = true;
    return RP_OK;
}

/* Match one reply body to its pending request and run the callback. */
static void s_on_reply(writer_link_t *link, const void *data, size_t len)
{
    ProtobufCBinaryData id = wire_peek_request_id(data, len);
    ProtobufCMessage *msg = NULL;
    Rapport__V1__LogReply *reply;
    link_pending_t *p;
    wire_error_t werr;
    server_req_t *req;
    rp_err rc;

    p = id.len ? s_find(link, id.data, id.len) : NULL;
    if (!p) {
        link->unmatched++;
        log_debug("dropped a reply from rapport-logwriter that matches no pending request");
        return;
    }
    s_unlink(link, p);
    req = p->req;
    rc = wire_decode_arena(req->arena, &rapport__v1__log_reply__descriptor, data, len,
                           (size_t)bus_hard_max_msg_size(link->cfg), 0, &msg, &werr);
    if (rc != RP_OK) {
        char text[512];
        snprintf(text, sizeof(text), "rapport-logwriter sent an undecodable reply: %s",
                 werr.message);
        log_warnx("%s", text);
        reply = s_synth_reply(req, p, RAPPORT__V1__STATUS_CODE__INTERNAL, text);
    } else {
        reply = (Rapport__V1__LogReply *)msg;
    }
    p->fn(p->ctx, req, reply);
}

void writer_link_on_readable(writer_link_t *link)
{
    size_t n = 0, max = (size_t)link->cfg->batch_max;

    while (n < max) {
        zmq_msg_t body;
        rp_err rc = bus_recv(link->sock, &body, NULL, 0);
        if (rc != RP_OK) {
            if (rc != RP_ENOTFOUND)
                log_debug("rapport-logwriter link: %s", rp_strerror(rc));
            break;
        }
        s_on_reply(link, zmq_msg_data(&body), zmq_msg_size(&body));
        zmq_msg_close(&body);
        n++;
    }
}

void writer_link_tick(writer_link_t *link)
{
    int64_t now = clock_mono_ms();

    while (link->fifo_head && link->fifo_head->deadline_ms <= now) {
        link_pending_t *p = link->fifo_head;
        char text[128];

        s_unlink(link, p);
        link->timeouts++;
        snprintf(text, sizeof(text), "rapport-logwriter did not answer within %lld ms",
                 (long long)link->cfg->request_timeout_ms);
        log_warnx("%s (%s)", text, link->cfg->logwriter_endpoint);
        p->fn(p->ctx, p->req,
              s_synth_reply(p->req, p, RAPPORT__V1__STATUS_CODE__UNAVAILABLE, text));
    }
    while (link->rs_head && link->rs_head->resend_ms <= now) {
        link_pending_t *p = link->rs_head;
        rp_err rc = bus_send(link->sock, p->bytes, p->len);
        if (rc == RP_ENOSPC)
            break; /* the queue is full: the next turn tries again */
        if (rc == RP_OK)
            link->resends++;
        p->resend_ms = now + link->resend_interval_ms;
        s_rs_remove(link, p);
        s_rs_append(link, p);
    }
}

size_t writer_link_pending(const writer_link_t *link)
{
    return link->n_pending;
}

uint64_t writer_link_resends(const writer_link_t *link)
{
    return link->resends;
}

uint64_t writer_link_timeouts(const writer_link_t *link)
{
    return link->timeouts;
}

uint64_t writer_link_unmatched(const writer_link_t *link)
{
    return link->unmatched;
}
