"""The FTRL learning core: pure Python/torch, no ROS. See the README's learning section."""
