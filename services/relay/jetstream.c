/* jetstream: rapport-relay's side of NATS (libnats).
 *
 * One connection, retrying forever in the background (a NATS that is down
 * at start is not an error), one JetStream context with an ack handler
 * that counts acks and failures under a mutex for the relay's loop, which
 * never blocks on NATS: publishes are asynchronous, with MaxWait so that
 * a lost ack turns into a failure instead of silence. The handler also
 * wakes the loop (an eventfd it polls), so that an ack is confirmed to
 * the writer at once, not at the loop's next turn. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <nats/nats.h>

#include "log.h"
#include "natsconn.h"
#include "relay.h"

#define API_WAIT_MS 5000
#define MAX_PENDING 65536

struct relay_js {
    const config_t *cfg;
    natsOptions *opts;
    natsConnection *nc;
    jsCtx *js;
    pthread_mutex_t mu;
    relay_acks_t acks;
    uint64_t fail_from; /* the lowest sequence a failed publish expected, since the last drop */
    bool published; /* libnats 3.4 crashes listing the pending of a context that never published */
    int wake_fd;    /* eventfd: the handler saw an ack since the loop last drained it */
    atomic_bool wake_armed; /* the loop drained it: the next ack writes to it */
};

/* ---- acks (libnats thread) ---- */

static void s_on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    relay_js_t *r = closure;
    const char *v = NULL;
    uint64_t expected = 0; /* where the message should have been stored */
    (void)js;
    if (natsMsgHeader_Get(msg, "Nats-Expected-Last-Sequence", &v) == NATS_OK && v)
        expected = strtoull(v, NULL, 10) + 1;
    pthread_mutex_lock(&r->mu);
    if (r->acks.pending)
        r->acks.pending--;
    if (pa && !pa->Duplicate) {
        if (pa->Sequence > r->acks.acked_stream_seq)
            r->acks.acked_stream_seq = pa->Sequence;
        /* Stored after one of ours before it failed, or elsewhere than
         * expected: the stream skipped a message (never silent). */
        if ((r->fail_from && pa->Sequence >= r->fail_from) ||
            (expected && pa->Sequence != expected)) {
            r->acks.out_of_order++;
            snprintf(r->acks.last_error, sizeof(r->acks.last_error),
                     "JetStream stored %s at sequence %llu (expected %llu, a message before it "
                     "failed at %llu)",
                     natsMsg_GetSubject(msg), (unsigned long long)pa->Sequence,
                     (unsigned long long)expected, (unsigned long long)r->fail_from);
        }
    } else {
        if (expected && (!r->fail_from || expected < r->fail_from))
            r->fail_from = expected;
        r->acks.failures++;
        if (pa)
            snprintf(r->acks.last_error, sizeof(r->acks.last_error),
                     "JetStream says message %s is a duplicate", natsMsg_GetSubject(msg));
        else
            snprintf(r->acks.last_error, sizeof(r->acks.last_error), "%s (error %d)",
                     pae->ErrText ? pae->ErrText : natsStatus_GetText(pae->Err), (int)pae->ErrCode);
    }
    pthread_mutex_unlock(&r->mu);
    natsMsg_Destroy(msg);
    if (r->wake_fd >= 0 && atomic_exchange(&r->wake_armed, false)) {
        uint64_t one = 1;
        if (write(r->wake_fd, &one, sizeof(one)) < 0)
            atomic_store(&r->wake_armed, true); /* the loop polls again soon anyway */
    }
}

/* The connection and its JetStream context. */
static rp_err s_connect(relay_js_t *r, char *errbuf, size_t errlen)
{
    jsOptions jo;
    rp_err rc = natsconn_connect(r->cfg, r->opts, &r->nc, errbuf, errlen);

    if (rc != RP_OK)
        return rc;
    jsOptions_Init(&jo);
    jo.Wait = API_WAIT_MS;
    jo.PublishAsync.MaxPending = MAX_PENDING;
    jo.PublishAsync.AckHandler = s_on_ack;
    jo.PublishAsync.AckHandlerClosure = r;
    jo.PublishAsync.StallWait = 1;
    if (natsConnection_JetStream(&r->js, r->nc, &jo) != NATS_OK) {
        snprintf(errbuf, errlen, "cannot create the JetStream context: %s",
                 nats_GetLastError(NULL));
        return RP_ECONFIG;
    }
    return RP_OK;
}

static void s_disconnect(relay_js_t *r)
{
    if (r->js) {
        relay_js_drop_pending(r);
        jsCtx_Destroy(r->js);
        r->js = NULL;
    }
    if (r->nc) {
        natsConnection_Close(r->nc);
        natsConnection_Destroy(r->nc);
        r->nc = NULL;
    }
    r->published = false;
}

rp_err relay_js_new(const config_t *cfg, relay_js_t **ret, char *errbuf, size_t errlen)
{
    relay_js_t *r = calloc(1, sizeof(*r));
    rp_err rc;

    if (!r)
        return RP_ENOMEM;
    r->cfg = cfg;
    pthread_mutex_init(&r->mu, NULL);
    r->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    atomic_init(&r->wake_armed, true);
    rc = natsconn_options(cfg, "rapport-relay", &r->opts, errbuf, errlen);
    if (rc == RP_OK)
        rc = s_connect(r, errbuf, errlen);
    if (rc != RP_OK) {
        relay_js_destroy(&r);
        return rc;
    }
    *ret = r;
    return RP_OK;
}

void relay_js_revive(relay_js_t *r)
{
    char err[512];
    if (!natsConnection_IsClosed(r->nc))
        return;
    log_warnx("the NATS connection was closed: connecting again");
    s_disconnect(r);
    if (s_connect(r, err, sizeof(err)) != RP_OK)
        log_warnx("%s", err);
}

void relay_js_destroy(relay_js_t **self_p)
{
    relay_js_t *r;
    if (!self_p || !*self_p)
        return;
    r = *self_p;
    s_disconnect(r);
    natsOptions_Destroy(r->opts);
    pthread_mutex_destroy(&r->mu);
    if (r->wake_fd >= 0)
        close(r->wake_fd);
    free(r);
    *self_p = NULL;
}

bool relay_js_connected(relay_js_t *r)
{
    return r->nc && natsConnection_Status(r->nc) == NATS_CONN_STATUS_CONNECTED;
}

/* ---- the stream ---- */

static void s_stream_config(const relay_js_t *r, jsStreamConfig *sc, const char **subjects)
{
    jsStreamConfig_Init(sc);
    subjects[0] = RELAY_SUBJECTS;
    sc->Name = r->cfg->nats_stream;
    sc->Description = "rapport change stream (rapport-relay)";
    sc->Subjects = subjects;
    sc->SubjectsLen = 1;
    sc->Storage = js_FileStorage;
    sc->Retention = js_LimitsPolicy;
    sc->Replicas = r->cfg->nats_replicas;
    sc->MaxAge = r->cfg->nats_max_age * 1000000000LL;
    sc->MaxBytes = r->cfg->nats_max_bytes ? r->cfg->nats_max_bytes : -1;
    sc->Duplicates = r->cfg->nats_duplicate_window * 1000000000LL;
    sc->Discard = js_DiscardOld;
}

static rp_err s_unavailable(char *errbuf, size_t errlen, const char *what, natsStatus s,
                            jsErrCode jerr)
{
    snprintf(errbuf, errlen, "%s: %s (%s, JetStream error %d)", what, nats_GetLastError(NULL),
             natsStatus_GetText(s), (int)jerr);
    return RP_EUNAVAIL;
}

/* Bring an existing stream's limits to the configuration. */
static void s_update_limits(relay_js_t *r, const jsStreamConfig *have, jsStreamConfig *want)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s;

    if (have->Replicas == want->Replicas && have->MaxAge == want->MaxAge &&
        have->MaxBytes == want->MaxBytes && have->Duplicates == want->Duplicates)
        return;
    s = js_UpdateStream(&si, r->js, want, NULL, &jerr);
    if (s == NATS_OK)
        log_notice("stream %s updated: replicas %lld, max age %lld s, max bytes %lld, duplicate "
                   "window %lld s",
                   want->Name, (long long)want->Replicas, (long long)(want->MaxAge / 1000000000),
                   (long long)want->MaxBytes, (long long)(want->Duplicates / 1000000000));
    else
        log_warnx("stream %s: cannot apply the configured limits: %s (JetStream error %d)",
                  want->Name, nats_GetLastError(NULL), (int)jerr);
    jsStreamInfo_Destroy(si);
}

rp_err relay_js_ensure_stream(relay_js_t *r, char *errbuf, size_t errlen)
{
    jsStreamConfig want;
    const char *subjects[1];
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s;
    rp_err rc = RP_OK;

    s_stream_config(r, &want, subjects);
    s = js_GetStreamInfo(&si, r->js, want.Name, NULL, &jerr);
    if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr) {
        s = js_AddStream(&si, r->js, &want, NULL, &jerr);
        if (s != NATS_OK)
            return s_unavailable(errbuf, errlen, "cannot create the stream", s, jerr);
        log_notice("created stream %s (subjects %s, file storage, %lld replicas)", want.Name,
                   RELAY_SUBJECTS, (long long)want.Replicas);
        jsStreamInfo_Destroy(si);
        return RP_OK;
    }
    if (s != NATS_OK)
        return s_unavailable(errbuf, errlen, "cannot read the stream", s, jerr);
    if (si->Config->SubjectsLen != 1 || strcmp(si->Config->Subjects[0], RELAY_SUBJECTS) != 0) {
        size_t off = 0;
        off += (size_t)snprintf(errbuf, errlen, "stream %s has the subjects", want.Name);
        for (int i = 0; i < si->Config->SubjectsLen && off < errlen; i++)
            off += (size_t)snprintf(errbuf + off, errlen - off, "%s '%s'", i ? "," : "",
                                    si->Config->Subjects[i]);
        if (off < errlen)
            snprintf(errbuf + off, errlen - off,
                     ", not '%s' alone: set nats_stream to a stream of rapport's, or delete "
                     "this one",
                     RELAY_SUBJECTS);
        rc = RP_ECONFIG;
    } else {
        s_update_limits(r, si->Config, &want);
    }
    jsStreamInfo_Destroy(si);
    return rc;
}

rp_err relay_js_end(relay_js_t *r, relay_end_t *ret, char *errbuf, size_t errlen)
{
    jsStreamInfo *si = NULL;
    natsMsg *m = NULL;
    jsErrCode jerr = 0;
    const char *v = NULL;
    natsStatus s = js_GetStreamInfo(&si, r->js, r->cfg->nats_stream, NULL, &jerr);

    memset(ret, 0, sizeof(*ret));
    if (s != NATS_OK)
        return s_unavailable(errbuf, errlen, "cannot read the stream", s, jerr);
    ret->stream_seq = si->State.LastSeq;
    jsStreamInfo_Destroy(si);
    if (ret->stream_seq == 0)
        return RP_OK;
    s = js_GetMsg(&m, r->js, r->cfg->nats_stream, ret->stream_seq, NULL, &jerr);
    if (s != NATS_OK)
        return s_unavailable(errbuf, errlen, "cannot read the stream's last message", s, jerr);
    natsconn_header_u64(m, "Rapport-Seq", &ret->seq);
    natsconn_header_u64(m, "Rapport-Part", &ret->part);
    natsconn_header_u64(m, "Rapport-Term", &ret->term);
    ret->last = natsMsgHeader_Get(m, "Rapport-Last", &v) == NATS_OK && v && !strcmp(v, "true");
    if (natsMsgHeader_Get(m, "Nats-Msg-Id", &v) == NATS_OK && v) {
        size_t n = strcspn(v, ":");
        if (n < sizeof(ret->store_id)) {
            memcpy(ret->store_id, v, n);
            ret->store_id[n] = '\0';
        }
    }
    natsMsg_Destroy(m);
    return RP_OK;
}

/* ---- publishing ---- */

rp_err relay_js_publish(relay_js_t *r, const relay_msg_t *pm, uint64_t expect_last)
{
    natsMsg *m = NULL;
    jsPubOptions po;
    char num[24];
    natsStatus s = natsMsg_Create(&m, pm->subject, NULL, pm->data, (int)pm->len);

    jsPubOptions_Init(&po);
    /* No MaxWait: a timer per message costs, and the relay's loop notices
     * acks that stop coming (relay.c, ACK_STALL_MS). */
    po.MsgId = pm->msg_id;
    /* Set by hand: libnats leaves out an expected last sequence of 0,
     * which an empty stream needs. */
    snprintf(num, sizeof(num), "%llu", (unsigned long long)expect_last);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(m, "Nats-Expected-Last-Sequence", num);
    snprintf(num, sizeof(num), "%llu", (unsigned long long)pm->seq);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(m, "Rapport-Seq", num);
    snprintf(num, sizeof(num), "%llu", (unsigned long long)pm->part);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(m, "Rapport-Part", num);
    snprintf(num, sizeof(num), "%llu", (unsigned long long)pm->term);
    if (s == NATS_OK && pm->term)
        s = natsMsgHeader_Set(m, "Rapport-Term", num);
    if (s == NATS_OK && pm->type)
        s = natsMsgHeader_Set(m, "Rapport-Type", pm->type);
    if (s == NATS_OK && pm->last)
        s = natsMsgHeader_Set(m, "Rapport-Last", "true");
    if (s == NATS_OK && pm->gap)
        s = natsMsgHeader_Set(m, "Rapport-Gap", pm->gap);
    if (s == NATS_OK && pm->prev_msg_id)
        s = natsMsgHeader_Set(m, "Nats-Expected-Last-Msg-Id", pm->prev_msg_id);
    if (s != NATS_OK) {
        natsMsg_Destroy(m);
        return RP_ENOMEM;
    }
    pthread_mutex_lock(&r->mu);
    r->acks.pending++;
    pthread_mutex_unlock(&r->mu);
    r->published = true;
    s = js_PublishMsgAsync(r->js, &m, &po);
    if (s != NATS_OK) {
        pthread_mutex_lock(&r->mu);
        r->acks.pending--;
        pthread_mutex_unlock(&r->mu);
        natsMsg_Destroy(m); /* NULL when libnats took it */
        return RP_EUNAVAIL;
    }
    return RP_OK;
}

int relay_js_wake_fd(const relay_js_t *r)
{
    return r->wake_fd;
}

void relay_js_wake_drain(relay_js_t *r)
{
    uint64_t n;
    if (r->wake_fd >= 0) {
        ssize_t got = read(r->wake_fd, &n, sizeof(n)); /* EAGAIN: nothing came */
        (void)got;
    }
    atomic_store(&r->wake_armed, true);
}

void relay_js_acks(relay_js_t *r, relay_acks_t *ret)
{
    pthread_mutex_lock(&r->mu);
    *ret = r->acks;
    pthread_mutex_unlock(&r->mu);
}

void relay_js_drop_pending(relay_js_t *r)
{
    natsMsgList list;
    if (r->published && js_PublishAsyncGetPendingList(&list, r->js) == NATS_OK)
        natsMsgList_Destroy(&list);
    pthread_mutex_lock(&r->mu);
    r->acks.pending = 0;
    r->fail_from = 0;
    /* A new pipeline: the stream may have lost what was acked before. */
    r->acks.acked_stream_seq = 0;
    pthread_mutex_unlock(&r->mu);
}

void relay_js_flush(relay_js_t *r, int timeout_ms)
{
    jsPubOptions po;
    if (!r->published)
        return;
    jsPubOptions_Init(&po);
    po.MaxWait = timeout_ms;
    (void)js_PublishAsyncComplete(r->js, &po);
}

void relay_subject_token(const char *in, char *out, size_t size)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    if (!size)
        return;
    if (!*in && size > 1)
        out[o++] = '%';
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || *p == '_' || *p == '-';
        if (plain && o + 1 < size) {
            out[o++] = (char)*p;
        } else if (!plain && o + 3 < size) {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        } else {
            break;
        }
    }
    out[o] = '\0';
}
