/*
 * devices.c - which devices a share's replicas go to: the text "all" or a
 * comma-separated list of ordinals and UUIDs (the share option, the
 * GPUDF_DEVICES environment variable and the CLI's --devices take the same
 * syntax), parsed here and resolved against the devices this process sees.
 *
 * A bare number is an ordinal, never a count: "4" is the fifth device. Names
 * by UUID ("GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", as nvidia-smi -L
 * prints it) survive CUDA_VISIBLE_DEVICES reordering; ordinals are this
 * process's numbering.
 */
#include "device.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* One hex digit, or -1. */
static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool gdf_uuid_parse(const char *text, size_t len, uint8_t uuid[GDF_UUID_BYTES]) {
  /* groups of 8-4-4-4-12 hex digits after "GPU-" */
  static const int groups[] = {8, 4, 4, 4, 12};
  if (len != 40 || strncmp(text, "GPU-", 4) != 0) return false;
  size_t at = 4;
  int byte = 0;
  for (int g = 0; g < 5; g++) {
    if (g > 0 && text[at++] != '-') return false;
    for (int k = 0; k < groups[g]; k += 2) {
      int hi = hexval(text[at]), lo = hexval(text[at + 1]);
      if (hi < 0 || lo < 0) return false;
      uuid[byte++] = (uint8_t)(hi << 4 | lo);
      at += 2;
    }
  }
  return at == len && byte == GDF_UUID_BYTES;
}

const char *gdf_uuid_text(const uint8_t *u, char *buf, size_t len) {
  snprintf(buf, len,
           "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
           u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
           u[14], u[15]);
  return buf;
}

gpudf_status gdf_devsel_parse(const char *text, const char *what, gdf_devsel *out) {
  memset(out, 0, sizeof *out);
  if (!text) text = "";
  if (strcmp(text, "all") == 0) {
    out->all = true;
    return GPUDF_OK;
  }
  if (!*text)
    return GDF_ERR(GPUDF_EINVAL, "%s is empty: give 'all' or a comma-separated list of "
                   "device ordinals or UUIDs (GPU-...)", what);
  for (const char *p = text;;) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len == 0)
      return GDF_ERR(GPUDF_EINVAL, "%s '%s' has an empty entry at byte %d: entries are "
                     "device ordinals or UUIDs separated by single commas", what, text,
                     (int)(p - text));
    if (out->n == GDF_REPLICAS_MAX)
      return GDF_ERR(GPUDF_EINVAL, "%s '%s' names more than %d devices", what, text,
                     GDF_REPLICAS_MAX);
    gdf_devsel_item *it = &out->item[out->n];
    if (isdigit((unsigned char)p[0])) {
      long v = 0;
      size_t k = 0;
      for (; k < len && isdigit((unsigned char)p[k]) && v < 100000; k++) v = v * 10 + (p[k] - '0');
      if (k != len || v >= GDF_ORDINAL_MAX)
        return GDF_ERR(GPUDF_EINVAL, "%s '%s': '%.*s' is not a device ordinal (0 to %d) "
                       "or a UUID (GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", what, text,
                       (int)len, p, GDF_ORDINAL_MAX - 1);
      it->ordinal = (int)v;
    } else if (gdf_uuid_parse(p, len, it->uuid)) {
      it->by_uuid = true;
      it->ordinal = -1;
    } else {
      return GDF_ERR(GPUDF_EINVAL, "%s '%s': '%.*s' is not a device ordinal or a UUID "
                     "(GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx); use 'all' for every "
                     "device", what, text, (int)len, p);
    }
    for (int j = 0; j < out->n; j++)
      if (out->item[j].by_uuid == it->by_uuid &&
          (it->by_uuid ? memcmp(out->item[j].uuid, it->uuid, GDF_UUID_BYTES) == 0
                       : out->item[j].ordinal == it->ordinal))
        return GDF_ERR(GPUDF_EINVAL, "%s '%s' names device '%.*s' twice", what, text,
                       (int)len, p);
    out->n++;
    if (!end) break;
    p = end + 1;
  }
  return GPUDF_OK;
}

gpudf_status gdf_devsel_resolve(const gdf_devsel *sel, const gdf_device *dev, int *ordinals,
                                int *n) {
  const char *why = "no device";
  int count = dev->ops->count(dev, &why);
  if (count <= 0) return GDF_ERR(GPUDF_ENODEV, "no device: %s", why);
  if (count > GDF_REPLICAS_MAX) count = GDF_REPLICAS_MAX;
  uint8_t uuids[GDF_REPLICAS_MAX][GDF_UUID_BYTES];
  for (int i = 0; i < count; i++) {
    gdf_device d = gdf_device_at(dev, i);
    GDF_TRY(d.ops->uuid(&d, uuids[i]));
  }
  *n = 0;
  if (sel->all) {
    for (int i = 0; i < count; i++) ordinals[(*n)++] = i;
    return GPUDF_OK;
  }
  for (int k = 0; k < sel->n; k++) {
    const gdf_devsel_item *it = &sel->item[k];
    int ord = -1;
    char u[48];
    if (it->by_uuid) {
      for (int i = 0; i < count && ord < 0; i++)
        if (memcmp(uuids[i], it->uuid, GDF_UUID_BYTES) == 0) ord = i;
      if (ord < 0)
        return GDF_ERR(GPUDF_ENODEV, "device %s was named but this process does not see it "
                       "(%d device(s) visible; check CUDA_VISIBLE_DEVICES)",
                       gdf_uuid_text(it->uuid, u, sizeof u), count);
    } else {
      ord = it->ordinal;
      if (ord >= count)
        return GDF_ERR(GPUDF_ENODEV, "device %d was named but this process sees %d device(s) "
                       "(ordinals 0 to %d; check CUDA_VISIBLE_DEVICES)", ord, count,
                       count - 1);
    }
    for (int j = 0; j < *n; j++)
      if (ordinals[j] == ord)
        return GDF_ERR(GPUDF_EINVAL, "device %s (ordinal %d) is named twice, by ordinal and "
                       "by UUID", gdf_uuid_text(uuids[ord], u, sizeof u), ord);
    ordinals[(*n)++] = ord;
  }
  return GPUDF_OK;
}
