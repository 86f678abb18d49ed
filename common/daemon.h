/* daemon: what every worker process does around its loop.
 *
 * Flags -> config -> log, signals (SIGTERM/SIGINT set the stop flag;
 * SIGPIPE and SIGXFSZ are ignored so that writes fail with an error
 * instead of killing the worker), and the systemd notify protocol (READY,
 * STATUS, STOPPING, WATCHDOG) through libsystemd when built with it, else
 * a small built-in sd_notify over $NOTIFY_SOCKET. */
#ifndef RAPPORT_DAEMON_H
#define RAPPORT_DAEMON_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"

/* Set by SIGTERM / SIGINT; the loops poll it. */
extern volatile sig_atomic_t daemon_stop;

/* Parse the worker flags (--config FILE, --run-dir DIR, --state-dir DIR,
 * --log-level L, --help, --version), load the configuration and start the
 * log. Returns -1 to go on, else the exit status to exit with (0 after
 * --help, 2 for a usage or configuration error, already printed). */
int daemon_setup(const char *worker, int argc, char **argv, config_t *ret_cfg);

/* Install the signal handlers. */
void daemon_signals(void);

/* <state_dir>/<worker> into buf. */
void daemon_state_path(const config_t *cfg, const char *worker, char *buf, size_t size);

/* sd_notify(3): send "READY=1", "STATUS=...", "STOPPING=1"... Nothing when
 * NOTIFY_SOCKET is unset. */
void daemon_notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Send WATCHDOG=1 if the watchdog is on and half its interval has passed
 * since the last one; call from the main loop. */
void daemon_watchdog(void);

/* Crash-test hook: when RAPPORT_FAULT is "<name>" or "<name>:<n>", the
 * process kills itself with SIGKILL the first (or n-th) time it reaches
 * this point. Unset, it costs one comparison. */
void daemon_fault_point(const char *name);

/* Longest a main loop may sleep between daemon_watchdog() calls (ms). */
long daemon_poll_interval_ms(void);

#endif
