// Token ids cross the actor plane as one block (actors/token_block.hpp): what is written is read
// back the same, in the bytes of the ids themselves, and a block whose length lies is refused.

// CAF 0.17's binary serializer, inlined here, trips GCC 12's -Warray-bounds on a one-byte
// temporary (false positives).
#pragma GCC diagnostic ignored "-Warray-bounds"
#pragma GCC diagnostic ignored "-Wstringop-overread"

#include <caf/all.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

#include "actors/messages.hpp"
#include "actors/system_config.hpp"

using namespace prfaas;

namespace {

template <class T>
std::vector<char> written(caf::actor_system& sys, T& value) {
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  REQUIRE_FALSE(sink(value));
  return buf;
}

}  // namespace

TEST_CASE("a job's prompt and output cross as blocks: read back the same, four bytes an id") {
  actors::system_config cfg{config::router_config{}, 1};
  caf::actor_system sys{cfg};
  actors::decode_job job;
  job.request = 7;
  for (int i = 0; i < 3000; ++i) job.prompt.push_back(i * 50 - 1);  // ids of every size, one negative
  job.output = {151643, 0, 42};
  job.client_id = "c-1";
  const auto buf = written(sys, job);
  actors::decode_job empty;
  const auto empty_buf = written(sys, empty);
  // The ids' bytes and a length each (a varint, a few bytes), beside what the empty job writes.
  CHECK(buf.size() - empty_buf.size() <= 4 * (3000 + 3) + 3 + 8 + 8);
  actors::decode_job back;
  caf::binary_deserializer source{sys, buf};
  REQUIRE_FALSE(source(back));
  CHECK(back.prompt == job.prompt);
  CHECK(back.output == job.output);
  CHECK(back.client_id == "c-1");
  CHECK(back.request == 7);
}

TEST_CASE("a block whose length claims more ids than its bytes hold is refused, having read nothing") {
  actors::system_config cfg{config::router_config{}, 1};
  caf::actor_system sys{cfg};
  actors::token_chunk chunk{9, 0, {1, 2, 3}, 1};
  auto buf = written(sys, chunk);
  // Cut the message inside the ids: the length still says three.
  std::vector<char> cut(buf.begin(), buf.end() - 6);
  actors::token_chunk back;
  caf::binary_deserializer source{sys, cut};
  CHECK(source(back));  // an error: the stream ended
  CHECK(back.tokens.empty());
  // A length of about four billion ids on a few bytes: refused after at most one chunk.
  std::vector<char> lying;
  caf::binary_serializer sink{sys, lying};
  uint64_t request = 9;
  int32_t offset = 0;
  size_t n = 0xFFFFFFF0u;
  REQUIRE_FALSE(sink(request, offset));
  REQUIRE_FALSE(sink.begin_sequence(n));
  lying.insert(lying.end(), 16, '\1');
  caf::binary_deserializer liar{sys, lying};
  actors::token_chunk forged;
  CHECK(liar(forged));
  CHECK(forged.tokens.empty());
}
