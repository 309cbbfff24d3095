/* The data set helpers: the deterministic shuffle (a permutation, reproducible, different per
 * epoch and seed, uniform), label counts and the held-out split. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "evae/data/dataset.h"
#include "evae/math/philox.h"

static int is_permutation(const int *perm, int n)
{
    char *seen = calloc((size_t)n + 1, 1);
    int ok = 1;
    for (int i = 0; i < n; i++) {
        if (perm[i] < 0 || perm[i] >= n || seen[perm[i]]) ok = 0;
        else seen[perm[i]] = 1;
    }
    free(seen);
    return ok;
}

static void test_shuffle(void)
{
    enum { N = 60000 };
    int *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b), *c = malloc(N * sizeof *c);
    evae_shuffle(a, N, 1234, 0);
    CHECK(is_permutation(a, N), "shuffle of %d is a permutation", N);
    int fixed = 0;
    for (int i = 0; i < N; i++) fixed += a[i] == i;
    /* A uniform permutation has Poisson(1) fixed points: 10 or more has probability ~1e-7. */
    CHECK(fixed < 10, "%d fixed points", fixed);

    memset(b, 0xff, N * sizeof *b); /* the output does not depend on what perm held before */
    evae_shuffle(b, N, 1234, 0);
    CHECK(memcmp(a, b, N * sizeof *a) == 0, "same (seed, epoch) gives the same permutation");
    evae_shuffle(c, N, 1234, 1);
    CHECK(is_permutation(c, N), "epoch 1 is a permutation");
    CHECK(memcmp(a, c, N * sizeof *a) != 0, "epochs 0 and 1 differ");
    evae_shuffle(c, N, 1235, 0);
    CHECK(memcmp(a, c, N * sizeof *a) != 0, "seeds 1234 and 1235 differ");

    /* The documented recipe, written out independently: Fisher-Yates from the back, draw i of
     * stream (SHUFFLE, epoch). Pins the exact order so a resumed run sees the same batches. */
    int ref[50], got[50];
    for (int i = 0; i < 50; i++) ref[i] = i;
    for (int i = 49; i > 0; i--) {
        float u = evae_uniform_at(77, evae_stream(EVAE_STREAM_SHUFFLE, 3), (uint64_t)i);
        int j = (int)((double)u * (i + 1));
        int t = ref[i];
        ref[i] = ref[j];
        ref[j] = t;
    }
    evae_shuffle(got, 50, 77, 3);
    CHECK(memcmp(ref, got, sizeof ref) == 0, "shuffle follows the documented recipe");

    /* Edge sizes. */
    int one = -1;
    evae_shuffle(&one, 1, 5, 0);
    CHECK(one == 0, "n = 1 gives [0]");
    evae_shuffle(NULL, 0, 5, 0); /* n = 0 touches nothing */

    /* Uniformity: over E epochs, element 0 lands at each of 5 positions E/5 times. The count is
     * Binomial(E, 1/5): sd = sqrt(E * 0.16) = 56.6 for E = 20000; 5 sd (283) fails a correct
     * shuffle with probability ~6e-7 per cell, while an off-by-one in the swap range (j in 0..i-1,
     * Sattolo's algorithm) leaves element 0 never at position 0 and fails at once. */
    enum { E = 20000, M = 5 };
    int where[M][M] = {{0}};
    int p[M];
    for (int e = 0; e < E; e++) {
        evae_shuffle(p, M, 99, (uint64_t)e);
        for (int k = 0; k < M; k++) where[p[k]][k]++;
    }
    for (int v = 0; v < M; v++)
        for (int k = 0; k < M; k++)
            CHECK(abs(where[v][k] - E / M) < 283, "element %d at position %d %d times of %d", v,
                  k, where[v][k], E);
    free(a), free(b), free(c);
}

static void test_split_counts(void)
{
    /* 6 examples of 2x3x2 (dim 12), pixel (i, k) = 40 * i + k; label i % 4. */
    evae_dataset d = {.n = 6, .channels = 2, .height = 3, .width = 2};
    d.pixels = malloc(6 * 12);
    d.labels = malloc(6);
    for (int i = 0; i < 6; i++) {
        d.labels[i] = (uint8_t)(i % 4);
        for (int k = 0; k < 12; k++) d.pixels[i * 12 + k] = (uint8_t)(40 * i + k);
    }
    int counts[EVAE_NUM_CLASSES];
    evae_dataset_label_counts(&d, counts);
    CHECK(counts[0] == 2 && counts[1] == 2 && counts[2] == 1 && counts[3] == 1 && counts[4] == 0,
          "label counts %d %d %d %d %d", counts[0], counts[1], counts[2], counts[3], counts[4]);

    evae_dataset tail;
    CHECK(evae_dataset_split_last(&d, 2, &tail, "six") == 0, "split 2 of 6");
    CHECK(d.n == 4 && tail.n == 2, "sizes %d / %d", d.n, tail.n);
    CHECK(tail.channels == 2 && tail.height == 3 && tail.width == 2, "tail keeps the shape");
    int moved = tail.labels[0] == 0 && tail.labels[1] == 1;
    for (int k = 0; k < 12; k++) moved &= tail.pixels[k] == (uint8_t)(160 + k);
    CHECK(moved, "tail = examples 4 and 5");
    CHECK(d.pixels[3 * 12 + 1] == 121, "head keeps example 3");
    fprintf(stderr, "(the next two error lines are expected)\n");
    evae_dataset none;
    CHECK(evae_dataset_split_last(&d, 4, &none, "four") != 0, "cannot hold out everything");
    CHECK(evae_dataset_split_last(&d, 0, &none, "four") != 0, "cannot hold out nothing");
    CHECK(none.n == 0 && none.pixels == NULL && d.n == 4, "a failed split changes nothing");
    evae_dataset_free(&d);
    evae_dataset_free(&tail);
}

int main(void)
{
    test_shuffle();
    test_split_counts();
    return check_report("test_dataset");
}
