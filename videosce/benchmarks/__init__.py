"""Benchmarks: scripts' libraries that print speed and memory ratios measured side by side
(data loading against pytorchvideo, one training step per method). Their commands are
`videosce-benchmark-data`, `videosce-benchmark-step` and `videosce-benchmark-retrieval`
(videosce/jobs/); nothing in the library imports them.
"""
