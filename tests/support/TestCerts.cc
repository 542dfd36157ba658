// TestPKI: a throw-away CA and leaf certificates for the TLS tests (see TestCerts.h).
#include "support/TestCerts.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>

namespace iocore::test {
namespace {
  EVP_PKEY *new_key()
  {
    EVP_PKEY *k = EVP_EC_gen("P-256");
    if (k == nullptr) {
      throw std::runtime_error("EVP_EC_gen failed");
    }
    return k;
  }

  void add_ext(X509 *cert, X509 *issuer, int nid, const std::string &value)
  {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    if (ext == nullptr) {
      throw std::runtime_error("bad extension " + value);
    }
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }

  X509 *new_cert(EVP_PKEY *key, const std::string &cn, int serial)
  {
    X509 *cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), serial);
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 7L * 24 * 3600);
    X509_set_pubkey(cert, key);
    X509_NAME *name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char *>(cn.c_str()), -1, -1, 0);
    return cert;
  }

  void write_pem(const std::string &path, X509 *cert, EVP_PKEY *key)
  {
    FILE *f = std::fopen(path.c_str(), "w");
    if (f == nullptr) {
      throw std::runtime_error("cannot write " + path);
    }
    bool ok = cert ? PEM_write_X509(f, cert) == 1 : PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
    std::fclose(f);
    if (!ok) {
      throw std::runtime_error("PEM write failed for " + path);
    }
  }
} // namespace

TestPKI::TestPKI()
{
  char tmpl[] = "/tmp/iocore-pki.XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    throw std::runtime_error("mkdtemp failed");
  }
  _dir      = tmpl;
  auto *key = new_key();
  X509 *ca  = new_cert(key, "iocore test CA", _serial++);
  X509_set_issuer_name(ca, X509_get_subject_name(ca));
  add_ext(ca, ca, NID_basic_constraints, "critical,CA:TRUE");
  add_ext(ca, ca, NID_key_usage, "critical,keyCertSign,cRLSign");
  add_ext(ca, ca, NID_subject_key_identifier, "hash");
  X509_sign(ca, key, EVP_sha256());
  _ca_file = _dir + "/ca.pem";
  write_pem(_ca_file, ca, nullptr);
  _ca_key  = key;
  _ca_cert = ca;
}

TestPKI::~TestPKI()
{
  EVP_PKEY_free(static_cast<EVP_PKEY *>(_ca_key));
  X509_free(static_cast<X509 *>(_ca_cert));
  std::error_code ec;
  std::filesystem::remove_all(_dir, ec);
}

TestPKI::Leaf
TestPKI::issue(const std::string &common_name, const std::vector<std::string> &alt_names)
{
  auto *ca      = static_cast<X509 *>(_ca_cert);
  EVP_PKEY *key = new_key();
  int serial    = _serial++;
  X509 *cert    = new_cert(key, common_name, serial);
  X509_set_issuer_name(cert, X509_get_subject_name(ca));
  add_ext(cert, ca, NID_basic_constraints, "CA:FALSE");
  add_ext(cert, ca, NID_key_usage, "critical,digitalSignature");
  add_ext(cert, ca, NID_ext_key_usage, "serverAuth");
  add_ext(cert, ca, NID_authority_key_identifier, "keyid");
  if (!alt_names.empty()) {
    std::string san;
    for (const std::string &n : alt_names) {
      san += (san.empty() ? "" : ",") + n;
    }
    add_ext(cert, ca, NID_subject_alt_name, san);
  }
  X509_sign(cert, static_cast<EVP_PKEY *>(_ca_key), EVP_sha256());
  Leaf leaf{_dir + "/leaf" + std::to_string(serial) + ".pem", _dir + "/leaf" + std::to_string(serial) + ".key"};
  write_pem(leaf.cert_file, cert, nullptr);
  write_pem(leaf.key_file, nullptr, key);
  X509_free(cert);
  EVP_PKEY_free(key);
  return leaf;
}
} // namespace iocore::test
