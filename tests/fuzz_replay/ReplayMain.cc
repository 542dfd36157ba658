// The main() of a fuzz target built without libFuzzer: runs every input of the directories (or
// files) named on the command line through LLVMFuzzerTestOneInput once, so that the kept corpus
// (fuzz/corpus/<target>/) is a regression test in every build, sanitized or not.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

namespace {
bool
replay(const std::filesystem::path &file)
{
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "replay: cannot read %s\n", file.c_str());
    return false;
  }
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // A copy of exactly the input's size: reads past its end are the sanitizers' to catch.
  std::vector<uint8_t> input(bytes.begin(), bytes.end());
  LLVMFuzzerTestOneInput(input.empty() ? nullptr : input.data(), input.size());
  return true;
}
} // namespace

int
main(int argc, char **argv)
{
  int inputs = 0;
  bool ok    = true;
  for (int i = 1; i < argc; ++i) {
    std::filesystem::path p(argv[i]);
    if (std::filesystem::is_directory(p)) {
      std::vector<std::filesystem::path> files;
      for (const auto &e : std::filesystem::directory_iterator(p)) {
        if (e.is_regular_file()) {
          files.push_back(e.path());
        }
      }
      std::sort(files.begin(), files.end());
      for (const auto &f : files) {
        ok = replay(f) && ok;
        ++inputs;
      }
    } else {
      ok = replay(p) && ok;
      ++inputs;
    }
  }
  std::printf("replay: %d inputs\n", inputs);
  if (inputs == 0) {
    std::fprintf(stderr, "replay: no inputs (an empty corpus protects nothing)\n");
    return 1;
  }
  return ok ? 0 : 1;
}
