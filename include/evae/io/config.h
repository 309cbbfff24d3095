/* Run configuration: INI files plus `section.key=value` overrides from the command line.
 *
 * Every key lives in one table in src/io/config.c (type, default, range or choices, one-line doc,
 * and where it is stored in evae_config). Adding a key = one field here + one row there; the
 * loader, the command-line override, the INI writer and `evae help config` all follow the table.
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

typedef struct evae_config {
    char device[16]; /* cpu | cuda */
    struct {
        char dir[512];  /* "" = runs/<name>-<YYYYmmdd-HHMMSS>, chosen by the trainer */
        char name[128]; /* run name, also the prefix of the default folder */
    } run;
    struct {
        char dataset[16]; /* mnist | cifar10 */
        char dir[512];    /* folder with the data files */
        int validation;   /* examples held out of the training set for validation */
        int train_limit;  /* use only the first N training examples; 0 = all */
    } data;
    struct {
        char prior[16];  /* grbm | gaussian (standard normal baseline) */
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
    } train;
    struct {
        int projections;       /* M: random projections per sample */
        char distribution[16]; /* gaussian | rademacher projection vectors */
        int variance_reduced;  /* bool: SSM-VR (closed-form expectation of the first term) */
    } ssm;
    struct {
        char sampler[16]; /* langevin | gibbs */
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
        char ais_schedule[16]; /* sigmoid | linear */
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

#endif
