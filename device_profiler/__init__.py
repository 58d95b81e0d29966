"""Device profiler: real per-layer and end-to-end latency of ONNX models on a device."""
