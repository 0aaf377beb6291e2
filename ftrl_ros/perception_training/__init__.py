"""Training-time perception: synthetic labelled frames from the sim (synth), offline YOLO training
helpers (yolo_offline, torchvision_ops) and ONNX export clean-up (onnx_compact). Nothing here is
imported by the nodes; it may import sim and scripted, which the run-time `perception` package
must not (layering: tasks <- sim, perception <- learning <- nodes)."""
