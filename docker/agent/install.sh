#!/bin/sh
# Installs amazon-ssm-agent inside an image build (both Dockerfiles run it as root), from the build
# args they pass through the environment:
#   SSM_AGENT_DEB               a package copied from the build context: installed as it is (the
#                               builder vouches for it; the tests' stand-in agent, air-gapped builds)
#   otherwise                   AWS's package of the pinned SSM_AGENT_VERSION for TARGETARCH from
#                               SSM_AGENT_REGION's bucket, installed only once its .sig verifies
#                               with AWS's key (amazon-ssm-agent.gpg beside this file) whose
#                               fingerprint is SSM_AGENT_KEY_FINGERPRINT, and its version matches
# Then sets the agent's Profile.ShareCreds=false: the instance role's credentials stay in the
# agent's own store instead of root's ~/.aws/credentials, where they would come before a task
# role in every SDK's default chain.
set -eu
here=$(dirname "$0")
case "${TARGETARCH:-amd64}" in
  amd64) agent_arch=debian_amd64 ;;
  arm64) agent_arch=debian_arm64 ;;
  *) echo "install.sh: unsupported TARGETARCH=${TARGETARCH}: build for linux/amd64 or linux/arm64" >&2; exit 1 ;;
esac
if [ -n "${SSM_AGENT_DEB:-}" ]; then
  deb="$here/$(basename "$SSM_AGENT_DEB")"
  echo "install.sh: installing the local agent package $SSM_AGENT_DEB ($(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version))"
else
  : "${SSM_AGENT_VERSION:?the agent version to install, e.g. 3.3.2299.0}" "${SSM_AGENT_KEY_FINGERPRINT:?the fingerprint of AWS's agent signing key}"
  url="https://s3.${SSM_AGENT_REGION:-us-east-1}.amazonaws.com/amazon-ssm-${SSM_AGENT_REGION:-us-east-1}/${SSM_AGENT_VERSION}/${agent_arch}/amazon-ssm-agent.deb"
  deb="$here/amazon-ssm-agent.deb"
  curl -fsSL --proto '=https' -o "$deb" "$url"
  curl -fsSL --proto '=https' -o "$deb.sig" "$url.sig"
  sh "$here/verify-signature.sh" "$deb" "$deb.sig" "$here/amazon-ssm-agent.gpg" "$SSM_AGENT_KEY_FINGERPRINT"
  version=$(dpkg-deb -f "$deb" Version)
  case "$version" in
    "$SSM_AGENT_VERSION" | "$SSM_AGENT_VERSION"-*) ;;
    *) echo "install.sh: $url holds version $version, not the pinned $SSM_AGENT_VERSION" >&2; exit 1 ;;
  esac
fi
dpkg -i "$deb"
mkdir -p /etc/amazon/ssm
node -e '
  const fs = require("fs");
  const template = "/etc/amazon/ssm/amazon-ssm-agent.json.template";
  const config = fs.existsSync(template) ? JSON.parse(fs.readFileSync(template, "utf8")) : {};
  config.Profile = { ...config.Profile, ShareCreds: false };
  fs.writeFileSync("/etc/amazon/ssm/amazon-ssm-agent.json", JSON.stringify(config, null, 2) + "\n");
'
