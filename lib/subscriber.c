/* subscriber: the log writer's durable events, each once and in order.
 *
 * The SUB socket is opened first, so that nothing published while the
 * history is read is missed; then ReadEvents pages bring the subscriber
 * from its position up to the newest durable seq. Live events follow:
 * one already delivered is dropped, one beyond the next seq wanted reveals
 * a gap (the socket dropped events past its high-water mark, or the
 * subscriber was away) that ReadEvents fills before it. The log holds
 * every event before it is published, so a gap is always fillable; and
 * when the socket has been quiet for a while a ReadEvents also recovers
 * events dropped at the end of a burst, which no later event reveals. */
#include "lib.h"

#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "bus.h"
#include "clock.h"
#include "wire.h"

#define READ_PAGE 1000
#define QUIET_MS  1000

struct rapport_subscriber {
    rapport_client *c;
    void *sub;
    uint64_t next; /* the next durable seq to deliver */
    bool positioned, need_read, stop;
    char *prefix; /* NULL: every type */
    unsigned flags;
    uint64_t lost_before; /* DATA_LOSS to report: events before it are gone */
    int64_t quiet_since;  /* the last live event or log read (ms) */
    rapport_event_fn fn;
    void *arg;
};

RAPPORT_EXPORT int rapport_subscriber_new(rapport_client *c, uint64_t from_seq,
                                          const char *type_prefix, unsigned flags,
                                          rapport_subscriber **ret_sub, rapport_error *err)
{
    const config_t *cfg = lib_config(c);
    rapport_subscriber *s = calloc(1, sizeof(*s));
    char errbuf[CONFIG_PATH_MAX + 256];
    rp_err rc;

    *ret_sub = NULL;
    if (!s || (type_prefix && *type_prefix && !(s->prefix = strdup(type_prefix)))) {
        free(s);
        return lib_fail(err, RAPPORT__V1__STATUS_CODE__RESOURCE_EXHAUSTED, RAPPORT_ERR_USAGE,
                        "out of memory");
    }
    rc = bus_socket_connect(lib_zmq_context(c), BUS_SUB, cfg->events_endpoint, cfg, &s->sub, errbuf,
                            sizeof(errbuf));
    if (rc != RP_OK) {
        free(s->prefix);
        free(s);
        return lib_fail(err, rp_err_status_code(rc),
                        rc == RP_ECONFIG || rc == RP_EPERM ? RAPPORT_ERR_CONFIG
                                                           : RAPPORT_ERR_TRANSPORT,
                        "cannot subscribe to %s: %s", cfg->events_endpoint, errbuf);
    }
    s->c = c;
    s->next = from_seq;
    s->positioned = from_seq != 0;
    s->need_read = true;
    s->flags = flags;
    *ret_sub = s;
    return 0;
}

RAPPORT_EXPORT void rapport_subscriber_destroy(rapport_subscriber **sub_p)
{
    if (!sub_p || !*sub_p)
        return;
    zmq_close((*sub_p)->sub);
    free((*sub_p)->prefix);
    free(*sub_p);
    *sub_p = NULL;
}

RAPPORT_EXPORT uint64_t rapport_subscriber_next_seq(const rapport_subscriber *s)
{
    return s->next;
}

RAPPORT_EXPORT int rapport_subscriber_fd(rapport_subscriber *s)
{
    int fd = -1;
    size_t len = sizeof(fd);

    return zmq_getsockopt(s->sub, ZMQ_FD, &fd, &len) == 0 ? fd : -1;
}

static bool s_wanted(const rapport_subscriber *s, const Rapport__V1__Event *e)
{
    return !s->prefix || (e->type && strncmp(e->type, s->prefix, strlen(s->prefix)) == 0);
}

/* Durable event e, the next one: to the callback when wanted. */
static void s_deliver(rapport_subscriber *s, const Rapport__V1__Event *e)
{
    s->next = e->seq + 1;
    if (s_wanted(s, e) && s->fn(s->arg, e) != 0)
        s->stop = true;
}

/* One ReadEvents page from s->next (max events). */
static int s_read(rapport_subscriber *s, uint32_t max, Rapport__V1__LogReply **ret_reply,
                  rapport_error *err)
{
    Rapport__V1__ReadEvents re = RAPPORT__V1__READ_EVENTS__INIT;
    int rc;

    re.from_seq = s->next ? s->next : 1;
    re.max = max;
    re.type_prefix = s->prefix ? s->prefix : wire_str("");
    rc = rapport_logwriter_read_events(s->c, &re, NULL, ret_reply, err);
    if (rc == 0 && (*ret_reply)->result_case != RAPPORT__V1__LOG_REPLY__RESULT_EVENTS) {
        rapport_reply_free(*ret_reply);
        *ret_reply = NULL;
        return lib_fail(err, RAPPORT__V1__STATUS_CODE__INTERNAL, RAPPORT_ERR_SERVER,
                        "rapport-logwriter answered ReadEvents without events");
    }
    if (rc != 0) {
        rapport_reply_free(*ret_reply);
        *ret_reply = NULL;
    }
    return rc;
}

/* Deliver the durable log from s->next up to its newest seq. */
static int s_catch_up(rapport_subscriber *s, rapport_error *err)
{
    while (!s->stop) {
        Rapport__V1__LogReply *reply;
        const Rapport__V1__EventBatch *b;
        int rc = s_read(s, READ_PAGE, &reply, err);

        if (rc != 0)
            return rc;
        b = reply->events;
        if (b->first_seq > s->next && s->next <= b->last_seq) {
            s->lost_before = b->first_seq;
            s->next = b->first_seq;
        }
        for (size_t i = 0; i < b->n_events && !s->stop; i++)
            if (b->events[i]->seq >= s->next)
                s_deliver(s, b->events[i]);
        if (!s->stop && b->next_seq > s->next)
            s->next = b->next_seq;
        rc = s->stop || s->next > b->last_seq;
        rapport_reply_free(reply);
        if (rc)
            break;
    }
    s->need_read = false;
    return 0;
}

/* From now on: the next seq is the one after the newest durable one. */
static int s_position(rapport_subscriber *s, rapport_error *err)
{
    Rapport__V1__LogReply *reply;
    int rc;

    s->next = 1;
    rc = s_read(s, 1, &reply, err);
    if (rc != 0)
        return rc;
    s->next = reply->events->last_seq + 1;
    rapport_reply_free(reply);
    s->positioned = true;
    return 0;
}

/* One live event from the SUB socket. */
static int s_live(rapport_subscriber *s, const Rapport__V1__Event *e, rapport_error *err)
{
    if (e->seq == 0) {
        if ((s->flags & RAPPORT_SUB_PROGRESS) && s_wanted(s, e) && s->fn(s->arg, e) != 0)
            s->stop = true;
        return 0;
    }
    if (e->seq > s->next) {
        int rc = s_catch_up(s, err); /* a gap: the log has it all */
        if (rc != 0)
            return rc;
    }
    if (e->seq == s->next && !s->stop)
        s_deliver(s, e);
    return 0;
}

/* Read what the SUB socket holds. */
static int s_drain(rapport_subscriber *s, rapport_error *err)
{
    zmq_msg_t body;
    size_t max = (size_t)lib_config(s->c)->max_msg_size;

    while (!s->stop && bus_recv(s->sub, &body, NULL, 0) == RP_OK) {
        ProtobufCMessage *msg = NULL;
        wire_error_t werr;
        int rc = 0;

        if (wire_decode(&rapport__v1__event__descriptor, zmq_msg_data(&body), zmq_msg_size(&body),
                        max, 0, &msg, &werr) == RP_OK) {
            rc = s_live(s, (const Rapport__V1__Event *)(const void *)msg, err);
            wire_free(msg);
        }
        zmq_msg_close(&body);
        if (rc != 0)
            return rc;
    }
    return 0;
}

RAPPORT_EXPORT int rapport_subscriber_run(rapport_subscriber *s, int timeout_ms,
                                          rapport_event_fn fn, void *arg, rapport_error *err)
{
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : clock_mono_ms() + timeout_ms;
    int rc = 0;

    s->fn = fn;
    s->arg = arg;
    s->stop = false;
    if (!s->positioned)
        rc = s_position(s, err);
    while (rc == 0 && !s->stop) {
        int64_t now = clock_mono_ms(), wake;
        int ready;

        if (s->need_read || now - s->quiet_since >= QUIET_MS) {
            rc = s_catch_up(s, err);
            s->quiet_since = now;
            if (rc != 0 || s->stop)
                break;
        }
        if (s->lost_before) {
            rc = lib_fail(err, RAPPORT__V1__STATUS_CODE__DATA_LOSS, RAPPORT_ERR_SERVER,
                          "events before %llu are no longer kept",
                          (unsigned long long)s->lost_before);
            s->lost_before = 0;
            break;
        }
        if (now >= deadline)
            break;
        wake = s->quiet_since + QUIET_MS < deadline ? s->quiet_since + QUIET_MS : deadline;
        ready = bus_poll(&s->sub, 1, (long)(wake > now ? wake - now : 0));
        if (ready < 0) {
            rc = lib_fail(err, RAPPORT__V1__STATUS_CODE__CANCELLED, RAPPORT_ERR_TRANSPORT,
                          "interrupted while waiting for events from %s",
                          lib_config(s->c)->events_endpoint);
            break;
        }
        if (ready) {
            rc = s_drain(s, err);
            s->quiet_since = clock_mono_ms();
        }
    }
    if (rc != 0)
        s->need_read = true; /* a failed read is retried on the next run */
    return rc;
}
