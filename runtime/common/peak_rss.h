#pragma once
// This process's resident memory from /proc/self/status, MiB; 0 where it is not told.

namespace prfaas {

double peak_rss_mib();     // VmHWM: the most it has held
double current_rss_mib();  // VmRSS: what it holds now

}  // namespace prfaas
