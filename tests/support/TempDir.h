// TempDir: a private directory under /tmp for a test's socket files, removed with everything in it
// when the test ends.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace iocore::test {
/// A private directory for socket files, removed with everything in it.
class TempDir
{
public:
  TempDir()
  {
    char tmpl[] = "/tmp/iocore-unix-XXXXXX";
    if (::mkdtemp(tmpl) != nullptr) {
      _path = tmpl;
    }
  }
  ~TempDir()
  {
    if (!_path.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(_path, ec);
    }
  }
  std::string file(const std::string &name) const { return _path + "/" + name; }

private:
  std::string _path;
};
} // namespace iocore::test
