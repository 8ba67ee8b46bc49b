#pragma once
// `prfaas bench transport`: KV transport against a plain send/recv baseline, sender and
// receiver in separate processes: on loopback (a forked receiver), or across hosts
// (`--serve HOST:PORT` on the receiving host, `--connect HOST:PORT` on the sending one).

#include <string>

namespace prfaas::apps {

struct bench_transport_options {
  std::string csv;        // write block_bytes,connections,transport_gbps,raw_gbps here
  int reps = 5;           // median of this many transfers per cell and method
  int total_mib = 256;    // bytes per transfer
  std::string serve;      // HOST:PORT: be the receiving end for a sender on another host
  std::string connect;    // HOST:PORT: send to a receiver started with --serve there
};

int bench_transport(const bench_transport_options& options);

}  // namespace prfaas::apps
