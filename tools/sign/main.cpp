// micstream-sign: the operator's signing key for firmware images, and the
// detached signatures (micstream.bin.sig) the devices check before they
// install an image from the server's --firmware-dir. docs/firmware.md,
// "Signed images", tells the whole procedure.

#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>
#include <string>

#include "signing.h"

namespace {

using micstream::sign::Key;

Key load_key(const std::string& path) {
  const auto pem = micstream::sign::read_file(path);
  return Key::from_pem(std::string_view(reinterpret_cast<const char*>(pem.data()), pem.size()), path);
}

void print_public(const Key& key) {
  std::cout << key.public_pem() << "\nFor the firmware (idf.py menuconfig: micstream > Firmware update (OTA) >\n"
            << "Public key of signed images), or in sdkconfig.defaults:\n"
            << "CONFIG_MICSTREAM_OTA_SIGNING_KEY=\"" << key.public_base64() << "\"\n";
}

std::string hex(std::span<const std::uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (const auto b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Signs micstream firmware images with an ECDSA P-256 key. The device installs an image\n"
      "from the server only with a micstream.bin.sig beside it, made by the key whose public\n"
      "half is in its firmware (CONFIG_MICSTREAM_OTA_SIGNING_KEY).",
      "micstream-sign"};
  app.require_subcommand(1);
  app.footer("Keep the private key off the server and out of the repository: whoever holds it can\n"
             "install any firmware on your devices.");

  std::string key_path;
  std::string pub_path;
  std::string image_path;
  std::string sig_path;

  CLI::App* keygen = app.add_subcommand("keygen", "Make a new private key (a 0600 PEM file) and print its public key");
  keygen->add_option("--out", key_path, "The private key file to create (never replaced)")->required();
  keygen->add_option("--pubout", pub_path, "Also write the public key's PEM here");

  CLI::App* pubkey = app.add_subcommand("pubkey", "Print the public key of a private key file, and its firmware setting");
  pubkey->add_option("--key", key_path, "The private key file")->required()->check(CLI::ExistingFile);

  CLI::App* sign = app.add_subcommand("sign", "Write IMAGE.sig, the detached signature of IMAGE");
  sign->add_option("--key", key_path, "The private key file")->required()->check(CLI::ExistingFile);
  sign->add_option("--out", sig_path, "Where to write the signature (default: IMAGE.sig)");
  sign->add_option("image", image_path, "The image, e.g. build/micstream.bin")->required()->check(CLI::ExistingFile);

  CLI::App* verify = app.add_subcommand("verify", "Check IMAGE against SIG as a device does: exit 0 if valid, 1 if not");
  verify->add_option("--pubkey", pub_path, "The public (or private) key file")->required()->check(CLI::ExistingFile);
  verify->add_option("image", image_path, "The image")->required()->check(CLI::ExistingFile);
  verify->add_option("signature", sig_path, "Its signature file (IMAGE.sig)")->required()->check(CLI::ExistingFile);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11's own exit codes are 100 and up; usage errors here are 2.
    return app.exit(e) == 0 ? 0 : 2;
  }

  try {
    if (keygen->parsed()) {
      const Key key = Key::generate();
      micstream::sign::write_private_file(key_path, key.private_pem());
      if (!pub_path.empty()) {
        const std::string pem = key.public_pem();
        micstream::sign::write_file(pub_path, std::span(reinterpret_cast<const std::uint8_t*>(pem.data()), pem.size()));
      }
      std::cerr << "micstream-sign: private key written to " << key_path << " (mode 0600)\n";
      print_public(key);
    } else if (pubkey->parsed()) {
      print_public(load_key(key_path));
    } else if (sign->parsed()) {
      const Key key = load_key(key_path);
      const auto image = micstream::sign::read_file(image_path);
      const auto file = micstream::sign::signature_file(key, image);
      if (sig_path.empty()) sig_path = image_path + ".sig";
      micstream::sign::write_file(sig_path, file);
      std::cout << "signed " << image_path << " (" << image.size() << " bytes, SHA-256 "
                << hex(micstream::sign::sha256(image)) << "): " << sig_path << '\n';
    } else {
      const Key key = load_key(pub_path);
      const auto image = micstream::sign::read_file(image_path);
      const auto file = micstream::sign::read_file(sig_path);
      if (const std::string why = micstream::sign::verify_image(key, image, file); !why.empty()) {
        std::cerr << "micstream-sign: " << image_path << " does NOT verify against " << sig_path << ": " << why
                  << '\n';
        return 1;
      }
      std::cout << image_path << ": valid signature by " << pub_path << " (" << image.size() << " bytes)\n";
    }
  } catch (const std::exception& e) {
    std::cerr << "micstream-sign: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
