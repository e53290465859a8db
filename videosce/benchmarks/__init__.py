"""Benchmarks: scripts' libraries that print speed and memory ratios measured side by side
(data loading against pytorchvideo and the device-side pipelines, one training step per method,
training throughput per data pipeline). Their commands are `videosce-benchmark-data`,
`videosce-benchmark-step`, `videosce-benchmark-retrieval` and `videosce-benchmark-train`
(videosce/jobs/); nothing in the library imports them.
"""
