/* Host-and-device function qualifier: the per-element math in evae's headers compiles as plain C
 * for the CPU backend and as CUDA device code for the kernels, so both run the same formulas. */
#ifndef EVAE_HD_H
#define EVAE_HD_H

#ifdef __CUDACC__
#define EVAE_HD static inline __host__ __device__
#else
#define EVAE_HD static inline
#endif

#endif
