/* fuzz_worker: the body shared by the three worker targets. */
#ifndef RAPPORT_FUZZ_WORKER_H
#define RAPPORT_FUZZ_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_cluster.h"

/* Inputs between two resets of the stores: state carries over between
 * inputs (that is how the workers live), but not without bound. */
#define FZ_RESET_EVERY 5000

/* While fuzzing, the stores are checked every FZ_CHECK_EVERY inputs; when
 * a corpus is replayed (fuzz_main.c sets RAPPORT_FUZZ_REPLAY), after every
 * input, so that each seed is checked, the last one too. */
#define FZ_CHECK_EVERY 32

/* Start the cluster (mask) with the catalog set-up on the first call, reset
 * it every FZ_RESET_EVERY inputs, send the input to worker w, and run
 * `check` on the stores (see FZ_CHECK_EVERY; before each reset too). */
static inline void fz_worker_input(unsigned mask, fz_worker_t w, const uint8_t *data, size_t size,
                                   void (*check)(void))
{
    static bool started, replay;
    if (!started) {
        started = true;
        replay = getenv("RAPPORT_FUZZ_REPLAY") != NULL;
        fz_cluster_start(mask);
        fz_setup(RAPPORT_FUZZ_DIR "/setup/catalog.frames");
    } else if (fz_calls() >= FZ_RESET_EVERY) {
        if (check)
            check();
        fz_cluster_reset();
        fz_setup(RAPPORT_FUZZ_DIR "/setup/catalog.frames");
    }
    fz_call_input(w, data, size);
    if (check && (replay || fz_calls() % FZ_CHECK_EVERY == 0))
        check();
}

#endif
