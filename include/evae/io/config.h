/* Run configuration: INI files plus `section.key=value` overrides from the command line.
 *
 * Every key lives in one table in src/io/config.c (type, default, range or choices, one-line doc,
 * and where it is stored in evae_config). Adding a key = one field here + one row there; the
 * loader, the command-line override, the INI writer, `evae help config` and the settings of
 * eval.json (evae_config_each_key) all follow the table.
 *
 * Precedence: evae_config_defaults(), then evae_config_load() for the file, then
 * evae_config_set() for each command-line override. Load and set change only the keys they name.
 *
 * INI syntax: `[section]` headers, `key = value` lines, `;` or `#` comments at the start of a
 * line or after whitespace inside a line. The key `device` sits before any section. A key may
 * also be written with its full name (`train.epochs = 5`) before any section. */
#ifndef EVAE_CONFIG_H
#define EVAE_CONFIG_H

#include <stdio.h>

/* The values of the choice keys, parsed from their names once, here (the table in
 * src/io/config.c pairs each name with its value); the INI writer and `evae keys` print the
 * names, and evae_*_name gives one back for messages and reports. */
typedef enum evae_device { EVAE_DEVICE_AUTO, EVAE_DEVICE_CPU, EVAE_DEVICE_CUDA } evae_device;
typedef enum evae_data_set { EVAE_DATA_MNIST, EVAE_DATA_CIFAR10 } evae_data_set;
typedef enum evae_prior_kind { EVAE_PRIOR_GRBM, EVAE_PRIOR_GAUSSIAN } evae_prior_kind;
typedef enum evae_projection {
    EVAE_PROJECTION_GAUSSIAN,
    EVAE_PROJECTION_RADEMACHER
} evae_projection;
typedef enum evae_sampler { EVAE_SAMPLER_LANGEVIN, EVAE_SAMPLER_GIBBS } evae_sampler;
/* how the GRBM prior is fitted to the latent samples (evae/model/prior_fit.h) */
typedef enum evae_prior_objective {
    EVAE_OBJECTIVE_SSM,
    EVAE_OBJECTIVE_DSM,
    EVAE_OBJECTIVE_PCD,
    EVAE_OBJECTIVE_SNIS,
    EVAE_OBJECTIVE_NCE
} evae_prior_objective;
typedef enum evae_nce_noise { EVAE_NCE_NOISE_FITTED, EVAE_NCE_NOISE_STANDARD } evae_nce_noise;
/* the formulas of both schedules: evae/eval/ais.h */
typedef enum evae_ais_schedule { EVAE_AIS_LINEAR, EVAE_AIS_SIGMOID } evae_ais_schedule;

const char *evae_device_name(evae_device v);
const char *evae_data_set_name(evae_data_set v);
const char *evae_prior_name(evae_prior_kind v);
const char *evae_projection_name(evae_projection v);
const char *evae_sampler_name(evae_sampler v);
const char *evae_prior_objective_name(evae_prior_objective v);
const char *evae_nce_noise_name(evae_nce_noise v);
const char *evae_ais_schedule_name(evae_ais_schedule v);

typedef struct evae_config {
    evae_device device; /* auto | cpu | cuda */
    struct {
        char dir[512];  /* "" = runs/<name>-<YYYYmmdd-HHMMSS>, chosen by the trainer */
        char name[128]; /* run name, also the prefix of the default folder */
    } run;
    struct {
        evae_data_set dataset; /* mnist | cifar10 */
        char dir[512];    /* folder with the data files */
        int validation;   /* examples held out of the training set for validation */
        int train_limit;  /* use only the first N training examples; 0 = all */
    } data;
    struct {
        evae_prior_kind prior; /* grbm | gaussian (standard normal baseline) */
        int latent;      /* d: latent dimension = GRBM visible units */
        int hidden;      /* MLP width (MNIST) */
        int grbm_hidden; /* n: GRBM hidden units */
    } model;
    struct {
        int epochs;
        int batch;
        double lr;       /* Adam step of the VAE */
        double prior_lr; /* Adam step of the GRBM prior */
        double beta1, beta2, adam_eps;
        long seed;
        int checkpoint_every; /* epochs between checkpoints */
        int log_every;        /* steps between metric lines */
        int grid_every;       /* epochs between PNG grids (and the last epoch) */
        int honest_every;     /* epochs between held-out ELBO estimates (and the last); 0 = none */
        int honest_ais_chains, honest_ais_temperatures, honest_ais_runs; /* their AIS of log Z */
    } train;
    struct {
        evae_prior_objective objective; /* ssm | dsm | pcd | snis | nce */
    } prior;
    struct {
        int projections;       /* M: random projections per sample */
        evae_projection distribution; /* gaussian | rademacher projection vectors */
        int variance_reduced;  /* bool: SSM-VR (closed-form expectation of the first term) */
    } ssm;
    struct {
        double noise; /* s_n: z~ = z + s_n eps */
    } dsm;
    struct {
        int chains;           /* persistent chains */
        int steps;            /* sampler steps per update */
        evae_sampler sampler; /* gibbs | langevin */
        double eta;           /* Langevin step size */
    } pcd;
    struct {
        evae_nce_noise noise; /* fitted (the batch's diagonal Gaussian) | standard (N(0, I)) */
        int ratio;            /* noise samples per data sample */
        double log_z_lr;      /* Adam step size of the learned ln Z */
    } nce;
    struct {
        evae_sampler sampler; /* langevin | gibbs */
        int steps;
        double eta; /* Langevin step size */
        int n;      /* number of samples */
    } sample;
    struct {
        int k;                 /* importance samples per test example */
        int batch;             /* (example, sample) rows per decoder pass */
        int test_limit;        /* evaluate the first N test examples; 0 = all */
        long seed;             /* seed of every evaluation draw */
        int ais_chains;        /* AIS chains per run */
        int ais_temperatures;  /* AIS steps from beta = 0 to 1 */
        evae_ais_schedule ais_schedule; /* sigmoid | linear */
        double ais_sigmoid_delta;
        int ais_gibbs_steps;   /* Gibbs sweeps per intermediate temperature */
        int ais_runs;          /* independent AIS runs */
        int classifier_epochs;
        int classifier_hidden; /* width of the classifier's two hidden layers */
        int classifier_batch;  /* training examples per step (each gives 2 pairs) */
        double classifier_lr;
        int classifier_train_limit; /* training examples used; 0 = all */
        int langevin_steps;    /* prior chains for the classifier's negatives */
        double langevin_eta;
    } eval;
} evae_config;

/* Every key at its default. */
void evae_config_defaults(evae_config *c);

/* Apply the keys of an INI file on top of *c. On error prints one line ("FILE:LINE: ...") through
 * evae_error() and returns non-zero; *c may then hold the keys applied before the error. */
int evae_config_load(evae_config *c, const char *ini_path);

/* The same from INI text held in memory (e.g. the configuration stored in a checkpoint);
 * origin names it in messages. */
int evae_config_load_string(evae_config *c, const char *ini_text, const char *origin);

/* Apply one command-line override "section.key=value" (same checks as the file; the message
 * says "command line"). Returns non-zero on error. */
int evae_config_set(evae_config *c, const char *key_eq_value);

/* The resolved config as INI text: every key, each with its doc as a comment; loadable again
 * and giving back the same struct. Returns non-zero on a write error. */
int evae_config_write_ini(const evae_config *c, FILE *f);

/* Same text in a malloc'd string (caller frees); NULL when out of memory. */
char *evae_config_to_ini_string(const evae_config *c);

/* Reference of every key: name, type, default, range or choices, doc (`evae help config`). */
void evae_config_print_keys(FILE *f);

/* What a value's text holds, for writers that keep types (JSON): a number (int and float keys),
 * true|false, or text (strings and choice names). */
typedef enum evae_value_kind {
    EVAE_VALUE_NUMBER,
    EVAE_VALUE_BOOL,
    EVAE_VALUE_TEXT
} evae_value_kind;

typedef void (*evae_config_visit_fn)(void *ctx, const char *key, evae_value_kind kind,
                                     const char *value);

/* Calls visit for every key of `section` ("eval"; "" for the keys before any section) in table
 * order, with its name inside the section ("k") and its value in c as the INI writer writes it
 * ("5000", "0.001", "sigmoid"). */
void evae_config_each_key(const evae_config *c, const char *section, evae_config_visit_fn visit,
                          void *ctx);

#endif
