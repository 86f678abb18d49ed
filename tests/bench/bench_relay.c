/* bench_relay: rapport-bench-relay, the change stream's benchmarks (S7, S8)
 * and the writer's S1/S2 with and without the relay, each next to its
 * baseline measured in the same run.
 *
 * S7  relay throughput for a segment log of N contacts, in entries/s from
 *     the writer's commit (the LogSegment reply) to the last JetStream ack
 *     (the writer's rapport_relay_lag_events back to 0), at R1 (one
 *     nats-server) and R3 (three on loopback). Baseline: a raw libnats
 *     async publish of as many messages of the same average size, with
 *     Nats-Msg-Id, to the same stream.
 * S8  a single interaction, from the interaction worker's reply to the
 *     event delivered to a JetStream push consumer, at 200 creates/s:
 *     p50 / p99.
 * S9  the writer's S1 (LogSegment of N) and S2 (8 clients of
 *     CreateInteraction) with NATS and the relay running, against the same
 *     on a cluster without them.
 * S10 a read replica (rapport-logwriter --replica) started empty after S7
 *     at R1, rebuilding from the whole stream: entries/s from its start to
 *     its answer to a read with min_seq = the primary's last seq, against
 *     the primary's own LogSegment of the same log in the same run (issue
 *     11's S9: the replica must apply faster than the primary logs); its
 *     peak memory; raw libnats pull and push consumers of the same
 *     messages as the ceiling.
 * S4r one contact's newest 50 on a replica restored from a backup of a
 *     10M-entry primary, against the same on the primary.
 * S2A S2 with ack_after_relay on, against off, at R1 and R3
 *     (bench_relay_s2.c).
 *
 * The real workers, nats-server and rapport-relay run as children on
 * temporary dirs and free loopback ports. Figures are printed and written
 * to --out (JSON); a failed sanity check (counts) exits 1, a target never
 * does. */
#include "bench_relay.h"

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>
#include <zmq.h>

#include "wire.h"

#include "rapport/v1/interaction.pb-c.h"
#include "rapport/v1/logwriter.pb-c.h"
#include "rapport/v1/segment.pb-c.h"

#define S9_ROUNDS_MAX 9

static struct {
    double s7_rate[2], s7_base[2], s7_secs[2], s7_msg_bytes[2];
    uint64_t s7_msgs[2];
    bool s7_done[2];
    double s8_p50, s8_p99, s8_max;
    size_t s8_n;
    /* S9 points: without the relay, with it, with it and nats-server niced */
    double s9_log[3], s9_rate[3], s9_p99[3];
    double s9_cpu_us[3][4]; /* CPU µs per interaction: writer, interaction, relay, nats */
    /* Each round's, and the ratios of each round's points to its point 0 */
    double s9_round[S9_ROUNDS_MAX][3][3 + 4]; /* log, rate, p99, cpu[4] */
    double s9_log_ratio[3], s9_rate_ratio[3];
    unsigned s9_rounds;
    double s10_secs, s10_log;         /* a replica's apply, the primary's LogSegment */
    uint64_t s10_hwm_kb, s10_anon_kb; /* the replica's peak RSS (VmHWM), peak RssAnon */
    double s10_raw_secs[2];           /* raw libnats pull, push consumers of the same messages */
    uint64_t s10_msgs;
    double s4r_p[3], s4r_base[3]; /* p50, p99, p999 (s): the replica's, the primary's */
    double s4r_build_s;
    size_t s4r_contacts;
    bool s4r_done;
} R;

/* ---- S7 ---- */

typedef struct {
    uint64_t acked, failed;
} raw_acks_t;

static void s_raw_ack(jsCtx *js, natsMsg *m, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    raw_acks_t *a = closure;
    (void)js;
    (void)pae;
    if (pa)
        __atomic_add_fetch(&a->acked, 1, __ATOMIC_RELAXED);
    else
        __atomic_add_fetch(&a->failed, 1, __ATOMIC_RELAXED);
    natsMsg_Destroy(m);
}

/* The baseline: n messages of `size` bytes, async, with Nats-Msg-Id. */
static double s_raw_publish(env_t *e, uint64_t n, size_t size)
{
    natsConnection *nc = bench_relay_nats_connect(e);
    raw_acks_t acks = {0, 0};
    jsOptions jo;
    jsCtx *js = NULL;
    char *data = calloc(1, size + 1);
    double t0, t = -1;

    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = 4096;
    jo.PublishAsync.AckHandler = s_raw_ack;
    jo.PublishAsync.AckHandlerClosure = &acks;
    if (!nc || !data || natsConnection_JetStream(&js, nc, &jo) != NATS_OK) {
        bench_relay_fail("baseline: cannot connect to NATS");
        goto out;
    }
    memset(data, 'x', size);
    t0 = bench_now();
    for (uint64_t i = 0; i < n;) {
        natsMsg *m = NULL;
        jsPubOptions po;
        char id[40];
        jsPubOptions_Init(&po);
        snprintf(id, sizeof(id), "raw:%llu", (unsigned long long)i);
        po.MsgId = id;
        if (natsMsg_Create(&m, "rapport.v1.bench.raw", NULL, data, (int)size) != NATS_OK)
            break;
        if (js_PublishMsgAsync(js, &m, &po) == NATS_OK)
            i++; /* else stalled at MaxPending: try again */
        natsMsg_Destroy(m);
    }
    {
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MaxWait = 120000;
        js_PublishAsyncComplete(js, &po);
    }
    t = bench_now() - t0;
    if (acks.acked != n)
        bench_relay_fail("baseline: %llu of %llu publishes acked", (unsigned long long)acks.acked,
                         (unsigned long long)n);
out:
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    free(data);
    return t;
}

static int s_stream_stats(env_t *e, uint64_t *msgs, uint64_t *bytes)
{
    natsConnection *nc = bench_relay_nats_connect(e);
    jsCtx *js = NULL;
    jsStreamInfo *si = NULL;
    natsStatus s = NATS_ERR;
    double deadline = bench_now() + 30;
    int rc = -1;

    if (nc && natsConnection_JetStream(&js, nc, NULL) == NATS_OK) {
        /* The relay reports no lag before it has made the stream: wait
         * for the stream a while. */
        while ((s = js_GetStreamInfo(&si, js, "RAPPORT", NULL, NULL)) == NATS_NOT_FOUND &&
               bench_now() < deadline)
            bench_relay_sleep_ms(50);
    }
    if (s == NATS_OK) {
        *msgs = si->State.Msgs;
        *bytes = si->State.Bytes;
        rc = 0;
    } else {
        bench_relay_fail("cannot read the state of stream RAPPORT: %s (%s)", natsStatus_GetText(s),
                         nats_GetLastError(NULL));
    }
    jsStreamInfo_Destroy(si);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return rc;
}

/* Whether child pid still runs (not reaped: bench_reap does that). */
static bool s_alive(pid_t pid)
{
    siginfo_t info = {0};
    return waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == 0;
}

/* S10's ceilings: a raw libnats consumer of the stream's first n
 * messages that does nothing with them, pull (fetches of RAW_FETCH, the
 * replica's batch, with an AckAll per batch, as the replica) or push (a
 * durable push consumer with flow control, an AckAll every RAW_FETCH):
 * seconds, or -1. */
#define RAW_FETCH 4096
static double s_raw_consume(env_t *e, uint64_t n, bool push)
{
    natsConnection *nc = bench_relay_nats_connect(e);
    natsSubscription *sub = NULL;
    jsCtx *js = NULL;
    jsSubOptions so;
    uint64_t got = 0;
    jsErrCode jerr = 0;
    natsStatus st = NATS_ERR;
    const char *name = push ? "bench-raw-push" : "bench-raw-pull";
    jsOptions jo;
    double t0, t = -1;

    jsSubOptions_Init(&so);
    so.Stream = "RAPPORT";
    so.Config.Durable = name;
    so.Config.DeliverPolicy = js_DeliverAll;
    so.Config.AckPolicy = js_AckAll;
    so.Config.MaxAckPending = 4 * RAW_FETCH;
    if (push) {
        so.Config.FlowControl = true;
        so.Config.Heartbeat = (int64_t)5000 * 1000000; /* ns */
        so.ManualAck = true;
    }
    t0 = bench_now();
    jsOptions_Init(&jo);
    jo.Wait = 60000; /* making a consumer on a 1M-message stream, on a loaded host */
    if (nc && natsConnection_JetStream(&js, nc, &jo) == NATS_OK)
        st = push ? js_SubscribeSync(&sub, js, "rapport.v1.>", NULL, &so, &jerr)
                  : js_PullSubscribe(&sub, js, "rapport.v1.>", name, NULL, &so, &jerr);
    if (st != NATS_OK) {
        bench_relay_fail("S10 ceiling: cannot consume the stream: %s (%s, JetStream error %d)",
                         nats_GetLastError(NULL), natsStatus_GetText(st), (int)jerr);
        goto out;
    }
    if (push)
        natsSubscription_SetPendingLimits(sub, -1, -1);
    while (got < n && bench_now() - t0 < 600) {
        natsMsgList list = {0};
        natsMsg *m = NULL;
        if (push && natsSubscription_NextMsg(&m, sub, 1000) == NATS_OK) {
            if (++got % RAW_FETCH == 0 || got == n)
                (void)natsMsg_Ack(m, NULL);
            natsMsg_Destroy(m);
        } else if (!push && natsSubscription_Fetch(&list, sub, RAW_FETCH, 1000, NULL) == NATS_OK &&
                   list.Count) {
            got += (uint64_t)list.Count;
            (void)natsMsg_Ack(list.Msgs[list.Count - 1], NULL);
        }
        natsMsgList_Destroy(&list);
    }
    if (got >= n)
        t = bench_now() - t0;
    else
        bench_relay_fail("S10 ceiling: %llu of %llu messages consumed", (unsigned long long)got,
                         (unsigned long long)n);
out:
    if (sub)
        (void)natsSubscription_Unsubscribe(sub); /* deletes the durable consumer */
    natsSubscription_Destroy(sub);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return t;
}

/* A replica of e's writer on <dir>/replica-state (empty, or a backup
 * restored there): *ret_s from its start until it has applied the
 * primary's last seq. With keep, it is left running for the caller, who
 * reads through keep->c and stops it with s_replica_stop. */
typedef struct {
    pid_t pid;
    client_t *c;
    char log[BENCH_PATH_MAX + 32];
} replica_t;

static void s_replica_stop(replica_t *rp)
{
    int st;

    client_destroy(&rp->c);
    if (rp->pid > 0 && (st = bench_reap(rp->pid, false, 30)) != 0) {
        char cmd[BENCH_PATH_MAX + 64];
        bench_relay_fail("the replica exited %d:", st);
        snprintf(cmd, sizeof(cmd), "tail -n 20 '%s' >&2", rp->log);
        (void)system(cmd);
    }
    rp->pid = 0;
}

static int s_replica_apply(env_t *e, void *zctx, double *ret_s, replica_t *keep)
{
    char exe[BENCH_PATH_MAX * 2], state[BENCH_PATH_MAX + 32];
    char ep[BENCH_PATH_MAX + 64], set_ep[BENCH_PATH_MAX + 96], set_pub[BENCH_PATH_MAX + 96];
    char url[300], err[256];
    char *argv[] = {exe,
                    wire_str("--run-dir"),
                    e->cl.run_dir,
                    wire_str("--state-dir"),
                    state,
                    wire_str("--replica"),
                    wire_str("--set"),
                    url,
                    wire_str("--set"),
                    set_ep,
                    wire_str("--set"),
                    set_pub,
                    NULL};
    char *env[] = {wire_str("RAPPORT_CONFIG=/dev/null"), wire_str("TZ=UTC"), NULL};
    Rapport__V1__LogRequest req = RAPPORT__V1__LOG_REQUEST__INIT;
    Rapport__V1__ReadEvents re = RAPPORT__V1__READ_EVENTS__INIT;
    Rapport__V1__LogReply *r;
    replica_t rp = {0, NULL, ""};
    uint64_t last, anon;
    double t0;
    int rc = -1;

    re.max = 1;
    req.command_case = RAPPORT__V1__LOG_REQUEST__COMMAND_READ_EVENTS;
    req.read_events = &re;
    r = (Rapport__V1__LogReply *)bench_relay_call(e->cl.c[BW_LOGWRITER], &req.base,
                                                  &rapport__v1__log_reply__descriptor, "last seq");
    if (!r)
        return -1;
    last = r->events->last_seq;
    wire_free(&r->base);
    snprintf(exe, sizeof(exe), "%s/rapport-logwriter", e->cl.bin_dir);
    snprintf(state, sizeof(state), "%s/replica-state", e->cl.dir);
    snprintf(rp.log, sizeof(rp.log), "%s/replica.log", e->cl.dir);
    snprintf(ep, sizeof(ep), "ipc://%s/replica.sock", e->cl.run_dir);
    snprintf(set_ep, sizeof(set_ep), "logwriter_endpoint=%s", ep);
    snprintf(set_pub, sizeof(set_pub), "events_endpoint=ipc://%s/replica-events.sock",
             e->cl.run_dir);
    snprintf(url, sizeof(url), "nats_url=%s", e->url);
    if (client_new(zctx, ep, &e->cl.cfg, &rp.c, err, sizeof(err)) != RP_OK) {
        bench_relay_fail("replica: %s", err);
        return -1;
    }
    t0 = bench_now();
    rp.pid = bench_spawn(argv, env, rp.log);
    req.min_seq = last;
    req.timeout_ms = 1000;
    /* Ask again every second while it lives (it exits 2 when it refuses
     * the stream). */
    while (rp.pid > 0 && rc != 0 && bench_now() - t0 < 1800 && s_alive(rp.pid)) {
        char rid[CLIENT_REQUEST_ID_LEN + 1];
        client_new_request_id(rid);
        req.request_id.data = (uint8_t *)rid;
        req.request_id.len = CLIENT_REQUEST_ID_LEN;
        req.user_id = wire_str("bench");
        r = NULL;
        if (client_call(rp.c, &req.base, &rapport__v1__log_reply__descriptor, 2000, 0,
                        (ProtobufCMessage **)&r) == RP_OK &&
            !(r->status && r->status->code) && r->seq >= last)
            rc = 0;
        if (r)
            wire_free(&r->base);
        anon = bench_status_kb(rp.pid, "RssAnon");
        if (!keep && anon > R.s10_anon_kb)
            R.s10_anon_kb = anon;
    }
    *ret_s = bench_now() - t0;
    if (rc == 0 && !keep)
        R.s10_hwm_kb = bench_status_kb(rp.pid, "VmHWM");
    if (rc != 0)
        bench_relay_fail("the replica did not apply seq %llu (see %s)", (unsigned long long)last,
                         rp.log);
    if (rc == 0 && keep)
        *keep = rp;
    else
        s_replica_stop(&rp);
    return rc;
}

static int s_s7(const opts_t *o, void *zctx, int replicas)
{
    int k = replicas == 1 ? 0 : 1;
    uint64_t m0 = 0, b0 = 0, m1 = 0, b1 = 0;
    double log_s, t_done;
    env_t e;
    int rc = -1;

    fprintf(stderr, "S7 at R%d: %zu contacts\n", replicas, o->s7_n);
    if (bench_relay_env_start(&e, o, zctx, replicas == 1 ? "s7r1" : "s7r3", replicas) < 0 ||
        bench_relay_segment(&e, "S7", 'A', o->s7_n) < 0 || s_stream_stats(&e, &m0, &b0) < 0)
        goto out;
    if (bench_relay_log(&e, "S7", o->s7_n, &log_s) < 0)
        goto out;
    {
        double t_commit = bench_now();
        if (bench_relay_wait_drained(&e, 1800, &t_done) < 0 || s_stream_stats(&e, &m1, &b1) < 0)
            goto out;
        R.s7_secs[k] = t_done - t_commit;
    }
    R.s7_msgs[k] = m1 - m0;
    R.s7_msg_bytes[k] = (double)(b1 - b0) / (double)(m1 - m0 ? m1 - m0 : 1);
    R.s7_rate[k] = (double)o->s7_n / R.s7_secs[k];
    if (R.s7_msgs[k] < o->s7_n + 2)
        bench_relay_fail("S7: the stream got %llu messages for %zu entries",
                         (unsigned long long)R.s7_msgs[k], o->s7_n);
    /* S10 before the baseline's messages, which are no change of rapport's. */
    if (replicas == 1 && s_replica_apply(&e, zctx, &R.s10_secs, NULL) == 0) {
        R.s10_log = log_s;
        R.s10_msgs = R.s7_msgs[k];
        R.s10_raw_secs[0] = s_raw_consume(&e, R.s7_msgs[k], false);
        R.s10_raw_secs[1] = s_raw_consume(&e, R.s7_msgs[k], true);
    }
    /* The baseline on the same servers and stream, the relay idle. */
    R.s7_base[k] =
        (double)R.s7_msgs[k] / s_raw_publish(&e, R.s7_msgs[k], (size_t)R.s7_msg_bytes[k]);
    R.s7_done[k] = true;
    rc = 0;
out:
    bench_relay_env_stop(&e);
    return rc;
}

/* ---- S4 on a replica ---- */

#define S4R_PER_CONTACT 50

/* rapport (the CLI) with args, until it exits: 0 when it exits 0. */
static int s_cli(env_t *e, const char *what, const char *a1, const char *a2, const char *a3,
                 const char *a4)
{
    char exe[BENCH_PATH_MAX * 2], log[BENCH_PATH_MAX + 32];
    char *argv[] = {exe, wire_str(a1), wire_str(a2), wire_str(a3), wire_str(a4), NULL};
    char *env[] = {wire_str("RAPPORT_CONFIG=/dev/null"), wire_str("TZ=UTC"), NULL};
    pid_t pid;
    int st;

    snprintf(exe, sizeof(exe), "%s/rapport", e->cl.bin_dir);
    snprintf(log, sizeof(log), "%s/%s.log", e->cl.dir, what);
    pid = bench_spawn(argv, env, log);
    st = pid > 0 ? bench_wait(pid, 1800) : -1;
    if (st != 0)
        bench_relay_fail("S4 replica: rapport %s exited %d (see %s)", what, st, log);
    return st == 0 ? 0 : -1;
}

/* One contact's newest 50: its latency, checked. */
static int s_s4r_query(client_t *c, size_t contact, double *ret_s)
{
    Rapport__V1__LogRequest req = RAPPORT__V1__LOG_REQUEST__INIT;
    Rapport__V1__ListEntries le = RAPPORT__V1__LIST_ENTRIES__INIT;
    Rapport__V1__EntryFilter f = RAPPORT__V1__ENTRY_FILTER__INIT;
    Rapport__V1__LogReply *r;
    char no[24];
    double t0;
    int rc = 0;

    snprintf(no, sizeof(no), "C%07zu", contact);
    f.contact_no = no;
    le.filter = &f;
    le.descending = true;
    le.limit = S4R_PER_CONTACT;
    req.command_case = RAPPORT__V1__LOG_REQUEST__COMMAND_LIST_ENTRIES;
    req.list_entries = &le;
    t0 = bench_now();
    r = (Rapport__V1__LogReply *)bench_relay_call(c, &req.base, &rapport__v1__log_reply__descriptor,
                                                  "list_entries");
    *ret_s = bench_now() - t0;
    if (!r)
        return -1;
    if (r->result_case != RAPPORT__V1__LOG_REPLY__RESULT_ENTRIES ||
        r->entries->n_entries != S4R_PER_CONTACT) {
        bench_relay_fail("S4 replica: contact %s: not %d entries", no, S4R_PER_CONTACT);
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < r->entries->n_entries; i++)
        if (strcmp(r->entries->entries[i]->contact_no, no) != 0 ||
            (i && r->entries->entries[i]->entry_no >= r->entries->entries[i - 1]->entry_no)) {
            bench_relay_fail("S4 replica: contact %s: another's entry, or not newest first", no);
            rc = -1;
        }
    wire_free(&r->base);
    return rc;
}

/* p50, p99, p999 of n random contacts' newest 50 on c (after a warm-up). */
static int s_s4r_measure(client_t *c, size_t contacts, unsigned n, double out[3])
{
    double *lat = calloc(n, sizeof(double));
    uint64_t x = 0x9e3779b97f4a7c15ull;
    int rc = lat ? 0 : -1;

    for (unsigned i = 0; rc == 0 && i < n + n / 10; i++) {
        double t;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        rc = s_s4r_query(c, (size_t)(x % contacts), &t);
        if (i >= n / 10)
            lat[i - n / 10] = t;
    }
    if (rc == 0) {
        bench_sort(lat, n);
        out[0] = bench_percentile(lat, n, 0.5);
        out[1] = bench_percentile(lat, n, 0.99);
        out[2] = bench_percentile(lat, n, 0.999);
    }
    free(lat);
    return rc;
}

/* S4 on a replica: a store of s4r_n entries (contacts of 50 each, one
 * LogSegment per round) built on a primary without the stream, its
 * `rapport backup` restored into a replica that follows a nats-server
 * from there; one contact's newest 50 on the replica, and on the primary
 * as the same-run baseline. */
static int s_s4r(const opts_t *o, void *zctx)
{
    char bdir[BENCH_PATH_MAX + 32], rstate[BENCH_PATH_MAX + 32];
    size_t contacts = o->s4r_n / S4R_PER_CONTACT;
    replica_t rp = {0, NULL, ""};
    double t0, secs;
    env_t e;
    int rc = -1;

    fprintf(stderr, "S4 on a replica: %zu entries (%zu contacts x %d)\n", o->s4r_n, contacts,
            S4R_PER_CONTACT);
    if (bench_relay_env_start(&e, o, zctx, "s4r", 0) < 0 ||
        bench_relay_segment(&e, "S4", 'C', contacts) < 0)
        goto out;
    t0 = bench_now();
    for (int l = 0; l < S4R_PER_CONTACT; l++) {
        char no[16];
        snprintf(no, sizeof(no), "S4-%d", l);
        if ((l && bench_relay_segment_of(&e, no, 'C', contacts) < 0) ||
            bench_relay_log(&e, l ? no : "S4", contacts, &secs) < 0)
            goto out;
    }
    R.s4r_build_s = bench_now() - t0;
    snprintf(bdir, sizeof(bdir), "%s/backup", e.cl.dir);
    snprintf(rstate, sizeof(rstate), "%s/replica-state", e.cl.dir);
    if (s_cli(&e, "backup", "backup", bdir, "--state-dir", e.cl.state_dir) < 0 ||
        s_cli(&e, "restore", "restore", bdir, "--state-dir", rstate) < 0 ||
        bench_relay_nats_start(&e) < 0 || s_replica_apply(&e, zctx, &secs, &rp) < 0)
        goto out;
    if (s_s4r_measure(rp.c, contacts, o->s4r_queries, R.s4r_p) < 0 ||
        s_s4r_measure(e.cl.c[BW_LOGWRITER], contacts, o->s4r_queries, R.s4r_base) < 0)
        goto out;
    R.s4r_contacts = contacts;
    R.s4r_done = true;
    rc = 0;
out:
    s_replica_stop(&rp);
    bench_relay_env_stop(&e);
    return rc;
}

/* ---- S8 ---- */

#define S8_MAX 100000

typedef struct {
    uint64_t first;
    int64_t *delivered; /* ns, by entry_no - first (the NATS thread writes) */
    double *replied;
    size_t cap;
} s8_t;

static void s_s8_on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
    s8_t *s = closure;
    int64_t now = (int64_t)(bench_now() * 1e9);
    Rapport__V1__Event *ev = rapport__v1__event__unpack(NULL, (size_t)natsMsg_GetDataLength(m),
                                                        (const uint8_t *)natsMsg_GetData(m));
    (void)nc;
    (void)sub;
    if (ev && ev->entry && ev->entry->entry_no >= s->first &&
        ev->entry->entry_no - s->first < s->cap)
        __atomic_store_n(&s->delivered[ev->entry->entry_no - s->first], now, __ATOMIC_RELEASE);
    rapport__v1__event__free_unpacked(ev, NULL);
    natsMsg_Destroy(m);
}

static int s_create(env_t *e, uint64_t *ret_no)
{
    Rapport__V1__InteractionRequest req = RAPPORT__V1__INTERACTION_REQUEST__INIT;
    Rapport__V1__CreateInteraction ci = RAPPORT__V1__CREATE_INTERACTION__INIT;
    Rapport__V1__InteractionFields f = RAPPORT__V1__INTERACTION_FIELDS__INIT;
    Rapport__V1__InteractionReply *r;

    f.contact_no = wire_str("B0000000");
    f.interaction_template_code = wire_str("MAIL");
    f.salesperson_code = wire_str("");
    ci.fields = &f;
    req.command_case = RAPPORT__V1__INTERACTION_REQUEST__COMMAND_CREATE_INTERACTION;
    req.create_interaction = &ci;
    r = (Rapport__V1__InteractionReply *)bench_relay_call(
        e->cl.c[BW_INTERACTION], &req.base, &rapport__v1__interaction_reply__descriptor,
        "create_interaction");
    if (!r)
        return -1;
    *ret_no = r->entry ? r->entry->entry_no : 0;
    wire_free(&r->base);
    return 0;
}

static int s_cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int s_s8(const opts_t *o, void *zctx)
{
    size_t n = (size_t)(o->s8_seconds * 200);
    s8_t s = {0, NULL, NULL, 0};
    natsConnection *nc = NULL;
    natsSubscription *sub = NULL;
    jsCtx *js = NULL;
    jsSubOptions so;
    double *lat = NULL, t0;
    uint64_t no;
    size_t got = 0;
    env_t e;
    int rc = -1;

    fprintf(stderr, "S8: %zu interactions at 200/s\n", n);
    if (n > S8_MAX)
        n = S8_MAX;
    if (bench_relay_env_start(&e, o, zctx, "s8", 1) < 0 ||
        bench_relay_segment(&e, "S8", 'B', 1) < 0 || s_create(&e, &no) < 0)
        goto out;
    s.first = no + 1;
    s.cap = n;
    s.delivered = calloc(n, sizeof(int64_t));
    s.replied = calloc(n, sizeof(double));
    lat = calloc(n, sizeof(double));
    nc = bench_relay_nats_connect(&e);
    jsSubOptions_Init(&so);
    so.Config.DeliverPolicy = js_DeliverNew;
    so.Config.AckPolicy = js_AckNone;
    so.Stream = "RAPPORT";
    if (!s.delivered || !s.replied || !lat || !nc ||
        natsConnection_JetStream(&js, nc, NULL) != NATS_OK) {
        bench_relay_fail("S8: cannot connect to NATS");
        goto out;
    }
    for (int tries = 0;; tries++) {
        jsErrCode jerr = 0;
        if (js_Subscribe(&sub, js, "rapport.v1.event.interaction.logged", s_s8_on_msg, &s, NULL,
                         &so, &jerr) == NATS_OK)
            break;
        if (tries == 20) {
            bench_relay_fail("S8: cannot subscribe: %s (%d)", nats_GetLastError(NULL), (int)jerr);
            goto out;
        }
        bench_relay_sleep_ms(250);
    }
    t0 = bench_now();
    for (size_t i = 0; i < n; i++) {
        double due = t0 + (double)i / 200.0, now = bench_now();
        if (due > now)
            bench_relay_sleep_ms((long)((due - now) * 1000));
        if (s_create(&e, &no) < 0)
            goto out;
        if (no >= s.first && no - s.first < n)
            s.replied[no - s.first] = bench_now();
    }
    for (double end = bench_now() + 10; bench_now() < end;) {
        got = 0;
        for (size_t i = 0; i < n; i++)
            got += __atomic_load_n(&s.delivered[i], __ATOMIC_ACQUIRE) > 0;
        if (got == n)
            break;
        bench_relay_sleep_ms(20);
    }
    if (got != n)
        bench_relay_fail("S8: %zu of %zu interactions delivered", got, n);
    got = 0;
    for (size_t i = 0; i < n; i++)
        if (s.delivered[i] > 0 && s.replied[i] > 0)
            lat[got++] = (double)s.delivered[i] / 1e9 - s.replied[i];
    qsort(lat, got, sizeof(double), s_cmp_d);
    R.s8_n = got;
    R.s8_p50 = got ? bench_percentile(lat, got, 0.50) * 1000 : 0;
    R.s8_p99 = got ? bench_percentile(lat, got, 0.99) * 1000 : 0;
    R.s8_max = got ? lat[got - 1] * 1000 : 0;
    rc = 0;
out:
    if (sub) {
        natsSubscription_Unsubscribe(sub);
        natsSubscription_Destroy(sub);
    }
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    bench_relay_env_stop(&e);
    free(s.delivered);
    free(s.replied);
    free(lat);
    return rc;
}

/* ---- S9: the writer's S1 and S2 with and without the relay ---- */

/* CPU seconds so far of the writer, the interaction worker, the relay and
 * nats-server (0 for one not running). */
static void s_s9_cpu(const env_t *e, double out[4])
{
    pid_t pids[4] = {e->cl.w[BW_LOGWRITER].pid, e->cl.w[BW_INTERACTION].pid, e->relay,
                     e->n_nats ? e->nats[0] : 0};
    for (int i = 0; i < 4; i++)
        out[i] = pids[i] > 0 ? bench_cpu_seconds(pids[i]) : 0;
}

/* One S9 point: 0 without the relay, 1 with it, 2 with it and nats-server
 * at nice o->relay_nice (as the relay unit's Nice=). */
static int s_s9_point(const opts_t *o, void *zctx, int point)
{
    static const char *const what[3] = {"without the relay", "with the relay",
                                        "with the relay niced"};
    bench_relay_s2_t pt;
    double t_done, cpu0[4], cpu1[4];
    opts_t po = *o;
    env_t e;
    int rc = -1;

    po.env_nice = point == 2 ? o->relay_nice : 0;
    fprintf(stderr, "S9 %s: LogSegment of %zu, then %u clients for %.0f s\n", what[point], o->s9_n,
            o->s9_clients, o->s9_seconds);
    if (bench_relay_env_start(&e, &po, zctx, point ? "s9r" : "s9", point ? 1 : 0) < 0 ||
        bench_relay_segment(&e, "S9", 'C', o->s9_n) < 0 ||
        bench_relay_log(&e, "S9", o->s9_n, &R.s9_log[point]))
        goto out;
    if (point && bench_relay_wait_drained(&e, 1800, &t_done) < 0)
        goto out;
    s_s9_cpu(&e, cpu0);
    if (bench_relay_s2_load(&e, zctx, o->s9_clients, o->s9_seconds, &pt) < 0)
        goto out;
    /* What the relay and nats-server still owe for the load is its cost too. */
    if (point)
        bench_relay_wait_drained(&e, 600, &t_done);
    s_s9_cpu(&e, cpu1);
    for (int i = 0; i < 4 && pt.n; i++)
        R.s9_cpu_us[point][i] = (cpu1[i] - cpu0[i]) * 1e6 / (double)pt.n;
    R.s9_rate[point] = pt.rate;
    R.s9_p99[point] = pt.p99_ms;
    rc = 0;
out:
    bench_relay_env_stop(&e);
    return rc;
}

static double s_median(double *v, size_t n)
{
    qsort(v, n, sizeof(double), s_cmp_d);
    return n == 0 ? 0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* S9's rounds: without the relay, with it, with it niced (o->relay_nice),
 * the points of a round one after the other, so that a change of the
 * machine's load hits a round's points alike. The figures are each point's
 * medians over the rounds, the ratios the medians of each round's ratio. */
static void s_s9(const opts_t *o, void *zctx)
{
    int points = o->relay_nice ? 3 : 2;
    unsigned n = 0;

    for (unsigned k = 0; k < o->s9_rounds && k < S9_ROUNDS_MAX; k++) {
        bool ok = true;
        for (int p = 0; p < points && ok; p++)
            ok = s_s9_point(o, zctx, p) == 0;
        if (!ok)
            break;
        for (int p = 0; p < points; p++) {
            double *v = R.s9_round[n][p];
            fprintf(stderr,
                    "S9 round %u point %d: S1 %.3f s, S2 %.0f/s (p99 %.2f ms), CPU us per "
                    "interaction %.0f / %.0f / %.0f / %.0f\n",
                    n + 1, p, R.s9_log[p], R.s9_rate[p], R.s9_p99[p], R.s9_cpu_us[p][0],
                    R.s9_cpu_us[p][1], R.s9_cpu_us[p][2], R.s9_cpu_us[p][3]);
            v[0] = R.s9_log[p];
            v[1] = R.s9_rate[p];
            v[2] = R.s9_p99[p];
            memcpy(v + 3, R.s9_cpu_us[p], sizeof(R.s9_cpu_us[p]));
        }
        n++;
    }
    R.s9_rounds = n;
    for (int p = 0; p < points && n; p++) {
        double v[S9_ROUNDS_MAX], lr[S9_ROUNDS_MAX], rr[S9_ROUNDS_MAX];
        for (int f = 0; f < 7; f++) {
            for (unsigned k = 0; k < n; k++)
                v[k] = R.s9_round[k][p][f];
            v[0] = s_median(v, n);
            if (f == 0)
                R.s9_log[p] = v[0];
            else if (f == 1)
                R.s9_rate[p] = v[0];
            else if (f == 2)
                R.s9_p99[p] = v[0];
            else
                R.s9_cpu_us[p][f - 3] = v[0];
        }
        for (unsigned k = 0; k < n; k++) {
            lr[k] = R.s9_round[k][p][0] / R.s9_round[k][0][0];
            rr[k] = R.s9_round[k][p][1] / R.s9_round[k][0][1];
        }
        R.s9_log_ratio[p] = s_median(lr, n);
        R.s9_rate_ratio[p] = s_median(rr, n);
    }
}

/* ---- report and main ---- */

static void s_rows(const opts_t *o)
{
    char fig[64], base[64], ratio[32], m[96];
    for (int k = 0; k < 2; k++) {
        double msg_rate, r;
        if (!R.s7_done[k])
            continue;
        msg_rate = (double)R.s7_msgs[k] / R.s7_secs[k];
        r = msg_rate / R.s7_base[k];
        snprintf(m, sizeof(m), "relay of a %zu-contact log at R%d: entries/s (messages/s)", o->s7_n,
                 k ? 3 : 1);
        snprintf(fig, sizeof(fig), "%.0f/s (%.0f msgs/s, %.1f s)", R.s7_rate[k], msg_rate,
                 R.s7_secs[k]);
        snprintf(base, sizeof(base), "%.0f msgs/s (%.0f B each)", R.s7_base[k], R.s7_msg_bytes[k]);
        snprintf(ratio, sizeof(ratio), "%.2fx", r);
        bench_row("S7", m, fig, base, ratio, ">= 0.7x baseline", r >= 0.7 ? MET_YES : MET_NO);
    }
    if (R.s8_n) {
        snprintf(fig, sizeof(fig), "%.2f / %.2f ms (max %.2f)", R.s8_p50, R.s8_p99, R.s8_max);
        bench_row("S8", "interaction to push consumer at 200/s, R1: p50 / p99", fig, NULL, NULL,
                  "p99 <= 25 ms", R.s8_p99 <= 25 ? MET_YES : MET_NO);
    }
    for (int p = 1; p < 3; p++) {
        const char *how = p == 2 ? "the relay and NATS niced" : "the relay";
        if (R.s9_log[0] > 0 && R.s9_log[p] > 0) {
            double r = R.s9_log_ratio[p];
            snprintf(m, sizeof(m), "S1 LogSegment %zu contacts with %s: time (median of %u)",
                     o->s9_n, how, R.s9_rounds);
            snprintf(fig, sizeof(fig), "%.3f s", R.s9_log[p]);
            snprintf(base, sizeof(base), "%.3f s without", R.s9_log[0]);
            snprintf(ratio, sizeof(ratio), "%.2fx", r);
            bench_row("S9", m, fig, base, ratio, "<= 1.10x", r <= 1.10 ? MET_YES : MET_NO);
        }
        if (R.s9_rate[0] > 0 && R.s9_rate[p] > 0) {
            double r = R.s9_rate_ratio[p];
            const double *cpu = R.s9_cpu_us[p];
            snprintf(m, sizeof(m),
                     "S2 CreateInteraction, %u clients, %.0f s, with %s: rate (p99), median of %u",
                     o->s9_clients, o->s9_seconds, how, R.s9_rounds);
            snprintf(fig, sizeof(fig), "%.0f/s (%.2f ms)", R.s9_rate[p], R.s9_p99[p]);
            snprintf(base, sizeof(base), "%.0f/s (%.2f ms) without", R.s9_rate[0], R.s9_p99[0]);
            snprintf(ratio, sizeof(ratio), "%.2fx", r);
            bench_row("S9", m, fig, base, ratio, ">= 0.90x", r >= 0.90 ? MET_YES : MET_NO);
            snprintf(m, sizeof(m),
                     "S2 with %s: CPU us per interaction, writer / interaction / relay / NATS",
                     how);
            snprintf(fig, sizeof(fig), "%.0f / %.0f / %.0f / %.0f", cpu[0], cpu[1], cpu[2], cpu[3]);
            snprintf(base, sizeof(base), "%.0f / %.0f without", R.s9_cpu_us[0][0],
                     R.s9_cpu_us[0][1]);
            bench_row("S9", m, fig, base, NULL, "-", MET_NA);
        }
    }
}

static void s_rows_replica(const opts_t *o)
{
    char fig[96], base[96], ratio[32], m[160];
    double rate, primary, r;

    if (R.s10_log <= 0)
        return;
    rate = (double)o->s7_n / R.s10_secs;
    primary = (double)o->s7_n / R.s10_log;
    r = rate / primary;
    snprintf(m, sizeof(m),
             "read replica started empty, applying the stream of a %zu-contact log: entries/s",
             o->s7_n);
    snprintf(fig, sizeof(fig), "%.0f/s (%.2f s)", rate, R.s10_secs);
    snprintf(base, sizeof(base), "%.0f/s primary's LogSegment (%.2f s)", primary, R.s10_log);
    snprintf(ratio, sizeof(ratio), "%.2fx", r);
    bench_row("S10", m, fig, base, ratio, ">= 1.5x", r >= 1.5 ? MET_YES : MET_NO);
    for (int p = 0; p < 2; p++) {
        double raw = (double)R.s10_msgs / R.s10_raw_secs[p];
        if (R.s10_raw_secs[p] <= 0)
            continue;
        snprintf(m, sizeof(m), "ceiling: the same %llu messages through a raw libnats %s consumer",
                 (unsigned long long)R.s10_msgs, p ? "push" : "pull");
        snprintf(fig, sizeof(fig), "replica %.0f msgs/s (%.2f s)", (double)R.s10_msgs / R.s10_secs,
                 R.s10_secs);
        snprintf(base, sizeof(base), "raw %.0f msgs/s (%.2f s), %.2fx the primary's rate", raw,
                 R.s10_raw_secs[p], R.s10_log / R.s10_raw_secs[p]);
        snprintf(ratio, sizeof(ratio), "%.2fx", R.s10_raw_secs[p] / R.s10_secs);
        bench_row("S10", m, fig, base, ratio, NULL, MET_NA);
    }
    if (R.s10_hwm_kb) {
        snprintf(m, sizeof(m), "the replica's peak memory applying the %zu-contact log", o->s7_n);
        snprintf(fig, sizeof(fig), "VmHWM %.0f MiB, RssAnon %.0f MiB",
                 (double)R.s10_hwm_kb / 1024.0, (double)R.s10_anon_kb / 1024.0);
        bench_row("S10", m, fig, NULL, NULL, "bounded", MET_NA);
    }
}

static void s_rows_s4r(const opts_t *o)
{
    char fig[96], base[96], ratio[32], m[160];

    if (!R.s4r_done)
        return;
    snprintf(m, sizeof(m),
             "replica from a backup, %zu entries: newest 50 of a contact, p50/p99/p999", o->s4r_n);
    snprintf(fig, sizeof(fig), "%.3f / %.3f / %.3f ms", R.s4r_p[0] * 1e3, R.s4r_p[1] * 1e3,
             R.s4r_p[2] * 1e3);
    snprintf(base, sizeof(base), "%.3f / %.3f / %.3f ms on the primary", R.s4r_base[0] * 1e3,
             R.s4r_base[1] * 1e3, R.s4r_base[2] * 1e3);
    snprintf(ratio, sizeof(ratio), "%.2fx", R.s4r_p[1] / R.s4r_base[1]);
    bench_row("S4r", m, fig, base, ratio, "p99 <= 1 ms", R.s4r_p[1] <= 0.001 ? MET_YES : MET_NO);
}

static int s_write_json(const opts_t *o, const char *load)
{
    FILE *f = fopen(o->out, "w");
    bench_json_t j;

    if (!f) {
        fprintf(stderr, "rapport-bench-relay: %s: %s\n", o->out, strerror(errno));
        return -1;
    }
    bench_json_open(&j, f);
    bench_json_str(&j, "mode", o->mode);
    bench_json_object(&j, "machine");
    bench_json_machine(&j, o->tmp, load);
    bench_json_str(&j, "nats_server", "2.9 (Debian)");
    bench_json_str(&j, "libnats", nats_GetVersion());
    bench_json_end(&j);
    bench_json_rows(&j, "rows");
    bench_relay_s2a_json(&j);
    bench_json_close(&j);
    fclose(f);
    return 0;
}

static void s_on_signal(int sig)
{
    bench_kill_all();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* A whole number in [min, max]; -1 (printed) otherwise. */
static int s_int(const char *opt, const char *v, long min, long max, long *ret)
{
    char *end;
    long n;

    errno = 0;
    n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < min || n > max) {
        fprintf(stderr, "rapport-bench-relay: %s wants a whole number from %ld to %ld, not '%s'\n",
                opt, min, max, v);
        return -1;
    }
    *ret = n;
    return 0;
}

/* Whether scenario `id` is to run (--only). */
static bool s_run(const opts_t *o, const char *id)
{
    size_t n = strlen(id);
    for (const char *p = o->only; p && *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && !strncmp(p, id, n))
            return true;
        p += len + (p[len] == ',');
    }
    return !o->only;
}

static int s_parse(opts_t *o, int argc, char **argv)
{
    memset(o, 0, sizeof(*o));
    o->s7_n = 1000000;
    o->s9_n = 100000;
    o->s4r_n = 10000000;
    o->s4r_queries = 2000;
    o->s8_seconds = 10;
    o->s9_seconds = 5;
    o->s9_clients = 8;
    o->out = "bench-relay.json";
    o->tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    o->bin = "build-release/bin";
    o->mode = "full";
    o->r3 = true;
    o->relay_nice = 10;
    o->s9_rounds = 3;
    o->s2a_seconds = 5;
    o->s2a_clients = 32;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--quick")) {
            o->mode = "quick";
            o->s7_n = 100000;
            o->s4r_n = 1000000;
            o->s8_seconds = 5;
            o->s9_seconds = 3;
            o->s2a_seconds = 3;
        } else if (!strcmp(a, "--smoke")) {
            o->mode = "smoke";
            o->s7_n = 2000;
            o->s4r_n = 5000;
            o->s4r_queries = 200;
            o->s9_n = 2000;
            o->s8_seconds = 0.5;
            o->s9_seconds = 0.5;
            o->s9_clients = 2;
            o->s9_rounds = 1;
            o->s2a_seconds = 0.5;
            o->s2a_clients = 2;
            o->r3 = false;
        } else if (i + 1 < argc && !strcmp(a, "--contacts")) {
            long n;
            if (s_int(a, argv[++i], 100, 100000000, &n) < 0)
                return 2;
            o->s7_n = (size_t)n;
        } else if (i + 1 < argc && !strcmp(a, "--out")) {
            o->out = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--tmp")) {
            o->tmp = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--bin-dir")) {
            o->bin = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--nats-tmp")) {
            o->nats_tmp = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--only")) {
            o->only = argv[++i];
        } else if (i + 1 < argc && !strcmp(a, "--relay-nice")) {
            long n;
            if (s_int(a, argv[++i], 0, 19, &n) < 0)
                return 2;
            o->relay_nice = (int)n;
        } else if (i + 1 < argc && !strcmp(a, "--s9-seconds")) {
            long n;
            if (s_int(a, argv[++i], 1, 3600, &n) < 0)
                return 2;
            o->s9_seconds = (double)n;
        } else if (i + 1 < argc && !strcmp(a, "--s9-rounds")) {
            long n;
            if (s_int(a, argv[++i], 1, S9_ROUNDS_MAX, &n) < 0)
                return 2;
            o->s9_rounds = (unsigned)n;
        } else if (i + 1 < argc && !strcmp(a, "--s2a-clients")) {
            long n;
            if (s_int(a, argv[++i], 1, 64, &n) < 0)
                return 2;
            o->s2a_clients = (unsigned)n;
        } else if (i + 1 < argc && !strcmp(a, "--s9-clients")) {
            long n;
            if (s_int(a, argv[++i], 1, 64, &n) < 0)
                return 2;
            o->s9_clients = (unsigned)n;
        } else {
            fprintf(stderr, "usage: rapport-bench-relay [--quick | --smoke] [--out FILE] "
                            "[--tmp DIR] [--bin-dir DIR]\n"
                            "       [--only S7,S8,S9,S10,S4r,S2A] [--contacts N (S7 and S10)] "
                            "[--relay-nice N (default 10, 0: "
                            "no niced S9 point)] [--s9-clients N] [--s9-seconds S]\n"
                            "       [--s9-rounds N (default 3)] [--nats-tmp DIR (nats-server's "
                            "files, default --tmp)] [--s2a-clients N (default 32)]\n"
                            "S7 (relay throughput at R1 and R3 against a raw libnats publish), "
                            "S8 (interaction to\npush consumer latency at 200/s) and S9 (the "
                            "writer's S1 and S2 with the relay, against\nwithout it), S10 (a "
                            "read replica applying the stream, against the primary's\nlog), S4r (a "
                            "replica restored from a backup: one contact's newest 50), S2A (S2 "
                            "with ack_after_relay\non and off at R1 and R3), each in the same run. "
                            "Needs nats-server (exit 77 without it).\n");
            return 2;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    opts_t o;
    char load[64];
    void *zctx;
    int rc = s_parse(&o, argc, argv);
    struct stat st;

    if (rc)
        return rc;
    if (stat("/usr/sbin/nats-server", &st) != 0) {
        fprintf(stderr, "rapport-bench-relay: nats-server is not installed: skipped\n");
        return 77;
    }
    signal(SIGINT, s_on_signal);
    signal(SIGTERM, s_on_signal);
    bench_loadavg(load, sizeof(load));
    zctx = zmq_ctx_new();
    if (s_run(&o, "S9"))
        s_s9(&o, zctx);
    if (s_run(&o, "S7") || s_run(&o, "S10"))
        s_s7(&o, zctx, 1);
    if (o.r3 && s_run(&o, "S7"))
        s_s7(&o, zctx, 3);
    if (s_run(&o, "S8"))
        s_s8(&o, zctx);
    if (s_run(&o, "S4r"))
        s_s4r(&o, zctx);
    if (s_run(&o, "S2A"))
        bench_relay_s2a(&o, zctx);
    zmq_ctx_term(zctx);
    s_rows(&o);
    s_rows_replica(&o);
    s_rows_s4r(&o);
    bench_relay_s2a_rows(&o);
    printf("\n## The change stream (%s run)\n\n", o.mode);
    bench_print_table(stdout, NULL);
    s_write_json(&o, load);
    nats_Close();
    return bench_relay_failures ? 1 : 0;
}
