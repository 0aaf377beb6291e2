"""The FTRL learning core: pure Python/torch, no ROS. See docs/learning.md."""
