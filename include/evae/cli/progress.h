/* The live progress line of a training epoch: rewritten in place on a terminal, silent otherwise
 * (logs and CI get one summary line per epoch instead). */
#ifndef EVAE_PROGRESS_H
#define EVAE_PROGRESS_H

typedef struct evae_progress {
    int tty;          /* stderr is a terminal */
    double last_draw; /* time of the last redraw */
} evae_progress;

void evae_progress_init(evae_progress *p);
/* True when a redraw is due (on a terminal, at most 5 per second): callers compute the numbers
 * to show only then, since that may synchronize with the device. */
int evae_progress_due(evae_progress *p);
void evae_progress_draw(evae_progress *p, int epoch, int epochs, int step, int steps, double loss,
                        double examples_per_s, double eta_s);
void evae_progress_clear(evae_progress *p);

#endif
