/*
 * test_plugin.c - gpudf-test-plugin, a plugin whose kernel misbehaves on
 * demand, for the sweep tests.
 *
 * sweep_test(value, action, sleep_ms) gives {2 * value, nrows}; action is
 * ok, crash (SIGSEGV), hang (sleeps forever), fail (returns GPUDF_EINVAL)
 * and applies to the configs of the batch that carry it. It reports the
 * fraction of its batch done after each config (gpudf_kernel_progress).
 *
 * sweep_keyed(value, action, sleep_ms, key) does the same with a pass key
 * (the key parameter) and gives {2 * value, nrows, runs, n}: runs is the
 * number of runs of equal keys in the batch the config ran in (the passes
 * a kernel that shares a pass between consecutive configs of one key would
 * pay) and n that batch's size, so a test can add up passes and claims.
 * sweep_old_def is sweep_keyed registered with the size of a definition
 * from before pass_key existed: its pass_key, which aborts, must never be
 * read.
 */
#include <gpudf.h>

#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static const char *const actions[] = {"ok", "crash", "hang", "fail"};

static const gpudf_param_info params[] = {
    {"value", "echoed twice", GPUDF_PARAM_REAL, 0, -1e300, 1e300, 0, NULL, 0},
    {"action", "ok, crash, hang or fail", GPUDF_PARAM_CHOICE, 0, 0, 3, 4, actions, 0},
    {"sleep_ms", "time to spend per config", GPUDF_PARAM_INTEGER, 0, 0, 10000, 0, NULL, 0},
};

static const gpudf_result_info fields[] = {{"twice", "2 * value"}, {"rows", "table rows"}};

static void sleep_ms(double ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)((ms - 1000 * (long)(ms / 1000)) * 1e6)};
  nanosleep(&ts, NULL);
}

static gpudf_status run(const gpudf_table *t, const double *configs, int64_t n, double *res) {
  for (int64_t i = 0; i < n; i++) {
    const double *c = configs + 3 * i;
    switch ((int)c[1]) {
    case 1: raise(SIGSEGV); break;
    case 2: for (;;) sleep_ms(1000);
    case 3: return gpudf_set_error(GPUDF_EINVAL, "sweep_test: asked to fail by its action parameter (action = fail)");
    default: break;
    }
    sleep_ms(c[2]);
    res[2 * i] = 2 * c[0];
    res[2 * i + 1] = (double)gpudf_table_nrows(t);
    gpudf_kernel_progress((double)(i + 1) / (double)n);
  }
  return GPUDF_OK;
}

static const gpudf_param_info keyed_params[] = {
    {"value", "echoed twice", GPUDF_PARAM_REAL, 0, -1e300, 1e300, 0, NULL, 0},
    {"action", "ok, crash, hang or fail", GPUDF_PARAM_CHOICE, 0, 0, 3, 4, actions, 0},
    {"sleep_ms", "time to spend per config", GPUDF_PARAM_INTEGER, 0, 0, 10000, 0, NULL, 0},
    {"key", "the pass key", GPUDF_PARAM_INTEGER, 0, 0, 1e9, 0, NULL, 0},
};

static const gpudf_result_info keyed_fields[] = {{"twice", "2 * value"},
                                                 {"rows", "table rows"},
                                                 {"runs", "runs of equal keys in the batch"},
                                                 {"batch", "configs in the batch"}};

static gpudf_status run_keyed(const gpudf_table *t, const double *configs, int64_t n,
                              double *res) {
  int64_t runs = 0;
  for (int64_t i = 0; i < n; i++) runs += i == 0 || configs[4 * i + 3] != configs[4 * i - 1];
  for (int64_t i = 0; i < n; i++) {
    const double *c = configs + 4 * i;
    switch ((int)c[1]) {
    case 1: raise(SIGSEGV); break;
    case 2: for (;;) sleep_ms(1000);
    case 3: return gpudf_set_error(GPUDF_EINVAL, "sweep_keyed: asked to fail");
    default: break;
    }
    sleep_ms(c[2]);
    res[4 * i] = 2 * c[0];
    res[4 * i + 1] = (double)gpudf_table_nrows(t);
    res[4 * i + 2] = (double)runs;
    res[4 * i + 3] = (double)n;
  }
  return GPUDF_OK;
}

static uint64_t key_of(const double *config) { return (uint64_t)config[3]; }

static uint64_t never_read(const double *config) {
  (void)config;
  abort();
}

__attribute__((visibility("default"))) gpudf_status gpudf_plugin_init(void) {
  gpudf_kernel_def d;
  gpudf_kernel_def_init(&d);
  d.name = "sweep_test";
  d.summary = "echoes 2*value; crashes, hangs or fails on demand";
  d.nparams = 3;
  d.params = params;
  d.nfields = 2;
  d.fields = fields;
  d.run_cpu = run;
  gpudf_status st = gpudf_kernel_register(&d, NULL);
  if (st != GPUDF_OK) return st;
  gpudf_kernel_def_init(&d);
  d.name = "sweep_keyed";
  d.summary = "sweep_test with a pass key, giving the runs of keys of its batch";
  d.nparams = 4;
  d.params = keyed_params;
  d.nfields = 4;
  d.fields = keyed_fields;
  d.run_cpu = run_keyed;
  d.pass_key = key_of;
  if ((st = gpudf_kernel_register(&d, NULL)) != GPUDF_OK) return st;
  d.name = "sweep_old_def";
  d.pass_key = never_read;
  d.size = offsetof(gpudf_kernel_def, pass_key); /* a def from before pass_key */
  return gpudf_kernel_register(&d, NULL);
}
