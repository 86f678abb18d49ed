/* fuzz_config: config_load_buffer over arbitrary bytes (a rapport.conf).
 * Either it applies the lines, leaving every string key NUL-terminated in
 * its buffer and every number within its bounds, or it fails with a
 * message that names the file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void s_check_str(const char *name, const char *buf, size_t cap)
{
    if (!memchr(buf, '\0', cap)) {
        fprintf(stderr, "fuzz_config: %s is not terminated\n", name);
        abort();
    }
}

#define CHECK_STR(cfg, f) s_check_str(#f, (cfg).f, sizeof((cfg).f))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    config_t cfg;
    char err[512];
    rp_err rc;

    config_defaults(&cfg);
    err[0] = '\0';
    rc = config_load_buffer(&cfg, "fuzz.conf", (const char *)data, size, err, sizeof(err));
    if (rc != RP_OK && rc != RP_ECONFIG) {
        fprintf(stderr, "fuzz_config: unexpected error %s\n", rp_err_name(rc));
        abort();
    }
    if (rc != RP_OK && strncmp(err, "fuzz.conf", 9) != 0) {
        fprintf(stderr, "fuzz_config: the error does not name the file: '%s'\n", err);
        abort();
    }
    config_finalize(&cfg);
    CHECK_STR(cfg, run_dir);
    CHECK_STR(cfg, state_dir);
    CHECK_STR(cfg, log_level);
    CHECK_STR(cfg, interaction_endpoint);
    CHECK_STR(cfg, segment_endpoint);
    CHECK_STR(cfg, logwriter_endpoint);
    CHECK_STR(cfg, events_endpoint);
    CHECK_STR(cfg, curve_secret_key_file);
    CHECK_STR(cfg, curve_server_key_dir);
    CHECK_STR(cfg, curve_client_keys_dir);
    CHECK_STR(cfg, curve_client_secret_key_file);
    if (cfg.sndhwm < 1 || cfg.rcvhwm < 1 || cfg.max_msg_size < 1024 ||
        cfg.request_timeout_ms < 10 || cfg.batch_max < 1 || cfg.log_batch_entries < 1 ||
        cfg.log_credit < 1 || cfg.map_size < 1048576 || cfg.event_retention_days < 1 ||
        cfg.dedup_retention_days < 1 || cfg.sync_mode > CONFIG_SYNC_NONE ||
        cfg.handshake_timeout_ms < 100 || cfg.preauth_max_connections < 1 ||
        cfg.preauth_max_bytes < 1024) {
        fprintf(stderr, "fuzz_config: a number outside its bounds was accepted\n");
        abort();
    }
    return 0;
}
