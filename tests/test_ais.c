/* AIS estimates of the GRBM's log Z (through the CPU backend's op table) against the exact value
 * by enumeration of all 2^12 hidden states, for weak, moderate and strong coupling; and the same
 * check must reject AIS whose transitions run at the wrong temperature. */
#include <stdlib.h>

#include "check.h"
#include "evae/eval/ais.h"
#include "evae/backend/backend.h"
#include "evae/math/grbm.h"
#include "evae/model/grbm_exact.h"
#include "evae/math/philox.h"

enum { d = 8, n = 12 };

static void random_theta(float *th, double wscale, uint64_t seed)
{
    uint64_t k = 0;
    for (int i = 0; i < d; i++) th[i] = 0.3f * evae_normal_at(seed, 1, k++);
    for (int i = 0; i < d; i++) th[d + i] = 0.2f * evae_normal_at(seed, 1, k++);
    for (int i = 0; i < d * n; i++) th[2 * d + i] = (float)wscale * evae_normal_at(seed, 1, k++);
    for (int j = 0; j < n; j++) th[2 * d + d * n + j] = 0.5f * evae_normal_at(seed, 1, k++);
}

/* The tolerance: 4 standard errors (estimated from the spread of the independent runs) plus a
 * floor of 0.005 nats for what that spread does not see: the float32 evaluation of the
 * energies. Each AIS step differences two float energies of magnitude up to ~250 here
 * (ulp 1.5e-5), which accumulates like a random walk to ~sqrt(2K) * 1e-5 ~ 3e-4 over K = 400
 * steps, and computing a in float perturbs the integrand by ~1e-6 relative on |a| <~ 50 over
 * 12 units, <= 1e-3 nats. AIS's own downward bias in log Z, ~SE^2/2, is far below 4 SE. */
static const double floor_nats = 0.005;

static int within(const evae_ais_result *r, double exact)
{
    return fabs(r->log_z - exact) <= 4.0 * r->std_err + floor_nats;
}

static void run_scale(const evae_backend *be, double wscale, evae_ais_schedule schedule)
{
    float th_host[2 * d + d * n + n];
    random_theta(th_host, wscale, 3);
    double exact;
    CHECK(evae_grbm_exact_log_z(th_host, d, n, &exact) == 0, "exact log Z failed");
    float *th = be->alloc(be, sizeof th_host); /* theta in backend memory */
    be->upload(be, th, th_host, sizeof th_host);

    evae_ais_opts o = evae_ais_default_opts();
    o.chains = 100;
    o.temperatures = 400;
    o.runs = 10;
    o.schedule = schedule;
    o.seed = 17;
    evae_ais_result r;
    CHECK(evae_ais_log_z(be, th, d, n, &o, &r) == 0, "AIS failed");
    const char *sched = schedule == EVAE_AIS_LINEAR ? "linear" : "sigmoid";
    printf("W scale %.1f (%s): exact %.4f, AIS %.4f +- %.4f (SE), diff %+.4f, ESS %.0f of %d\n",
           wscale, sched, exact, r.log_z, r.std_err, r.log_z - exact, r.ess, r.total_chains);
    CHECK(within(&r, exact), "W scale %g %s: AIS %.4f, exact %.4f, SE %.4f", wscale, sched,
          r.log_z, exact, r.std_err);
    double lz0 = 0.5 * d * log(2 * 3.14159265358979323846) + n * log(2.0);
    for (int i = 0; i < d; i++) lz0 += th_host[d + i];
    CHECK_CLOSE(r.log_z0, lz0, 1e-9, 0.0, "log Z of the base");
    CHECK(r.ess >= 1.0 && r.ess <= r.total_chains + 1e-9 && r.total_chains == 1000,
          "ESS %.3f of %d chains", r.ess, r.total_chains);
    /* the pooled estimate lies within the runs' range (it is their log-mean-exp) */
    double lo = INFINITY, hi = -INFINITY;
    for (int k = 0; k < r.runs; k++) {
        lo = fmin(lo, r.run_log_z[k]);
        hi = fmax(hi, r.run_log_z[k]);
    }
    CHECK(r.log_z >= lo - 1e-9 && r.log_z <= hi + 1e-9, "pooled estimate outside the runs");

    /* Mutation: the Gibbs transitions at 0.9 beta_k instead of beta_k. The chains lag behind the
     * path the weights assume; the same tolerance must reject the result. */
    o.mutate_beta = 0.9f;
    evae_ais_result bad;
    CHECK(evae_ais_log_z(be, th, d, n, &o, &bad) == 0, "AIS failed");
    printf("  transitions at 0.9 beta: AIS %.4f +- %.4f, diff %+.4f\n", bad.log_z, bad.std_err,
           bad.log_z - exact);
    CHECK(!within(&bad, exact), "W scale %g %s: AIS with wrong transitions passed (%.4f vs %.4f)",
          wscale, sched, bad.log_z, exact);
    be->free(be, th);
}

static void test_schedules(void)
{
    evae_ais_opts o = evae_ais_default_opts();
    o.temperatures = 50;
    double beta[51];
    for (int s = 0; s < 2; s++) {
        o.schedule = s ? EVAE_AIS_SIGMOID : EVAE_AIS_LINEAR;
        CHECK(evae_ais_betas(&o, beta) == 0, "betas failed");
        int increasing = 1;
        for (int k = 1; k <= 50; k++) increasing &= beta[k] > beta[k - 1];
        CHECK(beta[0] == 0.0 && beta[50] == 1.0 && increasing, "schedule %d not 0 .. 1 increasing",
              s);
    }
    /* sigmoid: denser at the ends than in the middle */
    CHECK(beta[1] - beta[0] < beta[26] - beta[25], "sigmoid schedule not denser near 0");
    /* the names are the config's (test_config); a value outside the enum is refused here */
    evae_ais_opts bad = o;
    bad.schedule = (evae_ais_schedule)7;
    CHECK(evae_ais_betas(&bad, beta) != 0, "unknown schedule accepted");
    o.runs = EVAE_AIS_MAX_RUNS + 1;
    CHECK(evae_ais_betas(&o, beta) != 0, "too many runs accepted");
}

/* The spread of the runs: for {1, 2, 3, 4} the mean 2.5 is exact and the variance is 5/3; the
 * few double roundings on the way (four divisions, three sums, a square root) stay below
 * 1e-15 relative. */
static void test_run_spread(void)
{
    const double runs[4] = {1.0, 2.0, 3.0, 4.0};
    double sd, se;
    evae_ais_run_spread(runs, 4, &sd, &se);
    CHECK_CLOSE(sd, sqrt(5.0 / 3.0), 0.0, 1e-15, "run standard deviation");
    CHECK(se == sd / 2.0, "standard error = sd / sqrt(4): %.17g vs %.17g", se, sd / 2.0);
    evae_ais_run_spread(runs, 1, &sd, &se);
    CHECK(isnan(sd) && isnan(se), "one run has no spread");
}

int main(void)
{
    const evae_backend *be = evae_cpu_backend();
    test_schedules();
    test_run_spread();
    run_scale(be, 0.1, EVAE_AIS_SIGMOID);
    run_scale(be, 1.0, EVAE_AIS_LINEAR);
    run_scale(be, 2.0, EVAE_AIS_SIGMOID);
    return check_report("test_ais");
}
