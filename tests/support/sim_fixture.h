// sim_fixture.h - the fixture of the simulated-device tests (test_device.cc,
// test_multi_device.cc): every test starts with the simulated device and a
// fresh call trace, can run the harness child with extra environment, reads
// the trace per process, and leaves the environment and the shm directory
// as it found them.
#ifndef GPUDF_TEST_SIM_FIXTURE_H
#define GPUDF_TEST_SIM_FIXTURE_H

#include <gpudf.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "descriptor.h"
#include "harness.h"

namespace simtest {

inline std::string ReadAll(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

inline bool EntryExists(const std::string &needle) {
  for (const auto &e : harness::ShmEntries())
    if (e.find(needle) != std::string::npos) return true;
  return false;
}

class SimFixture : public ::testing::Test {
 protected:
  // prefix names the trace file; devices: GPUDF_SIM_DEVICES (0: unset, one
  // device); second_line: RunChild also waits up to 2 s for a second line.
  SimFixture(const char *prefix, int devices, bool second_line)
      : prefix_(prefix), devices_(devices), second_line_(second_line) {}

  void SetUp() override {
    for (const char *v : kVars) unsetenv(v);
    setenv("GPUDF_SIMULATE_DEVICE", "1", 1);
    if (devices_ > 0) setenv("GPUDF_SIM_DEVICES", std::to_string(devices_).c_str(), 1);
    trace = std::string("/tmp/") + prefix_ + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    unlink(trace.c_str());
    setenv("GPUDF_SIM_TRACE", trace.c_str(), 1);
  }
  void TearDown() override {
    gpudf_share_close(s);
    gpudf_table_free(t);
    for (const char *v : kVars) unsetenv(v);
    unlink(trace.c_str());
    for (auto &f : files) unlink(f.c_str());
    EXPECT_FALSE(EntryExists("+v." + std::to_string(getpid()) + "."))
        << "simulated device memory left behind";
  }
  // Trace lines "PID CALL ..." of one process, as "CALL ..." strings.
  std::vector<std::string> Calls(pid_t pid) {
    std::vector<std::string> out;
    std::istringstream in(ReadAll(trace));
    std::string line, prefix = std::to_string(pid) + " ";
    while (std::getline(in, line))
      if (line.rfind(prefix, 0) == 0) out.push_back(line.substr(prefix.size()));
    return out;
  }
  // Runs the child with extra environment (only the child sees it) and
  // returns its first line (and its second, when the fixture asks for it);
  // its stderr goes to *log.
  std::string RunChild(const std::vector<std::string> &args,
                       const std::vector<std::pair<const char *, const char *>> &env,
                       pid_t *pid = nullptr, std::string *log = nullptr) {
    std::string err = trace + ".stderr";
    files.push_back(err);
    setenv("GPUDF_TEST_STDERR", err.c_str(), 1);
    setenv("GPUDF_LOG", "debug", 1);
    for (auto &e : env) setenv(e.first, e.second, 1);
    harness::Child c = harness::Spawn(args);
    for (auto &e : env) unsetenv(e.first);
    unsetenv("GPUDF_TEST_STDERR");
    unsetenv("GPUDF_LOG");
    std::string line = harness::ReadLine(c);
    if (second_line_) {
      std::string rest = harness::ReadLine(c, 2000);
      if (!rest.empty()) line += "\n" + rest;
    }
    if (pid) *pid = c.pid;
    int st = harness::Wait(c);
    EXPECT_TRUE(WIFEXITED(st)) << st;
    if (log) *log = ReadAll(err);
    unlink(err.c_str());
    return line;
  }
  const gdf_desc_header *Header() {
    desc = ReadAll(harness::ShmPath(harness::PublicFile(name)));
    EXPECT_GE(desc.size(), sizeof(gdf_desc_header));
    return reinterpret_cast<const gdf_desc_header *>(desc.data());
  }
  static constexpr const char *kVars[] = {
      "GPUDF_SIMULATE_DEVICE", "GPUDF_SIM_TRACE", "GPUDF_SIM_FAIL",    "GPUDF_SIM_UUID",
      "GPUDF_SIM_MEM",         "GPUDF_BACKEND",   "GPUDF_SIM_DEVICES", "GPUDF_DEVICES",
      "GPUDF_SIM_CURRENT",     "CUDA_VISIBLE_DEVICES"};
  gpudf_table *t = nullptr;
  gpudf_share *s = nullptr;
  std::string name, trace, desc;
  std::vector<std::string> files;

 private:
  const char *prefix_;
  int devices_;
  bool second_line_;
};

}  // namespace simtest

#endif  // GPUDF_TEST_SIM_FIXTURE_H
