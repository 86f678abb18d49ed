/* prom: worker metrics as Prometheus text exposition (format 0.0.4), for a
 * worker's GET /metrics (metrics_http.h), `rapport stats --prometheus` and
 * `promtool check metrics`.
 *
 * Pure (no I/O but the stream given), so it can be tested on its own. */
#ifndef RAPPORT_PROM_H
#define RAPPORT_PROM_H

#include <stddef.h>
#include <stdio.h>

#include "rapport/v1/common.pb-c.h"

/* Write the counters, gauges and histograms of n workers. Metrics of the
 * same name from several workers form one family under one # HELP and one
 * # TYPE line; every sample gets a worker="<WorkerStats.worker>" label (a
 * worker's own `worker` label becomes `exported_worker`). Names and label
 * names are kept as the workers give them, with characters Prometheus does
 * not allow replaced by '_'. A name used with two different types keeps
 * the first and skips the rest. Histograms print _bucket{le=...}
 * (cumulative, ending with le="+Inf"), _sum and _count. Returns 0, or -1
 * when the stream had a write error. */
int prom_write(FILE *out, const Rapport__V1__WorkerStats *const *stats, size_t n);

#endif
