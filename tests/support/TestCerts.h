// Certificates for TLS tests, made at run time with OpenSSL (nothing secret in the repository): a
// test CA and leaf certificates it signs for given DNS names / IP addresses, written as PEM files
// into a temporary directory that is removed with the TestPKI.
#pragma once

#include <string>
#include <vector>

namespace iocore::test {
class TestPKI
{
public:
  /// A new CA (its own EC P-256 key) and an empty temporary directory.
  TestPKI();
  ~TestPKI();
  TestPKI(const TestPKI &)            = delete;
  TestPKI &operator=(const TestPKI &) = delete;

  struct Leaf {
    std::string cert_file; ///< the leaf certificate (PEM)
    std::string key_file;  ///< its private key (PEM)
  };
  /// A leaf certificate signed by this CA, with these subjectAltNames ("DNS:a.test", "IP:127.0.0.1").
  Leaf issue(const std::string &common_name, const std::vector<std::string> &alt_names);

  /// The CA certificate (PEM), for a client's ca_file.
  const std::string &ca_file() const { return _ca_file; }
  const std::string &dir() const { return _dir; }

private:
  std::string _dir;
  std::string _ca_file;
  void *_ca_key  = nullptr; // EVP_PKEY*
  void *_ca_cert = nullptr; // X509*
  int _serial    = 1;
};
} // namespace iocore::test
