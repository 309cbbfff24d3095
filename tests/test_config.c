/* Config: defaults, INI loading, every error kind with its message, command-line overrides and
 * their precedence, write -> load round trip, and the shipped INI files in experiments/. */
#define _POSIX_C_SOURCE 200809L

#include "check.h"
#include "evae/io/config.h"

#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmp_dir[64];
static int file_counter = 0;

/* Write `text` to a new file in the test folder; returns its path (static storage per call). */
static const char *write_file(const char *text)
{
    static char paths[64][128];
    char *p = paths[file_counter++ % 64];
    snprintf(p, 128, "%s/c%d.ini", tmp_dir, file_counter);
    FILE *f = fopen(p, "w");
    if (!f) {
        perror(p);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
    return p;
}

#include "capture_stderr.h"

/* Load `text` over the defaults; expect failure and a message containing both needles. */
static void expect_load_error(const char *text, const char *needle1, const char *needle2)
{
    evae_config c;
    evae_config_defaults(&c);
    const char *path = write_file(text);
    char n1[512];
    snprintf(n1, sizeof n1, needle1, path); /* needle1 may hold "%s" for the path */
    capture_begin();
    int rc = evae_config_load(&c, path);
    const char *msg = capture_end();
    CHECK(rc != 0, "loading [%s] should fail", text);
    CHECK(strstr(msg, n1) != NULL, "message '%s' lacks '%s'", msg, n1);
    if (needle2) CHECK(strstr(msg, needle2) != NULL, "message '%s' lacks '%s'", msg, needle2);
}

static void expect_load_ok(const char *text, evae_config *c)
{
    evae_config_defaults(c);
    const char *path = write_file(text);
    CHECK(evae_config_load(c, path) == 0, "loading [%s] should succeed", text);
}

static void expect_set_error(const char *arg, const char *needle)
{
    evae_config c, before;
    evae_config_defaults(&c);
    before = c;
    capture_begin();
    int rc = evae_config_set(&c, arg);
    const char *msg = capture_end();
    CHECK(rc != 0, "override '%s' should fail", arg);
    CHECK(strstr(msg, needle) != NULL, "message '%s' lacks '%s'", msg, needle);
    CHECK(memcmp(&c, &before, sizeof c) == 0, "failed override '%s' changed the config", arg);
}

static void test_defaults(void)
{
    evae_config c;
    evae_config_defaults(&c);
    CHECK(c.device == EVAE_DEVICE_AUTO, "device %d", c.device);
    CHECK(strcmp(c.run.dir, "") == 0 && strcmp(c.run.name, "mnist") == 0, "run %s %s", c.run.dir,
          c.run.name);
    CHECK(c.data.dataset == EVAE_DATA_MNIST && strcmp(c.data.dir, "data/mnist-10k") == 0,
          "data %d %s", c.data.dataset, c.data.dir);
    CHECK(c.data.validation == 0 && c.data.train_limit == 0, "data ints");
    CHECK(c.model.prior == EVAE_PRIOR_GRBM && c.model.latent == 64 && c.model.hidden == 512 &&
              c.model.grbm_hidden == 128, "model");
    CHECK(c.train.epochs == 100 && c.train.batch == 512, "train ints");
    CHECK(c.train.lr == 1e-3 && c.train.prior_lr == 2e-4 && c.train.beta1 == 0.9 &&
              c.train.beta2 == 0.999 && c.train.adam_eps == 1e-8, "train floats");
    CHECK(c.train.seed == 1 && c.train.checkpoint_every == 1 && c.train.log_every == 50,
          "train misc");
    CHECK(c.ssm.projections == 1 && c.ssm.distribution == EVAE_PROJECTION_GAUSSIAN &&
              c.ssm.variance_reduced == 1, "ssm");
    CHECK(c.sample.sampler == EVAE_SAMPLER_LANGEVIN && c.sample.steps == 100 &&
              c.sample.eta == 0.01 && c.sample.n == 64, "sample");
}

static void test_good_file(void)
{
    evae_config c;
    expect_load_ok("; a comment\n"
                   "# another comment\n"
                   "device = cuda   ; inline comment\n"
                   "train.seed = 7\n" /* full key name before any section */
                   "\n"
                   "[run]\n"
                   "name = my run  # hash comment\n"
                   "[model]\n"
                   "prior=gaussian\n"
                   "  latent   =   32   \n"
                   "[train]\n"
                   "lr = 0.5\n"
                   "beta2 = 0\n"
                   "adam_eps = 1e300\n"
                   "epochs = 100000\n"
                   "[ssm]\n"
                   "variance_reduced = No\n"
                   "distribution = rademacher\n"
                   "[sample]\n"
                   "eta = 10\n",
                   &c);
    CHECK(c.device == EVAE_DEVICE_CUDA, "device %d", c.device);
    CHECK(c.train.seed == 7, "seed %ld", c.train.seed);
    CHECK(strcmp(c.run.name, "my run") == 0, "name '%s'", c.run.name);
    CHECK(c.model.prior == EVAE_PRIOR_GAUSSIAN && c.model.latent == 32, "model %d %d",
          c.model.prior, c.model.latent);
    CHECK(c.train.lr == 0.5 && c.train.beta2 == 0.0 && c.train.adam_eps == 1e300, "floats");
    CHECK(c.train.epochs == 100000, "inclusive upper bound accepted");
    CHECK(c.ssm.variance_reduced == 0 && c.ssm.distribution == EVAE_PROJECTION_RADEMACHER, "ssm");
    CHECK(c.sample.eta == 10.0, "eta inclusive upper bound");
    CHECK(c.model.hidden == 512 && c.train.batch == 512, "keys not in the file keep defaults");

    /* seed range reaches 2^62 exactly; a long value line (longer than inih's 200-byte default
     * line buffer) is read whole */
    char long_text[1024];
    char dir[401];
    memset(dir, 'd', 400);
    dir[400] = '\0';
    snprintf(long_text, sizeof long_text, "[train]\nseed = 4611686018427387904\n[run]\ndir = /%s\n",
             dir);
    expect_load_ok(long_text, &c);
    CHECK(c.train.seed == 4611686018427387904L, "seed 2^62: %ld", c.train.seed);
    CHECK(strlen(c.run.dir) == 401 && c.run.dir[0] == '/' && c.run.dir[400] == 'd',
          "long dir kept whole (%zu chars)", strlen(c.run.dir));
}

static void test_errors(void)
{
    /* unknown keys and sections, with suggestions and the right line number */
    expect_load_error("[train]\nbatch = 4\nepoch = 5\n", "%s:3: unknown key 'train.epoch'",
                      "did you mean 'train.epochs'?");
    expect_load_error("[trian]\nepochs = 5\n", "%s:2: unknown section '[trian]'",
                      "did you mean '[train]'?");
    expect_load_error("[train]\nlatent = 5\n", "%s:2: unknown key 'train.latent'",
                      "did you mean 'model.latent'?");
    expect_load_error("[zzzzzzzz]\nqqq = 1\n", "%s:2: unknown section '[zzzzzzzz]'", NULL);
    expect_load_error("devise = cpu\n", "%s:1: unknown key 'devise'", "did you mean 'device'?");
    expect_load_error("[run]\ndevice = cpu\n", "%s:2: unknown key 'run.device'",
                      "did you mean 'device'?");

    /* bad integers */
    expect_load_error("[train]\nepochs = abc\n", "%s:2: train.epochs: 'abc' is not an integer",
                      NULL);
    expect_load_error("[train]\nepochs = 5x\n", "%s:2: train.epochs: '5x' is not an integer", NULL);
    expect_load_error("[train]\nepochs = 1.5\n", "train.epochs: '1.5' is not an integer", NULL);
    expect_load_error("[train]\nepochs =\n", "train.epochs: '' is not an integer", NULL);
    expect_load_error("[train]\nepochs = 5;x\n", "train.epochs: '5;x' is not an integer", NULL);

    /* bad floats */
    expect_load_error("[train]\nlr = 1e-3x\n", "%s:2: train.lr: '1e-3x' is not a finite number",
                      NULL);
    expect_load_error("[train]\nlr = nan\n", "train.lr: 'nan' is not a finite number", NULL);
    expect_load_error("[train]\nadam_eps = inf\n", "train.adam_eps: 'inf' is not", NULL);

    /* out of range: names key, value and range; bounds exclusive or inclusive as documented */
    expect_load_error("[train]\nepochs = 100001\n",
                      "%s:2: train.epochs: 100001 is out of range", "[0, 100000]");
    expect_load_error("[train]\nepochs = -1\n", "train.epochs: -1 is out of range", NULL);
    expect_load_error("[train]\nepochs = 99999999999999999999\n",
                      "train.epochs: 99999999999999999999 is out of range", NULL);
    expect_load_error("[train]\nlr = 0\n", "train.lr: 0 is out of range", "(0, 1]");
    expect_load_error("[train]\nlr = 1.0000001\n", "train.lr: 1.0000001 is out of range", NULL);
    expect_load_error("[train]\nbeta1 = 1\n", "train.beta1: 1 is out of range", "[0, 1)");
    expect_load_error("[train]\nadam_eps = 0\n", "train.adam_eps: 0 is out of range", "> 0");
    expect_load_error("[train]\nadam_eps = -0.1\n", "train.adam_eps: -0.1 is out of range",
                      "> 0");
    expect_load_error("[train]\nseed = 4611686018427387905\n", "train.seed: 4611686018427387905",
                      "out of range");
    expect_load_error("[train]\nlog_every = 0\n", "train.log_every: 0 is out of range", ">= 1");
    expect_load_error("[sample]\neta = 10.5\n", "sample.eta: 10.5 is out of range", "(0, 10]");

    /* bad choices list the allowed ones; bad bools */
    expect_load_error("[model]\nprior = gausian\n",
                      "%s:2: model.prior: 'gausian' is not one of grbm|gaussian", NULL);
    expect_load_error("device = gpu\n", "%s:1: device: 'gpu' is not one of auto|cpu|cuda", NULL);
    expect_load_error("[ssm]\nvariance_reduced = maybe\n", "ssm.variance_reduced: 'maybe' is not a "
                      "boolean", NULL);

    /* strings: length, emptiness, characters that would not survive a round trip */
    char long_name[300];
    snprintf(long_name, sizeof long_name, "[run]\nname = %0200d\n", 0);
    expect_load_error(long_name, "run.name: value is too long (200 bytes, at most 127)", NULL);
    expect_load_error("[run]\nname =\n", "run.name: must not be empty", NULL);
    /* text ends up in the checkpoint's JSON header, which other readers accept only as UTF-8:
     * Latin-1, a lone continuation byte, an overlong '/', a surrogate, a code point above
     * U+10FFFF and a sequence cut short are refused, naming the byte */
    expect_load_error("[run]\nname = caf\xe9\n", "%s:2: run.name: byte 4 (0xe9) is not UTF-8",
                      NULL);
    expect_load_error("[run]\nname = a\x80\n", "run.name: byte 2 (0x80) is not UTF-8", NULL);
    expect_load_error("[run]\ndir = \xc0\xaf\n", "run.dir: byte 1 (0xc0) is not UTF-8", NULL);
    expect_load_error("[run]\nname = \xed\xa0\x80\n", "run.name: byte 1 (0xed)", NULL);
    expect_load_error("[run]\nname = \xf4\x90\x80\x80\n", "run.name: byte 1 (0xf4)", NULL);
    expect_load_error("[data]\ndir = x\xe2\x82\n", "data.dir: byte 2 (0xe2) is not UTF-8", NULL);
    {
        /* UTF-8 of two, three and four bytes is text like any other */
        evae_config c;
        expect_load_ok("[run]\nname = caf\xc3\xa9-\xe6\x97\xa5-\xf0\x9f\x98\x80\n", &c);
        CHECK(strcmp(c.run.name, "caf\xc3\xa9-\xe6\x97\xa5-\xf0\x9f\x98\x80") == 0,
              "UTF-8 name: %s", c.run.name);
    }

    /* syntax, duplicates, missing file */
    expect_load_error("[train]\nepochs 5\n", "%s:2: cannot parse line", NULL);
    expect_load_error("[train]\nepochs = 5\nbatch = 3\nepochs = 6\n",
                      "%s:4: train.epochs is set twice (also on line 2)", NULL);
    {
        /* line numbers stay right after a line longer than inih's initial buffer */
        char text[1024];
        char dir[301];
        memset(dir, 'x', 300);
        dir[300] = '\0';
        snprintf(text, sizeof text, "[run]\ndir = %s\n[train]\nepochs = q\n", dir);
        expect_load_error(text, "%s:4: train.epochs: 'q' is not an integer", NULL);
    }
    {
        /* a line beyond the parser's limit is an error, not silently split in two */
        static char text[6000];
        int n = snprintf(text, sizeof text, "[run]\ndir = ");
        memset(text + n, 'y', 5000);
        strcpy(text + n + 5000, "\n");
        expect_load_error(text, "%s:2: line is longer than 4096 characters", NULL);
    }
    {
        evae_config c;
        evae_config_defaults(&c);
        capture_begin();
        int rc = evae_config_load(&c, "no/such/dir/missing.ini");
        const char *msg = capture_end();
        CHECK(rc != 0, "missing file must fail");
        CHECK(strstr(msg, "no/such/dir/missing.ini") && strstr(msg, "No such file"),
              "message names the file and the reason: %s", msg);
    }
}

static void test_overrides(void)
{
    evae_config c;
    evae_config_defaults(&c);
    CHECK(evae_config_set(&c, "train.epochs=5") == 0 && c.train.epochs == 5, "epochs override");
    CHECK(evae_config_set(&c, "  train.lr =  0.25 ") == 0 && c.train.lr == 0.25, "trimmed");
    CHECK(evae_config_set(&c, "device=cuda") == 0 && c.device == EVAE_DEVICE_CUDA, "device");
    CHECK(evae_config_set(&c, "run.dir=") == 0 && c.run.dir[0] == '\0', "empty string allowed");
    CHECK(evae_config_set(&c, "ssm.variance_reduced=YES") == 0 && c.ssm.variance_reduced == 1,
          "bool case-insensitive");
    CHECK(evae_config_set(&c, "run.name=a=b") == 0 && strcmp(c.run.name, "a=b") == 0,
          "value may hold '='");

    expect_set_error("train.epochs", "command line: expected section.key=value");
    expect_set_error("train.epoch=5", "command line: unknown key 'train.epoch'; did you mean "
                                      "'train.epochs'?");
    expect_set_error("train.epochs=abc", "command line: train.epochs: 'abc' is not an integer");
    expect_set_error("model.prior=vamp", "command line: model.prior: 'vamp' is not one of "
                                         "grbm|gaussian");
    expect_set_error("train.batch=0", "command line: train.batch: 0 is out of range");
    expect_set_error("run.dir=a;b", "command line: run.dir: 'a;b' contains");
    expect_set_error("run.name=\xff", "command line: run.name: byte 1 (0xff) is not UTF-8");
    expect_set_error("nosuch.key=1", "command line: unknown section '[nosuch]'");

    /* precedence: default < file < command line; each layer changes only what it names */
    const char *path = write_file("[train]\nepochs = 7\nbatch = 64\n");
    evae_config_defaults(&c);
    CHECK(evae_config_load(&c, path) == 0, "load");
    CHECK(c.train.epochs == 7 && c.train.batch == 64, "file beats default");
    CHECK(evae_config_set(&c, "train.epochs=9") == 0, "set");
    CHECK(c.train.epochs == 9, "command line beats file: %d", c.train.epochs);
    CHECK(c.train.batch == 64, "file value kept: %d", c.train.batch);
    CHECK(c.model.latent == 64, "default kept: %d", c.model.latent);
}

/* Every choice key: each allowed name gives its enum value and back, and the INI text holds the
 * name. */
static void test_choices(void)
{
    evae_config c;
    evae_config_defaults(&c);
    const struct {
        const char *key, *name;
        int value;
        const int *field;
        const char *name_back; /* evae_*_name of the value */
    } cases[] = {
#define CASE(k, nm, v, f, fn) {k, nm, v, (const int *)&c.f, fn(v)}
        CASE("device", "auto", EVAE_DEVICE_AUTO, device, evae_device_name),
        CASE("device", "cpu", EVAE_DEVICE_CPU, device, evae_device_name),
        CASE("device", "cuda", EVAE_DEVICE_CUDA, device, evae_device_name),
        CASE("data.dataset", "mnist", EVAE_DATA_MNIST, data.dataset, evae_data_set_name),
        CASE("data.dataset", "cifar10", EVAE_DATA_CIFAR10, data.dataset, evae_data_set_name),
        CASE("model.prior", "grbm", EVAE_PRIOR_GRBM, model.prior, evae_prior_name),
        CASE("model.prior", "gaussian", EVAE_PRIOR_GAUSSIAN, model.prior, evae_prior_name),
        CASE("ssm.distribution", "gaussian", EVAE_PROJECTION_GAUSSIAN, ssm.distribution,
             evae_projection_name),
        CASE("ssm.distribution", "rademacher", EVAE_PROJECTION_RADEMACHER, ssm.distribution,
             evae_projection_name),
        CASE("sample.sampler", "langevin", EVAE_SAMPLER_LANGEVIN, sample.sampler,
             evae_sampler_name),
        CASE("sample.sampler", "gibbs", EVAE_SAMPLER_GIBBS, sample.sampler, evae_sampler_name),
        CASE("eval.ais_schedule", "sigmoid", EVAE_AIS_SIGMOID, eval.ais_schedule,
             evae_ais_schedule_name),
        CASE("eval.ais_schedule", "linear", EVAE_AIS_LINEAR, eval.ais_schedule,
             evae_ais_schedule_name),
#undef CASE
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char kv[96], line[96];
        snprintf(kv, sizeof kv, "%s=%s", cases[i].key, cases[i].name);
        CHECK(evae_config_set(&c, kv) == 0 && *cases[i].field == cases[i].value, "%s: value %d",
              kv, *cases[i].field);
        CHECK(strcmp(cases[i].name_back, cases[i].name) == 0, "%s: name back '%s'", kv,
              cases[i].name_back);
        const char *dot = strchr(cases[i].key, '.');
        snprintf(line, sizeof line, "\n%s = %s\n", dot ? dot + 1 : cases[i].key, cases[i].name);
        char *ini = evae_config_to_ini_string(&c);
        CHECK(ini && strstr(ini, line), "%s: the INI text holds '%s'", kv, line + 1);
        free(ini);
    }
    expect_set_error("ssm.distribution=uniform", "command line: ssm.distribution: 'uniform' is "
                                                 "not one of gaussian|rademacher");
    expect_set_error("eval.ais_schedule=geometric", "is not one of sigmoid|linear");
    expect_set_error("device=gpu", "is not one of auto|cpu|cuda");
}

/* The keys of one section with their values as text, in table order. */
typedef struct visited {
    int count;
    char keys[64][40], values[64][40];
    evae_value_kind kinds[64];
} visited;

static void visit(void *ctx, const char *key, evae_value_kind kind, const char *value)
{
    visited *v = ctx;
    if (v->count < 64) {
        snprintf(v->keys[v->count], sizeof v->keys[0], "%s", key);
        snprintf(v->values[v->count], sizeof v->values[0], "%s", value);
        v->kinds[v->count] = kind;
    }
    v->count++;
}

static void test_each_key(void)
{
    evae_config c;
    evae_config_defaults(&c);
    CHECK(evae_config_set(&c, "eval.k=77") == 0 &&
              evae_config_set(&c, "eval.ais_schedule=linear") == 0,
          "overrides");
    visited v = {0};
    evae_config_each_key(&c, "eval", visit, &v);
    CHECK(v.count == 17, "17 [eval] keys, got %d", v.count);
    CHECK(strcmp(v.keys[0], "k") == 0 && strcmp(v.values[0], "77") == 0 &&
              v.kinds[0] == EVAE_VALUE_NUMBER, "first key k = %s", v.values[0]);
    CHECK(strcmp(v.keys[6], "ais_schedule") == 0 && strcmp(v.values[6], "linear") == 0 &&
              v.kinds[6] == EVAE_VALUE_TEXT, "choice as its name: %s = %s", v.keys[6], v.values[6]);
    CHECK(strcmp(v.keys[16], "langevin_eta") == 0 && strcmp(v.values[16], "0.01") == 0,
          "last key %s = %s", v.keys[16], v.values[16]);
    /* the same text the INI writer writes for every key of the section */
    char *ini = evae_config_to_ini_string(&c);
    const char *sec = ini ? strstr(ini, "\n[eval]\n") : NULL;
    for (int i = 0; i < v.count && i < 64; i++) {
        char line[96];
        snprintf(line, sizeof line, "\n%s = %s\n", v.keys[i], v.values[i]);
        CHECK(sec && strstr(sec, line), "INI has '%s = %s'", v.keys[i], v.values[i]);
    }
    free(ini);
    visited top = {0}, ssm = {0};
    evae_config_each_key(&c, "", visit, &top);
    CHECK(top.count == 1 && strcmp(top.keys[0], "device") == 0 &&
              strcmp(top.values[0], "auto") == 0,
          "keys before any section: %d", top.count);
    evae_config_each_key(&c, "ssm", visit, &ssm);
    CHECK(ssm.count == 3 && ssm.kinds[2] == EVAE_VALUE_BOOL && strcmp(ssm.values[2], "true") == 0,
          "[ssm]: %d keys, bool as true|false", ssm.count);
    visited none = {0};
    evae_config_each_key(&c, "ev", visit, &none);
    CHECK(none.count == 0, "a prefix of a section is no section: %d keys", none.count);
}

static void test_round_trip(void)
{
    /* every field away from its default, floats that need 17 digits, extreme values */
    evae_config c;
    evae_config_defaults(&c);
    const char *overrides[] = {
        "device=cuda", "run.dir=/tmp/some dir/x", "run.name=rt", "data.dataset=cifar10",
        "data.dir=data/cifar10-sample", "data.validation=1000000", "data.train_limit=17",
        "model.prior=gaussian", "model.latent=4096", "model.hidden=1", "model.grbm_hidden=65536",
        "train.epochs=0", "train.batch=1048576", "train.lr=0.30000000000000004",
        "train.prior_lr=1e-300", "train.beta1=0.99999999999999989", "train.beta2=0",
        "train.adam_eps=1.7976931348623157e308", "train.seed=4611686018427387904",
        "train.checkpoint_every=2147483647", "train.log_every=3",
        "ssm.projections=1024", "ssm.distribution=rademacher", "ssm.variance_reduced=false",
        "sample.sampler=gibbs", "sample.steps=10000000", "sample.eta=4.9406564584124654e-324",
        "sample.n=100000",
    };
    evae_config_defaults(&c);
    for (size_t i = 0; i < sizeof overrides / sizeof overrides[0]; i++)
        CHECK(evae_config_set(&c, overrides[i]) == 0, "override %s", overrides[i]);
    CHECK(c.train.lr == 0.1 + 0.2, "17-digit float parsed");

    char path[128];
    snprintf(path, sizeof path, "%s/written.ini", tmp_dir);
    FILE *f = fopen(path, "w");
    CHECK(f && evae_config_write_ini(&c, f) == 0, "write_ini");
    if (f) fclose(f);

    /* load into a zeroed struct: the written file must set every key, bit for bit */
    evae_config back;
    memset(&back, 0, sizeof back);
    CHECK(evae_config_load(&back, path) == 0, "written file loads");
    CHECK(memcmp(&back, &c, sizeof c) == 0, "write -> load gives the identical struct");

    /* the string form is the same text */
    char *text = evae_config_to_ini_string(&c);
    CHECK(text != NULL, "to_ini_string");
    f = fopen(path, "r");
    char file_text[16384];
    size_t n = f ? fread(file_text, 1, sizeof file_text - 1, f) : 0;
    file_text[n] = '\0';
    if (f) fclose(f);
    CHECK(text && strcmp(text, file_text) == 0, "string and file text agree");
    CHECK(text && strstr(text, "\n[train]\n") && strstr(text, "\nepochs = 0\n") &&
              strstr(text, "\nlr = 0.30000000000000004\n") && strncmp(text, ";", 1) == 0,
          "sections, keys and exact floats in the text");
    free(text);

    /* the defaults survive the same trip */
    evae_config_defaults(&c);
    text = evae_config_to_ini_string(&c);
    const char *p2 = write_file(text ? text : "");
    memset(&back, 0, sizeof back);
    CHECK(evae_config_load(&back, p2) == 0 && memcmp(&back, &c, sizeof c) == 0,
          "defaults round trip");
    CHECK(text && strstr(text, "\nlr = 0.001\n") && strstr(text, "\nprior_lr = 0.0002\n"),
          "shortest exact float text");
    free(text);
}

static void test_experiments(void)
{
    glob_t g;
    int found = glob("experiments/*.ini", 0, NULL, &g) == 0 ? (int)g.gl_pathc : 0;
    CHECK(found >= 3, "experiments/*.ini: found %d files (run from the source folder)", found);
    for (int i = 0; i < found; i++) {
        evae_config c;
        evae_config_defaults(&c);
        CHECK(evae_config_load(&c, g.gl_pathv[i]) == 0, "%s loads", g.gl_pathv[i]);
    }
    if (found) globfree(&g);

    evae_config c;
    evae_config_defaults(&c);
    CHECK(evae_config_load(&c, "experiments/mnist.ini") == 0, "mnist.ini");
    CHECK(c.data.dataset == EVAE_DATA_MNIST && strcmp(c.data.dir, "data/mnist-10k") == 0 &&
              c.model.prior == EVAE_PRIOR_GRBM && c.model.latent == 64 &&
              c.model.hidden == 512 && c.model.grbm_hidden == 128 && c.train.lr == 1e-3 &&
              c.train.prior_lr == 2e-4 && c.train.batch == 512 && c.train.epochs == 100,
          "mnist.ini has the paper's settings");
    evae_config_defaults(&c);
    CHECK(evae_config_load(&c, "experiments/mnist_gaussian.ini") == 0, "mnist_gaussian.ini");
    CHECK(c.model.prior == EVAE_PRIOR_GAUSSIAN && c.model.latent == 64 &&
              c.model.hidden == 512 && c.train.lr == 1e-3 && c.train.batch == 512 &&
              c.train.epochs == 100,
          "mnist_gaussian.ini: same with the standard normal prior");
    evae_config_defaults(&c);
    CHECK(evae_config_load(&c, "experiments/cifar10.ini") == 0, "cifar10.ini");
    CHECK(c.data.dataset == EVAE_DATA_CIFAR10 && strcmp(c.data.dir, "data/cifar10") == 0 &&
              c.model.latent == 512 && c.model.grbm_hidden == 128 && c.train.batch == 1024 && c.train.epochs == 100 &&
              c.train.lr == 1e-3 && c.train.prior_lr == 2e-4,
          "cifar10.ini has the paper's settings");
}

static void test_print_keys(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    evae_config_print_keys(f);
    fclose(f);
    CHECK(buf && strstr(buf, "train.epochs (int, default 100, allowed: [0, 100000])"),
          "epochs line");
    CHECK(buf && strstr(buf, "model.prior (choice, default grbm, allowed: grbm|gaussian)"),
          "choice line");
    CHECK(buf && strstr(buf, "train.lr (float, default 1e-3, allowed: (0, 1])"), "float line");
    CHECK(buf && strstr(buf, "run.dir (string, default \"\""), "empty default shown as \"\"");
    /* every key of the written INI is documented */
    evae_config c;
    evae_config_defaults(&c);
    char *ini = evae_config_to_ini_string(&c);
    int keys = 0;
    char section[32] = "";
    for (char *line = ini ? strtok(ini, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        if (line[0] == ';') continue;
        if (line[0] == '[') {
            snprintf(section, sizeof section, "%.*s", (int)(strlen(line) - 2), line + 1);
            continue;
        }
        char name[128], key[64];
        if (sscanf(line, "%63s =", key) != 1) continue;
        snprintf(name, sizeof name, "%s%s%s (", section, section[0] ? "." : "", key);
        keys++;
        CHECK(buf && strstr(buf, name), "key %s documented", name);
    }
    int documented = 0;
    for (const char *l = buf; l && *l; l = strchr(l, '\n') + 1) {
        if (*l != ' ') documented++;
        if (!strchr(l, '\n')) break;
    }
    CHECK(keys == documented && keys >= 29, "written INI holds %d keys, the reference %d", keys,
          documented);
    free(ini);
    free(buf);
}

int main(void)
{
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/evae_test_config_XXXXXX");
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_defaults();
    test_good_file();
    test_errors();
    test_overrides();
    test_choices();
    test_each_key();
    test_round_trip();
    test_experiments();
    test_print_keys();

    /* clean up the test folder */
    for (int i = 1; i <= file_counter; i++) {
        char p[128];
        snprintf(p, sizeof p, "%s/c%d.ini", tmp_dir, i);
        remove(p);
    }
    char p[128];
    snprintf(p, sizeof p, "%s/written.ini", tmp_dir);
    remove(p);
    rmdir(tmp_dir);
    return check_report("test_config");
}
