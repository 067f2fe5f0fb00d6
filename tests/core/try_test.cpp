// ST_TRY: yields the value, propagates the error unchanged, evaluates its operand once.
#include "core/try.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace st = safetensors;

namespace {

int calls = 0;

st::result<int> number(bool ok) {
  ++calls;
  if (!ok) return st::fail(st::errc::io, "f.bin: read failed");
  return 41;
}

st::result<void> check(bool ok) {
  if (!ok) return st::fail(st::errc::invalid_argument, "bad value");
  return {};
}

st::result<std::string> plus_one(bool ok) {
  int v = ST_TRY(number(ok));
  return std::to_string(v + 1);
}

st::result<int> checked(bool ok) {
  ST_TRY(check(ok));
  return 7;
}

st::result<std::unique_ptr<int>> move_only(bool ok) {
  if (!ok) return st::fail(st::errc::io, "no");
  return std::make_unique<int>(5);
}

st::result<int> take_move_only(bool ok) {
  std::unique_ptr<int> p = ST_TRY(move_only(ok));
  return *p;
}

}  // namespace

TEST(Try, YieldsTheValue) {
  calls = 0;
  auto r = plus_one(true);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "42");
  EXPECT_EQ(calls, 1);
}

TEST(Try, PropagatesTheErrorUnchanged) {
  calls = 0;
  auto r = plus_one(false);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, st::errc::io);
  EXPECT_EQ(r.error().message, "f.bin: read failed");
  EXPECT_EQ(calls, 1);
}

TEST(Try, VoidResults) {
  EXPECT_EQ(*checked(true), 7);
  auto r = checked(false);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, st::errc::invalid_argument);
}

TEST(Try, MoveOnlyValues) {
  EXPECT_EQ(*take_move_only(true), 5);
  EXPECT_FALSE(take_move_only(false));
}

namespace {

struct other_error {
  int status;
};

tl::expected<int, other_error> other(bool ok) {
  if (!ok) return tl::unexpected(other_error{422});
  return 3;
}

tl::expected<int, other_error> other_plus_one(bool ok) {
  const int v = ST_TRY(other(ok));
  return v + 1;
}

}  // namespace

TEST(Try, WorksForOtherErrorTypes) {
  EXPECT_EQ(*other_plus_one(true), 4);
  auto r = other_plus_one(false);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().status, 422);
}
