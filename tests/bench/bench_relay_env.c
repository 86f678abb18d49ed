/* bench_relay_env: the environment of one rapport-bench-relay measurement:
 * the real workers (bench_proc.c) on temporary dirs, nats-server (one, or
 * three clustered on loopback ports) and rapport-relay as children, and
 * the requests the scenarios need (catalog, contacts, segments, the
 * writer's lag). */
#include "bench_relay.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "wire.h"

#define CALL_MS 600000
#define CHUNK   10000

int bench_relay_failures;

void bench_relay_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "rapport-bench-relay: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    bench_relay_failures++;
}

void bench_relay_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int s_free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* ---- requests ---- */

ProtobufCMessage *bench_relay_call(client_t *c, ProtobufCMessage *req,
                                   const ProtobufCMessageDescriptor *rd, const char *what)
{
    const ProtobufCFieldDescriptor *f1 =
        protobuf_c_message_descriptor_get_field(req->descriptor, 1);
    const ProtobufCFieldDescriptor *f2 =
        protobuf_c_message_descriptor_get_field(req->descriptor, 2);
    char rid[CLIENT_REQUEST_ID_LEN + 1];
    ProtobufCMessage *reply = NULL;
    const Rapport__V1__Status *st;

    client_new_request_id(rid);
    ((ProtobufCBinaryData *)(void *)((char *)req + f1->offset))->data = (uint8_t *)rid;
    ((ProtobufCBinaryData *)(void *)((char *)req + f1->offset))->len = CLIENT_REQUEST_ID_LEN;
    *(char **)(void *)((char *)req + f2->offset) = wire_str("bench");
    if (client_call(c, req, rd, CALL_MS, 0, &reply) != RP_OK) {
        bench_relay_fail("%s: no reply", what);
        return NULL;
    }
    st = (const Rapport__V1__Status *)wire_msg_status(reply);
    if (st && st->code) {
        bench_relay_fail("%s: %s", what, st->message);
        wire_free(reply);
        return NULL;
    }
    return reply;
}

static int s_ix(env_t *e, Rapport__V1__InteractionRequest *req, const char *what)
{
    ProtobufCMessage *r = bench_relay_call(e->cl.c[BW_INTERACTION], &req->base,
                                           &rapport__v1__interaction_reply__descriptor, what);
    wire_free(r);
    return r ? 0 : -1;
}

static int s_seed(env_t *e)
{
    Rapport__V1__InteractionRequest req = RAPPORT__V1__INTERACTION_REQUEST__INIT;
    Rapport__V1__InteractionGroup g = RAPPORT__V1__INTERACTION_GROUP__INIT;
    Rapport__V1__InteractionTemplate t = RAPPORT__V1__INTERACTION_TEMPLATE__INIT;

    {
        Rapport__V1__Salesperson sp = RAPPORT__V1__SALESPERSON__INIT;
        sp.code = wire_str("SP1");
        sp.name = wire_str("Sales One");
        req.command_case = RAPPORT__V1__INTERACTION_REQUEST__COMMAND_PUT_SALESPERSON;
        req.put_salesperson = &sp;
        if (s_ix(e, &req, "put_salesperson") < 0)
            return -1;
    }
    g.code = wire_str("G1");
    g.description = wire_str("Letters");
    req.command_case = RAPPORT__V1__INTERACTION_REQUEST__COMMAND_PUT_GROUP;
    req.put_group = &g;
    if (s_ix(e, &req, "put_group") < 0)
        return -1;
    t.code = wire_str("MAIL");
    t.description = wire_str("Spring mailing letter");
    t.interaction_group_code = wire_str("G1");
    t.unit_cost_cents = 150;
    t.unit_duration_min = 5;
    t.information_flow = RAPPORT__V1__INFORMATION_FLOW__INFORMATION_FLOW_OUTBOUND;
    t.correspondence_type = RAPPORT__V1__CORRESPONDENCE_TYPE__CORRESPONDENCE_TYPE_EMAIL;
    req.command_case = RAPPORT__V1__INTERACTION_REQUEST__COMMAND_PUT_TEMPLATE;
    req.put_template = &t;
    return s_ix(e, &req, "put_template");
}

/* Contacts <prefix>0000000.. imported and added to a new segment. */
int bench_relay_segment(env_t *e, const char *no, char prefix, size_t n)
{
    Rapport__V1__Contact *cs = calloc(CHUNK, sizeof(*cs));
    Rapport__V1__Contact **ptrs = calloc(CHUNK, sizeof(*ptrs));
    char(*nos)[24] = calloc(CHUNK, 24);
    char **refs = calloc(CHUNK, sizeof(char *));
    int rc = cs && ptrs && nos && refs ? 0 : -1;

    for (size_t first = 0; rc == 0 && first < n; first += CHUNK) {
        Rapport__V1__InteractionRequest req = RAPPORT__V1__INTERACTION_REQUEST__INIT;
        Rapport__V1__ImportContacts im = RAPPORT__V1__IMPORT_CONTACTS__INIT;
        size_t k = n - first < CHUNK ? n - first : CHUNK;
        for (size_t j = 0; j < k; j++) {
            rapport__v1__contact__init(&cs[j]);
            snprintf(nos[j], 24, "%c%07zu", prefix, first + j);
            cs[j].no = nos[j];
            cs[j].name = nos[j];
            cs[j].type = RAPPORT__V1__CONTACT_TYPE__CONTACT_TYPE_COMPANY;
            cs[j].salesperson_code = wire_str("SP1");
            cs[j].correspondence_type = RAPPORT__V1__CORRESPONDENCE_TYPE__CORRESPONDENCE_TYPE_EMAIL;
            ptrs[j] = &cs[j];
        }
        im.contacts = ptrs;
        im.n_contacts = k;
        req.command_case = RAPPORT__V1__INTERACTION_REQUEST__COMMAND_IMPORT_CONTACTS;
        req.import_contacts = &im;
        rc = s_ix(e, &req, "import_contacts");
    }
    free(cs);
    free(ptrs);
    free(nos);
    free(refs);
    return rc == 0 ? bench_relay_segment_of(e, no, prefix, n) : rc;
}

int bench_relay_segment_of(env_t *e, const char *no, char prefix, size_t n)
{
    char(*nos)[24] = calloc(CHUNK, 24);
    char **refs = calloc(CHUNK, sizeof(char *));
    int rc = nos && refs ? 0 : -1;

    if (rc == 0) {
        Rapport__V1__SegmentRequest req = RAPPORT__V1__SEGMENT_REQUEST__INIT;
        Rapport__V1__CreateSegment cr = RAPPORT__V1__CREATE_SEGMENT__INIT;
        Rapport__V1__SegmentFields f = RAPPORT__V1__SEGMENT_FIELDS__INIT;
        ProtobufCMessage *r;
        cr.no = wire_str(no);
        f.description_opt_case = RAPPORT__V1__SEGMENT_FIELDS__DESCRIPTION_OPT_DESCRIPTION;
        f.description = wire_str("Bench segment");
        f.interaction_template_code_opt_case =
            RAPPORT__V1__SEGMENT_FIELDS__INTERACTION_TEMPLATE_CODE_OPT_INTERACTION_TEMPLATE_CODE;
        f.interaction_template_code = wire_str("MAIL");
        cr.fields = &f;
        req.command_case = RAPPORT__V1__SEGMENT_REQUEST__COMMAND_CREATE_SEGMENT;
        req.create_segment = &cr;
        r = bench_relay_call(e->cl.c[BW_SEGMENT], &req.base,
                             &rapport__v1__segment_reply__descriptor, "create_segment");
        rc = r ? 0 : -1;
        wire_free(r);
    }
    for (size_t first = 0; rc == 0 && first < n; first += CHUNK) {
        Rapport__V1__SegmentRequest req = RAPPORT__V1__SEGMENT_REQUEST__INIT;
        Rapport__V1__AddContacts ad = RAPPORT__V1__ADD_CONTACTS__INIT;
        ProtobufCMessage *r;
        size_t k = n - first < CHUNK ? n - first : CHUNK;
        for (size_t j = 0; j < k; j++) {
            snprintf(nos[j], 24, "%c%07zu", prefix, first + j);
            refs[j] = nos[j];
        }
        ad.segment_no = wire_str(no);
        ad.contact_nos = refs;
        ad.n_contact_nos = k;
        req.command_case = RAPPORT__V1__SEGMENT_REQUEST__COMMAND_ADD_CONTACTS;
        req.add_contacts = &ad;
        r = bench_relay_call(e->cl.c[BW_SEGMENT], &req.base,
                             &rapport__v1__segment_reply__descriptor, "add_contacts");
        rc = r ? 0 : -1;
        wire_free(r);
    }
    free(nos);
    free(refs);
    return rc;
}

/* LogSegment; *ret_s its time, request to reply. */
int bench_relay_log(env_t *e, const char *no, size_t n, double *ret_s)
{
    Rapport__V1__SegmentRequest req = RAPPORT__V1__SEGMENT_REQUEST__INIT;
    Rapport__V1__LogSegment ls = RAPPORT__V1__LOG_SEGMENT__INIT;
    Rapport__V1__SegmentReply *r;
    double t0 = bench_now();

    ls.segment_no = wire_str(no);
    req.command_case = RAPPORT__V1__SEGMENT_REQUEST__COMMAND_LOG_SEGMENT;
    req.log_segment = &ls;
    r = (Rapport__V1__SegmentReply *)bench_relay_call(
        e->cl.c[BW_SEGMENT], &req.base, &rapport__v1__segment_reply__descriptor, "log");
    *ret_s = bench_now() - t0;
    if (!r)
        return -1;
    if (r->result_case != RAPPORT__V1__SEGMENT_REPLY__RESULT_LOGGED || r->logged->entry_count != n)
        bench_relay_fail("LogSegment of %zu contacts logged %llu entries", n,
                         r->result_case ? (unsigned long long)r->logged->entry_count : 0ULL);
    wire_free(&r->base);
    return 0;
}

/* The writer's relay gauges: lag (-1 when unknown). */
double bench_relay_lag(env_t *e)
{
    Rapport__V1__LogRequest req = RAPPORT__V1__LOG_REQUEST__INIT;
    Rapport__V1__GetStats gs = RAPPORT__V1__GET_STATS__INIT;
    Rapport__V1__LogReply *r;
    double lag = -1;

    req.command_case = RAPPORT__V1__LOG_REQUEST__COMMAND_STATS;
    req.stats = &gs;
    r = (Rapport__V1__LogReply *)bench_relay_call(e->cl.c[BW_LOGWRITER], &req.base,
                                                  &rapport__v1__log_reply__descriptor, "stats");
    if (!r)
        return -1;
    for (size_t i = 0; r->stats && i < r->stats->n_gauges; i++)
        if (!strcmp(r->stats->gauges[i]->name, "rapport_relay_lag_events"))
            lag = r->stats->gauges[i]->value;
    wire_free(&r->base);
    return lag;
}

int bench_relay_wait_drained(env_t *e, double timeout_s, double *ret_t)
{
    double deadline = bench_now() + timeout_s;
    while (bench_now() < deadline) {
        if (bench_relay_lag(e) == 0) {
            *ret_t = bench_now();
            return 0;
        }
        bench_relay_sleep_ms(2);
    }
    bench_relay_fail("the relay did not drain within %.0f s", timeout_s);
    return -1;
}

/* ---- nats-server and the relay ---- */

extern char **environ;

natsConnection *bench_relay_nats_connect(const env_t *e)
{
    natsConnection *nc = NULL;
    char url[64];
    snprintf(url, sizeof(url), "nats://127.0.0.1:%d", e->port[0]);
    if (natsConnection_ConnectTo(&nc, url) != NATS_OK)
        return NULL;
    return nc;
}

/* JetStream answers (with a meta leader in a cluster): a probe stream at
 * the replicas asked can be made. */
static int s_nats_ready(const env_t *e, int replicas, double timeout_s)
{
    double deadline = bench_now() + timeout_s;
    while (bench_now() < deadline) {
        natsConnection *nc = bench_relay_nats_connect(e);
        jsCtx *js = NULL;
        jsStreamConfig sc;
        jsStreamInfo *si = NULL;
        const char *subj = "bench.probe";
        bool ok = false;
        if (nc && natsConnection_JetStream(&js, nc, NULL) == NATS_OK) {
            jsStreamConfig_Init(&sc);
            sc.Name = "PROBE";
            sc.Subjects = &subj;
            sc.SubjectsLen = 1;
            sc.Replicas = replicas;
            ok = js_AddStream(&si, js, &sc, NULL, NULL) == NATS_OK;
            jsStreamInfo_Destroy(si);
            if (ok)
                js_DeleteStream(js, "PROBE", NULL, NULL);
        }
        jsCtx_Destroy(js);
        natsConnection_Destroy(nc);
        if (ok)
            return 0;
        bench_relay_sleep_ms(100);
    }
    bench_relay_fail("nats-server did not get ready within %.0f s", timeout_s);
    return -1;
}

/* bench_spawn, under /usr/bin/nice -n e->nice when that is set: every
 * thread of the program (nats-server's and libnats's too) gets the lower
 * CPU weight, as Nice= gives the relay's systemd unit. */
static pid_t s_spawn(const env_t *e, char *const argv[], char *const envp[], const char *log)
{
    char *nargv[16], num[16];
    size_t i = 0;

    if (!e->nice)
        return bench_spawn(argv, envp, log);
    snprintf(num, sizeof(num), "%d", e->nice);
    nargv[i++] = wire_str("/usr/bin/nice");
    nargv[i++] = wire_str("-n");
    nargv[i++] = num;
    for (size_t j = 0; argv[j] && i + 1 < sizeof(nargv) / sizeof(nargv[0]); j++)
        nargv[i++] = argv[j];
    nargv[i] = NULL;
    return bench_spawn(nargv, envp, log);
}

static int s_nats_start(env_t *e, int n)
{
    size_t off = 0;

    e->n_nats = n;
    for (int i = 0; i < n; i++) {
        e->port[i] = s_free_port();
        e->cport[i] = s_free_port();
    }
    for (int i = 0; i < n; i++) {
        char conf[BENCH_PATH_MAX + 32], log[BENCH_PATH_MAX + 32], routes[256] = "";
        char *argv[] = {wire_str("/usr/sbin/nats-server"), wire_str("-c"), conf, NULL};
        FILE *f;
        snprintf(conf, sizeof(conf), "%s/nats%d.conf", e->cl.dir, i + 1);
        snprintf(log, sizeof(log), "%s/nats%d.log", e->cl.dir, i + 1);
        for (int j = 0, o = 0; j < n && n > 1; j++)
            o += snprintf(routes + o, sizeof(routes) - (size_t)o, "%snats://127.0.0.1:%d",
                          j ? "," : "", e->cport[j]);
        f = fopen(conf, "w");
        if (!f)
            return -1;
        fprintf(f, "server_name: n%d\nlisten: 127.0.0.1:%d\n", i + 1, e->port[i]);
        fprintf(f, "jetstream { store_dir: \"%s/js%d\", max_file_store: 16GB }\n", e->nats_dir,
                i + 1);
        if (n > 1)
            fprintf(f, "cluster { name: bench, listen: 127.0.0.1:%d, routes: [%s] }\n", e->cport[i],
                    routes);
        fclose(f);
        e->nats[i] = s_spawn(e, argv, environ, log);
        if (e->nats[i] < 0)
            return -1;
        off += (size_t)snprintf(e->url + off, sizeof(e->url) - off, "%snats://127.0.0.1:%d",
                                i ? "," : "", e->port[i]);
    }
    return s_nats_ready(e, n, 60);
}

int bench_relay_nats_start(env_t *e)
{
    return s_nats_start(e, 1);
}

/* rapport-relay on the cluster's dirs; ready once the writer reports a lag. */
static int s_relay_start(env_t *e, int replicas)
{
    char exe[BENCH_PATH_MAX * 2], log[BENCH_PATH_MAX + 32], url[300], rep[40];
    char *argv[] = {exe,
                    wire_str("--run-dir"),
                    e->cl.run_dir,
                    wire_str("--state-dir"),
                    e->cl.state_dir,
                    wire_str("--set"),
                    url,
                    wire_str("--set"),
                    rep,
                    NULL};
    char *env[] = {wire_str("RAPPORT_CONFIG=/dev/null"), wire_str("TZ=UTC"), NULL};
    double deadline = bench_now() + 60;

    snprintf(exe, sizeof(exe), "%s/rapport-relay", e->cl.bin_dir);
    snprintf(log, sizeof(log), "%s/relay.log", e->cl.dir);
    snprintf(url, sizeof(url), "nats_url=%s", e->url);
    snprintf(rep, sizeof(rep), "nats_replicas=%d", replicas);
    e->relay = s_spawn(e, argv, env, log);
    if (e->relay < 0)
        return -1;
    while (bench_now() < deadline) {
        if (bench_relay_lag(e) == 0)
            return 0;
        bench_relay_sleep_ms(20);
    }
    bench_relay_fail("rapport-relay did not confirm within 60 s (see %s)", log);
    return -1;
}

/* Workers (nats_url set: the writer holds events for the relay), and with
 * nats > 0 that many nats-servers and the relay at `replicas`. */
int bench_relay_env_start(env_t *e, const opts_t *o, void *zctx, const char *tag, int nats)
{
    return bench_relay_env_start_with(e, o, zctx, tag, nats, NULL);
}

int bench_relay_env_start_with(env_t *e, const opts_t *o, void *zctx, const char *tag, int nats,
                               const char *writer_set)
{
    static char set_url[300];
    bench_worker_t *lw = &e->cl.w[BW_LOGWRITER];

    memset(e, 0, sizeof(*e));
    e->nice = o->env_nice;
    if (bench_cluster_init(&e->cl, o->tmp, tag, o->bin, (1u << BW_COUNT) - 1, false, zctx) < 0)
        return -1;
    if (o->nats_tmp) {
        const char *base = strrchr(e->cl.dir, '/');
        snprintf(e->nats_dir, sizeof(e->nats_dir), "%s/%s-nats", o->nats_tmp,
                 base ? base + 1 : e->cl.dir);
        if (mkdir(e->nats_dir, 0700) != 0) {
            bench_relay_fail("%s: %s", e->nats_dir, strerror(errno));
            e->nats_dir[0] = '\0';
            return -1;
        }
    } else {
        snprintf(e->nats_dir, sizeof(e->nats_dir), "%s", e->cl.dir);
    }
    if (nats && s_nats_start(e, nats) < 0)
        return -1;
    if (nats) {
        snprintf(set_url, sizeof(set_url), "nats_url=%s", e->url);
        lw->sets[lw->n_sets++] = set_url;
    }
    if (writer_set)
        lw->sets[lw->n_sets++] = writer_set;
    if (bench_cluster_start(&e->cl) < 0 || s_seed(e) < 0)
        return -1;
    return nats ? s_relay_start(e, nats) : 0;
}

void bench_relay_env_stop(env_t *e)
{
    if (e->relay > 0 && bench_reap(e->relay, false, 30) != 0)
        bench_relay_fail("rapport-relay did not exit 0");
    e->relay = 0;
    bench_cluster_destroy(&e->cl);
    for (int i = 0; i < e->n_nats; i++)
        bench_reap(e->nats[i], false, 30);
    e->n_nats = 0;
    if (e->nats_dir[0] && strcmp(e->nats_dir, e->cl.dir) != 0)
        bench_rmtree(e->nats_dir);
    e->nats_dir[0] = '\0';
}
