"""ftrl_ros: failure-aware offline-to-online RL on a Franka Panda, as a ROS 2 stack."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ftrl_ros")  # setup.py takes it from package.xml, the one place it is written
except PackageNotFoundError:  # a bare checkout on sys.path
    __version__ = "unknown"
