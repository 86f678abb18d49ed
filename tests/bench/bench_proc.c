/* bench_proc: the real workers as child processes, and their memory.
 *
 * Each worker runs from the build's bin dir on the cluster's temporary
 * run and state dirs with RAPPORT_CONFIG=/dev/null, so nothing from /etc
 * leaks in, and with NOTIFY_SOCKET pointing at a datagram socket of its
 * own that the harness binds: READY=1 on it is the moment the worker
 * serves (what systemd waits for), and the time from fork to that datagram
 * is S6's start-up figure. Children get PR_SET_PDEATHSIG so that a killed
 * harness leaves no worker behind. */
#include "bench.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "wire.h"

extern char **environ;

static const char *const s_names[BW_COUNT] = {"logwriter", "interaction", "segment"};

/* Every worker started and not yet reaped, for bench_kill_all. */
static volatile pid_t s_children[64];

static void s_child_add(pid_t pid)
{
    for (size_t i = 0; i < sizeof(s_children) / sizeof(s_children[0]); i++)
        if (s_children[i] == 0) {
            s_children[i] = pid;
            return;
        }
}

static void s_child_del(pid_t pid)
{
    for (size_t i = 0; i < sizeof(s_children) / sizeof(s_children[0]); i++)
        if (s_children[i] == pid)
            s_children[i] = 0;
}

void bench_kill_all(void)
{
    for (size_t i = 0; i < sizeof(s_children) / sizeof(s_children[0]); i++)
        if (s_children[i] > 0)
            kill(s_children[i], SIGKILL);
}

void bench_rmtree(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *de;

    if (!d) {
        unlink(path);
        return;
    }
    while ((de = readdir(d)) != NULL) {
        char sub[BENCH_PATH_MAX * 2];
        struct stat st;
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
        if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
            bench_rmtree(sub);
        else
            unlink(sub);
    }
    closedir(d);
    rmdir(path);
}

int bench_cluster_init(bench_cluster_t *cl, const char *tmp_root, const char *tag,
                       const char *bin_dir, unsigned which, bool keep, void *zctx)
{
    char err[256];

    memset(cl, 0, sizeof(*cl));
    if ((size_t)snprintf(cl->dir, sizeof(cl->dir), "%s/rapport-bench-%s-XXXXXX", tmp_root, tag) >=
        sizeof(cl->dir)) {
        fprintf(stderr, "rapport-bench: temporary path too long under %s\n", tmp_root);
        return -1;
    }
    if (!mkdtemp(cl->dir)) {
        fprintf(stderr, "rapport-bench: mkdtemp %s: %s\n", cl->dir, strerror(errno));
        return -1;
    }
    snprintf(cl->run_dir, sizeof(cl->run_dir), "%s/run", cl->dir);
    snprintf(cl->state_dir, sizeof(cl->state_dir), "%s/state", cl->dir);
    cl->bin_dir = bin_dir;
    cl->keep = keep;
    cl->zctx = zctx;
    for (int i = 0; i < BW_COUNT; i++) {
        bench_worker_t *w = &cl->w[i];
        w->name = s_names[i];
        w->enabled = (which >> i) & 1u;
        w->notify_fd = -1;
        snprintf(w->notify_path, sizeof(w->notify_path), "%s/notify-%s.sock", cl->dir, w->name);
        snprintf(w->log_path, sizeof(w->log_path), "%s/%s.log", cl->dir, w->name);
        /* Unix socket paths are short (108 bytes). */
        if (strlen(w->notify_path) >= sizeof(((struct sockaddr_un *)0)->sun_path) - 8) {
            fprintf(stderr,
                    "rapport-bench: %s is too long for a unix socket; use a shorter --tmp\n",
                    w->notify_path);
            return -1;
        }
    }
    config_defaults(&cl->cfg);
    if (config_set(&cl->cfg, "run_dir", cl->run_dir, err, sizeof(err)) != RP_OK) {
        fprintf(stderr, "rapport-bench: %s\n", err);
        return -1;
    }
    config_finalize(&cl->cfg);
    return 0;
}

static int s_notify_open(bench_worker_t *w)
{
    struct sockaddr_un sa;
    int fd;

    if (w->notify_fd >= 0)
        return 0;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, w->notify_path, strlen(w->notify_path) + 1);
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fprintf(stderr, "rapport-bench: socket: %s\n", strerror(errno));
        return -1;
    }
    unlink(w->notify_path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        fprintf(stderr, "rapport-bench: bind %s: %s\n", w->notify_path, strerror(errno));
        close(fd);
        return -1;
    }
    w->notify_fd = fd;
    return 0;
}

void bench_worker_log_tail(const bench_cluster_t *cl, bench_worker_id_t id)
{
    const bench_worker_t *w = &cl->w[id];
    FILE *f = fopen(w->log_path, "r");
    char buf[8192];
    long size;
    size_t n;

    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, size > (long)sizeof(buf) - 1 ? size - (long)sizeof(buf) + 1 : 0, SEEK_SET);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    fprintf(stderr, "---- last lines of %s ----\n%s---- end of %s ----\n", w->log_path, buf,
            w->name);
}

/* The child's environment: ours without the variables we set. */
static char **s_child_env(const bench_worker_t *w, char *notify_var, size_t notify_len)
{
    size_t n = 0, k = 0;
    char **env;

    while (environ[n])
        n++;
    env = calloc(n + 4, sizeof(char *));
    if (!env)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (!strncmp(environ[i], "NOTIFY_SOCKET=", 14) ||
            !strncmp(environ[i], "RAPPORT_CONFIG=", 15) ||
            !strncmp(environ[i], "WATCHDOG_USEC=", 14) || !strncmp(environ[i], "TZ=", 3))
            continue;
        env[k++] = environ[i];
    }
    snprintf(notify_var, notify_len, "NOTIFY_SOCKET=%s", w->notify_path);
    env[k++] = notify_var;
    env[k++] = wire_str("RAPPORT_CONFIG=/dev/null");
    env[k++] = wire_str("TZ=UTC");
    env[k] = NULL;
    return env;
}

int bench_worker_start(bench_cluster_t *cl, bench_worker_id_t id, double timeout_s)
{
    bench_worker_t *w = &cl->w[id];
    char exe[BENCH_PATH_MAX * 2], notify_var[BENCH_PATH_MAX + 32];
    char *argv[6 + 2 * 8 + 1];
    size_t argc = 0;
    char **env;
    double t0, deadline;
    pid_t pid;
    int logfd;

    if (s_notify_open(w) < 0)
        return -1;
    for (;;) { /* a stale datagram must not count as READY */
        char junk[512];
        if (recv(w->notify_fd, junk, sizeof(junk), MSG_DONTWAIT) < 0)
            break;
    }
    snprintf(exe, sizeof(exe), "%s/rapport-%s", cl->bin_dir, w->name);
    argv[argc++] = exe;
    argv[argc++] = wire_str("--run-dir");
    argv[argc++] = cl->run_dir;
    argv[argc++] = wire_str("--state-dir");
    argv[argc++] = cl->state_dir;
    for (size_t i = 0; i < w->n_sets; i++) {
        argv[argc++] = wire_str("--set");
        argv[argc++] = wire_str(w->sets[i]);
    }
    argv[argc] = NULL;
    env = s_child_env(w, notify_var, sizeof(notify_var));
    if (!env)
        return -1;
    logfd = open(w->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (logfd < 0) {
        fprintf(stderr, "rapport-bench: %s: %s\n", w->log_path, strerror(errno));
        free(env);
        return -1;
    }
    t0 = bench_now();
    pid = fork();
    if (pid < 0) {
        fprintf(stderr, "rapport-bench: fork: %s\n", strerror(errno));
        close(logfd);
        free(env);
        return -1;
    }
    if (pid == 0) {
        /* Only async-signal-safe calls between fork and exec. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        dup2(logfd, STDOUT_FILENO);
        dup2(logfd, STDERR_FILENO);
        execve(exe, argv, env);
        _exit(127);
    }
    close(logfd);
    free(env);
    w->pid = pid;
    s_child_add(pid);
    deadline = t0 + timeout_s;
    for (;;) {
        struct pollfd pfd = {.fd = w->notify_fd, .events = POLLIN};
        double left = deadline - bench_now();
        int status, n;

        if (left <= 0) {
            fprintf(stderr, "rapport-bench: %s sent no READY=1 within %.0f s\n", w->name,
                    timeout_s);
            bench_worker_log_tail(cl, id);
            bench_worker_stop(cl, id, 5);
            return -1;
        }
        n = poll(&pfd, 1, left > 0.1 ? 100 : (int)(left * 1000) + 1);
        if (n > 0) {
            char msg[1024];
            ssize_t len = recv(w->notify_fd, msg, sizeof(msg) - 1, MSG_DONTWAIT);
            if (len > 0) {
                msg[len] = '\0';
                if (strstr(msg, "READY=1")) {
                    w->ready_s = bench_now() - t0;
                    return 0;
                }
            }
            continue;
        }
        if (waitpid(pid, &status, WNOHANG) == pid) {
            fprintf(stderr, "rapport-bench: %s exited before READY=1 (status %d)\n", w->name,
                    WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
            s_child_del(pid);
            w->pid = 0;
            bench_worker_log_tail(cl, id);
            return -1;
        }
    }
}

int bench_worker_stop(bench_cluster_t *cl, bench_worker_id_t id, double timeout_s)
{
    bench_worker_t *w = &cl->w[id];
    double deadline = bench_now() + timeout_s;
    int status = 0;

    if (w->pid <= 0)
        return -1;
    kill(w->pid, SIGTERM);
    for (;;) {
        pid_t got = waitpid(w->pid, &status, WNOHANG);
        if (got == w->pid)
            break;
        if (got < 0 && errno != EINTR) {
            status = -1;
            break;
        }
        if (bench_now() > deadline) {
            fprintf(stderr, "rapport-bench: %s did not stop within %.0f s; killing it\n", w->name,
                    timeout_s);
            kill(w->pid, SIGKILL);
            waitpid(w->pid, &status, 0);
            break;
        }
        {
            struct timespec ts = {0, 5 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    s_child_del(w->pid);
    w->pid = 0;
    if (status < 0)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

pid_t bench_spawn(char *const argv[], char *const envp[], const char *log_path)
{
    int logfd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    pid_t pid;

    if (logfd < 0) {
        fprintf(stderr, "rapport-bench: %s: %s\n", log_path, strerror(errno));
        return -1;
    }
    pid = fork();
    if (pid < 0) {
        fprintf(stderr, "rapport-bench: fork: %s\n", strerror(errno));
        close(logfd);
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        dup2(logfd, STDOUT_FILENO);
        dup2(logfd, STDERR_FILENO);
        execve(argv[0], argv, envp);
        _exit(127);
    }
    close(logfd);
    s_child_add(pid);
    return pid;
}

/* Wait for pid's exit, signalled first with sig unless 0. */
static int s_wait(pid_t pid, int sig, double timeout_s)
{
    double deadline = bench_now() + timeout_s;
    int status = 0;

    if (pid <= 0)
        return -1;
    if (sig)
        kill(pid, sig);
    for (;;) {
        pid_t got = waitpid(pid, &status, WNOHANG);
        struct timespec ts = {0, 5 * 1000 * 1000};
        if (got == pid || (got < 0 && errno != EINTR))
            break;
        if (bench_now() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }
        nanosleep(&ts, NULL);
    }
    s_child_del(pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int bench_reap(pid_t pid, bool kill9, double timeout_s)
{
    return s_wait(pid, kill9 ? SIGKILL : SIGTERM, timeout_s);
}

int bench_wait(pid_t pid, double timeout_s)
{
    return s_wait(pid, 0, timeout_s);
}

int bench_cluster_start(bench_cluster_t *cl)
{
    char err[256];

    for (int i = 0; i < BW_COUNT; i++) {
        const char *ep = i == BW_LOGWRITER     ? cl->cfg.logwriter_endpoint
                         : i == BW_INTERACTION ? cl->cfg.interaction_endpoint
                                               : cl->cfg.segment_endpoint;
        if (!cl->w[i].enabled)
            continue;
        if (bench_worker_start(cl, (bench_worker_id_t)i, 60) < 0)
            return -1;
        if (client_new(cl->zctx, ep, &cl->cfg, &cl->c[i], err, sizeof(err)) != RP_OK) {
            fprintf(stderr, "rapport-bench: connect %s: %s\n", ep, err);
            return -1;
        }
    }
    return 0;
}

void bench_cluster_destroy(bench_cluster_t *cl)
{
    if (!cl->dir[0])
        return;
    for (int i = 0; i < BW_COUNT; i++)
        client_destroy(&cl->c[i]);
    /* The segment worker first: it may still talk to the others. */
    for (int i = BW_COUNT - 1; i >= 0; i--) {
        if (cl->w[i].pid > 0) {
            int st = bench_worker_stop(cl, (bench_worker_id_t)i, 60);
            if (st != 0)
                fprintf(stderr, "rapport-bench: %s exited with status %d\n", cl->w[i].name, st);
        }
        if (cl->w[i].notify_fd >= 0)
            close(cl->w[i].notify_fd);
        cl->w[i].notify_fd = -1;
    }
    if (cl->keep)
        fprintf(stderr, "rapport-bench: kept %s\n", cl->dir);
    else
        bench_rmtree(cl->dir);
    cl->dir[0] = '\0';
}

/* ---- RssAnon ---- */

double bench_cpu_seconds(pid_t pid)
{
    char path[64], buf[1024];
    unsigned long long utime, stime;
    const char *p;
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    /* After "pid (comm) ": state is field 3, utime 14 and stime 15. */
    p = strrchr(buf, ')');
    if (!p ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
        return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

uint64_t bench_status_kb(pid_t pid, const char *field)
{
    char path[64], buf[4096], key[40];
    ssize_t n;
    const char *p;
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    snprintf(key, sizeof(key), "\n%s:", field);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    p = strstr(buf, key);
    if (!p)
        return 0;
    p += strlen(key);
    {
        char *end;
        unsigned long long v;
        errno = 0;
        v = strtoull(p, &end, 10);
        if (errno || end == p)
            return 0;
        return (uint64_t)v;
    }
}

uint64_t bench_rss_anon_kb(pid_t pid)
{
    return bench_status_kb(pid, "RssAnon");
}

static void *s_rss_main(void *arg)
{
    bench_rss_t *r = arg;
    struct timespec ts = {0, (long)r->interval_ms * 1000 * 1000};

    while (!atomic_load(&r->stop)) {
        uint64_t kb[BW_COUNT];
        for (int i = 0; i < BW_COUNT; i++)
            kb[i] = r->pids[i] > 0 ? bench_rss_anon_kb(r->pids[i]) : 0;
        pthread_mutex_lock(&r->mu);
        for (int i = 0; i < BW_COUNT; i++)
            if (kb[i] > r->peak_kb[i])
                r->peak_kb[i] = kb[i];
        r->samples++;
        pthread_mutex_unlock(&r->mu);
        nanosleep(&ts, NULL);
    }
    return NULL;
}

int bench_rss_start(bench_rss_t *r, const bench_cluster_t *cl, int interval_ms)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->mu, NULL);
    r->interval_ms = interval_ms;
    for (int i = 0; i < BW_COUNT; i++)
        r->pids[i] = cl->w[i].pid;
    if (pthread_create(&r->thread, NULL, s_rss_main, r) != 0) {
        fprintf(stderr, "rapport-bench: cannot start the RSS sampler\n");
        return -1;
    }
    r->running = true;
    return 0;
}

void bench_rss_take(bench_rss_t *r, uint64_t out_kb[BW_COUNT])
{
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < BW_COUNT; i++) {
        /* One last sample so that a short phase is not missed. */
        uint64_t now = r->pids[i] > 0 ? bench_rss_anon_kb(r->pids[i]) : 0;
        out_kb[i] = now > r->peak_kb[i] ? now : r->peak_kb[i];
        r->peak_kb[i] = 0;
    }
    pthread_mutex_unlock(&r->mu);
}

void bench_rss_stop(bench_rss_t *r)
{
    if (!r->running)
        return;
    atomic_store(&r->stop, 1);
    pthread_join(r->thread, NULL);
    pthread_mutex_destroy(&r->mu);
    r->running = false;
}
