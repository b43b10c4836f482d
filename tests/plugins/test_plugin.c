/*
 * test_plugin.c - gpudf-test-plugin, a plugin whose kernel misbehaves on
 * demand, for the sweep tests.
 *
 * sweep_test(value, action, sleep_ms) gives {2 * value, nrows}; action is
 * ok, crash (SIGSEGV), hang (sleeps forever), fail (returns GPUDF_EINVAL)
 * and applies to the configs of the batch that carry it.
 */
#include <gpudf.h>

#include <signal.h>
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
    case 3: return gpudf_set_error(GPUDF_EINVAL, "sweep_test: asked to fail");
    default: break;
    }
    sleep_ms(c[2]);
    res[2 * i] = 2 * c[0];
    res[2 * i + 1] = (double)gpudf_table_nrows(t);
  }
  return GPUDF_OK;
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
  return gpudf_kernel_register(&d, NULL);
}
