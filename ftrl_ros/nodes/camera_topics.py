"""The camera topics as realsense-ros names them, published by camera_node (a D435 or a
recording) and by sim_node (MuJoCo renders) alike, so the estimator cannot tell them apart."""

from __future__ import annotations

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image

from ..perception.camera_model import Intrinsics
from . import qos
from .conversions import camera_info_msg, image_msg

COLOR = "color/image_raw"
COLOR_INFO = "color/camera_info"
DEPTH = "aligned_depth_to_color/image_raw"
DEPTH_INFO = "aligned_depth_to_color/camera_info"
FRAME_ID = "camera_color_optical_frame"


class CameraPublisher:
    def __init__(self, node: Node, prefix: str):
        prefix = prefix.rstrip("/")
        self.rgb = node.create_publisher(Image, f"{prefix}/{COLOR}", qos.IMAGES)
        self.rgb_info = node.create_publisher(CameraInfo, f"{prefix}/{COLOR_INFO}", qos.IMAGES)
        self.depth = node.create_publisher(Image, f"{prefix}/{DEPTH}", qos.IMAGES)
        self.depth_info = node.create_publisher(CameraInfo, f"{prefix}/{DEPTH_INFO}", qos.IMAGES)

    def publish(self, rgb: np.ndarray, depth_mm: np.ndarray, intr: Intrinsics, stamp, frame_id: str = FRAME_ID) -> None:
        """Colour (rgb8), depth aligned to colour (16UC1, mm, 0 = none) and their CameraInfo."""
        info = camera_info_msg(intr, stamp, frame_id)
        self.rgb.publish(image_msg(rgb, "rgb8", stamp, frame_id))
        self.depth.publish(image_msg(depth_mm, "16UC1", stamp, frame_id))
        self.rgb_info.publish(info)
        self.depth_info.publish(info)
