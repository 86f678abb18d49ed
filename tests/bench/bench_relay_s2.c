/* bench_relay_s2: the S2 load of rapport-bench-relay (N clients, each with
 * one CreateInteraction in flight, for a while), and S2A: S2 with
 * ack_after_relay = on at R1 and at R3, each next to S2 with it off on the
 * same servers' setup in the same run.
 *
 * S2A  32 clients of CreateInteraction for s2a_seconds against the
 *      workers with the relay and nats-server (one, or three on loopback
 *      at R3): rate and p50 / p99 with ack_after_relay = on (each reply
 *      waits until the relay has confirmed its seq to the writer) against
 *      the same with it off. Target: p99 <= 15 ms at R3. */
#include "bench_relay.h"

#include <stdlib.h>
#include <string.h>

#include "wire.h"

#define S2_CLIENTS_MAX 64
#define S2_CAP         200000 /* latencies kept per client */

typedef struct {
    client_t *c;
    double end;
    uint64_t n, failed;
    double *lat;
} s2_client_t;

static void *s_s2_client(void *arg)
{
    s2_client_t *k = arg;
    Rapport__V1__InteractionRequest req = RAPPORT__V1__INTERACTION_REQUEST__INIT;
    Rapport__V1__CreateInteraction ci = RAPPORT__V1__CREATE_INTERACTION__INIT;
    Rapport__V1__InteractionFields f = RAPPORT__V1__INTERACTION_FIELDS__INIT;

    f.contact_no = wire_str("C0000000");
    f.interaction_template_code = wire_str("MAIL");
    ci.fields = &f;
    req.command_case = RAPPORT__V1__INTERACTION_REQUEST__COMMAND_CREATE_INTERACTION;
    req.create_interaction = &ci;
    while (bench_now() < k->end) {
        double t0 = bench_now();
        ProtobufCMessage *r = bench_relay_call(
            k->c, &req.base, &rapport__v1__interaction_reply__descriptor, "create");
        if (!r) {
            k->failed++;
            break;
        }
        wire_free(r);
        if (k->n < S2_CAP)
            k->lat[k->n] = bench_now() - t0;
        k->n++;
    }
    return NULL;
}

int bench_relay_s2_load(env_t *e, void *zctx, unsigned clients, double seconds,
                        bench_relay_s2_t *out)
{
    s2_client_t k[S2_CLIENTS_MAX];
    pthread_t th[S2_CLIENTS_MAX];
    unsigned nc = clients > S2_CLIENTS_MAX ? S2_CLIENTS_MAX : clients;
    uint64_t total = 0, failed = 0;
    double *all = calloc((size_t)S2_CAP * nc, sizeof(double)), end;
    size_t m = 0;

    memset(out, 0, sizeof(*out));
    if (!all)
        return -1;
    for (unsigned i = 0; i < nc; i++) {
        char err[256];
        k[i] = (s2_client_t){NULL, 0, 0, 0, all + (size_t)S2_CAP * i};
        if (client_new(zctx, e->cl.cfg.interaction_endpoint, &e->cl.cfg, &k[i].c, err,
                       sizeof(err)) != RP_OK) {
            bench_relay_fail("S2 client: %s", err);
            for (unsigned j = 0; j < i; j++)
                client_destroy(&k[j].c);
            free(all);
            return -1;
        }
    }
    end = bench_now() + seconds;
    for (unsigned i = 0; i < nc; i++) {
        k[i].end = end;
        pthread_create(&th[i], NULL, s_s2_client, &k[i]);
    }
    for (unsigned i = 0; i < nc; i++) {
        pthread_join(th[i], NULL);
        client_destroy(&k[i].c);
        total += k[i].n;
        failed += k[i].failed;
        for (size_t j = 0; j < k[i].n && j < S2_CAP; j++)
            all[m++] = k[i].lat[j];
    }
    bench_sort(all, m);
    out->n = total;
    out->rate = (double)total / seconds;
    out->p50_ms = m ? bench_percentile(all, m, 0.50) * 1000 : 0;
    out->p99_ms = m ? bench_percentile(all, m, 0.99) * 1000 : 0;
    free(all);
    return failed ? -1 : 0;
}

/* ---- S2A ---- */

static struct {
    bench_relay_s2_t pt[2][2]; /* [R1, R3][off, on] */
    bool done[2][2];
} A;

static int s_s2a_point(const opts_t *o, void *zctx, int replicas, bool ack)
{
    int k = replicas == 1 ? 0 : 1;
    char tag[16];
    env_t e;
    int rc = -1;

    snprintf(tag, sizeof(tag), "s2a%s%d", ack ? "on" : "off", replicas);
    fprintf(stderr, "S2A at R%d, ack_after_relay %s: %u clients for %.1f s\n", replicas,
            ack ? "on" : "off", o->s2a_clients, o->s2a_seconds);
    if (bench_relay_env_start_with(&e, o, zctx, tag, replicas,
                                   ack ? "ack_after_relay=on" : "ack_after_relay=off") < 0 ||
        bench_relay_segment(&e, "S2A", 'C', 1) < 0)
        goto out;
    if (bench_relay_s2_load(&e, zctx, o->s2a_clients, o->s2a_seconds, &A.pt[k][ack]) < 0)
        goto out;
    if (A.pt[k][ack].n == 0)
        bench_relay_fail("S2A: no create answered");
    A.done[k][ack] = true;
    rc = 0;
out:
    bench_relay_env_stop(&e);
    return rc;
}

void bench_relay_s2a(const opts_t *o, void *zctx)
{
    for (int r = 1; r <= 3; r += 2) {
        if (r == 3 && !o->r3)
            break;
        /* Off first, then on, on fresh servers each. */
        if (s_s2a_point(o, zctx, r, false) == 0)
            s_s2a_point(o, zctx, r, true);
    }
}

void bench_relay_s2a_rows(const opts_t *o)
{
    char fig[64], base[64], ratio[32], m[128];

    for (int k = 0; k < 2; k++) {
        const bench_relay_s2_t *on = &A.pt[k][1], *off = &A.pt[k][0];
        double r;
        if (!A.done[k][0] || !A.done[k][1])
            continue;
        r = on->rate / off->rate;
        snprintf(m, sizeof(m), "S2 %u clients, ack_after_relay on, R%d: rate (p50 / p99)",
                 o->s2a_clients, k ? 3 : 1);
        snprintf(fig, sizeof(fig), "%.0f/s (%.1f / %.1f ms)", on->rate, on->p50_ms, on->p99_ms);
        snprintf(base, sizeof(base), "%.0f/s (%.1f / %.1f ms) off", off->rate, off->p50_ms,
                 off->p99_ms);
        snprintf(ratio, sizeof(ratio), "%.2fx rate", r);
        bench_row("S2A", m, fig, base, ratio, k ? "p99 <= 15 ms" : NULL,
                  k ? (on->p99_ms <= 15 ? MET_YES : MET_NO) : MET_NA);
    }
}

void bench_relay_s2a_json(bench_json_t *j)
{
    bench_json_array(j, "s2a");
    for (int k = 0; k < 2; k++)
        for (int a = 0; a < 2; a++) {
            const bench_relay_s2_t *p = &A.pt[k][a];
            if (!A.done[k][a])
                continue;
            bench_json_object(j, NULL);
            bench_json_int(j, "replicas", k ? 3 : 1);
            bench_json_bool(j, "ack_after_relay", a);
            bench_json_int(j, "creates", p->n);
            bench_json_num(j, "rate_per_s", p->rate);
            bench_json_num(j, "p50_ms", p->p50_ms);
            bench_json_num(j, "p99_ms", p->p99_ms);
            bench_json_end(j);
        }
    bench_json_end(j);
}
