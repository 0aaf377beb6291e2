"""Interop with the robot-learning ecosystem: LeRobotDataset v3.0 in and out (``lerobot``), the
Foxglove view's messages (``foxglove_view``), task policies as ONNX (``onnx_policy``). No rclpy:
the nodes that serve them are thin wrappers."""
