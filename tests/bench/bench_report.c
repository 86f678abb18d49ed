/* bench_report: statistics, the scenario tables and bench.json.
 *
 * Rows are kept in a fixed table as the scenarios add them; each scenario
 * prints its own rows when done and main prints them all at the end as one
 * markdown table (the one pasted into the README). The JSON writer is just
 * enough for bench.json: nested objects and arrays of numbers and strings. */
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

#define MAX_ROWS 128

static bench_row_t s_rows[MAX_ROWS];
static size_t s_n_rows;

double bench_now(void)
{
    return (double)clock_mono_ns() / 1e9;
}

static int s_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void bench_sort(double *v, size_t n)
{
    qsort(v, n, sizeof(double), s_cmp_double);
}

double bench_percentile(const double *sorted, size_t n, double q)
{
    size_t rank;

    if (n == 0)
        return NAN;
    rank = (size_t)ceil(q * (double)n);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

void bench_row(const char *scenario, const char *measure, const char *figure, const char *baseline,
               const char *ratio, const char *target, int met)
{
    bench_row_t *r;

    if (s_n_rows == MAX_ROWS)
        return;
    r = &s_rows[s_n_rows++];
    snprintf(r->scenario, sizeof(r->scenario), "%s", scenario);
    snprintf(r->measure, sizeof(r->measure), "%s", measure);
    snprintf(r->figure, sizeof(r->figure), "%s", figure);
    snprintf(r->baseline, sizeof(r->baseline), "%s", baseline ? baseline : "-");
    snprintf(r->ratio, sizeof(r->ratio), "%s", ratio ? ratio : "-");
    snprintf(r->target, sizeof(r->target), "%s", target ? target : "-");
    r->met = met;
}

size_t bench_row_count(void)
{
    return s_n_rows;
}

const bench_row_t *bench_row_at(size_t i)
{
    return i < s_n_rows ? &s_rows[i] : NULL;
}

static const char *s_met(int met)
{
    return met == MET_YES ? "yes" : met == MET_NO ? "**no**" : "-";
}

void bench_print_table(FILE *out, const char *scenario)
{
    fprintf(out, "| id | measure | figure | baseline | ratio | target | met |\n");
    fprintf(out, "|---|---|---:|---:|---:|---|---|\n");
    for (size_t i = 0; i < s_n_rows; i++) {
        const bench_row_t *r = &s_rows[i];
        if (scenario && strcmp(r->scenario, scenario) != 0)
            continue;
        fprintf(out, "| %s | %s | %s | %s | %s | %s | %s |\n", r->scenario, r->measure, r->figure,
                r->baseline, r->ratio, r->target, s_met(r->met));
    }
    fflush(out);
}

/* ---- JSON ---- */

static void s_json_key(bench_json_t *j, const char *key)
{
    if (!j->first[j->depth])
        fputc(',', j->f);
    j->first[j->depth] = false;
    fputc('\n', j->f);
    for (int i = 0; i < j->depth; i++)
        fputs("  ", j->f);
    if (!j->in_array[j->depth] && key) {
        fputc('"', j->f);
        for (const char *p = key; *p; p++) {
            if (*p == '"' || *p == '\\')
                fputc('\\', j->f);
            fputc(*p, j->f);
        }
        fputs("\": ", j->f);
    }
}

static void s_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

void bench_json_open(bench_json_t *j, FILE *f)
{
    memset(j, 0, sizeof(*j));
    j->f = f;
    j->first[0] = true;
    fputc('{', f);
}

static void s_json_push(bench_json_t *j, bool array)
{
    if (j->depth + 1 >= (int)(sizeof(j->first) / sizeof(j->first[0])))
        abort(); /* a programmer error: the report never nests that deep */
    j->depth++;
    j->first[j->depth] = true;
    j->in_array[j->depth] = array;
}

void bench_json_object(bench_json_t *j, const char *key)
{
    s_json_key(j, key);
    fputc('{', j->f);
    s_json_push(j, false);
}

void bench_json_array(bench_json_t *j, const char *key)
{
    s_json_key(j, key);
    fputc('[', j->f);
    s_json_push(j, true);
}

void bench_json_end(bench_json_t *j)
{
    bool array = j->in_array[j->depth];
    j->depth--;
    fputc('\n', j->f);
    for (int i = 0; i < j->depth; i++)
        fputs("  ", j->f);
    fputc(array ? ']' : '}', j->f);
}

void bench_json_num(bench_json_t *j, const char *key, double v)
{
    s_json_key(j, key);
    if (isfinite(v))
        fprintf(j->f, "%.6g", v);
    else
        fputs("null", j->f);
}

void bench_json_int(bench_json_t *j, const char *key, uint64_t v)
{
    s_json_key(j, key);
    fprintf(j->f, "%llu", (unsigned long long)v);
}

void bench_json_str(bench_json_t *j, const char *key, const char *v)
{
    s_json_key(j, key);
    s_json_string(j->f, v);
}

void bench_json_bool(bench_json_t *j, const char *key, bool v)
{
    s_json_key(j, key);
    fputs(v ? "true" : "false", j->f);
}

void bench_json_null(bench_json_t *j, const char *key)
{
    s_json_key(j, key);
    fputs("null", j->f);
}

void bench_json_close(bench_json_t *j)
{
    fputs("\n}\n", j->f);
}

void bench_json_rows(bench_json_t *j, const char *key)
{
    bench_json_array(j, key);
    for (size_t i = 0; i < s_n_rows; i++) {
        const bench_row_t *r = &s_rows[i];
        bench_json_object(j, NULL);
        bench_json_str(j, "id", r->scenario);
        bench_json_str(j, "measure", r->measure);
        bench_json_str(j, "figure", r->figure);
        bench_json_str(j, "baseline", r->baseline);
        bench_json_str(j, "ratio", r->ratio);
        bench_json_str(j, "target", r->target);
        if (r->met == MET_NA)
            bench_json_null(j, "met");
        else
            bench_json_bool(j, "met", r->met == MET_YES);
        bench_json_end(j);
    }
    bench_json_end(j);
}

/* The value of "key:" in a /proc file, after the colon, trimmed. */
static bool s_proc_field(const char *path, const char *key, char *out, size_t outlen)
{
    FILE *f = fopen(path, "r");
    char line[512];
    size_t klen = strlen(key);
    bool found = false;

    if (!f)
        return false;
    while (fgets(line, sizeof(line), f)) {
        char *p, *end;
        if (strncmp(line, key, klen) != 0)
            continue;
        p = strchr(line, ':');
        if (!p)
            continue;
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        end = p + strlen(p);
        while (end > p && (end[-1] == '\n' || end[-1] == ' '))
            *--end = '\0';
        snprintf(out, outlen, "%s", p);
        found = true;
        break;
    }
    fclose(f);
    return found;
}

const char *bench_fs_type(const char *path)
{
    struct statfs fs;

    if (statfs(path, &fs) != 0)
        return "unknown";
    switch ((unsigned long)fs.f_type) {
    case 0xEF53:
        return "ext4";
    case 0x58465342:
        return "xfs";
    case 0x9123683E:
        return "btrfs";
    case 0x01021994:
        return "tmpfs";
    case 0x794C7630:
        return "overlayfs";
    case 0x2FC12FC1:
        return "zfs";
    default:
        return "other";
    }
}

double bench_loadavg(char *buf, size_t len)
{
    FILE *f = fopen("/proc/loadavg", "r");
    char line[128];
    double load1 = NAN;

    snprintf(buf, len, "?");
    if (!f)
        return load1;
    if (fgets(line, sizeof(line), f)) {
        char *end, *p = line;
        /* "0.52 0.48 0.40 1/123 4567": the three averages */
        for (int i = 0; i < 3 && p; i++)
            p = strchr(p + 1, ' ');
        if (p)
            *p = '\0';
        snprintf(buf, len, "%s", line);
        errno = 0;
        load1 = strtod(line, &end);
        if (errno || end == line)
            load1 = NAN;
    }
    fclose(f);
    return load1;
}

void bench_json_machine(bench_json_t *j, const char *tmp_root, const char *load_start)
{
    char load_end[64];
    const char *rev = getenv("RAPPORT_BENCH_REV");

    struct utsname u;
    char buf[256], date[64];
    time_t now = time(NULL);
    struct tm tm;
    struct statvfs vfs;

    bench_json_int(j, "nproc", (uint64_t)sysconf(_SC_NPROCESSORS_ONLN));
    if (s_proc_field("/proc/meminfo", "MemTotal", buf, sizeof(buf))) {
        char *end;
        unsigned long long kb;
        errno = 0;
        kb = strtoull(buf, &end, 10);
        if (!errno && end != buf)
            bench_json_int(j, "memory_bytes", (uint64_t)kb * 1024);
    }
    if (uname(&u) == 0) {
        bench_json_str(j, "kernel", u.release);
        bench_json_str(j, "machine", u.machine);
    }
    if (s_proc_field("/proc/cpuinfo", "model name", buf, sizeof(buf)))
        bench_json_str(j, "cpu", buf);
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm);
    bench_json_str(j, "date", date);
    bench_json_str(j, "loadavg_at_start", load_start);
    bench_loadavg(load_end, sizeof(load_end));
    bench_json_str(j, "loadavg_at_end", load_end);
    bench_json_str(j, "tmp_dir", tmp_root);
    bench_json_str(j, "tmp_fs", bench_fs_type(tmp_root));
    if (rev && *rev)
        bench_json_str(j, "source_revision", rev);
    if (statvfs(tmp_root, &vfs) == 0)
        bench_json_int(j, "tmp_free_bytes", (uint64_t)vfs.f_bavail * vfs.f_frsize);
}
