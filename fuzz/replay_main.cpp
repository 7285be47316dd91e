// The driver of the fuzz targets when they are not built with libFuzzer (the `ci` preset, g++):
// runs the target once on every file of the directories and files given, so the seed corpus and
// every input that once crashed a target are replayed by the test suite; then, with
// `--mutate-seconds=N`, for N seconds (`--seed=S` repeats a run) on random mutations of those inputs (bytes flipped, inserted,
// removed, copied from another input). Exits 0 when every input passed. A failing input aborts:
// a replayed file's path was printed first; a mutated input is written to
// fuzz-failure-<pid>.bin in the working directory, with the seed printed at the start; an input
// that runs for longer than 10 s is a failure (a hang).
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <random>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

// The mutated input being run, written out by the signal handler when the target fails on it.
const std::vector<uint8_t>* g_current = nullptr;
char g_failure_path[64] = {};

extern "C" void save_current_input(int signal_number) {
  if (g_current != nullptr) {
    const int fd = ::open(g_failure_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
      const ssize_t written = ::write(fd, g_current->data(), g_current->size());
      (void)written;
      ::close(fd);
    }
    constexpr std::string_view note = "the failing mutated input is in fuzz-failure-<pid>.bin\n";
    const ssize_t noted = ::write(2, note.data(), note.size());
    (void)noted;
  }
  std::signal(signal_number, SIG_DFL);
  std::raise(signal_number);
}

std::vector<uint8_t> read_bytes(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void mutate(std::vector<uint8_t>& input, const std::vector<std::vector<uint8_t>>& corpus,
            std::mt19937_64& random) {
  const int steps = 1 + static_cast<int>(random() % 8);
  for (int step = 0; step < steps; ++step) {
    const size_t size = input.size();
    switch (random() % 5) {
      case 0:
        if (size > 0) input[random() % size] ^= static_cast<uint8_t>(1u << (random() % 8));
        break;
      case 1:
        input.insert(input.begin() + static_cast<std::ptrdiff_t>(size ? random() % (size + 1) : 0),
                     static_cast<uint8_t>(random()));
        break;
      case 2:
        if (size > 0) input.erase(input.begin() + static_cast<std::ptrdiff_t>(random() % size));
        break;
      case 3: {  // a byte that means something to YAML, JSON, paths or globs
        constexpr std::string_view special = "\n\t :-[]{}\"'*?!/\\.#&%0\xff";
        if (size > 0) input[random() % size] = static_cast<uint8_t>(special[random() % special.size()]);
        break;
      }
      default: {
        const auto& other = corpus[random() % corpus.size()];
        if (other.empty()) break;
        const size_t from = random() % other.size();
        const size_t length = 1 + random() % (other.size() - from);
        input.insert(input.begin() + static_cast<std::ptrdiff_t>(size ? random() % (size + 1) : 0),
                     other.begin() + static_cast<std::ptrdiff_t>(from),
                     other.begin() + static_cast<std::ptrdiff_t>(from + length));
        break;
      }
    }
  }
  if (input.size() > 64 * 1024) input.resize(64 * 1024);
}

int replay(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", file.c_str());
    return 1;
  }
  const std::vector<char> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  std::fprintf(stderr, "replaying %s\n", file.c_str());
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  size_t inputs = 0;
  int failures = 0;
  int mutate_seconds = 0;
  uint64_t seed = std::random_device{}();
  std::vector<std::vector<uint8_t>> corpus;
  for (int i = 1; i < argc; ++i) {
    constexpr std::string_view mutate_option = "--mutate-seconds=";
    constexpr std::string_view seed_option = "--seed=";
    if (std::string_view(argv[i]).starts_with(mutate_option)) {
      mutate_seconds = std::atoi(argv[i] + mutate_option.size());
      continue;
    }
    if (std::string_view(argv[i]).starts_with(seed_option)) {
      seed = std::strtoull(argv[i] + seed_option.size(), nullptr, 10);
      continue;
    }
    const std::filesystem::path root(argv[i]);
    if (std::filesystem::is_directory(root)) {
      for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
        if (!entry.is_regular_file()) continue;
        failures += replay(entry.path());
        corpus.push_back(read_bytes(entry.path()));
        ++inputs;
      }
    } else {
      failures += replay(root);
      corpus.push_back(read_bytes(root));
      ++inputs;
    }
  }
  std::fprintf(stderr, "replayed %zu inputs\n", inputs);
  if (inputs == 0) {
    std::fprintf(stderr, "no inputs: give the corpus directories\n");
    return 1;
  }
  if (mutate_seconds > 0 && inputs > 0) {
    std::snprintf(g_failure_path, sizeof g_failure_path, "fuzz-failure-%d.bin", static_cast<int>(::getpid()));
    std::signal(SIGABRT, save_current_input);
    std::signal(SIGSEGV, save_current_input);
    std::signal(SIGBUS, save_current_input);
    std::signal(SIGFPE, save_current_input);
    std::signal(SIGALRM, save_current_input);  // one input running for longer than 10 s: a hang
    std::fprintf(stderr, "mutating for %d s, seed %llu\n", mutate_seconds,
                 static_cast<unsigned long long>(seed));
    std::mt19937_64 random(seed);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(mutate_seconds);
    size_t runs = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      std::vector<uint8_t> input = corpus[random() % corpus.size()];
      mutate(input, corpus, random);
      g_current = &input;
      ::alarm(10);
      LLVMFuzzerTestOneInput(input.data(), input.size());
      ::alarm(0);
      g_current = nullptr;
      ++runs;
    }
    std::fprintf(stderr, "ran %zu mutated inputs\n", runs);
  }
  return failures == 0 ? 0 : 1;
}
