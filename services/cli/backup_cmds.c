/* backup_cmds: `rapport backup DIR` and `rapport restore DIR`, run on the
 * machine of the workers' state dir, without talking to the workers.
 *
 * backup copies each worker's LMDB env (<state_dir>/<worker>) with
 * store_backup(): read-only, from one read transaction per env, compacted,
 * while the workers keep serving. The envs are copied in the order
 * interaction, segment, logwriter, so that the writer's copy, taken last,
 * holds at least every entry the other two copies can refer to (a segment
 * the segment worker's copy shows as LOGGING was either committed by the
 * writer before its copy or is logged again on resume). The manifest
 * DIR/rapport-backup.txt is written last: a directory without it is not a
 * complete backup, and restore refuses it.
 *
 * restore puts the copies back into a stopped state dir: it takes every
 * worker's worker.lock itself (so a running worker makes it refuse, and no
 * worker can start meanwhile), replaces each data.mdb through a renamed
 * temporary file and removes the stale lock.mdb. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "json.h"
#include "store.h"

#define BACKUP_MANIFEST     "rapport-backup.txt"
#define BACKUP_FORMAT       "1"
#define BACKUP_MANIFEST_MAX (64 * 1024)
#define BACKUP_PATH_MAX     (CONFIG_PATH_MAX + 64)

/* Copy order (see above). */
static const char *const s_workers[] = {"interaction", "segment", "logwriter"};

#define N_WORKERS (sizeof(s_workers) / sizeof(s_workers[0]))

/* The writer's counters (DBI "meta": last number taken) for the manifest. */
static const char *const s_counter_keys[] = {"entry", "seq", "logged_segment", "campaign_entry"};
static const char *const s_counter_names[] = {"last_entry_no", "last_event_seq",
                                              "last_logged_segment_no", "last_campaign_entry_no"};

#define N_COUNTERS (sizeof(s_counter_keys) / sizeof(s_counter_keys[0]))

static const cli_opt_t s_backup_opts[] = {
    {.name = "--state-dir", .local = CLI_LOCAL_STATE_DIR},
    {0},
};

/* "<a>/<b>" into buf; false when it does not fit. */
static bool s_join(char *buf, size_t size, const char *a, const char *b)
{
    int n = snprintf(buf, size, "%s/%s", a, b);
    return n > 0 && (size_t)n < size;
}

/* --state-dir, else the config's state_dir. */
static const char *s_state_dir(const cli_ctx_t *ctx)
{
    const char *dir = ctx->local[CLI_LOCAL_STATE_DIR];
    return dir && *dir ? dir : ctx->cfg.state_dir;
}

/* mkdir -p with mode 0750. */
static int s_mkdirs(const char *dir)
{
    char tmp[BACKUP_PATH_MAX];
    size_t len = strlen(dir);

    if (len == 0 || len >= sizeof(tmp)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(tmp, dir, len + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0750) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0750) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

static int s_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

static void s_utc_now(char *buf, size_t size)
{
    time_t now = time(NULL);
    struct tm tm;

    if (!gmtime_r(&now, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, size, "%lld", (long long)now);
}

/* SIGINT / SIGTERM set cli_stop instead of killing the process: a backup
 * then ends after the env it is copying (closing its read transaction in
 * the live env) and removes what it wrote; a restore finishes, so that it
 * never leaves the workers half restored. SA_RESTART: LMDB's copy does not
 * retry an interrupted write. */
static void s_on_signal(int sig)
{
    (void)sig;
    cli_stop = 1;
}

static void s_catch_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = s_on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* ---- backup --------------------------------------------------------------- */

typedef struct {
    char src[BACKUP_PATH_MAX];
    char dst[BACKUP_PATH_MAX];
    store_backup_info_t info;
} backup_worker_t;

typedef struct {
    const char *dir;
    char state_dir[BACKUP_PATH_MAX]; /* absolute when it exists */
    char created[32];
    backup_worker_t w[N_WORKERS];
    uint64_t counters[N_COUNTERS];
    uint64_t store_id; /* the writer's store id (its 8 bytes, big-endian) */
} backup_t;

/* DIR must be empty or missing (then it is created, parent first). Sets
 * *ret_created. Returns an exit code (message printed). */
static int s_backup_dir_prepare(const char *dir, bool *ret_created)
{
    struct stat sb;
    DIR *d;
    struct dirent *de;
    bool empty = true;

    if (stat(dir, &sb) != 0) {
        if (errno != ENOENT) {
            cli_warn("%s: %s", dir, strerror(errno));
            return CLI_EXIT_REFUSED;
        }
        if (mkdir(dir, 0750) != 0) {
            cli_warn("cannot create %s: %s", dir, strerror(errno));
            return CLI_EXIT_REFUSED;
        }
        *ret_created = true;
        return CLI_EXIT_OK;
    }
    if (!S_ISDIR(sb.st_mode)) {
        cli_warn("%s is not a directory", dir);
        return CLI_EXIT_REFUSED;
    }
    d = opendir(dir);
    if (!d) {
        cli_warn("%s: %s", dir, strerror(errno));
        return CLI_EXIT_REFUSED;
    }
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            empty = false;
            break;
        }
    closedir(d);
    if (!empty) {
        cli_warn("%s is not empty: a backup goes into a new or empty directory", dir);
        return CLI_EXIT_REFUSED;
    }
    *ret_created = false;
    return CLI_EXIT_OK;
}

/* Undo a failed backup: everything below DIR is ours (it was empty). */
static void s_backup_remove(const backup_t *b, bool created)
{
    char path[BACKUP_PATH_MAX + 32];

    for (size_t i = 0; i < N_WORKERS; i++) {
        if (s_join(path, sizeof(path), b->w[i].dst, "data.mdb"))
            unlink(path);
        rmdir(b->w[i].dst);
    }
    if (s_join(path, sizeof(path), b->dir, BACKUP_MANIFEST ".tmp"))
        unlink(path);
    if (created)
        rmdir(b->dir);
}

/* Write DIR/rapport-backup.txt through a temporary file, fsynced. */
static int s_manifest_write(const backup_t *b)
{
    char tmp[BACKUP_PATH_MAX + 32], path[BACKUP_PATH_MAX + 32];
    FILE *f;
    int fd, ok;

    if (!s_join(tmp, sizeof(tmp), b->dir, BACKUP_MANIFEST ".tmp") ||
        !s_join(path, sizeof(path), b->dir, BACKUP_MANIFEST)) {
        cli_warn("%s: path too long", b->dir);
        return -1;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0 || !(f = fdopen(fd, "w"))) {
        cli_warn("%s: %s", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    fprintf(f,
            "# rapport backup, written by `rapport backup` after the copies below;\n"
            "# restore it with `rapport restore DIR` into the stopped workers' state dir.\n"
            "format = " BACKUP_FORMAT "\n"
            "rapport_version = " RAPPORT_VERSION "\n"
            "created = %s\n"
            "state_dir = %s\n"
            "workers =",
            b->created, b->state_dir);
    for (size_t i = 0; i < N_WORKERS; i++)
        fprintf(f, " %s", s_workers[i]);
    fputc('\n', f);
    for (size_t i = 0; i < N_WORKERS; i++) {
        const backup_worker_t *w = &b->w[i];
        fprintf(f,
                "%s.source = %s\n%s.source_bytes = %" PRIu64 "\n%s.copy_bytes = %" PRIu64
                "\n%s.map_size = %" PRIu64 "\n",
                s_workers[i], w->src, s_workers[i], w->info.source_bytes, s_workers[i],
                w->info.copy_bytes, s_workers[i], w->info.map_size);
    }
    for (size_t i = 0; i < N_COUNTERS; i++)
        fprintf(f, "logwriter.%s = %" PRIu64 "\n", s_counter_names[i], b->counters[i]);
    /* What a read replica started from this backup follows (README "Read
     * replicas"): the stream of this store id, after last_event_seq. */
    fprintf(f, "logwriter.store_id = %016" PRIx64 "\n", b->store_id);
    ok = fflush(f) == 0 && !ferror(f) && fsync(fileno(f)) == 0;
    if (fclose(f) != 0)
        ok = 0;
    if (!ok || rename(tmp, path) != 0 || s_fsync_dir(b->dir) != 0) {
        cli_warn("%s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int s_backup_print(const cli_ctx_t *ctx, const backup_t *b)
{
    if (ctx->json) {
        json_writer_t w;

        json_writer_init(&w, stdout, true);
        json_object_begin(&w);
        json_key(&w, "dir");
        json_string(&w, b->dir);
        json_key(&w, "state_dir");
        json_string(&w, b->state_dir);
        json_key(&w, "created");
        json_string(&w, b->created);
        json_key(&w, "workers");
        json_array_begin(&w);
        for (size_t i = 0; i < N_WORKERS; i++) {
            json_object_begin(&w);
            json_key(&w, "worker");
            json_string(&w, s_workers[i]);
            json_key(&w, "source");
            json_string(&w, b->w[i].src);
            json_key(&w, "copy");
            json_string(&w, b->w[i].dst);
            json_key(&w, "source_bytes");
            json_uint(&w, b->w[i].info.source_bytes);
            json_key(&w, "copy_bytes");
            json_uint(&w, b->w[i].info.copy_bytes);
            json_object_end(&w);
        }
        json_array_end(&w);
        for (size_t i = 0; i < N_COUNTERS; i++) {
            json_key(&w, s_counter_names[i]);
            json_uint(&w, b->counters[i]);
        }
        json_object_end(&w);
        if (json_writer_end(&w) != 0) {
            cli_warn("write error on stdout");
            return CLI_EXIT_REFUSED;
        }
        return CLI_EXIT_OK;
    }
    printf("backup of %s in %s (%s)\n", b->state_dir, b->dir, b->created);
    for (size_t i = 0; i < N_WORKERS; i++)
        printf("  %-12s %" PRIu64 " bytes (live env %" PRIu64 " bytes)\n", s_workers[i],
               b->w[i].info.copy_bytes, b->w[i].info.source_bytes);
    printf("last entry no. %" PRIu64 ", last event seq %" PRIu64 "\n", b->counters[0],
           b->counters[1]);
    return cli_stdout_status();
}

static int s_backup(cli_ctx_t *ctx)
{
    backup_t b;
    char why[BACKUP_PATH_MAX + 256];
    bool created = false;
    int rc;

    memset(&b, 0, sizeof(b));
    b.dir = ctx->local[CLI_LOCAL_FILE];
    if (!b.dir || !*b.dir)
        return cli_usage_error(ctx, "missing DIR");
    {
        char *abs = realpath(s_state_dir(ctx), NULL); /* malloc'd: any length */
        int n;

        if (!abs) {
            cli_warn("state dir %s: %s", s_state_dir(ctx), strerror(errno));
            return CLI_EXIT_REFUSED;
        }
        n = snprintf(b.state_dir, sizeof(b.state_dir), "%s", abs);
        free(abs);
        if (n < 0 || (size_t)n >= sizeof(b.state_dir))
            return cli_usage_error(ctx, "state dir: path too long");
    }
    for (size_t i = 0; i < N_WORKERS; i++)
        if (!s_join(b.w[i].src, sizeof(b.w[i].src), b.state_dir, s_workers[i]) ||
            !s_join(b.w[i].dst, sizeof(b.w[i].dst), b.dir, s_workers[i]))
            return cli_usage_error(ctx, "path too long");
    rc = s_backup_dir_prepare(b.dir, &created);
    if (rc != CLI_EXIT_OK)
        return rc;
    s_utc_now(b.created, sizeof(b.created));
    s_catch_signals();
    for (size_t i = 0; i < N_WORKERS; i++) {
        rp_err err;

        if (cli_stop)
            goto out_interrupted;
        err = store_backup(b.w[i].src, b.w[i].dst, &b.w[i].info, why, sizeof(why));
        if (err != RP_OK) {
            cli_warn("backup of %s failed: %s", s_workers[i], why);
            if (err == RP_ENOTFOUND)
                cli_warn("(is %s the workers' state dir? see --state-dir)", b.state_dir);
            s_backup_remove(&b, created);
            return CLI_EXIT_REFUSED;
        }
    }
    if (store_backup_counters(b.w[N_WORKERS - 1].dst, "meta", s_counter_keys, N_COUNTERS,
                              b.counters, why, sizeof(why)) != RP_OK ||
        store_backup_counters(b.w[N_WORKERS - 1].dst, "meta", (const char *const[]){"stream_id"}, 1,
                              &b.store_id, why, sizeof(why)) != RP_OK) {
        cli_warn("reading the copy of the log writer failed: %s", why);
        s_backup_remove(&b, created);
        return CLI_EXIT_REFUSED;
    }
    if (cli_stop)
        goto out_interrupted;
    if (s_manifest_write(&b) != 0) {
        s_backup_remove(&b, created);
        return CLI_EXIT_REFUSED;
    }
    return s_backup_print(ctx, &b);

out_interrupted:
    cli_warn("interrupted: the partial backup in %s was removed", b.dir);
    s_backup_remove(&b, created);
    return CLI_EXIT_REFUSED;
}

/* ---- restore -------------------------------------------------------------- */

typedef struct {
    char src[BACKUP_PATH_MAX];     /* DIR/<worker>/data.mdb */
    char dst_dir[BACKUP_PATH_MAX]; /* <state_dir>/<worker> */
    struct stat dir_st;            /* its owner is given the restored files */
    int lock_fd;
    uint64_t bytes;
} restore_worker_t;

/* The value of `key = value` in the manifest, or "". */
static void s_manifest_value(const char *text, const char *key, char *out, size_t size)
{
    size_t klen = strlen(key);

    out[0] = '\0';
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n'), *end = nl ? nl : line + strlen(line);
        if ((size_t)(end - line) > klen + 3 && strncmp(line, key, klen) == 0 &&
            strncmp(line + klen, " = ", 3) == 0) {
            const char *v = line + klen + 3;
            snprintf(out, size, "%.*s", (int)(end - v), v);
            return;
        }
        line = nl ? nl + 1 : NULL;
    }
}

/* Give a file we created the owner of its worker dir, so that a worker
 * running as another user (rapport) can open it. Only root can. */
static int s_match_owner(int fd, const struct stat *dir_st)
{
    if (geteuid() != 0)
        return 0;
    return fchown(fd, dir_st->st_uid, dir_st->st_gid);
}

/* Take worker.lock of <state_dir>/<worker> (created as needed). Returns
 * 0, 1 when a worker holds it, -1 on another error (message printed). */
static int s_restore_lock(restore_worker_t *w)
{
    char path[BACKUP_PATH_MAX + 32];
    struct stat sb;
    bool existed;

    if (s_mkdirs(w->dst_dir) != 0 || stat(w->dst_dir, &w->dir_st) != 0) {
        cli_warn("cannot create %s: %s", w->dst_dir, strerror(errno));
        return -1;
    }
    if (!s_join(path, sizeof(path), w->dst_dir, "worker.lock")) {
        cli_warn("%s: path too long", w->dst_dir);
        return -1;
    }
    existed = stat(path, &sb) == 0;
    w->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (w->lock_fd < 0) {
        cli_warn("%s: %s", path, strerror(errno));
        return -1;
    }
    if (!existed && s_match_owner(w->lock_fd, &w->dir_st) != 0) {
        cli_warn("%s: chown: %s", path, strerror(errno));
        return -1;
    }
    if (flock(w->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            return 1;
        cli_warn("%s: flock: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Copy the backup's data.mdb to <dst_dir>/data.mdb.restore, fsync, give it
 * the dir's owner, rename it over data.mdb and drop the stale lock.mdb. */
static int s_restore_copy(restore_worker_t *w)
{
    char tmp[BACKUP_PATH_MAX + 32], dst[BACKUP_PATH_MAX + 32], lock[BACKUP_PATH_MAX + 32];
    static char buf[1 << 20];
    int in, out = -1;
    uint64_t total = 0;

    if (!s_join(tmp, sizeof(tmp), w->dst_dir, "data.mdb.restore") ||
        !s_join(dst, sizeof(dst), w->dst_dir, "data.mdb") ||
        !s_join(lock, sizeof(lock), w->dst_dir, "lock.mdb")) {
        cli_warn("%s: path too long", w->dst_dir);
        return -1;
    }
    in = open(w->src, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        cli_warn("%s: %s", w->src, strerror(errno));
        return -1;
    }
    out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (out < 0) {
        cli_warn("%s: %s", tmp, strerror(errno));
        goto out_close_in;
    }
    for (;;) {
        ssize_t n = read(in, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            cli_warn("%s: %s", w->src, strerror(errno));
            goto out_unlink_tmp;
        }
        if (n == 0)
            break;
        for (ssize_t off = 0; off < n;) {
            ssize_t m = write(out, buf + off, (size_t)(n - off));
            if (m < 0 && errno == EINTR)
                continue;
            if (m < 0) {
                cli_warn("%s: %s", tmp, strerror(errno));
                goto out_unlink_tmp;
            }
            off += m;
        }
        total += (uint64_t)n;
    }
    if (fsync(out) != 0 || s_match_owner(out, &w->dir_st) != 0) {
        cli_warn("%s: %s", tmp, strerror(errno));
        goto out_unlink_tmp;
    }
    close(out);
    out = -1;
    if (rename(tmp, dst) != 0) {
        cli_warn("rename %s: %s", dst, strerror(errno));
        goto out_unlink_tmp;
    }
    if (unlink(lock) != 0 && errno != ENOENT) {
        cli_warn("%s: %s", lock, strerror(errno));
        goto out_close_in;
    }
    if (s_fsync_dir(w->dst_dir) != 0) {
        cli_warn("%s: %s", w->dst_dir, strerror(errno));
        goto out_close_in;
    }
    close(in);
    w->bytes = total;
    return 0;

out_unlink_tmp:
    if (out >= 0)
        close(out);
    unlink(tmp);
out_close_in:
    close(in);
    return -1;
}

static int s_restore_print(const cli_ctx_t *ctx, const char *dir, const char *state_dir,
                           const char *manifest, const restore_worker_t *w)
{
    char created[64], last_entry[32], last_seq[32];

    s_manifest_value(manifest, "created", created, sizeof(created));
    s_manifest_value(manifest, "logwriter.last_entry_no", last_entry, sizeof(last_entry));
    s_manifest_value(manifest, "logwriter.last_event_seq", last_seq, sizeof(last_seq));
    if (ctx->json) {
        json_writer_t jw;

        json_writer_init(&jw, stdout, true);
        json_object_begin(&jw);
        json_key(&jw, "dir");
        json_string(&jw, dir);
        json_key(&jw, "state_dir");
        json_string(&jw, state_dir);
        json_key(&jw, "created");
        json_string(&jw, created);
        json_key(&jw, "workers");
        json_array_begin(&jw);
        for (size_t i = 0; i < N_WORKERS; i++) {
            json_object_begin(&jw);
            json_key(&jw, "worker");
            json_string(&jw, s_workers[i]);
            json_key(&jw, "source");
            json_string(&jw, w[i].src);
            json_key(&jw, "destination");
            json_string(&jw, w[i].dst_dir);
            json_key(&jw, "bytes");
            json_uint(&jw, w[i].bytes);
            json_object_end(&jw);
        }
        json_array_end(&jw);
        json_object_end(&jw);
        if (json_writer_end(&jw) != 0) {
            cli_warn("write error on stdout");
            return CLI_EXIT_REFUSED;
        }
        return CLI_EXIT_OK;
    }
    printf("restored the backup of %s (last entry no. %s, last event seq %s) into %s\n",
           *created ? created : "?", *last_entry ? last_entry : "?", *last_seq ? last_seq : "?",
           state_dir);
    for (size_t i = 0; i < N_WORKERS; i++)
        printf("  %-12s %s/data.mdb (%" PRIu64 " bytes)\n", s_workers[i], w[i].dst_dir, w[i].bytes);
    printf("start the workers now (systemctl start rapport.target); the segment worker\n"
           "resumes any segment the backup shows as being logged\n");
    return cli_stdout_status();
}

static int s_restore(cli_ctx_t *ctx)
{
    restore_worker_t w[N_WORKERS];
    const char *dir = ctx->local[CLI_LOCAL_FILE], *state_dir = s_state_dir(ctx);
    char path[BACKUP_PATH_MAX + 32], format[16], *manifest = NULL;
    size_t len;
    bool busy = false;
    int rc = CLI_EXIT_REFUSED;

    if (!dir || !*dir)
        return cli_usage_error(ctx, "missing DIR");
    memset(w, 0, sizeof(w));
    for (size_t i = 0; i < N_WORKERS; i++)
        w[i].lock_fd = -1;

    /* The backup: a manifest (written last, so the copies are complete)
     * and every worker's data.mdb. */
    if (!s_join(path, sizeof(path), dir, BACKUP_MANIFEST))
        return cli_usage_error(ctx, "path too long");
    if (access(path, F_OK) != 0)
        return cli_input_error("%s is not a complete rapport backup: no %s (`rapport backup` "
                               "writes it last)",
                               dir, BACKUP_MANIFEST);
    rc = cli_read_file(path, BACKUP_MANIFEST_MAX, &manifest, &len);
    if (rc != CLI_EXIT_OK)
        return rc;
    s_manifest_value(manifest, "format", format, sizeof(format));
    if (strcmp(format, BACKUP_FORMAT) != 0) {
        rc = cli_input_error("%s: unknown backup format '%s' (expected %s)", path, format,
                             BACKUP_FORMAT);
        goto out_free_manifest;
    }
    for (size_t i = 0; i < N_WORKERS; i++) {
        struct stat sb;
        if (snprintf(w[i].src, sizeof(w[i].src), "%s/%s/data.mdb", dir, s_workers[i]) >=
                (int)sizeof(w[i].src) ||
            !s_join(w[i].dst_dir, sizeof(w[i].dst_dir), state_dir, s_workers[i])) {
            rc = cli_usage_error(ctx, "path too long");
            goto out_free_manifest;
        }
        if (stat(w[i].src, &sb) != 0) {
            rc = cli_input_error("%s: %s", w[i].src, strerror(errno));
            goto out_free_manifest;
        }
    }

    /* Stopped workers only: hold every worker.lock until the end, so that
     * none starts on a half-restored state dir either. */
    rc = CLI_EXIT_REFUSED;
    s_catch_signals();
    for (size_t i = 0; i < N_WORKERS; i++) {
        int locked = s_restore_lock(&w[i]);
        if (locked < 0)
            goto out_unlock;
        if (locked > 0) {
            cli_warn("rapport-%s is running on %s (it holds worker.lock)", s_workers[i],
                     w[i].dst_dir);
            busy = true;
        }
    }
    if (busy) {
        cli_warn("nothing was restored: stop the workers first (systemctl stop rapport.target)");
        goto out_unlock;
    }
    for (size_t i = 0; i < N_WORKERS; i++)
        if (s_restore_copy(&w[i]) != 0) {
            cli_warn("restore of %s failed%s", s_workers[i],
                     i ? "; the workers before it were restored already: run the restore "
                         "again before starting the workers"
                       : "");
            goto out_unlock;
        }
    rc = s_restore_print(ctx, dir, state_dir, manifest, w);

out_unlock:
    for (size_t i = 0; i < N_WORKERS; i++)
        if (w[i].lock_fd >= 0)
            close(w[i].lock_fd);
out_free_manifest:
    free(manifest);
    return rc;
}

const cli_cmd_t cli_backup_cmds[] = {
    {.group = "backup",
     .usage = "DIR [--state-dir STATE_DIR]",
     .summary =
         "copy the three workers' LMDB envs (STATE_DIR/<worker>, default the config's\n"
         "      state_dir) compacted and consistent into DIR (new or empty) while they keep\n"
         "      serving; DIR/rapport-backup.txt, written last, records what was copied.\n"
         "      Run it as the workers' user or root",
     .service = CLI_SVC_LOGWRITER,
     .command = "stats",
     .pos = {{.name = "DIR", .local = CLI_LOCAL_FILE}},
     .opts = {s_backup_opts},
     .run = s_backup},
    {.group = "restore",
     .usage = "DIR [--state-dir STATE_DIR]",
     .summary = "put the backup in DIR back into the state dir of STOPPED workers (refused\n"
                "      while a worker holds its worker.lock); start them afterwards: the\n"
                "      segment worker resumes any segment left being logged",
     .service = CLI_SVC_LOGWRITER,
     .command = "stats",
     .pos = {{.name = "DIR", .local = CLI_LOCAL_FILE}},
     .opts = {s_backup_opts},
     .run = s_restore},
    {0},
};
