// What a no-code deployment serves (src/service/deployments/no_code.hpp): the model file rule
// of each framework, and telling a TorchScript archive from torch.save's; and the variable that
// names each model's directory (deployments.hpp).
#include <catch2/catch.hpp>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "../../src/service/deployments/no_code.hpp"
#include "support/service_fixture.hpp"
#include "trainctl/service/deployments.hpp"

namespace {

using namespace trainctl;
using namespace trainctl::service;
using namespace trainctl::service::deployments;
using nlohmann::json;

json files_of(const std::vector<std::string>& paths) {
  json files = json::array();
  for (const auto& path : paths) files.push_back({{"path", path}, {"sha256", ""}, {"size", 1}});
  return files;
}

void put(std::string& out, uint64_t value, int width) {
  for (int i = 0; i < width; ++i) out += static_cast<char>((value >> (8 * i)) & 0xff);
}

// A zip archive of empty stored members named `names`, laid out as zip writers do: local
// headers, the central directory, then the end record (with `comment`). With `zip64`, the end
// record's fields are 0xffff... and the real values are in a zip64 end record and its locator.
std::string zip_of(const std::vector<std::string>& names, bool zip64 = false,
                   const std::string& comment = "") {
  std::string out;
  std::vector<uint64_t> offsets;
  for (const auto& name : names) {
    offsets.push_back(out.size());
    put(out, 0x04034b50, 4);
    put(out, 20, 2);  // version needed
    put(out, 0, 2 + 2 + 2 + 2 + 4 + 4 + 4);
    put(out, name.size(), 2);
    put(out, 0, 2);
    out += name;
  }
  const uint64_t directory_offset = out.size();
  for (size_t i = 0; i < names.size(); ++i) {
    put(out, 0x02014b50, 4);
    put(out, 20, 2);
    put(out, 20, 2);
    put(out, 0, 2 + 2 + 2 + 2 + 4 + 4 + 4);
    put(out, names[i].size(), 2);
    put(out, 0, 2 + 2 + 2 + 2 + 4);
    put(out, offsets[i], 4);
    out += names[i];
  }
  const uint64_t directory_size = out.size() - directory_offset;
  if (zip64) {
    const uint64_t end64_offset = out.size();
    put(out, 0x06064b50, 4);
    put(out, 44, 8);
    put(out, 45, 2);
    put(out, 45, 2);
    put(out, 0, 4 + 4);
    put(out, names.size(), 8);
    put(out, names.size(), 8);
    put(out, directory_size, 8);
    put(out, directory_offset, 8);
    put(out, 0x07064b50, 4);
    put(out, 0, 4);
    put(out, end64_offset, 8);
    put(out, 1, 4);
  }
  put(out, 0x06054b50, 4);
  put(out, 0, 2 + 2);
  put(out, zip64 ? 0xffff : names.size(), 2);
  put(out, zip64 ? 0xffff : names.size(), 2);
  put(out, zip64 ? 0xffffffff : directory_size, 4);
  put(out, zip64 ? 0xffffffff : directory_offset, 4);
  put(out, comment.size(), 2);
  out += comment;
  return out;
}

bool torchscript(const trainctl::testing::TempDir& dir, const std::string& bytes) {
  const auto file = dir.path() / "model.pt";
  std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes;
  const auto found = is_torchscript_archive(file);
  REQUIRE(found);
  return *found;
}

}  // namespace

TEST_CASE("a no-code sklearn model is served from model.pkl, or from its only pickle",
          "[unit][service][deployments]") {
  const auto file = [](const std::vector<std::string>& paths) {
    return no_code_model_file("iris:1", "sklearn", files_of(paths));
  };
  THEN("model.pkl, model.pickle or model.joblib at the top wins over other pickles") {
    CHECK(file({"a.pkl", "model.pkl", "notes.txt"}).value() == "model.pkl");
    CHECK(file({"model.joblib", "sub/x.pkl"}).value() == "model.joblib");
    CHECK(file({"model.pickle"}).value() == "model.pickle");
  }
  THEN("otherwise the one .pkl, .pickle or .joblib file anywhere is served") {
    CHECK(file({"metrics.json", "sub/clf.joblib"}).value() == "sub/clf.joblib");
    CHECK(file({"sklearn_mnist_model.pkl"}).value() == "sklearn_mnist_model.pkl");
  }
  THEN("none, several, or two preferred names are refused, saying what to do") {
    for (const auto& paths : std::vector<std::vector<std::string>>{
             {"weights.json"}, {"sub/.pkl"}, {"a.pkl", "b/c.pkl"}, {"model.pkl", "model.joblib"}}) {
      const auto refused = file(paths);
      INFO(paths.front());
      REQUIRE_FALSE(refused);
      CHECK(refused.error().code == ErrorCode::invalid_argument);
      CHECK_THAT(refused.error().message,
                 Catch::Contains("iris:1") && Catch::Contains("--entry-script"));
    }
    CHECK_THAT(file({"weights.json"}).error().message,
               Catch::Contains("has no .pkl, .pickle or .joblib file"));
    CHECK_THAT(file({"a.pkl", "b/c.pkl"}).error().message,
               Catch::Contains("several") && Catch::Contains("a.pkl, b/c.pkl"));
    CHECK_THAT(file({"model.pkl", "model.joblib"}).error().message,
               Catch::Contains("model.pkl, model.joblib"));
  }
}

TEST_CASE("a no-code pytorch model is served from model.pt, or from its only .pt or .pth file",
          "[unit][service][deployments]") {
  const auto file = [](const std::vector<std::string>& paths) {
    return no_code_model_file("net:2", "pytorch", files_of(paths));
  };
  CHECK(file({"model.pt", "checkpoint.pth"}).value() == "model.pt");
  CHECK(file({"model.pth"}).value() == "model.pth");
  CHECK(file({"traced/net.pt", "labels.txt"}).value() == "traced/net.pt");
  CHECK_FALSE(file({"model.pkl"}));
  CHECK_FALSE(file({"a.pt", "b.pth"}));
}

TEST_CASE("frameworks the built-in scoring script does not know are refused",
          "[unit][service][deployments]") {
  for (const auto* framework : {"custom", "onnx", "tensorflow"}) {
    const auto refused = no_code_model_file("m:1", framework, files_of({"model.pkl"}));
    INFO(framework);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == ErrorCode::invalid_argument);
    CHECK_THAT(refused.error().message, Catch::Contains(std::string("framework ") + framework) &&
                                            Catch::Contains("sklearn and pytorch") &&
                                            Catch::Contains("--entry-script"));
  }
}

TEST_CASE("a TorchScript archive is told from a state dict by its constants.pkl member",
          "[unit][service][deployments]") {
  const trainctl::testing::TempDir dir;
  THEN("torch.jit.save's layout is TorchScript, with or without zip64 end records or a comment") {
    const std::vector<std::string> scripted{"net/data.pkl", "net/data/0", "net/code/__torch__.py",
                                            "net/constants.pkl", "net/version"};
    CHECK(torchscript(dir, zip_of(scripted)));
    CHECK(torchscript(dir, zip_of(scripted, true)));
    CHECK(torchscript(dir, zip_of(scripted, false, "written by a test")));
  }
  THEN("torch.save's layout, the legacy pickle format and damaged files are not") {
    CHECK_FALSE(torchscript(dir, zip_of({"sd/data.pkl", "sd/data/0", "sd/data/1", "sd/version"})));
    CHECK_FALSE(torchscript(dir, zip_of({"constants.pkl", "data.pkl"})));
    CHECK_FALSE(torchscript(dir, std::string("\x80\x02\x8a\x0al\xfc\x9c\x46\xf9 j\xa8P\x19.", 15)));
    CHECK_FALSE(torchscript(dir, ""));
    const auto whole = zip_of({"net/data.pkl", "net/constants.pkl"});
    CHECK_FALSE(torchscript(dir, whole.substr(0, whole.size() - 5)));
    CHECK_FALSE(torchscript(dir, whole.substr(40)));
  }
  THEN("a file that cannot be read is an error, not an answer") {
    const auto missing = is_torchscript_archive(dir.path() / "absent.pt");
    REQUIRE_FALSE(missing);
    CHECK(missing.error().code == ErrorCode::io);
  }
}

TEST_CASE("each model's directory variable is its name upper-cased, other characters as _",
          "[unit][service][deployments]") {
  CHECK(model_directory_variable("digits") == "TRAINCTL_MODEL_DIR_DIGITS");
  CHECK(model_directory_variable("my-model.v2") == "TRAINCTL_MODEL_DIR_MY_MODEL_V2");
  CHECK(model_directory_variable("Iris_3") == "TRAINCTL_MODEL_DIR_IRIS_3");
}
