/* log: one line per event on stderr, prefixed with the syslog priority in
 * angle brackets (<3> error ... <7> debug) so that journald files it at the
 * right level. Services log; library code logs at debug at most. */
#ifndef RAPPORT_LOG_H
#define RAPPORT_LOG_H

#include <stdbool.h>

typedef enum {
    LOG_LEVEL_ERR = 3,
    LOG_LEVEL_WARNING = 4,
    LOG_LEVEL_NOTICE = 5,
    LOG_LEVEL_INFO = 6,
    LOG_LEVEL_DEBUG = 7,
} log_level_t;

/* Set the process name shown in each line and the most verbose level
 * printed. */
void log_init(const char *ident, log_level_t level);

/* Parse "error", "warning", "notice", "info" or "debug". Returns false and
 * leaves *ret_level untouched on anything else. */
bool log_level_parse(const char *text, log_level_t *ret_level);

/* Whether lines at `level` are printed. */
bool log_enabled(log_level_t level);

/* log_warn and log_err append ": strerror(errno)"; the x variants do not. */
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_errx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
