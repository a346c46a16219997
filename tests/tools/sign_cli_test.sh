#!/usr/bin/env bash
# micstream-sign run as an operator runs it: keygen writes a 0600 key and
# prints its public key and firmware setting; sign writes a 108-byte .sig
# whose size and hash fields agree with stat and sha256sum; verify accepts it
# and refuses, with exit 1 and the reason, a changed or truncated image,
# another key and a malformed .sig; docs/protocol.md's vector verifies.
#   tests/tools/sign_cli_test.sh path/to/micstream-sign path/to/docs/protocol.md
set -euo pipefail
tool=$(realpath "${1:?usage: sign_cli_test.sh micstream-sign protocol.md}")
doc=$(realpath "${2:?}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

fail() { echo "FAILED: $*" >&2; exit 1; }
# $1: what the output must say; the rest: a command that must exit 1.
refuses() {
  local want=$1 status=0
  shift
  "$@" >out.txt 2>&1 || status=$?
  [ "$status" -eq 1 ] || fail "exit $status, not 1, from: $* ($(cat out.txt))"
  grep -qF -- "$want" out.txt || fail "no \"$want\" from: $* ($(cat out.txt))"
  echo "   refused: $(cat out.txt)"
}
hex_to_file() { printf "$(tr -d ' \n' | sed 's/\(..\)/\\x\1/g')" >"$1"; }

echo "== keygen"
"$tool" --help | grep -q "keygen" || fail "--help lists no keygen"
"$tool" keygen --out key.pem --pubout pub.pem >keygen.txt 2>/dev/null
[ "$(stat -c %a key.pem)" = 600 ] || fail "key.pem is mode $(stat -c %a key.pem), not 600"
grep -q "^-----BEGIN PUBLIC KEY-----" keygen.txt || fail "keygen printed no public key"
grep -qE '^CONFIG_MICSTREAM_OTA_SIGNING_KEY="MFkw[A-Za-z0-9+/=]{120}"$' keygen.txt || fail "no firmware setting"
"$tool" pubkey --key key.pem | diff -q - keygen.txt >/dev/null || fail "pubkey prints something else than keygen"
refuses "exists" "$tool" keygen --out key.pem

echo "== sign and verify"
head -c 300000 /dev/urandom >micstream.bin
"$tool" sign --key key.pem micstream.bin
[ "$(stat -c %s micstream.bin.sig)" = 108 ] || fail "the .sig is not 108 bytes"
[ "$(od -An -tu4 -j8 -N4 micstream.bin.sig | tr -d ' ')" = 300000 ] || fail "size field"
[ "$(od -An -tx1 -j12 -N32 micstream.bin.sig | tr -d ' \n')" = "$(sha256sum micstream.bin | cut -d' ' -f1)" ] ||
  fail "hash field differs from sha256sum"
"$tool" verify --pubkey pub.pem micstream.bin micstream.bin.sig | grep -q "valid signature" || fail "verify"
"$tool" verify --pubkey key.pem micstream.bin micstream.bin.sig >/dev/null || fail "verify with the private key file"

echo "== verify refuses"
cp micstream.bin changed.bin
printf '\x5a' | dd of=changed.bin bs=1 seek=123456 conv=notrunc status=none
refuses "SHA-256 differs from the signed one" "$tool" verify --pubkey pub.pem changed.bin micstream.bin.sig
head -c 299999 micstream.bin >truncated.bin
refuses "the image is 299999 bytes; the signed one was 300000" \
  "$tool" verify --pubkey pub.pem truncated.bin micstream.bin.sig
"$tool" keygen --out other.pem --pubout other.pub >/dev/null 2>&1
refuses "not made by this key" "$tool" verify --pubkey other.pub micstream.bin micstream.bin.sig
head -c 100 micstream.bin.sig >short.sig
refuses "exactly 108 bytes" "$tool" verify --pubkey pub.pem micstream.bin short.sig
head -c 108 micstream.bin >random.sig
refuses "not a micstream signature file" "$tool" verify --pubkey pub.pem micstream.bin random.sig
refuses "no PEM key" "$tool" sign --key micstream.bin micstream.bin
status=0
"$tool" verify --pubkey pub.pem micstream.bin >/dev/null 2>&1 || status=$?
[ "$status" = 2 ] || fail "a usage error exits $status, not 2"

echo "== docs/protocol.md's vector"
awk '/<!-- vector:image-signature -->/{on=1; next} on && /^```/{if (n++) exit; next} on' "$doc" | hex_to_file vector.sig
key=$(awk '/<!-- key:image-signature -->/{on=1; next} on && /^```/{if (n++) exit; next} on' "$doc")
printf -- '-----BEGIN PUBLIC KEY-----\n%s\n-----END PUBLIC KEY-----\n' "$(fold -w 64 <<<"$key")" >vector.pub
echo "00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f" | hex_to_file vector.bin
"$tool" verify --pubkey vector.pub vector.bin vector.sig || fail "the doc's vector does not verify"
echo "== micstream-sign passed"
