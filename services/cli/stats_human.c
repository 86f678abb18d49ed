/* stats_human: a worker's metrics for people (`rapport stats` without
 * --json or --prometheus) and the one-line summary of `rapport status`.
 *
 * The raw metrics carry their unit in their name (Prometheus style:
 * _bytes, _seconds, _total): bytes print as KiB/MiB/GiB, seconds as ms or
 * s, counters with their rate per second since the worker started, and
 * histograms as count, mean and 99th percentile (the upper bound of the
 * bucket it falls in). Columns are aligned per section. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

#define NAME_W 64

static bool s_ends(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

void stats_format_bytes(double v, char *buf, size_t size)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    size_t u = 0;

    while (fabs(v) >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024;
        u++;
    }
    snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

void stats_format_duration(double seconds, char *buf, size_t size)
{
    if (seconds < 1)
        snprintf(buf, size, "%.3g ms", seconds * 1000);
    else if (seconds < 120)
        snprintf(buf, size, "%.3g s", seconds);
    else if (seconds < 7200)
        snprintf(buf, size, "%dm%02ds", (int)(seconds / 60), (int)fmod(seconds, 60));
    else if (seconds < 172800)
        snprintf(buf, size, "%dh%02dm", (int)(seconds / 3600), (int)fmod(seconds / 60, 60));
    else
        snprintf(buf, size, "%dd%02dh", (int)(seconds / 86400), (int)fmod(seconds / 3600, 24));
}

/* A value in the unit its metric name says. */
static void s_value(const char *name, double v, char *buf, size_t size)
{
    if (s_ends(name, "_bytes"))
        stats_format_bytes(v, buf, size);
    else if (s_ends(name, "_seconds"))
        stats_format_duration(v, buf, size);
    else if (v == floor(v) && fabs(v) < 1e15)
        snprintf(buf, size, "%.0f", v);
    else
        snprintf(buf, size, "%.4g", v);
}

/* "name{a=b,c=d}" without the rapport_ prefix. */
static void s_title(const char *name, Rapport__V1__Label *const *labels, size_t n, char *buf,
                    size_t size)
{
    size_t o;

    if (strncmp(name, "rapport_", 8) == 0)
        name += 8;
    o = (size_t)snprintf(buf, size, "%s", name);
    for (size_t i = 0; i < n && o < size; i++)
        o += (size_t)snprintf(buf + o, size - o, "%s%s=%s", i ? "," : "{", labels[i]->name,
                              labels[i]->value);
    if (n && o < size)
        snprintf(buf + o, size - o, "}");
}

double stats_gauge(const Rapport__V1__WorkerStats *ws, const char *name)
{
    for (size_t i = 0; i < ws->n_gauges; i++)
        if (strcmp(ws->gauges[i]->name, name) == 0)
            return ws->gauges[i]->value;
    return NAN;
}

const char *stats_version(const Rapport__V1__WorkerStats *ws)
{
    for (size_t i = 0; i < ws->n_gauges; i++)
        if (strcmp(ws->gauges[i]->name, "rapport_build_info") == 0)
            for (size_t l = 0; l < ws->gauges[i]->n_labels; l++)
                if (strcmp(ws->gauges[i]->labels[l]->name, "version") == 0)
                    return ws->gauges[i]->labels[l]->value;
    return "";
}

/* Upper bound of the bucket holding quantile q. */
static double s_quantile(const Rapport__V1__Histogram *h, double q)
{
    double want = q * (double)h->count;

    for (size_t i = 0; i < h->n_bounds && i < h->n_counts; i++)
        if ((double)h->counts[i] >= want)
            return h->bounds[i];
    return INFINITY;
}

static size_t s_width(const Rapport__V1__WorkerStats *ws)
{
    size_t w = 10;
    char t[NAME_W * 2];

    for (size_t i = 0; i < ws->n_counters; i++) {
        s_title(ws->counters[i]->name, ws->counters[i]->labels, ws->counters[i]->n_labels, t,
                sizeof(t));
        w = strlen(t) > w ? strlen(t) : w;
    }
    for (size_t i = 0; i < ws->n_gauges; i++) {
        s_title(ws->gauges[i]->name, ws->gauges[i]->labels, ws->gauges[i]->n_labels, t, sizeof(t));
        w = strlen(t) > w ? strlen(t) : w;
    }
    for (size_t i = 0; i < ws->n_histograms; i++) {
        s_title(ws->histograms[i]->name, ws->histograms[i]->labels, ws->histograms[i]->n_labels, t,
                sizeof(t));
        w = strlen(t) > w ? strlen(t) : w;
    }
    return w > NAME_W ? NAME_W : w;
}

void stats_human_print(FILE *out, const Rapport__V1__WorkerStats *ws, const char *endpoint)
{
    double up = stats_gauge(ws, "rapport_uptime_seconds");
    int w = (int)s_width(ws);
    char t[NAME_W * 2], a[48], b[48], c[48];

    stats_format_duration(isnan(up) ? 0 : up, a, sizeof(a));
    fprintf(out, "%s (%s): up %s, version %s\n", ws->worker, endpoint, a, stats_version(ws));
    if (ws->n_counters)
        fprintf(out, "  %-*s %14s %12s\n", w, "counter", "total", "per second");
    for (size_t i = 0; i < ws->n_counters; i++) {
        const Rapport__V1__Counter *k = ws->counters[i];
        s_title(k->name, k->labels, k->n_labels, t, sizeof(t));
        snprintf(a, sizeof(a), "%.2f", up > 0 ? (double)k->value / up : 0.0);
        fprintf(out, "  %-*s %14" PRIu64 " %12s\n", w, t, k->value, a);
    }
    if (ws->n_gauges)
        fprintf(out, "  %-*s %14s\n", w, "gauge", "value");
    for (size_t i = 0; i < ws->n_gauges; i++) {
        const Rapport__V1__Gauge *g = ws->gauges[i];
        if (strcmp(g->name, "rapport_build_info") == 0)
            continue;
        s_title(g->name, g->labels, g->n_labels, t, sizeof(t));
        s_value(g->name, g->value, a, sizeof(a));
        fprintf(out, "  %-*s %14s\n", w, t, a);
    }
    if (ws->n_histograms)
        fprintf(out, "  %-*s %14s %12s %12s\n", w, "histogram", "count", "mean", "p99 <=");
    for (size_t i = 0; i < ws->n_histograms; i++) {
        const Rapport__V1__Histogram *h = ws->histograms[i];
        double p99 = s_quantile(h, 0.99);
        s_title(h->name, h->labels, h->n_labels, t, sizeof(t));
        if (h->count)
            s_value(h->name, h->sum / (double)h->count, a, sizeof(a));
        else
            snprintf(a, sizeof(a), "-");
        if (!h->count)
            snprintf(b, sizeof(b), "-");
        else if (isinf(p99))
            snprintf(b, sizeof(b), "more");
        else
            s_value(h->name, p99, b, sizeof(b));
        snprintf(c, sizeof(c), "%" PRIu64, h->count);
        fprintf(out, "  %-*s %14s %12s %12s\n", w, t, c, a, b);
    }
}
