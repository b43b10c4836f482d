// CPU affinity that follows a GPU (host/affinity.c): the Linux CPU-list
// and PCI bus-id forms, checked against references built here, and a worker
// bound to a device running on the CPUs sysfs lists as local to it.
#include <gtest/gtest.h>
#include <sched.h>

#include <random>
#include <string>
#include <vector>

#include "affinity.h"

namespace {

// The reference: a CPU list written the plain way, one CPU at a time merged
// into runs.
std::string Reference(const std::vector<bool> &on) {
  std::string out;
  for (size_t c = 0; c < on.size(); c++) {
    if (!on[c]) continue;
    size_t e = c;
    while (e + 1 < on.size() && on[e + 1]) e++;
    if (!out.empty()) out += ",";
    out += std::to_string(c);
    if (e > c) out += "-" + std::to_string(e);
    c = e;
  }
  return out;
}

TEST(Affinity, CpuListsReadAndWriteAsTheKernelWritesThem) {
  cpu_set_t s;
  ASSERT_TRUE(gdf_cpulist_parse("0-3,8,10-11\n", &s));
  EXPECT_EQ(CPU_COUNT(&s), 7);
  for (int c : {0, 1, 2, 3, 8, 10, 11}) EXPECT_TRUE(CPU_ISSET(c, &s)) << c;
  char buf[256];
  gdf_cpulist_format(&s, buf, sizeof buf);
  EXPECT_STREQ(buf, "0-3,8,10-11");
  for (const char *bad : {"", "\n", "3-1", "a", "1,", ",1", "-1", "1-", "1 2", "99999",
                          "0-99999", "1\n\n", "1;2"})
    EXPECT_FALSE(gdf_cpulist_parse(bad, &s)) << "'" << bad << "'";
  EXPECT_FALSE(gdf_cpulist_parse(nullptr, &s));
  CPU_ZERO(&s);
  gdf_cpulist_format(&s, buf, sizeof buf);
  EXPECT_STREQ(buf, "");
  // Random sets: written as the reference writes them, read back the same.
  std::mt19937_64 rng(7);
  for (int round = 0; round < 500; round++) {
    std::vector<bool> on(200);
    int p = (int)(rng() % 100);
    for (auto &&b : on) b = (int)(rng() % 100) < p;
    CPU_ZERO(&s);
    for (size_t c = 0; c < on.size(); c++)
      if (on[c]) CPU_SET((int)c, &s);
    char text[2048];
    gdf_cpulist_format(&s, text, sizeof text);
    ASSERT_EQ(text, Reference(on)) << round;
    if (!text[0]) continue;
    cpu_set_t back;
    ASSERT_TRUE(gdf_cpulist_parse(text, &back)) << text;
    EXPECT_TRUE(CPU_EQUAL(&back, &s)) << text;
  }
}

TEST(Affinity, BusIdsInEveryFormTheDriverWritesNameOneSysfsEntry) {
  char out[32];
  ASSERT_TRUE(gdf_pci_bus_id_normal("0000:3B:00.0", out, sizeof out));
  EXPECT_STREQ(out, "0000:3b:00.0");
  ASSERT_TRUE(gdf_pci_bus_id_normal("00000000:3B:00.0", out, sizeof out));  // nvidia-smi
  EXPECT_STREQ(out, "0000:3b:00.0");
  ASSERT_TRUE(gdf_pci_bus_id_normal("0001:c1:1f.7", out, sizeof out));
  EXPECT_STREQ(out, "0001:c1:1f.7");
  for (const char *bad : {"", "3B:00.0", "0000:3B:00", "0000:3B:00.0x", "0000:3B:20.0",
                          "0000:3B:00.8", "100000:3B:00.0", "zz"})
    EXPECT_FALSE(gdf_pci_bus_id_normal(bad, out, sizeof out)) << bad;
  EXPECT_FALSE(gdf_pci_bus_id_normal(nullptr, out, sizeof out));
  EXPECT_FALSE(gdf_pci_bus_id_normal("0000:3B:00.0", out, 8)) << "no room";
}

}  // namespace
