/* natsdump: the relay tests' window on a JetStream stream (libnats).
 *
 *   rapport-natsdump URL STREAM dump [SUBJECT_FILTER]
 *       every message of the stream (through an ordered consumer), one
 *       JSON object a line: stream_seq, subject, headers, data (hex);
 *   rapport-natsdump URL STREAM create SUBJECT
 *       a stream of one subject (file storage, one replica);
 *   rapport-natsdump URL STREAM delete-msg SEQ
 *       erase message SEQ (a hole in the stream);
 *   rapport-natsdump URL STREAM info
 *       {"msgs":..,"first_seq":..,"last_seq":..,"replicas":..,"leader":".."}
 *
 * Exit 0 on success, 1 on a NATS error (printed on stderr). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nats/nats.h>

static int s_fail(const char *what, natsStatus s)
{
    fprintf(stderr, "natsdump: %s: %s (%s)\n", what, natsStatus_GetText(s),
            nats_GetLastError(NULL));
    return 1;
}

static void s_json_string(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

static void s_print_msg(natsMsg *m, uint64_t stream_seq)
{
    const char **keys = NULL;
    int n = 0;
    const unsigned char *d = (const unsigned char *)natsMsg_GetData(m);

    printf("{\"stream_seq\":%llu,\"subject\":", (unsigned long long)stream_seq);
    s_json_string(natsMsg_GetSubject(m));
    printf(",\"headers\":{");
    if (natsMsgHeader_Keys(m, &keys, &n) == NATS_OK) {
        for (int i = 0; i < n; i++) {
            const char *v = "";
            natsMsgHeader_Get(m, keys[i], &v);
            if (i)
                putchar(',');
            s_json_string(keys[i]);
            putchar(':');
            s_json_string(v ? v : "");
        }
        free((void *)keys);
    }
    printf("},\"data\":\"");
    for (int i = 0; i < natsMsg_GetDataLength(m); i++)
        printf("%02x", d[i]);
    printf("\"}\n");
}

static int s_dump(jsCtx *js, const char *stream, const char *filter)
{
    jsStreamInfo *si = NULL;
    natsSubscription *sub = NULL;
    jsSubOptions so;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, js, stream, NULL, &jerr);
    uint64_t last;
    int rc = 0;

    if (s != NATS_OK)
        return s_fail("stream info", s);
    last = si->State.LastSeq;
    jsStreamInfo_Destroy(si);
    if (last == 0)
        return 0;
    jsSubOptions_Init(&so);
    so.Stream = stream;
    so.Ordered = true;
    so.Config.DeliverPolicy = js_DeliverAll;
    s = js_SubscribeSync(&sub, js, filter ? filter : "rapport.v1.>", NULL, &so, &jerr);
    if (s != NATS_OK)
        return s_fail("subscribe", s);
    /* Printing is slower than delivery: never drop as a slow consumer. */
    natsSubscription_SetPendingLimits(sub, -1, -1);
    for (;;) {
        natsMsg *m = NULL;
        jsMsgMetaData *meta = NULL;
        s = natsSubscription_NextMsg(&m, sub, 10000);
        if (s == NATS_TIMEOUT && filter) /* a filter may match nothing more */
            break;
        if (s != NATS_OK) {
            rc = s_fail("next message", s);
            break;
        }
        if (natsMsg_GetMetaData(&meta, m) != NATS_OK) {
            natsMsg_Destroy(m);
            continue;
        }
        s_print_msg(m, meta->Sequence.Stream);
        {
            /* Up to the leader's last sequence: NumPending comes from the
             * replica serving the consumer, which may still catch up. */
            bool done = meta->Sequence.Stream >= last || (filter && meta->NumPending == 0);
            jsMsgMetaData_Destroy(meta);
            natsMsg_Destroy(m);
            if (done)
                break;
        }
    }
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
    return rc;
}

static int s_info(jsCtx *js, const char *stream)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetStreamInfo(&si, js, stream, NULL, &jerr);

    if (s != NATS_OK)
        return s_fail("stream info", s);
    printf("{\"msgs\":%llu,\"first_seq\":%llu,\"last_seq\":%llu,\"replicas\":%lld,\"subjects\":",
           (unsigned long long)si->State.Msgs, (unsigned long long)si->State.FirstSeq,
           (unsigned long long)si->State.LastSeq, (long long)si->Config->Replicas);
    s_json_string(si->Config->SubjectsLen ? si->Config->Subjects[0] : "");
    printf(",\"leader\":");
    s_json_string(si->Cluster && si->Cluster->Leader ? si->Cluster->Leader : "");
    printf("}\n");
    jsStreamInfo_Destroy(si);
    return 0;
}

static int s_create(jsCtx *js, const char *stream, const char *subject)
{
    jsStreamConfig sc;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s;

    jsStreamConfig_Init(&sc);
    sc.Name = stream;
    sc.Subjects = &subject;
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    s = js_AddStream(&si, js, &sc, NULL, &jerr);
    jsStreamInfo_Destroy(si);
    return s == NATS_OK ? 0 : s_fail("create", s);
}

/* Purge the stream, keeping its newest `keep` messages (0: all go). */
static int s_purge(jsCtx *js, const char *stream, uint64_t keep)
{
    jsOptions o;
    jsErrCode jerr = 0;
    natsStatus s;

    jsOptions_Init(&o);
    o.Stream.Purge.Keep = keep;
    s = js_PurgeStream(js, stream, &o, &jerr);
    return s == NATS_OK ? 0 : s_fail("purge", s);
}

/* Erase one message: a hole in the middle of the stream. */
static int s_delete_msg(jsCtx *js, const char *stream, const char *arg)
{
    char *end;
    unsigned long long seq;
    natsStatus s;

    errno = 0;
    seq = strtoull(arg, &end, 10);
    if (errno || end == arg || *end || seq == 0) {
        fprintf(stderr, "natsdump: delete-msg: not a stream sequence: %s\n", arg);
        return 2;
    }
    s = js_EraseMsg(js, stream, (uint64_t)seq, NULL, NULL);
    return s == NATS_OK ? 0 : s_fail("delete-msg", s);
}

int main(int argc, char **argv)
{
    natsConnection *nc = NULL;
    natsOptions *opts = NULL;
    jsCtx *js = NULL;
    natsStatus s;
    int rc;

    if (argc < 4) {
        fprintf(stderr, "usage: rapport-natsdump URL STREAM dump [FILTER] | info | create SUBJECT "
                        "| purge [KEEP] | delete | delete-msg SEQ | rmconsumer NAME\n");
        return 2;
    }
    s = natsOptions_Create(&opts);
    if (s == NATS_OK)
        s = natsOptions_SetURL(opts, argv[1]);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(opts, 5000);
    if (s == NATS_OK)
        s = natsConnection_Connect(&nc, opts);
    if (s != NATS_OK)
        return s_fail("connect", s);
    s = natsConnection_JetStream(&js, nc, NULL);
    if (s != NATS_OK)
        return s_fail("jetstream", s);
    if (!strcmp(argv[3], "dump"))
        rc = s_dump(js, argv[2], argc > 4 ? argv[4] : NULL);
    else if (!strcmp(argv[3], "create") && argc > 4)
        rc = s_create(js, argv[2], argv[4]);
    else if (!strcmp(argv[3], "info"))
        rc = s_info(js, argv[2]);
    else if (!strcmp(argv[3], "delete"))
        rc = js_DeleteStream(js, argv[2], NULL, NULL) == NATS_OK ? 0 : s_fail("delete", NATS_ERR);
    else if (!strcmp(argv[3], "delete-msg") && argc > 4)
        rc = s_delete_msg(js, argv[2], argv[4]);
    else if (!strcmp(argv[3], "rmconsumer") && argc > 4)
        rc = js_DeleteConsumer(js, argv[2], argv[4], NULL, NULL) == NATS_OK
                 ? 0
                 : s_fail("rmconsumer", NATS_ERR);
    else if (!strcmp(argv[3], "purge"))
        rc = s_purge(js, argv[2], argc > 4 ? strtoull(argv[4], NULL, 10) : 0);
    else
        rc = 2;
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(opts);
    nats_Close();
    return rc;
}
