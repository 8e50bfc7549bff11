#include "sandnet/netns/idmap.hpp"

#include <gtest/gtest.h>

#include "sandnet/common/error.hpp"

namespace sandnet::netns {
namespace {

TEST(IdMap, ParsesKernelFormat) {
  // What the kernel prints: right-aligned columns.
  auto map = parse_id_map("         0     100000      65536\n     65536     300000          1\n");
  ASSERT_EQ(map.size(), 2u);
  EXPECT_EQ(map[0].inside, 0u);
  EXPECT_EQ(map[0].outside, 100000u);
  EXPECT_EQ(map[0].count, 65536u);
  EXPECT_EQ(map[1].inside, 65536u);
  EXPECT_EQ(map[1].outside, 300000u);
  EXPECT_EQ(map[1].count, 1u);
}

TEST(IdMap, InitialNamespaceMap) {
  auto map = parse_id_map("         0          0 4294967295\n");
  ASSERT_EQ(map.size(), 1u);
  EXPECT_EQ(map[0].count, 4294967295u);
}

TEST(IdMap, EmptyTextIsEmptyMap) {
  EXPECT_TRUE(parse_id_map("").empty());
  EXPECT_TRUE(parse_id_map("\n\n").empty());
}

TEST(IdMap, RejectsBadLinesNamingThem) {
  for (const char* bad : {"0 100000\n", "0 100000 65536 7\n", "x 1 2\n", "0 -1 5\n", "0 1 0\n",
                          "0 1 99999999999\n"}) {
    try {
      parse_id_map(bad);
      FAIL() << "accepted: " << bad;
    } catch (const Error& e) {
      EXPECT_TRUE(e.is(errc::invalid_argument)) << e.what();
      EXPECT_NE(std::string(e.what()).find("id map"), std::string::npos) << e.what();
    }
  }
}

TEST(IdMap, WithinRange) {
  std::vector<IdMapEntry> map{{0, 100000, 65536}};
  EXPECT_TRUE(map_within_range(map, 100000, 65536));
  EXPECT_TRUE(map_within_range(map, 0, 200000));
  EXPECT_FALSE(map_within_range(map, 100001, 65536));
  EXPECT_FALSE(map_within_range(map, 100000, 65535));
  EXPECT_FALSE(map_within_range({}, 0, 4294967295u));
  // Overflowing entries do not wrap around into the range.
  std::vector<IdMapEntry> huge{{0, 4294967295u, 4294967295u}};
  EXPECT_FALSE(map_within_range(huge, 100000, 65536));
  std::vector<IdMapEntry> two{{0, 100000, 10}, {10, 500000, 10}};
  EXPECT_FALSE(map_within_range(two, 100000, 65536));
  EXPECT_TRUE(map_within_range(two, 100000, 400010));
}

}  // namespace
}  // namespace sandnet::netns
