/* bench_relay: internal interface of rapport-bench-relay.
 *
 * bench_relay.c      options, S7, S8, S9, the report
 * bench_relay_s2.c   the S2 load (N clients of CreateInteraction), and S2A:
 *                    S2 with ack_after_relay on and off at R1 and R3
 * bench_relay_env.c  the environment of one measurement: the workers
 *                    (bench_proc.c), nats-server (one, or three on
 *                    loopback) and rapport-relay; the requests it needs */
#ifndef RAPPORT_BENCH_RELAY_H
#define RAPPORT_BENCH_RELAY_H

#include <nats/nats.h>

#include "bench.h"

#include "rapport/v1/interaction.pb-c.h"
#include "rapport/v1/logwriter.pb-c.h"
#include "rapport/v1/segment.pb-c.h"

#define BENCH_RELAY_NATS_MAX 3

typedef struct {
    size_t s7_n, s9_n;
    size_t s4r_n; /* S4 on a replica: entries in the store */
    unsigned s4r_queries;
    double s8_seconds, s9_seconds;
    unsigned s9_clients, s9_rounds;
    double s2a_seconds;
    unsigned s2a_clients;
    const char *out, *tmp, *bin, *mode;
    const char *only;     /* NULL, or the scenarios to run ("S8,S9") */
    const char *nats_tmp; /* NULL, or where nats-server keeps its files (another disk) */
    bool r3;
    int relay_nice; /* S9's niced point: nice value of rapport-relay and nats-server */
    int env_nice;   /* that of the environment being started (0: as ours) */
} opts_t;

/* One measurement's processes. */
typedef struct {
    bench_cluster_t cl;
    pid_t nats[BENCH_RELAY_NATS_MAX];
    int port[BENCH_RELAY_NATS_MAX], cport[BENCH_RELAY_NATS_MAX];
    int n_nats;
    pid_t relay;
    int nice;                           /* opts_t's env_nice */
    char nats_dir[BENCH_PATH_MAX + 64]; /* nats-server's files: <nats_tmp>/<tag> or cl.dir */
    char url[256];
} env_t;

/* Sanity checks failed so far (the exit status). */
extern int bench_relay_failures;

/* Print a failed sanity check and count it. */
void bench_relay_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void bench_relay_sleep_ms(long ms);

/* Call with a fresh request_id; NULL (counted) on no reply or an error
 * Status. The caller frees the reply (wire_free). */
ProtobufCMessage *bench_relay_call(client_t *c, ProtobufCMessage *req,
                                   const ProtobufCMessageDescriptor *rd, const char *what);

/* Contacts <prefix>0000000.. imported and added to a new segment `no`
 * (template MAIL, salesperson SP1). 0 or -1. */
int bench_relay_segment(env_t *e, const char *no, char prefix, size_t n);
/* The same without the import: a new segment `no` of the contacts
 * <prefix>0000000.. imported before. */
int bench_relay_segment_of(env_t *e, const char *no, char prefix, size_t n);

/* LogSegment of `no` (n lines); *ret_s its time, request to reply. */
int bench_relay_log(env_t *e, const char *no, size_t n, double *ret_s);

/* The writer's rapport_relay_lag_events (-1 when unknown). */
double bench_relay_lag(env_t *e);

/* Until the lag is 0; *ret_t the time then. 0 or -1 (counted). */
int bench_relay_wait_drained(env_t *e, double timeout_s, double *ret_t);

/* A NATS connection to the first server (NULL on failure). */
natsConnection *bench_relay_nats_connect(const env_t *e);

/* The workers (the writer with nats_url when nats > 0) and the catalog;
 * with nats > 0 that many nats-servers and the relay at that many
 * replicas, ready. 0 or -1. */
int bench_relay_env_start(env_t *e, const opts_t *o, void *zctx, const char *tag, int nats);

/* One nats-server, for an environment started without (nats 0): the
 * writer does not use it. 0 or -1. */
int bench_relay_nats_start(env_t *e);
/* The same, with one more --set of the writer (a static string, or NULL). */
int bench_relay_env_start_with(env_t *e, const opts_t *o, void *zctx, const char *tag, int nats,
                               const char *writer_set);

/* Stop the relay (it must exit 0), the workers and nats-server. */
void bench_relay_env_stop(env_t *e);

/* ---- bench_relay_s2.c ---- */

typedef struct {
    uint64_t n; /* creates answered */
    double rate, p50_ms, p99_ms;
} bench_relay_s2_t;

/* `clients` threads, each with its own client and one CreateInteraction
 * (contact C0000000, template MAIL) in flight, for `seconds`. 0, or -1
 * when a create failed (counted). */
int bench_relay_s2_load(env_t *e, void *zctx, unsigned clients, double seconds,
                        bench_relay_s2_t *out);

/* S2A: measure, then add its rows; its figures into the JSON. */
void bench_relay_s2a(const opts_t *o, void *zctx);
void bench_relay_s2a_rows(const opts_t *o);
void bench_relay_s2a_json(bench_json_t *j);

#endif
