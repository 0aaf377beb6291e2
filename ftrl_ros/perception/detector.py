"""YOLOv8 object detection through onnxruntime: no torch, no torchvision, no ultralytics at run time.

The ONNX file is what `ftrl train-yolo` exports: input (1, 3, H, W) float RGB in [0, 1],
letterboxed; output (1, 4 + classes, anchors) with box centre/size in input pixels and
per-class scores. Decoding and class-wise NMS are a few lines of numpy.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np


class Detection(NamedTuple):
    class_id: int
    name: str
    score: float
    box: tuple[float, float, float, float]
    """x, y, width, height in pixels of the original image."""

    @property
    def center(self) -> tuple[float, float]:
        return self.box[0] + self.box[2] / 2, self.box[1] + self.box[3] / 2


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
    """Greedy NMS on (N, 4) x1, y1, x2, y2 boxes; indices kept, best first."""
    order = np.argsort(-scores)
    area = (boxes[:, 2] - boxes[:, 0]).clip(0) * (boxes[:, 3] - boxes[:, 1]).clip(0)
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(int(i))
        w = (np.minimum(boxes[i, 2], boxes[rest, 2]) - np.maximum(boxes[i, 0], boxes[rest, 0])).clip(0)
        h = (np.minimum(boxes[i, 3], boxes[rest, 3]) - np.maximum(boxes[i, 1], boxes[rest, 1])).clip(0)
        inter = w * h
        order = rest[inter / np.maximum(area[i] + area[rest] - inter, 1e-9) <= iou_threshold]
    return keep


class OnnxDetector:
    def __init__(self, path: str | Path, threads: int = 2, conf: float = 0.35, iou: float = 0.5, spin: bool = False):
        """``spin``: let onnxruntime's worker threads busy-wait between runs. Faster alone, but
        on 2 cores shared with the rest of the stack the spinning starves the other nodes
        (measured: YOLO 56 ms per frame with spinning inside the running stack)."""
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"detector model not found: {path} (build it with `ftrl train-yolo`)")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.input_hw = (int(inp.shape[2]), int(inp.shape[3]))
        meta = self.session.get_modelmeta().custom_metadata_map
        names = ast.literal_eval(meta["names"]) if "names" in meta else {}
        n_classes = int(self.session.get_outputs()[0].shape[1]) - 4
        self.names = [names.get(i, str(i)) for i in range(n_classes)]
        self.conf, self.iou = conf, iou

    def _letterbox(self, rgb: np.ndarray) -> tuple[np.ndarray, float, float, float]:
        h, w = rgb.shape[:2]
        ih, iw = self.input_hw
        scale = min(ih / h, iw / w)
        nh, nw = int(round(h * scale)), int(round(w * scale))
        pad_y, pad_x = (ih - nh) / 2, (iw - nw) / 2
        canvas = np.full((ih, iw, 3), 114, np.uint8)
        top, left = int(round(pad_y - 0.1)), int(round(pad_x - 0.1))
        canvas[top : top + nh, left : left + nw] = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
        return canvas, scale, left, top

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Detections in an HxWx3 uint8 RGB image, best first."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an HxWx3 uint8 RGB image, got {rgb.shape} {rgb.dtype}")
        img, scale, left, top = self._letterbox(rgb)
        x = np.ascontiguousarray(img.transpose(2, 0, 1)[None], dtype=np.float32) / 255.0
        out = self.session.run(None, {self.input_name: x})[0][0].T  # (anchors, 4 + classes)
        scores_all = out[:, 4:]
        cls = scores_all.argmax(1)
        scores = scores_all[np.arange(len(cls)), cls]
        keep = scores >= self.conf
        if not keep.any():
            return []
        xywh, cls, scores = out[keep, :4], cls[keep], scores[keep]
        boxes = np.column_stack(
            [xywh[:, 0] - xywh[:, 2] / 2, xywh[:, 1] - xywh[:, 3] / 2, xywh[:, 0] + xywh[:, 2] / 2, xywh[:, 1] + xywh[:, 3] / 2]
        )
        # class-wise NMS: shift each class far apart so boxes of different classes never overlap
        kept = nms(boxes + cls[:, None] * 4096.0, scores, self.iou)
        h, w = rgb.shape[:2]
        dets = []
        for i in kept:
            x1, y1, x2, y2 = boxes[i]
            x1, x2 = np.clip([(x1 - left) / scale, (x2 - left) / scale], 0, w)
            y1, y2 = np.clip([(y1 - top) / scale, (y2 - top) / scale], 0, h)
            dets.append(
                Detection(int(cls[i]), self.names[int(cls[i])], float(scores[i]), (float(x1), float(y1), float(x2 - x1), float(y2 - y1)))
            )
        return dets
