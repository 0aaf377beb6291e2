#!/usr/bin/env bash
# Run a command with ROS 2 kept on this machine: DDS discovery limited to localhost, a random
# domain id, and -- where root allows -- inside a fresh network namespace that has only loopback,
# so no packet can leave the machine whatever a process does.
set -euo pipefail
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
export ROS_DOMAIN_ID=${ROS_DOMAIN_ID:-$(( (RANDOM % 100) + 1 ))}
export RMW_IMPLEMENTATION=${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}
if [ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null; then
  export FTRL_NETNS=isolated
  exec unshare -n -- sh -c 'ip link set lo up && exec "$@"' sh "$@"
fi
echo "[isolated] WARNING: no network namespace (needs root); DDS limited to localhost only" >&2
export FTRL_NETNS=localhost-only
exec "$@"
