// The bench forks a receiver process and drives it over two pipes (one command per line), or,
// across hosts, a receiver started with --serve HOST:PORT over one TCP control connection:
//   sender -> receiver: "total BYTES" (first) | "expect ID BLOCKS BLOCK_BYTES" | "raw_open N" |
//                       "raw_expect BYTES BLOCK_BYTES" | "quit"
//   receiver -> sender: "ports KV RAW" | "ok" | "done ID" | "fail ID WHY" | "raw_done"
// For each cell both methods move the same bytes from the same pre-faulted source into the same
// pre-faulted destination: the transport as one request of BLOCKS payload frames (plaintext,
// then with transport.encrypt's AES-256-GCM), the baseline as plain send() of BLOCK_BYTES chunks
// spread over N connections and recv() into place.

#include "apps/bench_transport.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "runtime/common/errc.h"
#include "runtime/transport/kv_receiver.h"
#include "runtime/transport/kv_sender.h"
#include "runtime/transport/payload_cipher.h"

namespace prfaas::apps {

namespace {

// GB/s at which one core seals payloads with the transport's own cipher (AES-256-GCM through
// OpenSSL's EVP), 1 MiB frames: what encryption costs a core on this machine.
double seal_rate_one_core(std::span<const std::byte> bytes) {
  transport::payload_cipher cipher(transport::payload_key{});
  std::vector<std::byte> out(size_t{1} << 20);
  transport::frame_header h{};
  const auto t0 = std::chrono::steady_clock::now();
  size_t sealed = 0;
  for (int round = 0; round < 2; ++round)
    for (size_t at = 0; at + out.size() <= bytes.size(); at += out.size()) {
      cipher.seal(h, bytes.subspan(at, out.size()), out);
      sealed += out.size();
    }
  return sealed / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 1e9;
}

using namespace prfaas::transport;
using clock_type = std::chrono::steady_clock;

// Both ends authenticate as a deployment does; encryption is the sender's choice per link.
const char* const kBenchSecret = "bench secret";


struct line_pipe {
  int fd;
  std::string buf;
  std::string read_line() {
    for (;;) {
      const auto nl = buf.find('\n');
      if (nl != std::string::npos) {
        std::string line = buf.substr(0, nl);
        buf.erase(0, nl + 1);
        return line;
      }
      char tmp[256];
      const ssize_t n = ::read(fd, tmp, sizeof tmp);
      if (n <= 0) throw failure(errc::transport_failed, "bench receiver process went away");
      buf.append(tmp, static_cast<size_t>(n));
    }
  }
};

void write_line(int fd, const std::string& line) {
  const std::string s = line + "\n";
  if (::write(fd, s.data(), s.size()) != static_cast<ssize_t>(s.size())) throw failure(errc::internal, "pipe write failed");
}

std::vector<uint64_t> prefaulted(size_t bytes) {
  std::vector<uint64_t> v(bytes / 8);
  for (size_t i = 0; i < v.size(); i += 512) v[i] = i;  // touch every page
  return v;
}

// The receiver process.
// The receiver: its KV receiver and raw listener on `host`.
[[noreturn]] void receiver_main(int cmd_fd, int reply_fd, const std::string& host) {
  std::mutex out_mutex;
  auto reply = [&](const std::string& s) {
    std::lock_guard l(out_mutex);
    write_line(reply_fd, s);
  };
  line_pipe in{cmd_fd, {}};
  size_t total_bytes = 0;
  {
    std::istringstream first(in.read_line());
    std::string verb;
    first >> verb >> total_bytes;
    if (verb != "total" || total_bytes == 0 || total_bytes > (size_t{4} << 30)) std::_Exit(2);
  }
  auto dest = prefaulted(total_bytes);
  auto* base = reinterpret_cast<std::byte*>(dest.data());
  kv_receiver rx({host, 0}, [&](const kv_receiver::event& e) {
    if (e.kind == kv_receiver::event::complete) reply("done " + std::to_string(e.request));
    else if (e.kind == kv_receiver::event::failed) reply("fail " + std::to_string(e.request) + " " + e.error);
  }, receiver_options{kBenchSecret});
  socket_fd raw_listener = listen_tcp({host, 0});
  reply("ports " + std::to_string(rx.port()) + " " + std::to_string(local_port(raw_listener)));

  std::unique_ptr<buffer_transfer> view;
  std::vector<socket_fd> raw;
  std::vector<std::thread> raw_threads;
  std::atomic<uint64_t> raw_received{0}, raw_expected{0};
  std::atomic<size_t> raw_chunk{65536};
  std::atomic<bool> raw_stop{false};
  for (;;) {
    std::istringstream cmd(in.read_line());
    std::string verb;
    cmd >> verb;
    if (verb == "expect") {
      uint64_t id;
      int blocks;
      size_t bytes;
      cmd >> id >> blocks >> bytes;
      view = std::make_unique<buffer_transfer>(base, blocks, bytes);
      rx.expect(id, *view);
      reply("ok");
    } else if (verb == "raw_open") {
      int n;
      cmd >> n;
      raw_stop = true;
      for (auto& s : raw) s.shutdown_both();
      for (auto& t : raw_threads) t.join();
      raw.clear();
      raw_threads.clear();
      raw_stop = false;
      reply("ok");
      for (int i = 0; i < n; ++i) raw.push_back(accept_tcp(raw_listener));
      for (int i = 0; i < n; ++i)
        raw_threads.emplace_back([&, i] {
          // Each connection receives straight into the destination, chunk by chunk.
          size_t offset = (total_bytes / raw.size()) * i;
          for (;;) {
            const size_t chunk = raw_chunk;
            if (offset + chunk > total_bytes) offset = 0;
            const ssize_t got = ::recv(raw[i].get(), base + offset, chunk, 0);
            if (got <= 0 || raw_stop) return;
            offset += static_cast<size_t>(got);
            if (raw_received.fetch_add(got) + got == raw_expected) reply("raw_done");
          }
        });
    } else if (verb == "raw_expect") {
      uint64_t bytes;
      size_t chunk;
      cmd >> bytes >> chunk;
      raw_chunk = chunk;
      raw_received = 0;
      raw_expected = bytes;
      reply("ok");
    } else {
      raw_stop = true;
      for (auto& s : raw) s.shutdown_both();
      for (auto& t : raw_threads) t.join();
      std::_Exit(0);
    }
  }
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int bench_transport(const bench_transport_options& o) {
  const size_t total = static_cast<size_t>(o.total_mib) << 20;
  if (!o.serve.empty()) {
    // The receiving end on this host: one sender at a time, until it says quit.
    const endpoint at = parse_endpoint(o.serve);
    socket_fd control_listener = listen_tcp(at, 1);
    std::printf("bench transport: receiving on %s (control port %u)\n", at.host.c_str(), local_port(control_listener));
    std::fflush(stdout);
    socket_fd control = accept_tcp(control_listener);
    receiver_main(control.get(), control.get(), at.host);
  }
  std::string peer_host = "127.0.0.1";
  pid_t child = -1;
  socket_fd control;
  int cmd = -1, replies = -1;
  if (!o.connect.empty()) {
    const endpoint to = parse_endpoint(o.connect);
    peer_host = to.host;
    control = connect_tcp(to, std::chrono::seconds(5));
    cmd = replies = control.get();
  } else {
    int to_child[2], from_child[2];
    if (::pipe(to_child) != 0 || ::pipe(from_child) != 0) throw failure(errc::internal, "pipe failed");
    child = ::fork();
    if (child < 0) throw failure(errc::internal, "fork failed");
    if (child == 0) {
      ::close(to_child[1]);
      ::close(from_child[0]);
      receiver_main(to_child[0], from_child[1], "127.0.0.1");
    }
    ::close(to_child[0]);
    ::close(from_child[1]);
    cmd = to_child[1];
    replies = from_child[0];
  }
  write_line(cmd, "total " + std::to_string(total));
  line_pipe in{replies, {}};
  auto expect_line = [&](const std::string& prefix) {
    const std::string line = in.read_line();
    if (line.rfind(prefix, 0) != 0) throw failure(errc::transport_failed, "bench receiver: " + line);
    return line;
  };
  std::istringstream ports(expect_line("ports"));
  std::string word;
  uint16_t kv_port = 0, raw_port = 0;
  ports >> word >> kv_port >> raw_port;

  auto source = prefaulted(total);
  for (size_t i = 0; i < source.size(); ++i) source[i] = i * 0x9e3779b97f4a7c15ull;
  auto* src = reinterpret_cast<std::byte*>(source.data());

  std::ofstream csv;
  if (!o.csv.empty()) {
    csv.open(o.csv);
    csv << "block_bytes,connections,transport_gbps,encrypted_gbps,raw_gbps\n";
  }
  std::printf("%-11s %-5s %14s %14s %14s %9s %9s\n", "block", "conns", "transport GB/s", "encrypted GB/s", "raw GB/s",
              "ratio", "enc/plain");
  uint64_t next_id = 1;
  double best_plain = 0;  // the plaintext transport's best median, GB/s
  for (size_t block : {size_t{64} << 10, size_t{256} << 10, size_t{1} << 20}) {
    const int blocks = static_cast<int>(total / block);
    buffer_transfer view(src, blocks, block);
    for (int conns : {1, 2, 4, 8}) {
      std::cerr << "bench transport: " << (block >> 10) << " KiB blocks, " << conns << " connections\n";
      link_options lo;
      lo.name = "bench";
      lo.connections = conns;
      lo.secret = kBenchSecret;
      kv_sender tx({peer_host, kv_port}, lo);
      lo.encrypt = true;
      kv_sender etx({peer_host, kv_port}, lo);
      write_line(cmd, "raw_open " + std::to_string(conns));
      expect_line("ok");
      std::vector<socket_fd> raw;
      for (int i = 0; i < conns; ++i) raw.push_back(connect_tcp({peer_host, raw_port}, std::chrono::seconds(2)));
      std::vector<double> t_gbs, e_gbs, r_gbs;
      // The transport: one request of `blocks` payload frames; GB/s from post to confirmation.
      auto transfer = [&](kv_sender& sender) {
        const uint64_t id = next_id++;
        write_line(cmd, "expect " + std::to_string(id) + " " + std::to_string(blocks) + " " + std::to_string(block));
        expect_line("ok");
        const auto t0 = clock_type::now();
        sender.send_layer(id, view, 0);
        sender.send_done(id, static_cast<uint32_t>(blocks), 0);
        expect_line("done " + std::to_string(id));
        const double gbs = total / std::chrono::duration<double>(clock_type::now() - t0).count() / 1e9;
        sender.finish(id, clock_type::now() + std::chrono::seconds(30));
        return gbs;
      };
      for (int rep = 0; rep < o.reps; ++rep) {
        t_gbs.push_back(transfer(tx));
        e_gbs.push_back(transfer(etx));
        // The baseline: the same bytes with plain send() over the same number of connections.
        write_line(cmd, "raw_expect " + std::to_string(total) + " " + std::to_string(block));
        expect_line("ok");
        const auto t0 = clock_type::now();
        std::vector<std::thread> senders;
        for (int c = 0; c < conns; ++c)
          senders.emplace_back([&, c] {
            for (int b = c; b < blocks; b += conns) {
              size_t done = 0;
              while (done < block) {
                const ssize_t n = ::send(raw[c].get(), src + b * block + done, block - done, MSG_NOSIGNAL);
                if (n <= 0) return;
                done += static_cast<size_t>(n);
              }
            }
          });
        for (auto& t : senders) t.join();
        expect_line("raw_done");
        r_gbs.push_back(total / std::chrono::duration<double>(clock_type::now() - t0).count() / 1e9);
      }
      const double t = median(t_gbs), e = median(e_gbs), r = median(r_gbs);
      best_plain = std::max(best_plain, t);
      std::printf("%-11s %-5d %14.2f %14.2f %14.2f %8.1f%% %8.1f%%\n", (std::to_string(block >> 10) + " KiB").c_str(),
                  conns, t, e, r, 100 * t / r, 100 * e / t);
      std::fflush(stdout);
      if (csv) csv << block << "," << conns << "," << t * 8 << "," << e * 8 << "," << r * 8 << "\n";
    }
  }
  write_line(cmd, "quit");
  if (child > 0) ::waitpid(child, nullptr, 0);
  // Where encryption's ceiling lies when both ends share this machine: the plain transport's
  // best rate uses the cores (kernel copies), sealing and opening add two passes of the cipher
  // per byte on top, so encrypted / plain cannot pass 1 / (1 + 2 P / (cores S)).  Ends on
  // machines of their own pay one pass each on cores the other does not use.
  const double seal = seal_rate_one_core(std::span<const std::byte>(src, total));
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const double ceiling = 1 / (1 + 2 * best_plain / (cores * seal));
  std::printf("cipher: AES-256-GCM seals %.2f GB/s on one core; with both ends on these %u cores and the best "
              "plain rate %.2f GB/s, encrypted / plain tops out near %.0f%%\n",
              seal, cores, best_plain, 100 * ceiling);
  return 0;
}

}  // namespace prfaas::apps
