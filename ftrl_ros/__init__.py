"""ftrl_ros: failure-aware offline-to-online RL on a Franka Panda, as a ROS 2 stack."""
__version__ = "0.1.0"
