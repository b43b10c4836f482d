/*
 * fuzz_devices.c - libFuzzer target: the device list of a share ("all", or
 * ordinals and UUIDs separated by commas; the devices option, GPUDF_DEVICES
 * and gpudf-sweep --devices). Whatever the text, the parser answers OK or
 * GPUDF_EINVAL with a message; what it accepts is a list of 1 to 16 distinct
 * entries that parses to the same list when written back, and resolving it
 * against four simulated devices answers OK, GPUDF_ENODEV or GPUDF_EINVAL
 * (the same device by ordinal and UUID) with a message.
 */
#include <gpudf.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  if (setenv("GPUDF_SIMULATE_DEVICE", "1", 1) || setenv("GPUDF_SIM_DEVICES", "4", 1)) abort();
  return 0;
}

/* The list written back in the syntax it was parsed from. */
static void write_back(const gdf_devsel *sel, char *buf, size_t len) {
  size_t at = 0;
  buf[0] = '\0';
  for (int i = 0; i < sel->n && at < len; i++) {
    char u[48];
    const gdf_devsel_item *it = &sel->item[i];
    at += (size_t)snprintf(buf + at, len - at, "%s%s", i ? "," : "",
                           it->by_uuid ? gdf_uuid_text(it->uuid, u, sizeof u) : "");
    if (!it->by_uuid && at < len) at += (size_t)snprintf(buf + at, len - at, "%d", it->ordinal);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  memcpy(text, data, size);
  text[size] = '\0'; /* a NUL inside ends the text, as in C */
  gdf_devsel sel;
  gpudf_status st = gdf_devsel_parse(text, "devices", &sel);
  if (st != GPUDF_OK) {
    if (st != GPUDF_EINVAL || gpudf_last_error()[0] == '\0') abort();
    free(text);
    return 0;
  }
  if (!sel.all) {
    if (sel.n < 1 || sel.n > GDF_REPLICAS_MAX) abort();
    for (int i = 0; i < sel.n; i++) {
      const gdf_devsel_item *it = &sel.item[i];
      if (!it->by_uuid && (it->ordinal < 0 || it->ordinal >= GDF_ORDINAL_MAX)) abort();
    }
    char again[GDF_REPLICAS_MAX * 48];
    write_back(&sel, again, sizeof again);
    gdf_devsel sel2;
    if (gdf_devsel_parse(again, "devices", &sel2) != GPUDF_OK || sel2.n != sel.n ||
        memcmp(sel2.item, sel.item, sizeof sel.item[0] * (size_t)sel.n) != 0)
      abort();
  }
  gdf_device dev;
  const char *why;
  if (!gdf_device_get(&dev, &why)) abort();
  int ords[GDF_REPLICAS_MAX], n = 0;
  st = gdf_devsel_resolve(&sel, &dev, ords, &n);
  if (st == GPUDF_OK) {
    for (int i = 0; i < n; i++)
      if (ords[i] < 0 || ords[i] >= 4) abort();
  } else if ((st != GPUDF_ENODEV && st != GPUDF_EINVAL) || gpudf_last_error()[0] == '\0') {
    abort();
  }
  free(text);
  return 0;
}
