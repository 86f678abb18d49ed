/* link: pending requests to a peer worker, matched by request_id. */
#include "link.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "bus.h"
#include "clock.h"
#include "hash.h"
#include "log.h"

#define LINK_BUCKETS 1024

typedef struct pending {
    struct pending *next;
    uint8_t id[WIRE_REQUEST_ID_MAX];
    size_t id_len;
    server_req_t *req;
    link_fn fn;
    void *ctx;
    int64_t deadline, next_send;
    int timeout_ms;
    size_t len;
    uint8_t *data; /* the encoded request, for resends */
} pending_t;

struct link {
    void *sock;
    char peer[32];
    const ProtobufCMessageDescriptor *reply_desc;
    const config_t *cfg;
    pending_t *buckets[LINK_BUCKETS];
    size_t n_pending;
    uint64_t counter;
    uint32_t boot;
    bool peer_up;
    link_counters_t counters;
};

/* Resend an unanswered request three times within its timeout: enough to
 * cross a peer restart, rare enough not to flood a peer that is just slow. */
static int64_t s_retry_ms(int timeout_ms)
{
    return timeout_ms / 3 > 200 ? timeout_ms / 3 : 200;
}

static size_t s_hash(const uint8_t *id, size_t len)
{
    return (size_t)(hash_bytes(HASH_INIT, id, len) % LINK_BUCKETS);
}

rp_err link_new(void *zctx, const char *endpoint, const char *peer,
                const ProtobufCMessageDescriptor *reply_desc, const config_t *cfg,
                link_t **ret_link, char *errbuf, size_t errlen)
{
    link_t *l = calloc(1, sizeof(*l));
    rp_err rc;

    if (!l)
        return RP_ENOMEM;
    rc = bus_socket_connect(zctx, BUS_DEALER, endpoint, cfg, &l->sock, errbuf, errlen);
    if (rc != RP_OK) {
        free(l);
        return rc;
    }
    snprintf(l->peer, sizeof(l->peer), "%s", peer);
    l->reply_desc = reply_desc;
    l->cfg = cfg;
    l->peer_up = true;
    if (getrandom(&l->boot, sizeof(l->boot), 0) != (ssize_t)sizeof(l->boot))
        l->boot = (uint32_t)clock_mono_ns();
    *ret_link = l;
    return RP_OK;
}

void link_destroy(link_t **self_p)
{
    link_t *l;
    if (!self_p || !*self_p)
        return;
    l = *self_p;
    for (size_t b = 0; b < LINK_BUCKETS; b++) {
        pending_t *p = l->buckets[b];
        while (p) {
            pending_t *n = p->next;
            free(p->data);
            free(p);
            p = n;
        }
    }
    if (l->sock)
        zmq_close(l->sock);
    free(l);
    *self_p = NULL;
}

void *link_socket(const link_t *l)
{
    return l->sock;
}

size_t link_pending(const link_t *l)
{
    return l->n_pending;
}

bool link_peer_up(const link_t *l)
{
    return l->peer_up;
}

void link_counters(const link_t *l, link_counters_t *ret_counters)
{
    *ret_counters = l->counters;
}

rp_err link_send_timeout(link_t *l, server_req_t *req, ProtobufCMessage *msg, int timeout_ms,
                         link_fn fn, void *ctx)
{
    ProtobufCBinaryData *rid = (ProtobufCBinaryData *)(uintptr_t)wire_msg_request_id(msg);
    pending_t *p;
    size_t b;
    rp_err rc;

    if (!rid || rid->len > WIRE_REQUEST_ID_MAX)
        return RP_EINVAL;
    p = calloc(1, sizeof(*p));
    if (!p)
        return RP_ENOMEM;
    if (rid->len == 0) {
        /* A unique id of the link's own; msg points at it until sent. */
        int n = snprintf((char *)p->id, sizeof(p->id), "%s-%08x-%llu", l->peer, l->boot,
                         (unsigned long long)++l->counter);
        p->id_len = (size_t)n;
        rid->data = p->id;
        rid->len = p->id_len;
    } else {
        memcpy(p->id, rid->data, rid->len);
        p->id_len = rid->len;
    }
    b = s_hash(p->id, p->id_len);
    for (pending_t *q = l->buckets[b]; q; q = q->next)
        if (q->id_len == p->id_len && memcmp(q->id, p->id, p->id_len) == 0) {
            free(p);
            return RP_EEXIST;
        }
    rc = wire_encode(msg, &p->data, &p->len);
    if (rc == RP_OK)
        rc = bus_send(l->sock, p->data, p->len);
    if (rc != RP_OK) {
        free(p->data);
        free(p);
        return rc;
    }
    p->req = req;
    p->fn = fn;
    p->ctx = ctx;
    p->timeout_ms = timeout_ms;
    p->deadline = clock_mono_ms() + timeout_ms;
    p->next_send = clock_mono_ms() + s_retry_ms(timeout_ms);
    p->next = l->buckets[b];
    l->buckets[b] = p;
    l->n_pending++;
    if (req)
        req->deferred = true;
    return RP_OK;
}

rp_err link_send(link_t *l, server_req_t *req, ProtobufCMessage *msg, link_fn fn, void *ctx)
{
    return link_send_timeout(l, req, msg, (int)l->cfg->request_timeout_ms, fn, ctx);
}

static pending_t *s_take(link_t *l, const uint8_t *id, size_t len)
{
    pending_t **pp;
    for (pp = &l->buckets[s_hash(id, len)]; *pp; pp = &(*pp)->next) {
        pending_t *p = *pp;
        if (p->id_len == len && memcmp(p->id, id, len) == 0) {
            *pp = p->next;
            l->n_pending--;
            return p;
        }
    }
    return NULL;
}

static void s_deliver(link_t *l, pending_t *p, ProtobufCMessage *reply, wire_arena_t *arena)
{
    (void)l;
    p->fn(p->ctx, p->req, reply, arena);
    free(p->data);
    free(p);
}

void link_on_readable(void *arg)
{
    link_t *l = arg;
    for (int i = 0; i < 1024; i++) {
        zmq_msg_t body;
        ProtobufCBinaryData id;
        pending_t *p;
        wire_arena_t *arena, *tmp = NULL;
        ProtobufCMessage *reply;

        if (bus_recv(l->sock, &body, NULL, 0) != RP_OK)
            return;
        l->peer_up = true;
        id = wire_peek_request_id(zmq_msg_data(&body), zmq_msg_size(&body));
        p = id.len ? s_take(l, id.data, id.len) : NULL;
        if (!p) {
            l->counters.unmatched++;
            log_debug("dropped a reply from rapport-%s that matches no pending request", l->peer);
            zmq_msg_close(&body);
            continue; /* late: answered by a timeout already, or a resend's */
        }
        arena = p->req ? p->req->arena : (tmp = wire_arena_new());
        if (!arena)
            abort();
        /* A peer worker's reply: protobuf-c checks its structure; the
         * request limits (text sizes, enum ranges) are the peer's to keep. */
        if (wire_decode_trusted(arena, l->reply_desc, zmq_msg_data(&body), zmq_msg_size(&body),
                                &reply) != RP_OK) {
            Rapport__V1__Status *st =
                (Rapport__V1__Status *)wire_arena_message(arena, &rapport__v1__status__descriptor);
            reply = wire_arena_message(arena, l->reply_desc);
            st->code = RAPPORT__V1__STATUS_CODE__INTERNAL;
            st->message = wire_arena_printf(arena, "rapport-%s sent a malformed reply", l->peer);
            wire_msg_set_status(reply, &st->base);
        }
        zmq_msg_close(&body);
        s_deliver(l, p, reply, arena);
        wire_arena_destroy(&tmp);
    }
}

void link_tick(link_t *l)
{
    int64_t now = clock_mono_ms();
    pending_t *expired = NULL;

    if (l->n_pending == 0)
        return;
    for (size_t b = 0; b < LINK_BUCKETS; b++) {
        pending_t **pp = &l->buckets[b];
        while (*pp) {
            pending_t *p = *pp;
            if (now >= p->deadline) {
                *pp = p->next;
                l->n_pending--;
                l->counters.timeouts++;
                p->next = expired;
                expired = p;
                continue;
            }
            if (now >= p->next_send) {
                if (bus_send(l->sock, p->data, p->len) == RP_OK)
                    l->counters.resends++;
                else
                    log_debug("resend to rapport-%s failed", l->peer);
                p->next_send = now + s_retry_ms(p->timeout_ms);
            }
            pp = &p->next;
        }
    }
    while (expired) {
        pending_t *p = expired;
        wire_arena_t *tmp = NULL, *arena = p->req ? p->req->arena : (tmp = wire_arena_new());
        ProtobufCMessage *reply;
        Rapport__V1__Status *st;

        expired = p->next;
        if (!arena)
            abort();
        l->peer_up = false;
        reply = wire_arena_message(arena, l->reply_desc);
        st = (Rapport__V1__Status *)wire_arena_message(arena, &rapport__v1__status__descriptor);
        st->code = RAPPORT__V1__STATUS_CODE__UNAVAILABLE;
        st->message = wire_arena_printf(arena, "rapport-%s did not answer within %d ms", l->peer,
                                        p->timeout_ms);
        wire_msg_set_status(reply, &st->base);
        {
            ProtobufCBinaryData id = {p->id_len, wire_arena_alloc(arena, p->id_len)};
            memcpy(id.data, p->id, p->id_len);
            wire_msg_set_envelope(reply, id, "");
        }
        s_deliver(l, p, reply, arena);
        wire_arena_destroy(&tmp);
    }
}
