#include "evae/cli/progress.h"

#define _DEFAULT_SOURCE /* POSIX.1-2008 and M_PI under -std=c11 */
#include <stdio.h>
#include <unistd.h>

#include "evae/util.h"

void evae_progress_init(evae_progress *p)
{
    p->tty = isatty(fileno(stderr));
    p->last_draw = 0.0;
}

int evae_progress_due(evae_progress *p) { return p->tty && evae_now() - p->last_draw >= 0.2; }

void evae_progress_draw(evae_progress *p, int epoch, int epochs, int step, int steps, double loss,
                        double examples_per_s, double eta_s)
{
    if (!p->tty) return;
    p->last_draw = evae_now();
    int eta = eta_s > 0 ? (int)(eta_s + 0.5) : 0;
    fprintf(stderr, "\r\033[Kepoch %d/%d  step %d/%d  loss %.3f  %.0f ex/s  ETA %d:%02d:%02d",
            epoch, epochs, step, steps, loss, examples_per_s, eta / 3600, eta / 60 % 60, eta % 60);
    fflush(stderr);
}

void evae_progress_clear(evae_progress *p)
{
    if (p->tty) fprintf(stderr, "\r\033[K");
}
