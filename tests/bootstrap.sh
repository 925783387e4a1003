# Sourced by tests/run and tests/demo: make this checkout ready to run.
#  - Debian packages for pmemsim (Go toolchain, govmomi 0.24.2, yaml.v3) via apt-get
#  - a virtual environment in .venv with pmemctl installed (editable) plus its test extra
# Nothing is downloaded except from Debian's archive and PyPI.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

DEB_PACKAGES="golang-go golang-github-vmware-govmomi-dev golang-gopkg-yaml.v3-dev"
GOCODE=/usr/share/gocode/src

say() { printf '%s\n' "$*" >&2; }

missing_debs() {
  local missing=""
  command -v go >/dev/null 2>&1 || missing="$missing golang-go"
  [ -d "$GOCODE/github.com/vmware/govmomi/simulator" ] || missing="$missing golang-github-vmware-govmomi-dev"
  [ -d "$GOCODE/gopkg.in/yaml.v3" ] || missing="$missing golang-gopkg-yaml.v3-dev"
  printf '%s' "$missing"
}

need="$(missing_debs)"
if [ -n "$need" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "Installing Debian packages:$need"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $need >&2
  else
    say "pmemsim needs these Debian/Ubuntu packages, which are missing:$need"
    say "Install them as root:  apt-get install -y $DEB_PACKAGES"
    exit 1
  fi
fi

PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  say "pmemctl needs Python 3.10 or later; '$PY' is $("$PY" --version 2>&1 || echo missing)."
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  if ! "$PY" -m venv .venv >&2; then
    rm -rf .venv
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      apt-get install -y -qq python3-venv >&2 && "$PY" -m venv .venv >&2
    else
      say "Python's venv module is missing: apt-get install -y python3-venv"
      exit 1
    fi
  fi
fi
# Reinstall only when the project metadata changed: keeps repeated runs fast.
stamp=.venv/.pmemctl-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  say "Installing pmemctl and its test dependencies into .venv"
  .venv/bin/python -m pip install -q --upgrade pip >&2
  .venv/bin/python -m pip install -q -e '.[test]' >&2
  touch "$stamp"
fi
export PATH="$ROOT/.venv/bin:$PATH"
