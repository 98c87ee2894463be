#!/bin/sh
# verify-signature.sh FILE SIGNATURE KEY.asc FINGERPRINT
# Exit 0 only when SIGNATURE is a good signature of FILE by the key whose primary fingerprint is
# FINGERPRINT, taken from the ASCII-armoured KEY.asc. Needs only gpgv and base64 (apt depends on
# gpgv, so every Debian image has it). gpgv's VALIDSIG status line ends with the primary key's
# fingerprint; matching it pins the signer, however the key file was obtained (AWS extends the
# key's expiry from time to time and republishes it: the fingerprint stays).
set -eu
file=$1 sig=$2 key=$3 fingerprint=$(printf %s "$4" | tr -d ' ' | tr a-f A-F)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# De-armour: drop the header lines up to the first blank line, and the checksum and END lines.
sed -e '1,/^$/d' -e '/^=/,$d' -e '/^-----END/d' "$key" | base64 -d > "$work/keyring.gpg"
if ! gpgv --status-fd 1 --keyring "$work/keyring.gpg" "$sig" "$file" > "$work/status" 2> "$work/stderr"; then
  echo "verify-signature: $file: the signature $sig does not verify with $key: $(tail -n 1 "$work/stderr")" >&2
  exit 1
fi
if ! grep -Eq "^\[GNUPG:\] VALIDSIG .* $fingerprint\$" "$work/status"; then
  echo "verify-signature: $file: signed, but not by the key $fingerprint" >&2
  exit 1
fi
echo "verify-signature: $file: good signature by $fingerprint"
