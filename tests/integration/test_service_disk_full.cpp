// A full disk under a real trainctld (RELIABILITY 25, 37): the home is put on a small tmpfs, filled
// by a run's output or by another process, and freed again. Nothing accepted is lost: the service
// stays up, and every run ends with its true state once there is space. Needs root (mount);
// skipped otherwise, with the reason.
#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>

#include "test_service_helpers.hpp"

using namespace trainctl::testing;
namespace fs = std::filesystem;

namespace {

// Puts the service's home on a tmpfs of `size` (e.g. "48m"): stops the service, copies the home
// onto the tmpfs mounted over it, starts the service again. At the end: the service stopped, the
// runs' processes ended, the tmpfs detached.
class TmpfsHome {
 public:
  TmpfsHome(ServiceFixture& service, const std::string& size) : m_service(service) {
    service.stop();
    const fs::path home = service.home();
    m_staging = fs::path(m_staging_dir.path()) / "home";
    fs::copy(home, m_staging, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
    const std::string options = "size=" + size + ",mode=0755";
    m_mounted = ::mount("tmpfs", home.c_str(), "tmpfs", 0, options.c_str()) == 0;
    if (m_mounted) {
      fs::copy(m_staging, home, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
    }
    service.start();
  }
  ~TmpfsHome() {
    m_service.stop();
    kill_processes_of_home(m_service.home());
    if (m_mounted) ::umount2(m_service.home().c_str(), MNT_DETACH);
  }
  TmpfsHome(const TmpfsHome&) = delete;
  TmpfsHome& operator=(const TmpfsHome&) = delete;
  bool mounted() const { return m_mounted; }

 private:
  ServiceFixture& m_service;
  TempDir m_staging_dir;
  fs::path m_staging;
  bool m_mounted = false;
};

// Writes zeros to `file` until the file system is full.
void fill(const fs::path& file) {
  std::ofstream out(file, std::ios::binary);
  const std::string block(1 << 20, '\0');
  while (out.write(block.data(), static_cast<std::streamsize>(block.size()))) out.flush();
}

}  // namespace

TEST_CASE("a run that fills the disk with its output ends with its true state once space is freed",
          "[service][reliability][disk]") {
  if (::geteuid() != 0) {
    WARN("skipped: making a small full disk (a tmpfs) needs root");
    return;
  }
  ServiceFixture service;
  TmpfsHome tmpfs(service, "48m");
  if (!tmpfs.mounted()) {
    WARN("skipped: cannot mount a tmpfs here (no CAP_SYS_ADMIN?)");
    return;
  }
  // The script fills the disk, then exits 0 without writing anything more.
  const std::string script = R"(import os
path = os.path.join(os.environ['TRAINCTL_OUTPUTS_DIR'], 'fill.bin')
print('filling', flush=True)
try:
    with open(path, 'wb') as f:
        while True:
            f.write(b'x' * (1 << 20))
            f.flush()
except OSError:
    pass
os._exit(0)
)";
  const std::string id = submit_script(service, script).value("id", "");
  REQUIRE_FALSE(id.empty());
  const fs::path fill_file = service.home() / "runs" / id / "outputs" / "fill.bin";
  REQUIRE(eventually([&] { return fs::exists(fill_file) && fs::file_size(fill_file) > (40u << 20); }, 60));
  THEN("the service answers while the disk is full, and the run ends Completed once it is freed") {
    CHECK(http_request(service, "GET", "/v1/health").status == 200);
    std::this_thread::sleep_for(std::chrono::seconds(3));  // the run ends on the full disk
    fs::remove(fill_file);
    const auto ended = wait_for_run(service, id, 90);
    INFO(ended.dump());
    CHECK(ended["status"] == "Completed");
    CHECK(ended["exit_code"] == 0);
  }
}

TEST_CASE("runs that end and a cancel made while the disk is full are recorded once it is freed",
          "[service][reliability][disk]") {
  if (::geteuid() != 0) {
    WARN("skipped: making a small full disk (a tmpfs) needs root");
    return;
  }
  ServiceFixture service;
  TmpfsHome tmpfs(service, "48m");
  if (!tmpfs.mounted()) {
    WARN("skipped: cannot mount a tmpfs here (no CAP_SYS_ADMIN?)");
    return;
  }
  const std::string ending = submit_script(service, "import time\ntime.sleep(3)\n").value("id", "");
  const std::string canceled = submit_script(service, "import time\ntime.sleep(600)\n").value("id", "");
  REQUIRE(eventually([&] {
    return body_json(http_request(service, "GET", "/v1/workspaces/default/runs/" + canceled))["status"] ==
               "Running" &&
           body_json(http_request(service, "GET", "/v1/workspaces/default/runs/" + ending))["status"] ==
               "Running";
  }));
  const fs::path filler = service.home() / "filler.bin";
  fill(filler);  // the disk is full while the first run ends and the second is canceled
  const auto cancel = http_request(service, "POST", "/v1/workspaces/default/runs/" + canceled + "/cancel");
  INFO(cancel.body);
  CHECK((cancel.status < 300 || cancel.status == 507));
  std::this_thread::sleep_for(std::chrono::seconds(5));
  fs::remove(filler);
  if (cancel.status >= 300) {  // refused for want of space (507): asked again, it is taken
    CHECK(cancel.status == 507);
    CHECK(http_request(service, "POST", "/v1/workspaces/default/runs/" + canceled + "/cancel").status < 300);
  }
  const auto ended = wait_for_run(service, ending, 90);
  INFO(ended.dump());
  CHECK(ended["status"] == "Completed");
  const auto stopped = wait_for_run(service, canceled, 90);
  INFO(stopped.dump());
  CHECK(stopped["status"] == "Canceled");
}
