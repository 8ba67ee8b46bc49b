#pragma once
// This process's peak resident memory (VmHWM of /proc/self/status), MiB; 0 where it is not told.

namespace prfaas {

double peak_rss_mib();

}  // namespace prfaas
