# Sourced by deploy/*.sh: install the Debian packages rapport needs.
# As root it runs apt-get; otherwise it prints the exact command to run.
RAPPORT_PACKAGES=(
  build-essential cmake pkg-config git
  libzmq3-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler
  libnats-dev nats-server
  liblmdb-dev lmdb-utils libsystemd-dev systemd libmicrohttpd-dev
  python3 python3-zmq python3-protobuf
  clang clang-format libclang-rt-14-dev
  prometheus gnuplot-nox
  dpkg-dev man-db
)

rapport_install_deps() {
  local missing=() p
  for p in "${RAPPORT_PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing packages; run as root:" >&2
    echo "  apt-get install -y ${missing[*]}" >&2
    return 1
  fi
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null || true
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}
