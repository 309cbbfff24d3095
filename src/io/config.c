/* Run configuration: one table of every key drives parsing, checking, writing and the reference
 * text. INI syntax is parsed by inih (Debian libinih, whose options are run-time variables). */
#define _POSIX_C_SOURCE 200809L

#include "evae/io/config.h"

#include "evae/util.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum key_type { KEY_INT, KEY_LONG, KEY_FLOAT, KEY_BOOL, KEY_STRING, KEY_CHOICE } key_type;

/* One allowed value of a choice key: its name in files and messages, its enum value in
 * evae_config. Lists end with {NULL, 0}; the first name listed is shown first. */
typedef struct choice {
    const char *name;
    int value;
} choice;

static const choice device_choices[] = {
    {"auto", EVAE_DEVICE_AUTO}, {"cpu", EVAE_DEVICE_CPU}, {"cuda", EVAE_DEVICE_CUDA}, {NULL, 0}};
static const choice data_set_choices[] = {
    {"mnist", EVAE_DATA_MNIST}, {"cifar10", EVAE_DATA_CIFAR10}, {NULL, 0}};
static const choice prior_choices[] = {
    {"grbm", EVAE_PRIOR_GRBM}, {"gaussian", EVAE_PRIOR_GAUSSIAN}, {NULL, 0}};
static const choice projection_choices[] = {
    {"gaussian", EVAE_PROJECTION_GAUSSIAN}, {"rademacher", EVAE_PROJECTION_RADEMACHER}, {NULL, 0}};
static const choice sampler_choices[] = {
    {"langevin", EVAE_SAMPLER_LANGEVIN}, {"gibbs", EVAE_SAMPLER_GIBBS}, {NULL, 0}};
static const choice objective_choices[] = {
    {"ssm", EVAE_OBJECTIVE_SSM},   {"dsm", EVAE_OBJECTIVE_DSM}, {"pcd", EVAE_OBJECTIVE_PCD},
    {"snis", EVAE_OBJECTIVE_SNIS}, {"nce", EVAE_OBJECTIVE_NCE}, {NULL, 0}};
static const choice nce_noise_choices[] = {
    {"fitted", EVAE_NCE_NOISE_FITTED}, {"standard", EVAE_NCE_NOISE_STANDARD}, {NULL, 0}};
static const choice pcd_sampler_choices[] = {
    {"gibbs", EVAE_SAMPLER_GIBBS}, {"langevin", EVAE_SAMPLER_LANGEVIN}, {NULL, 0}};
static const choice ais_schedule_choices[] = {
    {"sigmoid", EVAE_AIS_SIGMOID}, {"linear", EVAE_AIS_LINEAR}, {NULL, 0}};

static const char *choice_name(const choice *list, int value)
{
    for (const choice *c = list; c->name; c++)
        if (c->value == value) return c->name;
    return "?";
}

const char *evae_device_name(evae_device v) { return choice_name(device_choices, v); }
const char *evae_data_set_name(evae_data_set v) { return choice_name(data_set_choices, v); }
const char *evae_prior_name(evae_prior_kind v) { return choice_name(prior_choices, v); }
const char *evae_projection_name(evae_projection v) { return choice_name(projection_choices, v); }
const char *evae_sampler_name(evae_sampler v) { return choice_name(sampler_choices, v); }
const char *evae_prior_objective_name(evae_prior_objective v)
{
    return choice_name(objective_choices, v);
}
const char *evae_nce_noise_name(evae_nce_noise v) { return choice_name(nce_noise_choices, v); }
const char *evae_ais_schedule_name(evae_ais_schedule v)
{
    return choice_name(ais_schedule_choices, v);
}

typedef struct config_key {
    const char *name;  /* "section.key", or "key" for the few keys before any section */
    key_type type;
    size_t offset;     /* where the value lives in evae_config */
    size_t size;       /* sizeof that field (checked against the type; char array length) */
    const char *def;   /* default as text, parsed by the same code as user values */
    long long imin, imax;     /* KEY_INT, KEY_LONG: inclusive range */
    double fmin, fmax;        /* KEY_FLOAT: range ... */
    bool fmin_open, fmax_open; /* ... with an excluded bound where set */
    const choice *choices;    /* KEY_CHOICE: the allowed values; the field is an enum */
    bool nonempty;            /* KEY_STRING: "" is not allowed */
    const char *doc;
} config_key;

#define FIELD(f) .offset = offsetof(evae_config, f), .size = sizeof(((evae_config *)0)->f)
#define INT_KEY(nm, f, d, lo, hi, dc) \
    {.name = nm, .type = KEY_INT, FIELD(f), .def = d, .imin = lo, .imax = hi, .doc = dc}
#define LONG_KEY(nm, f, d, lo, hi, dc) \
    {.name = nm, .type = KEY_LONG, FIELD(f), .def = d, .imin = lo, .imax = hi, .doc = dc}
/* lo_open / hi_open: true when the bound itself is not allowed */
#define FLOAT_KEY(nm, f, d, lo, lo_open, hi, hi_open, dc)                                     \
    {.name = nm, .type = KEY_FLOAT, FIELD(f), .def = d, .fmin = lo, .fmin_open = lo_open,  \
     .fmax = hi, .fmax_open = hi_open, .doc = dc}
#define BOOL_KEY(nm, f, d, dc) {.name = nm, .type = KEY_BOOL, FIELD(f), .def = d, .doc = dc}
#define STRING_KEY(nm, f, d, ne, dc) \
    {.name = nm, .type = KEY_STRING, FIELD(f), .def = d, .nonempty = ne, .doc = dc}
#define CHOICE_KEY(nm, f, d, ch, dc) \
    {.name = nm, .type = KEY_CHOICE, FIELD(f), .def = d, .choices = ch, .doc = dc}

/* The single list of keys. Keys without a section come first; each section's keys together. */
static const config_key config_keys[] = {
    CHOICE_KEY("device", device, "auto", device_choices,
               "compute backend; auto = cuda when a GPU is usable, else cpu"),

    STRING_KEY("run.dir", run.dir, "", false,
               "output folder; empty = runs/<name>-<YYYYmmdd-HHMMSS>"),
    STRING_KEY("run.name", run.name, "mnist", true, "run name, prefix of the default folder"),

    CHOICE_KEY("data.dataset", data.dataset, "mnist", data_set_choices, "which data set"),
    STRING_KEY("data.dir", data.dir, "data/mnist-10k", true, "folder holding the data files"),
    INT_KEY("data.validation", data.validation, "0", 0, 1000000,
            "training examples held out for validation"),
    INT_KEY("data.train_limit", data.train_limit, "0", 0, 10000000,
            "use only the first N training examples; 0 = all"),

    CHOICE_KEY("model.prior", model.prior, "grbm", prior_choices,
               "latent prior: GRBM energy, or the standard normal baseline"),
    INT_KEY("model.latent", model.latent, "64", 1, 4096, "latent dimension d (= GRBM visible units)"),
    INT_KEY("model.hidden", model.hidden, "512", 1, 65536, "MLP hidden width (MNIST networks)"),
    INT_KEY("model.grbm_hidden", model.grbm_hidden, "128", 1, 65536, "GRBM hidden units n"),

    INT_KEY("train.epochs", train.epochs, "100", 0, 100000, "passes over the training set"),
    INT_KEY("train.batch", train.batch, "512", 1, 1 << 20, "minibatch size"),
    FLOAT_KEY("train.lr", train.lr, "1e-3", 0, true, 1, false, "Adam step size of the VAE"),
    FLOAT_KEY("train.prior_lr", train.prior_lr, "2e-4", 0, true, 1, false,
              "Adam step size of the GRBM prior"),
    FLOAT_KEY("train.beta1", train.beta1, "0.9", 0, false, 1, true, "Adam first-moment decay"),
    FLOAT_KEY("train.beta2", train.beta2, "0.999", 0, false, 1, true,
              "Adam second-moment decay"),
    FLOAT_KEY("train.adam_eps", train.adam_eps, "1e-8", 0, true, INFINITY, false,
              "Adam denominator epsilon"),
    LONG_KEY("train.seed", train.seed, "1", 0, 1LL << 62, "seed of every random stream"),
    INT_KEY("train.checkpoint_every", train.checkpoint_every, "1", 1, INT_MAX,
            "epochs between checkpoints"),
    INT_KEY("train.log_every", train.log_every, "50", 1, INT_MAX, "steps between metric lines"),
    INT_KEY("train.grid_every", train.grid_every, "10", 1, INT_MAX,
            "epochs between the PNG grids in grids/ (the last epoch always has them)"),
    INT_KEY("train.honest_every", train.honest_every, "10", 0, INT_MAX,
            "epochs between held-out ELBO estimates (ALB - log Z, a short AIS), also after the "
            "last; 0 = none"),
    INT_KEY("train.honest_ais_chains", train.honest_ais_chains, "100", 1, 10000000,
            "AIS chains per run of that estimate"),
    INT_KEY("train.honest_ais_temperatures", train.honest_ais_temperatures, "200", 1, 100000000,
            "AIS temperatures of that estimate"),
    INT_KEY("train.honest_ais_runs", train.honest_ais_runs, "2", 2, 64,
            "independent AIS runs of that estimate (their spread is log Z's standard error)"),

    CHOICE_KEY("prior.objective", prior.objective, "ssm", objective_choices,
               "how the GRBM prior is fitted to the latent samples: sliced or denoising score "
               "matching, maximum likelihood by persistent chains or by self-normalized "
               "importance sampling, noise-contrastive estimation"),

    INT_KEY("ssm.projections", ssm.projections, "1", 1, 1024,
            "random projections M per sample in sliced score matching"),
    CHOICE_KEY("ssm.distribution", ssm.distribution, "gaussian", projection_choices,
               "distribution of the projection vectors"),
    BOOL_KEY("ssm.variance_reduced", ssm.variance_reduced, "true",
             "SSM-VR: the first term's expectation over projections in closed form"),

    FLOAT_KEY("dsm.noise", dsm.noise, "0.1", 0, true, 100, false,
              "denoising score matching's noise scale s_n: z~ = z + s_n eps"),

    INT_KEY("pcd.chains", pcd.chains, "512", 1, 1 << 20,
            "persistent chains of maximum likelihood's negative phase"),
    INT_KEY("pcd.steps", pcd.steps, "5", 1, 1000000,
            "sampler steps of the chains per update, before the gradient"),
    CHOICE_KEY("pcd.sampler", pcd.sampler, "gibbs", pcd_sampler_choices,
               "sampler of the persistent chains"),
    FLOAT_KEY("pcd.eta", pcd.eta, "0.01", 0, true, 10, false,
              "Langevin step size of the persistent chains"),

    CHOICE_KEY("nce.noise", nce.noise, "fitted", nce_noise_choices,
               "NCE noise: a diagonal Gaussian fitted to the batch's latent samples, or N(0, I)"),
    INT_KEY("nce.ratio", nce.ratio, "1", 1, 64, "noise samples per latent sample"),
    FLOAT_KEY("nce.log_z_lr", nce.log_z_lr, "1e-2", 0, true, 1, false,
              "Adam step size of NCE's learned ln Z (it moves by about this much per step)"),

    CHOICE_KEY("sample.sampler", sample.sampler, "langevin", sampler_choices,
               "sampler for prior samples"),
    INT_KEY("sample.steps", sample.steps, "100", 0, 10000000, "sampler steps"),
    FLOAT_KEY("sample.eta", sample.eta, "0.01", 0, true, 10, false, "Langevin step size"),
    INT_KEY("sample.n", sample.n, "64", 1, 100000, "number of samples drawn"),

    INT_KEY("eval.k", eval.k, "5000", 1, 100000000,
            "importance samples per test example (5000: the literature's protocol)"),
    INT_KEY("eval.batch", eval.batch, "5000", 1, 1 << 24,
            "(test example, sample) rows per decoder pass: memory against speed"),
    INT_KEY("eval.test_limit", eval.test_limit, "0", 0, 100000000,
            "evaluate only the first N test examples; 0 = all"),
    LONG_KEY("eval.seed", eval.seed, "1", 0, 1LL << 62,
             "seed of every evaluation draw (binarization, samples, chains, classifier)"),
    INT_KEY("eval.ais_chains", eval.ais_chains, "1000", 1, 10000000, "AIS chains per run"),
    INT_KEY("eval.ais_temperatures", eval.ais_temperatures, "10000", 1, 100000000,
            "AIS steps of the inverse temperature from 0 to 1"),
    CHOICE_KEY("eval.ais_schedule", eval.ais_schedule, "sigmoid", ais_schedule_choices,
               "AIS temperature schedule"),
    FLOAT_KEY("eval.ais_sigmoid_delta", eval.ais_sigmoid_delta, "4", 0, true, 100, false,
              "steepness of the sigmoid schedule"),
    INT_KEY("eval.ais_gibbs_steps", eval.ais_gibbs_steps, "1", 1, 1000000,
            "block-Gibbs sweeps at each intermediate temperature"),
    INT_KEY("eval.ais_runs", eval.ais_runs, "4", 2, 64,
            "independent AIS runs (their spread is the standard error of log Z)"),
    INT_KEY("eval.classifier_epochs", eval.classifier_epochs, "20", 1, 100000,
            "training epochs of the classifier T(x, z) (paper Algorithm 2)"),
    INT_KEY("eval.classifier_hidden", eval.classifier_hidden, "512", 1, 65536,
            "width of the classifier's two hidden layers"),
    INT_KEY("eval.classifier_batch", eval.classifier_batch, "256", 1, 1 << 20,
            "training examples per classifier step (two pairs each)"),
    FLOAT_KEY("eval.classifier_lr", eval.classifier_lr, "1e-3", 0, true, 1, false,
              "Adam step size of the classifier"),
    INT_KEY("eval.classifier_train_limit", eval.classifier_train_limit, "0", 0, 100000000,
            "training examples for the classifier; 0 = all"),
    INT_KEY("eval.langevin_steps", eval.langevin_steps, "1000", 0, 100000000,
            "Langevin steps of the prior chains that give the classifier's negatives"),
    FLOAT_KEY("eval.langevin_eta", eval.langevin_eta, "0.01", 0, true, 10, false,
              "Langevin step size of those chains"),
};

#define KEY_COUNT ((int)(sizeof config_keys / sizeof config_keys[0]))

static const char *type_name(key_type t)
{
    switch (t) {
    case KEY_INT:
    case KEY_LONG: return "int";
    case KEY_FLOAT: return "float";
    case KEY_BOOL: return "bool";
    case KEY_STRING: return "string";
    case KEY_CHOICE: return "choice";
    }
    return "?";
}

/* Length of the section part of a full key name ("train.epochs" -> 5, "device" -> 0). */
static size_t section_length(const char *name)
{
    const char *dot = strchr(name, '.');
    return dot ? (size_t)(dot - name) : 0;
}

static const config_key *find_key(const char *name)
{
    for (int i = 0; i < KEY_COUNT; i++)
        if (strcmp(config_keys[i].name, name) == 0) return &config_keys[i];
    return NULL;
}

static bool section_known(const char *section, size_t len)
{
    for (int i = 0; i < KEY_COUNT; i++)
        if (section_length(config_keys[i].name) == len &&
            strncmp(config_keys[i].name, section, len) == 0)
            return true;
    return false;
}

/* Edit distance with adjacent transpositions (optimal string alignment), for "did you mean". */
static int edit_distance(const char *a, size_t la, const char *b, size_t lb)
{
    enum { MAXLEN = 64 };
    if (la >= MAXLEN || lb >= MAXLEN) return INT_MAX;
    int d[MAXLEN + 1][MAXLEN + 1];
    for (size_t i = 0; i <= la; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            int cost = a[i - 1] != b[j - 1];
            int best = d[i - 1][j - 1] + cost;
            if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[la][lb];
}

/* Close enough to be a likely typo: at most 2 edits, or a third of the name for long ones. */
static bool is_close(int distance, size_t len)
{
    int limit = (int)(len / 3) > 2 ? (int)(len / 3) : 2;
    return distance <= limit;
}

/* The known key closest to `name`: by whole name, or by the part after the section (a key put
 * in the wrong section), or NULL when none is close. */
static const config_key *closest_key(const char *name)
{
    const config_key *best = NULL;
    int best_d = INT_MAX;
    size_t sl = section_length(name);
    const char *leaf = name + (sl ? sl + 1 : 0);
    for (int i = 0; i < KEY_COUNT; i++) {
        const char *kn = config_keys[i].name;
        size_t ksl = section_length(kn);
        const char *kleaf = kn + (ksl ? ksl + 1 : 0);
        int d = edit_distance(name, strlen(name), kn, strlen(kn));
        int dleaf = edit_distance(leaf, strlen(leaf), kleaf, strlen(kleaf));
        if (dleaf == 0 && d > 1) d = 1; /* same key, other section: a strong hint */
        if (d < best_d) {
            best_d = d;
            best = &config_keys[i];
        }
    }
    return best && is_close(best_d, strlen(name)) ? best : NULL;
}

/* Report a key that is not in the table, naming the section when the section itself is new. */
static void report_unknown(const char *where, const char *name)
{
    size_t sl = section_length(name);
    if (sl && !section_known(name, sl)) {
        /* closest known section */
        const char *best = NULL;
        size_t best_len = 0;
        int best_d = INT_MAX;
        for (int i = 0; i < KEY_COUNT; i++) {
            size_t ksl = section_length(config_keys[i].name);
            if (!ksl) continue;
            int d = edit_distance(name, sl, config_keys[i].name, ksl);
            if (d < best_d) {
                best_d = d;
                best = config_keys[i].name;
                best_len = ksl;
            }
        }
        if (best && is_close(best_d, sl))
            evae_error("%s: unknown section '[%.*s]' (key '%s'); did you mean '[%.*s]'?", where,
                       (int)sl, name, name, (int)best_len, best);
        else
            evae_error("%s: unknown section '[%.*s]' (key '%s'); `evae help config` lists the keys",
                       where, (int)sl, name, name);
        return;
    }
    const config_key *close = closest_key(name);
    if (close)
        evae_error("%s: unknown key '%s'; did you mean '%s'?", where, name, close->name);
    else
        evae_error("%s: unknown key '%s'; `evae help config` lists the keys", where, name);
}

/* Allowed values as text: "[0, 100000]", "(0, 1]", "> 0", ">= 1", "grbm|gaussian". */
static void format_allowed(const config_key *k, char *buf, size_t n)
{
    switch (k->type) {
    case KEY_INT:
    case KEY_LONG: {
        long long type_max = k->type == KEY_INT ? INT_MAX : LONG_MAX;
        if (k->imax >= type_max)
            snprintf(buf, n, ">= %lld", k->imin);
        else
            snprintf(buf, n, "[%lld, %lld]", k->imin, k->imax);
        break;
    }
    case KEY_FLOAT:
        if (isinf(k->fmax))
            snprintf(buf, n, "%s %g", k->fmin_open ? ">" : ">=", k->fmin);
        else
            snprintf(buf, n, "%c%g, %g%c", k->fmin_open ? '(' : '[', k->fmin, k->fmax,
                     k->fmax_open ? ')' : ']');
        break;
    case KEY_BOOL: snprintf(buf, n, "true|false"); break;
    case KEY_STRING:
        snprintf(buf, n, "%sUTF-8 text of at most %zu bytes", k->nonempty ? "non-empty " : "",
                 k->size - 1);
        break;
    case KEY_CHOICE: {
        size_t used = 0;
        buf[0] = '\0';
        for (const choice *c = k->choices; c->name && used < n; c++)
            used += (size_t)snprintf(buf + used, n - used, "%s%s", c == k->choices ? "" : "|",
                                     c->name);
        break;
    }
    }
}

/* The entry of `name` among the allowed values of a choice key; NULL when not allowed. */
static const choice *find_choice(const config_key *k, const char *name)
{
    for (const choice *c = k->choices; c->name; c++)
        if (strcmp(c->name, name) == 0) return c;
    return NULL;
}

/* Parse `text` for key k and store it in c. Strict: the whole text must be the value. On error
 * prints "<where>: <key>: ..." and returns non-zero, leaving c unchanged. */
static int parse_value(const config_key *k, const char *text, evae_config *c, const char *where)
{
    void *dst = (char *)c + k->offset;
    char allowed[128];
    format_allowed(k, allowed, sizeof allowed);
    switch (k->type) {
    case KEY_INT:
    case KEY_LONG: {
        char *end;
        errno = 0;
        long long v = strtoll(text, &end, 10);
        if (end == text || *end != '\0') {
            evae_error("%s: %s: '%s' is not an integer", where, k->name, text);
            return 1;
        }
        if (errno == ERANGE || v < k->imin || v > k->imax) {
            evae_error("%s: %s: %s is out of range (allowed: %s)", where, k->name, text, allowed);
            return 1;
        }
        if (k->type == KEY_INT)
            *(int *)dst = (int)v;
        else
            *(long *)dst = (long)v;
        return 0;
    }
    case KEY_FLOAT: {
        char *end;
        double v = strtod(text, &end);
        if (end == text || *end != '\0' || !isfinite(v)) {
            evae_error("%s: %s: '%s' is not a finite number", where, k->name, text);
            return 1;
        }
        bool low_ok = k->fmin_open ? v > k->fmin : v >= k->fmin;
        bool high_ok = k->fmax_open ? v < k->fmax : v <= k->fmax;
        if (!low_ok || !high_ok) {
            evae_error("%s: %s: %s is out of range (allowed: %s)", where, k->name, text, allowed);
            return 1;
        }
        *(double *)dst = v;
        return 0;
    }
    case KEY_BOOL: {
        static const char *const yes[] = {"true", "yes", "1"}, *const no[] = {"false", "no", "0"};
        for (int i = 0; i < 3; i++) {
            if (strcasecmp(text, yes[i]) == 0) {
                *(int *)dst = 1;
                return 0;
            }
            if (strcasecmp(text, no[i]) == 0) {
                *(int *)dst = 0;
                return 0;
            }
        }
        evae_error("%s: %s: '%s' is not a boolean (true/false, yes/no, 1/0)", where, k->name,
                   text);
        return 1;
    }
    case KEY_CHOICE: {
        const choice *c = find_choice(k, text);
        if (!c) {
            evae_error("%s: %s: '%s' is not one of %s", where, k->name, text, allowed);
            return 1;
        }
        *(int *)dst = c->value;
        return 0;
    }
    case KEY_STRING: {
        size_t len = strlen(text);
        if (len >= k->size) {
            evae_error("%s: %s: value is too long (%zu bytes, at most %zu)", where, k->name,
                       len, k->size - 1);
            return 1;
        }
        if (k->nonempty && len == 0) {
            evae_error("%s: %s: must not be empty", where, k->name);
            return 1;
        }
        /* ';' and '#' would start a comment when the written config is read back */
        for (size_t i = 0; i < len; i++) {
            unsigned char ch = (unsigned char)text[i];
            if (ch < 0x20 || ch == 0x7f || ch == ';' || ch == '#') {
                evae_error("%s: %s: '%s' contains a control character, ';' or '#'", where,
                           k->name, text);
                return 1;
            }
        }
        /* the text is copied into the checkpoint's JSON header, which other readers (Python's
         * safetensors among them) refuse unless it is UTF-8 */
        size_t valid = evae_utf8_valid_prefix(text, len);
        if (valid < len) {
            evae_error("%s: %s: byte %zu (0x%02x) is not UTF-8 (text values must be UTF-8)",
                       where, k->name, valid + 1, (unsigned char)text[valid]);
            return 1;
        }
        memset(dst, 0, k->size); /* no stale tail: equal configs compare equal bytewise */
        memcpy(dst, text, len);
        return 0;
    }
    }
    return 1;
}

/* The value of key k in c, as text that parse_value reads back to the same bits. */
static void format_value(const config_key *k, const evae_config *c, char *buf, size_t n)
{
    const void *src = (const char *)c + k->offset;
    switch (k->type) {
    case KEY_INT: snprintf(buf, n, "%d", *(const int *)src); break;
    case KEY_LONG: snprintf(buf, n, "%ld", *(const long *)src); break;
    case KEY_FLOAT: {
        double v = *(const double *)src;
        /* shortest of %.15g..%.17g that reads back exactly (17 digits always do) */
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(buf, n, "%.*g", prec, v);
            if (strtod(buf, NULL) == v) break;
        }
        break;
    }
    case KEY_BOOL: snprintf(buf, n, "%s", *(const int *)src ? "true" : "false"); break;
    case KEY_STRING: snprintf(buf, n, "%s", (const char *)src); break;
    case KEY_CHOICE: snprintf(buf, n, "%s", choice_name(k->choices, *(const int *)src)); break;
    }
}

/* The table is code: check it once so that a wrong row fails loudly in the first test. */
static void check_table(void)
{
    static bool checked = false;
    if (checked) return;
    evae_config scratch;
    memset(&scratch, 0, sizeof scratch);
    for (int i = 0; i < KEY_COUNT; i++) {
        const config_key *k = &config_keys[i];
        size_t want = k->type == KEY_INT || k->type == KEY_BOOL || k->type == KEY_CHOICE
                          ? sizeof(int)
                      : k->type == KEY_LONG                     ? sizeof(long)
                      : k->type == KEY_FLOAT                    ? sizeof(double)
                                                                : 0;
        bool ok = want ? k->size == want : k->size > 1;
        if (k->type == KEY_INT) ok = ok && k->imin >= INT_MIN && k->imax <= INT_MAX;
        if (k->type == KEY_CHOICE) ok = ok && k->choices && k->choices[0].name;
        if (k->offset + k->size > sizeof(evae_config)) ok = false;
        for (int j = 0; j < i; j++) ok = ok && strcmp(config_keys[j].name, k->name) != 0;
        /* keys without section first; a section's keys contiguous (the INI writer needs it) */
        size_t sl = section_length(k->name);
        bool new_section = i > 0 && (sl != section_length(config_keys[i - 1].name) ||
                                     strncmp(k->name, config_keys[i - 1].name, sl) != 0);
        if (new_section) {
            if (sl == 0) ok = false;
            for (int j = 0; j < i - 1; j++)
                if (section_length(config_keys[j].name) == sl &&
                    strncmp(config_keys[j].name, k->name, sl) == 0)
                    ok = false;
        }
        if (!ok) {
            evae_error("config table: row '%s' is inconsistent (type/size/range/order/duplicate)",
                       k->name);
            abort();
        }
        if (parse_value(k, k->def, &scratch, "config table default")) abort();
    }
    checked = true;
}

void evae_config_defaults(evae_config *c)
{
    check_table();
    memset(c, 0, sizeof *c);
    for (int i = 0; i < KEY_COUNT; i++)
        if (parse_value(&config_keys[i], config_keys[i].def, c, "config table default")) abort();
}

/* Apply "name" = "value" from `where`; `name` is the full key name. */
static int apply(evae_config *c, const char *name, const char *value, const char *where,
                 const config_key **which)
{
    const config_key *k = find_key(name);
    if (which) *which = k;
    if (!k) {
        report_unknown(where, name);
        return 1;
    }
    return parse_value(k, value, c, where);
}

/* ---- INI file ---- */

typedef struct load_state {
    evae_config *c;
    const char *path;
    FILE *f;
    int lineno;        /* line being parsed (counted here: inih does not pass it to handlers) */
    bool at_line_start;
    size_t line_length; /* characters of the current line read so far */
    bool too_long;      /* a line exceeded MAX_LINE: parsing stopped */
    bool reported;      /* an error was already printed */
    int set_on_line[KEY_COUNT];
} load_state;

/* Longest line accepted; inih's growing buffer (ini_max_line) is set above it, so a longer line
 * is reported here instead of being split by inih into two lines. */
enum { MAX_LINE = 4096 };

/* fgets for inih that also counts lines (a long line may come in several reads). */
static char *counting_reader(char *str, int num, void *stream)
{
    load_state *s = stream;
    char *r = fgets(str, num, s->f);
    if (!r) return NULL;
    if (s->at_line_start) {
        s->lineno++;
        s->line_length = 0;
    }
    size_t len = strlen(r);
    s->line_length += len;
    s->at_line_start = len > 0 && r[len - 1] == '\n';
    if (s->line_length > MAX_LINE) {
        s->too_long = true;
        return NULL; /* ends parsing */
    }
    return r;
}

static int ini_entry(void *user, const char *section, const char *name, const char *value)
{
    load_state *s = user;
    char where[600], full[256];
    snprintf(where, sizeof where, "%s:%d", s->path, s->lineno);
    if (section[0])
        snprintf(full, sizeof full, "%s.%s", section, name);
    else
        snprintf(full, sizeof full, "%s", name);
    const config_key *k = NULL;
    if (apply(s->c, full, value, where, &k)) {
        s->reported = true;
        return 0;
    }
    int idx = (int)(k - config_keys);
    if (s->set_on_line[idx]) {
        evae_error("%s: %s is set twice (also on line %d)", where, k->name, s->set_on_line[idx]);
        s->reported = true;
        return 0;
    }
    s->set_on_line[idx] = s->lineno;
    return 1;
}

static char inline_comment_prefixes[] = ";#";

/* Parses the open stream f (closed here); ini_path names it in messages. */
static int load_stream(evae_config *c, FILE *f, const char *ini_path)
{
    check_table();
    load_state s;
    memset(&s, 0, sizeof s);
    s.c = c;
    s.path = ini_path;
    s.at_line_start = true;
    s.f = f;
    /* inih options (run-time variables in Debian's libinih): one error is enough, '#' comments
     * inside lines too, no multi-line values, lines of any length on a growing heap buffer. */
    ini_stop_on_first_error = true;
    ini_inline_comment_prefixes = inline_comment_prefixes;
    ini_allow_inline_comments = true;
    ini_allow_multiline = false;
    ini_allow_no_value = false;
    ini_use_stack = false;
    ini_allow_realloc = true;
    ini_max_line = 2 * MAX_LINE;
    int r = ini_parse_stream(counting_reader, &s, ini_entry, &s);
    bool read_error = ferror(s.f) != 0;
    fclose(s.f);
    if (s.too_long) {
        evae_error("%s:%d: line is longer than %d characters", ini_path, s.lineno, MAX_LINE);
        return 1;
    }
    if (r == 0 && !read_error) return 0;
    if (s.reported) return 1;
    if (r > 0)
        evae_error("%s:%d: cannot parse line (expected 'key = value' or '[section]')", ini_path, r);
    else if (r == -2)
        evae_error("%s: out of memory while parsing", ini_path);
    else
        evae_error("%s: read error", ini_path);
    return 1;
}

int evae_config_load(evae_config *c, const char *ini_path)
{
    FILE *f = fopen(ini_path, "r");
    if (!f) {
        evae_error("cannot open config file '%s': %s", ini_path, strerror(errno));
        return 1;
    }
    return load_stream(c, f, ini_path);
}

int evae_config_load_string(evae_config *c, const char *ini_text, const char *origin)
{
    FILE *f = fmemopen((void *)ini_text, strlen(ini_text), "r");
    if (!f) {
        evae_error("%s: cannot read its configuration text: %s", origin, strerror(errno));
        return 1;
    }
    return load_stream(c, f, origin);
}

/* ---- command line ---- */

static void trim(char *s)
{
    size_t len = strlen(s);
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\n' ||
                       s[len - 1] == '\r'))
        s[--len] = '\0';
    size_t lead = strspn(s, " \t");
    memmove(s, s + lead, len - lead + 1);
}

int evae_config_set(evae_config *c, const char *key_eq_value)
{
    check_table();
    const char *eq = strchr(key_eq_value, '=');
    if (!eq) {
        evae_error("command line: expected section.key=value, got '%s'", key_eq_value);
        return 1;
    }
    size_t name_len = (size_t)(eq - key_eq_value);
    char name[256];
    if (name_len >= sizeof name) {
        evae_error("command line: key too long in '%s'", key_eq_value);
        return 1;
    }
    memcpy(name, key_eq_value, name_len);
    name[name_len] = '\0';
    trim(name);
    char *value = strdup(eq + 1);
    if (!value) {
        evae_error("command line: out of memory");
        return 1;
    }
    trim(value);
    int r = apply(c, name, value, "command line", NULL);
    free(value);
    return r;
}

/* ---- writing ---- */

int evae_config_write_ini(const evae_config *c, FILE *f)
{
    check_table();
    fprintf(f, "; evae configuration: every key (`evae help config` describes them)\n");
    const char *section = "";
    size_t section_len = 0;
    for (int i = 0; i < KEY_COUNT; i++) {
        const config_key *k = &config_keys[i];
        size_t sl = section_length(k->name);
        if (sl != section_len || strncmp(k->name, section, sl) != 0) {
            section = k->name;
            section_len = sl;
            fprintf(f, "\n[%.*s]\n", (int)sl, k->name);
        }
        char allowed[128], value[600];
        format_allowed(k, allowed, sizeof allowed);
        format_value(k, c, value, sizeof value);
        fprintf(f, "; %s. Allowed: %s\n%s =%s%s\n", k->doc, allowed, k->name + (sl ? sl + 1 : 0),
                value[0] ? " " : "", value);
    }
    return fflush(f) != 0 || ferror(f) ? 1 : 0;
}

char *evae_config_to_ini_string(const evae_config *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    int r = evae_config_write_ini(c, f);
    if (fclose(f) != 0 || r) {
        free(buf);
        return NULL;
    }
    return buf;
}

void evae_config_each_key(const evae_config *c, const char *section, evae_config_visit_fn visit,
                          void *ctx)
{
    check_table();
    size_t len = strlen(section);
    for (int i = 0; i < KEY_COUNT; i++) {
        const config_key *k = &config_keys[i];
        if (section_length(k->name) != len || strncmp(k->name, section, len) != 0) continue;
        char value[600];
        format_value(k, c, value, sizeof value);
        evae_value_kind kind = k->type == KEY_BOOL                         ? EVAE_VALUE_BOOL
                               : k->type == KEY_STRING || k->type == KEY_CHOICE ? EVAE_VALUE_TEXT
                                                                            : EVAE_VALUE_NUMBER;
        visit(ctx, k->name + (len ? len + 1 : 0), kind, value);
    }
}

void evae_config_print_keys(FILE *f)
{
    check_table();
    for (int i = 0; i < KEY_COUNT; i++) {
        const config_key *k = &config_keys[i];
        char allowed[128];
        format_allowed(k, allowed, sizeof allowed);
        const char *def = k->def[0] ? k->def : "\"\"";
        fprintf(f, "%s (%s, default %s, allowed: %s)\n    %s\n", k->name, type_name(k->type), def,
                allowed, k->doc);
    }
}
