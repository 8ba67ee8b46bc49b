#pragma once
// Test fixtures for the KV transport: a receiver event log, plain buffers as transfers (one
// layer, or several), and a hand-driven peer that speaks the protocol frame by frame.

#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/transport/frame_io.h"
#include "runtime/transport/kv_receiver.h"
#include "runtime/transport/link_options.h"
#include "runtime/transport/transfer.h"

namespace prfaas::testing {

using namespace prfaas::transport;
using namespace std::chrono_literals;

inline link_options opts(const std::string& name, int connections = 1, const std::string& secret = "") {
  link_options o;
  o.name = name;
  o.connections = connections;
  o.secret = secret;
  return o;
}

// Collects receiver events; waits for a terminal one.
struct event_log {
  std::mutex m;
  std::condition_variable cv;
  std::vector<kv_receiver::event> events;
  void operator()(const kv_receiver::event& e) {
    std::lock_guard l(m);
    events.push_back(e);
    cv.notify_all();
  }
  kv_receiver::event wait_terminal(uint64_t request) {
    std::unique_lock l(m);
    kv_receiver::event out{kv_receiver::event::failed, request, -1, 0, "timed out waiting"};
    cv.wait_for(l, 10s, [&] {
      for (auto& e : events)
        if (e.request == request && e.kind != kv_receiver::event::layer_ready) { out = e; return true; }
      return false;
    });
    return out;
  }
  std::vector<int> layers(uint64_t request) {
    std::lock_guard l(m);
    std::vector<int> out;
    for (auto& e : events)
      if (e.request == request && e.kind == kv_receiver::event::layer_ready) out.push_back(e.layer);
    return out;
  }
};

inline bool same_payloads(transfer_view& a, transfer_view& b) {
  for (int l = 0; l < a.layers(); ++l) {
    if (a.payload_count(l) != b.payload_count(l)) return false;
    for (int i = 0; i < a.payload_count(l); ++i) {
      auto x = a.payload(l, i), y = b.payload(l, i);
      if (x.size() != y.size() || std::memcmp(x.data(), y.data(), x.size()) != 0) return false;
    }
  }
  return true;
}

// A hand-driven peer: connects, passes the handshake, writes whatever frames a test wants.
struct raw_peer {
  socket_fd s;
  frame_encoder enc;
  raw_peer(uint16_t port, const std::string& name) : s(connect_tcp({"127.0.0.1", port}, 2s)) {
    frame_header hello;
    hello.kind = frame_kind::hello;
    hello.reason = name;
    write_frame(s, enc, hello);
    received_header h;
    REQUIRE(read_header(s, h));
    REQUIRE(h.header.kind == frame_kind::accepted);
  }
  void send(const frame_header& h, std::span<const std::byte> payload = {}) { write_frame(s, enc, h, payload); }
};

struct buffers {
  std::vector<uint64_t> words;
  buffer_transfer view;
  buffers(int count, size_t bytes) : words(count * bytes / 8), view(reinterpret_cast<std::byte*>(words.data()), count, bytes) {}
};


// `layers` layers of `count` payloads of `bytes` each, filled with a pattern (or zeros).
struct layered_buffers final : transfer_view {
  int n_layers, count;
  size_t bytes;
  std::vector<uint64_t> words;
  layered_buffers(int layers_, int count_, size_t bytes_, bool pattern)
      : n_layers(layers_), count(count_), bytes(bytes_), words(layers_ * count_ * bytes_ / 8) {
    if (pattern)
      for (size_t i = 0; i < words.size(); ++i) words[i] = i * 0x9e3779b97f4a7c15ull + 1;
  }
  int layers() const override { return n_layers; }
  int payload_count(int) const override { return count; }
  payload_kind kind(int) const override { return payload_kind::block; }
  std::span<std::byte> payload(int layer, int index) override {
    return {reinterpret_cast<std::byte*>(words.data()) + (static_cast<size_t>(layer) * count + index) * bytes, bytes};
  }
  uint32_t token_count() const override { return static_cast<uint32_t>(count); }
  size_t layer_bytes() const { return static_cast<size_t>(count) * bytes; }
};

}  // namespace prfaas::testing
