// The cancel board names a request's attempt: cancelling one attempt never stops the next, and
// the board forgets its oldest entries past its bound.

#include <catch2/catch.hpp>

#include <thread>

#include "runtime/common/cancel_board.h"

using namespace prfaas;

TEST_CASE("a cancelled attempt is seen by the work, other attempts are not") {
  cancel_board board;
  board.cancel(7, 0);
  CHECK(board.cancelled(7, 0));
  CHECK_FALSE(board.cancelled(7, 1));  // the request's next attempt runs
  CHECK_FALSE(board.cancelled(8, 0));
}

TEST_CASE("the board is bounded: the oldest cancellations go first") {
  cancel_board board(3);
  for (uint64_t id = 1; id <= 5; ++id) board.cancel(id, 0);
  CHECK(board.size() == 3);
  CHECK_FALSE(board.cancelled(1, 0));
  CHECK(board.cancelled(5, 0));
}

TEST_CASE("one thread cancels while another works and reads") {
  cancel_board board;
  std::thread control([&] { board.cancel(99, 2); });
  control.join();
  CHECK(board.cancelled(99, 2));
}
