#include "runtime/common/peak_rss.h"

#include <cstdio>

namespace prfaas {

namespace {

double status_field_mib(const char* format) {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  double kib = 0;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, format, &kib) == 1) break;
  std::fclose(f);
  return kib / 1024;
}

}  // namespace

double peak_rss_mib() { return status_field_mib("VmHWM: %lf kB"); }
double current_rss_mib() { return status_field_mib("VmRSS: %lf kB"); }

}  // namespace prfaas
