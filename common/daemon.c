/* daemon: flags, signals and the systemd notify protocol for workers. */
#include "daemon.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#ifdef RAPPORT_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "clock.h"
#include "log.h"

volatile sig_atomic_t daemon_stop = 0;

static int64_t s_watchdog_ms = -1; /* -1: not read yet, 0: off */
static int64_t s_last_kick = 0;

static void s_on_signal(int sig)
{
    (void)sig;
    daemon_stop = 1;
}

void daemon_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = s_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sigaction(SIGXFSZ, &sa, NULL);
}

static void s_usage(const char *worker, FILE *out)
{
    fprintf(out,
            "usage: rapport-%s [--config FILE] [--run-dir DIR] [--state-dir DIR]\n"
            "       [--log-level error|warning|notice|info|debug] [--set KEY=VALUE]...%s\n"
            "\n"
            "Every configuration key can also be set in the file (default %s)\n"
            "or as RAPPORT_<KEY> in the environment; flags win.\n",
            worker, strcmp(worker, "logwriter") ? "" : "\n       [--replica]", CONFIG_DEFAULT_FILE);
}

int daemon_setup(const char *worker, int argc, char **argv, config_t *ret_cfg)
{
    const char *config_path = NULL;
    const char *overrides[64];
    char bufs[4][CONFIG_PATH_MAX + 32];
    size_t n = 0, nb = 0;
    /* The log keeps the pointer for the life of the process. */
    static char ident[64];
    char err[512];
    log_level_t level;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *key = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            s_usage(worker, stdout);
            return 0;
        }
        if (!strcmp(a, "--version")) {
            printf("rapport-%s " RAPPORT_VERSION "\n", worker);
            return 0;
        }
        if (!strcmp(a, "--replica") && !strcmp(worker, "logwriter")) {
            if (n >= sizeof(overrides) / sizeof(overrides[0])) {
                fprintf(stderr, "rapport-%s: too many options\n", worker);
                return 2;
            }
            overrides[n++] = "replica=true";
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "rapport-%s: %s needs a value (or is unknown)\n", worker, a);
            s_usage(worker, stderr);
            return 2;
        }
        if (!strcmp(a, "--config")) {
            config_path = argv[++i];
            continue;
        }
        if (!strcmp(a, "--run-dir"))
            key = "run_dir";
        else if (!strcmp(a, "--state-dir"))
            key = "state_dir";
        else if (!strcmp(a, "--log-level"))
            key = "log_level";
        else if (strcmp(a, "--set") != 0) {
            fprintf(stderr, "rapport-%s: unknown option %s\n", worker, a);
            s_usage(worker, stderr);
            return 2;
        }
        /* Both tables are bounded: refuse what does not fit rather than
         * write past overrides[] or misread the value as an option. */
        if (n >= sizeof(overrides) / sizeof(overrides[0]) ||
            (key && nb >= sizeof(bufs) / sizeof(bufs[0]))) {
            fprintf(stderr, "rapport-%s: too many options\n", worker);
            return 2;
        }
        if (!key) {
            overrides[n++] = argv[++i];
            continue;
        }
        snprintf(bufs[nb], sizeof(bufs[nb]), "%s=%s", key, argv[++i]);
        overrides[n++] = bufs[nb++];
    }
    if (config_load_all(ret_cfg, config_path, overrides, n, err, sizeof(err)) != RP_OK) {
        fprintf(stderr, "<3>rapport-%s: configuration: %s\n", worker, err);
        return 2;
    }
    if (!log_level_parse(ret_cfg->log_level, &level))
        level = LOG_LEVEL_INFO;
    snprintf(ident, sizeof(ident), "rapport-%s", worker);
    log_init(ident, level);
    return -1;
}

void daemon_state_path(const config_t *cfg, const char *worker, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", cfg->state_dir, worker);
}

#ifndef RAPPORT_HAVE_SYSTEMD
/* Built-in sd_notify: one datagram to $NOTIFY_SOCKET (a path, or an
 * abstract name starting with '@'). */
static void s_notify(const char *text)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa;
    size_t len;
    socklen_t salen;
    int fd;

    if (!path || !*path)
        return;
    len = strlen(path);
    if (len >= sizeof(sa.sun_path) || (path[0] != '/' && path[0] != '@'))
        return;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, len);
    if (path[0] == '@')
        sa.sun_path[0] = '\0';
    salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    if (sendto(fd, text, strlen(text), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen) < 0)
        log_debug("sd_notify: %s", strerror(errno));
    close(fd);
}
#endif

void daemon_notify(const char *fmt, ...)
{
    char text[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
#ifdef RAPPORT_HAVE_SYSTEMD
    sd_notify(0, text);
#else
    s_notify(text);
#endif
}

static int64_t s_watchdog_interval(void)
{
    if (s_watchdog_ms < 0) {
        const char *usec = getenv("WATCHDOG_USEC");
        const char *pid = getenv("WATCHDOG_PID");
        s_watchdog_ms = 0;
        if (usec && *usec && (!pid || !*pid || strtol(pid, NULL, 10) == (long)getpid())) {
            char *end;
            errno = 0;
            long long v = strtoll(usec, &end, 10);
            if (!errno && *end == '\0' && v > 0)
                s_watchdog_ms = v / 1000;
        }
    }
    return s_watchdog_ms;
}

void daemon_watchdog(void)
{
    int64_t ivl = s_watchdog_interval(), now;
    if (ivl <= 0)
        return;
    now = clock_mono_ms();
    if (now - s_last_kick >= ivl / 2) {
        daemon_notify("WATCHDOG=1");
        s_last_kick = now;
    }
}

long daemon_poll_interval_ms(void)
{
    int64_t ivl = s_watchdog_interval();
    if (ivl <= 0)
        return 1000;
    return ivl / 4 > 0 ? (long)(ivl / 4) : 1;
}

void daemon_fault_point(const char *name)
{
    static const char *spec;
    static bool read;
    static unsigned long hits;
    size_t n;

    if (!read) {
        spec = getenv("RAPPORT_FAULT");
        read = true;
    }
    if (!spec || !*spec)
        return;
    n = strlen(name);
    if (strncmp(spec, name, n) != 0 || (spec[n] != '\0' && spec[n] != ':'))
        return;
    hits++;
    if (spec[n] == ':' && strtoul(spec + n + 1, NULL, 10) != hits)
        return;
    log_warnx("fault injection: killed at %s", name);
    raise(SIGKILL);
}
