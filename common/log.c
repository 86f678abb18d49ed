/* log: stderr lines with <N> priority prefixes (systemd's convention). */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *s_ident = "rapport";
static log_level_t s_level = LOG_LEVEL_INFO;

void log_init(const char *ident, log_level_t level)
{
    if (ident)
        s_ident = ident;
    s_level = level;
}

bool log_level_parse(const char *text, log_level_t *ret_level)
{
    static const struct {
        const char *name;
        log_level_t level;
    } names[] = {
        {"error", LOG_LEVEL_ERR},    {"err", LOG_LEVEL_ERR},       {"warning", LOG_LEVEL_WARNING},
        {"warn", LOG_LEVEL_WARNING}, {"notice", LOG_LEVEL_NOTICE}, {"info", LOG_LEVEL_INFO},
        {"debug", LOG_LEVEL_DEBUG},
    };
    if (!text)
        return false;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(text, names[i].name) == 0) {
            *ret_level = names[i].level;
            return true;
        }
    }
    return false;
}

bool log_enabled(log_level_t level)
{
    return level <= s_level;
}

static void s_vlog(log_level_t level, int errnum, const char *fmt, va_list ap)
{
    char line[2048];
    int n;

    if (!log_enabled(level))
        return;
    n = snprintf(line, sizeof(line), "<%d>%s: ", (int)level, s_ident);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(line))
        n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    if (errnum && n >= 0 && (size_t)n < sizeof(line))
        snprintf(line + n, sizeof(line) - (size_t)n, ": %s", strerror(errnum));
    fprintf(stderr, "%s\n", line);
}

#define LOG_FN(fn, level, with_errno)                   \
    void fn(const char *fmt, ...)                       \
    {                                                   \
        int saved = errno;                              \
        va_list ap;                                     \
        va_start(ap, fmt);                              \
        s_vlog(level, with_errno ? saved : 0, fmt, ap); \
        va_end(ap);                                     \
        errno = saved;                                  \
    }

LOG_FN(log_err, LOG_LEVEL_ERR, 1)
LOG_FN(log_errx, LOG_LEVEL_ERR, 0)
LOG_FN(log_warn, LOG_LEVEL_WARNING, 1)
LOG_FN(log_warnx, LOG_LEVEL_WARNING, 0)
LOG_FN(log_notice, LOG_LEVEL_NOTICE, 0)
LOG_FN(log_info, LOG_LEVEL_INFO, 0)
LOG_FN(log_debug, LOG_LEVEL_DEBUG, 0)
