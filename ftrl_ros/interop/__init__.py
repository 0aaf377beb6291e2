"""Interop with the robot-learning ecosystem: LeRobotDataset v3 in and out. Pure Python (no rclpy):
tools and tests call it, the nodes never need it."""
