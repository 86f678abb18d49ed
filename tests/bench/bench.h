/* bench: internal interface of rapport-bench, shared by its files.
 *
 * bench.c         options, the scenarios S1..S6 and their same-run baselines
 * bench_proc.c    the real workers as child processes (fork/exec, READY=1 on
 *                 a notify socket of our own, stop) and the RssAnon sampler
 * bench_report.c  statistics, the tables and bench.json
 *
 * The harness measures; it never asserts timing. Sanity checks (counts
 * that must match) make a run fail, unmet targets do not. */
#ifndef RAPPORT_BENCH_H
#define RAPPORT_BENCH_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "client.h"
#include "config.h"

#define BENCH_PATH_MAX 512

/* ---- workers (bench_proc.c) ---- */

typedef enum { BW_LOGWRITER, BW_INTERACTION, BW_SEGMENT, BW_COUNT } bench_worker_id_t;

typedef struct {
    const char *name; /* "logwriter", "interaction", "segment" */
    bool enabled;
    pid_t pid; /* 0 when not running */
    int notify_fd;
    char notify_path[BENCH_PATH_MAX + 32];
    char log_path[BENCH_PATH_MAX + 32];
    const char *sets[8]; /* --set key=value, static strings */
    size_t n_sets;
    double ready_s; /* fork+exec to READY=1 of the last start */
} bench_worker_t;

/* Workers sharing one temporary run dir and state dir. */
typedef struct {
    char dir[BENCH_PATH_MAX];
    char run_dir[BENCH_PATH_MAX + 16];
    char state_dir[BENCH_PATH_MAX + 16];
    const char *bin_dir;
    bool keep; /* keep the directory at the end */
    bench_worker_t w[BW_COUNT];
    void *zctx;
    config_t cfg; /* client side: defaults + endpoints of this cluster */
    client_t *c[BW_COUNT];
} bench_cluster_t;

/* Make the temporary directory under tmp_root and describe the workers
 * (none started). `which` is a bit per bench_worker_id_t. Returns 0, or -1
 * with a message printed. */
int bench_cluster_init(bench_cluster_t *cl, const char *tmp_root, const char *tag,
                       const char *bin_dir, unsigned which, bool keep, void *zctx);

/* Start a worker and wait (at most timeout_s) for READY=1 on its notify
 * socket; w->ready_s is then the time from fork to READY=1. 0 or -1. */
int bench_worker_start(bench_cluster_t *cl, bench_worker_id_t id, double timeout_s);

/* SIGTERM, wait (SIGKILL after timeout_s); returns the exit status or -1. */
int bench_worker_stop(bench_cluster_t *cl, bench_worker_id_t id, double timeout_s);

/* Start every enabled worker, and connect a client to each. 0 or -1. */
int bench_cluster_start(bench_cluster_t *cl);

/* Stop the workers, close the clients, remove the directory unless kept. */
void bench_cluster_destroy(bench_cluster_t *cl);

/* Print the last lines of a worker's log to stderr (after a failure). */
void bench_worker_log_tail(const bench_cluster_t *cl, bench_worker_id_t id);

/* Start another child (nats-server, rapport-relay) with stdout and stderr
 * to log_path, killed with the workers by bench_kill_all. Returns its pid,
 * or -1 (printed). */
pid_t bench_spawn(char *const argv[], char *const envp[], const char *log_path);

/* SIGTERM (SIGKILL when `kill9` or after timeout_s) and reap a child of
 * bench_spawn; returns its exit status or -1. */
int bench_reap(pid_t pid, bool kill9, double timeout_s);

/* Reap a child of bench_spawn that exits by itself (SIGKILL after
 * timeout_s); its exit status (128 + signal when killed). */
int bench_wait(pid_t pid, double timeout_s);

/* Kill every worker still running (exit paths and signals). */
void bench_kill_all(void);

/* Remove a directory tree (our temporary dirs only). */
void bench_rmtree(const char *path);

/* RssAnon sampler: a thread reading /proc/<pid>/status of up to BW_COUNT
 * processes every interval_ms and keeping the peak of each. */
typedef struct {
    pthread_t thread;
    pthread_mutex_t mu;
    pid_t pids[BW_COUNT];
    uint64_t peak_kb[BW_COUNT];
    uint64_t samples;
    int interval_ms;
    atomic_int stop;
    bool running;
} bench_rss_t;

int bench_rss_start(bench_rss_t *r, const bench_cluster_t *cl, int interval_ms);

/* Copy the peaks since the start or the last take into out (kB, 0 for a
 * process not sampled) and start a new phase. */
void bench_rss_take(bench_rss_t *r, uint64_t out_kb[BW_COUNT]);

void bench_rss_stop(bench_rss_t *r);

/* RssAnon of a process now (kB), 0 when unreadable. */
uint64_t bench_rss_anon_kb(pid_t pid);

/* A kB field of /proc/PID/status ("VmHWM", "RssAnon"), 0 when unreadable. */
uint64_t bench_status_kb(pid_t pid, const char *field);

/* CPU time (user + system) a process has used so far, in seconds; -1 when
 * unreadable. */
double bench_cpu_seconds(pid_t pid);

/* ---- time and statistics (bench_report.c) ---- */

double bench_now(void); /* monotonic seconds */

/* Nearest-rank percentile of sorted values (q in 0..1). */
double bench_percentile(const double *sorted, size_t n, double q);

void bench_sort(double *v, size_t n);

/* ---- report (bench_report.c) ---- */

enum { MET_NA = -1, MET_NO = 0, MET_YES = 1 };

/* One line of a scenario table. */
typedef struct {
    char scenario[8];
    char measure[96];
    char figure[48];
    char baseline[48];
    char ratio[32];
    char target[64];
    int met;
} bench_row_t;

/* Add a row (printf-style fields are formatted by the caller). */
void bench_row(const char *scenario, const char *measure, const char *figure, const char *baseline,
               const char *ratio, const char *target, int met);

/* Print the rows of one scenario (or every row with NULL) as a markdown
 * table. */
void bench_print_table(FILE *out, const char *scenario);

size_t bench_row_count(void);
const bench_row_t *bench_row_at(size_t i);

/* A tiny JSON writer: objects and arrays nest; keys are ignored inside
 * arrays. */
typedef struct {
    FILE *f;
    int depth;
    bool first[32];
    bool in_array[32];
} bench_json_t;

void bench_json_open(bench_json_t *j, FILE *f);
void bench_json_object(bench_json_t *j, const char *key);
void bench_json_array(bench_json_t *j, const char *key);
void bench_json_end(bench_json_t *j);
void bench_json_num(bench_json_t *j, const char *key, double v);
void bench_json_int(bench_json_t *j, const char *key, uint64_t v);
void bench_json_str(bench_json_t *j, const char *key, const char *v);
void bench_json_bool(bench_json_t *j, const char *key, bool v);
void bench_json_null(bench_json_t *j, const char *key);
void bench_json_close(bench_json_t *j);

/* The rows as a JSON array under key. */
void bench_json_rows(bench_json_t *j, const char *key);

/* Name of the filesystem holding path ("ext4", "tmpfs", ...). */
const char *bench_fs_type(const char *path);

/* nproc, memory, kernel, CPU model, date, the temporary dirs' filesystem
 * and $RAPPORT_BENCH_REV (set by deploy/bench.sh): into the current
 * object. */
void bench_json_machine(bench_json_t *j, const char *tmp_root, const char *load_start);

/* /proc/loadavg's three averages into buf; returns the 1-minute one. */
double bench_loadavg(char *buf, size_t len);

#endif
