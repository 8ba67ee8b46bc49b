// Who waits for each request: a request ends when nobody does any more.

#include <catch2/catch.hpp>

#include <string>

#include "runtime/sched/requesters.h"

using namespace prfaas::sched;

TEST_CASE("a request nobody waits for any more is orphaned, one with a retry still waiting is not") {
  requesters<std::string> who;
  CHECK(who.add(1, "gateway-0"));       // a new requester: the driver watches it
  CHECK_FALSE(who.add(2, "gateway-0"));  // known already
  CHECK(who.add(3, "client-a"));
  CHECK(who.add(3, "client-b"));         // a retry from another actor joined request 3
  CHECK(who.requester_count() == 3);
  CHECK(who.gone("gateway-0") == std::vector<uint64_t>{1, 2});
  CHECK_FALSE(who.waited_for(1));
  CHECK(who.gone("client-a").empty());  // client-b still waits for 3
  CHECK(who.waited_for(3));
  CHECK(who.gone("nobody").empty());
}

TEST_CASE("an ended request frees its requesters, and a requester waiting for nothing is forgotten") {
  requesters<std::string> who;
  who.add(1, "a");
  who.add(2, "a");
  who.add(2, "b");
  CHECK(who.ended(1).empty());                             // a still waits for 2
  CHECK(who.ended(2) == std::vector<std::string>{"a", "b"});  // both wait for nothing now
  CHECK(who.requester_count() == 0);
  CHECK(who.ended(2).empty());                             // ended twice: nothing
  CHECK(who.add(3, "a"));                                  // new again
}

TEST_CASE("a requester that leaves one request still waits for its others, and waiting for none is forgotten") {
  requesters<std::string> who;
  who.add(1, "door");
  who.add(2, "door");
  who.add(2, "stream");
  CHECK_FALSE(who.left(1, "door"));  // the door still waits for 2
  CHECK_FALSE(who.waited_for(1));
  CHECK(who.left(2, "door"));        // now it waits for nothing: the driver stops watching it
  CHECK(who.waited_for(2));          // the stream still waits for 2
  CHECK(who.requester_count() == 1);
  CHECK_FALSE(who.left(2, "nobody"));
  CHECK(who.add(3, "door"));         // forgotten: watched again
}
