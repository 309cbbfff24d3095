/* A rank's share of a global batch. A data-parallel run splits every batch of `total` examples
 * into contiguous shares, one per rank; a rank computes examples [offset, offset + count) and
 * normalizes by `total`, so that the sum of the ranks' gradients is the gradient of the mean over
 * the whole batch. One process is the share (total, 0, total). */
#ifndef EVAE_DIST_SHARE_H
#define EVAE_DIST_SHARE_H

typedef struct evae_share {
    int total;  /* examples in the global batch */
    int offset; /* index of this share's first example in it */
    int count;  /* examples in this share (0 when the batch has fewer examples than ranks) */
} evae_share;

/* The share of rank `rank` of `size`: the first total % size ranks get one example more, so
 * shares differ by at most one and cover the batch in rank order. */
static inline evae_share evae_share_of(int total, int rank, int size)
{
    int base = total / size, extra = total % size;
    evae_share s = {total, rank * base + (rank < extra ? rank : extra),
                    base + (rank < extra ? 1 : 0)};
    return s;
}

/* The whole batch, for one process. */
static inline evae_share evae_share_whole(int total)
{
    evae_share s = {total, 0, total};
    return s;
}

#endif
