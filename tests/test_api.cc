// test_api.cc - the public API's common rules, over every function of
// gpudf.h: a NULL handle or out pointer is GPUDF_EINVAL with a message that
// names the function and the argument (never a crash); getters give their
// documented value for a NULL handle; versioned structs are read up to the
// caller's size (docs/api.md, "Conventions").
#include <gpudf.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <functional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "datagen.h"
#include "tables.h"

namespace {

std::string Err() { return gpudf_last_error(); }

struct Owned {
  gpudf_table *t = nullptr;
  const gpudf_kernel *k = nullptr;
  Owned() {
    EXPECT_EQ(tg_make_table(100, 3, &t), GPUDF_OK) << Err();
    k = tg_kernel("filter_agg");
    EXPECT_NE(k, nullptr);
  }
  ~Owned() { gpudf_table_free(t); }
};

// One call with one NULL argument: the status and the words its message
// must hold (the function first, then the argument).
struct NullCase {
  const char *function;
  const char *argument;
  std::function<gpudf_status(Owned &)> call;
};

std::vector<NullCase> NullCases() {
  static double cfg[5] = {0, 3, 0, 0, 0}, res[6];
  static const int32_t codes[100] = {0};
  static const char *labels[] = {"x"};
  return {
      {"gpudf_table_create", "out", [](Owned &) { return gpudf_table_create(1, nullptr); }},
      {"gpudf_table_add_column", "table",
       [](Owned &) { return gpudf_table_add_column(nullptr, "x", GPUDF_TYPE_F64, cfg); }},
      {"gpudf_table_alloc_column", "table",
       [](Owned &) {
         void *d;
         return gpudf_table_alloc_column(nullptr, "x", GPUDF_TYPE_F64, &d);
       }},
      {"gpudf_table_find_column", "table",
       [](Owned &) {
         int i;
         return gpudf_table_find_column(nullptr, "a", &i);
       }},
      {"gpudf_table_find_column", "index",
       [](Owned &o) { return gpudf_table_find_column(o.t, "a", nullptr); }},
      {"gpudf_table_add_categorical", "table",
       [](Owned &) { return gpudf_table_add_categorical(nullptr, "x", codes, 1, labels); }},
      {"gpudf_table_read_csv", "path",
       [](Owned &) {
         gpudf_table *t;
         return gpudf_table_read_csv(nullptr, nullptr, &t);
       }},
      {"gpudf_backend_parse", "text",
       [](Owned &) {
         gpudf_backend b;
         return gpudf_backend_parse(nullptr, &b);
       }},
      {"gpudf_table_share", "table",
       [](Owned &) {
         gpudf_share *s;
         return gpudf_table_share(nullptr, nullptr, GPUDF_BACKEND_CPU, &s);
       }},
      {"gpudf_table_share", "out",
       [](Owned &o) { return gpudf_table_share(o.t, nullptr, GPUDF_BACKEND_CPU, nullptr); }},
      {"gpudf_table_share_ex", "table",
       [](Owned &) {
         gpudf_share *s;
         return gpudf_table_share_ex(nullptr, nullptr, nullptr, &s);
       }},
      {"gpudf_share_add_replica", "out",
       [](Owned &) { return gpudf_share_add_replica("x", nullptr); }},
      {"gpudf_table_share_ex", "out",
       [](Owned &o) { return gpudf_table_share_ex(o.t, nullptr, nullptr, nullptr); }},
      {"gpudf_attach", "view", [](Owned &) { return gpudf_attach("x", nullptr); }},
      {"gpudf_kernel_find", "name",
       [](Owned &) {
         const gpudf_kernel *k;
         return gpudf_kernel_find(nullptr, &k);
       }},
      {"gpudf_kernel_find", "out", [](Owned &) { return gpudf_kernel_find("filter_agg", nullptr); }},
      {"gpudf_kernel_param", "kernel",
       [](Owned &) {
         gpudf_param_info p;
         return gpudf_kernel_param(nullptr, 0, &p);
       }},
      {"gpudf_kernel_param_index", "kernel",
       [](Owned &) {
         int i;
         return gpudf_kernel_param_index(nullptr, "lo", &i);
       }},
      {"gpudf_kernel_default_column", "kernel",
       [](Owned &o) {
         int c;
         return gpudf_kernel_default_column(nullptr, 0, o.t, &c);
       }},
      {"gpudf_kernel_default_column", "table",
       [](Owned &o) {
         int c;
         return gpudf_kernel_default_column(o.k, 0, nullptr, &c);
       }},
      {"gpudf_kernel_defaults", "kernel", [](Owned &) { return gpudf_kernel_defaults(nullptr, cfg); }},
      {"gpudf_kernel_result", "kernel",
       [](Owned &) {
         gpudf_result_info r;
         return gpudf_kernel_result(nullptr, nullptr, 0, &r);
       }},
      {"gpudf_kernel_result_names", "kernel",
       [](Owned &) {
         size_t n;
         return gpudf_kernel_result_names(nullptr, nullptr, nullptr, 0, &n);
       }},
      {"gpudf_table_prepare", "table",
       [](Owned &o) { return gpudf_table_prepare(nullptr, o.k, cfg, 1); }},
      {"gpudf_table_prepare", "kernel",
       [](Owned &o) { return gpudf_table_prepare(o.t, nullptr, cfg, 1); }},
      {"gpudf_table_prepare_series", "table",
       [](Owned &) { return gpudf_table_prepare_series(nullptr, 0, -1); }},
      {"gpudf_kernel_pass_order", "kernel",
       [](Owned &) {
         int64_t order[1], ng;
         return gpudf_kernel_pass_order(nullptr, cfg, 1, order, nullptr, &ng);
       }},
      {"gpudf_kernel_pass_order", "ngroups",
       [](Owned &o) {
         int64_t order[1];
         return gpudf_kernel_pass_order(o.k, cfg, 1, order, nullptr, nullptr);
       }},
      {"gpudf_kernel_pass_order", "order",
       [](Owned &o) {
         int64_t ng;
         return gpudf_kernel_pass_order(o.k, cfg, 1, nullptr, nullptr, &ng);
       }},
      {"gpudf_run_partial", "table",
       [](Owned &o) { return gpudf_run_partial(nullptr, o.k, cfg, 1, 0, 0, res); }},
      {"gpudf_run_partial", "kernel",
       [](Owned &o) { return gpudf_run_partial(o.t, nullptr, cfg, 1, 0, 0, res); }},
      {"gpudf_run_partial", "states",
       [](Owned &o) { return gpudf_run_partial(o.t, o.k, cfg, 1, 0, 0, nullptr); }},
      {"gpudf_kernel_merge_states", "kernel",
       [](Owned &) { return gpudf_kernel_merge_states(nullptr, cfg, res, 1, res); }},
      {"gpudf_kernel_merge_states", "config",
       [](Owned &o) { return gpudf_kernel_merge_states(o.k, nullptr, res, 1, res); }},
      {"gpudf_kernel_merge_states", "states",
       [](Owned &o) { return gpudf_kernel_merge_states(o.k, cfg, nullptr, 1, res); }},
      {"gpudf_kernel_merge_states", "result",
       [](Owned &o) { return gpudf_kernel_merge_states(o.k, cfg, res, 1, nullptr); }},
      {"gpudf_validate", "table", [](Owned &o) { return gpudf_validate(nullptr, o.k, cfg, 1); }},
      {"gpudf_validate", "kernel", [](Owned &o) { return gpudf_validate(o.t, nullptr, cfg, 1); }},
      {"gpudf_run", "table", [](Owned &o) { return gpudf_run(nullptr, o.k, cfg, 1, res); }},
      {"gpudf_run", "kernel", [](Owned &o) { return gpudf_run(o.t, nullptr, cfg, 1, res); }},
      {"gpudf_kernel_register", "def",
       [](Owned &) { return gpudf_kernel_register(nullptr, nullptr); }},
      {"gpudf_plugin_load", "path", [](Owned &) { return gpudf_plugin_load(nullptr); }},
      {"gpudf_sweep", "table",
       [](Owned &o) { return gpudf_sweep(nullptr, o.k, cfg, 1, res, nullptr, nullptr); }},
      {"gpudf_sweep", "kernel",
       [](Owned &o) { return gpudf_sweep(o.t, nullptr, cfg, 1, res, nullptr, nullptr); }},
      {"gpudf_sweep_result_error", "result",
       [](Owned &) { return gpudf_sweep_result_error(nullptr, 0); }},
      {"gpudf_sweep_result_report", "result",
       [](Owned &) {
         gpudf_sweep_report r;
         return gpudf_sweep_result_report(nullptr, &r);
       }},
      {"gpudf_sweep_result_worker", "result",
       [](Owned &) {
         gpudf_sweep_worker_info w;
         return gpudf_sweep_result_worker(nullptr, 0, &w);
       }},
  };
}

// Getters and void functions: what each documents for a NULL handle.
struct ValueCase {
  const char *function;
  std::function<bool()> gives_documented_value;
};

std::vector<ValueCase> ValueCases() {
  return {
      {"gpudf_table_free", [] { return gpudf_table_free(nullptr), true; }},
      {"gpudf_table_nrows", [] { return gpudf_table_nrows(nullptr) == 0; }},
      {"gpudf_table_ncols", [] { return gpudf_table_ncols(nullptr) == 0; }},
      {"gpudf_table_is_view", [] { return gpudf_table_is_view(nullptr) == 0; }},
      {"gpudf_table_column_name", [] { return gpudf_table_column_name(nullptr, 0) == nullptr; }},
      {"gpudf_table_column_type",
       [] { return gpudf_table_column_type(nullptr, 0) == (gpudf_type)0; }},
      {"gpudf_table_column_data", [] { return gpudf_table_column_data(nullptr, 0) == nullptr; }},
      {"gpudf_table_arena_bytes", [] { return gpudf_table_arena_bytes(nullptr) == 0; }},
      {"gpudf_table_column_is_categorical",
       [] { return gpudf_table_column_is_categorical(nullptr, 0) == 0; }},
      {"gpudf_table_column_nlabels", [] { return gpudf_table_column_nlabels(nullptr, 0) == 0; }},
      {"gpudf_table_column_label",
       [] { return gpudf_table_column_label(nullptr, 0, 0) == nullptr; }},
      {"gpudf_csv_options_init", [] { return gpudf_csv_options_init(nullptr), true; }},
      {"gpudf_share_name", [] { return gpudf_share_name(nullptr) == nullptr; }},
      {"gpudf_share_backend", [] { return gpudf_share_backend(nullptr) == GPUDF_BACKEND_AUTO; }},
      {"gpudf_share_close", [] { return gpudf_share_close(nullptr), true; }},
      {"gpudf_share_options_init", [] { return gpudf_share_options_init(nullptr), true; }},
      {"gpudf_share_nreplicas", [] { return gpudf_share_nreplicas(nullptr) == 0; }},
      {"gpudf_share_replica_device",
       [] { return gpudf_share_replica_device(nullptr, 0) == nullptr; }},
      {"gpudf_share_skipped", [] { return std::string(gpudf_share_skipped(nullptr)).empty(); }},
      {"gpudf_table_access", [] { return gpudf_table_access(nullptr) == GPUDF_ACCESS_HOST; }},
      {"gpudf_table_device", [] { return gpudf_table_device(nullptr) == nullptr; }},
      {"gpudf_replica_device", [] { return gpudf_replica_device(nullptr) == nullptr; }},
      {"gpudf_replica_free", [] { return gpudf_replica_free(nullptr), true; }},
      {"gpudf_table_backend", [] { return gpudf_table_backend(nullptr) == GPUDF_BACKEND_AUTO; }},
      {"gpudf_table_column_device_data",
       [] { return gpudf_table_column_device_data(nullptr, 0) == nullptr; }},
      {"gpudf_table_column_device",
       [] {
         const void *d = &d;
         int dev = 0;
         return gpudf_table_column_device(nullptr, 0, &d, &dev) == GPUDF_EINVAL &&
                d == nullptr && dev == -1;
       }},
      {"gpudf_cleanup", [] { return gpudf_cleanup(nullptr) == GPUDF_OK; }},
      {"gpudf_backend_available",
       [] { return gpudf_backend_available(GPUDF_BACKEND_CPU, nullptr) == 1; }},
      {"gpudf_kernel_name", [] { return gpudf_kernel_name(nullptr) == nullptr; }},
      {"gpudf_kernel_summary", [] { return gpudf_kernel_summary(nullptr) == nullptr; }},
      {"gpudf_kernel_nparams", [] { return gpudf_kernel_nparams(nullptr) == 0; }},
      {"gpudf_kernel_param_accepts", [] { return gpudf_kernel_param_accepts(nullptr, 0) == 0; }},
      {"gpudf_kernel_nresults", [] { return gpudf_kernel_nresults(nullptr, nullptr) == 0; }},
      {"gpudf_kernel_row_order", [] { return gpudf_kernel_row_order(nullptr) == 0; }},
      {"gpudf_kernel_state_width", [] { return gpudf_kernel_state_width(nullptr, nullptr) == 0; }},
      {"gpudf_sweep_split_ranges",
       [] { return gpudf_sweep_split_ranges(nullptr, nullptr, nullptr, 1, 1, 8) == 0; }},
      {"gpudf_sweep_series_guess", [] { return gpudf_sweep_series_guess(nullptr, nullptr) == -1; }},
      {"gpudf_sweep_series_count",
       [] {
         int64_t s = 7;
         return gpudf_sweep_series_count(nullptr, 0, &s) == GPUDF_EINVAL && s == 0;
       }},
      {"gpudf_sweep_series_check",
       [] {
         int64_t s = 7;
         return gpudf_sweep_series_check(nullptr, 0, -1, &s) == GPUDF_EINVAL && s == 0;
       }},
      {"gpudf_sweep_series_summary",
       [] {
         double r = 0;
         gpudf_series_summary o;
         return gpudf_sweep_series_summary(nullptr, &r, 1, 0, 0, &o) == GPUDF_EINVAL;
       }},
      {"gpudf_series_summary_of",
       [] {
         double r = 0;
         unsigned char st = GPUDF_CONFIG_DONE;
         gpudf_series_summary o;
         return gpudf_series_summary_of(nullptr, &st, 1, 1, 1, 0, 0, &o) == GPUDF_EINVAL &&
                gpudf_series_summary_of(&r, nullptr, 1, 1, 1, 0, 0, &o) == GPUDF_EINVAL &&
                gpudf_series_summary_of(&r, &st, 1, 1, 1, 0, 0, nullptr) == GPUDF_EINVAL;
       }},
      {"gpudf_sweep_series_portfolio_reason",
       [] { return std::string(gpudf_sweep_series_portfolio_reason(nullptr)) == "result is NULL"; }},
      {"gpudf_sweep_result_series",
       [] { return std::string(gpudf_sweep_result_series(nullptr, 0)).empty(); }},
      {"gpudf_sweep_result_nseries", [] { return gpudf_sweep_result_nseries(nullptr) == 0; }},
      {"gpudf_set_error",
       [] { return gpudf_set_error(GPUDF_EINVAL, nullptr) == GPUDF_EINVAL; }},
      {"gpudf_kernel_def_init", [] { return gpudf_kernel_def_init(nullptr), true; }},
      {"gpudf_sweep_options_init", [] { return gpudf_sweep_options_init(nullptr), true; }},
      {"gpudf_sweep_result_free", [] { return gpudf_sweep_result_free(nullptr), true; }},
      {"gpudf_sweep_result_count", [] { return gpudf_sweep_result_count(nullptr) == 0; }},
      {"gpudf_sweep_result_state",
       [] { return gpudf_sweep_result_state(nullptr, 0) == GPUDF_CONFIG_PENDING; }},
      {"gpudf_sweep_result_reason",
       [] { return std::string(gpudf_sweep_result_reason(nullptr, 0)).empty(); }},
      {"gpudf_sweep_result_signal", [] { return gpudf_sweep_result_signal(nullptr) == 0; }},
      {"gpudf_sweep_result_nworkers", [] { return gpudf_sweep_result_nworkers(nullptr) == 0; }},
      {"gpudf_sweep_result_skipped",
       [] { return std::string(gpudf_sweep_result_skipped(nullptr)).empty(); }},
      {"gpudf_progress_bar", [] { return gpudf_progress_bar(nullptr, nullptr) == 0; }},
  };
}

// Functions with no handle or pointer to refuse.
const std::set<std::string> kNoHandle = {
    "gpudf_version",      "gpudf_version_number", "gpudf_status_str",  "gpudf_last_error",
    "gpudf_type_name",    "gpudf_type_size",      "gpudf_backend_name", "gpudf_unmap_idle",
    "gpudf_kernel_count", "gpudf_kernel_at",      "gpudf_kernel_progress"};

std::set<std::string> HeaderFunctions() {
  std::string here = __FILE__;
  std::ifstream f(here.substr(0, here.rfind('/')) + "/../include/gpudf.h");
  std::stringstream ss;
  ss << f.rdbuf();
  std::string text = ss.str();
  std::set<std::string> names;
  std::regex decl(R"(\b(gpudf_[a-z0-9_]+)\()");
  // Declarations only: a name followed at once by '(' outside comments (a
  // callback's return type, "gpudf_status (*check)(", has a space).
  std::string code;
  for (size_t i = 0; i < text.size(); i++) {
    if (text.compare(i, 2, "/*") == 0) {
      size_t end = text.find("*/", i + 2);
      i = end == std::string::npos ? text.size() : end + 1;
      continue;
    }
    code += text[i];
  }
  for (std::sregex_iterator it(code.begin(), code.end(), decl), e; it != e; ++it)
    names.insert((*it)[1]);
  return names;
}

TEST(Api, ANullHandleOrOutPointerIsEinvalNamingTheFunctionAndTheArgument) {
  Owned o;
  for (const NullCase &c : NullCases()) {
    gpudf_set_error(GPUDF_OK, "");
    EXPECT_EQ(c.call(o), GPUDF_EINVAL) << c.function << "(" << c.argument << " = NULL)";
    std::string msg = Err();
    EXPECT_EQ(msg.rfind(std::string(c.function) + ": ", 0), 0u)
        << c.function << "(" << c.argument << " = NULL): " << msg;
    std::string prefix = std::string(c.function) + ": ";
    std::string rest = msg.substr(std::min(msg.size(), prefix.size()));
    EXPECT_NE(rest.find(c.argument), std::string::npos)
        << c.function << "(" << c.argument << " = NULL): " << msg;
  }
}

TEST(Api, GettersGiveTheirDocumentedValueForANullHandle) {
  for (const ValueCase &c : ValueCases()) EXPECT_TRUE(c.gives_documented_value()) << c.function;
}

// A new function of gpudf.h must join one of the tables above: the rules
// then hold for the whole API, not for the functions someone remembered.
TEST(Api, EveryPublicFunctionIsCoveredByTheNullHandleTables) {
  std::set<std::string> covered(kNoHandle);
  for (const NullCase &c : NullCases()) covered.insert(c.function);
  for (const ValueCase &c : ValueCases()) covered.insert(c.function);
  std::set<std::string> declared = HeaderFunctions();
  ASSERT_GT(declared.size(), 60u) << "include/gpudf.h not read";
  for (const std::string &f : declared)
    EXPECT_TRUE(covered.count(f)) << f << " is in gpudf.h but in no table of test_api.cc";
  for (const std::string &f : covered)
    EXPECT_TRUE(declared.count(f)) << f << " is in a table of test_api.cc but not in gpudf.h";
}

// ------------------------------------------------------ versioned structs

// A 0.2 definition (it ends before accepts): accepted, and accepts, past its
// size, is never read (bits no gpudf_accept type has would be refused).
TEST(Api, AnOlderSmallerDefGetsTheDefaultsOfTheFieldsPastItsSize) {
  static const gpudf_param_info params[] = {
      {"col", "", GPUDF_PARAM_COLUMN, 0, 0, 0, 0, nullptr, 0}};
  static const gpudf_result_info fields[] = {{"x", ""}};
  static const int bad_accepts[] = {0x1000};
  gpudf_kernel_def d;
  gpudf_kernel_def_init(&d);
  d.name = "api_v02_def";
  d.nparams = 1;
  d.params = params;
  d.nfields = 1;
  d.fields = fields;
  d.run_cpu = [](const gpudf_table *, const double *, int64_t n, double *r) {
    for (int64_t i = 0; i < n; i++) r[i] = 1;
    return GPUDF_OK;
  };
  d.accepts = bad_accepts;
  gpudf_kernel_def whole = d;
  whole.name = "api_whole_def";
  EXPECT_EQ(gpudf_kernel_register(&whole, nullptr), GPUDF_EINVAL) << "accepts is read at full size";
  d.size = offsetof(gpudf_kernel_def, accepts);
  const gpudf_kernel *k = nullptr;
  ASSERT_EQ(gpudf_kernel_register(&d, &k), GPUDF_OK) << Err();
  EXPECT_EQ(gpudf_kernel_param_accepts(k, 0), GPUDF_ACCEPT_NUMERIC);
}

// A struct from a newer header (larger than ours): accepted when the bytes
// past ours are zero, refused, naming the byte, when one is set.
TEST(Api, ALargerStructIsAcceptedWithZeroTailAndRefusedWithASetByte) {
  struct Newer {
    gpudf_sweep_options o;
    unsigned char extra[24];
  } n;
  std::memset(&n, 0, sizeof n);
  gpudf_sweep_options_init(&n.o);
  n.o.size = sizeof n;
  n.o.workers = 0;
  Owned w;
  double cfg[5] = {0, 3, 0, 0, 0}, res[6];
  EXPECT_EQ(gpudf_sweep(w.t, w.k, cfg, 1, res, &n.o, nullptr), GPUDF_OK) << Err();
  n.extra[5] = 1;
  EXPECT_EQ(gpudf_sweep(w.t, w.k, cfg, 1, res, &n.o, nullptr), GPUDF_EINVAL);
  EXPECT_NE(Err().find("gpudf_sweep: options->size is " + std::to_string(sizeof n)),
            std::string::npos) << Err();
  EXPECT_NE(Err().find("byte"), std::string::npos) << Err();

  struct NewerCsv {
    gpudf_csv_options o;
    unsigned char extra[8];
  } c;
  std::memset(&c, 0, sizeof c);
  gpudf_csv_options_init(&c.o);
  c.o.size = sizeof c;
  c.extra[7] = 9;
  gpudf_table *t = nullptr;
  EXPECT_EQ(gpudf_table_read_csv("/nonexistent.csv", &c.o, &t), GPUDF_EINVAL);
  EXPECT_NE(Err().find("options->size"), std::string::npos) << Err();
}

TEST(Api, ASizeOfZeroOrBelowTheFirstReleaseIsRefusedNamingTheInitFunction) {
  gpudf_sweep_options o;
  gpudf_sweep_options_init(&o);
  o.size = 0;
  Owned w;
  double cfg[5] = {0, 3, 0, 0, 0}, res[6];
  EXPECT_EQ(gpudf_sweep(w.t, w.k, cfg, 1, res, &o, nullptr), GPUDF_EINVAL);
  // The first release's struct ended before series (0.4).
  EXPECT_EQ(Err(), "gpudf_sweep: options->size is 0, expected at least " +
                       std::to_string(offsetof(gpudf_sweep_options, series)) +
                       ": call gpudf_sweep_options_init first");
  gpudf_csv_options c;
  gpudf_csv_options_init(&c);
  c.size = offsetof(gpudf_csv_options, threads) - 1;  // the first release ended before threads (0.6)
  gpudf_table *t = nullptr;
  EXPECT_EQ(gpudf_table_read_csv("/nonexistent.csv", &c, &t), GPUDF_EINVAL);
  EXPECT_NE(Err().find("call gpudf_csv_options_init first"), std::string::npos) << Err();
  gpudf_kernel_def d;
  gpudf_kernel_def_init(&d);
  d.size = 0;
  EXPECT_EQ(gpudf_kernel_register(&d, nullptr), GPUDF_EINVAL);
  EXPECT_NE(Err().find("def->size is 0"), std::string::npos) << Err();
}

}  // namespace
