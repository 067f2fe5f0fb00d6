// The flat name index behind header::find and checkpoint::find.
#include "safetensors/name_index.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using safetensors::name_index;

namespace {

struct names {
  std::vector<std::string> v;
  auto at() const {
    return [this](std::size_t i) -> std::string_view { return v[i]; };
  }
};

TEST(NameIndex, FindsEveryNameAndNothingElse) {
  names n;
  for (int i = 0; i < 5000; ++i) n.v.push_back("model.layers." + std::to_string(i) + ".weight");
  n.v.emplace_back("");                      // the empty name is a name
  n.v.emplace_back(std::string("a\0b", 3));  // embedded NUL
  n.v.emplace_back("exactly8");              // one whole 8-byte block, no tail
  n.v.emplace_back(std::string(100, 'x'));   // many blocks
  name_index idx;
  ASSERT_TRUE(idx.build(n.v.size(), n.at()));
  for (std::size_t i = 0; i < n.v.size(); ++i) EXPECT_EQ(idx.find(n.v[i], n.at()), i) << n.v[i];
  for (const char* absent :
       {"model.layers.5000.weight", "a", "exactly", "exactly88", "model.layers.0.weigh"}) {
    EXPECT_EQ(idx.find(absent, n.at()), name_index::npos) << absent;
  }
  EXPECT_EQ(idx.find(std::string("a\0c", 3), n.at()), name_index::npos);
  EXPECT_EQ(idx.find(std::string(99, 'x'), n.at()), name_index::npos);
}

TEST(NameIndex, RepeatedNameKeepsTheFirstAndReportsIt) {
  names n{{"a", "b", "a", "c"}};
  name_index idx;
  EXPECT_FALSE(idx.build(n.v.size(), n.at()));
  EXPECT_EQ(idx.find("a", n.at()), 0u);
  EXPECT_EQ(idx.find("c", n.at()), 3u);
}

TEST(NameIndex, EmptyAndClearedIndexFindNothing) {
  names n;
  name_index idx;
  EXPECT_EQ(idx.find("a", n.at()), name_index::npos);
  EXPECT_TRUE(idx.build(0, n.at()));
  EXPECT_EQ(idx.find("", n.at()), name_index::npos);
  n.v = {"x"};
  ASSERT_TRUE(idx.build(1, n.at()));
  idx.clear();
  EXPECT_EQ(idx.find("x", n.at()), name_index::npos);
}

TEST(NameIndex, HashDependsOnEveryByteAndTheLength) {
  const std::string base(37, 'q');
  const auto h = name_index::hash(base);
  for (std::size_t i = 0; i < base.size(); ++i) {
    std::string other = base;
    other[i] = 'r';
    EXPECT_NE(name_index::hash(other), h) << i;
  }
  EXPECT_NE(name_index::hash(std::string(8, '\0')), name_index::hash(std::string(9, '\0')));
  EXPECT_NE(name_index::hash(""), name_index::hash(std::string(1, '\0')));
}

}  // namespace
