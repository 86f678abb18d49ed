/* clock: the work date and the time of day, as the domain sees them.
 *
 * Dates are uint32 YYYYMMDD (0 = blank); times are seconds after midnight.
 * RAPPORT_TODAY=YYYY-MM-DD pins the work date and RAPPORT_NOW=HH:MM[:SS]
 * pins the time of day, so that tests are deterministic. Local time (TZ)
 * applies otherwise. RAPPORT_CLOCK_SHIFT_DAYS=N moves the wall clock of
 * time stamps (events, idempotency records) N days, so that a test can make
 * records old enough to be pruned. */
#ifndef RAPPORT_CLOCK_H
#define RAPPORT_CLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* The work date: RAPPORT_TODAY when set and valid, else today. */
uint32_t clock_work_date(void);

/* Seconds after midnight now (RAPPORT_NOW when set). */
uint32_t clock_time_of_day(void);

/* Round a time of day up to the next whole minute ("now rounded up"). A
 * time already on a whole minute moves to the next one; 23:59:xx stays at
 * 23:59:00. */
uint32_t clock_round_up_minute(uint32_t seconds);

/* Milliseconds since the Unix epoch (wall clock, RAPPORT_CLOCK_SHIFT_DAYS
 * applied). */
int64_t clock_now_ms(void);

/* Monotonic milliseconds, for timeouts. */
int64_t clock_mono_ms(void);

/* Monotonic nanoseconds, for latency measurement. */
uint64_t clock_mono_ns(void);

/* Whether d is a real calendar date between 1753-01-01 and 9999-12-31
 * (Business Central's range). 0 (blank) is not valid. */
bool clock_date_valid(uint32_t d);

/* Parse "YYYY-MM-DD" (also "YYYYMMDD") into *ret_date. RP_EINVAL when not
 * a valid date; *ret_date untouched then. */
rp_err clock_date_parse(const char *text, uint32_t *ret_date);

/* Format d as "YYYY-MM-DD" into buf (at least 11 bytes); blank gives "". */
void clock_date_format(uint32_t d, char *buf, size_t size);

/* Parse "HH:MM" or "HH:MM:SS" into seconds after midnight. */
rp_err clock_time_parse(const char *text, uint32_t *ret_seconds);

/* Format seconds after midnight as "HH:MM:SS" (buf >= 9 bytes). */
void clock_time_format(uint32_t seconds, char *buf, size_t size);

#endif
