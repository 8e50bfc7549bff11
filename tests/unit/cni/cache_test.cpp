#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "sandnet/cni/cache.hpp"
#include "sandnet/cni/sha512.hpp"
#include "sandnet/common/error.hpp"
#include "sandnet/common/fs.hpp"
#include "support/process.hpp"

namespace json = boost::json;
using namespace sandnet;
using namespace sandnet::cni;

namespace {

CachedAttachment sample() {
  CachedAttachment e;
  e.container_id = "sncni-c1";
  e.ifname = "eth0";
  e.network_name = "sncni-net";
  e.netns = "/run/netns/sncni-c1";
  e.config = R"({"cniVersion":"1.0.0","name":"sncni-net","plugins":[{"type":"bridge"}]})";
  e.cni_args = {{"IgnoreUnknown", "1"}};
  e.capability_args = json::parse(R"({"portMappings":[]})").as_object();
  e.result = json::parse(R"({"cniVersion":"1.0.0","ips":[{"address":"10.201.0.2/24"}]})").as_object();
  return e;
}

}  // namespace

TEST(CniCache, Base64MatchesRfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (auto [plain, encoded] : vectors) {
    EXPECT_EQ(base64_encode(plain), encoded);
    EXPECT_EQ(base64_decode(encoded), plain);
  }
  EXPECT_THROW(base64_decode("Zm9"), Error);
  EXPECT_THROW(base64_decode("Zm=v"), Error);
  EXPECT_THROW(base64_decode("Z!9v"), Error);
}

TEST(CniCache, SerializesInLibcniShapeAndOrder) {
  const std::string text = ResultCache::serialize(sample());
  EXPECT_EQ(text.rfind(R"({"kind":"cniCacheV1","containerId":"sncni-c1","config":")", 0), 0u) << text;
  json::object o = json::parse(text).as_object();
  EXPECT_EQ(base64_decode(o.at("config").as_string()), sample().config);
  EXPECT_EQ(o.at("ifName").as_string(), "eth0");
  EXPECT_EQ(o.at("networkName").as_string(), "sncni-net");
  EXPECT_EQ(o.at("netns").as_string(), "/run/netns/sncni-c1");
  EXPECT_EQ(o.at("cniArgs").as_array()[0].as_array()[1].as_string(), "1");
  EXPECT_TRUE(o.at("capabilityArgs").as_object().contains("portMappings"));
  EXPECT_EQ(o.at("result").at("ips").as_array().size(), 1u);

  CachedAttachment minimal = sample();
  minimal.netns.clear();
  minimal.cni_args.clear();
  minimal.capability_args.clear();
  minimal.result.reset();
  json::object m = json::parse(ResultCache::serialize(minimal)).as_object();
  EXPECT_FALSE(m.contains("netns"));
  EXPECT_FALSE(m.contains("cniArgs"));
  EXPECT_FALSE(m.contains("capabilityArgs"));
  EXPECT_FALSE(m.contains("result"));
}

TEST(CniCache, WriteReadRemoveWithModes) {
  test::TempDir dir;
  ResultCache cache(dir.path() + "/cache");
  cache.write(sample());
  const auto path = cache.path_for("sncni-net", "sncni-c1", "eth0");
  EXPECT_EQ(path, std::filesystem::path(dir.path()) / "cache/results/sncni-net-sncni-c1-eth0");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(path.parent_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  auto back = cache.read("sncni-net", "sncni-c1", "eth0");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->config, sample().config);
  EXPECT_EQ(back->cni_args, sample().cni_args);
  EXPECT_EQ(*back->result, *sample().result);
  EXPECT_EQ(cache.list("sncni-net").size(), 1u);
  EXPECT_TRUE(cache.list("other").empty());

  cache.remove("sncni-net", "sncni-c1", "eth0");
  EXPECT_FALSE(cache.read("sncni-net", "sncni-c1", "eth0"));
  EXPECT_NO_THROW(cache.remove("sncni-net", "sncni-c1", "eth0"));
}

TEST(CniCache, MissingEmptyOrCorruptReadsAsAbsent) {
  test::TempDir dir;
  ResultCache cache(dir.path());
  EXPECT_FALSE(cache.read("sncni-net", "c", "eth0"));
  EXPECT_TRUE(cache.list("sncni-net").empty());
  fs::ensure_directory(dir.path() + "/results", 0700);
  for (const char* bad : {"", "{", R"({"kind":"other","containerId":"c","ifName":"eth0","networkName":"sncni-net"})",
                          R"({"kind":"cniCacheV1","containerId":"c","ifName":"eth0","networkName":"sncni-net","config":"%%%%"})"}) {
    std::ofstream(dir.path() + "/results/sncni-net-c-eth0") << bad;
    EXPECT_FALSE(cache.read("sncni-net", "c", "eth0")) << bad;
    EXPECT_TRUE(cache.list("sncni-net").empty()) << bad;
  }
}

TEST(CniSha512, KnownVectors) {
  EXPECT_EQ(sha512_hex(""),
            "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
            "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e");
  EXPECT_EQ(sha512_hex("abc"),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
            "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
  EXPECT_EQ(sha512_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"),
            "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"
            "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909");
  EXPECT_EQ(sha512_hex(std::string(1000000, 'a')),
            "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973eb"
            "de0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b");
  // Lengths around the padding and block boundaries, against coreutils sha512sum.
  const std::pair<std::size_t, const char*> boundaries[] = {
      {111, "9a2a120825c2319867758ec277924f6faa254968bf752046dacdd948d8ad299b10359fd04bfd7d3810b5fa1b16a294236138baff981cbb85248478053ac4d3dd"},
      {112, "a3722b515ef40c910f2419f6e0da8ca51d410114ce6272faae64045f9e9f630e7fa8dd5a3243c9860b899d148c3da4bc0f9e07454542604d030bb55531fe0d5b"},
      {127, "1d5a8893e7b7ed83d485d26f88cfb846f3760279916976fe538e539fc16f7cd19ba3e1c2cd5fda78749a74205755cdf694e8fa90b2bfed8815f406af76c1d7bf"},
      {128, "e2e22f8422b54b06e35c3ea30a383d1de7a8fbc27992923074103117020d8dd7024c3ecf7d6d1a15a6de5a75ff32fb486b9e8ced4c02ffe05822bf2cb734d0e0"},
      {129, "19015483ea99fa74728fd7b13adba6b729cfa4ab7c388573efa2641d2af0577f24dd51acbaeec41a7a11d10f6c4e68a3b90e7b2348c678486a4365c9d9101cdd"}};
  for (auto [n, hex] : boundaries) EXPECT_EQ(sha512_hex(std::string(n, 'x')), hex) << n;
}

TEST(CniSha512, CnitoolContainerId) {
  // cnitool: "cnitool-" + hex of the first 10 bytes of SHA-512(abs path).
  const std::string id = cnitool_container_id("/var/run/netns/testing");
  EXPECT_EQ(id, "cnitool-77383ca0a0715733ca6f");  // printf ... | sha512sum | cut -c1-20
  EXPECT_EQ(id.size(), 28u);
  EXPECT_EQ(cnitool_container_id("/var/run//netns/./x/../testing/"), id);
}

// Found with fuzz_cni_result (the same parse): an entry holding a number
// beyond a double would be written back as "Infinity" and then be corrupt.
TEST(CniCache, NumberBeyondADoubleIsRefused) {
  EXPECT_THROW(ResultCache::deserialize(R"({"kind":"cniCacheV1","containerId":"c","ifName":"eth0",)"
                                        R"("networkName":"n","capabilityArgs":{"bandwidth":{"rate":1e400}}})"),
               Error);
}
