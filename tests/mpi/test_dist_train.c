/* Data-parallel training and evaluation across two MPI ranks (run by ctest under mpiexec -n 2),
 * against the same commands in one process: rank 0 runs the one-process references with the
 * none communicator while rank 1 waits.
 *  1. One training step of the real trainer (evae_train: shares, gathered rows, the reductions,
 *     Adam) on 2 ranks gives the parameters of the 1-rank step, within the bound that the
 *     gradients' summation order implies (below); the MNIST MLP with 13 examples (shares of 7
 *     and 6) and the CIFAR-10 conv net with the calibrated Laplace decoder and 5 (3 and 2).
 *  2. Two 2-rank runs of several steps (uneven shares, a short last batch) write bit-identical
 *     checkpoints; they stay within Adam's largest displacement of the 1-rank run.
 *  3. A 1-rank checkpoint resumed on 2 ranks, and a 2-rank checkpoint resumed on 1, continue
 *     with the right counters and stay within the same bound of the runs never interrupted.
 *  4. evae eval on 2 ranks reports the numbers of 1 rank: AIS and the classifier bit for bit
 *     (the same runs on the same backend), importance sampling within its rounding bound.
 *  5. A NaN in one rank's gradients is a NaN in every rank's parameters after the step, so the
 *     trainer's check after the epoch stops every rank alike (exit 3, nothing saved).
 *
 * Tolerance of 1: after one step Adam moves p by lr f(g), f(g) = g / (|g| + eps) up to the
 * rounding of its few operations (8 u relative, and the subtraction from p, 2 u |p|). The
 * 2-rank gradient differs from the 1-rank one by at most tau = 2 gamma_n sum_b |g_b|
 * (tests/share_grads.h; n also counts the reduction's additions), and |f(a) - f(b)| <=
 * |a - b| eps / (min(|a|, |b|) + eps)^2 (f's slope), at most 2 when the sign may flip.
 * Tolerance of 2 and 3: over t Adam steps a parameter moves at most lr sum_k rho_k with
 * rho_k = (1 - b1)/(1 - b1^k) sqrt((1 - b2^k)/(1 - b2)) sqrt(sum_{j<k} (b1^2/b2)^j), the bound of
 * |m_hat / sqrt(v_hat)| by Cauchy-Schwarz, so two runs from the same start differ by at most twice
 * that: a loose bound, which the first step's sharp one complements. */

#include "../share_grads.h"
#include "evae/cli/eval_cmd.h"
#include "evae/cli/train.h"
#include "evae/io/safetensors.h"

static evae_comm *world, *one;

/* rank 1 waits here until rank 0 arrives */
static void meet(void)
{
    int token = 0;
    world->broadcast_host(world, &token, sizeof token, 0);
}

/* a folder of rank 0's, its name known to every rank */
static void shared_dir(char *buf, size_t cap, const char *tag)
{
    if (world->rank == 0) temp_dir(buf, cap, tag);
    world->broadcast_host(world, buf, cap, 0);
}

/* train_run on the ranks of c. A failure on one rank of the world ends both, as the evae program
 * does (src/cli/main.c): a rank that went on would wait for the other in vain. */
static int train_ranks(evae_comm *c, const char *ini, const char *const *common, const char *dir,
                       int epochs, int resume)
{
    int rc = train_run(c, ini, common, dir, epochs, resume);
    if (rc && c->size > 1) {
        fprintf(stderr, "test_dist_train: training %s failed on rank %d\n", dir, c->rank);
        c->abort(c, 1);
    }
    return rc;
}


/* the tensor `name` of a run's checkpoint, as doubles (malloc'd), *n its length */
static double *tensor_of(const char *dir, const char *name, size_t *n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, EVAE_CHECKPOINT_FILE);
    evae_st_file *f = evae_st_read(path);
    const evae_st_tensor *t = f ? evae_st_find(f, name) : NULL;
    if (!t) {
        fprintf(stderr, "%s: no tensor %s\n", path, name);
        exit(1);
    }
    *n = t->nbytes / sizeof(float);
    double *v = xmalloc(*n * sizeof(double));
    const float *src = (const float *)t->data;
    for (size_t i = 0; i < *n; i++) v[i] = src[i];
    evae_st_close(f);
    return v;
}

static void expect_same_checkpoints(const char *a, const char *b, const char *what)
{
    char pa[4096], pb[4096];
    snprintf(pa, sizeof pa, "%s/%s", a, EVAE_CHECKPOINT_FILE);
    snprintf(pb, sizeof pb, "%s/%s", b, EVAE_CHECKPOINT_FILE);
    evae_st_file *fa = evae_st_read(pa), *fb = evae_st_read(pb);
    CHECK(fa && fb, "%s: checkpoints unreadable", what);
    if (!fa || !fb) return;
    int differ = 0;
    for (int i = 0; i < evae_st_count(fa); i++) {
        const evae_st_tensor *ta = evae_st_at(fa, i), *tb = evae_st_find(fb, ta->name);
        differ += !(tb && tb->nbytes == ta->nbytes && memcmp(ta->data, tb->data, ta->nbytes) == 0);
    }
    CHECK(differ == 0 && evae_st_count(fa) == evae_st_count(fb),
          "%s: %d of %d tensors differ", what, differ, evae_st_count(fa));
    evae_st_close(fa);
    evae_st_close(fb);
}

/* the checkpoints' step counters agree with `steps` Adam steps */
static void expect_steps(const char *dir, long steps, const char *what)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, EVAE_CHECKPOINT_FILE);
    evae_st_file *f = evae_st_read(path);
    const char *keys[] = {"global_step", "vae_steps", "prior_steps"};
    for (int k = 0; k < 3; k++) {
        const char *v = f ? evae_st_meta(f, keys[k]) : NULL;
        CHECK(v && atol(v) == steps, "%s: %s is %s, want %ld", what, keys[k], v ? v : "-", steps);
    }
    evae_st_close(f);
}

/* ---- 1. one step ---- */

/* |p - q| <= lr (min(2, tau eps / (|g| - tau + eps)^2) + 8 u) + 2 u |q| per element, for the
 * weights `name` of checkpoints a (2 ranks) and b (1 rank), g the gradient and tau its bound */
static void expect_first_step(const char *a, const char *b, const char *name, const double *g,
                              const double *tau, size_t count, double lr, double eps)
{
    size_t na, nb;
    double *pa = tensor_of(a, name, &na), *pb = tensor_of(b, name, &nb);
    CHECK(na == count && nb == count, "%s: %zu and %zu elements, want %zu", name, na, nb, count);
    size_t bad = 0, at = 0;
    double worst = 0.0;
    for (size_t i = 0; i < count && na == count && nb == count; i++) {
        double low = fabs(g[i]) - tau[i];
        double slope = low > 0 ? tau[i] * eps / ((low + eps) * (low + eps)) : 2.0;
        double tol = lr * ((slope < 2.0 ? slope : 2.0) + 8.0 * UR) + 2.0 * UR * fabs(pb[i]);
        double diff = fabs(pa[i] - pb[i]);
        if (!(diff <= tol)) bad++;
        if (!(diff / tol <= worst)) worst = diff / tol, at = i;
    }
    printf("first step, %s: largest difference %.3g of its bound (element %zu)\n", name, worst,
           at);
    CHECK(bad == 0, "first step, %s: %zu of %zu parameters beyond their bound", name, bad, count);
    free(pa);
    free(pb);
}

/* the checkpoint tensors holding the encoder and decoder (in model order) and the prior */
typedef struct tensor_list {
    char names[64][64];
    size_t offsets[64], counts[64];
    int in_theta[64], n;
} tensor_list;

static void list_tensor(void *ctx, const char *name, int in_theta, size_t offset, size_t count,
                        int ndim, const long *shape)
{
    tensor_list *l = ctx;
    snprintf(l->names[l->n], sizeof l->names[l->n], "%s", name);
    l->offsets[l->n] = offset;
    l->counts[l->n] = count;
    l->in_theta[l->n++] = in_theta;
}

static void first_step_case(const char *label, const char *ini, const char *const *overrides,
                            int B)
{
    char a[128], b[128];
    shared_dir(a, sizeof a, "dist-step2");
    shared_dir(b, sizeof b, "dist-step1");
    CHECK(train_ranks(world, ini, overrides, a, 1, 0) == 0, "%s: 2-rank step", label);
    if (world->rank == 0) {
        CHECK(train_run(one, ini, overrides, b, 1, 0) == 0, "%s: 1-rank step", label);
        setup t;
        setup_make(&t, ini, overrides, B);
        split_result g = run_split(&t, 1, 0), mag = run_split(&t, B, 1);
        double n = path_length(&t.m, B) + world->size, gamma = n * UR / (1.0 - n * UR);
        tensor_list l = {.n = 0};
        evae_model_each_tensor(&t.m, list_tensor, &l);
        for (int k = 0; k < l.n; k++) {
            const double *gk = (l.in_theta[k] ? g.theta : g.grads) + l.offsets[k];
            const double *mk = (l.in_theta[k] ? mag.theta : mag.grads) + l.offsets[k];
            double *tau = xmalloc(l.counts[k] * sizeof(double));
            for (size_t i = 0; i < l.counts[k]; i++) tau[i] = 2.0 * gamma * mk[i];
            double lr = l.in_theta[k] ? t.cfg.train.prior_lr : t.cfg.train.lr;
            expect_first_step(a, b, l.names[k], gk, tau, l.counts[k], lr, t.cfg.train.adam_eps);
            free(tau);
        }
        expect_steps(a, 1, label);
        split_free(&g);
        split_free(&mag);
        setup_free(&t);
    }
    meet();
}

/* ---- 2, 3. runs of several steps ---- */

/* lr sum_{k=1..t} rho_k: how far Adam can move a parameter in t steps */
static double adam_reach(double lr, double b1, double b2, int t)
{
    double reach = 0.0, geo = 0.0;
    for (int k = 1; k <= t; k++) {
        geo = geo * (b1 * b1 / b2) + 1.0; /* sum_{j<k} (b1^2/b2)^j */
        reach += (1.0 - b1) / (1.0 - pow(b1, k)) * sqrt((1.0 - pow(b2, k)) / (1.0 - b2)) *
                 sqrt(geo);
    }
    return lr * reach;
}

/* every tensor of checkpoints a and b within 2 reach(t steps) of each other */
static void expect_within_adam(const char *a, const char *b, const evae_config *cfg, int t,
                               const char *what)
{
    const char *names[] = {"encoder.0.weight", "decoder.0.weight", "prior.W", "prior.mu"};
    for (int k = 0; k < 4; k++) {
        size_t na, nb;
        double *pa = tensor_of(a, names[k], &na), *pb = tensor_of(b, names[k], &nb);
        double lr = k >= 2 ? cfg->train.prior_lr : cfg->train.lr;
        double bound = 2.0 * adam_reach(lr, cfg->train.beta1, cfg->train.beta2, t), worst = 0.0;
        for (size_t i = 0; i < na && na == nb; i++)
            if (!(fabs(pa[i] - pb[i]) <= worst)) worst = fabs(pa[i] - pb[i]);
        CHECK(na == nb && worst <= bound, "%s, %s: parameters %.3g apart (bound %.3g)", what,
              names[k], worst, bound);
        printf("%s, %s: largest difference %.3g (Adam's reach %.3g)\n", what, names[k], worst,
               bound);
        free(pa);
        free(pb);
    }
}

static void runs_and_resumes(void)
{
    /* 301 examples in batches of 63: shares of 32 and 31, a last batch of 49 (25 and 24) */
    const char *small[] = {"device=cpu", "data.train_limit=301", "train.batch=63",
                           "model.hidden=48", "model.latent=8", "model.grbm_hidden=16",
                           "sample.steps=2", "sample.n=16", NULL};
    const char *ini = "experiments/mnist.ini";
    const int steps = 5; /* per epoch */
    evae_config cfg;
    test_config(&cfg, ini, small);
    char two_a[128], two_b[128], solo[128], up[128], down[128];
    shared_dir(two_a, sizeof two_a, "dist-two-a");
    shared_dir(two_b, sizeof two_b, "dist-two-b");
    shared_dir(solo, sizeof solo, "dist-solo");
    shared_dir(up, sizeof up, "dist-up");
    shared_dir(down, sizeof down, "dist-down");
    CHECK(train_ranks(world, ini, small, two_a, 2, 0) == 0, "2-rank run");
    CHECK(train_ranks(world, ini, small, two_b, 2, 0) == 0, "second 2-rank run");
    /* 1 rank -> 2 ranks: rank 0 trains an epoch alone, then both resume */
    if (world->rank == 0) {
        CHECK(train_run(one, ini, small, solo, 2, 0) == 0, "1-rank run");
        CHECK(train_run(one, ini, small, up, 1, 0) == 0, "1-rank first epoch");
    }
    meet();
    CHECK(train_ranks(world, NULL, NULL, up, 2, 1) == 0, "resumed on 2 ranks");
    /* 2 ranks -> 1 rank */
    CHECK(train_ranks(world, ini, small, down, 1, 0) == 0, "2-rank first epoch");
    if (world->rank == 0) {
        CHECK(train_run(one, NULL, NULL, down, 2, 1) == 0, "resumed on 1 rank");
        expect_same_checkpoints(two_a, two_b, "two 2-rank runs");
        expect_steps(two_a, 2 * steps, "2-rank run");
        expect_steps(up, 2 * steps, "resumed on 2 ranks");
        expect_steps(down, 2 * steps, "resumed on 1 rank");
        expect_within_adam(two_a, solo, &cfg, 2 * steps, "2 ranks against 1");
        /* the resumed runs share their first epoch with one straight run, bit for bit */
        expect_within_adam(up, solo, &cfg, steps, "1 then 2 ranks against 1 rank");
        expect_within_adam(down, two_a, &cfg, steps, "2 then 1 rank against 2 ranks");
    }
    meet();
}

/* ---- 4. evaluation ---- */

/* the number at the dotted path of dir/eval.json, NAN when absent */
static double json_number(const char *dir, const char *path)
{
    cJSON *root = read_eval_json(dir), *node = root;
    char key[256];
    snprintf(key, sizeof key, "%s", path);
    for (char *part = strtok(key, "."); part && node; part = strtok(NULL, "."))
        node = cJSON_GetObjectItemCaseSensitive(node, part);
    double v = cJSON_IsNumber(node) ? node->valuedouble : NAN;
    cJSON_Delete(root);
    return v;
}

static void evaluation(void)
{
    const char *small[] = {"device=cpu", "data.train_limit=200", "train.batch=100",
                           "model.hidden=48", "model.latent=8", "model.grbm_hidden=16",
                           "sample.steps=2", "sample.n=16", NULL};
    char run[128], e1[128], e2[128];
    shared_dir(run, sizeof run, "dist-eval-run");
    shared_dir(e1, sizeof e1, "dist-eval-1");
    shared_dir(e2, sizeof e2, "dist-eval-2");
    if (world->rank == 0) {
        CHECK(train_run(one, "experiments/mnist.ini", small, run, 1, 0) == 0, "training to evaluate");
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "cp %s/%s %s/ && cp %s/%s %s/", run, EVAE_CHECKPOINT_FILE, e1,
                 run, EVAE_CHECKPOINT_FILE, e2);
        CHECK(system(cmd) == 0, "copying the checkpoint");
    }
    meet();
    const char *opts[] = {"eval.k=20", "eval.test_limit=37", "eval.ais_chains=50",
                          "eval.ais_temperatures=50", "eval.ais_runs=3",
                          "eval.classifier_epochs=1", "eval.classifier_train_limit=100",
                          "eval.langevin_steps=5", "device=cpu"};
    enum { NOPT = sizeof opts / sizeof *opts };
    char *argv1[3 + NOPT], *argv2[3 + NOPT];
    argv1[0] = argv2[0] = "evae";
    argv1[1] = argv2[1] = "eval";
    argv1[2] = e1;
    argv2[2] = e2;
    for (int i = 0; i < NOPT; i++) argv1[3 + i] = argv2[3 + i] = (char *)opts[i];
    if (evae_eval_main(3 + NOPT, argv2, world)) {
        fprintf(stderr, "test_dist_train: evae eval failed on rank %d\n", world->rank);
        world->abort(world, 1);
    }
    if (world->rank == 0) {
        CHECK(evae_eval_main(3 + NOPT, argv1, one) == 0, "evae eval on 1 rank");
        const char *exact[] = {"log_z.value", "log_z.std_err",
                               "estimates.neg_vlb_classifier.value",
                               "estimates.neg_vlb_classifier.heldout_accuracy"};
        for (int k = 0; k < 4; k++) {
            double v1 = json_number(e1, exact[k]), v2 = json_number(e2, exact[k]);
            CHECK(v1 == v2, "eval %s: %.17g on 1 rank, %.17g on 2", exact[k], v1, v2);
        }
        /* importance sampling: each example's numbers come from the same operations on rows of
         * other batched products (the shares' encoder passes): within 2 gamma_n of the
         * magnitudes of the terms of ln p, |ln p(x|z)| + |ALB| + |log Z| (tests/share_grads.h;
         * n: the network's path and the K samples' log-mean-exp) */
        setup t;
        setup_make(&t, "experiments/mnist.ini", small, 1);
        double n = path_length(&t.m, 20), gamma = n * UR / (1.0 - n * UR);
        setup_free(&t);
        double mag = fabs(json_number(e1, "estimates.reconstruction.value")) +
                     fabs(json_number(e1, "estimates.neg_alb.value")) +
                     fabs(json_number(e1, "log_z.value"));
        const char *approx[] = {"estimates.nll_importance_sampling.value",
                                "estimates.nll_self_normalized_eq4.value",
                                "estimates.neg_vlb_self_normalized_eq3.value",
                                "estimates.neg_elbo.value"};
        for (int k = 0; k < 4; k++) {
            double v1 = json_number(e1, approx[k]), v2 = json_number(e2, approx[k]);
            CHECK(fabs(v1 - v2) <= 2.0 * gamma * mag, "eval %s: %.17g on 1 rank, %.17g on 2 "
                  "(bound %.3g)", approx[k], v1, v2, 2.0 * gamma * mag);
            printf("eval %s: 1 rank %.12g, 2 ranks %.12g\n", approx[k], v1, v2);
        }
    }
    meet();
}

/* ---- 5. a NaN on one rank ---- */

static void nan_spreads(const char *const *overrides, int B)
{
    setup t;
    setup_make(&t, "experiments/mnist.ini", overrides, B);
    evae_model *m = &t.m;
    const evae_backend *be = m->be;
    evae_share s = evae_share_of(B, world->rank, world->size);
    be->gather_rows(be, t.w.p, t.data, t.idx + s.offset, s.count, m->x_dim);
    double l1 = evae_step_forward(m, &t.w, s, &t.cfg, 0);
    world->allreduce_host(world, &l1, 1);
    evae_step_gradients(m, &t.w, t.prior, s, &t.cfg, 0, evae_step_scale(m, l1, B));
    if (world->rank == 1) { /* one poisoned element in each gradient, on rank 1 alone */
        const float nan = NAN;
        be->upload(be, m->grads + 5, &nan, sizeof nan);
        be->upload(be, m->theta_grad + 3, &nan, sizeof nan);
    }
    evae_step_update(m, t.prior, &t.cfg, world);
    float p = 0.0f, th = 0.0f;
    be->download(be, &p, m->params + 5, sizeof p);
    be->download(be, &th, m->theta + 3, sizeof th);
    CHECK(p != p && th != th, "rank %d: a NaN of rank 1's gradients did not reach the parameters "
          "(%g, %g)", world->rank, p, th);
    CHECK(isnan(evae_model_param_sum(m)), "rank %d: the parameter sum is not NaN", world->rank);
    setup_free(&t);
}

int main(int argc, char **argv)
{
    world = evae_comm_init(&argc, &argv);
    if (!world) return 1;
    if (world->size != 2) {
        fprintf(stderr, "test_dist_train: run it on 2 ranks (mpiexec -n 2), not %d\n",
                world->size);
        evae_comm_finalize(world);
        return 1;
    }
    one = evae_comm_none();
    evae_comm_bind(one, evae_cpu_backend());
    const char *mnist[] = {"device=cpu", "data.train_limit=13", "train.batch=13",
                           "model.hidden=32", "model.latent=8", "model.grbm_hidden=16",
                           "sample.steps=2", "sample.n=16", NULL};
    first_step_case("MNIST MLP", "experiments/mnist.ini", mnist, 13);
    const char *cifar[] = {"device=cpu", "data.dir=data/cifar10-mini", "data.train_limit=5",
                           "train.batch=5", "model.grbm_hidden=8", "sample.steps=2",
                           "sample.n=4", NULL};
    first_step_case("CIFAR-10 conv", "experiments/cifar10.ini", cifar, 5);
    runs_and_resumes();
    evaluation();
    nan_spreads(mnist, 13);
    int rc = world->rank == 0 ? check_report("test_dist_train") : (check_failures ? 1 : 0);
    evae_comm_finalize(one);
    evae_comm_finalize(world);
    return rc;
}
