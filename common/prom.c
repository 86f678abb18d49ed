/* prom: Prometheus text exposition of WorkerStats.
 *
 * The exposition format wants every sample of a family together under one
 * HELP and TYPE, while each worker reports its own list; so families are
 * gathered by name across workers first (a linear search: a worker has tens
 * of metrics, not thousands), then printed one by one. */
#include "prom.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* The shortest of %.15g..%.17g that reads back as v. */
static void s_format_double(double v, char *buf, size_t size)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

#define PROM_NAME_MAX 256

typedef enum { PROM_COUNTER, PROM_GAUGE, PROM_HISTOGRAM } prom_type_t;

static const char *const s_type_names[] = {
    [PROM_COUNTER] = "counter",
    [PROM_GAUGE] = "gauge",
    [PROM_HISTOGRAM] = "histogram",
};

/* One metric of one worker, seen through the fields all three kinds share. */
typedef struct {
    prom_type_t type;
    const char *worker;
    const char *name;
    const char *help;
    size_t n_labels;
    Rapport__V1__Label **labels;
    const void *metric;
} prom_item_t;

/* A metric or label name with disallowed characters replaced by '_'. */
static void s_sanitize(const char *in, bool allow_colon, char *buf, size_t size)
{
    size_t o = 0;

    if (!in || !*in)
        in = "_";
    if (in[0] >= '0' && in[0] <= '9' && o + 1 < size)
        buf[o++] = '_';
    for (size_t i = 0; in[i] && o + 1 < size; i++) {
        char c = in[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || (allow_colon && c == ':');
        buf[o++] = ok ? c : '_';
    }
    buf[o] = '\0';
}

/* HELP text escaping: backslash and line feed; label values also escape
 * the double quote. */
static void s_escape(FILE *out, const char *s, bool quote)
{
    for (; s && *s; s++) {
        if (*s == '\\')
            fputs("\\\\", out);
        else if (*s == '\n')
            fputs("\\n", out);
        else if (quote && *s == '"')
            fputs("\\\"", out);
        else
            fputc(*s, out);
    }
}

static void s_double(FILE *out, double v)
{
    char buf[40];

    if (isnan(v))
        fputs("NaN", out);
    else if (isinf(v))
        fputs(v > 0 ? "+Inf" : "-Inf", out);
    else {
        s_format_double(v, buf, sizeof(buf));
        fputs(buf, out);
    }
}

/* name{worker="w",k="v",...[,le="b"]} */
static void s_sample_name(FILE *out, const char *family, const char *suffix, const prom_item_t *it,
                          const char *le)
{
    char lname[PROM_NAME_MAX];

    fprintf(out, "%s%s{worker=\"", family, suffix);
    s_escape(out, it->worker, true);
    fputc('"', out);
    for (size_t i = 0; i < it->n_labels; i++) {
        const Rapport__V1__Label *l = it->labels[i];
        if (strcmp(l->name, "worker") == 0 || strcmp(l->name, "le") == 0) {
            fprintf(out, ",exported_%s=\"", l->name);
        } else {
            s_sanitize(l->name, false, lname, sizeof(lname));
            fprintf(out, ",%s=\"", lname);
        }
        s_escape(out, l->value, true);
        fputc('"', out);
    }
    if (le)
        fprintf(out, ",le=\"%s\"", le);
    fputs("} ", out);
}

static void s_samples(FILE *out, const char *family, const prom_item_t *it)
{
    switch (it->type) {
    case PROM_COUNTER: {
        const Rapport__V1__Counter *c = it->metric;
        s_sample_name(out, family, "", it, NULL);
        fprintf(out, "%" PRIu64 "\n", c->value);
        break;
    }
    case PROM_GAUGE: {
        const Rapport__V1__Gauge *g = it->metric;
        s_sample_name(out, family, "", it, NULL);
        s_double(out, g->value);
        fputc('\n', out);
        break;
    }
    case PROM_HISTOGRAM: {
        const Rapport__V1__Histogram *h = it->metric;
        char le[40];
        uint64_t inf = h->n_counts > h->n_bounds ? h->counts[h->n_bounds] : h->count;

        for (size_t i = 0; i < h->n_bounds; i++) {
            if (isnan(h->bounds[i]) || isinf(h->bounds[i]))
                continue;
            s_format_double(h->bounds[i], le, sizeof(le));
            s_sample_name(out, family, "_bucket", it, le);
            fprintf(out, "%" PRIu64 "\n", i < h->n_counts ? h->counts[i] : 0);
        }
        s_sample_name(out, family, "_bucket", it, "+Inf");
        fprintf(out, "%" PRIu64 "\n", inf);
        s_sample_name(out, family, "_sum", it, NULL);
        s_double(out, h->sum);
        fputc('\n', out);
        s_sample_name(out, family, "_count", it, NULL);
        fprintf(out, "%" PRIu64 "\n", h->count);
        break;
    }
    }
}

static size_t s_collect(const Rapport__V1__WorkerStats *const *stats, size_t n, prom_item_t *items)
{
    size_t k = 0;

    for (size_t w = 0; w < n; w++) {
        const Rapport__V1__WorkerStats *ws = stats[w];
        if (!ws)
            continue;
        for (size_t i = 0; i < ws->n_counters; i++, k++)
            items[k] = (prom_item_t){PROM_COUNTER,
                                     ws->worker,
                                     ws->counters[i]->name,
                                     ws->counters[i]->help,
                                     ws->counters[i]->n_labels,
                                     ws->counters[i]->labels,
                                     ws->counters[i]};
        for (size_t i = 0; i < ws->n_gauges; i++, k++)
            items[k] = (prom_item_t){PROM_GAUGE,
                                     ws->worker,
                                     ws->gauges[i]->name,
                                     ws->gauges[i]->help,
                                     ws->gauges[i]->n_labels,
                                     ws->gauges[i]->labels,
                                     ws->gauges[i]};
        for (size_t i = 0; i < ws->n_histograms; i++, k++)
            items[k] = (prom_item_t){PROM_HISTOGRAM,
                                     ws->worker,
                                     ws->histograms[i]->name,
                                     ws->histograms[i]->help,
                                     ws->histograms[i]->n_labels,
                                     ws->histograms[i]->labels,
                                     ws->histograms[i]};
    }
    return k;
}

int prom_write(FILE *out, const Rapport__V1__WorkerStats *const *stats, size_t n)
{
    size_t total = 0, count;
    prom_item_t *items;
    bool *done;

    for (size_t w = 0; w < n; w++)
        if (stats[w])
            total += stats[w]->n_counters + stats[w]->n_gauges + stats[w]->n_histograms;
    items = calloc(total ? total : 1, sizeof(*items));
    done = calloc(total ? total : 1, sizeof(*done));
    if (!items || !done) {
        free(items);
        free(done);
        return -1;
    }
    count = s_collect(stats, n, items);
    for (size_t i = 0; i < count; i++) {
        char family[PROM_NAME_MAX], other[PROM_NAME_MAX];
        const char *help;

        if (done[i])
            continue;
        s_sanitize(items[i].name, true, family, sizeof(family));
        help = items[i].help && *items[i].help ? items[i].help : family;
        fprintf(out, "# HELP %s ", family);
        s_escape(out, help, false);
        fprintf(out, "\n# TYPE %s %s\n", family, s_type_names[items[i].type]);
        for (size_t j = i; j < count; j++) {
            if (done[j])
                continue;
            s_sanitize(items[j].name, true, other, sizeof(other));
            if (strcmp(other, family) != 0)
                continue;
            done[j] = true;
            if (items[j].type == items[i].type)
                s_samples(out, family, &items[j]);
        }
    }
    free(items);
    free(done);
    fflush(out);
    return ferror(out) ? -1 : 0;
}
