/* rapport-subscriber: an example consumer of rapport's change stream.
 *
 * It reads the JetStream stream through a durable pull consumer on a
 * subject filter (rapport.v1.entry.> by default), applies each message, and
 * acks it only after applying it. Applying here means appending one line to
 * an output file and syncing it; the file's last line is also where the
 * consumer stands. A message whose (Rapport-Seq, Rapport-Part) is not after
 * the last applied one was applied before (JetStream redelivers what was
 * not acked when a consumer dies between applying and acking) and is acked
 * without applying it again: the processing is exactly once. Any consumer,
 * in any language, keeps the same rule next to whatever it writes.
 *
 *   rapport-subscriber --server nats://HOST:4222 --durable NAME --output FILE
 *       [--stream RAPPORT] [--filter SUBJECT] [--idle-exit SECONDS]
 *       [--ack-wait SECONDS]
 *
 * Output lines: "<seq> <part> <subject> <what>", where <what> is the entry
 * (entry_no, contact, canceled) or the event type. Exit 0 when idle for
 * --idle-exit seconds (default: run until SIGINT/SIGTERM), 1 on errors.
 * RAPPORT_FAULT=subscriber.after_fetch kills it after it fetched its first
 * batch, before applying it; RAPPORT_FAULT=subscriber.before_ack after it
 * applied it, before the acks (the tests' crash points). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nats/nats.h>

#include "rapport/v1/common.pb-c.h"

#define BATCH    500
#define FETCH_MS 1000

static volatile sig_atomic_t s_stop;

static void s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

typedef struct {
    const char *server, *stream, *durable, *filter, *output;
    long idle_exit, ack_wait;
} args_t;

typedef struct {
    FILE *out;
    unsigned long long seq, part; /* the last applied */
} state_t;

static unsigned long long s_header(natsMsg *m, const char *key)
{
    const char *v = NULL;
    char *end;
    unsigned long long n;
    if (natsMsgHeader_Get(m, key, &v) != NATS_OK || !v)
        return 0;
    errno = 0;
    n = strtoull(v, &end, 10);
    return errno || end == v || *end ? 0 : n;
}

/* Where the output file stands: its last line's seq and part. */
static int s_open_state(state_t *st, const char *path)
{
    char line[1024];
    FILE *in = fopen(path, "r");

    st->seq = st->part = 0;
    if (in) {
        while (fgets(line, sizeof(line), in)) {
            unsigned long long seq, part;
            if (sscanf(line, "%llu %llu", &seq, &part) == 2) {
                st->seq = seq;
                st->part = part;
            }
        }
        fclose(in);
    }
    st->out = fopen(path, "a");
    if (!st->out) {
        fprintf(stderr, "rapport-subscriber: %s: %s\n", path, strerror(errno));
        return 1;
    }
    return 0;
}

/* Apply one message unless it was applied before. */
static void s_apply(state_t *st, natsMsg *m)
{
    unsigned long long seq = s_header(m, "Rapport-Seq"), part = s_header(m, "Rapport-Part");
    const char *subject = natsMsg_GetSubject(m);
    const uint8_t *data = (const uint8_t *)natsMsg_GetData(m);
    size_t len = (size_t)natsMsg_GetDataLength(m);

    if (seq < st->seq || (seq == st->seq && part <= st->part))
        return; /* applied before: the ack was lost */
    if (strncmp(subject, "rapport.v1.entry.", 17) == 0) {
        Rapport__V1__Entry *e = rapport__v1__entry__unpack(NULL, len, data);
        if (e)
            fprintf(st->out, "%llu %llu %s entry %llu %s%s\n", seq, part, subject,
                    (unsigned long long)e->entry_no, e->contact_no, e->canceled ? " canceled" : "");
        rapport__v1__entry__free_unpacked(e, NULL);
    } else if (strncmp(subject, "rapport.v1.event.", 17) == 0) {
        Rapport__V1__Event *ev = rapport__v1__event__unpack(NULL, len, data);
        if (ev)
            fprintf(st->out, "%llu %llu %s event %s\n", seq, part, subject, ev->type);
        rapport__v1__event__free_unpacked(ev, NULL);
    } else {
        fprintf(st->out, "%llu %llu %s\n", seq, part, subject);
    }
    st->seq = seq;
    st->part = part;
}

/* The tests' crash points: RAPPORT_FAULT=name kills the process there. */
static void s_fault(const char *name)
{
    const char *f = getenv("RAPPORT_FAULT");
    if (f && !strcmp(f, name))
        raise(SIGKILL);
}

static int s_consume(const args_t *a, jsCtx *js, state_t *st)
{
    natsSubscription *sub = NULL;
    jsSubOptions so;
    jsErrCode jerr = 0;
    long idle_ms = 0;
    natsStatus s;

    jsSubOptions_Init(&so);
    so.Stream = a->stream;
    so.Config.AckPolicy = js_AckExplicit;
    /* At most one batch unacked: JetStream then delivers nothing new
     * before the messages of a batch that was fetched and not acked (a
     * kill before applying it, a failed fetch) come again, so no message
     * ever arrives after a later one was applied, and the skip rule holds. */
    so.Config.MaxAckPending = BATCH;
    so.Config.DeliverPolicy = js_DeliverAll;
    so.Config.AckWait = a->ack_wait * 1000000000LL; /* then unacked messages come again */
    s = js_PullSubscribe(&sub, js, a->filter, a->durable, NULL, &so, &jerr);
    if (s != NATS_OK) {
        fprintf(stderr, "rapport-subscriber: subscribe: %s (%d)\n", nats_GetLastError(NULL),
                (int)jerr);
        return 1;
    }
    while (!s_stop && (a->idle_exit <= 0 || idle_ms < a->idle_exit * 1000)) {
        natsMsgList list = {0};
        s = natsSubscription_Fetch(&list, sub, BATCH, FETCH_MS, &jerr);
        if (s == NATS_TIMEOUT) {
            idle_ms += FETCH_MS;
            continue;
        }
        if (s != NATS_OK) {
            fprintf(stderr, "rapport-subscriber: fetch: %s\n", nats_GetLastError(NULL));
            nats_Sleep(500);
            continue;
        }
        idle_ms = 0;
        /* Crash tests: fetched, not applied. */
        s_fault("subscriber.after_fetch");
        for (int i = 0; i < list.Count; i++)
            s_apply(st, list.Msgs[i]);
        /* Durable first, then acked: a crash in between only redelivers. */
        if (fflush(st->out) != 0 || fsync(fileno(st->out)) != 0) {
            fprintf(stderr, "rapport-subscriber: %s: %s\n", a->output, strerror(errno));
            natsMsgList_Destroy(&list);
            break;
        }
        /* Crash tests: applied and durable, not acked. */
        s_fault("subscriber.before_ack");
        for (int i = 0; i < list.Count; i++)
            natsMsg_Ack(list.Msgs[i], NULL);
        natsMsgList_Destroy(&list);
    }
    natsSubscription_Destroy(sub);
    return 0;
}

static int s_args(int argc, char **argv, args_t *a)
{
    a->stream = "RAPPORT";
    a->filter = "rapport.v1.entry.>";
    a->ack_wait = 30;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--server"))
            a->server = v;
        else if (!strcmp(k, "--stream"))
            a->stream = v;
        else if (!strcmp(k, "--durable"))
            a->durable = v;
        else if (!strcmp(k, "--filter"))
            a->filter = v;
        else if (!strcmp(k, "--output"))
            a->output = v;
        else if (!strcmp(k, "--idle-exit") || !strcmp(k, "--ack-wait")) {
            char *end;
            long n;
            errno = 0;
            n = strtol(v, &end, 10);
            if (errno || end == v || *end || n < 0)
                return 2;
            *(k[2] == 'i' ? &a->idle_exit : &a->ack_wait) = n;
        } else
            return 2;
    }
    return a->server && a->durable && a->output && argc % 2 == 1 ? 0 : 2;
}

int main(int argc, char **argv)
{
    args_t a = {0};
    state_t st = {0};
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    int rc;

    if (s_args(argc, argv, &a) != 0) {
        fprintf(stderr, "usage: rapport-subscriber --server URL --durable NAME --output FILE "
                        "[--stream RAPPORT] [--filter SUBJECT] [--idle-exit SECONDS] "
                        "[--ack-wait SECONDS]\n");
        return 2;
    }
    signal(SIGINT, s_on_signal);
    signal(SIGTERM, s_on_signal);
    if (s_open_state(&st, a.output) != 0)
        return 1;
    if (natsConnection_ConnectTo(&nc, a.server) != NATS_OK ||
        natsConnection_JetStream(&js, nc, NULL) != NATS_OK) {
        fprintf(stderr, "rapport-subscriber: %s: %s\n", a.server, nats_GetLastError(NULL));
        fclose(st.out);
        return 1;
    }
    rc = s_consume(&a, js, &st);
    fclose(st.out);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    nats_Close();
    return rc;
}
