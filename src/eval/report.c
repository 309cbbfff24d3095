/* eval.json and eval.md of `evae eval` (evae/eval/eval.h): every number with the estimator that made
 * it, its settings and its standard error; log-likelihoods are reported as NLL = -ln p(x) in nats
 * (lower is better), plus bits/dim for logit-space (CIFAR-10) data. */
#define _DEFAULT_SOURCE /* M_PI under -std=c11 */
#include "evae/eval/eval.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evae/io/atomic_file.h"
#include "evae/util.h"

static void add_time(cJSON *o, const char *name, const evae_stage_time *t)
{
    cJSON *s = cJSON_AddObjectToObject(o, name);
    cJSON_AddNumberToObject(s, "cpu_s", t->cpu_s);
    cJSON_AddNumberToObject(s, "wall_s", t->wall_s);
}

/* {"estimator", "value" = -q.mean, "std_err", ["bits_per_dim", "bits_per_dim_std_err"], "note"} */
static cJSON *add_estimate(cJSON *parent, const char *name, const char *estimator,
                           const evae_quantity *q, int bpd, const char *note)
{
    cJSON *o = cJSON_AddObjectToObject(parent, name);
    cJSON_AddStringToObject(o, "estimator", estimator);
    cJSON_AddNumberToObject(o, "value", -q->mean);
    cJSON_AddNumberToObject(o, "std_err", q->std_err);
    cJSON_AddStringToObject(o, "unit", "nats");
    if (bpd) {
        cJSON_AddNumberToObject(o, "bits_per_dim", q->bpd);
        cJSON_AddNumberToObject(o, "bits_per_dim_std_err", q->bpd_std_err);
    }
    cJSON_AddStringToObject(o, "note", note);
    return o;
}

static void add_difference(cJSON *parent, const char *name, const char *meaning, double value,
                           double std_err)
{
    cJSON *o = cJSON_AddObjectToObject(parent, name);
    cJSON_AddStringToObject(o, "meaning", meaning);
    cJSON_AddNumberToObject(o, "value", value);
    cJSON_AddNumberToObject(o, "std_err", std_err);
    cJSON_AddStringToObject(o, "unit", "nats");
}

static cJSON *is_settings(cJSON *o, const evae_eval_report *r)
{
    cJSON *s = cJSON_AddObjectToObject(o, "settings");
    cJSON_AddNumberToObject(s, "k", r->cfg.eval.k);
    cJSON_AddNumberToObject(s, "rows_per_pass", r->cfg.eval.batch);
    cJSON_AddStringToObject(s, "proposal", "q(z|x), K independent draws per test example");
    cJSON_AddStringToObject(s, "log_z", r->lz.exact ? "exact (N(0, I) prior)" : "AIS (log_z)");
    cJSON_AddNumberToObject(s, "seed", (double)r->cfg.eval.seed);
    return s;
}

static cJSON *classifier_settings(cJSON *o, const evae_eval_report *r)
{
    const evae_config *c = &r->cfg;
    cJSON *s = cJSON_AddObjectToObject(o, "settings");
    cJSON_AddStringToObject(s, "architecture", "MLP [x | z] -> hidden -> hidden -> 1 (ReLU)");
    cJSON_AddNumberToObject(s, "hidden", c->eval.classifier_hidden);
    cJSON_AddNumberToObject(s, "epochs", c->eval.classifier_epochs);
    cJSON_AddNumberToObject(s, "batch", c->eval.classifier_batch);
    cJSON_AddNumberToObject(s, "lr", c->eval.classifier_lr);
    cJSON_AddNumberToObject(s, "train_examples", r->cls.train_examples);
    cJSON_AddStringToObject(s, "prior_sampler",
                            "Langevin chains started at N(mu, sigma^2), one per example");
    cJSON_AddNumberToObject(s, "langevin_steps", c->eval.langevin_steps);
    cJSON_AddNumberToObject(s, "langevin_eta", c->eval.langevin_eta);
    cJSON_AddNumberToObject(s, "test_samples_per_example", 1);
    cJSON_AddNumberToObject(s, "seed", (double)c->eval.seed);
    return s;
}

/* One configuration key into the JSON object: numbers as numbers (the text reads back to the
 * very value), names as strings. */
static void add_setting(void *obj, const char *key, evae_value_kind kind, const char *value)
{
    switch (kind) {
    case EVAE_VALUE_NUMBER: cJSON_AddNumberToObject(obj, key, strtod(value, NULL)); break;
    case EVAE_VALUE_BOOL: cJSON_AddBoolToObject(obj, key, value[0] == 't'); break;
    case EVAE_VALUE_TEXT: cJSON_AddStringToObject(obj, key, value); break;
    }
}

static cJSON *build_json(const evae_eval_report *r)
{
    const evae_is_summary *is = &r->is;
    const evae_log_z *lz = &r->lz;
    const int bpd = r->bits_per_dim;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "program", "evae " EVAE_VERSION);
    cJSON_AddStringToObject(j, "checkpoint", r->checkpoint);
    cJSON_AddNumberToObject(j, "checkpoint_epoch", (double)r->epoch);
    cJSON_AddStringToObject(j, "device", r->device);
    cJSON_AddStringToObject(j, "dataset", evae_data_set_name(r->cfg.data.dataset));
    cJSON_AddStringToObject(j, "prior", evae_prior_name(r->cfg.model.prior));
    if (r->cfg.model.prior == EVAE_PRIOR_GRBM)
        cJSON_AddStringToObject(j, "prior_objective",
                                evae_prior_objective_name(r->cfg.prior.objective));
    cJSON_AddStringToObject(j, "unit", bpd ? "nats of the logit-space data, and bits/dim of the "
                                             "8-bit images"
                                           : "nats");
    cJSON_AddStringToObject(j, "orientation", "value = -log-likelihood (lower is better)");
    cJSON *ts = cJSON_AddObjectToObject(j, "test_set");
    cJSON_AddStringToObject(ts, "name", r->test_set);
    cJSON_AddNumberToObject(ts, "examples", r->n_test);
    cJSON_AddStringToObject(ts, "inputs",
                            bpd ? "dequantized and logit-transformed once, noise from eval.seed; "
                                  "the same inputs for every estimate"
                                : "binarized once, Bernoulli draws from eval.seed; the same "
                                  "inputs for every estimate");
    cJSON_AddNumberToObject(ts, "seed", (double)r->cfg.eval.seed);
    cJSON_AddNumberToObject(ts, "data_dim", r->x_dim);
    cJSON_AddStringToObject(ts, "per_example", "eval_examples.csv");

    /* stage 1 */
    cJSON *lo = cJSON_AddObjectToObject(j, "log_z");
    if (lz->exact) {
        cJSON_AddStringToObject(lo, "estimator", "exact: N(0, I) prior, (d/2) ln 2pi + ln 2 for "
                                                 "its one free hidden unit");
        cJSON_AddNumberToObject(lo, "value", lz->log_z);
        cJSON_AddNumberToObject(lo, "std_err", 0.0);
    } else {
        const evae_ais_opts *o = &lz->opts;
        cJSON_AddStringToObject(lo, "estimator",
                                "AIS: base N(mu, sigma^2) x 2^n (W = 0, b = 0), W and b annealed "
                                "by beta from 0 to 1, block-Gibbs transitions, log of the mean "
                                "importance weight over all chains of all runs");
        cJSON_AddNumberToObject(lo, "value", lz->log_z);
        cJSON_AddNumberToObject(lo, "std_err", lz->std_err);
        cJSON_AddNumberToObject(lo, "run_std", lz->run_std);
        cJSON_AddItemToObject(lo, "run_values",
                              cJSON_CreateDoubleArray(lz->run_log_z, lz->runs));
        cJSON_AddNumberToObject(lo, "ess", lz->ess);
        /* delta method on the pooled weights: sd(w)/(sqrt(N) mean(w)) = sqrt(1/ESS - 1/N); blind
         * to weights the chains never drew, so the run spread is the primary error */
        int total = o->chains * lz->runs;
        cJSON_AddNumberToObject(lo, "std_err_from_ess",
                                sqrt(fmax(0.0, 1.0 / lz->ess - 1.0 / total)));
        cJSON_AddNumberToObject(lo, "log_z0", lz->log_z0);
        if (isfinite(r->objective_log_z)) {
            cJSON *ob = cJSON_AddObjectToObject(lo, "objective_log_z");
            cJSON_AddStringToObject(ob, "estimator", "the prior objective's own estimate: NCE's "
                                                     "learned c (prior.objective = nce)");
            cJSON_AddNumberToObject(ob, "value", r->objective_log_z);
            cJSON_AddNumberToObject(ob, "minus_ais", r->objective_log_z - lz->log_z);
        }
        cJSON *s = cJSON_AddObjectToObject(lo, "settings");
        cJSON_AddNumberToObject(s, "chains", o->chains);
        cJSON_AddNumberToObject(s, "temperatures", o->temperatures);
        cJSON_AddStringToObject(s, "schedule", evae_ais_schedule_name(o->schedule));
        cJSON_AddNumberToObject(s, "sigmoid_delta", o->sigmoid_delta);
        cJSON_AddNumberToObject(s, "gibbs_steps", o->gibbs_steps);
        cJSON_AddNumberToObject(s, "runs", o->runs);
        cJSON_AddNumberToObject(s, "seed", (double)o->seed);
        cJSON_AddStringToObject(s, "run_seeds", "run r uses seed + r");
        cJSON_AddStringToObject(lo, "note",
                                "AIS's weight is unbiased for Z, so its log is a stochastic lower "
                                "bound on log Z (P(estimate > log Z + t) <= e^-t). No upper "
                                "bracket: reverse AIS needs exact samples of the GRBM, which only "
                                "small n allows.");
    }

    /* stages 2-5 */
    cJSON *es = cJSON_AddObjectToObject(j, "estimates");
    cJSON *o = add_estimate(
        es, "nll_importance_sampling",
        "importance sampling: -[ln mean_k exp(ln p(x|z_k) - E(z_k) - ln q(z_k|x)) - log Z], "
        "z_k ~ q(z|x)",
        &is->ln_p, bpd,
        "the headline number. std_err is over test examples; log_z_std_err adds through log Z. "
        "ln of a mean of K unbiased weights is a stochastic lower bound on ln p(x) + log Z, and "
        "AIS's log Z one on log Z, so their difference is an estimate without a guaranteed "
        "direction");
    cJSON_AddNumberToObject(o, "log_z_std_err", lz->exact ? 0.0 : lz->std_err);
    cJSON_AddNumberToObject(o, "std_err_total",
                            sqrt(is->ln_p.std_err * is->ln_p.std_err +
                                 (lz->exact ? 0.0 : lz->std_err * lz->std_err)));
    is_settings(o, r);

    o = add_estimate(es, "nll_self_normalized_eq4",
                     "paper eq. 4: -ln[mean_k exp(ln p(x|z_k) - E(z_k) - ln q(z_k|x)) / "
                     "mean_k exp(-E(z_k) - ln q(z_k|x))], the same z_k",
                     &is->sn_eq4, bpd,
                     "divides by a per-example importance estimate of Z with q(z|x) as proposal; "
                     "ln of it is low in expectation, so ln p(x) comes out too high");
    cJSON_AddNumberToObject(o, "ln_p_bias_vs_importance_sampling", is->bias_eq4.mean);
    is_settings(o, r);

    o = add_estimate(es, "neg_vlb_self_normalized_eq3",
                     "paper eq. 3: -[mean_k (ln p(x|z_k) - E(z_k) - ln q(z_k|x)) - "
                     "ln mean_k exp(-E(z_k) - ln q(z_k|x))], the same z_k",
                     &is->sn_eq3, bpd,
                     "a VLB estimate with the same self-normalized Z: too high compared with the "
                     "ELBO");
    cJSON_AddNumberToObject(o, "vlb_bias_vs_elbo", is->bias_eq3.mean);
    is_settings(o, r);

    o = add_estimate(es, "neg_vlb_classifier",
                     "paper Algorithm 2: -E_test[ln p(x|z) - T(x, z)], z ~ q(z|x), T a "
                     "classifier of (x, z ~ q(z|x)) against (x, z ~ prior) estimating "
                     "ln q(z|x) - ln p(z)",
                     &r->cls.vlb, bpd,
                     "depends on the classifier's training and on the prior chains; "
                     "saturates when the classes separate (large KL)");
    cJSON_AddNumberToObject(o, "heldout_accuracy", r->cls.heldout_accuracy);
    cJSON_AddNumberToObject(o, "train_loss", r->cls.train_loss);
    cJSON_AddNumberToObject(o, "train_accuracy", r->cls.train_accuracy);
    cJSON_AddNumberToObject(o, "kl_estimate", r->cls.kl.mean);
    cJSON_AddNumberToObject(o, "kl_estimate_std_err", r->cls.kl.std_err);
    classifier_settings(o, r);

    o = add_estimate(es, "neg_elbo",
                     "-(ALB - log Z): mean_k (ln p(x|z_k) - E(z_k)) + entropy of q(z|x), minus "
                     "log Z",
                     &is->elbo, bpd,
                     lz->exact ? "a true lower bound on ln p(x): the value bounds the NLL above"
                               : "the variational lower bound with the AIS log Z");
    is_settings(o, r);

    o = add_estimate(es, "neg_alb",
                     "-ALB: mean_k (ln p(x|z_k) - E(z_k)) + analytic entropy of q(z|x)",
                     &is->alb, 0,
                     "NOT a bound on ln p(x) for an unnormalized prior: ln p(x) >= ALB - log Z; "
                     "the training objective");
    is_settings(o, r);

    o = add_estimate(es, "reconstruction", "-E_q ln p(x|z), mean over the K samples", &is->ll, 0,
                     "the decoder term of the ALB");
    is_settings(o, r);

    cJSON *bi = cJSON_AddObjectToObject(j, "biases");
    add_difference(bi, "eq4_minus_importance_sampling",
                   "ln p(x) by eq. 4 minus ln p(x) by importance sampling = mean (log Z - ln "
                   "mean_k exp(-E - ln q)); > 0: eq. 4 is biased upward",
                   is->bias_eq4.mean, is->bias_eq4.std_err);
    add_difference(bi, "eq3_minus_elbo",
                   "VLB by eq. 3 minus ALB - log Z; > 0: eq. 3 is biased upward",
                   is->bias_eq3.mean, is->bias_eq3.std_err);
    add_difference(bi, "classifier_minus_elbo",
                   "VLB by the classifier minus ALB - log Z, paired by test example (the same x, "
                   "independent z); > 0: the classifier's KL is too small",
                   r->cls_minus_elbo.mean, r->cls_minus_elbo.std_err);

    cJSON *dg = cJSON_AddObjectToObject(j, "diagnostics");
    cJSON_AddNumberToObject(dg, "is_ess_fraction_mean", is->ess_frac_mean);
    cJSON_AddNumberToObject(dg, "is_ess_fraction_min", is->ess_frac_min);
    cJSON_AddNumberToObject(dg, "kl_log_z", r->kl_log_z.mean);
    cJSON_AddNumberToObject(dg, "kl_log_z_std_err", r->kl_log_z.std_err);
    cJSON_AddNumberToObject(dg, "kl_classifier", r->cls.kl.mean);
    cJSON_AddNumberToObject(dg, "kl_classifier_std_err", r->cls.kl.std_err);
    cJSON_AddNumberToObject(dg, "classifier_heldout_accuracy", r->cls.heldout_accuracy);

    cJSON *tm = cJSON_AddObjectToObject(j, "timing");
    add_time(tm, "prepare", &r->t_prepare);
    add_time(tm, "log_z", &r->t_log_z);
    add_time(tm, "importance_sampling", &r->t_is);
    add_time(tm, "classifier", &r->t_classifier);
    add_time(tm, "total", &r->t_total);

    /* every [eval] key, as the config table lists them */
    evae_config_each_key(&r->cfg, "eval", add_setting, cJSON_AddObjectToObject(j, "settings"));
    return j;
}

/* "12.34 ± 0.05" or with bits/dim "12.34 ± 0.05 (3.456 ± 0.001 bits/dim)" */
static void fmt_value(char *buf, size_t n, const evae_quantity *q, int bpd, int negate)
{
    double v = negate ? -q->mean : q->mean;
    if (bpd && isfinite(q->bpd))
        snprintf(buf, n, "%.2f ± %.2f (%.4f ± %.4f bits/dim)", v, q->std_err, q->bpd,
                 q->bpd_std_err);
    else
        snprintf(buf, n, "%.2f ± %.2f", v, q->std_err);
}

void evae_eval_print_table(const evae_eval_report *r, FILE *f)
{
    const evae_is_summary *is = &r->is;
    const evae_log_z *lz = &r->lz;
    const evae_config *c = &r->cfg;
    const int bpd = r->bits_per_dim;
    char v[160], lzs[256];
    if (lz->exact)
        snprintf(lzs, sizeof lzs, "%.4f (exact, N(0, I) prior)", lz->log_z);
    else
        snprintf(lzs, sizeof lzs,
                 "%.4f ± %.4f (AIS: %d chains x %d %s temperatures x %d runs, run sd %.4f, "
                 "ESS %.0f of %d)",
                 lz->log_z, lz->std_err, lz->opts.chains, lz->opts.temperatures,
                 evae_ais_schedule_name(c->eval.ais_schedule), lz->runs, lz->run_std, lz->ess,
                 lz->opts.chains * lz->runs);
    fprintf(f, "Checkpoint `%s` (epoch %ld): %s, prior %s, %d %s examples, device %s.\n\n",
            r->checkpoint, r->epoch, evae_data_set_name(c->data.dataset),
            evae_prior_name(c->model.prior), r->n_test, r->test_set, r->device);
    fprintf(f, "log Z = %s\n\n", lzs);
    if (isfinite(r->objective_log_z))
        fprintf(f, "NCE's learned ln Z (c) = %.4f, %+.4f from AIS's log Z\n\n",
                r->objective_log_z, r->objective_log_z - lz->log_z);
    fprintf(f, "| quantity (nats, lower is better) | estimator | value ± SE | note |\n");
    fprintf(f, "|---|---|---|---|\n");
    fmt_value(v, sizeof v, &is->ln_p, bpd, 1);
    fprintf(f, "| **NLL** | importance sampling, K = %d, %s log Z | **%s** | headline%s |\n",
            c->eval.k, lz->exact ? "exact" : "AIS", v,
            lz->exact ? "" : "; ± is over test examples, log Z adds its own SE");
    fmt_value(v, sizeof v, &is->sn_eq4, bpd, 1);
    fprintf(f, "| NLL | self-normalized, paper eq. 4, K = %d | %s | ln p biased by %+.2f ± %.2f "
               "vs IS |\n",
            c->eval.k, v, is->bias_eq4.mean, is->bias_eq4.std_err);
    fmt_value(v, sizeof v, &is->sn_eq3, bpd, 1);
    fprintf(f, "| −VLB | self-normalized, paper eq. 3, K = %d | %s | VLB biased by %+.2f ± %.2f "
               "vs ELBO |\n",
            c->eval.k, v, is->bias_eq3.mean, is->bias_eq3.std_err);
    fmt_value(v, sizeof v, &r->cls.vlb, bpd, 1);
    fprintf(f, "| −VLB | classifier T(x,z), paper Alg. 2 (%d epochs, Langevin %d x %g) | %s | "
               "VLB off by %+.2f ± %.2f vs ELBO; held-out accuracy %.3f, KL %.2f (log Z gives "
               "%.2f) |\n",
            c->eval.classifier_epochs, c->eval.langevin_steps, c->eval.langevin_eta, v,
            r->cls_minus_elbo.mean, r->cls_minus_elbo.std_err, r->cls.heldout_accuracy,
            r->cls.kl.mean, r->kl_log_z.mean);
    fmt_value(v, sizeof v, &is->elbo, bpd, 1);
    fprintf(f, "| −ELBO | ALB − log Z, K = %d | %s | %s |\n", c->eval.k, v,
            lz->exact ? "a true bound" : "a bound up to the AIS error");
    fmt_value(v, sizeof v, &is->alb, 0, 1);
    fprintf(f, "| −ALB | ALB with analytic entropy, K = %d | %s | **not a bound on ln p(x)** for "
               "an unnormalized prior (ln p(x) ≥ ALB − log Z) |\n",
            c->eval.k, v);
    fmt_value(v, sizeof v, &is->ll, 0, 1);
    fprintf(f, "| reconstruction | −E_q ln p(x\\|z), K = %d | %s | |\n", c->eval.k, v);
    fprintf(f, "\nIS effective sample size: mean %.1f%%, min %.2f%% of K. ", 100 * is->ess_frac_mean,
            100 * is->ess_frac_min);
    fprintf(f, "Classifier: hidden %d, batch %d, lr %g, %d training examples, final training loss "
               "%.4f (accuracy %.3f).\n",
            c->eval.classifier_hidden, c->eval.classifier_batch, c->eval.classifier_lr,
            r->cls.train_examples, r->cls.train_loss, r->cls.train_accuracy);
    fprintf(f, "\n| stage | CPU s | wall s |\n|---|---|---|\n");
    const struct { const char *name; const evae_stage_time *t; } rows[] = {
        {"data, model, test inputs", &r->t_prepare},
        {lz->exact ? "log Z (exact)" : "log Z (AIS)", &r->t_log_z},
        {"importance sampling (IS, eqs. 3-4, ALB)", &r->t_is},
        {"classifier (Algorithm 2)", &r->t_classifier},
        {"total", &r->t_total},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
        fprintf(f, "| %s | %.1f | %.1f |\n", rows[i].name, rows[i].t->cpu_s, rows[i].t->wall_s);
}

static int write_table(FILE *f, void *r)
{
    fputs("# Evaluation (`evae eval`)\n\n", f);
    evae_eval_print_table(r, f);
    return 0;
}

int evae_eval_write(const evae_eval_report *r)
{
    cJSON *j = build_json(r);
    char path[4200];
    snprintf(path, sizeof path, "%s/eval.json", r->out_dir);
    int rc = evae_atomic_write_json(path, j);
    cJSON_Delete(j);
    snprintf(path, sizeof path, "%s/eval.md", r->out_dir);
    rc = rc || evae_atomic_write(path, write_table, (void *)r);
    return rc;
}
