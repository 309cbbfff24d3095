/* `evae eval` end to end on tiny models trained here (GRBM and N(0, I) priors): eval.json has
 * every number present and finite, each estimate labelled with its estimator and settings, the
 * AIS settings and the time of each stage; eval.md has the table and says the ALB is no bound;
 * the same command gives the same numbers; bad arguments fail with a message. eval_examples.csv
 * holds one row per test example whose column means are eval.json's values and, for CIFAR-10,
 * whose per-example bits/dim (value - log_det) / (D ln 2) + 8 average to eval.json's bits/dim. */
#include "run_helpers.h"

#include "check.h"
#include "evae/cli/eval_cmd.h"
#include "evae/eval/eval.h"
#include "evae/cli/train.h"
#include "evae/io/safetensors.h"

/* every number in the tree is finite, and nothing is null (cJSON writes NaN as null) */
static int all_finite(const cJSON *j, const char *path)
{
    int ok = 1;
    if (cJSON_IsNull(j)) {
        fprintf(stderr, "%s is null\n", path);
        return 0;
    }
    if (cJSON_IsNumber(j) && !isfinite(j->valuedouble)) {
        fprintf(stderr, "%s = %g\n", path, j->valuedouble);
        return 0;
    }
    for (const cJSON *c = j->child; c; c = c->next) {
        char sub[512];
        snprintf(sub, sizeof sub, "%s.%s", path, c->string ? c->string : "[]");
        ok &= all_finite(c, sub);
    }
    return ok;
}

static const cJSON *get(const cJSON *o, const char *a, const char *b)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, a);
    return b ? cJSON_GetObjectItemCaseSensitive(x, b) : x;
}

static int is_text(const cJSON *j) { return cJSON_IsString(j) && j->valuestring[0]; }

static int eval_run(const char *dir, const char *extra)
{
    const char *argv[] = {"evae", "eval", dir, "device=cpu", "eval.k=20",
                          "eval.batch=50", /* several decoder passes per example */
                          "eval.test_limit=30", "eval.ais_chains=20", "eval.ais_temperatures=30",
                          "eval.ais_runs=2", "eval.classifier_epochs=2",
                          "eval.classifier_hidden=16", "eval.classifier_batch=64",
                          "eval.classifier_train_limit=300", "eval.langevin_steps=10", extra};
    int argc = (int)(sizeof argv / sizeof *argv) - (extra ? 0 : 1);
    return evae_eval_main(argc, (char **)argv, one_process());
}

static void check_schema(const cJSON *j, int grbm)
{
    CHECK(j != NULL, "eval.json parses");
    if (!j) return;
    CHECK(all_finite(j, "eval"), "every number finite");
    CHECK(is_text(get(j, "log_z", "estimator")), "log_z.estimator");
    CHECK(cJSON_IsNumber(get(j, "log_z", "value")) && cJSON_IsNumber(get(j, "log_z", "std_err")),
          "log_z value and std_err");
    if (grbm) {
        const cJSON *s = get(j, "log_z", "settings");
        CHECK(cJSON_IsNumber(get(s, "chains", NULL)) && get(s, "chains", NULL)->valueint == 20 &&
                  get(s, "temperatures", NULL)->valueint == 30 &&
                  get(s, "runs", NULL)->valueint == 2 && is_text(get(s, "schedule", NULL)) &&
                  cJSON_IsNumber(get(s, "gibbs_steps", NULL)),
              "AIS settings");
        CHECK(cJSON_GetArraySize(get(j, "log_z", "run_values")) == 2, "one value per AIS run");
        CHECK(cJSON_IsNumber(get(j, "log_z", "ess")) && cJSON_IsNumber(get(j, "log_z", "run_std")),
              "ESS and spread");
    } else {
        /* N(0, I) in d = 8 with its one free hidden unit: (d/2) ln 2pi + ln 2 */
        CHECK_CLOSE(get(j, "log_z", "value")->valuedouble, 4 * log(2 * 3.14159265358979) + log(2),
                    1e-9, 0, "exact log Z");
        CHECK(strncmp(get(j, "log_z", "estimator")->valuestring, "exact", 5) == 0,
              "labelled exact");
    }
    const char *names[] = {"nll_importance_sampling", "nll_self_normalized_eq4",
                           "neg_vlb_self_normalized_eq3", "neg_vlb_classifier", "neg_elbo",
                           "neg_alb", "reconstruction"};
    const cJSON *es = get(j, "estimates", NULL);
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const cJSON *e = get(es, names[i], NULL);
        CHECK(e && is_text(get(e, "estimator", NULL)) && cJSON_IsNumber(get(e, "value", NULL)) &&
                  cJSON_IsNumber(get(e, "std_err", NULL)) && is_text(get(e, "note", NULL)) &&
                  cJSON_IsObject(get(e, "settings", NULL)),
              "estimate %s: estimator, value, std_err, note, settings", names[i]);
    }
    CHECK(get(get(es, "nll_importance_sampling", "settings"), "k", NULL)->valueint == 20,
          "K in the IS settings");
    const cJSON *cs = get(get(es, "neg_vlb_classifier", NULL), "settings", NULL);
    CHECK(get(cs, "langevin_steps", NULL)->valueint == 10 &&
              cJSON_IsNumber(get(cs, "langevin_eta", NULL)) &&
              get(cs, "epochs", NULL)->valueint == 2,
          "chain and classifier settings");
    const cJSON *acc = get(get(es, "neg_vlb_classifier", NULL), "heldout_accuracy", NULL);
    CHECK(cJSON_IsNumber(acc) && acc->valuedouble >= 0 && acc->valuedouble <= 1,
          "held-out accuracy");
    CHECK(strstr(get(get(es, "neg_alb", NULL), "note", NULL)->valuestring, "NOT a bound"),
          "the ALB is labelled as no bound");
    const char *diffs[] = {"eq4_minus_importance_sampling", "eq3_minus_elbo",
                           "classifier_minus_elbo"};
    for (size_t i = 0; i < 3; i++)
        CHECK(cJSON_IsNumber(get(get(j, "biases", diffs[i]), "value", NULL)), "bias %s",
              diffs[i]);
    const char *stages[] = {"prepare", "log_z", "importance_sampling", "classifier", "total"};
    for (size_t i = 0; i < 5; i++) {
        const cJSON *t = get(get(j, "timing", NULL), stages[i], NULL);
        CHECK(cJSON_IsNumber(get(t, "cpu_s", NULL)) && get(t, "cpu_s", NULL)->valuedouble >= 0 &&
                  cJSON_IsNumber(get(t, "wall_s", NULL)),
              "timing of %s", stages[i]);
    }
    CHECK(get(j, "test_set", "examples")->valueint == 30, "test examples");
    /* the top-level settings: every [eval] key, typed, with the values the command gave */
    const cJSON *st = get(j, "settings", NULL);
    int keys = 0;
    for (const cJSON *e = st ? st->child : NULL; e; e = e->next) keys++;
    CHECK(keys == 17, "settings hold the 17 [eval] keys, not %d", keys);
    CHECK(get(st, "k", NULL) && get(st, "k", NULL)->valueint == 20 &&
              get(st, "ais_runs", NULL)->valueint == 2 &&
              get(st, "classifier_lr", NULL)->valuedouble == 1e-3 &&
              get(st, "seed", NULL)->valueint == 1 &&
              cJSON_IsString(get(st, "ais_schedule", NULL)) &&
              strcmp(get(st, "ais_schedule", NULL)->valuestring, "sigmoid") == 0,
          "settings values and types");
}

/* eval_examples.csv against eval.json j: the header, a row per test example, the means. Both are
 * double means of the same per-example doubles in the same order, negated exactly, and the
 * file prints 17 digits, which read back to the same doubles: they agree to the last bits, so
 * the bound is a few ulps (1e-12 relative). */
static void check_examples(const char *dir, const cJSON *j, int bpd)
{
    static const char *const cols[] = {"nll_importance_sampling", "nll_self_normalized_eq4",
                                       "neg_vlb_self_normalized_eq3", "neg_vlb_classifier",
                                       "neg_elbo", "neg_alb", "reconstruction"};
    enum { NC = 7, MAX_ROWS = 64 };
    char path[512];
    snprintf(path, sizeof path, "%s/eval_examples.csv", dir);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "%s written", path);
    if (!f || !j) return;
    char line[4096];
    CHECK(fgets(line, sizeof line, f) &&
              strcmp(line, "example,nll_importance_sampling,nll_self_normalized_eq4,"
                           "neg_vlb_self_normalized_eq3,neg_vlb_classifier,neg_elbo,neg_alb,"
                           "reconstruction,log_det\n") == 0,
          "eval_examples.csv header");
    static double v[MAX_ROWS][NC + 1];
    int rows = 0, bad = 0;
    while (rows < MAX_ROWS && fgets(line, sizeof line, f)) {
        int e, used = 0;
        char *p = line;
        bad |= sscanf(p, "%d%n", &e, &used) != 1 || e != rows;
        p += used;
        for (int c = 0; c <= NC; c++) {
            bad |= sscanf(p, ",%lf%n", &v[rows][c], &used) != 1;
            p += used;
        }
        rows++;
    }
    fclose(f);
    CHECK(!bad, "rows numbered 0, 1, ... with 8 numbers each");
    CHECK(rows == get(j, "test_set", "examples")->valueint, "one row per test example (%d)", rows);
    const int D = get(j, "test_set", "data_dim")->valueint;
    for (int c = 0; c < NC; c++) {
        double m = 0, mb = 0;
        for (int r = 0; r < rows; r++) {
            m += v[r][c];
            mb += (v[r][c] - v[r][NC]) / (D * log(2.0)) + 8.0;
        }
        m /= rows;
        mb /= rows;
        const cJSON *e = get(get(j, "estimates", NULL), cols[c], NULL);
        double want = get(e, "value", NULL)->valuedouble;
        CHECK(fabs(m - want) <= 1e-12 * fabs(want), "%s: CSV mean %.17g, eval.json %.17g",
              cols[c], m, want);
        const cJSON *b = get(e, "bits_per_dim", NULL);
        if (bpd && b)
            CHECK(fabs(mb - b->valuedouble) <= 1e-12 * b->valuedouble,
                  "%s: CSV bits/dim %.17g, eval.json %.17g", cols[c], mb, b->valuedouble);
    }
    if (bpd)
        CHECK(get(get(get(j, "estimates", NULL), "nll_importance_sampling", NULL),
                  "bits_per_dim", NULL) && v[0][NC] != 0.0,
              "CIFAR-10: bits/dim in eval.json, log_det in the file");
}

/* the numbers of two runs agree exactly: every subtree but timing */
static void check_same(const cJSON *a, const cJSON *b)
{
    const char *parts[] = {"log_z", "estimates", "biases", "diagnostics"};
    for (size_t i = 0; i < 4; i++) {
        char *ta = cJSON_PrintUnformatted(get(a, parts[i], NULL));
        char *tb = cJSON_PrintUnformatted(get(b, parts[i], NULL));
        CHECK(ta && tb && strcmp(ta, tb) == 0, "the same command gives the same %s", parts[i]);
        free(ta);
        free(tb);
    }
}

static void run_prior(const char *ini, int grbm)
{
    char dir[64], kv[128];
    temp_dir(dir, sizeof dir, grbm ? "eval-grbm" : "eval-gauss");
    snprintf(kv, sizeof kv, "run.dir=%s", dir);
    const char *over[] = {"device=cpu", "train.epochs=1", kv, "model.hidden=32",
                          "model.latent=8", "model.grbm_hidden=16", "data.train_limit=600",
                          "train.batch=100", NULL};
    evae_config cfg;
    test_config(&cfg, ini, over);
    CHECK(evae_train(&cfg, NULL, 0, NULL, one_process()) == 0, "training the tiny model");
    CHECK(eval_run(dir, NULL) == 0, "evae eval");
    cJSON *first = read_eval_json(dir);
    check_schema(first, grbm);
    check_examples(dir, first, 0);
    CHECK(first && !get(get(first, "log_z", NULL), "objective_log_z", NULL),
          "no objective's own log Z without nce");
    CHECK(file_exists(dir, "eval.md"), "eval.md written");
    char md[512];
    snprintf(md, sizeof md, "%s/eval.md", dir);
    FILE *f = fopen(md, "r");
    static char text[1 << 16];
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f) fclose(f);
    text[n] = '\0';
    CHECK(strstr(text, "| **NLL** | importance sampling, K = 20") &&
              strstr(text, "not a bound on ln p(x)") && strstr(text, "| stage | CPU s |"),
          "eval.md table");
    /* same command again: same numbers; the checkpoint path form works too */
    char ckpt[128];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", dir);
    CHECK(eval_run(ckpt, NULL) == 0, "evae eval CHECKPOINT");
    cJSON *second = read_eval_json(dir);
    if (first && second) check_same(first, second);
    /* a different seed changes the draws */
    CHECK(eval_run(dir, "eval.seed=2") == 0, "evae eval eval.seed=2");
    cJSON *third = read_eval_json(dir);
    char *ta = cJSON_PrintUnformatted(get(first, "estimates", NULL));
    char *tc = cJSON_PrintUnformatted(get(third, "estimates", NULL));
    CHECK(ta && tc && strcmp(ta, tc) != 0, "eval.seed reaches the draws");
    free(ta);
    free(tc);
    /* bad input: a message and a non-zero status */
    CHECK(eval_run(dir, "eval.nosuch=1") != 0, "unknown key rejected");
    CHECK(eval_run(dir, "eval.ais_runs=1") != 0, "a single AIS run has no spread: rejected");
    CHECK(eval_run("/nonexistent-run", NULL) != 0, "missing run folder rejected");
    cJSON_Delete(first);
    cJSON_Delete(second);
    cJSON_Delete(third);
}

/* A tiny CIFAR-10 model: eval_examples.csv in bits/dim. */
static void run_cifar(void)
{
    char dir[64], kv[128];
    temp_dir(dir, sizeof dir, "eval-cifar");
    snprintf(kv, sizeof kv, "run.dir=%s", dir);
    const char *over[] = {"device=cpu", "train.epochs=1", kv, "data.dir=data/cifar10-mini",
                          "data.train_limit=100", "train.batch=50",
                          "model.grbm_hidden=8", "sample.n=4", "sample.steps=2", NULL};
    evae_config cfg;
    test_config(&cfg, "experiments/cifar10.ini", over);
    CHECK(evae_train(&cfg, NULL, 0, NULL, one_process()) == 0, "training the tiny CIFAR-10 model");
    CHECK(eval_run(dir, NULL) == 0, "evae eval of the CIFAR-10 model");
    cJSON *j = read_eval_json(dir);
    check_examples(dir, j, 1);
    cJSON_Delete(j);
}

/* NCE's learned ln Z is reported beside AIS's, from the checkpoint's state */
static void run_nce(void)
{
    char dir[64], kv[128];
    temp_dir(dir, sizeof dir, "eval-nce");
    snprintf(kv, sizeof kv, "run.dir=%s", dir);
    const char *over[] = {"device=cpu", "train.epochs=1", kv, "model.hidden=32",
                          "model.latent=8", "model.grbm_hidden=16", "data.train_limit=600",
                          "train.batch=100", "prior.objective=nce", NULL};
    evae_config cfg;
    test_config(&cfg, "experiments/mnist.ini", over);
    CHECK(evae_train(&cfg, NULL, 0, NULL, one_process()) == 0, "training the tiny model with nce");
    CHECK(eval_run(dir, NULL) == 0, "evae eval of the nce model");
    cJSON *j = read_eval_json(dir);
    const cJSON *ob = get(get(j, "log_z", NULL), "objective_log_z", NULL);
    double c = cJSON_IsNumber(get(ob, "value", NULL)) ? get(ob, "value", NULL)->valuedouble : NAN;
    double ais = get(j, "log_z", "value") ? get(j, "log_z", "value")->valuedouble : NAN;
    CHECK(isfinite(c) && cJSON_IsNumber(get(ob, "minus_ais", NULL)) &&
              fabs(get(ob, "minus_ais", NULL)->valuedouble - (c - ais)) < 1e-9,
          "eval.json: log_z.objective_log_z with its value and minus_ais");
    CHECK(is_text(get(j, "prior_objective", NULL)) &&
              strcmp(get(j, "prior_objective", NULL)->valuestring, "nce") == 0,
          "eval.json names the objective");
    /* the c of the checkpoint, not some other number: the tensor itself */
    char ckpt[128];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", dir);
    evae_st_file *f = evae_st_read(ckpt);
    const evae_st_tensor *t = f ? evae_st_find(f, "objective.nce.log_z") : NULL;
    CHECK(t && t->nbytes == 4 && ((const float *)t->data)[0] == (float)c,
          "the reported c is the checkpoint's objective.nce.log_z");
    evae_st_close(f);
    cJSON_Delete(j);
}

int main(void)
{
    run_cifar();
    run_nce();
    run_prior("experiments/mnist.ini", 1);
    run_prior("experiments/mnist_gaussian.ini", 0);
    return check_report("test_eval_report");
}
