/* fuzz_worker: the body shared by the three worker targets. */
#ifndef RAPPORT_FUZZ_WORKER_H
#define RAPPORT_FUZZ_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fuzz_cluster.h"

/* Inputs between two resets of the stores: state carries over between
 * inputs (that is how the workers live), but not without bound. */
#define FZ_RESET_EVERY 5000

/* Start the cluster (mask) with the catalog set-up on the first call, reset
 * it every FZ_RESET_EVERY inputs (after `check`, when given, has looked at
 * the stores), and send the input to worker w. */
static inline void fz_worker_input(unsigned mask, fz_worker_t w, const uint8_t *data, size_t size,
                                   void (*check)(void))
{
    static bool started;
    if (!started) {
        started = true;
        fz_cluster_start(mask);
        fz_setup(RAPPORT_FUZZ_DIR "/setup/catalog.frames");
    } else if (fz_calls() >= FZ_RESET_EVERY) {
        if (check)
            check();
        fz_cluster_reset();
        fz_setup(RAPPORT_FUZZ_DIR "/setup/catalog.frames");
    }
    fz_call_input(w, data, size);
}

#endif
